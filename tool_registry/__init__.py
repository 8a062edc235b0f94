"""The shared tool registry of fusion-graph: MCP servers and Python functions for every model.

Example:
    >>> from tool_registry import ToolRegistry
    >>> registry = ToolRegistry()
    >>> _ = registry.add_mcp_server("time", command="mcp-server-time")
    >>> async with registry:  # doctest: +SKIP
    ...     tools = registry.as_langchain_tools(member="alice")
"""

from .config import (
    HttpServerConfig,
    MemberPolicy,
    RegistryConfig,
    ServerConfig,
    StdioServerConfig,
    load_registry_config,
)
from .convert import fence, to_model_content
from .elicitation import (
    ElicitationHandler,
    ElicitationRequest,
    ElicitationResponse,
    handling_elicitation,
)
from .errors import (
    DuplicateToolName,
    RegistryConfigError,
    RegistryStateError,
    ServerConnectionError,
    ToolArgumentsInvalid,
    ToolCallError,
    ToolExecutionError,
    ToolNotAllowed,
    ToolNotFound,
    ToolRegistryError,
    ToolTimeout,
)
from .mcp_client import MCPConnection
from .models import ToolInfo, ToolOrigin, ToolResult
from .registry import ToolRegistry, ToolView
from .server import create_mcp_server, serve_registry

__all__ = [
    "DuplicateToolName",
    "ElicitationHandler",
    "ElicitationRequest",
    "ElicitationResponse",
    "HttpServerConfig",
    "MCPConnection",
    "MemberPolicy",
    "RegistryConfig",
    "RegistryConfigError",
    "RegistryStateError",
    "ServerConfig",
    "ServerConnectionError",
    "StdioServerConfig",
    "ToolArgumentsInvalid",
    "ToolCallError",
    "ToolExecutionError",
    "ToolInfo",
    "ToolNotAllowed",
    "ToolNotFound",
    "ToolOrigin",
    "ToolRegistry",
    "ToolRegistryError",
    "ToolResult",
    "ToolTimeout",
    "ToolView",
    "create_mcp_server",
    "fence",
    "handling_elicitation",
    "load_registry_config",
    "serve_registry",
    "to_model_content",
]
