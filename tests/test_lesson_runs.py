import json
import shutil

import pytest

from course_utils import environment
from course_utils.lesson_runs import (
    alpaca_owner, alpaca_run_dir, alpaca_train_dir, find_alpaca_adapter, finished_alpaca_adapter, finished_persona_adapter,
    persona_owner, persona_run_dir, short_sft_preset,
)
from course_utils.profiles import PROFILES
from course_utils.run_owner import claim_run_dir, recorded_owner
from course_utils.training import last_checkpoint, mark_finished, prepare_output_dir

CPU, T4 = PROFILES["cpu"], PROFILES["t4"]  # a GPU profile's functions run here as they would on a T4: no GPU is asked for


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
    claim_run_dir(alpaca_run_dir(), alpaca_owner(T4))
    write_checkpoint(alpaca_run_dir(), 100)
    assert finished_alpaca_adapter(T4)[0] is None  # checkpoints alone are not a finished run
    mark_finished(alpaca_run_dir(), {"profile": "t4", "base_model": T4.sft_model, "steps": 100})
    disconnect()
    adapter, fallback = finished_alpaca_adapter(T4)
    assert adapter == drive / "05_alpaca_sft"
    assert fallback == drive / "06_fallback_sft"


def test_lesson_06_reuses_its_own_finished_fallback_after_a_disconnect(colab_vm, monkeypatch):
    tmp_path, _, disconnect = colab_vm
    monkeypatch.setenv(environment.OUTPUT_ENV, str(tmp_path / "drive"))
    adapter, fallback = finished_alpaca_adapter(T4)
    assert adapter is None
    claim_run_dir(fallback, alpaca_owner(T4))
    mark_finished(fallback, {"profile": "t4", "base_model": T4.sft_model, "steps": 10})
    disconnect()
    assert finished_alpaca_adapter(T4)[0] == fallback


def test_short_preset_keeps_the_profile_recipe_with_fewer_steps():
    for name, steps in (("cpu", 4), ("t4", 10), ("a100", 10)):
        profile = PROFILES[name]
        short = short_sft_preset(profile)
        assert short.max_steps == steps < profile.sft.max_steps
        assert short.save_steps == short.eval_steps == steps
        assert (short.per_device_train_batch_size, short.max_length, short.optim, short.learning_rate) == (
            profile.sft.per_device_train_batch_size, profile.sft.max_length, profile.sft.optim, profile.sft.learning_rate)


@pytest.fixture
def drive_with_a_cpu_run(colab_vm, monkeypatch):
    """Drive after lesson 05 ran on a CPU runtime (Colab had no free T4): a finished SmolLM2 run in 05_alpaca_sft."""
    tmp_path, _, disconnect = colab_vm
    drive = tmp_path / "drive" / "MyDrive" / "llm-course" / "outputs"
    monkeypatch.setenv(environment.OUTPUT_ENV, str(drive))
    cpu_run = claim_run_dir(alpaca_run_dir(), alpaca_owner(CPU))
    write_checkpoint(cpu_run, 5)
    mark_finished(cpu_run, {"profile": "cpu", "base_model": CPU.sft_model, "steps": 10})
    disconnect()  # the T4 lessons run on new VMs
    return drive, cpu_run


def test_lesson_05_on_a_t4_trains_beside_a_cpu_run_instead_of_refusing_or_resuming_it(drive_with_a_cpu_run):
    drive, cpu_run = drive_with_a_cpu_run
    run_dir, note = alpaca_train_dir(T4)  # as lesson 05's section 7 does, then prepare, claim, resume
    assert run_dir == drive / "05_alpaca_sft-t4-Meta-Llama-3-8B"
    assert "cpu run on HuggingFaceTB/SmolLM2-135M-Instruct" in note and str(run_dir) in note
    run_dir = claim_run_dir(prepare_output_dir(run_dir, overwrite=False), alpaca_owner(T4))  # OVERWRITE is False on t4
    assert last_checkpoint(run_dir) is None  # the cpu run's checkpoint-5 is not resumed
    assert recorded_owner(cpu_run).profile == "cpu" and last_checkpoint(cpu_run).name == "checkpoint-5"  # left as it was


def test_lesson_06_on_a_t4_never_loads_a_cpu_adapter(drive_with_a_cpu_run):
    drive, cpu_run = drive_with_a_cpu_run
    found = find_alpaca_adapter(T4)
    assert found.adapter is None and found.train_into == drive / "06_fallback_sft"
    assert len(found.notes) == 1 and str(cpu_run) in found.notes[0] and "cpu" in found.notes[0]
    assert finished_alpaca_adapter(T4) == (None, drive / "06_fallback_sft")
    assert find_alpaca_adapter(CPU).adapter == cpu_run  # the cpu profile still finds its own run


def test_lesson_06_on_a_t4_finds_the_t4_run_that_lesson_05_put_beside_the_cpu_run(drive_with_a_cpu_run):
    drive, _ = drive_with_a_cpu_run
    run_dir = claim_run_dir(alpaca_train_dir(T4)[0], alpaca_owner(T4))
    mark_finished(run_dir, {"profile": "t4", "base_model": T4.sft_model, "steps": 100})
    found = find_alpaca_adapter(T4)
    assert found.adapter == run_dir and found.notes  # the cpu run is still named, and not used


def test_lesson_06_does_not_reuse_another_profiles_fallback(drive_with_a_cpu_run):
    drive, _ = drive_with_a_cpu_run
    cpu_fallback = claim_run_dir(drive / "06_fallback_sft", alpaca_owner(CPU))
    mark_finished(cpu_fallback, {"profile": "cpu", "base_model": CPU.sft_model, "steps": 4})
    found = find_alpaca_adapter(T4)
    assert found.adapter is None and found.train_into == drive / "06_fallback_sft-t4-Meta-Llama-3-8B"
    prepare_output_dir(found.train_into)  # lesson 06's fallback training does not stop at the cpu fallback
    assert len(found.notes) == 2


def test_lesson_08s_adapter_is_found_only_for_its_own_profile_and_model(colab_vm, monkeypatch):
    tmp_path, _, _ = colab_vm
    monkeypatch.setenv(environment.OUTPUT_ENV, str(tmp_path / "drive"))
    run_dir, note = persona_run_dir(T4)
    assert run_dir.name == "08_ironman_t4" and note is None
    assert finished_persona_adapter(T4) is None
    claim_run_dir(run_dir, persona_owner(T4))
    (run_dir / "adapter").mkdir()
    (run_dir / "adapter" / "adapter_config.json").write_text("{}")
    assert finished_persona_adapter(T4) is None  # saved but not marked finished
    mark_finished(run_dir, {"profile": "t4", "base_model": T4.persona_model})
    assert finished_persona_adapter(T4) == run_dir / "adapter"
    assert finished_persona_adapter(PROFILES["a100"]) is None  # another profile's folder name, another run
