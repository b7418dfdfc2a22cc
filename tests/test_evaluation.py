"""Evaluation: loss and perplexity, exact-answer scoring, the blind A/B sheet, judge prompts, parsing and swapping."""
import math

import pytest
import torch
from transformers import AutoTokenizer

from course_utils.evaluation import (
    JUDGE_RUBRIC, BenchmarkScore, blind_ab_sheet, combine_swapped, completion_loss, expected_scores, extract_choice,
    is_correct, judge_prompt, load_benchmark, longer_answer_win_rate, markdown_table, parse_judge_scores,
    perplexity_from_loss, reveal, score_benchmark, short_answer_matches, swapped_judge_prompts, benchmark_prompt,
    check_benchmark_item, completion_token_ids, wilson_interval, bootstrap_mean_interval, paired_difference_interval,
    with_interval, topic_overlap, load_probe_questions,
)
from course_utils.offline_model import offline_model_path
from course_utils.prompts import alpaca_prompt

MC = {"id": "x", "question": "Red planet?", "choices": ["Mars", "Venus", "Jupiter", "Saturn"], "answer": "A", "lang": "en"}
SHORT = {"id": "y", "question": "7 x 8?", "choices": None, "answer": "56", "lang": "ko"}


@pytest.fixture(scope="module")
def tokenizer():
    tok = AutoTokenizer.from_pretrained(offline_model_path())
    tok.pad_token = "<|endoftext|>"
    return tok


@pytest.fixture(scope="module")
def tiny_model(tokenizer, tiny_llama_builder):
    return tiny_llama_builder(len(tokenizer), hidden=32, layers=2, heads=4, kv_heads=2, max_position_embeddings=256)


def test_perplexity_is_exp_of_loss():
    assert perplexity_from_loss(0.0) == 1.0
    assert perplexity_from_loss(math.log(7)) == pytest.approx(7)


def test_completion_loss_counts_only_completion_tokens(tokenizer, tiny_model):
    prompts = [alpaca_prompt("Say hi."), alpaca_prompt("Name a fruit, please, in one word only.")]
    completions = ["Hi!" + tokenizer.eos_token, "Apple." + tokenizer.eos_token]
    batched = completion_loss(tiny_model, tokenizer, prompts, completions, batch_size=2)
    # by hand: sum of completion-token NLL over both rows / number of completion tokens
    total, count = 0.0, 0
    for prompt, completion in zip(prompts, completions):
        n_prompt = len(tokenizer(prompt, add_special_tokens=False)["input_ids"])
        ids = torch.tensor([tokenizer(prompt + completion, add_special_tokens=False)["input_ids"]])
        logits = tiny_model(input_ids=ids).logits[0, :-1]
        nll = torch.nn.functional.cross_entropy(logits, ids[0, 1:], reduction="none")[n_prompt - 1 :]
        total, count = total + nll.sum().item(), count + len(nll)
    assert batched == pytest.approx(total / count, rel=1e-4)
    # padding and batch size do not change the number
    assert completion_loss(tiny_model, tokenizer, prompts, completions, batch_size=1) == pytest.approx(batched, rel=1e-4)


def test_chat_prompt_keeps_a_single_bos(llama3_tokenizer):
    from course_utils.generation import chat_text

    prompt = chat_text(llama3_tokenizer, "1+1?")
    assert prompt.startswith("<|begin_of_text|>")  # the Llama 3 chat template writes the BOS itself
    ids, labels = completion_token_ids(llama3_tokenizer, prompt, "2<|eot_id|>")
    assert ids.count(128000) == 1 and ids[0] == 128000
    assert [t for t in labels if t != -100] == llama3_tokenizer.encode("2<|eot_id|>", add_special_tokens=False)
    # a plain Alpaca prompt still gets the BOS Llama 3 adds by default, as TRL trained it
    plain_ids, _ = completion_token_ids(llama3_tokenizer, alpaca_prompt("1+1?"), "2")
    assert plain_ids.count(128000) == 1 and plain_ids[0] == 128000


def test_completion_loss_of_a_chat_prompt_is_computed_after_one_bos(llama3_tokenizer, tiny_llama3):
    from course_utils.generation import chat_text

    prompt, completion = chat_text(llama3_tokenizer, "Say hi."), "Hi!<|eot_id|>"
    ids = torch.tensor([llama3_tokenizer(prompt + completion, add_special_tokens=False)["input_ids"]])
    n_prompt = len(llama3_tokenizer(prompt, add_special_tokens=False)["input_ids"])
    logits = tiny_llama3(input_ids=ids).logits[0, :-1]
    expected = torch.nn.functional.cross_entropy(logits, ids[0, 1:], reduction="none")[n_prompt - 1 :].mean().item()
    assert completion_loss(tiny_llama3, llama3_tokenizer, [prompt], [completion]) == pytest.approx(expected, rel=1e-5)


def test_completion_loss_refuses_empty_completions(tokenizer, tiny_model):
    with pytest.raises(ValueError, match="No completion tokens"):
        completion_loss(tiny_model, tokenizer, [alpaca_prompt("Hi")], [""])


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
    ({"id": "a", "question": "q", "answer": "", "lang": "en"}, "no usable 'answer'"),
    ({"id": "a", "question": "q", "choices": ["1", "2"], "answer": "A", "lang": "en"}, "exactly four"),
    ({"id": "a", "question": "q", "choices": ["1", "2", "3", "4"], "answer": "E", "lang": "en"}, "one of A, B, C, D"),
])
def test_bad_benchmark_rows_are_named(item, message):
    with pytest.raises(ValueError, match=message):
        check_benchmark_item(item, 3)


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


def test_expected_scores_reads_the_five_score_tokens(tokenizer, tiny_model):
    texts = ["Answer A:", "Some longer context here.\nAnswer B:"]
    results = expected_scores(tiny_model, tokenizer, texts)
    assert len(results) == 2
    for weighted, best in results:
        assert 1.0 <= weighted <= 5.0 and best in range(1, 6)
    # batching with left padding gives the same numbers as one text at a time
    assert expected_scores(tiny_model, tokenizer, texts[1:])[0][0] == pytest.approx(results[1][0], rel=1e-4)


def test_markdown_table_escapes_cells():
    table = markdown_table(["a", "b"], [["x|y", "line1\nline2"], [0.12345, 3]])
    assert table.splitlines()[0] == "| a | b |"
    assert "x\\|y" in table and "line1<br>line2" in table and "0.123" in table


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
    import json

    from course_utils.alpaca_data import OFFLINE_FILE

    rows = [json.loads(line) for line in OFFLINE_FILE.read_text(encoding="utf-8").splitlines() if line.strip()]
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
