"""A short real LoRA SFT of the offline model on the persona data: only the answers are trained, and it learns them.

The before/after comparison on generated answers (style markers and Hangul share of the fine-tuned model against the
base model and the base model with the system prompt, with stated margins) is asserted inside
notebooks/08_ironman_persona.ipynb, in the cell after the results table; `make test` runs that notebook. Training
twice in CI would double the cost, so this file checks the mechanics the notebook relies on, on the real model.

`make test` deselects this file (marker `also_asserted_by_a_notebook`): the same claims are asserted in lesson 08
(only the answer is trained, the training loss falls, held-out answers get likelier, and the style moves), which
`make test` runs; `make unit` runs it.
"""
import random

import pytest
from peft import LoraConfig
from trl import SFTTrainer

from course_utils.chat_format import chat_text
from course_utils.models import load_causal_lm, load_tokenizer
from course_utils.perplexity import completion_loss
from course_utils.persona import load_persona_data, persona_dataset
from course_utils.sft_recipe import sft_config

pytestmark = pytest.mark.also_asserted_by_a_notebook


@pytest.fixture(scope="module")
def persona_run(cpu_profile, tmp_path_factory):
    """One epoch (8 steps) over 32 training rows; 8 other rows stay back to measure answers the model never saw."""
    tokenizer = load_tokenizer(cpu_profile.persona_model, cpu_profile)
    model = load_causal_lm(cpu_profile.persona_model, cpu_profile)
    rows, _, _ = load_persona_data()
    rows = list(rows)
    random.Random(1).shuffle(rows)
    train_rows, unseen_rows = rows[:32], rows[32:40]
    unseen = ([chat_text(tokenizer, r["instruction"]) for r in unseen_rows], [r["output"] for r in unseen_rows])
    loss_before = completion_loss(model, tokenizer, *unseen, max_length=128)
    args = sft_config(
        tmp_path_factory.mktemp("persona"), cpu_profile.compute_dtype, per_device_train_batch_size=4, max_steps=8,
        learning_rate=2e-3, warmup_steps=1, max_length=128, logging_steps=2, seed=0,
    )
    trainer = SFTTrainer(
        model=model, args=args, train_dataset=persona_dataset(train_rows, system=None), processing_class=tokenizer,
        peft_config=LoraConfig(r=16, lora_alpha=32, target_modules="all-linear", task_type="CAUSAL_LM"),
    )
    example = trainer.train_dataset[0]
    trainer.train()
    trainer.model.eval()
    loss_after = completion_loss(trainer.model, tokenizer, *unseen, max_length=128)
    return tokenizer, example, train_rows, trainer.state.log_history, loss_before, loss_after


def test_only_the_answer_and_its_end_of_turn_are_trained(persona_run):
    tokenizer, example, train_rows, *_ = persona_run
    trained = [t for t, label in zip(example["input_ids"], example["labels"]) if label != -100]
    prompt = [t for t, label in zip(example["input_ids"], example["labels"]) if label == -100]
    text = tokenizer.decode(trained)
    answers = [r["output"] for r in train_rows]
    assert any(text.startswith(a[:20]) for a in answers), text
    assert "<|im_start|>user" in tokenizer.decode(prompt) and "<|im_start|>" not in text
    assert len(example["input_ids"]) <= 128


def test_training_loss_goes_down(persona_run):
    losses = [e["loss"] for e in persona_run[3] if "loss" in e]
    print("training loss every 2 steps:", [round(x, 3) for x in losses])
    assert len(losses) == 4 and losses[-1] < losses[0] - 0.1, losses


def test_unseen_persona_answers_become_more_likely(persona_run):
    """Tony's answers to questions it was not trained on: the tuned model finds them likelier than the base did."""
    loss_before, loss_after = persona_run[4], persona_run[5]
    print(f"unseen persona answers, completion loss: base {loss_before:.3f} -> tuned {loss_after:.3f}")
    assert loss_after < loss_before - 0.15, (loss_before, loss_after)
