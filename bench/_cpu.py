"""CPU per fusion, side by side: the fusion vs the plain LangGraph graph it is vs asyncio.gather + judge.

The fusion is timed twice: ``Fusion.run`` on one compiled ``Fusion``, and ``fuse(prompt, config)``
(which finds that compiled fusion in its cache on every call). All of them make the same calls on
the same in-process fake models (``ScriptedChatModel``, no latency):
N members answer, then one structured judge call. ``concurrency`` runs are started at once and the
process CPU time is divided by the number of runs, so the numbers are CPU per fusion under load.
"""

from __future__ import annotations

import asyncio
import gc
import operator
import time
from typing import Annotated, Any, TypedDict

from _common import judge_messages, judge_schema
from langchain_core.messages import HumanMessage
from langgraph.graph import END, START, StateGraph
from langgraph.types import Send

from fusion_graph import FusionConfig, Judge, Member, fuse
from fusion_graph.runner import Fusion
from fusion_graph.testing import ScriptedChatModel

PROMPT = "Is 1001 prime? Explain briefly."
ANSWER = "1001 = 7 x 11 x 13, so it is not prime. The answer is no."


def _members(n: int) -> list[ScriptedChatModel]:
    return [ScriptedChatModel(script=[f"Member {i}: {ANSWER}"], model_name=f"m{i}") for i in range(n)]


def _judge() -> ScriptedChatModel:
    return ScriptedChatModel(model_name="judge")


def _config(n: int) -> FusionConfig:
    return FusionConfig(
        pool=[Member(m, name=f"m{i}") for i, m in enumerate(_members(n))],
        judge=Judge(_judge(), name="judge"),
        mode="best-of",
    )


def fusion_runner(n: int) -> Any:
    """A compiled best-of fusion on fake models."""
    fusion = Fusion(_config(n))

    async def run() -> Any:
        return await fusion.run(PROMPT)

    return run


def fuse_runner(n: int) -> Any:
    """``fuse(prompt, config)`` on every call, the same fusion."""
    config = _config(n)

    async def run() -> Any:
        return await fuse(PROMPT, config)

    return run


def _judge_messages(answers: list[str]) -> list[Any]:
    """The judge prompt the fusion sends for these answers (the library's own builder)."""
    return judge_messages([HumanMessage(PROMPT)], answers)


class _State(TypedDict, total=False):
    question: str
    answers: Annotated[list[str], operator.add]
    verdict: Any


class _Task(TypedDict):
    index: int
    question: str


def plain_graph_runner(n: int) -> Any:
    """The same calls as a plain LangGraph graph: Send fan-out to a member node, then a judge node."""
    members = _members(n)
    structured = _judge().with_structured_output(judge_schema("best-of", n), include_raw=True)

    async def member(task: _Task) -> dict[str, Any]:
        reply = await members[task["index"]].ainvoke([HumanMessage(task["question"])])
        return {"answers": [str(reply.content)]}

    async def judge(state: _State) -> dict[str, Any]:
        return {"verdict": await structured.ainvoke(_judge_messages(state["answers"]))}

    def fan_out(state: _State) -> list[Send]:
        return [Send("member", _Task(index=i, question=state["question"])) for i in range(n)]

    graph = StateGraph(_State)
    graph.add_node("member", member)  # pyright: ignore[reportArgumentType]
    graph.add_node("judge", judge)
    graph.add_conditional_edges(START, fan_out, ["member"])
    graph.add_edge("member", "judge")
    graph.add_edge("judge", END)
    compiled = graph.compile()

    async def run() -> Any:
        return await compiled.ainvoke({"question": PROMPT})

    return run


def gather_runner(n: int) -> Any:
    """The same calls, hand-written: asyncio.gather of the members, then the judge."""
    members = _members(n)
    structured = _judge().with_structured_output(judge_schema("best-of", n), include_raw=True)

    async def run() -> Any:
        replies = await asyncio.gather(*(m.ainvoke([HumanMessage(PROMPT)]) for m in members))
        return await structured.ainvoke(_judge_messages([str(r.content) for r in replies]))

    return run


class _GcClock:
    """CPU seconds spent in the cyclic garbage collector (``gc.callbacks``), while installed."""

    def __init__(self) -> None:
        self.seconds = 0.0
        self._started = 0.0

    def __call__(self, phase: str, info: dict[str, Any]) -> None:
        if phase == "start":
            self._started = time.process_time()
        else:
            self.seconds += time.process_time() - self._started


async def _cpu_of(run: Any, concurrency: int) -> tuple[float, float]:
    """CPU seconds per run, and the part of it spent collecting garbage."""
    gc.collect()
    clock = _GcClock()
    gc.callbacks.append(clock)
    try:
        start = time.process_time()
        await asyncio.gather(*(run() for _ in range(concurrency)))
        spent = time.process_time() - start
    finally:
        gc.callbacks.remove(clock)
    return spent / concurrency, clock.seconds / concurrency


async def cpu_table(sizes: list[int], concurrency: int, rounds: int) -> None:
    """Print CPU ms per fusion for the three, rounds interleaved (A B C A B C …), with the ratios.

    Interleaving matters: measured one after the other, the first runner's rounds met a different
    heap and machine load than the last's, and the ratio swung by a third from run to run.
    """
    print(
        f"CPU per fusion (best-of, in-process fakes, {concurrency} at once, median of {rounds} "
        "interleaved rounds):"
    )
    print(
        f"{'pool':>4} {'fusion ms':>9} {'fuse ms':>8} {'graph ms':>8} {'gather ms':>9} "
        f"{'fusion/graph':>12} {'fusion/gather':>13} {'fuse/fusion':>11}   of which garbage collection"
    )
    for n in sizes:
        runs = {
            "fusion": fusion_runner(n),
            "fuse": fuse_runner(n),
            "graph": plain_graph_runner(n),
            "gather": gather_runner(n),
        }
        for run in runs.values():  # warm-up: caches, lazy imports, first allocations
            await asyncio.gather(*(run() for _ in range(min(concurrency, 20))))
        samples: dict[str, list[float]] = {name: [] for name in runs}
        collecting: dict[str, list[float]] = {name: [] for name in runs}
        ratios: list[float] = []
        for _ in range(rounds):
            for name, run in runs.items():
                cpu, gc_cpu = await _cpu_of(run, concurrency)
                samples[name].append(cpu)
                collecting[name].append(gc_cpu)
            ratios.append(samples["fusion"][-1] / samples["graph"][-1])
        med = {name: sorted(v)[len(v) // 2] for name, v in samples.items()}
        gcs = {name: sorted(v)[len(v) // 2] for name, v in collecting.items()}
        ratios.sort()
        print(
            f"{n:>4} {med['fusion'] * 1000:>9.2f} {med['fuse'] * 1000:>8.2f} {med['graph'] * 1000:>8.2f} "
            f"{med['gather'] * 1000:>9.2f} {med['fusion'] / med['graph']:>12.2f} "
            f"{med['fusion'] / med['gather']:>13.2f} {med['fuse'] / med['fusion']:>11.2f}   "
            + ", ".join(f"{name} {gcs[name] * 1000:.2f} ms" for name in runs),
            flush=True,
        )
        print(f"     (per-round fusion/graph {ratios[0]:.2f}-{ratios[-1]:.2f}; target <= 1.3)", flush=True)
