"""GPU memory of lesson 09's QLoRA DPO and GRPO on an 8B Llama, estimated term by term from a profile's preset.

An estimate, not a measurement (the GPU rehearsal measures): nf4 weights, the LoRA adapter with its gradients and
optimizer states, activations per token under gradient checkpointing, and for GRPO the KV cache of its generations.
The per-token activation term reproduces the 8.0 GiB measured for lesson 05's t4 preset on 4 rows of 1,024 tokens
(benchmarks/results/sft_benchmark.md, worst case); a test holds that calibration.
"""
from __future__ import annotations

from dataclasses import dataclass

from .profiles import DpoPreset, GrpoPreset

GIB = 2**30


@dataclass(frozen=True)
class ModelShape:
    """The shapes that decide memory; the default is Llama-3-8B (every GPU profile's persona model)."""

    hidden: int = 4096
    intermediate: int = 14336
    layers: int = 32
    heads: int = 32
    kv_heads: int = 8
    vocab: int = 128256

    @property
    def head_dim(self) -> int:
        return self.hidden // self.heads

    def linear_shapes(self) -> list[tuple[int, int]]:
        """(in, out) of the seven projections of one decoder layer, the ones LoRA targets with "all-linear"."""
        h, i, kv = self.hidden, self.intermediate, self.kv_heads * self.head_dim
        return [(h, h), (h, kv), (h, kv), (h, h), (h, i), (h, i), (i, h)]


LLAMA3_8B = ModelShape()
NF4_BYTES = 0.5 + (8 / 64 + 32 / (64 * 256)) / 8  # 4 bits + double-quantized absmax (8 bits per 64, fp32 per 256 blocks)
OPTIMIZER_BYTES = {"adamw_8bit": 2, "paged_adamw_8bit": 2, "adamw_torch": 8, "adamw_torch_fused": 8}


def weights_gib(shape: ModelShape = LLAMA3_8B) -> float:
    """nf4 decoder weights plus the 16-bit embedding and LM head, which bitsandbytes leaves unquantized (~5.3 GiB for 8B)."""
    linear = shape.layers * sum(i * o for i, o in shape.linear_shapes())
    return (linear * NF4_BYTES + 2 * shape.vocab * shape.hidden * 2) / GIB


def lora_parameters(shape: ModelShape = LLAMA3_8B, r: int = 16) -> int:
    """Trainable LoRA weights on all seven projections: r x (in + out) each (41.9 M for Llama-3-8B at r=16)."""
    return shape.layers * r * sum(i + o for i, o in shape.linear_shapes())


def adapter_gib(optim: str, shape: ModelShape = LLAMA3_8B, r: int = 16) -> float:
    """Trainable adapter in fp32 (the T4 upcast), its fp32 gradients and the optimizer's two moments."""
    if optim not in OPTIMIZER_BYTES:
        raise ValueError(f"No byte count for optimizer {optim!r}: use one of {', '.join(OPTIMIZER_BYTES)}.")
    return lora_parameters(shape, r) * (4 + 4 + OPTIMIZER_BYTES[optim]) / GIB


def activation_bytes_per_token(shape: ModelShape = LLAMA3_8B, checkpointing: bool = True) -> float:
    """16-bit activations kept for backward per token: with checkpointing each layer's input plus one layer's working
    set, without it every layer's working set (TRL's fused LM head never holds the full logits)."""
    working_set = 2 * (16 * shape.hidden + 6 * shape.intermediate)
    return 2 * shape.layers * shape.hidden + working_set if checkpointing else shape.layers * working_set


def training_tokens_gib(tokens: int, checkpointing: bool, shape: ModelShape = LLAMA3_8B) -> float:
    """Activations of one micro-batch of `tokens` positions, forward and backward."""
    return tokens * activation_bytes_per_token(shape, checkpointing) / GIB


def kv_cache_gib(tokens: int, shape: ModelShape = LLAMA3_8B) -> float:
    """Keys and values of every layer for `tokens` positions in 16 bit: 128 KiB a token on Llama-3-8B (8 KV heads)."""
    return tokens * 2 * shape.layers * shape.kv_heads * shape.head_dim * 2 / GIB


def sft_peak_gib(rows: int, max_length: int, optim: str, checkpointing: bool, shape: ModelShape = LLAMA3_8B) -> float:
    """One SFT micro-batch of `rows` full-length rows: what the calibration compares with the measured 8.0 GiB."""
    return weights_gib(shape) + adapter_gib(optim, shape) + training_tokens_gib(rows * max_length, checkpointing, shape)


def dpo_peak_gib(preset: DpoPreset, shape: ModelShape = LLAMA3_8B) -> dict[str, float]:
    """QLoRA DPO: two forward passes per pair (policy with gradients; the reference without, freed before the
    policy's), so the peak holds 2 x pairs sequences of activations plus TRL's frozen copy of the adapter ("ref")."""
    sequences = 2 * preset.per_device_train_batch_size
    parts = {
        "weights (nf4)": weights_gib(shape),
        "adapter, gradients, optimizer": adapter_gib(preset.optim, shape),
        "reference adapter (frozen copy)": lora_parameters(shape) * 4 / GIB,
        f"activations ({sequences} x {preset.max_length} tokens)": training_tokens_gib(
            sequences * preset.max_length, preset.gradient_checkpointing, shape
        ),
    }
    return {**parts, "total": sum(parts.values())}


def grpo_peak_gib(preset: GrpoPreset, shape: ModelShape = LLAMA3_8B) -> dict[str, float]:
    """GRPO: the larger of its two phases. Generating: every completion of the step with its KV cache. Training:
    the micro-batch's prompts and completions. Both on top of the weights and the adapter (beta=0: no reference)."""
    length = preset.max_prompt_tokens + preset.max_completion_length
    base = weights_gib(shape) + adapter_gib(preset.optim, shape)
    generation = kv_cache_gib(preset.per_device_train_batch_size * length, shape)
    training = training_tokens_gib(preset.per_device_train_batch_size * length, preset.gradient_checkpointing, shape)
    parts = {
        "weights (nf4) + adapter, gradients, optimizer": base,
        f"larger of generation KV cache ({generation:.2f}) and training activations ({training:.2f})": max(generation, training),
    }
    return {**parts, "total": sum(parts.values())}
