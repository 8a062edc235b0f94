"""``fusion run``: one prompt through the pool, with live progress and a side-by-side report.

Registered on the app by :mod:`fusion_graph.cli`. Models, checkpointers, the views of
:mod:`fusion_graph.cli.render` and the optional local provider are imported when the command runs.
"""

from __future__ import annotations

import asyncio
import sqlite3
import sys
import uuid
from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager, nullcontext
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, cast

import typer
from rich.console import Console
from rich.text import Text

from fusion_graph.cli import _common
from fusion_graph.cli.tools import registry_from_file
from fusion_graph.config import FusionConfig
from fusion_graph.errors import ConfigError, FusionRunError, ThreadConflict

if TYPE_CHECKING:
    from langgraph.checkpoint.base import BaseCheckpointSaver

    from fusion_graph.result import FusionResult
    from fusion_graph.runner import Fusion

__all__ = ["run"]


def _checkpointer(db: Path | None) -> AbstractAsyncContextManager[BaseCheckpointSaver[Any]]:
    if db is None:
        from langgraph.checkpoint.memory import InMemorySaver

        return nullcontext(InMemorySaver())
    from langgraph.checkpoint.sqlite.aio import AsyncSqliteSaver

    return AsyncSqliteSaver.from_conn_string(str(db))


async def _execute(
    config: FusionConfig,
    prompt: str | None,
    *,
    thread_id: str,
    db: Path | None,
    progress: Console | None,
    tools: Any = None,
) -> tuple[FusionResult, bool]:
    """Run, resume or read back the fusion (the thread rule of ``Fusion.plan``).

    Returns the result and whether it was stored already (no model was called).
    """
    from fusion_graph._threads import is_finished
    from fusion_graph.runner import Fusion, to_messages

    if prompt is not None:
        to_messages(prompt)  # an empty prompt is a ConfigError before any model is built
    async with _checkpointer(db) as saver:
        fusion = Fusion(config, checkpointer=saver, tools=tools)
        plan = await fusion.plan(prompt, thread_id=thread_id)
        if plan.action == "stored":
            return fusion.result(plan.values), True
        if plan.action == "resume":
            at = f" at {', '.join(plan.pending)}" if plan.pending else ""
            Console(stderr=True).print(Text(f"resuming thread {thread_id}{at}", style="dim"))
        await _follow(fusion, fusion.stream(plan), progress)
        final = await fusion.graph.aget_state(plan.config)
        if not is_finished(final.values):
            raise FusionRunError(f"the fusion of thread {thread_id!r} ended without an answer")
        return fusion.result(final.values), False


async def _follow(fusion: Fusion, stream: AsyncIterator[tuple[str, Any]], progress: Console | None) -> None:
    """Drain the stream, showing a live per-member table on ``progress`` when given."""
    if progress is None:
        async for _ in stream:
            pass
        return
    from rich.live import Live

    from fusion_graph.cli.render import ProgressView

    config = fusion.config
    view = ProgressView(config.member_names, config.effective_judge.label)
    with Live(view, console=progress, refresh_per_second=10, transient=False) as live:
        async for mode, chunk in stream:
            if mode == "custom" and isinstance(chunk, dict):
                view.handle(cast(dict[str, Any], chunk))
                live.refresh()
    if not progress.is_terminal:
        progress.line()  # Live leaves the cursor after its last line when it cannot redraw


def _read_prompt(prompt: str | None) -> str | None:
    return sys.stdin.read() if prompt == "-" else prompt


def _local_model_error() -> type[BaseException] | None:
    """The local provider's error type, when that module is already imported (never imports it)."""
    module = sys.modules.get("fusion_graph.providers.local")
    error = getattr(module, "LocalModelError", None) if module is not None else None
    return error if isinstance(error, type) and issubclass(error, BaseException) else None


def run(
    prompt: Annotated[
        str | None,
        typer.Argument(
            help="The prompt; '-' reads it from standard input. Leave it out with --thread-id to "
            "resume an interrupted run or show a finished one."
        ),
    ] = None,
    config: Annotated[
        Path | None,
        typer.Option(
            "--config", "-c", help="A pool file (.toml/.yaml). Default: the local pool.", dir_okay=False
        ),
    ] = None,
    mode: Annotated[
        str | None, typer.Option("--mode", "-m", help="best-of, merge, debate or vote (overrides the file).")
    ] = None,
    rounds: Annotated[
        int | None, typer.Option("--rounds", "-r", help="Debate revision rounds (overrides the file).")
    ] = None,
    json_output: Annotated[
        bool, typer.Option("--json", help="Print only the FusionResult as JSON; no progress.")
    ] = False,
    thread_id: Annotated[
        str | None, typer.Option("--thread-id", "-t", help="The run's thread (checkpoint key).")
    ] = None,
    db: Annotated[
        Path | None,
        typer.Option(
            "--db",
            help="SQLite checkpoint file. With --thread-id: the same prompt (or none) prints a finished "
            "thread's stored result or resumes an interrupted one; a new prompt is the next turn.",
            dir_okay=False,
        ),
    ] = None,
) -> None:
    """Fuse the pool's answers to PROMPT, with live progress and a side-by-side report.

    Exit codes: 0 on success, 1 when the fusion failed (every member or the judge), 2 on an invalid
    configuration or prompt.
    """
    out = Console()
    thread = thread_id or uuid.uuid4().hex
    try:
        if prompt is None and thread_id is None:
            raise ConfigError(
                "prompt", "missing", "pass the prompt, or --thread-id and --db to resume or show a saved run"
            )
        fusion_config = _common.load_config(config).replace(**_common.given(mode=mode, rounds=rounds))
        result, stored = asyncio.run(
            _execute(
                fusion_config,
                _read_prompt(prompt),
                thread_id=thread,
                db=db,
                progress=None if json_output else out,
                tools=registry_from_file(config),
            )
        )
    except ThreadConflict as exc:
        _common.fail("Thread conflict", exc, 2)
    except ConfigError as exc:
        _common.fail("Configuration error", exc, 2)
    except FusionRunError as exc:
        _common.fail("Fusion failed", exc, 1)
    except sqlite3.Error as exc:
        _common.fail(f"Checkpoint database error ({db})", exc, 2)
    except KeyboardInterrupt:
        hint = f"; resume with --thread-id {thread} --db {db}" if db is not None else ""
        Console(stderr=True).print(Text(f"Interrupted{hint}.", style="yellow"))
        raise typer.Exit(130) from None
    except Exception as exc:
        local_error = _local_model_error()
        if local_error is None or not isinstance(exc, local_error):
            raise
        _common.fail("Local model error", exc, 2)
    if json_output:
        typer.echo(result.model_dump_json(indent=2))
        return
    from fusion_graph.cli.render import render_result

    note = f"stored result of thread {thread} (no model was called)" if stored else None
    render_result(out, result, note=note)
    if db is not None and not stored:
        out.print(Text(f"thread: {thread} (saved in {db})", style="dim"))
