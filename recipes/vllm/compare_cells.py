"""Step 3 of `make vllm-check`, in the course's venv: what lesson 06's and 07's cells got from vLLM, held against the
course itself.

For every call that a cell made (cells.json, step 2): the prompt ids that vLLM ran must be the ids that the course's
`generate()` feeds the model (lesson 06: the prompt text tokenized without special tokens, so with one BOS on Llama 3;
lesson 07: the chat template's ids), and each of vLLM's greedy tokens must be transformers' top token after the same
prefix (teacher forcing, fp32, with the adapter when the call passed one). The cells pass no dtype, so vLLM picks its
own ("auto": bf16 for an fp32 checkpoint on a CPU), and bf16 rounding can pick the other one of two near-tied tokens:
in 16-bit a token passes when transformers puts it within MAX_16BIT_GAP nats of its top token (measured on
2026-12-05: at most 0.04 on SmolLM2). The random-weight Llama 3 stand-in's run is there for its BOS: its prompt ids
are checked, its tokens only recorded (step 1's `tokens_checked`).
Writes WORK/cells_result.json, which step 4 (check_vllm.py) reports.
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

import torch
from peft import PeftModel
from transformers import AutoModelForCausalLM, AutoTokenizer

MAX_16BIT_GAP = 1.0


def course_prompt_ids(tokenizer, call: dict, index: int, given: dict) -> list[int]:
    """The ids the course would run for this input: lesson 06's `prompts` as generate() tokenizes them, or a chat."""
    if call["method"] == "chat":
        messages = call["inputs"][index]
        return list(tokenizer.apply_chat_template(messages, add_generation_prompt=True, return_dict=True)["input_ids"])
    return tokenizer(given["prompts"][index], add_special_tokens=False).input_ids


@torch.no_grad()
def gaps_to_top(model, prompt_ids: list[int], tokens: list[int]) -> list[float]:
    """For each of vLLM's tokens, how far (in nats) transformers puts it below its own top token after the same prefix."""
    logprobs = torch.log_softmax(model(torch.tensor([prompt_ids + tokens])).logits[0, len(prompt_ids) - 1 : -1].float(), -1)
    return [float(row.max() - row[token]) for row, token in zip(logprobs, tokens)]


@torch.no_grad()
def greedy_text(model, tokenizer, prompt_ids: list[int], max_tokens: int) -> str:
    eos = model.generation_config.eos_token_id
    out = model.generate(torch.tensor([prompt_ids]), max_new_tokens=max_tokens, do_sample=False, pad_token_id=eos if isinstance(eos, int) else eos[0])
    return tokenizer.decode(out[0, len(prompt_ids):], skip_special_tokens=True)


def compare_run(run: dict, given: dict) -> dict:
    """One cell run: did it reach vLLM, and did each answer match the course's ids and transformers' tokens?"""
    rows = []
    for call in run["calls"]:
        tokenizer = AutoTokenizer.from_pretrained(call["model"])
        model = AutoModelForCausalLM.from_pretrained(call["model"], dtype=torch.float32).eval()
        if call["lora_path"]:
            model = PeftModel.from_pretrained(model, call["lora_path"]).eval()
        allowed = (0.0 if call["dtype"] == "torch.float32" else MAX_16BIT_GAP) if given["tokens_checked"] else None
        for index, output in enumerate(call["outputs"]):
            expected = course_prompt_ids(tokenizer, call, index, given)
            gaps = gaps_to_top(model, output["prompt_token_ids"], output["token_ids"])
            rows.append({
                "method": call["method"], "adapter": bool(call["lora_path"]), "vllm_dtype": call["dtype"],
                "prompt_ids_equal": output["prompt_token_ids"] == expected,
                "bos_in_prompt": output["prompt_token_ids"].count(tokenizer.bos_token_id) if tokenizer.bos_token_id is not None else 0,
                "top_token_agreement": sum(g == 0.0 for g in gaps) / max(len(gaps), 1), "max_gap_to_top": max(gaps, default=0.0),
                "allowed_gap": allowed, "new_tokens": len(output["token_ids"]),
                "vllm_text": output["text"], "transformers_text": greedy_text(model, tokenizer, expected, call["max_tokens"]),
            })
    passed = run["error"] is None and bool(rows) and all(
        r["prompt_ids_equal"] and (r["allowed_gap"] is None or r["max_gap_to_top"] <= r["allowed_gap"]) for r in rows)
    return {"passed": passed, "reached_vllm": bool(run["calls"]), "error": run["error"], "stdout": run["stdout"], "answers": rows}


def main(work: Path) -> None:
    cells = json.loads((work / "cells.json").read_text(encoding="utf-8"))
    given = json.loads((work / "cells_input.json").read_text(encoding="utf-8"))
    result = {lesson: {run: compare_run(cells[lesson][run], given[lesson][run]) for run in runs} for lesson, runs in cells.items()}
    (work / "cells_result.json").write_text(json.dumps(result, ensure_ascii=False, indent=1))
    for lesson, runs in result.items():
        for run, r in runs.items():
            print(f"lesson {lesson} cell, {run}: passed {r['passed']}, "
                  + ", ".join(f"ids {a['prompt_ids_equal']} (BOS x{a['bos_in_prompt']}), top-token agreement {a['top_token_agreement']:.0%},"
                             f" largest gap {a['max_gap_to_top']:.3f} ({a['vllm_dtype']})" for a in r["answers"]))


if __name__ == "__main__":
    main(Path(sys.argv[1]))
