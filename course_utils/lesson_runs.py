"""Where lessons 05 and 06 find each other's runs, under COURSE_OUTPUT, so a new Colab VM picks up where the last stopped."""
from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from .environment import output_dir
from .profiles import Profile, TrainingPreset
from .training import is_finished_run

ALPACA_RUN = "05_alpaca_sft"
FALLBACK_RUN = "06_fallback_sft"
# Lesson 06's own short adapter when lesson 05's is missing: 4 steps on cpu (as before), 10 on a GPU; its T4 time
# comes from course_utils.t4_estimate (README's T4 table).
SHORT_SFT_STEPS = {"cpu": 4}
SHORT_SFT_STEPS_GPU = 10


def alpaca_run_dir() -> Path:
    """Lesson 05's run folder; on Colab with Drive mounted by setup(drive=True) it lives on Drive."""
    return output_dir() / ALPACA_RUN


def finished_alpaca_adapter() -> tuple[Path | None, Path]:
    """(adapter folder for lesson 06 or None, the folder a fallback adapter should be trained into).

    Lesson 05's finished run wins; a fallback lesson 06 finished earlier (before a disconnect) is reused.
    """
    fallback = output_dir() / FALLBACK_RUN
    for folder in (alpaca_run_dir(), fallback):
        if is_finished_run(folder):
            return folder, fallback
    return None, fallback


def short_sft_preset(profile: Profile) -> TrainingPreset:
    """`sft_short`: the profile's SFT preset cut to a few steps, for lesson 06 when lesson 05's adapter is missing."""
    steps = SHORT_SFT_STEPS.get(profile.name, SHORT_SFT_STEPS_GPU)
    return replace(profile.sft, max_steps=steps, eval_steps=steps, save_steps=steps)
