"""Persona LoRA SFT on several GPUs with TRL, launched by accelerate (DeepSpeed ZeRO-3 or FSDP): the seeds' 2 x A100 run.

    accelerate launch --config_file recipes/persona_multigpu/zero3.yaml recipes/persona_multigpu/train_persona.py \\
        --model beomi/Llama-3-Open-Ko-8B-Instruct-preview --output-dir outputs/ironman-zero3

Every process runs this same file; accelerate starts one per GPU and the Trainer shards the work by the config.
`--tiny` runs the same code in one CPU process on a tiny random Llama: a smoke test in seconds, no download.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import torch
from peft import LoraConfig
from trl import SFTTrainer

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # the repository root, for course_utils

from course_utils.environment import gpu_info, pick_compute_dtype  # noqa: E402
from course_utils.models import load_tokenizer  # noqa: E402
from course_utils.chat_format import check_system_prompt_fits  # noqa: E402
from course_utils.offline_model import resolve_model  # noqa: E402
from course_utils.persona import (  # noqa: E402
    PERSONA_DIR, SHORT_SYSTEM_PROMPT, SYSTEM_PROMPT, load_persona_data, persona_dataset,
)
from course_utils.profiles import TrainingPreset, get_profile  # noqa: E402
from course_utils.sft_recipe import sft_config  # noqa: E402


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="beomi/Llama-3-Open-Ko-8B-Instruct-preview", help="a Hub id or a local folder")
    parser.add_argument("--data-dir", default=str(PERSONA_DIR))
    parser.add_argument("--output-dir", default="outputs/ironman-multigpu")
    # The seeds: batch 4 x accumulation 4 per GPU on 2 GPUs = 32 examples a step, lr 1e-4, cosine, 10 epochs.
    # 3 epochs here: the seeds' own loss tables show the later epochs memorising (see lesson 08).
    parser.add_argument("--epochs", type=float, default=3.0)
    parser.add_argument("--max-steps", type=int, default=-1, help="overrides --epochs when > 0")
    parser.add_argument("--batch-size", type=int, default=4, help="per GPU")
    parser.add_argument("--grad-accum", type=int, default=4)
    parser.add_argument("--learning-rate", type=float, default=1e-4)
    parser.add_argument("--max-length", type=int, default=1024)
    parser.add_argument("--gradient-checkpointing", action="store_true")
    parser.add_argument("--tiny", action="store_true", help="CPU smoke test on a tiny random Llama")
    return parser.parse_args(argv)


def tiny_model_and_tokenizer():
    """A 2-layer random Llama with the offline tokenizer's vocabulary: the recipe's code path without a real model."""
    from transformers import LlamaConfig, LlamaForCausalLM

    profile = get_profile("cpu")
    tokenizer = load_tokenizer(profile.persona_model, profile)
    torch.manual_seed(0)
    config = LlamaConfig(
        vocab_size=len(tokenizer), hidden_size=64, intermediate_size=128, num_hidden_layers=2,
        num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=512,
        pad_token_id=tokenizer.pad_token_id, eos_token_id=tokenizer.eos_token_id, bos_token_id=tokenizer.bos_token_id,
    )
    return LlamaForCausalLM(config), tokenizer


def build_trainer(args: argparse.Namespace, **config_overrides) -> SFTTrainer:
    """The SFTTrainer of this recipe; `config_overrides` lets a measuring caller change SFTConfig fields."""
    rows, _, _ = load_persona_data(args.data_dir)
    if args.tiny:
        model, tokenizer = tiny_model_and_tokenizer()
        rows, system = rows[:24], SHORT_SYSTEM_PROMPT
        args.max_steps, args.batch_size, args.grad_accum, args.max_length = 3, 2, 2, 256
    else:
        # A path, not a model object: TRL loads it after the config exists, so ZeRO-3 can build it already sharded.
        # A Hub id goes through the course's mirror (COURSE_MIRROR) when it has a copy; a local folder is kept.
        profile = get_profile()
        model, tokenizer, system = resolve_model(args.model, profile), load_tokenizer(args.model, profile), SYSTEM_PROMPT
    check_system_prompt_fits(tokenizer, system, args.max_length)
    splits = persona_dataset(rows, system).train_test_split(test_size=0.1, seed=0)

    compute_dtype = pick_compute_dtype(gpu.capability) if (gpu := gpu_info()) else torch.float32
    preset = TrainingPreset(  # the command line's hardware choices, in the course's preset form
        per_device_train_batch_size=args.batch_size, gradient_accumulation_steps=args.grad_accum,
        max_length=args.max_length, max_steps=args.max_steps, eval_steps=3 if args.tiny else 20, save_steps=100,
        learning_rate=args.learning_rate, optim="adamw_torch_fused", gradient_checkpointing=args.gradient_checkpointing,
    )
    overrides = dict(
        num_train_epochs=args.epochs,
        warmup_steps=0.03,  # below 1: a fraction of all steps (transformers 5 folded warmup_ratio into it)
        logging_steps=1 if args.tiny else 10,
        eval_strategy="steps", eval_steps=preset.eval_steps,
        save_strategy="no" if args.tiny else "steps", save_steps=preset.save_steps,
        model_init_kwargs=None if args.tiny else {"dtype": compute_dtype},
        use_cpu=args.tiny or gpu is None,
        include_num_input_tokens_seen="no",
        weight_decay=0.0,
    )
    config = sft_config(args.output_dir, compute_dtype, preset, **{**overrides, **config_overrides})
    peft_config = LoraConfig(r=16, lora_alpha=32, lora_dropout=0.05, target_modules="all-linear", task_type="CAUSAL_LM")
    return SFTTrainer(
        model=model, args=config, train_dataset=splits["train"], eval_dataset=splits["test"],
        processing_class=tokenizer, peft_config=peft_config,
    )


def save_adapter(trainer: SFTTrainer, output_dir: str) -> None:
    """Save the LoRA adapter whole: every process calls this, since the shards are gathered before the main one writes."""
    if trainer.is_fsdp_enabled:  # gather the shards so the adapter is saved whole
        trainer.accelerator.state.fsdp_plugin.set_state_dict_type("FULL_STATE_DICT")
    trainer.save_model(output_dir)


def main(argv: list[str] | None = None) -> dict:
    args = parse_args(argv)
    trainer = build_trainer(args)
    trainer.train()
    save_adapter(trainer, args.output_dir)
    summary = {
        "processes": trainer.accelerator.num_processes,
        "examples_per_step": args.batch_size * args.grad_accum * trainer.accelerator.num_processes,
        "steps": trainer.state.global_step,
        "train_loss": [e["loss"] for e in trainer.state.log_history if "loss" in e],
        "eval_loss": [e["eval_loss"] for e in trainer.state.log_history if "eval_loss" in e],
    }
    if trainer.accelerator.is_main_process:
        print(json.dumps(summary, indent=1))
    return summary


if __name__ == "__main__":
    main()
