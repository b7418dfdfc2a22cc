"""Sharing a trained model on the Hugging Face Hub when the learner asks, with a model card that says what it is.

The seed pasted its token into the notebook; here the token comes from `HF_TOKEN` or Colab secrets
(`course_utils.environment.hub_token`), and without one nothing is uploaded. A token alone uploads nothing either:
lesson 08 uploads only with `UPLOAD = True`. The size and an estimated time are printed before an upload starts,
and the Hub's refusals (a read-only token, a name that exists) come back as one sentence.
"""
from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from pathlib import Path

from .command_line import run_tool
from .environment import hub_token

# An assumption, not a measurement: the upload rate used for the time estimate printed before an upload.
# Nothing in this course measured an upload to the Hub; the real rate depends on the connection.
ASSUMED_UPLOAD_MB_PER_S = 10.0
TOKENS_PAGE = "https://huggingface.co/settings/tokens"


class HubUploadError(RuntimeError):
    """The Hub refused a step of the upload; the message says why and what to do, in one sentence."""


@dataclass(frozen=True)
class UploadPlan:
    """What an upload would send, and how long it may take at an assumed rate."""

    files: int
    bytes: int
    rate_mb_per_s: float

    @property
    def seconds(self) -> float:
        return self.bytes / (self.rate_mb_per_s * 1e6)

    def describe(self) -> str:
        size = f"{self.bytes / 1e9:.1f} GB" if self.bytes >= 1e9 else f"{self.bytes / 1e6:.1f} MB"
        minutes = self.seconds / 60
        duration = f"{minutes:.0f} min" if minutes >= 1 else f"{self.seconds:.0f} s"
        return (f"{self.files} files, {size}: about {duration} by estimate, assuming an upload rate of "
                f"{self.rate_mb_per_s:g} MB/s (not measured; the real rate depends on the connection).")


def upload_plan(folder: str | Path, rate_mb_per_s: float = ASSUMED_UPLOAD_MB_PER_S) -> UploadPlan:
    """Files and bytes of a folder as upload_folder would send them (hidden files left out), with the estimate's rate."""
    files = [p for p in Path(folder).rglob("*") if p.is_file() and not any(part.startswith(".") for part in p.relative_to(folder).parts)]
    return UploadPlan(len(files), sum(p.stat().st_size for p in files), rate_mb_per_s)


def hub_refusal(error: Exception, repo_id: str, step: str) -> str:
    """One sentence for an HTTP error of the Hub, by its status code, instead of huggingface_hub's multi-line text."""
    status = getattr(getattr(error, "response", None), "status_code", None)
    namespace = repo_id.split("/")[0]
    if status == 401:
        return f"The Hub did not accept the token (401 Unauthorized) while trying to {step}: create a new token at {TOKENS_PAGE} and store it as the HF_TOKEN secret."
    if status == 403:
        return (f"The Hub refused to {step} {repo_id} (403 Forbidden): this token cannot write to the namespace "
                f"'{namespace}', so use a token with write access ({TOKENS_PAGE}) or your own user name.")
    if status == 409:
        return f"{repo_id} already exists on the Hub: choose another name, or pass exist_ok=True to add this upload to it as a new commit."
    first_line = str(error).splitlines()[0] if str(error) else type(error).__name__
    return f"The Hub answered {first_line.rstrip('.')} while trying to {step} {repo_id}: nothing more was uploaded."


def hub_user(token: str) -> str:
    """The token's user name; a read-only or rejected token is named here, before any repository is created."""
    from huggingface_hub import whoami
    from huggingface_hub.errors import HfHubHTTPError

    try:
        info = whoami(token=token)
    except HfHubHTTPError as error:
        raise HubUploadError(hub_refusal(error, "your-name/model", "read your user name")) from None
    role = ((info.get("auth") or {}).get("accessToken") or {}).get("role")
    if role == "read":
        raise HubUploadError(f"The token of {info['name']} is read-only, so the Hub would refuse to create a repository: create a token with write access at {TOKENS_PAGE} and store it as the HF_TOKEN secret.")
    return info["name"]

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
    return f"{hub_user(token)}/{name}"


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
    exist_ok: bool = False,
) -> str | None:
    """Upload a saved model folder (writing `card` as README.md first); without a token, say so and upload nothing.

    The size and an estimated time are printed first. An existing repository is written into only with
    `exist_ok=True`. Returns the repository URL, or None when nothing was uploaded; the Hub's refusals raise
    HubUploadError with one sentence.
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
    from huggingface_hub.errors import HfHubHTTPError

    print(f"Uploading {folder} to {repo_id}: {upload_plan(folder).describe()}")
    api = HfApi(token=token)
    try:
        url = api.create_repo(repo_id=repo_id, repo_type="model", private=private, exist_ok=exist_ok)
    except HfHubHTTPError as error:
        raise HubUploadError(hub_refusal(error, repo_id, "create")) from None
    try:
        api.upload_folder(folder_path=str(folder), repo_id=repo_id, repo_type="model", commit_message="Upload from the course notebook")
    except HfHubHTTPError as error:
        raise HubUploadError(hub_refusal(error, repo_id, "upload to")) from None
    print(f"Uploaded {folder} to {url}")
    return str(url)


def main(argv: list[str] | None = None) -> int:
    """`python -m course_utils.hub_upload FOLDER NAME [--public]`: lesson 08's upload as a command (token: HF_TOKEN)."""
    import argparse

    parser = argparse.ArgumentParser(prog="python -m course_utils.hub_upload", description=__doc__.splitlines()[0])
    parser.add_argument("folder", help="a saved adapter or model folder")
    parser.add_argument("name", help="repository name (your user name is added) or user/name")
    parser.add_argument("--public", action="store_true", help="make the repository public (default: private)")
    parser.add_argument("--exist-ok", action="store_true", help="write into a repository that already exists")
    args = parser.parse_args(argv)

    def upload() -> str:
        token = hub_token()
        repo_id = args.name if "/" in args.name else hub_repo_id(args.name, token)
        url = push_folder_to_hub(args.folder, repo_id, token=token, private=not args.public, exist_ok=args.exist_ok)
        return url or "Nothing was uploaded."

    return run_tool(upload, (HubUploadError, FileNotFoundError))


if __name__ == "__main__":
    sys.exit(main())
