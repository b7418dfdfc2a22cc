"""Loading a profile's model and tokenizer the same way in every lesson that is not about loading."""
from __future__ import annotations

import torch
from transformers import AutoConfig, AutoModelForCausalLM, AutoTokenizer, BitsAndBytesConfig, PreTrainedModel, PreTrainedTokenizerBase

from .offline_model import resolve_model
from .profiles import Profile


def nf4_config(profile: Profile) -> BitsAndBytesConfig | None:
    """The course's QLoRA quantization (nf4 + double quant, profile compute dtype), or None where it is off."""
    if not profile.load_in_4bit:
        return None
    return BitsAndBytesConfig(
        load_in_4bit=True,
        bnb_4bit_quant_type="nf4",
        bnb_4bit_use_double_quant=True,
        bnb_4bit_compute_dtype=profile.compute_dtype,
    )


def load_tokenizer(model_id: str, profile: Profile) -> PreTrainedTokenizerBase:
    """The tokenizer with a pad token that is not EOS when the model has a spare special token for it."""
    tokenizer = AutoTokenizer.from_pretrained(resolve_model(model_id, profile))
    if profile.pad_token in tokenizer.get_vocab():
        tokenizer.pad_token = profile.pad_token
    elif tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    return tokenizer


def load_causal_lm(model_id: str, profile: Profile, quantize: bool | None = None) -> PreTrainedModel:
    """A causal LM on the profile's device and dtype, in 4-bit where the profile says so (or `quantize` forces)."""
    quantize = profile.load_in_4bit if quantize is None else quantize
    kwargs: dict = {"dtype": profile.compute_dtype}
    if quantize:
        kwargs["quantization_config"] = nf4_config(profile)
    if profile.device == "cuda":
        kwargs["device_map"] = {"": 0}
    model = AutoModelForCausalLM.from_pretrained(resolve_model(model_id, profile), **kwargs)
    model.eval()
    return model


def model_skeleton(model_id: str, profile: Profile) -> PreTrainedModel:
    """The model's layers and shapes with no weights (meta device): reads config.json only, so an 8B model costs no RAM."""
    config = AutoConfig.from_pretrained(resolve_model(model_id, profile))
    with torch.device("meta"):
        return AutoModelForCausalLM.from_config(config, dtype=profile.compute_dtype)
