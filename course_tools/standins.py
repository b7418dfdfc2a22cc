"""Random-weight stand-ins of the GPU profiles' models and data, written as a mirror, to rehearse t4/a100 without the Hub.

Each stand-in has the real model's architecture class and config (written out below from the published config.json
files; dtype, special-token ids, generation config, auto_map and chat-template presence come from
course_tools/model_facts.py, so `python -m course_tools.mirror verify` finds a full-depth stand-in like the real one), random weights and a tokenizer of the real kind: Llama 3's own tokenizer from the `llama-models` package,
and small tokenizers trained on the course's Korean text for the others. Only shapes, dtypes, memory and code paths
are real: the stand-ins produce noise, so no score from them means anything.
"""
from __future__ import annotations

import json
import math
import os
import shutil
from collections.abc import Callable, Iterable
from pathlib import Path

import torch

from course_utils.chat_format import llama3_chat_template
from course_utils.checkpoints import plan_shards, write_shards
from course_utils.environment import DATA_DIR
from .llama3_tokenizer import LLAMA3_PACKAGE, LLAMA3_SPECIAL_TOKENS, llama3_tokenizer_file, load_llama3_tokenizer
from course_utils.mirror import ALPACA_DATASET, MirrorError, check_model_folder
from .model_facts import MODEL_FACTS, model_facts
from course_utils.profiles import OFFLINE_MODEL_ID, PROFILES

MARKER = "STANDIN.txt"


def config_facts(repo_id: str) -> dict:
    """The config.json fields model_facts records: dtype, special-token ids (absent ones left out) and auto_map."""
    facts = model_facts(repo_id)
    fields = {"torch_dtype": facts.dtype.value, "bos_token_id": facts.bos_token_id.value,
              "eos_token_id": facts.eos_token_id.value, "pad_token_id": facts.pad_token_id.value,
              "auto_map": facts.auto_map.value}
    return {key: value for key, value in fields.items() if value is not None}

SHARD_BYTES = 5 * 10**9

LLAMA3_8B = {
    "architectures": ["LlamaForCausalLM"], "model_type": "llama", "attention_bias": False, "attention_dropout": 0.0,
    "hidden_act": "silu", "hidden_size": 4096,
    "initializer_range": 0.02, "intermediate_size": 14336, "max_position_embeddings": 8192, "mlp_bias": False,
    "num_attention_heads": 32, "num_hidden_layers": 32, "num_key_value_heads": 8, "pretraining_tp": 1,
    "rms_norm_eps": 1e-5, "rope_scaling": None, "rope_theta": 500000.0, "tie_word_embeddings": False,
    "use_cache": True, "vocab_size": 128256, **config_facts("NousResearch/Meta-Llama-3-8B"),
}
# EXAONE-3.0-7.8B-Instruct's config.json (remote code, field names as LG publishes them; see exaone_reference.py).
EXAONE_3_0 = {
    "architectures": ["ExaoneForCausalLM"], "model_type": "exaone", "activation_function": "silu",
    "attention_dropout": 0.0, "embed_dropout": 0.0, "hidden_size": 4096, "initializer_range": 0.02, "intermediate_size": 14336, "layer_norm_epsilon": 1e-5,
    "max_position_embeddings": 4096, "num_attention_heads": 32, "num_key_value_heads": 8, "num_layers": 32,
    "rope_scaling": None, "rope_theta": 500000.0, "tie_word_embeddings": False,
    "use_cache": True, "vocab_size": 102400, **config_facts("LGAI-EXAONE/EXAONE-3.0-7.8B-Instruct"),
}
KOGPT2 = {
    "architectures": ["GPT2LMHeadModel"], "model_type": "gpt2", "activation_function": "gelu_new",
    "attn_pdrop": 0.1, "embd_pdrop": 0.1, "resid_pdrop": 0.1, "initializer_range": 0.02, "layer_norm_epsilon": 1e-5,
    "n_ctx": 1024, "n_embd": 768, "n_head": 12, "n_layer": 12, "n_positions": 1024, "vocab_size": 51200,
    **config_facts("skt/kogpt2-base-v2"),
}
NLLB_600M = {
    "architectures": ["M2M100ForConditionalGeneration"], "model_type": "m2m_100", "activation_function": "relu",
    "d_model": 1024, "encoder_layers": 12, "decoder_layers": 12, "encoder_attention_heads": 16,
    "decoder_attention_heads": 16, "encoder_ffn_dim": 4096, "decoder_ffn_dim": 4096, "max_position_embeddings": 1024,
    "vocab_size": 256206, "scale_embedding": True, "dropout": 0.1, "attention_dropout": 0.1,
    "decoder_start_token_id": 2, "tokenizer_class": "NllbTokenizer", **config_facts("facebook/nllb-200-distilled-600M"),
}
BERT_NSMC = {
    "architectures": ["BertForSequenceClassification"], "model_type": "bert", "hidden_size": 768,
    "num_hidden_layers": 12, "num_attention_heads": 12, "intermediate_size": 3072, "hidden_act": "gelu",
    "max_position_embeddings": 512, "type_vocab_size": 2, "vocab_size": 119547, "layer_norm_eps": 1e-12,
    "id2label": {"0": "negative", "1": "positive"}, "label2id": {"negative": 0, "positive": 1},
    **config_facts("sangrimlee/bert-base-multilingual-cased-nsmc"),
}
# Lesson 01's example of a model without a trained classification head (an ELECTRA discriminator, WordPiece).
KCELECTRA = {
    "architectures": ["ElectraForPreTraining"], "model_type": "electra", "hidden_size": 768, "embedding_size": 768,
    "num_hidden_layers": 12, "num_attention_heads": 12, "intermediate_size": 3072, "hidden_act": "gelu",
    "max_position_embeddings": 512, "type_vocab_size": 2, "vocab_size": 54343, "layer_norm_eps": 1e-12,
    **config_facts("beomi/KcELECTRA-base-v2022"),
}
SMOLLM2_135M = {
    "architectures": ["LlamaForCausalLM"], "model_type": "llama", "hidden_act": "silu", "hidden_size": 576,
    "intermediate_size": 1536, "max_position_embeddings": 8192, "num_attention_heads": 9, "num_hidden_layers": 30,
    "num_key_value_heads": 3, "rms_norm_eps": 1e-5, "rope_theta": 100000.0, "tie_word_embeddings": True,
    "vocab_size": 49152, **config_facts(OFFLINE_MODEL_ID),
}
CHATML_TEMPLATE = (
    "{% for message in messages %}{% if loop.first and messages[0]['role'] != 'system' %}"
    "{{ '<|im_start|>system\nYou are a helpful AI assistant named SmolLM, trained by Hugging Face<|im_end|>\n' }}"
    "{% endif %}{{'<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n'}}{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"
)
# Hub id -> (config, kind); sizes above 1 B parameters get --layers, the small models keep their real depth.
STANDINS: dict[str, tuple[dict, str]] = {
    "NousResearch/Meta-Llama-3-8B": (LLAMA3_8B, "llama3-base"),
    "beomi/Llama-3-Open-Ko-8B-Instruct-preview": ({**LLAMA3_8B, **config_facts("beomi/Llama-3-Open-Ko-8B-Instruct-preview")},
                                                  "llama3-instruct"),
    "LGAI-EXAONE/EXAONE-3.0-7.8B-Instruct": (EXAONE_3_0, "exaone"),
    "skt/kogpt2-base-v2": (KOGPT2, "kogpt2"),
    "facebook/nllb-200-distilled-600M": (NLLB_600M, "nllb"),
    "sangrimlee/bert-base-multilingual-cased-nsmc": (BERT_NSMC, "bert"),
    OFFLINE_MODEL_ID: (SMOLLM2_135M, "smollm2"),
    "beomi/KcELECTRA-base-v2022": (KCELECTRA, "bert"),
}
LAYER_KEYS = ("num_hidden_layers", "num_layers")
TINY = {"hidden_size": 64, "embedding_size": 64, "intermediate_size": 128, "num_attention_heads": 4, "num_key_value_heads": 2,
        "n_embd": 64, "n_head": 4, "d_model": 64, "encoder_ffn_dim": 128, "decoder_ffn_dim": 128,
        "encoder_attention_heads": 4, "decoder_attention_heads": 4}


# ----------------------------------------------------------------------------------------------------------- text
def course_text() -> list[str]:
    """Every string in the course's own data files: the corpus the small tokenizers are trained on."""
    texts: list[str] = []
    for path in sorted(DATA_DIR.rglob("*")):
        if path.suffix == ".jsonl":
            for line in path.read_text(encoding="utf-8").splitlines():
                try:
                    row = json.loads(line)
                except ValueError:
                    continue
                texts += _strings(row)
        elif path.suffix == ".txt":
            texts += [t for t in path.read_text(encoding="utf-8").splitlines() if t.strip()]
    return texts


def _strings(value) -> list[str]:
    if isinstance(value, str):
        return [value] if value.strip() else []
    if isinstance(value, dict):
        return [s for v in value.values() for s in _strings(v)]
    if isinstance(value, list):
        return [s for v in value for s in _strings(v)]
    return []


# ----------------------------------------------------------------------------------------------------- tokenizers
def _byte_bpe(specials: list[str], vocab_size: int = 4000):
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

    tokenizer = Tokenizer(models.BPE())
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=specials,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False)
    tokenizer.train_from_iterator(course_text(), trainer=trainer)
    return tokenizer


def _save_fast(tokenizer_object, folder: Path, tokenizer_class: str | None = None, **kwargs) -> None:
    """Save a `tokenizers` object as a transformers tokenizer folder, naming the real tokenizer class."""
    from transformers import PreTrainedTokenizerFast

    PreTrainedTokenizerFast(tokenizer_object=tokenizer_object, **kwargs).save_pretrained(folder)
    if tokenizer_class:
        path = folder / "tokenizer_config.json"
        config = json.loads(path.read_text())
        config["tokenizer_class"] = tokenizer_class
        path.write_text(json.dumps(config, indent=2, ensure_ascii=False))


def write_llama3_tokenizer(folder: Path, repo_id: str, tiny: bool) -> None:
    """Llama 3's real tokenizer; EOS and chat-template presence as model_facts records them for `repo_id`."""
    if llama3_tokenizer_file() is not None:
        tokenizer = load_llama3_tokenizer().backend_tokenizer
    elif tiny:  # tests without llama-models: a small byte-level BPE with Llama 3's special tokens
        from tokenizers import AddedToken

        tokenizer = _byte_bpe([], 1000)
        tokenizer.add_special_tokens([AddedToken(t, special=True, normalized=False) for t in LLAMA3_SPECIAL_TOKENS])
    else:
        raise MirrorError(f"The Llama 3 stand-ins need Llama 3's tokenizer file: run `pip install --no-deps {LLAMA3_PACKAGE}`.")
    facts = model_facts(repo_id)
    extra = {"chat_template": llama3_chat_template()} if facts.chat_template.value else {}
    _save_fast(tokenizer, folder, bos_token="<|begin_of_text|>", eos_token=facts.tokenizer_eos.value, model_max_length=8192,
               clean_up_tokenization_spaces=True, **extra)


def write_kogpt2_tokenizer(folder: Path) -> None:
    """tokenizer.json only, as the real repository ships it (no tokenizer_config: its card sets the tokens by hand)."""
    specials = ["<s>", "</s>", "<usr>", "<pad>", "<sys>", "<unk>", "<mask>", "<d>", "</d>"]
    _byte_bpe(specials, 4000).save(str(folder / "tokenizer.json"))


def write_exaone_tokenizer(folder: Path) -> None:
    from course_utils.exaone_reference import EXAONE_CHAT_TEMPLATE

    specials = ["[PAD]", "[BOS]", "[EOS]", "[UNK]", "[|system|]", "[|user|]", "[|assistant|]"]
    specials += [f"[unused{i}]" for i in range(361 - len(specials))] + ["[|endofturn|]"]  # EOS at id 361
    _save_fast(_byte_bpe(specials, 4000), folder, "GPT2Tokenizer", bos_token="[BOS]", eos_token="[|endofturn|]",
               unk_token="[UNK]", pad_token="[PAD]", chat_template=EXAONE_CHAT_TEMPLATE, model_max_length=4096)


def write_smollm2_tokenizer(folder: Path) -> None:
    specials = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]
    _save_fast(_byte_bpe(specials, 3000), folder, "GPT2Tokenizer", bos_token="<|im_start|>", eos_token="<|im_end|>",
               unk_token="<|endoftext|>", pad_token="<|im_end|>", chat_template=CHATML_TEMPLATE, model_max_length=8192)


def write_nllb_tokenizer(folder: Path) -> None:
    """A Unigram (SentencePiece-style) tokenizer with NLLB's special tokens and language codes (kor_Hang, ...)."""
    from tokenizers import AddedToken, Tokenizer, decoders, models, pre_tokenizers, processors, trainers
    from transformers.models.nllb.tokenization_nllb import FAIRSEQ_LANGUAGE_CODES

    tokenizer = Tokenizer(models.Unigram())
    tokenizer.pre_tokenizer = pre_tokenizers.Metaspace()
    tokenizer.decoder = decoders.Metaspace()
    trainer = trainers.UnigramTrainer(vocab_size=3000, special_tokens=["<s>", "<pad>", "</s>", "<unk>"],
                                      unk_token="<unk>", show_progress=False)
    tokenizer.train_from_iterator(course_text(), trainer=trainer)
    codes = list(FAIRSEQ_LANGUAGE_CODES)
    tokenizer.add_special_tokens([AddedToken(t, special=True, normalized=False) for t in codes + ["<mask>"]])
    tokenizer.post_processor = processors.TemplateProcessing(
        single="eng_Latn $A </s>", pair="eng_Latn $A $B </s>",
        special_tokens=[("eng_Latn", tokenizer.token_to_id("eng_Latn")), ("</s>", 2)])
    _save_fast(tokenizer, folder, "NllbTokenizer", bos_token="<s>", eos_token="</s>", sep_token="</s>",
               cls_token="<s>", unk_token="<unk>", pad_token="<pad>", mask_token="<mask>", src_lang="eng_Latn",
               tgt_lang=None, model_max_length=1024, extra_special_tokens=codes)


def write_bert_tokenizer(folder: Path) -> None:
    """A cased WordPiece tokenizer, as bert-base-multilingual-cased's."""
    from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, processors, trainers

    tokenizer = Tokenizer(models.WordPiece(unk_token="[UNK]"))
    tokenizer.normalizer = normalizers.BertNormalizer(lowercase=False, strip_accents=False, clean_text=True)
    tokenizer.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    tokenizer.decoder = decoders.WordPiece()
    trainer = trainers.WordPieceTrainer(vocab_size=3000, special_tokens=["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"],
                                        show_progress=False)
    tokenizer.train_from_iterator(course_text(), trainer=trainer)
    cls, sep = tokenizer.token_to_id("[CLS]"), tokenizer.token_to_id("[SEP]")
    tokenizer.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]", pair="[CLS] $A [SEP] $B:1 [SEP]:1", special_tokens=[("[CLS]", cls), ("[SEP]", sep)])
    _save_fast(tokenizer, folder, "BertTokenizer", unk_token="[UNK]", sep_token="[SEP]", pad_token="[PAD]",
               cls_token="[CLS]", mask_token="[MASK]", do_lower_case=False, model_max_length=512)


# -------------------------------------------------------------------------------------------------------- weights
def _init_tensor(name: str, shape: tuple[int, ...], dtype: torch.dtype, device: str) -> torch.Tensor:
    """Norm weights 1, biases 0, everything else N(0, 0.02): a forward pass stays finite at any depth."""
    if len(shape) == 1 and ("norm" in name or "ln_" in name or name.endswith("ln_f.weight")):
        return torch.ones(shape, dtype=dtype)
    if name.endswith(".bias"):
        return torch.zeros(shape, dtype=dtype)
    return (torch.randn(shape, device=device) * 0.02).to(dtype).cpu()


def write_sharded(folder: Path, shapes: dict[str, tuple[int, ...]], dtype: torch.dtype,
                  shard_bytes: int = SHARD_BYTES) -> int:
    """Random weights written tensor by tensor into ~5 GB safetensors shards with an index; returns their bytes."""
    device = "cuda" if torch.cuda.is_available() else "cpu"  # drawing 8B random numbers is much faster there
    specs = {name: (tuple(shape), dtype) for name, shape in shapes.items()}
    write_shards(folder, plan_shards(specs, shard_bytes), specs, lambda name: _init_tensor(name, specs[name][0], dtype, device))
    return sum(math.prod(shape) * dtype.itemsize for shape, _ in specs.values())


def _meta_shapes(config: dict) -> dict[str, tuple[int, ...]]:
    """Parameter shapes of a transformers architecture, from a model built on the meta device (no memory)."""
    from transformers import AutoConfig, AutoModelForCausalLM

    cfg = AutoConfig.for_model(**config)
    with torch.device("meta"):
        model = AutoModelForCausalLM.from_config(cfg)
    return {name: tuple(p.shape) for name, p in model.named_parameters()}


def write_generation_config(folder: Path, repo_id: str) -> None:
    """generation_config.json as model_facts records it (sampling settings and EOS ids), or none where the real has none."""
    facts = model_facts(repo_id)
    path = folder / "generation_config.json"
    if facts.generation.value is None:
        path.unlink(missing_ok=True)
        return
    generation = {"bos_token_id": facts.bos_token_id.value, **facts.generation.value}
    path.write_text(json.dumps({k: v for k, v in generation.items() if v is not None}, indent=2) + "\n")


def write_model(folder: Path, config: dict, dtype: torch.dtype) -> None:
    """Config and random weights of one stand-in."""
    if config["model_type"] == "exaone":
        from course_utils.exaone_reference import exaone_settings, exaone_tensor_shapes

        (folder / "config.json").write_text(json.dumps(config, indent=2))
        write_sharded(folder, exaone_tensor_shapes(exaone_settings(config)), dtype)
        return
    from transformers import AutoConfig, AutoModelForCausalLM, AutoModelForPreTraining, AutoModelForSeq2SeqLM, \
        AutoModelForSequenceClassification

    cfg = AutoConfig.for_model(**config)
    cfg.architectures = config["architectures"]
    arch = config["architectures"][0]
    if arch == "LlamaForCausalLM" and dtype != torch.float32:  # 8B: never materialized as a whole
        cfg.save_pretrained(folder)
        write_sharded(folder, _meta_shapes(config), dtype)
        return
    loader = {"M2M100ForConditionalGeneration": AutoModelForSeq2SeqLM, "ElectraForPreTraining": AutoModelForPreTraining,
              "BertForSequenceClassification": AutoModelForSequenceClassification}.get(arch, AutoModelForCausalLM)
    torch.manual_seed(0)
    model = loader.from_config(cfg, dtype=dtype)
    model.save_pretrained(folder)


# -------------------------------------------------------------------------------------------------------- alpaca
def write_alpaca(folder: Path, rows_wanted: int = 2500) -> Path:
    """alpaca-cleaned's columns, recombined from data/alpaca_ko_en.jsonl: enough rows for a 100-step a100 run."""
    source = [json.loads(line) for line in (DATA_DIR / "alpaca_ko_en.jsonl").read_text(encoding="utf-8").splitlines()
              if line.strip()]
    asks = ["", "간단히 답하세요. ", "Answer in one paragraph. ", "자세히 설명하세요. ", "Be concise. "]
    rows = []
    for i in range(rows_wanted):
        base = source[i % len(source)]
        instruction = asks[(i // len(source)) % len(asks)] + base["instruction"]
        keep_input = i % 7 == 0  # alpaca-cleaned: most rows have no input; lesson 05 keeps only those
        text = (base.get("input") or "").strip()
        if text and not keep_input:
            instruction, text = f"{instruction}\n\n{text}", ""
        rows.append({"instruction": instruction, "input": text, "output": base["output"]})
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "alpaca_data_cleaned.json"  # the file name the real dataset repository uses
    text = json.dumps(rows, ensure_ascii=False, indent=1)
    if not path.is_file() or path.read_text(encoding="utf-8") != text:  # rehearsal lanes side by side read this file
        staging = path.with_name(f".{path.name}.{os.getpid()}")
        staging.write_text(text, encoding="utf-8")
        os.replace(staging, path)
    (folder / MARKER).write_text(
        f"Stand-in for {ALPACA_DATASET} (rehearsal only): {len(rows)} rows recombined from data/alpaca_ko_en.jsonl.\n")
    return path


# ---------------------------------------------------------------------------------------------------------- main
def standin_config(repo_id: str, layers: int | None, tiny: bool) -> tuple[dict, torch.dtype]:
    """The real config with `layers` decoder layers (models over 1 B parameters only), and the dtype to save in."""
    config, _ = STANDINS[repo_id]
    config = json.loads(json.dumps(config))
    big = config.get("hidden_size", 0) >= 4096
    dtype = getattr(torch, model_facts(repo_id).dtype.value)  # the dtype on disk, even when tiny
    if tiny:
        config.update({k: v for k, v in TINY.items() if k in config})
        for key in LAYER_KEYS + ("n_layer", "encoder_layers", "decoder_layers"):
            if key in config:
                config[key] = 1
    if layers is not None and big:
        for key in LAYER_KEYS:
            if key in config:
                config[key] = layers
    return config, dtype


TOKENIZER_WRITERS: dict[str, Callable[[Path, bool], None]] = {
    "llama3-base": lambda folder, tiny: write_llama3_tokenizer(folder, "NousResearch/Meta-Llama-3-8B", tiny),
    "llama3-instruct": lambda folder, tiny: write_llama3_tokenizer(folder, "beomi/Llama-3-Open-Ko-8B-Instruct-preview", tiny),
    "exaone": lambda folder, tiny: write_exaone_tokenizer(folder),
    "kogpt2": lambda folder, tiny: write_kogpt2_tokenizer(folder),
    "nllb": lambda folder, tiny: write_nllb_tokenizer(folder),
    "bert": lambda folder, tiny: write_bert_tokenizer(folder),
    "smollm2": lambda folder, tiny: write_smollm2_tokenizer(folder),
}


def _describe(layers: int | None, tiny: bool) -> str:
    """The marker's last line: depth, size and a digest of model_facts (a change of facts rebuilds the stand-ins)."""
    import hashlib

    digest = hashlib.sha256(repr(sorted((k, repr(v)) for k, v in MODEL_FACTS.items())).encode()).hexdigest()[:12]
    return f"layers={layers if layers is not None else 'full'} tiny={tiny} facts={digest}"


def _is_current(folder: Path, layers: int | None, tiny: bool) -> bool:
    try:
        check_model_folder(folder)
        return (folder / MARKER).read_text().splitlines()[-1] == _describe(layers, tiny)
    except (OSError, IndexError, MirrorError):
        return False


def _is_real_copy(folder: Path) -> bool:
    """A complete folder without the stand-in marker: a real download, never overwritten."""
    try:
        check_model_folder(folder)
    except (OSError, MirrorError):
        return False
    return not (folder / MARKER).exists()


def write_standin(dest: Path, repo_id: str, layers: int | None = None, tiny: bool = False) -> Path:
    """One stand-in folder at dest/org/name, written in a staging folder first; a current one is kept as it is."""
    target = dest / repo_id
    if _is_current(target, layers, tiny):
        print(f"[standins] {repo_id}: already there ({target})")
        return target
    if _is_real_copy(target):
        print(f"[standins] {repo_id}: {target} holds a real copy, kept as it is")
        return target
    config, dtype = standin_config(repo_id, layers, tiny)
    staging = target.parent / f".staging-{target.name}"
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    try:
        kind = STANDINS[repo_id][1]
        TOKENIZER_WRITERS[kind](staging, tiny)
        twin = dest / "NousResearch/Meta-Llama-3-8B"
        if kind == "llama3-instruct" and _is_current(twin, layers, tiny):  # same shapes: share the base's shards
            (staging / "config.json").write_text(json.dumps(config, indent=2))
            for file in twin.glob("model*.safetensors*"):
                os.symlink(os.path.relpath(file, target), staging / file.name)
        else:
            write_model(staging, config, dtype)
        write_generation_config(staging, repo_id)
        (staging / MARKER).write_text(
            f"Random-weight stand-in for {repo_id} (course rehearsal; its outputs mean nothing).\n{_describe(layers, tiny)}")
        shutil.rmtree(target, ignore_errors=True)
        staging.rename(target)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    print(f"[standins] {repo_id}: written ({target}, {_describe(layers, tiny)})", flush=True)
    return target


def write_standins(dest: Path, layers: int | None = None, profile_name: str = "t4", only: Iterable[str] | None = None,
                   tiny: bool = False) -> list[Path]:
    """Stand-ins of every model the profile names (or only those given), plus the Alpaca stand-in."""
    from course_utils.mirror import profile_repo_ids

    if profile_name not in PROFILES or PROFILES[profile_name].offline:
        raise MirrorError(f"Stand-ins are for the GPU profiles: use --profile t4 or --profile a100, not {profile_name!r}.")
    wanted = list(only) if only else profile_repo_ids(PROFILES[profile_name]) + [ALPACA_DATASET]
    unknown = [i for i in wanted if i not in STANDINS and i != ALPACA_DATASET]
    if unknown:
        raise MirrorError(f"No stand-in is defined for {', '.join(unknown)}: choose from {', '.join(STANDINS)}.")
    dest.mkdir(parents=True, exist_ok=True)
    order = sorted(wanted, key=lambda i: STANDINS.get(i, ({}, ""))[1] != "llama3-base")  # base first: its twin links
    paths = []
    for repo_id in order:
        if repo_id == ALPACA_DATASET and (dest / repo_id).is_dir() and not (dest / repo_id / MARKER).exists():
            print(f"[standins] {repo_id}: {dest / repo_id} holds a real copy, kept as it is")
            paths.append(dest / repo_id)
        elif repo_id == ALPACA_DATASET:
            paths.append(write_alpaca(dest / ALPACA_DATASET).parent)
        else:
            paths.append(write_standin(dest, repo_id, layers, tiny))
    return paths
