"""EXAONE 3.x -> Llama ("llamafy"): rename the tensors and the config fields so every Llama tool loads the model.

Run it outside a notebook:  python -m course_utils.llamafy SRC_DIR DST_DIR [--dtype bfloat16] [--overwrite]

The output is bfloat16 unless another dtype is asked for: a published fp32 source would otherwise give an fp32 copy,
twice the disk. Free disk is checked before anything is written. Tensors are streamed one at a time, read with safetensors' safe_open and written straight into the output file, so
a 7.8B bf16 model (15.6 GB) is never held in memory, let alone twice: the peak is about its largest tensor. The output
appears under DST_DIR only when complete (written to a temporary folder beside it, then renamed).
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
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import torch
from safetensors import safe_open

from .checkpoints import INDEX_FILE, CheckpointError, check_disk, parse_size, plan_shards, source_tensor_files, tensor_meta, write_shards
from .command_line import run_tool
from .exaone_reference import EXAONE_DEFAULTS, ExaoneSettings, exaone_settings, exaone_tensor_shapes

# The names inside one block, from modeling_exaone.py (ExaoneBlock, ExaoneAttention, ExaoneGatedMLP) to
# modeling_llama.py (LlamaDecoderLayer). c_fc_0 is the gate: ExaoneGatedMLP computes c_proj(silu(c_fc_0(x)) * c_fc_1(x)).
LAYER_NAMES: dict[str, str] = {
    "ln_1.weight": "input_layernorm.weight",
    "attn.attention.q_proj.weight": "self_attn.q_proj.weight",
    "attn.attention.k_proj.weight": "self_attn.k_proj.weight",
    "attn.attention.v_proj.weight": "self_attn.v_proj.weight",
    "attn.attention.out_proj.weight": "self_attn.o_proj.weight",
    "ln_2.weight": "post_attention_layernorm.weight",
    "mlp.c_fc_0.weight": "mlp.gate_proj.weight",
    "mlp.c_fc_1.weight": "mlp.up_proj.weight",
    "mlp.c_proj.weight": "mlp.down_proj.weight",
}
OUTER_NAMES: dict[str, str] = {
    "transformer.wte.weight": "model.embed_tokens.weight",
    "transformer.ln_f.weight": "model.norm.weight",
    "lm_head.weight": "lm_head.weight",
}
# config.json fields that only change their name (ExaoneConfig -> LlamaConfig).
CONFIG_RENAMES: dict[str, str] = {
    "num_layers": "num_hidden_layers",
    "layer_norm_epsilon": "rms_norm_eps",
    "activation_function": "hidden_act",
}
# Remote-code plumbing or training-only settings that a Llama config has no place for.
CONFIG_DROPPED = ("auto_map", "architectures", "model_type", "embed_dropout", "_name_or_path", "transformers_version")
TOKENIZER_FILES = (
    "tokenizer.json", "tokenizer_config.json", "special_tokens_map.json", "added_tokens.json", "vocab.json",
    "merges.txt", "tokenizer.model", "chat_template.jinja", "chat_template.json", "generation_config.json",
)
DTYPES = {"bfloat16": torch.bfloat16, "float16": torch.float16, "float32": torch.float32}
SAFETENSORS_DTYPES = {"BF16": "bfloat16", "F16": "float16", "F32": "float32"}


class LlamafyError(CheckpointError):
    """A problem with the input or output folder that the user can fix; the message says how."""


@dataclass
class LlamafyReport:
    """What a conversion did, printed at the end of the CLI and returned by `llamafy`."""

    destination: Path
    dtype: str
    tensors_mapped: int = 0
    parameters: int = 0
    shards: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    copied_files: list[str] = field(default_factory=list)
    seconds: float = 0.0

    def __str__(self) -> str:
        lines = [
            f"Llama checkpoint written to {self.destination}",
            f"  tensors mapped : {self.tensors_mapped}",
            f"  parameters     : {self.parameters:,} ({self.parameters / 1e9:.2f} B), dtype {self.dtype}",
            f"  shards written : {len(self.shards)} ({', '.join(self.shards)})",
            f"  files copied   : {', '.join(self.copied_files) or 'none (no tokenizer files found in the source)'}",
            f"  time           : {self.seconds:.1f} s",
        ]
        if self.skipped:
            lines.insert(2, f"  tensors skipped: {', '.join(self.skipped)} (a tied head or RoPE buffers, not weights)")
        return "\n".join(lines)


@dataclass
class DiskPlan:
    """What a conversion reads and writes, from the downloaded source's own files (no quoted figure)."""

    source_bytes: int
    source_dtype: str
    output_bytes: int
    output_dtype: str

    def __str__(self) -> str:
        return (f"source {self.source_bytes / 1e9:.2f} GB ({self.source_dtype}), converted copy "
                f"{self.output_bytes / 1e9:.2f} GB ({self.output_dtype}): {(self.source_bytes + self.output_bytes) / 1e9:.2f} GB on disk in all")


def disk_plan(src: str | Path, dtype: str = "bfloat16") -> DiskPlan:
    """The source's size (its index's total_size, else its tensor bytes) and the size of the copy in `dtype`."""
    src = Path(src)
    if dtype not in DTYPES:
        raise LlamafyError(f"dtype {dtype!r} is not one of {', '.join(DTYPES)}: pick one of those.")
    meta = tensor_meta(source_tensor_files(src))
    elements = {name: math.prod(shape) for name, (shape, _) in meta.items()}
    source_bytes = sum(n * DTYPES[SAFETENSORS_DTYPES.get(meta[name][1], "float32")].itemsize for name, n in elements.items())
    if (src / INDEX_FILE).is_file():
        source_bytes = json.loads((src / INDEX_FILE).read_text()).get("metadata", {}).get("total_size", source_bytes)
    counts: dict[str, int] = {}
    for name, (_, code) in meta.items():
        counts[code] = counts.get(code, 0) + elements[name]
    source_dtype = SAFETENSORS_DTYPES.get(max(counts, key=counts.get), "float32")
    return DiskPlan(source_bytes, source_dtype, sum(elements.values()) * DTYPES[dtype].itemsize, dtype)


def llama_name(exaone_name: str) -> str | None:
    """The Llama name of an EXAONE tensor, or None when the name is not part of EXAONE 3.x."""
    if exaone_name in OUTER_NAMES:
        return OUTER_NAMES[exaone_name]
    match = re.fullmatch(r"transformer\.h\.(\d+)\.(.+)", exaone_name)
    if match and match.group(2) in LAYER_NAMES:
        return f"model.layers.{match.group(1)}.{LAYER_NAMES[match.group(2)]}"
    return None


def llama_config(exaone_config: Mapping, dtype: str) -> dict:
    """The Llama config.json for an EXAONE config.json, with EXAONE's defaults written out explicitly.

    Llama's own defaults differ (untied embeddings, epsilon 1e-6), so a field EXAONE left out must not be left out here.
    """
    s = exaone_settings(exaone_config)
    config = {key: value for key, value in exaone_config.items() if key not in CONFIG_DROPPED and key not in CONFIG_RENAMES}
    for old, new in CONFIG_RENAMES.items():
        config[new] = getattr(s, old)
    config.update({
        "architectures": ["LlamaForCausalLM"],
        "model_type": "llama",
        "vocab_size": s.vocab_size,
        "hidden_size": s.hidden_size,
        "intermediate_size": s.intermediate_size,
        "num_attention_heads": s.num_attention_heads,
        "num_key_value_heads": s.num_key_value_heads,
        "head_dim": s.head_dim,
        "max_position_embeddings": s.max_position_embeddings,
        "rope_theta": s.rope_theta,
        "rope_scaling": s.rope_scaling,
        "tie_word_embeddings": s.tie_word_embeddings,
        "bos_token_id": exaone_config.get("bos_token_id", EXAONE_DEFAULTS["bos_token_id"]),
        "eos_token_id": exaone_config.get("eos_token_id", EXAONE_DEFAULTS["eos_token_id"]),
        "attention_bias": False,  # EXAONE's projections have no bias (nn.Linear(..., bias=False))
        "mlp_bias": False,
        "pretraining_tp": 1,
        "torch_dtype": dtype,
    })
    config.pop("dtype", None)
    config.pop("rope_parameters", None)  # rope_theta + rope_scaling are read by transformers 4.x, 5.x and vLLM alike
    return dict(sorted(config.items()))


def read_exaone_config(src: Path) -> dict:
    """config.json of an EXAONE 3.x folder; anything else is refused with what was found."""
    path = src / "config.json"
    if not src.is_dir():
        raise LlamafyError(f"Source folder {src} does not exist: pass the folder that holds config.json and *.safetensors.")
    if not path.is_file():
        raise LlamafyError(f"{src} has no config.json: pass the model folder itself (the one save_pretrained or the Hub download wrote).")
    config = json.loads(path.read_text())
    found = config.get("model_type")
    if found != "exaone":
        raise LlamafyError(
            f"{path} says model_type {found!r}, not 'exaone': this tool only converts EXAONE 3.x checkpoints"
            + (" (this one is already a Llama checkpoint)." if found == "llama" else ".")
        )
    return config


def check_tensors(meta: Mapping[str, tuple[tuple[int, ...], str]], settings: ExaoneSettings, src: Path) -> list[str]:
    """Refuse missing, unexpected or wrongly shaped tensors; return the names that are safely skipped."""
    expected = exaone_tensor_shapes(settings)
    skipped = [n for n in meta if n == "lm_head.weight" and settings.tie_word_embeddings]  # tied: the embedding is the head
    skipped += [n for n in meta if n.endswith(".inv_freq")]  # RoPE buffers, recomputed from rope_theta
    missing = [n for n in expected if n not in meta]
    if missing:
        raise LlamafyError(
            f"{len(missing)} EXAONE tensor(s) are missing from {src}, e.g. {', '.join(missing[:3])}: "
            f"the checkpoint is incomplete or its config.json (num_layers={settings.num_layers}, "
            f"tie_word_embeddings={settings.tie_word_embeddings}) does not match it."
        )
    extra = [n for n in meta if n not in expected and n not in skipped]
    if extra:
        raise LlamafyError(
            f"{src} holds {len(extra)} tensor(s) that EXAONE 3.x does not have, e.g. {', '.join(extra[:3])}: "
            "this is not a plain EXAONE 3.x checkpoint (merge LoRA adapters and dequantize before converting)."
        )
    for name, shape in expected.items():
        if meta[name][0] != shape:
            raise LlamafyError(
                f"{name} has shape {list(meta[name][0])} but config.json (hidden_size={settings.hidden_size}, "
                f"num_attention_heads={settings.num_attention_heads}, num_key_value_heads={settings.num_key_value_heads}, "
                f"head_dim={settings.head_dim}, intermediate_size={settings.intermediate_size}, vocab_size={settings.vocab_size}) "
                f"implies {list(shape)}: the config does not belong to these weights."
            )
    return skipped


def check_destination(src: Path, dst: Path, overwrite: bool) -> None:
    """Refuse a destination that would overwrite the source or files the user did not agree to lose."""
    src_real, dst_real = src.resolve(), dst.resolve()
    if dst_real == src_real or src_real in dst_real.parents or dst_real in src_real.parents:
        raise LlamafyError(f"Destination {dst} overlaps the source {src}: write the Llama checkpoint to a separate folder.")
    if dst.exists() and not dst.is_dir():
        raise LlamafyError(f"Destination {dst} is a file: pass a folder path.")
    if dst.is_dir() and any(dst.iterdir()) and not overwrite:
        held = sorted(p.name for p in dst.iterdir())
        raise LlamafyError(
            f"Destination {dst} already holds {len(held)} item(s) ({', '.join(held[:3])}{', ...' if len(held) > 3 else ''}): "
            "choose an empty folder or pass --overwrite (overwrite=True) to replace it."
        )


def copy_side_files(src: Path, dst: Path) -> list[str]:
    """Tokenizer files (chat template included), generation config and licence files, copied byte for byte."""
    names = [n for n in TOKENIZER_FILES if (src / n).is_file()]
    names += sorted(p.name for p in src.iterdir() if p.is_file() and p.name.upper().startswith(("LICENSE", "NOTICE")))
    for name in names:
        shutil.copy2(src / name, dst / name)
    return names


def install(staging: Path, dst: Path) -> None:
    """Put the finished folder in place: rename, so DST is never a half-written checkpoint."""
    if not dst.exists():
        staging.rename(dst)
        return
    old = Path(tempfile.mkdtemp(prefix=f".{dst.name}.old-", dir=dst.parent))
    old.rmdir()
    dst.rename(old)
    staging.rename(dst)
    shutil.rmtree(old)


def llamafy(src: str | Path, dst: str | Path, dtype: str = "bfloat16", overwrite: bool = False,
            max_shard_size: str | int = "5GB") -> LlamafyReport:
    """Convert an EXAONE 3.x folder into a Llama folder that loads with no remote code.

    `dtype` (bfloat16, float16, float32) casts every tensor: bfloat16 by default, whatever the source holds.
    """
    start = time.perf_counter()
    src, dst = Path(src), Path(dst)
    if dtype not in DTYPES:
        raise LlamafyError(f"dtype {dtype!r} is not one of {', '.join(DTYPES)}: pick one of those.")
    exaone_config = read_exaone_config(src)
    settings = exaone_settings(exaone_config)
    check_destination(src, dst, overwrite)
    files = source_tensor_files(src)
    meta = tensor_meta(files)
    skipped = check_tensors(meta, settings, src)

    target = dtype
    # Llama order: embeddings, blocks, final norm, head (EXAONE's expected order is the same).
    names = list(exaone_tensor_shapes(settings))
    specs = {llama_name(n): (meta[n][0], DTYPES[target]) for n in names}
    source_of = {llama_name(n): n for n in names}

    report = LlamafyReport(destination=dst, dtype=target, skipped=skipped)
    dst.parent.mkdir(parents=True, exist_ok=True)
    check_disk(dst, sum(math.prod(shape) for shape, _ in specs.values()) * DTYPES[target].itemsize, "The converted model")
    staging = Path(tempfile.mkdtemp(prefix=f".{dst.name}.llamafy-", dir=dst.parent))
    staging.chmod(0o755)  # mkdtemp makes it private (0700); a model folder is meant to be read by servers and colleagues
    try:
        def load(llama: str) -> torch.Tensor:
            # Opened per tensor so the memory map is released at once: resident memory stays near one output shard.
            exaone = source_of[llama]
            with safe_open(files[exaone], framework="pt") as f:
                return f.get_tensor(exaone).to(DTYPES[target])

        weight_map = write_shards(staging, plan_shards(specs, parse_size(max_shard_size)), specs, load)
        (staging / "config.json").write_text(json.dumps(llama_config(exaone_config, target), indent=2) + "\n")
        report.copied_files = copy_side_files(src, staging)
        install(staging, dst)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    report.tensors_mapped = len(weight_map)
    report.parameters = sum(math.prod(meta[n][0]) for n in names)
    report.shards = sorted(set(weight_map.values()))
    report.seconds = time.perf_counter() - start
    return report


def main(argv: list[str] | None = None) -> int:
    """The command line: convert, print the report; a user error prints one line and exits with status 2."""
    parser = argparse.ArgumentParser(
        prog="python -m course_utils.llamafy",
        description="Convert an EXAONE 3.x checkpoint folder into a Llama checkpoint folder (no remote code needed).",
    )
    parser.add_argument("src", type=Path, help="EXAONE folder: config.json (model_type exaone), *.safetensors, tokenizer files")
    parser.add_argument("dst", type=Path, help="new folder for the Llama checkpoint")
    parser.add_argument("--dtype", choices=sorted(DTYPES), default="bfloat16", help="dtype of the converted weights (default bfloat16)")
    parser.add_argument("--overwrite", action="store_true", help="replace DST if it already holds files")
    parser.add_argument("--max-shard-size", default="5GB", help="largest output shard, e.g. 5GB or 500MB (default 5GB)")
    args = parser.parse_args(argv)
    return run_tool(lambda: str(llamafy(args.src, args.dst, dtype=args.dtype, overwrite=args.overwrite,
                                        max_shard_size=args.max_shard_size)), (CheckpointError, OSError))


if __name__ == "__main__":
    sys.exit(main())
