"""A low-level MCP test server whose ``tools/list`` is paginated (2 tools a page).

``MCPServer`` answers ``tools/list`` in one page, so pagination needs the low-level ``Server``.
It also offers tools whose names need sanitising or collide once namespaced.
"""

from __future__ import annotations

import mcp_types as types
from mcp.server.lowlevel.server import Server
from mcp.server.stdio import stdio_server

PAGE = 2

TOOL_NAMES = ["t0", "t1", "t2", "t3", "weird name!", "add"]


def _tool(name: str) -> types.Tool:
    return types.Tool(
        name=name,
        description=f"Paged tool {name}.",
        input_schema={
            "type": "object",
            "properties": {"n": {"type": "integer", "minimum": 0}},
            "required": ["n"],
        },
    )


async def on_list_tools(ctx, params: types.PaginatedRequestParams | None) -> types.ListToolsResult:
    start = int(params.cursor) if params is not None and params.cursor else 0
    page = TOOL_NAMES[start : start + PAGE]
    nxt = start + PAGE
    return types.ListToolsResult(
        tools=[_tool(n) for n in page],
        next_cursor=str(nxt) if nxt < len(TOOL_NAMES) else None,
    )


async def on_call_tool(ctx, params: types.CallToolRequestParams) -> types.CallToolResult:
    n = (params.arguments or {}).get("n")
    return types.CallToolResult(content=[types.TextContent(type="text", text=f"{params.name}:{n}")])


async def run() -> None:
    server = Server("paged", on_list_tools=on_list_tools, on_call_tool=on_call_tool)
    async with stdio_server() as (read, write):
        await server.run(read, write, server.create_initialization_options())


if __name__ == "__main__":
    import anyio

    anyio.run(run)
