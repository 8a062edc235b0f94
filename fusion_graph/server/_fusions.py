"""The served fusions: a file of named fusions, the default set, and per-request overrides.

A serve file is a pool file (see ``FusionConfig.from_file``) with an optional ``[fusions]`` table.
Top-level keys (``pool``, ``judge``, ``mode``, …) are defaults; each ``[fusions."NAME"]`` table is one
served model, its keys laid over the defaults (a table's own ``pool`` or ``judge`` replaces the
default one). Without a ``[fusions]`` table the file's pool is served once per mode, as
``fusion/best-of``, ``fusion/merge``, ``fusion/debate`` and ``fusion/vote``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, cast

from fusion_graph.config import MODES, FusionConfig, read_config_file
from fusion_graph.errors import ConfigError

__all__ = ["default_fusions", "fusions_from_data", "load_fusions", "with_overrides"]


def load_fusions(path: str | Path) -> dict[str, FusionConfig]:
    """Load the named fusions a server serves from a TOML or YAML file.

    Args:
        path: A ``.toml``, ``.yaml`` or ``.yml`` file (format in ``docs/serve.md``).

    Returns:
        The fusions by served model name, in file order.

    Raises:
        ConfigError: The file is missing, does not parse, or holds an invalid fusion (the error names
            it, e.g. ``fusions."fusion/debate".rounds``).

    Example:
        >>> fusions = load_fusions("fusions.toml")
        >>> app = create_app(fusions)
    """
    return fusions_from_data(read_config_file(path))


def fusions_from_data(data: dict[str, Any]) -> dict[str, FusionConfig]:
    """The named fusions of an already parsed serve file (see :func:`load_fusions`).

    Raises:
        ConfigError: A fusion is invalid, or the ``fusions`` table is malformed.
    """
    data = dict(data)
    data.pop("tools", None)
    named = data.pop("fusions", None)
    if named is None:
        return {f"fusion/{mode}": _build("", {**data, "mode": mode}) for mode in MODES}
    if not isinstance(named, dict) or not named:
        raise ConfigError(
            "fusions",
            "must be a table of named fusions",
            'add e.g. [fusions."fusion/debate"] with mode = "debate"',
        )
    fusions: dict[str, FusionConfig] = {}
    for name, table in cast(dict[str, Any], named).items():
        where = f'fusions."{name}"'
        if not isinstance(table, dict):
            raise ConfigError(where, "must be a table", "write its keys (mode, pool, judge, …) under it")
        fusions[str(name)] = _build(where, {**data, **cast(dict[str, Any], table)})
    return fusions


def default_fusions() -> dict[str, FusionConfig]:
    """The built-in offline default (``defaults.default_config``), served once per mode.

    Raises:
        ConfigError: This install has no default pool.
    """
    from fusion_graph.defaults import default_config

    return {f"fusion/{mode}": default_config(mode) for mode in MODES}  # type: ignore[arg-type]


def with_overrides(
    config: FusionConfig,
    *,
    mode: str | None = None,
    rounds: int | None = None,
    members: list[str] | None = None,
) -> FusionConfig:
    """The config with a request's overrides applied and validated again.

    Args:
        config: The served fusion.
        mode: ``best-of``, ``merge``, ``debate`` or ``vote``.
        rounds: Debate rounds.
        members: A subset of the pool, by member name (pool order is kept).

    Returns:
        A new config (the same one when nothing is overridden).

    Raises:
        ConfigError: An override is invalid; the field is ``mode``, ``rounds`` or ``members``.
    """
    update: dict[str, Any] = {}
    if mode is not None:
        update["mode"] = mode
    if rounds is not None:
        update["rounds"] = rounds
    if members is not None:
        if not members:
            raise ConfigError("members", "the list is empty", f"name at least one of {config.member_names}")
        unknown = [name for name in members if name not in config.member_names]
        if unknown:
            raise ConfigError(
                "members", f"no member is named {unknown[0]!r}", f"use some of {config.member_names}"
            )
        if len(set(members)) != len(members):
            raise ConfigError("members", "a member is named twice", "name each member once")
        update["pool"] = [member for member in config.pool if member.name in members]
    try:
        return config.replace(**update)
    except ConfigError as exc:
        if exc.field.split(".")[0] in ("mode", "rounds"):
            raise
        raise ConfigError("members", exc.problem, exc.fix) from exc


def _build(where: str, data: dict[str, Any]) -> FusionConfig:
    try:
        return FusionConfig(**data)
    except ConfigError as exc:
        if not where:
            raise
        raise ConfigError(f"{where}.{exc.field}", exc.problem, exc.fix) from exc
