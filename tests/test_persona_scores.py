"""Persona measures without a judge: style markers the answer adds, Hangul share, and the short-answer rule."""
import pytest

from course_utils.data_files import read_jsonl
from course_utils.persona import PERSONA_DIR
from course_utils.persona_scores import STYLE_MARKERS, added_markers, general_accuracy, hangul_share, marker_hits, marker_rate


def test_every_style_marker_occurs_in_the_training_outputs():
    outputs = [row["output"] for row in read_jsonl(PERSONA_DIR / "ironman_train.jsonl")]
    missing = [m for group in STYLE_MARKERS.values() for m in group if not any(m in o for o in outputs)]
    assert missing == []
    assert marker_rate(outputs) > 0.8  # the measure is reachable: most training answers carry a marker


def test_markers_count_only_what_the_answer_adds():
    assert marker_hits("자비스, 수트 가져와.") == ["수트", "자비스"]
    assert added_markers("소코비아 협정은 복잡해.", "소코비아 협정 어때?") == []
    assert marker_rate(["소코비아 협정은 복잡해.", "수트가 답이야."], ["소코비아 협정 어때?", "뭐 타?"]) == 0.5
    assert marker_rate(["Hello there."]) == 0.0


def test_hangul_share_counts_letters_only():
    assert hangul_share("수트 Mark 42!") == pytest.approx(2 / 6)
    assert hangul_share("안녕, 123.") == 1.0
    assert hangul_share("!!!") == 0.0


def test_general_accuracy_uses_the_short_answer_rule():
    assert general_accuracy(["서울이지. 당연한 걸 묻네.", "38이야"], ["서울", "8"]) == 0.5


def test_unpaired_lists_are_one_sentence():
    with pytest.raises(ValueError, match="2 answers and 1 questions: pass one question per answer"):
        marker_rate(["네, 물론.", "좋아요."], ["질문"])
    with pytest.raises(ValueError, match="2 replies and 1 expected answers: pass one expected answer per reply"):
        general_accuracy(["4", "5"], ["4"])
