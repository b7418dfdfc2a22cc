"""The LLaMA-Factory export: same rows, a dataset_info entry that points at them, and a template that renders Llama 3."""
import json

import pytest
import yaml

from course_utils.chat_format import render_llama3
from course_utils.data_files import read_jsonl
from course_utils.persona import PERSONA_DIR, SYSTEM_PROMPT
from course_utils.persona_export import (
    DATASET_NAME,
    TEMPLATE_NAME,
    alpaca_records,
    export_llamafactory,
    render_with_slots,
    template_source,
)

ROWS = [
    {"instruction": "기분 어때?", "input": "", "output": "최고지."},
    {"instruction": "이 코드 봐 줘.", "input": "print(1)", "output": "완벽해, 내가 짠 것처럼."},
]


def registered_template(source: str) -> dict:
    """Run the generated snippet against stand-ins for LLaMA-Factory's classes and return what it registers."""
    captured = {}

    class Formatter:
        def __init__(self, slots):
            self.slots = slots

    namespace = {
        "StringFormatter": Formatter,
        "EmptyFormatter": Formatter,
        "register_template": lambda **kwargs: captured.update(kwargs),
    }
    exec(compile(source, "template_llama3_ironman.py", "exec"), namespace)
    return captured


def test_export_writes_the_same_rows_and_an_entry_that_points_at_them(tmp_path):
    paths = export_llamafactory(ROWS, tmp_path, model_name_or_path="beomi/Llama-3-Open-Ko-8B-Instruct-preview")
    records = json.loads(paths["dataset"].read_text(encoding="utf-8"))
    assert records == [ROWS[0], {"instruction": "이 코드 봐 줘.\n\nprint(1)", "input": "", "output": "완벽해, 내가 짠 것처럼."}]
    info = json.loads(paths["dataset_info"].read_text())
    assert (tmp_path / info[DATASET_NAME]["file_name"]).is_file()
    assert info[DATASET_NAME]["columns"] == {"prompt": "instruction", "query": "input", "response": "output"}
    config = yaml.safe_load(paths["train_config"].read_text())
    assert config["template"] == TEMPLATE_NAME and config["dataset"] == DATASET_NAME
    assert config["stage"] == "sft" and config["finetuning_type"] == "lora" and config["val_size"] > 0


def test_shipped_training_data_exports_completely(tmp_path):
    rows = read_jsonl(PERSONA_DIR / "ironman_train.jsonl")
    paths = export_llamafactory(rows, tmp_path, model_name_or_path="m")
    assert len(json.loads(paths["dataset"].read_text(encoding="utf-8"))) == len(rows)


def test_bad_rows_are_refused_before_anything_is_written(tmp_path):
    with pytest.raises(ValueError, match="empty 'output'"):
        export_llamafactory([{"instruction": "a", "input": "", "output": ""}], tmp_path / "out", model_name_or_path="m")
    assert not (tmp_path / "out" / "ironman.json").exists()


def test_template_registers_the_persona_system_prompt_and_llama3_stop_word():
    registered = registered_template(template_source())
    assert registered["name"] == TEMPLATE_NAME
    assert registered["default_system"] == SYSTEM_PROMPT
    assert registered["stop_words"] == ["<|eot_id|>"] and registered["replace_eos"] is True
    assert registered["format_prefix"].slots == [{"bos_token"}]


def test_template_slots_render_exactly_what_the_llama3_chat_template_renders():
    registered = registered_template(template_source(system="SYS"))
    slots = {key: registered[f"format_{key}"].slots[0] for key in ("system", "user", "assistant")}
    messages = [{"role": "system", "content": "SYS"}, {"role": "user", "content": "안녕?"}]
    by_template = render_llama3(messages + [{"role": "assistant", "content": "그래."}], add_generation_prompt=False)
    by_slots = "<|begin_of_text|>" + "".join(
        slots[m["role"]].replace("{{content}}", m["content"]) for m in messages + [{"role": "assistant", "content": "그래."}]
    )
    assert by_slots == by_template
    assert render_with_slots(messages[1:], system="SYS") == render_llama3(messages)


def test_alpaca_records_strip_whitespace():
    assert alpaca_records([{"instruction": " a ", "input": " ", "output": " b\n"}]) == [{"instruction": "a", "input": "", "output": "b"}]


# ---------------------------------------------------------------- lesson 09: the preference export
PAIRS = [
    {"prompt": [{"role": "system", "content": "SYS"}, {"role": "user", "content": "기분 어때?"}],
     "chosen": [{"role": "assistant", "content": "최고지, 내가 누군데."}],
     "rejected": [{"role": "assistant", "content": "I am fine, thank you."}]},
    {"prompt": [{"role": "user", "content": "인사해 줘."}], "chosen": "안녕, 천재가 인사한다.", "rejected": "Hello!"},
]


def test_preference_export_writes_llamafactory_ranking_rows_and_a_dpo_config(tmp_path):
    from course_utils.persona_export import PREFERENCE_DATASET_NAME, export_llamafactory_dpo

    export_llamafactory(ROWS, tmp_path, model_name_or_path="m")  # the SFT export first, in the same folder
    paths = export_llamafactory_dpo(PAIRS, tmp_path, model_name_or_path="outputs/08_ironman_t4/merged", beta=0.2)
    records = json.loads(paths["dataset"].read_text(encoding="utf-8"))
    assert records == [
        {"instruction": "기분 어때?", "input": "", "system": "SYS", "chosen": "최고지, 내가 누군데.", "rejected": "I am fine, thank you."},
        {"instruction": "인사해 줘.", "input": "", "system": "", "chosen": "안녕, 천재가 인사한다.", "rejected": "Hello!"},
    ]
    info = json.loads(paths["dataset_info"].read_text())
    assert set(info) == {DATASET_NAME, PREFERENCE_DATASET_NAME}  # merged, the SFT entry kept
    entry = info[PREFERENCE_DATASET_NAME]
    assert entry["ranking"] is True and (tmp_path / entry["file_name"]).is_file()
    assert set(entry["columns"].values()) <= set(records[0])
    config = yaml.safe_load(paths["train_config"].read_text())
    sft = yaml.safe_load((tmp_path / "ironman_lora_sft.yaml").read_text())
    assert config["stage"] == "dpo" and config["pref_beta"] == 0.2 and config["dataset"] == PREFERENCE_DATASET_NAME
    assert "adapter_name_or_path" not in config  # a new LoRA on the merged SFT model: its reference is the SFT model
    assert {k: v for k, v in config.items() if k in ("template", "finetuning_type", "lora_target")} == {
        k: sft[k] for k in ("template", "finetuning_type", "lora_target")
    }


def test_bad_pairs_are_refused_before_the_preference_export_writes(tmp_path):
    from course_utils.persona_export import export_llamafactory_dpo

    same = {**PAIRS[1], "rejected": "안녕, 천재가 인사한다."}
    with pytest.raises(ValueError, match="same text as chosen and rejected"):
        export_llamafactory_dpo([PAIRS[0], same], tmp_path / "out", model_name_or_path="m")
    assert not (tmp_path / "out").exists()
    with pytest.raises(ValueError, match="ending with the user turn"):
        export_llamafactory_dpo([{**PAIRS[1], "prompt": "just text"}], tmp_path / "out", model_name_or_path="m")
