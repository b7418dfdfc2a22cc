"""Shared plumbing for the fine-tuning course notebooks: profiles, the offline model, prompts, data, metrics."""
from .doctor import doctor
from .environment import DATA_DIR, REPO_ROOT, gpu_info, hub_token, in_colab, output_dir, pick_compute_dtype
from .offline_model import offline_model_path, resolve_model
from .profiles import PROFILES, Profile, TrainingPreset, get_profile
from .runtime_setup import setup

__all__ = [
    "DATA_DIR", "PROFILES", "Profile", "REPO_ROOT", "TrainingPreset", "doctor", "get_profile", "gpu_info",
    "hub_token", "in_colab", "offline_model_path", "output_dir", "pick_compute_dtype", "resolve_model", "setup",
]
