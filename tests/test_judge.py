"""The LLM judge: rubric and positions in the prompt, reply parsing, swapped orders, G-Eval scores from probabilities."""
import pytest

from course_utils.judge import (
    JUDGE_RUBRIC, combine_swapped, expected_scores, judge_prompt, longer_answer_win_rate, parse_judge_scores,
    persona_judge_prompt, persona_judge_scores, swapped_judge_prompts,
)


@pytest.fixture
def tokenizer(offline_tokenizer):
    """The offline model's tokenizer, its pad token set as every lesson sets it."""
    return offline_tokenizer


def test_judge_prompt_states_rubric_and_positions():
    prompt = judge_prompt("Q?", "first", "second")
    assert JUDGE_RUBRIC in prompt and "Answer A:\nfirst" in prompt and "Answer B:\nsecond" in prompt
    x_first, y_first = swapped_judge_prompts("Q?", "x", "y")
    assert x_first.index("\nx\n") < x_first.index("\ny\n") and y_first.index("\ny\n") < y_first.index("\nx\n")
    assert "(empty)" in judge_prompt("Q?", "", "y")


@pytest.mark.parametrize("reply,scores", [
    ("Answer A: 4\nAnswer B: 2", (4, 2)), ("answer a: 5/5, answer b: 3/5", (5, 3)), ("**Answer A**: 1\nAnswer B = 5", (1, 5)),
    ("Answer A: **3**\nAnswer B: 3", (3, 3)), ("Both are fine.", None), ("Answer A: 9\nAnswer B: 2", None),
    ("Answer A: 4", None),
])
def test_parse_judge_scores(reply, scores):
    assert parse_judge_scores(reply) == scores


def test_swapping_undoes_positions_and_flags_position_bias():
    # consistent: x better in both orders
    v = combine_swapped((5, 2), (2, 4))
    assert (v.score_x, v.score_y, v.winner, v.consistent) == (4.5, 2.0, "x", True)
    # a judge that always prefers the first answer contradicts itself: no winner
    biased = combine_swapped((5, 2), (5, 2))
    assert biased.winner == "tie" and not biased.consistent
    # one unparsable reply: the other reading decides, but it is not a checked verdict
    single = combine_swapped(None, (1, 4))
    assert single.winner == "x" and not single.consistent
    assert combine_swapped(None, None).winner is None


def test_longer_answer_win_rate():
    verdicts = [combine_swapped((5, 1), (1, 5)), combine_swapped((1, 5), (5, 1)), combine_swapped((3, 3), (3, 3))]
    assert longer_answer_win_rate(verdicts, ["long answer", "x", "a"], ["s", "much longer", "b"]) == 1.0
    assert longer_answer_win_rate(verdicts[2:], ["a"], ["b"]) is None


def test_expected_scores_reads_the_five_score_tokens(tokenizer, tiny_llama):
    texts = ["Answer A:", "Some longer context here.\nAnswer B:"]
    results = expected_scores(tiny_llama, tokenizer, texts)
    assert len(results) == 2
    for weighted, best in results:
        assert 1.0 <= weighted <= 5.0 and best in range(1, 6)
    # batching with left padding gives the same numbers as one text at a time
    assert expected_scores(tiny_llama, tokenizer, texts[1:])[0][0] == pytest.approx(results[1][0], rel=1e-4)


def test_persona_judge_scores_are_expected_values_between_1_and_5(offline_model, offline_tokenizer):
    assert "Tony Stark" in persona_judge_prompt("기분 어때?", "최고지.")
    scores = persona_judge_scores(
        offline_model, offline_tokenizer, ["기분 어때?", "뭐 먹어?"], ["최고지. 수트도 멀쩡해.", "I don't know."], batch_size=1
    )
    assert len(scores) == 2 and all(1.0 <= s <= 5.0 for s in scores)
    # batching with left padding gives the same numbers as one answer at a time
    batched = persona_judge_scores(offline_model, offline_tokenizer, ["기분 어때?", "뭐 먹어?"], ["최고지. 수트도 멀쩡해.", "I don't know."])
    assert batched == pytest.approx(scores, rel=1e-3)
    with pytest.raises(ValueError, match="one answer per question"):
        persona_judge_scores(offline_model, offline_tokenizer, ["a", "b"], ["x"])
