"""Translation without the pipeline transformers 5 removed: NLLB's language tokens on a tiny random M2M100."""
import pytest
import torch
from transformers import M2M100Config, M2M100ForConditionalGeneration, NllbTokenizer

from course_utils.translation import language_token_id, translate


@pytest.fixture(scope="module")
def nllb():
    """An NllbTokenizer over a few characters (it adds NLLB's 200+ language codes) and a 1-layer M2M100 with random weights."""
    vocab = {"<s>": 0, "<pad>": 1, "</s>": 2, "<unk>": 3, "▁": 4}
    for char in sorted(set("오늘은날씨가맑다finetuningadaptsamodel")):
        vocab.setdefault(char, len(vocab))
    tokenizer = NllbTokenizer(vocab=vocab, merges=[])
    config = M2M100Config(
        vocab_size=len(tokenizer), d_model=16, encoder_layers=1, decoder_layers=1, encoder_attention_heads=2,
        decoder_attention_heads=2, encoder_ffn_dim=32, decoder_ffn_dim=32, max_position_embeddings=64,
        pad_token_id=1, bos_token_id=0, eos_token_id=2, decoder_start_token_id=2,
    )
    torch.manual_seed(0)
    return M2M100ForConditionalGeneration(config).eval(), tokenizer


def test_translate_marks_the_source_and_forces_the_target(nllb, monkeypatch):
    model, tokenizer = nllb
    seen = {}
    original = model.generate

    def spy(**kwargs):
        seen["input_ids"] = kwargs["input_ids"]
        seen["output"] = original(**kwargs)
        return seen["output"]

    monkeypatch.setattr(model, "generate", spy)
    texts = translate(model, tokenizer, ["오늘은 맑다", "fine"], "kor_Hang", "eng_Latn", max_new_tokens=4)
    assert len(texts) == 2 and all(isinstance(text, str) for text in texts)
    korean, english = tokenizer.convert_tokens_to_ids(["kor_Hang", "eng_Latn"])
    assert seen["input_ids"][:, 0].tolist() == [korean, korean]
    assert seen["output"][:, 1].tolist() == [english, english]  # after the decoder start token


def test_an_unknown_language_code_is_refused(nllb):
    model, tokenizer = nllb
    assert language_token_id(tokenizer, "kor_Hang") != tokenizer.unk_token_id
    with pytest.raises(ValueError, match="FLORES-200"):
        translate(model, tokenizer, ["fine"], "eng_Latn", "korean")

