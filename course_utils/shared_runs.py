"""An instructor's trained run, shared through the classroom mirror or Drive, put where lessons 06 and 08 look.

When a learner's lesson 05 (or 08) did not finish in class, one call copies the instructor's run folder into the
learner's COURSE_OUTPUT after checking that it holds an adapter trained on this profile's base model.
"""
from __future__ import annotations

import json
import shutil
from pathlib import Path

from .adapter_merge import same_model_name
from .environment import output_dir
from .profiles import get_profile
from .run_owner import OWNER_FILE, RunOwner, run_dir_for
from .training import is_finished_run


def _adapter_config(folder: Path) -> Path | None:
    """adapter_config.json of a run folder: at its top (lesson 05) or in its `adapter/` (lesson 08)."""
    for candidate in (folder / "adapter_config.json", folder / "adapter" / "adapter_config.json"):
        if candidate.is_file():
            return candidate
    return None


def install_shared_run(source: str | Path, run_name: str, base_model: str, overwrite: bool = False,
                       profile_name: str | None = None) -> Path:
    """Copy the shared run `source` to COURSE_OUTPUT/run_name, refusing an unfinished run or another base model.

    The copy records this learner's profile (default: this machine's) and `base_model` as its owner, so the lessons'
    run lookups accept it; a foreign run already in that folder is left alone and the copy goes beside it."""
    source = Path(source).expanduser()
    config_file = _adapter_config(source) if source.is_dir() else None
    if config_file is None:
        raise FileNotFoundError(f"{source} holds no adapter_config.json: point at the instructor's run folder "
                                f"(e.g. MIRROR/runs/{run_name} or a shared Drive folder).")
    # lesson 05 marks a finished run (lesson 06 reads only those); lesson 08 saves its final adapter in adapter/
    lesson_05_style = config_file.parent == source
    if (lesson_05_style and not is_finished_run(source)) or not (config_file.parent / "adapter_model.safetensors").is_file():
        raise ValueError(f"{source} is not a finished run (no run_complete.json or no adapter weights): ask for the "
                         "folder of a run that ended.")
    trained_on = json.loads(config_file.read_text(encoding="utf-8")).get("base_model_name_or_path")
    if not trained_on or not same_model_name(trained_on, base_model):
        raise ValueError(f"The shared adapter was trained on {trained_on!r} and this profile uses {base_model!r}: "
                         "use a run made with the same profile.")
    owner = RunOwner(profile_name or get_profile().name, base_model)
    target, note = run_dir_for(output_dir() / run_name, owner)
    if note:
        print(note)
    if is_finished_run(target) and not overwrite:
        raise FileExistsError(f"{target} already holds a finished run: use it, or pass overwrite=True to replace it.")
    if target.exists():
        shutil.rmtree(target)
    shutil.copytree(source, target)
    (target / OWNER_FILE).write_text(json.dumps({"profile": owner.profile, "base_model": owner.base_model}, indent=1))
    return target
