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
# # 05. Alpaca 데이터로 QLoRA SFT: `SFTTrainer`로 지시 따르기 학습
#
# [![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)](https://colab.research.google.com/github/llm-finetuning-course/course/blob/main/notebooks/05_alpaca_qlora_sft.ipynb)
#
# 지금까지 LoRA와 양자화를 따로 배웠습니다. 이 노트북은 둘을 합쳐 4-bit로 불러온 모델에 LoRA 어댑터를 붙이고,
# Alpaca 형식(instruction / input / output)의 데이터로 **지도 미세조정(SFT)** 을 합니다. TRL의 `SFTTrainer`와
# `SFTConfig`의 인자를 하나씩 설명하고, 학습 곡선·체크포인트·재개까지 직접 확인합니다.
#
# ## 학습 목표
# - `datasets`로 데이터를 불러와 `shuffle` / `filter` / `map(batched=True)` / `train_test_split`으로 가공하고,
#   잘못된 행과 너무 긴 행을 **말없이 버리지 않고** 보고한다.
# - 학습과 평가가 **같은 프롬프트 함수**(`course_utils.prompts.alpaca_prompt`)를 쓰게 하고, EOS가 답 끝에 정확히
#   한 번 붙는지 확인한다.
# - prompt/completion 데이터로 **답 부분에만 손실**을 거는 방법(completion-only loss)과 라벨 마스크를 읽는다.
# - `SFTConfig`의 배치·누적·워밍업·스케줄러·옵티마이저·체크포인트 인자를 현재 이름으로 설명하고 값을 고른다.
# - 학습 곡선(TensorBoard와 matplotlib)을 읽고, 체크포인트에서 학습을 **재개**한다.
#
# ## 소요 시간과 하드웨어
# | 프로필 | 모델 | 학습 | 시간 |
# |---|---|---|---|
# | cpu | SmolLM2-135M-Instruct (오프라인 사본), fp32, 양자화 없음, 과정 전체를 작게 | 8 스텝 × 8행 | 약 2~3분 |
# | t4 | Meta-Llama-3-8B, 4-bit nf4 + fp16 계산, 15 GB에 맞춤 | 기본: 수업 한 번에 끝나는 짧은 학습 | 다운로드 후 학습 <!-- t4:05-ko -->약 5~6분 (추정)<!-- /t4 --> |
# | t4, `FULL_RUN = True` | 같음 | 원래 강의 길이: 100 스텝 × 16행 | 다운로드 후 학습 <!-- t4:05-full-ko -->약 21~27분 (추정)<!-- /t4 --> |
# | a100 | 같은 8B 모델, 4-bit nf4 + bf16 계산 | 100 스텝 × 16행 | 다운로드 후 약 10분 |
#
# 프로필이 모델과 스텝 수를 고르므로, 어느 하드웨어에서든 코드를 고치지 않고 그대로 실행합니다. T4 시간은 T4에서 잰 값이 아니라
# 추정입니다: 학습과 평가의 FLOP을 실제 T4 실행 두 개(원래 강의, Unsloth 노트북)가 낸 속도로 나눈 범위입니다(`course_utils/t4_estimate.py`).

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
# 시간을 재기 시작하고 진행 막대를 끕니다. `FULL_RUN`이 이 강의의 스위치입니다. 기본(`False`)은 90분 수업 안에 끝나는 짧은
# 학습이고(t4: 60 스텝 × 8행, 학습과 평가를 합쳐 4.6 PFLOP 이하), `True`는 원래 강의와 같은 길이(t4: 100 스텝 × 16행)입니다.
# 어느 쪽이든 셀이 T4에서의 추정 시간을 출력하고, 연결이 끊기면 Drive의 체크포인트에서 이어 갑니다(7절).
# 스위치를 바꿔 다시 학습하려면 7절의 `OVERWRITE`도 `True`로 두세요: 끝난 학습은 덮어쓰지 않습니다.
#
# 라이브러리와 `course_utils`의 도우미는 **처음 쓰는 셀에서** 불러오고, 어느 파일(`course_utils/….py`)에서 오는지 그 줄의 주석에 적습니다.
# 강의의 주인공인 `datasets`, `peft`, `trl`, `transformers`의 API는 아래 셀들에 그대로 드러나 있고, `course_utils`에는
# 여러 노트북이 함께 쓰는 배관만 있습니다.

# %%
import time

from transformers.utils import logging as transformers_logging

from course_utils.profiles import PROFILES, sft_preset  # course_utils/profiles.py: presets per hardware
from course_utils.t4_estimate import alpaca_preset_run, t4_time  # course_utils/t4_estimate.py: T4 times

notebook_start = time.perf_counter()
if profile.offline:  # the local copy loads in a blink; progress bars would only bury the results
    transformers_logging.disable_progress_bar()
FULL_RUN = False  # True: the original lecture's length (t4: 100 steps x 16 rows)
sft = sft_preset(profile, full_run=FULL_RUN)  # every size and step count below comes from this TrainingPreset
print(sft)
on_t4 = t4_time(alpaca_preset_run(sft_preset(PROFILES["t4"], full_run=FULL_RUN), evaluations_before=1))
print(f"FULL_RUN = {FULL_RUN}: t4 프로필의 학습과 평가 {on_t4.flops / 1e15:.1f} PFLOP, T4에서 {on_t4.korean()}")

# %% [markdown]
# ## 1. 먼저: 미세조정이 필요한가?
#
# 미세조정은 마지막 수단에 가깝습니다. 순서대로 시도해 보세요.
# 1. **프롬프트**: 지시를 분명히 쓰고 예시 몇 개를 넣는다(few-shot). 비용 0, 몇 분이면 됩니다.
# 2. **검색 증강(RAG)**: 모델이 모르는 *사실*이 문제라면 문서를 찾아 프롬프트에 넣습니다. 미세조정은 새 지식을
#    넣는 데 약하고, 답의 **형식·말투·행동**을 바꾸는 데 강합니다.
# 3. **미세조정(SFT)**: 원하는 행동을 보여 주는 예시가 수백~수천 개 있고, 프롬프트로는 일관되게 안 될 때.
#
# **작고 빠른 반복**이 핵심입니다. 처음부터 8B 모델로 몇 시간 학습하지 말고, 작은 모델·적은 스텝(이 노트북의
# cpu 프로필처럼)으로 파이프라인 전체(데이터 → 학습 → 평가)가 도는지 먼저 확인한 뒤 크기를 키웁니다.
# 한 번에 하나만 바꾸고(학습률, 데이터, 랭크...), 바꿀 때마다 같은 평가(레슨 06)로 비교합니다.

# %% [markdown]
# ## 2. 데이터 불러오기
#
# GPU 프로필은 Hub의 `yahma/alpaca-cleaned`(약 5만 2천 행, 영어)를, 오프라인 cpu 프로필은 이 강의를 위해 쓴
# 같은 형식의 한국어·영어 데이터(`data/alpaca_ko_en.jsonl`)를 `datasets`의 json 로더로 읽습니다.
# 어느 쪽이든 결과는 `Dataset`이고, 그 아래는 **Apache Arrow** 표입니다: 열 단위로 메모리 매핑되어 RAM보다 큰
# 데이터도 다룰 수 있고, Hub의 데이터는 보통 같은 열 형식인 **Parquet** 파일로 저장되어 있습니다.

# %%
from datasets import load_dataset

# course_utils/alpaca_data.py: Alpaca rows
from course_utils.alpaca_data import ALPACA_OPTIONAL, ALPACA_REQUIRED, HUB_DATASET, OFFLINE_FILE
from course_utils.data_files import check_rows, read_rows  # course_utils/data_files.py: JSONL rows, checked

if profile.offline:
    read_rows(OFFLINE_FILE, ALPACA_REQUIRED, ALPACA_OPTIONAL)  # plain json first: see section 3
    raw = load_dataset("json", data_files=str(OFFLINE_FILE), split="train")
else:
    from course_utils.mirror import dataset_source  # course_utils/mirror.py: the local Hub mirror

    source, kwargs = dataset_source(HUB_DATASET)  # COURSE_MIRROR가 있으면 그 폴더의 파일을 json 로더로 읽습니다
    raw = load_dataset(source, split="train", **kwargs)
    check_rows(raw, ALPACA_REQUIRED, ALPACA_OPTIONAL, source=HUB_DATASET)
print(raw)
print(raw[1])
print(f"input이 빈 행: {sum(not x for x in raw['input'])} / {len(raw)}")

# %% [markdown]
# ## 3. 잘못된 행은 이름을 불러 멈춘다
#
# 실제 데이터에는 `output`이 빠진 행, 빈 답, 숫자로 된 답이 섞여 있습니다. 이런 행을 조용히 건너뛰면 몇 %가
# 사라졌는지 아무도 모릅니다. `read_rows`는 첫 번째 문제 행에서 **파일의 몇 번째 줄, 어떤 필드**가 문제인지 한 문장으로
# 말하고 멈춥니다(Hub 데이터처럼 파일이 아닌 행은 `check_rows`가 몇 번째 행인지 말합니다). 규칙은 아래 `row_problem` 하나이고,
# 8강의 페르소나 데이터도 같은 규칙으로 검사합니다. (숫자 `144`처럼 타입이 섞인 열은 Arrow가 행 번호 없이 실패하므로,
# json으로 먼저 검사합니다.)

# %%
import inspect

from course_utils.data_files import read_jsonl, row_problem  # course_utils/data_files.py: JSONL rows, checked
from course_utils.environment import DATA_DIR  # course_utils/environment.py: where the course runs

print(inspect.getsource(row_problem))
bad_file = DATA_DIR / "alpaca_bad_rows.jsonl"
for number, row in enumerate(read_jsonl(bad_file), start=1):
    print(f"행 {number}: {row_problem(row, ALPACA_REQUIRED, ALPACA_OPTIONAL) or '문제 없음'}")
try:
    read_rows(bad_file, ALPACA_REQUIRED, ALPACA_OPTIONAL)
except ValueError as error:
    print("\n오류:", error)

# %% [markdown]
# ## 4. 원래 강의의 파이프라인: shuffle → filter → map
#
# - `shuffle(seed=42)`: 순서를 섞되 시드를 고정해 매번 같은 결과를 얻습니다.
# - `filter(has_empty_input)`: 원래 강의처럼 `input`이 빈 행만 남겨 프롬프트를 짧은 형식 하나로 맞춥니다.
# - `map(..., batched=True)`: 함수가 한 행이 아니라 **행 묶음(열 이름 → 리스트)** 을 받습니다. 토크나이저처럼
#   묶음으로 빨라지는 함수에 유리하고, `remove_columns`로 원래 열을 지워 prompt/completion 두 열만 남깁니다.
#
# 결과는 캐시 파일(Arrow)로 저장되어, 같은 변환을 다시 실행하면 바로 읽어 옵니다.

# %%
# course_utils/alpaca_data.py: Alpaca rows
from course_utils.alpaca_data import alpaca_prompt_completion, has_empty_input
from course_utils.models import load_tokenizer  # course_utils/models.py: a profile's model and tokenizer

tokenizer = load_tokenizer(profile.sft_model, profile)
dataset = raw.shuffle(seed=42).filter(has_empty_input)
dataset = dataset.map(
    alpaca_prompt_completion, batched=True, fn_kwargs={"eos_token": tokenizer.eos_token}, remove_columns=dataset.column_names,
)
print(dataset)
print(f"EOS = {tokenizer.eos_token!r}, PAD = {tokenizer.pad_token!r} (어느 콜레이터가 EOS를 가리는지는 13절)")

# %% [markdown]
# ## 5. 프롬프트 함수는 하나뿐
#
# 원래 강의는 학습 때와 평가 때 서로 다른 문자열을 썼습니다. 모델은 학습한 형식에서만 잘 답하므로, 이 강의는
# `alpaca_prompt(instruction, input="")` 하나로 학습·평가·이후의 모든 프롬프트를 만듭니다.
# completion은 답 + EOS입니다. TRL은 completion이 EOS로 끝나지 **않을 때만** EOS를 붙이므로, 여기서 붙인
# EOS 하나가 그대로 학습됩니다(아래 6절에서 모든 행을 검사합니다).

# %%
example = dataset[0]
print(example["prompt"] + "⟨여기부터 completion⟩" + example["completion"])

# %% [markdown]
# ## 6. `max_length`보다 긴 행: 세고, 보고하고, 뺀다
#
# `SFTConfig(max_length=...)`를 넘는 행은 TRL이 **뒤를 잘라** 학습합니다. 그러면 답의 끝과 EOS가 잘려, 모델이
# "멈추는 법"을 배우지 못합니다. 그래서 몇 행이 긴지 세어 보고한 뒤 뺍니다. SmolLM2의 토크나이저는 한국어를
# 바이트 단위로 잘게 쪼개므로(레슨 02) 한국어 행이 특히 깁니다. `max_length`는 모델의 문맥 길이
# (`max_position_embeddings`)보다 훨씬 작게 잡습니다: 메모리와 시간은 길이에 비례(어텐션은 제곱)해 늘기 때문입니다.

# %%
from course_utils.alpaca_data import drop_too_long  # course_utils/alpaca_data.py: Alpaca rows

dataset, length_report = drop_too_long(dataset, tokenizer, sft.max_length)
print(length_report)
print(f"남은 행: {len(dataset)}")

# %% [markdown]
# 남은 행에서 평가용을 떼어 둡니다. 원래 강의는 5만 행에서 1%(`test_size=0.01`)를 뗐습니다. 데이터가 수백 행이면 1%는
# 두세 행뿐이라 평가 손실이 흔들리므로, `eval_fraction`은 최소 20행을 남기도록 비율을 올립니다.

# %%
from course_utils.alpaca_data import eval_fraction  # course_utils/alpaca_data.py: Alpaca rows

splits = dataset.train_test_split(test_size=eval_fraction(len(dataset)), seed=42)
train_dataset, eval_dataset = splits["train"], splits["test"]
print(f"학습 {len(train_dataset)}행, 평가 {len(eval_dataset)}행 (test_size={eval_fraction(len(dataset)):.3f})")
# a T4 evaluates every held-out row at each eval_steps: the preset caps the rows the Trainer evaluates on
trainer_eval = eval_dataset.select(range(min(len(eval_dataset), sft.eval_rows or len(eval_dataset))))
print(f"학습 중 평가에 쓰는 행: {len(trainer_eval)} (레슨 06은 평가용 {len(eval_dataset)}행 전부를 씁니다)")

# %% [markdown]
# ## 7. 출력 폴더: 끝난 학습은 덮어쓰지 않는다
#
# 학습 결과는 `outputs/05_alpaca_sft`에 저장되고, 레슨 06이 여기서 읽습니다. 이미 **끝난** 학습이 있는 폴더에
# 다시 학습하면 몇 시간의 결과가 사라지므로 `prepare_output_dir`는 `overwrite=True` 없이는 거부합니다.
# cpu 프로필의 학습은 1~2분짜리라 덮어써도 잃을 것이 없어 `OVERWRITE = profile.offline`로 두었습니다.
# GPU에서 다시 학습하려면 직접 `True`로 바꾸세요. 끝나지 않은 학습(연결이 끊긴 Colab)은 마지막 체크포인트에서 이어 갑니다.
# Colab에서는 첫 셀의 `setup(drive=True)`가 `COURSE_OUTPUT`을 Drive 폴더로 정해 두므로, 연결이 끊겨 `/content`가
# 지워져도 체크포인트가 남고, 새 런타임에서 이 셀을 다시 실행하면 거기서 이어 갑니다. 레슨 06도 같은 곳에서 읽습니다.
#
# **누구의 학습인가.** T4를 못 받은 Colab은 CPU 런타임을 열고, 그때도 Drive는 연결되므로 cpu 프로필의 SmolLM2 학습이 같은
# Drive 폴더에 남을 수 있습니다. 그래서 폴더마다 어느 프로필과 기본 모델의 학습인지(`run_owner.json`)를 학습 전에 적고,
# 다른 프로필이나 기본 모델의 학습이 있으면 그것을 이어 학습하거나 거부하지 않고 한 문장으로 알린 뒤 옆 폴더
# (`05_alpaca_sft-<프로필>-<모델>`)에 학습합니다. 레슨 06도 같은 규칙으로 자기 프로필의 학습만 읽습니다.

# %%
# course_utils/lesson_runs.py: runs shared by lessons 05 and 06
from course_utils.lesson_runs import alpaca_owner, alpaca_train_dir
from course_utils.run_owner import claim_run_dir  # course_utils/run_owner.py: whose a run folder is
from course_utils.training import last_checkpoint, prepare_output_dir  # course_utils/training.py: around a Trainer run

OVERWRITE = profile.offline
run_dir, note = alpaca_train_dir(profile)
if note:  # another profile's or base model's run: left as it is, this run goes beside it
    print(note)
run_dir = claim_run_dir(prepare_output_dir(run_dir, overwrite=OVERWRITE), alpaca_owner(profile))
resume_from = last_checkpoint(run_dir)
print(f"출력 폴더: {run_dir}")
print(f"이어서 학습할 체크포인트: {resume_from or '없음 (처음부터)'}")
eval_dataset.to_parquet(str(run_dir / "heldout.parquet"))  # lesson 06 evaluates on exactly these rows
print("평가용 행을 Parquet으로 저장:", run_dir / "heldout.parquet")

# %% [markdown]
# ## 8. 모델 불러오기: QLoRA
#
# QLoRA = 기반 모델은 **4-bit nf4**로 얼려 두고(레슨 03), 그 위의 작은 LoRA 행렬만 학습합니다(레슨 04).
# `bnb_4bit_compute_dtype`은 행렬 곱을 할 때의 형식으로, T4는 fp16, A100 이상은 bf16입니다(bf16은 compute
# capability 8.0부터). cpu 프로필은 양자화 없이 fp32로 불러오지만 코드는 같습니다: 값은 모두 프로필에서 옵니다.
#
# `attn_implementation`: padding-free 배치(11절)는 여러 행을 한 줄로 잇기 때문에, 보통의 SDPA는 그 줄 전체에 블록 대각
# 마스크를 씌우고 **문서 사이의 점수까지 계산한 뒤 버립니다**. a100 프로필은 `course_utils.document_attention`으로 문서마다
# 따로 계산합니다(compute capability 8.0부터 torch에 든 FlashAttention varlen 커널). H200 벤치마크(2026-11-30,
# benchmarks/README.md)에서 이것만 바꿔 스텝이 17 % 빨라졌고 손실은 같습니다(CPU 테스트: 4.8e-7 차이). t4와 cpu는 평범한 `"sdpa"`입니다.

# %%
from transformers import AutoModelForCausalLM, BitsAndBytesConfig

from course_utils.document_attention import register_document_attention  # course_utils/document_attention.py: per document
from course_utils.offline_model import resolve_model  # course_utils/offline_model.py: Hub id or offline stand-in

attn_implementation = register_document_attention() if sft.attention == "document" else "sdpa"
bnb_config = BitsAndBytesConfig(
    load_in_4bit=True,
    bnb_4bit_quant_type="nf4",
    bnb_4bit_use_double_quant=True,
    bnb_4bit_compute_dtype=profile.compute_dtype,
) if profile.load_in_4bit else None
model = AutoModelForCausalLM.from_pretrained(
    resolve_model(profile.sft_model, profile),
    quantization_config=bnb_config,
    dtype=profile.compute_dtype,
    attn_implementation=attn_implementation,
    device_map={"": 0} if profile.device == "cuda" else None,
)
print(f"{type(model).__name__}, {model.num_parameters() / 1e6:.0f}M 파라미터, 4-bit: {bnb_config is not None}, "
      f"dtype {profile.dtype_name}, attention {model.config._attn_implementation}")
print(f"모델의 문맥 길이 {model.config.max_position_embeddings} 토큰, 학습의 max_length {sft.max_length} 토큰")

# %% [markdown]
# ## 9. LoRA 설정
#
# `r`은 어댑터 행렬의 랭크, `lora_alpha / r`이 어댑터 출력에 곱하는 배율입니다. `target_modules="all-linear"`는
# 어텐션(q, k, v, o)과 MLP(gate, up, down)의 모든 선형층에 어댑터를 붙입니다(출력층 제외). 모델은 `SFTTrainer`가
# `peft_config`를 받아 직접 감싸므로 `get_peft_model`을 부를 필요가 없습니다.

# %%
from peft import LoraConfig

peft_config = LoraConfig(
    r=sft.lora_r,
    lora_alpha=sft.lora_alpha,
    lora_dropout=0.05,
    target_modules="all-linear",
    task_type="CAUSAL_LM",
)
print(peft_config.r, peft_config.lora_alpha, peft_config.target_modules)

# %% [markdown]
# ## 10. 학습률 스케줄러: 세 가지를 그려 보기
#
# 학습률은 처음 `warmup_steps` 동안 0에서 `learning_rate`까지 올라간 뒤(워밍업: 초기의 큰 기울기로 어댑터가
# 튀지 않게), 스케줄러에 따라 움직입니다. `constant_with_warmup`은 그대로, `linear`는 직선으로 0을 향해,
# `cosine`은 코사인 곡선으로 0을 향해 내려갑니다. 그림의 스텝 k에 찍힌 값은 **k번째 업데이트에 쓰인 학습률**이고, Trainer가
# 스텝 k에 기록하는 `learning_rate`(TensorBoard의 곡선)와 같은 값입니다(`tests/test_training.py`가 확인). 그래서 첫 스텝은
# 학습률 0으로 아무것도 바꾸지 않고, 최고 학습률은 워밍업 다음 스텝(`warmup_steps + 1`)에 처음 쓰이며, 마지막 스텝도 0이 아닙니다.
# LoRA의 학습률은 보통 1e-5 ~ 5e-4 사이에서 고릅니다(전체 미세조정보다 10배쯤 큼). 아래 곡선은 Trainer가 쓰는 것과 같은 함수로 계산합니다.

# %%
import math

import matplotlib.pyplot as plt

from course_utils.training import lr_schedule  # course_utils/training.py: around a Trainer run

warmup = math.ceil(0.1 * sft.max_steps)
fig, ax = plt.subplots(figsize=(6, 3))
for kind in ("constant_with_warmup", "linear", "cosine"):
    ax.plot(range(1, sft.max_steps + 1), lr_schedule(kind, sft.learning_rate, sft.max_steps, warmup), "-o", markersize=3, label=kind)
ax.set_xlabel("optimizer step")
ax.set_ylabel("learning rate")
ax.set_title(f"warmup {warmup} of {sft.max_steps} steps, peak {sft.learning_rate:g}")
ax.legend()
plt.show()
cosine = lr_schedule("cosine", sft.learning_rate, sft.max_steps, warmup)
print(f"cosine: 스텝 1의 학습률 {cosine[0]:g}, 최고 {max(cosine):g}를 처음 쓰는 스텝 {cosine.index(max(cosine)) + 1}, "
      f"마지막 스텝 {sft.max_steps}의 학습률 {cosine[-1]:.3g}")

# %% [markdown]
# ## 11. `SFTConfig`: 인자 하나하나
#
# | 인자 | 뜻 |
# |---|---|
# | `per_device_train_batch_size` | 한 번의 forward에 넣는 행 수. 메모리가 허락하는 만큼 |
# | `gradient_accumulation_steps` | 기울기를 몇 번 모은 뒤 한 번 업데이트할지. **유효 배치 = 배치 × 누적** (× GPU 수) |
# | `max_steps` / `num_train_epochs` | `max_steps > 0`이면 epoch 수는 무시됩니다. 한 스텝 = 한 번의 옵티마이저 업데이트 |
# | `learning_rate`, `lr_scheduler_type` | 최고 학습률과 그 뒤의 모양(10절) |
# | `warmup_steps` | 정수면 스텝 수, 1보다 작은 실수면 비율. 예전의 `warmup_ratio`는 transformers 5에서 여기로 합쳐졌습니다 |
# | `weight_decay` | AdamW의 가중치 감쇠(정규화). LoRA에서는 0~0.01이 흔합니다 |
# | `optim` | GPU는 `adamw_8bit`(bitsandbytes, 옵티마이저 상태를 8-bit로 저장), cpu는 `adamw_torch` |
# | `activation_checkpointing` | 예전 이름 `gradient_checkpointing`(지금은 경고와 함께 별칭). 활성값을 버렸다가 역전파 때 다시 계산해 메모리를 아끼고 약 20% 느려집니다. `use_reentrant=False`가 권장 구현입니다 |
# | `bf16` / `fp16` | 혼합 정밀도. TRL은 지정하지 않으면 `bf16=True`로 두므로, 프로필의 dtype에서 명시합니다 |
# | `max_length` | 토큰 기준 최대 길이. 넘는 행은 잘리므로 6절에서 미리 뺐습니다 |
# | `eos_token` | 기본값 `None`이면 토크나이저의 EOS. TRL은 completion이 이것으로 끝나지 않을 때만 붙입니다 |
# | `completion_only_loss` | prompt/completion 데이터에서 답 토큰에만 손실(기본값도 이것). 예전의 `DataCollatorForCompletionOnlyLM`을 대신합니다 |
# | `packing` / `padding_free` | `packing`은 여러 행을 `max_length` 길이의 줄로 이어 붙이고, `padding_free`는 배치의 행들을 패딩 없이 한 줄로 이어 `position_ids`로 경계를 표시합니다(손실은 같고 패딩 계산만 빠짐). cpu, t4, a100 프로필 모두 켭니다(t4 프리셋을 H200에서 잰 2026-11-26 벤치마크에서 같은 100 스텝이 324 s → 302 s, benchmarks/README.md). 이때 TRL은 `max_length`로 자르지 않으므로 `max_length=None`을 요구하고, 길이는 6절에서 미리 검사했습니다 |
# | `dataset_text_field` | `text` 열 하나로 된 데이터일 때의 열 이름. prompt/completion 데이터에서는 쓰이지 않습니다 |
# | `eval_strategy`, `eval_steps` | 몇 스텝마다 평가 손실을 잴지 |
# | `save_strategy`, `save_steps` | 몇 스텝마다 체크포인트를 남길지 (12절) |
# | `logging_steps`, `report_to` | 손실을 몇 스텝마다 기록할지, 어디로(TensorBoard) |
# | `seed` | LoRA 초기화, 드롭아웃, 데이터 순서를 고정해 같은 결과를 재현 |

# %%
import torch
from trl import SFTConfig

args = SFTConfig(
    output_dir=str(run_dir),
    per_device_train_batch_size=sft.per_device_train_batch_size,
    gradient_accumulation_steps=sft.gradient_accumulation_steps,
    per_device_eval_batch_size=sft.per_device_train_batch_size,
    max_steps=sft.max_steps,
    learning_rate=sft.learning_rate,
    lr_scheduler_type="cosine",
    warmup_steps=0.1,
    weight_decay=0.01,
    optim=sft.optim,
    activation_checkpointing=sft.gradient_checkpointing,
    activation_checkpointing_kwargs={"use_reentrant": False},
    bf16=profile.compute_dtype == torch.bfloat16,
    fp16=profile.compute_dtype == torch.float16,
    max_length=None if sft.padding_free else sft.max_length,  # padding-free: rows were length-checked in section 6
    completion_only_loss=True,
    packing=False,
    padding_free=sft.padding_free,
    eval_strategy="steps",
    eval_steps=sft.eval_steps,
    save_strategy="steps",
    save_steps=sft.save_steps,
    logging_steps=max(1, sft.max_steps // 20),
    report_to="tensorboard",
    seed=42,
    include_num_input_tokens_seen="non_padding",  # for tokens/s
    dataloader_pin_memory=profile.device == "cuda",
)
print(f"유효 배치 = {args.per_device_train_batch_size} × {args.gradient_accumulation_steps} = {sft.effective_batch_size}행/스텝")
print(f"{args.max_steps} 스텝 × {sft.effective_batch_size}행 = {args.max_steps * sft.effective_batch_size}행 ≈ {args.max_steps * sft.effective_batch_size / len(train_dataset):.1f} epoch")

# %% [markdown]
# ## 12. `SFTTrainer` 만들기
#
# `SFTTrainer`는 데이터를 토큰화하고(prompt와 prompt+completion을 따로 토큰화해 경계를 찾음), 라벨을 만들고,
# `peft_config`로 모델에 LoRA를 붙입니다. `processing_class`는 토크나이저입니다(예전 이름 `tokenizer`).
# T4(fp16)에서 주의할 점: TRL은 4-bit 모델의 LoRA 가중치를 bf16으로 바꾸는데, fp16 혼합 정밀도의 GradScaler는
# bf16 기울기를 다루지 못해 첫 스텝에서 멈춥니다. 그래서 fp16일 때는 학습할 가중치를 fp32로 올립니다.

# %%
from trl import SFTTrainer

from course_utils.training import upcast_trainable_for_fp16  # course_utils/training.py: around a Trainer run

trainer = SFTTrainer(
    model=model,
    args=args,
    train_dataset=train_dataset,
    eval_dataset=trainer_eval,
    processing_class=tokenizer,
    peft_config=peft_config,
)
if args.fp16:  # T4: TRL put the 4-bit model's LoRA weights in bf16, which fp16's GradScaler cannot unscale
    print(f"LoRA 가중치 {upcast_trainable_for_fp16(trainer.model)}개를 fp32로 올림 (fp16 혼합 정밀도용)")
trainer.model.print_trainable_parameters()

# %% [markdown]
# ## 13. 라벨 마스크: 어떤 토큰이 손실에 들어가나
#
# 토큰화된 한 행을 봅니다. 라벨이 `-100`인 토큰(프롬프트)은 손실에서 빠지고, 나머지(답 + EOS)만 학습됩니다.
# 영어 예를 골라 토큰 경계를 읽기 쉽게 했습니다. 마지막 줄은 **모든** 학습 행이 EOS 하나로 끝나는지 검사합니다.

# %%
from course_utils.training import rows_without_single_final_eos  # course_utils/training.py: around a Trainer run

tokenized = trainer.train_dataset
index = next(i for i, p in enumerate(train_dataset["prompt"]) if p.isascii())
ids, labels = tokenized[index]["input_ids"], tokenized[index]["labels"]
masked = [tokenizer.decode([t]) for t, lab in zip(ids, labels) if lab == -100]
trained = [tokenizer.decode([t]) for t, lab in zip(ids, labels) if lab != -100]
print(f"손실에서 빠지는 토큰 {len(masked)}개 (프롬프트): ...{''.join(masked[-12:])!r}")
print(f"손실에 들어가는 토큰 {len(trained)}개 (답 + EOS): {trained}")
bad_eos = rows_without_single_final_eos(tokenized, tokenizer.eos_token_id)
print(f"EOS로 정확히 한 번 끝나지 않는 학습 행: {len(bad_eos)} / {len(tokenized)}")
assert not bad_eos

# %% [markdown]
# **pad = EOS는 언제 EOS를 가리나?** 콜레이터마다 다릅니다.
# - `DataCollatorForLanguageModeling`(02강)은 **pad id와 같은 모든 위치**의 라벨을 `-100`으로 지웁니다. pad = EOS이면 진짜 EOS도 지워집니다.
# - TRL 1.16의 `SFTTrainer`는 prompt/completion 데이터에서 토큰화할 때 만든 `completion_mask`로 라벨을 정합니다
#   (`trl/trainer/sft_trainer.py`의 콜레이터). 패딩은 `attention_mask`로만 빠지므로 pad = EOS여도 답 끝의 EOS는 학습됩니다.
#   이 강의가 그래도 pad를 EOS와 다른 토큰으로 두는 이유는 다른 콜레이터나 도구로 옮겨 가도 같은 결과가 나오게 하려는 것입니다.
#
# **원래 강의의 함정: `response_template`.** 원래 강의는 `DataCollatorForCompletionOnlyLM(response_template="### Response:\n")`으로
# 답만 학습하려 했지만, 정작 학습 텍스트는 `"### Response: \n"`(콜론 뒤 공백)으로 만들었습니다. 토큰열이 한 번도 일치하지 않으니
# 콜레이터는 행마다 `Could not find response key` 경고를 내고 그 행의 라벨을 통째로 `-100`으로 지워, 모델은 답을 하나도 학습하지 못합니다. 문자열에서 경계를 다시
# 찾는 방식은 공백 하나에 무너집니다. 그래서 이 강의는 처음부터 prompt와 completion을 **두 열로 나눈 데이터**를 씁니다: 경계를
# 찾을 필요가 없고, 위 출력처럼 어느 토큰이 학습되는지 확인할 수 있습니다.

# %% [markdown]
# ## 14. 학습 전 평가 손실
#
# LoRA의 B 행렬은 0으로 시작하므로, 지금의 평가 손실은 기반 모델 그대로의 값입니다. 학습 뒤와 비교할 기준입니다.

# %%
from course_utils.measure import measure  # course_utils/measure.py: time and peak memory

with measure("평가 (학습 전)"):
    base_eval_loss = trainer.evaluate()["eval_loss"]
print(f"학습 전 eval_loss {base_eval_loss:.4f} (perplexity {math.exp(base_eval_loss):.2f})")

# %% [markdown]
# ## 15. 학습, 그리고 "연결 끊김"
#
# Colab은 몇 시간 뒤 연결이 끊기곤 합니다. 여기서는 그 상황을 흉내 내어 첫 체크포인트(`save_steps`)에서 학습을
# 멈춥니다. 멈추기 직전에 체크포인트가 저장됩니다. 학습 시간, 초당 토큰 수, 최대 메모리를 함께 출력합니다.

# %% [markdown]
# 학습을 시작하기 **전에** TensorBoard를 띄워 두면(GPU 프로필, Colab) 학습하는 동안 곡선이 실시간으로 그려집니다. 19절에서 다시 읽습니다.

# %%
if not profile.offline:
    try:
        get_ipython().run_line_magic("load_ext", "tensorboard")
        get_ipython().run_line_magic("tensorboard", f"--logdir {run_dir / 'runs'}")
    except Exception as error:  # no IPython or no tensorboard extension: section 19's plot still shows the curve
        print(f"TensorBoard를 띄우지 못했습니다 ({error}): 터미널에서 tensorboard --logdir {run_dir / 'runs'}")

# %%
from course_utils.training import StopAfterSteps  # course_utils/training.py: around a Trainer run

disconnect = StopAfterSteps(sft.save_steps)
trainer.add_callback(disconnect)
with measure("학습 1부") as cost_1:
    trainer.train(resume_from_checkpoint=str(resume_from) if resume_from else None)
print(f"멈춘 스텝: {trainer.state.global_step} / {sft.max_steps}")

# %% [markdown]
# ## 16. 체크포인트 폴더 안에는 무엇이 있나
#
# 어댑터 가중치만 저장되므로(기반 모델 제외) 체크포인트가 작습니다. 옵티마이저와 스케줄러 상태, 난수 상태까지 있어야
# 중단한 곳에서 **똑같이** 이어 갈 수 있습니다.

# %%
from IPython.display import Markdown, display

from course_utils.tables import markdown_table  # course_utils/tables.py: Markdown tables
from course_utils.training import describe_checkpoint  # course_utils/training.py: around a Trainer run

checkpoint = last_checkpoint(run_dir)
rows = [[name, f"{size:.2f}", why] for name, size, why in describe_checkpoint(checkpoint)]
display(Markdown(f"**{checkpoint.name}**\n\n" + markdown_table(["파일", "MB", "용도"], rows)))

# %% [markdown]
# ## 17. 재개: `resume_from_checkpoint`
#
# 같은 설정으로 `trainer.train(resume_from_checkpoint=...)`을 부르면 어댑터·옵티마이저·스케줄러·난수 상태를 읽고
# 남은 스텝만 학습합니다. 끊기지 않은 학습과 같은 스텝에서 (부동소수점 오차 안에서) 같은 어댑터로 끝난다는 것을
# `tests/test_training.py`가 검사합니다. 없는 폴더를 주면 Trainer가 읽기 전에 한 문장으로 알려 줍니다.

# %%
from course_utils.training import checked_checkpoint  # course_utils/training.py: around a Trainer run

trainer.remove_callback(disconnect)
try:
    checked_checkpoint(run_dir / "checkpoint-999")
except FileNotFoundError as error:
    print("오류:", error)
with measure("학습 2부 (재개)") as cost_2:
    trainer.train(resume_from_checkpoint=str(checked_checkpoint(checkpoint)))
print(f"끝난 스텝: {trainer.state.global_step} / {sft.max_steps}")

# %% [markdown]
# ## 18. 비용: 시간, 초당 토큰, 메모리
#
# 토큰 수는 패딩을 뺀 입력 토큰입니다(`include_num_input_tokens_seen="non_padding"`). 시간에는 중간 평가도 들어 있습니다.

# %%
from course_utils.training import run_summary, total_cost  # course_utils/training.py: around a Trainer run

train_cost = total_cost(cost_1, cost_2)
train_tokens = trainer.state.num_input_tokens_seen
print(run_summary(train_tokens, trainer.state.global_step, train_cost))

# %% [markdown]
# ## 19. 학습 곡선 읽기
#
# `report_to="tensorboard"`로 기록한 곡선을 TensorBoard로 볼 수 있습니다(Colab과 로컬 GPU에서 아래 셀이 띄웁니다.
# 직접 하려면 `%load_ext tensorboard`, `%tensorboard --logdir outputs/05_alpaca_sft/runs`). 오프라인에서는 같은
# 곡선을 `trainer.state.log_history`에서 matplotlib로 그립니다.
#
# - 학습 손실과 평가 손실이 **함께** 내려가면 잘 배우는 중입니다.
# - 학습 손실은 계속 내려가는데 평가 손실이 **올라가기 시작하면 과적합**입니다: 그 전 체크포인트가 가장 좋습니다.
# - 그 지점에서 자동으로 멈추려면 `EarlyStoppingCallback(early_stopping_patience=2)`를 trainer에 넣고
#   `load_best_model_at_end=True`, `metric_for_best_model="eval_loss"`, 그리고 `save_steps`를 `eval_steps`의
#   배수로 설정합니다(cpu 프로필은 8 스텝뿐이라 켜지 않았습니다).

# %%
if not profile.offline:
    try:
        get_ipython().run_line_magic("load_ext", "tensorboard")
        get_ipython().run_line_magic("tensorboard", f"--logdir {run_dir / 'runs'}")
    except Exception as error:  # no IPython or no tensorboard extension: the matplotlib plot below still shows
        print(f"TensorBoard를 띄우지 못했습니다 ({error}): 터미널에서 tensorboard --logdir {run_dir / 'runs'}")
else:
    print(f"오프라인 cpu 프로필: TensorBoard 대신 아래 그림을 봅니다 (로그 파일: {run_dir / 'runs'})")

# %%
from course_utils.plots import plot_losses  # course_utils/plots.py: loss curves

plot_losses(trainer.state.log_history, title=f"{profile.name}: train vs eval loss")
plt.show()
final_eval_loss = [e["eval_loss"] for e in trainer.state.log_history if "eval_loss" in e][-1]
print(f"eval_loss: 학습 전 {base_eval_loss:.4f} → 학습 후 {final_eval_loss:.4f} "
      f"(perplexity {math.exp(base_eval_loss):.2f} → {math.exp(final_eval_loss):.2f})")
if profile.name == "cpu":  # make test: even 10 short steps must lower the held-out loss (measured: about 0.17)
    assert final_eval_loss < base_eval_loss - 0.05, (base_eval_loss, final_eval_loss)

# %% [markdown]
# ## 20. 최종 어댑터 저장과 "끝남" 표시
#
# `save_model`은 기반 모델 없이 어댑터만 저장합니다. 크기는 파일을 재서 출력합니다: Llama-3-8B의 7개 투영에 r=16이면
# 어댑터가 4,194만 파라미터라 fp32(T4)로 약 168 MB, bf16으로 약 84 MB입니다. 마지막에 `run_complete.json`을 써서, 이 폴더가
# 중간에 끊긴 학습이 아니라 끝난 학습임을, 그리고 어느 프로필과 기본 모델의 학습인지 표시합니다. 레슨 06은 자기 프로필의 이 표시가 있는 폴더만 읽습니다.

# %%
from course_utils.training import mark_finished  # course_utils/training.py: around a Trainer run

trainer.save_model(str(run_dir))
tokenizer.save_pretrained(str(run_dir))
marker = mark_finished(run_dir, {
    "profile": profile.name, "base_model": profile.sft_model, "max_length": sft.max_length, "steps": trainer.state.global_step,
    "eval_loss_before": base_eval_loss, "eval_loss_after": final_eval_loss, "train_tokens": train_tokens,
    "train_seconds": round(train_cost.seconds, 1), "peak_rss_gib": round(train_cost.peak_rss_gib, 2),
})
print("저장:", sorted(p.name for p in run_dir.iterdir()))
adapter_file = run_dir / "adapter_model.safetensors"
print(f"{adapter_file.name}: {adapter_file.stat().st_size / 1e6:.1f} MB "
      f"(LoRA 파라미터 {sum(p.numel() for p in trainer.model.parameters() if p.requires_grad) / 1e6:.2f} M개)")

# %% [markdown]
# 이제 같은 폴더에 실수로 다시 학습하려 하면 거부됩니다.

# %%
try:
    prepare_output_dir(run_dir, overwrite=False)
except FileExistsError as error:
    print("오류:", error)

# %% [markdown]
# ## 21. (Colab) Google Drive에 복사
#
# Colab 런타임이 끝나면 `/content`는 지워집니다. 첫 셀의 `setup(drive=True)`가 Drive를 연결했다면 결과는 이미
# Drive(`COURSE_OUTPUT`)에 있습니다. Drive 연결을 거절했다면 여기서라도 복사하세요(`COPY_TO_DRIVE = True`).

# %%
import shutil

from course_utils.environment import in_colab, output_dir  # course_utils/environment.py: where the course runs

COPY_TO_DRIVE = False
if str(output_dir()).startswith("/content/drive/"):
    print("결과는 이미 Drive에 있습니다:", run_dir)
elif in_colab() and COPY_TO_DRIVE:
    from course_utils.runtime_setup import mount_drive  # course_utils/runtime_setup.py: the first cell's setup()

    drive_dir = mount_drive()  # the folder setup(drive=True) uses, so lesson 06 finds the copy
    if drive_dir is not None:
        target = drive_dir / run_dir.name
        shutil.copytree(run_dir, target, dirs_exist_ok=True)
        print("복사:", target)
else:
    print("Drive 복사 건너뜀 (Colab에서 COPY_TO_DRIVE = True일 때만 합니다)")

# %% [markdown]
# ## 22. 맛보기: 학습한 모델의 답
#
# 평가는 레슨 06에서 제대로 합니다. 여기서는 학습과 **같은** `alpaca_prompt`로 두 질문에 답하게 해 봅니다.
# 모델이 EOS를 배웠다면 답을 마치고 멈춥니다. TRL은 학습 문장을 토크나이저 기본값으로 토큰화하므로 Llama 3에서는 앞에
# BOS(`<|begin_of_text|>`)가 붙습니다. `generate`는 특수 토큰 없이 토큰화하므로 `with_bos`로 같은 입력을 만듭니다
# (SmolLM2는 BOS를 붙이지 않아 그대로입니다).

# %%
from course_utils.generation import generate  # course_utils/generation.py: batched greedy generation
from course_utils.prompts import alpaca_prompt, with_bos  # course_utils/prompts.py: the one Alpaca prompt

trainer.model.eval()
questions = ["한국의 수도는 어디인가요?", "Give three tips for staying focused while studying."]
answers = generate(trainer.model, tokenizer, with_bos(tokenizer, [alpaca_prompt(q) for q in questions]), max_new_tokens=48, do_sample=False)
for question, answer in zip(questions, answers):
    print(f"Q: {question}\nA: {answer}\n")
# an answer that used fewer tokens than max_new_tokens stopped at EOS (or the end-of-turn token): it learned to stop
answer_tokens = [len(tokenizer(a, add_special_tokens=False)["input_ids"]) for a in answers]
print(f"EOS에서 멈춘 답: {sum(n < 48 - 2 for n in answer_tokens)} / {len(answers)} (답의 토큰 수 {answer_tokens}, 상한 48)")
print(f"노트북 전체 {time.perf_counter() - notebook_start:.0f} s")

# %% [markdown]
# ## 요약
# - 데이터는 `datasets`로 읽고 `shuffle` / `filter` / `map(batched=True)` / `train_test_split`으로 가공했습니다.
#   잘못된 행은 행 번호와 필드를 말하며 멈추고, 긴 행은 개수를 보고한 뒤 뺐습니다.
# - 프롬프트는 `alpaca_prompt` 하나, completion은 답 + EOS 하나. prompt/completion 데이터로 답에만 손실을 걸었고,
#   라벨 마스크와 EOS를 모든 행에서 확인했습니다.
# - `SFTConfig`의 인자는 프로필에서 왔고, 유효 배치·워밍업·스케줄러·옵티마이저·체크포인트의 뜻을 보았습니다.
# - 학습 전후의 평가 손실, 시간, 초당 토큰, 최대 메모리가 위에 계산되어 있습니다.
# - 체크포인트에서 재개했고, 끝난 학습은 `overwrite=True` 없이는 덮어쓰지 않습니다.
#
# ## 연습 문제
# - **기초**: `lr_scheduler_type`을 `"constant_with_warmup"`으로 바꿔 다시 학습하고, 10절의 그림과 최종 eval_loss를
#   비교하세요. (cpu에서 1~2분)
# - **응용**: `has_empty_input` 필터를 빼고 input이 있는 행도 학습해 보세요. `alpaca_prompt`가 input이 있을 때
#   만드는 프롬프트를 출력해 보고, 6절의 길이 보고가 어떻게 바뀌는지 보세요.
# - **도전**: `EarlyStoppingCallback`을 넣고 `max_steps`를 늘려 과적합이 시작되는 스텝을 찾으세요. 학습 손실과
#   평가 손실이 갈라지는 지점을 그림으로 보이고, 가장 좋은 체크포인트가 어느 것인지 `trainer.state.best_model_checkpoint`로
#   확인하세요.

# %% tags=["solution"]
# 풀이 (기초): 두 스케줄의 학습률을 같은 스텝 수로 그립니다. 다시 학습할 때는 11절의 `lr_scheduler_type`만 바꾸고,
# 아래에 출력한 이번 학습의 최종 eval_loss와 비교하세요(cpu에서 1~2분).
fig, ax = plt.subplots(figsize=(6, 3))
for kind in ("cosine", "constant_with_warmup"):
    rates = lr_schedule(kind, args.learning_rate, args.max_steps, args.get_warmup_steps(args.max_steps))  # section 10
    ax.plot(range(1, args.max_steps + 1), rates, label=kind)
ax.set_xlabel("step")
ax.set_ylabel("learning rate")
ax.legend()
plt.show()
print("이번 학습(cosine)의 eval_loss 기록:", [round(e["eval_loss"], 3) for e in trainer.state.log_history if "eval_loss" in e])

# %% tags=["solution"]
# 풀이 (응용): input이 있는 행까지 쓰면 프롬프트에 '### Input:' 절이 생기고 행이 길어져, 6절의 보고에서 빠지는 행이 늘 수 있습니다.
with_inputs = raw.shuffle(seed=42).map(
    alpaca_prompt_completion, batched=True, fn_kwargs={"eos_token": tokenizer.eos_token}, remove_columns=raw.column_names,
)
print(next(p for p in with_inputs["prompt"] if "### Input:" in p))
_, report_with_inputs = drop_too_long(with_inputs, tokenizer, sft.max_length)
print("input 행 포함:", report_with_inputs)
print("input 없는 행만:", length_report)

# %% tags=["solution"]
# 풀이 (도전): 이번 학습의 기록에서 평가 손실이 가장 낮았던 스텝과, 학습 손실이 평가 손실보다 내려가기 시작한 스텝을 찾습니다.
# 실제로 조기 종료하려면 SFTConfig에 load_best_model_at_end=True, metric_for_best_model="eval_loss"를 두고
# SFTTrainer(..., callbacks=[EarlyStoppingCallback(early_stopping_patience=2)])로 max_steps를 늘려 다시 학습합니다.
history = trainer.state.log_history
evals = [(e["step"], e["eval_loss"]) for e in history if "eval_loss" in e]
train_points = [(e["step"], e["loss"]) for e in history if "loss" in e]
best_step, best_loss = min(evals or [(0, float("nan"))], key=lambda point: point[1])
print(f"평가 손실 최저: 스텝 {best_step}, {best_loss:.3f} (평가 {len(evals)}번)")
apart = next((step for step, loss in train_points if any(s <= step and loss < ev for s, ev in evals)), None)
print("학습 손실이 평가 손실 아래로 내려간 첫 스텝:", apart)
print("best_model_checkpoint:", trainer.state.best_model_checkpoint, "(load_best_model_at_end 없이 학습했으므로 None)")

