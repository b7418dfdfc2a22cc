"""Loading helpers: the weightless skeleton that lets lesson 02 resize an 8B model's embeddings without loading it."""
import torch
from transformers import LlamaConfig, LlamaForCausalLM

from course_utils import models
from course_utils.profiles import PROFILES


def test_skeleton_has_the_real_shapes_and_no_weights(tmp_path, monkeypatch):
    config = LlamaConfig(vocab_size=300, hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                         num_attention_heads=4, num_key_value_heads=2, tie_word_embeddings=False)
    real = LlamaForCausalLM(config)
    real.save_pretrained(tmp_path)
    monkeypatch.setattr(models, "resolve_model", lambda model_id, profile: str(tmp_path))
    skeleton = models.model_skeleton("org/llama", PROFILES["t4"])
    assert {p.device.type for p in skeleton.parameters()} == {"meta"}
    assert skeleton.get_input_embeddings().weight.dtype == torch.float16  # the profile's compute dtype
    assert {n: p.shape for n, p in skeleton.named_parameters()} == {n: p.shape for n, p in real.named_parameters()}
    skeleton.resize_token_embeddings(301, mean_resizing=False)  # no values to average on meta
    assert skeleton.get_input_embeddings().weight.shape == skeleton.get_output_embeddings().weight.shape == (301, 32)
