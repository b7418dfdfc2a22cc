"""Whose a run folder is (profile and base model), so that no lesson loads, resumes or refuses another profile's run.

On Colab a CPU runtime (no free T4) still mounts Drive, so a SmolLM2 run can sit in the same Drive folder a later
T4 lesson reads. Every run folder therefore records its owner, and every reader compares it with its own.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from .training import CHECKPOINT_PATTERN, FINISHED_MARKER

OWNER_FILE = "run_owner.json"


@dataclass(frozen=True)
class RunOwner:
    """The profile a run was trained under and the base model (Hub id) its adapter belongs to."""

    profile: str
    base_model: str

    def describe(self) -> str:
        return f"a {self.profile} run on {self.base_model}"

    def folder_suffix(self) -> str:
        """What a run's own folder is named after when the lesson's usual folder belongs to another run."""
        return f"{self.profile}-{self.base_model.rstrip('/').split('/')[-1]}"


def _read_json(path: Path) -> dict:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return {}


def recorded_owner(folder: Path) -> RunOwner | None:
    """The owner the folder records: run_owner.json, else run_complete.json (runs finished before owner files).

    None when neither records both the profile and the base model: such a run is never assumed to be ours.
    """
    folder = Path(folder)
    for name in (OWNER_FILE, FINISHED_MARKER):
        record = _read_json(folder / name)
        if record.get("profile") and record.get("base_model"):
            return RunOwner(str(record["profile"]), str(record["base_model"]))
    return None


def holds_run(folder: Path) -> bool:
    """Whether anything of a run is there: an owner record, a finished marker, an adapter or a checkpoint."""
    folder = Path(folder)
    if not folder.is_dir():
        return False
    if any((folder / name).is_file() for name in (OWNER_FILE, FINISHED_MARKER, "adapter_config.json")):
        return True
    return any(p.is_dir() and CHECKPOINT_PATTERN.match(p.name) for p in folder.iterdir())


def claim_run_dir(folder: Path, owner: RunOwner) -> Path:
    """Create the folder and record its owner before training starts, so even an interrupted run says whose it is."""
    folder = Path(folder)
    found = recorded_owner(folder)
    if holds_run(folder) and found != owner:
        what = found.describe() if found else "a run that does not record its profile and base model"
        raise ValueError(f"{folder} holds {what}, not {owner.describe()}: pick the folder with run_dir_for() first.")
    folder.mkdir(parents=True, exist_ok=True)
    (folder / OWNER_FILE).write_text(json.dumps({"profile": owner.profile, "base_model": owner.base_model}, indent=1))
    return folder


def run_dir_for(folder: Path, owner: RunOwner) -> tuple[Path, str | None]:
    """The folder `owner`'s run lives in: `folder` when it is empty or already `owner`'s, else a sibling named after
    the owner; with one sentence saying what was found and what is done instead (None when nothing needs saying)."""
    folder = Path(folder)
    found = recorded_owner(folder)
    if not holds_run(folder) or found == owner:
        return folder, None
    own = folder.with_name(f"{folder.name}-{owner.folder_suffix()}")
    what = found.describe() if found else "a run that does not record its profile and base model"
    return own, (f"{folder} holds {what}, not {owner.describe()}, so it is left as it is (neither loaded, resumed "
                 f"nor replaced) and this run's folder is {own}.")
