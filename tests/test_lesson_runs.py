import json
import shutil

import pytest

from course_utils import environment
from course_utils.lesson_runs import (
    alpaca_run_dir, finished_alpaca_adapter, short_sft_preset,
)
from course_utils.profiles import PROFILES
from course_utils.training import last_checkpoint, mark_finished


def write_checkpoint(run_dir, step):
    """What the Trainer leaves in a complete checkpoint, as far as the lookups read it."""
    checkpoint = run_dir / f"checkpoint-{step}"
    checkpoint.mkdir(parents=True)
    (checkpoint / "trainer_state.json").write_text(json.dumps({"global_step": step}))
    (checkpoint / "adapter_model.safetensors").write_bytes(b"weights")
    return checkpoint


@pytest.fixture
def colab_vm(tmp_path, monkeypatch):
    """A VM whose clone lives under tmp/content/course; `disconnect()` wipes and recreates its outputs, as Colab does."""
    monkeypatch.setattr(environment, "REPO_ROOT", tmp_path / "content" / "course")
    monkeypatch.delenv(environment.OUTPUT_ENV, raising=False)
    local = tmp_path / "content" / "course" / "outputs"
    local.mkdir(parents=True)

    def disconnect():
        shutil.rmtree(local)
        local.mkdir()

    return tmp_path, local, disconnect


def test_without_drive_a_disconnect_loses_lesson_05s_checkpoint(colab_vm):
    _, local, disconnect = colab_vm
    assert alpaca_run_dir() == local / "05_alpaca_sft"
    write_checkpoint(alpaca_run_dir(), 50)
    assert last_checkpoint(alpaca_run_dir()).name == "checkpoint-50"  # found before the disconnect
    disconnect()
    assert last_checkpoint(alpaca_run_dir()) is None  # looked up as lesson 05 does


def test_lesson_05_resumes_from_drive_after_a_disconnect(colab_vm, monkeypatch):
    tmp_path, local, disconnect = colab_vm
    drive = tmp_path / "drive" / "MyDrive" / "llm-course" / "outputs"
    monkeypatch.setenv(environment.OUTPUT_ENV, str(drive))
    write_checkpoint(alpaca_run_dir(), 50)
    write_checkpoint(alpaca_run_dir(), 100).joinpath("trainer_state.json").unlink()  # cut off mid-save
    disconnect()
    assert last_checkpoint(alpaca_run_dir()) == drive / "05_alpaca_sft" / "checkpoint-50"  # looked up as lesson 05 does


def test_lesson_06_on_a_new_vm_finds_lesson_05s_adapter_on_drive(colab_vm, monkeypatch):
    tmp_path, local, disconnect = colab_vm
    drive = tmp_path / "drive" / "outputs"
    monkeypatch.setenv(environment.OUTPUT_ENV, str(drive))
    write_checkpoint(alpaca_run_dir(), 100)
    assert finished_alpaca_adapter()[0] is None  # checkpoints alone are not a finished run
    mark_finished(alpaca_run_dir(), {"profile": "t4", "steps": 100})
    disconnect()
    adapter, fallback = finished_alpaca_adapter()
    assert adapter == drive / "05_alpaca_sft"
    assert fallback == drive / "06_fallback_sft"


def test_lesson_06_reuses_its_own_finished_fallback_after_a_disconnect(colab_vm, monkeypatch):
    tmp_path, _, disconnect = colab_vm
    monkeypatch.setenv(environment.OUTPUT_ENV, str(tmp_path / "drive"))
    adapter, fallback = finished_alpaca_adapter()
    assert adapter is None
    fallback.mkdir(parents=True)
    mark_finished(fallback, {"steps": 10})
    disconnect()
    assert finished_alpaca_adapter()[0] == fallback


def test_short_preset_keeps_the_profile_recipe_with_fewer_steps():
    for name, steps in (("cpu", 4), ("t4", 10), ("a100", 10)):
        profile = PROFILES[name]
        short = short_sft_preset(profile)
        assert short.max_steps == steps < profile.sft.max_steps
        assert short.save_steps == short.eval_steps == steps
        assert (short.per_device_train_batch_size, short.max_length, short.optim, short.learning_rate) == (
            profile.sft.per_device_train_batch_size, profile.sft.max_length, profile.sft.optim, profile.sft.learning_rate)
