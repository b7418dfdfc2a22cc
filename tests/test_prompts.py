"""The one Alpaca prompt: its exact text, the single EOS, and a clean token boundary for completion-only loss."""
import pytest
from transformers import AutoTokenizer

from course_utils.offline_model import offline_model_path
from course_utils.prompts import (
    STOP_STRINGS, alpaca_completion, alpaca_prompt, alpaca_text, bos_text, cut_at_stop, instruction_from_prompt, with_bos,
)

EOS = "<|im_end|>"


def test_prompt_without_input_is_the_alpaca_template():
    assert alpaca_prompt("Name a colour.") == (
        "Below is an instruction that describes a task. Write a response that appropriately completes the request.\n\n"
        "### Instruction:\nName a colour.\n\n### Response:\n"
    )


def test_prompt_with_input_has_the_input_section_and_longer_preamble():
    prompt = alpaca_prompt("Translate into English.", "안녕하세요")
    assert "paired with an input" in prompt
    assert prompt.endswith("### Instruction:\nTranslate into English.\n\n### Input:\n안녕하세요\n\n### Response:\n")


def test_blank_input_gives_the_same_prompt_as_no_input():
    assert alpaca_prompt("Hi", "   ") == alpaca_prompt("Hi") == alpaca_prompt("Hi", None)


def test_empty_instruction_is_refused():
    with pytest.raises(ValueError, match="instruction is empty"):
        alpaca_prompt("  ")


@pytest.mark.parametrize("output", ["Blue.", "Blue." + EOS, "Blue.  " + EOS + EOS, " Blue.\n"])
def test_completion_ends_in_exactly_one_eos(output):
    completion = alpaca_completion(output, EOS)
    assert completion == "Blue." + EOS
    assert completion.count(EOS) == 1


def test_completion_needs_an_eos_token():
    with pytest.raises(ValueError, match="no EOS"):
        alpaca_completion("x", "")


def test_text_is_prompt_plus_completion():
    assert alpaca_text("Hi", "Hello", EOS) == alpaca_prompt("Hi") + "Hello" + EOS


def test_cut_at_stop_drops_the_next_invented_example():
    assert cut_at_stop("Blue.\n\n### Instruction:\nName another") == "Blue."
    assert cut_at_stop("No stop here") == "No stop here"
    assert "### Response:" in STOP_STRINGS


@pytest.fixture(scope="module")
def tokenizer():
    return AutoTokenizer.from_pretrained(offline_model_path())


@pytest.mark.parametrize("instruction,output", [
    ("What is 2 + 2?", "4"),
    ("한국의 수도는 어디인가요?", "서울입니다."),
    ("List two fruits.", "- apple\n- pear"),
])
def test_prompt_tokens_are_a_prefix_of_prompt_plus_completion(tokenizer, instruction, output):
    # TRL finds the completion where the two tokenizations diverge; a merge across the boundary would shift the mask
    prompt = alpaca_prompt(instruction)
    prompt_ids = tokenizer(prompt, add_special_tokens=False)["input_ids"]
    full_ids = tokenizer(prompt + alpaca_completion(output, tokenizer.eos_token), add_special_tokens=False)["input_ids"]
    assert full_ids[: len(prompt_ids)] == prompt_ids
    assert full_ids[-1] == tokenizer.eos_token_id and full_ids.count(tokenizer.eos_token_id) == 1


def test_instruction_round_trips_through_the_prompt():
    assert instruction_from_prompt(alpaca_prompt("Name a colour.")) == "Name a colour."
    assert instruction_from_prompt(alpaca_prompt("Translate.", "안녕")) == "Translate."
    with pytest.raises(ValueError, match="not an alpaca_prompt"):
        instruction_from_prompt("Hello")


def test_with_bos_reproduces_the_training_tokenization_for_generate(tokenizer):
    prompt = alpaca_prompt("Name a colour.")
    assert bos_text(tokenizer) == "" and with_bos(tokenizer, [prompt]) == [prompt]  # SmolLM2 adds nothing
    # a tokenizer that adds a BOS by itself, like Llama 3's
    bos_tokenizer = AutoTokenizer.from_pretrained(offline_model_path(), add_bos_token=True)
    trained_ids = bos_tokenizer(prompt)["input_ids"]  # how TRL tokenizes the training prompt
    assert trained_ids[0] == bos_tokenizer.bos_token_id
    (generation_prompt,) = with_bos(bos_tokenizer, [prompt])
    assert bos_tokenizer(generation_prompt, add_special_tokens=False)["input_ids"] == trained_ids
    assert with_bos(bos_tokenizer, [generation_prompt]) == [generation_prompt]  # never twice
