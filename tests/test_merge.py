"""Streaming merge: the same weights, logits and greedy answers as PEFT's merge_and_unload, and one-sentence refusals."""
import json
import shutil
from collections import namedtuple

import pytest
import torch
from peft import LoraConfig, PeftModel, get_peft_model
from safetensors.torch import load_file
from transformers import AutoModelForCausalLM, GPT2Config, GPT2LMHeadModel

import course_utils.merge as merge
from course_utils.merge import main, merge_adapter_into_checkpoint

INPUT_IDS = torch.tensor([[1, 5, 9, 17, 33, 2, 7, 64]])


@pytest.fixture(scope="module")
def llama(tiny_llama_builder):
    """Seeded random Llamas (conftest's one builder) with an untied output layer, so lm_head merges on its own."""
    return lambda hidden=32, layers=2: tiny_llama_builder(
        128, hidden=hidden, layers=layers, heads=4, kv_heads=2, max_position_embeddings=64, tie_word_embeddings=False,
    )


def save_sharded(model, folder, name="course/tiny-llama"):
    model.config._name_or_path = name
    model.save_pretrained(folder, max_shard_size="40KB")
    return folder


def save_adapter(base, folder, **lora):
    """An adapter with non-zero B (PEFT's default B = 0 would make any merge look right)."""
    settings = dict(r=4, lora_alpha=8, target_modules="all-linear", init_lora_weights=False) | lora
    peft_model = get_peft_model(base, LoraConfig(**settings))
    peft_model.save_pretrained(folder)
    return folder


def weights(folder) -> dict[str, torch.Tensor]:
    found = {}
    for path in sorted(folder.glob("*.safetensors")):
        found |= load_file(str(path))
    return found


def peft_merged(base, adapter_dir):
    return PeftModel.from_pretrained(base, str(adapter_dir)).merge_and_unload().eval()


@pytest.fixture
def sharded(llama, tmp_path):
    base = save_sharded(llama(), tmp_path / "base")
    adapter = save_adapter(llama(), tmp_path / "adapter")
    return namedtuple("Sharded", "base adapter tmp")(base, adapter, tmp_path)


def test_the_stand_in_checkpoint_really_is_sharded(sharded):
    index = json.loads((sharded.base / merge.INDEX_FILE).read_text())
    assert len(set(index["weight_map"].values())) >= 2


def test_sharded_llama_merge_equals_peft_weights_logits_and_greedy_answers(llama, sharded):
    report = merge_adapter_into_checkpoint(sharded.base, sharded.adapter, sharded.tmp / "merged")
    assert report.shards >= 2 and report.merged_weights == 2 * 7 and report.copied_weights == 0
    reference = peft_merged(llama(), sharded.adapter)
    ours = weights(sharded.tmp / "merged")
    expected = reference.state_dict()
    assert set(ours) == set(expected)
    changed = 0
    for key, tensor in ours.items():
        torch.testing.assert_close(tensor, expected[key], atol=1e-6, rtol=1e-5)
        changed += not torch.equal(tensor, llama().state_dict()[key])
    assert changed == 14  # every q/k/v/o/gate/up/down weight of both layers moved

    reloaded = AutoModelForCausalLM.from_pretrained(sharded.tmp / "merged").eval()
    with torch.no_grad():
        torch.testing.assert_close(reloaded(INPUT_IDS).logits, reference(INPUT_IDS).logits, atol=1e-5, rtol=1e-4)
        greedy = dict(max_new_tokens=8, do_sample=False, pad_token_id=0)
        assert torch.equal(reloaded.generate(INPUT_IDS, **greedy), reference.generate(INPUT_IDS, **greedy))
    index = json.loads((sharded.tmp / "merged" / merge.INDEX_FILE).read_text())
    assert set(index["weight_map"]) == set(ours)


def test_bf16_output_equals_peft_to_bf16_rounding(llama, sharded):
    merge_adapter_into_checkpoint(sharded.base, sharded.adapter, sharded.tmp / "merged", dtype="bfloat16")
    ours = weights(sharded.tmp / "merged")
    assert {t.dtype for t in ours.values()} == {torch.bfloat16}
    assert json.loads((sharded.tmp / "merged" / "config.json").read_text())["dtype"] == "bfloat16"
    exact = peft_merged(llama(), sharded.adapter).state_dict()  # fp32 merge: rounding it once is what we write
    in_bf16 = peft_merged(llama().to(torch.bfloat16), sharded.adapter).state_dict()  # PEFT adds in bf16
    for key, tensor in ours.items():
        torch.testing.assert_close(tensor, exact[key].to(torch.bfloat16))  # equal up to one bf16 unit
        unit = 2**-7 * exact[key].abs().max()  # PEFT rounds twice (delta, then sum): two units of the largest weight
        assert (tensor.float() - in_bf16[key].float()).abs().max() <= 2 * unit


def test_rslora_and_alpha_pattern_scales(llama, tmp_path):
    base = save_sharded(llama(), tmp_path / "base")
    adapter = save_adapter(llama(), tmp_path / "adapter", r=8, lora_alpha=16, use_rslora=True, alpha_pattern={"q_proj": 4})
    merge_adapter_into_checkpoint(base, adapter, tmp_path / "merged")
    reference = peft_merged(llama(), adapter).state_dict()
    for key, tensor in weights(tmp_path / "merged").items():
        torch.testing.assert_close(tensor, reference[key], atol=1e-6, rtol=1e-5)


def test_fan_in_fan_out_conv1d_weights_are_merged_transposed(tmp_path):
    def tiny_gpt2():
        torch.manual_seed(0)
        return GPT2LMHeadModel(GPT2Config(vocab_size=128, n_embd=32, n_layer=2, n_head=4, n_positions=64)).eval()

    tiny_gpt2().save_pretrained(tmp_path / "base")
    adapter = save_adapter(tiny_gpt2(), tmp_path / "adapter", target_modules=["c_attn", "c_fc"], fan_in_fan_out=True)
    report = merge_adapter_into_checkpoint(tmp_path / "base", adapter, tmp_path / "merged")
    assert report.merged_weights == 4
    reference = peft_merged(tiny_gpt2(), adapter)
    ours = weights(tmp_path / "merged")
    for key, tensor in reference.state_dict().items():
        if key in ours:
            torch.testing.assert_close(ours[key], tensor, atol=1e-6, rtol=1e-5)


def test_modules_to_save_replace_the_base_weight(llama, tmp_path):
    base = save_sharded(llama(), tmp_path / "base")
    peft_model = get_peft_model(llama(), LoraConfig(r=2, target_modules=["q_proj"], modules_to_save=["lm_head"], init_lora_weights=False))
    with torch.no_grad():
        peft_model.base_model.model.lm_head.modules_to_save["default"].weight.add_(1.0)  # "trained" copy differs
    peft_model.save_pretrained(tmp_path / "adapter")
    report = merge_adapter_into_checkpoint(base, tmp_path / "adapter", tmp_path / "merged")
    assert (report.merged_weights, report.copied_weights) == (2, 1)
    reference = peft_merged(llama(), tmp_path / "adapter").state_dict()
    ours = weights(tmp_path / "merged")
    torch.testing.assert_close(ours["lm_head.weight"], reference["lm_head.weight"])
    assert not torch.equal(ours["lm_head.weight"], llama().state_dict()["lm_head.weight"])


def test_offline_model_merge_equals_peft(tmp_path, cpu_profile):
    """The real SmolLM2-135M (one safetensors file): weights, logits and greedy answers equal PEFT's merge."""
    from course_utils.models import load_tokenizer
    from course_utils.offline_model import offline_model_path

    base_dir = offline_model_path()
    fresh = lambda: AutoModelForCausalLM.from_pretrained(base_dir, dtype=torch.float32).eval()  # noqa: E731
    torch.manual_seed(0)
    adapter = get_peft_model(fresh(), LoraConfig(r=8, lora_alpha=16, target_modules=["q_proj", "v_proj", "down_proj"]))
    with torch.no_grad():
        for name, param in adapter.named_parameters():
            if "lora_B" in name:
                param.normal_(0, 0.02)  # a trained-looking B: moves the answers without wrecking the model
    adapter.save_pretrained(tmp_path / "adapter")
    del adapter
    report = merge_adapter_into_checkpoint(base_dir, tmp_path / "adapter", tmp_path / "merged")
    assert report.merged_weights == 3 * 30
    reference = peft_merged(fresh(), tmp_path / "adapter")
    ours = AutoModelForCausalLM.from_pretrained(tmp_path / "merged", dtype=torch.float32).eval()
    expected = reference.state_dict()
    for key, tensor in ours.state_dict().items():
        torch.testing.assert_close(tensor, expected[key], atol=1e-6, rtol=1e-5)

    tokenizer = load_tokenizer(cpu_profile.chat_model, cpu_profile)
    prompts = ["What is the capital of France?", "토니, 오늘 기분이 어때?"]
    batch = tokenizer([tokenizer.apply_chat_template([{"role": "user", "content": p}], tokenize=False, add_generation_prompt=True) for p in prompts], return_tensors="pt", padding=True, padding_side="left")
    with torch.no_grad():
        a, b = ours(**batch).logits, reference(**batch).logits
        assert (a - b).norm() / b.norm() < 1e-5
        greedy = dict(max_new_tokens=8, do_sample=False, pad_token_id=tokenizer.pad_token_id)
        assert torch.equal(ours.generate(**batch, **greedy), reference.generate(**batch, **greedy))


# --- refusals: one sentence each, and nothing left behind ---------------------------------------------------------


def test_a_base_with_other_shapes_is_refused(llama, sharded, tmp_path):
    other = save_sharded(llama(hidden=48), tmp_path / "other")
    with pytest.raises(ValueError, match="expects model.layers.0.* of shape") as error:
        merge_adapter_into_checkpoint(other, sharded.adapter, tmp_path / "merged")
    assert "merge it into the base model it was trained on" in str(error.value)
    assert not (tmp_path / "merged").exists()


def test_adapter_modules_the_base_lacks_are_refused(llama, sharded, tmp_path):
    shallow = save_sharded(llama(layers=1), tmp_path / "shallow")
    with pytest.raises(ValueError, match="model.layers.1.* which the base checkpoint .* does not have"):
        merge_adapter_into_checkpoint(shallow, sharded.adapter, tmp_path / "merged")


def test_another_recorded_base_name_is_only_a_warning_when_shapes_match(llama, tmp_path):
    base = save_sharded(llama(), tmp_path / "base", name="someone/other-model")
    peft_model = get_peft_model(llama(), LoraConfig(r=2, target_modules=["q_proj"], init_lora_weights=False))
    peft_model.peft_config["default"].base_model_name_or_path = "course/tiny-llama"
    peft_model.save_pretrained(tmp_path / "adapter")
    with pytest.warns(UserWarning, match="records base model 'course/tiny-llama'"):
        report = merge_adapter_into_checkpoint(base, tmp_path / "adapter", tmp_path / "merged")
    assert report.warnings and (tmp_path / "merged" / "config.json").is_file()


def test_an_existing_destination_needs_overwrite(sharded):
    destination = sharded.tmp / "merged"
    destination.mkdir()
    (destination / "keep.txt").write_text("mine")
    with pytest.raises(FileExistsError, match="--overwrite"):
        merge_adapter_into_checkpoint(sharded.base, sharded.adapter, destination)
    assert (destination / "keep.txt").read_text() == "mine"
    merge_adapter_into_checkpoint(sharded.base, sharded.adapter, destination, overwrite=True)
    assert not (destination / "keep.txt").exists() and (destination / merge.INDEX_FILE).is_file()


def test_a_disk_without_room_is_refused_before_writing(sharded, monkeypatch):
    usage = namedtuple("usage", "total used free")
    monkeypatch.setattr(merge.shutil, "disk_usage", lambda path: usage(10**6, 10**6 - 1000, 1000))
    with pytest.raises(OSError, match="GiB free: free some disk space"):
        merge_adapter_into_checkpoint(sharded.base, sharded.adapter, sharded.tmp / "merged")
    assert [p.name for p in sharded.tmp.iterdir()] == sorted(["adapter", "base"]) or set(p.name for p in sharded.tmp.iterdir()) == {"adapter", "base"}


def test_an_interrupted_merge_leaves_no_folder_that_looks_complete(sharded, monkeypatch):
    real, calls = merge._merge_shard, []

    def crash_on_second_shard(*args):
        calls.append(args)
        if len(calls) == 2:
            raise KeyboardInterrupt
        return real(*args)

    monkeypatch.setattr(merge, "_merge_shard", crash_on_second_shard)
    with pytest.raises(KeyboardInterrupt):
        merge_adapter_into_checkpoint(sharded.base, sharded.adapter, sharded.tmp / "merged")
    assert {p.name for p in sharded.tmp.iterdir()} == {"adapter", "base"}  # no destination, no staging left


def test_dora_adapters_are_refused(sharded, tmp_path):
    shutil.copytree(sharded.adapter, tmp_path / "dora")
    config = json.loads((tmp_path / "dora" / "adapter_config.json").read_text())
    (tmp_path / "dora" / "adapter_config.json").write_text(json.dumps(config | {"use_dora": True}))
    with pytest.raises(ValueError, match="uses use_dora, which this streaming merge does not support"):
        merge_adapter_into_checkpoint(sharded.base, tmp_path / "dora", tmp_path / "merged")


def test_a_folder_without_safetensors_is_refused(sharded, tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(FileNotFoundError, match="safetensors checkpoint folder"):
        merge_adapter_into_checkpoint(tmp_path / "empty", sharded.adapter, tmp_path / "merged")


def test_command_line_merges_and_refuses_in_one_sentence(sharded, capsys):
    destination = sharded.tmp / "merged"
    assert main([str(sharded.base), str(sharded.adapter), str(destination), "--dtype", "float16"]) == 0
    assert "Merged 14 weights" in capsys.readouterr().out
    assert main([str(sharded.base), str(sharded.adapter), str(destination)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "already exists" in err and err.count("\n") == 1


def train_a_little(peft_model):
    """Move every LoRA factor, as training would, so the adapter differs from its initial value."""
    torch.manual_seed(1)
    with torch.no_grad():
        for name, param in peft_model.named_parameters():
            if "lora_" in name:
                param.add_(torch.randn_like(param) * 0.05)


@pytest.mark.parametrize("init", ["pissa", "olora"])
def test_adapters_whose_init_rewrote_the_base_are_refused_unless_saved_converted(llama, tmp_path, init):
    """PiSSA/OLoRA subtract their initial B @ A from the base weights: W + B @ A on the original checkpoint is wrong."""
    original = save_sharded(llama(), tmp_path / "base")
    peft_model = get_peft_model(llama(), LoraConfig(r=4, lora_alpha=8, target_modules="all-linear", init_lora_weights=init))
    peft_model.save_pretrained(tmp_path / "initial")  # before training, as PEFT's conversion needs
    train_a_little(peft_model)
    peft_model.eval()
    with torch.no_grad():
        trained_logits = peft_model(INPUT_IDS).logits
    peft_model.save_pretrained(tmp_path / "plain")
    with pytest.raises(ValueError, match=f"init_lora_weights={init!r}.*path_initial_model_for_weight_conversion") as caught:
        merge_adapter_into_checkpoint(original, tmp_path / "plain", tmp_path / "merged")
    assert "\n" not in str(caught.value) and not (tmp_path / "merged").exists()

    peft_model.save_pretrained(tmp_path / "converted", path_initial_model_for_weight_conversion=str(tmp_path / "initial"))
    assert json.loads((tmp_path / "converted" / "adapter_config.json").read_text())["init_lora_weights"] is True
    merge_adapter_into_checkpoint(original, tmp_path / "converted", tmp_path / "merged")
    merged = AutoModelForCausalLM.from_pretrained(tmp_path / "merged").eval()
    with torch.no_grad():
        assert torch.allclose(merged(INPUT_IDS).logits, trained_logits, atol=1e-4)  # the model that was trained


@pytest.mark.parametrize("init", ["loftq", "corda", "pissa_niter_4", "lora_ga"])
def test_every_init_that_rewrites_the_base_is_refused(sharded, tmp_path, init):
    shutil.copytree(sharded.adapter, tmp_path / init)
    config = json.loads((tmp_path / init / "adapter_config.json").read_text())
    (tmp_path / init / "adapter_config.json").write_text(json.dumps(config | {"init_lora_weights": init}))
    with pytest.raises(ValueError, match="rewrote the base weights") as caught:
        merge_adapter_into_checkpoint(sharded.base, tmp_path / init, tmp_path / "merged")
    assert "\n" not in str(caught.value)


@pytest.mark.parametrize("init", [True, False, "gaussian", "eva", "orthogonal", "mica"])
def test_inits_that_leave_the_base_alone_are_merged(sharded, tmp_path, init):
    shutil.copytree(sharded.adapter, tmp_path / "other_init")
    config = json.loads((tmp_path / "other_init" / "adapter_config.json").read_text())
    (tmp_path / "other_init" / "adapter_config.json").write_text(json.dumps(config | {"init_lora_weights": init}))
    assert merge_adapter_into_checkpoint(sharded.base, tmp_path / "other_init", tmp_path / "merged").merged_weights == 14
