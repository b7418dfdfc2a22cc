"""Quantization by hand and by arithmetic: nf4 levels, blockwise absmax nf4, double quant, and how many bytes a model needs."""
from __future__ import annotations

import json
import warnings
from dataclasses import dataclass
from pathlib import Path

import torch
from safetensors import safe_open
from torch import nn
from transformers import AutoModelForCausalLM, PretrainedConfig, PreTrainedModel

# QLoRA's nf4 spans the normal distribution up to this quantile (about 1.85 standard deviations).
NF4_OFFSET = 0.9677083
NF4_BLOCKSIZE = 64
# Double quantization stores the fp32 block scales themselves in 8 bits, in blocks of 256 scales.
DOUBLE_QUANT_BLOCKSIZE = 256

# Bits one quantized weight costs, scales included: nf4 keeps one fp32 absmax per block of 64 weights
# (4 + 32/64 = 4.5 bits); double quant keeps that absmax in 8 bits plus one fp32 scale per 256 of them.
# LLM.int8 keeps one fp32 scale per output row, under 0.1 bit per weight for real layer widths: left out.
BITS_PER_WEIGHT: dict[str, float] = {
    "fp32": 32.0,
    "bf16": 16.0,
    "fp16": 16.0,
    "int8": 8.0,
    "fp4": 4 + 32 / NF4_BLOCKSIZE,
    "nf4": 4 + 32 / NF4_BLOCKSIZE,
    "nf4+dq": 4 + 8 / NF4_BLOCKSIZE + 32 / (NF4_BLOCKSIZE * DOUBLE_QUANT_BLOCKSIZE),
}


def nf4_levels() -> torch.Tensor:
    """The 16 NormalFloat4 values: quantiles of N(0, 1) scaled to [-1, 1], with an exact zero (QLoRA, 2023).

    Each level covers an equal share of a normal distribution, so normally distributed weights use all 16 evenly.
    """
    normal = torch.distributions.Normal(torch.tensor(0.0, dtype=torch.float64), torch.tensor(1.0, dtype=torch.float64))
    positive = normal.icdf(torch.linspace(NF4_OFFSET, 0.5, 9, dtype=torch.float64)[:-1])  # 8 levels above zero
    negative = -normal.icdf(torch.linspace(NF4_OFFSET, 0.5, 8, dtype=torch.float64)[:-1])  # 7 below: one asymmetric slot
    levels = torch.cat([negative, torch.zeros(1, dtype=torch.float64), positive]).sort().values
    return (levels / levels.abs().max()).float()


def nf4_quantize(
    weight: torch.Tensor, blocksize: int = NF4_BLOCKSIZE, levels: torch.Tensor | None = None
) -> tuple[torch.Tensor, torch.Tensor]:
    """(4-bit indices, one absmax per block): each block is divided by its largest |value|, then snapped to a level.

    Pass other `levels` (e.g. 16 evenly spaced ones) to see what the normal-quantile spacing buys.
    """
    if weight.numel() % blocksize:
        raise ValueError(f"The tensor has {weight.numel()} values, not a multiple of blocksize={blocksize}: pick a blocksize that divides it.")
    levels = nf4_levels() if levels is None else levels.float()
    blocks = weight.detach().float().reshape(-1, blocksize)
    absmax = blocks.abs().amax(dim=1)
    scaled = blocks / absmax.clamp_min(torch.finfo(torch.float32).tiny)[:, None]  # an all-zero block stays zero
    indices = torch.empty(blocks.shape, dtype=torch.uint8)
    for start in range(0, len(blocks), 4096):  # chunks keep the (values x 16 levels) distance table small
        chunk = scaled[start : start + 4096, :, None]
        indices[start : start + 4096] = (chunk - levels).abs().argmin(dim=-1).to(torch.uint8)
    return indices, absmax


def nf4_dequantize(
    indices: torch.Tensor, absmax: torch.Tensor, shape: torch.Size | tuple[int, ...], levels: torch.Tensor | None = None
) -> torch.Tensor:
    """Back to floats: level value times the block's absmax, in the original shape."""
    levels = nf4_levels() if levels is None else levels.float()
    return (levels[indices.long()] * absmax[:, None]).reshape(shape)


def double_quantize(
    absmax: torch.Tensor, blocksize: int = DOUBLE_QUANT_BLOCKSIZE
) -> tuple[torch.Tensor, torch.Tensor, float]:
    """(8-bit codes, one fp32 scale per block of scales, offset): nf4's block scales stored as bitsandbytes' double quant does.

    The scales minus their mean go in blocks of 256; each block is divided by its largest |value| and snapped to the
    nearest of the 256 values of bitsandbytes' dynamic 8-bit map, which is dense near zero, not to even int8 steps.
    """
    from bitsandbytes.functional import create_dynamic_map

    code = create_dynamic_map(signed=True)  # sorted, from -1 to 1
    offset = absmax.float().mean()
    centred = absmax.float() - offset
    absmax2 = torch.stack([block.abs().max() for block in centred.split(blocksize)])  # the last block may be shorter
    scaled = (centred / absmax2.repeat_interleave(blocksize)[: len(centred)]).clamp(-1, 1)
    codes = torch.bucketize(scaled, (code[:-1] + code[1:]) / 2).to(torch.uint8)  # the nearest value of the map
    return codes, absmax2, offset.item()


def double_dequantize(codes: torch.Tensor, absmax2: torch.Tensor, offset: float,
                      blocksize: int = DOUBLE_QUANT_BLOCKSIZE) -> torch.Tensor:
    """The block scales back from 8 bits: map value times its block's scale, plus the offset."""
    from bitsandbytes.functional import create_dynamic_map

    code = create_dynamic_map(signed=True)
    return code[codes.long()] * absmax2.repeat_interleave(blocksize)[: len(codes)] + offset


def read_weight(model: str | Path, name: str) -> torch.Tensor:
    """One tensor of a safetensors checkpoint (local folder or Hub id), read without building the model."""
    folder = Path(model)
    if folder.is_dir():
        index = folder / "model.safetensors.index.json"
        file = folder / (json.loads(index.read_text())["weight_map"][name] if index.is_file() else "model.safetensors")
    else:  # a Hub id: the file lands in the same cache from_pretrained reads, so it is fetched once
        from huggingface_hub import hf_hub_download
        from huggingface_hub.errors import EntryNotFoundError

        try:
            index = json.loads(Path(hf_hub_download(str(model), "model.safetensors.index.json")).read_text())
            file = Path(hf_hub_download(str(model), index["weight_map"][name]))
        except EntryNotFoundError:  # small models ship one file and no index
            file = Path(hf_hub_download(str(model), "model.safetensors"))
    with safe_open(str(file), framework="pt") as checkpoint:
        if name not in checkpoint.keys():
            raise KeyError(f"{name!r} is not in {file.name}: its tensors include {sorted(checkpoint.keys())[:5]}...")
        return checkpoint.get_tensor(name)


def quant_scale_bytes(model: nn.Module) -> int:
    """Bytes of the scales bitsandbytes keeps beside the packed weights, which `get_memory_footprint` leaves out."""
    total = 0
    for module in model.modules():
        state = getattr(getattr(module, "weight", None), "quant_state", None)
        if state is not None:  # 4-bit: absmax per block, plus the second-level scales with double quant
            total += state.absmax.numel() * state.absmax.element_size()
            if state.nested:
                total += state.state2.absmax.numel() * state.state2.absmax.element_size() + state.offset.numel() * 4
        scb = getattr(getattr(module, "weight", None), "SCB", None)
        if scb is not None:  # 8-bit: one scale per output row
            total += scb.numel() * scb.element_size()
    return total


@dataclass(frozen=True)
class ParameterSplit:
    """Parameters bitsandbytes quantizes (linear layers) and those it keeps in 16/32 bits (embeddings, norms, head)."""

    quantized: int
    kept: int

    @property
    def total(self) -> int:
        return self.quantized + self.kept


def model_on_meta(config: PretrainedConfig) -> PreTrainedModel:
    """A model with the config's shapes and no memory behind them: counting an 8B model's parameters needs no download."""
    with torch.device("meta"):
        return AutoModelForCausalLM.from_config(config)


def parameter_split(model: PreTrainedModel) -> ParameterSplit:
    """Split parameters the way transformers' bitsandbytes loader does: every nn.Linear except the output head."""
    head = model.get_output_embeddings()
    quantized_ids = {
        id(m.weight) for m in model.modules() if isinstance(m, nn.Linear) and m is not head and m.weight is not getattr(head, "weight", None)
    }
    quantized = kept = 0
    for parameter in model.parameters():  # parameters() yields a tied tensor once, as it is stored once
        count = parameter.numel() * (2 if parameter.dtype == torch.uint8 else 1)  # a packed uint8 holds two 4-bit weights
        if id(parameter) in quantized_ids:
            quantized += count
        else:
            kept += count
    return ParameterSplit(quantized, kept)


def weight_bytes(split: ParameterSplit, scheme: str, kept_bits: float = 16) -> float:
    """Bytes of the weights alone (no activations, KV cache or optimizer) with the linear layers in `scheme`."""
    if scheme not in BITS_PER_WEIGHT:
        raise ValueError(f"Unknown scheme {scheme!r}: choose one of {', '.join(BITS_PER_WEIGHT)}.")
    return (split.quantized * BITS_PER_WEIGHT[scheme] + split.kept * kept_bits) / 8


def fits_in_memory(weights_gib: float, memory_gib: float, headroom: float = 0.2) -> bool:
    """Rule of thumb: the weights may take at most (1 - headroom) of the GPU; the rest goes to CUDA, activations, KV cache."""
    return weights_gib <= memory_gib * (1 - headroom)


def checked_compute_dtype(requested: torch.dtype, capability: tuple[int, int] | None) -> torch.dtype:
    """The requested compute dtype if the device can do it, else a warning and fp16 (bf16 needs compute capability 8.0)."""
    if requested not in (torch.float32, torch.float16, torch.bfloat16):
        raise ValueError(f"Compute dtype {requested} is not a float type bitsandbytes computes in: use torch.float32, torch.float16 or torch.bfloat16.")
    if requested == torch.bfloat16 and capability is not None and capability < (8, 0):
        warnings.warn(
            f"This GPU (compute capability {capability[0]}.{capability[1]}) has no bf16 units; "
            "using torch.float16 instead (bf16 needs 8.0, e.g. A100, L4, H100).",
            stacklevel=2,
        )
        return torch.float16
    return requested
