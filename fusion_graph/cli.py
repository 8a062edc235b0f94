"""The ``fusion`` command line: run a fusion, serve fusions over HTTP, evaluate a pool, list models and tools.

Commands::

    fusion run ["prompt"] [--config pool.toml] [--mode best-of|merge|debate|vote] [--rounds N] [--json]
                          [--thread-id ID] [--db runs.sqlite]
    fusion serve [--config fusions.toml] [--host 127.0.0.1] [--port 8000] [--api-key KEY ...]
                 [--postgres-url URL] [--workers N] [--max-concurrency N] [--max-queue N]
                 [--queue-timeout S] [--max-body-bytes N] [--graceful-timeout S] [--log-level LEVEL]
    fusion eval --dataset gsm8k|bfcl-simple|FILE.jsonl [--config pool.toml] [--limit N]
                [--out results.jsonl] [--plot FILE.png] [--modes ...] [--members ...] [--rounds N]
    fusion models
    fusion version
    fusion tools list --config FILE [--member NAME]
    fusion tools serve --config FILE [--transport stdio|http] [--host H] [--port N] [--token T]
                       [--fuse/--no-fuse]

``run``, ``models`` and ``version`` are defined here; ``serve`` in :mod:`fusion_graph._cli_serve`,
``eval`` in :mod:`fusion_graph._cli_eval` and the ``tools`` commands in
:mod:`fusion_graph._cli_tools`, all registered on ``app`` below. Importing this module builds the
typer app and registers those commands; models, checkpointers and the optional local provider are
imported inside the commands.
"""

from __future__ import annotations

import asyncio
import importlib
import importlib.util
import os
import sqlite3
import sys
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, nullcontext
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, NoReturn, cast

import typer
from rich.console import Console
from rich.text import Text

from fusion_graph.config import KNOWN_PROVIDERS, FusionConfig
from fusion_graph.errors import ConfigError, FusionRunError, ThreadConflict

if TYPE_CHECKING:
    from langgraph.checkpoint.base import BaseCheckpointSaver

    from fusion_graph.result import FusionResult
    from fusion_graph.runner import Fusion

from fusion_graph import _cli_tools
from fusion_graph._cli_eval import eval_command as _eval
from fusion_graph._cli_serve import serve as _serve

__all__ = ["app", "tools_app"]

app = typer.Typer(
    name="fusion",
    help="Run one prompt through a pool of LLMs in parallel and fuse their answers with a judge.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

tools_app = typer.Typer(
    help=(
        "The tool registry's tools (MCP servers, Python functions): list them, or serve them as one "
        "MCP server."
    ),
    no_args_is_help=True,
)
"""The ``fusion tools`` sub-app; :func:`fusion_graph._cli_tools.register` adds ``list`` and ``serve``."""
app.add_typer(tools_app, name="tools")
_cli_tools.register(tools_app)
app.command("serve")(_serve)
app.command("eval")(_eval)

_LOCAL_INSTALL = "pip install 'fusion-graph[local]'"


# ---------------------------------------------------------------------------------------------
# Config loading (module-level so that tests can monkeypatch it)
# ---------------------------------------------------------------------------------------------


def _load_config(path: Path | None) -> FusionConfig:
    """The config from ``path``, or the default local pool when no path is given.

    Raises:
        ConfigError: The file is invalid, or no path is given and the default pool is unavailable.
    """
    if path is not None:
        return FusionConfig.from_file(path)
    try:
        defaults = importlib.import_module("fusion_graph.defaults")
    except ImportError as exc:
        if exc.name != "fusion_graph.defaults":
            raise
        raise ConfigError(
            "config",
            "no --config was given and this install has no default local pool "
            "(fusion_graph.defaults is missing)",
            "pass --config pool.toml, or upgrade fusion-graph",
        ) from exc
    default_config = cast(Callable[[], FusionConfig], defaults.default_config)
    return default_config()


def _with_overrides(config: FusionConfig, *, mode: str | None, rounds: int | None) -> FusionConfig:
    """The config with ``--mode`` / ``--rounds`` applied and validated again.

    Raises:
        ConfigError: The mode or the number of rounds is invalid.
    """
    update: dict[str, Any] = {}
    if mode is not None:
        update["mode"] = mode
    if rounds is not None:
        update["rounds"] = rounds
    if not update:
        return config
    copy = config.model_copy(update=update)
    # Field by field rather than model_dump(): members may hold chat model instances.
    return FusionConfig(**{name: getattr(copy, name) for name in FusionConfig.model_fields})


# ---------------------------------------------------------------------------------------------
# Running
# ---------------------------------------------------------------------------------------------


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

    from fusion_graph._cli_render import ProgressView

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


def _fail(console: Console, title: str, exc: BaseException, code: int) -> NoReturn:
    message = Text.assemble((f"{title}: ", "bold red"), (str(exc), "red"))
    console.print(message)
    raise typer.Exit(code)


def _local_model_error() -> type[BaseException] | None:
    """The local provider's error type, when that module is already imported (never imports it)."""
    module = sys.modules.get("fusion_graph.providers.local")
    error = getattr(module, "LocalModelError", None) if module is not None else None
    return error if isinstance(error, type) and issubclass(error, BaseException) else None


@app.command()
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
    err = Console(stderr=True)
    thread = thread_id or uuid.uuid4().hex
    try:
        if prompt is None and thread_id is None:
            raise ConfigError(
                "prompt", "missing", "pass the prompt, or --thread-id and --db to resume or show a saved run"
            )
        fusion_config = _with_overrides(_load_config(config), mode=mode, rounds=rounds)
        result, stored = asyncio.run(
            _execute(
                fusion_config,
                _read_prompt(prompt),
                thread_id=thread,
                db=db,
                progress=None if json_output else out,
                tools=_cli_tools.registry_from_file(config),
            )
        )
    except ThreadConflict as exc:
        _fail(err, "Thread conflict", exc, 2)
    except ConfigError as exc:
        _fail(err, "Configuration error", exc, 2)
    except FusionRunError as exc:
        _fail(err, "Fusion failed", exc, 1)
    except sqlite3.Error as exc:
        _fail(err, f"Checkpoint database error ({db})", exc, 2)
    except KeyboardInterrupt:
        hint = f"; resume with --thread-id {thread} --db {db}" if db is not None else ""
        err.print(Text(f"Interrupted{hint}.", style="yellow"))
        raise typer.Exit(130) from None
    except Exception as exc:
        local_error = _local_model_error()
        if local_error is None or not isinstance(exc, local_error):
            raise
        _fail(err, "Local model error", exc, 2)
    if json_output:
        typer.echo(result.model_dump_json(indent=2))
        return
    from fusion_graph._cli_render import render_result

    note = f"stored result of thread {thread} (no model was called)" if stored else None
    render_result(out, result, note=note)
    if db is not None and not stored:
        out.print(Text(f"thread: {thread} (saved in {db})", style="dim"))


# ---------------------------------------------------------------------------------------------
# models / version
# ---------------------------------------------------------------------------------------------


@app.command()
def models() -> None:
    """List the bundled local models and the provider prefixes, with whether their extra is installed."""
    from rich.table import Table

    from fusion_graph.providers import provider_info

    out = Console()
    try:
        local = importlib.import_module("fusion_graph.providers.local")
    except ImportError as exc:
        out.print(
            Text(
                f"Local models are not available ({exc}); install them with: {_LOCAL_INSTALL}",
                style="yellow",
            )
        )
    else:
        table = Table(title="local models (use as local:NAME)", title_justify="left")
        table.add_column("name")
        table.add_column("installed")
        table.add_column("size", justify="right")
        table.add_column("description", overflow="fold")
        for info in local.list_local_models():
            installed = (
                Text("yes", style="green")
                if info.installed
                else Text(f"no — {info.install_command}", style="yellow")
            )
            table.add_row(Text(info.name), installed, f"{info.size / 1e6:.0f} MB", Text(info.description))
        out.print(table)

    table = Table(title="providers (use as PREFIX:MODEL)", title_justify="left")
    table.add_column("prefix")
    table.add_column("extra")
    table.add_column("installed")
    table.add_column("API key")
    table.add_column("needs")
    for prefix in KNOWN_PROVIDERS:
        info = provider_info(prefix)
        found = importlib.util.find_spec(info.module) is not None
        installed = (
            Text("yes", style="green")
            if found
            else Text(f"no — pip install 'fusion-graph[{info.extra}]'", style="yellow")
        )
        if info.key_env is None:
            key = Text("—", style="dim")
        elif os.environ.get(info.key_env):
            key = Text(f"{info.key_env} set", style="green")
        else:
            key = Text(f"{info.key_env} not set", style="yellow")
        table.add_row(
            prefix,
            info.extra or "(built in)",
            installed,
            key,
            "base_url" if info.needs_base_url else "",
        )
    out.print(table)


@app.command()
def version() -> None:
    """Print the installed fusion-graph version."""
    from importlib.metadata import PackageNotFoundError
    from importlib.metadata import version as dist_version

    try:
        typer.echo(f"fusion-graph {dist_version('fusion-graph')}")
    except PackageNotFoundError:
        typer.echo("fusion-graph (not installed as a distribution)")
