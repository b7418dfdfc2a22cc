"""The GPU benchmark's plumbing on CPU: FLOP counting by hand, padding-free attention, and the JSON it writes."""
from __future__ import annotations

import json
import sys

import pytest
import torch
from transformers import LlamaConfig, LlamaForCausalLM

from course_utils.environment import REPO_ROOT

sys.path.insert(0, str(REPO_ROOT))  # benchmarks/ is not an installed package
from benchmarks.sft import data, measure, recipes, run
from course_utils import flops as flop_model
from course_utils.alpaca_lengths import PROMPT_TEMPLATE_TOKENS
from benchmarks.sft import model as random_llama  # noqa: E402

HAND_SHAPE = flop_model.ModelShape(hidden=8, layers=2, heads=2, kv_heads=1, head_dim=4, intermediate=16, vocab=32)


def test_parameter_counts_match_hand_count_and_real_llama3_8b():
    # per layer: q 8*8 + k 8*4 + v 8*4 + o 8*8 + gate/up/down 3*8*16 = 576
    assert HAND_SHAPE.body_params() == 2 * 576
    assert HAND_SHAPE.head_params() == 32 * 8
    # LoRA r=2: q 2*(8+8) + k,v 2*2*(8+4) + o 2*(8+8) + gate,up 2*2*(8+16) + down 2*(16+8) = 256 a layer
    assert HAND_SHAPE.lora_params(2) == 2 * 256

    with torch.device("meta"):
        model = LlamaForCausalLM(LlamaConfig(**random_llama.LLAMA3_8B))
    shape = flop_model.ModelShape.from_config(random_llama.LLAMA3_8B)
    linear_in_layers = sum(m.weight.numel() for m in model.model.layers.modules() if isinstance(m, torch.nn.Linear))
    assert linear_in_layers == shape.body_params() == 6_979_321_856
    assert model.lm_head.weight.numel() == shape.head_params()
    assert sum(p.numel() for p in model.parameters()) == 8_030_261_248  # Llama-3-8B's published size
    assert shape.lora_params(16) == 41_943_040


def test_lora_count_matches_peft_trainable_parameters():
    from peft import LoraConfig, get_peft_model

    config = LlamaConfig(hidden_size=8, intermediate_size=16, num_hidden_layers=2, num_attention_heads=2,
                         num_key_value_heads=1, vocab_size=32, tie_word_embeddings=False)
    model = get_peft_model(LlamaForCausalLM(config), LoraConfig(r=2, target_modules=random_llama.LORA_TARGETS))
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    assert trainable == HAND_SHAPE.lora_params(2)


def test_step_flops_match_hand_computation():
    # two sequences of 4 and 6 tokens: causal pairs 4*5/2 + 6*7/2 = 31; 6 positions carry a label
    flops = flop_model.step_flops(HAND_SHAPE, lora_r=2, tokens=10, loss_tokens=6, causal_pairs=31,
                             gradient_checkpointing=False)
    body, lora, head = 4 * 1152 * 10, 6 * 512 * 10, 4 * 256 * 6
    attention = 12 * 2 * 8 * 31
    assert flops["model"] == body + lora + head + attention == 88_896
    assert flops["recompute"] == 2 * 256 * 6  # the fused LM head recomputes its logits in backward
    with_checkpointing = flop_model.step_flops(HAND_SHAPE, 2, 10, 6, 31, gradient_checkpointing=True)
    assert with_checkpointing["model"] == flops["model"]
    assert with_checkpointing["recompute"] == 3072 + 2 * 1152 * 10 + 2 * 512 * 10 + 4 * 2 * 8 * 31 == 38_336


def test_padding_free_sdpa_keeps_sequences_apart():
    """The fast recipe flattens a batch into one row; SDPA must see a block-diagonal mask, not one long sequence."""
    torch.manual_seed(0)
    config = LlamaConfig(hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=4,
                         num_key_value_heads=2, vocab_size=64, attn_implementation="sdpa")
    model = LlamaForCausalLM(config).eval()
    a, b = torch.randint(0, 64, (5,)), torch.randint(0, 64, (9,))
    with torch.no_grad():
        separate = torch.cat([model(input_ids=a[None]).logits[0], model(input_ids=b[None]).logits[0]])
        # use_cache=False as in training (TRL sets it): with a cache, transformers skips the packed-sequence mask
        packed = model(input_ids=torch.cat([a, b])[None], use_cache=False,
                       position_ids=torch.cat([torch.arange(5), torch.arange(9)])[None]).logits[0]
        leaky = model(input_ids=torch.cat([a, b])[None], use_cache=False).logits[0]
    assert torch.allclose(packed, separate, atol=1e-5)
    assert not torch.allclose(leaky[5:], separate[5:], atol=1e-3)  # the check would catch a leak


def test_synthetic_rows_follow_the_length_model():
    rows = data.alpaca_like_rows(2000, seed=0, config=random_llama.LLAMA3_8B)
    summary = data.length_summary(rows)
    assert 170 < summary["mean"] < 240 and 0.15 < summary["share_over_256"] < 0.35
    first = rows["input_ids"][0]
    assert first[0] == random_llama.LLAMA3_8B["bos_token_id"] and first[-1] == random_llama.LLAMA3_8B["eos_token_id"]
    assert all(len(i) == len(m) for i, m in zip(rows["input_ids"], rows["completion_mask"]))
    assert rows["completion_mask"][0][: PROMPT_TEMPLATE_TOKENS] == [0] * PROMPT_TEMPLATE_TOKENS


@pytest.mark.filterwarnings("ignore::FutureWarning")
def test_tiny_cpu_run_writes_the_table(tmp_path):
    result = run.main(["--tiny", "--recipes", "seed,t4,fast", "--out", str(tmp_path)])
    written = json.loads((tmp_path / "sft_benchmark.json").read_text())
    assert written["recipes"] and written == json.loads(json.dumps(result, default=str))
    assert [r["name"] for r in written["recipes"]] == ["seed", "t4", "fast"]
    for key in ("device", "packages", "matmul_tflops", "flop_formula", "data"):
        assert key in written
    assert {"name", "driver", "cuda"} <= written["device"].keys()
    for row in written["recipes"]:
        assert "error" not in row, row.get("error")
        assert row["seconds_for_100_steps"] > 0 and row["trained_tokens_per_s"] > 0
        assert 0 < row["mfu"] < 1 and row["mfu_without_recompute"] < row["mfu"]
        assert "peak_memory_gib" in row  # None on CPU
        assert row["samples_per_100_steps"] == 100 * row["recipe"]["per_device_train_batch_size"] * row["recipe"]["gradient_accumulation_steps"]
        assert row["setup_seconds"] > 0 and row["attn_implementation"] == "sdpa"
    seed, t4, fast = written["recipes"]
    assert seed["padding_share"] > 0 and fast["padding_share"] == 0  # padding-free computes no padding
    assert seed["loss_tokens_share"] > fast["loss_tokens_share"]  # the seed trains on the prompt too
    table = (tmp_path / "sft_benchmark.md").read_text()
    assert "| seed |" in table and "| fast |" in table and "MFU" in table


def test_every_recipe_trains_the_seeds_1600_samples():
    for recipe in recipes.default_recipes(extras=True):
        assert recipe.effective_batch_size * data.MAX_STEPS == data.SAMPLES == 1600, recipe.name


def test_fp32_adapters_undo_trls_bf16_cast_for_fp16_training():
    """On a T4 (fp16), GradScaler cannot unscale the bf16 adapters TRL makes for quantized models."""
    from peft import LoraConfig, get_peft_model

    config = LlamaConfig(hidden_size=8, intermediate_size=16, num_hidden_layers=1, num_attention_heads=2,
                         num_key_value_heads=1, vocab_size=32)
    model = get_peft_model(LlamaForCausalLM(config).half(), LoraConfig(r=2, target_modules=random_llama.LORA_TARGETS))
    for param in model.parameters():
        if param.requires_grad:
            param.data = param.data.to(torch.bfloat16)  # what SFTTrainer does to a quantized model's adapters
    assert measure.fp32_adapters(model) == 2 * 7
    assert {p.dtype for p in model.parameters() if p.requires_grad} == {torch.float32}
    assert {p.dtype for p in model.parameters() if not p.requires_grad} == {torch.float16}


@pytest.mark.parametrize("name, kind", [
    ("void bitsandbytes::kDequantizeBlockwise<__nv_bfloat16, 512, 64, 8, 2>", "bitsandbytes 4-bit dequantize"),
    ("nvjet_hsh_128x256_64x4_2x1_v_bz_coopA_NNT", "matmul"),
    ("fmha_cutlassB_bf16_aligned_64x64_k128_sm80", "attention"),
    ("void at::native::vectorized_elementwise_kernel<4, at::native::CUDAFunctor_add<float>>", "elementwise, norms, copies, optimizer"),
])
def test_kernel_kinds_sort_profiled_kernels(name, kind):
    assert measure.kernel_kind(name) == kind


def test_diagnostic_recipes_run_only_when_named():
    default = recipes.select_recipes(None, tiny=False)
    named = recipes.select_recipes("fast_profile,seed", tiny=False)
    assert "fast_profile" not in [r.name for r in default]
    assert [r.name for r in named] == ["fast_profile", "seed"] and named[0].profile  # in the order asked
    with pytest.raises(SystemExit, match="Unknown recipe"):
        recipes.select_recipes("nope", tiny=False)


def test_recipes_are_course_presets_plus_named_overrides(tmp_path):
    """What each row changes reaches the SFTConfig built by the course's builder, and nothing else changes."""
    from course_utils.profiles import PROFILES

    by_name = {r.name: r for r in recipes.default_recipes(extras=True)}
    a100 = recipes.sft_config(by_name["a100"], tmp_path, "cpu")
    fast = recipes.sft_config(by_name["fast"], tmp_path, "cpu")
    preset = PROFILES["a100"].sft
    assert a100.gradient_checkpointing and a100.gradient_checkpointing_kwargs == {"use_reentrant": False}
    assert not fast.gradient_checkpointing
    for config in (a100, fast):
        assert config.padding_free and config.max_length is None and config.max_steps == 100
        assert config.per_device_train_batch_size == preset.per_device_train_batch_size
        assert config.eval_steps == preset.eval_steps and config.save_strategy == "no"
    assert by_name["fast"].row_max_length == preset.max_length  # rows cut where the preset would cut them
    nosync = recipes.sft_config(by_name["fast_nosync"], tmp_path, "cpu")
    assert not nosync.logging_nan_inf_filter and fast.logging_nan_inf_filter and not by_name["fast_nosync"].trl_metrics
    best = by_name["fast_best"]
    assert (best.attention, best.lora_dropout, best.trl_metrics) == ("document", 0.0, False)
    assert by_name["fast_best_compile"].compile_layers and not best.compile_layers
    seed = recipes.sft_config(by_name["seed"], tmp_path, "cpu")
    assert seed.gradient_checkpointing_kwargs == {"use_reentrant": True} and seed.max_length == 2048
    assert not seed.padding_free and not seed.completion_only_loss
    t4 = by_name["t4"]
    assert t4.precision == "fp16" and t4.effective_batch_size == 16 and t4.row_max_length == PROFILES["t4"].sft_full.max_length
    assert recipes.compute_dtype(t4, "cuda") == torch.float16 and recipes.compute_dtype(t4, "cpu") == torch.float32
    assert by_name["unsloth"].runner == "unsloth" and by_name["unsloth"].effective_batch_size == 16


def test_unsloth_row_is_skipped_with_its_reason_on_cpu(tmp_path):
    result = run.main(["--tiny", "--recipes", "unsloth", "--out", str(tmp_path)])
    assert result["recipes"][0]["error"].startswith("skipped: Unsloth needs a CUDA GPU")
    assert "| unsloth | not run: skipped: Unsloth needs a CUDA GPU" in (tmp_path / "sft_benchmark.md").read_text()


def test_unsloth_row_records_the_exact_error_when_unsloth_cannot_load(tmp_path):
    """Here Unsloth is not installed: the row must carry the import error, not vanish (on the GPU, any error)."""
    import importlib.util
    import subprocess

    if importlib.util.find_spec("unsloth") is not None:
        pytest.skip("Unsloth is installed here")
    row_out = tmp_path / "unsloth.json"
    completed = subprocess.run([sys.executable, "-m", "benchmarks.sft.unsloth_row", "--row-out", str(row_out),
                                "--model-dir", str(tmp_path), "--matmul-tflops", "1"], cwd=REPO_ROOT,
                               env=run.child_environment(), capture_output=True, text=True, timeout=120)
    row = json.loads(row_out.read_text())
    assert completed.returncode == 1 and row["name"] == "unsloth"
    assert row["error"] == "ModuleNotFoundError: No module named 'unsloth'"


def test_stop_after_caps_every_recipes_timed_steps_but_keeps_shorter_ones():
    from benchmarks.sft.recipes import select_recipes

    capped = {r.name: r.stop_after for r in select_recipes("fast,seed,fast_profile", tiny=False, stop_after=10)}
    assert capped == {"fast": 10, "seed": 10, "fast_profile": 8}
    assert select_recipes("fast", tiny=False)[0].stop_after == 15  # its own count unless capped
