"""Run every member alone and every mode on a dataset, score each answer, save results as JSONL."""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from fusion_graph.config import FusionConfig
from fusion_graph.errors import FusionRunError
from fusion_graph.eval.datasets import Item
from fusion_graph.eval.scoring import score

if TYPE_CHECKING:
    from rich.console import Console

    from fusion_graph.runner import Fusion

__all__ = ["EvalConfig", "eval_configs", "load_records", "run_eval"]


@dataclass(frozen=True)
class EvalConfig:
    """One configuration under evaluation: a member alone (``member:NAME``) or a mode (``fusion:MODE``)."""

    label: str
    config: FusionConfig


def _copy(config: FusionConfig, **update: Any) -> FusionConfig:
    # Field by field rather than model_dump(): members may hold chat model instances.
    fields = {name: getattr(config, name) for name in FusionConfig.model_fields}
    return FusionConfig(**{**fields, **update})


def eval_configs(
    config: FusionConfig, modes: Sequence[str] = ("best-of", "merge", "debate"), *, members: bool = True
) -> list[EvalConfig]:
    """The configurations to compare: each member of the pool alone, then the pool in each mode.

    Args:
        config: The pool and judge.
        modes: The fusion modes to run.
        members: Whether to run each member alone too.

    Returns:
        The configurations, in table order.
    """
    out: list[EvalConfig] = []
    if members:
        for member in config.pool:
            out.append(EvalConfig(f"member:{member.name}", _copy(config, pool=[member], mode="best-of")))
    for mode in modes:
        out.append(EvalConfig(f"fusion:{mode}", _copy(config, mode=mode)))
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
        return {"correct": False, "answer": "", "tool_calls": [], "input_tokens": 0, "output_tokens": 0,
                "cost_usd": 0.0, "latency_s": round(time.perf_counter() - started, 3), "decided_by": None,
                "error": f"{type(exc).__name__}: {exc}"}
    total = result.usage.total
    calls = [{"name": c.get("name"), "args": c.get("args")} for c in result.tool_calls]
    return {
        "correct": score(item.kind, item.answer, result.answer, calls, choices=len(item.choices),
                         names=item.tool_names),
        "answer": result.answer[:2000],
        "tool_calls": calls,
        "input_tokens": total.input_tokens,
        "output_tokens": total.output_tokens,
        "cost_usd": total.cost_usd,
        "latency_s": round(time.perf_counter() - started, 3),
        "decided_by": result.decided_by,
        "error": None,
    }


async def run_eval(
    configs: Sequence[EvalConfig],
    items: Sequence[Item],
    *,
    out: Path | None = None,
    console: Console | None = None,
) -> list[dict[str, Any]]:
    """Run each configuration on each item, skipping pairs already saved in ``out``.

    Items run one after another (local models share the CPU; a remote pool is latency-bound, and
    ``fusion eval`` runs are meant to be reproducible rather than fast). Each record is appended
    to ``out`` as soon as it is scored, so an interrupted run resumes where it stopped.

    Args:
        configs: From :func:`eval_configs`.
        items: From :func:`~fusion_graph.eval.datasets.load_dataset`.
        out: The JSONL results file (appended to; read first to skip finished pairs).
        console: Where to show a progress bar (none when ``None``).

    Returns:
        Every record of these configurations and items: the saved ones and the new ones.

    Raises:
        ConfigError: A model cannot be resolved.
    """
    from fusion_graph._runtime import build_runtime
    from fusion_graph.runner import Fusion

    wanted = {c.label for c in configs}
    item_ids = {item.id for item in items}
    saved = [r for r in load_records(out) if r.get("config") in wanted and r.get("item") in item_ids]
    done = {(r["config"], r["item"]) for r in saved}
    todo = [(c, item) for c in configs for item in items if (c.label, item.id) not in done]
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
            if item.tools:  # tools differ per item: compile with this item's tools bound
                runtime = build_runtime(config.config, bound_tools=list(item.tools))
                fusion = Fusion(config.config, runtime=runtime)
            else:
                fusion = compiled.get(config.label) or Fusion(config.config)
                compiled[config.label] = fusion
            record = {"config": config.label, "item": item.id, "expected": item.answer,
                      **(await _run_one(fusion, item))}
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

    return Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                    console=console, transient=False)
