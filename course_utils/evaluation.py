"""Measuring a fine-tuned model: loss and perplexity, an exact-answer benchmark, a blind A/B sheet, an LLM judge.

Every measure here is computed, never typed in, and each one states the rule it scores by.
"""
from __future__ import annotations

import json
import math
import random
import re
from dataclasses import dataclass, field
from pathlib import Path

import torch
from transformers import PreTrainedModel, PreTrainedTokenizerBase

from .environment import DATA_DIR
from .prompts import alpaca_prompt

BENCHMARK_FILE = DATA_DIR / "benchmark_ko_en.jsonl"
PROBE_FILE = DATA_DIR / "probe_questions.jsonl"
LETTERS = ("A", "B", "C", "D")


# ---------------------------------------------------------------- loss and perplexity
def perplexity_from_loss(loss: float) -> float:
    """Perplexity is e to the mean token loss: 'as unsure as choosing among this many tokens'."""
    return math.exp(loss)


def completion_token_ids(
    tokenizer: PreTrainedTokenizerBase, prompt: str, completion: str, max_length: int | None = None,
) -> tuple[list[int], list[int]]:
    """(input ids, labels with the prompt masked) for one row, with exactly one BOS where the tokenizer uses one.

    Plain prompts get the tokenizer's defaults, as TRL tokenized the training rows (a BOS for Llama 3, none for
    SmolLM2). A chat-template prompt already starts with '<|begin_of_text|>', so no second BOS is added to it.
    """
    bos = tokenizer.bos_token
    special = not (bos and prompt.startswith(bos))
    prompt_ids = tokenizer(prompt, add_special_tokens=special)["input_ids"]
    ids = tokenizer(prompt + completion, add_special_tokens=special)["input_ids"][:max_length]
    labels = [-100] * len(prompt_ids) + ids[len(prompt_ids) :]
    return ids, labels[: len(ids)]


@torch.inference_mode()
def completion_loss(
    model: PreTrainedModel, tokenizer: PreTrainedTokenizerBase, prompts: list[str], completions: list[str],
    batch_size: int = 8, max_length: int | None = None,
) -> float:
    """Mean loss over completion tokens only, the quantity SFT minimised, token-weighted over the whole set."""
    total, count = 0.0, 0
    for start in range(0, len(prompts), batch_size):
        rows = []
        for prompt, completion in zip(prompts[start : start + batch_size], completions[start : start + batch_size]):
            ids, labels = completion_token_ids(tokenizer, prompt, completion, max_length)
            rows.append((ids, labels))
        width = max(len(ids) for ids, _ in rows)
        pad = tokenizer.pad_token_id
        input_ids = torch.tensor([ids + [pad] * (width - len(ids)) for ids, _ in rows], device=model.device)
        attention = torch.tensor([[1] * len(ids) + [0] * (width - len(ids)) for ids, _ in rows], device=model.device)
        labels = torch.tensor([lab + [-100] * (width - len(lab)) for _, lab in rows], device=model.device)
        logits = model(input_ids=input_ids, attention_mask=attention).logits[:, :-1].float()
        targets = labels[:, 1:]
        losses = torch.nn.functional.cross_entropy(logits.transpose(1, 2), targets, ignore_index=-100, reduction="sum")
        total += losses.item()
        count += int((targets != -100).sum())
    if count == 0:
        raise ValueError("No completion tokens to score: check that completions are not empty or cut off by max_length.")
    return total / count


# ---------------------------------------------------------------- 95 % intervals for small samples
def wilson_interval(successes: int, total: int, z: float = 1.96) -> tuple[float, float]:
    """95 % Wilson interval of a proportion: with 44 or 10 items one answer moves a score by 2.3 or 10 points.

    Unlike p +- 1.96 * sqrt(p(1-p)/n), it stays inside [0, 1] and is not zero-width at 0/n or n/n.
    """
    if total <= 0 or not 0 <= successes <= total:
        raise ValueError(f"{successes} successes out of {total}: the count must lie between 0 and a positive total.")
    p = successes / total
    centre = (p + z * z / (2 * total)) / (1 + z * z / total)
    half = z * math.sqrt(p * (1 - p) / total + z * z / (4 * total * total)) / (1 + z * z / total)
    return max(0.0, centre - half), min(1.0, centre + half)


def bootstrap_mean_interval(
    values: list[float], confidence: float = 0.95, resamples: int = 2000, seed: int = 0
) -> tuple[float, float]:
    """Percentile bootstrap interval of a mean (judge scores, Hangul shares, per-item differences): no normality assumed."""
    values = [float(v) for v in values]
    if not values:
        raise ValueError("No values to bootstrap: score at least one item first.")
    rng = random.Random(seed)
    n = len(values)
    means = sorted(sum(rng.choices(values, k=n)) / n for _ in range(resamples))
    tail = (1 - confidence) / 2
    return means[int(tail * (resamples - 1))], means[int(round((1 - tail) * (resamples - 1)))]


def paired_difference_interval(
    before: list[float], after: list[float], resamples: int = 2000, seed: int = 0
) -> tuple[float, float]:
    """95 % bootstrap interval of mean(after - before) over the same items: the honest test of 'did it improve?'.

    An interval that contains 0 means the items cannot tell the two models apart.
    """
    if len(before) != len(after):
        raise ValueError(f"{len(before)} and {len(after)} scores: a paired difference needs one score per item from each.")
    return bootstrap_mean_interval([float(a) - float(b) for b, a in zip(before, after)], resamples=resamples, seed=seed)


def with_interval(value: float, interval: tuple[float, float], percent: bool = True) -> str:
    """'45.5 % [31.7, 60.0]' or '3.12 [2.80, 3.41]': the number a table shows, always with its 95 % interval."""
    if percent:
        return f"{100 * value:.1f} % [{100 * interval[0]:.1f}, {100 * interval[1]:.1f}]"
    return f"{value:.2f} [{interval[0]:.2f}, {interval[1]:.2f}]"


# ---------------------------------------------------------------- probe questions kept away from training rows
# Words that frame a request rather than name its topic; '무엇인지 간단히 설명해 주세요' is not a topic.
FRAMING_WORDS = frozenset(
    "a an the of to in on for and or with by is are was be do does did what which who why how when where me my you your "
    "i it this that these those from as at into about give name list write explain describe tell briefly short simple "
    "one two three four five sentence sentences word words please can could".split()
) | frozenset("무엇 간단 설명 알려 주세 어떻 어떤 그리 가지 문장 다음 이유 방법 대해 정리 소개 말해 있나 하나".split())


def content_words(text: str) -> set[str]:
    """Topic words of a question: casefolded, framing words dropped, Korean words cut to two syllables (particles off)."""
    words = set()
    for word in re.findall(r"\w+", text.casefold()):
        if re.match(r"[\uac00-\ud7a3]", word):
            word = word[:2]
        if len(word) >= 2 and word not in FRAMING_WORDS:
            words.add(word)
    return words


def topic_overlap(question: str, other: str) -> float:
    """Shared topic words over the smaller set: 1.0 when one question's topic is inside the other's (a paraphrase)."""
    a, b = content_words(question), content_words(other)
    return len(a & b) / min(len(a), len(b)) if a and b else 0.0


def load_probe_questions(path: Path = PROBE_FILE) -> list[str]:
    """Lesson 06's side-by-side questions, written so that none paraphrases a training row."""
    return [json.loads(line)["question"] for line in Path(path).read_text(encoding="utf-8").splitlines() if line.strip()]


# ---------------------------------------------------------------- exact-answer benchmark
def check_benchmark_item(item: dict, number: int) -> None:
    """One benchmark row: an id, a question, either four choices and a letter, or no choices and a short answer."""
    for key in ("id", "question", "answer", "lang"):
        if not isinstance(item.get(key), str) or not item[key].strip():
            raise ValueError(f"Benchmark row {number} has no usable '{key}': every row needs id, question, answer and lang.")
    choices = item.get("choices")
    if choices is not None:
        if not (isinstance(choices, list) and len(choices) == 4 and all(isinstance(c, str) for c in choices)):
            raise ValueError(f"Benchmark row {number} ({item['id']}) needs exactly four string choices, or null.")
        if item["answer"] not in LETTERS:
            raise ValueError(f"Benchmark row {number} ({item['id']}) has choices, so its answer must be one of A, B, C, D.")


def load_benchmark(path: Path = BENCHMARK_FILE) -> list[dict]:
    """The shipped short-answer and multiple-choice questions, checked row by row."""
    items = [json.loads(line) for line in Path(path).read_text(encoding="utf-8").splitlines() if line.strip()]
    for number, item in enumerate(items, start=1):
        check_benchmark_item(item, number)
    return items


def benchmark_prompt(item: dict) -> str:
    """The question in the course's Alpaca format, choices listed, with the answer format asked for."""
    if item.get("choices"):
        lines = "\n".join(f"{letter}. {choice}" for letter, choice in zip(LETTERS, item["choices"]))
        ask = {"ko": "A, B, C, D 중 정답의 글자 하나로만 답하세요."}.get(item["lang"], "Answer with the letter (A, B, C or D) only.")
        return alpaca_prompt(f"{item['question']}\n{lines}\n{ask}")
    return alpaca_prompt(item["question"])


def normalize(text: str) -> str:
    """Case, surrounding punctuation and extra spaces do not make an answer wrong."""
    text = text.strip().casefold()
    text = re.sub(r"\s+", " ", text)
    return text.strip(" .,!?:;\"'`()[]")


def first_line(text: str) -> str:
    """Short answers are judged on the first non-empty line; what a model adds below it does not count."""
    return next((line for line in text.strip().splitlines() if line.strip()), "")


def extract_choice(text: str, choices: list[str]) -> str | None:
    """The letter a multiple-choice answer picked: 'B', 'B.', '(B)', 'Answer: B', '정답: B', or one choice's text."""
    line = first_line(text).strip()
    match = re.match(r"^\W*([A-D])(?![A-Za-z])", line)
    match = match or re.search(r"(?:answer|정답|답)\s*(?:is|은|는)?\s*[:：]?\s*\(?([A-D])\b", line, re.I)
    if match:
        return match.group(1).upper()
    exact = [letter for letter, choice in zip(LETTERS, choices) if normalize(choice) == normalize(line)]
    if exact:
        return exact[0]
    named = [letter for letter, choice in zip(LETTERS, choices) if short_answer_matches(line, choice)]
    return named[0] if len(named) == 1 else None


def short_answer_matches(text: str, answer: str) -> bool:
    """The expected answer on the first line as a whole word; a Korean particle may follow ('서울입니다')."""
    line, answer = normalize(first_line(text)), normalize(answer)
    if not answer:
        return False
    return re.search(rf"(?<![0-9a-z]){re.escape(answer)}(?![0-9a-z])", line) is not None


def is_correct(prediction: str, item: dict) -> bool:
    """Scores one prediction against one benchmark row by the rules above."""
    if item.get("choices"):
        return extract_choice(prediction, item["choices"]) == item["answer"]
    return short_answer_matches(prediction, item["answer"])


@dataclass
class BenchmarkScore:
    correct: int
    total: int
    by_group: dict[str, tuple[int, int]] = field(default_factory=dict)
    per_item: list[bool] = field(default_factory=list)  # in item order, for paired comparisons of two models

    @property
    def accuracy(self) -> float:
        return self.correct / self.total if self.total else 0.0

    @property
    def interval(self) -> tuple[float, float]:
        """95 % Wilson interval of the accuracy."""
        return wilson_interval(self.correct, self.total)

    def __str__(self) -> str:
        groups = ", ".join(f"{g} {c}/{t}" for g, (c, t) in sorted(self.by_group.items()))
        return f"{self.correct}/{self.total} = {with_interval(self.accuracy, self.interval)} ({groups})"


def score_benchmark(items: list[dict], predictions: list[str]) -> BenchmarkScore:
    """Accuracy overall and per group (language x multiple choice / short answer)."""
    if len(items) != len(predictions):
        raise ValueError(f"{len(predictions)} predictions for {len(items)} questions: generate one answer per question.")
    groups: dict[str, list[int]] = {}
    correct, per_item = 0, []
    for item, prediction in zip(items, predictions):
        ok = is_correct(prediction, item)
        correct += ok
        per_item.append(ok)
        group = f"{item['lang']}-{'mc' if item.get('choices') else 'short'}"
        groups.setdefault(group, [0, 0])
        groups[group][0] += ok
        groups[group][1] += 1
    return BenchmarkScore(correct, len(items), {g: (c, t) for g, (c, t) in groups.items()}, per_item)


# ---------------------------------------------------------------- blind A/B sheet
@dataclass
class BlindSheet:
    """Questions with two answers in random order; `key[i]` says which model wrote answer 1 and answer 2."""

    rows: list[dict]
    key: list[tuple[str, str]]


def blind_ab_sheet(questions: list[str], answers: dict[str, list[str]], seed: int = 0) -> BlindSheet:
    """Shuffle which model's answer comes first on every row, and hide the names until `reveal`."""
    if len(answers) != 2:
        raise ValueError("A blind A/B sheet compares exactly two models: pass a dict with two entries.")
    (name_a, list_a), (name_b, list_b) = answers.items()
    if not len(questions) == len(list_a) == len(list_b):
        raise ValueError("Every question needs one answer from each model: the three lists must have the same length.")
    rng = random.Random(seed)
    order = list(range(len(questions)))
    rng.shuffle(order)  # the row order is shuffled too, so neighbouring rows give nothing away
    rows, key = [], []
    for i in order:
        pair = [(name_a, list_a[i]), (name_b, list_b[i])]
        rng.shuffle(pair)
        rows.append({"question": questions[i], "answer_1": pair[0][1], "answer_2": pair[1][1]})
        key.append((pair[0][0], pair[1][0]))
    return BlindSheet(rows, key)


def reveal(sheet: BlindSheet, votes: list[str]) -> dict[str, int]:
    """Wins per model (and ties) from votes '1', '2' or 'tie', one per row of the sheet."""
    if len(votes) != len(sheet.rows):
        raise ValueError(f"{len(votes)} votes for {len(sheet.rows)} rows: vote '1', '2' or 'tie' on every row.")
    tally = {sheet.key[0][0]: 0, sheet.key[0][1]: 0, "tie": 0}
    for (first, second), vote in zip(sheet.key, votes):
        vote = str(vote).strip().lower()
        if vote not in ("1", "2", "tie"):
            raise ValueError(f"Vote {vote!r} is not '1', '2' or 'tie'.")
        tally[{"1": first, "2": second}.get(vote, "tie")] += 1
    return tally


# ---------------------------------------------------------------- LLM as a judge
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
def expected_scores(model: PreTrainedModel, tokenizer: PreTrainedTokenizerBase, texts: list[str]) -> list[tuple[float, int]]:
    """(probability-weighted score, most likely score) for the digit 1-5 that would follow each text.

    For a judge too small to follow the reply format: each text ends in 'Answer N:' and the judge's next-token
    probabilities over ' 1'...' 5' are read directly (the G-Eval idea), so no reply has to be parsed.
    """
    base = [tokenizer(text, add_special_tokens=False)["input_ids"] for text in texts]
    rows, candidates = [], []
    for text, ids in zip(texts, base):
        continuations = [tokenizer(f"{text} {k}", add_special_tokens=False)["input_ids"][len(ids) :] for k in range(1, 6)]
        shared = continuations[0][:-1]  # e.g. a lone space token that every ' k' starts with
        if any(c[:-1] != shared for c in continuations):
            raise ValueError(
                "The judge tokenizer does not end ' 1'...' 5' in one distinct token each: use parse_judge_scores instead."
            )
        rows.append(ids + shared)
        candidates.append([c[-1] for c in continuations])
    width = max(len(r) for r in rows)
    pad = tokenizer.pad_token_id
    input_ids = torch.tensor([[pad] * (width - len(r)) + r for r in rows], device=model.device)  # left padding
    attention = torch.tensor([[0] * (width - len(r)) + [1] * len(r) for r in rows], device=model.device)
    # only the last position is needed: logits_to_keep=1 skips the vocabulary projection everywhere else
    logits = model(input_ids=input_ids, attention_mask=attention, logits_to_keep=1).logits[:, -1].float()
    results = []
    for row_logits, ids in zip(logits, candidates):
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


# ---------------------------------------------------------------- tables without pandas
def markdown_table(headers: list[str], rows: list[list]) -> str:
    """A Markdown table for IPython.display.Markdown; newlines and pipes inside cells are escaped."""
    def cell(value) -> str:
        text = f"{value:.3f}" if isinstance(value, float) else str(value)
        return text.replace("|", "\\|").replace("\n", "<br>")

    lines = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in rows]
    return "\n".join(lines)
