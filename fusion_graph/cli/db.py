"""``fusion db migrate``: create or update ``fusion serve``'s checkpoint tables in PostgreSQL, once.

Replicas migrate at startup by themselves (safely, any number at once); this command is the same step
run on its own, e.g. as a deploy job before the replicas roll out. Imports psycopg only when it runs.
"""

from __future__ import annotations

import asyncio
from typing import Annotated

import typer
from rich.console import Console
from rich.text import Text

from fusion_graph.cli import _common
from fusion_graph.errors import ConfigError

__all__ = ["db_app", "migrate"]

db_app = typer.Typer(help="The PostgreSQL database of fusion serve --postgres-url.", no_args_is_help=True)
"""The ``fusion db`` command group."""


@db_app.command("migrate")
def migrate(
    postgres_url: Annotated[
        str,
        typer.Option(
            "--postgres-url",
            envvar="FUSION_POSTGRES_URL",
            help="PostgreSQL URL, as given to fusion serve (needs the postgres extra).",
        ),
    ],
    timeout: Annotated[
        float,
        typer.Option(
            "--timeout", min=0.001, help="Seconds to reach the server and migrate, then fail naming why."
        ),
    ] = 60.0,
) -> None:
    """Bring the checkpoint tables up to date (a no-op when they are); safe beside running replicas.

    Exit code 1 when the server does not answer or the migration is stuck (the message names the
    session it waited for), 2 when the postgres extra is missing.
    """
    from fusion_graph.server import migrate_postgres

    try:
        applied = asyncio.run(migrate_postgres(postgres_url, timeout=timeout))
    except ConfigError as exc:
        _common.fail("Migration failed", exc, 2 if exc.field != "postgres_url" else 1)
    done = f"applied {applied} migration(s)" if applied else "the tables were up to date"
    Console(stderr=True).print(Text(f"checkpoint tables ready: {done}", style="green"))
