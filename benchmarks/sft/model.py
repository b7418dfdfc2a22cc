"""The model under test: Llama-3-8B's exact shapes with random weights, saved once in bf16, loaded in nf4."""
from __future__ import annotations

import gc
import json
import time
from pathlib import Path

import torch


LLAMA3_8B = dict(
    hidden_size=4096, intermediate_size=14336, num_hidden_layers=32, num_attention_heads=32, num_key_value_heads=8,
    vocab_size=128256, max_position_embeddings=8192, rope_theta=500000.0, rms_norm_eps=1e-5,
    bos_token_id=128000, eos_token_id=128001, pad_token_id=128255, tie_word_embeddings=False,
)
TINY = dict(
    hidden_size=64, intermediate_size=128, num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2,
    vocab_size=512, max_position_embeddings=512, rope_theta=500000.0, rms_norm_eps=1e-5,
    bos_token_id=509, eos_token_id=510, pad_token_id=511, tie_word_embeddings=False,
)
LORA_TARGETS = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]


def build_random_checkpoint(config: dict, folder: Path, device: str) -> float:
    """Llama with random weights saved in bf16: built on the GPU (fast init), written once, reloaded per recipe."""
    from transformers import LlamaConfig, LlamaForCausalLM

    marker = folder / "benchmark_complete.json"
    if marker.is_file() and json.loads(marker.read_text()) == config:
        return 0.0
    start = time.perf_counter()
    previous = torch.get_default_dtype()
    torch.set_default_dtype(torch.bfloat16)
    try:
        with torch.device(device):
            model = LlamaForCausalLM(LlamaConfig(**config))
    finally:
        torch.set_default_dtype(previous)
    model.save_pretrained(folder)
    marker.write_text(json.dumps(config))
    del model
    gc.collect()
    if device == "cuda":
        torch.cuda.empty_cache()
    return time.perf_counter() - start


def load_quantized(folder: Path, compute_dtype: torch.dtype, device: str, quantize: bool = True,
                   attn_implementation: str = "sdpa"):
    """The QLoRA base: nf4 + double quant with the recipe's compute dtype and the recipe's attention."""
    from transformers import AutoModelForCausalLM, BitsAndBytesConfig

    quantization = BitsAndBytesConfig(
        load_in_4bit=True, bnb_4bit_quant_type="nf4", bnb_4bit_use_double_quant=True,
        bnb_4bit_compute_dtype=compute_dtype,
    ) if quantize else None
    return AutoModelForCausalLM.from_pretrained(
        folder, quantization_config=quantization, dtype=compute_dtype, attn_implementation=attn_implementation,
        device_map={"": 0} if device == "cuda" else "cpu",
    )

