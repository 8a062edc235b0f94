"""Errors raised by fusion-graph.

Developer mistakes are kept apart from run failures::

    FusionError                     base of every error this package raises
    ├── ConfigError                 invalid configuration or request: names the field and the fix
    │   ├── ProviderNotInstalled    a provider's optional extra is missing
    │   └── ThreadConflict          a run's input does not fit its thread (409 on the server)
    └── FusionRunError              a fusion could not produce an answer
        ├── MemberFailed            one member failed (carried inside results, raised only on request)
        ├── QuorumNotReached        fewer members answered a round than ``min_answers``
        │   └── AllMembersFailed    every member of the first round failed; ``causes`` has each one
        └── JudgeFailed             the judge call failed or its output did not parse; ``raw`` kept
"""

from __future__ import annotations

__all__ = [
    "AllMembersFailed",
    "ConfigError",
    "FusionError",
    "FusionRunError",
    "JudgeFailed",
    "MemberFailed",
    "ProviderNotInstalled",
    "QuorumNotReached",
    "ThreadConflict",
]


class FusionError(Exception):
    """Base class of every error raised by fusion-graph."""


class ConfigError(FusionError, ValueError):
    """An invalid configuration or request.

    Attributes:
        field: The dotted path of the offending field (e.g. ``pool[1].model``).
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

    def __reduce__(self) -> tuple[type[ThreadConflict], tuple[str, str, str, str]]:
        """Pickle by the constructor's arguments (LangGraph Server and worker processes)."""
        return type(self), (self.field, self.problem, self.fix or "", self.thread_id)


class FusionRunError(FusionError, RuntimeError):
    """A fusion could not produce an answer."""


class MemberFailed(FusionRunError):
    """One pool member failed.

    Attributes:
        member: The member's name.
        round: The round in which it failed (0 is the first answer).
        kind: A short category: ``timeout``, ``error``, ``empty``, ``cancelled``, ``budget``.
    """

    def __init__(self, member: str, round: int, kind: str, message: str) -> None:
        self.member = member
        self.round = round
        self.kind = kind
        super().__init__(f"member {member!r} failed in round {round} ({kind}): {message}")


class QuorumNotReached(FusionRunError):
    """Fewer members answered a round than the quorum (``min_answers``) needs.

    Attributes:
        causes: One :class:`MemberFailed` per member that did not answer.
        answered: The members that answered.
        needed: The quorum.
        round: The round.
    """

    def __init__(
        self, causes: list[MemberFailed], *, answered: list[str], needed: int, round: int, message: str = ""
    ) -> None:
        self.causes = causes
        self.answered = answered
        self.needed = needed
        self.round = round
        lines = "\n".join(f"  - {cause}" for cause in causes)
        head = message or f"round {round}: {len(answered)} of the {needed} answers needed ({answered})"
        super().__init__(f"{head}; failures:\n{lines}")


class AllMembersFailed(QuorumNotReached):
    """Every member of the first round failed, so there is nothing to fuse.

    Attributes:
        causes: One :class:`MemberFailed` per member.
    """

    def __init__(self, causes: list[MemberFailed]) -> None:
        super().__init__(causes, answered=[], needed=1, round=0, message=f"all {len(causes)} members failed")


class JudgeFailed(FusionRunError):
    """The judge (and every fallback) failed to give a usable verdict.

    Attributes:
        judge: The model spec of the judge that failed last.
        raw: The judge's raw output when it did not parse, else ``None``.
        causes: Each failed judge attempt, as text.
    """

    def __init__(
        self, judge: str, message: str, *, raw: str | None = None, causes: list[str] | None = None
    ) -> None:
        self.judge = judge
        self.raw = raw
        self.causes = causes or [message]
        super().__init__(f"judge {judge!r} failed: {message}")
