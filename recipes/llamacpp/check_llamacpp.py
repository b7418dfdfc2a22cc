"""Step 2 of `make llamacpp-check`, run in llama.cpp's own venv: llama.cpp itself reads the course's GGUF files.

For each model of step 1 and each export (f16, Q8_0): no pre-tokenizer warning in llama.cpp's load log; token ids
equal to transformers' on every text; the stored chat template, EOS and end-of-turn ids (and the end-of-turn id
llama.cpp really uses) equal to the tokenizer's; top-1 agreement and relative error of the logits against transformers'
fp32 logits; greedy tokens equal (f16). The Q8_0 export is also held against llama.cpp's own Q8_0 of the same f16 file.
Writes benchmarks/results/llamacpp_check.{json,md}.
"""
from __future__ import annotations

import contextlib
import ctypes
import json
import os
import platform
import sys
import tempfile
from pathlib import Path

import numpy as np

import llama_cpp
from llama_cpp import Llama, LogitsProcessorList

sys.path.append(str(Path(__file__).resolve().parents[1]))  # recipes/: the engine checks' shared result module
from engine_result import engine_check_parser, run_fields, run_line, write_result  # noqa: E402

WARNING_MARKS = ("pre-tokenizer", "GENERATION QUALITY", "CONSIDER REGENERATING", "special_eot_id is not in special_eog_ids",
                 "unknown", "missing")
# f16: rounding only (the random-weight Llama 3 stand-in has large logits, hence 1e-2). Q8_0 against llama.cpp's own
# Q8_0 of the same f16 file: two roundings of the same weights give errors of the same size, not the same numbers (on
# one prompt ours was 8 % above or below theirs), so logits get a noise band and the weights are compared exactly in
# step 3 (weight_error.py, course venv).
F16_MIN_TOP1, Q8_MIN_TOP1, F16_MAX_RELATIVE, Q8_NOISE_BAND = 0.98, 0.9, 1e-2, 1.25
# On a CPU with AMX int8, llama.cpp repacks Q8_0 weights into its AMX buffer; on this machine (a VM) the first forward
# pass then crashes with a segmentation fault, for llama.cpp's own Q8_0 as for the course's. Loading with
# `use_extra_bufts = False` keeps plain CPU buffers (the model and its numbers are the same; only the kernel differs).
USE_EXTRA_BUFFERS = os.environ.get("LLAMACPP_EXTRA_BUFFERS", "0") == "1"
_default_model_params = llama_cpp.llama_cpp.llama_model_default_params


def _model_params():
    params = _default_model_params()
    params.use_extra_bufts = USE_EXTRA_BUFFERS
    return params


llama_cpp.llama_cpp.llama_model_default_params = _model_params  # what Llama.__init__ calls for its model parameters


@contextlib.contextmanager
def captured_stderr(path: Path):
    """llama.cpp logs to the C stderr (file descriptor 2): redirect it to a file to read the loader's warnings."""
    sys.stderr.flush()
    saved = os.dup(2)
    with open(path, "w") as sink:
        os.dup2(sink.fileno(), 2)
        try:
            yield
        finally:
            sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)


def load(path: Path, log: Path) -> tuple[Llama, str]:
    with captured_stderr(log):
        llm = Llama(model_path=str(path), n_ctx=512, logits_all=True, verbose=True, n_threads=2, seed=0)
    return llm, log.read_text(errors="replace")


def logit_gap(ours: np.ndarray, reference: np.ndarray) -> tuple[float, float]:
    """(relative error, top-1 agreement) of llama.cpp's logits against transformers' fp32 logits."""
    relative = float(np.linalg.norm(ours - reference) / np.linalg.norm(reference))
    return relative, float((ours.argmax(-1) == reference.argmax(-1)).mean())


def run_file(path: Path, model: dict, logits_ref: np.ndarray, work: Path, greedy: bool) -> dict:
    llm, log = load(path, work / f"{path.stem}.log")
    warnings = [line.strip() for line in log.splitlines() if "warn" in line.lower() or any(m in line for m in WARNING_MARKS[:4])]
    pre_warnings = [line for line in warnings if any(mark in line for mark in WARNING_MARKS)]
    meta = llm.metadata
    vocab = llama_cpp.llama_model_get_vocab(llm.model)
    tokens = []
    for item in model["texts"]:
        got = llm.tokenize(item["text"].encode("utf-8"), add_bos=False, special=True)
        tokens.append({"text": item["text"][:40], "equal": got == item["ids"], "transformers": len(item["ids"]), "llama_cpp": len(got)})
    prompt = model["prompt_ids"]
    llm.reset()
    llm.eval(prompt)
    logits = np.array(llm.scores[: len(prompt)], dtype=np.float32)
    relative, top1 = logit_gap(logits, logits_ref)
    result = {
        "file": path.name, "bytes": path.stat().st_size, "pre_tokenizer": meta.get("tokenizer.ggml.pre"),
        "loader_warnings": pre_warnings, "tokenization": tokens, "tokens_equal": all(t["equal"] for t in tokens),
        "chat_template_equal": meta.get("tokenizer.chat_template") == model["chat_template"],
        "eos_id": llama_cpp.llama_vocab_eos(vocab), "eot_id_used": llama_cpp.llama_vocab_eot(vocab),
        "eos_equal": llama_cpp.llama_vocab_eos(vocab) == model["eos_id"], "eot_equal": llama_cpp.llama_vocab_eot(vocab) == model["eot_id"],
        "logits_relative_error": relative, "top1_agreement": top1,
    }
    if greedy:
        llm.reset()
        out = []
        stops = [i for i in {model["eos_id"], model["eot_id"]} if i is not None]

        def no_stop(_ids, scores):  # step 1 generated with min_new_tokens, which masks the stop tokens the same way
            scores[stops] = -np.inf
            return scores

        for token in llm.generate(prompt, top_k=1, top_p=1.0, min_p=0.0, temp=0.0, repeat_penalty=1.0, reset=True,
                                  logits_processor=LogitsProcessorList([no_stop])):
            out.append(int(token))
            if len(out) == len(model["greedy_ids"]):
                break
        result.update(greedy_ids=out, greedy_equal=out == model["greedy_ids"])
    del llm
    return result


def llama_cpp_q8_0(f16: Path, out: Path) -> Path:
    """llama.cpp's own quantizer on the same f16 file: the yardstick for our Q8_0 writer."""
    params = llama_cpp.llama_model_quantize_default_params()
    params.ftype = llama_cpp.LLAMA_FTYPE_MOSTLY_Q8_0
    params.nthread = 2
    with captured_stderr(out.with_suffix(".quantize.log")):
        code = llama_cpp.llama_model_quantize(str(f16).encode(), str(out).encode(), ctypes.byref(params))
    if code != 0:
        raise RuntimeError(f"llama_model_quantize returned {code} on {f16}")
    return out


def verdict(name: str, files: dict) -> list[str]:
    """What failed, in one line each (empty when the model passes)."""
    failed = []
    for kind, r in files.items():
        if kind == "llama_cpp_q8_0":
            continue
        for key in ("tokens_equal", "chat_template_equal", "eos_equal", "eot_equal"):
            if not r[key]:
                failed.append(f"{name} {kind}: {key} is false")
        if r["loader_warnings"]:
            failed.append(f"{name} {kind}: loader warnings {r['loader_warnings']}")
    f16, q8, theirs = files["f16"], files["q8_0"], files["llama_cpp_q8_0"]
    if f16["top1_agreement"] < F16_MIN_TOP1 or f16["logits_relative_error"] > F16_MAX_RELATIVE:
        failed.append(f"{name} f16: top-1 {f16['top1_agreement']:.3f}, relative error {f16['logits_relative_error']:.2e}")
    if not f16.get("greedy_equal"):
        failed.append(f"{name} f16: greedy tokens differ")
    if q8["top1_agreement"] < min(Q8_MIN_TOP1, theirs["top1_agreement"]):
        failed.append(f"{name} q8_0: top-1 {q8['top1_agreement']:.3f}")
    if q8["logits_relative_error"] > theirs["logits_relative_error"] * Q8_NOISE_BAND:
        failed.append(f"{name} q8_0: error {q8['logits_relative_error']:.2e} worse than llama.cpp's own Q8_0 {theirs['logits_relative_error']:.2e}")
    return failed


def markdown(result: dict) -> str:
    lines = [
        "# llama.cpp reads the course's GGUF files (`make llamacpp-check`)", "",
        run_line(result),
        f"- llama.cpp through llama-cpp-python {result['versions']['llama_cpp_python']} (built from source, CPU, {result['versions']['python']}); "
        f"references: transformers {result['versions']['transformers']}, torch {result['versions']['torch']}.",
        f"- Loaded with `use_extra_bufts = {result['use_extra_bufts']}`: with llama.cpp's AMX buffer (this CPU has AMX int8) the first forward pass of any Q8_0 file, llama.cpp's own included, crashed with a segmentation fault.",
        "- Each GGUF is written by `course_utils.gguf_export` (lesson 08); `llama.cpp q8_0` is llama.cpp's own quantizer on the same f16 file.",
        "- Logits: the chat prompt's every position against transformers' fp32 logits of the safetensors folder.", "",
        "| model | file | pre-tokenizer | loader warnings | tokens equal | template | EOS / EOT (used) | top-1 | rel. error | greedy equal |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for name, model in result["models"].items():
        for kind, r in model["files"].items():
            greedy = {True: "yes", False: "**no**"}.get(r.get("greedy_equal"), "–")
            lines.append(f"| {name} | {kind} ({r['bytes'] / 2**20:.0f} MiB) | `{r['pre_tokenizer']}` | {len(r['loader_warnings'])} | "
                         f"{sum(t['equal'] for t in r['tokenization'])}/{len(r['tokenization'])} | {r['chat_template_equal']} | "
                         f"{r['eos_id']} / {r['eot_id_used']} ({model['eot_token']}) | {r['top1_agreement']:.1%} | {r['logits_relative_error']:.2e} | {greedy} |")
    lines += ["", "Failures: " + ("none" if not result["failures"] else "; ".join(result["failures"])), ""]
    return "\n".join(lines)


def main() -> None:
    args = engine_check_parser().parse_args()
    reference = json.loads((args.work / "reference.json").read_text())
    models, failures = {}, []
    for name, model in reference["models"].items():
        logits_ref = np.load(args.work / f"logits_{name}.npy")
        files = {}
        for kind in ("f16", "q8_0"):
            files[kind] = run_file(args.work / model["gguf"][kind]["file"], model, logits_ref, args.work, greedy=kind == "f16")
        ours = llama_cpp_q8_0(args.work / model["gguf"]["f16"]["file"], args.work / f"{name}-llamacpp-q8_0.gguf")
        files["llama_cpp_q8_0"] = run_file(ours, model, logits_ref, args.work, greedy=False)
        failures += verdict(name, files)
        models[name] = {"eot_token": model["eot_token"], "expected_pre_tokenizer": model["pre_tokenizer"], "files": files}
        print(f"{name}: " + ", ".join(f"{k} top-1 {v['top1_agreement']:.1%} err {v['logits_relative_error']:.2e}" for k, v in files.items()))
    result = {
        **run_fields(args, failures),
        "use_extra_bufts": USE_EXTRA_BUFFERS,
        "versions": {"llama_cpp_python": llama_cpp.__version__, "python": platform.python_version(),
                     "transformers": reference["transformers"], "torch": reference["torch"]},
        "models": models,
    }
    write_result(args.results, "llamacpp_check", result, markdown(result))


if __name__ == "__main__":
    main()
