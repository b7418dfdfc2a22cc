import copy
from types import SimpleNamespace

import torch
from transformers import LogitsProcessor, LogitsProcessorList

from course_utils.chat_format import chat_text
from course_utils.generation import generate, stop_token_ids


def test_generation_stops_at_eos(offline_model, offline_tokenizer):
    prompt = chat_text(offline_tokenizer, "What is the capital of France?")
    inputs = offline_tokenizer(prompt, return_tensors="pt", add_special_tokens=False)
    output = offline_model.generate(**inputs, max_new_tokens=60, do_sample=False, pad_token_id=offline_tokenizer.pad_token_id)
    new = output[0, inputs["input_ids"].shape[1]:]
    assert len(new) < 60 and int(new[-1]) == offline_tokenizer.eos_token_id


def test_left_padded_batch_gives_the_same_answers_as_one_by_one(offline_model, offline_tokenizer):
    prompts = [chat_text(offline_tokenizer, q) for q in ("What is 2 + 2?", "Name a color of the sky on a clear day.")]
    batched = generate(offline_model, offline_tokenizer, prompts, max_new_tokens=12)
    single = [generate(offline_model, offline_tokenizer, [p], max_new_tokens=12)[0] for p in prompts]
    assert batched == single
    assert offline_tokenizer.padding_side == "right"  # restored after generation


def test_generate_is_greedy_even_when_the_generation_config_samples(offline_model, offline_tokenizer):
    # Llama-3-Instruct ships generation_config.json with do_sample=True, temperature=0.6, top_p=0.9
    prompt = [chat_text(offline_tokenizer, "Write one sentence about the sea.")]
    greedy = generate(offline_model, offline_tokenizer, prompt, max_new_tokens=16, do_sample=False)
    saved = copy.deepcopy(offline_model.generation_config)
    offline_model.generation_config.do_sample, offline_model.generation_config.temperature = True, 3.0
    try:
        runs = []
        for seed in range(3):
            torch.manual_seed(seed)
            runs.append(generate(offline_model, offline_tokenizer, prompt, max_new_tokens=16))
    finally:
        offline_model.generation_config = saved
    assert runs == [greedy] * 3


def test_stop_tokens_of_llama3_include_end_of_turn(llama3_tokenizer):
    assert llama3_tokenizer.eos_token == "<|end_of_text|>"
    assert stop_token_ids(llama3_tokenizer) == [128001, 128009]  # <|end_of_text|>, <|eot_id|>


def test_stop_tokens_of_smollm2_are_its_eos(offline_tokenizer):
    assert stop_token_ids(offline_tokenizer) == [offline_tokenizer.eos_token_id]  # <|im_end|> is SmolLM2's EOS


class EndTurnThenRambleOn(LogitsProcessor):
    """Forces 'Hi' then <|eot_id|>, then ' again' forever: what a chat model does when nothing stops it at eot."""

    def __init__(self, prompt_length: int, script: list[int], tail: int):
        self.prompt_length, self.script, self.tail = prompt_length, script, tail

    def __call__(self, input_ids, scores):
        step = input_ids.shape[1] - self.prompt_length
        forced = self.script[step] if step < len(self.script) else self.tail
        scores = torch.full_like(scores, -float("inf"))
        scores[:, forced] = 0.0
        return scores


def test_chat_generation_stops_at_the_end_of_the_turn(tiny_llama3, llama3_tokenizer):
    prompt = chat_text(llama3_tokenizer, "Say hi.")
    assert prompt.startswith("<|begin_of_text|><|start_header_id|>user<|end_header_id|>")
    length = len(llama3_tokenizer(prompt, add_special_tokens=False)["input_ids"])
    hi, again = llama3_tokenizer.encode("Hi", add_special_tokens=False), llama3_tokenizer.encode(" again", add_special_tokens=False)
    eot = llama3_tokenizer.convert_tokens_to_ids("<|eot_id|>")
    forcing = LogitsProcessorList([EndTurnThenRambleOn(length, hi + [eot], again[0])])
    answer = generate(tiny_llama3, llama3_tokenizer, [prompt], max_new_tokens=8, logits_processor=forcing)
    assert answer == ["Hi"]


def test_default_batch_is_larger_on_cpu_where_each_decoding_step_costs_the_same(offline_model, offline_tokenizer, monkeypatch):
    """CPU: 16 prompts in one batch (a decoding step of the 135M model costs about the same at 8 or 16 rows);
    GPU: 8, the batch whose peaks the GPU rehearsal measured."""
    from course_utils import generation

    assert generation.default_batch_size(offline_model) == 16
    sizes = []
    original = offline_model.generate

    def counting(**kwargs):
        sizes.append(kwargs["input_ids"].shape[0])
        return original(**kwargs)

    monkeypatch.setattr(offline_model, "generate", counting)
    prompts = [chat_text(offline_tokenizer, f"Say the number {i}.") for i in range(17)]
    generate(offline_model, offline_tokenizer, prompts, max_new_tokens=2)
    assert sizes == [16, 1]
    assert generation.default_batch_size(SimpleNamespace(device=torch.device("cuda", 0))) == 8
