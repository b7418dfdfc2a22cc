"""Safetensors model folders written and read tensor by tensor: shards planned by size, an index, streamed reads.

A 7.8B bf16 model (15.6 GB) is never held in memory: writing keeps one tensor at a time, and `StreamedCheckpoint`
reads each tensor from disk only when asked for. llamafy converts with it; the GPU stand-ins are written with it.
"""
from __future__ import annotations

import json
import math
import re
import shutil
from collections.abc import Callable, Mapping
from pathlib import Path

import torch
from safetensors import safe_open

SAFETENSORS_CODES = {torch.bfloat16: "BF16", torch.float16: "F16", torch.float32: "F32", torch.float64: "F64",
                     torch.int64: "I64", torch.int32: "I32", torch.int8: "I8", torch.uint8: "U8", torch.bool: "BOOL"}
INDEX_FILE = "model.safetensors.index.json"


class CheckpointError(ValueError):
    """A model folder that cannot be read or written as asked; the message says how to fix it."""


def check_disk(destination: Path, needed: int, what: str = "The merged model") -> None:
    """Refuse before writing anything when the destination's disk cannot hold `needed` bytes (plus 5 % slack).

    One check for every tool that writes a whole model (the streaming merge, llamafy)."""
    free = shutil.disk_usage(destination.parent).free
    if free < needed * 1.05:
        raise OSError(f"{what} needs about {needed / 2**30:.2f} GiB but {destination.parent} has only {free / 2**30:.2f} GiB free: free some disk space or choose another destination.")


def parse_size(size: str | int) -> int:
    """Bytes in '5GB', '500MB' or an int, the way save_pretrained's max_shard_size is written."""
    if isinstance(size, int):
        return size
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([KMG]?B)?\s*", size.upper())
    if not match or float(match.group(1)) <= 0:
        raise CheckpointError(f"Shard size {size!r} is not understood: write it like 5GB, 500MB or 1000000 (bytes).")
    return int(float(match.group(1)) * {"B": 1, "KB": 10**3, "MB": 10**6, "GB": 10**9}[match.group(2) or "B"])


TensorSpec = tuple[tuple[int, ...], torch.dtype]  # shape and dtype of a tensor still to be written


def plan_shards(specs: Mapping[str, TensorSpec], max_shard_bytes: int) -> list[list[str]]:
    """Group tensors, in order, into shards of at most `max_shard_bytes` (a bigger tensor gets a shard of its own)."""
    shards: list[list[str]] = [[]]
    used = 0
    for name, (shape, dtype) in specs.items():
        size = math.prod(shape) * dtype.itemsize
        if shards[-1] and used + size > max_shard_bytes:
            shards.append([])
            used = 0
        shards[-1].append(name)
        used += size
    return shards


def write_safetensors(path: Path, specs: Mapping[str, TensorSpec], load: Callable[[str], torch.Tensor]) -> int:
    """One safetensors file written tensor by tensor: only one tensor is ever in memory (save_file holds them all,
    plus a byte copy). The format: 8-byte header length, JSON header with each tensor's byte range, raw data."""
    header: dict = {"__metadata__": {"format": "pt"}}
    offset = 0
    for name, (shape, dtype) in specs.items():
        size = math.prod(shape) * dtype.itemsize
        header[name] = {"dtype": SAFETENSORS_CODES[dtype], "shape": list(shape), "data_offsets": [offset, offset + size]}
        offset += size
    blob = json.dumps(header, separators=(",", ":")).encode()
    blob += b" " * (-len(blob) % 8)  # the data section starts 8-byte aligned
    with open(path, "wb") as file:
        file.write(len(blob).to_bytes(8, "little") + blob)
        for name, (shape, dtype) in specs.items():
            tensor = load(name)
            if tuple(tensor.shape) != tuple(shape) or tensor.dtype != dtype:
                raise RuntimeError(f"{name} came back as {tuple(tensor.shape)} {tensor.dtype}, planned {shape} {dtype}.")
            file.write(tensor.contiguous().reshape(-1).view(torch.uint8).numpy().data)
            del tensor
    return offset


def write_shards(folder: Path, plan: list[list[str]], specs: Mapping[str, TensorSpec],
                 load: Callable[[str], torch.Tensor]) -> dict[str, str]:
    """Write each planned shard; an index json (tensor -> file) is added when there are several."""
    count = len(plan)
    weight_map, total_size = {}, 0
    for number, names in enumerate(plan, start=1):
        file = "model.safetensors" if count == 1 else f"model-{number:05d}-of-{count:05d}.safetensors"
        total_size += write_safetensors(folder / file, {name: specs[name] for name in names}, load)
        weight_map.update(dict.fromkeys(names, file))
    if count > 1:
        index = {"metadata": {"total_size": total_size}, "weight_map": weight_map}
        (folder / INDEX_FILE).write_text(json.dumps(index, indent=2) + "\n")
    return weight_map


def write_checkpoint(folder: str | Path, config: Mapping, tensors: Mapping[str, torch.Tensor],
                     max_shard_size: str | int = "5GB") -> Path:
    """A model folder (config.json + safetensors shards) from tensors in memory, e.g. a small EXAONE test model."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "config.json").write_text(json.dumps(dict(config), indent=2) + "\n")
    specs = {name: (tuple(t.shape), t.dtype) for name, t in tensors.items()}
    write_shards(folder, plan_shards(specs, parse_size(max_shard_size)), specs, tensors.__getitem__)
    return folder


def read_checkpoint(folder: str | Path) -> dict[str, torch.Tensor]:
    """Every tensor of a (possibly sharded) safetensors folder, for small models and verification."""
    files = source_tensor_files(Path(folder))
    tensors = {}
    for file in sorted(set(files.values())):
        with safe_open(file, framework="pt") as f:
            tensors.update({name: f.get_tensor(name) for name in f.keys()})
    return tensors


class StreamedCheckpoint(Mapping):
    """A checkpoint's tensors read from disk only when asked for, on `device` in `dtype`, and never kept.

    Passed to `exaone_logits` it runs the reference forward over a 7.8B model with about one tensor in memory at a
    time, so a T4 can check a conversion with the converted model loaded beside it.
    """

    def __init__(self, folder: str | Path, device: str | torch.device = "cpu", dtype: torch.dtype | None = None):
        self.files = source_tensor_files(Path(folder))
        self.device, self.dtype = torch.device(device), dtype

    def __getitem__(self, name: str) -> torch.Tensor:
        with safe_open(self.files[name], framework="pt", device=str(self.device)) as f:
            tensor = f.get_tensor(name)
        return tensor if self.dtype is None else tensor.to(self.dtype)

    def __iter__(self):
        return iter(self.files)

    def __len__(self) -> int:
        return len(self.files)


def source_tensor_files(src: Path) -> dict[str, Path]:
    """Which safetensors file holds each tensor: from the index of a sharded checkpoint, or the single file."""
    index = src / INDEX_FILE
    if index.is_file():
        weight_map = json.loads(index.read_text())["weight_map"]
        files = {name: src / file for name, file in weight_map.items()}
        for file in sorted(set(files.values())):
            if not file.is_file():
                raise CheckpointError(f"{INDEX_FILE} lists {file.name} but it is not in {src}: the download is incomplete, fetch that shard.")
        return files
    shards = sorted(src.glob("*.safetensors"))
    if not shards:
        others = sorted(p.name for p in src.iterdir() if p.suffix in {".bin", ".pt", ".pth", ".gguf"})
        raise CheckpointError(
            f"{src} holds no *.safetensors weights (found: {', '.join(others) or 'no weight files'}): "
            "save the model with save_pretrained (safetensors) first."
        )
    files = {}
    for shard in shards:
        with safe_open(shard, framework="pt") as f:
            files.update({name: shard for name in f.keys()})
    return files


def tensor_meta(files: Mapping[str, Path]) -> dict[str, tuple[tuple[int, ...], str]]:
    """Shape and dtype of every tensor, read from the safetensors headers only (no tensor data is loaded)."""
    meta = {}
    for file in sorted(set(files.values())):
        with safe_open(file, framework="pt") as f:
            for name in f.keys():
                if files.get(name) == file:
                    piece = f.get_slice(name)
                    meta[name] = (tuple(piece.get_shape()), piece.get_dtype())
    return meta
