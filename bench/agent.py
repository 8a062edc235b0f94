"""Agent steps: a single model, fusion at every step, or FusionMiddleware fusing only some steps.

Every row is a real ``langchain.agents.create_agent`` agent that runs real tools (``transfer`` and
``get_balance`` on a per-task ledger) over scripted multi-step tasks with known end states:

    "[task 7] Starting balances: checking 300, savings 120, travel 80, rent 500, gifts 40. Move 40
     from checking to savings, then 25 from savings to travel. Then tell me the travel balance."

A task succeeds when the agent's executed tool calls are exactly the plan (each transfer once, in
order, then one ``get_balance``) and its last message states the right balance.

Simulated members (the default): every model is an ``OpenAIStubServer`` model over
real loopback HTTP whose turn is chosen by a policy that reads the conversation (how many tool
results it holds) and answers the plan's next step, right with a set per-step accuracy or wrong:

- a step is *hard for everyone* with probability ``--shared`` (the same wrong call or answer from
  every model: members fail together), and each model also errs on its own with its own rate, each
  model with its own wrong call;
- the judge sees the candidates (LangGraph fusion's real judge prompt) and picks a right one with
  probability ``--judge`` when there is one, the same pick in either order (its errors are about
  content); the fusion's decision rule is the library's own.

Tokens are the stub's (one token per word of the messages, not of the tool schemas), summed from the
``usage_metadata`` of the agent's messages: a FusionMiddleware step counts what it dropped (the
agent's own answer, the second opinion) too. Model calls are the HTTP requests the stub served for
the task. Wall time is per task, with ``--concurrency`` tasks at a time and the stub in a thread of
this process: compare rows, not absolute values.

    PYTHONPATH=$PWD .venv/bin/python bench/agent.py [--tasks 60] [--seed 1] [--out docs/results/agent.txt]

``--local`` runs REAL local models instead (Qwen2.5-Coder-0.5B alone, FusionMiddleware
``when="disagree"`` and FusionChatModel over the bundled pool, every step a forced tool call; see
``bench/_agent_local.py``); slow on a CPU, so 10 tasks of one transfer by default:

    PYTHONPATH=$PWD .venv/bin/python bench/agent.py --local [--tasks 10] [--out docs/results/agent_local.txt]
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import random
import re
import subprocess
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

from _common import load_note
from _quality_stats import wilson
from langchain.agents import create_agent
from langchain_core.messages import AIMessage, BaseMessage
from langchain_core.tools import BaseTool, tool
from langchain_openai import ChatOpenAI

from fusion_graph import FusionChatModel, FusionConfig, FusionMiddleware, Judge, Member
from fusion_graph.testing import ModelScript, OpenAIStubServer, Turn

KEY = "sk-bench"
ACCOUNTS = ("checking", "savings", "travel", "rent", "gifts")
TASK_ID = re.compile(r"\[task (\d+)\]")
BLOCK = re.compile(r"^\[(answer_\d+)\]\n(.*?)\n\[end of \1\]", re.DOTALL | re.MULTILINE)
Call = tuple[str, dict[str, Any]]


# ------------------------------------------------------------------------------------------ tasks


@dataclass(frozen=True)
class Task:
    """One task: the prompt, the calls that solve it, and the answer."""

    index: int
    start: dict[str, int]
    plan: tuple[Call, ...]
    account: str
    balance: int

    @property
    def prompt(self) -> str:
        starting = ", ".join(f"{name} {value}" for name, value in self.start.items())
        moves = ", then ".join(
            f"{args['amount']} from {args['source']} to {args['target']}"
            for name, args in self.plan
            if name == "transfer"
        )
        return (
            f"[task {self.index}] Starting balances: {starting}. Move {moves}. "
            f"Then tell me the {self.account} balance."
        )

    @property
    def answer(self) -> str:
        return f"The {self.account} balance is {self.balance}."


def make_tasks(seed: int, count: int, max_transfers: int = 3) -> list[Task]:
    """``count`` tasks of 1 to ``max_transfers`` transfers and a balance check, then the answer."""
    tasks = []
    for index in range(count):
        rng = _rng(seed, "task", index)
        start = {name: rng.randrange(10, 60) * 10 for name in ACCOUNTS}
        ledger = dict(start)
        plan: list[Call] = []
        for _ in range(rng.choice(range(1, max_transfers + 1))):
            source = rng.choice([name for name in ACCOUNTS if ledger[name] >= 20])
            target = rng.choice([name for name in ACCOUNTS if name != source])
            amount = rng.randrange(1, ledger[source] // 5) * 5
            ledger[source] -= amount
            ledger[target] += amount
            plan.append(("transfer", {"source": source, "target": target, "amount": amount}))
        account = plan[-1][1]["target"]
        plan.append(("get_balance", {"account": account}))
        tasks.append(Task(index, start, tuple(plan), account, ledger[account]))
    return tasks


def _rng(seed: int, *key: object) -> random.Random:
    digest = hashlib.sha256(repr((seed, *key)).encode()).digest()
    return random.Random(int.from_bytes(digest[:8], "big"))


def _draw(seed: int, *key: object) -> float:
    return _rng(seed, *key).random()


# -------------------------------------------------------------------------------- simulated models


@dataclass(frozen=True)
class Sim:
    """The simulation's settings: per-step error rates and the judge's accuracy."""

    seed: int
    shared: float
    own_error: dict[str, float]
    judge: float


def _task_of(text: str, tasks: Sequence[Task]) -> Task:
    match = TASK_ID.search(text)
    if match is None:
        raise ValueError("no task id in the request")
    return tasks[int(match.group(1))]


def _wrong(task: Task, step: int, variant: int) -> Turn:
    """The ``variant``-th wrong turn for a step (0: the one every model makes when it is hard)."""
    off = 10 * (variant + 1)
    if step < len(task.plan):
        name, args = task.plan[step]
        if name == "transfer":
            return Turn(tool_calls=[{"name": name, "arguments": {**args, "amount": args["amount"] + off}}])
        others = [a for a in ACCOUNTS if a != args["account"]]
        return Turn(tool_calls=[{"name": name, "arguments": {"account": others[variant % len(others)]}}])
    return Turn(reply=f"The {task.account} balance is {task.balance + off}.")


def _right(task: Task, step: int) -> Turn:
    if step < len(task.plan):
        name, args = task.plan[step]
        return Turn(tool_calls=[{"name": name, "arguments": dict(args)}])
    return Turn(reply=task.answer)


def policy(sim: Sim, tasks: Sequence[Task], body: dict[str, Any]) -> Turn:
    """A simulated model's turn: the plan's next step, right or wrong (see the module docstring)."""
    messages = body["messages"]
    task = _task_of(" ".join(str(m.get("content")) for m in messages if m.get("role") == "user"), tasks)
    step = sum(1 for m in messages if m.get("role") == "tool")
    model = body["model"]
    if _draw(sim.seed, "shared", task.index, step) < sim.shared:
        return _wrong(task, step, 0)
    if _draw(sim.seed, model, task.index, step) < sim.own_error[model]:
        return _wrong(task, step, 1 + sorted(sim.own_error).index(model))
    return _right(task, step)


def judge_pick(sim: Sim, tasks: Sequence[Task], prompt: str, options: list[str] | None) -> str:
    """A judge that picks a right candidate with probability ``sim.judge`` when one is there."""
    task = _task_of(prompt, tasks)
    conversation = prompt.split("</conversation>", 1)[0]
    step = sum(1 for part in conversation.split("\n\n") if part.startswith("tool: "))
    turn = _right(task, step)
    if turn.tool_calls:
        call = turn.tool_calls[0]
        needle = f"(asks to call) {call['name']}({call['arguments']!r})"
    else:
        needle = task.answer
    # Candidates by content, not by position: the judge picks the same answer whatever order it is
    # shown them in (its mistakes are about content; position bias is not simulated).
    blocks = sorted(BLOCK.findall(prompt), key=lambda block: (block[1], block[0]))
    right = [label for label, text in blocks if needle in text]
    wrong = [label for label, text in blocks if needle not in text]
    shown = tuple(sorted({text for _, text in blocks}))
    if right and (not wrong or _draw(sim.seed, "judge", task.index, step, shown) < sim.judge):
        return right[0]
    return wrong[0] if wrong else "answer_1"


def stub_models(sim: Sim, tasks: Sequence[Task]) -> dict[str, ModelScript]:
    models = {name: ModelScript(respond=partial(policy, sim, tasks)) for name in sim.own_error}
    models["judge"] = ModelScript(judge=True, judge_pick=partial(judge_pick, sim, tasks))
    return models


# ------------------------------------------------------------------------------------------- rows


@dataclass
class Ledger:
    """One task's accounts and the tool calls the agent ran."""

    balances: dict[str, int]
    ran: list[Call] = field(default_factory=list)

    def tools(self) -> list[BaseTool]:
        @tool
        def transfer(source: str, target: str, amount: int) -> str:
            """Move an amount of money from one account to another."""
            self.ran.append(("transfer", {"source": source, "target": target, "amount": amount}))
            if source not in self.balances or target not in self.balances:
                return "error: unknown account"
            if amount <= 0 or self.balances[source] < amount:
                return f"error: {source} holds {self.balances[source]}, cannot move {amount}"
            self.balances[source] -= amount
            self.balances[target] += amount
            return f"moved {amount} from {source} to {target}"

        @tool
        def get_balance(account: str) -> str:
            """The balance of an account."""
            self.ran.append(("get_balance", {"account": account}))
            return str(self.balances.get(account, "error: unknown account"))

        return [transfer, get_balance]


@dataclass
class Outcome:
    ok: bool
    steps: int
    calls: int
    tokens: int
    seconds: float


@dataclass
class Row:
    name: str
    build: Callable[[list[BaseTool]], Any]
    outcomes: list[Outcome] = field(default_factory=list)


SYSTEM = "You manage a user's accounts with the tools. Make each transfer once, then answer in one sentence."
WHENS = ("always", "final", "tools", "disagree")


def rows(base_url: str, pool: FusionConfig) -> list[Row]:
    def own() -> ChatOpenAI:
        return ChatOpenAI(model="agent", base_url=base_url, api_key=KEY, max_retries=0)  # type: ignore[arg-type]

    def middleware(when: Any) -> Callable[[list[BaseTool]], Any]:
        fusion = FusionMiddleware(pool, when=when)
        return lambda tools: create_agent(own(), tools, system_prompt=SYSTEM, middleware=[fusion])

    made = [
        Row("single model (agent)", lambda tools: create_agent(own(), tools, system_prompt=SYSTEM)),
        Row(
            "FusionChatModel every step",
            lambda tools: create_agent(FusionChatModel(pool), tools, system_prompt=SYSTEM),
        ),
    ]
    made += [Row(f"FusionMiddleware when={w}", middleware(w)) for w in WHENS]
    return made


def _tokens(messages: Sequence[BaseMessage]) -> int:
    return sum((m.usage_metadata or {}).get("total_tokens", 0) for m in messages if isinstance(m, AIMessage))


def _stated(text: str) -> int | None:
    numbers = re.findall(r"-?\d+", text)
    return int(numbers[-1]) if numbers else None


async def run_task(row: Row, task: Task, server: OpenAIStubServer) -> Outcome:
    ledger = Ledger(dict(task.start))
    agent = row.build(ledger.tools())
    started = time.perf_counter()
    out = await agent.ainvoke({"messages": [("user", task.prompt)]}, {"recursion_limit": 40})
    seconds = time.perf_counter() - started
    messages: list[BaseMessage] = out["messages"]
    steps = sum(1 for m in messages if isinstance(m, AIMessage))
    final = messages[-1]
    answered = isinstance(final, AIMessage) and _stated(final.text) == task.balance
    ok = ledger.ran == list(task.plan) and answered
    marker = f"[task {task.index}]"
    calls = sum(1 for body in list(server.requests) if marker in str(body.get("messages")))
    return Outcome(ok, steps, calls, _tokens(messages), seconds)


async def run_row(row: Row, tasks: Sequence[Task], server: OpenAIStubServer, concurrency: int) -> float:
    gate = asyncio.Semaphore(concurrency)
    server.reset()

    async def one(task: Task) -> Outcome:
        async with gate:
            return await run_task(row, task, server)

    started = time.perf_counter()
    row.outcomes = list(await asyncio.gather(*(one(task) for task in tasks)))
    return time.perf_counter() - started


# ------------------------------------------------------------------------------------------ report


def _mean(values: Sequence[float]) -> float:
    return sum(values) / len(values) if values else 0.0


def report(made: Sequence[Row], per_step: Row) -> list[str]:
    base_tokens = _mean([o.tokens for o in per_step.outcomes])
    base_ok = sum(o.ok for o in per_step.outcomes)
    lines = [
        f"{'row':32} {'success':>7} {'95% CI (Wilson)':>16} {'steps':>6} {'calls':>6} {'tokens':>7} "
        f"{'vs per-step':>11} {'s/task':>7}",
    ]
    for row in made:
        done = row.outcomes
        k, n = sum(o.ok for o in done), len(done)
        low, high = wilson(k, n)
        tokens = _mean([o.tokens for o in done])
        steps, calls = _mean([o.steps for o in done]), _mean([o.calls for o in done])
        lines.append(
            f"{row.name:32} {k / n:7.3f} {f'[{low:.3f}, {high:.3f}]':>16} {steps:6.2f} {calls:6.2f} "
            f"{tokens:7.0f} {tokens / base_tokens:10.0%} {_mean([o.seconds for o in done]):7.3f}"
        )
    gated = [r for r in made if r.name.endswith(("final", "tools", "disagree"))]
    lines.append("")
    lines.append(
        "goal: a gated row (final, tools, disagree) with success >= per-step fusion's "
        f"({base_ok}/{len(per_step.outcomes)}) at <= 50% of its tokens:"
    )
    for row in gated:
        k = sum(o.ok for o in row.outcomes)
        share = _mean([o.tokens for o in row.outcomes]) / base_tokens
        verdict = "met" if k >= base_ok and share <= 0.5 else "not met"
        lines.append(f"  {row.name:30} success {k}/{len(row.outcomes)}, tokens {share:.0%}: {verdict}")
    return lines


def _commit() -> str:
    try:
        return subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, check=True
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


async def run_pool(args: argparse.Namespace, member_errors: str, tasks: Sequence[Task]) -> list[str]:
    """One table: every row on every task, with the pool whose own errors are ``member_errors``."""
    errors = [float(e) for e in member_errors.split(",")]
    own_error = {"agent": args.agent_error, **{f"m{i + 1}": e for i, e in enumerate(errors)}}
    members = [name for name in own_error if name != "agent"]
    sim = Sim(args.seed, args.shared, own_error, args.judge)
    head = [
        f"pool of {len(members)}: {', '.join(f'{n} (own error {own_error[n]})' for n in members)} + judge, "
        f"best-of; the agent's own model (rows 1, 3-6): 'agent' (own error {args.agent_error}); "
        "disagree's second opinion: m1",
    ]
    print("\n".join(head), flush=True)
    server = OpenAIStubServer(stub_models(sim, tasks)).start_in_thread()
    try:
        url = server.base_url
        pool = FusionConfig(
            pool=[Member(f"openai:{name}", base_url=url, api_key=KEY) for name in members],
            judge=Judge("openai:judge", base_url=url, api_key=KEY),
        )
        made = rows(url, pool)
        for row in made:
            seconds = await run_row(row, tasks, server, args.concurrency)
            print(f"  {row.name}: {seconds:.1f} s", flush=True)
        if server.errors:
            raise RuntimeError(f"the stub's scripts failed: {server.errors[:3]}")
    finally:
        server.stop()
    lines = [*head, *report(made, made[1]), ""]
    print("\n".join(lines[1:]), flush=True)
    return lines


async def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--tasks", type=int, default=None, help="default: 60, or 10 with --local")
    parser.add_argument(
        "--max-transfers",
        type=int,
        default=None,
        help="transfers per task: 1 to this (default: 3, or 1 with --local)",
    )
    parser.add_argument(
        "--local",
        action="store_true",
        help="REAL local models instead of the simulated pool (bench/_agent_local.py; slow)",
    )
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--shared", type=float, default=0.04, help="P(a step is hard for every model)")
    parser.add_argument("--agent-error", type=float, default=0.12, help="the agent's own per-step error")
    parser.add_argument(
        "--member-errors",
        action="append",
        help="a pool: its members' own per-step errors, comma-separated (repeat for several pools; "
        "default: 0.12,0.15,0.18 and 0.12,0.15,0.18,0.20,0.22)",
    )
    parser.add_argument("--judge", type=float, default=0.8, help="P(the judge picks a right candidate)")
    parser.add_argument("--concurrency", type=int, default=6)
    parser.add_argument("--out", type=Path, default=None, help="also write the report here")
    args = parser.parse_args()
    if args.tasks is None:
        args.tasks = 10 if args.local else 60
    if args.max_transfers is None:
        args.max_transfers = 1 if args.local else 3
    tasks = make_tasks(args.seed, args.tasks, args.max_transfers)
    if args.local:
        from _agent_local import run_local  # loads llama.cpp models: only when asked

        lines = await run_local(args, tasks, Ledger, _commit())
        if args.out is not None:
            args.out.write_text("\n".join(lines) + "\n")
        return

    plan_steps = _mean([len(t.plan) + 1 for t in tasks])
    head = [
        f"bench/agent.py at commit {_commit()}: {args.tasks} tasks, seed {args.seed}; {load_note()}",
        "SIMULATED members and judge: OpenAIStubServer models over loopback HTTP with scripted per-step "
        f"accuracy: a step is hard for every model with P={args.shared} (the same wrong call from all), "
        f"each model also errs alone at its own rate; the judge picks a right candidate with "
        f"P={args.judge} when one exists. Real: create_agent, the tools and ledger, FusionChatModel, "
        "FusionMiddleware, the fusion graph and its decision rule.",
        f"tasks: 1-3 transfers + a balance check + the answer (mean plan {plan_steps:.2f} "
        "steps); success = exactly the planned tool calls ran and the answer states the right balance.",
        "tokens: the stub's (one per word of the messages), summed from the agent's usage_metadata per task; "
        "calls: HTTP requests per task; s/task: wall time per task, 6 tasks at a time, stub in a thread.",
        "",
    ]
    print("\n".join(head), flush=True)
    lines = list(head)
    for member_errors in args.member_errors or ["0.12,0.15,0.18", "0.12,0.15,0.18,0.20,0.22"]:
        lines += await run_pool(args, member_errors, tasks)
    lines.append(f"{load_note()} at the end")
    if args.out is not None:
        args.out.write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    asyncio.run(main())
