"""``fusion models`` and ``fusion version``: what this install can run.

Registered on the app by :mod:`fusion_graph.cli`; the providers are imported when a command runs.
"""

from __future__ import annotations

import importlib
import importlib.util
import os

import typer
from rich.console import Console
from rich.text import Text

from fusion_graph.config import KNOWN_PROVIDERS

__all__ = ["models", "version"]

_LOCAL_INSTALL = "pip install 'fusion-graph[local]'"


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


def version() -> None:
    """Print the installed fusion-graph version."""
    from importlib.metadata import PackageNotFoundError
    from importlib.metadata import version as dist_version

    try:
        typer.echo(f"fusion-graph {dist_version('fusion-graph')}")
    except PackageNotFoundError:
        typer.echo("fusion-graph (not installed as a distribution)")
