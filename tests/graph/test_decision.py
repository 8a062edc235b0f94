"""The decision rule (graph/_decision.py) on its own: weights in, a winner and its reasons out."""

from __future__ import annotations

import pytest

from fusion_graph import Calibration, FusionConfig, Judge, Member
from fusion_graph.graph._decision import Evidence, Reliabilities, log_odds, reliabilities, weigh

PRIOR = Reliabilities(members={}, judge=0.9, source="prior", labelled=False)


def _evidence(*keys: str | None) -> Evidence:
    labels = {f"answer_{i + 1}": f"m{i + 1}" for i in range(len(keys))}
    return Evidence(labels=labels, keys={f"answer_{i + 1}": k for i, k in enumerate(keys)})


def test_a_held_pick_stands_against_a_bare_wrong_majority():
    evidence = _evidence("number:5", "number:5", "number:4")
    out = weigh(evidence, PRIOR, pick="answer_3", check="held")
    assert out.judge_stood and out.winner.key == "number:4" and out.tag == "judge"
    assert out.record["judge_check"] == "held" and out.record["judge_pick"] == "m3"
    assert out.record["scores"]["4"] > out.record["scores"]["5"]
    assert "held" in out.record["why"]


def test_a_flipped_pick_weighs_nothing_and_the_majority_wins():
    evidence = _evidence("number:5", "number:5", "number:4")
    out = weigh(evidence, PRIOR, pick="answer_3", check="flipped")
    assert not out.judge_stood and out.winner.key == "number:5" and out.tag == "majority:2/3"
    assert out.record["weights"]["judge"] == 0.0
    assert "reversed" in out.record["why"]


def test_without_labels_no_single_voice_overrules_more_than_two_thirds():
    evidence = _evidence("number:5", "number:5", "number:5", "number:5", "number:4")
    out = weigh(evidence, PRIOR, pick="answer_5", check="held")
    assert not out.judge_stood and out.tag == "majority:4/5"
    assert "two thirds" in out.record["why"]
    # 3 of 5 is not beyond two thirds: a held pick stands
    out = weigh(
        _evidence("number:5", "number:5", "number:5", "number:4", "number:9"),
        PRIOR,
        pick="answer_4",
        check="held",
    )
    assert out.judge_stood


def test_with_labels_a_measured_judge_overrules_a_supermajority():
    labelled = Reliabilities(
        members=dict.fromkeys(["m1", "m2", "m3", "m4", "m5"], 0.6),
        judge=0.97,
        source="calibration",
        labelled=True,
    )
    evidence = _evidence("number:5", "number:5", "number:5", "number:5", "number:4")
    assert weigh(evidence, labelled, pick="answer_5", check="held").judge_stood
    weak = Reliabilities(members=labelled.members, judge=0.3, source="calibration", labelled=True)
    assert not weigh(
        _evidence("number:5", "number:5", "number:4"), weak, pick="answer_3", check="held"
    ).judge_stood


def test_measured_member_weights_let_a_strong_member_outvote_two_weak_ones():
    rel = Reliabilities(
        members={"m1": 0.9, "m2": 0.45, "m3": 0.45}, judge=0.5, source="calibration", labelled=True
    )
    out = weigh(_evidence("number:7", "number:3", "number:3"), rel, pick=None, check="no-judge")
    assert out.winner.key == "number:7"
    assert log_odds(0.9) > 2 * log_odds(0.45)


def test_answers_without_a_final_answer_still_count_in_the_denominator():
    # 2 of 4 comparable-and-equal answers are no majority of the pool: the held judge stands
    evidence = _evidence("number:5", "number:5", None, "number:4")
    assert evidence.majority() is None
    out = weigh(evidence, PRIOR, pick="answer_4", check="held")
    assert out.judge_stood and out.tag == "judge"


def test_a_merged_answer_is_the_judges_vote_even_when_no_candidate_gave_it():
    evidence = _evidence("number:5", "number:5", "number:4")
    out = weigh(evidence, PRIOR, pick=None, merged_key="number:6", check="flipped")
    assert not out.judge_stood and out.winner.key == "number:5"
    out = weigh(evidence, PRIOR, pick=None, merged_key="number:6", check="held")
    assert out.judge_stood and out.record["judge_pick"] == "merged answer"


def test_reliabilities_come_from_the_calibration_first_then_history_then_the_prior():
    config = FusionConfig(
        pool=[Member("fake:a", name="a", samples=2), Member("fake:b", name="b")],
        judge=Judge("fake:j", name="j"),
        calibration={
            "entries": [
                {
                    "members": {"a": {"accuracy": 0.8, "count": 50}},
                    "judges": {"j": {"accuracy": 0.7, "count": 40}},
                }
            ]
        },
    )
    rel = reliabilities(config, ["a#1", "a#2", "b"], "j", calibration=config.calibration)
    assert rel.source == "calibration" and rel.labelled
    assert rel.members == {"a#1": 0.8, "a#2": 0.8, "b": 0.6} and rel.judge == 0.7
    plain = config.replace(calibration=None)
    learned = reliabilities(plain, ["b"], "j", calibration=None, learned={"member:b": 0.7, "judge:j": 0.8})
    assert learned.source == "history" and not learned.labelled and learned.members["b"] == 0.7
    assert reliabilities(plain, ["b"], "j", calibration=None).source == "prior"


def test_the_calibration_entry_for_the_task_tag_wins():
    cal = Calibration.model_validate(
        {
            "entries": [
                {"members": {"a": {"accuracy": 0.5, "count": 10}}},
                {"tag": "gsm8k", "members": {"a": {"accuracy": 0.9, "count": 10}}},
            ]
        }
    )
    assert cal.lookup(answer_format="auto", tag="gsm8k").members["a"].accuracy == 0.9  # type: ignore[union-attr]
    assert cal.lookup(answer_format="auto", tag=None).members["a"].accuracy == 0.5  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("calibration", "field"),
    [
        (
            {"entries": [{"members": {"zed": {"accuracy": 0.5, "count": 3}}}]},
            "calibration.entries[0].members.zed",
        ),
        (
            {"entries": [{"judges": {"nobody": {"accuracy": 0.5, "count": 3}}}]},
            "calibration.entries[0].judges.nobody",
        ),
        (
            {"entries": [{"members": {"a": {"accuracy": 1.2, "count": 3}}}]},
            "calibration.entries[0].members.a.accuracy",
        ),
        (
            {"entries": [{"members": {"a": {"accuracy": 0.5, "count": -1}}}]},
            "calibration.entries[0].members.a.count",
        ),
        ("/no/such/calibration.json", "calibration"),
        (42, "calibration"),
    ],
)
def test_bad_calibration_input_is_a_config_error_naming_the_field(calibration, field):
    from fusion_graph.errors import ConfigError

    with pytest.raises(ConfigError) as caught:
        FusionConfig(
            pool=[Member("fake:a", name="a"), Member("fake:b", name="b")],
            judge=Judge("fake:j", name="j"),
            calibration=calibration,
        )
    assert caught.value.field == field


def test_a_calibration_file_round_trips(tmp_path):
    cal = Calibration.model_validate(
        {"entries": [{"tag": "t", "members": {"a": {"accuracy": 0.75, "count": 8}}}]}
    )
    path = tmp_path / "cal.json"
    cal.save(path)
    config = FusionConfig(
        pool=[Member("fake:a", name="a"), Member("fake:b", name="b")], calibration=str(path)
    )
    assert config.calibration == cal


def test_with_labels_the_judges_measured_conflict_accuracy_decides_a_conflict():
    members = dict.fromkeys(["m1", "m2", "m3"], 0.6)
    evidence = _evidence("number:5", "number:5", "number:4")
    right_in_conflicts = Reliabilities(
        members=members, judge=0.8, source="calibration", labelled=True, conflict=(0.8, 20)
    )
    out = weigh(evidence, right_in_conflicts, pick="answer_3", check="held")
    assert out.judge_stood and "80% of 20 measured conflicts" in out.record["why"]
    wrong_in_conflicts = Reliabilities(
        members=members, judge=0.8, source="calibration", labelled=True, conflict=(0.2, 20)
    )
    out = weigh(evidence, wrong_in_conflicts, pick="answer_3", check="held")
    assert not out.judge_stood and out.winner.key == "number:5"
    # a flipped pick never overrules, whatever was measured
    assert not weigh(evidence, right_in_conflicts, pick="answer_3", check="flipped").judge_stood
    # one conflict measured moves the prior of one half only a little: (1 + 2) / (1 + 4) = 0.6
    few = Reliabilities(members=members, judge=0.8, source="calibration", labelled=True, conflict=(1.0, 1))
    assert weigh(evidence, few, pick="answer_3", check="held").judge_stood


def test_a_voice_below_chance_abstains_instead_of_voting_against_its_answer():
    # a learned judge estimate under one half must not push the decision to some third answer
    rel = Reliabilities(
        members=dict.fromkeys(["m1", "m2", "m3"], 0.6), judge=0.1, source="history", labelled=False
    )
    out = weigh(_evidence("number:5", "number:5", "number:4"), rel, pick="answer_1", check="agreed")
    assert out.winner.key == "number:5" and out.record["weights"]["judge"] == 0.0
    # weak members still count a little: two that agree outweigh one that stands alone
    weak = Reliabilities(
        members={"m1": 0.3, "m2": 0.3, "m3": 0.45}, judge=0.5, source="calibration", labelled=True
    )
    assert weigh(
        _evidence("number:5", "number:5", "number:4"), weak, pick=None, check="no-judge"
    ).winner.key == ("number:5")


def test_a_tie_break_is_no_conflict_so_a_low_conflict_accuracy_does_not_override_it():
    members = {"m1": 0.66, "m2": 0.6, "m3": 0.6}
    rel = Reliabilities(members=members, judge=0.9, source="calibration", labelled=True, conflict=(0.0, 10))
    # three different answers: no most common one, so the judge's held pick breaks the tie
    out = weigh(_evidence("number:1", "number:2", "number:3"), rel, pick="answer_2", check="held")
    assert out.judge_stood and out.winner.key == "number:2"


def test_one_comparable_answer_against_a_free_text_pick_is_no_conflict():
    rel = Reliabilities(
        members=dict.fromkeys(["m1", "m2", "m3"], 0.6),
        judge=0.9,
        source="calibration",
        labelled=True,
        conflict=(0.0, 10),
    )
    out = weigh(_evidence("number:7", None, None), rel, pick="answer_2", check="held")
    assert out.judge_stood
