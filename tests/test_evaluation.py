"""Scoring answers: exact-answer rules, the benchmark, the blind A/B sheet, 95 % intervals, probes kept from training."""
import json

import pytest

from course_utils.evaluation import (
    BenchmarkScore, benchmark_prompt, blind_ab_sheet, bootstrap_mean_interval, extract_choice, is_correct,
    load_benchmark, load_probe_questions, paired_difference_interval, reveal, score_benchmark, short_answer_matches,
    topic_overlap, wilson_interval, with_interval,
)
from course_utils.prompts import alpaca_prompt

MC = {"id": "x", "question": "Red planet?", "choices": ["Mars", "Venus", "Jupiter", "Saturn"], "answer": "A", "lang": "en"}
SHORT = {"id": "y", "question": "7 x 8?", "choices": None, "answer": "56", "lang": "ko"}


@pytest.mark.parametrize("text,letter", [
    ("A", "A"), ("B.", "B"), ("(C) Jupiter", "C"), ("Answer: D", "D"), ("정답: B", "B"), ("The answer is C", "C"),
    ("Venus", "B"), ("Mars or Venus", None), ("", None), ("I think so", None),
])
def test_extract_choice(text, letter):
    assert extract_choice(text, MC["choices"]) == letter


@pytest.mark.parametrize("text,ok", [
    ("56", True), ("56.", True), ("정답은 56입니다", True), ("7 x 8 = 56", True), ("156", False), ("5 6", False),
    ("560", False), ("\n\n56\nmore lines", True), ("It is 54.\n56", False),
])
def test_short_answer_rule(text, ok):
    assert short_answer_matches(text, "56") is ok


def test_korean_short_answer_allows_particles_and_case_is_ignored():
    assert short_answer_matches("서울입니다.", "서울")
    assert short_answer_matches("The capital is TOKYO.", "Tokyo")
    assert not short_answer_matches("", "Tokyo")


def test_score_benchmark_counts_per_group():
    score = score_benchmark([MC, SHORT, MC], ["A", "55", "Saturn"])
    assert (score.correct, score.total) == (1, 3)
    assert score.by_group == {"en-mc": (1, 2), "ko-short": (0, 1)}
    assert isinstance(score, BenchmarkScore) and score.accuracy == pytest.approx(1 / 3)
    with pytest.raises(ValueError, match="one answer per question"):
        score_benchmark([MC], [])


def test_shipped_benchmark_loads_and_its_own_answers_score_perfectly():
    items = load_benchmark()
    assert len(items) >= 40
    assert score_benchmark(items, [item["answer"] for item in items]).accuracy == 1.0
    # a multiple-choice item is also right when the model writes the choice's text instead of its letter
    mc_items = [i for i in items if i["choices"]]
    assert all(is_correct(i["choices"][ord(i["answer"]) - 65], i) for i in mc_items)
    mc = next(i for i in items if i["choices"])
    assert "A. " in benchmark_prompt(mc) and benchmark_prompt(mc).startswith(alpaca_prompt("x")[:40])


@pytest.mark.parametrize("item,message", [
    ({"id": "a", "question": "q", "answer": "", "lang": "en"}, "has an empty 'answer'"),
    ({"id": "a", "question": "q", "choices": ["1", "2"], "answer": "A", "lang": "en"}, r"\(a\) needs exactly four"),
    ({"id": "a", "question": "q", "choices": ["1", "2", "3", "4"], "answer": "E", "lang": "en"}, r"\(a\) has choices, so its answer must be one of A, B, C, D"),
])
def test_bad_benchmark_rows_are_named_with_file_and_line(tmp_path, item, message):
    path = tmp_path / "bench.jsonl"
    path.write_text(json.dumps(SHORT) + "\n" + json.dumps(item) + "\n")
    with pytest.raises(ValueError, match=f"^Line 2 of bench.jsonl {message}"):
        load_benchmark(path)


def test_blind_sheet_hides_labels_and_reveal_counts_by_model():
    questions = [f"q{i}" for i in range(12)]
    sheet = blind_ab_sheet(questions, {"base": [f"b{i}" for i in range(12)], "tuned": [f"t{i}" for i in range(12)]}, seed=1)
    assert sorted(r["question"] for r in sheet.rows) == sorted(questions)
    assert all("base" not in str(r) and "tuned" not in str(r) for r in sheet.rows)
    firsts = [k[0] for k in sheet.key]
    assert 0 < firsts.count("tuned") < 12  # both orders occur
    # vote for whichever answer the tuned model wrote: reveal must give it every row
    votes = ["1" if first == "tuned" else "2" for first in firsts]
    assert reveal(sheet, votes) == {"base": 0, "tuned": 12, "tie": 0}
    assert reveal(sheet, ["tie"] * 12)["tie"] == 12
    with pytest.raises(ValueError, match="12 rows"):
        reveal(sheet, ["1"])
    with pytest.raises(ValueError, match="is not '1', '2' or 'tie'"):
        reveal(sheet, ["3"] * 12)


def test_blind_sheet_rows_keep_each_answer_with_its_question():
    sheet = blind_ab_sheet(["q0", "q1"], {"m": ["m0", "m1"], "n": ["n0", "n1"]}, seed=3)
    for row in sheet.rows:
        i = row["question"][1]
        assert {row["answer_1"], row["answer_2"]} == {f"m{i}", f"n{i}"}


def test_wilson_interval_matches_the_textbook_values():
    # 20/44 (the benchmark's size): Wilson 95 % is [0.3171, 0.5994] (by hand: centre 0.4582, half-width 0.1411); 0/10 is not a zero-width interval
    low, high = wilson_interval(20, 44)
    assert low == pytest.approx(0.3171, abs=1e-3) and high == pytest.approx(0.5994, abs=1e-3)
    assert wilson_interval(0, 10) == (0.0, pytest.approx(0.2775, abs=1e-3))
    assert wilson_interval(10, 10)[1] == 1.0 and wilson_interval(10, 10)[0] == pytest.approx(0.7225, abs=1e-3)
    with pytest.raises(ValueError, match="between 0 and a positive total"):
        wilson_interval(3, 0)


def test_bootstrap_interval_covers_the_mean_and_shrinks_with_more_items():
    small = bootstrap_mean_interval([1, 2, 3, 4, 5])
    large = bootstrap_mean_interval([1, 2, 3, 4, 5] * 20)
    assert small[0] < 3 < small[1] and large[0] < 3 < large[1]
    assert large[1] - large[0] < small[1] - small[0]
    assert bootstrap_mean_interval([2.0, 2.0]) == (2.0, 2.0)


def test_paired_difference_contains_zero_when_models_swap_equally_many_items():
    before = [1, 0] * 10 + [1] * 24
    after = [0, 1] * 10 + [1] * 24  # ten items won, ten lost: no evidence either way
    low, high = paired_difference_interval(before, after)
    assert low < 0 < high
    low, high = paired_difference_interval([0] * 44, [1] * 30 + [0] * 14)
    assert low > 0


def test_benchmark_score_reports_its_interval():
    score = score_benchmark([MC, SHORT], ["A", "57"])
    assert score.per_item == [True, False]
    assert score.interval == wilson_interval(1, 2)
    assert "50.0 % [" in str(score)
    assert with_interval(0.5, (0.25, 0.75)) == "50.0 % [25.0, 75.0]"
    assert with_interval(3.0, (2.5, 3.25), percent=False) == "3.00 [2.50, 3.25]"


# The measure: topic_overlap (shared content words over the smaller set). Measured on data/alpaca_ko_en.jsonl, the
# probes the course used before scored 0.67-1.0 against the rows they paraphrase (91, 191, 259, 303); the shipped
# probes score at most 0.33. Below 0.5 means no training row shares more than half of a probe's topic words.
PROBE_DISTANCE = 0.5
OLD_PROBES = {
    "Give three tips for staying healthy.": 91,
    "Explain in two sentences what fine-tuning a language model means.": 191,
    "파이썬에서 리스트와 튜플의 차이를 설명해 주세요.": 259,
    "한국의 사계절을 한 문장씩 소개해 주세요.": 303,
}


def training_questions() -> list[str]:
    from course_utils.alpaca_data import OFFLINE_FILE
    from course_utils.data_files import read_jsonl

    rows = read_jsonl(OFFLINE_FILE)
    return [f"{row['instruction']} {row['input']}" for row in rows]


def test_the_measure_catches_the_paraphrases_lesson_06_used_to_probe_with():
    rows = training_questions()
    for probe, row in OLD_PROBES.items():
        assert topic_overlap(probe, rows[row - 1]) >= PROBE_DISTANCE, (probe, rows[row - 1])
    assert topic_overlap("Why does ice float on water?", "What are some ways to save water at home?") < PROBE_DISTANCE


def test_every_probe_stays_away_from_every_training_row():
    probes, rows = load_probe_questions(), training_questions()
    assert len(probes) == 6
    near = [(p, r, round(topic_overlap(p, r), 2)) for p in probes for r in rows if topic_overlap(p, r) >= PROBE_DISTANCE]
    assert not near, f"probe questions paraphrase training rows: {near}"
