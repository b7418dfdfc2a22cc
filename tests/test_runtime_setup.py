import sys
import types

import pytest

from course_utils import environment, runtime_setup


@pytest.fixture
def colab(monkeypatch, tmp_path):
    """Colab's variable set and a stamp beside a throwaway prefix, so nothing real is installed or stamped."""
    monkeypatch.setenv("COLAB_RELEASE_TAG", "release-colab-test")
    monkeypatch.setattr(runtime_setup, "stamp_path", lambda: tmp_path / ".llm-course-installed")
    return tmp_path


def test_notebook_requirements_leave_out_torch_and_the_test_tools(tmp_path):
    requirements = tmp_path / "requirements.txt"
    requirements.write_text("# pins\ntransformers==5.23.0\ntorch==2.13.0\npytest\nnbmake==1.5.5\npandas  # data\n")
    assert runtime_setup.notebook_requirements("cpu", requirements) == ["transformers==5.23.0", "pandas"]


def test_the_real_requirements_never_touch_colabs_torch():
    lines = runtime_setup.notebook_requirements("t4")
    assert lines and not any(line.startswith("torch") for line in lines)


def test_a_failed_pip_leaves_no_stamp_and_the_next_run_installs_again(colab, monkeypatch):
    calls = []

    def failing_pip(args, constraints):
        calls.append(args)
        raise RuntimeError("pip could not finish the install")

    monkeypatch.setattr(runtime_setup, "pip_install", failing_pip)
    with pytest.raises(RuntimeError, match="could not finish"):
        runtime_setup.install_for_runtime("cpu")
    assert not runtime_setup.stamp_path().exists()

    monkeypatch.setattr(runtime_setup, "pip_install", lambda args, constraints: calls.append(args))
    assert runtime_setup.install_for_runtime("cpu") is True
    assert calls[-1] == ["--no-deps", runtime_setup.OFFLINE_MODEL_REQUIREMENT]  # the offline model on a CPU runtime
    assert runtime_setup.install_for_runtime("cpu") is False  # stamped: nothing runs twice
    assert runtime_setup.install_for_runtime("t4") is True  # another profile needs another set


def test_pip_failure_is_one_sentence_that_says_to_rerun(monkeypatch, capsys):
    with pytest.raises(RuntimeError, match="run this cell again"):
        runtime_setup.pip_install(["--no-index", "a-package-that-does-not-exist-here==0.0.1"], [])


def test_a_module_upgraded_after_import_asks_for_a_restart(monkeypatch):
    fake = types.ModuleType("pyarrow")
    fake.__version__ = "18.1.0"
    monkeypatch.setitem(sys.modules, "pyarrow", fake)
    monkeypatch.setattr(runtime_setup.importlib.metadata, "version", lambda name: "24.0.0")
    stale = runtime_setup.stale_imports({"pyarrow": "pyarrow"})
    assert stale == ["pyarrow 18.1.0 -> 24.0.0"]
    assert "restart the runtime" in runtime_setup.restart_message(stale)


@pytest.mark.parametrize(
    "loaded, installed, stale",
    [
        ("2.13.0+cu130", "2.13.0", False),  # PyPI's torch for Python 3.12/3.13: a local label the metadata lacks
        ("2.13.0+cpu", "2.13.0+cpu", False),
        ("2.13.0", "2.13.0+cpu", False),
        ("2.13.0+cu128", "2.13.0+cpu", True),  # two different builds: pip treats these as different too
        ("2.11.0+cu130", "2.13.0", True),
    ],
)
def test_versions_are_compared_as_pip_compares_them(monkeypatch, loaded, installed, stale):
    fake = types.ModuleType("torch")
    fake.__version__ = loaded
    monkeypatch.setitem(sys.modules, "torch", fake)
    monkeypatch.setattr(runtime_setup.importlib.metadata, "version", lambda name: installed)
    assert bool(runtime_setup.stale_imports({"torch": "torch"})) is stale


def test_modules_at_their_installed_version_are_not_stale():
    import torch

    assert runtime_setup.stale_imports({"torch": "torch"}) == []
    assert torch.__version__  # imported, so the check above compared something
    assert list(runtime_setup.imported_versions({"torch": "torch"})) == ["torch"]  # and torch was among what it read


def test_resolver_conflicts_name_the_packages_pip_complained_about():
    output = (
        "ERROR: pip's dependency resolver does not currently take into account all the packages that are installed. "
        "This behaviour is the source of the following dependency conflicts.\n"
        "gradio 5.38.0 requires huggingface-hub<1.0,>=0.28.1, but you have huggingface-hub 1.27.0 which is incompatible.\n"
        "diffusers 0.34.0 requires huggingface-hub<2, but you have huggingface-hub 2.0 which is incompatible.\n"
    )
    assert runtime_setup.resolver_conflicts(output) == ["diffusers", "gradio"]
    assert runtime_setup.resolver_conflicts("Successfully installed x") == []


def test_drive_is_skipped_without_google_colab(monkeypatch, capsys):
    monkeypatch.delenv(environment.OUTPUT_ENV, raising=False)
    monkeypatch.setitem(sys.modules, "google.colab", None)  # import fails as on a machine without it
    assert runtime_setup.mount_drive() is None
    assert environment.OUTPUT_ENV not in runtime_setup.os.environ
    assert "Drive is skipped" in capsys.readouterr().out  # the one sentence that says so


def fake_google_colab(monkeypatch, mount):
    google = types.ModuleType("google")
    colab = types.ModuleType("google.colab")
    colab.drive = types.SimpleNamespace(mount=mount)
    google.colab = colab
    monkeypatch.setitem(sys.modules, "google", google)
    monkeypatch.setitem(sys.modules, "google.colab", colab)


def test_refused_drive_says_what_will_be_lost_and_goes_on(monkeypatch, capsys):
    monkeypatch.delenv(environment.OUTPUT_ENV, raising=False)

    def refuse(path):
        raise ValueError("mount failed")

    fake_google_colab(monkeypatch, refuse)
    assert runtime_setup.mount_drive() is None
    assert "vanish when the runtime disconnects" in capsys.readouterr().out
    assert environment.OUTPUT_ENV not in runtime_setup.os.environ


def test_mounted_drive_becomes_the_output_folder(monkeypatch, tmp_path):
    monkeypatch.delenv(environment.OUTPUT_ENV, raising=False)
    monkeypatch.setattr(runtime_setup, "DRIVE_OUTPUT", tmp_path / "MyDrive" / "llm-course" / "outputs")
    fake_google_colab(monkeypatch, lambda path: None)
    assert runtime_setup.mount_drive() == tmp_path / "MyDrive" / "llm-course" / "outputs"
    assert environment.output_dir() == tmp_path / "MyDrive" / "llm-course" / "outputs"


def test_setup_on_a_colab_cpu_runtime_points_to_the_gpu_runtime(colab, monkeypatch, capsys):
    monkeypatch.delenv("COURSE_PROFILE", raising=False)
    monkeypatch.setattr(runtime_setup, "detect_profile_name", lambda: "cpu")
    monkeypatch.setattr(runtime_setup, "install_for_runtime", lambda name: False)
    profile = runtime_setup.setup(profile_name="cpu")
    out = capsys.readouterr().out
    assert profile.name == "cpu"
    assert "Runtime > Change runtime type > T4 GPU" in out
    assert "Profile      : cpu" in out  # doctor() still prints what it found


def test_setup_asks_for_a_restart_when_an_imported_module_was_replaced(colab, monkeypatch):
    monkeypatch.setattr(runtime_setup, "install_for_runtime", lambda name: True)
    monkeypatch.setattr(runtime_setup, "stale_imports", lambda: ["pyarrow 18.1.0 -> 24.0.0"])
    with pytest.raises(RuntimeError, match=r"Runtime > Restart session"):
        runtime_setup.setup(profile_name="cpu")


def test_setup_outside_colab_installs_nothing(monkeypatch):
    for key in [k for k in runtime_setup.os.environ if k.startswith("COLAB_")]:
        monkeypatch.delenv(key)
    monkeypatch.setattr(runtime_setup, "install_for_runtime", lambda name: pytest.fail("must not install locally"))
    assert runtime_setup.setup(profile_name="cpu").name == "cpu"


def test_a_mistyped_profile_is_refused_before_minutes_of_installing(colab, monkeypatch):
    monkeypatch.setattr(runtime_setup, "install_for_runtime", lambda name: pytest.fail("installed for a typo"))
    with pytest.raises(ValueError, match="Unknown profile 'gpu': choose one of"):
        runtime_setup.setup(profile_name="gpu")
