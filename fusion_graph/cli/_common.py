"""What every ``fusion`` command shares: loading the pool, the options given, printing a failure.

``load_config`` is looked up on this module when a command runs, so tests replace it with
``monkeypatch.setattr(_common, "load_config", ...)``.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from pathlib import Path
from typing import Any, NoReturn, cast

import typer
from rich.console import Console
from rich.text import Text

from fusion_graph.config import FusionConfig
from fusion_graph.errors import ConfigError

__all__ = ["fail", "given", "load_config"]


def load_config(path: Path | None) -> FusionConfig:
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


def given(**options: Any) -> dict[str, Any]:
    """The options the user gave (those not ``None``), ready for :meth:`FusionConfig.replace`.

    Example:
        >>> config.replace(**given(mode=mode, rounds=rounds))
    """
    return {name: value for name, value in options.items() if value is not None}


def fail(title: str | None, problem: object, code: int) -> NoReturn:
    """Print ``title: problem`` in red on standard error and exit with ``code``.

    The one way a command reports a failure: ``Configuration error`` (code 2) for a
    :class:`ConfigError`, ``Fusion failed`` (code 1) for a ``FusionRunError``, and so on.

    Args:
        title: What failed (bold), or ``None`` to print ``problem`` alone.
        problem: The exception or message, printed as plain text (never as console markup).
        code: The exit code.

    Raises:
        typer.Exit: Always, with ``code``.
    """
    message = Text(str(problem), style="red")
    if title is not None:
        message = Text.assemble((f"{title}: ", "bold red"), message)
    Console(stderr=True).print(message)
    raise typer.Exit(code) from None
