"""Shared fixtures: the real offline model, loaded once per test session."""
import os

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")


@pytest.fixture(scope="session")
def cpu_profile():
    from course_utils.profiles import get_profile

    return get_profile("cpu")


@pytest.fixture(scope="session")
def offline_tokenizer(cpu_profile):
    from course_utils.models import load_tokenizer

    return load_tokenizer(cpu_profile.chat_model, cpu_profile)


@pytest.fixture(scope="session")
def offline_model(cpu_profile):
    from course_utils.models import load_causal_lm

    return load_causal_lm(cpu_profile.chat_model, cpu_profile)


@pytest.fixture(scope="session")
def llama3_tokenizer():
    """The real Llama 3 Instruct tokenizer (from PyPI llama-models' tiktoken file), with a reserved token as pad."""
    import copy

    from course_utils.llama3_tokenizer import load_llama3_tokenizer

    tokenizer = copy.deepcopy(load_llama3_tokenizer())
    tokenizer.pad_token = "<|reserved_special_token_250|>"
    return tokenizer


@pytest.fixture(scope="session")
def tiny_llama3(llama3_tokenizer):
    """A one-layer random Llama with Llama 3's vocabulary and ids, small enough to build in a second."""
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(0)
    config = LlamaConfig(
        vocab_size=len(llama3_tokenizer), hidden_size=16, intermediate_size=32, num_hidden_layers=1,
        num_attention_heads=2, num_key_value_heads=1, bos_token_id=128000, eos_token_id=128001,
    )
    return LlamaForCausalLM(config).eval()
