"""The from-scratch LoRA layer must compute exactly what peft computes, and merging must not change the output."""
import pytest
import torch
from peft import LoraConfig, get_peft_model
from torch import nn
from transformers import LlamaConfig, LlamaForCausalLM

from course_utils.lora_from_scratch import LoRALinear


class OneLayer(nn.Module):
    def __init__(self):
        super().__init__()
        self.proj = nn.Linear(48, 32)

    def forward(self, x):
        return self.proj(x)


def test_same_output_as_peft_for_the_same_a_and_b():
    torch.manual_seed(0)
    net = OneLayer()
    ours = LoRALinear(nn.Linear(48, 32), r=4, alpha=8)
    ours.base.load_state_dict(net.proj.state_dict())
    peft_model = get_peft_model(net, LoraConfig(r=4, lora_alpha=8, target_modules=["proj"], init_lora_weights=False))
    layer = peft_model.base_model.model.proj
    with torch.no_grad():
        ours.A.copy_(layer.lora_A["default"].weight)
        ours.B.copy_(layer.lora_B["default"].weight)
    assert ours.B.abs().sum() > 0  # a zero B would make the comparison trivial
    x = torch.randn(5, 7, 48)
    assert (ours(x) - peft_model(x)).abs().max().item() <= 1e-6


def test_a_fresh_layer_equals_the_base_layer():
    torch.manual_seed(0)
    base = nn.Linear(16, 8)
    x = torch.randn(3, 16)
    assert torch.equal(LoRALinear(base, r=2)(x), base(x))


def test_merged_weight_gives_the_same_output():
    torch.manual_seed(0)
    layer = LoRALinear(nn.Linear(16, 8), r=2, alpha=4)
    with torch.no_grad():
        layer.B.normal_()
    x = torch.randn(3, 16)
    merged = nn.functional.linear(x, layer.merged_weight(), layer.base.bias)
    assert (merged - layer(x)).abs().max().item() <= 1e-5


def test_only_a_and_b_train_and_the_loss_falls():
    torch.manual_seed(0)
    layer = LoRALinear(nn.Linear(16, 16), r=2, alpha=2)
    target = nn.Linear(16, 16)
    with torch.no_grad():  # a target exactly one rank-2 update away from the base layer
        target.load_state_dict(layer.base.state_dict())
        target.weight += torch.randn(16, 2) @ torch.randn(2, 16) * 0.3
    assert [n for n, p in layer.named_parameters() if p.requires_grad] == ["A", "B"]
    optimizer = torch.optim.Adam([layer.A, layer.B], lr=0.02)
    x = torch.randn(256, 16)
    losses = []
    for _ in range(200):
        loss = (layer(x) - target(x).detach()).pow(2).mean()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    assert losses[-1] < 0.05 * losses[0]


def test_rank_must_be_positive():
    with pytest.raises(ValueError, match="positive"):
        LoRALinear(nn.Linear(4, 4), r=0)


def test_peft_merge_and_unload_keeps_the_logits():
    torch.manual_seed(0)
    config = LlamaConfig(hidden_size=64, intermediate_size=128, num_hidden_layers=2, num_attention_heads=4,
                         num_key_value_heads=2, vocab_size=256)
    model = get_peft_model(LlamaForCausalLM(config), LoraConfig(r=8, target_modules="all-linear", init_lora_weights=False)).eval()
    ids = torch.randint(0, 256, (2, 12))
    with torch.no_grad():
        unmerged = model(input_ids=ids).logits
        with model.disable_adapter():
            base = model(input_ids=ids).logits
        merged = model.merge_and_unload()(input_ids=ids).logits
    assert (unmerged - base).abs().max() > 1e-3  # the adapter really changes the output
    assert (merged - unmerged).abs().max().item() <= 1e-5
