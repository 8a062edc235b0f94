import pytest

from fusion_graph.eval import extract_letter, extract_number, score, score_call, score_choice, score_numeric


@pytest.mark.parametrize(
    ("text", "number"),
    [
        ("The answer is 18.", 18.0),
        ("5 * 2 = 10\n#### 1,234", 1234.0),
        ("She pays $3.50 in total.", 3.5),
        ("It drops to -4 degrees", -4.0),
        ("no digits here", None),
        ("first 3 then 7, so 7", 7.0),
    ],
)
def test_extract_number_takes_the_last_number(text, number):
    assert extract_number(text) == number


def test_numeric_match_ignores_formatting():
    assert score_numeric("So she started with 18 vacuum cleaners.", "18")
    assert score_numeric("Total: $1,200.00", "1200")
    assert not score_numeric("18 then 19", "18")
    assert not score_numeric("I do not know", "18")


@pytest.mark.parametrize(
    ("text", "letter"),
    [
        ("B", "B"),
        ("(C) because ...", "C"),
        ("I first thought A) but the answer is D", "D"),
        ("Answer: b", "B"),
        ("None of them", None),
        ("E", None),  # only four choices
    ],
)
def test_extract_letter(text, letter):
    assert extract_letter(text, 4) == letter


def test_choice_score():
    assert score_choice("The answer is (B).", "B", 4)
    assert not score_choice("The answer is (B).", "C", 4)


BFCL_TRUTH = [{"calculate_triangle_area": {"base": [10], "height": [5], "unit": ["units", ""]}}]


def test_bfcl_call_match():
    names = {"calculate_triangle_area": "calculate_triangle_area"}
    ok = [{"name": "calculate_triangle_area", "args": {"base": 10, "height": 5}}]
    assert score_call(ok, BFCL_TRUTH, names)
    with_unit = [{"name": "calculate_triangle_area", "args": {"base": 10.0, "height": 5, "unit": "units"}}]
    assert score_call(with_unit, BFCL_TRUTH)
    assert not score_call([{"name": "calculate_triangle_area", "args": {"base": 10}}], BFCL_TRUTH)
    wrong_value = [{"name": "calculate_triangle_area", "args": {"base": 10, "height": 6}}]
    assert not score_call(wrong_value, BFCL_TRUTH)
    assert not score_call([{"name": "other", "args": {"base": 10, "height": 5}}], BFCL_TRUTH)
    assert not score_call(ok + ok, BFCL_TRUTH)
    assert not score_call([], BFCL_TRUTH)
    extra = [{"name": "calculate_triangle_area", "args": {"base": 10, "height": 5, "colour": "red"}}]
    assert not score_call(extra, BFCL_TRUTH)


def test_call_match_maps_sanitised_names_back():
    truth = [{"math.factorial": {"number": [5]}}]
    call = [{"name": "math_factorial", "args": '{"number": 5}'}]
    assert score_call(call, truth, {"math_factorial": "math.factorial"})
    assert not score_call(call, truth)


def test_plain_expected_call_needs_equal_arguments():
    expected = {"name": "add", "arguments": {"a": 1, "b": 2}}
    assert score_call([{"name": "add", "arguments": {"b": 2, "a": 1}}], expected)
    assert not score_call([{"name": "add", "arguments": {"a": 1}}], expected)


def test_score_dispatches_on_kind():
    assert score("numeric", "4", "2 + 2 = 4")
    assert score("choice", "A", "A", choices=2)
    with pytest.raises(ValueError):
        score("essay", "x", "y")
