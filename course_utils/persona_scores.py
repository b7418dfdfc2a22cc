"""How much of the persona lesson 08's answers show, counted without a judge: Tony Stark's style markers, Hangul, facts.

All are computed on held-out prompts that never appear in training; the judge model's score is in `judge`.
"""
from __future__ import annotations

from collections.abc import Sequence

from .evaluation import short_answer_matches

# Words that mark Tony Stark's voice in Korean, drafted from the training outputs (each one occurs there; a test
# checks): his names and self-descriptions, his gear, people and events of his world, and his register. The training
# answers never use the polite 존댓말 (-요, -니다) a Korean assistant uses; they speak 반말, so casual first person and
# casual endings mark the voice too. A marker already in the question does not count.
STYLE_MARKERS: dict[str, tuple[str, ...]] = {
    "self": ("토니", "스타크", "아이언맨", "천재", "억만장자"),
    "gear": ("수트", "아크 원자로", "자비스", "JARVIS", "프라이데이", "리펄서", "나노", "작업실"),
    "world": ("어벤져스", "캡틴", "페퍼", "로디", "울트론", "소코비아", "피터", "동굴"),
    "voice": ("내가", "나는", "나도", "난 ", "거야", "거든", "이야.", "잖아"),
}


def marker_hits(text: str, markers: dict[str, tuple[str, ...]] = STYLE_MARKERS) -> list[str]:
    """The style markers found in one answer."""
    return [marker for group in markers.values() for marker in group if marker in text]


def added_markers(answer: str, question: str, markers: dict[str, tuple[str, ...]] = STYLE_MARKERS) -> list[str]:
    """Markers in the answer that the question did not already contain (echoing "소코비아" is not style)."""
    asked = set(marker_hits(question, markers))
    return [m for m in marker_hits(answer, markers) if m not in asked]


def marker_rate(
    answers: Sequence[str], questions: Sequence[str] | None = None, markers: dict[str, tuple[str, ...]] = STYLE_MARKERS
) -> float:
    """Share of answers with at least one style marker of their own (not copied from the question)."""
    questions = [""] * len(answers) if questions is None else questions
    if len(questions) != len(answers):
        raise ValueError(f"Got {len(answers)} answers and {len(questions)} questions: pass one question per answer.")
    hits = [bool(added_markers(a, q, markers)) for a, q in zip(answers, questions, strict=True)]
    return sum(hits) / max(len(hits), 1)


def marker_rates_by_group(
    answers: Sequence[str], questions: Sequence[str] | None = None, markers: dict[str, tuple[str, ...]] = STYLE_MARKERS
) -> dict[str, float]:
    """The marker rate of each group alone, to see which part of the persona a model picked up."""
    return {group: marker_rate(answers, questions, {group: words}) for group, words in markers.items()}


def hangul_share(text: str) -> float:
    """Share of Hangul syllables and jamo among the letters of `text` (digits, punctuation and spaces do not count)."""
    letters = [c for c in text if c.isalpha()]
    hangul = [c for c in letters if "\uac00" <= c <= "\ud7a3" or "\u3131" <= c <= "\u318e"]
    return len(hangul) / len(letters) if letters else 0.0


def mean_hangul_share(answers: Sequence[str]) -> float:
    """Average Hangul share over answers; an empty answer counts as 0."""
    return sum(hangul_share(a) for a in answers) / max(len(answers), 1)


def general_accuracy(replies: Sequence[str], expected: Sequence[str]) -> float:
    """Share of factual questions answered right, by lesson 06's short-answer rule (first line, whole word)."""
    if len(replies) != len(expected):
        raise ValueError(f"Got {len(replies)} replies and {len(expected)} expected answers: pass one expected answer per reply.")
    return sum(short_answer_matches(r, e) for r, e in zip(replies, expected, strict=True)) / max(len(expected), 1)
