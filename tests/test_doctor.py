import importlib

doctor_module = importlib.import_module("course_utils.doctor")  # the package exports the function under the same name


def test_pins_are_read_from_requirement_files(tmp_path):
    req = tmp_path / "req.txt"
    req.write_text("# comment\ntransformers==5.23.0\npeft == 0.21.2  # why\nmatplotlib\n")
    assert doctor_module.read_pins(req, tmp_path / "missing.txt") == {"transformers": "5.23.0", "peft": "0.21.2"}


def test_a_mismatch_gives_the_exact_pin_to_install():
    warnings = doctor_module.version_mismatches({"transformers": "0.0.1"}, packages=("transformers",))
    assert warnings and "pip install 'transformers==0.0.1'" in warnings[0]
    installed = doctor_module.installed_version("transformers")
    assert doctor_module.version_mismatches({"transformers": installed}, packages=("transformers",)) == []


def test_installed_versions_match_the_repository_pins():
    pins = doctor_module.read_pins(doctor_module.REPO_ROOT / "requirements.txt", doctor_module.REPO_ROOT / "requirements-cpu.txt")
    assert doctor_module.version_mismatches(pins) == []


def test_doctor_reports_a_token_without_printing_it(monkeypatch, capsys):
    secret = "not-a-real-token-value-123"
    monkeypatch.setenv("HF_TOKEN", secret)
    profile = doctor_module.doctor("cpu")
    out = capsys.readouterr().out
    assert profile.name == "cpu"
    assert "Hub token    : present" in out and secret not in out
    assert "bitsandbytes : imports" in out


def test_cpu_bf16_support_is_read_from_the_cpu_flags():
    from course_utils.environment import cpu_has_fast_bf16

    assert cpu_has_fast_bf16("flags\t\t: fpu sse avx2 avx512f avx512_bf16\n") is True
    assert cpu_has_fast_bf16("flags\t\t: fpu sse avx2 fma\n") is False  # an AVX2-only laptop or cloud VM


def test_doctor_warns_that_cpu_bf16_is_slow_where_it_is_emulated(monkeypatch, capsys):
    monkeypatch.setattr(doctor_module, "cpu_has_fast_bf16", lambda: False)
    doctor_module.doctor("cpu")
    assert "CPU bf16     : emulated, about 78x slower" in capsys.readouterr().out
