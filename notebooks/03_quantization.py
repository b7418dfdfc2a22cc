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
# # 03. 양자화: 같은 모델을 더 적은 비트로
#
# [![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)](https://colab.research.google.com/github/llm-finetuning-course/course/blob/main/notebooks/03_quantization.ipynb)
#
# 8B 모델은 fp32로 약 30 GiB, bf16으로도 약 15 GiB입니다. Colab T4(15 GiB)에 올리려면 가중치를 더 적은 비트로
# 저장해야 합니다. 이 노트북은 숫자 형식이 비트를 어떻게 쓰는지 보고, bitsandbytes의 8-bit·4-bit 양자화로
# 실제 모델을 불러 메모리와 품질(퍼플렉서티, 답변)을 직접 잽니다.
#
# ## 학습 목표
# - fp32, fp16, bf16, fp8(E4M3, E5M2)의 부호·지수·가수 비트와, 그 비트가 범위와 정밀도를 어떻게 정하는지 설명한다.
# - 동적 양자화, 정적 양자화, 양자화 인식 학습(QAT)의 차이를 한 문장씩 말한다.
# - `BitsAndBytesConfig`로 8-bit, 4-bit fp4/nf4, 이중 양자화(double quant)를 켜고, compute dtype을 GPU에 맞게 고른다.
# - nf4가 무엇인지 한 가중치 행렬을 손으로 양자화해 bitsandbytes 결과와 비교한다.
# - 파라미터 수에서 필요한 메모리를 계산하고, 8B 모델이 T4·A100에 들어가는지 판단한다.
#
# ## 소요 시간과 하드웨어
# | 프로필 | 모델 | 시간 |
# |---|---|---|
# | cpu | SmolLM2-135M-Instruct (오프라인 사본), 모든 형식을 CPU에서 실제로 측정 | 약 1분 (`make test`에서 풀이 포함 30초, 2026-12-05) |
# | t4 | Llama-3-Open-Ko-8B-Instruct, 8-bit와 4-bit만 (fp32·fp16은 15 GiB에 들어가지 않아 건너뜀) | 학습 없음; T4에서 잰 적 없음 (다운로드 후 적재와 측정) |
# | a100 | 같은 8B 모델, fp32·bf16·8-bit·4-bit (fp32 가중치 약 30 GiB는 아래 `fits_in_memory` 기준(메모리의 80 %)으로 40 GB에도 들어가므로 측정합니다) | 다운로드 후 약 10분 |

# %%
# Colab: 강의 저장소(코드, data/, 버전 고정)를 `/content/course`에 한 번 받아 그 `course_utils`를 노트북이 찾는 `/content`에 잇고,
# `setup()`이 이 런타임에 빠진 패키지를 설치합니다(Colab의 torch는 그대로).
# 로컬에서는 `make`가 이미 설치했으므로 `setup()`은 환경 점검(doctor)만 출력합니다.
import os
if "COLAB_RELEASE_TAG" in os.environ and os.system("(test -d /content/course || git clone -q --depth=1 https://github.com/llm-finetuning-course/course /content/course) && ln -sfn /content/course/course_utils /content/course_utils"): raise RuntimeError("Could not download the course from https://github.com/llm-finetuning-course/course: check the runtime's internet connection and run this cell again.")
from course_utils import setup  # course_utils/runtime_setup.py: install, Drive, doctor()
profile = setup()

# %% [markdown]
# 시간을 재기 시작하고 진행 막대를 끕니다. 라이브러리와 `course_utils`의 도우미는 **처음 쓰는 셀에서** 불러오고,
# 어느 파일(`course_utils/….py`)에서 오는지 그 줄의 주석에 적습니다.

# %%
import time

from transformers.utils import logging as transformers_logging

notebook_start = time.perf_counter()
GiB, MiB = 2**30, 2**20
if profile.offline:  # the local copy loads in a blink; six progress bars would only bury the results
    transformers_logging.disable_progress_bar()

# %% [markdown]
# ## 1. 숫자 형식: 비트를 어디에 쓰는가
#
# 부동소수점 수는 **부호(sign)**, **지수(exponent)**, **가수(mantissa)** 비트로 이루어집니다.
# 지수 비트가 많을수록 표현할 수 있는 **범위**가 넓어지고, 가수 비트가 많을수록 **정밀도**(1 근처에서 구별되는
# 가장 작은 차이, `eps`)가 좋아집니다. 아래 표의 숫자는 모두 `torch.finfo`에서 읽어 계산합니다.
# 가수 비트는 `eps = 2^-가수비트`에서, 지수 비트는 `전체 - 1(부호) - 가수`에서 구합니다.

# %%
import math

import pandas as pd
import torch

FORMATS = {
    "fp32": torch.float32,
    "fp16": torch.float16,
    "bf16": torch.bfloat16,
    "fp8 E4M3": torch.float8_e4m3fn,
    "fp8 E5M2": torch.float8_e5m2,
}


def bit_layout(dtype: torch.dtype) -> tuple[int, int, int]:
    """(sign, exponent, mantissa) bits, derived from torch.finfo."""
    info = torch.finfo(dtype)
    mantissa = round(-math.log2(info.eps))
    return 1, info.bits - 1 - mantissa, mantissa


format_table = pd.DataFrame([
    {"형식": name, "비트": torch.finfo(dtype).bits, "지수": bit_layout(dtype)[1], "가수": bit_layout(dtype)[2],
     "최댓값": f"{torch.finfo(dtype).max:.3g}", "최소 정규수": f"{torch.finfo(dtype).smallest_normal:.3g}",
     "eps (정밀도)": f"{torch.finfo(dtype).eps:.3g}"}
    for name, dtype in FORMATS.items()
])
format_table

# %% [markdown]
# 같은 표를 그림으로 봅니다. 한 칸이 한 비트입니다.

# %%
import matplotlib.pyplot as plt

colors = {"부호": "#d62728", "지수": "#1f77b4", "가수": "#2ca02c"}
fig, ax = plt.subplots(figsize=(9, 2.6))
for row, (name, dtype) in enumerate(reversed(FORMATS.items())):
    start = 0
    for part, width in zip(colors, bit_layout(dtype)):
        ax.barh(row, width, left=start, color=colors[part], edgecolor="white", label=part if row == 0 else None)
        ax.text(start + width / 2, row, str(width), ha="center", va="center", color="white", fontsize=8)
        start += width
ax.set_yticks(range(len(FORMATS)), list(reversed(FORMATS)))
ax.set_xlabel("bits")
ax.legend(["sign", "exponent", "mantissa"], loc="lower right", fontsize=8)
ax.set_title("bit layout (sign | exponent | mantissa)")
plt.tight_layout()
plt.show()

# %% [markdown]
# **bf16이 fp32의 범위를 유지하는 이유**: bf16은 fp32의 위쪽 16비트를 그대로 잘라 낸 형식이라 지수 비트(8개)가 같습니다.
# 그래서 fp16이라면 넘쳐서 `inf`가 되거나 0으로 사라지는 값도 bf16은 담습니다. 대신 가수가 7비트뿐이라 1.001과
# 1.0을 구별하지 못합니다. 학습 중 그래디언트와 활성값은 범위가 넓어서, 범위를 지키는 bf16이 fp16보다 안전합니다.

# %%
samples = torch.tensor([70000.0, 1e-8, 1.001, 3.14159])
pd.DataFrame(
    {name: [f"{v:.6g}" for v in samples.to(dtype).float().tolist()] for name, dtype in FORMATS.items()},
    index=[f"{v:g}" for v in samples.tolist()],
)

# %% [markdown]
# ### 양자화의 세 가지 방식
# - **동적 양자화**(dynamic): 가중치는 미리 정수로 바꿔 두고, 활성값의 스케일은 추론할 때마다 그 자리에서 잰다. 준비가 필요 없다.
# - **정적 양자화**(static): 대표 데이터(calibration set)를 흘려 보내 활성값의 스케일을 미리 정해 둔다. 추론이 더 빠르지만 준비가 든다.
# - **양자화 인식 학습**(QAT): 학습 중에 양자화 오차를 흉내 내어 모델이 그 오차에 적응하게 한다. 품질이 가장 좋지만 학습이 필요하다.
#
# 이 강의에서 쓰는 bitsandbytes는 가중치를 불러올 때 양자화합니다(학습 없이 적용하는 사후 양자화). 계산 방식은 둘이 다릅니다.
# - **4비트(nf4, fp4)**: 곱할 때마다 가중치를 compute dtype으로 되돌려(역양자화) 보통의 16비트 행렬곱을 합니다.
# - **LLM.int8**: 가중치를 되돌리지 않습니다. 입력 활성값을 행(토큰)마다 absmax로 8비트 정수로 양자화하고, 행마다 스케일을 둔
#   8비트 가중치와 **int8 행렬곱**을 한 뒤 두 스케일로 되돌립니다(활성값 쪽은 동적 양자화). 크기가 임계값
#   (`llm_int8_threshold`, 기본 6.0)을 넘는 outlier가 있는 입력 **열**만 fp16으로 따로 곱해 더합니다.

# %% [markdown]
# ## 2. compute dtype은 프로필에서: bf16은 compute capability 8.0부터
#
# 4-bit 가중치는 저장 형식일 뿐이고, 곱셈은 `bnb_4bit_compute_dtype`으로 되돌린 값으로 합니다. bf16 연산 장치는
# Ampere(compute capability 8.0) 이후 GPU에만 있습니다. T4(7.5)는 bf16을 흉내만 내서 느리므로 fp16을 씁니다.
# `pick_compute_dtype`이 이 규칙이고, 프로필은 이 규칙으로 정해집니다. CPU 프로필은 fp32로 계산합니다.

# %%
from course_utils.environment import gpu_info, pick_compute_dtype  # course_utils/environment.py: where the course runs

known_gpus = {"T4": (7, 5), "A100": (8, 0), "L4": (8, 9), "H100": (9, 0)}
print(pd.DataFrame([{"GPU": name, "compute capability": f"{c[0]}.{c[1]}", "compute dtype": str(pick_compute_dtype(c))}
                    for name, c in known_gpus.items()]).to_string(index=False))
gpu = gpu_info()
print(f"\n이 기계: {gpu.name + ' ' + str(gpu.capability) if gpu else 'GPU 없음'} -> 프로필 '{profile.name}'의 compute dtype: {profile.compute_dtype}")

# %% [markdown]
# GPU가 못 하는 dtype을 고르면(예: T4에서 bf16) `checked_compute_dtype`이 경고하고 fp16으로 바꿉니다.
# 아래는 T4를 가정해 그 경고를 일부러 일으킨 것입니다. 이 노트북의 compute dtype도 같은 검사를 거칩니다.

# %%
import warnings

from course_utils.quantization import checked_compute_dtype  # course_utils/quantization.py: quantization by hand

with warnings.catch_warnings(record=True) as caught:
    warnings.simplefilter("always")
    fallback = checked_compute_dtype(torch.bfloat16, known_gpus["T4"])
print(f"T4에서 bf16 요청 -> {fallback}; 경고: {caught[0].message}")

compute_dtype = checked_compute_dtype(profile.compute_dtype, gpu.capability if gpu else None)
print("이 노트북의 compute dtype:", compute_dtype)

# %% [markdown]
# ## 3. nf4를 손으로: 블록마다 absmax로 나누고 16개 값 중 가장 가까운 값으로
#
# nf4(NormalFloat4)의 16개 값은 표준정규분포를 넓이가 같은 구간으로 나눈 분위수를 [-1, 1]로 맞춘 것입니다.
# 가중치는 대략 정규분포를 따르므로, 16개 값이 고르게 쓰입니다. 양자화는 세 단계입니다.
# 1. 가중치를 64개씩 블록으로 나누고, 블록마다 절댓값의 최댓값(absmax)으로 나눠 [-1, 1]에 넣는다.
# 2. 각 값을 가장 가까운 nf4 값의 번호(0~15, 4비트)로 바꾼다.
# 3. 되돌릴 때는 nf4 값 × absmax. 블록마다 fp32 absmax 하나(32/64 = 0.5비트/가중치)가 더 든다.
#
# 먼저 16개 값과, 그 값을 만드는 `course_utils.quantization`의 코드를 봅니다.

# %%
import inspect

import bitsandbytes.functional as bnb_functional

from course_utils.quantization import nf4_levels, nf4_quantize  # course_utils/quantization.py: quantization by hand

print("nf4 levels:", [round(v, 4) for v in nf4_levels().tolist()])
print("bitsandbytes와 최대 차이:", (nf4_levels() - bnb_functional.get_4bit_type("nf4", device="cpu")).abs().max().item())
print(inspect.getsource(nf4_quantize))

# %% [markdown]
# 실제 모델의 가중치 행렬 하나(0번 층의 `mlp.down_proj`)를 체크포인트 파일에서 직접 읽습니다. 모델 전체를 만들
# 필요가 없습니다. 그리고 손으로 만든 nf4와 bitsandbytes의 `quantize_4bit`/`dequantize_4bit` 결과를 비교합니다.

# %%
from course_utils.offline_model import resolve_model  # course_utils/offline_model.py: Hub id or offline stand-in
from course_utils.quantization import nf4_dequantize, read_weight  # course_utils/quantization.py: quantization by hand

model_id = profile.chat_model
model_path = resolve_model(model_id, profile)
weight = read_weight(model_path, "model.layers.0.mlp.down_proj.weight").float()

indices, absmax = nf4_quantize(weight, blocksize=64)
by_hand = nf4_dequantize(indices, absmax, weight.shape)

device = "cuda" if profile.device == "cuda" else "cpu"
packed, quant_state = bnb_functional.quantize_4bit(weight.to(device), blocksize=64, quant_type="nf4")
by_bnb = bnb_functional.dequantize_4bit(packed, quant_state).cpu()
bnb_indices = torch.stack([packed.flatten() >> 4, packed.flatten() & 15], dim=-1).flatten().cpu()  # two 4-bit codes per byte

print(f"weight {tuple(weight.shape)}, {weight.numel() // 64} blocks of 64")
print(f"packed by bitsandbytes: {packed.numel()} bytes of {packed.dtype} (two 4-bit codes per byte)")
print(f"same 4-bit code as bitsandbytes: {(indices.flatten() == bnb_indices).float().mean().item():.2%} of weights")
print(f"max |by hand - bitsandbytes| after dequantizing: {(by_hand - by_bnb).abs().max().item():.2e}")
print(f"mean |error| vs the original weight: {(by_hand - weight).abs().mean().item():.2e} "
      f"(mean |weight| {weight.abs().mean().item():.2e})")

# %% [markdown]
# 왜 정규분포 분위수일까요? 블록마다 absmax로 나눈 값의 분포에 nf4 값(빨간 선)을 겹쳐 봅니다. 값이 몰린 0 근처에
# 선이 촘촘합니다. 같은 16개라도 [-1, 1]을 균등하게 나눈 값(int4처럼)을 쓰면 오차가 커집니다.

# %%
scaled = (weight.reshape(-1, 64) / absmax[:, None]).flatten()
even_levels = torch.linspace(-1, 1, 16)
even = nf4_dequantize(*nf4_quantize(weight, levels=even_levels), weight.shape, levels=even_levels)
fig, ax = plt.subplots(figsize=(8, 3))
ax.hist(scaled.numpy(), bins=200, color="gray")
for level in nf4_levels().tolist():
    ax.axvline(level, color="red", linewidth=0.8)
ax.set_title("weights / block absmax, with the 16 nf4 levels")
plt.show()
print(f"mean squared error  nf4: {(by_hand - weight).pow(2).mean().item():.3e}   "
      f"evenly spaced 16 levels: {(even - weight).pow(2).mean().item():.3e}")

# %% [markdown]
# ## 4. bitsandbytes로 모델 전체를 양자화해 불러오기
#
# `BitsAndBytesConfig` 하나로 정합니다.
# - `load_in_8bit=True`: LLM.int8. 행마다 스케일을 둔 8비트 정수.
# - `load_in_4bit=True` + `bnb_4bit_quant_type="fp4"` 또는 `"nf4"`: 4비트. nf4가 정규분포 가중치에 더 맞습니다.
# - `bnb_4bit_use_double_quant=True`: 블록 스케일(absmax)까지 8비트로 다시 양자화해 가중치당 약 0.37비트를 더 아낍니다.
# - `bnb_4bit_compute_dtype`: 위에서 고른 compute dtype.
#
# 양자화되지 않는 부분(임베딩, 정규화, 출력층)은 `dtype`으로 정한 형식으로 남습니다.
#
# CPU에서 bitsandbytes는 첫 셀에서 "Failed to load CPU gemm_4bit_forward from kernels-community"라고 알렸을 수 있습니다.
# 선택 패키지 `kernels`의 더 빠른 커널이 없다는 뜻일 뿐이고, bitsandbytes에 들어 있는 CPU 커널로 그대로 계산합니다.

# %%
from transformers import BitsAndBytesConfig

half = torch.float16 if compute_dtype == torch.float16 else torch.bfloat16
half_name = "fp16" if half == torch.float16 else "bf16"


def bnb_4bit(quant_type: str, double_quant: bool = False) -> BitsAndBytesConfig:
    return BitsAndBytesConfig(load_in_4bit=True, bnb_4bit_quant_type=quant_type,
                              bnb_4bit_use_double_quant=double_quant, bnb_4bit_compute_dtype=compute_dtype)


VARIANTS = {  # name -> (from_pretrained arguments, scheme for the memory arithmetic)
    "fp32": (dict(dtype=torch.float32), "fp32"),
    half_name: (dict(dtype=half), half_name),
    "int8": (dict(dtype=compute_dtype, quantization_config=BitsAndBytesConfig(load_in_8bit=True)), "int8"),
    "fp4": (dict(dtype=compute_dtype, quantization_config=bnb_4bit("fp4")), "fp4"),
    "nf4": (dict(dtype=compute_dtype, quantization_config=bnb_4bit("nf4")), "nf4"),
    "nf4 + double quant": (dict(dtype=compute_dtype, quantization_config=bnb_4bit("nf4", double_quant=True)), "nf4+dq"),
}
VARIANTS["nf4 + double quant"][0]["quantization_config"]

# %% [markdown]
# 불러오기 전에 필요한 메모리를 계산합니다. 파라미터를 양자화되는 것(출력층을 뺀 모든 `nn.Linear`)과 그대로 남는
# 것으로 나누고, 형식별 비트 수를 곱합니다. 모델은 `meta` 장치에 만들어 메모리를 쓰지 않습니다.
# GPU에서는 이 예측으로 들어가지 않는 형식을 건너뜁니다.

# %%
from transformers import AutoConfig

# course_utils/quantization.py: quantization by hand
from course_utils.quantization import model_on_meta, parameter_split, weight_bytes

split = parameter_split(model_on_meta(AutoConfig.from_pretrained(model_path)))
print(f"{split.total / 1e6:,.1f} M parameters: {split.quantized / 1e6:,.1f} M in linear layers (quantized), "
      f"{split.kept / 1e6:,.1f} M kept (embeddings, norms)")
predicted = {name: weight_bytes(split, scheme, kept_bits=torch.finfo(kwargs["dtype"]).bits)
             for name, (kwargs, scheme) in VARIANTS.items()}
print({name: f"{b / MiB:,.1f} MiB" for name, b in predicted.items()})

# %% [markdown]
# 이제 형식마다 실제로 불러와 잽니다: `get_memory_footprint()`, 그것이 빠뜨리는 양자화 스케일의 바이트, 고정 텍스트
# (`data/quantization_text.txt`, 이 강의를 위해 쓴 영어·한국어 문단)의 퍼플렉서티, 같은 질문에 대한 탐욕적(greedy) 답변 하나.

# %%
import re

from course_utils.environment import DATA_DIR  # course_utils/environment.py: where the course runs
from course_utils.chat_format import chat_text  # course_utils/chat_format.py: chat-template prompts
from course_utils.models import load_tokenizer  # course_utils/models.py: a profile's model and tokenizer

paragraphs = [p.strip() for p in (DATA_DIR / "quantization_text.txt").read_text().split("\n\n") if p.strip()]
korean = [p for p in paragraphs if re.search("[가-힣]", p)]
english = [p for p in paragraphs if p not in korean]
tokenizer = load_tokenizer(model_id, profile)
question = chat_text(tokenizer, "What is the capital of France? Answer in one sentence.")
device_map = {"": 0} if profile.device == "cuda" else "cpu"
for language, texts in (("English", english), ("Korean", korean)):
    characters = sum(len(t) for t in texts)
    tokens = sum(len(tokenizer(t)["input_ids"]) for t in texts)
    print(f"{language}: {len(texts)} paragraphs, {characters} characters, {tokens} tokens ({tokens / characters:.2f} tokens per character)")

# %% [markdown]
# 형식마다 불러와서 재고, 다음 형식을 위해 지웁니다. GPU에서는 예측한 크기가 메모리에 들어가지 않는 형식을 건너뜁니다.
# CPU의 LLM.int8은 입력을 fp16으로 바꿔 계산한다는 경고를 층마다 로그로 남기므로, 그 로거만 조용히 시킵니다.

# %%
import gc
import logging

from transformers import AutoModelForCausalLM

from course_utils.generation import generate  # course_utils/generation.py: batched greedy generation
from course_utils.measure import measure  # course_utils/measure.py: time and peak memory
from course_utils.perplexity import perplexity  # course_utils/perplexity.py: loss and perplexity
# course_utils/quantization.py: quantization by hand
from course_utils.quantization import fits_in_memory, quant_scale_bytes

logging.getLogger("bitsandbytes.autograd._functions").setLevel(logging.ERROR)
rows = []
for name, (kwargs, scheme) in VARIANTS.items():
    if gpu and not fits_in_memory(predicted[name] / GiB, gpu.memory_gib):
        print(f"{name}: skipped, needs about {predicted[name] / GiB:.1f} GiB of {gpu.memory_gib:.1f} GiB")
        continue
    with measure(name) as cost:
        model = AutoModelForCausalLM.from_pretrained(model_path, device_map=device_map, **kwargs).eval()
        rows.append({
            "format": name, "layer type": type(model.model.layers[0].mlp.down_proj).__name__,
            "footprint MiB": model.get_memory_footprint() / MiB, "scales MiB": quant_scale_bytes(model) / MiB,
            "predicted MiB": predicted[name] / MiB,
            "ppl en": perplexity(model, tokenizer, english, max_length=512),
            "ppl ko": perplexity(model, tokenizer, korean, max_length=512),
            "answer": generate(model, tokenizer, [question], max_new_tokens=20)[0],
        })
    rows[-1]["seconds"] = cost.seconds
    del model
    gc.collect()
    if torch.cuda.is_available():
        torch.cuda.empty_cache()

# %% [markdown]
# 측정 결과입니다. `footprint + scales`가 예측과 거의 같다는 점을 확인하세요. `get_memory_footprint()`는 4-bit
# 층의 absmax 스케일을 세지 않아서, nf4와 이중 양자화의 footprint가 똑같이 나옵니다. 차이는 scales 열에 있습니다.

# %%
results = pd.DataFrame(rows).set_index("format")
results["total MiB"] = results["footprint MiB"] + results["scales MiB"]
with pd.option_context("display.max_colwidth", 90, "display.width", 200, "display.precision", 2):
    print(results.drop(columns="answer").to_string())
    print()
    print(results["answer"].to_string())

# %% [markdown]
# 메모리와 품질을 한 그림에 놓습니다. 왼쪽 막대가 짧을수록 메모리를 덜 쓰고, 오른쪽 막대가 낮을수록 텍스트를 잘 예측합니다.

# %%
fig, (left, right) = plt.subplots(1, 2, figsize=(11, 3.5))
results["total MiB"].plot.bar(ax=left, color="#1f77b4")
left.set_ylabel("MiB")
left.set_title("memory (footprint + quantization scales)")
results[["ppl en", "ppl ko"]].plot.bar(ax=right)
right.set_title("perplexity on the fixed text (lower is better)")
for ax in (left, right):
    plt.setp(ax.get_xticklabels(), rotation=30, ha="right")
plt.tight_layout()
plt.show()

# %% [markdown]
# 읽는 법:
# - 4-bit에서도 임베딩과 정규화 층은 양자화되지 않습니다(위에서 센 "kept" 파라미터). 작은 모델일수록 그 몫이 커서, 메모리가 8B 모델만큼 줄지 않습니다.
# - fp4보다 nf4의 퍼플렉서티가 낮은 것은 위에서 본 분포 때문입니다.
# - `ppl en`과 `ppl ko`는 서로 비교하지 마세요. 퍼플렉서티는 **토큰 하나당** 값인데, 위에서 본 것처럼 두 언어의 토큰 크기가
#   다릅니다. SmolLM2(cpu 프로필)는 한글 한 글자를 여러 바이트 조각으로 쪼개고, 같은 글자의 뒤쪽 조각은 앞 조각에서 거의
#   정해지므로 한국어 퍼플렉서티가 오히려 낮게 나올 수 있습니다. 퍼플렉서티는 같은 토크나이저, 같은 텍스트에서 형식끼리만 비교합니다.

# %% [markdown]
# ## 5. 8B 모델의 메모리 계산: 무엇이 어디에 들어가는가
#
# Llama-3-8B의 모양(hidden 4096, 32층, 어텐션 헤드 32, KV 헤드 8, intermediate 14336, 어휘 128256)을
# `LlamaConfig`로 적고 `meta` 장치에 만들어 파라미터를 셉니다. 다운로드는 없습니다. 가중치만 센 값이며,
# 활성값·KV 캐시·CUDA 자체가 쓸 몫으로 GPU 메모리의 20%를 남겨야 들어간다고 보는 경험칙을 씁니다.

# %%
from transformers import LlamaConfig

from course_utils.quantization import BITS_PER_WEIGHT  # course_utils/quantization.py: quantization by hand

llama3_8b = LlamaConfig(hidden_size=4096, num_hidden_layers=32, num_attention_heads=32, num_key_value_heads=8,
                        intermediate_size=14336, vocab_size=128256, tie_word_embeddings=False)
split_8b = parameter_split(model_on_meta(llama3_8b))
print(f"Llama-3-8B: {split_8b.total / 1e9:.2f} B parameters, {split_8b.quantized / 1e9:.2f} B in linear layers")
gpus_gib = {"T4 (15 GiB)": 15.0, "A100 (40 GiB)": 40.0, "A100 (80 GiB)": 80.0}
memory_8b = []
for scheme in ["fp32", "bf16", "int8", "nf4", "nf4+dq"]:
    gib = weight_bytes(split_8b, scheme, kept_bits=32 if scheme == "fp32" else 16) / GiB
    memory_8b.append({"scheme": scheme, "bits per linear weight": round(BITS_PER_WEIGHT[scheme], 3), "weights GiB": round(gib, 2),
                      **{name: "fits" if fits_in_memory(gib, mem) else "-" for name, mem in gpus_gib.items()}})
pd.DataFrame(memory_8b).set_index("scheme")

# %% [markdown]
# 그래서 T4 프로필은 8B 모델을 4-bit nf4로 불러오고, 그 위에 LoRA 어댑터만 학습합니다(QLoRA, 다음 노트북).

# %% [markdown]
# 이 노트북 전체에 걸린 시간입니다.

# %%
print(f"notebook wall time: {time.perf_counter() - notebook_start:.0f} s")

# %% [markdown]
# ## 요약
# - 지수 비트는 범위, 가수 비트는 정밀도를 정합니다. bf16은 fp32와 지수 비트가 같아 범위를 지키고, fp8 E4M3는 정밀도, E5M2는 범위 쪽입니다.
# - compute dtype은 하드웨어가 정합니다: bf16은 compute capability 8.0부터, T4는 fp16. 못 하는 dtype은 경고와 함께 fp16으로 바뀝니다.
# - nf4 = 64개 블록마다 absmax로 나눈 뒤 정규분포 분위수 16개 중 가장 가까운 값. 손으로 만든 결과가 bitsandbytes와 같았습니다.
# - 메모리 ≈ 양자화되는 파라미터 × 비트 + 나머지 × 16(또는 32)비트. `get_memory_footprint()`는 4-bit 스케일을 빼고 셉니다.
# - 위 표의 퍼플렉서티와 답변으로, 비트를 줄일 때 품질이 얼마나 변하는지 직접 확인했습니다.
#
# ## 연습 문제
# - **기초**: `nf4_quantize(weight, blocksize=...)`에서 blocksize를 32, 64, 256으로 바꿔 평균 제곱 오차와 가중치당 비트 수(4 + 32/blocksize)를 표로 만들어 보세요.
# - **응용**: `VARIANTS`에 `llm_int8_threshold`를 바꾼 8-bit 설정이나 `bnb_4bit_quant_storage`를 바꾼 4-bit 설정을 더해, 메모리와 퍼플렉서티가 어떻게 변하는지 재 보세요.
# - **도전**: 이중 양자화를 손으로 구현해 보세요. absmax 벡터에서 평균을 빼고 256개씩 블록으로 나눠, bitsandbytes의 동적 8비트 지도(`bitsandbytes.functional.create_dynamic_map()`)로 양자화한 뒤, `bnb_functional.quantize_4bit(..., compress_statistics=True)`의 `quant_state.absmax`(8비트 코드)와 `quant_state.state2`와 비교하세요.

# %% tags=["solution"]
# 풀이 (기초): 블록이 작을수록 오차가 줄지만 absmax(32비트)가 늘어 가중치당 비트가 커집니다.
blocksize_rows = []
for blocksize in (32, 64, 256):
    restored = nf4_dequantize(*nf4_quantize(weight, blocksize=blocksize), weight.shape)
    blocksize_rows.append({"blocksize": blocksize, "MSE": ((restored - weight) ** 2).mean().item(), "bits per weight": 4 + 32 / blocksize})
pd.DataFrame(blocksize_rows).set_index("blocksize")

# %% tags=["solution"]
# 풀이 (응용): llm_int8_threshold를 낮추면 fp16으로 따로 계산하는 outlier 열이 늘어 품질은 지키고 속도는 잃습니다.
threshold_rows = []
for threshold in (6.0, 1.0):
    config = BitsAndBytesConfig(load_in_8bit=True, llm_int8_threshold=threshold)
    model = AutoModelForCausalLM.from_pretrained(model_path, device_map=device_map, dtype=compute_dtype, quantization_config=config).eval()
    with measure(f"int8, threshold {threshold}") as cost:
        threshold_rows.append({"threshold": threshold, "ppl en": perplexity(model, tokenizer, english, max_length=512)})
    threshold_rows[-1]["seconds"] = cost.seconds
    del model
    gc.collect()
pd.DataFrame(threshold_rows).set_index("threshold")

# %% tags=["solution"]
# 풀이 (도전): 이중 양자화를 손으로. bitsandbytes는 absmax에서 평균(offset)을 빼고 256개씩 블록마다 절댓값의 최댓값으로 나눈 뒤,
# 균등한 int8 눈금이 아니라 동적 8비트 지도(`create_dynamic_map()`, 0 근처가 촘촘한 256개 값) 중 가장 가까운 값으로 바꿉니다.
import inspect

from bitsandbytes.functional import create_dynamic_map

# course_utils/quantization.py: quantization by hand
from course_utils.quantization import DOUBLE_QUANT_BLOCKSIZE, double_dequantize, double_quantize

print(inspect.getsource(double_quantize))
dynamic = create_dynamic_map(signed=True)
print(f"dynamic map: {len(dynamic)} values, {(dynamic.abs() < 0.1).sum().item()} of them within ±0.1 "
      f"(an even int8 grid: {(torch.arange(-127, 128).abs() / 127 < 0.1).sum().item()})")
packed_dq, state_dq = bnb_functional.quantize_4bit(weight.to(device), blocksize=64, quant_type="nf4", compress_statistics=True)
codes, absmax2, offset = double_quantize(absmax)
print(f"offset: by hand {offset:.6f} | bitsandbytes {float(state_dq.offset):.6f}")
print(f"scales of the scales equal: {torch.equal(absmax2, state_dq.state2.absmax.cpu())} | "
      f"same 8-bit codes as bitsandbytes: {(codes == state_dq.absmax.cpu()).float().mean().item():.2%}")
restored_absmax = double_dequantize(codes, absmax2, offset)
block_max = absmax2.repeat_interleave(DOUBLE_QUANT_BLOCKSIZE)[: len(absmax)]
even_int8 = torch.round((absmax - offset) / block_max * 127) / 127 * block_max + offset  # what an even grid would give
for name, restored in (("dynamic map", restored_absmax), ("even int8 grid", even_int8)):
    print(f"absmax restored from 8 bits ({name}): mean relative error {((restored - absmax) / absmax).abs().mean().item():.3%}")

