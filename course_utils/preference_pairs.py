"""DPO preference pairs from lesson 08's persona rows: chosen = the in-character answer, rejected = the model's own.

The rejected answers are on-policy: the model being tuned wrote them before DPO. One is kept only where it lacks the
persona by lesson 08's style markers (`persona_scores`), so each pair contrasts Tony Stark with the model's plain voice.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from .chat_format import chat_messages
from .persona import user_message, validate_persona_rows
from .persona_scores import added_markers

PAIR_FIELDS = ("prompt", "chosen", "rejected")


@dataclass
class PairReport:
    """What the persona filter did with the model's own answers: every answer is counted once."""

    kept: int
    dropped_in_character: int  # the model already spoke as Tony: no contrast to learn from
    dropped_empty: int  # an empty answer teaches nothing but "say something"

    @property
    def total(self) -> int:
        return self.kept + self.dropped_in_character + self.dropped_empty


def lacks_persona(answer: str, question: str) -> bool:
    """True when the answer has none of Tony Stark's style markers of its own (echoing the question does not count)."""
    return not added_markers(answer, question)


def answer_text(value) -> str:
    """The text of a chosen/rejected field: a plain string, or a conversational list of assistant messages."""
    if isinstance(value, str):
        return value
    if isinstance(value, list) and all(isinstance(m, dict) and "content" in m for m in value):
        return "".join(str(m["content"]) for m in value)
    raise ValueError(f"An answer must be a string or a list of {{'role', 'content'}} messages, not {type(value).__name__}.")


def check_pair(pair: dict, where: str = "pair") -> dict:
    """One pair, or a one-sentence error: a missing field, an empty answer, or chosen equal to rejected."""
    missing = [name for name in PAIR_FIELDS if name not in pair or pair[name] is None]
    if missing:
        raise ValueError(f"{where} has no {', '.join(repr(m) for m in missing)}: every pair needs prompt, chosen and rejected.")
    for name in ("chosen", "rejected"):
        if not answer_text(pair[name]).strip():
            raise ValueError(f"{where} has an empty {name!r} answer: drop the pair or write the answer.")
    if answer_text(pair["chosen"]).strip() == answer_text(pair["rejected"]).strip():
        raise ValueError(f"{where} has the same text as chosen and rejected: DPO learns nothing from it, so drop the pair.")
    return pair


def validate_pairs(pairs: Sequence[dict], source: str = "the preference pairs") -> list[dict]:
    """All pairs checked before training, each error naming its pair (DPOTrainer would fail later, or learn nothing)."""
    if not pairs:
        raise ValueError(f"{source} holds no pairs: build at least one before training.")
    return [check_pair(pair, f"Pair {i} of {source}") for i, pair in enumerate(pairs)]


def preference_pairs(
    rows: Sequence[dict], rejected_answers: Sequence[str], system: str | None = None
) -> tuple[list[dict], PairReport]:
    """Conversational prompt/chosen/rejected pairs (TRL's format) where the model's own answer lacks the persona.

    `rejected_answers[i]` is the model's answer to `rows[i]`; `system` is the system prompt the SFT model was trained
    with, so that DPO sees the prompts it will answer.
    """
    rows = validate_persona_rows(rows)
    if len(rows) != len(rejected_answers):
        raise ValueError(f"Got {len(rows)} rows and {len(rejected_answers)} answers: generate one answer per row.")
    pairs, in_character, empty = [], 0, 0
    for row, answer in zip(rows, rejected_answers, strict=True):
        question, answer, reference = user_message(row), answer.strip(), row["output"].strip()
        if not answer:
            empty += 1
        elif answer == reference or not lacks_persona(answer, question):
            in_character += 1
        else:
            pairs.append({
                "prompt": chat_messages(question, system),
                "chosen": [{"role": "assistant", "content": reference}],
                "rejected": [{"role": "assistant", "content": answer}],
            })
    if not pairs:
        raise ValueError(f"None of the {len(rows)} answers lacks the persona ({in_character} in character, {empty} empty): "
                         "generate answers from the model before DPO, or use more rows.")
    return validate_pairs(pairs), PairReport(len(pairs), in_character, empty)
