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
# # 08. 아이언맨 페르소나 파인튜닝: 전과 후를 숫자로
#
# [![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)](https://colab.research.google.com/github/llm-finetuning-course/course/blob/main/notebooks/08_ironman_persona.ipynb)
#
# 원래 강의는 "프롬프트 엔지니어링만으로는 페르소나에 한계가 있다"는 동기로 한국어 8B 모델(Llama-3, Qwen2)에
# 토니 스타크의 말투를 LoRA로 학습시켰습니다. 이 노트북은 같은 일을 TRL로 하고, **전과 후를 숫자로** 비교합니다.
#
# ## 학습 목표
# - 시스템 프롬프트를 `apply_chat_template`로 넣고, Llama 3 형식(`<|start_header_id|>system<|end_header_id|>` … `<|eot_id|>`)과 오프라인 모델의 ChatML 형식을 눈으로 확인한다.
# - 시스템 프롬프트가 매 예제마다 토큰을 먹는다는 것을 계산하고, `max_length`에 비해 너무 길면 미리 오류로 잡는다.
# - TRL `SFTTrainer`로 LoRA SFT를 하되 **답(assistant) 토큰에만 손실**을 주고, 그 라벨을 직접 확인한다.
# - 학습/검증 손실 곡선으로 과적합을 보고, 원래 강의의 10 epoch 손실표와 비교한다.
# - 기본 모델 / 기본 + 시스템 프롬프트 / 파인튜닝 모델을 같은 미공개 질문으로 비교한다: 스타일 마커 비율, 한글 비율, 심사 모델 점수, 일반 상식 유지.
# - 어댑터를 체크포인트에 **샤드 하나씩** 병합하고(GPU 없이, T4에서도), 병합 전후와 실제로 학습한 모델의 logits를 상대 오차와 top-1 일치로 비교하고, 평범한 `from_pretrained`로 다시 불러 생성한다.
# - 병합 모델을 GGUF 파일로 내보내 llama.cpp와 Ollama에서 돌리는 법을 알고, transformers의 GGUF 로더로 확인한다.
# - LLaMA-Factory용 내보내기(데이터, `dataset_info.json`, `llama3-ironman` 템플릿), 직접 켤 때만 하는 Hub 업로드(기본은 어댑터), 멀티 GPU 레시피를 안다.
#
# ## 소요 시간과 하드웨어
# | 프로필 | 하드웨어 | 모델 | 시간 |
# |---|---|---|---|
# | `cpu` | CPU 2코어, 인터넷 없음 | SmolLM2-135M-Instruct (오프라인) | 약 5분 (`make test`에서 풀이 포함 304초, 2026-12-05) |
# | `t4` | Colab T4 15 GB | `beomi/Llama-3-Open-Ko-8B-Instruct-preview` 4-bit, fp16 연산 | 학습 <!-- t4:08-ko -->약 8~10분 (추정)<!-- /t4 -->; 다운로드, CPU에서 샤드별 병합, GGUF 내보내기는 따로 (T4에서 잰 적 없음) |
# | `a100` | A100 / L4 / H100 | 같은 모델 4-bit 학습, bf16 연산, 샤드별 병합 | 다운로드 포함 약 20~30분 (추정) |
#
# Hub 업로드는 시간표에 넣지 않았습니다: 기본으로 꺼져 있고(`UPLOAD = False`), 켜면 12절이 올리기 전에 크기와 예상 시간을 출력합니다.
#
# cpu 프로필의 135M 모델은 한국어를 거의 모릅니다. 그래서 cpu의 숫자는 "방법이 작동하는가"를 보여 줄 뿐, 8B 모델의 품질을
# 말하지 않습니다. 같은 셀이 GPU 프로필에서는 원래 강의와 같은 한국어 8B 모델로 돌아갑니다.

# %%
# Colab: 강의 저장소(코드, data/, 버전 고정)를 `/content/course`에 한 번 받아 그 `course_utils`를 노트북이 찾는 `/content`에 잇고,
# `setup()`이 이 런타임에 빠진 패키지를 설치합니다(Colab의 torch는 그대로).
# `drive=True`: 결과를 Google Drive에 저장해 연결이 끊겨도, 다음 레슨의 새 런타임에서도 남게 합니다.
# 로컬에서는 `make`가 이미 설치했으므로 `setup()`은 환경 점검(doctor)만 출력합니다.
import os
if "COLAB_RELEASE_TAG" in os.environ and os.system("(test -d /content/course || git clone -q --depth=1 https://github.com/llm-finetuning-course/course /content/course) && ln -sfn /content/course/course_utils /content/course_utils"): raise RuntimeError("Could not download the course from https://github.com/llm-finetuning-course/course: check the runtime's internet connection and run this cell again.")
from course_utils import setup  # course_utils/runtime_setup.py: install, Drive, doctor()
profile = setup(drive=True)

# %% [markdown]
# ## 1. 데이터: 토니 스타크의 말투로 쓴 한국어 지시 데이터
# 이 강의를 위해 새로 쓴 데이터입니다(`data/LICENSE.md`, CC BY 4.0). 원래 강의와 같은 `instruction` / `input` / `output` 구성이고,
# 잡담, 기술 질문, 리더십 조언, 소코비아 협정, 캐릭터를 지키며 거절하기 등을 다룹니다. 평가용 질문(`ironman_heldout.jsonl`)은
# 학습 데이터에 **한 번도 나오지 않는** 질문이고, `general_questions.jsonl`은 파인튜닝 뒤에도 틀리면 안 되는 상식 문제입니다.

# %%
from collections import Counter

from course_utils.persona import load_persona_data  # course_utils/persona.py: the Iron Man persona data

train_rows, heldout_rows, general_rows = load_persona_data()
print(f"학습 {len(train_rows)}행, 평가 질문 {len(heldout_rows)}개, 상식 문제 {len(general_rows)}개")
print("평가 질문 분야:", dict(Counter(row["category"] for row in heldout_rows)))
print(train_rows[2])

# %% [markdown]
# 학습자가 직접 데이터를 고치다 보면 필드가 빠지거나 답이 비는 일이 생깁니다. 그런 행은 학습 전에 **한 문장짜리 오류**로 잡습니다.

# %%
from course_utils.persona import validate_persona_rows  # course_utils/persona.py: the Iron Man persona data

bad_rows = [
    [{"instruction": "안녕?", "input": ""}],
    [{"instruction": "안녕?", "input": "", "output": "  "}],
]
for rows in bad_rows:
    try:
        validate_persona_rows(rows, "my_rows.jsonl")
    except ValueError as error:
        print("ValueError:", error)

# %% [markdown]
# ## 2. 시스템 프롬프트와 채팅 템플릿
# 원래 강의는 LLaMA-Factory 템플릿의 `default_system`에 "당신은 아이언맨 토니 스타크 입니다. …"를 넣었습니다. 같은 생각을
# 강의용으로 다시 쓴 것이 `SYSTEM_PROMPT`입니다. 문자열을 손으로 이어 붙이지 않고, 메시지 목록을 토크나이저의
# `apply_chat_template`에 넘겨 모델이 학습된 형식 그대로 만듭니다.

# %%
from course_utils.chat_format import chat_messages  # course_utils/chat_format.py: chat-template prompts
from course_utils.models import load_tokenizer  # course_utils/models.py: a profile's model and tokenizer
from course_utils.persona import SYSTEM_PROMPT  # course_utils/persona.py: the Iron Man persona data

tokenizer = load_tokenizer(profile.persona_model, profile)
messages = chat_messages("토니, 소코비아 협정에 대해 어떻게 생각해요?", system=SYSTEM_PROMPT)
print(SYSTEM_PROMPT, "\n")
print(tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True))

# %% [markdown]
# GPU 프로필의 모델은 Llama 3 계열이라 위 출력이 곧 Llama 3 형식입니다. cpu 프로필의 SmolLM2는 ChatML
# (`<|im_start|>system` … `<|im_end|>`) 형식을 씁니다. Llama 3 토크나이저는 오프라인에서 받을 수 없으므로, cpu에서는
# **TRL 패키지에 들어 있는 Meta Llama 3 Instruct의 Jinja 템플릿**을 transformers의 같은 렌더러로 같은 메시지에 적용해 보여 줍니다.

# %%
from course_utils.chat_format import render_llama3  # course_utils/chat_format.py: chat-template prompts

if profile.device == "cuda":
    print("이 프로필의 토크나이저가 곧 Llama 3 템플릿입니다 (위 출력).")
else:
    print("[cpu] Llama 3 토크나이저 대신, TRL에 포함된 Llama 3 Instruct Jinja 템플릿으로 렌더링한 결과:\n")
    print(render_llama3(messages))

# %% [markdown]
# ### 시스템 프롬프트는 매 예제마다 토큰을 먹습니다
# 시스템 프롬프트는 학습 예제 **하나하나의 앞에** 붙습니다. SmolLM2의 토크나이저는 한국어 한 글자를 2토큰쯤으로 쪼개므로
# (2강), 같은 문장이 Llama 3 토크나이저보다 몇 배 길어집니다. 시스템 프롬프트가 `max_length`의 절반을 넘으면 질문과 답이
# 잘려 나가므로 학습 전에 오류로 잡습니다. cpu 프로필에서는 이 검사에 걸리므로 시스템 프롬프트 **없이** 학습합니다. 그러면
# SmolLM2 템플릿이 넣는 기본 시스템 메시지("You are a helpful AI assistant named SmolLM…") 아래에서 토니가 되도록 배웁니다.
# 페르소나가 프롬프트가 아니라 가중치에 들어가므로, 추론할 때도 프롬프트 토큰을 아낍니다.

# %%
from course_utils.chat_format import check_system_prompt_fits  # course_utils/chat_format.py: chat-template prompts

preset = profile.persona
try:
    used = check_system_prompt_fits(tokenizer, SYSTEM_PROMPT, preset.max_length)
    train_system = SYSTEM_PROMPT
    print(f"시스템 프롬프트 {used}토큰 / max_length {preset.max_length}: 학습 예제마다 넣습니다.")
except ValueError as error:
    train_system = None
    print("ValueError:", error)
    print("-> 이 프로필에서는 시스템 프롬프트 없이 학습합니다.")

# %% [markdown]
# ## 3. 대화형 prompt/completion 데이터
# 한 행을 `prompt`(시스템 + 사용자 메시지)와 `completion`(assistant 메시지)으로 나눕니다. TRL 1.16은 이런 **대화형
# prompt/completion** 데이터를 받으면 토크나이저의 채팅 템플릿을 적용하고, `completion_only_loss`(기본값)로 답 토큰에만 손실을
# 줍니다. 학습 데이터의 16행은 학습에 쓰지 않고 검증 손실용으로 떼어 둡니다(cpu는 평가 시간 때문에 그중 8행으로 잽니다). cpu 프로필은 스텝 수가 작으므로, 그 안에서
# 약 3 epoch를 돌 수 있을 만큼만 학습 행을 씁니다(과적합이 보이도록).

# %%
import random

from course_utils.persona import persona_dataset  # course_utils/persona.py: the Iron Man persona data

rows = list(train_rows)
random.Random(0).shuffle(rows)
val_rows, fit_rows = rows[:16], rows[16:]
if profile.device == "cpu":
    val_rows = val_rows[:8]  # cpu: each evaluation then costs about one training step (six of them in 24 steps)
fit_rows = fit_rows[: max(preset.max_steps * preset.effective_batch_size // 3, 1)]
train_dataset = persona_dataset(fit_rows, system=train_system)
eval_dataset = persona_dataset(val_rows, system=train_system)
epochs = preset.max_steps * preset.effective_batch_size / len(train_dataset)
print(f"학습 {len(train_dataset)}행, 검증 {len(eval_dataset)}행, {preset.max_steps}스텝 × {preset.effective_batch_size}행 ≈ {epochs:.1f} epoch")
print(train_dataset[0])

# %% [markdown]
# ## 4. 학습 전: 기본 모델과 "기본 + 시스템 프롬프트"
# 평가 질문에 대한 답을 먼저 만들어 둡니다. 두 번째 열은 프롬프트 엔지니어링만 한 경우로, 가장 좋은 프롬프트인 전체
# `SYSTEM_PROMPT`를 씁니다(추론에는 `max_length` 제한이 없습니다). `generate`는 `do_sample=False`를 직접 넘겨(Llama-3-Instruct의 `generation_config`는 샘플링이 기본) 매번 같은 답을 내고, EOS와 턴 끝 토큰 `<|eot_id|>`에서 멈춥니다(`stop_token_ids`, 02강).
# cpu에서는 시간 때문에 분야마다 2개씩, 16개 질문만 씁니다.

# %%
from course_utils.generation import generate  # course_utils/generation.py: batched greedy generation
from course_utils.measure import measure  # course_utils/measure.py: time and peak memory
from course_utils.models import load_causal_lm  # course_utils/models.py: a profile's model and tokenizer
from course_utils.persona import persona_prompts  # course_utils/persona.py: the Iron Man persona data

by_category: dict[str, list[str]] = {}
for row in heldout_rows:
    by_category.setdefault(row["category"], []).append(row["instruction"])
per_category = 2 if profile.device == "cpu" else None
questions = [q for category in sorted(by_category) for q in by_category[category][:per_category]]
NEW_TOKENS = 64

model = load_causal_lm(profile.persona_model, profile)
answers = {}
with measure("기본 모델 생성 (2열)"):
    answers["기본"] = generate(model, tokenizer, persona_prompts(tokenizer, questions, None), max_new_tokens=NEW_TOKENS)
    answers["기본 + 시스템 프롬프트"] = generate(model, tokenizer, persona_prompts(tokenizer, questions, SYSTEM_PROMPT), max_new_tokens=NEW_TOKENS)
for column, texts in answers.items():
    print(f"[{column}] {questions[0]} -> {texts[0][:120]!r}")

# %% [markdown]
# ## 5. LoRA와 `SFTConfig`
# LoRA 설정과 학습 인자는 프로필의 `persona` 프리셋에서 옵니다(배치, 누적, `max_length`, 스텝, 학습률). 5강에서 하나씩 적은 인자들은
# `trainer_arguments`가 같은 이름으로 모아 주므로, 아래 `SFTConfig`에는 이 레슨에서 새로운 것만 적습니다. 과적합을 보려고
# 검증 손실을 `eval_steps`마다 잽니다. 학습 폴더는 프로필마다 따로(`08_ironman_<프로필>`)이고, 어느 프로필과 기본 모델의 학습인지
# `run_owner.json`에 적어 둡니다(5강처럼): 다른 기본 모델의 학습이 그 폴더에 있으면 한 문장으로 알리고 옆 폴더에 학습합니다. T4(fp16 연산)에서는 5강처럼 LoRA 가중치를 fp32로 올립니다: TRL이 4-bit 모델의 LoRA 가중치를
# bf16으로 두는데, fp16의 GradScaler에는 bf16 기울기를 되돌리는 커널이 없어 첫 스텝에서 멈추기 때문입니다.

# %%
import torch
from peft import LoraConfig
from trl import SFTConfig, SFTTrainer

from course_utils.lesson_runs import persona_owner, persona_run_dir  # course_utils/lesson_runs.py: runs between lessons
from course_utils.run_owner import claim_run_dir  # course_utils/run_owner.py: whose a run folder is
from course_utils.sft_recipe import trainer_arguments  # course_utils/sft_recipe.py: the course's TRL arguments
from course_utils.training import upcast_trainable_for_fp16  # course_utils/training.py: as in lesson 05

run_dir, note = persona_run_dir(profile)
if note:
    print(note)
run_dir = claim_run_dir(run_dir, persona_owner(profile))
lora_config = LoraConfig(
    r=preset.lora_r, lora_alpha=preset.lora_alpha, lora_dropout=0.05, target_modules="all-linear", task_type="CAUSAL_LM"
)
args = SFTConfig(
    output_dir=str(run_dir),
    # batch, accumulation, steps, learning rate, optimizer, checkpointing, bf16/fp16: the preset's, as lesson 05 writes them out
    **trainer_arguments(preset, profile.compute_dtype),
    max_length=preset.max_length,  # longer rows lose their end (section 5's labels show one)
    completion_only_loss=True,  # the default for prompt/completion data, written out because it is the point
    lr_scheduler_type="cosine", warmup_steps=0.05,
    # validation loss before training and every eval_steps: the overfitting curve of section 7
    eval_strategy="steps", eval_steps=preset.eval_steps, eval_on_start=True, per_device_eval_batch_size=8,
    save_strategy="no", logging_steps=max(1, preset.eval_steps // 2), report_to="none", seed=42,
)
trainer = SFTTrainer(
    model=model, args=args, train_dataset=train_dataset, eval_dataset=eval_dataset,
    processing_class=tokenizer, peft_config=lora_config,
)
if args.fp16:  # T4: TRL put the 4-bit model's LoRA weights in bf16, which fp16's GradScaler cannot unscale (lesson 05)
    print(f"LoRA 가중치 {upcast_trainable_for_fp16(trainer.model)}개를 fp32로 올림 (fp16 혼합 정밀도용)")
trainer.model.print_trainable_parameters()

# %% [markdown]
# ### 손실은 답 토큰에만
# `SFTTrainer`가 만든 첫 학습 예제를 봅니다. 라벨이 `-100`인 토큰(시스템, 사용자, 템플릿 머리말)은 손실에서 빠지고, 남는 것은
# 토니의 답과 턴을 닫는 토큰뿐입니다. `max_length`를 넘는 긴 답은 뒤가 잘립니다.

# %%
example = trainer.train_dataset[0]
trained = [token for token, label in zip(example["input_ids"], example["labels"]) if label != -100]
print(f"토큰 {len(example['input_ids'])}개 중 손실을 받는 토큰 {len(trained)}개")
print("손실 받는 부분:", repr(tokenizer.decode(trained)))
assert tokenizer.decode(trained).startswith(fit_rows[0]["output"][:20]) and len(trained) < len(example["input_ids"])

# %% [markdown]
# ## 6. 학습
# 시간과 메모리를 함께 잽니다. 손실 곡선은 `course_utils.plots.plot_losses`로 그립니다.

# %%
from course_utils.plots import plot_losses  # course_utils/plots.py: loss curves

with measure("페르소나 LoRA 학습") as train_cost:
    trainer.train()
plot_losses(trainer.state.log_history, title=f"{profile.name}: persona LoRA, train vs eval loss");

# %% [markdown]
# ## 7. 과적합: 우리 곡선과 원래 강의의 10 epoch 손실표
# 원래 강의는 10 epoch로 학습하도록 설정했고(`--num_train_epochs 10.0`), 모델 이름에도 "Overfit"을 붙였습니다. 원래 강의가 공개한 손실표에서
# 몇 점을 옮겨 와(직접 계산한 값이 아니라 **인용**입니다) 우리 곡선과 epoch 축에 함께 그립니다. 눈여겨볼 점:
#
# - 원래 강의의 학습 손실은 1.85에서 0.2까지 계속 내려갑니다. 그런데 epoch 경계(1.0, 5.0)를 넘자마자 **계단처럼 뚝** 떨어집니다.
#   같은 예제를 두 번째로 볼 때 손실이 갑자기 낮다는 것은 일반화가 아니라 **암기**의 신호입니다.
# - 원래 강의는 검증 손실을 재지 않았습니다. 우리 곡선에는 검증 손실이 있어, 학습 손실이 내려가는 동안 검증 손실이 멈추거나
#   올라가는 지점이 과적합이 시작되는 곳입니다.
# - 대책: epoch를 줄이고(2~3), `val_size`/`eval_strategy`로 검증 손실을 재고, 가장 좋은 체크포인트를 고르거나
#   (`load_best_model_at_end=True`) 멈춥니다(`EarlyStoppingCallback`). 페르소나처럼 작은 데이터일수록 빨리 외웁니다.

# %%
import matplotlib.pyplot as plt

# course_utils/seed_reports.py: numbers the seed projects published
from course_utils.seed_reports import SEED_REPORTED_LOSS

history = trainer.state.log_history
fig, ax = plt.subplots(figsize=(7, 3.8))
for label, points in SEED_REPORTED_LOSS.items():
    ax.plot(*zip(*points), ":.", label=f"{label}, train (quoted)")
ax.plot([e["epoch"] for e in history if "loss" in e], [e["loss"] for e in history if "loss" in e], "-o", label=f"{profile.name}: train")
ax.plot([e["epoch"] for e in history if "eval_loss" in e], [e["eval_loss"] for e in history if "eval_loss" in e], "--s", label=f"{profile.name}: eval")
ax.set_xlabel("epoch"); ax.set_ylabel("loss"); ax.grid(alpha=0.3); ax.legend(fontsize=8)
ax.set_title("persona SFT: the seeds' 10-epoch runs vs this run");

# %%
evals = [(e["epoch"], e["eval_loss"]) for e in history if "eval_loss" in e]
best_epoch, best_eval = min(evals, key=lambda point: point[1])
print("검증 손실:", ", ".join(f"epoch {epoch:.1f}: {loss:.3f}" for epoch, loss in evals))
print(f"가장 낮은 검증 손실은 epoch {best_epoch:.1f}의 {best_eval:.3f}; 마지막은 {evals[-1][1]:.3f}")

# %% [markdown]
# ## 8. 학습 후: 세 열 비교
# 파인튜닝 모델은 학습 때와 같은 시스템 프롬프트(`train_system`)로 답합니다.

# %%
model = trainer.model
model.eval()
with measure("파인튜닝 모델 생성"):
    answers["파인튜닝"] = generate(model, tokenizer, persona_prompts(tokenizer, questions, train_system), max_new_tokens=NEW_TOKENS)
for question, *texts in list(zip(questions, *answers.values()))[::5]:
    print(f"Q: {question}")
    for column, text in zip(answers, texts):
        print(f"  [{column}] {text[:110]!r}")

# %% [markdown]
# ### 측정 방법
# - **스타일 마커 비율**: 답에 토니 스타크의 표지어가 하나라도 있는 비율. 목록은 `STYLE_MARKERS`(아래 출력)이고, 학습 답에서 실제로
#   나오는 말만 골랐습니다(테스트가 확인). 이름과 별명(`self`), 장비(`gear`), 주변 인물과 사건(`world`), 그리고 말투(`voice`)의
#   네 묶음입니다. 학습 답은 한 번도 존댓말(-요, -니다)을 쓰지 않는 반말이라 "내가", "거야" 같은 반말 표현도 표지어입니다.
#   질문에 이미 있던 말(예: "소코비아")을 따라 한 것은 세지 않습니다.
# - **한글 비율**: 답의 글자(숫자, 문장부호 제외) 중 한글의 비율. 페르소나는 한국어로 답합니다.
# - **심사 점수**: 심사 모델에 루브릭(`PERSONA_RUBRIC`)을 주고, 다음 토큰이 "1"~"5"일 확률로 가중 평균한 점수(G-Eval 방식).
#   루브릭은 6강의 심사 프롬프트처럼 영어입니다. 한국어 8B 심사 모델은 영어 지시를 잘 읽고, SmolLM2에서는 같은 루브릭이
#   한국어로 362토큰, 영어로 96토큰이라 심사하는 답마다 그만큼 계산이 줄어듭니다.
#   심사 모델은 어댑터를 끈 **기본 모델**입니다. 그래서 "기본"과 "기본 + 시스템 프롬프트" 열은 심사 모델 **자신의 답**이고,
#   LLM 심사는 자기가 쓴 답을 더 좋게 보는 경향(자기 선호 편향, 6강)이 있습니다: 이 열들의 점수는 파인튜닝 열에 비해 유리할 수 있으니,
#   기본 열이 이겨도 그 차이를 그대로 믿지 마세요(더 공정하게는 다른 계열의 심사 모델을 씁니다). cpu의 135M 모델은 심사위원으로 매우 약합니다: 점수가 1.5 근처에 몰리고
#   답의 질을 거의 가르지 못하므로, 이 열은 방법을 보여 줄 뿐 근거로 삼지 마세요. GPU 프로필의 한국어 8B 모델은 훨씬 낫지만 그래도 사람이 몇 개를 직접 읽어 확인해야 합니다.
# - **일반 상식**: 상식 문제 10개를 같은 설정으로 묻고, 6강의 짧은 답 규칙(첫 줄에 정답이 한 단어로)으로 채점합니다.
#   페르소나를 배우느라 상식이 나빠지면 안 됩니다. cpu의 135M 모델은 한국어 상식 문제를 원래 거의 못 맞히므로, 정답을
#   **얼마나 그럴듯하게 보는지**(정답 토큰의 평균 손실, 6강의 `completion_loss`)도 함께 잽니다. 정답률이 0이어도 이 값은 움직입니다.

# %%
from course_utils.judge import PERSONA_RUBRIC  # course_utils/judge.py: the LLM judge
from course_utils.persona_scores import STYLE_MARKERS  # course_utils/persona_scores.py: persona style scores

print("STYLE_MARKERS:", STYLE_MARKERS)
print(PERSONA_RUBRIC)

# %%
from contextlib import nullcontext

from course_utils.judge import persona_judge_scores  # course_utils/judge.py: the LLM judge
from course_utils.perplexity import completion_loss  # course_utils/perplexity.py: loss and perplexity
# course_utils/persona_scores.py: persona style scores
from course_utils.persona_scores import general_accuracy, marker_rate, marker_rates_by_group, mean_hangul_share

systems = {"기본": None, "기본 + 시스템 프롬프트": SYSTEM_PROMPT, "파인튜닝": train_system}
general_prompts = {column: persona_prompts(tokenizer, [row["question"] for row in general_rows], system) for column, system in systems.items()}
expected = [row["answer"] for row in general_rows]
results = {}
with measure("심사와 상식 문제"):
    for column, texts in answers.items():
        with nullcontext() if column == "파인튜닝" else model.disable_adapter():  # base columns: adapter off
            replies = generate(model, tokenizer, general_prompts[column], max_new_tokens=24)
            answer_loss = completion_loss(model, tokenizer, general_prompts[column], expected)
        with model.disable_adapter():  # the judge: the base instruct model (every profile's judge_model is its persona_model)
            scores = persona_judge_scores(model, tokenizer, questions, texts)
        results[column] = {
            "marker": marker_rate(texts, questions), "hangul": mean_hangul_share(texts), "judge": sum(scores) / len(scores),
            "general": general_accuracy(replies, expected), "answer_loss": answer_loss,
            "groups": marker_rates_by_group(texts, questions), "scores": scores, "texts": texts,
        }

# %%
from IPython.display import Markdown, display

# course_utils/evaluation.py: scoring answers
from course_utils.evaluation import bootstrap_mean_interval, wilson_interval, with_interval
from course_utils.persona_scores import hangul_share  # course_utils/persona_scores.py: persona style scores
from course_utils.tables import markdown_table  # course_utils/tables.py: Markdown tables

# every score with its 95 % interval: Wilson for shares of answers, bootstrap for means over answers
n, m = len(questions), len(general_rows)
headers = ["열", "스타일 마커 비율 ↑", "한글 비율 ↑", "심사 점수 (1~5) ↑", "상식 정답률 (유지)", "상식 정답 손실 (유지)"]
table = [
    [column, with_interval(r["marker"], wilson_interval(round(r["marker"] * n), n)),
     with_interval(r["hangul"], bootstrap_mean_interval([hangul_share(t) for t in r["texts"]])),
     with_interval(r["judge"], bootstrap_mean_interval(r["scores"]), percent=False),
     with_interval(r["general"], wilson_interval(round(r["general"] * m), m)), f"{r['answer_loss']:.2f}"]
    for column, r in results.items()
]
display(Markdown(f"**{profile.name} 프로필, 평가 질문 {len(questions)}개, 상식 문제 {len(general_rows)}개**\n\n" + markdown_table(headers, table)))
groups = list(STYLE_MARKERS)
display(Markdown("마커 묶음별 비율\n\n" + markdown_table(["열"] + groups, [[c] + [f"{r['groups'][g]:.0%}" for g in groups] for c, r in results.items()])))

# %% [markdown]
# ### 이 결과를 테스트로
# 표의 `[ ]`는 95 % 구간입니다(비율은 Wilson, 평균은 부트스트랩). 상식 문제는 10개뿐이라 한 문제가 10 %p이고 구간은 ±25 %p
# 안팎입니다: "상식 유지"는 큰 손실이 보이지 않는다는 뜻일 뿐 같다는 증명이 아니며, 구간이 겹치는 두 열의 순위는 말하지 않습니다.
# 이 노트북이 CI의 테스트이기도 합니다(`make test`가 cpu 프로필로 실행). cpu 프로필에서 파인튜닝 모델은 두 기준선 모두보다
# 스타일 마커 비율이 **20%p 이상**, 한글 비율이 **5%p 이상** 높아야 하고, 상식은 기본 모델보다 정답이 2문제 넘게 줄거나
# 정답 손실이 0.5 넘게 늘면 안 됩니다. 학습 손실은 0.1 넘게 내려가야 하고, 검증 손실의 가장 낮은 값은 학습 전(`eval_on_start`)보다
# 0.05 넘게 낮아야 합니다(학습에 쓰지 않은 토니의 답이 더 그럴듯해짐). 심사 점수는 135M 심사 모델이 약해서 검사하지 않습니다. GPU 프로필에서는 숫자를 보여 주기만 합니다.

# %%
tuned, base, prompted = results["파인튜닝"], results["기본"], results["기본 + 시스템 프롬프트"]
checks = {
    "marker rate +20%p": tuned["marker"] >= max(base["marker"], prompted["marker"]) + 0.20,
    "Hangul share +5%p": tuned["hangul"] >= max(base["hangul"], prompted["hangul"]) + 0.05,
    "general accuracy kept": tuned["general"] >= base["general"] - 2 / len(general_rows),
    "general answer loss kept": tuned["answer_loss"] <= base["answer_loss"] + 0.5,
    "training loss fell": [e["loss"] for e in history if "loss" in e][-1] < [e["loss"] for e in history if "loss" in e][0] - 0.1,
    "held-out answers likelier at the best step": best_eval < evals[0][1] - 0.05,
}
print(checks)
if profile.name == "cpu":
    assert all(checks.values()), results

# %% [markdown]
# ## 9. 병합: 샤드 하나씩, GPU 없이
# LoRA 어댑터를 저장한 뒤(크기는 아래에 출력: 8B 모델의 7개 투영에 r=16이면 4,194만 파라미터, fp32로 약 168 MB), 기본 모델의 가중치에 더해 하나의 평범한 모델로 만듭니다. 병합은 가중치마다
# $W' = W + \frac{\alpha}{r} B A$ 한 줄입니다. PEFT의 `merge_and_unload()`는 이것을 **모델 전체를 16-bit로 메모리에 올린 채** 하므로
# 8B 모델이면 16 GB가 필요하고, Colab T4(RAM 약 12.7 GB, GPU 15 GB)에는 들어가지 않습니다. 그래서 `course_utils.merge`는 디스크의
# 체크포인트를 **safetensors 샤드 하나씩** 읽어, 그 샤드에 있는 가중치에만 $\frac{\alpha}{r} BA$를 fp32로 더하고 원래 dtype으로 되돌려
# 씁니다. 메모리에는 샤드 하나(Llama-3-8B는 약 5 GB)와 어댑터만 있고, GPU는 쓰지 않습니다. 결과가 PEFT의 `merge_and_unload()`와 같은
# 가중치라는 것은 테스트(`tests/test_merge.py`)가 확인합니다. 세 프로필 모두 같은 코드로 병합합니다.
#
# 먼저 어댑터를 저장하고(그 파일의 크기를 출력하고, 폴더에 "끝남" 표시를 합니다), **실제로 학습한 모델**(GPU: 4-bit nf4 기본 모델 + 어댑터,
# cpu: fp32 + 어댑터)의 logits를 나중 비교용으로 남깁니다. 비교할 입력은 채팅 템플릿이 이미 BOS(`<|begin_of_text|>`)로 시작하므로
# 토크나이저가 BOS를 하나 더 붙이지 않게 `add_special_tokens=False`로 토큰화합니다(6강의 `completion_loss`와 같은 규칙).

# %%
import gc

from course_utils.training import mark_finished  # course_utils/training.py: as in lesson 05

adapter_dir = run_dir / "adapter"
trainer.save_model(str(adapter_dir))
mark_finished(run_dir, {"profile": profile.name, "base_model": profile.persona_model, "steps": trainer.state.global_step})
adapter_file = adapter_dir / "adapter_model.safetensors"
lora_params = sum(p.numel() for p in trainer.model.parameters() if p.requires_grad)
print("어댑터 파일:", sorted(p.name for p in adapter_dir.iterdir()))
print(f"{adapter_file.name}: {adapter_file.stat().st_size / 1e6:.1f} MB = LoRA 파라미터 {lora_params / 1e6:.2f} M개 × "
      f"{next(p for p in trainer.model.parameters() if p.requires_grad).element_size()}바이트 (기본 모델은 들어 있지 않음)")
sample = tokenizer(persona_prompts(tokenizer, questions[:2], train_system), return_tensors="pt", padding=True,
                   add_special_tokens=False)  # the chat template already starts with the BOS
positions = sample["attention_mask"].bool()  # compare real tokens only, not padding


def logits_at(model) -> torch.Tensor:
    """The model's logits on the sample's real tokens, in fp32 on the CPU."""
    with torch.no_grad():
        return model(**sample.to(model.device)).logits.float().cpu()[positions]


trained_logits = logits_at(model)
del trainer, model  # free the training model before the merged one is loaded
gc.collect()
if profile.device == "cuda":
    torch.cuda.empty_cache()

# %% [markdown]
# 병합할 기본 모델은 디스크의 체크포인트 폴더입니다. GPU 프로필에서는 `huggingface_hub.snapshot_download`가 받아 둔 Hub 캐시 폴더,
# cpu에서는 오프라인 모델 폴더입니다. 병합본(8B면 16 GB)과 아래의 GGUF 파일은 Drive(무료 15 GB)가 아니라 이 머신의 디스크
# (`local_output_dir()`)에 씁니다: 어댑터만 있으면 언제든 다시 만들 수 있습니다. 같은 일을 명령줄로도 할 수 있습니다(아래 출력). 어댑터가 다른 기본 모델에서 학습됐으면
# (층 모양이 다르거나 기본 모델에 없는 모듈) 한 문장으로 거절하고, 중간에 끊겨도 완성된 것처럼 보이는 반쪽 폴더를 남기지 않습니다.

# %%
from course_utils.environment import local_output_dir  # course_utils/environment.py: where the course runs
# course_utils/merge.py: streaming LoRA merge
from course_utils.merge import base_checkpoint_folder, merge_adapter_into_checkpoint

base_dir = base_checkpoint_folder(profile.persona_model, profile)
merged_dir = local_output_dir() / run_dir.name / "merged"  # 8B: 16 GB on this VM's disk, not on Drive (the adapter is)
print(f"python -m course_utils.merge {base_dir} {adapter_dir} {merged_dir} --overwrite")
with measure("스트리밍 병합 (CPU, 샤드 하나씩)") as merge_cost:
    report = merge_adapter_into_checkpoint(base_dir, adapter_dir, merged_dir, overwrite=True)
tokenizer.save_pretrained(merged_dir)  # the tokenizer the model was trained with (its pad token included)
size_gib = sum(p.stat().st_size for p in merged_dir.glob("*.safetensors")) / 2**30
print(f"가중치 {report.merged_weights}개 병합, 샤드 {report.shards}개, {size_gib:.2f} GiB -> {merged_dir}")

# %% [markdown]
# ### 병합이 맞는가: 병합 전후를 같은 정밀도에서
# 병합 전(16-bit 기본 모델 + 어댑터, PEFT)과 병합 후(병합된 폴더를 같은 dtype으로)의 logits를 같은 입력에서 비교합니다.
# 최대 절대 차이는 쓰지 않습니다. logits의 크기가 수십이고 bf16은 유효 숫자가 세 자리 정도라, 옳은 병합도 최대 차이가 0.1을 쉽게
# 넘습니다(GPU 리허설에서 `gap < 0.1`이 실제로 실패했습니다). 대신 두 가지를 봅니다.
# - **상대 오차** $\lVert a-b\rVert / \lVert b\rVert$: 허용치 fp32 `1e-4`, bf16/fp16 `0.1`. 16-bit에서는 병합 전 모델도 매 층에서
#   반올림되므로 옳은 병합도 몇 % 차이가 날 수 있습니다.
# - **top-1 일치율**(위치마다 가장 높은 토큰이 같은 비율): 허용치 fp32 100 %, 16-bit 95 % 이상.
#
# T4에서는 16-bit 8B(16 GB)가 GPU(15 GB)에 들어가지 않아 이 비교를 건너뛰고, 아래의 "학습한 모델과 비교"만 합니다.

# %%
from peft import PeftModel
from transformers import AutoModelForCausalLM

from course_utils.adapter_merge import check_adapter_matches_base  # course_utils/adapter_merge.py: adapter/base checks
from course_utils.merge import logit_gap  # course_utils/merge.py: streaming LoRA merge

exact = profile.compute_dtype == torch.float32
tolerance = {"relative": 1e-4 if exact else 0.1, "top1": 1.0 if exact else 0.95}
device_map = {"": 0} if profile.device == "cuda" else None
if profile.name != "t4":
    base16 = load_causal_lm(profile.persona_model, profile, quantize=False)
    check_adapter_matches_base(adapter_dir, base16)
    unmerged_logits = logits_at(PeftModel.from_pretrained(base16, str(adapter_dir)).eval())
    del base16  # one 16-bit copy at a time (an L4 has 24 GB)
    gc.collect()
    if profile.device == "cuda":
        torch.cuda.empty_cache()
    merged16 = AutoModelForCausalLM.from_pretrained(merged_dir, dtype=profile.compute_dtype, device_map=device_map).eval()
    merged_logits = logits_at(merged16)
    del merged16
    gc.collect()
    relative, top1 = logit_gap(merged_logits, unmerged_logits)
    print(f"병합 후 vs 병합 전 ({profile.dtype_name}): 상대 오차 {relative:.2e} (허용 {tolerance['relative']:.0e}), top-1 일치 {top1:.1%} (허용 {tolerance['top1']:.0%})")
    assert relative < tolerance["relative"] and top1 >= tolerance["top1"]
else:
    print("[t4] 16-bit 8B가 GPU에 들어가지 않아 병합 전후 16-bit 비교는 건너뜁니다 (a100 프로필과 테스트가 확인).")

# %% [markdown]
# ### 학습한 모델과 비교: 왜 차이가 더 큰가
# 이제 병합된 폴더를 학습자가 실제로 쓰는 방식으로 다시 불러옵니다. PEFT 없이 평범한 `from_pretrained`이고, GPU 프로필은
# 아래의 `BitsAndBytesConfig`로 4-bit nf4, cpu는 fp32입니다. 그리고 **실제로 학습한 모델**(GPU: nf4 기본 모델 + 16-bit 어댑터)과 비교합니다.
#
# GPU 프로필에서는 이 차이가 위의 병합 전후 차이보다 큽니다. 학습 중 어댑터는 nf4로 **양자화된 기본 가중치** $Q(W)$ 위에서
# 학습됐습니다. 그런데 병합은 16-bit 원본 $W$에 $\Delta W = \frac{\alpha}{r}BA$를 더한 것이고, 4-bit로 다시 불러오면 그 합이 새로
# 양자화됩니다: $Q(W + \Delta W)$. 어댑터가 보정하도록 배운 것은 $Q(W)$의 반올림 오차인데, 그 오차는 병합 모델에 없고 대신 새 반올림
# 오차가 생깁니다. $\Delta W$는 $W$보다 훨씬 작아서 4-bit 눈금 하나보다 작은 변화는 반올림에 묻히기도 합니다. 그래서 허용치는
# 넓게 잡습니다: GPU 프로필은 상대 오차 `0.5`, top-1 일치 70 % 이상(대부분의 위치에서 같은 토큰을 고른다는 정도의 확인).
# cpu 프로필은 학습도 fp32였으므로 위와 같은 fp32 허용치를 씁니다. 차이를 줄이려면 병합 모델을 16-bit로 쓰거나, 아래의 GGUF Q8_0처럼
# 더 촘촘한 양자화를 씁니다.

# %%
from transformers import BitsAndBytesConfig

reload_4bit = BitsAndBytesConfig(
    load_in_4bit=True, bnb_4bit_quant_type="nf4", bnb_4bit_use_double_quant=True, bnb_4bit_compute_dtype=profile.compute_dtype,
) if profile.device == "cuda" else None
with measure("병합 모델 다시 불러오기") as reload_cost:
    reloaded = AutoModelForCausalLM.from_pretrained(
        merged_dir, dtype=profile.compute_dtype, quantization_config=reload_4bit, device_map=device_map
    ).eval()
relative, top1 = logit_gap(logits_at(reloaded), trained_logits)
loose = {"relative": 0.5, "top1": 0.7} if profile.device == "cuda" else tolerance
print(f"다시 불러온 병합 모델 vs 학습한 모델: 상대 오차 {relative:.2e} (허용 {loose['relative']:.0e}), top-1 일치 {top1:.1%} (허용 {loose['top1']:.0%})")
assert relative < loose["relative"] and top1 >= loose["top1"]

# %% [markdown]
# 원래 강의는 `model = torch.nn.DataParallel(model).cuda()`로 감싼 뒤 `model.module.generate(...)`를 불렀습니다. `DataParallel`은
# `forward`만 여러 GPU로 나눌 뿐 `generate`는 나누지 않으므로 감쌀 이유가 없고, 감싸지 않은 모델에는 `.module`이 없어
# `AttributeError`가 납니다(Hub에서 받은 모델로 그대로 따라 하면 바로 이 오류). 평범한 모델에는 `model.generate`를 부르고,
# 장치는 `.to(device)`나 `device_map`으로 정합니다. 다시 불러온 병합 모델의 답을 학습한 모델의 답과 나란히 봅니다.

# %%
print("hasattr(reloaded, 'module'):", hasattr(reloaded, "module"))
merged_answers = generate(reloaded, tokenizer, persona_prompts(tokenizer, questions[:2], train_system), max_new_tokens=NEW_TOKENS)
for question, before, after in zip(questions[:2], answers["파인튜닝"][:2], merged_answers):
    print(f"Q: {question}  (같은 답: {before == after})\n  [학습한 모델] {before[:100]!r}\n  [병합 모델]   {after[:100]!r}")
del reloaded
gc.collect()

# %% [markdown]
# 다른 기본 모델에 어댑터를 병합하려 하면 PEFT는 늦게(모양이 다를 때 `load_state_dict` 깊은 곳에서) 실패하거나, 모양이 같으면
# **조용히** 이상한 모델을 만듭니다. 스트리밍 병합은 쓰기 전에 검사합니다. 층 크기가 다른 작은 무작위 Llama 폴더로 시험해 봅니다.

# %%
from transformers import LlamaConfig, LlamaForCausalLM

wrong_base_dir = run_dir / "tiny-llama"
LlamaForCausalLM(LlamaConfig(vocab_size=256, hidden_size=64, intermediate_size=128, num_hidden_layers=2, num_attention_heads=4)).save_pretrained(wrong_base_dir)
try:
    merge_adapter_into_checkpoint(wrong_base_dir, adapter_dir, run_dir / "wrong-merge", overwrite=True)
except ValueError as error:
    print("ValueError:", error)
print("wrong-merge 폴더가 생겼나:", (run_dir / "wrong-merge").exists())

# %% [markdown]
# ## 10. 내 컴퓨터에서 돌리기: GGUF로 내보내기
# llama.cpp, Ollama, LM Studio 같은 로컬 실행기는 **GGUF** 파일 하나를 읽습니다. `course_utils.gguf_export`는 병합된 폴더를
# llama.cpp의 `convert_hf_to_gguf.py`(`LlamaModel`)와 같은 방식으로 씁니다: llama.cpp의 텐서 이름(`token_embd`, `blk.N.attn_q` …),
# rope 배치에 맞춘 q/k 행 재배열, 하이퍼파라미터, 그리고 토크나이저(바이트 단위 BPE의 토큰·병합 규칙·특수 토큰 id)와 채팅 템플릿까지
# 파일 하나에 넣습니다. 텐서를 하나씩 읽어 쓰므로 메모리는 텐서 하나만큼만 씁니다.
# cpu는 f16(2바이트/파라미터), GPU 프로필은 Q8_0(약 1.06바이트/파라미터, 8B면 약 8.5 GB)으로 씁니다.
#
# 그리고 **우리가 쓰지 않은 읽기 프로그램**으로 확인합니다: transformers 자체의 GGUF 로더(`from_pretrained(..., gguf_file=...)`)로
# 불러, logits가 병합 모델과 같은지(f16 허용치: 상대 오차 `5e-3`, top-1 98 %)와 토큰 id가 같은지 봅니다. GGUF를 transformers로
# 불러오면 전체를 fp32로 풀어 CPU 메모리에 올리므로(8B면 32 GB), 이 확인은 cpu 프로필에서만 하고 GPU 프로필에서는 파일만 씁니다.

# %%
from course_utils.gguf_export import export_gguf  # course_utils/gguf_export.py: GGUF export

outtype = "f16" if profile.device == "cpu" else "q8_0"
gguf_file = local_output_dir() / run_dir.name / "gguf" / f"{profile.persona_model.split('/')[-1]}-ironman-{outtype}.gguf"
with measure(f"GGUF 내보내기 ({outtype})") as export_cost:
    gguf_report = export_gguf(merged_dir, gguf_file, outtype=outtype, overwrite=True)
print(f"{gguf_file.name}: 텐서 {gguf_report.tensors}개, {gguf_report.bytes / 2**30:.2f} GiB (safetensors 병합 폴더 {size_gib:.2f} GiB)")

# %%
from transformers import AutoTokenizer

if profile.device == "cpu":
    with measure("transformers로 GGUF 불러오기") as gguf_load_cost:
        from_gguf = AutoModelForCausalLM.from_pretrained(gguf_file.parent, gguf_file=gguf_file.name, dtype=torch.float32).eval()
        gguf_tokenizer = AutoTokenizer.from_pretrained(gguf_file.parent, gguf_file=gguf_file.name)
    relative, top1 = logit_gap(logits_at(from_gguf), merged_logits)
    print(f"GGUF(f16) vs 병합 모델: 상대 오차 {relative:.2e} (허용 5e-03), top-1 일치 {top1:.1%} (허용 98%)")
    assert relative < 5e-3 and top1 >= 0.98
    for text in ["토니, 소코비아 협정에 대해 어떻게 생각해요?", "What is the capital of France?", "LLM 중에서 가장 유명한 LLM은 뭐야? 12345",
                 "<|im_start|>user\nhi<|im_end|>"]:
        same = gguf_tokenizer(text).input_ids == tokenizer(text).input_ids
        print(f"토큰 id 같음: {same}  {text!r}")
        assert same
    special = [(t.bos_token, t.eos_token, t.pad_token) for t in (gguf_tokenizer, tokenizer)]
    print("채팅 템플릿 같음:", gguf_tokenizer.chat_template == tokenizer.chat_template, "| BOS, EOS, PAD:", special[0])
    assert gguf_tokenizer.chat_template == tokenizer.chat_template and special[0] == special[1]
    del from_gguf
else:
    print(f"[{profile.name}] 8B GGUF를 transformers로 풀면 CPU 메모리가 모자라 불러오기 확인은 cpu 프로필과 테스트(tests/test_gguf_export.py)에 맡깁니다.")

# %% [markdown]
# ### llama.cpp와 Ollama로 실행하기
# 파일을 내 컴퓨터로 받은 뒤(Colab: 왼쪽 파일 창에서 다운로드, 또는 Google Drive로 복사):
#
# ```bash
# # llama.cpp (https://github.com/ggml-org/llama.cpp): 파일 안의 채팅 템플릿으로 대화 모드
# llama-cli -m Llama-3-Open-Ko-8B-Instruct-preview-ironman-q8_0.gguf -cnv
#
# # Ollama: Modelfile 한 줄이면 됩니다
# echo 'FROM ./Llama-3-Open-Ko-8B-Instruct-preview-ironman-q8_0.gguf' > Modelfile
# ollama create ironman -f Modelfile && ollama run ironman
# ```
#
# 이 파일은 GGUF 버전 3, `general.architecture = llama`, 토크나이저 `gpt2` 형식입니다. 전처리(pre-tokenizer) 이름은
# `tokenizer.json`의 전처리기 자체에서 llama.cpp의 이름으로 고릅니다: Llama 3는 `llama-bpe`, SmolLM2는 `smollm`, GPT-2식은 `gpt-2`
# (llama.cpp는 모르는 이름이면 파일을 거절합니다). 턴 끝 토큰 id(`<|eot_id|>`, `<|im_end|>`)도 적어 두어 llama.cpp가 짐작하지 않습니다.
#
# **llama.cpp 자신으로 확인했습니다**: `make llamacpp-check`가 llama-cpp-python 0.3.36(llama.cpp를 소스에서 빌드)으로 cpu 프로필의
# SmolLM2와 진짜 Llama 3 토크나이저를 단 작은 모델의 f16·Q8_0 파일을 읽어, 전처리 경고 없음, 한국어·영어·숫자·기호·채팅 글의 토큰 id,
# 채팅 템플릿과 EOS·턴 끝 id, f16의 top-1 100 %와 greedy 토큰이 transformers와 같음을 보았고, 이 내보내기의 Q8_0 가중치 오차가
# llama.cpp 자신의 Q8_0보다 크지 않음을 확인했습니다 ([benchmarks/results/llamacpp_check.md](../benchmarks/results/llamacpp_check.md)).
# Ollama와 LM Studio는 같은 llama.cpp를 쓰지만 여기서 실행해 보지는 않았고, 8B 파일도 llama.cpp로 돌려 보지 않았습니다.
# 처음 돌려 볼 때 답이 학습한 모델과 비슷한지 몇 개 질문으로 확인하세요.

# %%
print(f"병합 {merge_cost}")
print(f"다시 불러오기 {reload_cost}")
print(f"GGUF 내보내기 {export_cost}")
print(f"llama-cli -m {gguf_file} -cnv")

# %% [markdown]
# ## 11. LLaMA-Factory로 하고 싶다면
# 원래 강의는 LLaMA-Factory에 `data/ironman.json`을 넣고, `dataset_info.json`에 항목을 추가하고, `template.py`에 `llama3-ironman` 템플릿을
# 등록했습니다. 같은 데이터에서 그 세 가지와 `llamafactory-cli train`용 설정을 만듭니다. 템플릿은 원래 강의처럼 `SYSTEM_PROMPT`를
# `default_system`으로 갖고, 렌더링 결과가 Llama 3 채팅 템플릿과 글자 하나까지 같은지 테스트가 확인합니다.
# 설정은 원래 강의의 `train_sft.sh`와 같되 10 대신 3 epoch, 검증 10%(`val_size`)입니다.
# `make llamafactory-check`가 이 내보내기를 LLaMA-Factory 0.9.5로 실제로 읽고 학습해 확인합니다 (`recipes/llamafactory/README.md`).

# %%
from course_utils.persona_export import export_llamafactory  # course_utils/persona_export.py: the LLaMA-Factory export

export_paths = export_llamafactory(train_rows, run_dir / "llamafactory", model_name_or_path="beomi/Llama-3-Open-Ko-8B-Instruct-preview")
for name, path in export_paths.items():
    print(f"{name:<13}{path}")
print(export_paths["dataset_info"].read_text())
print(export_paths["template"].read_text())

# %% [markdown]
# ## 12. Hub에 공유하기 (직접 켤 때만)
# 원래 강의는 토큰을 노트북에 그대로 적었습니다. 그러면 노트북을 공유하는 순간 토큰도 공개됩니다. 여기서는 Colab 보안 비밀(왼쪽 열쇠
# 아이콘)이나 `HF_TOKEN` 환경 변수에서만 읽습니다. 그리고 **토큰이 있다고 올리지 않습니다**: `setup()`이 GPU 학습자에게 토큰을
# 권하므로, 토큰만으로 올리면 대부분이 모르는 사이에 올리게 됩니다. 올리려면 `UPLOAD = True`로 바꾸세요.
# - 올리는 것은 기본으로 **어댑터**(`adapter_dir`)입니다. 병합된 폴더(8B면 16 GB)는 `UPLOAD_MERGED = True`일 때만 올립니다.
# - 올리기 전에 파일 수, 크기, 예상 시간을 출력합니다. 예상 시간은 **가정한 업로드 속도**로 나눈 추정이지 측정이 아닙니다.
# - 흔히 만드는 **읽기 전용 토큰**으로는 저장소를 만들 수 없습니다. 그런 토큰, 이미 있는 저장소 이름, 쓸 권한이 없는 이름은
#   huggingface_hub의 여러 줄짜리 HTTP 오류 대신 한 문장으로 알려 주고 아무것도 올리지 않습니다(이미 있는 내 저장소에 올리려면 `exist_ok=True`).
#
# 저장소 이름의 앞부분(사용자 이름)은 올릴 때만 토큰으로 `huggingface_hub.whoami()`에 물어 정합니다(그 전에는 `your-name`).
# 모델 카드는 폴더를 보고 "어댑터만"인지 "병합된 모델"인지 적고, 기본 모델, 데이터, 라이선스도 적습니다.

# %%
# course_utils/hub_upload.py: sharing on the Hub
from course_utils.hub_upload import HubUploadError, hub_repo_id, is_adapter_folder, model_card, push_folder_to_hub, upload_plan

UPLOAD = False  # True: share on the Hub (a write token as the HF_TOKEN secret)
UPLOAD_MERGED = False  # True: the merged folder (16 GB for an 8B model) instead of the adapter
upload_folder = merged_dir if UPLOAD_MERGED else adapter_dir
print(f"올릴 폴더 {upload_folder}: {upload_plan(upload_folder).describe()}")
repo_name = f"{profile.persona_model.split('/')[-1]}-ironman"
try:
    repo_id = hub_repo_id(repo_name) if UPLOAD else f"your-name/{repo_name}"
    card = model_card(
        repo_id=repo_id,
        base_model=profile.persona_model,
        data_description=f"{len(train_rows)} Korean instruction/answer pairs in Tony Stark's voice, written for the course (data/persona)",
        data_license="CC BY 4.0 (data/LICENSE.md)",
        summary="A Korean Tony Stark persona fine-tuned with LoRA (lesson 08 of an open fine-tuning course).",
        adapter_only=is_adapter_folder(upload_folder),
    )
    print(card)
    if UPLOAD:
        push_folder_to_hub(upload_folder, repo_id, card=card)
    else:
        print("UPLOAD = False: 토큰이 있어도 아무것도 올리지 않았습니다. 올리려면 UPLOAD = True로 바꾸고 이 셀을 다시 실행하세요.")
except HubUploadError as error:
    print("업로드하지 않음:", error)

# %% [markdown]
# ## 13. 여러 GPU로: accelerate + DeepSpeed ZeRO-3 / FSDP
# 원래 강의는 A100 두 장에서 `deepspeed --num_gpus 2 … --deepspeed ds_z3_config.json`으로 학습했습니다. 같은 일을 accelerate로 하는
# 레시피가 `recipes/persona_multigpu/`에 있습니다. 설정 파일(`zero3.yaml`: DeepSpeed ZeRO-3, `fsdp.yaml`: PyTorch FSDP2)만
# 바꾸면 같은 TRL 스크립트가 GPU마다 프로세스를 하나씩 띄워 가중치·기울기·옵티마이저 상태를 나눠 갖습니다. 유효 배치는
# `GPU 수 × 배치 × 누적`(원래 강의: 2 × 4 × 4 = 32)입니다. 이 노트북에서는 실행하지 않고 명령만 보여 줍니다.

# %%
print("accelerate launch --config_file recipes/persona_multigpu/zero3.yaml recipes/persona_multigpu/train_persona.py \\")
print("    --model beomi/Llama-3-Open-Ko-8B-Instruct-preview --epochs 3 --output-dir outputs/ironman-zero3")
print(f"이 노트북의 학습: {train_cost}")

# %% [markdown]
# ## 요약
# - 시스템 프롬프트는 `apply_chat_template`로 넣고, 모델마다 다른 형식(Llama 3, ChatML)을 직접 확인했습니다. 시스템 프롬프트는
#   예제마다 토큰을 먹으므로 `max_length`와 함께 검사했습니다.
# - 대화형 prompt/completion 데이터로 TRL이 답 토큰에만 손실을 주는 것을 라벨에서 확인했습니다.
# - 작은 데이터를 여러 epoch 돌리면 학습 손실은 계속 내려가도 검증 손실은 멈춥니다. 원래 강의의 10 epoch 표에 보이는 계단은 암기의 신호입니다.
# - 세 열 표로 프롬프트만 쓴 경우와 파인튜닝을 같은 질문에서 비교했고, 상식이 유지되는지도 쟀습니다. 약한 심사 모델의 점수는 근거로 삼지 않았습니다.
# - 어댑터를 샤드 하나씩 병합해 T4에서도 병합 모델을 만들었습니다. 병합 전후는 상대 오차와 top-1 일치로 비교했고, 4-bit로 학습한 모델과의
#   차이가 더 큰 이유(학습은 $Q(W)$ 위에서, 병합은 $W + \Delta W$를 다시 양자화)를 보았습니다. 병합 모델은 PEFT 없이 불러 `model.generate`로 생성했습니다(`model.module` 아님).
# - 병합 모델을 GGUF로 내보내 transformers의 GGUF 로더로 확인했고, llama.cpp와 Ollama로 돌리는 명령을 보았습니다.
# - LLaMA-Factory 내보내기와 accelerate 멀티 GPU 레시피를 같은 데이터에서 만들었습니다. Hub 업로드는 `UPLOAD = True`일 때만, 기본은 어댑터이고
#   올리기 전에 크기와 예상 시간을 보여 줍니다.
#
# ## 연습 문제
# 1. **기초**: `STYLE_MARKERS`에 표지어 두 개를 더하고(학습 답에 실제로 나오는 말로), 세 열의 마커 비율이 어떻게 바뀌는지 보세요. 마커 목록이 넓어질수록 기준선도 오르지 않나요?
# 2. **응용**: `SFTConfig`에 `load_best_model_at_end=True`, `metric_for_best_model="eval_loss"`, `save_strategy="steps"`, 그리고 `save_steps=preset.eval_steps`를 더해 검증 손실이 가장 낮은 시점의 어댑터로 표를 다시 만드세요. `save_steps`를 빼면 기본값 500이 남아 `max_steps`보다 커서 체크포인트가 하나도 저장되지 않고, 고를 "가장 좋은 시점"도 없습니다. 마지막 스텝의 모델과 무엇이 다른가요?
# 3. **도전**: 심사 점수를 사람의 판단과 비교하세요. 평가 질문 10개에 대해 세 열의 답을 이름을 가리고 섞어(`course_utils.evaluation.blind_ab_sheet`) 직접 1~5점을 매기고, 심사 모델 점수와의 순위 상관을 계산하세요. cpu와 GPU 프로필의 심사 모델은 각각 얼마나 믿을 만한가요?

# %% tags=["solution"]
# 풀이 1 (기초): 학습 답에 실제로 나오는 말 두 개를 묶음 하나로 더합니다. 기준선의 비율도 함께 오르는지 봅니다.
from course_utils.data_files import read_jsonl  # course_utils/data_files.py: JSONL rows, checked
from course_utils.persona import PERSONA_DIR  # course_utils/persona.py: the Iron Man persona data

train_answers = [row["output"] for row in read_jsonl(PERSONA_DIR / "ironman_train.jsonl")]
extra = tuple(word for word in ("자비스", "슈트", "수트", "천재") if any(word in a for a in train_answers))[:2]
wider = {**STYLE_MARKERS, "extra": extra}
print("더한 표지어:", extra)
for column, texts in answers.items():
    k_before = round(marker_rate(texts, questions) * len(texts))
    k_after = round(marker_rate(texts, questions, wider) * len(texts))
    print(f"{column}: {with_interval(k_before / len(texts), wilson_interval(k_before, len(texts)))} -> "
          f"{with_interval(k_after / len(texts), wilson_interval(k_after, len(texts)))}")

# %% tags=["solution"]
# 풀이 2 (응용): 먼저 함정. save_strategy="steps"만 더하면 save_steps는 기본값 500으로 남아 max_steps보다 크므로 체크포인트가 하나도 없습니다.
import dataclasses

best_settings = dict(load_best_model_at_end=True, metric_for_best_model="eval_loss", save_strategy="steps")
trap = dataclasses.replace(args, **best_settings)
print(f"save_steps 없이: save_steps={trap.save_steps}, max_steps={trap.max_steps} -> 저장되는 체크포인트 {trap.max_steps // trap.save_steps}개")
# save_steps=eval_steps: a checkpoint at every evaluation, so the best one exists; this VM's disk, two kept (best and last)
best_args = dataclasses.replace(args, **best_settings, save_steps=args.eval_steps, save_total_limit=2,
                                output_dir=str(local_output_dir() / run_dir.name / "best"))
if profile.offline:  # cpu: two evaluations 2 steps apart, the fewest that leave a choice, keep CI within its time; GPU: the whole preset
    best_args = dataclasses.replace(best_args, eval_steps=2, save_steps=2, max_steps=4)
best_trainer = SFTTrainer(model=load_causal_lm(profile.persona_model, profile), args=best_args, train_dataset=train_dataset,
                          eval_dataset=eval_dataset, processing_class=tokenizer, peft_config=lora_config)
if best_args.fp16:
    upcast_trainable_for_fp16(best_trainer.model)
best_trainer.train()
print(f"가장 좋은 체크포인트: {best_trainer.state.best_model_checkpoint} (eval_loss {best_trainer.state.best_metric:.3f}), "
      f"학습한 스텝 {best_trainer.state.global_step}")
best_answers = generate(best_trainer.model.eval(), tokenizer, persona_prompts(tokenizer, questions, train_system), max_new_tokens=NEW_TOKENS)
print(f"스타일 마커 비율: 본문의 마지막 스텝 모델 {results['파인튜닝']['marker']:.0%} | 가장 좋은 체크포인트 {marker_rate(best_answers, questions):.0%}")

# %% tags=["solution"]
# 풀이 3 (도전): 사람 점수와 심사 점수의 순위 상관(Spearman). 아래 human은 예시로 마커 수를 넣었습니다: 직접 매긴 1~5점으로 바꾸세요.
import pandas as pd

from course_utils.persona_scores import marker_hits  # course_utils/persona_scores.py: persona style scores

judged = [(column, text, score) for column, r in results.items() for text, score in zip(r["texts"], r["scores"])]
human = [1 + min(4, len(marker_hits(text))) for _, text, _ in judged]
frame = pd.DataFrame({"human": human, "judge": [score for _, _, score in judged]})
# Spearman 상관은 순위끼리의 Pearson 상관입니다(같은 점수는 평균 순위): scipy 없이 pandas의 rank()로 계산합니다.
print(f"{len(frame)}개 답, Spearman 순위 상관: {frame['human'].rank().corr(frame['judge'].rank()):.2f}")

