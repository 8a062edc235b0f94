import json
from fractions import Fraction

import pytest

from fusion_graph.answers import (
    ANSWER_FORMATS,
    AnswerClass,
    choice_letter,
    describe_agreement,
    display,
    extract_answer,
    extract_answers,
    group_answers,
    number_value,
    plurality,
    strict_majority,
)
from fusion_graph.errors import ConfigError

# ------------------------------------------------------------------------------------------- numbers


@pytest.mark.parametrize(
    ("text", "key"),
    [
        ("1,234", "number:1234"),
        ("1,234,567", "number:1234567"),
        ("1,234,567.89", "number:1234567.89"),
        ("-3", "number:-3"),
        ("\u22123", "number:-3"),  # unicode minus
        ("+3", "number:3"),
        ("3.50", "number:3.5"),
        ("3.5", "number:3.5"),
        (".5", "number:0.5"),
        ("1/2", "number:0.5"),
        ("0.50", "number:0.5"),
        ("18.0", "number:18"),
        ("$18.00", "number:18"),
        ("-$4", "number:-4"),
        ("12%", "number:12"),
        ("18 dollars", "number:18"),
        ("5 km/h", "number:5"),
        ("400.", "number:400"),
        ("**400**", "number:400"),
        ("$42$", "number:42"),
        ("1/3", "number:1/3"),
        ("2/6", "number:1/3"),
        (r"\boxed{1{,}000}", "number:1000"),
        (r"\boxed{1\,000}", "number:1000"),
        ("1\u202f000", "number:1000"),
        (r"$\boxed{\frac{3}{4}}$", "number:0.75"),
        (r"\boxed{-\dfrac{1}{3}}", "number:-1/3"),
        (r"\boxed{\tfrac{-6}{4}}", "number:-1.5"),
        (r"\boxed{5\%}", "number:5"),
        (r"\boxed{30^\circ}", "number:30"),
        (r"\boxed{30^{\circ}}", "number:30"),
        (r"\boxed{\$18.50}", "number:18.5"),
        ("The answer is 400.", "number:400"),
        ("First 3 apples, then 12 more: 15 in all. The answer is 400. Check: 20 * 20.", "number:400"),
        ("The final answer is: x = 5", "number:5"),
        ("The answer is therefore 5 + 3 = 8.", "number:8"),
        ("So the answer is about 7 hours.", "number:7"),
        ("Answer: 1,234 people", "number:1234"),
        ("Natalia sold 48/2 = 24 clips in May.\n#### 72", "number:72"),
        ("#### 1,234", "number:1234"),
        ("**Final Answer**\n\n42", "number:42"),
        ("### Final Answer\nThe total is below.\n\\boxed{96}", "number:96"),
        ("<think>It might be 7, or 9.</think>12", "number:12"),
    ],
)
def test_number_formats_in_auto(text, key):
    assert extract_answer(text) == key


def test_equal_values_in_different_formats_share_one_key():
    same = ["0.5", "1/2", "0.50", "The answer is 1/2.", r"\boxed{\frac{1}{2}}", "Answer: .5"]
    assert {extract_answer(text) for text in same} == {"number:0.5"}
    assert extract_answer("18") == extract_answer("18.0") == extract_answer("$18.00") == "number:18"
    assert extract_answer("3.50") == extract_answer("3.5") != extract_answer("3.05")


def test_thousands_separators_only_in_groups_of_three():
    assert extract_answer("1,234") == "number:1234"
    assert extract_answer("1,23") is None  # not one number: nothing guessed in auto
    assert extract_answer("1,2345") is None
    assert extract_answer("The answer is 1,23") != extract_answer("The answer is 123")
    assert not (extract_answer("The answer is 1,23") or "").startswith("number:")
    # number mode reads "1,23" as two numbers and takes the last
    assert extract_answer("It is 1,23", answer_format="number") == "number:23"


def test_signs():
    assert extract_answer("It drops to -4 degrees", answer_format="number") == "number:-4"
    assert extract_answer("It drops to \u22124 degrees", answer_format="number") == "number:-4"
    assert extract_answer("(-3)") is None  # brackets around: not "just a number"
    assert extract_answer("The answer is (-3)", answer_format="number") == "number:-3"
    # a minus after a word or digit is an operator
    assert extract_answer("10-3", answer_format="number") == "number:3"
    assert extract_answer("COVID-19", answer_format="number") == "number:19"
    assert extract_answer("The answer is 5-3") != "number:5"


def test_number_mode_takes_the_marker_then_the_last_number():
    gsm = "Natalia sold 48 clips in April and 48/2 = 24 in May, so 48 + 24 = 72 altogether."
    assert extract_answer(gsm, answer_format="number") == "number:72"
    assert extract_answer(gsm) is None  # auto never guesses from free text
    marked = "The answer is 18. Check: 18 * 2 = 36."
    assert extract_answer(marked, answer_format="number") == "number:18"
    assert extract_answer("no digits here", answer_format="number") is None
    # a Markdown heading is not a "####" marker
    assert extract_answer("#### Step 1\nAdd 5 and 7 to get 12.", answer_format="number") == "number:12"
    assert extract_answer("#### Step 1\nAdd 5 and 7 to get 12.") is None


def test_number_value_is_exact():
    assert number_value("a third: 1/3") == Fraction(1, 3)
    assert number_value("$1,234.50") == Fraction(2469, 2)
    assert number_value("3/0") is None  # no value
    assert number_value("5, then 3/0") == 5
    assert number_value("nothing") is None


def test_display_of_numbers_is_the_shortest_decimal_or_a_fraction():
    assert display(extract_answer("1/8") or "") == "0.125"
    assert display(extract_answer("-2/3") or "") == "-2/3"
    assert display(extract_answer("$1,000.000") or "") == "1000"
    assert display(extract_answer("-0.05") or "") == "-0.05"


# ------------------------------------------------------------------------------- choices and yes/no


@pytest.mark.parametrize(
    ("text", "key"),
    [
        ("B", "choice:B"),
        ("(B)", "choice:B"),
        ("B)", "choice:B"),
        ("B.", "choice:B"),
        ("**C**", "choice:C"),
        ("(B) Paris", "choice:B"),
        ("The answer is (B) Paris.", "choice:B"),
        ("The correct answer is D.", "choice:D"),
        ("Answer: b", "choice:B"),
        (r"\boxed{\text{(C)}}", "choice:C"),
        ("Final answer: option J", "choice:J"),
        ("Yes.", "yesno:yes"),
        ("no", "yesno:no"),
        ("**Yes**", "yesno:yes"),
        ("The answer is no.", "yesno:no"),
        ("The answer is Paris, France.", "short:paris"),
        ("Answer: The Eiffel Tower!", "short:the eiffel tower"),
    ],
)
def test_choices_yes_no_and_short_text_in_auto(text, key):
    assert extract_answer(text) == key


@pytest.mark.parametrize(
    "text",
    [
        "Paris is the capital of France.",
        "Yes, because the river floods every spring.",
        "A dog is a mammal.",
        "K",  # beyond J
        "Answer: it depends on the weather and the time of day in the city",  # > 6 words
        "I hope this answer is helpful.",
        "",
    ],
)
def test_free_text_is_never_guessed_in_auto(text):
    assert extract_answer(text) is None


def test_kinds_never_collide():
    keys = {
        extract_answer("1"),
        extract_answer("The answer is one."),
        extract_answer("A"),
        extract_answer("yes"),
        extract_answer("", [{"name": "one", "args": {}}]),
        extract_answer("x", answer_format=lambda text: "1"),
    }
    assert len(keys) == 6 and None not in keys


@pytest.mark.parametrize(
    ("text", "letter"),
    [
        ("B", "B"),
        ("(C) because ...", "C"),
        ("I first thought A) but the answer is D", "D"),
        ("I think it is (C). Answer: B", "B"),
        ("Answer: b", "B"),
        (r"After elimination, \boxed{E}", "E"),
        ("#### G", "G"),
        ("I believe (H) is right", "H"),  # the pronoun I is not a choice
        ("The answer is a bit unclear, but (C) fits", "C"),  # the article a is not a choice
        ("None of them", None),
        ("K", None),
    ],
)
def test_choice_mode(text, letter):
    key = extract_answer(text, answer_format="choice")
    assert key == (None if letter is None else f"choice:{letter}")
    assert choice_letter(text) == letter


def test_choice_letter_respects_the_choice_count():
    assert choice_letter("E", 4) is None
    assert choice_letter("E", 5) == "E"
    assert choice_letter("B", 0) is None


# --------------------------------------------------------------------------------------- tool calls


def test_tool_calls_argument_order_and_string_args_do_not_matter():
    as_dict = [{"name": "get_weather", "args": {"city": "Paris", "unit": "C"}, "id": "1"}]
    as_string = [{"name": "get_weather", "arguments": '{"unit": "C", "city": " Paris "}'}]
    openai = [{"id": "x", "type": "function", "function": {"name": "get_weather",
                                                           "arguments": '{"unit":"C","city":"Paris"}'}}]
    keys = {extract_answer("", calls) for calls in (as_dict, as_string, openai)}
    assert len(keys) == 1
    (key,) = keys
    assert key is not None and key.startswith("call:")
    assert display(key) == "get_weather(city='Paris', unit='C')"


def test_tool_call_numbers_are_canonical_and_values_matter():
    two = extract_answer("", [{"name": "add", "args": {"a": 2.0, "b": 3}}])
    assert two == extract_answer("", [{"name": "add", "args": '{"b": 3, "a": 2}'}])
    assert two != extract_answer("", [{"name": "add", "args": {"a": 2, "b": 4}}])
    assert two != extract_answer("", [{"name": "sub", "args": {"a": 2, "b": 3}}])
    assert two != extract_answer("", [{"name": "add", "args": {"a": "2", "b": 3}}])  # "2" is not 2
    assert extract_answer("", [{"name": "ping", "args": {"on": True}}]) != extract_answer(
        "", [{"name": "ping", "args": {"on": 1}}]
    )


def test_several_calls_compare_as_a_set():
    first = {"name": "get_weather", "args": {"city": "Paris"}}
    second = {"name": "get_time", "args": {"zone": "CET"}}
    key = extract_answer("", [first, second])
    assert key == extract_answer("", [second, first])
    assert key != extract_answer("", [first])
    assert display(key or "") == "get_time(zone='CET'); get_weather(city='Paris')"


def test_tool_calls_win_in_auto_and_need_a_call_in_tool_call_mode():
    call = [{"name": "get_weather", "args": {"city": "Paris"}}]
    assert (extract_answer("The answer is 4.", call) or "").startswith("call:")
    assert extract_answer("The answer is 4.", call, answer_format="number") == "number:4"
    assert extract_answer("The answer is 4.", answer_format="tool_call") is None
    assert extract_answer("", [{"name": "f", "arguments": "not json"}]) == extract_answer(
        "", [{"name": "f", "arguments": " not json "}]
    )
    assert json.loads((extract_answer("", [{"name": "f", "arguments": ""}]) or "")[5:]) == [
        {"arguments": {}, "name": "f"}
    ]


def test_text_mode_extracts_nothing():
    assert extract_answer("400", answer_format="text") is None
    assert extract_answer("", [{"name": "f", "args": {}}], answer_format="text") is None


def test_unknown_format_is_a_config_error():
    with pytest.raises(ConfigError) as caught:
        extract_answer("4", answer_format="numeric")  # type: ignore[arg-type]
    assert caught.value.field == "answer_format"
    assert "number" in str(caught.value)
    assert set(ANSWER_FORMATS) == {"auto", "number", "choice", "tool_call", "text", "json"}


# ---------------------------------------------------------------------------------------- callables


def test_callable_extractor_gives_custom_keys():
    def last_word(text: str) -> str | None:
        words = text.split()
        return words[-1].lower() if words else None

    assert extract_answer("It is PARIS", answer_format=last_word) == "custom:paris"
    assert extract_answer("", answer_format=last_word) is None
    assert extract_answer("x", answer_format=lambda text: "   ") is None
    assert display("custom:paris") == "paris"


def test_callable_errors_propagate_from_extract_answer():
    def broken(text: str) -> str | None:
        raise ValueError("cannot parse")

    with pytest.raises(ValueError, match="cannot parse"):
        extract_answer("4", answer_format=broken)
    with pytest.raises(TypeError, match="returned int"):
        extract_answer("4", answer_format=lambda text: 4)  # type: ignore[arg-type,return-value]


def test_extract_answers_records_failures_once_per_distinct_problem():
    def picky(text: str) -> str | None:
        if text.startswith("?"):
            raise ValueError(f"unreadable {text[1:]}")
        return text.strip()

    items = {
        "qwen#1": ("4", []),
        "qwen#2": ("?a", []),
        "llama": ("?a", []),
        "phi": ("?b", []),
    }
    answers, issues = extract_answers(items, answer_format=picky)
    assert answers == {"qwen#1": "custom:4", "qwen#2": None, "llama": None, "phi": None}
    assert list(answers) == list(items)
    assert issues == [
        "answer_format callable raised ValueError: unreadable a (for qwen#2, llama)",
        "answer_format callable raised ValueError: unreadable b (for phi)",
    ]


def test_extract_answers_in_auto_mode():
    answers, issues = extract_answers(
        {"a": ("The answer is 400.", []), "b": ("So it is 409. Answer: 409", []), "c": ("Long prose.", [])}
    )
    assert answers == {"a": "number:400", "b": "number:409", "c": None}
    assert issues == []


# ------------------------------------------------------------------------------ grouping, majority


def test_group_answers_orders_by_size_then_first_appearance():
    answers = {"a": "number:1", "b": "number:2", "c": None, "d": "number:2", "e": "number:3", "f": "number:1"}
    assert group_answers(answers) == [
        AnswerClass("number:1", ("a", "f")),
        AnswerClass("number:2", ("b", "d")),
        AnswerClass("number:3", ("e",)),
    ]
    assert group_answers({"x": None}) == []
    assert group_answers({}) == []
    assert group_answers(answers)[0].size == 2


def test_strict_majority():
    two_of_three = group_answers({"a": "n:1", "b": "n:1", "c": "n:2"})
    assert strict_majority(two_of_three) == AnswerClass("n:1", ("a", "b"))
    two_of_four = group_answers({"a": "n:1", "b": "n:1", "c": "n:2", "d": "n:3"})
    assert strict_majority(two_of_four) is None
    three_of_four = group_answers({"a": "n:1", "b": "n:1", "c": "n:2", "d": "n:1"})
    assert strict_majority(three_of_four) == AnswerClass("n:1", ("a", "b", "d"))
    # candidates without an answer are not comparable: 2 of 2 comparable is under the minimum of 3
    two_comparable = group_answers({"a": "n:1", "b": "n:1", "c": None, "d": None})
    assert strict_majority(two_comparable) is None
    assert strict_majority(two_comparable, minimum=2) == AnswerClass("n:1", ("a", "b"))
    assert strict_majority([]) is None


def test_strict_majority_does_not_rely_on_the_classes_order():
    classes = [AnswerClass("n:2", ("c",)), AnswerClass("n:1", ("a", "b"))]
    assert strict_majority(classes) == AnswerClass("n:1", ("a", "b"))
    assert plurality(classes) == AnswerClass("n:1", ("a", "b"))


def test_plurality():
    assert plurality(group_answers({"a": "n:1", "b": "n:2", "c": "n:2", "d": "n:3"})) == AnswerClass(
        "n:2", ("b", "c")
    )
    assert plurality(group_answers({"a": "n:1", "b": "n:2"})) is None  # tie
    assert plurality(group_answers({"a": "n:1", "b": "n:1", "c": "n:2", "d": "n:2", "e": "n:3"})) is None
    assert plurality(group_answers({"a": "n:1", "b": None})) == AnswerClass("n:1", ("a",))
    assert plurality([]) is None


# ---------------------------------------------------------------------------------------- agreement


def test_describe_agreement_wording():
    labels = [f"answer_{n}" for n in range(1, 6)]
    answers = {
        "answer_1": "number:400",
        "answer_2": "number:409",
        "answer_3": "number:400",
        "answer_4": "number:400",
        "answer_5": None,
    }
    assert (
        describe_agreement(answers, labels)
        == "answers 1, 3, 4 reach 400; answer 2 reaches 409; answer 5 has no final answer"
    )


def test_describe_agreement_follows_the_label_order_and_treats_missing_labels_as_no_answer():
    answers = {"answer_2": "choice:B", "answer_1": "choice:B", "answer_9": "choice:C"}
    labels = ["answer_1", "answer_2", "answer_3", "answer_4"]
    assert describe_agreement(answers, labels) == "answers 1, 2 reach B; answers 3, 4 have no final answer"
    assert describe_agreement({"answer_1": None}, ["answer_1"]) is None
    assert describe_agreement({}, ["answer_1", "answer_2"]) is None
    assert describe_agreement({"x": "yesno:no"}, ["x"]) == "answer x reaches no"


def test_describe_agreement_never_repeats_a_whole_candidate():
    long = "short:" + " ".join(["word"] * 40)
    call = extract_answer("", [{"name": "search", "args": {"query": "a very long query " * 10}}])
    assert call is not None
    line = describe_agreement({"answer_1": long, "answer_2": call}, ["answer_1", "answer_2"])
    assert line is not None
    for part in line.split("; "):
        shown = part.split(" reaches ", 1)[1]
        assert len(shown) <= 40
        assert shown.endswith("…")
    assert line.startswith("answer 1 reaches word word")
    assert "answer 2 reaches search(query='a very long query" in line


def test_display_of_other_keys():
    assert display("choice:B") == "B"
    assert display("yesno:yes") == "yes"
    assert display("short:paris") == "paris"
    assert display("no-colon") == "no-colon"
    assert display("call:not json") == "not json"


def test_a_number_that_opens_a_sentence_is_its_subject_not_the_answer():
    # Seen in `make demo`: "the final answer is: 1001 is not a prime number" reached "1001".
    from fusion_graph.answers import extract_answer

    sentence = "the final answer is: 1001 is not a prime number"
    assert extract_answer(sentence) == "short:1001 is not a prime number"
    assert extract_answer("The answer is 18 dollars.") == "number:18"
    assert extract_answer("The answer is 18, because 6 * 3 = 18.") == "number:18"
    # number mode is asked for a number: it still reads one
    assert extract_answer(sentence, answer_format="number") == "number:1001"


def test_json_answers_compare_field_by_field_with_the_usual_normalisation():
    from fusion_graph.answers import extract_answer, group_answers, json_object, json_value_key

    first = extract_answer(
        '{"city": "Paris", "n": 3, "ok": true, "why": "' + "long " * 10 + '"}', answer_format="json"
    )
    second = extract_answer(
        '```json\n{"n": 3.0, "city": " paris. ", "ok": true, "why": "other"}\n```', answer_format="json"
    )
    # the free-text field is left out of the key; numbers by value, short text lowercased
    assert first == 'json:{"city":"short:paris","n":"number:3","ok":"bool:true"}'
    assert second == 'json:{"city":"short:paris","n":"number:3","ok":"bool:true","why":"short:other"}'
    assert extract_answer('{"choice": "(B)", "n": "$18.00"}', answer_format="json") == (
        'json:{"choice":"choice:B","n":"number:18"}'
    )
    assert extract_answer('{"a": {"b": [1, "2"]}}', answer_format="json") == (
        'json:{"a":"object:{\\"b\\":\\"list:[\\\\\\"number:1\\\\\\",\\\\\\"number:2\\\\\\"]\\"}"}'
    )
    assert extract_answer("[1, 2]", answer_format="json") is None
    assert extract_answer("Paris", answer_format="json") is None
    assert extract_answer('{"why": "' + "long " * 10 + '"}', answer_format="json") is None
    assert (
        json_value_key(None) == "null"
        and json_value_key([1, "a long sentence of many many words here"]) is None
    )
    assert json_object('{"a": 1} trailing') is None
    groups = group_answers(
        {"x": first, "y": extract_answer('{"city": "PARIS", "n": 3, "ok": true}', answer_format="json")}
    )
    assert len(groups) == 1 and groups[0].size == 2
    assert display(first or "") == "{city=paris, n=3, ok=true}"
