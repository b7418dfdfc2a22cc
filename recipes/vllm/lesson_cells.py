"""Step 2 of `make vllm-check`, in vLLM's venv: lesson 06's and lesson 07's vLLM cells, run as written.

Each cell's source is read from its notebook's py:percent file and executed unchanged. The names that the lesson's
earlier cells define (profile, tokenizer, prompts, questions, short, run_dir; llama_dir) come from step 1's folders
(cells_input.json). `LLM.generate` and `LLM.chat` are wrapped to record what each call sent and what vLLM answered
(prompt ids, tokens), which step 3 (compare_cells.py) holds against the course's tokenization and transformers.
Writes WORK/cells.json.
"""
from __future__ import annotations

import ast
import contextlib
import gc
import io
import json
import re
import sys
import traceback
from dataclasses import replace
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.append(str(ROOT))  # the cells import course_utils, as they do in a learner's runtime
NOTEBOOKS = {"06": ROOT / "notebooks" / "06_evaluation.py", "07": ROOT / "notebooks" / "07_exaone_llamafy.py"}


def vllm_cell(notebook: Path) -> str:
    """The notebook's one code cell that serves with vLLM: the cell that asks importlib for "vllm"."""
    cells = [c for c in re.split(r"^# %%.*$", notebook.read_text(encoding="utf-8"), flags=re.M) if 'find_spec("vllm")' in c]
    if len(cells) != 1:
        raise ValueError(f"{notebook.name}: expected one vLLM cell, found {len(cells)}")
    return cells[0]


def notebook_function(notebook: Path, name: str):
    """A function the notebook defines in an earlier cell (lesson 06's `short`), compiled from its own source."""
    source = notebook.read_text(encoding="utf-8")
    node = next(n for n in ast.parse(source).body if isinstance(n, ast.FunctionDef) and n.name == name)
    namespace: dict = {}
    exec(compile(ast.get_source_segment(source, node), str(notebook), "exec"), namespace)
    return namespace[name]


@contextlib.contextmanager
def recorded_calls(calls: list[dict], engines: list):
    """LLM.generate and LLM.chat as they are, each top-level call recorded with its inputs and vLLM's outputs."""
    from vllm import LLM

    originals = {"generate": LLM.generate, "chat": LLM.chat}
    depth = {"n": 0}

    def wrap(method: str):
        def recorded(self, inputs, sampling_params=None, *args, **kwargs):
            depth["n"] += 1
            try:
                outputs = originals[method](self, inputs, sampling_params, *args, **kwargs)
            finally:
                depth["n"] -= 1
            if depth["n"] == 0:  # chat may call generate: record the learner's call only
                if self not in engines:
                    engines.append(self)
                lora = kwargs.get("lora_request")
                calls.append({
                    "method": method, "model": self.llm_engine.model_config.model, "dtype": str(self.llm_engine.model_config.dtype),
                    "lora_path": getattr(lora, "lora_path", None), "max_tokens": getattr(sampling_params, "max_tokens", None),
                    "inputs": [i if isinstance(i, (str, list)) else dict(i) for i in (inputs if method == "generate" else [inputs])],
                    "outputs": [{"prompt_token_ids": list(o.prompt_token_ids), "token_ids": list(o.outputs[0].token_ids),
                                 "text": o.outputs[0].text, "finish_reason": o.outputs[0].finish_reason} for o in outputs],
                })
            return outputs
        return recorded

    LLM.generate, LLM.chat = wrap("generate"), wrap("chat")
    try:
        yield
    finally:
        LLM.generate, LLM.chat = originals["generate"], originals["chat"]


def run_cell(source: str, namespace: dict, name: str) -> dict:
    """Execute one cell as written; its printed lines, any error, and the vLLM calls it made."""
    from check_vllm import free

    calls, engines, printed = [], [], io.StringIO()
    error = None
    with recorded_calls(calls, engines), contextlib.redirect_stdout(printed):
        try:
            exec(compile(source, name, "exec"), namespace)
        except Exception:  # noqa: BLE001 - the traceback is the result
            error = traceback.format_exc(limit=4)
    for engine in engines:  # the cell deletes its name; the engine's worker process is shut down here
        free(engine)
    namespace.clear()
    gc.collect()
    print(printed.getvalue(), end="")
    return {"stdout": printed.getvalue(), "error": error, "calls": calls}


def main(work: Path) -> None:
    from transformers import AutoTokenizer

    from course_utils.offline_model import resolve_model
    from course_utils.profiles import get_profile

    inputs = json.loads((work / "cells_input.json").read_text(encoding="utf-8"))
    cpu = get_profile("cpu")
    results: dict = {"06": {}, "07": {}}
    cell_06, short = vllm_cell(NOTEBOOKS["06"]), notebook_function(NOTEBOOKS["06"], "short")
    for run, given in inputs["06"].items():
        profile = cpu if run == "smollm2" else replace(cpu, sft_model=given["model"])
        tokenizer = AutoTokenizer.from_pretrained(resolve_model(profile.sft_model, profile))
        namespace = {"profile": profile, "tokenizer": tokenizer, "prompts": given["prompts"], "questions": given["questions"],
                     "short": short, "run_dir": Path(given["run_dir"])}
        results["06"][run] = run_cell(cell_06, namespace, f"06_evaluation.py (vLLM cell, {run})")
    cell_07 = vllm_cell(NOTEBOOKS["07"])
    for run, given in inputs["07"].items():
        namespace = {"profile": cpu, "llama_dir": Path(given["llama_dir"])}
        results["07"][run] = run_cell(cell_07, namespace, f"07_exaone_llamafy.py (vLLM cell, {run})")
    (work / "cells.json").write_text(json.dumps(results, ensure_ascii=False, indent=1))


if __name__ == "__main__":
    main(Path(sys.argv[1]))
