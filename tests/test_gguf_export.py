"""GGUF export, checked by a reader no one here wrote: transformers' own GGUF loader must give the same logits and token ids."""
import json

import pytest
import torch
from transformers import AutoModelForCausalLM, AutoTokenizer, GPT2Config, GPT2LMHeadModel

from course_utils.gguf_export import export_gguf, permute_for_rope

TEXTS = ["What is the capital of France?", "토니, 소코비아 협정에 대해 어떻게 생각해요?", "LLM 중에서 가장 유명한 LLM은 뭐야? 12345", "<|im_start|>user\nhi<|im_end|>"]


@pytest.fixture(scope="module")
def offline_folder():
    from course_utils.offline_model import offline_model_path

    return offline_model_path()


def compare(folder, gguf_dir, name):
    """(relative logit error, top-1 agreement) of the GGUF as transformers loads it against the safetensors folder."""
    reference = AutoModelForCausalLM.from_pretrained(folder, dtype=torch.float32).eval()
    loaded = AutoModelForCausalLM.from_pretrained(gguf_dir, gguf_file=name, dtype=torch.float32).eval()
    tokenizer = AutoTokenizer.from_pretrained(folder)
    ids = tokenizer(TEXTS[:3], return_tensors="pt", padding=True)
    with torch.no_grad():
        a, b = loaded(**ids).logits, reference(**ids).logits
    mask = ids.attention_mask.bool()
    a, b = a[mask], b[mask]
    return ((a - b).norm() / b.norm()).item(), (a.argmax(-1) == b.argmax(-1)).float().mean().item()


@pytest.mark.also_asserted_by_a_notebook  # lesson 08 (cpu) asserts all of it on the merged SmolLM2's f16 export
def test_f16_export_loads_in_transformers_with_the_same_logits_and_tokens(offline_folder, tmp_path):
    report = export_gguf(offline_folder, tmp_path / "model-f16.gguf")
    assert report.tensors == 272 and 250e6 < report.bytes < 290e6  # 134.5 M parameters in 2 bytes, norms in 4
    relative, top1 = compare(offline_folder, tmp_path, "model-f16.gguf")
    assert relative < 5e-3 and top1 >= 0.98  # f16 rounding only (measured: 1e-3 and 100 %)

    ours, theirs = AutoTokenizer.from_pretrained(offline_folder), AutoTokenizer.from_pretrained(tmp_path, gguf_file="model-f16.gguf")
    for text in TEXTS:
        assert theirs(text).input_ids == ours(text).input_ids, text
    assert theirs.chat_template == ours.chat_template
    assert (theirs.bos_token, theirs.eos_token, theirs.pad_token) == (ours.bos_token, ours.eos_token, ours.pad_token)


@pytest.fixture(scope="module")
def q8_0_export(offline_folder, tmp_path_factory):
    """One Q8_0 export of the offline model, read by the tests below (each export takes seconds)."""
    folder = tmp_path_factory.mktemp("q8_0")
    return folder, export_gguf(offline_folder, folder / "model-q8_0.gguf", outtype="q8_0")


def test_q8_0_export_is_about_half_the_size_and_close(offline_folder, q8_0_export):
    folder, report = q8_0_export
    assert report.bytes < 0.6 * 270e6
    relative, top1 = compare(offline_folder, folder, "model-q8_0.gguf")
    assert relative < 3e-2 and top1 >= 0.9


def test_rope_permutation_is_what_transformers_undoes():
    from transformers.modeling_gguf_pytorch_utils import LlamaTensorProcessor as Processor

    weights = torch.arange(8 * 4 * 3, dtype=torch.float32).reshape(8 * 4, 3)
    for heads, kv_heads, rows in ((8, 8, 32), (8, 2, 8)):
        w = weights[:rows]
        permuted = permute_for_rope(w, 8, kv_heads).numpy()
        back = Processor(config={"num_attention_heads": 8, "num_key_value_heads": kv_heads})._reverse_permute_weights(permuted, 8, kv_heads)
        assert torch.equal(torch.from_numpy(back), w) and not torch.equal(torch.from_numpy(permuted), w)


def test_unsupported_architectures_are_refused_naming_the_supported_ones(tmp_path):
    GPT2LMHeadModel(GPT2Config(vocab_size=64, n_embd=16, n_layer=1, n_head=2)).save_pretrained(tmp_path / "gpt2")
    with pytest.raises(ValueError, match="writes only LlamaForCausalLM"):
        export_gguf(tmp_path / "gpt2", tmp_path / "out.gguf")
    assert not (tmp_path / "out.gguf").exists()


def test_an_existing_file_needs_overwrite(offline_folder, tmp_path):
    (tmp_path / "out.gguf").write_text("mine")
    with pytest.raises(FileExistsError, match="overwrite=True"):
        export_gguf(offline_folder, tmp_path / "out.gguf")
    assert (tmp_path / "out.gguf").read_text() == "mine"


def test_rope_scaling_is_refused(tmp_path):
    (tmp_path / "m").mkdir()
    config = {"architectures": ["LlamaForCausalLM"], "rope_scaling": {"rope_type": "llama3", "factor": 8.0}}
    (tmp_path / "m" / "config.json").write_text(json.dumps(config))
    with pytest.raises(ValueError, match="rope scaling"):
        export_gguf(tmp_path / "m", tmp_path / "out.gguf")


def write_tokenizer_json(folder, pre_tokenizer):
    """A one-merge BPE tokenizer.json with the given `tokenizers` pre-tokenizer: all `tokenizer_pre` reads."""
    from tokenizers import Tokenizer, models

    folder.mkdir(parents=True)
    tokenizer = Tokenizer(models.BPE(vocab={"a": 0, "b": 1, "ab": 2}, merges=[("a", "b")]))
    tokenizer.pre_tokenizer = pre_tokenizer
    tokenizer.save(str(folder / "tokenizer.json"))
    return folder


def test_pre_tokenizer_is_named_from_the_tokenizer_itself_in_llama_cpp_spelling(tmp_path):
    from tokenizers import pre_tokenizers as pre

    from course_utils.gguf_export import tokenizer_pre

    byte_level = pre.ByteLevel(add_prefix_space=False)
    digits_then_bytes = pre.Sequence([pre.Digits(individual_digits=True), pre.ByteLevel(add_prefix_space=False)])
    # llama.cpp knows "gpt-2" (with a dash) and refuses "gpt2"; a folder's name says nothing about its tokenizer.
    assert tokenizer_pre(write_tokenizer_json(tmp_path / "plain", byte_level)) == "gpt-2"
    assert tokenizer_pre(write_tokenizer_json(tmp_path / "my-smollm-copy", byte_level)) == "gpt-2"
    assert tokenizer_pre(write_tokenizer_json(tmp_path / "renamed", digits_then_bytes)) == "smollm"


def test_llama3_split_is_llama_bpe_and_an_unknown_split_is_refused(tmp_path):
    from tokenizers import Regex
    from tokenizers import pre_tokenizers as pre

    from course_utils.gguf_export import tokenizer_pre
    from course_tools.llama3_tokenizer import LLAMA3_PATTERN

    llama3 = pre.Sequence([pre.Split(Regex(LLAMA3_PATTERN), behavior="isolated"), pre.ByteLevel(add_prefix_space=False, use_regex=False)])
    assert tokenizer_pre(write_tokenizer_json(tmp_path / "l3", llama3)) == "llama-bpe"
    with pytest.raises(ValueError, match="convert_hf_to_gguf.py"):
        tokenizer_pre(write_tokenizer_json(tmp_path / "meta", pre.Metaspace()))


def test_the_export_names_smollm_and_writes_the_end_of_turn_id(offline_folder, q8_0_export):
    """llama.cpp guesses an end-of-turn token when none is written (for SmolLM2 it guessed <|endoftext|>)."""
    import gguf

    from course_utils.gguf_export import end_of_turn_id

    tokenizer = AutoTokenizer.from_pretrained(offline_folder)
    assert end_of_turn_id(tokenizer) == tokenizer.convert_tokens_to_ids("<|im_end|>")
    fields = gguf.GGUFReader(q8_0_export[0] / "model-q8_0.gguf").fields
    assert fields["tokenizer.ggml.pre"].contents() == "smollm"
    assert fields["tokenizer.ggml.eot_token_id"].contents() == tokenizer.convert_tokens_to_ids("<|im_end|>")


def test_the_command_line_writes_the_file_and_refuses_an_existing_one_in_a_sentence(offline_folder, tmp_path, capsys):
    from course_utils.gguf_export import main

    assert main([str(offline_folder), str(tmp_path / "cli.gguf"), "--outtype", "q8_0"]) == 0
    assert (tmp_path / "cli.gguf").stat().st_size > 0 and "q8_0" in capsys.readouterr().out
    assert main([str(offline_folder), str(tmp_path / "cli.gguf")]) == 2
    assert "already exists" in capsys.readouterr().err
