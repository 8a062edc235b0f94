"""Run every member alone and every mode on a dataset, score each answer, save results as JSONL.

Each member alone answers once, greedily when the pool samples it (``samples=1``, temperature 0); a
member with ``samples=k`` is also evaluated as a fusion of its own samples (``fusion:NAME xk vote``).
Unless the configuration sets ``answer_format``, answers are compared the way the dataset scores them:
``number`` for numeric items, ``choice`` for multiple choice, ``tool_call`` for function calling.
"""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from fusion_graph.config import FusionConfig, Member
from fusion_graph.errors import FusionRunError
from fusion_graph.eval.datasets import Item
from fusion_graph.eval.scoring import score

if TYPE_CHECKING:
    from rich.console import Console

    from fusion_graph.runner import Fusion

__all__ = ["DEFAULT_MODES", "EvalConfig", "answer_format_for", "eval_configs", "load_records", "run_eval"]

DEFAULT_MODES: tuple[str, ...] = ("best-of", "merge", "debate", "vote")
"""The modes ``fusion eval`` runs unless told otherwise."""

_FORMATS: dict[str, Literal["number", "choice", "tool_call"]] = {
    "numeric": "number",
    "choice": "choice",
    "call": "tool_call",
}


def answer_format_for(kind: str) -> Literal["number", "choice", "tool_call", "auto"]:
    """The ``answer_format`` that reads answers the way items of this kind are scored.

    Example:
        >>> answer_format_for("numeric")
        'number'
    """
    return _FORMATS.get(kind, "auto")


@dataclass(frozen=True)
class EvalConfig:
    """One configuration under evaluation.

    Attributes:
        label: ``member:NAME`` (a member alone), ``fusion:MODE`` (the pool) or ``fusion:NAME xK vote``
            (a sampled member's own samples, voted).
        config: The configuration.
        dataset_format: Set ``answer_format`` from each item's scoring when running
            (:func:`answer_format_for`); ``False`` keeps the configuration's.
    """

    label: str
    config: FusionConfig
    dataset_format: bool = False

    def for_item(self, item: Item) -> FusionConfig:
        """The configuration that answers ``item``."""
        if not self.dataset_format:
            return self.config
        wanted = answer_format_for(item.kind)
        if self.config.answer_format == wanted:
            return self.config
        return self.config.replace(answer_format=wanted)


def _solo(config: FusionConfig, member: Member, mode: str) -> FusionConfig:
    """``member`` as the whole pool: no scouts, a quorum it can reach, no swap for a lone answer."""
    answers = member.samples
    quorum = None if config.min_answers is None else min(config.min_answers, answers)
    return config.replace(
        pool=[member],
        mode=mode,
        scouts=None,
        min_answers=quorum,
        judge_swap=config.judge_swap and answers > 1,
    )


def _greedy(member: Member) -> Member:
    """A sampled member's own single answer: one sample, temperature 0."""
    if member.samples == 1:
        return member
    return member.model_copy(update={"samples": 1, "params": {**member.params, "temperature": 0.0}})


def eval_configs(
    config: FusionConfig,
    modes: Sequence[str] = DEFAULT_MODES,
    *,
    members: bool = True,
    dataset_format: bool | None = None,
) -> list[EvalConfig]:
    """The configurations to compare: each member of the pool alone, then the pool in each mode.

    A member alone answers once: a member with ``samples`` > 1 answers alone with ``samples=1`` at
    temperature 0 (its own greedy answer), and its samples voted are a row of their own,
    ``fusion:NAME xK vote`` (self-consistency). Rows of one member drop the scouts and keep the
    judge (a vote's tie-breaker).

    Args:
        config: The pool and judge (scouts, samples and every other setting are kept in the pool's rows).
        modes: The fusion modes to run (:data:`DEFAULT_MODES`).
        members: Whether to run each member alone (and each sampled member's vote) too.
        dataset_format: Whether each item's scoring sets ``answer_format`` (numeric → ``number``,
            choice → ``choice``, function calls → ``tool_call``). ``None``: yes, unless ``config`` was
            given an ``answer_format`` explicitly.

    Returns:
        The configurations, in table order.

    Raises:
        ConfigError: A row's configuration is invalid.

    Example:
        >>> [c.label for c in eval_configs(config, ["vote"])]
        ['member:qwen', 'fusion:qwen x3 vote', 'member:smol', 'fusion:vote']
    """
    if dataset_format is None:
        dataset_format = "answer_format" not in config.model_fields_set
    out: list[EvalConfig] = []
    if members:
        for member in config.pool:
            out.append(
                EvalConfig(f"member:{member.name}", _solo(config, _greedy(member), "best-of"), dataset_format)
            )
            if member.samples > 1:
                out.append(
                    EvalConfig(
                        f"fusion:{member.name} x{member.samples} vote",
                        _solo(config, member, "vote"),
                        dataset_format,
                    )
                )
    for mode in modes:
        out.append(EvalConfig(f"fusion:{mode}", config.replace(mode=mode), dataset_format))
    return out


def load_records(path: Path | None) -> list[dict[str, Any]]:
    """The records already saved in a results file (none when it does not exist)."""
    if path is None or not path.is_file():
        return []
    records = []
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.strip():
            try:
                records.append(json.loads(line))
            except json.JSONDecodeError:
                continue  # a line cut by an interruption: that item runs again
    return records


async def _run_one(fusion: Fusion, item: Item) -> dict[str, Any]:
    started = time.perf_counter()
    try:
        result = await fusion.run(item.question)
    except FusionRunError as exc:
        return {
            "correct": False,
            "answer": "",
            "tool_calls": [],
            "input_tokens": 0,
            "output_tokens": 0,
            "cost_usd": 0.0,
            "latency_s": round(time.perf_counter() - started, 3),
            "decided_by": None,
            "answers": {},
            "truncated": [],
            "escalated": None,
            "verdict_issues": [],
            "error": f"{type(exc).__name__}: {exc}",
        }
    total = result.usage.total
    calls = [{"name": c.get("name"), "args": c.get("args")} for c in result.tool_calls]
    right = {
        c.member: score(
            item.kind,
            item.answer,
            c.text,
            [{"name": t["name"], "args": t["args"]} for t in c.tool_calls],
            choices=len(item.choices),
            names=item.tool_names,
        )
        for c in result.candidates
        if c.round == 0 and c.ok
    }
    decision = result.decision
    return {
        "correct": score(
            item.kind, item.answer, result.answer, calls, choices=len(item.choices), names=item.tool_names
        ),
        "answer": result.answer[:2000],
        "tool_calls": calls,
        "input_tokens": total.input_tokens,
        "output_tokens": total.output_tokens,
        "cost_usd": total.cost_usd,
        "latency_s": round(time.perf_counter() - started, 3),
        "decided_by": result.decided_by,
        "answers": result.answers,
        "truncated": sorted({c.member for c in result.candidates if c.truncated}),
        "escalated": result.escalated,
        "verdict_issues": result.verdict_issues,
        "candidates_correct": right,
        "judge": result.decided_by.split(":", 1)[1]
        if result.decided_by.startswith(("judge:", "fallback:"))
        else None,
        "judge_pick": decision.judge_pick if decision is not None else None,
        "judge_check": decision.judge_check if decision is not None else None,
        "rule": decision.rule if decision is not None else None,
        "weights_source": decision.source if decision is not None else None,
        "error": None,
    }


async def run_eval(
    configs: Sequence[EvalConfig],
    items: Sequence[Item],
    *,
    out: Path | None = None,
    console: Console | None = None,
    order: Literal["config", "item"] = "config",
) -> list[dict[str, Any]]:
    """Run each configuration on each item, skipping pairs already saved in ``out``.

    Items run one after another (local models share the CPU; a remote pool is latency-bound, and
    ``fusion eval`` runs are meant to be reproducible rather than fast). Each record is appended
    to ``out`` as soon as it is scored, so an interrupted run resumes where it stopped.

    Each record holds the item's score, the fused answer, tokens, cost, seconds, who decided, each
    candidate's extracted answer (``answers``), the candidates cut at their token limit
    (``truncated``), whether scouts escalated and the verdict issues.

    Args:
        configs: From :func:`eval_configs`.
        items: From :func:`~fusion_graph.eval.datasets.load_dataset`.
        out: The JSONL results file (appended to; read first to skip finished pairs).
        console: Where to show a progress bar (none when ``None``).
        order: ``config``: every item of a configuration before the next configuration; ``item``:
            every configuration on an item before the next item, so that an interrupted run leaves
            every row scored on the same items.

    Returns:
        Every record of these configurations and items: the saved ones and the new ones.

    Raises:
        ConfigError: A model cannot be resolved.
    """
    from fusion_graph.runner import Fusion

    wanted = {c.label for c in configs}
    item_ids = {item.id for item in items}
    saved = [r for r in load_records(out) if r.get("config") in wanted and r.get("item") in item_ids]
    done = {(r["config"], r["item"]) for r in saved}
    pairs = (
        ((c, item) for c in configs for item in items)
        if order == "config"
        else ((c, item) for item in items for c in configs)
    )
    todo = [(c, item) for c, item in pairs if (c.label, item.id) not in done]
    records = list(saved)
    compiled: dict[str, Fusion] = {}
    sink = out.open("a", encoding="utf-8") if out is not None else None
    progress = _progress(console)
    try:
        task = progress.add_task("eval", total=len(todo)) if progress is not None else None
        if progress is not None:
            progress.start()
        for config, item in todo:
            if progress is not None and task is not None:
                progress.update(task, description=f"{config.label} · {item.id}")
            fusion_config = config.for_item(item)
            if item.tools:  # tools differ per item: compile with this item's tools bound
                fusion = Fusion(fusion_config, bound_tools=list(item.tools))
            else:
                key = f"{config.label}\0{fusion_config.answer_format}"
                fusion = compiled.get(key) or Fusion(fusion_config)
                compiled[key] = fusion
            record = {
                "config": config.label,
                "item": item.id,
                "expected": item.answer,
                **(await _run_one(fusion, item)),
            }
            records.append(record)
            if sink is not None:
                sink.write(json.dumps(record, default=str) + "\n")
                sink.flush()
            if progress is not None and task is not None:
                progress.advance(task)
    finally:
        if progress is not None:
            progress.stop()
        if sink is not None:
            sink.close()
    return records


def _progress(console: Console | None) -> Any:
    if console is None:
        return None
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
        transient=False,
    )
