"""Every T4 time comes from one function; lesson 05's t4 default fits a class; the seed's rate counts its evaluations."""
from dataclasses import replace

import pytest

from course_utils import flops, profiles, t4_estimate
from course_utils.environment import REPO_ROOT
from course_tools.t4_markers import FILES, filled, lesson_estimates
from course_utils.t4_estimate import LLAMA3_8B, Run, alpaca_preset_run, run_flops, seed_run, t4_rates, t4_time

CLASS_BUDGET_FLOPS = 4.6e15  # 45 minutes at 1.7 TFLOP/s: lesson 05 on t4 fits a 90-minute class
HAND_SHAPE = flops.ModelShape(hidden=8, layers=2, heads=2, kv_heads=1, head_dim=4, intermediate=16, vocab=32)


def test_t4_default_of_lesson_05_stays_within_the_class_budget():
    t4 = profiles.PROFILES["t4"]
    default = t4_time(alpaca_preset_run(t4.sft, evaluations_before=1))
    assert default.eval_flops > 0 and default.flops <= CLASS_BUDGET_FLOPS
    full = t4_time(alpaca_preset_run(profiles.sft_preset(t4, full_run=True), evaluations_before=1))
    assert full.flops > 3 * CLASS_BUDGET_FLOPS  # the switch really is the seed's length


def test_micro_batches_and_evaluations_are_counted_by_hand():
    assert flops.micro_batch_counts([(2, 3), (1, 1)], None, completion_only=True) == (7, 4, 15 + 3)
    assert flops.micro_batch_counts([(2, 3), (1, 1)], 5, completion_only=False) == (10, 10, 2 * 15)
    body, lora, head = HAND_SHAPE.body_params(), HAND_SHAPE.lora_params(2), HAND_SHAPE.head_params()
    expected = 2 * body * 10 + 2 * lora * 10 + 2 * head * 6 + 4 * 2 * 8 * 31
    assert flops.eval_flops(HAND_SHAPE, 2, tokens=10, loss_tokens=6, causal_pairs=31) == expected


def test_the_seeds_rate_counts_its_ten_padded_evaluations():
    run = seed_run()
    assert (len(run.eval_rows), run.evaluations, run.eval_padded_to) == (518, 10, 2048)
    train, evaluation = run_flops(run)
    assert evaluation > train  # 10 x 518 rows x 2,048 positions outweigh 1,600 rows of about 205 tokens
    without = run_flops(replace(run, evaluations=0))
    assert without == (train, 0.0)
    assert t4_rates()["seed 002"] == pytest.approx((train + evaluation) / t4_estimate.SEED_T4_SECONDS)


def test_an_estimate_is_a_range_between_the_two_rates_and_says_so():
    estimate = lesson_estimates()["05"][1]
    low, high = sorted(estimate.seconds.values())
    assert set(estimate.seconds) == {"seed 002", "Unsloth"} and low < high
    assert estimate.english().endswith("(estimate)") and estimate.korean().endswith("(추정)")
    assert f"{round(high / 60)} min" in estimate.english()


def test_a_run_without_enough_rows_is_refused():
    with pytest.raises(ValueError, match="needs 8 rows and has 1"):
        run_flops(Run(rows=((3, 4),), rows_per_micro_batch=4, accumulation=2, steps=1), LLAMA3_8B)


@pytest.mark.parametrize("name", FILES)
def test_markdown_times_are_the_functions_output(name):
    text = (REPO_ROOT / name).read_text(encoding="utf-8")
    assert "<!-- t4:" in text
    assert filled(text) == text, f"{name} quotes stale T4 times: run `python -m course_tools.t4_markers` (make sync)"


def test_changing_a_preset_changes_the_quoted_figures(monkeypatch):
    readme = (REPO_ROOT / "README.md").read_text(encoding="utf-8")
    t4 = profiles.PROFILES["t4"]
    monkeypatch.setitem(profiles.PROFILES, "t4", replace(t4, sft=replace(t4.sft, max_steps=3 * t4.sft.max_steps)))
    assert filled(readme) != readme


def test_an_unknown_figure_is_named():
    with pytest.raises(ValueError, match="Unknown T4 figure <!-- t4:09 -->"):
        filled("<!-- t4:09 -->x<!-- /t4 -->")
