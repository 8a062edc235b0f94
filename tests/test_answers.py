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
    assert extract_answer("1,500") == "number:1500"  # a group of three is thousands, never 1.5
    # any other comma between digits is no thousands grouping: a decimal comma where the number
    # stands alone, never the digits after it (1,23 used to read 23 in number mode)
    assert extract_answer("1,23") == "number:1.23"
    assert extract_answer("1,2345") == "number:1.2345"
    assert extract_answer("The answer is 1,23") != extract_answer("The answer is 123")
    assert extract_answer("It is 1,23", answer_format="number") == "number:1.23"
    # beside other numbers a decimal comma cannot be told from a pair or a list: no key
    assert extract_answer("From (1,23) we move 4 steps to (2,23)", answer_format="number") is None
    assert extract_answer("1,234,5") is None  # thousands commas, then a comma: no number


def test_signs():
    assert extract_answer("It drops to -4 degrees", answer_format="number") == "number:-4"
    assert extract_answer("It drops to \u22124 degrees", answer_format="number") == "number:-4"
    assert extract_answer("(-3)") is None  # brackets around: not "just a number"
    assert extract_answer("The answer is (-3)", answer_format="number") == "number:-3"
    # a minus after a digit is an operator: "10-3" is an expression or a range, no final answer
    # (it used to read 3 in number mode and 10 after a marker)
    assert extract_answer("10-3", answer_format="number") is None
    assert extract_answer("The answer is 10-3", answer_format="number") is None
    assert extract_answer("The answer is 5-3") is None
    # glued to a word it is a hyphen: the name's number is read, as before
    assert extract_answer("COVID-19", answer_format="number") == "number:19"


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
    # the last number has no value: nothing, not the number before it (it used to read 5)
    assert number_value("5, then 3/0") is None
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
    openai = [
        {
            "id": "x",
            "type": "function",
            "function": {"name": "get_weather", "arguments": '{"unit":"C","city":"Paris"}'},
        }
    ]
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


# ------------------------------------------------------------- when in doubt, no key (issue 16)


@pytest.mark.parametrize(
    ("text", "key"),
    [
        # scientific notation: one number, not its mantissa nor its exponent
        ("1e3", "number:1000"),
        ("1E3", "number:1000"),
        ("The answer is 1e3", "number:1000"),
        ("1e-3", "number:0.001"),
        ("2.5e3", "number:2500"),
        ("The answer is -3.5e2.", "number:-350"),
        ("The answer is 1.5 × 10^3", "number:1500"),
        (r"\boxed{6.02 \times 10^{23}}", "number:602000000000000000000000"),
        # spaces and thin spaces between groups of three
        ("The answer is 1 000", "number:1000"),
        ("1 234 567", "number:1234567"),
        ("The answer is 1 000 000.5", "number:1000000.5"),
        ("#### 1 000", "number:1000"),
        ("The answer is 1\u2009000", "number:1000"),
        ("The answer is 1\u202f000", "number:1000"),
        ("The answer is 1\u00a0000", "number:1000"),
        # signs: hyphen, unicode minus (a space may follow it), the words minus and negative
        ("-5", "number:-5"),
        ("\u22125", "number:-5"),
        ("\u2212 5", "number:-5"),
        ("The answer is \u2212 5", "number:-5"),
        ("minus 5", "number:-5"),
        ("The answer is minus 5", "number:-5"),
        ("The answer is negative 4 degrees", "number:-4"),
        ("The answer is: **\u22127**", "number:-7"),
        # a negated answer and its correction
        ("The answer is not 3; it is 4.", "number:4"),
        ("The answer is not 3, but 4.", "number:4"),
        ("The answer isn't 3; it's 4", "number:4"),
        ("The answer is not 3. The correct answer is 4.", "number:4"),
        ("the answer is 4, not 3", "number:4"),
        ("The answer is 4 (not 3)", "number:4"),
        # times and ratios: their own kinds
        ("3:30", "time:3:30"),
        ("The answer is 3:30", "time:3:30"),
        ("12:00", "time:12:00"),
        ("3pm", "time:3:00 pm"),
        ("Answer: 3:30 p.m.", "time:3:30 pm"),
        ("The answer is 2:1", "ratio:2:1"),
        # a decimal comma where it stands alone
        ("1,5", "number:1.5"),
        ("The answer is 1,5", "number:1.5"),
        ("Answer: 2,5 liters", "number:2.5"),
        ("0,500", "number:0.5"),
        ("1,23", "number:1.23"),
        ("\u20ac1,50", "number:1.5"),
        ("1,500", "number:1500"),
        ("$1,234.50", "number:1234.5"),
        # fractions stay fractions
        ("3/4", "number:0.75"),
        ("The answer is 5 + 3 = 8.", "number:8"),
    ],
)
def test_numbers_read_correctly(text, key):
    assert extract_answer(text) == key
    assert extract_answer(text, answer_format="number") == key


@pytest.mark.parametrize(
    "text",
    [
        # expressions, ranges, alternatives, lists: no final answer of one of their numbers
        "10-3",
        "The answer is 10-3",
        "The answer is 10 - 3",
        "The answer is 10 minus 3",
        "The answer is 5 + 3",
        "It is 2^10",
        "The answer is 3x4",
        "The answer is 3 to 5 hours.",
        "The answer is 3-4 hours",
        "The answer is 3 or 4",
        "The answer is 3 apples or 4 pears",
        "The answer is 3 out of 4",
        "1,2,3",
        "2024-01-05",
        "12/25/2024",
        "$5-$3",
        "The answer is 2 3/4",  # a mixed number is not read
        # negated, with nothing to replace it
        "not 3",
        "The answer is not 3.",
        "Answer: 3. Wait, the answer is not 3.",
        "The answer is not 3 because 3 is odd.",
        "The answer is not 3. 5 apples were eaten.",
        # mixed or ambiguous digit groups
        "1.234,5",
        "1,234,5",
        "1.2.3",
        "The answer is (1,5)",
        "Answer: 1,5 and 2",
        "1e999999",
        "5, then 3/0",
        # the ends of real GSM8K replies (bench/quality_local.jsonl) that used to read 4, 3 and 2
        "So, Tom's ship will take 6 hours to get back from 1 PM to 4 PM.",
        "So, there are 8 letters (one letter) and 6 letters that add up to 10, which is 2 times 3.",
        "6. The total number of fish Anakin could have caught is 10 - 2*",
    ],
)
def test_no_key_when_in_doubt(text):
    assert extract_answer(text) is None
    key = extract_answer(text, answer_format="number")
    assert key is None, key
    assert number_value(text) is None


def test_a_range_or_expression_never_agrees_with_one_of_its_numbers():
    for text in ("10-3", "The answer is 10-3", "The answer is (10-3)", "The answer is 3 to 10"):
        for answer_format in ("auto", "number"):
            assert extract_answer(text, answer_format=answer_format) not in {
                "number:3",
                "number:10",
                "number:7",
                "number:-3",
            }
    # short text keeps no digits whose symbol it would drop: "(10-3)" and "(10+3)" never agree
    assert extract_answer("The answer is (10-3)") is None
    assert extract_answer("The answer is (10+3)") is None


def test_times_and_ratios_never_equal_a_number():
    assert extract_answer("3:30") != extract_answer("3") != extract_answer("3pm")
    assert extract_answer("3:30") != extract_answer("330")
    assert extract_answer("It arrives at 3pm.", answer_format="number") == "time:3:00 pm"
    assert number_value("It arrives at 3pm.") is None  # a time is no number
    assert extract_answer("3 PM") == extract_answer("3:00 p.m.") == extract_answer("3pm")
    # a time without am/pm is compared as written: "3:30" may be 15:30, "3:30 am" is not
    assert extract_answer("3:30") != extract_answer("3:30 am")
    assert extract_answer("3:30 pm") != extract_answer("15:30")  # equal times, not told equal: no harm
    assert display(extract_answer("Answer: 3:30 PM") or "") == "3:30 pm"
    assert extract_answer("The ratio is 16:9", answer_format="number") == "ratio:16:9"


def test_equal_numbers_in_other_formats_share_one_key():
    same = ["1000", "1,000", "1 000", "1\u2009000", "1e3", "1.0E3", "The answer is 1 000."]
    same.append(r"\boxed{1{,}000}")
    assert {extract_answer(text) for text in same} == {"number:1000"}
    assert {extract_answer(text) for text in ("-5", "\u22125", "\u2212 5", "minus 5", "negative 5")} == {
        "number:-5"
    }
    assert extract_answer("1,5") == extract_answer("1.5") == extract_answer("1{,}5")


def test_loose_numbers_are_read_only_where_they_are_the_only_number():
    # a decimal comma or space-grouped digits beside other numbers could be a pair, a list or two numbers
    assert extract_answer("Die Antwort ist 2,5", answer_format="number") == "number:2.5"
    assert extract_answer("From (1,23) we move 4 steps to (2,23)", answer_format="number") is None
    assert extract_answer("There are 3 groups of 1 000 people", answer_format="number") is None
    assert extract_answer("There are 3 groups of 1\u2009000 people", answer_format="number") == "number:1000"
    assert extract_answer("The answer is 1 000 because 10 * 100", answer_format="number") is None


def test_number_mode_free_text_ends_on_one_number():
    assert extract_answer("She had 10 apples and ate 3, so 10 - 3 = 7.", answer_format="number") == "number:7"
    assert extract_answer("She had 10 apples and ate 3, leaving 10-3", answer_format="number") is None
    assert extract_answer("It is not 3.", answer_format="number") is None
    assert extract_answer("She has 5 apples. Not 3.", answer_format="number") is None
    assert extract_answer("so 7 x 11 x 13 = 1,001", answer_format="number") == "number:1001"


def test_a_negation_denies_a_value_not_a_word():
    # "not possible" is an answer, not a negated one
    assert extract_answer(r"Therefore, the answer is:\n\boxed{\text{Not possible}}") == "short:not possible"
    assert extract_answer("The answer is not a number") == "short:not a number"
    assert extract_answer("The answer is not yes.") is None
    assert extract_answer("The answer is never 5") is None


def test_brackets_around_an_operand_keep_an_expression_whole():
    assert extract_answer("So it is (3 + 4) * 2", answer_format="number") is None  # not 2
    assert extract_answer("So it is 5 - (-3)", answer_format="number") is None  # not -3
    assert extract_answer("The answer is 5 - (-3) = 8") == "number:8"
    assert extract_answer("The answer is 42 (6 x 7)") == "number:42"


def test_huge_numbers_give_no_key_instead_of_an_error():
    # Python refuses to convert an integer of more than 4300 digits: the old reader raised here
    assert extract_answer("9" * 5000) is None
    assert extract_answer("The answer is " + "9" * 5000, answer_format="number") is None
    assert extract_answer("1e999999") is None


def test_negation_in_choice_mode():
    assert choice_letter("The answer is not B; it is C") == "C"
    assert extract_answer("The answer is not B; it is C") == "choice:C"
    assert choice_letter("Not A, but B") == "B"
    assert choice_letter("not B") is None
    # a later negated answer overrides an earlier explicit one: its correction, or nothing
    assert choice_letter("Answer: B. Wait, the answer is not B; it is C") == "C"
    assert choice_letter("Answer: B. Wait, the answer is not B.") is None
    assert choice_letter("The answer is not C; it is E", 4) is None  # E is no choice of four
    assert extract_answer("Answer: B. Wait, the answer is not B.") is None


_CONTEXTS = [
    "{}",
    "The answer is {}.",
    "The answer is {}",
    "Answer: {}",
    "#### {}",
    "\\boxed{{{}}}",
    "First, 2 + 2 = 4 and 12 / 3 = 4. So the final answer is {}.",
    "**Final Answer**\n\n{}",
    "<think>maybe 7, or 9</think>The answer is {}",
    "We work it out step by step: 1,234 items, then {}",
    "We first tried 17, which was wrong.\n#### {}",
]
_FINALS = [
    ("1e3", "number:1000"),
    ("2.5e3", "number:2500"),
    ("1e-3", "number:0.001"),
    ("1 000", "number:1000"),
    ("1\u202f000", "number:1000"),
    ("1 234 567", "number:1234567"),
    ("\u22125", "number:-5"),
    ("\u2212 5", "number:-5"),
    ("minus 5", "number:-5"),
    ("-5", "number:-5"),
    ("$1,234.50", "number:1234.5"),
    ("1,500", "number:1500"),
    ("1,5", "number:1.5"),
    ("1,23", "number:1.23"),
    ("3/4", "number:0.75"),
    ("3:30", "time:3:30"),
    ("12:00", "time:12:00"),
    ("2:1", "ratio:2:1"),
    ("10-3", None),
    ("10 - 3", None),
    ("3 or 4", None),
    ("3 to 5", None),
    ("1,2,3", None),
    ("2^10", None),
    ("2 3/4", None),
    ("1.234,5", None),
    ("not 3", None),
]


@pytest.mark.parametrize(("final", "expected"), _FINALS)
def test_extraction_never_returns_a_number_that_is_not_the_final_answer(final, expected):
    """Whatever surrounds it, a final answer reads as itself or as nothing: never as one of its parts."""
    for context in _CONTEXTS:
        text = context.format(final)
        for answer_format in ("auto", "number"):
            key = extract_answer(text, answer_format=answer_format)
            assert key in (None, expected), (text, answer_format, key)
        if expected is not None and context != _CONTEXTS[-2]:  # a loose number beside 1,234: no key
            assert extract_answer(text, answer_format="number") == expected, text
    # marked explicitly, the answer is read in auto too
    assert extract_answer(f"The answer is {final}.") == expected


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
