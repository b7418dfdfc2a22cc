"""Attention that stays inside each document of a padding-free batch, so no work is spent across row boundaries.

With `padding_free=True`, TRL flattens a micro-batch into one long row and passes where each row starts
(`cu_seq_lens_q`, `max_length_q`). Transformers' SDPA path turns that into a block-diagonal T x T mask, and the
kernel still computes the scores between documents before masking them. `register_document_attention()` adds an
attention implementation that uses the boundaries instead:

- on a GPU with FlashAttention (compute capability >= 8.0, fp16/bf16): torch's own varlen kernel
  (`torch.nn.attention.varlen.varlen_attn`, the FlashAttention-2 kernel shipped inside the torch wheel; no extra
  package, no Hub download), which never computes a cross-document score;
- elsewhere (CPU, T4, fp32): causal SDPA once per document.

Padded batches (an `attention_mask`, no boundaries) go through ordinary causal SDPA with the padding mask.
Use: `model = AutoModelForCausalLM.from_pretrained(..., attn_implementation=register_document_attention())`.
"""
from __future__ import annotations

import inspect

import torch
import torch.nn.functional as F

DOCUMENT_ATTENTION = "document_attention"


def varlen_kernel():
    """torch's FlashAttention varlen function, or None where this torch has none (it arrived in torch 2.10)."""
    try:
        from torch.nn.attention.varlen import varlen_attn
    except ImportError:
        return None
    return varlen_attn


def uses_varlen_kernel(query: torch.Tensor) -> bool:
    """FlashAttention needs CUDA, compute capability 8.0+ and half precision; anything else takes the SDPA loop."""
    if not query.is_cuda or query.dtype not in (torch.float16, torch.bfloat16) or varlen_kernel() is None:
        return False
    return torch.cuda.get_device_capability(query.device)[0] >= 8 and query.shape[-1] <= 256


def boundaries_from_position_ids(position_ids: torch.Tensor) -> torch.Tensor:
    """Document starts of one packed row (a position id of 0 starts a document), as int32 cumulative lengths."""
    row = position_ids.reshape(-1)
    starts = (row == 0).nonzero().flatten()
    if starts.numel() == 0 or starts[0] != 0:
        starts = torch.cat([starts.new_zeros(1), starts])
    end = torch.tensor([row.numel()], device=row.device, dtype=starts.dtype)
    return torch.cat([starts, end]).to(torch.int32)


def varlen_causal(query: torch.Tensor, key: torch.Tensor, value: torch.Tensor, cu_seq_lens: torch.Tensor,
                  max_length: int, scaling: float | None) -> torch.Tensor:
    """(T, H, D) tensors through the FlashAttention varlen kernel, causal within each document."""
    kernel = varlen_kernel()
    parameters = inspect.signature(kernel).parameters
    options = {"scale": scaling}
    # torch 2.10 took is_causal; 2.11+ takes a window, (-1, 0) meaning causal
    options.update(window_size=(-1, 0)) if "window_size" in parameters else options.update(is_causal=True)
    if key.shape[1] != query.shape[1]:
        if "enable_gqa" in parameters:
            options["enable_gqa"] = True
        else:  # older signatures: give every query head its own copy of the shared key/value head
            groups = query.shape[1] // key.shape[1]
            key, value = key.repeat_interleave(groups, dim=1), value.repeat_interleave(groups, dim=1)
    cu = cu_seq_lens.to(device=query.device, dtype=torch.int32)
    return kernel(query, key, value, cu, cu, max_length, max_length, **options)


def sdpa_per_document(query: torch.Tensor, key: torch.Tensor, value: torch.Tensor, cu_seq_lens: torch.Tensor,
                      scaling: float | None) -> torch.Tensor:
    """(1, H, T, D) tensors, causal SDPA once per document; the reference the varlen kernel must match."""
    bounds = cu_seq_lens.tolist()
    gqa = key.shape[1] != query.shape[1]
    pieces = [
        F.scaled_dot_product_attention(query[:, :, a:b], key[:, :, a:b], value[:, :, a:b], is_causal=True,
                                       scale=scaling, enable_gqa=gqa)
        for a, b in zip(bounds[:-1], bounds[1:]) if b > a
    ]
    return torch.cat(pieces, dim=2)


def padded_causal_sdpa(query: torch.Tensor, key: torch.Tensor, value: torch.Tensor,
                       attention_mask: torch.Tensor | None, scaling: float | None) -> torch.Tensor:
    """(B, H, T, D) ordinary causal SDPA; a 2D padding mask, when given, also hides the padded keys."""
    gqa = key.shape[1] != query.shape[1]
    if attention_mask is None or attention_mask.ndim != 2 or bool(attention_mask.all()):
        return F.scaled_dot_product_attention(query, key, value, is_causal=query.shape[2] > 1, scale=scaling,
                                              enable_gqa=gqa)
    q_len, kv_len = query.shape[2], key.shape[2]
    causal = torch.ones(q_len, kv_len, dtype=torch.bool, device=query.device).tril(kv_len - q_len)
    mask = causal[None, None] & attention_mask[:, None, None, -kv_len:].to(torch.bool)
    return F.scaled_dot_product_attention(query, key, value, attn_mask=mask, scale=scaling, enable_gqa=gqa)


@torch.compiler.disable  # runs eagerly inside compiled layers: its document boundaries are data, not shapes
def document_attention_forward(module: torch.nn.Module, query: torch.Tensor, key: torch.Tensor, value: torch.Tensor,
                               attention_mask: torch.Tensor | None, dropout: float = 0.0,
                               scaling: float | None = None, **kwargs) -> tuple[torch.Tensor, None]:
    """The attention function transformers calls per layer: (B, H, T, D) in, (B, T, H, D) out, like SDPA's."""
    cu_seq_lens, max_length = kwargs.get("cu_seq_lens_q"), kwargs.get("max_length_q")
    position_ids = kwargs.get("position_ids")
    packed = query.shape[0] == 1 and attention_mask is None and query.shape[2] == key.shape[2]
    if packed and cu_seq_lens is None and position_ids is not None:
        cu_seq_lens = boundaries_from_position_ids(position_ids)
    if not packed or cu_seq_lens is None:
        return padded_causal_sdpa(query, key, value, attention_mask, scaling).transpose(1, 2).contiguous(), None
    if uses_varlen_kernel(query):
        if max_length is None:
            max_length = int(torch.diff(cu_seq_lens).max())
        out = varlen_causal(query[0].transpose(0, 1), key[0].transpose(0, 1), value[0].transpose(0, 1),
                            cu_seq_lens, int(max_length), scaling)
        return out[None], None  # (T, H, D) -> (1, T, H, D)
    return sdpa_per_document(query, key, value, cu_seq_lens, scaling).transpose(1, 2).contiguous(), None


def register_document_attention() -> str:
    """Register the implementation with transformers (idempotent) and return the name for `attn_implementation`.

    Its mask function is FlashAttention's: no T x T mask is built for a padding-free row, only the 2D padding mask
    of a padded batch is passed on.
    """
    from transformers import AttentionInterface
    from transformers.masking_utils import ALL_MASK_ATTENTION_FUNCTIONS, flash_attention_mask

    AttentionInterface.register(DOCUMENT_ATTENTION, document_attention_forward)
    ALL_MASK_ATTENTION_FUNCTIONS.register(DOCUMENT_ATTENTION, flash_attention_mask)
    return DOCUMENT_ATTENTION
