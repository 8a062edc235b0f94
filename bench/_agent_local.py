"""The REAL local-model rows of ``bench/agent.py --local``: the bundled models drive the agent.

Tiny models call tools reliably only when the call is forced by a grammar, so every row forces the
tool choice (``tool_choice="any"``, which the local provider turns into a llama.cpp grammar over
the tools). A forced step is always a tool call, so the agent cannot end with a text answer: it
ends by calling ``answer(account, balance)``, a ``return_direct`` tool. A task succeeds when the
executed calls are exactly the plan (each transfer once, in order, then ``get_balance``) followed
by one ``answer`` with the right account and balance. Any step past the plan runs a wrong call
and already fails the task; ``ModelCallLimitMiddleware`` caps the steps at the plan + answer + 2
so a looping model stops (such a task is failed and counted under "capped").

Rows: Qwen2.5-Coder-0.5B alone; ``FusionMiddleware(when="disagree")`` with Qwen as the agent's
model and SmolLM2-135M as the second opinion (the first member, Qwen with the same seed, would
always agree with the agent's own Qwen); ``FusionChatModel`` at every step. The pool is
``pool_config()`` (Qwen + SmolLM2, the Qwen judge, best-of) with one thread per model.

Model calls are counted by wrapping ``LocalChatModel``'s async calls for the run (the fusion runs
apart from the agent's callbacks, so they cannot count its members' and judge's calls).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol

from _common import load_note
from _quality_stats import wilson
from langchain.agents import create_agent
from langchain.agents.middleware import (
    AgentMiddleware,
    ModelCallLimitMiddleware,
    ModelRequest,
    ModelResponse,
)
from langchain_core.messages import AIMessage, BaseMessage
from langchain_core.tools import BaseTool, tool

from fusion_graph import FusionChatModel, FusionConfig, FusionMiddleware
from fusion_graph.defaults import pool_config
from fusion_graph.providers.local import LocalChatModel

THREADS = 1
SLACK = 2
LIMIT_TEXT = "Model call limits exceeded"
SYSTEM = (
    "You manage a user's accounts with the tools. Call transfer once for each move the user asks "
    "for, in the order given; then call get_balance for the account the user asks about; then call "
    "answer with that account and the balance get_balance returned."
)
QWEN = {"model": "qwen2.5-coder-0.5b", "n_ctx": 4096, "temperature": 0.2, "seed": 7, "n_threads": THREADS}


class TaskLike(Protocol):
    """``bench/agent.py``'s ``Task`` (read-only)."""

    @property
    def index(self) -> int: ...
    @property
    def start(self) -> dict[str, int]: ...
    @property
    def plan(self) -> tuple[tuple[str, dict[str, Any]], ...]: ...
    @property
    def account(self) -> str: ...
    @property
    def balance(self) -> int: ...
    @property
    def prompt(self) -> str: ...


class LedgerLike(Protocol):
    """``bench/agent.py``'s ``Ledger``: the tools and the calls they ran."""

    ran: list[tuple[str, dict[str, Any]]]

    def tools(self) -> list[BaseTool]: ...


class ForceTools(AgentMiddleware):
    """Every step must call a tool (``tool_choice="any"``); outermost, so fusion sees it too."""

    async def awrap_model_call(
        self,
        request: ModelRequest[Any],
        handler: Callable[[ModelRequest[Any]], Awaitable[ModelResponse[Any]]],
    ) -> ModelResponse[Any]:
        return await handler(request.override(tool_choice="any"))


@dataclass
class Outcome:
    ok: bool
    capped: bool
    steps: int
    calls: int
    tokens: int
    seconds: float
    trace: str


@dataclass
class Row:
    name: str
    build: Callable[[list[BaseTool], int], Any]
    outcomes: list[Outcome] = field(default_factory=list)


def local_pool() -> FusionConfig:
    """``pool_config()`` with one thread for every member and the judge."""
    config = pool_config()
    judge = config.judge
    assert judge is not None  # pool_config() has one
    pool = [m.model_copy(update={"params": {**m.params, "n_threads": THREADS}}) for m in config.pool]
    judge = judge.model_copy(update={"params": {**judge.params, "n_threads": THREADS}})
    return config.replace(pool=pool, judge=judge)


def local_rows(pool: FusionConfig) -> list[Row]:
    def agent(
        model: Any, *middleware: AgentMiddleware[Any, Any, Any]
    ) -> Callable[[list[BaseTool], int], Any]:
        def build(tools: list[BaseTool], cap: int) -> Any:
            limit = ModelCallLimitMiddleware(run_limit=cap, exit_behavior="end")
            stack: list[AgentMiddleware[Any, Any, Any]] = [ForceTools(), *middleware, limit]
            return create_agent(model(), tools, system_prompt=SYSTEM, middleware=stack)

        return build

    def qwen() -> LocalChatModel:
        return LocalChatModel(**QWEN)

    disagree = FusionMiddleware(pool, when="disagree", second_opinion="smollm2-135m")
    return [
        Row("Qwen alone (forced tools)", agent(qwen)),
        Row("FusionMiddleware when=disagree", agent(qwen, disagree)),
        Row("FusionChatModel every step", agent(lambda: FusionChatModel(pool))),
    ]


@contextlib.contextmanager
def counting_calls() -> Iterator[list[int]]:
    """Count every async call of a ``LocalChatModel`` (agent, members, judge) while inside."""
    count = [0]
    agenerate, astream = LocalChatModel._agenerate, LocalChatModel._astream

    async def counted_agenerate(self: LocalChatModel, *args: Any, **kwargs: Any) -> Any:
        count[0] += 1
        return await agenerate(self, *args, **kwargs)

    async def counted_astream(self: LocalChatModel, *args: Any, **kwargs: Any) -> AsyncIterator[Any]:
        count[0] += 1
        async for chunk in astream(self, *args, **kwargs):
            yield chunk

    LocalChatModel._agenerate = counted_agenerate  # type: ignore[method-assign]
    LocalChatModel._astream = counted_astream  # type: ignore[method-assign]
    try:
        yield count
    finally:
        LocalChatModel._agenerate = agenerate  # type: ignore[method-assign]
        LocalChatModel._astream = astream  # type: ignore[method-assign]


def _step(message: AIMessage) -> str:
    """One step for the trace: its calls, and how a fused step was decided (``decided_by``)."""
    calls = "+".join(f"{c['name']}({','.join(map(str, c['args'].values()))})" for c in message.tool_calls)
    fusion = message.response_metadata.get("fusion")
    step = message.response_metadata.get("fusion_step") or {}
    if isinstance(fusion, dict):
        calls += f"[{fusion.get('decided_by')}]"
    elif step.get("fused") is False:
        calls += "[agreed]"
    return calls or repr(message.text[:40])


def _tokens(messages: Sequence[BaseMessage]) -> int:
    return sum((m.usage_metadata or {}).get("total_tokens", 0) for m in messages if isinstance(m, AIMessage))


async def run_task(row: Row, task: TaskLike, ledger: LedgerLike, count: list[int]) -> Outcome:
    answers: list[tuple[str, int]] = []

    @tool(return_direct=True)
    def answer(account: str, balance: int) -> str:
        """Tell the user the balance of the account they asked about. This ends the task."""
        answers.append((account, balance))
        return f"The {account} balance is {balance}."

    cap = len(task.plan) + 1 + SLACK
    agent = row.build([*ledger.tools(), answer], cap)
    before, started = count[0], time.perf_counter()
    out = await agent.ainvoke({"messages": [("user", task.prompt)]}, {"recursion_limit": 4 * cap + 10})
    seconds = time.perf_counter() - started
    messages: list[BaseMessage] = out["messages"]
    capped = any(isinstance(m, AIMessage) and m.text.startswith(LIMIT_TEXT) for m in messages)
    steps = sum(1 for m in messages if isinstance(m, AIMessage) and not m.text.startswith(LIMIT_TEXT))
    ok = ledger.ran == list(task.plan) and answers == [(task.account, task.balance)]
    trace = " ".join(
        _step(m) for m in messages if isinstance(m, AIMessage) and not m.text.startswith(LIMIT_TEXT)
    )
    return Outcome(ok, capped, steps, count[0] - before, _tokens(messages), seconds, trace)


def _mean(values: Sequence[float]) -> float:
    return sum(values) / len(values) if values else 0.0


def report(made: Sequence[Row]) -> list[str]:
    lines = [
        "steps per task (calls with their arguments; [decided_by] of a fused step, [agreed] when "
        "disagree's second opinion agreed):"
    ]
    for row in made:
        lines.append(f"  {row.name}")
        lines += [f"    {'ok ' if o.ok else 'no '}{o.trace}" for o in row.outcomes]
    lines += [
        "",
        f"{'row':32} {'success':>7} {'95% CI (Wilson)':>16} {'steps':>6} {'calls':>6} {'tokens':>7} "
        f"{'s/task':>7} {'capped':>6}",
    ]
    for row in made:
        done = row.outcomes
        k, n = sum(o.ok for o in done), len(done)
        low, high = wilson(k, n)
        lines.append(
            f"{row.name:32} {f'{k}/{n}':>7} {f'[{low:.3f}, {high:.3f}]':>16} "
            f"{_mean([o.steps for o in done]):6.2f} {_mean([o.calls for o in done]):6.2f} "
            f"{_mean([o.tokens for o in done]):7.0f} {_mean([o.seconds for o in done]):7.1f} "
            f"{sum(o.capped for o in done):6d}"
        )
    return lines


async def run_local(
    args: argparse.Namespace,
    tasks: Sequence[TaskLike],
    ledger: Callable[[dict[str, int]], LedgerLike],
    commit: str,
) -> list[str]:
    """The local table: every row on every task, one task at a time."""
    pool = local_pool()
    judge = pool.judge
    plan_steps = _mean([len(t.plan) + 1 for t in tasks])
    head = [
        f"bench/agent.py --local at commit {commit}, {datetime.now(UTC):%Y-%m-%d %H:%M} UTC: "
        f"{len(tasks)} tasks, seed {args.seed}, "
        f"at most {args.max_transfers} transfer(s) per task; {load_note()}",
        "REAL local models (llama.cpp in this process, CPU, n_threads=1 each, one task at a time): "
        f"the agent's own model {QWEN['model']} (temperature {QWEN['temperature']}, seed {QWEN['seed']}); "
        f"pool {', '.join(f'{m.name} ({m.model})' for m in pool.pool)}, judge "
        f"{judge.name if judge else None} ({judge.model if judge else None}), mode {pool.mode}; "
        "disagree's second opinion: smollm2-135m.",
        "Every step is a forced tool call (tool_choice='any', a llama.cpp grammar); the agent ends by "
        f"calling answer(account, balance) (return_direct). Tasks: transfers + get_balance + answer "
        f"(mean {plan_steps:.2f} steps); success = exactly the planned calls ran, then answer with the "
        f"right account and balance. Step cap: plan + {SLACK} (capped = stopped by it, failed).",
        "calls: LocalChatModel calls per task (agent, members, judge); tokens: the models' own (prompt + "
        "completion) from the agent messages' usage_metadata; s/task: wall time per task.",
        "",
    ]
    print("\n".join(head), flush=True)
    made = local_rows(pool)
    begun = time.perf_counter()
    with counting_calls() as count:
        for row in made:
            started = time.perf_counter()
            for task in tasks:
                row.outcomes.append(await run_task(row, task, ledger(dict(task.start)), count))
                o = row.outcomes[-1]
                print(
                    f"    task {task.index}: ok={o.ok} calls={o.calls} {o.seconds:.1f} s: {o.trace}",
                    flush=True,
                )
            print(f"  {row.name}: {time.perf_counter() - started:.1f} s", flush=True)
    took = time.perf_counter() - begun
    end = f"the run took {took / 60:.1f} min; cores: {os.cpu_count()}; {load_note()} at the end"
    lines = [*head, *report(made), "", end]
    print("\n".join(lines[len(head) :]), flush=True)
    return lines
