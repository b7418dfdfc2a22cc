"""Chat-template prompts: one user turn's text, the system prompt's token budget, and Llama 3's format."""
import pytest

from course_utils.chat_format import chat_messages, chat_text, check_system_prompt_fits, render_llama3
from course_utils.persona import SHORT_SYSTEM_PROMPT, SYSTEM_PROMPT


def test_chat_text_uses_the_template_and_opens_the_assistant_turn(offline_tokenizer):
    text = chat_text(offline_tokenizer, "안녕?", system="짧게 답하세요.")
    assert text.index("짧게 답하세요.") < text.index("안녕?")
    assert text.rstrip().endswith("assistant")
    assert chat_messages("안녕?") == [{"role": "user", "content": "안녕?"}]


def test_a_system_prompt_too_long_for_max_length_is_refused(offline_tokenizer):
    with pytest.raises(ValueError, match="max_length=256") as error:
        check_system_prompt_fits(offline_tokenizer, SYSTEM_PROMPT, max_length=256)
    assert "shorten the system prompt or raise max_length" in str(error.value)
    assert check_system_prompt_fits(offline_tokenizer, SHORT_SYSTEM_PROMPT, max_length=256) <= 128
    assert check_system_prompt_fits(offline_tokenizer, SYSTEM_PROMPT, max_length=1024) > 256


def test_llama3_format_has_headers_and_end_of_turn_tokens():
    text = render_llama3([{"role": "system", "content": "SYS"}, {"role": "user", "content": "안녕?"}])
    assert text == (
        "<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\nSYS<|eot_id|>"
        "<|start_header_id|>user<|end_header_id|>\n\n안녕?<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n"
    )


def test_a_tokenizer_without_a_chat_template_is_one_sentence(offline_tokenizer):
    """A base model's tokenizer has no template; transformers' own message is several sentences and a link."""
    import copy

    base = copy.deepcopy(offline_tokenizer)
    base.chat_template = None
    with pytest.raises(ValueError, match="has no chat template: load the Instruct model's tokenizer"):
        chat_text(base, "안녕?")


def test_chat_text_is_tokenized_without_a_second_bos_in_every_notebook(llama3_tokenizer):
    """Llama 3's chat template writes <|begin_of_text|> itself; the tokenizer's defaults would put another in front."""
    import re
    from pathlib import Path

    text = chat_text(llama3_tokenizer, "안녕?")
    bos = llama3_tokenizer.bos_token_id
    assert llama3_tokenizer(text)["input_ids"][:2] == [bos, bos]  # the defaults: two BOS
    assert llama3_tokenizer(text, add_special_tokens=False)["input_ids"].count(bos) == 1
    notebooks = sorted((Path(__file__).resolve().parents[1] / "notebooks").glob("*.py"))
    calls = [(path.name, call) for path in notebooks
             for call in re.findall(r"tokenizer\((?=persona_prompts\(|chat_text\()(?:[^()]|\([^()]*\))*\)", path.read_text())]
    assert calls, "the scan found no chat-template text being tokenized: update the pattern"
    doubled = [f"{name}: {call}" for name, call in calls if "add_special_tokens=False" not in call]
    assert not doubled, doubled
