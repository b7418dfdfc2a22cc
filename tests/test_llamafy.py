"""llamafy: EXAONE-layout checkpoints become Llama checkpoints with the same logits, and bad input is refused."""
import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from safetensors import safe_open
from tokenizers import Tokenizer, models, pre_tokenizers
from transformers import AutoModelForCausalLM, AutoTokenizer, LlamaForCausalLM, PreTrainedTokenizerFast

from course_utils import llamafy as llamafy_module
from course_utils.exaone_reference import EXAONE_CHAT_TEMPLATE, exaone_logits, random_exaone_weights, tiny_exaone_config
from course_utils.checkpoints import CheckpointError, StreamedCheckpoint, read_checkpoint, write_checkpoint
from course_utils.llamafy import LlamafyError, llamafy

ROOT = Path(__file__).resolve().parent.parent
LLAMA3_ROPE = {"rope_type": "llama3", "factor": 8.0, "low_freq_factor": 1.0, "high_freq_factor": 4.0,
               "original_max_position_embeddings": 64}

SHAPES = {
    "mha-untied-single-file": dict(config={"num_attention_heads": 4, "num_key_value_heads": 4}, shard=None),
    "gqa2-tied-sharded": dict(config={"num_attention_heads": 4, "num_key_value_heads": 2, "tie_word_embeddings": True}, shard="20KB"),
    "mqa-llama3-rope-sharded": dict(config={"num_attention_heads": 8, "num_key_value_heads": 1, "rope_scaling": LLAMA3_ROPE}, shard="30KB"),
    "explicit-head-dim": dict(config={"num_attention_heads": 4, "num_key_value_heads": 2, "head_dim": 32}, shard=None),
}


def exaone_folder(folder: Path, seed: int = 0, shard: str | None = None, dtype=torch.float32, **overrides) -> Path:
    config = tiny_exaone_config(**overrides)
    return write_checkpoint(folder, config, random_exaone_weights(config, seed, dtype), shard or "5GB")


@pytest.mark.parametrize("case", SHAPES.values(), ids=SHAPES.keys())
def test_converted_model_loads_as_llama_with_the_reference_logits(tmp_path, case):
    src = exaone_folder(tmp_path / "exaone", seed=7, shard=case["shard"], **case["config"])
    report = llamafy(src, tmp_path / "llama", dtype="float32", max_shard_size=case["shard"] or "5GB")
    model = AutoModelForCausalLM.from_pretrained(tmp_path / "llama", dtype=torch.float32).eval()
    assert type(model) is LlamaForCausalLM
    if case["shard"]:
        assert len(report.shards) > 1 and (tmp_path / "llama" / "model.safetensors.index.json").is_file()
    ids = torch.randint(0, 128, (2, 16), generator=torch.Generator().manual_seed(1))
    positions = torch.arange(1000, 1016).expand(2, -1)  # far positions, where RoPE scaling shows
    with torch.no_grad():
        logits = model(ids, position_ids=positions).logits
    config = json.loads((src / "config.json").read_text())
    reference = exaone_logits(read_checkpoint(src), config, ids, positions)
    assert (logits - reference).abs().max().item() <= 1e-4


def test_config_fields_and_dtype_are_carried_over(tmp_path):
    src = exaone_folder(tmp_path / "exaone", dtype=torch.bfloat16, layer_norm_epsilon=1e-6, eos_token_id=361, pad_token_id=0)
    report = llamafy(src, tmp_path / "llama", dtype="float16")
    config = json.loads((tmp_path / "llama" / "config.json").read_text())
    assert config["model_type"] == "llama" and config["num_hidden_layers"] == 2 and config["rms_norm_eps"] == 1e-6
    assert (config["eos_token_id"], config["pad_token_id"], config["torch_dtype"]) == (361, 0, "float16")
    assert "auto_map" not in config and "num_layers" not in config
    tensors = read_checkpoint(tmp_path / "llama")
    assert {t.dtype for t in tensors.values()} == {torch.float16}
    assert report.tensors_mapped == len(tensors) == 21 and report.parameters == sum(t.numel() for t in tensors.values())


def test_the_default_output_is_bfloat16_whatever_the_source_dtype(tmp_path):
    """A published fp32 source (EXAONE 3.0's may be) must not silently double the converted copy's size."""
    src = exaone_folder(tmp_path / "exaone", dtype=torch.float32)
    report = llamafy(src, tmp_path / "llama")
    assert report.dtype == "bfloat16"
    assert json.loads((tmp_path / "llama" / "config.json").read_text())["torch_dtype"] == "bfloat16"
    assert {t.dtype for t in read_checkpoint(tmp_path / "llama").values()} == {torch.bfloat16}


def test_the_disk_need_comes_from_the_source_index_and_the_target_dtype(tmp_path):
    from course_utils.llamafy import disk_plan

    src = exaone_folder(tmp_path / "exaone", dtype=torch.float32, shard="20KB")
    index_total = json.loads((src / "model.safetensors.index.json").read_text())["metadata"]["total_size"]
    parameters = sum(t.numel() for t in read_checkpoint(src).values())
    plan = disk_plan(src, "bfloat16")
    assert (plan.source_bytes, plan.source_dtype, plan.output_bytes) == (index_total, "float32", parameters * 2)
    assert f"{index_total / 1e9:.2f} GB" in str(plan) and "bfloat16" in str(plan)


def test_too_little_free_disk_is_refused_before_anything_is_written(tmp_path, monkeypatch):
    import shutil
    from collections import namedtuple

    src = exaone_folder(tmp_path / "exaone")
    usage = namedtuple("usage", "total used free")
    monkeypatch.setattr(shutil, "disk_usage", lambda path: usage(10**6, 10**6 - 1000, 1000))
    with pytest.raises(OSError, match="GiB free: free some disk space"):
        llamafy(src, tmp_path / "llama")
    assert not (tmp_path / "llama").exists() and [p.name for p in tmp_path.iterdir()] == ["exaone"]


def test_a_left_out_tie_word_embeddings_means_tied_as_in_exaone(tmp_path):
    config = tiny_exaone_config(tie_word_embeddings=True)
    weights = random_exaone_weights(config)
    weights["lm_head.weight"] = weights["transformer.wte.weight"].clone()  # some exports write the tied head too
    del config["tie_word_embeddings"]
    report = llamafy(write_checkpoint(tmp_path / "exaone", config, weights), tmp_path / "llama")
    assert report.skipped == ["lm_head.weight"]
    assert json.loads((tmp_path / "llama" / "config.json").read_text())["tie_word_embeddings"] is True
    assert "lm_head.weight" not in read_checkpoint(tmp_path / "llama")


def exaone_tokenizer() -> PreTrainedTokenizerFast:
    """A word-level tokenizer with EXAONE's special tokens and chat template."""
    words = ["[PAD]", "[BOS]", "[|endofturn|]", "[UNK]", "[|system|]", "[|user|]", "[|assistant|]", "hello", "there"]
    backend = Tokenizer(models.WordLevel({w: i for i, w in enumerate(words)}, unk_token="[UNK]"))
    backend.pre_tokenizer = pre_tokenizers.Whitespace()
    tokenizer = PreTrainedTokenizerFast(tokenizer_object=backend, bos_token="[BOS]", eos_token="[|endofturn|]",
                                        pad_token="[PAD]", unk_token="[UNK]")
    tokenizer.chat_template = EXAONE_CHAT_TEMPLATE
    return tokenizer


def test_tokenizer_and_chat_template_survive_the_conversion(tmp_path):
    src = exaone_folder(tmp_path / "exaone", eos_token_id=2)
    exaone_tokenizer().save_pretrained(src)
    report = llamafy(src, tmp_path / "llama")
    assert "tokenizer.json" in report.copied_files
    conversations = [
        [{"role": "user", "content": "hello"}],
        [{"role": "system", "content": "there"}, {"role": "user", "content": "hello"},
         {"role": "assistant", "content": "there"}, {"role": "user", "content": "hello"}],
    ]
    before, after = AutoTokenizer.from_pretrained(src), AutoTokenizer.from_pretrained(tmp_path / "llama")
    for messages in conversations:
        text = before.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
        assert after.apply_chat_template(messages, tokenize=False, add_generation_prompt=True) == text
    assert text.startswith("[|system|]there[|endofturn|]\n[|user|]hello\n[|assistant|]there[|endofturn|]\n")
    assert after.eos_token == "[|endofturn|]" and after.eos_token_id == 2


def test_wrong_model_type_is_refused_naming_it(tmp_path):
    src = exaone_folder(tmp_path / "src", model_type="llama")
    with pytest.raises(LlamafyError, match="model_type 'llama'"):
        llamafy(src, tmp_path / "dst")


def test_missing_tensor_is_refused_naming_it(tmp_path):
    config = tiny_exaone_config()
    weights = random_exaone_weights(config)
    del weights["transformer.h.1.mlp.c_proj.weight"]
    with pytest.raises(LlamafyError, match=r"1 EXAONE tensor\(s\) are missing.*transformer\.h\.1\.mlp\.c_proj\.weight"):
        llamafy(write_checkpoint(tmp_path / "src", config, weights), tmp_path / "dst")
    assert not (tmp_path / "dst").exists()


def test_unexpected_tensor_is_refused_naming_it(tmp_path):
    config = tiny_exaone_config()
    weights = random_exaone_weights(config)
    weights["transformer.h.0.attn.attention.q_proj.bias"] = torch.zeros(64)
    with pytest.raises(LlamafyError, match="does not have, e.g. transformer.h.0.attn.attention.q_proj.bias"):
        llamafy(write_checkpoint(tmp_path / "src", config, weights), tmp_path / "dst")


def test_shapes_inconsistent_with_the_config_are_refused(tmp_path):
    weights = random_exaone_weights(tiny_exaone_config(num_key_value_heads=2))
    config = tiny_exaone_config(num_key_value_heads=4)
    with pytest.raises(LlamafyError, match=r"k_proj.weight has shape \[32, 64\] .* implies \[64, 64\]"):
        llamafy(write_checkpoint(tmp_path / "src", config, weights), tmp_path / "dst")


def test_folder_without_safetensors_or_with_a_lost_shard_is_refused(tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / "config.json").write_text(json.dumps(tiny_exaone_config()))
    with pytest.raises(CheckpointError, match="no \\*.safetensors"):
        llamafy(empty, tmp_path / "dst")
    sharded = exaone_folder(tmp_path / "sharded", shard="20KB")
    lost = sorted(sharded.glob("model-*-of-*.safetensors"))[1]
    lost.unlink()
    with pytest.raises(CheckpointError, match=f"lists {lost.name} but it is not in"):
        llamafy(sharded, tmp_path / "dst")


def test_destination_rules(tmp_path):
    src = exaone_folder(tmp_path / "src")
    dst = tmp_path / "dst"
    dst.mkdir()
    (dst / "notes.txt").write_text("keep me")
    with pytest.raises(LlamafyError, match="already holds 1 item"):
        llamafy(src, dst)
    assert (dst / "notes.txt").read_text() == "keep me"
    with pytest.raises(LlamafyError, match="overlaps the source"):
        llamafy(src, src / "llama", overwrite=True)
    llamafy(src, dst, overwrite=True)
    assert not (dst / "notes.txt").exists() and (dst / "model.safetensors").is_file()
    assert dst.stat().st_mode & 0o777 == 0o755  # readable by others, unlike the private temporary folder it was
    assert sorted(p.name for p in tmp_path.iterdir()) == ["dst", "src"]  # no staging folder left behind


def test_a_failed_write_leaves_the_old_destination_and_no_partial_folder(tmp_path, monkeypatch):
    src = exaone_folder(tmp_path / "src")
    dst = tmp_path / "dst"
    llamafy(src, dst)
    before = {p.name: p.read_bytes() for p in dst.iterdir()}

    def disk_full(*_):
        raise OSError("No space left on device")

    monkeypatch.setattr(llamafy_module, "copy_side_files", disk_full)
    with pytest.raises(OSError):
        llamafy(src, dst, overwrite=True, dtype="bfloat16")
    assert {p.name: p.read_bytes() for p in dst.iterdir()} == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["dst", "src"]


def run_cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "course_utils.llamafy", *args], cwd=ROOT, capture_output=True, text=True, timeout=120)


def test_command_line_converts_and_reports_errors_in_one_line(tmp_path):
    src = exaone_folder(tmp_path / "src", shard="20KB")
    done = run_cli(str(src), str(tmp_path / "dst"), "--dtype", "bfloat16", "--max-shard-size", "30KB")
    assert done.returncode == 0, done.stderr
    shards = sorted((tmp_path / "dst").glob("model-*.safetensors"))
    assert "tensors mapped : 21" in done.stdout and f"shards written : {len(shards)} (" in done.stdout
    assert len(shards) > 1
    with safe_open(shards[0], framework="pt") as f:
        assert f.get_tensor("model.embed_tokens.weight").dtype == torch.bfloat16
    refused = run_cli(str(src), str(tmp_path / "dst"))
    assert refused.returncode == 2 and "Traceback" not in refused.stderr
    assert refused.stderr.startswith("error: Destination") and refused.stderr.count("\n") == 1


def test_streamed_checkpoint_gives_the_reference_the_same_logits_without_keeping_tensors(tmp_path):
    config = tiny_exaone_config()
    folder = write_checkpoint(tmp_path / "exaone", config, random_exaone_weights(config), max_shard_size="40KB")
    streamed = StreamedCheckpoint(folder, dtype=torch.float64)
    assert len({file for file in streamed.files.values()}) > 1 and set(streamed) == set(read_checkpoint(folder))
    assert streamed["transformer.wte.weight"] is not streamed["transformer.wte.weight"]  # read anew each time, no cache
    input_ids = torch.tensor([[3, 17, 42, 99, 5]])
    expected = exaone_logits({k: v.double() for k, v in read_checkpoint(folder).items()}, config, input_ids)
    assert torch.equal(exaone_logits(streamed, config, input_ids), expected)
