"""Typed configuration of the tool registry and of its MCP servers.

A server is either a local process spoken to over stdio or a remote endpoint spoken to over
streamable HTTP; the two configs are discriminated by their ``transport`` field. A whole
registry can be loaded from the ``[tools]`` section of a TOML or YAML file (see
``docs/tools.md`` for the format)::

    [tools]
    timeout = 30

    [[tools.servers]]
    name = "time"
    transport = "stdio"
    command = "mcp-server-time"
    args = ["--local-timezone", "UTC"]

    [[tools.servers]]
    name = "docs"
    transport = "streamable_http"
    url = "http://127.0.0.1:8765/mcp"
    headers = { Authorization = "Bearer ${DOCS_TOKEN}" }

    [tools.members.alice]
    allow = ["time__*"]
"""

from __future__ import annotations

import os
import re
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from .errors import RegistryConfigError

__all__ = [
    "HttpServerConfig",
    "MemberPolicy",
    "RegistryConfig",
    "ServerConfig",
    "StdioServerConfig",
    "load_registry_config",
]

_SERVER_NAME = r"^[A-Za-z0-9_-]{1,32}$"
_ENV_REF = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")


class _ServerBase(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(pattern=_SERVER_NAME)
    """Server name; its tools are exposed as ``<name>__<tool>``. 1-32 of ``[A-Za-z0-9_-]``."""

    timeout: float | None = Field(default=None, gt=0)
    """Default per-call timeout in seconds for this server's tools (None: the registry's)."""

    connect_timeout: float = Field(default=30.0, gt=0)
    """Seconds allowed to start / connect and complete the MCP ``initialize`` handshake."""

    namespace: bool = True
    """Prefix tool names with ``<name>__``. Turn off only for a single, trusted server."""


class StdioServerConfig(_ServerBase):
    """An MCP server run as a local subprocess and spoken to over stdin/stdout."""

    transport: Literal["stdio"] = "stdio"
    """Discriminator: a subprocess speaking newline-delimited JSON-RPC over stdio."""

    command: str = Field(min_length=1)
    """Executable to start, looked up on ``PATH`` (e.g. ``"mcp-server-time"``)."""

    args: list[str] = Field(default_factory=list)
    """Command-line arguments passed to ``command``."""

    env: dict[str, str] = Field(default_factory=dict)
    """The server's whole environment, plus ``PATH`` (inherited unless set here).

    Nothing else of the parent's environment leaks to the server (no API keys by accident).
    """

    cwd: str | None = None
    """Working directory of the server process (None: the current directory)."""


class HttpServerConfig(_ServerBase):
    """An MCP server reached over the streamable HTTP transport."""

    transport: Literal["streamable_http"] = "streamable_http"
    """Discriminator: MCP streamable HTTP (a POST endpoint, optional SSE)."""

    url: str = Field(pattern=r"^https?://")
    """Endpoint URL, e.g. ``"http://127.0.0.1:8765/mcp"``."""

    headers: dict[str, str] = Field(default_factory=dict)
    """Extra HTTP headers sent with every request (e.g. ``Authorization``)."""


ServerConfig = Annotated[StdioServerConfig | HttpServerConfig, Field(discriminator="transport")]
"""A server config, discriminated by its ``transport`` field."""


class MemberPolicy(BaseModel):
    """Which tools one pool member may see and call (glob patterns on final tool names)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    allow: tuple[str, ...] = ("*",)
    """Glob patterns (``fnmatch``) a tool name must match to be visible. Default: everything."""

    deny: tuple[str, ...] = ()
    """Glob patterns that hide a tool even when ``allow`` matches. Deny wins."""


class RegistryConfig(BaseModel):
    """Configuration of a whole registry: servers, defaults and member policies."""

    model_config = ConfigDict(extra="forbid")

    servers: list[ServerConfig] = Field(default_factory=list)
    """MCP servers, in order; the order decides who keeps a colliding name.

    ``transport`` may be left out: ``command`` implies stdio, ``url`` streamable HTTP.
    """

    timeout: float = Field(default=60.0, gt=0)
    """Default per-call timeout in seconds."""

    strict: bool = False
    """Raise when a server fails to connect at start (default: log it and serve the others)."""

    fence_results: bool = True
    """Wrap tool output in markers saying it is untrusted data, not instructions."""

    members: dict[str, MemberPolicy] = Field(default_factory=dict)
    """Per-member allow/deny policies, keyed by member name."""

    @field_validator("servers", mode="before")
    @classmethod
    def _infer_transport(cls, servers: Any) -> Any:
        """A server without ``transport`` is stdio when it has ``command``, HTTP with ``url``."""
        if not isinstance(servers, list):
            return servers
        out = []
        for server in servers:
            if isinstance(server, dict) and "transport" not in server:
                if "command" in server:
                    server = {**server, "transport": "stdio"}
                elif "url" in server:
                    server = {**server, "transport": "streamable_http"}
            out.append(server)
        return out

    @field_validator("servers")
    @classmethod
    def _unique_names(cls, servers: list[StdioServerConfig | HttpServerConfig]) -> Any:
        names = [s.name for s in servers]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ValueError(f"duplicate server names: {dupes}; give each server a unique name")
        return servers

    @classmethod
    def from_file(
        cls,
        path: str | os.PathLike[str],
        *,
        section: str = "tools",
        environ: Mapping[str, str] | None = None,
    ) -> RegistryConfig:
        """Load the registry config from a TOML or YAML file. See :func:`load_registry_config`."""
        return load_registry_config(path, section=section, environ=environ)


def _expand(value: str, environ: Mapping[str, str], where: str) -> str:
    def repl(match: re.Match[str]) -> str:
        var = match.group(1)
        if var not in environ:
            raise RegistryConfigError(f"{where}: environment variable ${{{var}}} is not set")
        return environ[var]

    return _ENV_REF.sub(repl, value)


def load_registry_config(
    path: str | os.PathLike[str],
    *,
    section: str = "tools",
    environ: Mapping[str, str] | None = None,
) -> RegistryConfig:
    """Load a :class:`RegistryConfig` from the ``[tools]`` section of a TOML or YAML file.

    ``${VAR}`` references inside server ``env`` and ``headers`` values are replaced from
    ``environ`` (default: ``os.environ``) so secrets stay out of the file.

    Args:
        path: A ``.toml``, ``.yaml`` or ``.yml`` file.
        section: Top-level key holding the registry config.
        environ: Variables for ``${VAR}`` expansion.

    Returns:
        The validated config.

    Raises:
        RegistryConfigError: The file cannot be read or parsed, the section is missing, a field
            is invalid (the message names it), or a referenced variable is unset.

    Example:
        >>> cfg = load_registry_config("fusion.toml")  # doctest: +SKIP
    """
    file = Path(path)
    env = os.environ if environ is None else environ
    try:
        text = file.read_text(encoding="utf-8")
        if file.suffix.lower() == ".toml":
            data: Any = tomllib.loads(text)
        elif file.suffix.lower() in {".yaml", ".yml"}:
            data = yaml.safe_load(text) or {}
        else:
            raise RegistryConfigError(f"{file}: unsupported config format (use .toml or .yaml)")
    except (OSError, tomllib.TOMLDecodeError, yaml.YAMLError) as exc:
        raise RegistryConfigError(f"{file}: cannot read config: {exc}") from exc
    if not isinstance(data, dict) or section not in data:
        raise RegistryConfigError(f"{file}: no [{section}] section")
    raw = data[section]
    if not isinstance(raw, dict):
        raise RegistryConfigError(f"{file}: [{section}] must be a table")
    for i, server in enumerate(raw.get("servers") or []):
        if not isinstance(server, dict):
            continue
        for key in ("env", "headers"):
            values = server.get(key)
            if isinstance(values, dict):
                where = f"{file}: {section}.servers[{i}].{key}"
                server[key] = {k: _expand(str(v), env, f"{where}.{k}") for k, v in values.items()}
    try:
        return RegistryConfig.model_validate(raw)
    except ValidationError as exc:
        raise RegistryConfigError(f"{file}: invalid [{section}] config:\n{exc}") from exc
