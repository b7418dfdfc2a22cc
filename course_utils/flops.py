"""The FLOP model of QLoRA training and evaluation, from the real token counts of their batches.

    body  = 4 * P_body * T              forward + input gradients through the frozen 4-bit weights (no weight grads)
    lora  = 6 * P_lora * T              forward + weight and input gradients of the adapters
    head  = 4 * V * d * T_loss          lm_head forward + input gradient, only on positions that carry a label
    attn  = 12 * L * d_q * S            QK^T and AV, forward and backward, S = sum over documents of l(l+1)/2
    recompute (executed, counted in `mfu`):
        gradient checkpointing: 2 * P_body * T + 2 * P_lora * T + 4 * L * d_q * S
        TRL's fused LM head recomputes its logits tiles in backward: 2 * V * d * T_loss
    evaluation (forward only): 2 * P_body * T + 2 * P_lora * T + 2 * V * d * T_loss + 4 * L * d_q * S
MFU = FLOPs / seconds / (bf16 matmul rate measured on the same GPU with an 8192^3 product).

Attention is counted per document (S), the work a per-document kernel does; SDPA over a padding-free row under a
block-diagonal mask executes more (the whole T x T product), which shows up as lower MFU, not as more FLOPs.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

FLOP_FORMULA = {
    "body": "4 * P_body * tokens", "lora": "6 * P_lora * tokens", "head": "4 * vocab * hidden * loss_tokens",
    "attention": "12 * layers * q_dim * sum(l*(l+1)/2)",
    "recompute_gradient_checkpointing": "2 * P_body * tokens + 2 * P_lora * tokens + 4 * layers * q_dim * pairs",
    "recompute_fused_lm_head": "2 * vocab * hidden * loss_tokens",
}


@dataclass(frozen=True)
class ModelShape:
    hidden: int
    layers: int
    heads: int
    kv_heads: int
    head_dim: int
    intermediate: int
    vocab: int

    @classmethod
    def from_config(cls, config: dict) -> ModelShape:
        head_dim = config.get("head_dim") or config["hidden_size"] // config["num_attention_heads"]
        return cls(config["hidden_size"], config["num_hidden_layers"], config["num_attention_heads"],
                   config["num_key_value_heads"], head_dim, config["intermediate_size"], config["vocab_size"])

    @property
    def q_dim(self) -> int:
        return self.heads * self.head_dim

    @property
    def kv_dim(self) -> int:
        return self.kv_heads * self.head_dim

    def body_params(self) -> int:
        """Matmul weights of the decoder layers (q, k, v, o, gate, up, down); norms and embeddings do no matmuls."""
        d = self.hidden
        per_layer = d * self.q_dim + 2 * d * self.kv_dim + self.q_dim * d + 3 * d * self.intermediate
        return self.layers * per_layer

    def head_params(self) -> int:
        return self.vocab * self.hidden

    def lora_params(self, r: int) -> int:
        """LoRA A and B of all 7 projections: r * (fan_in + fan_out) each."""
        d, i = self.hidden, self.intermediate
        per_layer = r * ((d + self.q_dim) + 2 * (d + self.kv_dim) + (self.q_dim + d) + 2 * (d + i) + (i + d))
        return self.layers * per_layer


def step_flops(shape: ModelShape, lora_r: int, tokens: int, loss_tokens: int, causal_pairs: int,
               gradient_checkpointing: bool) -> dict[str, float]:
    """Model FLOPs of one optimizer step and the extra FLOPs the recipe recomputes (formula in the module docstring).

    tokens: real (non-pad) tokens; loss_tokens: positions whose next-token label is not -100 (the fused LM head
    projects only those); causal_pairs: sum over sequences of l * (l + 1) / 2.
    """
    body, head, lora = shape.body_params(), shape.head_params(), shape.lora_params(lora_r)
    attn_fwd = 4 * shape.layers * shape.q_dim * causal_pairs
    model = 4 * body * tokens + 6 * lora * tokens + 4 * head * loss_tokens + 3 * attn_fwd
    recompute = 2 * head * loss_tokens
    if gradient_checkpointing:
        recompute += 2 * body * tokens + 2 * lora * tokens + attn_fwd
    return {"model": float(model), "recompute": float(recompute), "total": float(model + recompute)}



def eval_flops(shape: ModelShape, lora_r: int, tokens: int, loss_tokens: int, causal_pairs: int) -> float:
    """FLOPs of one forward pass with no gradients, as an evaluation runs (arguments as in `step_flops`)."""
    attn_fwd = 4 * shape.layers * shape.q_dim * causal_pairs
    return float(2 * shape.body_params() * tokens + 2 * shape.lora_params(lora_r) * tokens
                 + 2 * shape.head_params() * loss_tokens + attn_fwd)


def micro_batch_counts(rows: Sequence[tuple[int, int]], padded_to: int | None,
                       completion_only: bool) -> tuple[int, int, int]:
    """(tokens, loss_tokens, causal_pairs) one micro-batch executes, from its rows' (prompt, completion) lengths.

    padded_to None: padding-free, each row counts its own length. Otherwise every row runs at padded_to tokens (a
    padded batch computes its pad positions too; pass the longest row for padding to the batch's longest).
    """
    lengths = [prompt + completion for prompt, completion in rows]
    if padded_to is None:
        loss = sum(c for _, c in rows) if completion_only else sum(lengths)
        return sum(lengths), loss, sum(n * (n + 1) // 2 for n in lengths)
    executed = len(rows) * padded_to
    loss = sum(c for _, c in rows) if completion_only else executed
    return executed, loss, len(rows) * padded_to * (padded_to + 1) // 2
