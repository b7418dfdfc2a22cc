"""A local copy of the Hub models and data a profile names: `COURSE_MIRROR=/path` serves `org/name` from `/path/org/name`.

For classrooms with a slow or absent network: an instructor fills the mirror once
(`python -m course_utils.mirror download --profile t4 DEST`) and every learner points `COURSE_MIRROR` at it.
`python -m course_utils.mirror verify DEST` then compares the download with course_utils/model_facts.py.
Without `COURSE_MIRROR` nothing changes: ids go to the Hub as before.
"""
from __future__ import annotations

import argparse
import os
import sys
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
            f"`python -m course_utils.mirror download --profile t4 {value}`, or unset {MIRROR_ENV} to use the Hub."
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
            f"folder and fill it again with `python -m course_utils.mirror download` (or `standins`)."
        )
    if not any(folder.iterdir()):
        raise MirrorError(f"{folder} is empty: delete it and fill the mirror again with `python -m course_utils.mirror download`.")


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
            f"`python -m course_utils.mirror download --profile t4 {root}` (or `standins` for a rehearsal)."
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


def download(dest: Path, profile_name: str) -> list[Path]:
    """Fill a mirror with every model of a profile and the Alpaca data, from the Hub (needs a network)."""
    from huggingface_hub import snapshot_download

    from .environment import hub_token
    from .profiles import PROFILES

    if profile_name not in PROFILES:
        raise MirrorError(f"Unknown profile {profile_name!r}: choose one of {', '.join(PROFILES)}.")
    dest.mkdir(parents=True, exist_ok=True)
    done = []
    patterns = ["*.json", "*.safetensors", "*.model", "*.txt", "*.py", "*.jinja", "LICENSE*", "*.md"]
    for repo_id in profile_repo_ids(PROFILES[profile_name]):
        print(f"[mirror] downloading {repo_id} ...", flush=True)
        done.append(Path(snapshot_download(repo_id, local_dir=dest / repo_id, token=hub_token(), allow_patterns=patterns)))
    print(f"[mirror] downloading dataset {ALPACA_DATASET} ...", flush=True)
    done.append(Path(snapshot_download(ALPACA_DATASET, repo_type="dataset", local_dir=dest / ALPACA_DATASET, token=hub_token())))
    return done


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m course_utils.mirror", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    get = sub.add_parser("download", help="fill DEST from the Hub with a profile's models and the Alpaca data")
    get.add_argument("dest", type=Path)
    get.add_argument("--profile", default="t4")
    fake = sub.add_parser("standins", help="write random-weight stand-ins of the GPU models into DEST (rehearsal)")
    fake.add_argument("dest", type=Path)
    fake.add_argument("--layers", type=int, default=None, help="decoder layers per model (default: real depth)")
    fake.add_argument("--profile", default="t4")
    fake.add_argument("--only", nargs="*", default=None, help="only these Hub ids (default: all the profile names)")
    check = sub.add_parser("verify", help="compare downloaded models (a mirror, or one model folder) with model_facts.py")
    check.add_argument("dir", type=Path)
    check.add_argument("--model", default=None, help="the Hub id of DIR when DIR is one model folder not named ORG/NAME")
    args = parser.parse_args(argv)
    try:
        if args.command == "verify":
            from .snapshot_check import verify

            return verify(args.dir, args.model)
        if args.command == "download":
            for path in download(args.dest, args.profile):
                print(path)
        else:
            from .standins import write_standins

            for path in write_standins(args.dest, layers=args.layers, profile_name=args.profile, only=args.only):
                print(path)
    except (MirrorError, FileNotFoundError, KeyError) as error:
        print(error.args[0] if isinstance(error, KeyError) else error, file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
