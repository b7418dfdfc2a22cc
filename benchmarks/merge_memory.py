"""Peak RAM of the streaming merge (course_utils.merge) against PEFT's merge_and_unload on one sharded checkpoint.

Each way runs in its own fresh subprocess and reports its peak resident memory, VmHWM from /proc/self/status
(tracemalloc does not see torch's allocations; `ru_maxrss` would do, except that Linux carries the parent's peak
into a forked child across exec, so a child of this script would report the checkpoint builder's peak). A third subprocess only imports torch, transformers and peft: its peak is the
floor both ways pay before touching a weight. Writes benchmarks/results/merge_memory.{json,md}.

    python benchmarks/merge_memory.py [--hidden 1024 --layers 8 --shard 100MB]
"""
from __future__ import annotations

import argparse
import datetime
import json
import platform
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RESULTS = Path(__file__).resolve().parent / "results"

CHILD = {
    "imports only": "import torch, transformers, peft",
    "streaming merge": (
        "from course_utils.merge import merge_adapter_into_checkpoint\n"
        "import torch, transformers, peft\n"
        "merge_adapter_into_checkpoint(BASE, ADAPTER, OUT + '/streaming')\n"
    ),
    "merge_and_unload": (
        "import torch\nfrom transformers import AutoModelForCausalLM\nfrom peft import PeftModel\n"
        "model = AutoModelForCausalLM.from_pretrained(BASE, dtype=torch.float32)\n"
        "merged = PeftModel.from_pretrained(model, ADAPTER).merge_and_unload()\n"
        "merged.save_pretrained(OUT + '/peft', max_shard_size=SHARD)\n"
    ),
}


def peak_rss_mib(code: str, base: str, adapter: str, out: str, shard: str) -> float:
    """Run `code` in a fresh Python and return its peak resident memory in MiB (VmHWM is in KiB)."""
    prelude = f"BASE, ADAPTER, OUT, SHARD = {base!r}, {adapter!r}, {out!r}, {shard!r}\n"
    epilogue = "\nprint('PEAK_KIB', [l.split()[1] for l in open('/proc/self/status') if l.startswith('VmHWM')][0])\n"
    result = subprocess.run([sys.executable, "-c", prelude + code + epilogue], capture_output=True, text=True, cwd=ROOT,
                            env={"PYTHONPATH": str(ROOT), "HF_HUB_OFFLINE": "1", "PATH": "/usr/bin:/bin"})
    if result.returncode != 0:
        raise RuntimeError(result.stderr[-2000:])
    kib = [line for line in result.stdout.splitlines() if line.startswith("PEAK_KIB")][-1].split()[1]
    return int(kib) / 1024


def build_checkpoint(folder: Path, hidden: int, layers: int, shard: str) -> tuple[Path, Path, dict]:
    """A random Llama saved as several fp32 shards, and a LoRA adapter (r=16, all linear layers, non-zero B) for it."""
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(0)
    config = LlamaConfig(vocab_size=32000, hidden_size=hidden, intermediate_size=hidden * 11 // 4, num_hidden_layers=layers,
                         num_attention_heads=hidden // 64, num_key_value_heads=hidden // 256, tie_word_embeddings=False)
    model = LlamaForCausalLM(config)
    model.save_pretrained(folder / "base", max_shard_size=shard)
    adapter = get_peft_model(model, LoraConfig(r=16, lora_alpha=32, target_modules="all-linear", init_lora_weights=False))
    adapter.save_pretrained(folder / "adapter")
    shards = sorted((folder / "base").glob("*.safetensors"))
    facts = {
        "parameters_millions": round(sum(p.numel() for p in model.parameters()) / 1e6, 1),
        "checkpoint_mib": round(sum(p.stat().st_size for p in shards) / 2**20, 1),
        "shards": len(shards),
        "largest_shard_mib": round(max(p.stat().st_size for p in shards) / 2**20, 1),
        "adapter_mib": round((folder / "adapter" / "adapter_model.safetensors").stat().st_size / 2**20, 1),
    }
    return folder / "base", folder / "adapter", facts


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hidden", type=int, default=1024)
    parser.add_argument("--layers", type=int, default=8)
    parser.add_argument("--shard", default="100MB")
    args = parser.parse_args()
    import peft
    import safetensors
    import torch
    import transformers

    with tempfile.TemporaryDirectory() as tmp:
        base, adapter, facts = build_checkpoint(Path(tmp), args.hidden, args.layers, args.shard)
        peaks = {name: round(peak_rss_mib(code, str(base), str(adapter), tmp, args.shard), 1) for name, code in CHILD.items()}
    result = {
        "date": datetime.date.today().isoformat(),
        "machine": f"{platform.machine()} CPU, {platform.python_version()}",
        "versions": {"torch": torch.__version__, "transformers": transformers.__version__, "peft": peft.__version__, "safetensors": safetensors.__version__},
        "checkpoint": facts | {"layers": args.layers, "hidden": args.hidden, "dtype": "float32"},
        "peak_rss_mib": peaks,
        "above_imports_mib": {name: round(peak - peaks["imports only"], 1) for name, peak in peaks.items() if name != "imports only"},
    }
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "merge_memory.json").write_text(json.dumps(result, indent=1) + "\n")
    rows = "\n".join(f"| {name} | {peak:,.0f} | {peak - peaks['imports only']:,.0f} |" for name, peak in peaks.items())
    (RESULTS / "merge_memory.md").write_text(
        f"# Peak RAM: streaming merge vs merge_and_unload ({result['date']})\n\n"
        f"{result['machine']}; torch {torch.__version__}, transformers {transformers.__version__}, peft {peft.__version__}.\n"
        f"Checkpoint: random Llama, {facts['parameters_millions']} M parameters in fp32, {facts['checkpoint_mib']:,.0f} MiB in "
        f"{facts['shards']} shards (largest {facts['largest_shard_mib']:,.0f} MiB); LoRA r=16 on all linear layers, {facts['adapter_mib']} MiB.\n\n"
        f"| run (fresh process each) | peak RSS MiB | above the imports MiB |\n|---|---:|---:|\n{rows}\n"
    )
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
