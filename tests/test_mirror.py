"""COURSE_MIRROR resolution and its refusals, tiny stand-ins built on CPU, and rehearsal result merging."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from course_tools import mirror as mirror_cli
from course_utils import mirror
from course_utils.mirror import ALPACA_DATASET, MirrorError, dataset_source, resolve_id
from course_utils.offline_model import resolve_model
from course_utils.profiles import PROFILES

LLAMA_BASE = "NousResearch/Meta-Llama-3-8B"
LLAMA_CHAT = "beomi/Llama-3-Open-Ko-8B-Instruct-preview"


def _fake_model(root: Path, repo_id: str, weights: bool = True) -> Path:
    folder = root / repo_id
    folder.mkdir(parents=True)
    (folder / "config.json").write_text("{}")
    if weights:
        (folder / "model.safetensors").write_bytes(b"x")
    return folder


def test_without_mirror_ids_go_to_the_hub(monkeypatch):
    monkeypatch.delenv(mirror.MIRROR_ENV, raising=False)
    assert resolve_id(LLAMA_BASE) == LLAMA_BASE
    assert resolve_model(LLAMA_BASE, PROFILES["t4"]) == LLAMA_BASE
    assert dataset_source() == (ALPACA_DATASET, {})


def test_mirrored_id_resolves_to_its_folder_and_says_so(tmp_path, monkeypatch, capsys):
    folder = _fake_model(tmp_path, LLAMA_BASE)
    monkeypatch.setenv(mirror.MIRROR_ENV, str(tmp_path))
    assert resolve_model(LLAMA_BASE, PROFILES["a100"]) == str(folder)
    assert f"{LLAMA_BASE}: local copy {folder}" in capsys.readouterr().out


def test_missing_mirror_path_is_refused_in_one_sentence(tmp_path, monkeypatch):
    monkeypatch.setenv(mirror.MIRROR_ENV, str(tmp_path / "nowhere"))
    with pytest.raises(MirrorError, match=r"does not exist.*fix the path"):
        resolve_id(LLAMA_BASE)


def test_half_written_model_folder_is_refused(tmp_path, monkeypatch):
    _fake_model(tmp_path, LLAMA_BASE, weights=False)
    monkeypatch.setenv(mirror.MIRROR_ENV, str(tmp_path))
    with pytest.raises(MirrorError, match="config.json but no complete weights"):
        resolve_id(LLAMA_BASE)


def test_sharded_folder_missing_a_shard_is_refused(tmp_path, monkeypatch):
    folder = _fake_model(tmp_path, LLAMA_BASE, weights=False)
    index = {"weight_map": {"a": "model-00001-of-00002.safetensors", "b": "model-00002-of-00002.safetensors"}}
    (folder / "model.safetensors.index.json").write_text(json.dumps(index))
    (folder / "model-00001-of-00002.safetensors").write_bytes(b"x")
    monkeypatch.setenv(mirror.MIRROR_ENV, str(tmp_path))
    with pytest.raises(MirrorError, match="no complete weights"):
        resolve_id(LLAMA_BASE)


def test_id_missing_while_offline_is_refused_but_falls_back_online(tmp_path, monkeypatch):
    monkeypatch.setenv(mirror.MIRROR_ENV, str(tmp_path))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(MirrorError, match=r"not in the mirror .* Hub is off"):
        resolve_id(LLAMA_BASE)
    monkeypatch.setenv("HF_HUB_OFFLINE", "0")
    assert resolve_id(LLAMA_BASE) == LLAMA_BASE


def test_mirrored_dataset_loads_through_the_json_loader(tmp_path, monkeypatch):
    from course_utils.alpaca_data import load_alpaca

    folder = tmp_path / ALPACA_DATASET
    folder.mkdir(parents=True)
    rows = [{"instruction": f"Say {i}.", "input": "", "output": str(i)} for i in range(5)]
    (folder / "alpaca_data_cleaned.json").write_text(json.dumps(rows))
    monkeypatch.setenv(mirror.MIRROR_ENV, str(tmp_path))
    builder, kwargs = dataset_source()
    assert builder == "json" and kwargs["data_files"] == [str(folder / "alpaca_data_cleaned.json")]
    assert load_alpaca(PROFILES["t4"])["output"] == [str(i) for i in range(5)]


def test_standins_refuse_the_cpu_profile_and_unknown_ids(tmp_path):
    from course_tools.standins import write_standins

    with pytest.raises(MirrorError, match="GPU profiles"):
        write_standins(tmp_path, profile_name="cpu")
    with pytest.raises(MirrorError, match="No stand-in"):
        write_standins(tmp_path, only=["someone/else"])


@pytest.fixture(scope="module")
def tiny_mirror(tmp_path_factory) -> Path:
    from course_tools.standins import write_standins

    dest = tmp_path_factory.mktemp("mirror")
    write_standins(dest, layers=1, tiny=True, only=[LLAMA_BASE, LLAMA_CHAT, "LGAI-EXAONE/EXAONE-3.0-7.8B-Instruct",
                                                      "facebook/nllb-200-distilled-600M", "beomi/KcELECTRA-base-v2022",
                                                      ALPACA_DATASET])
    return dest


def test_tiny_llama_standins_load_from_the_mirror_and_run(tiny_mirror, monkeypatch):
    from course_utils.models import load_tokenizer

    monkeypatch.setenv(mirror.MIRROR_ENV, str(tiny_mirror))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    profile = PROFILES["t4"]
    tokenizer = load_tokenizer(LLAMA_CHAT, profile)
    assert tokenizer.pad_token == profile.pad_token and tokenizer.eos_token == "<|eot_id|>"
    text = tokenizer.apply_chat_template([{"role": "user", "content": "안녕"}], tokenize=False, add_generation_prompt=True)
    assert text.startswith("<|begin_of_text|><|start_header_id|>user<|end_header_id|>")
    config = json.loads((tiny_mirror / LLAMA_CHAT / "config.json").read_text())
    assert (config["vocab_size"], config["rope_theta"], config["eos_token_id"], config["num_hidden_layers"]) == (
        128256, 500000.0, 128009, 1)
    assert (tiny_mirror / LLAMA_CHAT / "model.safetensors").is_symlink()  # shares the base model's weights
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(resolve_model(LLAMA_CHAT, profile))
    ids = tokenizer("안녕하세요", return_tensors="pt").input_ids
    logits = model(ids).logits
    assert type(model).__name__ == "LlamaForCausalLM" and logits.shape[-1] == 128256 and torch.isfinite(logits).all()


def test_tiny_exaone_standin_has_exaone_layout_and_llamafies(tiny_mirror, tmp_path):
    from course_utils.llamafy import llamafy

    folder = tiny_mirror / "LGAI-EXAONE/EXAONE-3.0-7.8B-Instruct"
    config = json.loads((folder / "config.json").read_text())
    assert config["architectures"] == ["ExaoneForCausalLM"] and config["eos_token_id"] == 361
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(folder)
    assert tokenizer.convert_ids_to_tokens(361) == "[|endofturn|]" == tokenizer.eos_token
    out = tmp_path / "llamafied"
    llamafy(folder, out)
    model = AutoModelForCausalLM.from_pretrained(out)
    assert torch.isfinite(model(tokenizer("안녕", return_tensors="pt").input_ids).logits).all()


def test_tiny_nllb_standin_translates_with_language_codes(tiny_mirror):
    from transformers import AutoModelForSeq2SeqLM, AutoTokenizer

    folder = tiny_mirror / "facebook/nllb-200-distilled-600M"
    tokenizer = AutoTokenizer.from_pretrained(folder, src_lang="kor_Hang")
    ids = tokenizer("안녕하세요", return_tensors="pt")
    assert tokenizer.convert_ids_to_tokens(ids.input_ids[0, 0].item()) == "kor_Hang"
    model = AutoModelForSeq2SeqLM.from_pretrained(folder)
    out = model.generate(**ids, forced_bos_token_id=tokenizer.convert_tokens_to_ids("eng_Latn"), max_new_tokens=3)
    assert out[0, 1].item() == tokenizer.convert_tokens_to_ids("eng_Latn")


def test_untrained_electra_standin_gets_a_new_classification_head(tiny_mirror):
    from transformers import pipeline

    classify = pipeline("text-classification", model=str(tiny_mirror / "beomi/KcELECTRA-base-v2022"), device="cpu")
    assert type(classify.model).__name__ == "ElectraForSequenceClassification"
    assert classify("영화가 정말 재밌어요")[0]["label"] in ("LABEL_0", "LABEL_1")


def test_alpaca_standin_has_enough_trainable_rows(tiny_mirror, monkeypatch):
    from course_utils.alpaca_data import has_empty_input, load_alpaca

    monkeypatch.setenv(mirror.MIRROR_ENV, str(tiny_mirror))
    dataset = load_alpaca(PROFILES["a100"])
    assert dataset.column_names == ["instruction", "input", "output"]
    preset = PROFILES["a100"].sft
    assert sum(map(has_empty_input, dataset)) >= preset.max_steps * preset.effective_batch_size * 1.05


def test_real_llama3_tokenizer_matches_the_verified_ids(tiny_mirror):
    from course_tools.llama3_tokenizer import llama3_tokenizer_file

    if llama3_tokenizer_file() is None:
        pytest.skip("llama-models is not installed (pip install --no-deps llama-models==0.3.0)")
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(tiny_mirror / LLAMA_BASE)
    assert tokenizer("안녕하세요, Llama 3!").input_ids == [128000, 101193, 124409, 11, 445, 81101, 220, 18, 0]
    assert tokenizer.convert_ids_to_tokens(128255) == "<|reserved_special_token_250|>"


def test_rehearsal_results_merge_per_notebook(tmp_path):
    from course_tools.rehearsal import needed_ids, notebook_path, write_results

    row = lambda nb, result, s: {"notebook": nb, "result": result, "seconds": s, "peak_gpu_gib": None}
    write_results("t4", [row("03_quantization", "pass", 10), row("05_alpaca_qlora_sft", "fail", 20)], {}, tmp_path)
    path = write_results("t4", [row("05_alpaca_qlora_sft", "pass", 30)], {"torch": "x"}, tmp_path)
    rows = {r["notebook"]: r for r in json.loads(path.read_text())["notebooks"]}
    assert rows["03_quantization"]["seconds"] == 10 and rows["05_alpaca_qlora_sft"] == row("05_alpaca_qlora_sft", "pass", 30)
    table = path.with_suffix(".md").read_text()
    assert "| 05_alpaca_qlora_sft | pass | 30 | n/a |" in table and "speed is not" in table
    assert set(needed_ids([notebook_path("05")], "t4")) == {LLAMA_BASE, ALPACA_DATASET}
    assert "beomi/KcELECTRA-base-v2022" in needed_ids([notebook_path("01")], "t4")  # named in the lesson itself
    # lesson 09 trains, judges and runs GRPO on the persona model alone: its stand-in is the one the rehearsal builds
    assert needed_ids([notebook_path("09")], "t4") == [PROFILES["t4"].persona_model]


def test_big_standins_are_written_in_shards_with_an_index(tmp_path):
    from transformers import AutoModelForCausalLM

    from course_tools.standins import LLAMA3_8B, _meta_shapes, write_sharded

    config = {**LLAMA3_8B, "hidden_size": 32, "intermediate_size": 64, "num_attention_heads": 4,
              "num_key_value_heads": 2, "num_hidden_layers": 2, "vocab_size": 256}
    (tmp_path / "config.json").write_text(json.dumps(config))
    total = write_sharded(tmp_path, _meta_shapes(config), torch.bfloat16, shard_bytes=20_000)
    index = json.loads((tmp_path / "model.safetensors.index.json").read_text())
    shards = set(index["weight_map"].values())
    assert len(shards) > 2 and all((tmp_path / s).is_file() for s in shards) and index["metadata"]["total_size"] == total
    model = AutoModelForCausalLM.from_pretrained(tmp_path, dtype=torch.bfloat16)
    assert model.model.norm.weight.eq(1).all() and torch.isfinite(model(torch.tensor([[1, 2, 3]])).logits).all()


def test_t4_emulation_is_what_the_course_reads(monkeypatch):
    from types import SimpleNamespace

    from course_utils import environment
    from course_utils.profiles import detect_profile_name

    h200 = SimpleNamespace(name="NVIDIA H200", major=9, minor=0, total_memory=150_000_000_000)
    monkeypatch.setattr(environment.torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(environment.torch.cuda, "get_device_properties", lambda index: h200)
    monkeypatch.delenv(environment.EMULATE_GB_ENV, raising=False)
    monkeypatch.delenv(environment.EMULATE_CAPABILITY_ENV, raising=False)
    assert detect_profile_name() == "a100"
    monkeypatch.setenv(environment.EMULATE_GB_ENV, "15")
    monkeypatch.setenv(environment.EMULATE_CAPABILITY_ENV, "7.5")
    gpu = environment.gpu_info()
    assert gpu.capability == (7, 5) and abs(gpu.memory_gib - 15e9 / 2**30) < 1e-9 and "emulating" in gpu.name
    assert detect_profile_name() == "t4"


def test_kernel_startup_file_is_valid_python():
    from course_tools.rehearsal import KERNEL_STARTUP, kernel_env

    compile(KERNEL_STARTUP, "00-course-rehearsal.py", "exec")
    env = kernel_env("t4", Path("/m"), Path("/ipy"))
    assert (env["COURSE_EMULATE_GPU_GB"], env["HF_HUB_OFFLINE"], env["COURSE_MIRROR"], env["IPYTHONDIR"]) == ("15", "1", "/m", "/ipy")


def test_rehearsal_kernels_see_one_gpu_as_a_colab_runtime_does(monkeypatch):
    """On a host with two GPUs lesson 05 stopped: SFTTrainer refuses nn.DataParallel (rehearsal of 2026-11-30)."""
    from course_tools.rehearsal import kernel_env

    monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)
    assert kernel_env("a100", None, Path("/ipy"))["CUDA_VISIBLE_DEVICES"] == "0"
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "3,1")
    assert kernel_env("t4", None, Path("/ipy"))["CUDA_VISIBLE_DEVICES"] == "3"  # the first one asked for


def test_standins_match_the_facts_file_and_verify_says_so(tiny_mirror, capsys):
    """The stand-in builder reads model_facts.py, so `verify` finds no contradiction (sizes: not full depth)."""
    from course_tools.model_facts import model_facts

    assert mirror_cli.main(["verify", str(tiny_mirror)]) == 0
    out = capsys.readouterr().out
    for repo_id in (LLAMA_BASE, LLAMA_CHAT, "LGAI-EXAONE/EXAONE-3.0-7.8B-Instruct", "facebook/nllb-200-distilled-600M"):
        assert f"{repo_id}: matches the facts file" in out
    assert "sizes not compared, a stand-in of another size (layers=1 tiny=True" in out
    exaone = json.loads((tiny_mirror / "LGAI-EXAONE/EXAONE-3.0-7.8B-Instruct" / "config.json").read_text())
    assert exaone["auto_map"] == model_facts("LGAI-EXAONE/EXAONE-3.0-7.8B-Instruct").auto_map.value  # as published
    assert len(exaone["auto_map"]) == 3
    generation = json.loads((tiny_mirror / LLAMA_BASE / "generation_config.json").read_text())
    assert (generation["do_sample"], generation["temperature"], generation["top_p"]) == (True, 0.6, 0.9)


def test_verify_names_each_contradicted_fact_in_one_line(tiny_mirror, tmp_path, capsys):
    import shutil

    folder = tmp_path / "LGAI-EXAONE/EXAONE-3.0-7.8B-Instruct"
    shutil.copytree(tiny_mirror / "LGAI-EXAONE/EXAONE-3.0-7.8B-Instruct", folder)
    config = json.loads((folder / "config.json").read_text())
    config.update(eos_token_id=2, torch_dtype="float32")
    del config["auto_map"]
    (folder / "config.json").write_text(json.dumps(config))
    assert mirror_cli.main(["verify", str(folder)]) == 1
    lines = capsys.readouterr().out.splitlines()
    wrong = [line for line in lines if "the facts file says" in line]
    assert len(wrong) == 3, lines
    assert any(line.startswith("LGAI-EXAONE/EXAONE-3.0-7.8B-Instruct: eos_token_id is 2 in config.json, the facts file says 361 (verified;")
               for line in wrong)
    assert any("auto_map is None" in line for line in wrong) and any("dtype is 'float32'" in line for line in wrong)


def test_a_changed_fact_fails_verify_until_the_download_agrees(tiny_mirror, monkeypatch, capsys):
    from dataclasses import replace

    from course_tools import model_facts as facts_module

    facts = facts_module.MODEL_FACTS[LLAMA_BASE]
    changed = replace(facts, generation=replace(facts.generation, value={**facts.generation.value, "temperature": 0.7}))
    monkeypatch.setitem(facts_module.MODEL_FACTS, LLAMA_BASE, changed)
    assert mirror_cli.main(["verify", str(tiny_mirror / LLAMA_BASE)]) == 1
    assert "generation is {'do_sample': True, 'temperature': 0.6" in capsys.readouterr().out


def test_verify_compares_the_index_total_size_and_shards_of_a_full_download(tmp_path, capsys):
    folder = tmp_path / LLAMA_BASE
    folder.mkdir(parents=True)
    (folder / "config.json").write_text(json.dumps({"torch_dtype": "bfloat16", "bos_token_id": 128000, "eos_token_id": 128001}))
    index = {"metadata": {"total_size": 16_060_522_496}, "weight_map": {f"w{i}": f"model-0000{i}-of-00004.safetensors" for i in range(1, 5)}}
    (folder / "model.safetensors.index.json").write_text(json.dumps(index))
    from course_tools.snapshot_check import compare

    assert compare(folder, LLAMA_BASE)[0] == [line for line in compare(folder, LLAMA_BASE)[0] if "generation" in line]
    index["metadata"]["total_size"] *= 2
    index["weight_map"]["w5"] = "model-00005-of-00005.safetensors"
    (folder / "model.safetensors.index.json").write_text(json.dumps(index))
    wrong = "\n".join(compare(folder, LLAMA_BASE)[0])
    assert "total_size is 32121044992 in model.safetensors.index.json" in wrong and "shards is 5" in wrong


def test_verify_refuses_a_folder_without_known_models(tmp_path, capsys):
    assert mirror_cli.main(["verify", str(tmp_path)]) == 2
    assert "holds none of the models" in capsys.readouterr().err
