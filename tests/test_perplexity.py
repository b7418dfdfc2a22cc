"""perplexity() must give exp(mean token NLL): exactly the vocabulary size for a model that knows nothing."""
import math

import pytest
import torch
from transformers import AutoTokenizer, LlamaConfig, LlamaForCausalLM

from course_utils.offline_model import offline_model_path
from course_utils.perplexity import perplexity

TEXT = "The baker weighs the flour and warms the milk. 제빵사는 밀가루의 무게를 잽니다."


@pytest.fixture(scope="module")
def tokenizer():
    return AutoTokenizer.from_pretrained(offline_model_path())


def tiny_model(vocab_size: int) -> LlamaForCausalLM:
    torch.manual_seed(0)
    config = LlamaConfig(hidden_size=32, intermediate_size=64, num_hidden_layers=1, num_attention_heads=2,
                         num_key_value_heads=1, vocab_size=vocab_size, tie_word_embeddings=False)
    return LlamaForCausalLM(config).eval()


def test_uniform_model_has_perplexity_equal_to_vocab_size(tokenizer):
    model = tiny_model(len(tokenizer))
    torch.nn.init.zeros_(model.lm_head.weight)  # every logit 0: each token has probability 1/V
    assert perplexity(model, tokenizer, [TEXT, "A second, shorter text."]) == pytest.approx(len(tokenizer), rel=1e-4)


def test_one_window_matches_the_model_loss(tokenizer):
    model = tiny_model(len(tokenizer))
    ids = tokenizer(TEXT, return_tensors="pt")["input_ids"]
    with torch.no_grad():
        loss = model(input_ids=ids, labels=ids).loss
    assert perplexity(model, tokenizer, [TEXT], max_length=512) == pytest.approx(math.exp(loss.item()), rel=1e-5)


def test_windows_are_scored_separately(tokenizer):
    model = tiny_model(len(tokenizer))
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


@pytest.mark.parametrize("texts, max_length", [(TEXT, 512), ([], 512), ([""], 512), ([TEXT], 1)])
def test_bad_input_is_an_error(tokenizer, texts, max_length):
    with pytest.raises(ValueError):
        perplexity(tiny_model(64), tokenizer, texts, max_length=max_length)


def test_chat_text_is_scored_after_a_single_bos(tiny_llama3, llama3_tokenizer):
    from course_utils.generation import chat_text
    from course_utils.perplexity import perplexity

    text = chat_text(llama3_tokenizer, "Say hi.") + "Hi!<|eot_id|>"
    ids = torch.tensor([llama3_tokenizer(text, add_special_tokens=False)["input_ids"]])
    assert ids[0, :2].tolist() == [128000, 128006]
    logits = tiny_llama3(input_ids=ids).logits[0, :-1]
    expected = math.exp(torch.nn.functional.cross_entropy(logits, ids[0, 1:]).item())
    assert perplexity(tiny_llama3, llama3_tokenizer, [text]) == pytest.approx(expected, rel=1e-5)
