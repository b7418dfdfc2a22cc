# ---
# jupyter:
#   accelerator: GPU
#   colab:
#     gpuType: T4
#     provenance: []
#   jupytext:
#     formats: ipynb,py:percent
#     notebook_metadata_filter: accelerator,colab
#     text_representation:
#       extension: .py
#       format_name: percent
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # 09. SFT 다음: DPO와 GRPO로 아이언맨 페르소나 다듬기
#
# [![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)](https://colab.research.google.com/github/llm-finetuning-course/course/blob/main/notebooks/09_persona_preference.ipynb)
#
# 8강은 "이렇게 답하라"를 보여 주는 SFT로 토니 스타크의 말투를 가르쳤습니다. SFT 다음에는 보통 **선호 학습**이 옵니다:
# 7강의 EXAONE 3.0도 SFT 뒤에 DPO로 다듬었습니다. 이 노트북은 8강의 어댑터 위에서 두 가지를 합니다.
# **DPO**는 "이 답이 저 답보다 낫다"는 쌍에서 배우고, **GRPO**는 모델이 직접 쓴 답을 규칙으로 채점한 보상에서 배웁니다.
#
# ## 학습 목표
# - 8강의 페르소나 데이터로 **선호 쌍**을 만든다: chosen = 캐릭터다운 답, rejected = 학습할 모델이 **직접 쓴 답**(on-policy) 중 페르소나가 없는 것. 평가 질문은 따로 둔다.
# - TRL `DPOTrainer`로 8강의 LoRA 어댑터를 이어서 학습하고, 참조 모델이 왜 **같은 기본 모델**이면 되는지(T4에 두 번째 8B가 필요 없는 이유), `beta`가 무엇인지 안다.
# - 로그에서 손실, chosen/rejected 보상, 마진, 정확도를 곡선으로 읽는다.
# - 평가 질문에서 SFT와 SFT + DPO를 95 % 구간과 함께 비교한다: 스타일 마커, 심사 점수, 답 길이.
# - TRL `GRPOTrainer`에 노트북에서 쓴 **규칙 기반 보상**(마커, 한글 비율, 길이 제한)을 주고, 보상이 **속는**(reward hacking) 것을 샘플에서 본 뒤 보상을 고친다.
# - LLaMA-Factory의 선호 데이터 형식과 `stage: dpo` 설정으로 같은 쌍을 내보낸다.
#
# ## 소요 시간과 하드웨어
# | 프로필 | 하드웨어 | 모델 | 시간 |
# |---|---|---|---|
# | `cpu` | CPU 2코어, 인터넷 없음 | SmolLM2-135M-Instruct (오프라인) | 약 3분 (`make test`에서 풀이 포함 157초, 2026-12-05) |
# | `t4` | Colab T4 15 GB | `beomi/Llama-3-Open-Ko-8B-Instruct-preview` 4-bit, fp16 연산 | DPO·GRPO의 T4 시간은 추정하지 않습니다 (강의의 FLOP 모델은 SFT만 셉니다; T4에서 잰 적 없음) |
# | `a100` | A100 / L4 / H100 | 같은 모델 4-bit, bf16 연산 | 다운로드 포함 약 30~40분 (추정) |
#
# GPU 시간은 추정입니다(GPU 리허설이 잽니다). cpu 프로필의 135M 모델은 한국어를 거의 모르므로 cpu의 숫자는 "방법이 작동하는가"를
# 보여 줄 뿐 8B 모델의 품질을 말하지 않습니다. 8강처럼 결과는 Drive에 남깁니다(`setup(drive=True)`): 8강의 어댑터도 거기서 찾습니다.

# %%
# Colab: 강의 저장소(코드, data/, 버전 고정)를 `/content/course`에 한 번 받아 그 `course_utils`를 노트북이 찾는 `/content`에 잇고,
# `setup()`이 이 런타임에 빠진 패키지를 설치합니다(Colab의 torch는 그대로).
# `drive=True`: 8강의 어댑터를 Drive에서 찾고, 이 레슨의 결과도 Drive에 남깁니다.
# 로컬에서는 `make`가 이미 설치했으므로 `setup()`은 환경 점검(doctor)만 출력합니다.
import os
if "COLAB_RELEASE_TAG" in os.environ and os.system("(test -d /content/course || git clone -q --depth=1 https://github.com/llm-finetuning-course/course /content/course) && ln -sfn /content/course/course_utils /content/course_utils"): raise RuntimeError("Could not download the course from https://github.com/llm-finetuning-course/course: check the runtime's internet connection and run this cell again.")
from course_utils import setup  # course_utils/runtime_setup.py: install, Drive, doctor()
profile = setup(drive=True)

# %% [markdown]
# ## 1. 출발점: 8강의 데이터와 분할
# 8강과 같은 데이터, 같은 분할입니다. 학습 행을 같은 시드로 섞어 앞의 16행은 8강의 검증용으로 두고, 선호 쌍은 나머지
# 학습 행에서만 만듭니다. 평가 질문(`ironman_heldout.jsonl`)은 학습에 한 번도 쓰지 않습니다: 아래에서 정말 겹치지 않는지 확인합니다.
# 시스템 프롬프트도 8강처럼 정합니다. 프로필의 `max_length`에 들어가면 넣고(GPU), 아니면 빼고 학습합니다(cpu).

# %%
import random

from course_utils.chat_format import check_system_prompt_fits  # course_utils/chat_format.py: chat-template prompts
from course_utils.models import load_tokenizer  # course_utils/models.py: a profile's model and tokenizer
from course_utils.persona import SYSTEM_PROMPT, load_persona_data  # course_utils/persona.py: the Iron Man persona data

train_rows, heldout_rows, general_rows = load_persona_data()
rows = list(train_rows)
random.Random(0).shuffle(rows)  # lesson 08's split: its first 16 rows were validation
val_rows, fit_rows = rows[:16], rows[16:]
heldout_questions = {row["instruction"].strip() for row in heldout_rows}
assert not heldout_questions & {row["instruction"].strip() for row in fit_rows}, "a held-out question is in the training rows"

tokenizer = load_tokenizer(profile.persona_model, profile)
try:
    check_system_prompt_fits(tokenizer, SYSTEM_PROMPT, profile.persona.max_length)
    train_system = SYSTEM_PROMPT
except ValueError:
    train_system = None  # as lesson 08 on cpu: the prompt would take more than half of max_length
print(f"학습 행 {len(fit_rows)}개, 평가 질문 {len(heldout_rows)}개 (겹침 없음), 시스템 프롬프트: {'있음' if train_system else '없음'}")

# %% [markdown]
# ### 8강의 어댑터, 없으면 짧은 SFT
# DPO는 SFT를 **대신하지 않고** 그 위에서 합니다. 답하는 법을 이미 아는 모델이어야 두 답 중 어느 쪽을 더 낼지 옮길 수 있습니다.
# 8강을 끝까지 돌렸다면 그 어댑터(`outputs/08_ironman_<프로필>/adapter`, Colab에서는 Drive)를 씁니다. 새 VM이라 없으면
# 6강처럼 그렇다고 말하고, 8강과 같은 LoRA 설정으로 **짧은 SFT**를 지금 해서 `outputs/09_fallback_sft`에 둡니다
# (8강 프리셋의 스텝 절반: cpu 12스텝, T4 40스텝). 이미 끝난 대체 어댑터가 있으면 다시 학습하지 않습니다.

# %%
import gc
from dataclasses import replace

import torch
from peft import LoraConfig
from trl import SFTTrainer

from course_utils.environment import output_dir  # course_utils/environment.py: where the course runs
from course_utils.models import load_causal_lm  # course_utils/models.py: a profile's model and tokenizer
from course_utils.persona import persona_dataset  # course_utils/persona.py: the Iron Man persona data
from course_utils.sft_recipe import sft_config  # course_utils/sft_recipe.py: the course's SFTConfig
# course_utils/training.py: around a Trainer run
from course_utils.training import is_finished_run, mark_finished, prepare_output_dir, upcast_trainable_for_fp16
# course_utils/lesson_runs.py and run_owner.py: a run is used only by the profile and base model that trained it
from course_utils.lesson_runs import finished_persona_adapter, persona_owner
from course_utils.run_owner import claim_run_dir, recorded_owner, run_dir_for

preset = profile.persona
lora_config = LoraConfig(  # lesson 08's adapter, the same shape
    r=preset.lora_r, lora_alpha=preset.lora_alpha, lora_dropout=0.05, target_modules="all-linear", task_type="CAUSAL_LM"
)
owner = persona_owner(profile)  # this profile and its persona base model
sft_adapter = finished_persona_adapter(profile)  # lesson 08's adapter, only if this profile and model trained it
fallback_dir, note = run_dir_for(output_dir() / "09_fallback_sft", owner)
if note:
    print(note)  # e.g. a cpu run left on Drive by a CPU runtime: never loaded onto the 8B model
if sft_adapter is not None:
    print(f"8강의 어댑터를 씁니다: {sft_adapter}")
elif is_finished_run(fallback_dir) and recorded_owner(fallback_dir) == owner:
    sft_adapter = fallback_dir
    print(f"앞서 만든 대체 어댑터를 씁니다: {sft_adapter}")
else:
    short = replace(preset, max_steps=preset.max_steps // 2)
    print(f"이 프로필({profile.name})의 8강 어댑터가 없습니다(8강을 끝까지, Colab에서는 Drive와 함께 실행하면 그것을 씁니다).\n"
          f"대신 같은 LoRA로 {short.max_steps}스텝짜리 짧은 SFT를 지금 합니다: {fallback_dir}")
    sft_adapter = claim_run_dir(prepare_output_dir(fallback_dir), owner)
    sft_trainer = SFTTrainer(
        model=load_causal_lm(profile.persona_model, profile), processing_class=tokenizer, peft_config=lora_config,
        args=sft_config(sft_adapter, profile.compute_dtype, short),
        train_dataset=persona_dataset(fit_rows, system=train_system),
    )
    if sft_trainer.args.fp16:  # T4: LoRA weights to fp32 for fp16's GradScaler (lessons 05 and 08)
        upcast_trainable_for_fp16(sft_trainer.model)
    sft_trainer.train()
    sft_trainer.save_model(str(sft_adapter))
    mark_finished(sft_adapter, {"profile": profile.name, "steps": short.max_steps, "fallback_for": "08_ironman"})
    del sft_trainer
    gc.collect()
    if torch.cuda.is_available():
        torch.cuda.empty_cache()

# %% [markdown]
# 기본 모델을 한 번 불러오고(GPU에서는 4-bit) 그 위에 SFT 어댑터를 **학습 가능하게**(`is_trainable=True`) 얹습니다. 이것이
# 이 노트북에서 학습할 모델입니다. 어댑터가 다른 기본 모델에서 학습됐으면 8강의 검사가 한 문장으로 거절합니다.

# %%
from peft import PeftModel

from course_utils.adapter_merge import check_adapter_matches_base  # course_utils/adapter_merge.py: adapter/base checks

base = load_causal_lm(profile.persona_model, profile)
check_adapter_matches_base(sft_adapter, base)
model = PeftModel.from_pretrained(base, str(sft_adapter), is_trainable=True)
model.print_trainable_parameters()

# %% [markdown]
# ## 2. 선호 쌍: chosen은 토니의 답, rejected는 모델 자신의 답
# DPO 쌍의 rejected를 어디서 얻느냐가 중요합니다. 다른 모델이 쓴 어색한 답을 넣으면 모델은 "그런 답은 원래 안 쓰는데"
# 하고 거의 배울 것이 없습니다. 그래서 **학습할 모델이 지금 실제로 쓰는 답**(on-policy)을 과정의 `generate()`로 만들고(탐욕적
# 디코딩, 8강과 같은 설정), 그중 **페르소나가 없는 답만** rejected로 남깁니다. 기준은 8강의 스타일 마커입니다: 질문에 없던
# 마커가 하나도 없으면 "페르소나 없음". 이미 토니처럼 답한 경우는 대조할 것이 없으므로 버리고, 몇 개를 버렸는지 셉니다.
#
# 평가 질문에 대한 SFT 모델의 답도 지금 만들어 둡니다. DPO가 모델을 바꾸기 전의 "SFT만" 열입니다.

# %%
from course_utils.generation import generate  # course_utils/generation.py: batched greedy generation
from course_utils.measure import measure  # course_utils/measure.py: time and peak memory
from course_utils.persona import persona_prompts, user_message  # course_utils/persona.py: the Iron Man persona data

NEW_TOKENS = 40 if profile.device == "cpu" else 128
candidates = fit_rows[:32] if profile.device == "cpu" else fit_rows  # cpu: generation time
by_category: dict[str, list[str]] = {}
for row in heldout_rows:
    by_category.setdefault(row["category"], []).append(row["instruction"])
per_category = 2 if profile.device == "cpu" else None
questions = [q for category in sorted(by_category) for q in by_category[category][:per_category]]

model.eval()
with measure(f"on-policy 답 {len(candidates)}개 + 평가 질문 {len(questions)}개 생성"):
    own_answers = generate(model, tokenizer, persona_prompts(tokenizer, [user_message(r) for r in candidates], train_system), max_new_tokens=NEW_TOKENS)
    answers = {"SFT": generate(model, tokenizer, persona_prompts(tokenizer, questions, train_system), max_new_tokens=NEW_TOKENS)}

# %%
from course_utils.preference_pairs import preference_pairs  # course_utils/preference_pairs.py: DPO pairs

pairs, report = preference_pairs(candidates, own_answers, system=train_system)
print(f"모델의 답 {report.total}개: 쌍으로 남김 {report.kept}, 이미 캐릭터다워 버림 {report.dropped_in_character}, 빈 답이라 버림 {report.dropped_empty}")
for pair in pairs[:3]:
    print(f"\nQ: {pair['prompt'][-1]['content'][:60]!r}")
    print(f"  chosen   {pair['chosen'][0]['content'][:90]!r}")
    print(f"  rejected {pair['rejected'][0]['content'][:90]!r}")

# %% [markdown]
# 학습자가 쌍을 직접 고치다 보면 필드가 빠지거나, 답이 비거나, chosen과 rejected가 같은 쌍이 생깁니다. 마지막 것은 오류가
# 나지 않고 **조용히 아무것도 배우지 않는** 쌍이라 더 위험합니다. 학습 전에 한 문장짜리 오류로 잡습니다.

# %%
from course_utils.preference_pairs import validate_pairs  # course_utils/preference_pairs.py: DPO pairs

good = pairs[0]
for bad in ({"prompt": good["prompt"], "chosen": good["chosen"]}, {**good, "rejected": [{"role": "assistant", "content": " "}]},
            {**good, "rejected": good["chosen"]}):
    try:
        validate_pairs([good, bad], "my_pairs")
    except ValueError as error:
        print("ValueError:", error)

# %% [markdown]
# ## 3. DPO: 무엇을 최적화하는가
# 프롬프트 $x$, chosen $y_w$, rejected $y_l$에 대해 DPO는 학습 중인 모델 $\pi_\theta$와 고정된 **참조 모델** $\pi_\text{ref}$
# (DPO를 시작할 때의 SFT 모델)의 로그 확률 차이를 씁니다.
#
# $$\mathcal{L} = -\log \sigma\Big(\beta\big[\underbrace{\log\tfrac{\pi_\theta(y_w|x)}{\pi_\text{ref}(y_w|x)}}_{r_w/\beta} - \underbrace{\log\tfrac{\pi_\theta(y_l|x)}{\pi_\text{ref}(y_l|x)}}_{r_l/\beta}\big]\Big)$$
#
# - TRL이 로그에 남기는 `rewards/chosen` $=r_w$, `rewards/rejected` $=r_l$은 이 "암묵적 보상"이고, `rewards/margins` $= r_w - r_l$,
#   `rewards/accuracies`는 $r_w > r_l$인 쌍의 비율입니다. 처음에는 $\pi_\theta = \pi_\text{ref}$라 모두 0, 손실은 $\log 2 \approx 0.693$입니다.
# - **`beta`**(기본 0.1)는 참조 모델에서 얼마나 멀어져도 되는지를 정합니다. $\beta$가 크면 작은 로그 확률 변화도 큰 마진이 되어
#   손실이 빨리 포화하므로 모델은 참조 가까이 머뭅니다(보수적). 작으면 같은 손실을 줄이려고 더 멀리 움직입니다(말투가 더 바뀌지만
#   문장이 망가지거나 길어질 위험도 큽니다). 보상 모델도 강화학습 루프도 없이, 이 한 줄이 "참조에서 너무 멀어지지 말라"는 KL 제약을 대신합니다.

# %% [markdown]
# ### 참조 모델: 같은 기본 모델, 어댑터만 바꿔서
# 참조 모델을 따로 불러오면 8B가 두 번 메모리에 올라갑니다. 4-bit로도 약 5.3 GiB씩이고, 16-bit 참조는 16 GB라 T4(15 GB)에는 아예
# 들어가지 않습니다. LoRA에서는 그럴 필요가 없습니다. 기본 가중치는 얼어 있고 바뀌는 것은 어댑터뿐이므로, **같은 기본 모델**에서
# 어댑터만 바꿔 끼우면 참조가 됩니다. TRL 1.16의 `DPOTrainer`는 `ref_model=None`이고 모델이 PEFT 모델이면 이렇게 합니다.
# - `peft_config`로 **새** 어댑터를 붙인 경우: 어댑터를 끄면(`disable_adapter()`) 기본 모델 = 참조.
# - 우리처럼 **학습된 어댑터를 이어서** 학습하는 경우: 어댑터를 끄면 SFT 이전의 기본 모델이 되어 버리므로, TRL은 시작할 때의
#   어댑터를 얼린 복사본 `ref`로 하나 더 두고, 참조를 계산할 때만 그것으로 바꿔 끼웁니다(`use_adapter(model, "ref")`).
#
# 어느 쪽이든 참조에 드는 것은 어댑터 하나(8B, r=16: 4,190만 개, fp32로 0.16 GiB)와 기울기 없는 순전파뿐입니다. 아래에서
# T4 프리셋의 GPU 메모리를 항목별로 추정합니다(`course_utils.preference_memory`: 측정이 아니라 추정이고, 8.0 GiB로 측정된
# 5강 SFT에 맞춘 토큰당 활성값을 씁니다). 한 쌍은 chosen과 rejected **두 시퀀스**라 같은 배치 크기의 SFT보다 활성값이 두 배입니다.

# %%
# course_utils/preference_memory.py: GPU memory of QLoRA DPO and GRPO, estimated
from course_utils.preference_memory import dpo_peak_gib, grpo_peak_gib
from course_utils.profiles import PROFILES

for name in ("t4", "a100"):
    print(f"[{name}] DPO 추정:", ", ".join(f"{k} {v:.2f} GiB" for k, v in dpo_peak_gib(PROFILES[name].dpo).items()))

# %% [markdown]
# ### `DPOConfig`와 `DPOTrainer`
# 대화형 `prompt`/`chosen`/`rejected` 데이터를 그대로 넘기면 TRL이 채팅 템플릿을 적용하고, 답 토큰의 로그 확률만 더합니다.
# 프리셋에서 오는 값: 쌍 배치, 누적, `max_length`(넘으면 뒤를 자름), 스텝, 학습률, `beta`. 8강처럼 정밀도는 연산 dtype에서
# 정하고(CPU에서 bf16 자동 켜짐을 막음), T4에서는 LoRA 가중치를 fp32로 올립니다.

# %%
from datasets import Dataset
from trl import DPOConfig, DPOTrainer

from course_utils.sft_recipe import trainer_arguments  # course_utils/sft_recipe.py: the course's TRL arguments

dpo = profile.dpo
run_dir = output_dir() / f"09_persona_dpo_{profile.name}"
dpo_args = DPOConfig(
    output_dir=str(run_dir),
    beta=dpo.beta,  # how far from the reference the policy may move
    max_length=dpo.max_length,  # prompt + answer, per sequence: a pair is two of them
    # pairs per batch, accumulation, steps, learning rate, optimizer, checkpointing, bf16/fp16: the preset's, as in lesson 08
    **trainer_arguments(dpo, profile.compute_dtype),
    lr_scheduler_type="cosine", warmup_steps=0.1,
    logging_steps=1, save_strategy="no", report_to="none", use_cpu=profile.device == "cpu", disable_tqdm=True, seed=42,
)
dpo_trainer = DPOTrainer(
    model=model, ref_model=None, args=dpo_args, train_dataset=Dataset.from_list(pairs), processing_class=tokenizer,
)
if dpo_args.fp16:  # T4: TRL put the 4-bit model's LoRA weights in bf16, which fp16's GradScaler cannot unscale
    upcast_trainable_for_fp16(dpo_trainer.model)
print("어댑터:", list(dpo_trainer.model.peft_config), "-> 'ref'는 얼린 시작점, 참조 모델 계산에만 씁니다")
epochs = dpo.max_steps * dpo.per_device_train_batch_size * dpo.gradient_accumulation_steps / len(pairs)
print(f"쌍 {len(pairs)}개, {dpo.max_steps}스텝 ≈ {epochs:.1f} epoch, beta={dpo_args.beta}")

# %%
with measure("DPO 학습") as dpo_cost:
    dpo_trainer.train()

# %% [markdown]
# ### 로그에서 곡선으로
# 손실이 $\log 2$에서 내려가고, 마진이 커지고, 정확도가 오르면 모델은 참조보다 chosen을 더, rejected를 덜 내게 된 것입니다.
# 두 보상의 **부호**도 보세요. DPO는 흔히 chosen의 확률을 올리기보다 rejected의 확률을 더 많이 내려서 마진을 만듭니다.

# %%
import matplotlib.pyplot as plt

from course_utils.plots import loss_series  # course_utils/plots.py: loss curves

history = dpo_trainer.state.log_history
fig, axes = plt.subplots(1, 4, figsize=(15, 3.2))
for ax, keys in zip(axes, [("loss",), ("rewards/chosen", "rewards/rejected"), ("rewards/margins",), ("rewards/accuracies",)]):
    for key in keys:
        ax.plot(*loss_series(history, key), "-o", markersize=3, label=key)
    ax.set_xlabel("step"); ax.grid(alpha=0.3); ax.legend(fontsize=8)
axes[0].axhline(0.693, ls=":", c="gray")
fig.suptitle(f"{profile.name}: DPO on lesson 08's adapter, beta={dpo_args.beta}")
first, last = [e for e in history if "rewards/margins" in e][0], [e for e in history if "rewards/margins" in e][-1]
print(f"손실 {first['loss']:.3f} -> {last['loss']:.3f}, 마진 {first['rewards/margins']:.3f} -> {last['rewards/margins']:.3f}, "
      f"chosen {last['rewards/chosen']:+.3f}, rejected {last['rewards/rejected']:+.3f}, {dpo_cost}")

# %% [markdown]
# ## 4. 평가 질문에서 전과 후
# 같은 평가 질문, 같은 탐욕적 디코딩으로 SFT + DPO 모델의 답을 만들고 SFT만의 답과 비교합니다. 8강의 세 가지를 재고,
# **답 길이**를 더합니다: DPO는 답을 길게 만드는 경향이 알려져 있습니다(chosen이 더 길면 길이 자체가 "좋은 답"의 신호가 됩니다).
# 심사는 8강처럼 어댑터를 모두 끈 기본 모델이 합니다. cpu의 135M 심사 모델은 매우 약하므로 그 열은 방법을 보여 줄 뿐입니다.

# %%
from course_utils.judge import persona_judge_scores  # course_utils/judge.py: the LLM judge
# course_utils/persona_scores.py: persona style scores
from course_utils.persona_scores import added_markers, hangul_share

model = dpo_trainer.model
model.eval()
with measure("SFT + DPO 생성과 심사"):
    answers["SFT + DPO"] = generate(model, tokenizer, persona_prompts(tokenizer, questions, train_system), max_new_tokens=NEW_TOKENS)
    with model.disable_adapter():  # the judge: the base instruct model, every adapter off
        judged = {column: persona_judge_scores(model, tokenizer, questions, texts) for column, texts in answers.items()}
per_item = {
    column: {
        "marker": [float(bool(added_markers(a, q))) for a, q in zip(texts, questions)],
        "judge": judged[column],
        "hangul": [hangul_share(a) for a in texts],
        "length": [float(len(a)) for a in texts],
    }
    for column, texts in answers.items()
}
for question, before, after in list(zip(questions, answers["SFT"], answers["SFT + DPO"]))[:: max(1, len(questions) // 4)]:
    print(f"Q: {question}\n  [SFT]       {before[:100]!r}\n  [SFT + DPO] {after[:100]!r}")

# %% [markdown]
# ### SFT만 vs SFT + DPO
# 각 열은 95 % 구간과 함께 씁니다(마커 비율은 Wilson, 평균은 부트스트랩). 마지막 열은 **같은 질문에서의 차이**(DPO − SFT)의
# 부트스트랩 구간입니다: 두 열의 구간이 겹쳐도 짝지은 차이는 더 예민하고, 0을 포함하면 이 질문 수로는 두 모델을 가를 수 없다는 뜻입니다.

# %%
from IPython.display import Markdown, display

# course_utils/evaluation.py: scoring answers
from course_utils.evaluation import bootstrap_mean_interval, paired_difference_interval, wilson_interval, with_interval
from course_utils.tables import markdown_table  # course_utils/tables.py: Markdown tables

n = len(questions)
mean = lambda values: sum(values) / len(values)  # noqa: E731
rows_out = []
for key, label, percent in [("marker", "스타일 마커 비율 ↑", True), ("judge", "심사 점수 (1~5) ↑", False),
                            ("hangul", "한글 비율 ↑", True), ("length", "답 길이 (글자)", False)]:
    cells = []
    for column in answers:
        values = per_item[column][key]
        interval = wilson_interval(round(sum(values)), n) if key == "marker" else bootstrap_mean_interval(values)
        cells.append(with_interval(mean(values), interval, percent=percent))
    diff = paired_difference_interval(per_item["SFT"][key], per_item["SFT + DPO"][key])
    delta = mean(per_item["SFT + DPO"][key]) - mean(per_item["SFT"][key])
    rows_out.append([label, *cells, with_interval(delta, diff, percent=percent)])
display(Markdown(f"**{profile.name} 프로필, 평가 질문 {n}개, 답은 최대 {NEW_TOKENS}토큰**\n\n"
                 + markdown_table(["측정", "SFT만", "SFT + DPO", "차이 (DPO − SFT)"], rows_out)))

# %% [markdown]
# 숫자가 말하는 만큼만 말합니다. 아래 문장은 위의 구간에서 계산됩니다.

# %%
low, high = paired_difference_interval(per_item["SFT"]["marker"], per_item["SFT + DPO"]["marker"])
before_rate, after_rate = mean(per_item["SFT"]["marker"]), mean(per_item["SFT + DPO"]["marker"])
if low > 0:
    print(f"DPO가 평가 질문의 마커 비율을 {before_rate:.0%}에서 {after_rate:.0%}로 올렸고, 짝지은 차이의 95 % 구간 [{low:+.0%}, {high:+.0%}]이 0 위에 있습니다.")
else:
    print(f"마커 비율 {before_rate:.0%} -> {after_rate:.0%}: 짝지은 차이의 95 % 구간 [{low:+.0%}, {high:+.0%}]이 0을 포함하므로, "
          f"질문 {n}개로는 DPO가 페르소나를 올렸다고 말할 수 없습니다.")
length_low, length_high = paired_difference_interval(per_item["SFT"]["length"], per_item["SFT + DPO"]["length"])
print(f"답 길이 차이의 95 % 구간: [{length_low:+.1f}, {length_high:+.1f}]글자 (답은 {NEW_TOKENS}토큰에서 잘리므로 길어질 여지가 제한됩니다).")

# %% [markdown]
# 다음 단계에서 GRPO를 이 DPO 어댑터에서 시작하도록 저장합니다. 참조용 `ref` 어댑터는 저장하지 않습니다.

# %%
dpo_adapter = run_dir / "adapter"
model.save_pretrained(str(dpo_adapter), selected_adapters=["default"])
mark_finished(run_dir, {"profile": profile.name, "pairs": len(pairs), "steps": dpo.max_steps, "beta": dpo_args.beta})
print("저장:", sorted(p.name for p in dpo_adapter.iterdir()))
del dpo_trainer, model, base
gc.collect()
if torch.cuda.is_available():
    torch.cuda.empty_cache()

# %% [markdown]
# ## 5. GRPO: 규칙으로 채점하는 보상
# DPO는 미리 만든 쌍에서 배웁니다. **GRPO**(Group Relative Policy Optimization)는 학습 중에 모델이 프롬프트마다 답을 여러 개
# (`num_generations`) 쓰고, 보상 함수가 각각을 채점하고, **같은 프롬프트의 답들 평균보다 나은 답**의 확률을 올립니다(그룹 안에서
# 표준화한 보상이 advantage). 가치 모델도 참조 모델도 필요 없고(TRL 1.16의 기본 `beta=0.0`: KL 항 없음), 보상은 숫자를 돌려주는
# 파이썬 함수면 됩니다. 8강의 페르소나 점수로 보상 세 개를 씁니다.
# - **마커**: 토니의 스타일 마커가 **몇 번** 나오는가.
# - **한글 비율**: 답의 글자 중 한글의 비율(0~1).
# - **길이 제한**: 학습 데이터 답의 중앙값 길이까지는 0, 넘으면 넘은 만큼 감점.
#
# TRL은 보상 함수를 `completions=`(대화형 프롬프트면 메시지 목록)와 데이터셋의 다른 열을 키워드로 불러, 답마다 숫자 하나를 받습니다.

# %%
import statistics

from course_utils.persona_scores import STYLE_MARKERS  # course_utils/persona_scores.py: persona style scores

LENGTH_LIMIT = int(statistics.median(len(row["output"]) for row in fit_rows))  # characters, from the data
MARKERS = [marker for group in STYLE_MARKERS.values() for marker in group]


def text_of(completion) -> str:
    return completion[0]["content"] if isinstance(completion, list) else completion


def marker_count_reward(completions, **kwargs) -> list[float]:
    """Every occurrence of a style marker scores 0.5: more Tony, more reward. (Can you see the flaw?)"""
    return [0.5 * sum(text_of(c).count(m) for m in MARKERS) for c in completions]


def hangul_reward(completions, **kwargs) -> list[float]:
    return [hangul_share(text_of(c)) for c in completions]


def length_reward(completions, **kwargs) -> list[float]:
    return [-max(0, len(text_of(c)) - LENGTH_LIMIT) / LENGTH_LIMIT for c in completions]


print(f"길이 제한: {LENGTH_LIMIT}글자 (학습 답의 중앙값)")

# %% [markdown]
# ### 이 보상은 속일 수 있습니다
# 학습 전에 세 답을 채점해 봅니다. 진짜 토니의 답, 평범한 답, 그리고 **마커만 되풀이한 말 같지 않은 답**입니다.

# %%
probe = {
    "토니의 답 (학습 데이터)": fit_rows[0]["output"],
    "평범한 답": "좋은 질문입니다. 상황에 따라 다르지만 차분히 생각해 보시길 바랍니다.",
    "마커만 되풀이": "토니 토니 자비스 자비스 수트 수트 내가 내가 거야 거야",
}
naive_rewards = [marker_count_reward, hangul_reward, length_reward]
for label, text in probe.items():
    parts = [f(completions=[text])[0] for f in naive_rewards]
    print(f"{label:<22} 합 {sum(parts):5.2f}  (마커 {parts[0]:.2f}, 한글 {parts[1]:.2f}, 길이 {parts[2]:.2f})  {text[:40]!r}")

# %% [markdown]
# 말 같지 않은 답이 가장 높은 보상을 받습니다. 보상을 최대화하도록 학습하는 모델은 이 틈을 찾아냅니다: **reward hacking**.
# 실제로 일어나는지 짧은 GRPO로 봅니다. 보상 함수를 감싸 모델이 쓴 **모든 샘플과 그 보상**을 기록하고, 한 마커가 두 번 이상
# 나오는 샘플의 비율(되풀이 비율)을 첫 스텝과 마지막 스텝에서 셉니다.
#
# GRPO는 프롬프트 데이터만 있으면 됩니다(답은 모델이 씁니다). 평가 질문이 아닌 학습 행의 질문을 씁니다.

# %%
from trl import GRPOConfig, GRPOTrainer

from course_utils.chat_format import chat_messages  # course_utils/chat_format.py: chat-template prompts

grpo = profile.grpo
prompt_rows = fit_rows[: grpo.max_steps * grpo.per_device_train_batch_size // grpo.num_generations]
grpo_dataset = Dataset.from_list([{"prompt": chat_messages(user_message(r), train_system)} for r in prompt_rows])


def repeated_markers(text: str) -> list[str]:
    """Markers that occur more than once in one answer: the signature of this reward's hack."""
    return [m for m in MARKERS if text.count(m) > 1]


def run_grpo(reward_funcs: list, name: str) -> list[dict]:
    """GRPO from the DPO adapter with these rewards; returns every sample the rewards scored, with its step."""
    samples: list[dict] = []
    grpo_model = PeftModel.from_pretrained(load_causal_lm(profile.persona_model, profile), str(dpo_adapter), is_trainable=True)

    def total_reward(completions, **kwargs) -> list[float]:
        scores = [sum(parts) for parts in zip(*(f(completions=completions, **kwargs) for f in reward_funcs))]
        step = kwargs["trainer_state"].global_step
        prompts = kwargs.get("prompts") or [""] * len(completions)
        samples.extend({"step": step, "prompt": str(p), "text": text_of(c), "reward": s} for p, c, s in zip(prompts, completions, scores))
        return scores

    args = GRPOConfig(
        output_dir=str(output_dir() / f"09_persona_grpo_{name}_{profile.name}"),
        num_generations=grpo.num_generations,  # answers per prompt: the group whose mean is the baseline
        max_completion_length=grpo.max_completion_length,
        temperature=1.0,  # sampled answers: a group of greedy answers would all be the same
        # completions per batch, steps, learning rate, optimizer, checkpointing, bf16/fp16: the preset's, as for DPO
        **trainer_arguments(grpo, profile.compute_dtype),
        logging_steps=1, save_strategy="no", report_to="none", use_cpu=profile.device == "cpu", disable_tqdm=True, seed=42,
    )
    trainer = GRPOTrainer(model=grpo_model, reward_funcs=total_reward, args=args, train_dataset=grpo_dataset, processing_class=tokenizer)
    if args.fp16:
        upcast_trainable_for_fp16(trainer.model)
    with measure(f"GRPO ({name})"):
        trainer.train()
    del trainer, grpo_model
    gc.collect()
    if torch.cuda.is_available():
        torch.cuda.empty_cache()
    return samples


def tied_group_share(samples: list[dict]) -> float:
    """Share of (step, prompt) groups whose completions all got the same reward: GRPO's advantage is 0 there."""
    groups: dict[tuple, list[float]] = {}
    for s in samples:
        groups.setdefault((s["step"], s["prompt"]), []).append(s["reward"])
    return sum(max(r) == min(r) for r in groups.values()) / max(len(groups), 1)


def repeat_share(samples: list[dict], step: int) -> float:
    at_step = [s for s in samples if s["step"] == step]
    return sum(bool(repeated_markers(s["text"])) for s in at_step) / max(len(at_step), 1)


print(f"프롬프트 {len(grpo_dataset)}개 × 답 {grpo.num_generations}개, 스텝 {grpo.max_steps}, 답 최대 {grpo.max_completion_length}토큰")
print("[GPU 추정]", ", ".join(f"{k} {v:.2f} GiB" for k, v in grpo_peak_gib(PROFILES["t4"].grpo).items()))

# %%
hacked = run_grpo(naive_rewards, "naive")
steps = sorted({s["step"] for s in hacked})
print(f"되풀이 비율: 첫 스텝 {repeat_share(hacked, steps[0]):.0%} -> 마지막 스텝 {repeat_share(hacked, steps[-1]):.0%}")
for step in (steps[0], steps[-1]):
    best = max((s for s in hacked if s["step"] == step), key=lambda s: s["reward"])
    print(f"스텝 {step}의 최고 보상 {best['reward']:.2f}: {best['text'][:90]!r}  되풀이: {repeated_markers(best['text'])}")

# %% [markdown]
# ### 보상 고치기
# 틈은 "마커가 나올 때마다 점수"였습니다. 고친 마커 보상은 **서로 다른** 마커를 세되 두 개에서 멈추고(그 이상은 말투가 아니라
# 나열입니다), 같은 마커를 되풀이하면 그만큼 **뺍니다**. 질문에 있던 마커를 따라 한 것은 8강처럼 세지 않습니다(데이터셋의
# 프롬프트가 보상 함수에 `prompts=`로 함께 옵니다). 같은 세 답을 다시 채점한 뒤, 같은 설정으로 GRPO를 다시 돌립니다.

# %%
def distinct_marker_reward(completions, prompts=None, **kwargs) -> list[float]:
    """Up to two different markers of the answer's own score 0.5 each; every repeated occurrence costs 0.5."""
    questions_ = [p[-1]["content"] if isinstance(p, list) else (p or "") for p in (prompts or [""] * len(completions))]
    rewards = []
    for c, q in zip(completions, questions_):
        text = text_of(c)
        distinct = set(added_markers(text, q))
        repeats = sum(text.count(m) - 1 for m in repeated_markers(text))
        rewards.append(0.5 * min(len(distinct), 2) - 0.5 * repeats)
    return rewards


fixed_rewards = [distinct_marker_reward, hangul_reward, length_reward]
for label, text in probe.items():
    print(f"{label:<22} 합 {sum(f(completions=[text])[0] for f in fixed_rewards):5.2f}  {text[:40]!r}")

# %%
fixed = run_grpo(fixed_rewards, "fixed")
table = [
    [name, f"{repeat_share(samples, min(s['step'] for s in samples)):.0%}", f"{repeat_share(samples, max(s['step'] for s in samples)):.0%}",
     f"{mean([s['reward'] for s in samples if s['step'] == max(t['step'] for t in samples)]):.2f}", f"{tied_group_share(samples):.0%}"]
    for name, samples in (("마커 횟수 보상 (속는 보상)", hacked), ("서로 다른 마커, 되풀이 감점 (고친 보상)", fixed))
]
display(Markdown(markdown_table(["보상", "되풀이 비율: 첫 스텝", "마지막 스텝", "마지막 스텝 평균 보상", "보상이 모두 같은 그룹"], table)))
best = max((s for s in fixed if s["step"] == max(t["step"] for t in fixed)), key=lambda s: s["reward"])
print(f"고친 보상, 마지막 스텝의 최고 샘플 ({best['reward']:.2f}): {best['text'][:90]!r}")

# %% [markdown]
# 마지막 열을 먼저 보세요. 한 프롬프트의 답들이 **모두 같은 보상**을 받으면 그룹 안의 advantage가 0이라 GRPO는 그 그룹에서
# 아무것도 배우지 않습니다(TRL 로그의 `frac_reward_zero_std`). cpu 프로필의 135M 모델은 마커가 거의 없는 비슷한 답만 써서 이 비율이
# 높을 수 있고, 그러면 속는 보상도 학습 중에는 속을 기회가 없습니다: 해킹은 위의 세 답에서만 보입니다. 보상이 갈리려면 답이 달라야
# 합니다(8강의 어댑터가 있으면 답에 마커가 더 자주 나오고, GPU의 8B 모델은 훨씬 다양합니다).
# 두 보상의 평균 보상은 서로 비교하지 마세요: 척도가 다른 함수입니다. GRPO의 로그에서 `loss`도 보지 마세요. 새로 생성한 답으로
# 한 번만 갱신하면(`num_iterations=1`) 확률 비율이 1이고 그룹 안의 advantage 평균이 0이라, 손실 값은 0 근처에 머뭅니다: 기울기는 있어도
# 값은 학습 정도를 말하지 않습니다. 볼 것은 되풀이 비율입니다. cpu 프로필의 몇 스텝은 모델을
# 크게 바꾸지 못하므로, 되풀이가 처음부터 샘플에 있었는지 학습 중에 늘었는지는 위 숫자 그대로 읽으세요. 중요한 것은 순서입니다:
# **보상 함수를 먼저 공격해 보고**(위의 세 답), 학습 중 최고 보상 샘플을 **직접 읽는** 것. 평균 보상이 오르는 곡선만 보면 해킹을 놓칩니다.
#
# ### GPU에서 돌리면 달라지는 것
# - 8B 모델은 한국어를 알고, 답을 128토큰까지(cpu 24), 프롬프트 2개 × 답 4개(a100: 답 8개)로 30스텝 씁니다. 생성이 학습 시간의
#   대부분을 차지합니다(GRPO 한 스텝 = 답 8개 생성 + 학습). TRL의 `use_vllm=True`는 생성을 vLLM에 맡기는데, T4에서는 학습 중인 모델과
#   vLLM이 15 GB를 나눠 써야 합니다(이 과정에서는 시험하지 않았습니다).
# - 추정 GPU 메모리(위 출력)는 T4에서 14 GiB 아래입니다: 생성의 KV 캐시는 토큰당 128 KiB라 작고, 학습 단계의 활성값이 더 큽니다.
# - 학습률은 2e-5로 낮습니다(cpu 1e-3은 몇 스텝 안에 무언가 움직이게 하려는 값). 큰 모델은 보상의 틈을 **더 잘** 찾습니다:
#   되풀이 말고도 마커를 문장 끝에 붙이기, 영어를 한글로 바꿔 적기 같은 해킹이 나올 수 있으니 샘플을 읽는 습관이 더 중요합니다.

# %% [markdown]
# ## 6. LLaMA-Factory로 하고 싶다면: 선호 데이터와 `stage: dpo`
# 8강은 SFT 데이터를 LLaMA-Factory 형식으로 내보냈습니다. 같은 모듈이 선호 쌍도 내보냅니다: alpaca 형식에 `chosen`/`rejected` 열,
# `dataset_info.json`에서 `"ranking": true`, 그리고 8강의 SFT 설정 옆에 `stage: dpo` 설정(`pref_beta` = 위의 `beta`).
# 참조 모델이 TRL과 다르게 정해지는 점에 주의하세요. LLaMA-Factory는 LoRA이고 `ref_model`이 없으면 **어댑터를 끈 모델**을 참조로 씁니다.
# 그래서 SFT 어댑터를 이어서 학습하면(`adapter_name_or_path`) 참조가 SFT 이전의 기본 모델이 됩니다. 설정은 대신 8강 9절의
# **병합된 SFT 모델**에서 새 LoRA로 시작합니다: 그러면 "어댑터를 끈 모델" = SFT 모델입니다.
# `make llamafactory-check`가 LLaMA-Factory 0.9.5 자신으로 이 데이터의 토큰 id가 과정의 채팅 템플릿과 같은지 확인하고, 몇 스텝의
# DPO를 돌립니다 (`recipes/llamafactory/README.md`).

# %%
from course_utils.environment import local_output_dir  # course_utils/environment.py: where the course runs
from course_utils.persona_export import export_llamafactory_dpo  # course_utils/persona_export.py: the LLaMA-Factory export

merged_sft = local_output_dir() / f"08_ironman_{profile.name}" / "merged"  # lesson 08, section 9
dpo_paths = export_llamafactory_dpo(pairs, run_dir / "llamafactory", model_name_or_path=str(merged_sft), beta=dpo_args.beta)
for name, path in dpo_paths.items():
    print(f"{name:<13}{path}")
print(dpo_paths["dataset_info"].read_text())
print(dpo_paths["train_config"].read_text())

# %% [markdown]
# ## 요약
# - DPO 쌍은 8강의 학습 행에서만 만들었습니다: chosen은 캐릭터다운 답, rejected는 학습할 모델이 직접 쓴 답 중 스타일 마커가 없는 것.
#   평가 질문과 겹치지 않는 것을 확인했고, 버린 답의 수와 잘못된 쌍의 한 문장 오류를 보았습니다.
# - `DPOTrainer`는 8강의 어댑터를 이어서 학습했고, 참조 모델은 같은 기본 모델 위의 얼린 어댑터 복사본(`ref`)이었습니다. 8B가 두 번
#   올라가지 않으므로 T4에 들어갑니다(추정 8.0 GiB). `beta`는 참조에서 멀어지는 정도를 정합니다.
# - 로그의 손실, chosen/rejected 보상, 마진, 정확도를 곡선으로 읽었고, 평가 질문에서 SFT와 SFT + DPO를 짝지은 차이의 95 % 구간으로 비교했습니다.
# - GRPO는 노트북에서 쓴 규칙 보상으로 학습했습니다. 마커 **횟수**를 세는 보상은 말 같지 않은 되풀이에 가장 높은 점수를 주었고,
#   서로 다른 마커를 세고 되풀이를 감점하는 보상으로 고쳤습니다. 보상은 학습 전에 공격해 보고, 학습 중 샘플을 직접 읽습니다.
# - 같은 쌍을 LLaMA-Factory의 선호 형식과 `stage: dpo` 설정으로 내보냈습니다.
#
# ## 연습 문제
# 1. **기초**: 로그의 마지막 마진은 $\beta$ = 0.1에서의 값입니다. 같은 로그 확률 차이에서 $\beta$를 0.05, 0.5로 바꾸면 DPO 손실
#    $-\log\sigma(\text{margin})$은 얼마가 될까요? 학습 없이 계산하고, 큰 $\beta$가 왜 "보수적"인지 숫자로 설명하세요.
# 2. **응용**: 고친 보상에도 틈이 있습니다. 한글 비율 보상은 한글이면 뜻이 없어도 1점입니다. 같은 글자를 되풀이한 답("하하하하…")을
#    감점하는 보상 `no_repeat_reward`를 쓰고, 위의 세 답과 GRPO가 기록한 샘플에 적용해 보세요.
# 3. **도전**: DPO의 "암묵적 보상" $\beta\log\frac{\pi_\theta(y|x)}{\pi_\text{ref}(y|x)}$를 직접 계산하세요. 저장한 DPO 어댑터와 SFT
#    어댑터를 한 기본 모델에 함께 얹고(`load_adapter`, `set_adapter`), 쌍 몇 개에서 chosen과 rejected의 답 토큰 로그 확률을 더해
#    보상과 정확도를 구한 뒤, 로그의 `rewards/accuracies`와 비교하세요.

# %% tags=["solution"]
# 풀이 1 (기초): margin = beta * (로그 확률 차이의 차). 같은 로그 확률 차이에서 beta만 바꿉니다.
import math

logratio_gap = last["rewards/margins"] / dpo_args.beta  # what the model changed, in log-probability units
for beta in (0.05, dpo_args.beta, 0.5):
    margin = beta * logratio_gap
    print(f"beta={beta:<5} margin {margin:+.3f}  loss {-math.log(1 / (1 + math.exp(-margin))):.3f}")
print("큰 beta에서는 같은 변화로도 손실이 이미 작아, 더 움직일 이유(기울기)가 작습니다: 참조 가까이 머뭅니다.")

# %% tags=["solution"]
# 풀이 2 (응용): 한 글자가 세 번 넘게 잇달아 나오면 감점합니다.
import re


def no_repeat_reward(completions, **kwargs) -> list[float]:
    """-0.5 for every run of one character repeated more than three times ("하하하하", "!!!!")."""
    return [-0.5 * len(re.findall(r"(.)\1{3,}", text_of(c))) for c in completions]


probe_plus = {**probe, "한 글자 되풀이": "하하하하하하 그래그래 좋아좋아!!!!"}
for label, text in probe_plus.items():
    print(f"{label:<22} {no_repeat_reward(completions=[text])[0] + 0.0:+.1f}")
flagged = [s["text"] for s in hacked + fixed if no_repeat_reward(completions=[s["text"]])[0] < 0]
print(f"GRPO 샘플 {len(hacked) + len(fixed)}개 중 감점된 샘플 {len(flagged)}개", repr(flagged[0][:60]) if flagged else "")

# %% tags=["solution"]
# 풀이 3 (도전): 두 어댑터를 한 기본 모델에 얹고, 답 토큰의 로그 확률 합을 어댑터마다 구합니다.
check_model = PeftModel.from_pretrained(load_causal_lm(profile.persona_model, profile), str(dpo_adapter), adapter_name="dpo")
check_model.load_adapter(str(sft_adapter), adapter_name="sft")
check_model.eval()


@torch.no_grad()
def answer_logprob(prompt: list[dict], answer: list[dict]) -> float:
    """Sum of log p(answer token) after the chat-templated prompt, as DPOTrainer adds them."""
    prompt_ids = tokenizer.apply_chat_template(prompt, add_generation_prompt=True, return_dict=True)["input_ids"]
    full_ids = tokenizer.apply_chat_template(prompt + answer, return_dict=True)["input_ids"][: dpo.max_length]
    ids = torch.tensor([full_ids], device=check_model.device)
    logps = torch.log_softmax(check_model(input_ids=ids).logits[0, :-1].float(), dim=-1)
    targets = ids[0, 1:]
    token_logps = logps.gather(1, targets[:, None])[:, 0]
    return float(token_logps[len(prompt_ids) - 1 :].sum())


wins = []
for pair in pairs[:4]:  # a few pairs show it; each costs four forward passes
    reward = {}
    for side in ("chosen", "rejected"):
        check_model.set_adapter("dpo")
        policy = answer_logprob(pair["prompt"], pair[side])
        check_model.set_adapter("sft")
        reference = answer_logprob(pair["prompt"], pair[side])
        reward[side] = dpo_args.beta * (policy - reference)
    wins.append(reward["chosen"] > reward["rejected"])
print(f"직접 계산한 암묵적 보상 정확도 {sum(wins) / len(wins):.0%} (쌍 {len(wins)}개), 로그의 마지막 rewards/accuracies {last['rewards/accuracies']:.0%}")
