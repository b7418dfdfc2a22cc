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
# # 02. 토크나이저와 특수 토큰
#
# [![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)](https://colab.research.google.com/github/llm-finetuning-course/course/blob/main/notebooks/02_tokenizers.ipynb)
#
# ## 학습 목표
# - `tokenize` / `encode` / `decode`로 텍스트와 토큰 id를 오가고, 한국어가 정확히 되돌아오는지 확인한다.
# - `bos_token`, `eos_token`, `pad_token`의 역할과, 패딩의 손실(loss)이 왜 무시되는지 안다.
# - pad를 EOS와 같게 두면 생기는 문제와, 예약된 특수 토큰을 pad로 쓰는 방법(새 토큰 추가 + 임베딩 크기 조정과 비교)을 익힌다.
# - 학습 텍스트 끝에 EOS를 붙여야 모델이 멈출 줄 안다는 것을 확인한다.
# - `apply_chat_template`로 대화 형식을 만들고, 한국어와 영어의 토큰 수(압축률)를 비교한다.
#
# ## 소요 시간과 하드웨어
# | 프로필 | 하드웨어 | 토크나이저 | 시간 |
# |---|---|---|---|
# | `cpu` | CPU 2코어, 인터넷 없음 | SmolLM2 (오프라인) | 약 1분 |
# | `t4` | Colab T4 | Llama 3, 한국어 Llama 3, EXAONE, kogpt2, SmolLM2의 토크나이저 + 6절에서 한국어 Llama 3 8B 가중치 (다운로드 16.1 GB, 4-bit로 GPU 약 5.2 GiB) | 학습 없음; T4에서 잰 적 없음 (8B 다운로드와 4-bit 로딩이 대부분, 03강과 같은 모델) |
# | `a100` | A100 / L4 / H100 | 위와 같음 | 약 3분 + 8B 다운로드와 4-bit 로딩 |

# %%
# Colab: 강의 저장소(코드, data/, 버전 고정)를 `/content/course`에 한 번 받아 그 `course_utils`를 노트북이 찾는 `/content`에 잇고,
# `setup()`이 이 런타임에 빠진 패키지를 설치합니다(Colab의 torch는 그대로).
# 로컬에서는 `make`가 이미 설치했으므로 `setup()`은 환경 점검(doctor)만 출력합니다.
import os
if "COLAB_RELEASE_TAG" in os.environ and os.system("(test -d /content/course || git clone -q --depth=1 https://github.com/llm-finetuning-course/course /content/course) && ln -sfn /content/course/course_utils /content/course_utils"): raise RuntimeError("Could not download the course from https://github.com/llm-finetuning-course/course: check the runtime's internet connection and run this cell again.")
from course_utils import setup  # course_utils/runtime_setup.py: install, Drive, doctor()
profile = setup()

# %% [markdown]
# ## 1. 토큰화, 인코딩, 디코딩
# - `tokenize`: 텍스트 → 토큰 문자열 (모델이 보는 조각)
# - `encode`: 텍스트 → 토큰 id (특수 토큰 포함 여부는 `add_special_tokens`로 정함)
# - `decode`: id → 텍스트
#
# 바이트 단위 BPE(BBPE) 토크나이저는 어떤 글자든 UTF-8 바이트로 쪼갤 수 있어서, 한국어도 **정확히** 되돌아옵니다.

# %%
from transformers import AutoTokenizer

from course_utils.offline_model import resolve_model  # course_utils/offline_model.py: Hub id or offline stand-in

tokenizer = AutoTokenizer.from_pretrained(resolve_model(profile.chat_model, profile))
text = "LLM 중에서 가장 유명한 LLM은 뭐야?"
ids = tokenizer.encode(text, add_special_tokens=False)
print("토큰:", tokenizer.tokenize(text))
print("id  :", ids)
print("토큰 수:", len(ids), "| 글자 수:", len(text))
print("decode가 원문과 같은가:", tokenizer.decode(ids) == text)

# %% [markdown]
# ## 2. 특수 토큰: bos, eos, pad, unk
# 특수 토큰은 문장의 시작(bos), 끝(eos), 채움(pad), 모르는 글자(unk)를 표시합니다. 모델마다 이름과 id가 다릅니다.

# %%
for role in ("bos_token", "eos_token", "pad_token", "unk_token"):
    token = getattr(tokenizer, role)
    print(f"{role:<10} {token!r:<28} id={tokenizer.convert_tokens_to_ids(token) if token else None}")
print("특수 토큰 전체:", tokenizer.all_special_tokens[:12])

# %% [markdown]
# ## 3. 왜 pad가 필요하고, 왜 pad의 손실은 무시되는가
# 여러 문장을 한 번에(batch) 처리하려면 길이를 맞춰야 하므로 짧은 문장 뒤를 pad로 채웁니다.
# `attention_mask`는 모델이 pad를 보지 않게 하고, 레이블의 pad 자리는 `-100`으로 바꿔 **손실 계산에서 빼야** 합니다. 그렇지 않으면 모델이 "pad를 예측하는 법"을 배우느라 학습이 흐려집니다.

# %%
from course_utils.models import load_tokenizer  # course_utils/models.py: a profile's model and tokenizer

tokenizer = load_tokenizer(profile.chat_model, profile)  # pad = the profile's reserved token, not EOS
batch = tokenizer(["안녕하세요", "토크나이저는 텍스트를 토큰으로 나눕니다."], padding=True, return_tensors="pt")
labels = batch["input_ids"].masked_fill(batch["attention_mask"] == 0, -100)
print("pad 토큰:", repr(tokenizer.pad_token), "| padding_side:", tokenizer.padding_side)
print("input_ids     :", batch["input_ids"][0].tolist())
print("attention_mask:", batch["attention_mask"][0].tolist())
print("labels        :", labels[0].tolist())

# %% [markdown]
# ## 4. pad를 EOS와 같게 두면 생기는 일
# 흔한 지름길은 `tokenizer.pad_token = tokenizer.eos_token`입니다. 그런데 많은 데이터 콜레이터는 **pad id와 같은 모든 위치**의 레이블을 `-100`으로 지웁니다.
# pad와 eos의 id가 같으면 **진짜 EOS의 레이블도 함께 지워져서**, 모델은 문장을 끝내는 법을 끝내 배우지 못합니다. 직접 세어 봅니다.

# %%
from transformers import DataCollatorForLanguageModeling

training_texts = ["질문: 1+1은? 답: 2", "질문: 대한민국의 수도는? 답: 서울"]


def eos_labels_kept(pad_token: str) -> int:
    """How many EOS tokens still count in the loss when this token pads the batch."""
    tok = AutoTokenizer.from_pretrained(resolve_model(profile.chat_model, profile))
    tok.pad_token = pad_token
    examples = [tok(t + tok.eos_token, add_special_tokens=False) for t in training_texts]
    collated = DataCollatorForLanguageModeling(tok, mlm=False)(examples)
    return int(((collated["input_ids"] == tok.eos_token_id) & (collated["labels"] != -100)).sum())


print("pad = eos            → 손실에 남은 EOS:", eos_labels_kept(tokenizer.eos_token), "/", len(training_texts))
print(f"pad = {profile.pad_token!r} → 손실에 남은 EOS:", eos_labels_kept(profile.pad_token), "/", len(training_texts))

# %% [markdown]
# ## 5. 해결책 두 가지: 예약된 특수 토큰 vs 새 토큰 추가
# - **예약된 특수 토큰을 pad로**: Llama 3에는 `<|reserved_special_token_0|>`부터 `<|reserved_special_token_250|>`까지 쓰이지 않는 특수 토큰이 251개 있습니다. 이미 어휘에 있으므로 임베딩 크기가 그대로이고, LoRA 어댑터만 저장하면 됩니다. 이 과정의 프로필은 이 방법을 씁니다 (`cpu`의 SmolLM2는 `<|endoftext|>`).
# - **`<|pad|>`를 새로 추가**: `add_special_tokens` 뒤에 `resize_token_embeddings`가 필요합니다. 임베딩과 출력층의 크기가 바뀌어서, 어댑터와 함께 이 두 층도 통째로 저장해야 합니다. Llama-3-8B는 입력 임베딩과 출력층이 묶여 있지 않으므로(untied) 128,256 × 4,096 × 2 ≈ **10.5억(1.05 B) 파라미터**, 16-bit(fp16·bf16)로 약 2 GiB입니다(아래에서 직접 계산합니다).
#
# 모양만 보면 되므로 가중치는 불러오지 않습니다. `model_skeleton`은 `config.json`만 읽고 `torch.device("meta")` 위에 모델을 만듭니다:
# 층과 텐서 모양은 진짜와 같지만 값이 없어서 8B 모델도 메모리를 쓰지 않습니다 (16 GB짜리 8B 모델을 Colab의 12.7 GB RAM에 올리려다 멈추는 일이 없습니다).
# 값이 없으니 새 행을 기존 임베딩의 평균으로 채우는 기본 동작(`mean_resizing`)은 끕니다. 실제 가중치가 있는 모델에서는 켜 두세요.

# %%
from course_utils.models import model_skeleton  # course_utils/models.py: a profile's model and tokenizer

RESERVED = "<|reserved_special_token_"
# by the number in the name: sorted as text, "…_9|>" would come after "…_250|>"
reserved = sorted((t for t in tokenizer.get_vocab() if t.startswith(RESERVED)), key=lambda t: int(t[len(RESERVED):-2]))
print(f"예약 특수 토큰 {len(reserved)}개" + (f": {reserved[0]} … {reserved[-1]}" if reserved else ""))
skeleton = model_skeleton(profile.chat_model, profile)
grown = AutoTokenizer.from_pretrained(resolve_model(profile.chat_model, profile))
before = skeleton.get_input_embeddings().weight.shape
added = grown.add_special_tokens({"pad_token": "<|pad|>"})
skeleton.resize_token_embeddings(len(grown), mean_resizing=False)
embeddings, head = skeleton.get_input_embeddings().weight, skeleton.get_output_embeddings().weight
resaved = embeddings.numel() + (0 if head is embeddings else head.numel())  # a tied head shares the same matrix
print(f"예약 토큰 사용: 어휘 {len(tokenizer)} 그대로, 임베딩 {tuple(before)} (장치: {embeddings.device})")
print(f"<|pad|> 추가  : 새 토큰 {added}개, 임베딩 {tuple(before)} → {tuple(embeddings.shape)}")
print(f"어댑터와 함께 다시 저장할 파라미터: {resaved:,} ({resaved / 1e9:.2f} B, 입력 임베딩{' + 출력층' if head is not embeddings else ', 출력층과 공유'})")

# %% [markdown]
# ## 6. 학습 텍스트 끝의 EOS
# 모델은 학습 데이터에서 본 대로 멈춥니다. 학습 텍스트 끝에 EOS가 있으면 "답을 다 했으면 EOS"를 배우고, `generate()`는 EOS가 나오는 순간 멈춥니다.
# EOS 없이 학습한 모델은 멈출 신호를 배우지 못해서 `max_new_tokens`를 다 채울 때까지 계속 말합니다 (다음 질문을 지어내는 일이 흔합니다).
# 대화형으로 학습된 이 모델이 EOS에서 멈추는지 확인해 봅니다.
#
# 이번에는 생성해야 하므로 가중치가 필요합니다. GPU 프로필의 8B 모델은 16비트로 16 GB라서 T4(15 GB)에도 Colab RAM(12.7 GB)에도 들어가지 않습니다.
# 그래서 `load_causal_lm`으로 프로필의 4-bit nf4 설정과 `device_map={"": 0}`(모든 층을 0번 GPU에)으로 불러옵니다 (약 5.5 GB; 양자화는 03강).
# transformers 5는 언제나 메모리를 아끼며 불러옵니다 (`low_cpu_mem_usage` 인자는 없어지고 항상 켜진 셈입니다): safetensors 파일을 메모리 매핑하고
# 텐서를 하나씩 GPU로 옮기며 양자화하므로, 모델 전체가 CPU RAM에 올라가지 않습니다. 아래 출력의 최대 프로세스 메모리로 확인하세요. `cpu` 프로필은 SmolLM2를 fp32로 불러옵니다.

# %%
from course_utils.chat_format import chat_text  # course_utils/chat_format.py: chat-template prompts
from course_utils.measure import measure  # course_utils/measure.py: time and peak memory
from course_utils.models import load_causal_lm  # course_utils/models.py: a profile's model and tokenizer

with measure(f"{profile.chat_model} 불러오기 ({'4-bit nf4' if profile.load_in_4bit else profile.dtype_name})"):
    model = load_causal_lm(profile.chat_model, profile)
inputs = tokenizer(chat_text(tokenizer, "What is the capital of France?"), return_tensors="pt", add_special_tokens=False).to(model.device)
output = model.generate(**inputs, max_new_tokens=60, do_sample=False, pad_token_id=tokenizer.pad_token_id)
new_tokens = output[0, inputs["input_ids"].shape[1]:]
print(tokenizer.decode(new_tokens))
print(f"새 토큰 {len(new_tokens)}개 (상한 60) | 마지막 토큰이 EOS인가: {int(new_tokens[-1]) == tokenizer.eos_token_id}")

# %% [markdown]
# 채팅 모델은 **턴 끝 토큰**에서 멈춰야 합니다. SmolLM2(`cpu`)는 턴 끝 `<|im_end|>`가 곧 EOS입니다. Llama 3 계열에는 글 끝
# `<|end_of_text|>`와 턴 끝 `<|eot_id|>`가 따로 있고, 그중 어느 것이 토크나이저의 EOS인지는 저장소와 그 버전에 따라 다릅니다
# (Meta는 2024년 5월에 Instruct 저장소 토크나이저의 EOS를 `<|end_of_text|>`에서 `<|eot_id|>`로 바꾸었습니다). 턴 끝이 EOS가 아닌
# 모델에 EOS만 넘기면 답이 턴 끝을 지나 다음 턴을 지어냅니다. 그래서 짐작하지 말고, 불러온 토크나이저와 모델의
# `generation_config`가 무엇을 끝으로 삼는지 출력해 봅니다. `course_utils.generation.stop_token_ids`는 둘에 채팅 템플릿의 턴 끝
# 토큰을 더해 멈춤 목록을 만들고, 강의의 `generate`는 언제나 이것을 씁니다.

# %%
from course_utils.generation import stop_token_ids  # course_utils/generation.py: batched greedy generation

configured = model.generation_config.eos_token_id
configured = configured if isinstance(configured, list) else [configured]
print(f"토크나이저의 EOS           : {tokenizer.eos_token!r} (id {tokenizer.eos_token_id})")
print("generation_config의 EOS    :", [(i, tokenizer.convert_ids_to_tokens(i)) for i in configured if i is not None])
print("멈춤 토큰 (stop_token_ids) :", [(i, tokenizer.convert_ids_to_tokens(i)) for i in stop_token_ids(tokenizer, model)])

# %% [markdown]
# 학습용 텍스트는 그래서 항상 `... + tokenizer.eos_token`으로 끝납니다 (05강의 Alpaca 프롬프트도 같습니다). 토큰으로 보면 마지막 id가 EOS입니다.

# %%
from course_utils.prompts import alpaca_text  # course_utils/prompts.py: the one Alpaca prompt

sample = alpaca_text("한국의 수도는?", "서울입니다.", eos_token=tokenizer.eos_token)
print(sample)
sample_ids = tokenizer(sample, add_special_tokens=False)["input_ids"]
print("마지막 토큰:", repr(tokenizer.convert_ids_to_tokens(sample_ids[-1])), "== eos:", sample_ids[-1] == tokenizer.eos_token_id)

# %% [markdown]
# ## 7. 채팅 템플릿 (`apply_chat_template`)
# 채팅 모델은 역할(system, user, assistant)을 특수 토큰으로 감싼 **정해진 형식**으로 학습되었습니다. 형식을 손으로 만들면 오타 하나로 성능이 떨어지므로, 토크나이저에 저장된 Jinja 템플릿을 씁니다.
# `add_generation_prompt=True`는 끝에 "이제 assistant 차례"라는 머리말을 붙여 모델이 답을 시작하게 합니다.

# %%
messages = [
    {"role": "system", "content": "당신은 친절한 한국어 비서입니다."},
    {"role": "user", "content": "토크나이저가 뭐야?"},
]
print(tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True))

# %% [markdown]
# Llama 3 계열(GPU 프로필)은 같은 대화를 `<|start_header_id|>system<|end_header_id|>\n\n...<|eot_id|>` 형식으로, SmolLM2(`cpu`)는 `<|im_start|>system ... <|im_end|>`(ChatML) 형식으로 만듭니다. 같은 함수 호출이 모델마다 맞는 형식을 만들어 주는 것이 템플릿의 장점입니다.
#
# ## 8. 한국어 압축률: 같은 뜻, 다른 토큰 수
# 토큰이 많을수록 학습과 생성이 느리고, 같은 `max_length`에 담기는 내용이 줄어듭니다. 같은 뜻의 한국어와 영어 문장을 프로필의 토크나이저들로 세어 봅니다. UTF-8 바이트 수는 "토크나이저가 아무것도 합치지 못할 때"의 기준선입니다.
#
# EXAONE-3.0의 `config.json`은 저장소의 파이썬 코드(`auto_map`)를 가리키고, transformers 5.23에는 `exaone` 구조가 없습니다. 그래서
# `trust_remote_code`를 비워 두면 `AutoTokenizer`가 "Do you wish to run the custom code? [y/N]"라고 묻고 답을 기다립니다(`y`면 그 코드를
# 내려받아 실행합니다). 토크나이저 파일에는 코드가 필요 없으므로 `load_published_tokenizer`는 `trust_remote_code=False`를 넘겨 묻지 않고
# 거절합니다(`course_utils/special_tokens.py`). 이때 "`exaone` 유형의 모델" 경고가 한 번 나올 수 있는데, 그 구조를 모른다는 뜻일 뿐입니다.

# %%
pairs = [
    ("LLM 중에서 가장 유명한 LLM은 뭐야?", "Which LLM is the most famous among LLMs?"),
    ("오늘 날씨가 좋아서 한강 공원에 산책을 갔다.", "The weather was nice today, so I went for a walk in Hangang Park."),
    ("미세 조정은 사전학습된 모델을 새 과제에 맞추는 과정이다.", "Fine-tuning adapts a pretrained model to a new task."),
]
rows = []
from course_utils.special_tokens import load_published_tokenizer  # course_utils/special_tokens.py: KoGPT2's (lesson 01)

for model_id in profile.tokenizer_models:
    tok = load_published_tokenizer(model_id, profile)
    ko = sum(len(tok.encode(k, add_special_tokens=False)) for k, _ in pairs)
    en = sum(len(tok.encode(e, add_special_tokens=False)) for _, e in pairs)
    rows.append((model_id.split("/")[-1], ko, en))
rows.append(("UTF-8 bytes", sum(len(k.encode()) for k, _ in pairs), sum(len(e.encode()) for _, e in pairs)))
print(f"{'tokenizer':<40}{'ko tokens':>10}{'en tokens':>10}{'ko/en':>8}")
for name, ko, en in rows:
    print(f"{name:<40}{ko:>10}{en:>10}{ko / en:>8.2f}")
ratios = sorted((ko / en, name) for name, ko, en in rows[:-1])  # the tokenizers, without the bytes baseline
print(f"\n이 {len(pairs)}쌍에서 한국어는 영어의 {ratios[0][0]:.2f}배({ratios[0][1]})"
      + (f"에서 {ratios[-1][0]:.2f}배({ratios[-1][1]})" if len(ratios) > 1 else "") + "의 토큰을 씁니다.")

# %%
import matplotlib.pyplot as plt

fig, ax = plt.subplots(figsize=(7, 3))
names = [name for name, _, _ in rows]
ax.barh([i + 0.2 for i in range(len(rows))], [ko for _, ko, _ in rows], height=0.4, label="Korean")
ax.barh([i - 0.2 for i in range(len(rows))], [en for _, _, en in rows], height=0.4, label="English")
ax.set_yticks(range(len(rows)), names)
ax.set_xlabel("tokens for the same three sentences")
ax.legend()
plt.show()

# %% [markdown]
# ## 요약
# - 토크나이저는 텍스트 ↔ id를 오가며, BBPE는 한국어도 정확히 되돌린다.
# - pad는 배치를 맞추기 위한 채움이고, 그 자리의 레이블은 `-100`으로 손실에서 뺀다.
# - pad를 EOS와 같게 두면 콜레이터가 진짜 EOS까지 지워 모델이 멈추는 법을 못 배운다. 예약된 특수 토큰을 pad로 쓰면 임베딩을 바꿀 필요도 없다.
# - 학습 텍스트는 EOS로 끝나야 하고, 대화 형식은 `apply_chat_template`로 만든다.
# - 같은 뜻이라도 한국어가 영어보다 토큰을 얼마나 더 쓰는지는 토크나이저마다 다르다(8절 표의 `ko/en`): 모델 선택과 `max_length`에 영향을 준다.
#
# ## 연습 문제
# - **기초**: 여러분의 이름과 좋아하는 문장을 `tokenize`해 보고, 한 글자가 몇 개의 토큰이 되는지 세어 보세요.
# - **응용**: `eos_labels_kept`를 바꿔 `DataCollatorForLanguageModeling` 대신 직접 레이블을 만들고(pad 위치만 `-100`), pad = eos여도 EOS가 남게 해 보세요.
# - **도전**: 한국어 문장 20개로 토크나이저별 "글자당 토큰 수"를 재고, 어떤 토크나이저로 학습하면 같은 `max_length`에 한국어를 가장 많이 담을 수 있는지 설명해 보세요.

# %% tags=["solution"]
# 풀이 (기초): 글자 수와 토큰 수를 나란히 봅니다. 한글 한 글자가 여러 토큰이 되는 경우가 보입니다.
for text in ("김민지", "Kim Minji", "나는 바다를 좋아한다."):
    pieces = tokenizer.tokenize(text)
    print(f"{text!r}: 글자 {len(text)}, 토큰 {len(pieces)} ({len(pieces) / len(text):.2f}/글자) {pieces}")

# %% tags=["solution"]
# 풀이 (응용): pad 위치(attention_mask == 0)만 -100으로 지우면 pad = eos여도 진짜 EOS는 레이블에 남습니다.
def eos_labels_kept_by_mask(pad_token: str) -> int:
    """Like eos_labels_kept, but labels are masked by attention_mask instead of by the pad id."""
    tok = AutoTokenizer.from_pretrained(resolve_model(profile.chat_model, profile))
    tok.pad_token = pad_token
    batch = tok([t + tok.eos_token for t in training_texts], add_special_tokens=False, padding=True, return_tensors="pt")
    labels = batch["input_ids"].masked_fill(batch["attention_mask"] == 0, -100)
    return int(((batch["input_ids"] == tok.eos_token_id) & (labels != -100)).sum())


print("pad = eos, 마스크로 레이블:", eos_labels_kept_by_mask(tokenizer.eos_token), "/", len(training_texts))
assert eos_labels_kept_by_mask(tokenizer.eos_token) == len(training_texts)

# %% tags=["solution"]
# 풀이 (도전): 한국어 문장당 글자당 토큰 수. 값이 작은 토크나이저가 같은 max_length에 한국어를 더 많이 담습니다.
korean = [k for k, _ in pairs] + ["한국어 문장을 토큰으로 나누면 길이가 달라진다.", "김치찌개는 돼지고기와 두부를 넣어 끓인다."] * 9
for model_id in profile.tokenizer_models:
    tok = load_published_tokenizer(model_id, profile)  # KoGPT2 needs its hand-set tokens (section 8)
    tokens = sum(len(tok.encode(k, add_special_tokens=False)) for k in korean)
    print(f"{model_id.split('/')[-1]:<40} 글자당 토큰 {tokens / sum(len(k) for k in korean):.2f} ({len(korean)}문장)")

