"""`python -m course_tools.t4_markers` (run by `make sync`): every T4 time the README, INSTRUCTORS.md, the benchmark
README and the notebook headers quote, rewritten between `<!-- t4:KEY -->` markers from course_utils.t4_estimate.

The time function itself (t4_time: FLOPs over the two named T4 rates) is a lesson helper; this is how the course
keeps its documents in step with the presets, so tests/test_t4_estimate.py fails when a quoted figure is stale.
"""
from __future__ import annotations

import re
import sys
from functools import lru_cache
from pathlib import Path

from course_utils.profiles import PROFILES
from course_utils.t4_estimate import Estimate, Lengths, alpaca_preset_run, preset_run, t4_rates, t4_time


def persona_rows() -> tuple[Lengths, Lengths]:
    """(training, validation) lengths of lesson 08's persona rows with the system prompt, in Llama 3 tokens."""
    import random

    from course_utils.chat_format import chat_text
    from course_utils.persona import SYSTEM_PROMPT, load_persona_data, user_message

    from .llama3_tokenizer import load_llama3_tokenizer

    tokenizer = load_llama3_tokenizer()
    rows = list(load_persona_data()[0])
    random.Random(0).shuffle(rows)  # lesson 08's split: 16 validation rows, the rest for training

    def lengths(part: list[dict]) -> Lengths:
        return tuple((len(tokenizer(chat_text(tokenizer, user_message(r), SYSTEM_PROMPT), add_special_tokens=False)
                          ["input_ids"]),
                      len(tokenizer(r["output"].strip(), add_special_tokens=False)["input_ids"]) + 1) for r in part)

    return lengths(rows[16:]), lengths(rows[:16])


@lru_cache(maxsize=1)
def _persona_lengths() -> tuple[Lengths, Lengths]:
    return persona_rows()


def lesson_estimates() -> dict[str, tuple[str, Estimate]]:
    """Every training run a lesson starts on the t4 profile: key -> (what it is, its estimate)."""
    from course_utils.lesson_runs import short_sft_preset

    t4 = PROFILES["t4"]
    train, val = _persona_lengths()
    persona = t4.persona
    needed = persona.max_steps * persona.effective_batch_size
    fit = (train * (needed // len(train) + 1))[:needed]  # lesson 08 trains several epochs over its rows
    short = short_sft_preset(t4)
    return {
        "05": (f"lesson 05, default: {t4.sft.max_steps} steps × {t4.sft.effective_batch_size} rows",
               t4_time(alpaca_preset_run(t4.sft, evaluations_before=1))),
        "05-full": (f"lesson 05, `FULL_RUN = True`: {t4.sft_full.max_steps} steps × "
                    f"{t4.sft_full.effective_batch_size} rows (the seed's length)",
                    t4_time(alpaca_preset_run(t4.sft_full, evaluations_before=1))),
        "06": (f"lesson 06 without lesson 05's adapter: `sft_short`, {short.max_steps} steps × "
               f"{short.effective_batch_size} rows", t4_time(alpaca_preset_run(short, evaluations_before=0))),
        "08": (f"lesson 08, persona LoRA: {persona.max_steps} steps × {persona.effective_batch_size} rows",
               t4_time(preset_run(persona, fit, val))),
    }


def table() -> str:
    """The Markdown table of every lesson's T4 training time, with the two rates it is made of."""
    rates = t4_rates()
    lines = ["| run on a T4 | FLOPs | at seed 002's rate | at Unsloth's rate | estimate |", "|---|---:|---:|---:|---|"]
    for what, estimate in lesson_estimates().values():
        seed, unsloth = estimate.seconds["seed 002"], estimate.seconds["Unsloth"]
        lines.append(f"| {what} | {estimate.flops / 1e15:.1f} PFLOP | {seed / 60:.0f} min | {unsloth / 60:.0f} min "
                     f"| {estimate.english()} |")
    lines.append(f"\nRates (FLOP/s by the same FLOP model): seed 002 {rates['seed 002'] / 1e12:.1f} TFLOP/s, "
                 f"Unsloth {rates['Unsloth'] / 1e12:.1f} TFLOP/s.")
    return "\n".join(lines)


MARKER = re.compile(r"<!-- t4:(?P<key>[\w-]+) -->(?P<body>.*?)<!-- /t4 -->", re.DOTALL)
FILES = ("README.md", "INSTRUCTORS.md", "benchmarks/README.md", "notebooks/05_alpaca_qlora_sft.py",
         "notebooks/06_evaluation.py", "notebooks/08_ironman_persona.py")


def filled(text: str) -> str:
    """text with every marked T4 figure rewritten from the presets: `t4:05` English, `t4:05-ko` Korean, `t4:table`."""
    estimates = lesson_estimates()

    def value(match: re.Match) -> str:
        key = match["key"]
        if key == "table":
            body = "\n" + table() + "\n"
        elif key.removesuffix("-ko") in estimates:
            estimate = estimates[key.removesuffix("-ko")][1]
            body = estimate.korean() if key.endswith("-ko") else estimate.english()
        else:
            raise ValueError(f"Unknown T4 figure <!-- t4:{key} -->: use one of {', '.join(estimates)} or table.")
        return f"<!-- t4:{key} -->{body}<!-- /t4 -->"

    return MARKER.sub(value, text)


def main(root: str = ".") -> int:
    """Rewrite the marked T4 figures in FILES; print which files changed."""
    for name in FILES:
        path = Path(root) / name
        text = path.read_text(encoding="utf-8")
        new = filled(text)
        if new != text:
            path.write_text(new, encoding="utf-8")
            print("T4 times rewritten:", name)
    return 0


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:]))
