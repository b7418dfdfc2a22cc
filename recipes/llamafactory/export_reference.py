"""Step 1 of `make llamafactory-check`, run in the course's venv: the persona exports (SFT and lesson 09's DPO pairs), and
what the course builds from them.

LLaMA-Factory's venv cannot import course_utils (it pins an older transformers, trl and datasets), so this step writes
everything the course side knows into WORK: the export lesson 08 writes, and reference.json with the course's own
chat-template renderings (token ids on SmolLM2, Llama 3 and EXAONE text) that step 2 compares LLaMA-Factory against.
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

from transformers import AutoTokenizer
from transformers.utils.chat_template_utils import render_jinja_template

import course_utils
from course_utils.exaone_reference import EXAONE_CHAT_TEMPLATE
from course_utils.offline_model import offline_model_path
from course_utils.chat_format import render_llama3
from course_utils.persona import SYSTEM_PROMPT, load_persona_data, persona_example, user_message
from course_utils.persona_export import export_llamafactory, export_llamafactory_dpo, render_with_slots
from course_utils.preference_pairs import preference_pairs

# A learner's row with an `input` field: the shipped rows have none, and LLaMA-Factory joins instruction and input itself.
ROWS_WITH_INPUT = [
    {"instruction": "이 코드 봐 줘.", "input": "print(1)", "output": "완벽해, 내가 짠 것처럼."},
    {"instruction": "요약해 줘.", "input": "아크 원자로는 가슴의 파편을 막는다.", "output": "가슴 속 파편 방패. 끝."},
]
# Conversations for the EXAONE comparison: with a system turn, without one, and two turns.
EXAONE_CONVERSATIONS = {
    "with_system": [
        {"role": "system", "content": SYSTEM_PROMPT},
        {"role": "user", "content": "프랑스의 수도는?"},
        {"role": "assistant", "content": "파리지."},
    ],
    "without_system": [{"role": "user", "content": "프랑스의 수도는?"}, {"role": "assistant", "content": "파리지."}],
    "two_turns": [
        {"role": "system", "content": "You are EXAONE."},
        {"role": "user", "content": "Hi"},
        {"role": "assistant", "content": "Hello."},
        {"role": "user", "content": "2+2?"},
        {"role": "assistant", "content": "4"},
    ],
}


def ids(encoded) -> list[int]:
    """Token ids from apply_chat_template, which returns a BatchEncoding in transformers 5."""
    return list(encoded["input_ids"] if hasattr(encoded, "keys") else encoded)


def conversation(row: dict) -> tuple[list[dict], list[dict]]:
    """The row as the course trains it (`persona_example`): the prompt messages, and those plus the answer."""
    example = persona_example(row, SYSTEM_PROMPT)
    return example["prompt"], example["prompt"] + example["completion"]


def chat_ids(tokenizer, rows: list[dict]) -> list[dict]:
    """The course's training example of each row on the tokenizer's own chat template: prompt ids and full ids."""
    out = []
    for row in rows:
        prompt, full = conversation(row)
        out.append({
            "user": user_message(row),
            "prompt_ids": ids(tokenizer.apply_chat_template(prompt, tokenize=True, add_generation_prompt=True)),
            "full_ids": ids(tokenizer.apply_chat_template(full, tokenize=True, add_generation_prompt=False)),
        })
    return out


def llama3_texts(rows: list[dict]) -> list[dict]:
    """The course's Llama 3 text of each row (the Llama 3 Instruct Jinja template) and the export's slot rendering."""
    out = []
    for row in rows:
        prompt, full = conversation(row)
        out.append({
            "prompt_text": render_llama3(prompt, add_generation_prompt=True),
            "full_text": render_llama3(full, add_generation_prompt=False),
            "export_slots_text": render_with_slots(full[1:], system=SYSTEM_PROMPT),
        })
    return out


PAIR_CANDIDATES = 24  # training rows whose on-policy answers become lesson 09's DPO pairs in the check


def dpo_pairs(tokenizer, model_dir: Path, rows: list[dict]) -> list[dict]:
    """Lesson 09's pairs on the offline SmolLM2: its own greedy answers, kept where they lack the persona."""
    from transformers import AutoModelForCausalLM

    from course_utils.generation import generate
    from course_utils.persona import persona_prompts

    model = AutoModelForCausalLM.from_pretrained(model_dir).eval()
    answers = generate(model, tokenizer, persona_prompts(tokenizer, [user_message(r) for r in rows], SYSTEM_PROMPT), max_new_tokens=32)
    pairs, report = preference_pairs(rows, answers, system=SYSTEM_PROMPT)
    print(f"DPO pairs: {report.kept} kept, {report.dropped_in_character} in character, {report.dropped_empty} empty")
    return pairs


def pair_ids(tokenizer, pairs: list[dict]) -> dict[str, list[dict]]:
    """Each pair's chosen and rejected example on the tokenizer's own chat template, as DPOTrainer builds them."""
    out: dict[str, list[dict]] = {"chosen": [], "rejected": []}
    for pair in pairs:
        for side in out:
            out[side].append({
                "prompt_ids": ids(tokenizer.apply_chat_template(pair["prompt"], tokenize=True, add_generation_prompt=True)),
                "full_ids": ids(tokenizer.apply_chat_template(pair["prompt"] + pair[side], tokenize=True, add_generation_prompt=False)),
            })
    return out


def pair_llama3_texts(pairs: list[dict]) -> dict[str, list[dict]]:
    """The same, as Llama 3 Instruct text (token ids come from the real Llama 3 tokenizer in step 2)."""
    return {
        side: [{"prompt_text": render_llama3(p["prompt"], add_generation_prompt=True),
                "full_text": render_llama3(p["prompt"] + p[side], add_generation_prompt=False)} for p in pairs]
        for side in ("chosen", "rejected")
    }


def exaone_texts() -> dict[str, str]:
    """Lesson 07's EXAONE Jinja template rendered on each conversation."""
    rendered, _ = render_jinja_template(
        conversations=list(EXAONE_CONVERSATIONS.values()), chat_template=EXAONE_CHAT_TEMPLATE, add_generation_prompt=False
    )
    return dict(zip(EXAONE_CONVERSATIONS, rendered))


def main(work: Path) -> None:
    train_rows, _, _ = load_persona_data()
    model_dir = offline_model_path()
    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    export_llamafactory(train_rows, work / "data", model_name_or_path="beomi/Llama-3-Open-Ko-8B-Instruct-preview")
    export_llamafactory(ROWS_WITH_INPUT, work / "data_with_input", model_name_or_path="beomi/Llama-3-Open-Ko-8B-Instruct-preview")
    pairs = dpo_pairs(tokenizer, model_dir, train_rows[:PAIR_CANDIDATES])
    export_llamafactory_dpo(pairs, work / "data", model_name_or_path="outputs/08_ironman_t4/merged")
    import peft, torch, transformers, trl  # noqa: E401  (versions for the record)

    reference = {
        "system_prompt": SYSTEM_PROMPT,
        "smollm2_dir": str(model_dir),
        "course_versions": {m.__name__: m.__version__ for m in (torch, transformers, peft, trl)},
        "course_utils": str(Path(course_utils.__file__).parent),
        "smollm2": {"data": chat_ids(tokenizer, train_rows), "data_with_input": chat_ids(tokenizer, ROWS_WITH_INPUT)},
        "llama3": {"data": llama3_texts(train_rows), "data_with_input": llama3_texts(ROWS_WITH_INPUT)},
        "exaone": {"conversations": EXAONE_CONVERSATIONS, "jinja": exaone_texts()},
        "dpo": {"pairs": len(pairs), "smollm2": pair_ids(tokenizer, pairs), "llama3": pair_llama3_texts(pairs)},
    }
    (work / "reference.json").write_text(json.dumps(reference, ensure_ascii=False, indent=1), encoding="utf-8")
    print(f"export and course reference written to {work} ({len(train_rows)} persona rows)")


if __name__ == "__main__":
    main(Path(sys.argv[1]))
