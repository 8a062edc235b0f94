"""Errors raised by fusion-graph.

Developer mistakes are kept apart from run failures::

    FusionError                     base of every error this package raises
    ├── ConfigError                 invalid configuration or request: names the field and the fix
    │   ├── ProviderNotInstalled    a provider's optional extra is missing
    │   └── ThreadConflict          a run's input does not fit its thread (409 on the server)
    └── FusionRunError              a fusion could not produce an answer
        ├── MemberFailed            one member failed: a cause inside QuorumNotReached / AllMembersFailed
        ├── QuorumNotReached        fewer members answered a round than ``min_answers``
        │   └── AllMembersFailed    every member of the first round failed; ``causes`` has each one
        ├── JudgeFailed             every judge failed; ``exceptions`` has each failure, ``raw`` kept
        └── StructuredOutputError   no answer valid under the run's ``response_format``; ``raw`` kept

A failure of several parts is ExceptionGroup-style: ``exceptions`` holds each cause as an exception
(not a subclass of ``ExceptionGroup``, which ``except*`` would split and anyio/Starlette would
unwrap when it holds one cause). Every error pickles (``__reduce__``), so LangGraph Server and
multiprocess users can send it between processes.
"""

from __future__ import annotations

import pickle
from collections.abc import Sequence
from typing import Any

__all__ = [
    "AllMembersFailed",
    "ConfigError",
    "FusionError",
    "FusionRunError",
    "JudgeFailed",
    "MemberFailed",
    "ProviderNotInstalled",
    "QuorumNotReached",
    "StructuredOutputError",
    "ThreadConflict",
]


def _rebuild(cls: type[BaseException], args: tuple[Any, ...], kwargs: dict[str, Any]) -> BaseException:
    """Unpickle an error by calling its constructor again."""
    return cls(*args, **kwargs)


def _portable(exc: BaseException) -> BaseException:
    """``exc`` if it survives a pickle round trip, else a :class:`FusionRunError` that names it."""
    try:
        pickle.loads(pickle.dumps(exc))
    except Exception:  # noqa: BLE001 - any third-party error that cannot travel is described instead
        return FusionRunError(f"{type(exc).__module__}.{type(exc).__qualname__}: {exc}")
    return exc


class FusionError(Exception):
    """Base class of every error raised by fusion-graph."""

    def _init_args(self) -> tuple[tuple[Any, ...], dict[str, Any]]:
        """The constructor's arguments that rebuild this error (subclasses with fields override)."""
        return self.args, {}

    def __reduce__(self) -> tuple[Any, ...]:
        """Pickle as a constructor call, plus any attributes added later (e.g. ``__notes__``)."""
        args, kwargs = self._init_args()
        return _rebuild, (type(self), args, kwargs), dict(self.__dict__)


class ConfigError(FusionError, ValueError):
    """An invalid configuration or request.

    Attributes:
        field: The dotted path of the offending field (e.g. ``pool[1].model``).
        problem: What is wrong.
        fix: What to do about it.
    """

    def __init__(self, field: str, problem: str, fix: str | None = None) -> None:
        self.field = field
        self.problem = problem
        self.fix = fix
        message = f"{field}: {problem}"
        if fix:
            message += f" — {fix}"
        super().__init__(message)

    def _init_args(self) -> tuple[tuple[Any, ...], dict[str, Any]]:
        return (self.field, self.problem, self.fix), {}


class ProviderNotInstalled(ConfigError):
    """The optional extra that a provider needs is not installed."""

    def __init__(self, field: str, provider: str, extra: str) -> None:
        self.provider = provider
        self.extra = extra
        super().__init__(
            field,
            f"the '{provider}' provider needs an optional dependency that is not installed",
            f"install it with: pip install 'fusion-graph[{extra}]'",
        )

    def _init_args(self) -> tuple[tuple[Any, ...], dict[str, Any]]:
        return (self.field, self.provider, self.extra), {}


class ThreadConflict(ConfigError):
    """A run's input does not fit its thread.

    Raised when an interrupted thread is given a different prompt (resume it with the same prompt
    or none, or use a new thread), or when a whole conversation sent to the server does not
    continue the thread's messages. The server answers 409.

    Attributes:
        thread_id: The thread.
    """

    def __init__(self, field: str, problem: str, fix: str, thread_id: str) -> None:
        self.thread_id = thread_id
        super().__init__(field, problem, fix)

    def _init_args(self) -> tuple[tuple[Any, ...], dict[str, Any]]:
        return (self.field, self.problem, self.fix or "", self.thread_id), {}


class FusionRunError(FusionError, RuntimeError):
    """A fusion could not produce an answer."""


class MemberFailed(FusionRunError):
    """One pool member failed.

    Never raised on its own: a failed member is kept as a candidate with ``error`` and
    ``error_kind`` set, and the fusion goes on with the others. When too few members answered, the
    gather step raises :class:`QuorumNotReached` or :class:`AllMembersFailed`, whose ``causes``
    (and ``exceptions``) hold one ``MemberFailed`` per member that did not answer.

    Attributes:
        member: The member's name.
        round: The round in which it failed (0 is the first answer).
        kind: A short category: ``timeout``, ``error``, ``empty``, ``cancelled``, ``budget``.
        detail: What went wrong.
    """

    def __init__(self, member: str, round: int, kind: str, message: str) -> None:
        self.member = member
        self.round = round
        self.kind = kind
        self.detail = message
        super().__init__(f"member {member!r} failed in round {round} ({kind}): {message}")

    def _init_args(self) -> tuple[tuple[Any, ...], dict[str, Any]]:
        return (self.member, self.round, self.kind, self.detail), {}


class QuorumNotReached(FusionRunError):
    """Fewer members answered a round than the quorum (``min_answers``) needs.

    Attributes:
        causes: One :class:`MemberFailed` per member that did not answer.
        exceptions: The same causes as a tuple, as ``ExceptionGroup.exceptions`` has them.
        answered: The members that answered.
        needed: The quorum.
        round: The round.
    """

    def __init__(
        self, causes: list[MemberFailed], *, answered: list[str], needed: int, round: int, message: str = ""
    ) -> None:
        self.causes = list(causes)
        self.answered = answered
        self.needed = needed
        self.round = round
        self.detail = message
        lines = "\n".join(f"  - {cause}" for cause in causes)
        head = message or f"round {round}: {len(answered)} of the {needed} answers needed ({answered})"
        super().__init__(f"{head}; failures:\n{lines}")

    @property
    def exceptions(self) -> tuple[MemberFailed, ...]:
        """Each member's failure, as an exception."""
        return tuple(self.causes)

    def _init_args(self) -> tuple[tuple[Any, ...], dict[str, Any]]:
        kwargs = {"answered": self.answered, "needed": self.needed, "round": self.round}
        return (self.causes,), {**kwargs, "message": self.detail}


class AllMembersFailed(QuorumNotReached):
    """Every member of the first round failed, so there is nothing to fuse.

    Attributes:
        causes: One :class:`MemberFailed` per member.
        exceptions: The same causes as a tuple, as ``ExceptionGroup.exceptions`` has them.
    """

    def __init__(self, causes: list[MemberFailed]) -> None:
        super().__init__(causes, answered=[], needed=1, round=0, message=f"all {len(causes)} members failed")

    def _init_args(self) -> tuple[tuple[Any, ...], dict[str, Any]]:
        return (self.causes,), {}


class JudgeFailed(FusionRunError):
    """The judge (and every fallback) failed to give a usable verdict.

    Attributes:
        judge: The model spec of the judge that failed last.
        problem: What went wrong, in one line.
        raw: The judge's raw output when it did not parse, else ``None``.
        causes: Each failed judge attempt, as text.
        exceptions: Each failed judge attempt as an exception (with its traceback), when the
            caller gave them: a provider error, a timeout, a verdict that did not parse.

    Example:
        >>> try:
        ...     await fusion.run("question")
        ... except JudgeFailed as exc:
        ...     for cause in exc.exceptions:
        ...         print(type(cause).__name__, cause)
    """

    def __init__(
        self,
        judge: str,
        message: str,
        *,
        raw: str | None = None,
        causes: list[str] | None = None,
        exceptions: Sequence[BaseException] = (),
    ) -> None:
        self.judge = judge
        self.problem = message
        self.raw = raw
        self.exceptions: tuple[BaseException, ...] = tuple(exceptions)
        if causes:
            self.causes = list(causes)
        elif self.exceptions:
            self.causes = [f"{type(exc).__name__}: {exc}" for exc in self.exceptions]
        else:
            self.causes = [message]
        super().__init__(f"judge {judge!r} failed: {message}")

    def _init_args(self) -> tuple[tuple[Any, ...], dict[str, Any]]:
        kwargs = {
            "raw": self.raw,
            "causes": self.causes,
            "exceptions": [_portable(exc) for exc in self.exceptions],
        }
        return (self.judge, self.problem), kwargs

    def __reduce__(self) -> tuple[Any, ...]:
        """Pickle with each cause that cannot travel replaced by a description of it."""
        args, kwargs = self._init_args()
        state = {k: v for k, v in self.__dict__.items() if k != "exceptions"}
        return _rebuild, (type(self), args, kwargs), state


class StructuredOutputError(FusionRunError):
    """The fusion could not give an answer valid under the run's ``response_format``.

    Raised instead of returning text that is not JSON of the schema: no member answered with a
    JSON object valid under it (each member's failure is in ``causes``), or a stored answer read
    back is not valid under the format asked for now.

    Attributes:
        problem: What went wrong, in one line.
        raw: The text that did not validate (the first member's), when there was one.
        causes: Why each answer was refused, e.g. ``"qwen: 'n' is a required property"``.
    """

    def __init__(self, problem: str, *, raw: str | None = None, causes: list[str] | None = None) -> None:
        self.problem = problem
        self.raw = raw
        self.causes = list(causes or [])
        detail = f" ({'; '.join(self.causes)})" if self.causes else ""
        super().__init__(f"no answer is valid under the response_format: {problem}{detail}")

    def _init_args(self) -> tuple[tuple[Any, ...], dict[str, Any]]:
        return (self.problem,), {"raw": self.raw, "causes": self.causes}
