"""An MCP test server (MCPServer, the installed SDK's newest handshake revision) that asks the user.

Run over stdio (default) or streamable HTTP::

    python tests/tool_registry/mcp_servers/mcp_elicit.py                    # stdio
    python tests/tool_registry/mcp_servers/mcp_elicit.py --http --port 8765  # streamable HTTP on 127.0.0.1

Tools:

* ``transfer(amount)`` asks "Transfer <amount> EUR?" (MCP elicitation, form mode, schema
  ``{confirm: bool, note: str}``) and says what the user answered.
* ``reading()`` declares an ``outputSchema`` (``celsius`` a number) and returns a string there.

Every elicitation the server sends is appended to ``$MCP_ELICIT_LOG`` (when set), one line each,
so a test can count how many times it asked.
"""

from __future__ import annotations

import argparse
import os
from typing import Annotated

from mcp.server.mcpserver import Context, MCPServer
from pydantic import BaseModel, Field, PlainSerializer


class Confirm(BaseModel):
    confirm: bool = Field(description="Go ahead with the transfer")
    note: str = Field(default="", description="A note for the bank")


class Reading(BaseModel):
    # The schema says a number; the serializer sends a string: a result that breaks its own schema.
    celsius: Annotated[float, PlainSerializer(lambda value: f"{value} C", return_type=float)]


def _log(line: str) -> None:
    path = os.environ.get("MCP_ELICIT_LOG")
    if path:
        with open(path, "a", encoding="utf-8") as log:
            log.write(line + "\n")


def build_server() -> MCPServer:
    mcp = MCPServer("elicit")

    @mcp.tool()
    async def transfer(amount: int, ctx: Context) -> str:
        """Transfer an amount of euros, once the user confirms it."""
        message = f"Transfer {amount} EUR?"
        _log(message)
        answer = await ctx.elicit(message, Confirm)
        if answer.action == "accept":
            data = answer.data
            return f"transferred {amount} EUR ({data.note})" if data.confirm else "not confirmed"
        if answer.action == "decline":
            return "transfer declined by the user"
        return "transfer cancelled"

    @mcp.tool()
    def reading() -> Reading:
        """A temperature reading (whose structured result does not match its schema)."""
        return Reading(celsius=21.5)

    return mcp


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--http", action="store_true")
    parser.add_argument("--port", type=int, default=8765)
    args = parser.parse_args()
    mcp = build_server()
    if args.http:
        mcp.run("streamable-http", host="127.0.0.1", port=args.port)
    else:
        mcp.run()


if __name__ == "__main__":
    main()
