"""Tokenizers whose Hub repository ships no tokenizer_config.json: their special tokens as the model card sets them.

Without tokenizer_config.json, AutoTokenizer picks the class from config.json's `model_type` (gpt2 for KoGPT2);
in transformers 5 that class rebuilds its own byte-level pipeline around the vocabulary, which does not match
KoGPT2's `▁` pieces, and it invents a `<|endoftext|>` token the model never saw. The generic fast tokenizer
reads tokenizer.json exactly as published.
"""
from __future__ import annotations

from transformers import AutoTokenizer, PreTrainedTokenizerBase, PreTrainedTokenizerFast

from .offline_model import resolve_model
from .profiles import Profile

# From each model card's own loading code. GPT-2 models take no token_type_ids (GPT2Model would add them as
# embeddings), so the tokenizer should not return them.
HAND_SET_SPECIAL_TOKENS: dict[str, dict] = {
    "skt/kogpt2-base-v2": dict(
        bos_token="</s>", eos_token="</s>", unk_token="<unk>", pad_token="<pad>", mask_token="<mask>",
        model_input_names=["input_ids", "attention_mask"],
    ),
}


def load_published_tokenizer(model_id: str, profile: Profile) -> PreTrainedTokenizerBase:
    """The tokenizer as its model card loads it: hand-set special tokens where the repository has no config for them."""
    source = resolve_model(model_id, profile)
    if profile.offline or model_id not in HAND_SET_SPECIAL_TOKENS:  # offline, model_id stands for SmolLM2
        # EXAONE-3.0's config.json names remote code (auto_map) for a model type transformers 5.23 lacks: with
        # trust_remote_code left at None, AutoConfig asks "Do you wish to run the custom code? [y/N]" and waits.
        # False refuses at once; AutoTokenizer then reads the plain config and the tokenizer files, which need no code.
        return AutoTokenizer.from_pretrained(source, trust_remote_code=False)
    settings = HAND_SET_SPECIAL_TOKENS[model_id]
    tokenizer = PreTrainedTokenizerFast.from_pretrained(source, **settings)
    published = tokenizer.backend_tokenizer.get_vocab(with_added_tokens=False)
    missing = [token for token in tokenizer.all_special_tokens if token not in published]
    if missing:
        raise ValueError(f"{source} has no token {missing} that HAND_SET_SPECIAL_TOKENS[{model_id!r}] names: "
                         "check that the folder holds that model's tokenizer.json.")
    return tokenizer
