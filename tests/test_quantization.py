"""nf4 by hand must reproduce bitsandbytes exactly, and the memory arithmetic must match what a loaded model takes."""
import warnings

import bitsandbytes.functional as bnb_functional
import pytest
import torch
from transformers import AutoModelForCausalLM, BitsAndBytesConfig, LlamaConfig, LlamaForCausalLM

from course_utils.quantization import (
    BITS_PER_WEIGHT, checked_compute_dtype, fits_in_memory, model_on_meta, nf4_dequantize, nf4_levels, nf4_quantize,
    parameter_split, quant_scale_bytes, read_weight, weight_bytes,
)


def test_nf4_levels_are_bitsandbytes_table():
    levels = nf4_levels()
    assert levels.shape == (16,) and levels[0] == -1 and levels[-1] == 1 and 0.0 in levels
    assert torch.allclose(levels, bnb_functional.get_4bit_type("nf4", device="cpu"), atol=1e-6)


def test_by_hand_nf4_equals_bitsandbytes():
    torch.manual_seed(0)
    weight = torch.randn(96, 128) * 0.02
    indices, absmax = nf4_quantize(weight)
    packed, state = bnb_functional.quantize_4bit(weight, blocksize=64, quant_type="nf4")
    assert torch.equal(absmax, state.absmax)
    bnb_indices = torch.stack([packed.flatten() >> 4, packed.flatten() & 15], dim=-1).flatten()  # two per byte, high first
    assert torch.equal(indices.flatten(), bnb_indices)
    ours = nf4_dequantize(indices, absmax, weight.shape)
    assert (ours - bnb_functional.dequantize_4bit(packed, state)).abs().max().item() <= 1e-6
    assert (ours - weight).abs().mean() < 0.1 * weight.abs().mean()


def test_nf4_beats_evenly_spaced_levels_on_normal_weights():
    torch.manual_seed(1)
    weight = torch.randn(256, 256)
    even = torch.linspace(-1, 1, 16)
    nf4_error = (nf4_dequantize(*nf4_quantize(weight), weight.shape) - weight).pow(2).mean()
    even_error = (nf4_dequantize(*nf4_quantize(weight, levels=even), weight.shape, levels=even) - weight).pow(2).mean()
    assert nf4_error < even_error


def test_nf4_quantize_rejects_a_size_that_blocks_do_not_divide():
    with pytest.raises(ValueError, match="blocksize"):
        nf4_quantize(torch.randn(10, 10))


def test_llama3_8b_parameter_split_from_config():
    config = LlamaConfig(hidden_size=4096, num_hidden_layers=32, num_attention_heads=32, num_key_value_heads=8,
                         intermediate_size=14336, vocab_size=128256, tie_word_embeddings=False)
    split = parameter_split(model_on_meta(config))
    assert split.total == 8_030_261_248  # Llama-3-8B's published size
    assert split.kept - 2 * 128256 * 4096 == 4096 * 65  # embeddings + head, then 65 RMSNorm vectors
    assert weight_bytes(split, "bf16") == 2 * split.total
    assert weight_bytes(split, "nf4", kept_bits=16) < weight_bytes(split, "int8") < weight_bytes(split, "bf16")


def test_weight_bytes_rejects_unknown_scheme():
    with pytest.raises(ValueError, match="Unknown scheme"):
        weight_bytes(parameter_split(LlamaForCausalLM(tiny_config())), "int3")


def tiny_config() -> LlamaConfig:
    return LlamaConfig(hidden_size=128, intermediate_size=256, num_hidden_layers=2, num_attention_heads=4,
                       num_key_value_heads=2, vocab_size=512, tie_word_embeddings=True)


@pytest.mark.parametrize("double_quant", [False, True])
def test_loaded_4bit_model_takes_the_predicted_bytes(tmp_path, double_quant):
    torch.manual_seed(0)
    LlamaForCausalLM(tiny_config()).save_pretrained(tmp_path)
    expected = weight_bytes(parameter_split(model_on_meta(tiny_config())), "nf4+dq" if double_quant else "nf4", kept_bits=32)
    config = BitsAndBytesConfig(load_in_4bit=True, bnb_4bit_quant_type="nf4", bnb_4bit_use_double_quant=double_quant,
                                bnb_4bit_compute_dtype=torch.float32)
    model = AutoModelForCausalLM.from_pretrained(tmp_path, quantization_config=config, device_map="cpu", dtype=torch.float32)
    measured = model.get_memory_footprint() + quant_scale_bytes(model)
    assert abs(measured - expected) / expected < 0.01
    assert parameter_split(model) == parameter_split(model_on_meta(tiny_config()))  # packed uint8 counted as 2 weights


def test_read_weight_reads_one_tensor(tmp_path):
    model = LlamaForCausalLM(tiny_config())
    model.save_pretrained(tmp_path)
    name = "model.layers.1.mlp.down_proj.weight"
    assert torch.equal(read_weight(tmp_path, name), model.model.layers[1].mlp.down_proj.weight)
    with pytest.raises(KeyError, match="not in"):
        read_weight(tmp_path, "model.layers.9.mlp.down_proj.weight")


def test_bf16_on_a_t4_warns_and_falls_back_to_fp16():
    with pytest.warns(UserWarning, match="float16"):
        assert checked_compute_dtype(torch.bfloat16, (7, 5)) == torch.float16


def test_supported_compute_dtypes_pass_silently():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert checked_compute_dtype(torch.bfloat16, (8, 0)) == torch.bfloat16
        assert checked_compute_dtype(torch.float16, (7, 5)) == torch.float16
        assert checked_compute_dtype(torch.float32, None) == torch.float32


def test_non_float_compute_dtype_is_an_error():
    with pytest.raises(ValueError, match="float"):
        checked_compute_dtype(torch.int8, (8, 0))


def test_fits_in_memory_keeps_headroom():
    assert fits_in_memory(5.6, 15.0) and not fits_in_memory(14.96, 15.0)
    assert BITS_PER_WEIGHT["nf4+dq"] < BITS_PER_WEIGHT["nf4"] < BITS_PER_WEIGHT["int8"]


@pytest.mark.parametrize("shape", [(256, 256), (96, 200)])  # 1,024 block scales, and 300 (a last, partial block of 44)
def test_double_quant_by_hand_equals_bitsandbytes(shape):
    """The block scales go through bitsandbytes' dynamic 8-bit map, not linear int8 steps (issue 20, item 13)."""
    from course_utils.quantization import double_dequantize, double_quantize

    torch.manual_seed(2)
    weight = torch.randn(*shape) * 0.02
    _, absmax = nf4_quantize(weight)
    _, state = bnb_functional.quantize_4bit(weight, blocksize=64, quant_type="nf4", compress_statistics=True)
    codes, absmax2, offset = double_quantize(absmax)
    assert offset == pytest.approx(float(state.offset), rel=1e-6)
    assert torch.equal(absmax2, state.state2.absmax) and torch.equal(state.state2.code, bnb_functional.create_dynamic_map())
    # bitsandbytes' CPU kernel finds the nearest map value by an approximate binary search: a value within 1e-5 of the
    # midpoint between two neighbours may go to either. Everywhere else the codes are the same.
    differ = codes != state.absmax
    scaled = (absmax - offset) / absmax2.repeat_interleave(256)[: len(absmax)]
    code = state.state2.code
    midpoint = (code[codes.long()] + code[state.absmax.long()]) / 2
    assert differ.float().mean() < 0.01
    assert ((codes.int() - state.absmax.int()).abs()[differ] == 1).all() and ((scaled - midpoint).abs()[differ] < 1e-5).all()
    restored = bnb_functional.dequantize_blockwise(state.absmax, state.state2) + state.offset
    assert (double_dequantize(codes, absmax2, offset) - restored)[~differ].abs().max().item() <= 1e-7
