"""Step 1 of `make vllm-check`, run in the course's venv: the folders vLLM will serve, and transformers' answers.

vLLM's venv pins its own torch and an older transformers, and has no course_utils, so this step writes into WORK:
- `adapter/`: a LoRA adapter of lesson 05's shape (r=16, alpha 32, all linear layers) on the cpu profile's SmolLM2,
  with nonzero B so that it changes the answers (lesson 05's trained adapter is not part of a clean clone);
- `merged/`: that adapter merged by the course's streaming merge (`course_utils.merge`, lessons 06 and 08);
- `exaone-layout/` and `llamafied/`: lesson 07's EXAONE-shaped SmolLM2 and its llamafy output (EXAONE chat template);
- `llama3-standin/` and `llama3-adapter/`: a tiny model on Llama 3's real tokenizer, and an adapter of the same shape;
- reference.json: transformers' greedy tokens and each chosen token's log-probability for every case;
- cells_input.json: what the cells before lesson 06's and 07's vLLM cells define (prompts, questions, the adapter
  folder, the llamafied folder), for running those cells as written (lesson_cells.py).
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

import peft
import torch
import transformers
from peft import LoraConfig, PeftModel, get_peft_model
from transformers import AutoModelForCausalLM, AutoTokenizer

from course_tools.llama3_tokenizer import write_tiny_llama3
from course_utils.checkpoints import read_checkpoint, write_checkpoint
from course_utils.evaluation import load_probe_questions
from course_utils.exaone_reference import EXAONE_CHAT_TEMPLATE, exaone_settings, exaone_tensor_shapes
from course_utils.llamafy import llama_name, llamafy
from course_utils.merge import merge_adapter_into_checkpoint
from course_utils.offline_model import offline_model_path
from course_utils.prompts import alpaca_prompt, with_bos

QUESTIONS = ["What is the capital of France?", "LLM 중에서 가장 유명한 LLM은 뭐야?"]
NEW_TOKENS = 16


def greedy(model, tokenizer, messages: list[dict]) -> dict:
    """Greedy tokens and each chosen token's log-probability (fp32), from the chat template's prompt."""
    prompt = tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
    ids = tokenizer(prompt, add_special_tokens=False).input_ids
    with torch.no_grad():
        out = model.generate(torch.tensor([ids]), max_new_tokens=NEW_TOKENS, do_sample=False, output_scores=True,
                             return_dict_in_generate=True, pad_token_id=tokenizer.eos_token_id)
    tokens = out.sequences[0, len(ids):].tolist()
    logprobs = [torch.log_softmax(score[0].float(), -1)[token].item() for score, token in zip(out.scores, tokens)]
    return {"prompt": prompt, "prompt_ids": ids, "tokens": tokens, "logprobs": logprobs, "text": tokenizer.decode(tokens)}


def make_adapter(base: Path, folder: Path) -> None:
    """Lesson 05's LoRA shape with random nonzero B (a trained adapter's B is nonzero too), seed 0."""
    torch.manual_seed(0)
    model = AutoModelForCausalLM.from_pretrained(base, dtype=torch.float32)
    config = LoraConfig(r=16, lora_alpha=32, lora_dropout=0.0, target_modules="all-linear", task_type="CAUSAL_LM")
    model = get_peft_model(model, config)
    with torch.no_grad():
        for name, parameter in model.named_parameters():
            if "lora_B" in name:
                parameter.normal_(0, 0.01)
    model.save_pretrained(folder)


def make_llamafied(base: Path, work: Path) -> tuple[Path, Path]:
    """Lesson 07, section 5 and 7: SmolLM2's weights under EXAONE 3.0 names and config, then llamafy."""
    smol = json.loads((base / "config.json").read_text())
    config = {
        "architectures": ["ExaoneForCausalLM"], "model_type": "exaone", "activation_function": smol["hidden_act"],
        "vocab_size": smol["vocab_size"], "hidden_size": smol["hidden_size"], "intermediate_size": smol["intermediate_size"],
        "num_layers": smol["num_hidden_layers"], "num_attention_heads": smol["num_attention_heads"],
        "num_key_value_heads": smol["num_key_value_heads"], "layer_norm_epsilon": smol["rms_norm_eps"],
        "rope_theta": (smol.get("rope_parameters") or {}).get("rope_theta", smol.get("rope_theta")), "rope_scaling": None,
        "max_position_embeddings": smol["max_position_embeddings"], "tie_word_embeddings": smol["tie_word_embeddings"],
        "bos_token_id": smol["bos_token_id"], "eos_token_id": smol["eos_token_id"], "pad_token_id": smol.get("pad_token_id"),
        "torch_dtype": "float32",
    }
    to_exaone = {llama_name(name): name for name in exaone_tensor_shapes(exaone_settings(config))}
    weights = {to_exaone[name]: tensor.float() for name, tensor in read_checkpoint(base).items() if name in to_exaone}
    exaone_dir = write_checkpoint(work / "exaone-layout", config, weights, max_shard_size="200MB")
    tokenizer = AutoTokenizer.from_pretrained(base)
    tokenizer.chat_template = EXAONE_CHAT_TEMPLATE
    tokenizer.save_pretrained(exaone_dir)
    llamafy(exaone_dir, work / "llamafied", dtype="float32", overwrite=True)
    return exaone_dir, work / "llamafied"


def lesson_cell_inputs(base: Path, work: Path, llama_dir: Path) -> dict:
    """What lesson 06's cells define before its vLLM cell (questions, `with_bos` Alpaca prompts, the adapter folder),
    on the cpu profile's SmolLM2 and on a tiny model with Llama 3's tokenizer, whose BOS the GPU profiles' prompts start
    with; and lesson 07's llamafied folder."""
    standin = write_tiny_llama3(work / "llama3-standin")
    make_adapter(standin, work / "llama3-adapter")
    questions = load_probe_questions()[:2]
    runs = {}
    for name, folder, adapter in (("smollm2", base, work / "adapter"), ("llama3", standin, work / "llama3-adapter")):
        prompts = with_bos(AutoTokenizer.from_pretrained(folder), [alpaca_prompt(q) for q in questions])
        # The stand-in's random weights give no answer worth comparing (in vLLM's bf16 its tokens fell up to 1.6 nats
        # below transformers' top token): its run checks the prompt ids, where Llama 3's BOS shows.
        runs[name] = {"model": str(folder), "run_dir": str(adapter), "questions": questions, "prompts": prompts,
                      "tokens_checked": name == "smollm2"}
    return {"06": runs, "07": {"llamafied": {"llama_dir": str(llama_dir), "tokens_checked": True}}}


def main(work: Path) -> None:
    work.mkdir(parents=True, exist_ok=True)
    base = offline_model_path()
    make_adapter(base, work / "adapter")
    merge_adapter_into_checkpoint(base, work / "adapter", work / "merged", overwrite=True)
    exaone_dir, llama_dir = make_llamafied(base, work)
    messages = [[{"role": "user", "content": q}] for q in QUESTIONS]
    exaone_messages = [[{"role": "system", "content": "You are a helpful assistant."}] + m for m in messages]

    tokenizer = AutoTokenizer.from_pretrained(base)
    model = AutoModelForCausalLM.from_pretrained(base, dtype=torch.float32).eval()
    cases = {"base": {"folder": str(base), "answers": [greedy(model, tokenizer, m) for m in messages]}}
    lora = PeftModel.from_pretrained(model, work / "adapter").eval()
    cases["lora"] = {"folder": str(base), "adapter": str(work / "adapter"), "answers": [greedy(lora, tokenizer, m) for m in messages]}
    merged = AutoModelForCausalLM.from_pretrained(work / "merged", dtype=torch.float32).eval()
    cases["merged"] = {"folder": str(work / "merged"), "answers": [greedy(merged, AutoTokenizer.from_pretrained(work / "merged"), m) for m in messages]}
    llama_tokenizer = AutoTokenizer.from_pretrained(llama_dir)
    llamafied = AutoModelForCausalLM.from_pretrained(llama_dir, dtype=torch.float32).eval()
    cases["llamafied"] = {"folder": str(llama_dir), "exaone_folder": str(exaone_dir), "messages": exaone_messages,
                          "answers": [greedy(llamafied, llama_tokenizer, m) for m in exaone_messages]}
    for case in ("base", "lora", "merged"):
        cases[case]["messages"] = messages
    changed = sum(a["tokens"] != b["tokens"] for a, b in zip(cases["base"]["answers"], cases["lora"]["answers"]))
    out = {"transformers": transformers.__version__, "torch": torch.__version__, "peft": peft.__version__,
           "lora_changes_answers": changed, "new_tokens": NEW_TOKENS, "cases": cases}
    (work / "reference.json").write_text(json.dumps(out, ensure_ascii=False, indent=1))
    cells = lesson_cell_inputs(base, work, llama_dir)
    (work / "cells_input.json").write_text(json.dumps(cells, ensure_ascii=False, indent=1))
    print(f"step 1: adapter, merge and llamafied folders with transformers {transformers.__version__} references in {work}"
          f" (the adapter changes {changed} of {len(messages)} greedy answers)")


if __name__ == "__main__":
    main(Path(sys.argv[1]))
