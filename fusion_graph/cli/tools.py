"""``fusion tools list`` / ``fusion tools serve``: the shared tool registry from the command line.

``tools_app`` is the ``fusion tools`` sub-app, added to the app by :mod:`fusion_graph.cli`.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console
from rich.table import Table
from rich.text import Text

from fusion_graph.cli import _common
from fusion_graph.config import FusionConfig, Mode

if TYPE_CHECKING:
    from fusion_graph.runner import Fusion
    from tool_registry import ToolRegistry

__all__ = ["FuseTool", "fuse_tool", "registry_from_file", "tools_app"]

tools_app = typer.Typer(
    help=(
        "The tool registry's tools (MCP servers, Python functions): list them, or serve them as one "
        "MCP server."
    ),
    no_args_is_help=True,
)
"""The ``fusion tools`` sub-app: ``list`` and ``serve``."""


def registry_from_file(path: Path | None) -> ToolRegistry | None:
    """The registry of a file's ``[tools]`` section, or ``None`` when it has none.

    Raises:
        ConfigError: The section is invalid (the message names the field).
    """
    if path is None:
        return None
    from fusion_graph.config import read_config_file
    from fusion_graph.errors import ConfigError
    from tool_registry import RegistryConfigError, ToolRegistry

    if "tools" not in read_config_file(path):
        return None
    try:
        return ToolRegistry.from_config(path)
    except RegistryConfigError as exc:
        raise ConfigError("tools", str(exc)) from exc


class FuseTool:
    """The ``fuse`` tool of ``fusion tools serve``: the pool answers with the served registry's tools.

    The fusion is compiled once per mode, on first use, and reused by every later call (and by
    concurrent calls). Its members call the tools of ``registry``, the registry served beside
    the tool: each run holds it open (reference-counted), so the servers it connected for
    serving are shared, not started again.

    Args:
        config: The pool, judge and default mode.
        registry: The tools the members may call (None: no tools).

    Example:
        >>> tool = FuseTool(config, registry)
        >>> server = create_mcp_server(registry, extra_tools=[tool.fuse])
    """

    def __init__(self, config: FusionConfig, registry: ToolRegistry | None = None) -> None:
        self.config = config
        self.registry = registry
        self.compiled: dict[str, Fusion] = {}
        """The compiled fusions, by mode."""

    def fusion(self, mode: Mode | None = None) -> Fusion:
        """The compiled fusion for ``mode`` (default: the config's), compiled on first use.

        Raises:
            ConfigError: A model of the pool cannot be resolved.
        """
        from fusion_graph.runner import Fusion

        key = mode or self.config.mode
        fusion = self.compiled.get(key)
        if fusion is None:
            config = self.config if key == self.config.mode else self.config.replace(mode=key)
            fusion = self.compiled[key] = Fusion(config, tools=self.registry)
        return fusion

    async def fuse(self, prompt: str, mode: Mode | None = None) -> str:
        """Ask a pool of models and get one fused answer (best-of, merge, debate or vote)."""
        result = await self.fusion(mode).run(prompt)
        return result.answer


def fuse_tool(config_path: Path | None, registry: ToolRegistry | None = None) -> FuseTool:
    """The ``fuse`` tool for the file's pool (or the local default), compiled now for its mode.

    Raises:
        ConfigError: The pool is invalid or a model cannot be resolved.
    """
    if config_path is not None:
        config = FusionConfig.from_file(config_path)
    else:
        from fusion_graph.defaults import default_config

        config = default_config()
    tool = FuseTool(config, registry)
    tool.fusion()
    return tool


@tools_app.command("list")
def list_tools(
    config: Annotated[
        Path, typer.Option("--config", "-c", help="A file with a [tools] section.", dir_okay=False)
    ],
    member: Annotated[str | None, typer.Option(help="Only the tools this member may call.")] = None,
) -> None:
    """Connect every server of the file and list each tool with its origin."""
    registry = _registry_or_exit(config)

    async def collect() -> list[Any]:
        async with registry:
            return registry.list_tools(member)

    tools = asyncio.run(collect())
    table = Table("tool", "origin", "description")
    for info in tools:
        origin = info.origin.server or info.origin.kind
        table.add_row(info.name, f"{info.origin.kind}:{origin}", (info.description or "")[:80])
    Console().print(table)
    status = registry.server_status()
    dead = [name for name, state in status.items() if state not in ("ready", "closed", "idle")]
    if dead:
        Console(stderr=True).print(Text(f"not connected: {', '.join(dead)}", style="yellow"))


@tools_app.command("serve")
def serve(
    config: Annotated[
        Path, typer.Option("--config", "-c", help="A file with a [tools] section.", dir_okay=False)
    ],
    transport: Annotated[str, typer.Option(help="stdio or http.")] = "stdio",
    host: Annotated[str, typer.Option(help="HTTP bind address.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="HTTP port.")] = 8765,
    token: Annotated[
        str | None,
        typer.Option(envvar="FUSION_TOOLS_TOKEN", help="Bearer token (required off loopback)."),
    ] = None,
    with_fuse: Annotated[bool, typer.Option("--fuse/--no-fuse", help="Also serve a `fuse` tool.")] = True,
) -> None:
    """Serve every tool of the registry as one MCP server, plus a `fuse` tool."""
    from tool_registry import RegistryConfigError, serve_registry

    if transport not in ("stdio", "http"):
        _common.fail("Tools", f"--transport must be stdio or http, not {transport!r}", 2)
    from fusion_graph.errors import ConfigError

    registry = _registry_or_exit(config)
    pool = config if _has_pool(config) else None
    try:
        extra = [fuse_tool(pool, registry).fuse] if with_fuse else []
    except ConfigError as exc:
        _common.fail("Tools", f"the fuse tool's pool: {exc}", 2)
    try:
        asyncio.run(
            serve_registry(
                registry,
                transport="stdio" if transport == "stdio" else "streamable_http",
                host=host,
                port=port,
                token=token,
                extra_tools=extra,
            )
        )
    except RegistryConfigError as exc:
        _common.fail("Tools", exc, 2)
    except KeyboardInterrupt:
        pass


def _has_pool(path: Path) -> bool:
    from fusion_graph.config import read_config_file

    return "pool" in read_config_file(path)


def _registry_or_exit(path: Path) -> ToolRegistry:
    from fusion_graph.errors import ConfigError

    try:
        registry = registry_from_file(path)
    except ConfigError as exc:
        _common.fail("Tools", exc, 2)
    if registry is None:
        _common.fail(
            "Tools", f"{path} has no [tools] section; add [[tools.servers]] entries (see docs/tools.md)", 2
        )
    return registry
