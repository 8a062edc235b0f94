"""Every invalid FusionConfig / Member / Judge is a ConfigError naming the field (hypothesis, fixed seed).

A valid config with one to three fields (top-level, a member's, the judge's or a fallback's) set to
junk of any type: the constructor either accepts it or raises ``ConfigError`` whose ``field`` is a
path into what was given; never another exception.
"""

from __future__ import annotations

import math
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fusion_graph import ConfigError, FusionConfig, Judge, Member
from fusion_graph.testing import ScriptedChatModel

pytestmark = [pytest.mark.fuzz, pytest.mark.timeout(60)]

FUZZ = settings(
    max_examples=150,
    derandomize=True,
    database=None,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

ODD = ["", "\x00", "\U0001f600", "fake:x", "openai:", "nope:x", "a#1"]
TEXT = st.text(max_size=12) | st.sampled_from(ODD)
NUMBER = st.integers(-(2**70), 2**70) | st.floats() | st.sampled_from([0, -1, 1, 0.5, math.inf, -math.inf])
LEAF = st.none() | st.booleans() | NUMBER | TEXT | st.binary(max_size=4)
JUNK = st.recursive(
    LEAF | st.builds(object) | st.just(len) | st.builds(ScriptedChatModel),
    lambda kids: (
        st.lists(kids, max_size=3)
        | st.tuples(kids, kids)
        | st.dictionaries(TEXT, kids, max_size=3)
        | st.frozensets(LEAF.filter(lambda v: not isinstance(v, float) or not math.isnan(v)), max_size=2)
    ),
    max_leaves=6,
)
SPEC_FIELDS = sorted(set(Member.model_fields) | set(Judge.model_fields))
CONFIG_FIELDS = sorted(FusionConfig.model_fields)


def junk_fields(names: list[str]) -> st.SearchStrategy[dict[str, Any]]:
    return st.dictionaries(st.sampled_from(names) | TEXT, JUNK, min_size=1, max_size=3)


@st.composite
def configs(draw: st.DrawFn) -> tuple[dict[str, Any], set[str]]:
    """Config data and the top-level keys whose value (or a part of it) is junk."""
    data: dict[str, Any] = {
        "pool": [{"model": "fake:a", "name": "a"}, {"model": "fake:b", "name": "b"}],
        "judge": {"model": "fake:j", "fallbacks": [{"model": "fake:k"}]},
    }
    where = draw(st.sampled_from(["config", "member", "judge", "fallback", "whole"]))
    if where == "config":
        changes = draw(junk_fields(CONFIG_FIELDS))
        data.update(changes)
        return data, set(changes)
    if where == "member":
        data["pool"][draw(st.integers(0, 1))].update(draw(junk_fields(SPEC_FIELDS)))
        return data, {"pool"}
    if where == "judge":
        data["judge"].update(draw(junk_fields(SPEC_FIELDS)))
        return data, {"judge"}
    if where == "fallback":
        data["judge"]["fallbacks"][0].update(draw(junk_fields(SPEC_FIELDS)))
        return data, {"judge"}
    key = draw(st.sampled_from(["pool", "judge"]))
    data[key] = draw(JUNK)
    return data, {key}


def names_the_field(exc: ConfigError, given: set[str]) -> bool:
    """The error's field is one of ``given`` or a path into one (a key with no name: says '')."""
    field = exc.field
    inside = any(field == key or field.startswith((f"{key}.", f"{key}[")) for key in given if key)
    return inside or "'' is not a field" in exc.problem


@FUZZ
@given(case=configs())
def test_an_invalid_config_is_a_config_error_naming_the_field(case):
    data, changed = case
    try:
        FusionConfig(**data)
    except ConfigError as exc:
        assert exc.field, exc
        # the junk field, or pool/judge for a rule across fields (a budget needs max_tokens)
        assert names_the_field(exc, changed | {"pool", "judge"}), (exc.field, changed, str(exc))
        assert exc.problem, exc


@FUZZ
@given(fields=junk_fields(SPEC_FIELDS), kind=st.sampled_from([Member, Judge]))
def test_an_invalid_member_or_judge_is_a_config_error_naming_the_field(fields, kind):
    try:
        kind(**{"model": "fake:a", **fields})
    except ConfigError as exc:
        assert names_the_field(exc, set(fields) | {"model"}), (exc.field, fields, str(exc))


@FUZZ
@given(changes=junk_fields(CONFIG_FIELDS))
def test_replace_with_junk_is_a_config_error_naming_the_field(changes):
    config = FusionConfig(pool=["fake:a", "fake:b"], judge="fake:j")
    try:
        config.replace(**changes)
    except ConfigError as exc:
        assert names_the_field(exc, set(changes) | {"pool", "judge"}), (exc.field, changes, str(exc))
