"""The Iron Man persona of lesson 08: its system prompt, its data as chat-template SFT examples, and how to measure it.

Measures (all computed on held-out prompts that never appear in training):
- style marker rate: share of answers with at least one Tony Stark marker from `STYLE_MARKERS`;
- Hangul share: share of Hangul among the letters of an answer (the persona answers in Korean);
- stays in character: a judge model scores each answer 1-5 with `PERSONA_RUBRIC`;
- general ability: factual questions whose expected answer must still appear in the reply.

The seeds' loss tables, quoted for comparison, are at the end (`SEED_REPORTED_LOSS`).
"""
from __future__ import annotations

import json
import re
from collections.abc import Iterable, Sequence
from pathlib import Path

import torch
from transformers import PreTrainedModel, PreTrainedTokenizerBase

from .environment import DATA_DIR
from .evaluation import short_answer_matches
from .generation import chat_text, generate

PERSONA_DIR = DATA_DIR / "persona"
PERSONA_FIELDS = ("instruction", "input", "output")
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


def load_jsonl(path: str | Path) -> list[dict]:
    """Rows of a JSON Lines file; a line that is not JSON is reported with its number."""
    rows = []
    for number, line in enumerate(Path(path).read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            rows.append(json.loads(line))
        except json.JSONDecodeError as error:
            raise ValueError(f"{path}, line {number} is not valid JSON ({error.msg}): fix or remove that line.") from None
    return rows


def _check_fields(rows: Sequence[dict], fields: Sequence[str], required: Sequence[str], source: str) -> list[dict]:
    if not rows:
        raise ValueError(f"{source} has no rows: check the file path and that the file is not empty.")
    for number, row in enumerate(rows, start=1):
        if not isinstance(row, dict):
            raise ValueError(f"Row {number} of {source} is {type(row).__name__}, not an object with fields {', '.join(fields)}.")
        missing = [name for name in fields if name not in row]
        if missing:
            raise ValueError(
                f"Row {number} of {source} has no {', '.join(repr(m) for m in missing)} field: "
                f"every row needs {', '.join(fields)}."
            )
        for name in fields:
            if not isinstance(row[name], str):
                raise ValueError(f"Row {number} of {source}: {name!r} must be text, not {type(row[name]).__name__}.")
        empty = [name for name in required if not row[name].strip()]
        if empty:
            raise ValueError(
                f"Row {number} of {source} has an empty {empty[0]!r}: write it or drop the row "
                f"(only {', '.join(n for n in fields if n not in required) or 'no field'} may be empty)."
            )
    return list(rows)


def validate_persona_rows(rows: Sequence[dict], source: str = "the persona data") -> list[dict]:
    """Training rows in the seeds' instruction/input/output schema; `input` may be empty, the others may not."""
    return _check_fields(rows, PERSONA_FIELDS, ("instruction", "output"), source)


def validate_heldout_rows(rows: Sequence[dict], source: str = "the held-out prompts") -> list[dict]:
    """Held-out prompts: an instruction to answer and the category it tests."""
    return _check_fields(rows, HELDOUT_FIELDS, HELDOUT_FIELDS, source)


def validate_general_rows(rows: Sequence[dict], source: str = "the general questions") -> list[dict]:
    """Factual questions with the short answer that must appear in a correct reply."""
    return _check_fields(rows, GENERAL_FIELDS, GENERAL_FIELDS, source)


def load_persona_data(folder: str | Path = PERSONA_DIR) -> tuple[list[dict], list[dict], list[dict]]:
    """(training rows, held-out prompts, general questions) of the shipped persona data, validated."""
    folder = Path(folder)
    train = validate_persona_rows(load_jsonl(folder / "ironman_train.jsonl"), "ironman_train.jsonl")
    heldout = validate_heldout_rows(load_jsonl(folder / "ironman_heldout.jsonl"), "ironman_heldout.jsonl")
    general = validate_general_rows(load_jsonl(folder / "general_questions.jsonl"), "general_questions.jsonl")
    return train, heldout, general


def user_message(row: dict) -> str:
    """The user turn of a row: the instruction, followed by the optional input as context."""
    extra = row.get("input", "").strip()
    return row["instruction"].strip() + (f"\n\n{extra}" if extra else "")


def persona_messages(user: str, system: str | None = SYSTEM_PROMPT) -> list[dict]:
    """The chat messages for one user turn, with the persona's system message first."""
    return ([{"role": "system", "content": system}] if system else []) + [{"role": "user", "content": user}]


def to_prompt_completion(row: dict, system: str | None = SYSTEM_PROMPT) -> dict:
    """One row as a conversational prompt/completion example: TRL then trains on the completion only."""
    return {
        "prompt": persona_messages(user_message(row), system),
        "completion": [{"role": "assistant", "content": row["output"].strip()}],
    }


def persona_dataset(rows: Sequence[dict], system: str | None = SYSTEM_PROMPT):
    """A `datasets.Dataset` of conversational prompt/completion examples, validated first."""
    from datasets import Dataset

    rows = validate_persona_rows(rows)
    return Dataset.from_list([to_prompt_completion(row, system) for row in rows])


def system_prompt_tokens(tokenizer: PreTrainedTokenizerBase, system: str) -> int:
    """Tokens the system turn costs in every example, counted on the tokenizer's own chat template."""
    ids = tokenizer.apply_chat_template([{"role": "system", "content": system}], tokenize=True, add_generation_prompt=False)
    if isinstance(ids, dict) or hasattr(ids, "keys"):  # transformers 5 returns a BatchEncoding
        ids = ids["input_ids"]
    return len(ids)


def check_system_prompt_fits(
    tokenizer: PreTrainedTokenizerBase, system: str, max_length: int, reserve: int | None = None
) -> int:
    """The system turn's token count, or an error when it leaves fewer than `reserve` tokens (default half) for the rest."""
    reserve = max_length // 2 if reserve is None else reserve
    used = system_prompt_tokens(tokenizer, system)
    if used > max_length - reserve:
        raise ValueError(
            f"The system prompt takes {used} of max_length={max_length} tokens, leaving less than {reserve} for the "
            f"question and answer: shorten the system prompt or raise max_length."
        )
    return used


def llama3_chat_template() -> str:
    """Meta's Llama 3 Instruct chat template, as shipped inside the pinned TRL (no Llama 3 tokenizer offline)."""
    import trl

    return (Path(trl.__file__).parent / "chat_templates" / "llama3.jinja").read_text()


def render_llama3(messages: list[dict], add_generation_prompt: bool = True) -> str:
    """The Llama 3 formatted text of `messages`, rendered by transformers' own chat-template renderer."""
    from transformers.utils.chat_template_utils import render_jinja_template

    rendered, _ = render_jinja_template(
        conversations=[messages],
        chat_template=llama3_chat_template(),
        add_generation_prompt=add_generation_prompt,
        bos_token="<|begin_of_text|>",
        eos_token="<|eot_id|>",
    )
    return rendered[0]


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


# In English like lesson 06's judge: a Korean 8B judge reads it fine, and on SmolLM2's byte-level tokenizer the same
# rubric in Korean costs 362 tokens per judged answer instead of 96.
PERSONA_RUBRIC = """Score from 1 to 5 how well the answer stays in character as Iron Man, Tony Stark, answering in Korean.
5: witty, confident, blunt casual Korean, with tech or Iron Man references: Tony all the way.
3: plain assistant tone with a trace of the character.
1: no character, not Korean, or unrelated to the question.

Question: {question}
Answer: {answer}

Score (one digit):"""


def persona_judge_prompt(question: str, answer: str) -> str:
    """The rubric filled in for one question and answer (sent as the judge's user turn)."""
    return PERSONA_RUBRIC.format(question=question.strip(), answer=answer.strip() or "(empty)")


def parse_judge_score(text: str) -> int | None:
    """The first standalone digit 1-5 in a judge's reply ("점수: 4점", "**4**/5"), or None when there is none."""
    match = re.search(r"(?<![0-9])([1-5])(?![0-9])", text)
    return int(match.group(1)) if match else None


def _score_token_ids(tokenizer: PreTrainedTokenizerBase) -> list[int]:
    ids = [tokenizer.encode(str(score), add_special_tokens=False) for score in range(1, 6)]
    if any(len(i) != 1 for i in ids):
        raise ValueError("The judge's tokenizer splits the digits 1-5 into several tokens: use generated verdicts and parse_judge_score.")
    return [i[0] for i in ids]


@torch.inference_mode()
def judge_scores(
    judge: PreTrainedModel,
    tokenizer: PreTrainedTokenizerBase,
    questions: Sequence[str],
    answers: Sequence[str],
    batch_size: int = 8,
) -> list[float]:
    """Expected rubric score per answer from the judge's probabilities of the next token being 1..5 (as in G-Eval).

    Weighting by probability gives a score for every answer, even from a small judge that would not reply with a
    clean digit, and it separates answers a greedy verdict would tie.
    """
    if len(questions) != len(answers):
        raise ValueError(f"Got {len(questions)} questions and {len(answers)} answers: pass one answer per question.")
    score_ids = torch.tensor(_score_token_ids(tokenizer))
    prompts = [chat_text(tokenizer, persona_judge_prompt(q, a)) for q, a in zip(questions, answers)]
    padding_side, tokenizer.padding_side = tokenizer.padding_side, "left"
    scores: list[float] = []
    try:
        for start in range(0, len(prompts), batch_size):
            batch = tokenizer(prompts[start : start + batch_size], return_tensors="pt", padding=True, add_special_tokens=False)
            logits = judge(**batch.to(judge.device)).logits[:, -1, :].float().cpu()
            probs = torch.softmax(logits[:, score_ids], dim=-1)
            scores += (probs @ torch.arange(1, 6, dtype=torch.float32)).tolist()
    finally:
        tokenizer.padding_side = padding_side
    return scores


def judge_verdicts(
    judge: PreTrainedModel, tokenizer: PreTrainedTokenizerBase, questions: Sequence[str], answers: Sequence[str]
) -> list[int | None]:
    """Greedy written verdicts parsed with `parse_judge_score`; None where the judge wrote no score."""
    prompts = [chat_text(tokenizer, persona_judge_prompt(q, a)) for q, a in zip(questions, answers)]
    return [parse_judge_score(text) for text in generate(judge, tokenizer, prompts, max_new_tokens=8)]


def general_accuracy(replies: Sequence[str], expected: Sequence[str]) -> float:
    """Share of factual questions answered right, by lesson 06's short-answer rule (first line, whole word)."""
    return sum(short_answer_matches(r, e) for r, e in zip(replies, expected, strict=True)) / max(len(expected), 1)


def persona_prompts(tokenizer: PreTrainedTokenizerBase, questions: Iterable[str], system: str | None) -> list[str]:
    """Generation prompts for held-out questions, with or without the persona system message."""
    return [chat_text(tokenizer, q, system=system) for q in questions]


# A few (epoch, training loss) points read off the loss tables the seeds published with their LLaMA-Factory runs
# (LoRA, lr 1e-4 cosine, 2 x A100, 10 epochs planned; Pseudorec monthly write-up, June 2024). Quoted for comparison
# in lesson 08, not computed by this course. Note the drops right after epochs 1 and 5: the model is reciting.
SEED_REPORTED_LOSS: dict[str, tuple[tuple[float, float], ...]] = {
    "Llama-3-Alpha-Ko-8B (seed)": (
        (0.32, 1.852), (0.97, 1.650), (1.13, 1.513), (1.94, 1.323), (2.90, 1.147), (3.87, 0.900),
        (4.84, 0.669), (5.00, 0.685), (5.16, 0.466), (5.97, 0.495), (6.94, 0.358), (7.90, 0.276), (8.39, 0.219),
    ),
    "Qwen2-7B (seed)": (
        (0.16, 2.166), (0.97, 1.602), (1.13, 1.483), (1.94, 1.307), (2.90, 1.150), (3.87, 0.938),
        (4.84, 0.724), (5.00, 0.754), (5.16, 0.544), (5.97, 0.573), (6.94, 0.426), (7.42, 0.355),
    ),
}
