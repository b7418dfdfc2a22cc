"""model_facts: every model the course loads has sourced facts, and the README and lesson headers quote its sizes."""
from __future__ import annotations

import math
import re
from pathlib import Path

import pytest
import torch

from course_tools.model_facts import GB, MODEL_FACTS, lesson_download_text, model_facts, size_text, weight_bytes

ROOT = Path(__file__).resolve().parent.parent
EXAONE = "LGAI-EXAONE/EXAONE-3.0-7.8B-Instruct"


def test_every_model_a_gpu_profile_or_a_lesson_loads_has_facts():
    from course_utils.mirror import ALPACA_DATASET, profile_repo_ids
    from course_utils.profiles import PROFILES
    from course_tools.rehearsal import needed_ids, notebook_path
    from course_tools.standins import STANDINS

    lessons = [notebook_path(f"{n:02d}") for n in range(1, 9)]
    wanted = set(needed_ids(lessons, "t4")) | set(needed_ids(lessons, "a100")) | set(STANDINS)
    wanted |= set(profile_repo_ids(PROFILES["t4"])) | set(profile_repo_ids(PROFILES["a100"]))
    assert wanted - {ALPACA_DATASET} <= set(MODEL_FACTS)
    assert "beomi/KcELECTRA-base-v2022" in wanted  # a lesson's own literal id counts too


def test_every_fact_names_its_source_and_says_whether_and_why_it_is_verified():
    for facts in MODEL_FACTS.values():
        for name, fact in facts.items():
            assert isinstance(fact.verified, bool), (facts.repo_id, name)
            assert fact.source.strip() and fact.why.strip(), (facts.repo_id, name)
    assert not model_facts(EXAONE).dtype.verified and "fp32" in model_facts(EXAONE).dtype.why


def test_an_unknown_id_is_refused_in_one_sentence():
    with pytest.raises(KeyError, match="No facts are recorded for 'someone/else'"):
        model_facts("someone/else")


def test_parameter_counts_are_those_of_the_stand_in_configs():
    """The sizes rest on the parameter counts: they must be the shapes' own count, not a remembered figure."""
    from transformers import AutoConfig, AutoModelForPreTraining, AutoModelForSeq2SeqLM, AutoModelForSequenceClassification

    from course_utils.exaone_reference import exaone_settings, exaone_tensor_shapes
    from course_tools.standins import STANDINS, _meta_shapes

    loaders = {"M2M100ForConditionalGeneration": AutoModelForSeq2SeqLM, "ElectraForPreTraining": AutoModelForPreTraining,
               "BertForSequenceClassification": AutoModelForSequenceClassification}
    for repo_id, (config, _) in STANDINS.items():
        if config["model_type"] == "exaone":
            counted = sum(math.prod(s) for s in exaone_tensor_shapes(exaone_settings(config)).values())
        elif config["architectures"][0] in loaders:
            with torch.device("meta"):
                model = loaders[config["architectures"][0]].from_config(AutoConfig.for_model(**config))
            counted = sum(p.numel() for p in model.parameters())
        else:
            counted = sum(math.prod(s) for s in _meta_shapes(config).values())
        assert model_facts(repo_id).parameters.value == counted, repo_id


def test_llama3_ids_are_those_of_the_real_tokenizer():
    from course_tools.llama3_tokenizer import llama3_tokenizer_file, load_llama3_tokenizer

    if llama3_tokenizer_file() is None:
        pytest.skip("llama-models is not installed (pip install --no-deps llama-models==0.3.0)")
    tokenizer = load_llama3_tokenizer()
    base, chat = model_facts("NousResearch/Meta-Llama-3-8B"), model_facts("beomi/Llama-3-Open-Ko-8B-Instruct-preview")
    ids = tokenizer.convert_tokens_to_ids
    assert ids("<|begin_of_text|>") == base.bos_token_id.value == chat.bos_token_id.value
    assert ids(base.tokenizer_eos.value) == base.eos_token_id.value
    assert ids(chat.end_of_turn.value[0]) == chat.end_of_turn.value[1] == chat.eos_token_id.value


def test_the_base_model_licences_of_the_upload_card_agree():
    from course_utils.hub_upload import BASE_MODEL_LICENSES

    for repo_id, licence in BASE_MODEL_LICENSES.items():
        if repo_id in MODEL_FACTS:
            assert model_facts(repo_id).license.value == licence, repo_id


def test_a_size_in_doubt_is_quoted_both_ways():
    assert size_text("NousResearch/Meta-Llama-3-8B") == "16.1 GB"
    assert size_text(EXAONE) == "15.6 GB in bfloat16, 31.3 GB if the files are float32 (not verified)"
    assert weight_bytes(EXAONE, "float32") == 2 * weight_bytes(EXAONE)


def _cost_rows() -> dict[str, str]:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    table = text[text.index("| # | downloads (disk) |"):]
    return {m.group(1): m.group(2) for m in re.finditer(r"^\| (0\d) \| ([^|]+) \|", table, re.M)}


def test_the_readme_cost_table_quotes_the_facts_file():
    """Change a size in model_facts.py and this fails until the README's row says the same."""
    rows = _cost_rows()
    assert sorted(rows) == [f"{n:02d}" for n in range(1, 10)]
    for lesson, cell in rows.items():
        assert cell.strip() == lesson_download_text(lesson), f"README row {lesson}: write {lesson_download_text(lesson)!r}"


def _t4_header_row(lesson: str) -> str:
    source = next((ROOT / "notebooks").glob(f"{lesson}_*.py")).read_text(encoding="utf-8")
    return next(line for line in source.splitlines() if line.startswith("# | `t4`"))


def test_lesson_headers_quote_the_download_sizes_of_the_facts_file():
    from course_utils.profiles import PROFILES

    t4 = PROFILES["t4"]
    assert f"{weight_bytes(t4.chat_model) / GB:.1f} GB" in _t4_header_row("02")
    row = _t4_header_row("07")
    low, high, copy = weight_bytes(EXAONE), weight_bytes(EXAONE, "float32"), weight_bytes(EXAONE, "bfloat16")
    for figure in (low, high, low + copy, high + copy):
        assert f"{figure / GB:.1f} GB" in row, (figure, row)
