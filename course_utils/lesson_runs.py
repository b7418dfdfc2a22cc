"""Where lessons find each other's runs, under COURSE_OUTPUT, so a new Colab VM picks up where the last stopped.

Every lookup takes the profile: a run is used only when it records the same profile and base model (`run_owner`).
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path

from .environment import output_dir
from .profiles import Profile, TrainingPreset, get_profile
from .run_owner import RunOwner, recorded_owner, run_dir_for
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


def alpaca_owner(profile: Profile) -> RunOwner:
    """Lesson 05's (and lesson 06's fallback) runs belong to the profile and its SFT base model."""
    return RunOwner(profile.name, profile.sft_model)


def alpaca_train_dir(profile: Profile) -> tuple[Path, str | None]:
    """The folder lesson 05 trains `profile`'s run into: 05_alpaca_sft, unless another profile's or base model's run
    is there (then a sibling named after this one), with the sentence that says so."""
    return run_dir_for(alpaca_run_dir(), alpaca_owner(profile))


@dataclass
class AdapterSearch:
    """What lesson 06 found: the adapter to load (or None), where a fallback trains, and what it left alone and why."""

    adapter: Path | None
    train_into: Path
    notes: list[str] = field(default_factory=list)


def find_alpaca_adapter(profile: Profile) -> AdapterSearch:
    """Lesson 05's finished run of this profile and base model wins; then lesson 06's own finished fallback.

    A run of another profile or base model is never loaded: it is named in `notes` and left as it is.
    """
    owner = alpaca_owner(profile)
    alpaca, alpaca_note = run_dir_for(alpaca_run_dir(), owner)
    fallback, fallback_note = run_dir_for(output_dir() / FALLBACK_RUN, owner)
    notes = [note for note in (alpaca_note, fallback_note) if note]
    for folder in (alpaca, fallback):
        if is_finished_run(folder) and recorded_owner(folder) == owner:
            return AdapterSearch(folder, fallback, notes)
    return AdapterSearch(None, fallback, notes)


def finished_alpaca_adapter(profile: Profile | None = None) -> tuple[Path | None, Path]:
    """(adapter folder for lesson 06 or None, the folder a fallback adapter should be trained into), for `profile`
    (default: this machine's); `find_alpaca_adapter` also says which foreign runs it left alone."""
    found = find_alpaca_adapter(profile or get_profile())
    return found.adapter, found.train_into


PERSONA_RUN = "08_ironman_{profile}"


def persona_owner(profile: Profile) -> RunOwner:
    """Lesson 08's run belongs to the profile and its persona base model."""
    return RunOwner(profile.name, profile.persona_model)


def persona_run_dir(profile: Profile) -> tuple[Path, str | None]:
    """Lesson 08's run folder for `profile` (adapter in its `adapter/`), and a sentence when another run held it."""
    return run_dir_for(output_dir() / PERSONA_RUN.format(profile=profile.name), persona_owner(profile))


def finished_persona_adapter(profile: Profile) -> Path | None:
    """Lesson 08's saved adapter for this profile and base model, once its run was marked finished; else None."""
    run_dir, _ = persona_run_dir(profile)
    adapter = run_dir / "adapter"
    if is_finished_run(run_dir) and recorded_owner(run_dir) == persona_owner(profile) and (adapter / "adapter_config.json").is_file():
        return adapter
    return None


def short_sft_preset(profile: Profile) -> TrainingPreset:
    """`sft_short`: the profile's SFT preset cut to a few steps, for lesson 06 when lesson 05's adapter is missing."""
    steps = SHORT_SFT_STEPS.get(profile.name, SHORT_SFT_STEPS_GPU)
    return replace(profile.sft, max_steps=steps, eval_steps=steps, save_steps=steps)
