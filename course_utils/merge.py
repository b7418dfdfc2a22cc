"""Merging a LoRA adapter into a base checkpoint folder on disk, one safetensors shard at a time (no GPU needed).

`PeftModel.merge_and_unload()` needs the whole base model in memory at 16-bit: 16 GB for an 8B model, more than a
free Colab runtime has. Here only one shard (~5 GB for Llama-3-8B) plus the adapter is in memory at a time:
each targeted weight gets `scale * B @ A` added in fp32 and is cast back. The result is an ordinary checkpoint
folder that `from_pretrained` loads. Command line: `python -m course_utils.merge BASE ADAPTER DST [--dtype] [--overwrite]`.
"""
from __future__ import annotations

import argparse
import json
import math
import re
import shutil
import sys
import tempfile
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import torch

from .adapter_merge import ADAPTER_CONFIG, ADAPTER_WEIGHTS, read_adapter_config, same_model_name
from .checkpoints import check_disk
from .command_line import run_tool

INDEX_FILE = "model.safetensors.index.json"
SINGLE_FILE = "model.safetensors"
PEFT_PREFIX = "base_model.model."
DTYPES = {"float32": torch.float32, "float16": torch.float16, "bfloat16": torch.bfloat16}
# Adapter features whose merge is not `W + scale * B @ A`; each makes the merge refuse rather than guess.
UNSUPPORTED_FEATURES = (
    "use_dora", "use_qalora", "lora_bias", "layer_replication", "trainable_token_indices", "target_parameters",
    "use_bdlora", "alora_invocation_tokens", "arrow_config", "kasa_config", "velora_config", "monteclora_config",
)
# init_lora_weights values (prefixes) whose initialisation changed the base weights, so W + B @ A is not the trained model.
BASE_REWRITING_INITS = ("pissa", "olora", "corda", "loftq", "lora_ga")
# Files a checkpoint folder holds besides its weights; everything else that is not a weight file is copied too.
WEIGHT_SUFFIXES = (".safetensors", ".bin", ".pt", ".pth", ".gguf", ".h5", ".msgpack")


@dataclass
class LoraPair:
    """One targeted weight: the two low-rank factors and the scale their product is added with."""

    a: torch.Tensor
    b: torch.Tensor
    scale: float
    fan_in_fan_out: bool = False

    def delta(self) -> torch.Tensor:
        """scale * B @ A in fp32, in the base weight's (out_features, in_features) layout."""
        product = self.b.float() @ self.a.float() * self.scale
        return product.T if self.fan_in_fan_out else product

    def base_shape(self) -> tuple[int, int]:
        out_features, in_features = self.b.shape[0], self.a.shape[1]
        return (in_features, out_features) if self.fan_in_fan_out else (out_features, in_features)


@dataclass
class MergeReport:
    """What a merge did, for the notebook to print."""

    destination: Path
    merged_weights: int
    copied_weights: int
    shards: int
    seconds: float
    warnings: list[str] = field(default_factory=list)


def _pattern_value(patterns: dict, module: str, default):
    """PEFT's rank_pattern / alpha_pattern lookup: a key matches a module path ending in it."""
    for key, value in patterns.items():
        if re.match(rf"(.*\.)?({key})$", module):
            return value
    return default


def lora_scale(config: dict, module: str, rank: int) -> float:
    """lora_alpha / r (or / sqrt(r) with rsLoRA), with PEFT's per-module alpha overrides."""
    alpha = _pattern_value(config.get("alpha_pattern") or {}, module, config.get("lora_alpha", 8))
    return alpha / math.sqrt(rank) if config.get("use_rslora") else alpha / rank


def rewrites_base(init_lora_weights) -> bool:
    """Whether this `init_lora_weights` changed the base weights when the adapter was created (PEFT 0.21: PiSSA, OLoRA,
    CorDA and LoRA-GA subtract their initial B @ A from W, LoftQ replaces W by a quantized residual)."""
    return isinstance(init_lora_weights, str) and init_lora_weights.lower().startswith(BASE_REWRITING_INITS)


def check_supported(config: dict, adapter_dir: Path) -> None:
    """Refuse adapters whose merge is not a plain low-rank sum on the original checkpoint (DoRA, QA-LoRA, PiSSA...)."""
    if config.get("peft_type", "LORA") != "LORA":
        raise ValueError(f"The adapter in {adapter_dir} is a {config.get('peft_type')} adapter: this merge handles LoRA only, so merge it with PeftModel.merge_and_unload() instead.")
    used = [name for name in UNSUPPORTED_FEATURES if config.get(name)]
    if used:
        raise ValueError(f"The adapter in {adapter_dir} uses {', '.join(used)}, which this streaming merge does not support: merge it with PeftModel.merge_and_unload() instead.")
    init = config.get("init_lora_weights")
    if rewrites_base(init):
        # PEFT's save_pretrained(..., path_initial_model_for_weight_conversion=...) writes the trained change as a plain
        # LoRA of twice the rank and records init_lora_weights=True; LoftQ has no such conversion.
        fix = ("merge it with PeftModel.merge_and_unload() on the base weights LoftQ wrote" if str(init).lower() == "loftq"
               else "save it converted with save_pretrained(..., path_initial_model_for_weight_conversion=<the adapter saved before training>) and merge that")
        raise ValueError(f"The adapter in {adapter_dir} was created with init_lora_weights={init!r}, which rewrote the base weights, so adding it to the original checkpoint gives a wrong model: {fix}.")


def read_adapter(adapter_dir: Path, config: dict) -> tuple[dict[str, LoraPair], dict[str, torch.Tensor]]:
    """LoRA pairs keyed by the base weight they change, and whole tensors (modules_to_save) keyed by the weight they replace."""
    from safetensors.torch import load_file

    path = adapter_dir / ADAPTER_WEIGHTS
    if not path.is_file():
        raise FileNotFoundError(f"{path} does not exist: pass the folder written by trainer.save_model() or save_pretrained().")
    tensors = load_file(str(path))
    halves: dict[str, dict[str, torch.Tensor]] = {}
    replaced: dict[str, torch.Tensor] = {}
    for key, tensor in tensors.items():
        name = key.removeprefix(PEFT_PREFIX)
        if "lora_embedding_" in name or "lora_magnitude_vector" in name:
            raise ValueError(f"The adapter in {adapter_dir} has {key}, which this streaming merge does not support (only LoRA on Linear layers): merge it with PeftModel.merge_and_unload() instead.")
        match = re.fullmatch(r"(.+)\.lora_([AB])\.weight", name)
        if match:
            halves.setdefault(match.group(1), {})[match.group(2)] = tensor
        else:
            replaced[name] = tensor  # modules_to_save: the trained copy replaces the base weight
    pairs = {}
    for module, half in halves.items():
        if set(half) != {"A", "B"}:
            raise ValueError(f"The adapter in {adapter_dir} has only lora_{''.join(half)} for {module}: save the adapter again.")
        rank = half["A"].shape[0]
        pairs[f"{module}.weight"] = LoraPair(half["A"], half["B"], lora_scale(config, module, rank), bool(config.get("fan_in_fan_out")))
    return pairs, replaced


def base_weight_map(base_dir: Path) -> dict[str, str]:
    """Which shard file holds each weight of a safetensors checkpoint (sharded with an index, or one file)."""
    from safetensors import safe_open

    if (base_dir / INDEX_FILE).is_file():
        return json.loads((base_dir / INDEX_FILE).read_text())["weight_map"]
    if (base_dir / SINGLE_FILE).is_file():
        with safe_open(str(base_dir / SINGLE_FILE), framework="pt") as weights:
            return {key: SINGLE_FILE for key in weights.keys()}
    raise FileNotFoundError(f"{base_dir} holds no {SINGLE_FILE} or {INDEX_FILE}: pass a safetensors checkpoint folder (save_pretrained or snapshot_download writes one).")


def base_shapes(base_dir: Path, weight_map: dict[str, str], keys: set[str]) -> dict[str, tuple[int, ...]]:
    """Shapes of some weights, read from the shard headers only (no tensor data)."""
    from safetensors import safe_open

    shapes = {}
    for shard in sorted({weight_map[key] for key in keys}):
        with safe_open(str(base_dir / shard), framework="pt") as weights:
            for key in keys:
                if weight_map[key] == shard:
                    shapes[key] = tuple(weights.get_slice(key).get_shape())
    return shapes


def check_adapter_fits_base(base_dir: Path, adapter_dir: Path, config: dict, pairs: dict[str, LoraPair], replaced: dict[str, torch.Tensor], weight_map: dict[str, str]) -> list[str]:
    """Refuse modules the base lacks or shapes it does not have; a different recorded base name is only a warning."""
    targets = set(pairs) | set(replaced)
    missing = sorted(targets - set(weight_map))
    if missing:
        raise ValueError(f"The adapter in {adapter_dir} changes {missing[0]} (and {len(missing) - 1} more), which the base checkpoint {base_dir} does not have: merge it into the base model it was trained on, {config.get('base_model_name_or_path')!r}.")
    shapes = base_shapes(base_dir, weight_map, targets)
    expected = {key: pair.base_shape() for key, pair in pairs.items()} | {key: tuple(t.shape) for key, t in replaced.items()}
    for key in sorted(targets):
        if tuple(shapes[key]) != tuple(expected[key]):
            raise ValueError(f"The adapter in {adapter_dir} expects {key} of shape {tuple(expected[key])} but the base checkpoint {base_dir} has {tuple(shapes[key])}: merge it into the base model it was trained on, {config.get('base_model_name_or_path')!r}.")
    notes = []
    recorded, actual = config.get("base_model_name_or_path"), _base_name(base_dir)
    if not same_model_name(recorded, actual):
        notes.append(f"The adapter records base model {recorded!r} but the base folder is {actual!r}; the shapes match, so the merge goes on: check that this is the model the adapter was trained on.")
    return notes


def _base_name(base_dir: Path) -> str:
    """The name the base folder calls itself (config's _name_or_path), else the folder name."""
    try:
        name = json.loads((base_dir / "config.json").read_text()).get("_name_or_path")
    except (OSError, ValueError):
        name = None
    if name:
        return name
    for part in base_dir.resolve().parts[::-1]:  # a Hub cache snapshot: .../models--org--name/snapshots/<commit>
        if part.startswith("models--"):
            return part.removeprefix("models--").replace("--", "/")
    return base_dir.resolve().name


def output_bytes(base_dir: Path, weight_map: dict[str, str], dtype: torch.dtype | None) -> int:
    """Bytes the merged folder will take: the shard sizes, rescaled when every tensor is cast to `dtype`."""
    from safetensors import safe_open

    if dtype is None:
        return sum((base_dir / shard).stat().st_size for shard in set(weight_map.values()))
    total = 0
    for shard in sorted(set(weight_map.values())):
        with safe_open(str(base_dir / shard), framework="pt") as weights:
            for key in weights.keys():
                total += math.prod(weights.get_slice(key).get_shape()) * dtype.itemsize
    return total


def _merge_shard(source: Path, target: Path, pairs: dict[str, LoraPair], replaced: dict[str, torch.Tensor], dtype: torch.dtype | None) -> tuple[int, int, int]:
    """Read one shard, add the deltas of the weights in it, cast, write it; returns (merged, replaced, bytes)."""
    from safetensors import safe_open
    from safetensors.torch import save_file

    tensors: dict[str, torch.Tensor] = {}
    merged = copied = 0
    with safe_open(str(source), framework="pt") as weights:
        metadata = weights.metadata() or {}
        for key in weights.keys():
            tensor = weights.get_tensor(key)
            target_dtype = dtype if (dtype is not None and tensor.is_floating_point()) else tensor.dtype
            if key in replaced:
                tensor = replaced[key].to(target_dtype)
                copied += 1
            elif key in pairs:
                tensor = (tensor.float() + pairs[key].delta()).to(target_dtype)
                merged += 1
            else:
                tensor = tensor.to(target_dtype)
            tensors[key] = tensor.contiguous()
    metadata = {**metadata, "format": "pt"}
    save_file(tensors, str(target), metadata=metadata)
    size = sum(t.numel() * t.element_size() for t in tensors.values())
    del tensors
    return merged, copied, size


def _copy_other_files(base_dir: Path, staging: Path, dtype: torch.dtype | None) -> None:
    """Config, tokenizer, chat template and generation files travel with the weights; config records a new dtype."""
    for path in base_dir.iterdir():
        if not path.is_file() or path.name.startswith(".") or path.name == INDEX_FILE or path.name.endswith(WEIGHT_SUFFIXES):
            continue
        if path.name in ("course_complete.json", "README.md"):
            continue  # a marker of the base folder, and the base model's own card: neither describes the merged model
        shutil.copy2(path, staging / path.name)
    config_path = staging / "config.json"
    if dtype is not None and config_path.is_file():
        config = json.loads(config_path.read_text())
        for key in ("dtype", "torch_dtype"):
            if key in config:
                config[key] = str(dtype).removeprefix("torch.")
        config_path.write_text(json.dumps(config, indent=2) + "\n")


def merge_adapter_into_checkpoint(
    base_dir: str | Path, adapter_dir: str | Path, destination: str | Path, dtype: str | None = None, overwrite: bool = False,
) -> MergeReport:
    """Write `destination`: the base checkpoint with the adapter merged in, shard by shard, all or nothing."""
    start = time.perf_counter()
    base_dir, adapter_dir, destination = Path(base_dir), Path(adapter_dir), Path(destination)
    if dtype is not None and dtype not in DTYPES:
        raise ValueError(f"dtype {dtype!r} is not one of {', '.join(DTYPES)}: pick one of those, or leave it out to keep the base's dtype.")
    cast = DTYPES[dtype] if dtype else None
    if not (adapter_dir / ADAPTER_CONFIG).is_file():
        raise FileNotFoundError(f"{adapter_dir / ADAPTER_CONFIG} does not exist: pass the folder written by trainer.save_model() or save_pretrained().")
    config = read_adapter_config(adapter_dir)
    check_supported(config, adapter_dir)
    if destination.exists() and not overwrite:
        raise FileExistsError(f"{destination} already exists: pass overwrite=True (--overwrite) to replace it, or choose another destination.")
    if destination.resolve() in (base_dir.resolve(), adapter_dir.resolve()):
        raise ValueError(f"{destination} is the base or adapter folder itself: choose a new destination folder.")
    weight_map = base_weight_map(base_dir)
    pairs, replaced = read_adapter(adapter_dir, config)
    notes = check_adapter_fits_base(base_dir, adapter_dir, config, pairs, replaced, weight_map)
    for note in notes:
        warnings.warn(note, stacklevel=2)
    destination.parent.mkdir(parents=True, exist_ok=True)
    check_disk(destination, output_bytes(base_dir, weight_map, cast))

    staging = Path(tempfile.mkdtemp(prefix=f".{destination.name}.staging-", dir=destination.parent))
    try:
        merged = copied = total = 0
        shards = sorted(set(weight_map.values()))
        for shard in shards:
            counts = _merge_shard(base_dir / shard, staging / shard, pairs, replaced, cast)
            merged, copied, total = merged + counts[0], copied + counts[1], total + counts[2]
        if (base_dir / INDEX_FILE).is_file():
            index = json.loads((base_dir / INDEX_FILE).read_text())
            index["metadata"] = {**index.get("metadata", {}), "total_size": total}
            (staging / INDEX_FILE).write_text(json.dumps(index, indent=2) + "\n")
        _copy_other_files(base_dir, staging, cast)
        if destination.exists():
            shutil.rmtree(destination)
        staging.rename(destination)  # only a complete folder ever carries the destination's name
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return MergeReport(destination, merged, copied, len(shards), time.perf_counter() - start, notes)


def logit_gap(logits: torch.Tensor, reference: torch.Tensor) -> tuple[float, float]:
    """(relative error ||a - b|| / ||b||, top-1 agreement) of two models' logits at the same positions.

    A max absolute difference grows with the logits' scale and with 16-bit rounding; these two do not.
    """
    logits, reference = logits.float(), reference.float()
    relative = ((logits - reference).norm() / reference.norm()).item()
    return relative, (logits.argmax(-1) == reference.argmax(-1)).float().mean().item()


def base_checkpoint_folder(model_id: str, profile) -> Path:
    """The base model as a folder on disk: the offline (or mirrored) copy, else the Hub snapshot (downloaded once)."""
    from .offline_model import resolve_model

    resolved = resolve_model(model_id, profile)
    if Path(resolved).is_dir():
        return Path(resolved)
    from huggingface_hub import snapshot_download

    patterns = ["*.json", "*.safetensors", "*.jinja", "tokenizer*", "*.txt", "*.model"]
    return Path(snapshot_download(resolved, allow_patterns=patterns))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m course_utils.merge", description=__doc__.splitlines()[0])
    parser.add_argument("base", help="base checkpoint folder (safetensors, sharded or one file)")
    parser.add_argument("adapter", help="LoRA adapter folder (adapter_config.json + adapter_model.safetensors)")
    parser.add_argument("destination", help="new folder for the merged model")
    parser.add_argument("--dtype", choices=sorted(DTYPES), default=None, help="cast every weight to this dtype (default: keep the base's)")
    parser.add_argument("--overwrite", action="store_true", help="replace an existing destination")
    args = parser.parse_args(argv)

    def merge() -> str:
        report = merge_adapter_into_checkpoint(args.base, args.adapter, args.destination, args.dtype, args.overwrite)
        return (f"Merged {report.merged_weights} weights (+{report.copied_weights} replaced) in {report.shards} shard(s) "
                f"into {report.destination} in {report.seconds:.1f} s")

    return run_tool(merge)


if __name__ == "__main__":
    sys.exit(main())
