"""Training plumbing: finished-run guard, checkpoints, resume after a disconnect, schedules, throughput."""
from pathlib import Path

import pytest
import torch
from datasets import Dataset
from peft import LoraConfig
from transformers import AutoTokenizer
from trl import SFTTrainer

from course_utils.measure import Cost
from course_utils.offline_model import offline_model_path
from course_utils.prompts import alpaca_completion, alpaca_prompt
from course_utils.sft_recipe import sft_config
from course_utils.training import (
    StopAfterSteps, checked_checkpoint, checkpoints, describe_checkpoint, is_finished_run, last_checkpoint,
    lr_schedule, mark_finished, prepare_output_dir, rows_without_single_final_eos, run_summary, tokens_per_second,
    total_cost, upcast_trainable_for_fp16,
)


@pytest.fixture(scope="module")
def tokenizer():
    tok = AutoTokenizer.from_pretrained(offline_model_path())
    tok.pad_token = "<|endoftext|>"
    return tok


def tiny_dataset(eos: str) -> Dataset:
    rows = [(f"Add {a} and {b}.", f"{a} + {b} = {a + b}.") for a in range(4) for b in range(4)]
    return Dataset.from_dict({
        "prompt": [alpaca_prompt(q) for q, _ in rows], "completion": [alpaca_completion(o, eos) for _, o in rows],
    })


def tiny_model(builder, tokenizer):
    """A fresh seeded two-layer random Llama on the offline tokenizer's vocabulary (conftest's one builder)."""
    return builder(len(tokenizer), hidden=32, layers=2, heads=4, kv_heads=2, max_position_embeddings=128)


def train(tokenizer, builder, output_dir: Path, stop_at: int | None = None) -> dict[str, torch.Tensor]:
    """6 steps of LoRA SFT on a tiny random Llama; with stop_at, stop there and resume from the checkpoint."""
    args = sft_config(
        output_dir, torch.float32, max_steps=6, per_device_train_batch_size=4, gradient_accumulation_steps=1,
        learning_rate=1e-2, warmup_steps=2, weight_decay=0.0, save_strategy="steps", save_steps=2, seed=7,
        max_length=96, dataloader_num_workers=0, completion_only_loss=None, include_num_input_tokens_seen="no",
    )
    trainer = SFTTrainer(
        model=tiny_model(builder, tokenizer), args=args, train_dataset=tiny_dataset(tokenizer.eos_token),
        processing_class=tokenizer, peft_config=LoraConfig(r=4, lora_alpha=8, lora_dropout=0.1, target_modules="all-linear"),
    )
    if stop_at is None:
        trainer.train()
    else:
        stopper = StopAfterSteps(stop_at)
        trainer.add_callback(stopper)
        trainer.train()
        assert trainer.state.global_step == stop_at
        trainer.remove_callback(stopper)
        trainer.train(resume_from_checkpoint=str(last_checkpoint(output_dir)))
    assert trainer.state.global_step == 6
    return {k: v.detach().clone() for k, v in trainer.model.named_parameters() if "lora_" in k}


def test_resumed_run_ends_like_an_uninterrupted_one(tokenizer, tiny_llama_builder, tmp_path):
    straight = train(tokenizer, tiny_llama_builder, tmp_path / "straight")
    resumed = train(tokenizer, tiny_llama_builder, tmp_path / "resumed", stop_at=3)
    assert straight.keys() == resumed.keys() and straight
    for name, weight in straight.items():
        torch.testing.assert_close(resumed[name], weight, rtol=1e-4, atol=1e-5)
    # the adapters actually moved: lora_B starts at zero
    assert any(w.abs().sum() > 0 for k, w in straight.items() if "lora_B" in k)
    saved = [p.name for p in checkpoints(tmp_path / "resumed")]
    assert "checkpoint-3" in saved and saved[-1] == "checkpoint-6"
    files = {name for name, _, _ in describe_checkpoint(tmp_path / "resumed" / "checkpoint-3")}
    assert {"adapter_model.safetensors", "optimizer.pt", "scheduler.pt", "trainer_state.json"} <= files


def test_trl_trains_exactly_one_final_eos_and_masks_the_prompt(tokenizer, tiny_llama_builder, tmp_path):
    # our completions already end in EOS; TRL must not add a second one, and must mask the prompt
    args = sft_config(tmp_path, torch.float32, max_length=96, completion_only_loss=None)
    dataset = tiny_dataset(tokenizer.eos_token)
    trainer = SFTTrainer(model=tiny_model(tiny_llama_builder, tokenizer), args=args, train_dataset=dataset, processing_class=tokenizer)
    tokenized = trainer.train_dataset
    assert rows_without_single_final_eos(tokenized, tokenizer.eos_token_id) == []
    row = tokenized[0]
    n_prompt = len(tokenizer(dataset[0]["prompt"], add_special_tokens=False)["input_ids"])
    assert all(label == -100 for label in row["labels"][:n_prompt])
    assert tokenizer.decode([t for t in row["labels"] if t != -100]) == dataset[0]["completion"]


def test_eos_check_finds_rows_with_missing_or_doubled_eos():
    eos = 2
    rows = {"labels": [[-100, 5, 2], [-100, 5, 6], [-100, 2, 5, 2], [-100, -100]]}
    assert rows_without_single_final_eos(rows, eos) == [1, 2, 3]


def test_finished_run_is_not_overwritten_without_the_flag(tmp_path):
    run = tmp_path / "run"
    assert prepare_output_dir(run) == run and run.is_dir()  # a fresh folder is fine
    (run / "checkpoint-5").mkdir()
    assert prepare_output_dir(run) == run  # an unfinished run may continue
    mark_finished(run, {"eval_loss": 1.0})
    assert is_finished_run(run)
    with pytest.raises(FileExistsError, match="already holds a finished run: set overwrite=True"):
        prepare_output_dir(run)
    assert (run / "checkpoint-5").is_dir()  # refused means untouched
    prepare_output_dir(run, overwrite=True)
    assert run.is_dir() and not any(run.iterdir())


def test_last_checkpoint_skips_a_checkpoint_cut_off_mid_save(tmp_path):
    assert last_checkpoint(tmp_path / "missing") is None
    for step in (5, 10, 20):
        (tmp_path / f"checkpoint-{step}").mkdir()
    (tmp_path / "checkpoint-5" / "trainer_state.json").write_text("{}")
    (tmp_path / "checkpoint-10" / "trainer_state.json").write_text("{}")
    (tmp_path / "checkpoint-x").mkdir()
    assert [p.name for p in checkpoints(tmp_path)] == ["checkpoint-5", "checkpoint-10"]  # numeric order, 20 incomplete
    assert last_checkpoint(tmp_path).name == "checkpoint-10"


def test_checked_checkpoint_names_the_problem(tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        checked_checkpoint(tmp_path / "checkpoint-999")
    (tmp_path / "checkpoint-3").mkdir()
    with pytest.raises(FileNotFoundError, match="not a complete checkpoint"):
        checked_checkpoint(tmp_path / "checkpoint-3")
    (tmp_path / "checkpoint-3" / "trainer_state.json").write_text("{}")
    assert checked_checkpoint(str(tmp_path / "checkpoint-3")) == tmp_path / "checkpoint-3"


def test_lr_schedules_warm_up_then_keep_or_decay():
    steps, peak, warmup = 20, 2e-4, 4
    constant = lr_schedule("constant_with_warmup", peak, steps, warmup)
    linear = lr_schedule("linear", peak, steps, warmup)
    cosine = lr_schedule("cosine", peak, steps, warmup)
    for rates in (constant, linear, cosine):
        assert len(rates) == steps and rates[0] == 0.0 and rates[warmup] == pytest.approx(peak)
        assert rates[:warmup] == sorted(rates[:warmup])
    assert constant[-1] == pytest.approx(peak)
    assert linear[-1] == pytest.approx(peak / (steps - warmup))
    assert cosine[-1] < linear[-1] and cosine[warmup + 4] > linear[warmup + 4]  # cosine stays high, then drops faster


class _Line(torch.nn.Module):
    """The smallest model a Trainer accepts: the schedule, not the model, is under test."""

    def __init__(self):
        super().__init__()
        self.w = torch.nn.Linear(2, 1)

    def forward(self, x, labels=None):
        return {"loss": ((self.w(x).squeeze(-1) - labels) ** 2).mean()}


def test_lr_schedule_is_the_rate_the_trainer_applies_and_logs_at_each_step(tmp_path):
    """Lesson 05 plots lr_schedule(...)[k - 1] at optimizer step k: the rate step k updates with, which is also what
    the Trainer logs (and TensorBoard draws) at step k since transformers 4.51 (PR 36973). Stopped and resumed as
    lesson 05 is, with gradient accumulation, so a shift of one step anywhere shows."""
    from transformers import Trainer, TrainerCallback, TrainingArguments

    applied = {}

    class Record(TrainerCallback):
        def on_step_begin(self, args, state, control, optimizer=None, **kwargs):
            applied[state.global_step + 1] = optimizer.param_groups[0]["lr"]

    rows = [{"x": torch.randn(2), "labels": torch.tensor(1.0)} for _ in range(64)]
    args = TrainingArguments(
        str(tmp_path), max_steps=10, learning_rate=1e-3, lr_scheduler_type="cosine", warmup_steps=0.1, logging_steps=1,
        per_device_train_batch_size=2, gradient_accumulation_steps=2, save_strategy="steps", save_steps=5,
        report_to="none", use_cpu=True, disable_tqdm=True,
    )
    trainer = Trainer(model=_Line(), args=args, train_dataset=rows, callbacks=[Record()])
    stop = StopAfterSteps(5)
    trainer.add_callback(stop)
    trainer.train()
    trainer.remove_callback(stop)
    trainer.train(resume_from_checkpoint=str(tmp_path / "checkpoint-5"))
    logged = {e["step"]: e["learning_rate"] for e in trainer.state.log_history if "learning_rate" in e}
    planned = dict(enumerate(lr_schedule("cosine", 1e-3, 10, args.get_warmup_steps(10)), start=1))
    assert logged == pytest.approx(planned) and applied == pytest.approx(planned)
    assert planned[1] == 0.0 and planned[2] == pytest.approx(1e-3)  # warmup 1 step: step 1 updates with lr 0


def test_throughput_summary():
    assert tokens_per_second(1000, 4.0) == 250 and tokens_per_second(10, 0) == 0
    line = run_summary(12_000, 10, Cost(seconds=60.0, peak_rss_gib=1.5))
    assert "10 steps" in line and "12,000 tokens" in line and "200 tokens/s" in line and "1.50 GiB" in line


def test_upcast_moves_only_trainable_low_precision_weights():
    model = torch.nn.Sequential(torch.nn.Linear(4, 4), torch.nn.Linear(4, 4)).to(torch.bfloat16)
    model[0].requires_grad_(False)
    assert upcast_trainable_for_fp16(model) == 2  # weight and bias of the second layer
    assert model[1].weight.dtype == torch.float32 and model[0].weight.dtype == torch.bfloat16
    assert upcast_trainable_for_fp16(model) == 0


def test_total_cost_adds_times_and_keeps_the_largest_peak():
    total = total_cost(Cost(10.0, None, 1.0), Cost(5.0, None, 3.0))
    assert (total.seconds, total.peak_gpu_gib, total.peak_rss_gib) == (15.0, None, 3.0)
    assert total_cost(Cost(1.0, 2.0, 1.0), Cost(1.0, 5.0, 1.0)).peak_gpu_gib == 5.0


def test_every_notebook_that_trains_in_fp16_upcasts_the_lora_weights():
    """Lesson 08 on t4 died at its first step (GradScaler has no bf16 kernel) because it skipped this call."""
    from pathlib import Path

    notebooks = Path(__file__).parent.parent / "notebooks"
    checked = []
    for source in sorted(notebooks.glob("[0-9][0-9]_*.py")):
        text = source.read_text()
        trains = any(f"{kind}Trainer(" in text for kind in ("SFT", "DPO", "GRPO"))
        # fp16 comes from the config: written out (lesson 05), or from the preset helpers (lessons 08, 09)
        if trains and any(setting in text for setting in ("fp16=", "trainer_arguments(", "sft_config(")):
            checked.append(source.stem)
            assert "upcast_trainable_for_fp16(" in text, f"{source.name} trains in fp16 without the upcast"
    assert {"05_alpaca_qlora_sft", "08_ironman_persona", "09_persona_preference"} <= set(checked)  # they train on a T4


def test_upcast_leaves_fp32_trainable_weights_for_fp16_compute():
    """What the T4 path needs: after the upcast every trainable weight is fp32, frozen 16-bit weights stay."""
    model = torch.nn.Sequential(torch.nn.Linear(4, 4), torch.nn.Linear(4, 4, dtype=torch.float16), torch.nn.Linear(4, 4)).to(torch.bfloat16)
    model[0].requires_grad_(False)
    upcast_trainable_for_fp16(model)
    assert all(p.dtype == torch.float32 for p in model.parameters() if p.requires_grad)
    assert model[0].weight.dtype == torch.bfloat16
