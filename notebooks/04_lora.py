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
# # 04. LoRA: 모델은 얼려 두고 작은 행렬 두 개만 학습하기
#
# [![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)](https://colab.research.google.com/github/llm-finetuning-course/course/blob/main/notebooks/04_lora.ipynb)
#
# 미세조정에서 모든 가중치를 학습하면 가중치마다 그래디언트와 옵티마이저 상태(Adam은 2개)를 더 들고 있어야 합니다.
# LoRA는 원래 가중치 W0는 얼려 두고, 각 층에 `W = W0 + (alpha/r)·B·A`라는 작은 보정만 학습합니다. 이 노트북은 LoRA를
# 직접 몇 줄로 만들어 peft와 같은 결과를 내는지 확인하고, peft로 실제 모델을 학습·저장·병합한 뒤, 4-bit 모델 위에서
# 학습하는 QLoRA까지 한 단계씩 해 봅니다.
#
# ## 학습 목표
# - `W = W0 + (alpha/r)·B·A`를 torch 몇 줄로 구현하고, 같은 A, B에서 peft와 출력이 같음을 확인한다.
# - `LoraConfig`의 r, lora_alpha, lora_dropout, bias, task_type, target_modules를 설명하고, r에 따라 학습 파라미터 수가 어떻게 변하는지 계산한다.
# - 작은 과제에서 LoRA를 실제로 학습해 손실이 줄고 답이 바뀌는 것을 본다.
# - 어댑터를 저장·불러오기·병합(`merge_and_unload`)하고, 한 기본 모델에 여러 어댑터를 바꿔 끼운다.
# - QLoRA(4-bit 기본 모델 + 어댑터)의 준비 `prepare_model_for_kbit_training`과 그래디언트 체크포인팅(`use_reentrant=False`), 그리고 그 안에서 불리는 `enable_input_require_grads`를 설명한다.
#
# ## 소요 시간과 하드웨어
# | 프로필 | 모델 | 시간 |
# |---|---|---|
# | cpu | SmolLM2-135M-Instruct (오프라인 사본), fp32 LoRA 학습 2번 + 4-bit QLoRA 1스텝 | 약 3분 |
# | t4 | Meta-Llama-3-8B를 4-bit nf4로, fp16 계산 | 몇 스텝의 손 학습뿐, T4 시간은 잰 적 없음 (다운로드 후) |
# | a100 | 같은 모델, bf16 계산 | 다운로드 후 약 8분 |

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
import warnings

from transformers.utils import logging as transformers_logging

notebook_start = time.perf_counter()
if profile.offline:  # the local copy loads in a blink; repeated progress bars would only bury the results
    transformers_logging.disable_progress_bar()
# peft 0.21 still calls transformers names renamed in 5.x (is_gradient_checkpointing, gradient_checkpointing_enable,
# now activation_checkpointing_enable); these FutureWarnings are about the libraries, not this lesson
warnings.filterwarnings("ignore", message=".*is_gradient_checkpointing.*", category=FutureWarning)
warnings.filterwarnings("ignore", message="`gradient_checkpointing_enable` is deprecated.*", category=FutureWarning)
model_id = profile.sft_model
preset = profile.sft  # r, alpha, learning rate and batch size for this hardware

# %% [markdown]
# ## 1. LoRA를 직접 만들기
#
# 입력 크기 `in`, 출력 크기 `out`인 선형층의 가중치 W0는 `out × in`개입니다. LoRA는 W0를 그대로 두고
# `A`(r × in)와 `B`(out × r) 두 행렬만 학습합니다. 곱 `B·A`는 W0와 모양이 같지만 순위(rank)가 r 이하이고,
# 학습할 수는 `r·(in + out)`개뿐입니다. `alpha/r`은 r을 바꿔도 보정의 크기가 비슷하게 유지되도록 곱하는 배율입니다.
# B를 0으로 시작하므로 학습 첫 순간의 모델은 원래 모델과 똑같습니다. 아래가 이 강의의 구현 전체입니다.

# %%
import inspect

from course_utils.lora_from_scratch import LoRALinear  # course_utils/lora_from_scratch.py: LoRA in plain torch

print(inspect.getsource(LoRALinear))

# %% [markdown]
# 이 모델의 어텐션 `q_proj`와 같은 모양의 층에 r=8을 붙여 봅니다. 학습 파라미터가 얼마나 줄어드는지, 그리고
# B=0일 때 출력이 원래 층과 같은지 확인합니다.

# %%
import torch
from torch import nn
from transformers import AutoConfig

from course_utils.offline_model import resolve_model  # course_utils/offline_model.py: Hub id or offline stand-in

hidden = AutoConfig.from_pretrained(resolve_model(model_id, profile)).hidden_size
torch.manual_seed(0)
base_layer = nn.Linear(hidden, hidden, bias=False)
lora_layer = LoRALinear(base_layer, r=8, alpha=16)
x = torch.randn(2, 5, hidden)
full = base_layer.weight.numel()
lora = sum(p.numel() for p in lora_layer.parameters() if p.requires_grad)
print(f"full fine-tuning: {full:,} parameters; LoRA r=8: {lora:,} ({lora / full:.2%})")
print("fresh LoRA layer == base layer:", torch.equal(lora_layer(x), base_layer(x)))

# %% [markdown]
# 이제 peft로 같은 층에 LoRA를 붙이고, peft가 만든 A, B를 우리 층에 복사해 출력을 비교합니다. B가 0이면 비교가
# 무의미하므로 `init_lora_weights=False`로 B도 무작위로 시작합니다. 차이가 fp32의 반올림 수준(1e-6 이하)이면
# peft가 층마다 하는 일이 위의 몇 줄과 같다는 뜻입니다.

# %%
from peft import LoraConfig, get_peft_model

class OneLayer(nn.Module):
    def __init__(self, layer: nn.Linear):
        super().__init__()
        self.q_proj = layer

    def forward(self, x):
        return self.q_proj(x)


peft_net = get_peft_model(OneLayer(nn.Linear(hidden, hidden, bias=False)),
                          LoraConfig(r=8, lora_alpha=16, target_modules=["q_proj"], init_lora_weights=False))
peft_layer = peft_net.base_model.model.q_proj
with torch.no_grad():
    lora_layer.base.weight.copy_(peft_layer.base_layer.weight)
    lora_layer.A.copy_(peft_layer.lora_A["default"].weight)
    lora_layer.B.copy_(peft_layer.lora_B["default"].weight)
    difference = (lora_layer(x) - peft_net(x)).abs().max().item()
    merged = nn.functional.linear(x, lora_layer.merged_weight())
print(f"peft layer: {peft_layer.__class__.__module__}.{peft_layer.__class__.__name__}")
print(f"max |ours - peft| = {difference:.2e}")
print(f"max |merged W - unmerged| = {(merged - lora_layer(x)).abs().max().item():.2e}")

# %% [markdown]
# ## 2. peft로 실제 모델에 LoRA 붙이기
#
# 기본 모델을 불러옵니다. cpu 프로필은 fp32 SmolLM2, GPU 프로필은 8B 모델을 4-bit로 불러옵니다(6절의 QLoRA와
# 같은 준비를 `prepare_model_for_kbit_training`으로 합니다). `target_modules`에 쓸 수 있는 이름은 모델의 선형층 이름입니다.

# %%
from peft import prepare_model_for_kbit_training

from course_utils.lora_checks import linear_layer_names  # course_utils/lora_checks.py: checks around a LoraConfig
# course_utils/models.py: a profile's model and tokenizer
from course_utils.models import load_causal_lm, load_tokenizer

tokenizer = load_tokenizer(model_id, profile)


def fresh_base():
    """The frozen base model, loaded again: merging and adapters change the object they are given."""
    model = load_causal_lm(model_id, profile)
    if not profile.load_in_4bit:
        return model
    # without these kwargs peft passes {} and torch checkpoints reentrantly, with a warning (section 6 explains)
    return prepare_model_for_kbit_training(model, gradient_checkpointing_kwargs={"use_reentrant": False})


base = fresh_base()
print("linear layers LoRA can target:", linear_layer_names(base))

# %% [markdown]
# 모델의 구조를 그대로 출력해 봅니다(Llama 계열은 모두 같은 모양입니다). 위에서부터:
# - `embed_tokens`: 토큰 id → 벡터 (어휘 크기 × hidden). Llama-3-8B는 128,256 × 4,096.
# - `layers`: 같은 디코더 층의 반복(Llama-3-8B 32개, SmolLM2-135M 30개). 층마다 `self_attn`(q/k/v/o 투영)과
#   `mlp`(gate/up/down 투영, SiLU), 그 앞의 `input_layernorm`, `post_attention_layernorm`(RMSNorm).
# - `norm`: 마지막 RMSNorm, `lm_head`: 벡터 → 어휘 점수. LoRA가 붙는 자리는 이 안의 선형층들입니다.

# %%
print(base)

# %% [markdown]
# `LoraConfig`의 인자:
# - `r`: 순위. 클수록 표현력이 크고 파라미터가 많습니다(8~64가 흔함).
# - `lora_alpha`: 배율 alpha. 실제 곱하는 값은 `alpha / r`입니다. 흔히 r의 2배로 둡니다.
# - `lora_dropout`: A에 들어가기 전 입력에 거는 드롭아웃. 작은 데이터에서 과적합을 줄입니다.
# - `bias`: `"none"`이면 편향은 학습하지 않습니다.
# - `task_type="CAUSAL_LM"`: 다음 토큰 예측 모델이라는 것. 저장·불러오기와 `generate`가 그에 맞게 동작합니다.
# - `target_modules`: 어텐션 q/k/v/o와 MLP gate/up/down, 일곱 가지 선형층 모두에 붙입니다(`"all-linear"`와 같음).

# %%
# course_utils/lora_checks.py: checks around a LoraConfig
from course_utils.lora_checks import check_lora_config, lora_parameter_count

TARGETS = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]
lora_config = LoraConfig(
    r=preset.lora_r, lora_alpha=preset.lora_alpha, lora_dropout=0.05, bias="none",
    task_type="CAUSAL_LM", target_modules=TARGETS,
)
check_lora_config(base, lora_config)
print(f"r={lora_config.r}, alpha={lora_config.lora_alpha} (scaling {lora_config.lora_alpha / lora_config.r:g}); "
      f"predicted LoRA parameters: {lora_parameter_count(base, lora_config):,}")

# %% [markdown]
# 잘못된 설정은 peft가 모델을 절반쯤 바꾼 뒤에야 알아채기도 합니다. `check_lora_config`는 `get_peft_model` 전에 검사해
# 무엇이 틀렸는지 한 문장으로 알려 줍니다. 예: BERT 식 이름 `query`/`value`를 쓴 경우와 r=0인 경우.

# %%
for bad in (LoraConfig(r=8, target_modules=["query", "value"]), LoraConfig(r=0, target_modules=TARGETS)):
    try:
        check_lora_config(base, bad)
    except ValueError as error:
        print("ValueError:", error)

# %% [markdown]
# 설정이 맞으면 `get_peft_model`이 일곱 가지 층마다 A, B를 붙이고 나머지를 모두 얼립니다.

# %%
from course_utils.lora_checks import trainable_parameters  # course_utils/lora_checks.py: checks around a LoraConfig

torch.manual_seed(0)
model = get_peft_model(base, lora_config)
model.print_trainable_parameters()
trainable, total = trainable_parameters(model)
print(f"= {trainable:,} / {total:,}: 'all params' counts the frozen base plus the new A and B matrices")

# %% [markdown]
# `trainable%`는 학습할 파라미터(모든 A, B)를 전체(얼린 기본 모델 + A, B)로 나눈 값입니다. 그래디언트와 Adam 상태는
# 이 몇 %에 대해서만 생기므로, 학습 메모리가 크게 줄어듭니다.

# %% [markdown]
# r에 따라 학습 파라미터 수가 어떻게 변하는지 표로 봅니다. Llama-3-8B는 `LlamaConfig`에 모양만 적어
# `meta` 장치에 만들었으므로 다운로드가 없습니다. 같은 r이라도 모델이 크면 전체에서 차지하는 비율은 더 작습니다.

# %%
import pandas as pd
from transformers import LlamaConfig

from course_utils.quantization import model_on_meta  # course_utils/quantization.py: quantization by hand

llama3_8b = model_on_meta(LlamaConfig(hidden_size=4096, num_hidden_layers=32, num_attention_heads=32,
                                      num_key_value_heads=8, intermediate_size=14336, vocab_size=128256))
models = {"this profile's model": model_on_meta(AutoConfig.from_pretrained(resolve_model(model_id, profile))), "Llama-3-8B": llama3_8b}
table = []
for r in (4, 8, 16, 32, 64):
    row = {"r": r}
    for name, meta in models.items():
        count = lora_parameter_count(meta, LoraConfig(r=r, target_modules=TARGETS))
        row[f"{name}: LoRA params"] = f"{count / 1e6:,.2f} M"
        row[f"{name}: % of base"] = f"{count / sum(p.numel() for p in meta.parameters()):.3%}"
    table.append(row)
pd.DataFrame(table).set_index("r")

# %% [markdown]
# ## 3. 작은 과제에서 실제로 학습하기
#
# `data/lora_toy_task.jsonl`은 이 강의를 위해 쓴 짧은 영어 리뷰 48개입니다(train 36, test 12). 각 리뷰에 감정
# (`긍정`/`부정`)과 주제(`음식`/`영화`/`여행`) 정답이 있습니다. 프롬프트는 `Review: ...\nAnswer:`뿐이라, 기본 모델은
# 한국어 단어 하나로 답해야 한다는 것을 모릅니다. 먼저 감정 과제로 학습합니다.

# %%
import json

from course_utils.environment import DATA_DIR  # course_utils/environment.py: where the course runs
from course_utils.generation import generate  # course_utils/generation.py: batched greedy generation
from course_utils.prompts import with_bos  # course_utils/prompts.py: the one Alpaca prompt

rows = [json.loads(line) for line in (DATA_DIR / "lora_toy_task.jsonl").read_text().splitlines()]
train_rows = [r for r in rows if r["split"] == "train"]
test_rows = [r for r in rows if r["split"] == "test"]


def prompt(row: dict) -> str:
    return f"Review: {row['review']}\nAnswer:"


def accuracy(answers: list[str], task: str) -> float:
    return sum(a == r[task] for a, r in zip(answers, test_rows)) / len(test_rows)


# generate() tokenizes without special tokens, so the prompts carry the BOS the training batches below will have
test_prompts = with_bos(tokenizer, [prompt(r) for r in test_rows])
base_answers = generate(model, tokenizer, test_prompts, max_new_tokens=8)  # B = 0: still the base model
print(f"{len(train_rows)} train / {len(test_rows)} test; base model sentiment accuracy: {accuracy(base_answers, 'sentiment'):.0%}")
pd.DataFrame({"review": [r["review"] for r in test_rows[:4]], "label": [r["sentiment"] for r in test_rows[:4]],
              "base answer": base_answers[:4]})

# %% [markdown]
# 학습 배치를 만듭니다. 프롬프트 뒤에 정답과 끝 토큰(EOS)을 붙이고, 손실은 정답 부분에서만 계산하도록 프롬프트
# 위치의 라벨을 -100(무시)으로 둡니다. 그래야 모델이 리뷰를 외우는 대신 답하는 법을 배웁니다.
# 프롬프트는 토크나이저 기본값으로 토큰화해, 토크나이저가 쓰는 시작 토큰(BOS: Llama 3의 `<|begin_of_text|>`, SmolLM2는 없음)이
# 앞에 붙습니다. 모델은 사전학습에서 늘 BOS 뒤의 텍스트를 보았고, 05강의 TRL도 같은 기본값으로 토큰화합니다.

# %%
def make_batch(batch_rows: list[dict], task: str) -> dict[str, torch.Tensor]:
    ids, labels = [], []
    for row in batch_rows:
        prompt_ids = tokenizer(prompt(row))["input_ids"]  # the tokenizer's defaults: its BOS, where it uses one
        answer_ids = tokenizer(" " + row[task] + tokenizer.eos_token, add_special_tokens=False)["input_ids"]
        ids.append(prompt_ids + answer_ids)
        labels.append([-100] * len(prompt_ids) + answer_ids)
    width = max(len(i) for i in ids)
    pad = lambda seq, value: seq + [value] * (width - len(seq))  # noqa: E731
    return {
        "input_ids": torch.tensor([pad(i, tokenizer.pad_token_id) for i in ids]),
        "attention_mask": torch.tensor([pad([1] * len(i), 0) for i in ids]),
        "labels": torch.tensor([pad(l, -100) for l in labels]),
    }


example = make_batch(train_rows[:1], "sentiment")
print("first token:", repr(tokenizer.decode(example["input_ids"][0][:1])), "| last tokens:",
      [tokenizer.decode([t]) for t in example["input_ids"][0][-9:]])
print(example["labels"][0][-9:].tolist())

# %% [markdown]
# 학습 루프는 평범한 torch입니다. 옵티마이저에는 `requires_grad=True`인 파라미터(A, B)만 넘깁니다. 배치 크기와
# 학습률은 프로필에서 옵니다. 과제는 어느 하드웨어에서나 같은 36개이므로, 스텝 수는 데이터를 몇 번 돌지(`EPOCHS`)로 정합니다.

# %%
import math
import random

from course_utils.measure import measure  # course_utils/measure.py: time and peak memory
from course_utils.plots import plot_losses  # course_utils/plots.py: loss curves

EPOCHS = 5
batch_size = preset.per_device_train_batch_size
steps = math.ceil(EPOCHS * len(train_rows) / batch_size)


def train_lora(model, task: str, steps: int = steps, batch_size: int = batch_size,
               learning_rate: float = preset.learning_rate) -> list[dict]:
    """A plain training loop over random batches of the toy task; returns a Trainer-style log history."""
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=learning_rate)
    sampler = random.Random(0)
    model.train()
    history = []
    for step in range(1, steps + 1):
        batch = {k: v.to(model.device) for k, v in make_batch(sampler.sample(train_rows, batch_size), task).items()}
        loss = model(**batch).loss
        loss.backward()
        optimizer.step()
        optimizer.zero_grad()
        history.append({"step": step, "loss": loss.item()})
    model.eval()
    return history


with measure(f"LoRA training, {steps} steps of {batch_size}") as cost:
    history = train_lora(model, "sentiment")
print(f"loss: {history[0]['loss']:.3f} -> {history[-1]['loss']:.3f}")
plot_losses(history, title="LoRA on the sentiment task");

# %% [markdown]
# 학습한 뒤 같은 테스트 리뷰(학습에 쓰지 않은 것)에 다시 답하게 합니다.

# %%
sentiment_answers = generate(model, tokenizer, test_prompts, max_new_tokens=8)
print(f"sentiment accuracy on unseen reviews: base {accuracy(base_answers, 'sentiment'):.0%} -> "
      f"LoRA {accuracy(sentiment_answers, 'sentiment'):.0%}")
pd.DataFrame({"review": [r["review"] for r in test_rows], "label": [r["sentiment"] for r in test_rows],
              "base": base_answers, "after LoRA": sentiment_answers})

# %% [markdown]
# ## 4. 어댑터 저장, 다시 불러오기, 병합
#
# `save_pretrained`는 A, B와 설정만 저장합니다. 기본 모델의 크기와 비교해 봅니다.

# %%
import shutil

from course_utils.environment import output_dir  # course_utils/environment.py: where the course runs

adapters_dir = output_dir() / "04_lora"
shutil.rmtree(adapters_dir, ignore_errors=True)
model.save_pretrained(adapters_dir / "sentiment")
for file in sorted((adapters_dir / "sentiment").iterdir()):
    print(f"{file.name:<28} {file.stat().st_size / 2**20:8.2f} MiB")
print(f"base model weights in memory: {model.get_base_model().get_memory_footprint() / 2**20:,.0f} MiB")

# %% [markdown]
# 새로 불러온 기본 모델에 저장한 어댑터를 얹고(`PeftModel.from_pretrained`), 로짓을 잰 뒤 `merge_and_unload()`로
# `W0 + (alpha/r)·B·A`를 가중치에 합칩니다. 합친 모델은 보통 모델과 같은 속도로 돌고, 로짓은 같아야 합니다.
# fp32에서는 같은 수를 다른 순서로 더한 반올림 차이만 남습니다. (4-bit 기본 모델에 합치면 다시 양자화하면서
# 반올림 오차가 더 생기므로 GPU 프로필에서는 차이가 조금 더 큽니다.)

# %%
import gc

from peft import PeftModel

del model, base
_ = gc.collect()
reloaded = PeftModel.from_pretrained(fresh_base(), adapters_dir / "sentiment").eval()
check = tokenizer(test_prompts[:4], return_tensors="pt", padding=True, add_special_tokens=False).to(reloaded.device)
with torch.no_grad():
    unmerged_logits = reloaded(**check).logits.float()
    merged_model = reloaded.merge_and_unload()
    merged_logits = merged_model(**check).logits.float()
gap = (merged_logits - unmerged_logits).abs().max().item()
relative = gap / unmerged_logits.abs().max().item()
same_top = (merged_logits.argmax(-1) == unmerged_logits.argmax(-1)).float().mean().item()
print(f"after merge: {type(merged_model).__name__}, q_proj is {type(merged_model.model.layers[0].self_attn.q_proj).__name__}")
print(f"max |merged - unmerged| logits: {gap:.1e} ({relative:.1e} of the largest logit); same top token at {same_top:.0%} of positions")
if not profile.load_in_4bit:  # fp32 rounding only: (W0 + BA)x and W0x + B(Ax) add the same numbers in another order
    assert relative < 1e-4, "merged and unmerged logits should agree in full precision"
del reloaded, merged_model
_ = gc.collect()

# %% [markdown]
# ## 5. 한 기본 모델에 여러 어댑터
#
# 같은 프롬프트로 주제(`음식`/`영화`/`여행`)를 답하는 두 번째 어댑터를 학습해 저장합니다.

# %%
torch.manual_seed(0)
topic_model = get_peft_model(fresh_base(), lora_config)
with measure(f"topic adapter, {steps} steps of {batch_size}"):
    topic_history = train_lora(topic_model, "topic")
print(f"loss: {topic_history[0]['loss']:.3f} -> {topic_history[-1]['loss']:.3f}")
topic_model.save_pretrained(adapters_dir / "topic")
del topic_model
_ = gc.collect()

# %% [markdown]
# 기본 모델을 한 번만 메모리에 올리고 어댑터 두 개를 이름을 붙여 얹습니다(`load_adapter`). `set_adapter`로 바꿔 끼우면
# 같은 프롬프트에 다른 과제의 답이 나옵니다. `disable_adapter()` 안에서는 기본 모델 그대로입니다.

# %%
multi = PeftModel.from_pretrained(fresh_base(), adapters_dir / "sentiment", adapter_name="sentiment")
multi.load_adapter(adapters_dir / "topic", adapter_name="topic")
print("adapters on one base:", list(multi.peft_config))
answers = {}
for name in ("sentiment", "topic"):
    multi.set_adapter(name)
    answers[name] = generate(multi, tokenizer, test_prompts, max_new_tokens=8)
with multi.disable_adapter():
    answers["no adapter"] = generate(multi, tokenizer, test_prompts, max_new_tokens=8)
print(f"accuracy: sentiment adapter {accuracy(answers['sentiment'], 'sentiment'):.0%}, "
      f"topic adapter {accuracy(answers['topic'], 'topic'):.0%}")
pd.DataFrame({"review": [r["review"] for r in test_rows], **answers}).head(6)

# %% [markdown]
# ## 6. QLoRA: 4-bit로 얼린 기본 모델 + 더 높은 정밀도의 어댑터
#
# 기본 모델을 nf4(03 노트북)로 불러오고, 그 위의 A, B만 fp32(또는 bf16)로 학습합니다. 준비는 두 번의 호출입니다.
# 1. `prepare_model_for_kbit_training`: 양자화되지 않은 파라미터를 **모두** fp32로 올리고 기본 모델을 얼립니다. 정규화 층만이
#    아니라 `embed_tokens`와 `lm_head`도 포함됩니다. Llama-3-8B에서 이 둘은 128,256 × 4,096 × 2 ≈ 1.05 B 파라미터라,
#    fp16 2 GiB가 fp32 4 GiB로 **약 2 GiB 늘어납니다**(T4 15 GB에서 무시할 수 없는 몫).
# 2. 그래디언트 체크포인팅(transformers 5에서는 `activation_checkpointing_enable`, 옛 이름 `gradient_checkpointing_enable`):
#    층마다의 활성값을 저장하지 않고 역전파 때 다시 계산해, 시간을 조금 더 쓰고 메모리를 크게 아낍니다. `use_reentrant=False`를
#    넘깁니다. 빠뜨리면 torch는 옛 방식(reentrant)으로 체크포인팅하며 경고를 냅니다. `prepare_model_for_kbit_training`이 직접
#    체크포인팅을 켤 때도 같아서(2절의 `fresh_base()`), 그때는 `gradient_checkpointing_kwargs={"use_reentrant": False}`를 넘깁니다.
#    넘기지 않으면 peft가 빈 설정 `{}`을 전해 reentrant가 됩니다.
#
# 원래 강의의 세 번째 단계 `enable_input_require_grads`(임베딩이 얼어 있어도 그 출력이 그래디언트를 요구하게 함)는 따로 부르지
# 않습니다. transformers 5의 `activation_checkpointing_enable`이 입력이 `input_ids`인 모델에서는 안에서 이 함수를 부르기
# 때문입니다(아래 출력에서 확인합니다). 이 함수가 꼭 필요한 것은 **reentrant** 체크포인팅뿐입니다: 그 방식은 입력이 그래디언트를
# 요구하지 않는 구간을 통째로 역전파에서 빼 버려 어댑터에 그래디언트가 오지 않습니다.
#
# `device_map={"": 0}`은 "이름이 `""`인 모듈, 즉 모델 전체를 GPU 0에" 올리라는 뜻입니다. `"auto"`는 GPU가 모자라면 일부 층을
# CPU로 내리는데, 4-bit 학습은 층이 CPU에 있으면 실패하거나 매우 느려지므로 한 GPU에 통째로 올리도록 못 박습니다.
#
# cpu 프로필에서도 bitsandbytes 4-bit가 CPU에서 실제로 돌기 때문에 한 스텝을 그대로 해 봅니다.

# %%
from transformers import AutoModelForCausalLM, BitsAndBytesConfig

del multi  # the base model with both adapters is no longer needed
_ = gc.collect()
if torch.cuda.is_available():
    torch.cuda.empty_cache()
bnb_config = BitsAndBytesConfig(
    load_in_4bit=True, bnb_4bit_quant_type="nf4", bnb_4bit_use_double_quant=True,
    bnb_4bit_compute_dtype=profile.compute_dtype,
)
qmodel = AutoModelForCausalLM.from_pretrained(
    resolve_model(model_id, profile), quantization_config=bnb_config, dtype=profile.compute_dtype,
    device_map={"": 0} if profile.device == "cuda" else "cpu",
)
qmodel = prepare_model_for_kbit_training(qmodel, use_gradient_checkpointing=False)  # step 2 is done explicitly below
qmodel.activation_checkpointing_enable(activation_checkpointing_kwargs={"use_reentrant": False})
probe_ids = torch.tensor([[1, 2, 3]], device=qmodel.device)
print("checkpointing:", qmodel.model.layers[0]._gradient_checkpointing_func.keywords,
      "| frozen embedding's output requires grad (enable_input_require_grads ran inside):",
      qmodel.get_input_embeddings()(probe_ids).requires_grad)
qmodel = get_peft_model(qmodel, lora_config)
qmodel.print_trainable_parameters()
layer = qmodel.base_model.model.model.layers[0].self_attn.q_proj
print(f"base weight: {type(layer.base_layer).__name__}, stored as {layer.base_layer.weight.dtype}, "
      f"requires_grad={layer.base_layer.weight.requires_grad}")
print(f"LoRA A: {layer.lora_A['default'].weight.dtype}, requires_grad={layer.lora_A['default'].weight.requires_grad}")

# %% [markdown]
# 한 스텝 학습합니다. 같은 배치의 손실이 스텝 뒤에 줄어들면 그래디언트가 4-bit 층을 지나 어댑터까지 제대로 흘렀다는 뜻입니다.

# %%
batch = {k: v.to(qmodel.device) for k, v in make_batch(train_rows[:4], "sentiment").items()}
optimizer = torch.optim.AdamW([p for p in qmodel.parameters() if p.requires_grad], lr=preset.learning_rate)
qmodel.train()
with measure("one QLoRA step"):
    loss = qmodel(**batch).loss
    loss.backward()
    grad_norm = sum(p.grad.norm() ** 2 for p in qmodel.parameters() if p.grad is not None) ** 0.5
    optimizer.step()
    optimizer.zero_grad()
with torch.no_grad():
    after = qmodel(**batch).loss
print(f"loss on the same batch: {loss.item():.3f} -> {after.item():.3f}; adapter gradient norm {grad_norm.item():.3f}")
print(f"4-bit base footprint: {qmodel.get_base_model().get_memory_footprint() / 2**20:,.0f} MiB")

# %% [markdown]
# 연습 문제는 저마다 `fresh_base()`로 기본 모델을 새로 불러옵니다. T4 한 장(15 GB)에는 8B 모델 둘이 함께 들어가지 않으므로,
# 그 전에 이 절이 잡고 있는 것을 모두 놓습니다: `qmodel`이 남으면 모델 전체가, `layer`가 남으면 그 층이, 옵티마이저가 남으면
# 어댑터 파라미터와 그 상태가 메모리에 남습니다. 배치와 손실도 함께 지웁니다. `gc.collect()`는 순환 참조로 남은 객체까지 지금
# 치우고, `torch.cuda.empty_cache()`는 비운 GPU 메모리를 드라이버에 돌려줍니다. 풀이도 모델 하나를 다 쓰면 같은 식으로 놓습니다.

# %%
del qmodel, layer, optimizer, batch, loss, after, grad_norm
_ = gc.collect()
if torch.cuda.is_available():
    torch.cuda.empty_cache()
    print(f"GPU memory still allocated: {torch.cuda.memory_allocated() / 2**30:.2f} GiB")

# %% [markdown]
# 이 노트북 전체에 걸린 시간입니다.

# %%
print(f"notebook wall time: {time.perf_counter() - notebook_start:.0f} s")

# %% [markdown]
# ## 요약
# - LoRA는 `W0 + (alpha/r)·B·A`입니다. 직접 만든 몇 줄짜리 층이 같은 A, B에서 peft와 같은 출력을 냈습니다.
# - 학습 파라미터는 층마다 `r·(in + out)`개입니다. 2절의 표에서 Llama-3-8B는 r=16일 때 기본 모델의 약 0.5%이고,
#   같은 r이면 모델이 클수록 그 비율은 더 작아집니다(표의 두 모델을 비교해 보세요).
# - 작은 과제에서 수십 스텝만에 손실이 줄고, 기본 모델이 모르던 형식(한국어 라벨 한 단어)으로 답하게 되었습니다.
# - 어댑터 파일은 기본 모델보다 훨씬 작고, 병합해도 로짓이 같으며, 한 기본 모델에 여러 어댑터를 바꿔 끼울 수 있습니다.
# - QLoRA는 4-bit로 얼린 기본 모델 위에서 어댑터만 학습합니다. `prepare_model_for_kbit_training`과 `use_reentrant=False`
#   체크포인팅(안에서 `enable_input_require_grads`까지)을 거치면 그래디언트가 어댑터까지 흐릅니다.
#
# ## 연습 문제
# - **기초**: `target_modules`를 `["q_proj", "v_proj"]`로 줄여 학습 파라미터 수와 감정 정확도가 어떻게 변하는지 보세요.
# - **응용**: r을 4와 64로 바꾸고 `lora_alpha`를 r의 2배로 맞춘 경우와 16으로 고정한 경우의 손실 곡선을 비교해, `alpha/r` 배율의 역할을 설명해 보세요.
# - **도전**: `LoRALinear`로 모델의 모든 `q_proj`, `v_proj`를 직접 바꿔 끼우는 함수를 만들고, peft 없이 같은 과제를 학습해 보세요. 학습 뒤 `merged_weight()`로 병합한 모델의 답이 같은지 확인하세요.

# %% tags=["solution"]
# 풀이 (기초): q_proj, v_proj에만 붙이면 학습 파라미터가 줄어듭니다. 학습해 정확도를 비교합니다.
# cpu 프로필은 풀이를 짧게(스텝의 1/4) 돌립니다: 본문의 전체 학습과 스텝 수가 달라 비교는 참고용입니다. GPU에서는 같은 스텝입니다.
solution_steps = steps if profile.device == "cuda" else max(4, steps // 4)
torch.manual_seed(0)
qv_model = get_peft_model(fresh_base(), LoraConfig(r=preset.lora_r, lora_alpha=preset.lora_alpha, lora_dropout=0.05,
                                                  task_type="CAUSAL_LM", target_modules=["q_proj", "v_proj"]))
print(f"trainable: q,v only {trainable_parameters(qv_model)[0]:,} vs all seven {trainable:,}")
train_lora(qv_model, "sentiment", steps=solution_steps)
qv_answers = generate(qv_model, tokenizer, test_prompts, max_new_tokens=8)
print(f"sentiment accuracy (12 unseen reviews): q,v only {accuracy(qv_answers, 'sentiment'):.0%} after {solution_steps} steps | "
      f"all seven {accuracy(sentiment_answers, 'sentiment'):.0%} after {steps} steps")
del qv_model
_ = gc.collect()  # one 8B model at a time: the next solution loads its own

# %% tags=["solution"]
# 풀이 (응용): alpha = 2r이면 배율 alpha/r이 2로 같고, alpha = 16 고정이면 r이 클수록 배율이 작아져 느리게 배웁니다.
import matplotlib.pyplot as plt

short_steps = max(3, solution_steps // 2)
fig, ax = plt.subplots(figsize=(6, 3.5))
for r in (4, 64):
    for alpha in (2 * r, 16):
        torch.manual_seed(0)
        trial = get_peft_model(fresh_base(), LoraConfig(r=r, lora_alpha=alpha, task_type="CAUSAL_LM", target_modules=TARGETS))
        trial_history = train_lora(trial, "sentiment", steps=short_steps)
        ax.plot([h["step"] for h in trial_history], [h["loss"] for h in trial_history], label=f"r={r}, alpha={alpha} (x{alpha / r:g})")
        del trial
        _ = gc.collect()
ax.set_xlabel("step")
ax.set_ylabel("loss")
ax.legend()
plt.show()

# %% tags=["solution"]
# 풀이 (도전): peft 없이 LoRALinear를 q_proj, v_proj에 끼워 학습하고, merged_weight()로 병합한 모델과 답을 비교합니다.
def add_lora_by_hand(model: nn.Module, r: int = 8, alpha: float = 16) -> list[LoRALinear]:
    """Freeze everything, then wrap every q_proj and v_proj in a LoRALinear; returns the new layers."""
    model.requires_grad_(False)
    wrapped = []
    for layer in model.model.layers:
        for name in ("q_proj", "v_proj"):
            lora = LoRALinear(getattr(layer.self_attn, name), r=r, alpha=alpha)
            setattr(layer.self_attn, name, lora)
            wrapped.append(lora)
    return wrapped


if profile.load_in_4bit:
    print("4-bit Linear4bit 가중치는 LoRALinear가 그대로 더할 수 없습니다: 이 풀이는 cpu 프로필(fp32)에서 실행하세요.")
else:
    torch.manual_seed(0)
    by_hand = fresh_base()
    loras = add_lora_by_hand(by_hand)
    train_lora(by_hand, "sentiment", steps=solution_steps)
    hand_answers = generate(by_hand, tokenizer, test_prompts, max_new_tokens=8)
    with torch.no_grad():
        for layer in by_hand.model.layers:
            for name in ("q_proj", "v_proj"):
                lora = getattr(layer.self_attn, name)
                lora.base.weight.copy_(lora.merged_weight())
                setattr(layer.self_attn, name, lora.base)
    merged_answers = generate(by_hand, tokenizer, test_prompts, max_new_tokens=8)
    print(f"accuracy by hand {accuracy(hand_answers, 'sentiment'):.0%}; merged answers identical: {hand_answers == merged_answers}")
    del by_hand, loras, layer, lora  # the loops above bound a decoder layer and a LoRALinear of by_hand
    _ = gc.collect()

