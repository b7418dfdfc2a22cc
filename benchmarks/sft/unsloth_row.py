"""The `unsloth` row: the same rows on the same random Llama-3-8B checkpoint, trained the way Unsloth's notebooks do.

Unsloth's Llama-3-8B Alpaca notebook: `FastLanguageModel.from_pretrained(load_in_4bit=True, max_seq_length=2048)`,
`get_peft_model(r=16, lora_alpha=16, lora_dropout=0, bias="none", 7 projections, use_gradient_checkpointing=
"unsloth")`, TRL's SFTTrainer with padded batches (no packing), adamw_8bit, linear schedule. Here with the seed's
effective batch 16 (2 rows x accumulation 8) so that samples per step match every other row.

Run by run.py in its own process (Unsloth patches transformers, TRL and PEFT when it is imported, so it must be
imported first and alone). Needs a CUDA GPU and its own package set (Unsloth 2026.10 pins transformers <= 5.17,
trl <= 1.15, datasets < 5): see `make gpu-wheels-unsloth`. If Unsloth cannot be imported or run, the row carries
the exact error instead of numbers.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
import traceback
from pathlib import Path

# Before anything imports huggingface_hub: no Hub, no usage statistics (Unsloth fetches a README to count installs).
for variable in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE", "HF_DATASETS_OFFLINE", "UNSLOTH_DISABLE_STATISTICS",
                 "HF_HUB_DISABLE_TELEMETRY"):
    os.environ.setdefault(variable, "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

NOTEBOOK_LORA = dict(r=16, lora_alpha=16, lora_dropout=0.0, bias="none", random_state=3407,
                     use_gradient_checkpointing="unsloth")


def model_folder_with_tokenizer(checkpoint: Path, config: dict) -> Path:
    """The random checkpoint plus a tokenizer (Unsloth loads both from one folder), as links, not copies."""
    from .data import build_tokenizer

    folder = Path(tempfile.mkdtemp(prefix="unsloth-model-"))
    for item in Path(checkpoint).iterdir():
        (folder / item.name).symlink_to(item.resolve())
    build_tokenizer(config).save_pretrained(folder)
    return folder


def run_unsloth(recipe, *, checkpoint: Path, config: dict, train_rows: dict, eval_rows: dict,
                matmul_tflops: float, work_dir: Path) -> dict:
    """Load, wrap and train with Unsloth; the measuring is the same as every other row's (measure.py)."""
    import torch
    from unsloth import FastLanguageModel  # first: Unsloth patches what it finds already imported only partly

    from datasets import Dataset

    from .measure import make_trainer_class, train_and_measure
    from .model import LORA_TARGETS
    from .recipes import sft_config

    setup_start = time.perf_counter()
    torch.cuda.empty_cache()
    torch.cuda.reset_peak_memory_stats()
    load_start = time.perf_counter()
    model, tokenizer = FastLanguageModel.from_pretrained(
        model_name=str(model_folder_with_tokenizer(checkpoint, config)), max_seq_length=recipe.row_max_length,
        dtype=torch.bfloat16, load_in_4bit=True, local_files_only=True,
    )
    load_seconds = time.perf_counter() - load_start
    model_gib = torch.cuda.memory_allocated() / 2**30
    model = FastLanguageModel.get_peft_model(model, target_modules=LORA_TARGETS, **NOTEBOOK_LORA)

    CountingSFTTrainer, StepClock = make_trainer_class()
    clock = StepClock("cuda", recipe.stop_after)
    trainer = CountingSFTTrainer(
        model=model, args=sft_config(recipe, work_dir / recipe.name, "cuda"), processing_class=tokenizer,
        train_dataset=Dataset.from_dict(train_rows), eval_dataset=Dataset.from_dict(eval_rows), callbacks=[clock],
    )
    # Unsloth's checkpointing recomputes the layers in backward like any other: count it as recompute
    row = train_and_measure(recipe, trainer, clock, config=config, device="cuda", matmul_tflops=matmul_tflops,
                            setup_start=setup_start, gradient_checkpointing=True)
    row.update(load_seconds=load_seconds, model_memory_gib=model_gib, attn_implementation="unsloth",
               attention_kernel="Unsloth's choice (xformers if present, else SDPA / FlashAttention)",
               unsloth_lora=NOTEBOOK_LORA)
    return row


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--child", default="unsloth")
    parser.add_argument("--row-out", type=Path, required=True)
    parser.add_argument("--model-dir", type=Path, required=True)
    parser.add_argument("--matmul-tflops", type=float, required=True)
    args = parser.parse_args(argv)

    from .recipes import select_recipes

    recipe = select_recipes(args.child, tiny=False)[0]
    row = {"name": recipe.name, "description": recipe.description}
    try:
        from .run import benchmark_data

        config, train_rows, eval_rows = benchmark_data(argparse.Namespace(tiny=False))
        row = run_unsloth(recipe, checkpoint=args.model_dir, config=config, train_rows=train_rows,
                          eval_rows=eval_rows, matmul_tflops=args.matmul_tflops,
                          work_dir=Path(tempfile.mkdtemp(prefix="sft-unsloth-")))
    except BaseException as error:  # the row must say exactly what failed, whatever it was
        traceback.print_exc()
        row["error"] = f"{type(error).__name__}: {error}"[:600]
        row["traceback_tail"] = traceback.format_exc()[-2000:]
    args.row_out.write_text(json.dumps(row, default=str))
    sys.exit(0 if "error" not in row else 1)


if __name__ == "__main__":
    main()
