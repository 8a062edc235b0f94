"""The one rule for a run on a saved thread: stored result, next turn, resume, or conflict.

Every entry point (``Fusion.run`` / ``Fusion.stream``, ``fusion run --thread-id``, ``fusion serve``
plain and streaming) reads the thread's checkpointed state and calls :func:`plan_thread`, which
decides from the thread's *messages* (never from LangGraph's ``next``, which leaves out tasks that
already wrote when a process died between a step's writes and its next checkpoint):

=====================  ========================================  =================================
thread                 input                                      what runs
=====================  ========================================  =================================
empty / unknown        messages                                   ``new``: the fusion, from START
finished               the same prompt (or none)                  ``stored``: no model is called
finished               a new prompt                               ``next``: only the new messages
                                                                   are appended, then a new turn
interrupted / failed   the same prompt (or none)                  ``resume`` from the checkpoint
interrupted / failed   a different prompt                         :class:`ThreadConflict`
=====================  ========================================  =================================

A thread is *finished* when its last message is a fused answer (an ``AIMessage`` named
``fusion``); otherwise its last turn was cut short (a crash, a kill, a failed step).

Inputs come in two shapes. A *turn* (the library and the CLI) is the new messages only, as
LangGraph threads take them; it is also accepted as the whole conversation when it starts with
the thread's messages. A *history* (the OpenAI-compatible server: clients send the whole
conversation every time) must start with the thread's messages; only the messages beyond them
are appended, and one that does not continue the thread is a :class:`ThreadConflict`. Messages
carry no ids over HTTP, so they are compared by role, text and tool calls.

A thread id is 1 to 200 ASCII letters, digits, ``_``, ``.``, ``:``, ``@`` or ``-``
(:data:`THREAD_ID_PATTERN`), checked by :func:`check_thread_id` wherever one comes in.

The graph applies the same rule (:func:`match_turn`) where input reaches the thread without
passing here (LangGraph Server, or ``graph.ainvoke`` on a checkpointed thread): its ``messages``
reducer (:func:`fusion_graph.state.add_turn`) appends only what is new, keeps the thread as it
is for the same prompt, and refuses a different prompt on an interrupted thread; its ``start``
node then ends at once on a finished thread and raises the :class:`ThreadConflict`.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from langchain_core.messages import AIMessage, AnyMessage, BaseMessage
from langchain_core.runnables import RunnableConfig

from fusion_graph.errors import ConfigError, ThreadConflict

__all__ = [
    "THREAD_ID_FIX",
    "THREAD_ID_MAX_LENGTH",
    "THREAD_ID_PATTERN",
    "ThreadAction",
    "ThreadPlan",
    "TurnMatch",
    "check_thread_id",
    "is_finished",
    "is_fused_answer",
    "match_turn",
    "plan_thread",
    "same_messages",
    "thread_conflict",
    "thread_id_problem",
]

ThreadAction = Literal["new", "stored", "next", "resume"]

THREAD_ID_MAX_LENGTH = 200
"""The longest thread id, in characters."""
THREAD_ID_PATTERN = r"^[A-Za-z0-9_.:@-]{1,200}$"
"""What a thread id may be: 1 to 200 ASCII letters, digits, ``_``, ``.``, ``:``, ``@`` or ``-``.

A thread id travels in URL paths (``GET /v1/fusions/{thread_id}``) and response headers
(``x-fusion-thread-id``), so it holds nothing that needs encoding there: UUIDs, ``fusion-<hex>``,
``user:42``, ``chat.7@team`` fit.
"""
_THREAD_ID = re.compile(THREAD_ID_PATTERN)


def thread_id_problem(value: object) -> str | None:
    """What is wrong with a thread id (``None`` when it is valid), for :func:`check_thread_id`."""
    if not isinstance(value, str):
        return f"must be a string, not {type(value).__name__}"
    if not value:
        return "is empty"
    if len(value) > THREAD_ID_MAX_LENGTH:
        return f"is {len(value)} characters long, more than {THREAD_ID_MAX_LENGTH}"
    if _THREAD_ID.fullmatch(value) is None:
        bad = next(c for c in value if _THREAD_ID.fullmatch(c) is None)
        return f"holds {bad!r}, which is not an ASCII letter, a digit or one of _ . : @ -"
    return None


THREAD_ID_FIX = "use 1 to 200 ASCII letters, digits and _ . : @ - (a UUID fits)"


def check_thread_id(value: object, field: str = "thread_id") -> str:
    """The thread id, checked against :data:`THREAD_ID_PATTERN`: the one rule of every entry point.

    ``Fusion.run`` / ``Fusion.stream`` / ``Fusion.plan`` (``thread_id=``), ``fusion run --thread-id``
    and ``fusion serve`` (the ``thread_id`` field, ``GET /v1/fusions/{thread_id}``) all check here.

    Raises:
        ConfigError: ``value`` is not a string of 1 to 200 allowed characters; ``field`` names it.

    Example:
        >>> check_thread_id("user:42")
        'user:42'
    """
    problem = thread_id_problem(value)
    if problem is not None:
        raise ConfigError(field, problem, THREAD_ID_FIX)
    return value  # pyright: ignore[reportReturnType]


_ROLES = {"human": "user", "ai": "assistant", "system": "system", "tool": "tool", "function": "tool"}


@dataclass(frozen=True)
class ThreadPlan:
    """What a run on a thread does, decided by :func:`plan_thread`.

    Attributes:
        action: ``new`` (a thread with no messages), ``stored`` (return the finished state; no
            model is called), ``next`` (append ``messages`` and run the next turn) or ``resume``
            (continue the interrupted run from its checkpoint; ``messages`` is empty).
        messages: The messages this run appends to the thread.
        values: The thread's state before the run (the finished state for ``stored``).
        config: The run config (with ``configurable.thread_id`` when there is a thread).
        pending: The nodes LangGraph would run next, shown when resuming (not used to decide).
    """

    action: ThreadAction
    messages: list[AnyMessage] = field(default_factory=list[AnyMessage])
    values: dict[str, Any] = field(default_factory=dict[str, Any])
    config: RunnableConfig = field(default_factory=lambda: RunnableConfig())
    pending: tuple[str, ...] = ()

    @property
    def inputs(self) -> dict[str, Any] | None:
        """The graph input, or ``None`` to resume (``None`` too for ``stored``).

        For ``next`` it is the thread's messages followed by the new ones, so the graph's
        ``messages`` reducer, which applies the same rule, appends exactly the new ones (given
        alone, a new turn that repeats the last one would read as that turn asked again).
        """
        if self.action == "new":
            return {"messages": self.messages}
        if self.action == "next":
            return {"messages": [*(self.values.get("messages") or []), *self.messages]}
        return None

    @property
    def thread_id(self) -> str | None:
        """The run's thread id, if it has one."""
        value = (self.config.get("configurable") or {}).get("thread_id")
        return str(value) if value is not None else None


def is_fused_answer(message: BaseMessage) -> bool:
    """Whether a message is a fusion's answer (the last message of a finished thread)."""
    return isinstance(message, AIMessage) and message.name == "fusion"


def is_finished(values: dict[str, Any] | None) -> bool:
    """Whether a thread's state ends with a fused answer, i.e. its last turn finished."""
    messages = (values or {}).get("messages") or []
    return bool(messages) and is_fused_answer(messages[-1]) and (values or {}).get("answer") is not None


def _text(content: Any) -> str:
    if isinstance(content, str):
        return content.strip()
    parts: list[str] = []
    for block in content if isinstance(content, list) else [content]:
        if isinstance(block, str):
            parts.append(block)
        elif isinstance(block, dict) and block.get("type") == "text":  # pyright: ignore[reportUnknownMemberType]
            parts.append(str(block.get("text", "")))  # pyright: ignore[reportUnknownMemberType, reportUnknownArgumentType]
        else:
            parts.append(json.dumps(block, sort_keys=True, default=str))
    return "".join(parts).strip()


def _key(message: BaseMessage) -> tuple[str, str, str]:
    """What identifies a message without ids: its role, its text and its tool calls (name, args)."""
    calls = getattr(message, "tool_calls", None) or []
    shown = json.dumps([[c.get("name"), c.get("args")] for c in calls], sort_keys=True, default=str)
    return _ROLES.get(message.type, message.type), _text(message.content), shown


def same_messages(left: Sequence[BaseMessage], right: Sequence[BaseMessage]) -> bool:
    """Whether two conversations hold the same messages (by role, text and tool calls)."""
    return len(left) == len(right) and all(_key(a) == _key(b) for a, b in zip(left, right, strict=True))


def _first_difference(stored: Sequence[BaseMessage], given: Sequence[BaseMessage]) -> int:
    for index, (a, b) in enumerate(zip(stored, given, strict=False)):
        if _key(a) != _key(b):
            return index
    return min(len(stored), len(given))


def _turn_start(stored: Sequence[BaseMessage], end: int) -> int:
    """Where the turn that ends before ``end`` begins: just after the previous fused answer."""
    for index in range(end - 1, -1, -1):
        if is_fused_answer(stored[index]):
            return index + 1
    return 0


def _preview(messages: Sequence[BaseMessage]) -> str:
    asked = [m for m in messages if m.type == "human"] or list(messages)
    text = _text(asked[-1].content) if asked else ""
    return repr(text if len(text) <= 60 else text[:57] + "...")


TurnMatch = Literal["new", "stored", "next", "resume", "conflict"]


def match_turn(
    stored: Sequence[BaseMessage],
    given: Sequence[BaseMessage],
    *,
    finished: bool,
    history: bool = False,
) -> tuple[TurnMatch, list[BaseMessage]]:
    """The rule on messages alone: what ``given`` does to a thread holding ``stored``.

    Used by :func:`plan_thread` (in front of the graph) and by the graph's ``messages`` reducer
    (:func:`fusion_graph.state.add_turn`, for input applied to the thread before any node runs,
    as LangGraph Server does), so both decide alike.

    Args:
        stored: The thread's messages.
        given: The input messages.
        finished: Whether the thread's last turn was answered.
        history: ``given`` is the whole conversation (see :func:`plan_thread`).

    Returns:
        The action (``conflict`` where :func:`plan_thread` raises) and the messages to append.
    """
    if not stored:
        return "new", list(given)
    if finished:
        asked = stored[:-1]  # the conversation the stored answer answers
        last_turn = stored[_turn_start(stored, len(stored) - 1) : -1]
        if (
            not given
            or same_messages(given, asked)
            or same_messages(given, stored)
            or (not history and same_messages(given, last_turn))
        ):
            return "stored", []
        if len(given) > len(stored) and same_messages(given[: len(stored)], stored):
            return "next", list(given[len(stored) :])
        return ("conflict", []) if history else ("next", list(given))
    pending = stored[_turn_start(stored, len(stored)) :]
    if not given or same_messages(given, stored) or (not history and same_messages(given, pending)):
        return "resume", []
    return "conflict", []


def thread_conflict(
    stored: Sequence[BaseMessage],
    given: Sequence[BaseMessage],
    *,
    finished: bool,
    thread_id: str,
    history: bool = False,
    field: str = "prompt",
) -> ThreadConflict:
    """The error for input that :func:`match_turn` found in ``conflict``: what differs, and the fix."""
    if finished:
        index = _first_difference(stored, given)
        return ThreadConflict(
            field,
            f"the conversation does not continue thread {thread_id!r}: "
            + (
                f"its message {index} differs from the thread's"
                if index < min(len(stored), len(given))
                else f"it has {len(given)} messages, the thread holds {len(stored)}"
            ),
            f"send the thread's {len(stored)} messages unchanged followed by the new ones, "
            "or start a new thread with another thread_id",
            thread_id,
        )
    pending = stored[_turn_start(stored, len(stored)) :]
    return ThreadConflict(
        field,
        f"thread {thread_id!r} was interrupted before it answered {_preview(pending)}, "
        "and this run asks something else",
        f"resume the thread by sending the same {field} again{'' if history else ' (or none)'}, "
        "or ask this in a new thread with another thread_id",
        thread_id,
    )


def plan_thread(
    values: dict[str, Any] | None,
    messages: Sequence[AnyMessage] | None,
    *,
    thread_id: str,
    history: bool = False,
    field: str = "prompt",
) -> ThreadPlan:
    """Decide what a run on a thread does, from the thread's state and the run's input.

    Args:
        values: The thread's checkpointed state values (empty for a new thread).
        messages: The run's input messages; ``None`` or empty to resume or read back the thread.
        thread_id: The thread, named in errors.
        history: The input is the whole conversation (OpenAI clients): it must start with the
            thread's messages. Otherwise it is the new turn (or the whole conversation).
        field: The input's name in errors (``prompt``, ``messages``).

    Returns:
        The plan, without its run config (the caller adds it).

    Raises:
        ThreadConflict: The thread was interrupted and the input asks something else, or (with
            ``history``) the conversation does not continue the thread's.
        ConfigError: No input was given and the thread has nothing to resume or read back.
    """
    values = dict(values or {})
    stored: list[AnyMessage] = list(values.get("messages") or [])
    given: list[AnyMessage] = list(messages or [])
    if not stored and not given:
        raise ConfigError(field, f"thread {thread_id!r} has no run to resume or read back", f"pass a {field}")
    finished = is_finished(values)
    action, appended = match_turn(stored, given, finished=finished, history=history)
    if action == "conflict":
        raise thread_conflict(
            stored, given, finished=finished, thread_id=thread_id, history=history, field=field
        )
    return ThreadPlan(action, appended, values)  # pyright: ignore[reportArgumentType]
