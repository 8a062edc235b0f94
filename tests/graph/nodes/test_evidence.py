"""Unit tests of the pure decision logic: the evidence read from the answers, the verdict checks, and
how a provider says an answer stopped for length."""

from __future__ import annotations

from typing import Any

import pytest
from langchain_core.messages import AIMessage

from fusion_graph import FusionConfig, Judge, Member, prompts
from fusion_graph.graph._decision import Evidence, read_evidence
from fusion_graph.graph._runtime import build_runtime
from fusion_graph.graph.nodes._judge_call import judge_messages
from fusion_graph.graph.nodes._verdict_checks import normalise_label, verdict_problems
from fusion_graph.graph.nodes.gather import answer_agreement
from fusion_graph.graph.nodes.member import stopped_for_length
from fusion_graph.state import CandidateRecord
from fusion_graph.usage import estimate_tokens, messages_tokens
from fusion_graph.verdicts import BestOfVerdict, CandidateScore


def _record(member: str, text: str, tool_calls: list[dict[str, Any]] | None = None) -> CandidateRecord:
    return CandidateRecord(
        member=member,
        round=0,
        text=text,
        error=None,
        error_kind=None,
        latency_s=0.0,
        input_tokens=0,
        output_tokens=0,
        cost_usd=0.0,
        tool_calls=tool_calls or [],
        tool_trace=[],
        partial=False,
        cuts=[],
    )


def _evidence(texts: dict[str, str], answer_format: Any = "auto") -> Evidence:
    labels = {f"answer_{i + 1}": name for i, name in enumerate(texts)}
    records = {label: _record(name, texts[name]) for label, name in labels.items()}
    return read_evidence(labels, records, answer_format)


# -------------------------------------------------------------------------------------------- evidence


def test_evidence_reads_keys_summary_and_a_strict_majority():
    evidence = _evidence(
        {"a": "The answer is 400.", "b": "Answer: 409", "c": "\\boxed{400}", "d": "It depends."}
    )
    assert evidence.keys == {
        "answer_1": "number:400",
        "answer_2": "number:409",
        "answer_3": "number:400",
        "answer_4": None,
    }
    assert evidence.comparable == 3
    assert evidence.summary() == "answers 1, 3 reach 400; answer 2 reaches 409; answer 4 has no final answer"
    assert evidence.majority() is None  # 2 of 4 final answers: not more than half of the pool
    plurality = evidence.plurality()
    assert plurality is not None and plurality.members == ("answer_1", "answer_3")
    assert not evidence.all_equivalent()


def test_a_majority_is_more_than_half_of_all_final_answers_of_at_least_three():
    assert _evidence({"a": "400", "b": "400"}).majority() is None  # two are too few
    both = _evidence({"a": "400", "b": "400", "c": "Hmm."}).majority()  # 2 of 3: free text counts too
    assert both is not None and both.members == ("answer_1", "answer_2")
    assert _evidence({"a": "400", "b": "Hmm.", "c": "Well.", "d": "400", "e": "401"}).majority() is None
    assert _evidence({"a": "400", "b": "409", "c": "401", "d": "400"}).majority() is None  # 2 of 4
    tie = _evidence({"a": "400", "b": "409", "c": "400", "d": "409"})
    assert tie.majority() is None and tie.plurality() is None
    assert len(tie.classes) == 2


def test_minority_lists_who_dissents_from_the_final_answer():
    evidence = _evidence({"a": "400", "b": "The answer is 409.", "c": "400", "d": "No idea."})
    assert evidence.minority("number:400") == [{"member": "b", "label": "answer_2", "answer": "409"}]
    assert evidence.minority(None, "answer_2") == [
        {"member": "a", "label": "answer_1", "answer": "400"},
        {"member": "c", "label": "answer_3", "answer": "400"},
    ]
    assert evidence.minority(None) == []  # a final answer with nothing comparable: no report


def test_best_of_class_takes_the_best_scored_else_the_first_shown():
    evidence = _evidence({"a": "400", "b": "400.", "c": "409"})
    majority = evidence.majority()
    assert majority is not None
    assert evidence.best_of_class(majority) == "answer_1"
    assert evidence.best_of_class(majority, {"answer_1": 3, "answer_2": 8, "answer_3": 10}) == "answer_2"
    assert evidence.best_of_class(majority, {"answer_1": 5, "answer_2": 5}) == "answer_1"


def test_all_equivalent_needs_every_answer_comparable():
    assert _evidence({"a": "$400", "b": "400.00", "c": "The answer is 400."}).all_equivalent()
    assert not _evidence({"a": "400", "b": "Four hundred."}).all_equivalent()


def test_a_raising_extractor_is_an_issue_for_that_answer_only():
    def picky(text: str) -> str | None:
        if "b" in text:
            raise ValueError("no b")
        return text.strip()

    evidence = _evidence({"x": "a", "y": "b", "z": "a"}, answer_format=picky)
    assert evidence.keys == {"answer_1": "custom:a", "answer_2": None, "answer_3": "custom:a"}
    assert evidence.issues == ["answer_format callable raised ValueError: no b (for answer_2)"]


# ---------------------------------------------------------------------------------------- verdict checks

TEXTS = {
    "answer_1": "12 * 33 = 396, and 396 + 4 = 400. The answer is 400.",
    "answer_2": "I get 12 * 33 = 405, plus 4. The answer is 409.",
    "answer_3": "The answer is 401.",
}


Scores = dict[str, float] | list[tuple[str, float]]


def _verdict(winner: str, scores: Scores, **reasons: str) -> BestOfVerdict:
    pairs = list(scores.items()) if isinstance(scores, dict) else scores
    given = [CandidateScore(label=lab, score=score, reason=reasons.get(lab, "sums")) for lab, score in pairs]
    return BestOfVerdict(winner=winner, scores=given, rationale=reasons.get("rationale", "It adds up."))


def test_a_consistent_verdict_has_no_problems():
    verdict = _verdict("answer_1", {"answer_1": 9, "answer_2": 3, "answer_3": 2})
    assert verdict_problems(verdict, TEXTS, answers_differ=True) == []


def test_a_tie_for_the_top_score_is_consistent():
    verdict = _verdict("answer_2", {"answer_1": 9, "answer_2": 9, "answer_3": 2})
    assert verdict_problems(verdict, TEXTS, answers_differ=True) == []


def test_winner_below_the_top_score():
    verdict = _verdict("answer_1", {"answer_1": 0, "answer_2": 10, "answer_3": 10})
    assert verdict_problems(verdict, TEXTS, answers_differ=True) == [
        "the winner answer_1 scores 0 but answer_2, answer_3 scores 10: the winner must have the top score"
    ]


def test_a_label_scored_twice_and_one_left_out():
    verdict = _verdict("answer_1", [("answer_1", 9), ("answer_1", 8), ("answer_2", 1)])
    problems = verdict_problems(verdict, TEXTS, answers_differ=True)
    assert "it scores answer_1 more than once" in problems
    assert "it gives no score to answer_3" in problems


def test_unknown_labels_and_a_winner_not_shown():
    verdict = _verdict("answer_9", {"answer_1": 9, "answer_2": 3, "answer_3": 2, "answer_7": 1})
    problems = verdict_problems(verdict, TEXTS, answers_differ=True)
    assert any("the winner 'answer_9' is not one of the labels" in p for p in problems)
    assert "it scores labels that were not shown: answer_7" in problems


def test_equal_scores_are_a_problem_only_when_the_answers_differ():
    verdict = _verdict("answer_1", {"answer_1": 6, "answer_2": 6, "answer_3": 6})
    assert verdict_problems(verdict, TEXTS, answers_differ=True) == [
        "every answer gets the same score (6) although they differ"
    ]
    assert verdict_problems(verdict, TEXTS, answers_differ=False) == []
    assert verdict_problems(verdict, TEXTS, answers_differ=lambda: True) == [
        "every answer gets the same score (6) although they differ"
    ]


def test_whether_the_answers_differ_is_asked_only_when_every_score_is_equal():
    asked: list[bool] = []

    def differ() -> bool:
        asked.append(True)
        return True

    assert (
        verdict_problems(
            _verdict("answer_1", {"answer_1": 9, "answer_2": 3, "answer_3": 2}), TEXTS, answers_differ=differ
        )
        == []
    )
    assert asked == []
    verdict_problems(
        _verdict("answer_1", {"answer_1": 6, "answer_2": 6, "answer_3": 6}), TEXTS, answers_differ=differ
    )
    assert asked == [True]


@pytest.mark.parametrize(
    ("reason", "copied"),
    [
        ("I get 12 * 33 = 405, plus 4", True),  # seven words of answer_2
        ("The answer is 409", False),  # four words: too short to be a copy
        ("It multiplies 12 by 33 wrongly and gets 405", False),  # about it, not copied from it
    ],
)
def test_reasons_that_copy_a_candidate(reason, copied):
    verdict = _verdict("answer_1", {"answer_1": 9, "answer_2": 3, "answer_3": 2}, answer_2=reason)
    problems = verdict_problems(verdict, TEXTS, answers_differ=True)
    expected = ["its reasons copy the text of answer_2 instead of saying why it is right or wrong"]
    assert problems == (expected if copied else [])


def test_a_rationale_that_copies_a_candidate_is_caught_too():
    copied = "12 * 33 = 396, and 396 + 4 = 400."
    verdict = _verdict("answer_1", {"answer_1": 9, "answer_2": 3, "answer_3": 2}, rationale=copied)
    assert verdict_problems(verdict, TEXTS, answers_differ=True) == [
        "its reasons copy the text of answer_1 instead of saying why it is right or wrong"
    ]


@pytest.mark.parametrize("written", ["answer_2", "[answer_2]", " Answer 2 ", "[Answer 2]", "ANSWER_2"])
def test_loosely_written_labels_are_normalised(written):
    assert normalise_label(written) == "answer_2"


# ------------------------------------------------------------------------------------ answer agreement


def test_answer_agreement_compares_final_answers_before_wording():
    runtime = build_runtime(FusionConfig(pool=[Member("fake:x")]))
    worded_apart = [
        _record("a", "Twelve thirty-threes and four.\nFinal answer: 400"),
        _record("b", "The answer is 400."),
    ]
    worded_alike = [_record("a", "The answer is 400."), _record("b", "The answer is 409.")]
    assert answer_agreement(runtime, worded_apart) == 1.0
    assert answer_agreement(runtime, worded_alike) == 0.0
    assert answer_agreement(runtime, worded_apart[:1]) is None
    free = [_record("a", "It depends on the brackets."), _record("b", "It depends on the brackets.")]
    assert answer_agreement(runtime, free) == 1.0


# ---------------------------------------------------------------------------------------- for length


@pytest.mark.parametrize(
    ("metadata", "cut"),
    [
        ({"finish_reason": "length"}, True),  # OpenAI, vLLM, llama.cpp server
        ({"stop_reason": "max_tokens"}, True),  # Anthropic
        ({"done_reason": "length"}, True),  # Ollama
        ({"finish_reason": "stop"}, False),
        ({"finish_reason": "tool_calls"}, False),
        ({}, False),
    ],
)
def test_stopped_for_length(metadata, cut):
    assert stopped_for_length(AIMessage(content="Then we add", response_metadata=metadata)) is cut


# ------------------------------------------------------------------------------ judge prompt overhead


@pytest.mark.parametrize(
    ("kind", "system"),
    [
        ("best-of", prompts.BEST_OF_SYSTEM),
        ("merge", prompts.MERGE_SYSTEM),
        ("debate", prompts.DEBATE_JUDGE_SYSTEM),
    ],
)
def test_the_judge_prompt_overhead_stays_within_300_tokens(kind, system):
    """The judge's own words, beyond the question and three candidates, with the agreement line
    (the response schema travels apart, in ``response_format``, and is not counted here)."""
    conversation = "human: What is 12 * 33 + 4?"
    views = {f"answer_{i + 1}": text for i, text in enumerate(TEXTS.values())}
    agreement = "answers 1, 3 reach 400; answer 2 reaches 409"
    messages, _ = judge_messages(kind, conversation, views, Judge("openai:j"), agreement=agreement)
    assert messages[0].text == system
    content = estimate_tokens(conversation) + sum(estimate_tokens(text) for text in views.values())
    assert messages_tokens(messages) - content <= 300
