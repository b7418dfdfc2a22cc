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
