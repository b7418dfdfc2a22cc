"""The Iron Man persona of lesson 08: its system prompt, its shipped data, and its rows as chat-template SFT examples.

How much of the persona a model shows is measured in `persona_scores` and, by a judge model, in `judge`.
"""
from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path

from transformers import PreTrainedTokenizerBase

from .chat_format import chat_messages, chat_text
from .data_files import check_rows, read_rows
from .environment import DATA_DIR

PERSONA_DIR = DATA_DIR / "persona"
PERSONA_REQUIRED, PERSONA_OPTIONAL = ("instruction", "output"), ("input",)  # the seeds' Alpaca schema
HELDOUT_FIELDS = ("instruction", "category")
GENERAL_FIELDS = ("question", "answer")

# The seeds put their prompt in LLaMA-Factory's `default_system`; this is the same idea written out for the course.
SYSTEM_PROMPT = (
    "당신은 아이언맨 토니 스타크입니다. 천재 발명가이자 스타크 인더스트리의 주인답게 재치 있고 자신감 넘치며 "
    "직설적으로 말합니다. 수트, 아크 원자로, 자비스 같은 기술 이야기를 자연스럽게 섞고, 위험하거나 해로운 요청은 "
    "토니 스타크다운 말투로 거절합니다. 모든 답은 한국어 반말로 짧고 분명하게 합니다."
)
# For small context budgets: SmolLM2's byte-level tokenizer spends about 2 tokens per Hangul syllable.
SHORT_SYSTEM_PROMPT = "당신은 아이언맨 토니 스타크입니다. 재치 있고 자신감 있게, 한국어로 답하세요."


def validate_persona_rows(rows: Sequence[dict], source: str = "the persona data") -> list[dict]:
    """Training rows in the seeds' instruction/input/output schema; `input` may be empty or absent, the others may not."""
    return check_rows(rows, PERSONA_REQUIRED, PERSONA_OPTIONAL, source=source)


def load_persona_data(folder: str | Path = PERSONA_DIR) -> tuple[list[dict], list[dict], list[dict]]:
    """(training rows, held-out prompts, general questions) of the shipped persona data, checked line by line."""
    folder = Path(folder)
    train = read_rows(folder / "ironman_train.jsonl", PERSONA_REQUIRED, PERSONA_OPTIONAL)
    heldout = read_rows(folder / "ironman_heldout.jsonl", HELDOUT_FIELDS)
    general = read_rows(folder / "general_questions.jsonl", GENERAL_FIELDS)
    return train, heldout, general


def user_message(row: dict) -> str:
    """The user turn of a row: the instruction, followed by the optional input as context."""
    extra = (row.get("input") or "").strip()
    return row["instruction"].strip() + (f"\n\n{extra}" if extra else "")


def persona_example(row: dict, system: str | None = SYSTEM_PROMPT) -> dict:
    """One row as a conversational prompt/completion example: TRL then trains on the completion only."""
    return {
        "prompt": chat_messages(user_message(row), system),
        "completion": [{"role": "assistant", "content": row["output"].strip()}],
    }


def persona_dataset(rows: Sequence[dict], system: str | None = SYSTEM_PROMPT):
    """A `datasets.Dataset` of conversational prompt/completion examples, validated first."""
    from datasets import Dataset

    rows = validate_persona_rows(rows)
    return Dataset.from_list([persona_example(row, system) for row in rows])


def persona_prompts(tokenizer: PreTrainedTokenizerBase, questions: Iterable[str], system: str | None) -> list[str]:
    """Generation prompts for held-out questions, with or without the persona system message."""
    return [chat_text(tokenizer, q, system=system) for q in questions]
