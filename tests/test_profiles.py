import pytest
import torch

from course_utils import profiles
from course_utils.environment import GpuInfo


@pytest.mark.parametrize(
    "gpu, expected",
    [(None, "cpu"), (GpuInfo("Tesla T4", (7, 5), 15.0), "t4"), (GpuInfo("NVIDIA A100", (8, 0), 40.0), "a100"),
     (GpuInfo("NVIDIA H100", (9, 0), 80.0), "a100")],
)
def test_profile_is_detected_from_compute_capability(monkeypatch, gpu, expected):
    monkeypatch.setattr(profiles, "gpu_info", lambda: gpu)
    monkeypatch.delenv(profiles.PROFILE_ENV, raising=False)
    assert profiles.get_profile().name == expected


def test_t4_computes_in_fp16_and_a100_in_bf16():
    assert profiles.PROFILES["t4"].compute_dtype == torch.float16
    assert profiles.PROFILES["a100"].compute_dtype == torch.bfloat16
    assert profiles.PROFILES["cpu"].compute_dtype == torch.float32


def test_environment_variable_overrides_detection(monkeypatch):
    monkeypatch.setattr(profiles, "gpu_info", lambda: GpuInfo("NVIDIA A100", (8, 0), 40.0))
    monkeypatch.setenv(profiles.PROFILE_ENV, "t4")
    assert profiles.get_profile().name == "t4"


def test_unknown_profile_names_the_valid_ones(monkeypatch):
    with pytest.raises(ValueError, match="cpu, t4, a100"):
        profiles.get_profile("tpu")


def test_gpu_profile_without_a_gpu_says_how_to_fix(monkeypatch):
    monkeypatch.setattr(profiles, "gpu_info", lambda: None)
    with pytest.raises(RuntimeError, match="COURSE_PROFILE=cpu"):
        profiles.get_profile("a100")


def test_cpu_profile_uses_only_the_offline_model():
    cpu = profiles.PROFILES["cpu"]
    assert cpu.offline and not cpu.load_in_4bit
    for field in ("chat_model", "sft_model", "persona_model", "judge_model", "generation_model", "exaone_model"):
        assert getattr(cpu, field) == profiles.OFFLINE_MODEL_ID


def test_t4_preset_keeps_the_seed_effective_batch_and_a_valid_optimizer():
    t4 = profiles.PROFILES["t4"].sft
    assert t4.effective_batch_size == 16  # the seed trained 2 x 8
    assert t4.gradient_checkpointing and t4.optim == "adamw_8bit"
