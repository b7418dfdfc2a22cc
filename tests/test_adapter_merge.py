"""Adapter-vs-base checks: a wrong base (other shapes, other recorded name) is refused before PEFT loads it."""
import pytest
from peft import LoraConfig, get_peft_model

from course_utils.adapter_merge import check_adapter_matches_base, lora_shapes, same_model_name


@pytest.fixture(scope="module")
def llama(tiny_llama_builder):
    """Seeded two-layer random Llamas (conftest's one builder) that record a model name, as from_pretrained would."""
    def build(hidden: int = 32, name: str = "course/tiny-llama"):
        model = tiny_llama_builder(128, hidden=hidden, layers=2, heads=4, kv_heads=2, max_position_embeddings=64)
        model.config._name_or_path = model.name_or_path = name
        return model

    return build


@pytest.fixture
def adapter_dir(llama, tmp_path):
    """A saved adapter with non-zero B matrices (the default init is B = 0, which would make any merge 'match')."""
    peft_model = get_peft_model(
        llama(), LoraConfig(r=4, lora_alpha=8, target_modules="all-linear", init_lora_weights=False)
    )
    peft_model.save_pretrained(tmp_path / "adapter")
    return tmp_path / "adapter"



def test_shapes_are_read_from_the_adapter(adapter_dir):
    shapes = lora_shapes(adapter_dir)
    assert shapes["model.layers.0.self_attn.q_proj"] == (32, 32)
    assert shapes["model.layers.1.mlp.down_proj"] == (64, 32)


def test_a_base_of_another_size_is_refused_with_a_clear_error(llama, adapter_dir):
    with pytest.raises(ValueError, match="expects model.layers.0") as error:
        check_adapter_matches_base(adapter_dir, llama(hidden=48))
    assert "load the base model 'course/tiny-llama'" in str(error.value)


def test_a_base_with_another_name_is_refused_unless_asked(llama, adapter_dir):
    other = llama(name="someone/other-model")
    with pytest.raises(ValueError, match="was trained on 'course/tiny-llama'"):
        check_adapter_matches_base(adapter_dir, other)
    check_adapter_matches_base(adapter_dir, other, check_name=False)  # same shapes: allowed when asked


def test_hub_id_and_local_copy_count_as_the_same_model():
    assert same_model_name("HuggingFaceTB/SmolLM2-135M-Instruct", "/root/.cache/llm-course/SmolLM2-135M-Instruct/")
    assert not same_model_name("beomi/Llama-3-Open-Ko-8B-Instruct-preview", "HuggingFaceTB/SmolLM2-135M-Instruct")


def test_a_missing_adapter_folder_says_what_to_pass(llama, tmp_path):
    with pytest.raises(FileNotFoundError, match="save_model"):
        check_adapter_matches_base(tmp_path, llama())
