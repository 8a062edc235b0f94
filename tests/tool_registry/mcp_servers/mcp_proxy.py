"""The tool registry served as ONE MCP server over stdio (aggregating ``mcp_basic`` + a Python tool).

python tests/tool_registry/mcp_servers/mcp_proxy.py
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

from tool_registry import ToolRegistry, serve_registry

BASIC = str(Path(__file__).with_name("mcp_basic.py"))


def fuse(prompt: str) -> str:
    """Stand-in for the core's fuse tool."""
    return f"fused: {prompt}"


async def main() -> None:
    registry = ToolRegistry(timeout=10)
    registry.add_mcp_server("basic", command=sys.executable, args=[BASIC])

    @registry.tool
    def add(a: int, b: int) -> int:
        """Add two integers."""
        return a + b

    await serve_registry(registry, transport="stdio", extra_tools=[fuse])


if __name__ == "__main__":
    asyncio.run(main())
