"""KoGPT2 ships no tokenizer_config.json: its special tokens must come from the model card, not from AutoTokenizer."""
import json

import pytest
from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

from course_utils import special_tokens
from course_utils.profiles import PROFILES

KOREAN = ["오늘은 날씨가 맑아서 공원에 산책을 갔다.", "인공지능이 바꿀 미래의 교실은 어떤 모습일까?"] * 10
SPECIALS = ["<s>", "</s>", "<usr>", "<pad>", "<sys>", "<unk>", "<mask>"]  # KoGPT2's first ids


@pytest.fixture
def kogpt2_like(tmp_path, monkeypatch):
    """A tiny KoGPT2-style folder: BPE over `▁` pieces (as the model card's example output shows), no tokenizer_config."""
    tokenizer = Tokenizer(models.BPE(unk_token="<unk>"))
    tokenizer.pre_tokenizer = pre_tokenizers.Metaspace()
    tokenizer.decoder = decoders.Metaspace()
    tokenizer.train_from_iterator(KOREAN, trainers.BpeTrainer(vocab_size=200, special_tokens=SPECIALS))
    tokenizer.save(str(tmp_path / "tokenizer.json"))
    (tmp_path / "config.json").write_text(json.dumps({"model_type": "gpt2", "vocab_size": tokenizer.get_vocab_size()}))
    monkeypatch.setattr(special_tokens, "resolve_model", lambda model_id, profile: str(tmp_path))
    return tokenizer


def test_kogpt2_gets_the_model_cards_special_tokens(kogpt2_like):
    tokenizer = special_tokens.load_published_tokenizer("skt/kogpt2-base-v2", PROFILES["t4"])
    vocab = kogpt2_like.get_vocab()
    assert (tokenizer.bos_token, tokenizer.eos_token, tokenizer.pad_token) == ("</s>", "</s>", "<pad>")
    assert tokenizer.eos_token_id == vocab["</s>"] and tokenizer.pad_token_id == vocab["<pad>"]
    assert len(tokenizer) == kogpt2_like.get_vocab_size()  # no invented <|endoftext|>


def test_kogpt2_tokenizes_korean_as_published(kogpt2_like):
    tokenizer = special_tokens.load_published_tokenizer("skt/kogpt2-base-v2", PROFILES["a100"])
    text = KOREAN[0]
    assert tokenizer.tokenize(text) == kogpt2_like.encode(text).tokens != []
    assert tokenizer.decode(tokenizer.encode(text)) == text
    assert "token_type_ids" not in tokenizer(text)  # GPT-2 would add them to its input embeddings


def test_a_folder_without_those_tokens_is_refused(tmp_path, monkeypatch):
    tokenizer = Tokenizer(models.BPE(unk_token="[UNK]"))
    tokenizer.train_from_iterator(KOREAN, trainers.BpeTrainer(vocab_size=100, special_tokens=["[UNK]"]))
    tokenizer.save(str(tmp_path / "tokenizer.json"))
    monkeypatch.setattr(special_tokens, "resolve_model", lambda model_id, profile: str(tmp_path))
    with pytest.raises(ValueError, match="tokenizer.json"):
        special_tokens.load_published_tokenizer("skt/kogpt2-base-v2", PROFILES["t4"])


def test_offline_profile_loads_smollm2_untouched(cpu_profile, offline_tokenizer):
    tokenizer = special_tokens.load_published_tokenizer("skt/kogpt2-base-v2", cpu_profile)
    assert tokenizer.eos_token == offline_tokenizer.eos_token and len(tokenizer) == len(offline_tokenizer)


@pytest.fixture
def exaone_like(tmp_path, monkeypatch):
    """A folder shaped like EXAONE-3.0's: config.json names remote code (auto_map) for a model_type transformers lacks."""
    from course_tools.standins import write_exaone_tokenizer

    write_exaone_tokenizer(tmp_path)
    (tmp_path / "config.json").write_text(json.dumps({
        "model_type": "exaone", "architectures": ["ExaoneForCausalLM"],
        "auto_map": {"AutoConfig": "configuration_exaone.ExaoneConfig",
                     "AutoModelForCausalLM": "modeling_exaone.ExaoneForCausalLM"},
    }))
    monkeypatch.setattr(special_tokens, "resolve_model", lambda model_id, profile: str(tmp_path))
    return tmp_path


def test_exaone_tokenizer_loads_without_a_prompt_or_remote_code(exaone_like, monkeypatch):
    """Lesson 02 stopped on Colab at "Do you wish to run the custom code? [y/N]" (issue 20, item 4)."""
    import builtins

    from transformers import dynamic_module_utils

    prompts = []
    monkeypatch.setattr(builtins, "input", lambda prompt="": prompts.append(prompt) or "n")

    def no_remote_code(*args, **kwargs):
        raise AssertionError("remote code was loaded")

    monkeypatch.setattr(dynamic_module_utils, "get_class_from_dynamic_module", no_remote_code)
    tokenizer = special_tokens.load_published_tokenizer("LGAI-EXAONE/EXAONE-3.0-7.8B-Instruct", PROFILES["t4"])
    assert prompts == []
    assert tokenizer.eos_token == "[|endofturn|]" and tokenizer.convert_tokens_to_ids("[|endofturn|]") == 361
