"""Issue 16 through the real graph and real HTTP: a right judge meets a wrong majority, a judge whose
pick flips under the reversed order loses its vote, calibration and learned history weigh the voices."""

from __future__ import annotations

import logging
from typing import Any

from langgraph.store.memory import InMemoryStore

from fusion_graph import Fusion, fuse
from fusion_graph.cli._explain import decision_in_words
from fusion_graph.errors import ConfigError
from fusion_graph.eval.calibrate import calibration_from_records
from fusion_graph.graph._history import namespace
from tests._quality_stubs import QUESTION, first_shown, judge_script, label_with, make_config, server_of

RIGHT = "12 * 33 = 396, and 396 + 4 = 400. The answer is 400."
WRONG = "12 * 33 = 405, plus 4. The answer is 409."
WRONG_B = "I reckon 405 + 4.\nFinal answer: 409"
FREE = "Twelve thirty-threes are three hundred ninety-six; four more makes four hundred."


async def _run(members: dict[str, str], judge, **kwargs: Any):
    async with server_of(members, judge=judge) as server:
        config = make_config(server, list(members), **kwargs)
        result = await fuse(QUESTION, config)
        return result, server.calls("judge")


async def test_a_right_judge_whose_pick_holds_is_not_overruled_by_a_wrong_majority():
    members = {"a": WRONG, "b": RIGHT, "c": WRONG_B}
    result, calls = await _run(members, judge_script(pick=label_with("400")))
    assert result.answer == RIGHT and result.decided_by == "judge:judge"
    assert calls == 2  # the pick disagreed with the members' leading answer: one reversed-order check
    decision = result.decision
    assert decision is not None and decision.judge_check == "held" and decision.judge_stood
    assert decision.rule == "weighted" and decision.source == "prior"
    assert decision.scores["400"] > decision.scores["409"]
    assert result.dissent is not None and "2/3 answers reach 409" in result.dissent


async def test_a_pick_that_flips_under_the_reversed_order_loses_its_vote():
    members = {"a": WRONG, "b": RIGHT, "c": RIGHT.replace("The answer", "So the answer")}
    result, calls = await _run(members, judge_script(pick=first_shown))  # answer_1 is "a" (no shuffle)
    assert result.answer != WRONG and result.decided_by == "majority:2/3"
    assert calls == 2
    assert result.decision is not None and result.decision.judge_check == "flipped"
    assert result.decision.weights["judge"] == 0.0


async def test_a_judge_that_agrees_with_the_members_is_asked_once():
    members = {"a": RIGHT, "b": WRONG, "c": RIGHT.replace("The answer", "So the answer")}
    result, calls = await _run(members, judge_script(pick=label_with("400")))
    assert calls == 1 and result.decision is not None and result.decision.judge_check == "agreed"


async def test_free_text_answers_count_so_two_comparable_answers_of_five_are_no_majority():
    members = {"a": WRONG, "b": WRONG_B, "c": FREE, "d": FREE + " Indeed.", "e": RIGHT}
    result, _ = await _run(members, judge_script(pick=label_with("Twelve")))
    assert result.winner == "c" and result.decided_by == "judge:judge"
    assert result.dissent is None  # 2 of 5 final answers are not a majority of the pool


async def test_vote_does_not_decide_on_a_single_comparable_answer():
    members = {"a": WRONG, "b": FREE, "c": FREE + " Indeed."}
    result, calls = await _run(members, judge_script(pick=label_with("Twelve")), mode="vote")
    assert calls == 1 and result.decided_by == "judge:judge" and result.winner == "b"


async def test_a_calibration_that_measured_a_bad_judge_lets_the_majority_win():
    members = {"a": RIGHT, "b": WRONG, "c": RIGHT.replace("The answer", "So the answer")}
    judge = judge_script(pick=label_with("409"))  # consistently wrong: holds under reversal
    async with server_of(members, judge=judge) as server:
        plain = make_config(server, list(members))
        fooled = await fuse(QUESTION, plain)
        assert (
            fooled.answer == WRONG and fooled.decision is not None and fooled.decision.judge_check == "held"
        )
        records = [
            {
                "config": "fusion:best-of",
                "item": i,
                "error": None,
                "judge": "judge",
                "judge_pick": "b",
                "candidates_correct": {"a": True, "b": False, "c": True},
            }
            for i in range(50)
        ]
        calibration = calibration_from_records(records, tag=None, answer_format=None)
        assert calibration.entries[0].judges["judge"].accuracy == 0.0
        assert calibration.entries[0].members["a"].count == 50
        result = await fuse(QUESTION, plain.replace(calibration=calibration))
    assert result.answer != WRONG and result.decided_by == "majority:2/3"
    assert result.decision is not None and result.decision.source == "calibration"


async def test_the_judge_free_fallback_orders_by_measured_reliability_not_a_coin():
    members = {"a": FREE, "b": "A different story altogether, with other words."}
    failing = judge_script(winner="answer_9", scores=[], rationale="?")  # unusable verdicts
    async with server_of(members, judge=failing) as server:
        config = make_config(server, list(members))
        calibrated = config.replace(
            calibration={
                "entries": [
                    {"members": {"a": {"accuracy": 0.3, "count": 60}, "b": {"accuracy": 0.8, "count": 60}}}
                ]
            }
        )
        result = await fuse(QUESTION, calibrated)
    assert result.decided_by == "judge-free:most-reliable" and result.winner == "b"


async def test_learned_history_is_kept_in_the_store_keyed_by_pool_and_tag():
    members = {"a": RIGHT, "b": WRONG, "c": RIGHT.replace("The answer", "So the answer")}
    store = InMemoryStore()
    async with server_of(members, judge=judge_script(pick=label_with("400"))) as server:
        config = make_config(server, list(members), learn_reliability=True, task_tag="arith")
        fusion = Fusion(config, store=store)
        for _ in range(3):
            result = await fusion.run(QUESTION)
    item = store.get(namespace(config), "member:b")
    assert item is not None and item.value == {"hits": 0, "total": 3}
    assert store.get(namespace(config), "member:a").value == {"hits": 3, "total": 3}  # type: ignore[union-attr]
    assert result.decision is not None and result.decision.source == "history"
    assert result.decision.weights["b"] < result.decision.weights["a"]


class _BrokenStore(InMemoryStore):
    async def aget(self, *args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("the store is down")


async def test_a_store_that_fails_mid_run_is_logged_and_the_prior_decides(caplog):
    members = {"a": RIGHT, "b": WRONG, "c": RIGHT.replace("The answer", "So the answer")}
    async with server_of(members, judge=judge_script(pick=label_with("400"))) as server:
        config = make_config(server, list(members), learn_reliability=True)
        with caplog.at_level(logging.WARNING, logger="fusion_graph"):
            result = await Fusion(config, store=_BrokenStore()).run(QUESTION)
    assert result.answer == RIGHT
    assert result.decision is not None and result.decision.source == "prior"
    assert any("reliability store failed" in r.message for r in caplog.records)


async def test_a_store_that_is_not_a_langgraph_store_is_a_config_error():
    async with server_of({"a": RIGHT, "b": WRONG}, judge=judge_script(pick=first_shown)) as server:
        config = make_config(server, ["a", "b"])
        try:
            Fusion(config, store={"not": "a store"})  # type: ignore[arg-type]
        except ConfigError as exc:
            assert exc.field == "store" and "BaseStore" in str(exc)
        else:
            raise AssertionError("no ConfigError")


def _records(n: int, *, correct: bool, pick: str, check: str = "held") -> list[dict[str, Any]]:
    """``fusion eval`` records of the default rule: a and c reach 400 (right), b reaches 409."""
    return [
        {
            "config": "fusion:best-of",
            "item": i,
            "error": None,
            "correct": correct,
            "judge": "judge",
            "judge_pick": pick,
            "judge_check": check,
            "rule": "weighted",
            "weights_source": "prior",
            "answers": {"a": "400", "b": "409", "c": "400"},
            "candidates_correct": {"a": True, "b": False, "c": True},
        }
        for i in range(n)
    ]


def test_rules_are_replayed_on_the_records_and_paired_against_the_default():
    # The default followed a held wrong pick 30 times; 10 times the judge agreed with the members.
    records = _records(30, correct=False, pick="b") + [
        r | {"item": 100 + r["item"]} for r in _records(10, correct=True, pick="a", check="agreed")
    ]
    entry = calibration_from_records(records, tag=None, answer_format=None).entries[0]
    rules = entry.rules
    assert rules["weighted"].right == 10 and rules["weighted"].count == 40
    assert (rules["majority"].wins, rules["majority"].losses, rules["majority"].right) == (30, 0, 40)
    assert (rules["judge"].wins, rules["judge"].losses) == (0, 0)
    assert rules["member:a"].right == 40 and rules["member:b"].losses == 10
    # ``weights`` is replayed with the other items' accuracies: a judge measured wrong in its
    # conflicts (29 of 29 others) is outvoted.
    assert rules["weights"].wins == 30
    assert entry.chosen_rule()[0] == "majority"  # the first of the rules that gained most


def test_a_rule_must_beat_the_default_by_a_margin_before_labels_choose_it():
    from fusion_graph.calibration import CalibrationEntry, RuleScore

    close = CalibrationEntry(
        rules={
            "weighted": RuleScore(right=30, count=50),
            "judge": RuleScore(right=33, count=50, wins=9, losses=6),  # +3 of 15 flips: noise
        }
    )
    assert close.chosen_rule()[0] == "weighted"
    clear = close.model_copy(
        update={"rules": {**close.rules, "majority": RuleScore(right=36, count=50, wins=7)}}
    )
    assert clear.chosen_rule()[0] == "majority"


def test_an_unknown_rule_in_a_calibration_is_a_config_error_naming_the_field():
    from fusion_graph import FusionConfig, Member

    bad = {"entries": [{"rules": {"loudest": {"right": 1, "count": 2}}}]}
    try:
        FusionConfig(pool=[Member("fake:a")], calibration=bad)
    except ConfigError as exc:
        assert "calibration.entries[0].rules" in str(exc) and "member:<name>" in str(exc)
    else:
        raise AssertionError("an unknown rule was accepted")


async def test_labels_choose_the_rule_and_the_decision_says_so():
    members = {"a": RIGHT, "b": WRONG, "c": RIGHT.replace("The answer", "So the answer")}
    judge = judge_script(pick=label_with("409"))  # consistently wrong: holds under reversal
    calibration = calibration_from_records(
        _records(50, correct=False, pick="b"), tag=None, answer_format=None
    )
    async with server_of(members, judge=judge) as server:
        config = make_config(server, list(members), calibration=calibration)
        result = await fuse(QUESTION, config)
    assert result.answer != WRONG and result.decided_by == "majority:2/3"
    decision = result.decision
    assert decision is not None and decision.rule == "majority" and decision.source == "calibration"
    # The rule decides with the weights it was replayed with (the prior), not the measured ones.
    assert decision.weights["a"] == decision.weights["b"] and decision.weights["judge"] > 0
    assert "labels: rule majority was right on 50 of 50 labelled items, +50 / -0" in decision.why


async def test_labels_that_chose_a_member_follow_it_without_asking_the_judge():
    members = {"a": WRONG, "b": RIGHT, "c": WRONG_B}
    rules = {
        "weighted": {"right": 20, "count": 50},
        "member:b": {"right": 45, "count": 50, "wins": 27, "losses": 2},
    }
    async with server_of(members, judge=judge_script(pick=label_with("409"))) as server:
        config = make_config(server, list(members), calibration={"entries": [{"rules": rules}]})
        result = await fuse(QUESTION, config)
        calls = server.calls("judge")
    assert calls == 0 and result.winner == "b" and result.answer == RIGHT
    assert result.decided_by == "labels:b"
    assert result.decision is not None and result.decision.rule == "member:b"
    assert result.decision.why.startswith("labels chose to follow b")
    words = decision_in_words(result)
    assert words.startswith("Decided by labels: a calibration measured b as the voice to follow")


async def test_labels_that_found_nothing_better_keep_the_default_rule_with_the_prior():
    members = {"a": WRONG, "b": RIGHT, "c": WRONG_B}
    rules = {
        "weighted": {"right": 40, "count": 50},
        "majority": {"right": 41, "count": 50, "wins": 3, "losses": 2},
    }
    entry = {"members": {"a": {"accuracy": 0.9, "count": 50}}, "rules": rules}
    async with server_of(members, judge=judge_script(pick=label_with("400"))) as server:
        config = make_config(server, list(members), calibration={"entries": [entry]})
        result = await fuse(QUESTION, config)
    decision = result.decision
    assert decision is not None and decision.rule == "weighted" and decision.source == "calibration"
    assert decision.weights["a"] == decision.weights["b"]  # the prior, not a's measured 0.9
    assert result.answer == RIGHT and decision.judge_check == "held"
    assert "no other rule beat it by the margin" in decision.why
