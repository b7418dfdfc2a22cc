"""Writing a merged Llama checkpoint folder as one GGUF file (f16 or Q8_0) for llama.cpp, Ollama and LM Studio.

Follows llama.cpp's `convert_hf_to_gguf.py` (`LlamaModel`): llama.cpp tensor names, q/k rows permuted for its
rope layout (transformers' GGUF loader permutes them back), norms kept in f32, and the byte-level BPE tokenizer
("gpt2" in GGUF terms; its split named as llama.cpp names it: "llama-bpe", "smollm", "gpt-2") with its merges, special ids, end-of-turn id and chat template. Tensors are streamed one at a time from
the safetensors shards, so RAM stays near one tensor, not the model.
"""
from __future__ import annotations

import json
import os
import shutil
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from .command_line import run_tool


SUPPORTED_ARCHITECTURES = ("LlamaForCausalLM",)
OUTTYPES = ("f16", "q8_0")
# Llama 3's pre-tokenizer regex (llama_models/llama3/tokenizer.py `pat_str`, as its tokenizer.json holds it);
# llama.cpp calls that split "llama-bpe". course_tools/llama3_tokenizer.py builds the offline tokenizer with it.
LLAMA3_PATTERN = (
    r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"
)
LLAMA3_SPLIT = LLAMA3_PATTERN


@dataclass
class GgufReport:
    """What an export wrote, for the notebook to print."""

    path: Path
    outtype: str
    tensors: int
    bytes: int
    seconds: float


def permute_for_rope(weights: torch.Tensor, n_head: int, n_head_kv: int | None = None) -> torch.Tensor:
    """llama.cpp's LlamaModel.permute: q/k rows regrouped from HF's rotate-half layout to interleaved pairs."""
    if n_head_kv is not None and n_head != n_head_kv:
        n_head = n_head_kv
    return weights.reshape(n_head, 2, weights.shape[0] // n_head // 2, *weights.shape[1:]).swapaxes(1, 2).reshape(weights.shape)


def read_config(model_dir: Path) -> dict:
    """config.json of the model folder, refused unless it is an architecture this exporter writes."""
    path = model_dir / "config.json"
    if not path.is_file():
        raise FileNotFoundError(f"{path} does not exist: pass a model folder written by save_pretrained or the streaming merge.")
    config = json.loads(path.read_text())
    architectures = config.get("architectures") or [config.get("model_type", "unknown")]
    if architectures[0] not in SUPPORTED_ARCHITECTURES:
        raise ValueError(f"{model_dir} holds a {architectures[0]} model, but this exporter writes only {', '.join(SUPPORTED_ARCHITECTURES)} (Llama 3, SmolLM2): use llama.cpp's convert_hf_to_gguf.py for other architectures.")
    unsupported = [key for key in ("attention_bias", "mlp_bias") if config.get(key)]
    if config.get("rope_scaling") or (config.get("rope_parameters") or {}).get("rope_type", "default") != "default":
        unsupported.append("rope scaling")
    if unsupported:
        raise ValueError(f"{model_dir} uses {', '.join(unsupported)}, which this exporter does not write: use llama.cpp's convert_hf_to_gguf.py for this model.")
    return config


def _split_kind(pre_tokenizer: dict | None) -> str | None:
    """The split one `tokenizers` pre-tokenizer makes, in llama.cpp's words, or None when it is none of the known ones."""
    pre_tokenizer = pre_tokenizer or {}
    kind = pre_tokenizer.get("type")
    if kind == "ByteLevel" and pre_tokenizer.get("use_regex", True):
        return "gpt-2"  # GPT-2's regex, then bytes
    if kind == "Sequence":
        parts = pre_tokenizer.get("pretokenizers", [])
        types = [part.get("type") for part in parts]
        if types == ["Digits", "ByteLevel"] and parts[0].get("individual_digits") and parts[1].get("use_regex", True):
            return "smollm"  # each digit alone, then GPT-2's regex (llama.cpp's "exaone" is the same split)
        if types == ["Split", "ByteLevel"] and not parts[1].get("use_regex", True):
            pattern = (parts[0].get("pattern") or {}).get("Regex", "")
            if pattern == LLAMA3_SPLIT:
                return "llama-bpe"
    return None


def tokenizer_pre(model_dir: Path) -> str:
    """llama.cpp's name for the folder's split before BPE, read from its tokenizer.json (llama.cpp refuses names it lacks)."""
    tokenizer_json = json.loads((Path(model_dir) / "tokenizer.json").read_text())
    name = _split_kind(tokenizer_json.get("pre_tokenizer"))
    if name is None:
        raise ValueError(f"{model_dir}'s tokenizer splits text in a way this exporter cannot name for llama.cpp ({json.dumps(tokenizer_json.get('pre_tokenizer'))[:200]}): use llama.cpp's convert_hf_to_gguf.py for this model.")
    return name


def end_of_turn_id(tokenizer) -> int | None:
    """The special token that closes an assistant turn in the chat template (`<|im_end|>`, `<|eot_id|>`), or None.

    Written as the GGUF's end-of-turn id; without it llama.cpp guesses one from token names (for SmolLM2, wrongly).
    """
    if not tokenizer.chat_template:
        return None
    mark = "Zq7 marker"
    text = tokenizer.apply_chat_template([{"role": "user", "content": "hi"}, {"role": "assistant", "content": mark}], tokenize=False)
    after = text[text.rindex(mark) + len(mark):]
    ids = tokenizer(after, add_special_tokens=False).input_ids
    special = set(tokenizer.all_special_ids) | {i for i, t in tokenizer.added_tokens_decoder.items() if t.special}
    return next((i for i in ids if i in special), None)


def add_tokenizer(writer, model_dir: Path, config: dict) -> None:
    """Byte-level BPE vocabulary, token types, merges, special ids and the chat template, as llama.cpp writes them."""
    import gguf
    from transformers import AutoTokenizer

    if not (model_dir / "tokenizer.json").is_file():
        raise FileNotFoundError(f"{model_dir} has no tokenizer.json: save the tokenizer into the model folder (tokenizer.save_pretrained) first.")
    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    vocab_size = config["vocab_size"]
    by_id = {index: token for token, index in tokenizer.get_vocab().items()}
    added = tokenizer.added_tokens_decoder
    tokens, types = [], []
    for index in range(vocab_size):
        if index not in by_id:
            tokens.append(f"[PAD{index}]")
            types.append(gguf.TokenType.UNUSED)
        elif index in added:
            tokens.append(by_id[index])
            types.append(gguf.TokenType.CONTROL if added[index].special else gguf.TokenType.USER_DEFINED)
        else:
            tokens.append(by_id[index])
            types.append(gguf.TokenType.NORMAL)
    writer.add_tokenizer_model("gpt2")
    writer.add_tokenizer_pre(tokenizer_pre(model_dir))
    writer.add_token_list(tokens)
    writer.add_token_types(types)
    special = gguf.SpecialVocab(model_dir, load_merges=True, n_vocab=vocab_size)
    special.add_to_gguf(writer, quiet=True)
    eot = end_of_turn_id(tokenizer)
    if eot is not None:
        writer.add_eot_token_id(eot)


def add_hyperparameters(writer, config: dict, outtype: str, name: str) -> None:
    """The Llama hyperparameters llama.cpp reads (and transformers maps back to LlamaConfig)."""
    import gguf

    heads = config["num_attention_heads"]
    writer.add_name(name)
    writer.add_context_length(config.get("max_position_embeddings", 4096))
    writer.add_embedding_length(config["hidden_size"])
    writer.add_block_count(config["num_hidden_layers"])
    writer.add_feed_forward_length(config["intermediate_size"])
    writer.add_head_count(heads)
    writer.add_head_count_kv(config.get("num_key_value_heads", heads))
    writer.add_layer_norm_rms_eps(config.get("rms_norm_eps", 1e-5))
    rope_theta = config.get("rope_theta") or (config.get("rope_parameters") or {}).get("rope_theta", 10000.0)
    writer.add_rope_freq_base(float(rope_theta))
    writer.add_rope_dimension_count(config.get("head_dim") or config["hidden_size"] // heads)
    writer.add_vocab_size(config["vocab_size"])
    writer.add_file_type(gguf.LlamaFileType.MOSTLY_Q8_0 if outtype == "q8_0" else gguf.LlamaFileType.MOSTLY_F16)
    if outtype == "q8_0":
        writer.add_quantization_version(gguf.GGML_QUANT_VERSION)


def _weight_locations(model_dir: Path) -> dict[str, str]:
    from .merge import base_weight_map

    return base_weight_map(model_dir)


def _convert(name: str, tensor: torch.Tensor, config: dict, outtype: str) -> tuple[np.ndarray, object | None]:
    """One HF tensor as llama.cpp stores it: (array, raw quant type or None)."""
    import gguf

    tensor = tensor.float()
    heads, kv_heads = config["num_attention_heads"], config.get("num_key_value_heads", config["num_attention_heads"])
    if name.endswith("q_proj.weight"):
        tensor = permute_for_rope(tensor, heads, heads)
    elif name.endswith("k_proj.weight"):
        tensor = permute_for_rope(tensor, heads, kv_heads)
    array = tensor.numpy()
    if array.ndim == 1:
        return array.astype(np.float32), None  # norms stay f32, as llama.cpp keeps them
    if outtype == "q8_0" and array.shape[-1] % 32 == 0:
        kind = gguf.GGMLQuantizationType.Q8_0
        out = np.empty(_planned(name, array.shape, outtype)[0], dtype=np.uint8)
        for start in range(0, array.shape[0], 4096):  # in row blocks: quantize's temporaries stay small (8B embedding: 2 GB in fp32)
            out[start:start + 4096] = gguf.quants.quantize(array[start:start + 4096], kind)
        return out, kind
    return array.astype(np.float16), None


def _planned(name: str, shape: tuple[int, ...], outtype: str) -> tuple[tuple[int, ...], np.dtype, int, object | None]:
    """The (shape, dtype, nbytes, raw type) `_convert` will produce, without reading the tensor."""
    import gguf

    count = int(np.prod(shape))
    if len(shape) == 1:
        return shape, np.dtype(np.float32), count * 4, None
    if outtype == "q8_0" and shape[-1] % 32 == 0:
        block, type_size = gguf.GGML_QUANT_SIZES[gguf.GGMLQuantizationType.Q8_0]
        byte_shape = (*shape[:-1], shape[-1] // block * type_size)
        return byte_shape, np.dtype(np.uint8), int(np.prod(byte_shape)), gguf.GGMLQuantizationType.Q8_0
    return shape, np.dtype(np.float16), count * 2, None


def export_gguf(model_dir: str | Path, destination: str | Path, outtype: str = "f16", overwrite: bool = False) -> GgufReport:
    """Write `destination` (a .gguf file) from a Llama checkpoint folder, streaming one tensor at a time."""
    import gguf
    from safetensors import safe_open

    start = time.perf_counter()
    model_dir, destination = Path(model_dir), Path(destination)
    if outtype not in OUTTYPES:
        raise ValueError(f"outtype {outtype!r} is not one of {', '.join(OUTTYPES)}: pick one of those.")
    if destination.exists() and not overwrite:
        raise FileExistsError(f"{destination} already exists: pass overwrite=True to replace it, or choose another file name.")
    config = read_config(model_dir)
    locations = _weight_locations(model_dir)
    name_map = gguf.get_tensor_name_map(gguf.MODEL_ARCH.LLAMA, config["num_hidden_layers"])
    plan = []  # (hf name, gguf name, shard)
    for hf_name in sorted(locations, key=lambda key: (locations[key], key)):
        if hf_name.endswith("rotary_emb.inv_freq"):
            continue
        gguf_name = name_map.get_name(hf_name, try_suffixes=(".weight", ".bias"))
        if gguf_name is None:
            raise ValueError(f"{model_dir} has a tensor {hf_name} that a Llama GGUF has no place for: use llama.cpp's convert_hf_to_gguf.py for this model.")
        plan.append((hf_name, gguf_name, locations[hf_name]))
    free = shutil.disk_usage(destination.parent if destination.parent.exists() else Path.cwd()).free

    destination.parent.mkdir(parents=True, exist_ok=True)
    handle, staging_name = tempfile.mkstemp(prefix=f".{destination.name}.", suffix=".partial", dir=destination.parent)
    os.close(handle)
    staging = Path(staging_name)
    try:
        writer = gguf.GGUFWriter(staging, "llama")
        add_hyperparameters(writer, config, outtype, config.get("_name_or_path") or model_dir.name)
        add_tokenizer(writer, model_dir, config)
        total = 0
        for hf_name, gguf_name, shard in plan:
            with safe_open(str(model_dir / shard), framework="pt") as weights:
                shape = tuple(weights.get_slice(hf_name).get_shape())
            out_shape, dtype, nbytes, raw = _planned(hf_name, shape, outtype)
            writer.add_tensor_info(gguf_name, out_shape, dtype, nbytes, raw_dtype=raw)
            total += nbytes
        if free < total * 1.05:
            raise OSError(f"The GGUF file needs about {total / 2**30:.2f} GiB but {destination.parent} has only {free / 2**30:.2f} GiB free: free some disk space or choose another destination.")
        writer.write_header_to_file(staging)
        writer.write_kv_data_to_file()
        writer.write_ti_data_to_file()
        for hf_name, _, shard in plan:
            with safe_open(str(model_dir / shard), framework="pt") as weights:
                array, _ = _convert(hf_name, weights.get_tensor(hf_name), config, outtype)
            writer.write_tensor_data(array)
        writer.close()
        staging.replace(destination)  # a half-written file never carries the final name
    finally:
        staging.unlink(missing_ok=True)
    return GgufReport(destination, outtype, len(plan), destination.stat().st_size, time.perf_counter() - start)


def main(argv: list[str] | None = None) -> int:
    """`python -m course_utils.gguf_export MERGED_DIR OUT.gguf [--outtype q8_0]`: lesson 08's export as a command."""
    import argparse

    parser = argparse.ArgumentParser(prog="python -m course_utils.gguf_export", description=__doc__.splitlines()[0])
    parser.add_argument("model_dir", help="a merged Llama checkpoint folder (safetensors)")
    parser.add_argument("destination", help="the .gguf file to write")
    parser.add_argument("--outtype", choices=OUTTYPES, default="f16")
    parser.add_argument("--overwrite", action="store_true", help="replace an existing file")
    args = parser.parse_args(argv)

    def export() -> str:
        report = export_gguf(args.model_dir, args.destination, args.outtype, args.overwrite)
        return f"{report.path}: {report.tensors} tensors, {report.bytes / 2**30:.2f} GiB ({report.outtype}) in {report.seconds:.1f} s"

    return run_tool(export)


if __name__ == "__main__":
    sys.exit(main())
