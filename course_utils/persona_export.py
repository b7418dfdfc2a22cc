"""Lessons 08 and 09 exported for LLaMA-Factory: SFT and preference datasets, dataset_info.json entries, template, configs.

The same persona data as an alpaca dataset, its dataset_info.json entry, the `llama3-ironman` chat template the
seeds registered, and a training config, all generated from one source."""
from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

from .persona import SYSTEM_PROMPT, user_message, validate_persona_rows

DATASET_NAME = "ironman"
TEMPLATE_NAME = "llama3-ironman"

# The Llama 3 Instruct turn format as LLaMA-Factory's `llama3` template writes it (slots with a {{content}} hole).
LLAMA3_SLOTS = {
    "prefix": "<|begin_of_text|>",
    "system": "<|start_header_id|>system<|end_header_id|>\n\n{{content}}<|eot_id|>",
    "user": "<|start_header_id|>user<|end_header_id|>\n\n{{content}}<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n",
    "assistant": "{{content}}<|eot_id|>",
}


def alpaca_records(rows: Sequence[dict]) -> list[dict]:
    """Rows in LLaMA-Factory's alpaca format; the system prompt comes from the template.

    The instruction holds the course's whole user turn (`user_message`: instruction, a blank line, input) and input
    stays empty: LLaMA-Factory joins instruction and input with a single newline, which would train another prompt.
    """
    rows = validate_persona_rows(rows)
    return [{"instruction": user_message(r), "input": "", "output": r["output"].strip()} for r in rows]


def dataset_info_entry(file_name: str = f"{DATASET_NAME}.json") -> dict:
    """The entry to merge into LLaMA-Factory's data/dataset_info.json (columns spelled out, though they are the defaults)."""
    return {
        DATASET_NAME: {
            "file_name": file_name,
            "formatting": "alpaca",
            "columns": {"prompt": "instruction", "query": "input", "response": "output"},
        }
    }


def _py_string(text: str) -> str:
    """A Python string literal LLaMA-Factory's source can hold (json escapes are valid Python escapes)."""
    return json.dumps(text, ensure_ascii=False)


def template_source(system: str = SYSTEM_PROMPT, name: str = TEMPLATE_NAME) -> str:
    """Python to paste into LLaMA-Factory's src/llamafactory/data/template.py to register the persona template.

    The seeds' fork used `_register_template` and put the BOS token in `format_system`; current LLaMA-Factory names
    it `register_template` and puts BOS in `format_prefix`. The rendered text is the same Llama 3 format.
    """
    s = {key: _py_string(value) for key, value in LLAMA3_SLOTS.items()}
    return f"""register_template(
    name={_py_string(name)},
    format_user=StringFormatter(slots=[{s["user"]}]),
    format_assistant=StringFormatter(slots=[{s["assistant"]}]),
    format_system=StringFormatter(slots=[{s["system"]}]),
    format_prefix=EmptyFormatter(slots=[{{"bos_token"}}]),
    default_system={_py_string(system)},
    stop_words=["<|eot_id|>"],
    replace_eos=True,
)
"""


def render_with_slots(messages: list[dict], system: str = SYSTEM_PROMPT) -> str:
    """The text the template above produces for `messages`, filled the way LLaMA-Factory fills slots (for checking)."""
    fill = lambda slot, content: LLAMA3_SLOTS[slot].replace("{{content}}", content)  # noqa: E731
    if messages and messages[0]["role"] == "system":
        system, messages = messages[0]["content"], messages[1:]
    text = LLAMA3_SLOTS["prefix"] + (fill("system", system) if system else "")
    for message in messages:
        text += fill(message["role"], message["content"])
    return text


def train_config(model_name_or_path: str, output_dir: str = "saves/llama3-ironman-lora", epochs: float = 3.0) -> dict:
    """A `llamafactory-cli train` config like the seeds' train_sft.sh, with fewer epochs and a validation split."""
    return {
        "model_name_or_path": model_name_or_path,
        "stage": "sft",
        "do_train": True,
        "finetuning_type": "lora",
        "lora_target": "all",
        "dataset": DATASET_NAME,
        "template": TEMPLATE_NAME,
        "cutoff_len": 1024,
        "val_size": 0.1,
        "eval_strategy": "steps",
        "eval_steps": 20,
        "output_dir": output_dir,
        "per_device_train_batch_size": 4,
        "gradient_accumulation_steps": 4,
        "learning_rate": 1.0e-4,
        "num_train_epochs": epochs,
        "lr_scheduler_type": "cosine",
        "logging_steps": 10,
        "save_steps": 100,
        "bf16": True,
        "deepspeed": "examples/deepspeed/ds_z3_config.json",
        "report_to": "none",
    }


def export_llamafactory(rows: Sequence[dict], folder: str | Path, model_name_or_path: str, system: str = SYSTEM_PROMPT) -> dict[str, Path]:
    """Write ironman.json, dataset_info.json, the template snippet and a train config into `folder`; return the paths."""
    records = alpaca_records(rows)  # validate before anything is written
    return _write_export(Path(folder), DATASET_NAME, records, dataset_info_entry(), "ironman_lora_sft.yaml",
                         train_config(model_name_or_path), system)


def _write_export(folder: Path, dataset: str, records: list[dict], info: dict, config_file: str, config: dict,
                  system: str) -> dict[str, Path]:
    """The four files of an export, written one way for SFT and DPO so LLaMA-Factory reads both alike; return the paths."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = {
        "dataset": folder / f"{dataset}.json",
        "dataset_info": folder / "dataset_info.json",
        "template": folder / "template_llama3_ironman.py",
        "train_config": folder / config_file,
    }
    paths["dataset"].write_text(json.dumps(records, ensure_ascii=False, indent=1), encoding="utf-8")
    paths["dataset_info"].write_text(json.dumps(info, ensure_ascii=False, indent=2), encoding="utf-8")
    header = "# Paste into LLaMA-Factory's src/llamafactory/data/template.py (generated by course_utils.persona_export).\n"
    paths["template"].write_text(header + template_source(system), encoding="utf-8")
    config_lines = [f"{key}: {json.dumps(value)}" for key, value in config.items()]
    paths["train_config"].write_text("\n".join(config_lines) + "\n", encoding="utf-8")
    return paths


# ---------------------------------------------------------------- lesson 09: preference pairs for `stage: dpo`
PREFERENCE_DATASET_NAME = "ironman_dpo"


def preference_records(pairs: Sequence[dict]) -> list[dict]:
    """Lesson 09's conversational pairs in LLaMA-Factory's alpaca preference format: instruction, chosen, rejected, system.

    The system column carries the pair's own system message ("" when it has none: the template's default_system then).
    """
    from .preference_pairs import answer_text, validate_pairs

    records = []
    for pair in validate_pairs(pairs):
        prompt = pair["prompt"]
        if isinstance(prompt, str) or not prompt or prompt[-1].get("role") != "user":
            raise ValueError("A pair's prompt must be a list of chat messages ending with the user turn, as preference_pairs() builds it.")
        system = next((m["content"] for m in prompt if m.get("role") == "system"), "")
        records.append({
            "instruction": prompt[-1]["content"].strip(), "input": "", "system": system,
            "chosen": answer_text(pair["chosen"]).strip(), "rejected": answer_text(pair["rejected"]).strip(),
        })
    return records


def preference_dataset_info_entry(file_name: str = f"{PREFERENCE_DATASET_NAME}.json") -> dict:
    """The dataset_info.json entry of a preference dataset: `ranking: true` and the chosen/rejected columns."""
    return {
        PREFERENCE_DATASET_NAME: {
            "file_name": file_name,
            "formatting": "alpaca",
            "ranking": True,
            "columns": {"prompt": "instruction", "query": "input", "chosen": "chosen", "rejected": "rejected", "system": "system"},
        }
    }


def dpo_train_config(model_name_or_path: str, beta: float = 0.1, output_dir: str = "saves/llama3-ironman-dpo") -> dict:
    """A `stage: dpo` config beside the SFT one: a new LoRA on lesson 08's merged SFT model.

    With `finetuning_type: lora` and no `ref_model`, LLaMA-Factory's reference is the model with the adapter disabled.
    Starting from the merged SFT model makes that reference the SFT model; continuing the SFT adapter
    (`adapter_name_or_path`) would make it the base model before SFT.
    """
    config = train_config(model_name_or_path, output_dir=output_dir, epochs=2.0)
    config.update(stage="dpo", dataset=PREFERENCE_DATASET_NAME, pref_beta=beta, pref_loss="sigmoid", learning_rate=5.0e-5,
                  per_device_train_batch_size=2, gradient_accumulation_steps=8)
    return config


def export_llamafactory_dpo(
    pairs: Sequence[dict], folder: str | Path, model_name_or_path: str, beta: float = 0.1, system: str = SYSTEM_PROMPT
) -> dict[str, Path]:
    """Write ironman_dpo.json, its dataset_info.json entry (merged into one already there), the template and a DPO config."""
    records = preference_records(pairs)  # validate before anything is written
    info_file = Path(folder) / "dataset_info.json"
    info = json.loads(info_file.read_text(encoding="utf-8")) if info_file.is_file() else {}
    info.update(preference_dataset_info_entry())
    return _write_export(Path(folder), PREFERENCE_DATASET_NAME, records, info, "ironman_lora_dpo.yaml",
                         dpo_train_config(model_name_or_path, beta), system)
