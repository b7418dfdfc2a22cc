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
