"""Step 2 of `make llamafactory-check`, run in LLaMA-Factory's own venv: its data pipeline, templates and trainer.

Checks, each against what the course builds (reference.json from step 1):
- LLaMA-Factory loads the exported persona dataset through dataset_info.json and tokenizes every row with the
  built-in `chatml` (SmolLM2), `llama3` and the course's exported `llama3-ironman` templates into exactly the course's
  token ids: system prompt included, end-of-turn token trained, one BOS;
- lesson 07's EXAONE Jinja template and its printed `register_template` block render as LLaMA-Factory's `exaone`;
- `llamafactory-cli train` with the shipped YAML trains a LoRA on SmolLM2 on CPU with a finite, falling loss;
- lesson 09's DPO pairs (`ironman_dpo`, ranking) tokenize as the course's chosen and rejected examples, the exported
  `stage: dpo` config passes LLaMA-Factory's parser, and the shipped DPO YAML runs a few DPO steps with finite losses.
Writes benchmarks/results/llamafactory_check.{json,md}.
"""
from __future__ import annotations

import argparse
import datetime
import json
import math
import os
import platform
import re
import subprocess
import sys
import time
from importlib.metadata import version
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
YAML = HERE / "persona_lora_sft.yaml"
DPO_YAML = HERE / "persona_lora_dpo.yaml"
LESSON07 = ROOT / "notebooks" / "07_exaone_llamafy.py"
RESULTS = ROOT / "benchmarks" / "results"
IGNORE_INDEX = -100

# Llama 3.0's 256 special tokens in id order (128000-128255), as /work/shared/OFFLINE.md records them.
LLAMA3_SPECIAL = (
    ["<|begin_of_text|>", "<|end_of_text|>"]
    + [f"<|reserved_special_token_{i}|>" for i in range(4)]
    + ["<|start_header_id|>", "<|end_header_id|>", "<|reserved_special_token_4|>", "<|eot_id|>"]
    + [f"<|reserved_special_token_{i}|>" for i in range(5, 251)]
)
LLAMA3_PATTERN = (
    r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"
)


def build_llama3_tokenizer(folder: Path) -> Path:
    """The real Llama 3 tokenizer from PyPI's llama-models tiktoken file (a local builder; no Hub), cached in `folder`."""
    if (folder / "tokenizer.json").is_file():
        return folder
    import llama_models
    from tokenizers import processors
    from transformers import PreTrainedTokenizerFast
    from transformers.convert_slow_tokenizer import TikTokenConverter

    model_file = Path(llama_models.__file__).parent / "llama3" / "tokenizer.model"
    backend = TikTokenConverter(str(model_file), pattern=LLAMA3_PATTERN, extra_special_tokens=LLAMA3_SPECIAL).converted()
    backend.post_processor = processors.TemplateProcessing(
        single="<|begin_of_text|> $A", pair="<|begin_of_text|> $A <|begin_of_text|> $B", special_tokens=[("<|begin_of_text|>", 128000)]
    )
    tokenizer = PreTrainedTokenizerFast(tokenizer_object=backend, bos_token="<|begin_of_text|>", eos_token="<|eot_id|>")
    assert tokenizer.convert_tokens_to_ids("<|eot_id|>") == 128009 and len(tokenizer) == 128256, "Llama 3 vocabulary is off"
    # The ids OFFLINE.md recorded for this tokenizer (and Meta's tokenizer gives): the BPE merges came out right.
    assert tokenizer.encode("안녕하세요, Llama 3!") == [128000, 101193, 124409, 11, 445, 81101, 220, 18, 0], "Llama 3 BPE is off"
    tokenizer.save_pretrained(folder)
    # transformers_version keeps transformers 5.6 from warning that an unversioned tokenizer may have Mistral's regex.
    (folder / "config.json").write_text(json.dumps({"model_type": "llama", "vocab_size": 128256, "transformers_version": "5.6.0"}))
    return folder


def exaone_tokenizer(smollm2_dir: str):
    """SmolLM2's tokenizer with EXAONE's turn markers as special tokens and [|endofturn|] as EOS, to render strings."""
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(smollm2_dir)
    tokenizer.add_special_tokens({"eos_token": "[|endofturn|]", "additional_special_tokens": ["[|system|]", "[|user|]", "[|assistant|]"]})
    return tokenizer


def register_source(source: str) -> None:
    """Run register_template(...) source inside LLaMA-Factory's template module, as if pasted into template.py."""
    from llamafactory.data import template as lf_template

    exec(compile(source, "<registered>", "exec"), vars(lf_template).copy())


def lf_tokenized(stage: str, dataset: str, data_dir: Path, template: str, model_dir: Path, output_dir: Path,
                 default_system: str | None) -> tuple[object, object]:
    """`dataset` as LLaMA-Factory's `stage` pipeline tokenizes it, and the tokenizer: one setup for the SFT and DPO checks."""
    from llamafactory.data import get_dataset, get_template_and_fix_tokenizer
    from llamafactory.hparams import get_train_args
    from llamafactory.model import load_tokenizer

    args = {
        "stage": stage, "do_train": True, "model_name_or_path": str(model_dir), "dataset": dataset,
        "dataset_dir": str(data_dir), "template": template, "cutoff_len": 4096, "finetuning_type": "lora",
        "output_dir": str(output_dir), "overwrite_cache": True, "report_to": "none",
    }
    if default_system is not None:
        args["default_system"] = default_system
    model_args, data_args, training_args, _, _ = get_train_args(args)
    tokenizer_module = load_tokenizer(model_args)
    lf_template = get_template_and_fix_tokenizer(tokenizer_module["tokenizer"], data_args)
    pipeline = "rm" if stage == "dpo" else stage  # LLaMA-Factory's DPO stage reads pairs through its pairwise ("rm") pipeline
    tokenized = get_dataset(lf_template, model_args, data_args, training_args, stage=pipeline, **tokenizer_module)["train_dataset"]
    return tokenized, tokenizer_module["tokenizer"]


def lf_examples(data_dir: Path, template: str, model_dir: Path, work: Path, default_system: str | None) -> tuple[list[dict], object]:
    """Rows of `data_dir`'s `ironman` dataset as LLaMA-Factory's own SFT pipeline tokenizes them (in file order)."""
    dataset, tokenizer = lf_tokenized("sft", "ironman", data_dir, template, model_dir, work / "pipeline_out", default_system)
    return [{"input_ids": list(r["input_ids"]), "labels": list(r["labels"])} for r in dataset], tokenizer


def compare_rows(lf_rows: list[dict], reference: list[dict], tokenizer, bos_id: int | None, eot_id: int, bos_once: bool) -> dict:
    """How many rows LLaMA-Factory tokenized exactly as the course, with the first difference spelled out."""
    problems = []
    if len(lf_rows) != len(reference):
        problems.append(f"LLaMA-Factory has {len(lf_rows)} rows, the course {len(reference)}")
    for index, (lf, ref) in enumerate(zip(lf_rows, reference)):
        prompt_len = next(i for i, label in enumerate(lf["labels"]) if label != IGNORE_INDEX)
        prompt, trained = lf["input_ids"][:prompt_len], lf["labels"][prompt_len:]
        if prompt != ref["prompt_ids"]:
            problems.append(f"row {index}: prompt differs: LLaMA-Factory {tokenizer.decode(prompt)!r} vs course {tokenizer.decode(ref['prompt_ids'])!r}")
        elif lf["input_ids"] != ref["full_ids"]:
            problems.append(f"row {index}: answer differs: {tokenizer.decode(lf['input_ids'][prompt_len:])!r} vs {tokenizer.decode(ref['full_ids'][prompt_len:])!r}")
        elif eot_id not in trained:
            problems.append(f"row {index}: the end-of-turn token is not among the trained labels")
        elif bos_once and (lf["input_ids"][0] != bos_id or lf["input_ids"].count(bos_id) != 1):
            problems.append(f"row {index}: BOS is not there exactly once, at the start")
        elif not bos_once and lf["input_ids"][:2] == [bos_id, bos_id]:
            problems.append(f"row {index}: starts with a double BOS")
    first = lf_rows[0] if lf_rows else {"input_ids": [], "labels": []}
    return {
        "rows": len(reference),
        "rows_equal": len(reference) - len({p.split(":")[0] for p in problems}),
        "ok": not problems,
        "problems": problems[:3],
        "first_prompt_tokens": next((i for i, label in enumerate(first["labels"]) if label != IGNORE_INDEX), 0),
    }


def lf_pairs(data_dir: Path, template: str, model_dir: Path, work: Path, default_system: str | None) -> tuple[dict, object]:
    """Lesson 09's `ironman_dpo` pairs as LLaMA-Factory's pairwise pipeline (the one its DPO stage uses) tokenizes them."""
    dataset, tokenizer = lf_tokenized("dpo", "ironman_dpo", data_dir, template, model_dir, work / "pipeline_dpo_out", default_system)
    sides = {
        side: [{"input_ids": list(r[f"{side}_input_ids"]), "labels": list(r[f"{side}_labels"])} for r in dataset]
        for side in ("chosen", "rejected")
    }
    return sides, tokenizer


def llama3_reference(tokenizer, texts: list[dict]) -> list[dict]:
    """The course's Llama 3 texts as token ids of the real Llama 3 tokenizer (the text carries its own BOS)."""
    return [
        {"prompt_ids": tokenizer.encode(t["prompt_text"], add_special_tokens=False), "full_ids": tokenizer.encode(t["full_text"], add_special_tokens=False)}
        for t in texts
    ]


def lesson07_register_block() -> str:
    """The `register_template(name="exaone", ...)` block lesson 07 prints in its section 12, as Python source."""
    text = LESSON07.read_text(encoding="utf-8")
    match = re.search(r"# ```python\n(.*?)# ```", text, re.S)
    if not match or 'name="exaone"' not in match.group(1):
        raise SystemExit(f"{LESSON07} has no ```python register_template(name=\"exaone\", ...) block in its markdown any more.")
    return "".join(line[2:] + "\n" for line in match.group(1).splitlines())


def render_exaone(template_name: str, tokenizer, conversation: list[dict]) -> str:
    """A conversation rendered by a registered LLaMA-Factory template, decoded back to text."""
    from llamafactory.data import get_template_and_fix_tokenizer
    from llamafactory.hparams import DataArguments

    template = get_template_and_fix_tokenizer(tokenizer, DataArguments(template=template_name))
    system = conversation[0]["content"] if conversation[0]["role"] == "system" else None
    turns = [m for m in conversation if m["role"] != "system"]
    ids = [i for prompt, answer in template.encode_multiturn(tokenizer, turns, system=system) for i in prompt + answer]
    return tokenizer.decode(ids, skip_special_tokens=False)


def check_exaone(reference: dict, smollm2_dir: str) -> dict:
    """Lesson 07's Jinja template and printed block against LLaMA-Factory's own `exaone`, conversation by conversation."""
    tokenizer = exaone_tokenizer(smollm2_dir)
    register_source(lesson07_register_block().replace('name="exaone"', 'name="exaone_lesson07"'))
    out = {}
    for name, conversation in reference["conversations"].items():
        jinja = reference["jinja"][name]
        assert tokenizer.decode(tokenizer.encode(jinja, add_special_tokens=False)) == jinja, "the string round trip is not exact"
        lf = render_exaone("exaone", tokenizer, conversation)
        out[name] = {
            "jinja_equals_llamafactory": jinja == lf,
            "lesson07_block_equals_llamafactory": render_exaone("exaone_lesson07", tokenizer, conversation) == lf,
            "llamafactory": lf,
            "jinja": jinja,
        }
    return out


def exported_config_is_accepted(data_dir: Path, llama3_dir: Path, work: Path) -> bool:
    """The export's ironman_lora_sft.yaml passes LLaMA-Factory's own argument parser (unknown keys are errors there)."""
    import yaml
    from llamafactory.hparams import get_train_args

    config = yaml.safe_load((data_dir / "ironman_lora_sft.yaml").read_text(encoding="utf-8"))
    # Only what cannot hold on a CPU without DeepSpeed is changed: the GPU precision and the ZeRO-3 file.
    config.update(model_name_or_path=str(llama3_dir), dataset_dir=str(data_dir), output_dir=str(work / "export_cfg"), bf16=False)
    config.pop("deepspeed")
    get_train_args(config)
    return True


def exported_dpo_config_is_accepted(data_dir: Path, llama3_dir: Path, work: Path) -> bool:
    """Lesson 09's exported ironman_lora_dpo.yaml passes LLaMA-Factory's parser, as the SFT one does."""
    import yaml
    from llamafactory.hparams import get_train_args

    config = yaml.safe_load((data_dir / "ironman_lora_dpo.yaml").read_text(encoding="utf-8"))
    config.update(model_name_or_path=str(llama3_dir), dataset_dir=str(data_dir), output_dir=str(work / "export_dpo_cfg"), bf16=False)
    config.pop("deepspeed")
    _, _, _, finetuning_args, _ = get_train_args(config)
    return finetuning_args.stage == "dpo" and finetuning_args.pref_beta == config["pref_beta"]


def train(work: Path, model_dir: str, data_dir: Path, yaml_file: Path = YAML, name: str = "smollm2-ironman-lora") -> dict:
    """`llamafactory-cli train` on a shipped YAML; losses from its trainer_log.jsonl."""
    output_dir = work / "saves" / name
    cli = Path(sys.executable).parent / "llamafactory-cli"
    command = [str(cli), "train", str(yaml_file), f"model_name_or_path={model_dir}", f"dataset_dir={data_dir}", f"output_dir={output_dir}"]
    started = time.time()
    log = work / f"train_{name}.log"
    with log.open("w") as handle:
        result = subprocess.run(command, stdout=handle, stderr=subprocess.STDOUT, env={**os.environ, "CUDA_VISIBLE_DEVICES": ""})
    seconds = time.time() - started
    if result.returncode != 0:
        sys.stdout.write(log.read_text()[-4000:])
        raise SystemExit(f"llamafactory-cli train failed (exit {result.returncode}); its log is {log}.")
    records = [json.loads(line) for line in (output_dir / "trainer_log.jsonl").read_text().splitlines() if line.strip()]
    losses = [r["loss"] for r in records if "loss" in r]
    state = json.loads((output_dir / "trainer_state.json").read_text()) if (output_dir / "trainer_state.json").exists() else {}
    k = max(1, len(losses) // 4)
    return {
        "command": f"llamafactory-cli train recipes/llamafactory/{yaml_file.name} model_name_or_path=<offline SmolLM2> dataset_dir=<export> output_dir=<work>",
        "seconds": round(seconds, 1),
        "steps": state.get("global_step", len(losses)),
        "losses": losses,
        "first_mean": sum(losses[:k]) / k,
        "last_mean": sum(losses[-k:]) / k,
        "finite": bool(losses) and all(math.isfinite(x) for x in losses),
        "adapter_saved": (output_dir / "adapter_model.safetensors").is_file(),
    }


def write_results(result: dict) -> None:
    """The dated JSON record and a short Markdown table beside the other benchmark results."""
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "llamafactory_check.json").write_text(json.dumps(result, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
    t, v = result["training"], result["versions"]
    lines = [
        "# `make llamafactory-check`",
        "",
        f"Run {result['date']} on {result['machine']} (CPU only, Hub off). LLaMA-Factory {v['llamafactory']}, "
        f"transformers {v['transformers']}, peft {v['peft']}, trl {v['trl']}, datasets {v['datasets']}, "
        f"accelerate {v['accelerate']}, torch {v['torch']} (its own venv; the course's venv: "
        + ", ".join(f"{k} {x}" for k, x in result["course_versions"].items()) + ").",
        "",
        "| check | result |",
        "|---|---|",
    ]
    for name, row in result["pipeline"].items():
        lines.append(f"| {name} | {row['rows_equal']}/{row['rows']} rows: LLaMA-Factory's token ids = the course's {'✔' if row['ok'] else '✘ ' + '; '.join(row['problems'])} |")
    for name, row in result["exaone"].items():
        lines.append(
            f"| EXAONE `{name}`: lesson 07 Jinja = LLaMA-Factory `exaone` | "
            + ("✔" if row["jinja_equals_llamafactory"] else f"differs, as lesson 07 teaches: {result['exaone_expected'].get(name, '✘')}")
            + " |"
        )
        lines.append(f"| EXAONE `{name}`: lesson 07's printed block = LLaMA-Factory `exaone` | {'✔' if row['lesson07_block_equals_llamafactory'] else '✘'} |")
    lines.append(f"| the export's ironman_lora_sft.yaml passes LLaMA-Factory's parser | {'✔' if result['export_config_accepted'] else '✘'} |")
    lines.append(f"| lesson 09's ironman_lora_dpo.yaml passes it as `stage: dpo` with its `pref_beta` | {'✔' if result['export_dpo_config_accepted'] else '✘'} |")
    d = result["dpo_training"]
    lines.append(
        f"| DPO on SmolLM2-135M, {d['steps']} steps of 1 pair (the first 4 of the {result['dpo_pairs']} on-policy pairs: max_samples), `llamafactory-cli train persona_lora_dpo.yaml` | "
        f"loss {', '.join(f'{x:.3f}' for x in d['losses'])} (finite: {d['finite']}), {d['seconds']:.0f} s, adapter saved: {d['adapter_saved']} |"
    )
    lines += [
        f"| LoRA on SmolLM2-135M, {t['steps']} steps, `llamafactory-cli train` | loss {t['losses'][0]:.3f} → {t['losses'][-1]:.3f} "
        f"(mean of first/last {max(1, len(t['losses']) // 4)}: {t['first_mean']:.3f} → {t['last_mean']:.3f}), {t['seconds']:.0f} s, adapter saved: {t['adapter_saved']} |",
        "",
        f"Losses: {', '.join(f'{x:.3f}' for x in t['losses'])}",
        "",
        f"Time: {result['timing']['total_seconds']:.0f} s in all ({'venv reused' if result['timing']['venv_reused'] else 'venv built'}: "
        f"{result['timing']['setup_seconds']} s for it).",
        "",
    ]
    (RESULTS / "llamafactory_check.md").write_text("\n".join(lines), encoding="utf-8")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("work", type=Path)
    parser.add_argument("--lf-venv", type=Path, required=True)
    parser.add_argument("--setup-seconds", type=int, default=0)
    parser.add_argument("--venv-reused", default="true")
    parser.add_argument("--started", type=float, default=time.time())
    parser.add_argument("--no-train", action="store_true", help="only the data and template checks; writes no results")
    args = parser.parse_args()
    work = args.work.resolve()
    reference = json.loads((work / "reference.json").read_text(encoding="utf-8"))
    smollm2 = reference["smollm2_dir"]
    system = reference["system_prompt"]
    llama3_dir = build_llama3_tokenizer(args.lf_venv / "llama3-tokenizer")
    register_source((work / "data" / "template_llama3_ironman.py").read_text(encoding="utf-8"))

    pipeline = {}
    for data in ("data", "data_with_input"):
        rows, tok = lf_examples(work / data, "chatml", Path(smollm2), work, default_system=system)
        pipeline[f"{data}: SmolLM2, built-in `chatml` + default_system vs SmolLM2's chat template"] = compare_rows(
            rows, reference["smollm2"][data], tok, tok.convert_tokens_to_ids("<|im_start|>"), tok.convert_tokens_to_ids("<|im_end|>"), bos_once=False
        )
        for template, default_system in (("llama3", system), ("llama3-ironman", None)):
            rows, tok = lf_examples(work / data, template, llama3_dir, work, default_system=default_system)
            label = "built-in `llama3` + default_system" if template == "llama3" else "the course's exported `llama3-ironman`"
            pipeline[f"{data}: Llama 3 tokenizer, {label} vs Llama 3 Instruct template"] = compare_rows(
                rows, llama3_reference(tok, reference["llama3"][data]), tok, 128000, 128009, bos_once=True
            )
    dpo_reference = reference["dpo"]
    sides, tok = lf_pairs(work / "data", "chatml", Path(smollm2), work, default_system=system)
    for side, rows in sides.items():
        pipeline[f"DPO pairs, {side}: SmolLM2, built-in `chatml` vs SmolLM2's chat template"] = compare_rows(
            rows, dpo_reference["smollm2"][side], tok, tok.convert_tokens_to_ids("<|im_start|>"), tok.convert_tokens_to_ids("<|im_end|>"), bos_once=False
        )
    sides, tok = lf_pairs(work / "data", "llama3-ironman", llama3_dir, work, default_system=None)
    for side, rows in sides.items():
        pipeline[f"DPO pairs, {side}: Llama 3 tokenizer, the course's exported `llama3-ironman` vs Llama 3 Instruct template"] = compare_rows(
            rows, llama3_reference(tok, dpo_reference["llama3"][side]), tok, 128000, 128009, bos_once=True
        )
    exaone = check_exaone(reference["exaone"], smollm2)
    accepted = exported_config_is_accepted(work / "data", llama3_dir, work)
    dpo_accepted = exported_dpo_config_is_accepted(work / "data", llama3_dir, work)
    if args.no_train:
        print(json.dumps({"pipeline": pipeline, "exaone": exaone, "export_config_accepted": accepted,
                          "export_dpo_config_accepted": dpo_accepted}, ensure_ascii=False, indent=1))
        return
    training = train(work, smollm2, work / "data")
    dpo_training = train(work, smollm2, work / "data", DPO_YAML, "smollm2-ironman-dpo")

    result = {
        "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}",
        "versions": {p: version(p) for p in ("llamafactory", "transformers", "peft", "trl", "datasets", "accelerate", "torch", "tokenizers")},
        "course_versions": reference["course_versions"],
        "pipeline": pipeline,
        "exaone": exaone,
        # Lesson 07 says so too: without a system turn EXAONE's Jinja adds an empty one and LLaMA-Factory does not.
        "exaone_expected": {"without_system": "the Jinja adds an empty `[|system|][|endofturn|]` turn, LLaMA-Factory does not (✔ exactly that)"},
        "export_config_accepted": accepted,
        "export_dpo_config_accepted": dpo_accepted,
        "dpo_pairs": dpo_reference["pairs"],
        "training": training,
        "dpo_training": dpo_training,
        "timing": {
            "setup_seconds": args.setup_seconds,
            "venv_reused": args.venv_reused == "true",
            "total_seconds": round(time.time() - args.started, 1),
        },
    }
    failures = [f"{name}: {row['problems']}" for name, row in pipeline.items() if not row["ok"]]
    for name, row in exaone.items():
        expected_jinja = name != "without_system" or row["jinja"] == "[|system|][|endofturn|]\n" + row["llamafactory"]
        if not (row["jinja_equals_llamafactory"] if name != "without_system" else expected_jinja):
            failures.append(f"EXAONE {name}: Jinja {row['jinja']!r} vs LLaMA-Factory {row['llamafactory']!r}")
        if not row["lesson07_block_equals_llamafactory"]:
            failures.append(f"EXAONE {name}: lesson 07's printed register_template block renders differently")
    if not training["finite"]:
        failures.append(f"training loss not finite: {training['losses']}")
    elif not training["last_mean"] < training["first_mean"]:
        failures.append(f"training loss did not fall: {training['first_mean']:.3f} -> {training['last_mean']:.3f}")
    if not training["adapter_saved"]:
        failures.append("no adapter_model.safetensors was saved")
    if not dpo_accepted:
        failures.append("the exported ironman_lora_dpo.yaml was not read as a DPO stage with its pref_beta")
    if not (dpo_training["finite"] and dpo_training["adapter_saved"]):
        failures.append(f"DPO training: losses {dpo_training['losses']}, adapter saved {dpo_training['adapter_saved']}")
    result["passed"] = not failures
    result["failures"] = failures
    write_results(result)
    print((RESULTS / "llamafactory_check.md").read_text(encoding="utf-8"))
    if failures:
        raise SystemExit("llamafactory-check FAILED:\n- " + "\n- ".join(failures))
    print("llamafactory-check passed.")


if __name__ == "__main__":
    main()
