"""Lesson 08's persona plumbing: row checks, chat-template examples, the system-prompt budget and the persona measures."""
import json

import pytest

from course_utils.persona import (
    PERSONA_DIR,
    SHORT_SYSTEM_PROMPT,
    STYLE_MARKERS,
    SYSTEM_PROMPT,
    added_markers,
    check_system_prompt_fits,
    general_accuracy,
    hangul_share,
    judge_scores,
    load_jsonl,
    load_persona_data,
    marker_hits,
    marker_rate,
    parse_judge_score,
    persona_dataset,
    persona_judge_prompt,
    render_llama3,
    to_prompt_completion,
    user_message,
    validate_persona_rows,
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
        ({"instruction": "안녕?", "input": None, "output": "응."}, ["Row 2", "'input' must be text"]),
    ],
)
def test_bad_rows_are_named_in_one_sentence(row, words):
    with pytest.raises(ValueError) as error:
        validate_persona_rows([GOOD, row], "ironman_train.jsonl")
    message = str(error.value)
    assert all(word in message for word in words), message
    assert message.count(". ") == 0 and "\n" not in message  # one sentence


def test_empty_input_is_allowed_and_an_empty_file_is_not():
    assert validate_persona_rows([GOOD]) == [GOOD]
    with pytest.raises(ValueError, match="no rows"):
        validate_persona_rows([])


def test_a_broken_json_line_reports_its_number(tmp_path):
    path = tmp_path / "rows.jsonl"
    path.write_text(json.dumps(GOOD, ensure_ascii=False) + "\n{not json\n", encoding="utf-8")
    with pytest.raises(ValueError, match="line 2"):
        load_jsonl(path)


# ---------------------------------------------------------------- the shipped data, as the measures need it
def test_shipped_data_loads_and_held_out_prompts_are_unseen():
    train, heldout, general = load_persona_data()
    assert len(train) >= 200 and len(heldout) >= 40 and len(general) >= 5
    seen = {row["instruction"].strip() for row in train}
    assert not [h["instruction"] for h in heldout if h["instruction"].strip() in seen]


def test_every_style_marker_occurs_in_the_training_outputs():
    outputs = [row["output"] for row in load_jsonl(PERSONA_DIR / "ironman_train.jsonl")]
    missing = [m for group in STYLE_MARKERS.values() for m in group if not any(m in o for o in outputs)]
    assert missing == []
    assert marker_rate(outputs) > 0.8  # the measure is reachable: most training answers carry a marker


# ---------------------------------------------------------------- chat-template examples
def test_rows_become_conversational_prompt_completion():
    example = to_prompt_completion({**GOOD, "input": "오늘은 월요일"}, system="SYS")
    assert example["prompt"] == [{"role": "system", "content": "SYS"}, {"role": "user", "content": "기분 어때?\n\n오늘은 월요일"}]
    assert example["completion"] == [{"role": "assistant", "content": GOOD["output"]}]
    assert user_message(GOOD) == "기분 어때?"
    dataset = persona_dataset([GOOD, GOOD], system="SYS")
    assert dataset.column_names == ["prompt", "completion"] and len(dataset) == 2


def test_prompt_render_is_a_prefix_of_the_full_example(offline_tokenizer):
    """TRL finds the completion where prompt and prompt+completion diverge: the prompt must be an exact prefix."""
    example = to_prompt_completion(GOOD, system=SHORT_SYSTEM_PROMPT)
    prompt = offline_tokenizer.apply_chat_template(example["prompt"], tokenize=False, add_generation_prompt=True)
    full = offline_tokenizer.apply_chat_template(example["prompt"] + example["completion"], tokenize=False)
    assert full.startswith(prompt) and full[len(prompt):].startswith(GOOD["output"])
    assert prompt.startswith("<|im_start|>system\n" + SHORT_SYSTEM_PROMPT)


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


# ---------------------------------------------------------------- measures
def test_markers_count_only_what_the_answer_adds():
    assert marker_hits("자비스, 수트 가져와.") == ["수트", "자비스"]
    assert added_markers("소코비아 협정은 복잡해.", "소코비아 협정 어때?") == []
    assert marker_rate(["소코비아 협정은 복잡해.", "수트가 답이야."], ["소코비아 협정 어때?", "뭐 타?"]) == 0.5
    assert marker_rate(["Hello there."]) == 0.0


def test_hangul_share_counts_letters_only():
    assert hangul_share("수트 Mark 42!") == pytest.approx(2 / 6)
    assert hangul_share("안녕, 123.") == 1.0
    assert hangul_share("!!!") == 0.0


@pytest.mark.parametrize(
    "reply, score",
    [("점수: 4점", 4), ("**5**/5", 5), ("3", 3), ("I would give it a 2.", 2), ("10점", None), ("no score", None), ("0", None)],
)
def test_parse_judge_score(reply, score):
    assert parse_judge_score(reply) == score


def test_general_accuracy_uses_the_short_answer_rule():
    assert general_accuracy(["서울이지. 당연한 걸 묻네.", "38이야"], ["서울", "8"]) == 0.5


def test_judge_scores_are_expected_values_between_1_and_5(offline_model, offline_tokenizer):
    assert "Tony Stark" in persona_judge_prompt("기분 어때?", "최고지.")
    scores = judge_scores(offline_model, offline_tokenizer, ["기분 어때?", "뭐 먹어?"], ["최고지. 수트도 멀쩡해.", "I don't know."])
    assert len(scores) == 2 and all(1.0 <= s <= 5.0 for s in scores)
    with pytest.raises(ValueError, match="one answer per question"):
        judge_scores(offline_model, offline_tokenizer, ["a", "b"], ["x"])
