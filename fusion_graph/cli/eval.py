"""``fusion eval``: each member alone and each mode on a dataset; a table, a JSONL file and a plot.

Registered on the app by :mod:`fusion_graph.cli` as ``eval``. Everything heavy is imported inside
the command.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.text import Text

from fusion_graph.cli import _common
from fusion_graph.errors import ConfigError, FusionRunError

__all__ = ["eval_command"]


def eval_command(
    dataset: Annotated[
        str,
        typer.Option(
            "--dataset", "-d", help="gsm8k, bfcl-simple, gsm-symbolic, or a .jsonl file of question/answer."
        ),
    ],
    config: Annotated[
        Path | None,
        typer.Option(
            "--config", "-c", help="A pool file (.toml/.yaml). Default: the local pool.", dir_okay=False
        ),
    ] = None,
    limit: Annotated[int | None, typer.Option("--limit", "-n", help="Only the first N items.", min=1)] = None,
    out: Annotated[
        Path | None,
        typer.Option(
            "--out",
            "-o",
            help="Results JSONL; re-running with the same file skips done items.",
            dir_okay=False,
        ),
    ] = None,
    plot: Annotated[
        Path | None, typer.Option("--plot", help="Write a PNG of accuracy against cost.", dir_okay=False)
    ] = None,
    modes: Annotated[
        str, typer.Option("--modes", help="Comma-separated modes: best-of, merge, debate, vote.")
    ] = "best-of,merge,debate,vote",
    members: Annotated[
        bool,
        typer.Option(
            "--members/--no-members",
            help="Also run each member alone (and a sampled member's samples voted).",
        ),
    ] = True,
    rounds: Annotated[int | None, typer.Option("--rounds", "-r", help="Debate revision rounds.")] = None,
    calibration_out: Annotated[
        Path | None,
        typer.Option(
            "--calibration-out",
            help="Write the measured reliabilities (members' accuracy; the judge's accuracy at "
            "picking a right answer when one exists) for FusionConfig(calibration=…).",
            dir_okay=False,
        ),
    ] = None,
    by_item: Annotated[
        bool,
        typer.Option(
            "--by-item/--by-config",
            help="Run every configuration on an item before the next item (an interrupted run "
            "leaves every row on the same items), or each configuration in turn.",
        ),
    ] = False,
) -> None:
    """Score each member alone and each fusion mode on a dataset (accuracy, tokens, cost, latency).

    A member with ``samples`` > 1 answers alone once, greedily, and its samples voted are a row of their
    own. Unless the pool file sets ``answer_format``, answers are compared as the dataset scores them.

    Exit codes: 0 when the evaluation ran (whatever the accuracy), 2 on an invalid dataset,
    configuration or option.
    """
    from fusion_graph.eval.datasets import load_dataset
    from fusion_graph.eval.report import plot as write_plot
    from fusion_graph.eval.report import print_table, summarize
    from fusion_graph.eval.runner import eval_configs, run_eval

    console = Console()
    try:
        items = load_dataset(dataset, limit=limit)
        loaded = _common.load_config(config)
        # Read before the overrides, which rebuild the config with every field set.
        dataset_format = "answer_format" not in loaded.model_fields_set
        fusion_config = loaded.replace(**_common.given(rounds=rounds))
        chosen = [m.strip() for m in modes.split(",") if m.strip()]
        configs = eval_configs(
            fusion_config,
            [fusion_config.replace(mode=m).mode for m in chosen],
            members=members,
            dataset_format=dataset_format,
        )
        records = asyncio.run(
            run_eval(
                configs, items, out=out, console=Console(stderr=True), order="item" if by_item else "config"
            )
        )
    except ConfigError as exc:
        _common.fail("Configuration error", exc, 2)
    except FusionRunError as exc:  # only raised outside an item (items record their own failures)
        _common.fail("Evaluation failed", exc, 1)
    summaries = summarize(records, [c.label for c in configs])
    print_table(console, summaries, title=f"{dataset}: {len(items)} items")
    if out is not None:
        console.print(Text(f"results: {out}", style="dim"))
    if calibration_out is not None:
        from fusion_graph.eval.calibrate import calibration_from_records

        fmt = None if dataset_format else str(fusion_config.answer_format)
        calibration = calibration_from_records(records, tag=Path(dataset).stem, answer_format=fmt)
        calibration.save(calibration_out)
        console.print(Text(f"calibration: {calibration_out}", style="dim"))
    if plot is not None:
        try:
            write_plot(summaries, plot, name=Path(dataset).name)
        except ConfigError as exc:
            _common.fail("Plot error", exc, 2)
        console.print(Text(f"plot: {plot}", style="dim"))
