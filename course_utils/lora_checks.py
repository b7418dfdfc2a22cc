"""Checks and counts around a LoraConfig: catch a bad config before peft half-modifies the model."""
from __future__ import annotations

from peft import LoraConfig
from peft.tuners.tuners_utils import check_target_module_exists
from peft.utils.constants import INCLUDE_LINEAR_LAYERS_SHORTHAND
from torch import nn
from transformers import PreTrainedModel


def linear_layers(model: PreTrainedModel) -> dict[str, nn.Linear]:
    """Every linear layer LoRA could adapt (bitsandbytes' 4/8-bit layers included), without the output head.

    On a model peft already wrapped, a layer is named as before wrapping and its lora_A/lora_B are not counted.
    """
    head = model.get_output_embeddings()
    layers = {}
    for name, module in model.named_modules():
        if not isinstance(module, nn.Linear) or module is head or any(p.startswith("lora_") for p in name.split(".")):
            continue
        layers[name.removesuffix(".base_layer")] = module
    return layers


def linear_layer_names(model: PreTrainedModel) -> list[str]:
    """The short names that target_modules takes, e.g. ['down_proj', 'gate_proj', 'k_proj', ...]."""
    return sorted({name.rsplit(".", 1)[-1] for name in linear_layers(model)})


def matched_layers(model: PreTrainedModel, config: LoraConfig) -> dict[str, nn.Linear]:
    """The linear layers a LoraConfig adapts, matched by peft's own rule ('all-linear' = every one but the head)."""
    layers = linear_layers(model)
    if config.target_modules == INCLUDE_LINEAR_LAYERS_SHORTHAND:
        return layers
    return {name: m for name, m in layers.items() if check_target_module_exists(config, name)}


def check_lora_config(model: PreTrainedModel, config: LoraConfig) -> None:
    """Raise a one-sentence error for a rank <= 0 or target_modules that match no linear layer of this model."""
    if not isinstance(config.r, int) or config.r <= 0:
        raise ValueError(f"LoraConfig(r={config.r!r}): the rank must be a positive integer, typically 8 to 64.")
    if not matched_layers(model, config):
        raise ValueError(
            f"target_modules={config.target_modules!r} matches no linear layer of {type(model).__name__}: "
            f"choose among {linear_layer_names(model)} or use 'all-linear'."
        )


def lora_parameter_count(model: PreTrainedModel, config: LoraConfig) -> int:
    """Trainable LoRA parameters, r·(in + out) per adapted layer; works on a model built on the meta device."""
    check_lora_config(model, config)
    return sum(config.r * (m.in_features + m.out_features) for m in matched_layers(model, config).values())


def trainable_parameters(model: nn.Module) -> tuple[int, int]:
    """(trainable, total) parameters, the two numbers behind peft's print_trainable_parameters.

    A 4-bit weight is stored two to a byte, so its uint8 tensor counts twice, as peft counts it.
    """
    def count(p: nn.Parameter) -> int:
        return p.numel() * (2 if type(p).__name__ == "Params4bit" else 1)

    trainable = sum(count(p) for p in model.parameters() if p.requires_grad)
    return trainable, sum(count(p) for p in model.parameters())
