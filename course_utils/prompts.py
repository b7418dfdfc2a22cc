"""The one Alpaca prompt format of the course: training, evaluation and every later lesson build prompts here.

The seed trained on one string and evaluated on another; keeping a single function makes that mistake impossible.
"""
from __future__ import annotations

from transformers import PreTrainedTokenizerBase

# The Stanford Alpaca template (Apache-2.0), the format yahma/alpaca-cleaned was written for.
PREAMBLE = "Below is an instruction that describes a task. Write a response that appropriately completes the request."
PREAMBLE_WITH_INPUT = (
    "Below is an instruction that describes a task, paired with an input that provides further context. "
    "Write a response that appropriately completes the request."
)
RESPONSE_HEADER = "### Response:\n"
# A model that never learned to stop tends to start the next example; generation is cut there.
STOP_STRINGS = ("### Instruction:", "### Input:", "### Response:", "\n\n### ")


def alpaca_prompt(instruction: str, input: str = "") -> str:  # noqa: A002 - the column is called `input`
    """The prompt up to and including the response header; the model writes what follows."""
    instruction, input = instruction.strip(), (input or "").strip()
    if not instruction:
        raise ValueError("The instruction is empty: every Alpaca prompt needs an instruction to answer.")
    if input:
        return f"{PREAMBLE_WITH_INPUT}\n\n### Instruction:\n{instruction}\n\n### Input:\n{input}\n\n{RESPONSE_HEADER}"
    return f"{PREAMBLE}\n\n### Instruction:\n{instruction}\n\n{RESPONSE_HEADER}"


def alpaca_completion(output: str, eos_token: str) -> str:
    """The answer followed by exactly one EOS, so the model learns where to stop.

    TRL appends EOS only to completions that do not already end with it, so this string is trained as it is.
    """
    if not eos_token:
        raise ValueError("The tokenizer has no EOS token: set tokenizer.eos_token before building completions.")
    output = output.strip()
    while output.endswith(eos_token):
        output = output[: -len(eos_token)].rstrip()
    return output + eos_token


def alpaca_text(instruction: str, output: str, eos_token: str, input: str = "") -> str:  # noqa: A002
    """Prompt and completion as one string, for full-sequence language modelling and perplexity."""
    return alpaca_prompt(instruction, input) + alpaca_completion(output, eos_token)


def cut_at_stop(text: str, stop_strings: tuple[str, ...] = STOP_STRINGS) -> str:
    """Generated text up to the first stop string, for answers decoded without `stop_strings` in generate()."""
    cut = min((text.find(stop) for stop in stop_strings if stop in text), default=len(text))
    return text[:cut].strip()


def instruction_from_prompt(prompt: str) -> str:
    """The instruction back out of an `alpaca_prompt`, to show held-out rows as plain questions."""
    if "### Instruction:\n" not in prompt:
        raise ValueError("This is not an alpaca_prompt: it has no '### Instruction:' section.")
    body = prompt.split("### Instruction:\n", 1)[1]
    return body.split("\n\n### ", 1)[0].strip()


def bos_text(tokenizer: PreTrainedTokenizerBase) -> str:
    """What the tokenizer puts in front of plain text by itself: '<|begin_of_text|>' for Llama 3, '' for SmolLM2."""
    with_special = tokenizer("x")["input_ids"]
    plain = tokenizer("x", add_special_tokens=False)["input_ids"]
    start = next((i for i in range(len(with_special)) if with_special[i : i + len(plain)] == plain), 0)
    return tokenizer.decode(with_special[:start])


def with_bos(tokenizer: PreTrainedTokenizerBase, prompts: list[str]) -> list[str]:
    """Prompts for `generate()`, which tokenizes without special tokens, exactly as TRL tokenized them in training.

    TRL tokenizes prompt/completion text with the tokenizer's defaults, so a Llama 3 model trains after a BOS token;
    a prompt without it at inference is a different input from the one the model learned.
    """
    prefix = bos_text(tokenizer)
    return [prompt if prompt.startswith(prefix) else prefix + prompt for prompt in prompts] if prefix else list(prompts)
