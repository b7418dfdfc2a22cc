"""A downloaded model folder compared with course_tools/model_facts.py: one line for each fact the files contradict.

`python -m course_tools.mirror verify DIR` runs it on a mirror (DIR/org/name for every model it holds) or on one model
folder; the exit status is 1 when any fact is contradicted. It reads config.json, generation_config.json, the
tokenizer files and the weights' headers or index, never the tensors.
"""
from __future__ import annotations

import json
import struct
from pathlib import Path
from typing import Any

from .model_facts import MODEL_FACTS, model_facts

INDEX_FILE = "model.safetensors.index.json"
SAFETENSORS_DTYPES = {"BF16": "bfloat16", "F16": "float16", "F32": "float32"}
SIZE_TOLERANCE = 0.05  # one weight file: buffers, a tied copy or a pickle's overhead make it a few % off the count
STANDIN_MARKER = "STANDIN.txt"


def _json(path: Path) -> dict | None:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None


def _token(value: Any) -> str | None:
    """A special token as tokenizer_config.json writes it: a string or an AddedToken dict."""
    return value.get("content") if isinstance(value, dict) else value


def _safetensors_dtype(folder: Path) -> str | None:
    """The dtype that holds most of the weights, from the safetensors headers (8-byte length + JSON)."""
    counts: dict[str, int] = {}
    for file in sorted(folder.glob("*.safetensors")):
        with open(file, "rb") as handle:
            header = json.loads(handle.read(struct.unpack("<Q", handle.read(8))[0]))
        for name, entry in header.items():
            if name != "__metadata__":
                counts[entry["dtype"]] = counts.get(entry["dtype"], 0) + entry["data_offsets"][1] - entry["data_offsets"][0]
    return SAFETENSORS_DTYPES.get(max(counts, key=counts.get), max(counts, key=counts.get)) if counts else None


def _weight_size(folder: Path) -> tuple[int | None, int, str]:
    """(bytes, weight files, where from): the index's total_size, else the safetensors (or .bin) files' sizes."""
    index = _json(folder / INDEX_FILE)
    if index is not None:
        return index.get("metadata", {}).get("total_size"), len(set(index["weight_map"].values())), INDEX_FILE
    files = sorted(folder.glob("*.safetensors")) or sorted(folder.glob("*.bin"))
    return (sum(f.stat().st_size for f in files) if files else None), len(files), ", ".join(f.name for f in files) or "no weight file"


def _standin_depth(folder: Path) -> str | None:
    """A stand-in's depth line ('layers=1 tiny=True ...') when it is not full size, else None."""
    marker = folder / STANDIN_MARKER
    if not marker.is_file():
        return None
    last = marker.read_text().splitlines()[-1]
    return None if last.startswith("layers=full tiny=False") else last


def observed(folder: Path) -> dict[str, tuple[Any, str]]:
    """What the files say for each fact: name -> (value, file it was read from); facts the files cannot show are left out."""
    seen: dict[str, tuple[Any, str]] = {}
    config = _json(folder / "config.json") or {}
    dtype = config.get("torch_dtype", config.get("dtype"))
    if dtype is not None:
        seen["dtype"] = (dtype, "config.json")
    on_disk = _safetensors_dtype(folder)
    if on_disk is not None:
        seen["dtype (weights)"] = (on_disk, "the safetensors headers")
    for key in ("bos_token_id", "eos_token_id", "pad_token_id"):
        seen[key] = (config.get(key), "config.json")
    seen["auto_map"] = (config.get("auto_map"), "config.json")
    generation = _json(folder / "generation_config.json")
    seen["generation"] = (None if generation is None else
                          {k: generation.get(k) for k in ("do_sample", "temperature", "top_p", "eos_token_id")},
                          "generation_config.json")
    tokenizer_config = _json(folder / "tokenizer_config.json")
    special = _json(folder / "special_tokens_map.json") or {}
    if tokenizer_config is not None or special:
        eos = _token((tokenizer_config or {}).get("eos_token")) or _token(special.get("eos_token"))
        seen["tokenizer_eos"] = (eos, "tokenizer_config.json")
    has_template = bool((tokenizer_config or {}).get("chat_template")) or any(
        (folder / name).is_file() for name in ("chat_template.jinja", "chat_template.json"))
    if tokenizer_config is not None or has_template:
        seen["chat_template"] = (has_template, "tokenizer_config.json / chat_template.jinja")
    tokenizer = _json(folder / "tokenizer.json")
    if tokenizer is not None:
        seen["added tokens"] = ({t["content"]: t["id"] for t in tokenizer.get("added_tokens", [])}, "tokenizer.json")
    size, shards, source = _weight_size(folder)
    if size is not None:
        seen["total_size"], seen["shards"] = (size, source), (shards, source)
    return seen


def compare(folder: str | Path, repo_id: str) -> tuple[list[str], list[str]]:
    """(mismatches, notes) for one model folder: each mismatch one line naming the fact, both values and the source."""
    folder, facts = Path(folder), model_facts(repo_id)
    seen = observed(folder)
    mismatches, notes = [], []

    def differs(name: str, expected: Any, found: Any, file: str, fact_name: str | None = None) -> None:
        if found != expected:
            fact = getattr(facts, fact_name or name)
            state = "verified" if fact.verified else "not verified"
            mismatches.append(f"{repo_id}: {name} is {found!r} in {file}, the facts file says {expected!r} "
                              f"({state}; source {fact.source})")

    for name in ("dtype", "bos_token_id", "eos_token_id", "pad_token_id", "auto_map", "generation",
                 "tokenizer_eos", "chat_template"):
        if name in seen:
            differs(name, getattr(facts, name).value, *seen[name])
    if "dtype (weights)" in seen:
        differs("dtype (weights)", facts.dtype.value, *seen["dtype (weights)"], fact_name="dtype")
    turn = facts.end_of_turn.value
    if turn is not None and "added tokens" in seen:
        token, expected_id = turn
        differs(f"id of {token}", expected_id, seen["added tokens"][0].get(token), "tokenizer.json", "end_of_turn")
    depth = _standin_depth(folder)
    if depth is not None:
        notes.append(f"{repo_id}: sizes not compared, a stand-in of another size ({depth})")
    elif "total_size" in seen:
        found, file = seen["total_size"]
        expected = facts.total_size.value
        if file == INDEX_FILE:
            differs("total_size", expected, found, file)
        elif abs(found - expected) > SIZE_TOLERANCE * expected:
            differs(f"weight bytes (within {SIZE_TOLERANCE:.0%})", expected, found, file, "total_size")
        if facts.shards.value is not None:
            differs("shards", facts.shards.value, *seen["shards"])
    else:
        notes.append(f"{repo_id}: no weights found in {folder}, sizes not compared")
    return mismatches, notes


def model_folders(root: Path) -> dict[str, Path]:
    """The models the facts file knows that a mirror root holds (root/org/name), or the one model a folder is."""
    if (root / "config.json").is_file():
        repo_id = "/".join(root.resolve().parts[-2:])
        return {repo_id: root} if repo_id in MODEL_FACTS else {}
    return {repo_id: root / repo_id for repo_id in MODEL_FACTS if (root / repo_id / "config.json").is_file()}


def verify(root: str | Path, repo_id: str | None = None) -> int:
    """Print every contradicted fact in one line each (and what was not compared); 1 on a mismatch, else 0."""
    root = Path(root)
    folders = {repo_id: root} if repo_id else model_folders(root)
    if not folders:
        raise FileNotFoundError(f"{root} holds none of the models in course_tools/model_facts.py: pass a mirror folder "
                                "(ORG/NAME inside) or one model folder with --model ORG/NAME.")
    failed = 0
    for name, folder in folders.items():
        mismatches, notes = compare(folder, name)
        for line in mismatches + notes:
            print(line)
        print(f"{name}: {'MISMATCH (' + str(len(mismatches)) + ')' if mismatches else 'matches the facts file'}")
        failed += bool(mismatches)
    return 1 if failed else 0

