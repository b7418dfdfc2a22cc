"""Merging: the merged model computes what base + adapter computed, reloads as a plain model, and refuses a wrong base."""
import pytest
import torch
from peft import LoraConfig, get_peft_model
from transformers import AutoModelForCausalLM, LlamaConfig, LlamaForCausalLM

from course_utils.adapter_merge import check_adapter_matches_base, lora_shapes, merge_adapter, same_model_name


def tiny_llama(hidden: int = 32, name: str = "course/tiny-llama", seed: int = 0) -> LlamaForCausalLM:
    torch.manual_seed(seed)
    config = LlamaConfig(
        vocab_size=128, hidden_size=hidden, intermediate_size=2 * hidden, num_hidden_layers=2,
        num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=64,
    )
    model = LlamaForCausalLM(config).eval()
    model.config._name_or_path = model.name_or_path = name  # what from_pretrained would record
    return model


@pytest.fixture
def adapter_dir(tmp_path):
    """A saved adapter with non-zero B matrices (the default init is B = 0, which would make any merge 'match')."""
    peft_model = get_peft_model(
        tiny_llama(), LoraConfig(r=4, lora_alpha=8, target_modules="all-linear", init_lora_weights=False)
    )
    peft_model.save_pretrained(tmp_path / "adapter")
    return tmp_path / "adapter"


INPUT_IDS = torch.tensor([[1, 5, 9, 17, 33, 2]])


def test_merged_logits_match_base_plus_adapter_and_survive_a_plain_reload(adapter_dir, tmp_path):
    from peft import PeftModel

    with torch.no_grad():
        base_logits = tiny_llama()(INPUT_IDS).logits
        adapter_logits = PeftModel.from_pretrained(tiny_llama(), str(adapter_dir)).eval()(INPUT_IDS).logits
        assert not torch.allclose(base_logits, adapter_logits, atol=1e-3)  # the adapter changes something

        merged = merge_adapter(tiny_llama(), adapter_dir)
        assert type(merged) is LlamaForCausalLM and not hasattr(merged, "module")  # no wrapper: call merged.generate
        torch.testing.assert_close(merged(INPUT_IDS).logits, adapter_logits, atol=1e-5, rtol=1e-4)

        merged.save_pretrained(tmp_path / "merged")
        reloaded = AutoModelForCausalLM.from_pretrained(tmp_path / "merged").eval()
        torch.testing.assert_close(reloaded(INPUT_IDS).logits, adapter_logits, atol=1e-5, rtol=1e-4)
        generated = reloaded.generate(INPUT_IDS, max_new_tokens=3, do_sample=False, pad_token_id=0)
    assert generated.shape == (1, INPUT_IDS.shape[1] + 3)


def test_shapes_are_read_from_the_adapter(adapter_dir):
    shapes = lora_shapes(adapter_dir)
    assert shapes["model.layers.0.self_attn.q_proj"] == (32, 32)
    assert shapes["model.layers.1.mlp.down_proj"] == (64, 32)


def test_a_base_of_another_size_is_refused_with_a_clear_error(adapter_dir):
    with pytest.raises(ValueError, match="expects model.layers.0") as error:
        check_adapter_matches_base(adapter_dir, tiny_llama(hidden=48))
    assert "load the base model 'course/tiny-llama'" in str(error.value)


def test_a_base_with_another_name_is_refused_unless_asked(adapter_dir):
    other = tiny_llama(name="someone/other-model")
    with pytest.raises(ValueError, match="was trained on 'course/tiny-llama'"):
        merge_adapter(other, adapter_dir)
    check_adapter_matches_base(adapter_dir, other, check_name=False)  # same shapes: allowed when asked


def test_hub_id_and_local_copy_count_as_the_same_model():
    assert same_model_name("HuggingFaceTB/SmolLM2-135M-Instruct", "/root/.cache/llm-course/SmolLM2-135M-Instruct/")
    assert not same_model_name("beomi/Llama-3-Open-Ko-8B-Instruct-preview", "HuggingFaceTB/SmolLM2-135M-Instruct")


def test_a_missing_adapter_folder_says_what_to_pass(tmp_path):
    with pytest.raises(FileNotFoundError, match="save_model"):
        check_adapter_matches_base(tmp_path, tiny_llama())
