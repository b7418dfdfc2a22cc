"""Where a lesson finds a Hub id in the classroom mirror: `COURSE_MIRROR=/path` serves `org/name` from `/path/org/name`.

For classrooms with a slow or absent network: an instructor fills the mirror once (`python -m course_tools.mirror
download --profile t4 DEST`, the instructors' side) and every learner points `COURSE_MIRROR` at it. Without
`COURSE_MIRROR` nothing changes: ids go to the Hub as before.
"""
from __future__ import annotations

import os
from pathlib import Path

MIRROR_ENV = "COURSE_MIRROR"
ALPACA_DATASET = "yahma/alpaca-cleaned"
WEIGHT_SUFFIXES = (".safetensors", ".bin", ".pth", ".pt", ".gguf")
DATA_SUFFIXES = (".json", ".jsonl", ".parquet", ".csv")


class MirrorError(RuntimeError):
    """Bad mirror input a learner can cause; the message is one sentence naming the fix."""


def hub_offline() -> bool:
    """Whether the Hub is switched off, as huggingface_hub reads HF_HUB_OFFLINE."""
    return os.environ.get("HF_HUB_OFFLINE", "").strip().lower() in ("1", "true", "yes", "on")


def mirror_root() -> Path | None:
    """The mirror folder from COURSE_MIRROR, or None when unset; a path that does not exist is refused."""
    value = os.environ.get(MIRROR_ENV, "").strip()
    if not value:
        return None
    root = Path(value).expanduser()
    if not root.is_dir():
        raise MirrorError(
            f"{MIRROR_ENV}={value} does not exist or is not a folder: fix the path, fill it with "
            f"`python -m course_tools.mirror download --profile t4 {value}`, or unset {MIRROR_ENV} to use the Hub."
        )
    return root


def _has_weights(folder: Path) -> bool:
    """A model folder counts only with a weight file, and every shard its index names."""
    index = next(iter(sorted(folder.glob("*.index.json"))), None)
    if index is not None:
        import json

        try:
            shards = set(json.loads(index.read_text())["weight_map"].values())
        except (OSError, ValueError, KeyError):
            return False
        return all((folder / shard).is_file() for shard in shards)
    return any(p.is_file() and p.name.endswith(WEIGHT_SUFFIXES) for p in folder.iterdir())


def check_model_folder(folder: Path, need_weights: bool = True) -> None:
    """Refuse a half-written model folder (a config but no weights) with the command that refills it."""
    if (folder / "config.json").is_file() and need_weights and not _has_weights(folder):
        raise MirrorError(
            f"{folder} has a config.json but no complete weights (a download or build stopped half-way): delete the "
            f"folder and fill it again with `python -m course_tools.mirror download` (or `standins`)."
        )
    if not any(folder.iterdir()):
        raise MirrorError(f"{folder} is empty: delete it and fill the mirror again with `python -m course_tools.mirror download`.")


def mirrored(repo_id: str, kind: str = "model") -> Path | None:
    """The mirror folder for a Hub id, or None when there is no mirror or it lacks the id and the Hub is on."""
    root = mirror_root()
    if root is None or Path(repo_id).exists():
        return None
    folder = root / repo_id
    if folder.is_dir():
        if kind == "model":
            check_model_folder(folder)
        elif not data_files(folder):
            raise MirrorError(f"{folder} holds no .json/.jsonl/.parquet file: delete it and fill the mirror again.")
        print(f"[mirror] {repo_id}: local copy {folder}")
        return folder
    if hub_offline():
        raise MirrorError(
            f"{repo_id} is not in the mirror {root} and the Hub is off (HF_HUB_OFFLINE=1): add it with "
            f"`python -m course_tools.mirror download --profile t4 {root}` (or `standins` for a rehearsal)."
        )
    print(f"[mirror] {repo_id}: not in {root}, using the Hub")
    return None


def resolve_id(repo_id: str, kind: str = "model") -> str:
    """The mirror folder's path when the mirror has the id, else the id itself (the Hub)."""
    folder = mirrored(repo_id, kind)
    return str(folder) if folder else repo_id


def data_files(folder: Path) -> list[str]:
    """The data files of a mirrored dataset folder (the Hub's alpaca-cleaned is one json array file)."""
    return sorted(str(p) for p in folder.rglob("*") if p.is_file() and p.suffix in DATA_SUFFIXES and p.name != "config.json")


def dataset_source(repo_id: str = ALPACA_DATASET) -> tuple[str, dict]:
    """`load_dataset` arguments for a Hub dataset: its mirror files through the json loader, else the id."""
    folder = mirrored(repo_id, kind="dataset")
    if folder is None:
        return repo_id, {}
    files = data_files(folder)
    builder = "parquet" if all(f.endswith(".parquet") for f in files) else "json"
    return builder, {"data_files": files}


def profile_repo_ids(profile) -> list[str]:
    """Every Hub model id a profile names, in a stable order, without duplicates."""
    fields = ("chat_model", "sft_model", "persona_model", "judge_model", "generation_model", "translation_model",
              "sentiment_model", "exaone_model")
    ids = [getattr(profile, f) for f in fields] + list(profile.tokenizer_models)
    return list(dict.fromkeys(ids))
