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
# # 01. `pipeline()`으로 시작하기: 생성, 번역, 감성 분석
#
# [![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)](https://colab.research.google.com/github/llm-finetuning-course/course/blob/main/notebooks/01_pipelines.ipynb)
#
# ## 학습 목표
# - `pipeline()` 한 줄로 텍스트 생성, 한↔영 번역, 한국어 감성 분석을 실행한다.
# - 디코딩 파라미터 `do_sample`, `temperature`, `top_k`, `top_p`, `max_new_tokens`가 무엇을 바꾸는지 직접 측정한다.
# - 분류 헤드가 학습되지 않은 모델이 왜 "그럴듯한 무작위" 결과를 내는지 확인하고, 피하는 법을 익힌다.
# - `device`와 `device_map`의 차이를 안다.
#
# ## 소요 시간과 하드웨어
# | 프로필 | 하드웨어 | 모델 | 시간 |
# |---|---|---|---|
# | `cpu` | CPU 2코어, 인터넷 없음 | SmolLM2-135M-Instruct (오프라인) | 약 1분 |
# | `t4` | Colab T4 | kogpt2, NLLB-600M, 학습된 NSMC 감성 모델 | 학습 없음; T4에서 잰 적 없음 (다운로드 약 4.2 GB) |
# | `a100` | A100 / L4 / H100 | 위와 같음 | 약 3분 |

# %%
# Colab: 강의 저장소(코드, data/, 버전 고정)를 `/content/course`에 한 번 받아 그 `course_utils`를 노트북이 찾는 `/content`에 잇고,
# `setup()`이 이 런타임에 빠진 패키지를 설치합니다(Colab의 torch는 그대로).
# 로컬에서는 `make`가 이미 설치했으므로 `setup()`은 환경 점검(doctor)만 출력합니다.
import os
if "COLAB_RELEASE_TAG" in os.environ and os.system("(test -d /content/course || git clone -q --depth=1 https://github.com/llm-finetuning-course/course /content/course) && ln -sfn /content/course/course_utils /content/course_utils"): raise RuntimeError("Could not download the course from https://github.com/llm-finetuning-course/course: check the runtime's internet connection and run this cell again.")
from course_utils import setup  # course_utils/runtime_setup.py: install, Drive, doctor()
profile = setup()

# %% [markdown]
# ## 1. `pipeline()`이 하는 일
# `pipeline(task, model=...)`은 세 단계를 묶습니다: **토크나이저**(텍스트 → 토큰 id), **모델**(id → 다음 토큰 점수), **후처리**(점수 → 텍스트나 레이블).
#
# 어디서 실행할지는 두 가지로 정합니다.
# - `device=0` 또는 `device="cpu"`: 모델 전체를 한 장치에 올립니다. 작은 모델에 충분합니다.
# - `device_map="auto"`: accelerate가 모델을 GPU(여러 장)와 CPU에 나눠 올립니다. GPU 하나에 다 들어가지 않는 큰 모델용입니다.
#
# 모델 이름은 프로필에서 옵니다. `cpu` 프로필에는 Hub가 없으므로 `resolve_model`이 패키지로 설치된 SmolLM2를 대신 쓰고, 그렇다고 출력에 알립니다.
#
# 토크나이저는 따로 불러 넘깁니다. GPU 프로필의 `skt/kogpt2-base-v2` 저장소에는 `tokenizer_config.json`이 없어서, 모델 카드가 특수 토큰을 손으로 지정합니다:
# `PreTrainedTokenizerFast.from_pretrained(..., bos_token='</s>', eos_token='</s>', unk_token='<unk>', pad_token='<pad>', mask_token='<mask>')`.
# 그냥 `AutoTokenizer`로 부르면 transformers 5는 `config.json`의 `model_type: gpt2`를 보고 GPT-2의 바이트 단위 토크나이저를 다시 조립하는데,
# KoGPT2 어휘(`▁`로 시작하는 조각)와 맞지 않아 한국어가 엉뚱하게 쪼개지고, 어휘에 없는 `<|endoftext|>`가 EOS가 됩니다.
# `course_utils.special_tokens`는 이런 모델의 특수 토큰을 모델 카드대로 한 곳(`HAND_SET_SPECIAL_TOKENS`)에 적어 두고 그대로 불러옵니다.

# %%
import torch
from transformers import pipeline, set_seed

from course_utils.offline_model import resolve_model  # course_utils/offline_model.py: Hub id or offline stand-in
# course_utils/special_tokens.py: hand-set special tokens
from course_utils.special_tokens import HAND_SET_SPECIAL_TOKENS, load_published_tokenizer

device = 0 if profile.device == "cuda" else "cpu"
print("모델 카드가 손으로 정한 특수 토큰:", HAND_SET_SPECIAL_TOKENS)
generation_tokenizer = load_published_tokenizer(profile.generation_model, profile)
generator = pipeline("text-generation", model=resolve_model(profile.generation_model, profile), tokenizer=generation_tokenizer,
                     dtype=profile.compute_dtype, device=device)
print("실행한 모델:", generator.model.config._name_or_path, "| 파라미터", f"{generator.model.num_parameters() / 1e6:.0f}M")
print("EOS:", repr(generation_tokenizer.eos_token), generation_tokenizer.eos_token_id, "| 한국어 조각:", generation_tokenizer.tokenize("인공지능이 바꿀 미래"))

# %% [markdown]
# ## 2. 탐욕적(greedy) 디코딩: 같은 입력이면 언제나 같은 출력
# `do_sample=False`는 매 단계 확률이 가장 높은 토큰 하나를 고릅니다. 두 번 실행해도 결과가 같습니다.
# `max_new_tokens`는 새로 만들 토큰 수의 상한입니다 (프롬프트 길이는 세지 않습니다).
#
# 주의: `text-generation` 파이프라인은 모델의 generation config가 따로 정하지 않으면 **기본으로 샘플링**합니다 (`do_sample=True`, `temperature=0.7`). 그래서 재현 가능한 결과가 필요하면 `do_sample=False`를 직접 적어야 합니다.

# %%
prompt = "인공지능이 바꿀 미래의 교실은" if profile.generation_model != profile.chat_model else "The classroom of the future will"
first = generator(prompt, max_new_tokens=20, do_sample=False)[0]["generated_text"]
second = generator(prompt, max_new_tokens=20, do_sample=False)[0]["generated_text"]
print(first)
print("do_sample=False 두 번의 결과가 같은가:", first == second)
set_seed(1)
default_a = generator(prompt, max_new_tokens=20)[0]["generated_text"]
set_seed(2)
default_b = generator(prompt, max_new_tokens=20)[0]["generated_text"]
print("파이프라인 기본값(샘플링) 두 번의 결과가 같은가:", default_a == default_b)

# %% [markdown]
# ## 3. 원래 강의의 함정: `do_sample` 없이 `temperature`만 주기
# 원래 강의는 `model.generate(..., temperature=0.05)`로 "거의 결정적인 답"을 기대했습니다. 하지만 `generate()`는 인자로 주지 않은 값을 모델의 `generation_config`(모델 폴더의 `generation_config.json`)에서 가져옵니다. 이 노트북의 모델처럼 `do_sample`이 적혀 있지 않으면 greedy(`do_sample=False`)이고, 그때 temperature는 **쓰이지 않습니다**. 반대로 Llama-3-Instruct 계열은 `do_sample=True, temperature=0.6, top_p=0.9`를 적어 두므로 같은 호출이 **샘플링**합니다. 어느 쪽인지는 `model.generation_config`를 출력해 보면 압니다.
# greedy는 원래 가장 높은 확률의 토큰만 고르므로, 분포를 날카롭게 하든 평평하게 하든 1등은 그대로입니다. transformers도 `The following generation flags are not valid and may be ignored: ['temperature']`라고 경고합니다.
# 결정적인 답을 원하면 `do_sample=False`, 다양한 답을 원하면 `do_sample=True`와 함께 `temperature`를 주세요.

# %%
tokenizer, model = generator.tokenizer, generator.model
inputs = tokenizer(prompt, return_tensors="pt").to(model.device)
greedy_ids = model.generate(**inputs, max_new_tokens=20, do_sample=False, pad_token_id=tokenizer.eos_token_id)
seed_style_ids = model.generate(**inputs, max_new_tokens=20, temperature=0.05, pad_token_id=tokenizer.eos_token_id)
print("이 모델의 generation_config.do_sample:", model.generation_config.do_sample)
print("temperature=0.05 (do_sample 없음) == greedy:", torch.equal(greedy_ids, seed_style_ids))

# %% [markdown]
# ## 4. 샘플링: `temperature`, `top_k`, `top_p`
# `do_sample=True`일 때만 다음 토큰을 확률에 따라 **뽑습니다**.
# - `temperature`: 점수(logit)를 나누는 값. 1보다 작으면 분포가 뾰족해지고(보수적), 크면 평평해집니다(다양하지만 엉뚱함).
# - `top_k`: 확률 상위 k개 토큰만 후보로 남깁니다.
# - `top_p`: 누적 확률이 p가 될 때까지의 토큰만 남깁니다 (nucleus sampling).
#
# 먼저 다음 토큰 분포가 temperature에 따라 어떻게 변하는지 실제 모델 점수로 그려 봅니다.

# %%
import matplotlib.pyplot as plt

with torch.no_grad():
    logits = model(**tokenizer(prompt, return_tensors="pt").to(model.device)).logits[0, -1].float()
top_ids = logits.topk(8).indices
fig, ax = plt.subplots(figsize=(8, 3))
for i, temperature in enumerate((0.5, 1.0, 1.5)):
    probs = torch.softmax(logits / temperature, dim=-1)[top_ids].cpu()
    ax.bar([x + i * 0.27 for x in range(8)], probs, width=0.27, label=f"temperature={temperature}")
ax.set_xticks([x + 0.27 for x in range(8)], [repr(tokenizer.decode(int(t))) for t in top_ids], rotation=30)
ax.set_ylabel("probability")
ax.legend()
plt.show()

# %% [markdown]
# 이제 같은 프롬프트로 세 번씩 샘플링해서, 설정마다 서로 다른 답이 몇 개 나오는지 셉니다. `set_seed`로 재현 가능하게 합니다.

# %%
settings = {
    "temperature=0.3": dict(temperature=0.3),
    "temperature=1.0": dict(temperature=1.0),
    "temperature=1.0, top_k=5": dict(temperature=1.0, top_k=5),
    "temperature=1.0, top_p=0.5": dict(temperature=1.0, top_p=0.5),
}
for name, kwargs in settings.items():
    set_seed(42)
    outputs = generator(prompt, max_new_tokens=12, do_sample=True, num_return_sequences=3, **kwargs)
    texts = [o["generated_text"][len(prompt):] for o in outputs]
    print(f"{name:<28} 서로 다른 답 {len(set(texts))}/3 | 예: {texts[0]!r}")

# %% [markdown]
# ## 5. 번역 (한 → 영, 영 → 한)
# GPU 프로필은 원래 강의와 같은 번역 전용 모델 `facebook/nllb-200-distilled-600M`을 씁니다 (언어 코드 `kor_Hang`, `eng_Latn`).
# 원래 강의의 `pipeline("translation", ...)`은 transformers 5에서 **없어졌습니다** (`translation`, `summarization`, `text2text-generation` 과제가 빠져서
# `KeyError`가 나고, 오류 문구는 채팅 모델과 `text-generation`을 권합니다). NLLB 같은 인코더-디코더 모델은 이제 `AutoModelForSeq2SeqLM`과
# `generate()`로 직접 씁니다. 그 파이프라인이 하던 일은 두 가지뿐입니다: 원문 앞에 원문 언어 토큰을 붙이고(`tokenizer.src_lang`),
# 디코더의 첫 토큰을 목표 언어 토큰으로 강제합니다(`forced_bos_token_id`). `course_utils.translation.translate`가 그 몇 줄입니다:
# `cpu` 프로필에는 번역 전용 모델이 없으므로, 지시를 따르는 채팅 모델에 "번역해 줘"라고 부탁합니다. 135M짜리 작은 모델이라 한국어 번역은 서툽니다: 출력에서 직접 확인하세요. 모델 크기와 학습 데이터가 품질을 정한다는 좋은 예입니다.

# %%
import inspect

from course_utils.translation import translate  # course_utils/translation.py: encoder-decoder translation

print(inspect.getsource(translate))

# %%
sentences = {"ko": "오늘은 날씨가 맑아서 공원에 산책을 갔다.", "en": "Fine-tuning adapts a pretrained model to a new task."}

if profile.translation_model != profile.chat_model:
    from transformers import AutoModelForSeq2SeqLM, AutoTokenizer

    nllb_source = resolve_model(profile.translation_model, profile)
    nllb_tokenizer = AutoTokenizer.from_pretrained(nllb_source)
    nllb = AutoModelForSeq2SeqLM.from_pretrained(nllb_source, dtype=profile.compute_dtype).to(device).eval()
    print("ko→en:", translate(nllb, nllb_tokenizer, [sentences["ko"]], src_lang="kor_Hang", tgt_lang="eng_Latn")[0])
    print("en→ko:", translate(nllb, nllb_tokenizer, [sentences["en"]], src_lang="eng_Latn", tgt_lang="kor_Hang")[0])
else:
    chat = pipeline("text-generation", model=resolve_model(profile.chat_model, profile), dtype=profile.compute_dtype, device=device)
    for source, target in (("ko", "English"), ("en", "Korean")):
        messages = [{"role": "user", "content": f"Translate into {target}: {sentences[source]}"}]
        answer = chat(messages, max_new_tokens=40, do_sample=False)[0]["generated_text"][-1]["content"]
        print(f"{source}→{target}: {answer}")

# %% [markdown]
# ## 6. 감성 분석의 함정: 학습되지 않은 분류 헤드
# 원래 강의는 `beomi/KcELECTRA-base-v2022`를 `text-classification` 파이프라인에 바로 넣었습니다. 이 모델은 **사전학습만** 된 모델이라 분류 헤드가 없습니다.
# transformers는 헤드를 **무작위로 새로 만들고** 그대로 예측하므로, 레이블은 문장과 상관이 없습니다: 점수가 문장마다 비슷하고 예측이 한 레이블로 몰리기 쉽습니다 (0.5 근처라는 보장도 없습니다. 아래 출력을 보세요).
# transformers 5는 이것을 불러올 때 **LOAD REPORT** 표로 알립니다: 헤드 텐서(ELECTRA는 `classifier.*`, `cpu`의 SmolLM2는 `score.weight`)가
# `Status`가 `MISSING`인 줄로 나오고, 아래 메모에 "체크포인트에 없어서 새로 초기화했다"고 적힙니다. 로그는 놓치기 쉬우므로
# `output_loading_info=True`로 같은 목록(`missing_keys`)을 코드에서 받아 확인합니다.
# `cpu` 프로필에서도 똑같은 일을 재현할 수 있습니다: 생성 모델에 분류 헤드를 붙이면 그 헤드 역시 무작위입니다. 정답이 분명한 문장으로 정확도를 재 봅니다.

# %%
reviews = [
    ("이 영화 정말 최고였어요, 또 보고 싶어요!", 1), ("배우들 연기가 훌륭하고 감동적이었다.", 1),
    ("시간 낭비였다. 너무 지루하다.", 0), ("최악의 서비스, 다시는 안 갑니다.", 0),
    ("I absolutely loved this film.", 1), ("What a wonderful, heartwarming story.", 1),
    ("This was a boring waste of money.", 0), ("Terrible acting and a awful plot.", 0),
]
from transformers import AutoModelForSequenceClassification, AutoTokenizer

seed_sentiment_model = "beomi/KcELECTRA-base-v2022"  # pretrained only: no trained classification head
seed_source = resolve_model(seed_sentiment_model, profile)
head_model, loading = AutoModelForSequenceClassification.from_pretrained(seed_source, output_loading_info=True)
print("체크포인트에 없어 무작위로 만든 텐서 (LOAD REPORT의 MISSING):", sorted(loading["missing_keys"]))
untrained = pipeline("text-classification", model=head_model, tokenizer=AutoTokenizer.from_pretrained(seed_source), device=device)
# batches need the pad id in the model's config; BERT and ELECTRA pad with id 0, which `or` would wrongly skip
untrained.model.config.pad_token_id = (untrained.tokenizer.pad_token_id if untrained.tokenizer.pad_token_id is not None
                                       else untrained.tokenizer.eos_token_id)
predictions = untrained([text for text, _ in reviews])
for (text, label), pred in zip(reviews, predictions):
    print(f"정답 {label} | 예측 {pred['label']} ({pred['score']:.2f}) | {text}")
scores = [p["score"] for p in predictions]
print(f"점수 범위 {min(scores):.2f}~{max(scores):.2f}: 헤드가 학습되지 않았다는 신호입니다.")

# %% [markdown]
# **피하는 법**: 모델 카드에서 "fine-tuned on NSMC"처럼 *분류 과제로 학습되었다*는 말과 `id2label`의 의미 있는 레이블(예: `positive`/`negative`)을 확인하고, 로드할 때 LOAD REPORT에 헤드가 `MISSING`으로 나오면(`missing_keys`가 비어 있지 않으면) 그 모델로 예측하지 않습니다.
#
# GPU 프로필은 NSMC(네이버 영화 리뷰)로 학습된 `sangrimlee/bert-base-multilingual-cased-nsmc`를 씁니다.
# `cpu` 프로필에서는 지시를 따르는 채팅 모델에게 묻고, 답의 첫 토큰으로 `positive`와 `negative` 중 어느 쪽 점수가 높은지 비교합니다 (zero-shot 분류).

# %%
def zero_shot_sentiment(text: str) -> int:
    """1 if the chat model scores 'positive' above 'negative' as its first answer token."""
    messages = [{"role": "user", "content": f"Is the sentiment of this review positive or negative? Answer with one word.\nReview: {text}"}]
    ids = tokenizer.apply_chat_template(messages, add_generation_prompt=True, return_tensors="pt", return_dict=True).to(chat_model.device)
    with torch.no_grad():
        next_token = chat_model(**ids).logits[0, -1]
    positive, negative = (tokenizer.encode(word, add_special_tokens=False)[0] for word in ("positive", "negative"))
    return int(next_token[positive] > next_token[negative])


if profile.sentiment_model != profile.chat_model:
    trained_source = resolve_model(profile.sentiment_model, profile)
    trained_model, trained_loading = AutoModelForSequenceClassification.from_pretrained(trained_source, output_loading_info=True)
    print(trained_model.config.id2label, "| 무작위로 만든 텐서:", sorted(trained_loading["missing_keys"]) or "없음")
    trained = pipeline("text-classification", model=trained_model, tokenizer=AutoTokenizer.from_pretrained(trained_source), device=device)
    predicted = [int(p["label"].lower() in ("1", "label_1", "positive")) for p in trained([t for t, _ in reviews])]
else:
    chat_model = pipeline("text-generation", model=resolve_model(profile.chat_model, profile), dtype=profile.compute_dtype, device=device).model
    predicted = [zero_shot_sentiment(text) for text, _ in reviews]
untrained_predicted = [int(p["label"] in ("LABEL_1", "positive")) for p in predictions]
accuracy = lambda preds: sum(p == label for p, (_, label) in zip(preds, reviews)) / len(reviews)
print(f"학습 안 된 헤드 정확도: {accuracy(untrained_predicted):.0%} | 고친 방법 정확도: {accuracy(predicted):.0%}")

# %% [markdown]
# ## 요약
# - `pipeline()`은 토크나이저, 모델, 후처리를 한 번에 묶는다. `device`는 한 장치, `device_map="auto"`는 여러 장치에 나눠 싣는다.
# - `do_sample=False`(greedy)는 결정적이다. `temperature`, `top_k`, `top_p`는 `do_sample=True`일 때만 효과가 있다.
# - `generate()`의 기본값은 모델의 `generation_config`가 정한다(Llama-3-Instruct는 샘플링): 원하는 쪽을 항상 `do_sample`로 직접 적자.
# - 분류 헤드가 학습되지 않은 모델은 문장과 상관없는 비슷한 점수를 낸다(정확도는 우연 수준). 모델 카드와 LOAD REPORT의 `MISSING` 줄(`missing_keys`)을 확인하자.
# - transformers 5에는 `translation` 파이프라인이 없다. NLLB는 `AutoModelForSeq2SeqLM`과 `generate(forced_bos_token_id=...)`로 쓴다.
# - `tokenizer_config.json`이 없는 모델(KoGPT2)은 모델 카드대로 특수 토큰을 지정해 불러야 한다.
# - 작은 모델은 번역과 한국어에 약하다. 과제에 맞는 모델(번역 전용, 감성 분류로 학습된 모델)을 고르는 것이 먼저다.
#
# ## 연습 문제
# - **기초**: `max_new_tokens`를 10, 50으로 바꿔 생성해 보고, 출력 길이가 어떻게 달라지는지 토큰 수로 세어 보세요.
# - **응용**: `temperature`를 0.1부터 2.0까지 바꾸며 세 번씩 샘플링하고, 서로 다른 답의 개수를 그래프로 그려 보세요.
# - **도전**: 감성 예문을 20개로 늘리고(한국어 10, 영어 10), 언어별 정확도(cpu: zero-shot, GPU 프로필: NSMC로 학습된 분류 모델)를 따로 재 보세요. 어느 언어에서 왜 더 약한가요?

# %% tags=["solution"]
# 풀이 (기초): 새로 만든 부분만 받아(return_full_text=False) 토큰으로 셉니다. EOS가 먼저 나오면 상한보다 짧습니다.
for limit in (10, 50):
    text = generator(prompt, max_new_tokens=limit, do_sample=False, return_full_text=False)[0]["generated_text"]
    print(f"max_new_tokens={limit}: 새 토큰 {len(tokenizer(text, add_special_tokens=False)['input_ids'])}개 | {text[:60]!r}")

# %% tags=["solution"]
# 풀이 (응용): temperature가 오를수록 서로 다른 답이 늘어납니다(세 번 중 몇 개가 다른지).
temperatures = [0.1, 0.5, 1.0, 1.5, 2.0]
distinct = []
for temperature in temperatures:
    set_seed(0)
    outputs = generator(prompt, max_new_tokens=8, do_sample=True, temperature=temperature, num_return_sequences=3, return_full_text=False)
    distinct.append(len({o["generated_text"] for o in outputs}))
fig, ax = plt.subplots(figsize=(5, 2.5))
ax.plot(temperatures, distinct, "-o")
ax.set_xlabel("temperature")
ax.set_ylabel("distinct answers / 3")
plt.show()

# %% tags=["solution"]
# 풀이 (도전): 20문장(한국어 10, 영어 10)의 언어별 정확도와 95 % Wilson 구간. 10문장이면 한 문장이 10 %p입니다.
from course_utils.evaluation import wilson_interval, with_interval  # course_utils/evaluation.py: scoring answers

more_reviews = [
    ("음식이 맛있고 직원도 친절했어요.", 1), ("배송이 빨라서 만족합니다.", 1), ("노래가 너무 좋아서 계속 듣고 있어요.", 1),
    ("기대 이상이었어요, 추천합니다.", 1), ("화면이 금방 깨져서 실망했어요.", 0), ("소리가 작고 품질이 나빠요.", 0),
    ("The hotel room was clean and the staff were kind.", 1), ("Great value, I would buy it again.", 1),
    ("A delightful book from start to finish.", 1), ("The battery died after one day.", 0),
    ("Customer support never answered my emails.", 0), ("The food was cold and bland.", 0),
]
all_reviews = reviews + more_reviews
if profile.sentiment_model != profile.chat_model:
    guesses = [int(p["label"].lower() in ("1", "label_1", "positive")) for p in trained([t for t, _ in all_reviews])]
else:
    guesses = [zero_shot_sentiment(text) for text, _ in all_reviews]
for language, is_korean in (("한국어", True), ("영어", False)):
    hits = [g == label for (text, label), g in zip(all_reviews, guesses) if any("가" <= c <= "힣" for c in text) == is_korean]
    print(f"{language}: {sum(hits)}/{len(hits)} = {with_interval(sum(hits) / len(hits), wilson_interval(sum(hits), len(hits)))}")

