"""Scoring a fine-tuned model's answers: 95 % intervals, probe questions, an exact-answer benchmark, a blind A/B sheet.

Every measure here is computed, never typed in, and each one states the rule it scores by.
"""
from __future__ import annotations

import math
import random
import re
from dataclasses import dataclass, field
from pathlib import Path

from .data_files import read_rows
from .environment import DATA_DIR
from .prompts import alpaca_prompt

BENCHMARK_FILE = DATA_DIR / "benchmark_ko_en.jsonl"
PROBE_FILE = DATA_DIR / "probe_questions.jsonl"
LETTERS = ("A", "B", "C", "D")


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
    return [row["question"] for row in read_rows(path, ("question",))]


# ---------------------------------------------------------------- exact-answer benchmark
BENCHMARK_FIELDS = ("id", "question", "answer", "lang")


def choices_problem(item: dict) -> str | None:
    """What is wrong with a row's choices: either none, or four strings with a letter A-D as the answer."""
    choices = item.get("choices")
    if choices is None:
        return None
    if not (isinstance(choices, list) and len(choices) == 4 and all(isinstance(c, str) for c in choices)):
        return f"({item['id']}) needs exactly four string choices, or null"
    if item["answer"] not in LETTERS:
        return f"({item['id']}) has choices, so its answer must be one of A, B, C, D"
    return None


def load_benchmark(path: Path = BENCHMARK_FILE) -> list[dict]:
    """The shipped short-answer and multiple-choice questions, checked line by line."""
    return read_rows(path, BENCHMARK_FIELDS, extra_check=choices_problem)


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
