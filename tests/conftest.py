"""Shared fixtures: the real offline model, loaded once per test session."""
import os

import pytest
import torch

os.environ.setdefault("HF_HUB_OFFLINE", "1")


@pytest.fixture(autouse=True)
def no_bf16_autocast_without_a_gpu(monkeypatch):
    """Any SFTConfig a test builds on a machine without CUDA must train in fp32.

    TRL defaults to bf16=True; on a CPU without native bf16 that is ~78x slower per matmul (the persona test once took
    14 minutes so). Tests that want CPU bf16 on purpose say so with SFTConfig(bf16=True, ...) and the marker below.
    """
    from trl import SFTConfig

    original = SFTConfig.__post_init__

    def checked_post_init(self):
        original(self)
        if self.bf16 and not torch.cuda.is_available() and os.environ.get("COURSE_ALLOW_CPU_BF16") != "1":
            raise AssertionError(
                "This SFTConfig would autocast CPU training to bf16: build it with course_utils.sft_recipe.sft_config."
            )

    monkeypatch.setattr(SFTConfig, "__post_init__", checked_post_init)


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

    from course_tools.llama3_tokenizer import load_llama3_tokenizer

    tokenizer = copy.deepcopy(load_llama3_tokenizer())
    tokenizer.pad_token = "<|reserved_special_token_250|>"
    return tokenizer


def build_tiny_llama(vocab_size: int, hidden: int = 16, layers: int = 1, heads: int = 2, kv_heads: int = 1, **extra):
    """A random Llama small enough to build in a second, seeded so every test sees the same weights."""
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(0)
    config = LlamaConfig(
        vocab_size=vocab_size, hidden_size=hidden, intermediate_size=2 * hidden, num_hidden_layers=layers,
        num_attention_heads=heads, num_key_value_heads=kv_heads, **extra,
    )
    return LlamaForCausalLM(config).eval()


@pytest.fixture(scope="session")
def tiny_llama_builder():
    """`build_tiny_llama`, for test modules that need a tiny Llama of their own vocabulary."""
    return build_tiny_llama


@pytest.fixture(scope="session")
def tiny_llama(offline_tokenizer):
    """A two-layer random Llama with the offline tokenizer's vocabulary: real ids, no trained weights."""
    return build_tiny_llama(len(offline_tokenizer), hidden=32, layers=2, heads=4, kv_heads=2, max_position_embeddings=256)


@pytest.fixture(scope="session")
def tiny_llama3(llama3_tokenizer):
    """A one-layer random Llama with Llama 3's vocabulary and ids."""
    return build_tiny_llama(len(llama3_tokenizer), bos_token_id=128000, eos_token_id=128001)
