"""Runs know whose they are: a folder records its profile and base model, and a foreign run is named, never used."""
import json

from course_utils.run_owner import OWNER_FILE, RunOwner, claim_run_dir, holds_run, recorded_owner, run_dir_for
from course_utils.training import mark_finished

CPU = RunOwner("cpu", "HuggingFaceTB/SmolLM2-135M-Instruct")
T4 = RunOwner("t4", "NousResearch/Meta-Llama-3-8B")


def test_a_claimed_folder_records_profile_and_base_model(tmp_path):
    folder = claim_run_dir(tmp_path / "run", T4)
    assert json.loads((folder / OWNER_FILE).read_text()) == {"profile": "t4", "base_model": "NousResearch/Meta-Llama-3-8B"}
    assert recorded_owner(folder) == T4 and holds_run(folder)


def test_runs_finished_before_owner_files_are_read_from_their_marker(tmp_path):
    folder = tmp_path / "old"
    folder.mkdir()
    mark_finished(folder, {"profile": "cpu", "base_model": CPU.base_model, "steps": 10})
    assert recorded_owner(folder) == CPU
    half = tmp_path / "half"
    half.mkdir()
    mark_finished(half, {"profile": "t4", "steps": 10})  # the old fallback recorded no base model: unknown, not assumed
    assert recorded_owner(half) is None and holds_run(half)


def test_an_empty_or_own_folder_is_used_as_it_is(tmp_path):
    assert run_dir_for(tmp_path / "05_alpaca_sft", T4) == (tmp_path / "05_alpaca_sft", None)
    claim_run_dir(tmp_path / "05_alpaca_sft", T4)
    assert run_dir_for(tmp_path / "05_alpaca_sft", T4) == (tmp_path / "05_alpaca_sft", None)


def test_another_profiles_run_is_left_alone_and_named_in_one_sentence(tmp_path):
    canonical = claim_run_dir(tmp_path / "05_alpaca_sft", CPU)
    folder, note = run_dir_for(canonical, T4)
    assert folder == tmp_path / "05_alpaca_sft-t4-Meta-Llama-3-8B"
    assert "cpu" in note and CPU.base_model in note and "t4" in note and str(folder) in note
    assert note.count(". ") == 0 and note.endswith(".") and "\n" not in note
    assert recorded_owner(canonical) == CPU  # untouched


def test_the_same_profile_on_another_base_model_is_another_owner(tmp_path):
    canonical = claim_run_dir(tmp_path / "08_ironman_t4", RunOwner("t4", "someone/Other-8B"))
    folder, note = run_dir_for(canonical, RunOwner("t4", "beomi/Llama-3-Open-Ko-8B-Instruct-preview"))
    assert folder != canonical and "someone/Other-8B" in note


def test_a_run_that_does_not_say_whose_it_is_is_not_taken_for_ours(tmp_path):
    canonical = tmp_path / "05_alpaca_sft"
    (canonical / "checkpoint-5").mkdir(parents=True)
    (canonical / "checkpoint-5" / "trainer_state.json").write_text("{}")
    folder, note = run_dir_for(canonical, T4)
    assert folder != canonical and "does not record" in note
