"""An LLM as a judge: rubrics, judge prompts, G-Eval scores read from next-token probabilities, position and length bias.

Lesson 06 compares two answers (pairwise, both orders); lesson 08 scores one answer for staying in character.
"""
from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

import torch
from transformers import PreTrainedModel, PreTrainedTokenizerBase

from .chat_format import chat_text

JUDGE_RUBRIC = """\
1. Correctness: facts, numbers and code are right. A wrong answer scores 1 or 2 however well it is written.
2. Instruction following: it answers what was asked, in the language of the question.
3. Concision: no repetition or filler. Length is not a merit in itself."""

JUDGE_TEMPLATE = """\
You are grading two answers to the same question. Score each answer from 1 (useless) to 5 (excellent) by this rubric:
{rubric}

Question:
{question}

Answer A:
{answer_1}

Answer B:
{answer_2}

Reply with exactly two lines and nothing else:
Answer A: <score>
Answer B: <score>"""


def judge_prompt(question: str, answer_1: str, answer_2: str, rubric: str = JUDGE_RUBRIC) -> str:
    """The judge's instruction: rubric stated, answers labelled by position only, a fixed reply format to parse."""
    return JUDGE_TEMPLATE.format(
        rubric=rubric, question=question, answer_1=answer_1 or "(empty)", answer_2=answer_2 or "(empty)"
    )


def parse_judge_scores(text: str) -> tuple[int, int] | None:
    """(score of answer A, score of answer B) from the judge's reply, or None when it did not follow the format."""
    scores = []
    for position in ("A", "B"):
        match = re.search(rf"(?:answer|답변)\s*{position}\s*\**\s*[:=\-]?\s*\**\s*([1-5])(?:\s*/\s*5)?\b", text, re.I)
        if not match:
            return None
        scores.append(int(match.group(1)))
    return scores[0], scores[1]


@torch.inference_mode()
def expected_scores(
    model: PreTrainedModel, tokenizer: PreTrainedTokenizerBase, texts: list[str], separator: str = " ", batch_size: int = 8,
) -> list[tuple[float, int]]:
    """(probability-weighted score, most likely score) for the digit 1-5 that would follow each text (the G-Eval idea).

    For a judge too small to follow a reply format: its next-token probabilities over the five score tokens are read
    directly, so no reply has to be parsed and close answers are not tied. `separator` stands between text and digit:
    " " after "Answer A:", "" after a chat template's assistant header.
    """
    rows, candidates = [], []
    for text in texts:
        ids = tokenizer(text, add_special_tokens=False)["input_ids"]
        fulls = [tokenizer(f"{text}{separator}{k}", add_special_tokens=False)["input_ids"] for k in range(1, 6)]
        continuations = [full[len(ids) :] for full in fulls]
        shared = continuations[0][:-1]  # e.g. a lone space token that every " k" starts with
        if any(full[: len(ids)] != ids or c[:-1] != shared or not c for full, c in zip(fulls, continuations)):
            raise ValueError(
                f"The judge tokenizer does not end {separator!r} + 1...5 in one distinct token each: parse written replies instead."
            )
        rows.append(ids + shared)
        candidates.append([c[-1] for c in continuations])
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
    results = []
    for start in range(0, len(rows), batch_size):
        batch = rows[start : start + batch_size]
        width = max(len(r) for r in batch)
        input_ids = torch.tensor([[pad] * (width - len(r)) + r for r in batch], device=model.device)  # left padding
        attention = torch.tensor([[0] * (width - len(r)) + [1] * len(r) for r in batch], device=model.device)
        # only the last position is needed: logits_to_keep=1 skips the vocabulary projection everywhere else
        logits = model(input_ids=input_ids, attention_mask=attention, logits_to_keep=1).logits[:, -1].float()
        for row_logits, ids in zip(logits, candidates[start : start + batch_size]):
            probs = torch.softmax(row_logits[ids], dim=-1)  # renormalised over the five score tokens
            scores = torch.arange(1, 6, dtype=probs.dtype, device=probs.device)
            results.append((float((probs * scores).sum()), int(probs.argmax()) + 1))
    return results


@dataclass
class Verdict:
    """One question judged twice, once in each order; scores are per model, averaged over both orders."""

    score_x: float | None
    score_y: float | None
    winner: str | None  # "x", "y", "tie", or None when neither reply could be parsed
    consistent: bool  # False when swapping the order changed the preferred answer: position bias


def _preference(first: float, second: float) -> int:
    return (first > second) - (first < second)


def combine_swapped(x_first: tuple[int, int] | None, y_first: tuple[int, int] | None) -> Verdict:
    """Undo the swap, average the two readings, and call a winner only when both orders agree."""
    readings = []
    if x_first:
        readings.append((x_first[0], x_first[1]))
    if y_first:
        readings.append((y_first[1], y_first[0]))
    if not readings:
        return Verdict(None, None, None, False)
    score_x = sum(r[0] for r in readings) / len(readings)
    score_y = sum(r[1] for r in readings) / len(readings)
    consistent = len(readings) == 2 and _preference(*readings[0]) == _preference(*readings[1])
    if len(readings) == 2 and not consistent:
        return Verdict(score_x, score_y, "tie", False)
    winner = {1: "x", -1: "y", 0: "tie"}[_preference(score_x, score_y)]
    return Verdict(score_x, score_y, winner, consistent)


def swapped_judge_prompts(question: str, answer_x: str, answer_y: str, rubric: str = JUDGE_RUBRIC) -> tuple[str, str]:
    """The same pair in both orders: a judge that prefers 'the first answer' then contradicts itself visibly."""
    return judge_prompt(question, answer_x, answer_y, rubric), judge_prompt(question, answer_y, answer_x, rubric)


def longer_answer_win_rate(verdicts: list[Verdict], answers_x: list[str], answers_y: list[str]) -> float | None:
    """Share of decided verdicts won by the longer answer: far above 0.5 hints at length bias."""
    decided = [(v, x, y) for v, x, y in zip(verdicts, answers_x, answers_y) if v.winner in ("x", "y") and len(x) != len(y)]
    if not decided:
        return None
    longer_won = sum((v.winner == "x") == (len(x) > len(y)) for v, x, y in decided)
    return longer_won / len(decided)


# ---------------------------------------------------------------- one answer in character (lesson 08)
# In English like the pairwise judge: a Korean 8B judge reads it fine, and on SmolLM2's byte-level tokenizer the same
# rubric in Korean costs 362 tokens per judged answer instead of 96.
PERSONA_RUBRIC = """Score from 1 to 5 how well the answer stays in character as Iron Man, Tony Stark, answering in Korean.
5: witty, confident, blunt casual Korean, with tech or Iron Man references: Tony all the way.
3: plain assistant tone with a trace of the character.
1: no character, not Korean, or unrelated to the question.

Question: {question}
Answer: {answer}

Score (one digit):"""


def persona_judge_prompt(question: str, answer: str) -> str:
    """The persona rubric filled in for one question and answer (sent as the judge's user turn)."""
    return PERSONA_RUBRIC.format(question=question.strip(), answer=answer.strip() or "(empty)")


def persona_judge_scores(
    judge: PreTrainedModel, tokenizer: PreTrainedTokenizerBase, questions: Sequence[str], answers: Sequence[str],
    batch_size: int = 8,
) -> list[float]:
    """Expected in-character score 1-5 per answer, read from the judge's next token after its chat turn."""
    if len(questions) != len(answers):
        raise ValueError(f"Got {len(questions)} questions and {len(answers)} answers: pass one answer per question.")
    prompts = [chat_text(tokenizer, persona_judge_prompt(q, a)) for q, a in zip(questions, answers)]
    return [score for score, _ in expected_scores(judge, tokenizer, prompts, separator="", batch_size=batch_size)]
