"""The ``fusion`` command line: run a fusion, serve fusions over HTTP, evaluate a pool, list models and tools.

Commands::

    fusion run ["prompt"] [--config pool.toml] [--mode best-of|merge|debate|vote] [--rounds N] [--json]
                          [--thread-id ID] [--db runs.sqlite]
    fusion serve [--config fusions.toml] [--host 127.0.0.1] [--port 8000] [--api-key KEY ...]
                 [--postgres-url URL] [--workers N] [--max-concurrency N] [--max-queue N]
                 [--queue-timeout S] [--max-body-bytes N] [--graceful-timeout S] [--startup-timeout S]
                 [--log-level LEVEL]
    fusion db migrate --postgres-url URL [--timeout S]
    fusion eval --dataset gsm8k|bfcl-simple|gsm-symbolic|FILE.jsonl [--config pool.toml] [--limit N]
                [--out results.jsonl] [--plot FILE.png] [--modes ...] [--members ...] [--rounds N]
    fusion models
    fusion version
    fusion tools list --config FILE [--member NAME]
    fusion tools serve --config FILE [--transport stdio|http] [--host H] [--port N] [--token T]
                       [--fuse/--no-fuse]

One module per command: :mod:`~fusion_graph.cli.run`, :mod:`~fusion_graph.cli.serve`,
:mod:`~fusion_graph.cli.eval`, :mod:`~fusion_graph.cli.tools`, :mod:`~fusion_graph.cli.db` and
:mod:`~fusion_graph.cli.info` (``models``, ``version``); :mod:`~fusion_graph.cli.render` draws ``run``'s
progress and report, and :mod:`~fusion_graph.cli._common` holds what they share (loading the pool,
the one failure printer). This module only builds the typer app; models, checkpointers, the views and
the optional local provider are imported inside the commands.
"""

from __future__ import annotations

import typer

from fusion_graph.cli import eval as _eval
from fusion_graph.cli import info as _info
from fusion_graph.cli import run as _run
from fusion_graph.cli import serve as _serve
from fusion_graph.cli.db import db_app
from fusion_graph.cli.tools import tools_app

__all__ = ["app", "db_app", "main", "tools_app"]

app = typer.Typer(
    name="fusion",
    help="Run one prompt through a pool of LLMs in parallel and fuse their answers with a judge.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
"""The ``fusion`` app (the console script ``fusion`` calls it)."""

app.add_typer(tools_app, name="tools")
app.add_typer(db_app, name="db")
app.command("serve")(_serve.serve)
app.command("eval")(_eval.eval_command)
app.command("run")(_run.run)
app.command("models")(_info.models)
app.command("version")(_info.version)


def main() -> None:
    """Run the ``fusion`` command line (``python -m fusion_graph.cli``)."""
    app()
