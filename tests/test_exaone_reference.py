"""The plain-torch EXAONE reference: its defaults are EXAONE's, and its math matches transformers' Llama."""
import pytest
import torch
from transformers import LlamaConfig, LlamaForCausalLM

from course_utils.exaone_reference import (
    exaone_greedy,
    exaone_logits,
    exaone_settings,
    exaone_tensor_shapes,
    random_exaone_weights,
    tiny_exaone_config,
)
from course_utils.llamafy import llama_name

# EXAONE-3.0-7.8B-Instruct's config.json as published (fields that shape the weights).
EXAONE_3_0_7_8B = {
    "model_type": "exaone", "vocab_size": 102400, "hidden_size": 4096, "intermediate_size": 14336, "num_layers": 32,
    "num_attention_heads": 32, "num_key_value_heads": 8, "layer_norm_epsilon": 1e-5, "rope_theta": 500000.0,
    "rope_scaling": None, "max_position_embeddings": 4096, "tie_word_embeddings": False, "activation_function": "silu",
}


def test_published_config_gives_7_8_billion_parameters():
    shapes = exaone_tensor_shapes(exaone_settings(EXAONE_3_0_7_8B))
    parameters = sum(torch.Size(shape).numel() for shape in shapes.values())
    assert 7.8e9 < parameters < 7.9e9
    assert shapes["transformer.h.0.attn.attention.k_proj.weight"] == (1024, 4096)  # 8 KV heads of 128


def test_missing_fields_take_exaone_defaults_not_llama_defaults():
    settings = exaone_settings({"hidden_size": 64, "num_attention_heads": 4, "num_layers": 1})
    assert settings.tie_word_embeddings is True  # LlamaConfig would say False
    assert settings.layer_norm_epsilon == 1e-5  # LlamaConfig would say 1e-6
    assert settings.num_key_value_heads == 4 and settings.head_dim == 16 and settings.intermediate_size == 256


def llama_twin(config: dict, seed: int) -> tuple[LlamaForCausalLM, dict]:
    """A random transformers Llama and the same weights under EXAONE names."""
    s = exaone_settings(config)
    llama = LlamaForCausalLM(LlamaConfig(
        vocab_size=s.vocab_size, hidden_size=s.hidden_size, intermediate_size=s.intermediate_size,
        num_hidden_layers=s.num_layers, num_attention_heads=s.num_attention_heads,
        num_key_value_heads=s.num_key_value_heads, rms_norm_eps=s.layer_norm_epsilon, head_dim=s.head_dim,
        rope_parameters={"rope_type": "default", "rope_theta": s.rope_theta},
        tie_word_embeddings=s.tie_word_embeddings,
    )).eval()
    exaone = random_exaone_weights(config, seed)
    state = {llama_name(name): tensor for name, tensor in exaone.items()}
    llama.load_state_dict(state, strict=False)
    assert all(torch.equal(llama.state_dict()[k], v) for k, v in state.items())
    return llama, exaone


@pytest.mark.parametrize("overrides", [
    {"num_attention_heads": 4, "num_key_value_heads": 4, "tie_word_embeddings": True},
    {"num_attention_heads": 8, "num_key_value_heads": 2},
], ids=["mha-tied", "gqa4-untied"])
def test_reference_logits_match_transformers_llama(overrides):
    config = tiny_exaone_config(**overrides)
    llama, exaone = llama_twin(config, seed=3)
    ids = torch.randint(0, config["vocab_size"], (2, 10), generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        expected = llama(ids).logits
    assert (exaone_logits(exaone, config, ids) - expected).abs().max().item() <= 1e-5


def test_swapping_gate_and_up_changes_the_logits():
    """The check is sharp enough to catch the classic llamafy mistake (c_fc_0 and c_fc_1 swapped)."""
    config = tiny_exaone_config()
    weights = random_exaone_weights(config, seed=1)
    swapped = dict(weights)
    for i in range(config["num_layers"]):
        gate, up = f"transformer.h.{i}.mlp.c_fc_0.weight", f"transformer.h.{i}.mlp.c_fc_1.weight"
        swapped[gate], swapped[up] = weights[up], weights[gate]
    ids = torch.arange(12)[None]
    assert (exaone_logits(weights, config, ids) - exaone_logits(swapped, config, ids)).abs().max().item() > 1e-2


def test_greedy_continuation_matches_transformers_generate():
    config = tiny_exaone_config()
    llama, exaone = llama_twin(config, seed=5)
    prompt = torch.tensor([[5, 17, 42, 9]])
    expected = llama.generate(prompt, max_new_tokens=6, do_sample=False, pad_token_id=0)[:, prompt.shape[1]:]
    assert torch.equal(exaone_greedy(exaone, config, prompt, max_new_tokens=6), expected)


def test_a_config_re_saved_with_rope_parameters_reads_the_same():
    llama3 = {"rope_type": "llama3", "factor": 8.0, "low_freq_factor": 1.0, "high_freq_factor": 4.0,
              "original_max_position_embeddings": 8192}
    legacy = exaone_settings(tiny_exaone_config(rope_theta=1e6, rope_scaling=llama3))
    nested = {k: v for k, v in tiny_exaone_config().items() if k not in ("rope_theta", "rope_scaling")}
    assert exaone_settings({**nested, "rope_parameters": {**llama3, "rope_theta": 1e6}}) == legacy


def test_logit_agreement_separates_rounding_from_a_wrong_model():
    from course_utils.exaone_reference import logit_agreement

    config = tiny_exaone_config()
    weights = random_exaone_weights(config)
    input_ids = torch.arange(1, 17)[None]
    reference = exaone_logits(weights, config, input_ids)
    same = logit_agreement(reference.half().float(), reference)
    assert same["top1_agreement"] == 1.0 and same["relative"] < 1e-3
    swapped = dict(weights)
    for i in range(config["num_layers"]):
        block = f"transformer.h.{i}.mlp."
        swapped[block + "c_fc_0.weight"], swapped[block + "c_fc_1.weight"] = weights[block + "c_fc_1.weight"], weights[block + "c_fc_0.weight"]
    wrong = logit_agreement(exaone_logits(swapped, config, input_ids), reference)
    assert wrong["relative"] > 100 * same["relative"]
    with pytest.raises(ValueError, match="same input_ids"):
        logit_agreement(reference[:, :3], reference)
