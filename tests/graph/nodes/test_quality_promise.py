"""The promise of issue 10 on a small simulated pool: fusion is never below its best member, whatever
the judge's quality, when the members' errors differ. Real graph, real HTTP, stub judges of set quality.

Three members each answer 4 of 6 items right, wrong on different items (each with its own wrong
number), so every item has a right majority. The best member scores 4/6.
"""

from __future__ import annotations

import re
from typing import Any

import pytest

from fusion_graph import fuse
from fusion_graph.testing import ModelScript
from tests._quality_stubs import blocks, first_shown, judge_script, make_config, scores, server_of

ITEMS = 6
WRONG_ON = {"m1": {0, 1}, "m2": {2, 3}, "m3": {4, 5}}


def _right(item: int) -> str:
    return str(100 + item)


def _item_of(text: str) -> int:
    found = re.search(r"Item (\d+):", text)
    assert found is not None
    return int(found.group(1))


def _member(name: str, offset: int) -> ModelScript:
    def reply(body: dict[str, Any]) -> str:
        item = _item_of(" ".join(str(m["content"]) for m in body["messages"]))
        value = 100 + item + (offset if item in WRONG_ON[name] else 0)
        return f"Working it through for item {item}.\nFinal answer: {value}"

    return ModelScript(reply=reply)


def _oracle(prompt: str, options: list[str] | None) -> str:
    right = _right(_item_of(prompt))
    return next(label for label, text in blocks(prompt).items() if text.endswith(f": {right}"))


def _adversary(prompt: str, options: list[str] | None) -> str:
    right = _right(_item_of(prompt))
    wrong = [label for label, text in blocks(prompt).items() if not text.endswith(f": {right}")]
    return wrong[0] if wrong else "answer_1"


def _last_shown(prompt: str, options: list[str] | None) -> str:
    return list(blocks(prompt))[-1]


def _equal_scores(prompt: str) -> list[dict[str, Any]]:
    return scores(dict.fromkeys(blocks(prompt), 5.0))


JUDGES: dict[str, ModelScript] = {
    "oracle": judge_script(pick=_oracle),
    "first-position": judge_script(pick=first_shown),
    "last-position": judge_script(pick=_last_shown),
    "adversary": judge_script(pick=_adversary),
    "uninformative-scores": judge_script(winner="answer_1", scores=_equal_scores, rationale="all fine"),
}


def _calibrated(config: Any, judge_accuracy: float) -> Any:
    judge = config.effective_judge.name or config.effective_judge.label
    entry = {
        "members": {name: {"accuracy": 0.67, "count": 50} for name in config.member_names},
        "judges": {judge: {"accuracy": judge_accuracy, "count": 50}},
    }
    return config.replace(calibration={"entries": [entry]})


HONEST = [name for name in JUDGES if name != "adversary"]


@pytest.mark.parametrize("mode", ["best-of", "vote", "debate"])
@pytest.mark.parametrize("judge", [*HONEST, "adversary-calibrated"])
async def test_fusion_is_not_below_the_best_member(mode, judge):
    """Every judge that is not consistently wrong; and, once labels measured it, the one that is.

    Without labels a judge whose wrong pick holds when the order is reversed looks exactly like a
    good one (docs/decisions.md), so the adversary is held to the promise only when calibrated.
    """
    members = {"m1": _member("m1", 7), "m2": _member("m2", 11), "m3": _member("m3", 13)}
    right_fused = 0
    right_by_member = dict.fromkeys(members, 0)
    async with server_of(members, judge=JUDGES[judge.removesuffix("-calibrated")]) as server:
        config = make_config(server, list(members), mode=mode, rounds=1, shuffle=True, seed=3)
        if judge.endswith("-calibrated"):
            config = _calibrated(config, judge_accuracy=0.1)
        for item in range(ITEMS):
            result = await fuse(f"Item {item}: what is 100 + {item}?", config)
            right_fused += result.answer.endswith(f": {_right(item)}")
            for name in members:
                right_by_member[name] += result.answers[name] == _right(item)
            assert [d.answer for d in result.minority] != [_right(item)]
    assert max(right_by_member.values()) == 4
    assert right_fused >= max(right_by_member.values())
    assert right_fused == ITEMS  # a right majority on every item, and the default policy follows it


async def test_without_labels_a_consistently_wrong_judge_stands_against_a_bare_majority():
    """The documented limit: its wrong pick holds under the reversed order, so it outweighs 2 of 3."""
    members = {"m1": _member("m1", 7), "m2": _member("m2", 11), "m3": _member("m3", 13)}
    async with server_of(members, judge=JUDGES["adversary"]) as server:
        config = make_config(server, list(members), shuffle=True, seed=3)
        result = await fuse("Item 0: what is 100 + 0?", config)
    assert result.decision is not None
    assert result.decision.judge_check == "held" and result.decision.judge_stood
    assert not result.answer.endswith(": 100")
    assert len(result.judge_calls) == 2  # the pick, and the reversed-order check


async def test_without_the_majority_check_an_adversarial_judge_drags_fusion_down():
    """The contrast: the same pool and judge, but the judge's word is final (``majority_policy="judge"``)."""
    members = {"m1": _member("m1", 7), "m2": _member("m2", 11), "m3": _member("m3", 13)}
    right_fused = 0
    async with server_of(members, judge=JUDGES["adversary"]) as server:
        config = make_config(server, list(members), majority_policy="judge", shuffle=True, seed=3)
        for item in range(ITEMS):
            result = await fuse(f"Item {item}: what is 100 + {item}?", config)
            right_fused += result.answer.endswith(f": {_right(item)}")
            assert result.dissent is not None and f"2/3 answers reach {_right(item)}" in result.dissent
            assert [d.answer for d in result.minority] == [_right(item), _right(item)]
    assert right_fused == 0
