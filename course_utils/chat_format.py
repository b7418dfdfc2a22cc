"""Chat-template prompts: the messages of one turn, their text under the tokenizer's template or Llama 3's, their token cost."""
from __future__ import annotations

from pathlib import Path

from transformers import PreTrainedTokenizerBase


def chat_messages(user: str, system: str | None = None) -> list[dict]:
    """The chat messages of one user turn, with the system message first when there is one."""
    return ([{"role": "system", "content": system}] if system else []) + [{"role": "user", "content": user}]


def chat_text(tokenizer: PreTrainedTokenizerBase, user: str, system: str | None = None) -> str:
    """The prompt string the model was trained on for one user turn, from the tokenizer's own chat template."""
    if not getattr(tokenizer, "chat_template", None):
        raise ValueError(f"{tokenizer.name_or_path or 'This tokenizer'} has no chat template: load the Instruct model's "
                         "tokenizer, or build the prompt with course_utils.prompts.alpaca_text().")
    return tokenizer.apply_chat_template(chat_messages(user, system), tokenize=False, add_generation_prompt=True)


def system_prompt_tokens(tokenizer: PreTrainedTokenizerBase, system: str) -> int:
    """Tokens the system turn costs in every example, counted on the tokenizer's own chat template."""
    ids = tokenizer.apply_chat_template([{"role": "system", "content": system}], tokenize=True, add_generation_prompt=False)
    if isinstance(ids, dict) or hasattr(ids, "keys"):  # transformers 5 returns a BatchEncoding
        ids = ids["input_ids"]
    return len(ids)


def check_system_prompt_fits(
    tokenizer: PreTrainedTokenizerBase, system: str, max_length: int, reserve: int | None = None
) -> int:
    """The system turn's token count, or an error when it leaves fewer than `reserve` tokens (default half) for the rest."""
    reserve = max_length // 2 if reserve is None else reserve
    used = system_prompt_tokens(tokenizer, system)
    if used > max_length - reserve:
        raise ValueError(
            f"The system prompt takes {used} of max_length={max_length} tokens, leaving less than {reserve} for the "
            f"question and answer: shorten the system prompt or raise max_length."
        )
    return used


def llama3_chat_template() -> str:
    """Meta's Llama 3 Instruct chat template (BOS first, every turn closed by <|eot_id|>), as the pinned TRL ships it."""
    import trl

    return (Path(trl.__file__).parent / "chat_templates" / "llama3.jinja").read_text()


def render_llama3(messages: list[dict], add_generation_prompt: bool = True) -> str:
    """The Llama 3 formatted text of `messages`, rendered by transformers' own chat-template renderer."""
    from transformers.utils.chat_template_utils import render_jinja_template

    rendered, _ = render_jinja_template(
        conversations=[messages],
        chat_template=llama3_chat_template(),
        add_generation_prompt=add_generation_prompt,
        bos_token="<|begin_of_text|>",
        eos_token="<|eot_id|>",
    )
    return rendered[0]
