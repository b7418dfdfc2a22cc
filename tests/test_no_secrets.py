"""No Hub token is ever committed: tokens come from Colab secrets, HF_TOKEN or an interactive login."""
import re
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TOKEN = re.compile(r"hf_[A-Za-z0-9]{30,}")


def tracked_files() -> list[Path]:
    listed = subprocess.run(["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, check=True).stdout
    return [ROOT / name for name in listed.decode().split("\0") if name]


def find_tokens(paths: list[Path]) -> list[str]:
    hits = []
    for path in paths:
        try:
            text = path.read_text(errors="ignore")
        except (OSError, IsADirectoryError):
            continue
        hits += [f"{path}: {m.group()[:6]}..." for m in TOKEN.finditer(text)]
    return hits


def test_scanner_finds_a_token_shaped_string(tmp_path):
    planted = tmp_path / "leak.py"
    planted.write_text('token = "hf_' + "a1B2" * 9 + '"\n')
    assert len(find_tokens([planted])) == 1


def test_no_tracked_file_holds_a_token():
    files = tracked_files()
    assert files, "git ls-files found nothing: run the tests inside the repository."
    assert find_tokens(files) == []
