"""Perplexity of a causal LM on fixed texts: one number to compare quantized, merged or fine-tuned models."""
from __future__ import annotations

import math

import torch
from transformers import PreTrainedModel, PreTrainedTokenizerBase


@torch.inference_mode()
def perplexity(model: PreTrainedModel, tokenizer: PreTrainedTokenizerBase, texts: list[str], max_length: int = 512) -> float:
    """exp(mean negative log-likelihood per predicted token) over all texts, each cut into windows of max_length tokens.

    Windows do not overlap, so the first token of each window is predicted without context: compare numbers only
    when they were measured with the same max_length.
    """
    if isinstance(texts, str) or not texts or not all(isinstance(t, str) and t.strip() for t in texts):
        raise ValueError("perplexity needs a list of non-empty strings: wrap a single text as [text].")
    if max_length < 2:
        raise ValueError(f"max_length={max_length} leaves no token to predict: use at least 2 (e.g. 512).")
    total_nll, total_tokens = 0.0, 0
    for text in texts:
        # a chat-template text already starts with the BOS: adding another would score a doubled-BOS input
        special = not (tokenizer.bos_token and text.startswith(tokenizer.bos_token))
        ids = tokenizer(text, return_tensors="pt", add_special_tokens=special)["input_ids"][0]
        for start in range(0, len(ids), max_length):
            window = ids[start : start + max_length].unsqueeze(0).to(model.device)
            if window.shape[1] < 2:  # a lone last token has nothing to be predicted from
                continue
            logits = model(input_ids=window).logits[0, :-1].float()
            nll = torch.nn.functional.cross_entropy(logits, window[0, 1:], reduction="sum")
            total_nll += nll.item()
            total_tokens += window.shape[1] - 1
    if total_tokens == 0:
        raise ValueError("The texts are too short to predict any token: give at least two tokens of text.")
    return math.exp(total_nll / total_tokens)
