"""Every custom error pickles (LangGraph Server and worker processes send them); group errors keep causes.

The sample table must name every error class of ``fusion_graph.errors`` and ``tool_registry.errors``:
a new error without a sample fails the first test.
"""

from __future__ import annotations

import inspect
import multiprocessing
import pickle
from concurrent.futures import ProcessPoolExecutor
from typing import Any

import pytest

from fusion_graph import errors as core_errors
from tool_registry import errors as registry_errors

_member = core_errors.MemberFailed("alpha", 1, "timeout", "no answer within 5 s")
_member_b = core_errors.MemberFailed("beta", 1, "error", "HTTP 500")

SAMPLES: dict[type[BaseException], BaseException] = {
    core_errors.FusionError: core_errors.FusionError("something broke"),
    core_errors.ConfigError: core_errors.ConfigError("pool[1].model", "unknown prefix 'x'", "use openai:"),
    core_errors.ProviderNotInstalled: core_errors.ProviderNotInstalled("pool[0].model", "mistral", "mistral"),
    core_errors.ThreadConflict: core_errors.ThreadConflict(
        "thread_id", "the thread was interrupted on another prompt", "resume it or start a new one", "t-1"
    ),
    core_errors.FusionRunError: core_errors.FusionRunError("the fusion ended without an answer"),
    core_errors.MemberFailed: _member,
    core_errors.QuorumNotReached: core_errors.QuorumNotReached(
        [_member, _member_b], answered=["gamma"], needed=2, round=1
    ),
    core_errors.AllMembersFailed: core_errors.AllMembersFailed([_member, _member_b]),
    core_errors.JudgeFailed: core_errors.JudgeFailed(
        "openai:gpt-judge",
        "the verdict did not parse",
        raw='{"winner": ',
        causes=["judge: timeout", "backup: bad JSON"],
        exceptions=[TimeoutError("judge: no answer within 30 s"), ValueError("backup: bad JSON")],
    ),
    core_errors.StructuredOutputError: core_errors.StructuredOutputError(
        "no member answered with a JSON object valid under the schema",
        raw="not json",
        causes=["alpha: not a JSON object: 'not json'"],
    ),
    registry_errors.ToolRegistryError: registry_errors.ToolRegistryError("registry failed"),
    registry_errors.RegistryConfigError: registry_errors.RegistryConfigError("server 'x': no command="),
    registry_errors.DuplicateToolName: registry_errors.DuplicateToolName("a Python tool named 'add' exists"),
    registry_errors.RegistryStateError: registry_errors.RegistryStateError("add servers before entering"),
    registry_errors.ToolNotFound: registry_errors.ToolNotFound("web__search"),
    registry_errors.ToolNotAllowed: registry_errors.ToolNotAllowed("web__search", "guest"),
    registry_errors.ServerConnectionError: registry_errors.ServerConnectionError("web", "connect timed out"),
    registry_errors.ToolCallError: registry_errors.ToolCallError("web__search", "the call failed"),
    registry_errors.ToolTimeout: registry_errors.ToolTimeout("web__search", 2.5),
    registry_errors.ToolArgumentsInvalid: registry_errors.ToolArgumentsInvalid("add", "'a' is no integer"),
    registry_errors.ToolExecutionError: registry_errors.ToolExecutionError("add", "disk full"),
}


def _error_classes() -> set[type[BaseException]]:
    found: set[type[BaseException]] = set()
    for module in (core_errors, registry_errors):
        for name in module.__all__:
            obj = getattr(module, name)
            if inspect.isclass(obj) and issubclass(obj, BaseException):
                found.add(obj)
    return found


def _public(exc: BaseException) -> dict[str, Any]:
    """What a user reads from an error: its text and public attributes (nested errors by value)."""
    fields: dict[str, Any] = {"type": type(exc), "str": str(exc), "args": exc.args}
    for key, value in vars(exc).items():
        if not key.startswith("_"):
            fields[key] = value
    for key in ("exceptions", "causes"):
        value = getattr(exc, key, None)
        if isinstance(value, list | tuple):
            fields[key] = [_public(v) if isinstance(v, BaseException) else v for v in value]
    return fields


def test_the_sample_table_covers_every_error_class():
    assert set(SAMPLES) == _error_classes()
    for cls, sample in SAMPLES.items():
        assert type(sample) is cls


@pytest.mark.parametrize("cls", list(SAMPLES), ids=lambda cls: cls.__name__)
def test_round_trip(cls: type[BaseException]):
    error = SAMPLES[cls]
    error.add_note("seen in a test")
    try:
        again = pickle.loads(pickle.dumps(error))
    finally:
        del error.__notes__
    assert type(again) is cls
    assert {k: v for k, v in _public(again).items() if k != "__notes__"} == _public(error)
    assert again.__notes__ == ["seen in a test"]


def test_judge_failed_keeps_each_cause_as_an_exception():
    error = SAMPLES[core_errors.JudgeFailed]
    assert isinstance(error, core_errors.JudgeFailed)
    assert [type(e) for e in error.exceptions] == [TimeoutError, ValueError]
    assert error.causes == ["judge: timeout", "backup: bad JSON"]
    assert error.raw == '{"winner": ' and error.problem == "the verdict did not parse"
    # the call judge.py makes today (text causes only) still works
    legacy = core_errors.JudgeFailed("j", "a; b", raw=None, causes=["a", "b"])
    assert legacy.causes == ["a", "b"] and legacy.exceptions == ()
    # with exceptions only, the text causes are derived from them
    derived = core_errors.JudgeFailed("j", "both failed", exceptions=[TimeoutError("slow")])
    assert derived.causes == ["TimeoutError: slow"]


def test_quorum_errors_are_group_style_too():
    error = SAMPLES[core_errors.AllMembersFailed]
    assert isinstance(error, core_errors.AllMembersFailed)
    assert error.exceptions == (_member, _member_b)
    assert all(isinstance(e, core_errors.MemberFailed) for e in error.exceptions)


class _Unpicklable(Exception):
    """Like many SDK errors: a required keyword argument, so the default unpickling fails."""

    def __init__(self, message: str, *, response: object) -> None:
        super().__init__(message)
        self.response = response


def test_a_cause_that_cannot_pickle_travels_as_a_description():
    cause = _Unpicklable("HTTP 529 overloaded", response=object())
    with pytest.raises(TypeError):
        pickle.loads(pickle.dumps(cause))
    error = core_errors.JudgeFailed(
        "anthropic:judge", "overloaded", exceptions=[cause, registry_errors.ToolTimeout("t", 1.0)]
    )
    again = pickle.loads(pickle.dumps(error))
    first, second = again.exceptions
    assert isinstance(first, core_errors.FusionRunError)
    assert "_Unpicklable: HTTP 529 overloaded" in str(first)
    assert isinstance(second, registry_errors.ToolTimeout) and second.timeout == 1.0
    assert again.causes == error.causes


def _raise_in_worker(name: str) -> None:
    raise SAMPLES[getattr(core_errors, name, None) or getattr(registry_errors, name)]


@pytest.mark.timeout(60)
def test_errors_cross_a_process_boundary():
    context = multiprocessing.get_context("fork")
    with ProcessPoolExecutor(max_workers=1, mp_context=context) as pool:
        for name in ("JudgeFailed", "AllMembersFailed", "ServerConnectionError", "ConfigError"):
            with pytest.raises(Exception) as info:  # noqa: PT011 - the type is checked below
                pool.submit(_raise_in_worker, name).result(timeout=30)
            assert type(info.value).__name__ == name
            expected = SAMPLES[type(info.value)]
            assert str(info.value) == str(expected)
