"""Lesson 09's GPU memory estimates: calibrated on a measured SFT peak, and the t4 presets fit a T4."""
import pytest

from course_utils.preference_memory import (
    LLAMA3_8B,
    adapter_gib,
    dpo_peak_gib,
    grpo_peak_gib,
    kv_cache_gib,
    lora_parameters,
    sft_peak_gib,
    weights_gib,
)
from course_utils.profiles import PROFILES

T4_BUDGET_GIB = 14  # a T4 has 15 GB; CUDA's context and fragmentation take the rest
L4_BUDGET_GIB = 22  # the a100 profile also runs on a 24 GB L4


def test_weights_match_the_measured_nf4_footprint_of_an_8b_llama():
    # OFFLINE.md: a Llama-3-8B-shaped model loaded in nf4 + double quant took 5.2 GiB on an H100.
    assert weights_gib() == pytest.approx(5.2, abs=0.2)


def test_lora_parameter_count_is_the_known_figure_for_llama3_8b_r16():
    assert lora_parameters(LLAMA3_8B, 16) == 41_943_040


def test_activation_term_reproduces_the_measured_sft_worst_case():
    # benchmarks/results/sft_benchmark.md: the t4 preset (4 rows of 1,024 tokens, checkpointing, adamw_8bit) peaked at
    # 8.0 GiB in its worst case; the estimator must land within 10 % of it, or its other figures mean nothing.
    # That row measured the seed-length preset (lesson 05's FULL_RUN = True, sft_full), not the bounded class default.
    t4 = PROFILES["t4"].sft_full
    assert (t4.per_device_train_batch_size, t4.max_length) == (4, 1024)
    estimate = sft_peak_gib(t4.per_device_train_batch_size, t4.max_length, t4.optim, t4.gradient_checkpointing)
    assert estimate == pytest.approx(8.0, rel=0.10)


@pytest.mark.parametrize("kind", ["dpo", "grpo"])
def test_t4_presets_fit_in_14_gib_and_a100_presets_on_an_l4(kind):
    estimate = {"dpo": dpo_peak_gib, "grpo": grpo_peak_gib}[kind]
    assert estimate(getattr(PROFILES["t4"], kind))["total"] <= T4_BUDGET_GIB
    assert estimate(getattr(PROFILES["a100"], kind))["total"] <= L4_BUDGET_GIB


def test_dpo_counts_two_sequences_per_pair():
    t4 = PROFILES["t4"].dpo
    parts = dpo_peak_gib(t4)
    (activations,) = [v for k, v in parts.items() if k.startswith("activations")]
    assert any(f"{2 * t4.per_device_train_batch_size} x {t4.max_length}" in k for k in parts)
    assert activations == pytest.approx(sft_peak_gib(2 * t4.per_device_train_batch_size, t4.max_length, t4.optim, True)
                                        - weights_gib() - adapter_gib(t4.optim))


def test_grpo_generation_memory_grows_with_completions():
    t4 = PROFILES["t4"].grpo
    assert kv_cache_gib(1) * 2**30 == 128 * 1024  # 128 KiB a token on Llama-3-8B
    from dataclasses import replace

    longer = replace(t4, max_completion_length=4096, gradient_checkpointing=True)
    assert grpo_peak_gib(longer)["total"] > grpo_peak_gib(t4)["total"]


def test_an_unknown_optimizer_is_one_sentence():
    with pytest.raises(ValueError, match="No byte count for optimizer 'sgd'"):
        adapter_gib("sgd")


def test_every_profile_has_dpo_and_grpo_presets():
    for profile in PROFILES.values():
        assert profile.dpo is not None and profile.grpo is not None
        assert profile.grpo.per_device_train_batch_size % profile.grpo.num_generations == 0
