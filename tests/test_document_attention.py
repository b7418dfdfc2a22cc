"""Per-document attention: a padding-free batch must give the padded batch's loss and LoRA gradients, row for row."""
from __future__ import annotations

import functools

import pytest
import torch
from transformers import LlamaConfig, LlamaForCausalLM

from course_utils import document_attention as docattn

LENGTHS = (5, 11, 3, 17)  # four rows of different lengths; 3 is shorter than a LoRA rank, 17 the longest
TARGETS = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]
# fp32 on CPU: the two paths add the same numbers in a different order; measured differences are ~1e-7
LOSS_TOLERANCE, GRAD_TOLERANCE = 1e-5, 1e-4


def tiny_lora_model(attn_implementation: str):
    """A random Llama with grouped-query attention (4 query heads share 2 key/value heads), LoRA on 7 projections."""
    from peft import LoraConfig, get_peft_model

    torch.manual_seed(0)
    config = LlamaConfig(hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=4,
                         num_key_value_heads=2, vocab_size=64, pad_token_id=0, tie_word_embeddings=False)
    config._attn_implementation = attn_implementation
    model = LlamaForCausalLM(config)
    lora = LoraConfig(r=4, lora_alpha=8, lora_dropout=0.0, target_modules=TARGETS, init_lora_weights=False)
    return get_peft_model(model, lora)  # init_lora_weights=False: B is not zero, so gradients reach A too


def rows() -> list[dict]:
    generator = torch.Generator().manual_seed(1)
    out = []
    for length in LENGTHS:
        ids = torch.randint(1, 64, (length,), generator=generator).tolist()
        prompt = length // 3  # completion-only loss: the prompt's positions carry no label
        out.append({"input_ids": ids, "labels": [-100] * prompt + ids[prompt:]})
    return out


def loss_and_grads(model, batch: dict) -> tuple[float, dict[str, torch.Tensor]]:
    model.zero_grad(set_to_none=True)
    loss = model(**batch, use_cache=False).loss
    loss.backward()
    return loss.item(), {n: p.grad.clone() for n, p in model.named_parameters() if p.requires_grad}


def collated(padding_free: bool) -> dict:
    """The batch exactly as TRL's SFT collator builds it (completion-only labels, padding-free boundaries)."""
    from trl.trainer.sft_trainer import DataCollatorForLanguageModeling

    return DataCollatorForLanguageModeling(pad_token_id=0, padding_free=padding_free)(rows())


def model_inputs(batch: dict) -> dict:
    return {k: v for k, v in batch.items() if k != "seq_idx"}


def test_padding_free_document_attention_matches_padded_batch():
    padded = collated(padding_free=False)
    packed = collated(padding_free=True)
    assert padded["input_ids"].shape == (4, max(LENGTHS)) and packed["input_ids"].shape == (1, sum(LENGTHS))
    reference_loss, reference_grads = loss_and_grads(tiny_lora_model("sdpa"), model_inputs(padded))
    model = tiny_lora_model(docattn.register_document_attention())
    loss, grads = loss_and_grads(model, model_inputs(packed))
    assert abs(loss - reference_loss) < LOSS_TOLERANCE * abs(reference_loss)
    assert grads.keys() == reference_grads.keys() and len(grads) == 2 * 2 * len(TARGETS)
    for name, grad in grads.items():
        scale = reference_grads[name].abs().max()
        assert scale > 0, name
        assert (grad - reference_grads[name]).abs().max() <= GRAD_TOLERANCE * scale, name
    # the same row without boundaries is one long document: the check would catch a leak across rows
    leaky = {k: v for k, v in model_inputs(packed).items()
             if k not in ("cu_seq_lens_q", "cu_seq_lens_k", "max_length_q", "max_length_k", "position_ids")}
    _, leaky_grads = loss_and_grads(model, leaky)
    worst = max(((g - reference_grads[n]).abs().max() / reference_grads[n].abs().max()).item()
                for n, g in leaky_grads.items())
    assert worst > 100 * GRAD_TOLERANCE


def test_boundaries_come_from_position_ids_when_the_collator_gives_none():
    packed = model_inputs(collated(padding_free=True))
    model = tiny_lora_model(docattn.register_document_attention())
    with_boundaries, _ = loss_and_grads(model, packed)
    only_positions = {k: v for k, v in packed.items() if not k.startswith(("cu_seq_lens", "max_length"))}
    without, _ = loss_and_grads(model, only_positions)
    assert without == pytest.approx(with_boundaries, rel=1e-6)
    assert docattn.boundaries_from_position_ids(packed["position_ids"]).tolist() == [0, 5, 16, 19, 36]


def test_padded_batch_through_document_attention_matches_sdpa():
    """Evaluation or a padded recipe with the same model: the 2D padding mask still hides the padded keys."""
    padded = model_inputs(collated(padding_free=False))
    padded["input_ids"] = torch.flip(padded["input_ids"], dims=[1])  # left padding: only a real mask keeps this right
    padded["attention_mask"] = torch.flip(padded["attention_mask"], dims=[1])
    padded["labels"] = torch.flip(padded["labels"], dims=[1])
    reference, _ = loss_and_grads(tiny_lora_model("sdpa"), padded)
    loss, _ = loss_and_grads(tiny_lora_model(docattn.register_document_attention()), padded)
    assert loss == pytest.approx(reference, rel=1e-5)


def reference_varlen(query, key, value, cu_q, cu_k, max_q, max_k, *, scale=None, window_size=(-1, -1),
                     enable_gqa=False):
    """A stand-in for torch's CUDA varlen kernel with its (T, H, D) layout, built from per-document SDPA."""
    assert window_size == (-1, 0) and cu_q.dtype == torch.int32 and max_q == max(LENGTHS)
    out = docattn.sdpa_per_document(query.transpose(0, 1)[None], key.transpose(0, 1)[None],
                                    value.transpose(0, 1)[None], cu_q, scale)
    return out[0].transpose(0, 1)


def test_varlen_branch_passes_the_kernel_its_layout(monkeypatch):
    """The CUDA kernel cannot run here; its wiring (transposes, GQA, causal window, boundaries) is checked instead."""
    packed = model_inputs(collated(padding_free=True))
    model = tiny_lora_model(docattn.register_document_attention())
    per_document, per_document_grads = loss_and_grads(model, packed)
    calls = []

    @functools.wraps(reference_varlen)  # keeps the signature the wiring inspects
    def counting_kernel(*args, **kwargs):
        calls.append(kwargs)
        return reference_varlen(*args, **kwargs)

    monkeypatch.setattr(docattn, "varlen_kernel", lambda: counting_kernel)
    monkeypatch.setattr(docattn, "uses_varlen_kernel", lambda query: True)
    varlen, varlen_grads = loss_and_grads(model, packed)
    assert len(calls) == 2 and calls[0]["enable_gqa"] is True  # one call a layer
    assert varlen == pytest.approx(per_document, rel=1e-6)
    for name, grad in varlen_grads.items():
        assert torch.allclose(grad, per_document_grads[name], atol=1e-6), name


def test_varlen_kernel_exists_in_this_torch_and_is_used_only_where_it_runs():
    assert docattn.varlen_kernel() is not None, "torch >= 2.10 ships torch.nn.attention.varlen"
    assert not docattn.uses_varlen_kernel(torch.zeros(1, 2, 3, 4, dtype=torch.bfloat16))  # CPU: SDPA loop
