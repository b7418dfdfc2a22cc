"""Alpaca-format data (instruction/input/output): loaded with every row checked, cut to length, as prompt/completion pairs.

On GPU profiles the data is `yahma/alpaca-cleaned` from the Hub (or its COURSE_MIRROR copy); offline it is the
course's own jsonl under data/.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from datasets import Dataset, DatasetDict, load_dataset
from transformers import PreTrainedTokenizerBase

from .data_files import check_rows, read_rows
from .environment import DATA_DIR
from .mirror import dataset_source
from .profiles import Profile
from .prompts import alpaca_completion, alpaca_prompt

HUB_DATASET = "yahma/alpaca-cleaned"
OFFLINE_FILE = DATA_DIR / "alpaca_ko_en.jsonl"
ALPACA_REQUIRED = ("instruction", "output")  # must be non-empty strings
ALPACA_OPTIONAL = ("input",)  # may be missing, None or "", else a string


def load_alpaca_jsonl(path: Path = OFFLINE_FILE) -> Dataset:
    """A checked jsonl in the Alpaca schema through datasets' json loader.

    Rows are checked with plain json first: Arrow would otherwise fail on a mixed-type column with a message
    that names neither the row nor the field.
    """
    path = Path(path)
    read_rows(path, ALPACA_REQUIRED, ALPACA_OPTIONAL)
    dataset = load_dataset("json", data_files=str(path), split="train")
    if "input" not in dataset.column_names:
        dataset = dataset.add_column("input", [""] * len(dataset))
    return dataset.map(lambda row: {"input": row["input"] or ""})


def load_alpaca(profile: Profile) -> Dataset:
    """The Hub's cleaned Alpaca on GPU profiles, the shipped Korean/English file offline; checked either way."""
    if profile.offline:
        return load_alpaca_jsonl(OFFLINE_FILE)
    path, kwargs = dataset_source(HUB_DATASET)
    dataset = load_dataset(path, split="train", **kwargs)
    check_rows(dataset, ALPACA_REQUIRED, ALPACA_OPTIONAL, source=HUB_DATASET)
    return dataset


def has_empty_input(row: dict) -> bool:
    """The seed kept only rows without an `input`, so every prompt has the short form."""
    return not (row.get("input") or "").strip()


def alpaca_prompt_completion(batch: dict[str, list], eos_token: str) -> dict[str, list[str]]:
    """Batched `map` function: Alpaca columns to the prompt/completion pair TRL trains completion-only."""
    inputs = batch.get("input") or [""] * len(batch["instruction"])
    return {
        "prompt": [alpaca_prompt(i, x or "") for i, x in zip(batch["instruction"], inputs)],
        "completion": [alpaca_completion(o, eos_token) for o in batch["output"]],
    }


def eval_fraction(num_rows: int, min_rows: int = 20, fraction: float = 0.01) -> float:
    """The seed's 1 % held out, raised so that a small dataset still keeps at least `min_rows` for a stable loss."""
    return max(fraction, min(0.5, min_rows / max(num_rows, 1)))


@dataclass
class LengthReport:
    """How many rows would not fit in `max_length` tokens; printed before anything is dropped."""

    total: int
    too_long: int
    longest: int
    max_length: int

    def __str__(self) -> str:
        return (
            f"{self.too_long} of {self.total} rows are longer than max_length={self.max_length} tokens "
            f"(longest: {self.longest}); SFTTrainer would cut their end, EOS included, so they are dropped."
        )


def token_lengths(dataset: Dataset, tokenizer: PreTrainedTokenizerBase) -> list[int]:
    """Tokens of prompt + completion per row, counted the way SFTTrainer tokenizes them (the tokenizer's defaults)."""
    texts = [p + c for p, c in zip(dataset["prompt"], dataset["completion"])]
    return [len(ids) for ids in tokenizer(texts)["input_ids"]]


def drop_too_long(dataset: Dataset, tokenizer: PreTrainedTokenizerBase, max_length: int) -> tuple[Dataset, LengthReport]:
    """Rows that fit in `max_length`, and a report of those that did not, so nothing disappears without a word."""
    lengths = token_lengths(dataset, tokenizer)
    keep = [i for i, n in enumerate(lengths) if n <= max_length]
    report = LengthReport(len(lengths), len(lengths) - len(keep), max(lengths, default=0), max_length)
    return dataset.select(keep), report


def alpaca_splits(
    raw: Dataset, tokenizer: PreTrainedTokenizerBase, max_length: int, seed: int = 42
) -> tuple[DatasetDict, LengthReport]:
    """The seed's pipeline in one call, as lesson 05 shows it step by step: shuffle, keep empty inputs,
    prompt + EOS, drop (and report) rows longer than `max_length`, then split off the held-out rows."""
    dataset = raw.shuffle(seed=seed).filter(has_empty_input)
    dataset = dataset.map(
        alpaca_prompt_completion, batched=True, fn_kwargs={"eos_token": tokenizer.eos_token},
        remove_columns=dataset.column_names,
    )
    dataset, report = drop_too_long(dataset, tokenizer, max_length)
    return dataset.train_test_split(test_size=eval_fraction(len(dataset)), seed=seed), report
