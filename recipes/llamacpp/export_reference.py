"""Step 1 of `make llamacpp-check`, run in the course's venv: the GGUF files the course writes, and transformers' answers.

llama.cpp's venv has no torch and no course_utils, so this step writes into WORK everything step 2 compares llama.cpp
against: for each model, its f16 and Q8_0 exports (`course_utils.gguf_export`, as lesson 08 writes them) and
reference.json with transformers' token ids, fp32 logits (logits_<model>.npy) and greedy continuation.
Models: the cpu profile's SmolLM2 and a small random-weight Llama with the real Llama 3 tokenizer (PyPI llama-models).
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import torch
import transformers
from transformers import AutoModelForCausalLM, AutoTokenizer

from course_utils.gguf_export import end_of_turn_id, export_gguf, tokenizer_pre
from course_tools.llama3_tokenizer import write_tiny_llama3
from course_utils.offline_model import offline_model_path

# Korean, English, digits, symbols and whitespace; the rendered chat text is added per model.
TEXTS = [
    "토니, 소코비아 협정에 대해 어떻게 생각해요?",
    "What is the capital of France? It's Paris, isn't it?",
    "2026년 12월 5일: 3.14159 × 12345 = 38781.9, 전화 010-1234-5678",
    " ½ ⅓ € © → ✓ 😀 \t탭\n\n  두 칸   세 칸",
    "def f(x):\n    return x ** 2  # 제곱\n",
]
QUESTION = "아이언맨 슈트의 동력원은 뭐야? 한 문장으로."
NEW_TOKENS = 16


def reference(name: str, folder: Path, work: Path) -> dict:
    """transformers' ids, logits and greedy tokens for one model folder, beside its two GGUF exports."""
    tokenizer = AutoTokenizer.from_pretrained(folder)
    model = AutoModelForCausalLM.from_pretrained(folder, dtype=torch.float32).eval()
    chat = tokenizer.apply_chat_template([{"role": "user", "content": QUESTION}], tokenize=False, add_generation_prompt=True)
    texts = TEXTS + [chat]
    prompt = tokenizer(chat, add_special_tokens=False).input_ids
    with torch.no_grad():
        logits = model(torch.tensor([prompt])).logits[0].numpy()
        greedy = model.generate(torch.tensor([prompt]), max_new_tokens=NEW_TOKENS, do_sample=False, min_new_tokens=NEW_TOKENS,
                                pad_token_id=tokenizer.eos_token_id)[0, len(prompt):].tolist()
    np.save(work / f"logits_{name}.npy", logits.astype(np.float32))
    files = {}
    for outtype in ("f16", "q8_0"):
        report = export_gguf(folder, work / f"{name}-{outtype}.gguf", outtype=outtype, overwrite=True)
        files[outtype] = {"file": report.path.name, "bytes": report.bytes, "export_seconds": round(report.seconds, 2)}
    return {
        "folder": str(folder), "pre_tokenizer": tokenizer_pre(folder), "gguf": files,
        "texts": [{"text": text, "ids": tokenizer(text, add_special_tokens=False).input_ids} for text in texts],
        "prompt_ids": prompt, "greedy_ids": greedy, "greedy_text": tokenizer.decode(greedy),
        "chat_template": tokenizer.chat_template, "bos_id": tokenizer.bos_token_id, "eos_id": tokenizer.eos_token_id,
        "eot_id": end_of_turn_id(tokenizer), "eot_token": tokenizer.convert_ids_to_tokens(end_of_turn_id(tokenizer)),
    }


def main(work: Path) -> None:
    work.mkdir(parents=True, exist_ok=True)
    models = {"smollm2": offline_model_path(), "llama3-standin": write_tiny_llama3(work / "llama3-standin")}
    out = {"transformers": transformers.__version__, "torch": torch.__version__,
           "models": {name: reference(name, folder, work) for name, folder in models.items()}}
    (work / "reference.json").write_text(json.dumps(out, ensure_ascii=False, indent=1))
    print(f"step 1: {', '.join(models)} exported (f16, q8_0) with transformers {transformers.__version__} references in {work}")


if __name__ == "__main__":
    main(Path(sys.argv[1]))
