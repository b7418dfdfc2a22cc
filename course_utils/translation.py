"""Translating with an encoder-decoder model such as NLLB, now that transformers 5 has no "translation" pipeline."""
from __future__ import annotations

import torch
from transformers import PreTrainedModel, PreTrainedTokenizerBase


def language_token_id(tokenizer: PreTrainedTokenizerBase, language: str) -> int:
    """The id of a language code such as `kor_Hang`; an unknown code would silently become `<unk>`, so it is refused."""
    token_id = tokenizer.convert_tokens_to_ids(language)
    if token_id is None or token_id == tokenizer.unk_token_id:
        raise ValueError(f"{language!r} is not a language code of this tokenizer: use a FLORES-200 code such as 'kor_Hang' or 'eng_Latn'.")
    return token_id


@torch.inference_mode()
def translate(model: PreTrainedModel, tokenizer: PreTrainedTokenizerBase, texts: list[str], src_lang: str,
              tgt_lang: str, max_new_tokens: int = 64) -> list[str]:
    """What `pipeline("translation", src_lang=..., tgt_lang=...)` did: source language token in, target forced out."""
    language_token_id(tokenizer, src_lang)
    tokenizer.src_lang = src_lang  # NLLB puts this language token in front of the source text
    batch = tokenizer(texts, return_tensors="pt", padding=True).to(model.device)
    output = model.generate(**batch, forced_bos_token_id=language_token_id(tokenizer, tgt_lang),
                            max_new_tokens=max_new_tokens, do_sample=False, num_beams=1)
    return tokenizer.batch_decode(output, skip_special_tokens=True)
