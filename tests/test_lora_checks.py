"""The LoRA checks catch a bad config with a useful message, and the counts agree with peft's own."""
import pytest
import torch
from peft import LoraConfig, get_peft_model
from transformers import LlamaConfig, LlamaForCausalLM

from course_utils.lora_checks import check_lora_config, linear_layer_names, lora_parameter_count, trainable_parameters
from course_utils.quantization import model_on_meta

ALL_SEVEN = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]


def tiny_llama() -> LlamaForCausalLM:
    torch.manual_seed(0)
    return LlamaForCausalLM(LlamaConfig(hidden_size=64, intermediate_size=160, num_hidden_layers=2,
                                        num_attention_heads=4, num_key_value_heads=2, vocab_size=300))


def test_linear_layer_names_leave_out_the_head():
    assert linear_layer_names(tiny_llama()) == sorted(ALL_SEVEN)


def test_names_are_the_same_after_peft_wrapped_the_model():
    model = tiny_llama()
    get_peft_model(model, LoraConfig(r=4, target_modules=["q_proj", "v_proj"]))  # wraps the layers in place
    assert linear_layer_names(model) == sorted(ALL_SEVEN)


def test_unmatched_target_modules_name_the_real_layers():
    with pytest.raises(ValueError, match="q_proj") as error:
        check_lora_config(tiny_llama(), LoraConfig(r=8, target_modules=["query", "value"]))
    assert "matches no linear layer" in str(error.value)


@pytest.mark.parametrize("r", [0, -4])
def test_rank_must_be_positive(r):
    with pytest.raises(ValueError, match="positive"):
        check_lora_config(tiny_llama(), LoraConfig(r=r, target_modules=["q_proj"]))


@pytest.mark.parametrize("r, targets", [(4, ["q_proj", "v_proj"]), (16, ALL_SEVEN), (8, "all-linear"), (2, r".*\.mlp\..*_proj")])
def test_count_equals_peft_trainable_parameters(r, targets):
    config = LoraConfig(r=r, target_modules=targets)
    predicted = lora_parameter_count(tiny_llama(), config)
    peft_model = get_peft_model(tiny_llama(), config)
    assert predicted == peft_model.get_nb_trainable_parameters()[0] == trainable_parameters(peft_model)[0]
    assert trainable_parameters(peft_model)[1] == peft_model.get_nb_trainable_parameters()[1]


def test_count_on_llama3_8b_shapes_needs_no_weights():
    config = LlamaConfig(hidden_size=4096, num_hidden_layers=32, num_attention_heads=32, num_key_value_heads=8,
                         intermediate_size=14336, vocab_size=128256)
    count = lora_parameter_count(model_on_meta(config), LoraConfig(r=16, target_modules=["q_proj", "v_proj"]))
    assert count == 32 * 16 * ((4096 + 4096) + (4096 + 1024))  # v_proj: 8 KV heads x 128 = 1024 outputs
