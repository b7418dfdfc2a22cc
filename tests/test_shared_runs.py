import json

import pytest

from course_utils import environment
from course_utils.lesson_runs import finished_alpaca_adapter
from course_utils.profiles import PROFILES
from course_utils.shared_runs import install_shared_run
from course_utils.training import mark_finished


def instructor_run(folder, base="NousResearch/Meta-Llama-3-8B", finished=True, subfolder=""):
    adapter = folder / subfolder if subfolder else folder
    adapter.mkdir(parents=True)
    (adapter / "adapter_config.json").write_text(json.dumps({"base_model_name_or_path": base}))
    (adapter / "adapter_model.safetensors").write_bytes(b"weights")
    if finished:
        mark_finished(folder, {"profile": "t4", "steps": 60})
    return folder


@pytest.fixture
def learner_output(tmp_path, monkeypatch):
    monkeypatch.setenv(environment.OUTPUT_ENV, str(tmp_path / "learner"))
    return tmp_path / "learner"


def test_lesson_06_finds_the_instructors_adapter_after_one_call(tmp_path, learner_output):
    t4 = PROFILES["t4"]
    source = instructor_run(tmp_path / "mirror" / "runs" / "05_alpaca_sft", base=t4.sft_model)
    assert finished_alpaca_adapter(t4)[0] is None
    target = install_shared_run(source, "05_alpaca_sft", t4.sft_model, profile_name="t4")
    assert target == learner_output / "05_alpaca_sft"
    assert finished_alpaca_adapter(t4)[0] == target  # lesson 06's own lookup (run ownership checked) now finds it
    assert finished_alpaca_adapter(PROFILES["cpu"])[0] is None  # and a cpu runtime still does not load it
    assert (target / "adapter_model.safetensors").read_bytes() == b"weights"


def test_lesson_08s_adapter_folder_is_accepted(tmp_path, learner_output):
    source = instructor_run(tmp_path / "drive" / "08_ironman_t4", base="beomi/Llama-3-Open-Ko-8B-Instruct-preview",
                            finished=False, subfolder="adapter")
    target = install_shared_run(source, "08_ironman_t4", "beomi/Llama-3-Open-Ko-8B-Instruct-preview")
    assert (target / "adapter" / "adapter_config.json").is_file()


def test_another_base_model_an_unfinished_run_or_a_wrong_folder_is_refused(tmp_path, learner_output):
    other = instructor_run(tmp_path / "other", base="HuggingFaceTB/SmolLM2-135M-Instruct")
    with pytest.raises(ValueError, match="trained on 'HuggingFaceTB/SmolLM2-135M-Instruct'"):
        install_shared_run(other, "05_alpaca_sft", "NousResearch/Meta-Llama-3-8B")
    unfinished = instructor_run(tmp_path / "unfinished", finished=False)
    with pytest.raises(ValueError, match="not a finished run"):
        install_shared_run(unfinished, "05_alpaca_sft", "NousResearch/Meta-Llama-3-8B")
    with pytest.raises(FileNotFoundError, match="no adapter_config.json"):
        install_shared_run(tmp_path / "nowhere", "05_alpaca_sft", "NousResearch/Meta-Llama-3-8B")
    assert not (learner_output / "05_alpaca_sft").exists()


def test_a_learners_own_finished_run_is_not_overwritten(tmp_path, learner_output):
    base = PROFILES["t4"].sft_model
    source = instructor_run(tmp_path / "shared" / "05_alpaca_sft", base=base)
    own = learner_output / "05_alpaca_sft"
    own.mkdir(parents=True)
    mark_finished(own, {"profile": "t4", "base_model": base, "steps": 60})
    with pytest.raises(FileExistsError, match="overwrite=True"):
        install_shared_run(source, "05_alpaca_sft", base, profile_name="t4")
    assert install_shared_run(source, "05_alpaca_sft", base, profile_name="t4", overwrite=True) == own


def test_a_run_of_another_profile_is_left_alone_and_the_copy_goes_beside_it(tmp_path, learner_output):
    base = PROFILES["t4"].sft_model
    source = instructor_run(tmp_path / "shared" / "05_alpaca_sft", base=base)
    cpu_run = learner_output / "05_alpaca_sft"
    cpu_run.mkdir(parents=True)
    mark_finished(cpu_run, {"profile": "cpu", "base_model": PROFILES["cpu"].sft_model, "steps": 60})
    target = install_shared_run(source, "05_alpaca_sft", base, profile_name="t4")
    assert target != cpu_run and target.parent == cpu_run.parent
    assert json.loads((cpu_run / "run_complete.json").read_text())["profile"] == "cpu"  # untouched
    assert finished_alpaca_adapter(PROFILES["t4"])[0] == target
