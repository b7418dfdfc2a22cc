import pytest
import torch

from course_utils import profiles
from course_utils.environment import REPO_ROOT, GpuInfo


@pytest.mark.parametrize(
    "gpu, expected",
    [(None, "cpu"), (GpuInfo("Tesla T4", (7, 5), 15.0), "t4"), (GpuInfo("NVIDIA A100", (8, 0), 40.0), "a100"),
     (GpuInfo("NVIDIA H100", (9, 0), 80.0), "a100")],
)
def test_profile_is_detected_from_compute_capability(monkeypatch, gpu, expected):
    monkeypatch.setattr(profiles, "gpu_info", lambda: gpu)
    monkeypatch.delenv(profiles.PROFILE_ENV, raising=False)
    assert profiles.get_profile().name == expected


def test_t4_computes_in_fp16_and_a100_in_bf16():
    assert profiles.PROFILES["t4"].compute_dtype == torch.float16
    assert profiles.PROFILES["a100"].compute_dtype == torch.bfloat16
    assert profiles.PROFILES["cpu"].compute_dtype == torch.float32


def test_environment_variable_overrides_detection(monkeypatch):
    monkeypatch.setattr(profiles, "gpu_info", lambda: GpuInfo("NVIDIA A100", (8, 0), 40.0))
    monkeypatch.setenv(profiles.PROFILE_ENV, "t4")
    assert profiles.get_profile().name == "t4"


def test_unknown_profile_names_the_valid_ones(monkeypatch):
    with pytest.raises(ValueError, match="cpu, t4, a100"):
        profiles.get_profile("tpu")


def test_gpu_profile_without_a_gpu_says_how_to_fix(monkeypatch):
    monkeypatch.setattr(profiles, "gpu_info", lambda: None)
    with pytest.raises(RuntimeError, match="COURSE_PROFILE=cpu"):
        profiles.get_profile("a100")


def test_cpu_profile_uses_only_the_offline_model():
    cpu = profiles.PROFILES["cpu"]
    assert cpu.offline and not cpu.load_in_4bit
    for field in ("chat_model", "sft_model", "persona_model", "judge_model", "generation_model", "exaone_model"):
        assert getattr(cpu, field) == profiles.OFFLINE_MODEL_ID


def test_t4_seed_length_preset_keeps_the_seed_effective_batch_and_a_valid_optimizer():
    t4 = profiles.sft_preset(profiles.PROFILES["t4"], full_run=True)
    assert t4.effective_batch_size == 16 and t4.max_steps == 100  # the seed trained 2 x 8 for 100 steps
    assert t4.gradient_checkpointing and t4.optim == "adamw_8bit"


def test_lesson_05_has_the_full_run_switch_in_view():
    source = (REPO_ROOT / "notebooks" / "05_alpaca_qlora_sft.py").read_text(encoding="utf-8")
    assert "\nFULL_RUN = False" in source and "sft_preset(profile, full_run=FULL_RUN)" in source


@pytest.mark.parametrize("full_run", [False, True])
def test_full_run_switch_trains_and_resumes_from_drive_on_cpu(full_run, offline_tokenizer, tiny_llama_builder,
                                                             tmp_path, monkeypatch):
    """Both lengths of lesson 05, on the cpu profile's presets: stop at the first checkpoint, lose the VM, resume
    from the Drive folder, end at the preset's last step."""
    from datasets import Dataset
    from peft import LoraConfig
    from trl import SFTTrainer

    from course_utils import environment
    from course_utils.lesson_runs import alpaca_run_dir
    from course_utils.prompts import alpaca_completion, alpaca_prompt
    from course_utils.sft_recipe import sft_config
    from course_utils.training import StopAfterSteps, last_checkpoint

    cpu = profiles.PROFILES["cpu"]
    preset = profiles.sft_preset(cpu, full_run=full_run)
    assert preset == (cpu.sft_full if full_run else cpu.sft) and cpu.sft_full.max_steps > cpu.sft.max_steps
    monkeypatch.setenv(environment.OUTPUT_ENV, str(tmp_path / "drive"))
    rows = [(f"Add {a} and {b}.", f"{a + b}.") for a in range(4) for b in range(4)]
    data = Dataset.from_dict({"prompt": [alpaca_prompt(q) for q, _ in rows],
                              "completion": [alpaca_completion(o, offline_tokenizer.eos_token) for _, o in rows]})

    def trainer():
        args = sft_config(alpaca_run_dir(), torch.float32, preset, save_strategy="steps", save_steps=preset.save_steps,
                          dataloader_num_workers=0, include_num_input_tokens_seen="no", logging_steps=5)
        model = tiny_llama_builder(len(offline_tokenizer), hidden=16, layers=1, heads=2, kv_heads=1,
                                   max_position_embeddings=128)
        return SFTTrainer(model=model, args=args, train_dataset=data, processing_class=offline_tokenizer,
                          peft_config=LoraConfig(r=2, lora_alpha=4, target_modules="all-linear"))

    first = trainer()
    first.add_callback(StopAfterSteps(preset.save_steps))
    first.train()
    del first  # the VM is gone; the checkpoint is on Drive
    resumed = trainer()
    resumed.train(resume_from_checkpoint=str(last_checkpoint(alpaca_run_dir())))
    assert resumed.state.global_step == preset.max_steps
    assert last_checkpoint(alpaca_run_dir()).name == f"checkpoint-{preset.max_steps}"
