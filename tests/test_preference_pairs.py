"""DPO pairs: chosen is the persona answer, rejected the model's own answer only where it lacks the persona."""
import pytest

from course_utils.preference_pairs import answer_text, check_pair, lacks_persona, preference_pairs, validate_pairs

ROWS = [
    {"instruction": "기분 어때?", "input": "", "output": "최고지. 내가 누군데, 토니 스타크잖아."},
    {"instruction": "커피 추천해 줘.", "input": "", "output": "에스프레소 세 잔. 자비스가 내려 주는 거야."},
    {"instruction": "주말 계획은?", "input": "", "output": "작업실에서 수트 손보는 거야."},
    {"instruction": "인사해 줘.", "input": "", "output": "안녕, 천재가 인사한다."},
]


def test_the_filter_keeps_plain_answers_and_counts_what_it_dropped():
    answers = [
        "I am fine, thank you for asking.",  # no marker: kept
        "내가 추천하는 건 라떼야, 자비스도 좋아하거든.",  # markers of its own: dropped, in character
        "   ",  # empty: dropped
        "Hello! How can I help you today?",  # kept
    ]
    pairs, report = preference_pairs(ROWS, answers)
    assert (report.kept, report.dropped_in_character, report.dropped_empty, report.total) == (2, 1, 1, 4)
    assert [p["rejected"][0]["content"] for p in pairs] == [answers[0], answers[3]]
    assert pairs[0]["chosen"] == [{"role": "assistant", "content": ROWS[0]["output"]}]
    assert pairs[0]["prompt"] == [{"role": "user", "content": "기분 어때?"}]


def test_the_system_prompt_goes_into_every_prompt():
    pairs, _ = preference_pairs(ROWS[:1], ["Fine."], system="SYS")
    assert pairs[0]["prompt"][0] == {"role": "system", "content": "SYS"}


def test_an_answer_equal_to_the_reference_is_not_a_pair():
    pairs, report = preference_pairs(ROWS[:2], [ROWS[0]["output"], "Sure, try a latte."])
    assert report.kept == 1 and report.dropped_in_character == 1 and len(pairs) == 1


def test_markers_copied_from_the_question_do_not_count_as_persona():
    assert lacks_persona("토니 스타크는 영화 캐릭터입니다.", "토니 스타크가 누구야?")
    assert not lacks_persona("토니 스타크? 바로 나야, 천재.", "토니 스타크가 누구야?")


@pytest.mark.parametrize(
    "pair, message",
    [
        ({"prompt": "q", "chosen": "a"}, "has no 'rejected'"),
        ({"prompt": "q", "chosen": "a", "rejected": None}, "has no 'rejected'"),
        ({"prompt": "q", "chosen": " ", "rejected": "b"}, "empty 'chosen'"),
        ({"prompt": "q", "chosen": "a", "rejected": [{"role": "assistant", "content": ""}]}, "empty 'rejected'"),
        ({"prompt": "q", "chosen": "same ", "rejected": [{"role": "assistant", "content": "same"}]}, "same text"),
    ],
)
def test_bad_pairs_get_one_sentence_each(pair, message):
    with pytest.raises(ValueError, match=message) as error:
        check_pair(pair, "Pair 3")
    assert str(error.value).startswith("Pair 3") and str(error.value).count(". ") == 0


def test_validate_names_the_bad_pair_and_refuses_an_empty_list():
    good = {"prompt": "q", "chosen": "a", "rejected": "b"}
    with pytest.raises(ValueError, match="Pair 1 of my_pairs"):
        validate_pairs([good, {**good, "rejected": "a"}], "my_pairs")
    with pytest.raises(ValueError, match="no pairs"):
        validate_pairs([])


def test_no_plain_answer_at_all_is_one_sentence_not_an_empty_dataset():
    with pytest.raises(ValueError, match="None of the 2 answers lacks the persona"):
        preference_pairs(ROWS[:2], ["내가 최고야.", ""])


def test_rows_and_answers_must_pair_up():
    with pytest.raises(ValueError, match="one answer per row"):
        preference_pairs(ROWS, ["a"])


def test_answer_text_reads_strings_and_messages_only():
    assert answer_text([{"role": "assistant", "content": "x"}]) == "x"
    with pytest.raises(ValueError, match="must be a string"):
        answer_text(3)
