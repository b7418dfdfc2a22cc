"""EXAONE 3.x in plain torch: its settings, tensor names and a forward pass, to check a conversion against.

Written from LG AI Research's published `configuration_exaone.py` and `modeling_exaone.py`
(huggingface.co/LGAI-EXAONE/EXAONE-3.0-7.8B-Instruct; vLLM's `models/exaone.py` is adapted from the same file),
not from Llama's code, so a converted Llama model is checked against an independent description.
"""
from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

import torch
import torch.nn.functional as F

# ExaoneConfig.__init__ defaults: they apply whenever config.json leaves a field out. Two differ from LlamaConfig's
# and matter for a conversion: tie_word_embeddings (True here, False in Llama) and the epsilon (1e-5 vs 1e-6).
EXAONE_DEFAULTS: dict = {
    "vocab_size": 102400,
    "max_position_embeddings": 2048,
    "hidden_size": 2048,
    "num_layers": 32,
    "num_attention_heads": 32,
    "activation_function": "silu",
    "rope_theta": 10000.0,
    "rope_scaling": None,
    "layer_norm_epsilon": 1e-5,
    "tie_word_embeddings": True,
    "bos_token_id": 0,
    "eos_token_id": 2,
}

# The chat template in EXAONE-3.0-7.8B-Instruct's tokenizer_config.json: an empty system turn is added when the
# conversation has none, a user turn ends with a newline, every other turn with [|endofturn|] (the EOS token).
EXAONE_CHAT_TEMPLATE = (
    "{% for message in messages %}"
    "{% if loop.first and message['role'] != 'system' %}{{ '[|system|][|endofturn|]\\n' }}{% endif %}"
    "{{ '[|' + message['role'] + '|]' + message['content'] }}"
    "{% if message['role'] == 'user' %}{{ '\\n' }}{% else %}{{ '[|endofturn|]\\n' }}{% endif %}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '[|assistant|]' }}{% endif %}"
)


@dataclass(frozen=True)
class ExaoneSettings:
    """The fields of an EXAONE config.json that decide the weights' shapes and the forward pass."""

    vocab_size: int
    hidden_size: int
    num_layers: int
    num_attention_heads: int
    num_key_value_heads: int
    head_dim: int
    intermediate_size: int
    layer_norm_epsilon: float
    rope_theta: float
    rope_scaling: dict | None
    max_position_embeddings: int
    tie_word_embeddings: bool
    activation_function: str


def exaone_settings(config: Mapping) -> ExaoneSettings:
    """Read an EXAONE config.json dict the way ExaoneConfig does, defaults included."""
    value = {**EXAONE_DEFAULTS, **config}
    heads = int(value["num_attention_heads"])
    hidden = int(value["hidden_size"])
    rope = dict(config.get("rope_parameters") or {})  # where transformers 5 puts RoPE when it re-saves a config
    rope_theta = config.get("rope_theta", rope.pop("rope_theta", EXAONE_DEFAULTS["rope_theta"]))
    scaled = rope.get("rope_type", rope.get("type", "default")) != "default"
    rope_scaling = config.get("rope_scaling", rope if scaled else None)
    return ExaoneSettings(
        vocab_size=int(value["vocab_size"]),
        hidden_size=hidden,
        num_layers=int(value["num_layers"]),
        num_attention_heads=heads,
        num_key_value_heads=int(value.get("num_key_value_heads") or heads),
        # modeling_exaone.py: head_dim = hidden_size // num_attention_heads (a config may state it explicitly)
        head_dim=int(value.get("head_dim") or hidden // heads),
        intermediate_size=int(value.get("intermediate_size") or 4 * hidden),
        layer_norm_epsilon=float(value["layer_norm_epsilon"]),
        rope_theta=float(rope_theta),
        rope_scaling=dict(rope_scaling) if rope_scaling else None,
        max_position_embeddings=int(value["max_position_embeddings"]),
        tie_word_embeddings=bool(value["tie_word_embeddings"]),
        activation_function=str(value["activation_function"]),
    )


def exaone_tensor_shapes(settings: ExaoneSettings) -> dict[str, tuple[int, ...]]:
    """Every tensor an EXAONE 3.x checkpoint holds, with its shape (nn.Linear weights are [out, in])."""
    s = settings
    q_out, kv_out = s.num_attention_heads * s.head_dim, s.num_key_value_heads * s.head_dim
    shapes: dict[str, tuple[int, ...]] = {"transformer.wte.weight": (s.vocab_size, s.hidden_size)}
    for i in range(s.num_layers):
        block = f"transformer.h.{i}."
        shapes.update({
            block + "ln_1.weight": (s.hidden_size,),
            block + "attn.attention.q_proj.weight": (q_out, s.hidden_size),
            block + "attn.attention.k_proj.weight": (kv_out, s.hidden_size),
            block + "attn.attention.v_proj.weight": (kv_out, s.hidden_size),
            block + "attn.attention.out_proj.weight": (s.hidden_size, q_out),
            block + "ln_2.weight": (s.hidden_size,),
            block + "mlp.c_fc_0.weight": (s.intermediate_size, s.hidden_size),
            block + "mlp.c_fc_1.weight": (s.intermediate_size, s.hidden_size),
            block + "mlp.c_proj.weight": (s.hidden_size, s.intermediate_size),
        })
    shapes["transformer.ln_f.weight"] = (s.hidden_size,)
    if not s.tie_word_embeddings:
        shapes["lm_head.weight"] = (s.vocab_size, s.hidden_size)
    return shapes


def rms_norm(x: torch.Tensor, weight: torch.Tensor, eps: float) -> torch.Tensor:
    """ExaoneRMSNorm: normalise in float32, cast back, then scale (no mean subtraction, no bias)."""
    x32 = x.float()
    x32 = x32 * torch.rsqrt(x32.pow(2).mean(-1, keepdim=True) + eps)
    return weight * x32.to(x.dtype)


def rope_inverse_frequencies(settings: ExaoneSettings) -> torch.Tensor:
    """RoPE frequencies theta^(-2i/d), rescaled the way rope_scaling asks (EXAONE 3.5 uses 'llama3')."""
    d = settings.head_dim
    inv_freq = 1.0 / settings.rope_theta ** (torch.arange(0, d, 2, dtype=torch.int64).float() / d)
    scaling = settings.rope_scaling or {}
    kind = scaling.get("rope_type", scaling.get("type", "default"))
    if kind == "default":
        return inv_freq
    if kind == "linear":
        return inv_freq / scaling["factor"]
    if kind == "llama3":
        factor, low, high = scaling["factor"], scaling["low_freq_factor"], scaling["high_freq_factor"]
        old_context = scaling["original_max_position_embeddings"]
        wavelength = 2 * math.pi / inv_freq
        # long wavelengths are slowed down by `factor`, short ones kept, the band between interpolated
        scaled = torch.where(wavelength > old_context / low, inv_freq / factor, inv_freq)
        smooth = (old_context / wavelength - low) / (high - low)
        blended = (1 - smooth) * scaled / factor + smooth * scaled
        in_band = (wavelength >= old_context / high) & (wavelength <= old_context / low)
        return torch.where(in_band, blended, scaled)
    raise ValueError(f"rope_scaling type {kind!r} is not in this reference: use 'default', 'linear' or 'llama3'.")


def rotate_half(x: torch.Tensor) -> torch.Tensor:
    """The GPT-NeoX RoPE layout EXAONE uses (vLLM loads it with is_neox_style=True): halves, not interleaved pairs."""
    first, second = x.chunk(2, dim=-1)
    return torch.cat((-second, first), dim=-1)


def attention(x: torch.Tensor, weights: Mapping[str, torch.Tensor], block: str, s: ExaoneSettings,
              cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
    """ExaoneSelfAttention: q/k/v projections, RoPE on q and k, grouped-query causal attention, out_proj."""
    batch, length, _ = x.shape
    prefix = block + "attn.attention."
    q = F.linear(x, weights[prefix + "q_proj.weight"]).view(batch, length, s.num_attention_heads, s.head_dim)
    k = F.linear(x, weights[prefix + "k_proj.weight"]).view(batch, length, s.num_key_value_heads, s.head_dim)
    v = F.linear(x, weights[prefix + "v_proj.weight"]).view(batch, length, s.num_key_value_heads, s.head_dim)
    q, k, v = (t.transpose(1, 2) for t in (q, k, v))  # [batch, heads, length, head_dim]
    q = q * cos + rotate_half(q) * sin
    k = k * cos + rotate_half(k) * sin
    group = s.num_attention_heads // s.num_key_value_heads  # each key/value head serves `group` query heads
    k, v = k.repeat_interleave(group, dim=1), v.repeat_interleave(group, dim=1)
    scores = q @ k.transpose(-1, -2) / math.sqrt(s.head_dim)
    future = torch.ones(length, length, dtype=torch.bool, device=x.device).triu(1)
    probs = scores.masked_fill(future, float("-inf")).softmax(-1, dtype=torch.float32).to(q.dtype)
    out = (probs @ v).transpose(1, 2).reshape(batch, length, s.num_attention_heads * s.head_dim)
    return F.linear(out, weights[prefix + "out_proj.weight"])


def gated_mlp(x: torch.Tensor, weights: Mapping[str, torch.Tensor], block: str) -> torch.Tensor:
    """ExaoneGatedMLP: c_proj(act(c_fc_0(x)) * c_fc_1(x)), so c_fc_0 is the gate and c_fc_1 the up projection."""
    gate = F.silu(F.linear(x, weights[block + "mlp.c_fc_0.weight"]))
    up = F.linear(x, weights[block + "mlp.c_fc_1.weight"])
    return F.linear(gate * up, weights[block + "mlp.c_proj.weight"])


@torch.inference_mode()
def exaone_logits(weights: Mapping[str, torch.Tensor], config: Mapping, input_ids: torch.Tensor,
                  position_ids: torch.Tensor | None = None) -> torch.Tensor:
    """Logits [batch, length, vocab] of EXAONE weights (EXAONE tensor names) for unpadded `input_ids`."""
    s = exaone_settings(config)
    if s.activation_function != "silu":
        raise ValueError(f"activation_function {s.activation_function!r} is not in this reference: EXAONE 3.x uses 'silu'.")
    if position_ids is None:
        position_ids = torch.arange(input_ids.shape[1], device=input_ids.device).expand_as(input_ids)
    x = F.embedding(input_ids, weights["transformer.wte.weight"])
    angles = position_ids[..., None].float() * rope_inverse_frequencies(s).to(x.device)
    angles = torch.cat((angles, angles), dim=-1)[:, None]  # [batch, 1, length, head_dim]
    cos, sin = angles.cos().to(x.dtype), angles.sin().to(x.dtype)
    for i in range(s.num_layers):
        block = f"transformer.h.{i}."
        x = x + attention(rms_norm(x, weights[block + "ln_1.weight"], s.layer_norm_epsilon), weights, block, s, cos, sin)
        x = x + gated_mlp(rms_norm(x, weights[block + "ln_2.weight"], s.layer_norm_epsilon), weights, block)
    x = rms_norm(x, weights["transformer.ln_f.weight"], s.layer_norm_epsilon)
    head = weights["transformer.wte.weight"] if s.tie_word_embeddings else weights["lm_head.weight"]
    return F.linear(x, head)


@torch.inference_mode()
def exaone_greedy(weights: Mapping[str, torch.Tensor], config: Mapping, input_ids: torch.Tensor,
                  max_new_tokens: int) -> torch.Tensor:
    """Greedy continuation of one unpadded prompt by the reference forward (no KV cache: slow, but obviously right)."""
    ids = input_ids
    for _ in range(max_new_tokens):
        next_id = exaone_logits(weights, config, ids)[:, -1].argmax(-1, keepdim=True)
        ids = torch.cat((ids, next_id), dim=1)
    return ids[:, input_ids.shape[1]:]


def logit_agreement(candidate: torch.Tensor, reference: torch.Tensor) -> dict[str, float]:
    """How close a model's logits are to the reference: largest difference, relative error, top-1 agreement.

    The maximum alone overstates a quantized model's error (one outlier logit); the relative error and the share of
    positions whose most likely next token is the same say whether it still computes the same function.
    """
    if candidate.shape != reference.shape:
        raise ValueError(f"Logits of shape {tuple(candidate.shape)} and {tuple(reference.shape)} cannot be compared: run both on the same input_ids.")
    candidate, reference = candidate.double(), reference.double().to(candidate.device)
    return {
        "max_abs": (candidate - reference).abs().max().item(),
        "relative": ((candidate - reference).norm() / reference.norm()).item(),
        "top1_agreement": (candidate.argmax(-1) == reference.argmax(-1)).double().mean().item(),
    }


def tiny_exaone_config(**overrides) -> dict:
    """A config.json dict of a tiny EXAONE 3.0 model, for tests and demos (field names as LG publishes them)."""
    config = {
        "architectures": ["ExaoneForCausalLM"],
        "model_type": "exaone",
        "vocab_size": 128,
        "hidden_size": 64,
        "intermediate_size": 96,
        "num_layers": 2,
        "num_attention_heads": 4,
        "num_key_value_heads": 2,
        "activation_function": "silu",
        "layer_norm_epsilon": 1e-5,
        "rope_theta": 500000.0,
        "rope_scaling": None,
        "max_position_embeddings": 4096,
        "tie_word_embeddings": False,
        "bos_token_id": 1,
        "eos_token_id": 2,
        "pad_token_id": 0,
        "torch_dtype": "float32",
    }
    config.update(overrides)
    return config


def random_exaone_weights(config: Mapping, seed: int = 0, dtype: torch.dtype = torch.float32) -> dict[str, torch.Tensor]:
    """Random tensors with EXAONE names and shapes; norms get weights near 1 so every layer matters."""
    generator = torch.Generator().manual_seed(seed)
    weights = {}
    for name, shape in exaone_tensor_shapes(exaone_settings(config)).items():
        values = torch.randn(shape, generator=generator)
        weights[name] = (1 + 0.1 * values if len(shape) == 1 else 0.05 * values).to(dtype)
    return weights
