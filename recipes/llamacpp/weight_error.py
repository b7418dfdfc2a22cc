"""Step 3 of `make llamacpp-check`, run in the course's venv: the Q8_0 weights themselves, ours against llama.cpp's.

Logits of one prompt carry the noise of two different roundings; the weights do not. For every Q8_0 tensor, the
squared error of its dequantized values against the fp32 weights (q/k permuted as llama.cpp stores them), for the
course's Q8_0 and for llama.cpp's own Q8_0 of the f16 file. Adds the totals to llamacpp_check.{json,md}; fails when
ours is larger.
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

import gguf
import numpy as np
from safetensors import safe_open

from course_utils.gguf_export import _weight_locations, permute_for_rope


def squared_errors(folder: Path, ours: Path, theirs: Path) -> tuple[float, float]:
    config = json.loads((folder / "config.json").read_text())
    heads, kv_heads = config["num_attention_heads"], config.get("num_key_value_heads", config["num_attention_heads"])
    names = gguf.get_tensor_name_map(gguf.MODEL_ARCH.LLAMA, config["num_hidden_layers"])
    a = {t.name: t for t in gguf.GGUFReader(ours).tensors}
    b = {t.name: t for t in gguf.GGUFReader(theirs).tensors}
    q8 = gguf.GGMLQuantizationType.Q8_0
    total_ours = total_theirs = 0.0
    for hf_name, shard in _weight_locations(folder).items():
        name = names.get_name(hf_name, try_suffixes=(".weight", ".bias"))
        if name not in a or a[name].tensor_type != q8 or b[name].tensor_type != q8:
            continue
        with safe_open(str(folder / shard), framework="pt") as weights:
            w = weights.get_tensor(hf_name).float()
        if hf_name.endswith("q_proj.weight"):
            w = permute_for_rope(w, heads, heads)
        elif hf_name.endswith("k_proj.weight"):
            w = permute_for_rope(w, heads, kv_heads)
        w = w.numpy()
        total_ours += float(((gguf.quants.dequantize(a[name].data, q8).reshape(w.shape) - w) ** 2).sum())
        total_theirs += float(((gguf.quants.dequantize(b[name].data, q8).reshape(w.shape) - w) ** 2).sum())
    return total_ours, total_theirs


def main(work: Path, results: Path) -> None:
    reference = json.loads((work / "reference.json").read_text())
    result = json.loads((results / "llamacpp_check.json").read_text())
    lines = ["", "Q8_0 weights against the fp32 weights (sum of squared errors over every Q8_0 tensor):", "",
             "| model | course Q8_0 | llama.cpp Q8_0 | ratio |", "|---|---|---|---|"]
    for name, model in reference["models"].items():
        ours, theirs = squared_errors(Path(model["folder"]), work / model["gguf"]["q8_0"]["file"], work / f"{name}-llamacpp-q8_0.gguf")
        result["models"][name]["q8_0_weight_squared_error"] = {"course": ours, "llama_cpp": theirs}
        lines.append(f"| {name} | {ours:.4g} | {theirs:.4g} | {ours / theirs:.4f} |")
        if ours > theirs * 1.001:
            result["failures"].append(f"{name}: the course's Q8_0 weights err more than llama.cpp's ({ours:.4g} > {theirs:.4g})")
    result["passed"] = not result["failures"]
    (results / "llamacpp_check.json").write_text(json.dumps(result, ensure_ascii=False, indent=1))
    text = (results / "llamacpp_check.md").read_text()
    head, _, _ = text.partition("\nFailures: ")
    head = head.replace("passed: **True**", f"passed: **{result['passed']}**").replace("passed: **False**", f"passed: **{result['passed']}**")
    (results / "llamacpp_check.md").write_text(head + "\n".join(lines) + "\n\nFailures: " + ("none" if not result["failures"] else "; ".join(result["failures"])) + "\n")
    print("\n".join(lines))
    if result["failures"]:
        sys.exit("llamacpp-check failed: " + "; ".join(result["failures"]))


if __name__ == "__main__":
    main(Path(sys.argv[1]), Path(sys.argv[2]))
