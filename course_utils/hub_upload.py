"""Sharing a trained model on the Hugging Face Hub, only when a token is present, with a model card that says what it is.

The seed pasted its token into the notebook; here the token comes from `HF_TOKEN` or Colab secrets
(`course_utils.environment.hub_token`), and without one nothing is uploaded.
"""
from __future__ import annotations

import os
from pathlib import Path

from .environment import hub_token

# Licenses of the base models the course fine-tunes; a merged model or adapter inherits its base model's terms.
BASE_MODEL_LICENSES = {
    "HuggingFaceTB/SmolLM2-135M-Instruct": "apache-2.0",
    "beomi/Llama-3-Open-Ko-8B-Instruct-preview": "llama3",
    "allganize/Llama-3-Alpha-Ko-8B-Instruct": "llama3",
    "Qwen/Qwen2-7B-Instruct": "apache-2.0",
    "NousResearch/Meta-Llama-3-8B": "llama3",
}


def base_model_license(base_model: str) -> str:
    """The Hub license id of a known base model, or "other" (the card then tells the reader to check the base model)."""
    return BASE_MODEL_LICENSES.get(base_model, "other")


def hub_repo_id(name: str, token: str | None = None) -> str:
    """`<your Hub user>/<name>` from `huggingface_hub.whoami()` when a token is present, else a placeholder to edit."""
    token = token or hub_token()
    if not token or os.environ.get("HF_HUB_OFFLINE") == "1":
        return f"your-name/{name}"
    from huggingface_hub import whoami

    return f"{whoami(token=token)['name']}/{name}"


def is_adapter_folder(folder: str | Path) -> bool:
    """A folder PEFT wrote (adapter_config.json, no full config.json) holds an adapter, not a whole model."""
    folder = Path(folder)
    return (folder / "adapter_config.json").is_file() and not (folder / "config.json").is_file()


def model_card(
    repo_id: str,
    base_model: str,
    data_description: str,
    data_license: str,
    summary: str,
    adapter_only: bool = False,
    language: str = "ko",
) -> str:
    """README.md text for the Hub: metadata header (base model, license, language) and what the model was trained on."""
    license_id = base_model_license(base_model)
    library = "peft" if adapter_only else "transformers"
    license_note = (
        f"`{license_id}`, inherited from the base model `{base_model}`."
        if license_id != "other"
        else f"the license of the base model `{base_model}` applies: check its model card."
    )
    return f"""---
base_model: {base_model}
license: {license_id}
language:
- {language}
library_name: {library}
tags:
- lora
- sft
- trl
- persona
---

# {repo_id.split("/")[-1]}

{summary}

- **Base model**: [`{base_model}`](https://huggingface.co/{base_model})
- **Weights**: {"LoRA adapter only (load the base model, then `PeftModel.from_pretrained`)" if adapter_only else "LoRA merged into the base model's weights (the same weights as PEFT's `merge_and_unload`); load with `AutoModelForCausalLM.from_pretrained`, no PEFT needed"}
- **Training data**: {data_description}
- **Data license**: {data_license}
- **Model license**: {license_note}

Trained with TRL `SFTTrainer` (LoRA, loss on the assistant's answers only) in an open course on fine-tuning LLMs.
The persona is a fan-made imitation of a fictional character for learning purposes; it is not affiliated with the
rights holders of that character.
"""


def push_folder_to_hub(
    folder: str | Path,
    repo_id: str,
    card: str | None = None,
    token: str | None = None,
    private: bool = True,
) -> str | None:
    """Upload a saved model folder (writing `card` as README.md first); without a token, say so and upload nothing.

    Returns the repository URL, or None when nothing was uploaded.
    """
    folder = Path(folder)
    if not (folder / "config.json").is_file() and not (folder / "adapter_config.json").is_file():
        raise FileNotFoundError(f"{folder} holds no saved model (no config.json or adapter_config.json): call save_pretrained first.")
    token = token or hub_token()
    if not token:
        print(
            "No Hugging Face token (HF_TOKEN environment variable or the Colab secret HF_TOKEN): nothing was uploaded. "
            "Add a write token as a Colab secret to share the model."
        )
        return None
    if os.environ.get("HF_HUB_OFFLINE") == "1":
        print("HF_HUB_OFFLINE=1 is set, so the Hub cannot be reached: nothing was uploaded.")
        return None
    if card is not None:
        (folder / "README.md").write_text(card, encoding="utf-8")

    from huggingface_hub import HfApi

    api = HfApi(token=token)
    url = api.create_repo(repo_id=repo_id, repo_type="model", private=private, exist_ok=True)
    api.upload_folder(folder_path=str(folder), repo_id=repo_id, repo_type="model", commit_message="Upload from the course notebook")
    print(f"Uploaded {folder} to {url}")
    return str(url)
