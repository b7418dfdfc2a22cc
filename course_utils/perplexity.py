"""Loss and perplexity of a causal LM: on plain texts, or on completions only with the prompt masked as SFT trains."""
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
    if len(prompts) != len(completions):
        raise ValueError(f"Got {len(prompts)} prompts and {len(completions)} completions: pass one completion per prompt.")
    # padded positions are masked and carry no label, so any id will do where the tokenizer has no pad token
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
    total, count = 0.0, 0
    for start in range(0, len(prompts), batch_size):
        rows = []
        for prompt, completion in zip(prompts[start : start + batch_size], completions[start : start + batch_size]):
            ids, labels = completion_token_ids(tokenizer, prompt, completion, max_length)
            rows.append((ids, labels))
        width = max(len(ids) for ids, _ in rows)
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
