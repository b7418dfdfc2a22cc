"""The real Llama 3 tokenizer built offline from PyPI `llama-models`' tiktoken file, for tests, the GPU stand-ins and
the engine checks' tiny Llama 3 model.

SmolLM2 has no BOS and ends turns with its EOS, so only the real Llama 3 vocabulary shows the doubled-BOS and
end-of-turn bugs; `standins` saves this same tokenizer into its Llama 3 stand-ins. `llama-models==0.3.0` (installed with --no-deps) ships `llama_models/llama3/tokenizer.model`.
"""
from __future__ import annotations

import base64
import importlib.util
from functools import lru_cache
from pathlib import Path

from transformers import PreTrainedTokenizerFast

from course_utils.chat_format import llama3_chat_template
from course_utils.gguf_export import LLAMA3_PATTERN

LLAMA3_PACKAGE = "llama-models==0.3.0"

# Llama 3.0's 256 special tokens in id order from 128000 (Llama 3.1 renamed some; the course's 8B models are 3.0).
LLAMA3_SPECIAL_TOKENS = (
    ["<|begin_of_text|>", "<|end_of_text|>"]
    + [f"<|reserved_special_token_{i}|>" for i in range(4)]
    + ["<|start_header_id|>", "<|end_header_id|>", "<|reserved_special_token_4|>", "<|eot_id|>"]
    + [f"<|reserved_special_token_{i}|>" for i in range(5, 251)]
)


def llama3_tokenizer_file() -> Path | None:
    """Llama 3's tiktoken file inside the installed `llama-models` (found without importing it), or None."""
    spec = importlib.util.find_spec("llama_models")
    if spec is None or not spec.submodule_search_locations:
        return None
    path = Path(list(spec.submodule_search_locations)[0]) / "llama3" / "tokenizer.model"
    return path if path.is_file() else None


@lru_cache(maxsize=1)
def _byte_table() -> dict[int, str]:
    from transformers.convert_slow_tokenizer import bytes_to_unicode

    return bytes_to_unicode()


def _byte_level(token: bytes) -> str:
    table = _byte_table()
    return "".join(table[b] for b in token)


@lru_cache(maxsize=1)
def load_llama3_tokenizer() -> PreTrainedTokenizerFast:
    """Llama 3(.0) Instruct's fast tokenizer with its chat template: ids match Meta's (about 10 s to build, cached)."""
    from tokenizers import AddedToken, Regex, Tokenizer, decoders, pre_tokenizers, processors
    from tokenizers.models import BPE

    path = llama3_tokenizer_file()
    if path is None:
        raise ImportError(f"The Llama 3 tokenizer file comes from PyPI's llama-models: run `pip install --no-deps {LLAMA3_PACKAGE}`.")
    ranks: dict[bytes, int] = {}
    for line in path.read_text().splitlines():
        if line:
            token, rank = line.split()
            ranks[base64.b64decode(token)] = int(rank)
    # merges from ranks, as transformers' TikTokenConverter derives them
    merges = []
    for token, rank in ranks.items():
        for cut in range(1, len(token)):
            left, right = token[:cut], token[cut:]
            if left in ranks and right in ranks:
                merges.append((rank, ranks[left], ranks[right], left, right))
    merges.sort()
    vocab = {_byte_level(token): rank for token, rank in ranks.items()}
    backend = Tokenizer(BPE(vocab, [(_byte_level(m[3]), _byte_level(m[4])) for m in merges], fuse_unk=False))
    backend.model.ignore_merges = True
    backend.pre_tokenizer = pre_tokenizers.Sequence(
        [
            pre_tokenizers.Split(Regex(LLAMA3_PATTERN), behavior="isolated", invert=False),
            pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False),
        ]
    )
    backend.decoder = decoders.ByteLevel()
    backend.add_special_tokens([AddedToken(t, normalized=False, special=True) for t in LLAMA3_SPECIAL_TOKENS])
    bos = "<|begin_of_text|>"
    backend.post_processor = processors.Sequence(
        [
            processors.ByteLevel(trim_offsets=False),
            processors.TemplateProcessing(
                single=f"{bos}:0 $A:0", pair=f"{bos}:0 $A:0 {bos}:1 $B:1", special_tokens=[(bos, len(ranks))]
            ),
        ]
    )
    return PreTrainedTokenizerFast(
        tokenizer_object=backend,
        bos_token=bos,
        eos_token="<|end_of_text|>",
        chat_template=llama3_chat_template(),
        model_max_length=8192,
    )


def write_tiny_llama3(folder: Path) -> Path:
    """Two Llama layers on Llama 3's real tokenizer and chat template, random weights with a fixed seed.

    The engine checks (llama.cpp, vLLM) serve it to see what only Llama 3's vocabulary shows (its BOS, <|eot_id|>);
    head size 32 is the smallest that vLLM's CPU attention takes.
    """
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(0)
    tokenizer = load_llama3_tokenizer()
    config = LlamaConfig(vocab_size=len(tokenizer), hidden_size=64, intermediate_size=128, num_hidden_layers=2,
                         num_attention_heads=2, num_key_value_heads=1, max_position_embeddings=2048,
                         rms_norm_eps=1e-5, rope_theta=500000.0, tie_word_embeddings=False, initializer_range=0.5,
                         bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.convert_tokens_to_ids("<|eot_id|>"))
    LlamaForCausalLM(config).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder
