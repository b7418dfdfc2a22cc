"""Checking that a LoRA adapter belongs to a base model before PEFT loads it (merging itself: `course_utils.merge`).

PEFT loads an adapter onto any model whose module names match and fails late (a size mismatch deep in
`load_state_dict`) or not at all (same shapes, wrong weights: silently bad answers). These checks fail early
with a sentence that says what to load instead.
"""
from __future__ import annotations

import json
from pathlib import Path

from transformers import PreTrainedModel

ADAPTER_CONFIG = "adapter_config.json"
ADAPTER_WEIGHTS = "adapter_model.safetensors"


def read_adapter_config(adapter_dir: str | Path) -> dict:
    """The adapter's saved PEFT config (base model name, rank, target modules)."""
    path = Path(adapter_dir) / ADAPTER_CONFIG
    if not path.is_file():
        raise FileNotFoundError(f"{path} does not exist: pass the folder written by trainer.save_model() or save_pretrained().")
    return json.loads(path.read_text())


def same_model_name(a: str | None, b: str | None) -> bool:
    """Hub id and local copy count as the same model when their last path parts agree (".../SmolLM2-135M-Instruct")."""
    if not a or not b:
        return True  # nothing recorded on one side: only the shapes can tell
    tail = lambda name: str(name).rstrip("/").split("/")[-1].lower()  # noqa: E731
    return tail(a) == tail(b)


def lora_shapes(adapter_dir: str | Path) -> dict[str, tuple[int, int]]:
    """(in_features, out_features) each LoRA pair expects, keyed by the module path inside the base model."""
    from safetensors import safe_open

    path = Path(adapter_dir) / ADAPTER_WEIGHTS
    if not path.is_file():
        raise FileNotFoundError(f"{path} does not exist: the adapter folder is incomplete, save it again.")
    shapes: dict[str, list[int]] = {}
    with safe_open(str(path), framework="pt") as weights:
        for key in weights.keys():
            for part, index in ((".lora_A.weight", 1), (".lora_B.weight", 0)):
                if key.endswith(part):
                    module = key.removesuffix(part).removeprefix("base_model.model.")
                    shapes.setdefault(module, [0, 0])[0 if part == ".lora_A.weight" else 1] = weights.get_slice(key).get_shape()[index]
    return {module: (pair[0], pair[1]) for module, pair in shapes.items()}


def check_adapter_matches_base(adapter_dir: str | Path, base_model: PreTrainedModel, check_name: bool = True) -> None:
    """Raise ValueError when the adapter was trained on another base model (recorded name, or layer shapes)."""
    config = read_adapter_config(adapter_dir)
    expected = config.get("base_model_name_or_path")
    actual = getattr(base_model, "name_or_path", None) or getattr(base_model.config, "_name_or_path", None)
    if check_name and not same_model_name(expected, actual):
        raise ValueError(
            f"The adapter in {adapter_dir} was trained on {expected!r} but the base model is {actual!r}: "
            f"load {expected!r} as the base before merging."
        )
    modules = dict(base_model.named_modules())
    for name, (in_features, out_features) in lora_shapes(adapter_dir).items():
        module = modules.get(name)
        if module is None:
            raise ValueError(
                f"The adapter targets {name!r}, which the base model {actual!r} does not have: "
                f"load the base model {expected!r} the adapter was trained on."
            )
        found = (getattr(module, "in_features", None), getattr(module, "out_features", None))
        if found != (in_features, out_features):
            raise ValueError(
                f"The adapter expects {name} to map {in_features} -> {out_features} features, but the base model "
                f"{actual!r} has {found[0]} -> {found[1]}: load the base model {expected!r} the adapter was trained on."
            )

