"""recipes/llamafactory: what `make llamafactory-check` relies on, checked without LLaMA-Factory installed."""
import json
from pathlib import Path

import pytest
import yaml

from course_utils.chat_format import chat_messages
from course_utils.data_files import read_jsonl
from course_utils.persona import PERSONA_DIR, SYSTEM_PROMPT, user_message
from course_utils.persona_export import alpaca_records, export_llamafactory

ROOT = Path(__file__).resolve().parents[1]
RECIPE = ROOT / "recipes" / "llamafactory"
RESULT = ROOT / "benchmarks" / "results" / "llamafactory_check.json"


def llamafactory_user_turn(record: dict, columns: dict) -> str:
    """The user turn LLaMA-Factory's alpaca converter builds: the non-empty prompt and query columns joined by "\\n"."""
    return "\n".join(record[columns[key]] for key in ("prompt", "query") if record.get(columns[key]))


@pytest.fixture(scope="module")
def shipped_config() -> dict:
    return yaml.safe_load((RECIPE / "persona_lora_sft.yaml").read_text(encoding="utf-8"))


@pytest.fixture()
def export(tmp_path):
    rows = read_jsonl(PERSONA_DIR / "ironman_train.jsonl")
    paths = export_llamafactory(rows, tmp_path, model_name_or_path="m")
    return rows, paths


def test_shipped_config_names_a_dataset_the_export_defines(shipped_config, export):
    _, paths = export
    info = json.loads(paths["dataset_info"].read_text(encoding="utf-8"))
    entry = info[shipped_config["dataset"]]
    assert (paths["dataset_info"].parent / entry["file_name"]).is_file()
    assert entry["formatting"] == "alpaca"
    records = json.loads((paths["dataset_info"].parent / entry["file_name"]).read_text(encoding="utf-8"))
    assert set(entry["columns"].values()) <= set(records[0])


def test_exported_rows_give_llamafactory_the_course_user_turn(export):
    rows, paths = export
    columns = json.loads(paths["dataset_info"].read_text())["ironman"]["columns"]
    records = json.loads(paths["dataset"].read_text(encoding="utf-8"))
    assert [llamafactory_user_turn(r, columns) for r in records] == [user_message(r) for r in rows]


def test_a_row_with_input_reaches_llamafactory_as_the_course_writes_it():
    # LLaMA-Factory joins instruction and input with one newline, the course's user_message with a blank line.
    row = {"instruction": "이 코드 봐 줘.", "input": "print(1)", "output": "완벽해."}
    columns = {"prompt": "instruction", "query": "input", "response": "output"}
    (record,) = alpaca_records([row])
    assert llamafactory_user_turn(record, columns) == user_message(row) == "이 코드 봐 줘.\n\nprint(1)"


def test_shipped_config_carries_the_persona_system_prompt_on_smollm2s_chat_format(shipped_config):
    assert shipped_config["default_system"] == SYSTEM_PROMPT
    assert shipped_config["template"] == "chatml"  # SmolLM2's template is ChatML (<|im_start|>role ... <|im_end|>)
    assert shipped_config["stage"] == "sft" and shipped_config["finetuning_type"] == "lora"
    assert shipped_config["bf16"] is False  # the check trains on CPU


def test_cutoff_len_keeps_every_shipped_example_whole(shipped_config, offline_tokenizer, export):
    rows, _ = export
    longest = max(
        len(offline_tokenizer.apply_chat_template(
            chat_messages(user_message(r), SYSTEM_PROMPT) + [{"role": "assistant", "content": r["output"]}], tokenize=True
        )["input_ids"])
        for r in rows
    )
    assert longest <= shipped_config["cutoff_len"], f"the longest example has {longest} tokens"


def test_llamafactory_venv_uses_the_course_torch_pin():
    pins = dict(
        line.split("==") for line in (RECIPE / "requirements.txt").read_text().splitlines() if "==" in line and not line.startswith("#")
    )
    course_torch = next(l for l in (ROOT / "requirements-cpu.txt").read_text().splitlines() if l.startswith("torch=="))
    assert pins["llamafactory"] == "0.9.5"
    assert f"torch=={pins['torch']}" == course_torch


def test_committed_result_is_dated_and_passed():
    result = json.loads(RESULT.read_text(encoding="utf-8"))
    assert result["passed"] and result["date"][:4].isdigit()
    assert all(row["ok"] for row in result["pipeline"].values())
    losses = result["training"]["losses"]
    assert result["training"]["last_mean"] < result["training"]["first_mean"] and len(losses) >= 4


def test_shipped_dpo_config_sits_beside_the_sft_one_and_names_the_preference_export(shipped_config, tmp_path):
    from course_utils.persona_export import PREFERENCE_DATASET_NAME, export_llamafactory_dpo

    dpo = yaml.safe_load((RECIPE / "persona_lora_dpo.yaml").read_text(encoding="utf-8"))
    assert dpo["stage"] == "dpo" and dpo["pref_loss"] == "sigmoid" and 0 < dpo["pref_beta"] <= 1
    assert dpo["dataset"] == PREFERENCE_DATASET_NAME
    # everything that decides the rendered tokens is the SFT check's: template, system prompt, model, LoRA
    same = ("model_name_or_path", "template", "default_system", "finetuning_type", "lora_target", "lora_rank", "cutoff_len")
    assert {k: dpo[k] for k in same} == {k: shipped_config[k] for k in same}
    pairs = [{"prompt": [{"role": "user", "content": "기분 어때?"}], "chosen": "최고지.", "rejected": "Fine."}]
    paths = export_llamafactory_dpo(pairs, tmp_path, model_name_or_path="m")
    entry = json.loads(paths["dataset_info"].read_text())[dpo["dataset"]]
    assert entry["ranking"] is True and (tmp_path / entry["file_name"]).is_file()


def test_committed_result_covers_the_dpo_export():
    result = json.loads(RESULT.read_text(encoding="utf-8"))
    dpo_rows = [row for name, row in result["pipeline"].items() if name.startswith("DPO pairs")]
    assert len(dpo_rows) == 4 and all(row["ok"] and row["rows"] == result["dpo_pairs"] > 0 for row in dpo_rows)
    assert result["export_dpo_config_accepted"]
    assert result["dpo_training"]["finite"] and result["dpo_training"]["adapter_saved"] and result["dpo_training"]["steps"] >= 2
