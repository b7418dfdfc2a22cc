"""Token lengths of alpaca-cleaned-like rows, for counting training FLOPs where the real rows cannot be read.

Neither `yahma/alpaca-cleaned` nor the Hub is reachable offline, so the GPU benchmark and the T4 time estimates
draw their rows' lengths from one model of them, here.
"""
from __future__ import annotations

import math

import numpy as np

# The Alpaca no-input template (course_utils.prompts.alpaca_prompt) is ~30 tokens, plus BOS.
PROMPT_TEMPLATE_TOKENS = 31


def alpaca_like_lengths(n: int, seed: int, scale: float = 1.0) -> list[tuple[int, int]]:
    """(prompt, completion) token lengths of n Alpaca-cleaned-like no-input rows, in Llama-3 tokens.

    A log-normal model, not the real rows (neither the dataset nor the Llama-3 tokenizer is reachable offline):
    instruction median 14 tokens (sigma 0.45), response median 110 tokens (sigma 0.83, capped at 1,800), plus the
    31-token Alpaca template with BOS and one EOS. Mean ~200 tokens a row, ~25 % of rows above 256 tokens and ~4 %
    above 512, in line with the dataset card ("a larger number of prompts that exceed a length of 256") and its
    size (42 MB of JSON for 51,760 rows).
    """
    rng = np.random.default_rng(seed)
    instruction = np.clip(np.rint(rng.lognormal(math.log(14), 0.45, n)), 3, 160).astype(int)
    response = np.clip(np.rint(rng.lognormal(math.log(110), 0.83, n)), 2, 1800).astype(int)
    prompt = PROMPT_TEMPLATE_TOKENS + instruction
    completion = response + 1  # EOS
    if scale != 1.0:
        prompt = np.maximum(2, np.rint(prompt * scale)).astype(int)
        completion = np.maximum(1, np.rint(completion * scale)).astype(int)
    return list(zip(prompt.tolist(), completion.tolist()))
