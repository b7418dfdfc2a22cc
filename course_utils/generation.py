"""Generating answers in batches, the way every lesson compares models."""
from __future__ import annotations

import torch
from transformers import PreTrainedModel, PreTrainedTokenizerBase


def chat_text(tokenizer: PreTrainedTokenizerBase, user: str, system: str | None = None) -> str:
    """The prompt string the model was trained on for one user turn, from the tokenizer's own chat template."""
    messages = ([{"role": "system", "content": system}] if system else []) + [{"role": "user", "content": user}]
    return tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)


@torch.inference_mode()
def generate(
    model: PreTrainedModel,
    tokenizer: PreTrainedTokenizerBase,
    prompts: list[str],
    max_new_tokens: int = 64,
    batch_size: int = 8,
    **generation_kwargs,
) -> list[str]:
    """Answers to already formatted prompts, greedy unless `do_sample=True` is passed; only new tokens are returned.

    Decoder-only models continue from the last position, so batches are padded on the left.
    """
    padding_side, tokenizer.padding_side = tokenizer.padding_side, "left"
    answers = []
    try:
        for start in range(0, len(prompts), batch_size):
            batch = tokenizer(prompts[start : start + batch_size], return_tensors="pt", padding=True, add_special_tokens=False)
            batch = batch.to(model.device)
            output = model.generate(
                **batch, max_new_tokens=max_new_tokens, pad_token_id=tokenizer.pad_token_id, **generation_kwargs
            )
            new_tokens = output[:, batch["input_ids"].shape[1] :]
            answers += [text.strip() for text in tokenizer.batch_decode(new_tokens, skip_special_tokens=True)]
    finally:
        tokenizer.padding_side = padding_side
    return answers
