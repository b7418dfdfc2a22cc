"""Lesson 08's persona data: row checks with file and line, the shipped files, and rows as chat-template examples."""
import json

import pytest

from course_utils.persona import (
    SHORT_SYSTEM_PROMPT, load_persona_data, persona_dataset, persona_example, user_message, validate_persona_rows,
)

GOOD = {"instruction": "기분 어때?", "input": "", "output": "최고지. 수트 점검도 끝냈거든."}


# ---------------------------------------------------------------- bad input
@pytest.mark.parametrize(
    "row, words",
    [
        ({"instruction": "안녕?", "input": ""}, ["Row 2", "'output'"]),
        ({"input": "", "output": "응."}, ["Row 2", "'instruction'"]),
        ({"instruction": "안녕?", "input": "", "output": "   "}, ["Row 2", "empty 'output'"]),
        ({"instruction": "", "input": "", "output": "응."}, ["Row 2", "empty 'instruction'"]),
        ({"instruction": "안녕?", "input": 3, "output": "응."}, ["Row 2", "non-string 'input'"]),
    ],
)
def test_bad_rows_are_named_in_one_sentence(row, words):
    with pytest.raises(ValueError) as error:
        validate_persona_rows([GOOD, row], "ironman_train.jsonl")
    message = str(error.value)
    assert all(word in message for word in words), message
    assert message.count(". ") == 0 and "\n" not in message  # one sentence


def test_empty_or_absent_input_is_allowed_and_an_empty_file_is_not():
    no_input = {"instruction": "안녕?", "output": "응."}
    assert validate_persona_rows([GOOD, no_input, {**no_input, "input": None}]) == [GOOD, no_input, {**no_input, "input": None}]
    assert user_message({**no_input, "input": None}) == "안녕?"
    with pytest.raises(ValueError, match="no rows"):
        validate_persona_rows([])


def test_a_bad_line_in_a_shipped_file_is_named_with_file_and_line(tmp_path):
    (tmp_path / "ironman_train.jsonl").write_text(json.dumps(GOOD, ensure_ascii=False) + "\n{not json\n", encoding="utf-8")
    with pytest.raises(ValueError, match="^Line 2 of ironman_train.jsonl is not valid JSON"):
        load_persona_data(tmp_path)
    (tmp_path / "ironman_train.jsonl").write_text(json.dumps({**GOOD, "output": ""}, ensure_ascii=False), encoding="utf-8")
    with pytest.raises(ValueError, match="^Line 1 of ironman_train.jsonl has an empty 'output'"):
        load_persona_data(tmp_path)


# ---------------------------------------------------------------- the shipped data, as the measures need it
def test_shipped_data_loads_and_held_out_prompts_are_unseen():
    train, heldout, general = load_persona_data()
    assert len(train) >= 200 and len(heldout) >= 40 and len(general) >= 5
    seen = {row["instruction"].strip() for row in train}
    assert not [h["instruction"] for h in heldout if h["instruction"].strip() in seen]


# ---------------------------------------------------------------- chat-template examples
def test_rows_become_conversational_prompt_completion():
    example = persona_example({**GOOD, "input": "오늘은 월요일"}, system="SYS")
    assert example["prompt"] == [{"role": "system", "content": "SYS"}, {"role": "user", "content": "기분 어때?\n\n오늘은 월요일"}]
    assert example["completion"] == [{"role": "assistant", "content": GOOD["output"]}]
    assert user_message(GOOD) == "기분 어때?"
    dataset = persona_dataset([GOOD, GOOD], system="SYS")
    assert dataset.column_names == ["prompt", "completion"] and len(dataset) == 2


def test_prompt_render_is_a_prefix_of_the_full_example(offline_tokenizer):
    """TRL finds the completion where prompt and prompt+completion diverge: the prompt must be an exact prefix."""
    example = persona_example(GOOD, system=SHORT_SYSTEM_PROMPT)
    prompt = offline_tokenizer.apply_chat_template(example["prompt"], tokenize=False, add_generation_prompt=True)
    full = offline_tokenizer.apply_chat_template(example["prompt"] + example["completion"], tokenize=False)
    assert full.startswith(prompt) and full[len(prompt):].startswith(GOOD["output"])
    assert prompt.startswith("<|im_start|>system\n" + SHORT_SYSTEM_PROMPT)
