"""Loss and perplexity: exp(mean token NLL) on texts, and the completion-only loss SFT minimised, after one BOS."""
import math

import pytest
import torch

from course_utils.chat_format import chat_text
from course_utils.perplexity import completion_loss, completion_token_ids, perplexity, perplexity_from_loss
from course_utils.prompts import alpaca_prompt

TEXT = "The baker weighs the flour and warms the milk. 제빵사는 밀가루의 무게를 잽니다."


@pytest.fixture
def tokenizer(offline_tokenizer):
    """The offline model's tokenizer, its pad token set as every lesson sets it."""
    return offline_tokenizer


@pytest.fixture(scope="module")
def untied_model(tiny_llama_builder):
    """A one-layer random Llama whose output layer can be zeroed alone (not tied to the embeddings)."""
    return lambda vocab_size: tiny_llama_builder(vocab_size, hidden=32, tie_word_embeddings=False)


def test_uniform_model_has_perplexity_equal_to_vocab_size(tokenizer, untied_model):
    model = untied_model(len(tokenizer))
    torch.nn.init.zeros_(model.lm_head.weight)  # every logit 0: each token has probability 1/V
    assert perplexity(model, tokenizer, [TEXT, "A second, shorter text."]) == pytest.approx(len(tokenizer), rel=1e-4)


def test_one_window_matches_the_model_loss(tokenizer, untied_model):
    model = untied_model(len(tokenizer))
    ids = tokenizer(TEXT, return_tensors="pt")["input_ids"]
    with torch.no_grad():
        loss = model(input_ids=ids, labels=ids).loss
    assert perplexity(model, tokenizer, [TEXT], max_length=512) == pytest.approx(math.exp(loss.item()), rel=1e-5)


def test_windows_are_scored_separately(tokenizer, untied_model):
    model = untied_model(len(tokenizer))
    ids = tokenizer(TEXT, return_tensors="pt")["input_ids"]
    window = 8
    nll, count = 0.0, 0
    with torch.no_grad():
        for start in range(0, ids.shape[1], window):
            chunk = ids[:, start : start + window]
            if chunk.shape[1] > 1:
                nll += model(input_ids=chunk, labels=chunk).loss.item() * (chunk.shape[1] - 1)
                count += chunk.shape[1] - 1
    assert perplexity(model, tokenizer, [TEXT], max_length=window) == pytest.approx(math.exp(nll / count), rel=1e-5)
    assert perplexity(model, tokenizer, [TEXT], max_length=window) != pytest.approx(perplexity(model, tokenizer, [TEXT]))


@pytest.mark.parametrize("texts, max_length, says", [
    (TEXT, 512, "non-empty strings"), ([], 512, "non-empty strings"), ([""], 512, "non-empty strings"),
    ([TEXT], 1, "leaves no token"),
])
def test_bad_input_is_an_error(tokenizer, texts, max_length, says, untied_model):
    with pytest.raises(ValueError, match=says):
        perplexity(untied_model(64), tokenizer, texts, max_length=max_length)


def test_chat_text_is_scored_after_a_single_bos(tiny_llama3, llama3_tokenizer):
    text = chat_text(llama3_tokenizer, "Say hi.") + "Hi!<|eot_id|>"
    ids = torch.tensor([llama3_tokenizer(text, add_special_tokens=False)["input_ids"]])
    assert ids[0, :2].tolist() == [128000, 128006]
    logits = tiny_llama3(input_ids=ids).logits[0, :-1]
    expected = math.exp(torch.nn.functional.cross_entropy(logits, ids[0, 1:]).item())
    assert perplexity(tiny_llama3, llama3_tokenizer, [text]) == pytest.approx(expected, rel=1e-5)


def test_perplexity_is_exp_of_loss():
    assert perplexity_from_loss(0.0) == 1.0
    assert perplexity_from_loss(math.log(7)) == pytest.approx(7)


def test_completion_loss_counts_only_completion_tokens(tokenizer, tiny_llama):
    prompts = [alpaca_prompt("Say hi."), alpaca_prompt("Name a fruit, please, in one word only.")]
    completions = ["Hi!" + tokenizer.eos_token, "Apple." + tokenizer.eos_token]
    batched = completion_loss(tiny_llama, tokenizer, prompts, completions, batch_size=2)
    # by hand: sum of completion-token NLL over both rows / number of completion tokens
    total, count = 0.0, 0
    for prompt, completion in zip(prompts, completions):
        n_prompt = len(tokenizer(prompt, add_special_tokens=False)["input_ids"])
        ids = torch.tensor([tokenizer(prompt + completion, add_special_tokens=False)["input_ids"]])
        logits = tiny_llama(input_ids=ids).logits[0, :-1]
        nll = torch.nn.functional.cross_entropy(logits, ids[0, 1:], reduction="none")[n_prompt - 1 :]
        total, count = total + nll.sum().item(), count + len(nll)
    assert batched == pytest.approx(total / count, rel=1e-4)
    # padding and batch size do not change the number
    assert completion_loss(tiny_llama, tokenizer, prompts, completions, batch_size=1) == pytest.approx(batched, rel=1e-4)


def test_chat_prompt_keeps_a_single_bos(llama3_tokenizer):
    prompt = chat_text(llama3_tokenizer, "1+1?")
    assert prompt.startswith("<|begin_of_text|>")  # the Llama 3 chat template writes the BOS itself
    ids, labels = completion_token_ids(llama3_tokenizer, prompt, "2<|eot_id|>")
    assert ids.count(128000) == 1 and ids[0] == 128000
    assert [t for t in labels if t != -100] == llama3_tokenizer.encode("2<|eot_id|>", add_special_tokens=False)
    # a plain Alpaca prompt still gets the BOS Llama 3 adds by default, as TRL trained it
    plain_ids, _ = completion_token_ids(llama3_tokenizer, alpaca_prompt("1+1?"), "2")
    assert plain_ids.count(128000) == 1 and plain_ids[0] == 128000


def test_completion_loss_of_a_chat_prompt_is_computed_after_one_bos(llama3_tokenizer, tiny_llama3):
    prompt, completion = chat_text(llama3_tokenizer, "Say hi."), "Hi!<|eot_id|>"
    ids = torch.tensor([llama3_tokenizer(prompt + completion, add_special_tokens=False)["input_ids"]])
    n_prompt = len(llama3_tokenizer(prompt, add_special_tokens=False)["input_ids"])
    logits = tiny_llama3(input_ids=ids).logits[0, :-1]
    expected = torch.nn.functional.cross_entropy(logits, ids[0, 1:], reduction="none")[n_prompt - 1 :].mean().item()
    assert completion_loss(tiny_llama3, llama3_tokenizer, [prompt], [completion]) == pytest.approx(expected, rel=1e-5)


def test_completion_loss_refuses_empty_completions(tokenizer, tiny_llama):
    with pytest.raises(ValueError, match="No completion tokens"):
        completion_loss(tiny_llama, tokenizer, [alpaca_prompt("Hi")], [""])


def test_completion_loss_refuses_unpaired_lists_and_pads_without_a_pad_token(tiny_llama3, llama3_tokenizer):
    """Two prompts and one completion used to score one pair silently; a tokenizer without pad crashed on None."""
    import copy

    prompts = [chat_text(llama3_tokenizer, "Say hi."), chat_text(llama3_tokenizer, "Say hello to the team.")]
    with pytest.raises(ValueError, match="2 prompts and 1 completions: pass one completion per prompt"):
        completion_loss(tiny_llama3, llama3_tokenizer, prompts, ["Hi!"])
    no_pad = copy.deepcopy(llama3_tokenizer)
    no_pad.pad_token = None
    pairs = (prompts, ["Hi!<|eot_id|>", "Hello, team!<|eot_id|>"])
    assert completion_loss(tiny_llama3, no_pad, *pairs) == pytest.approx(completion_loss(tiny_llama3, llama3_tokenizer, *pairs))
