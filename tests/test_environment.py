import torch

from course_utils import environment


def test_compute_dtype_follows_compute_capability_not_emulation():
    assert environment.pick_compute_dtype((7, 5)) == torch.float16  # T4: no native bf16
    assert environment.pick_compute_dtype((8, 0)) == torch.bfloat16  # A100
    assert environment.pick_compute_dtype((9, 0)) == torch.bfloat16  # H100
    assert environment.pick_compute_dtype(None) == torch.float32  # CPU


def test_colab_is_detected_from_its_variables(monkeypatch):
    for key in [k for k in environment.os.environ if k.startswith("COLAB_")]:
        monkeypatch.delenv(key)
    assert not environment.in_colab()
    monkeypatch.setenv("COLAB_RELEASE_TAG", "release-colab_20261101")
    assert environment.in_colab()


def test_hub_token_comes_from_the_environment(monkeypatch):
    monkeypatch.delenv("HF_TOKEN", raising=False)
    assert environment.hub_token() is None
    monkeypatch.setenv("HF_TOKEN", "secret-value")
    assert environment.hub_token() == "secret-value"


def test_output_dir_can_be_moved(monkeypatch, tmp_path):
    monkeypatch.setenv("COURSE_OUTPUT", str(tmp_path))
    assert environment.output_dir() == tmp_path


def test_large_outputs_stay_on_this_machine_when_outputs_move_to_drive(monkeypatch, tmp_path):
    """Lesson 08 on a T4 with Drive: a 16 GB merged model and an 8.5 GB GGUF must not go to Drive's free 15 GB."""
    monkeypatch.setenv("COURSE_OUTPUT", str(tmp_path / "drive"))
    assert environment.output_dir() == tmp_path / "drive"
    assert environment.local_output_dir() == environment.REPO_ROOT / "outputs"
    monkeypatch.delenv("COURSE_OUTPUT")
    assert environment.local_output_dir() == environment.output_dir()  # locally both are outputs/
