"""The benchmark's rows: Alpaca-cleaned-like lengths, random token ids, and a tokenizer that knows only the specials."""
from __future__ import annotations

import numpy as np

from course_utils.alpaca_lengths import alpaca_like_lengths

SAMPLES = 1600  # the seed's 100 steps x effective batch 16
MAX_STEPS = 100
# yahma/alpaca-cleaned keeps ~31.3k no-input rows; the seed held out 1 % of them for evaluation.
EVAL_ROWS = 313
TRAIN_ROWS = 2 * SAMPLES


def alpaca_like_rows(n: int, seed: int, config: dict, scale: float = 1.0) -> dict[str, list]:
    """Pre-tokenized rows (input_ids, completion_mask) with random token ids, BOS first and EOS last."""
    rng = np.random.default_rng(seed + 1)
    high = min(config["bos_token_id"], config["eos_token_id"], config["pad_token_id"])
    ids, masks = [], []
    for prompt_len, completion_len in alpaca_like_lengths(n, seed, scale):
        body = rng.integers(1, high, prompt_len + completion_len).tolist()
        body[0], body[-1] = config["bos_token_id"], config["eos_token_id"]
        ids.append(body)
        masks.append([0] * prompt_len + [1] * completion_len)
    return {"input_ids": ids, "completion_mask": masks}


def truncate_rows(rows: dict[str, list], max_length: int | None) -> dict[str, list]:
    """Keep the start of each row (TRL's keep_start); padding-free TRL refuses max_length, so rows come cut."""
    if max_length is None:
        return rows
    return {key: [value[:max_length] for value in values] for key, values in rows.items()}


def length_summary(rows: dict[str, list]) -> dict[str, float]:
    lengths = np.array([len(r) for r in rows["input_ids"]])
    return {
        "rows": int(len(lengths)), "mean": float(lengths.mean()), "median": float(np.median(lengths)),
        "p90": float(np.percentile(lengths, 90)), "p99": float(np.percentile(lengths, 99)), "max": int(lengths.max()),
        "share_over_256": float((lengths > 256).mean()), "share_over_512": float((lengths > 512).mean()),
        "share_over_1024": float((lengths > 1024).mean()),
    }


def build_tokenizer(config: dict):
    """A tokenizer that only knows the special tokens: the rows are already ids, TRL needs the pad and EOS ids."""
    from tokenizers import Tokenizer
    from tokenizers.models import WordLevel
    from transformers import PreTrainedTokenizerFast

    specials = {"<|begin_of_text|>": config["bos_token_id"], "<|end_of_text|>": config["eos_token_id"],
                "<|reserved_special_token_250|>": config["pad_token_id"]}
    vocab = {"<unk>": 0, **specials}
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=Tokenizer(WordLevel(vocab, unk_token="<unk>")),
        bos_token="<|begin_of_text|>", eos_token="<|end_of_text|>", pad_token="<|reserved_special_token_250|>",
        unk_token="<unk>",
    )
    return tokenizer

