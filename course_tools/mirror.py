"""`python -m course_tools.mirror`: fill a classroom mirror from the Hub, write rehearsal stand-ins, or verify a mirror.

The instructors' side of course_utils/mirror.py (which lessons use to read the mirror): `download --profile t4 DEST`
once on a machine with a network, `verify DEST` against course_tools/model_facts.py, `standins DEST` for a GPU
rehearsal without the Hub.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from course_utils.mirror import ALPACA_DATASET, MirrorError, profile_repo_ids


def download(dest: Path, profile_name: str) -> list[Path]:
    """Fill a mirror with every model of a profile and the Alpaca data, from the Hub (needs a network)."""
    from huggingface_hub import snapshot_download

    from course_utils.environment import hub_token
    from course_utils.profiles import PROFILES

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
    parser = argparse.ArgumentParser(prog="python -m course_tools.mirror", description=__doc__.splitlines()[0])
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
