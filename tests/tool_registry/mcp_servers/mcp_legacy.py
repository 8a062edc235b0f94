"""An MCP server of the oldest revision the SDK still negotiates (2024-11-05), written by hand.

Plain newline-delimited JSON-RPC on stdio, no SDK: it answers ``initialize`` with
``protocolVersion: "2024-11-05"`` whatever the client offers, as a server built before later
revisions would, and serves one tool, ``shout(text)``. Other requests get "method not found".
"""

from __future__ import annotations

import json
import sys

REVISION = "2024-11-05"
TOOL = {
    "name": "shout",
    "description": "The text in capitals.",
    "inputSchema": {"type": "object", "properties": {"text": {"type": "string"}}, "required": ["text"]},
}


def answer(request: dict) -> dict | None:
    method, rid = request.get("method"), request.get("id")
    if rid is None:  # a notification (initialized, cancelled)
        return None
    if method == "initialize":
        result = {
            "protocolVersion": REVISION,
            "capabilities": {"tools": {}},
            "serverInfo": {"name": "legacy", "version": "0.0.1"},
        }
    elif method == "tools/list":
        result = {"tools": [TOOL]}
    elif method == "tools/call":
        text = str(request.get("params", {}).get("arguments", {}).get("text", ""))
        result = {"content": [{"type": "text", "text": text.upper()}], "isError": False}
    elif method == "ping":
        result = {}
    else:
        return {"jsonrpc": "2.0", "id": rid, "error": {"code": -32601, "message": f"no method {method}"}}
    return {"jsonrpc": "2.0", "id": rid, "result": result}


def main() -> None:
    for line in sys.stdin:
        if not line.strip():
            continue
        reply = answer(json.loads(line))
        if reply is not None:
            sys.stdout.write(json.dumps(reply) + "\n")
            sys.stdout.flush()


if __name__ == "__main__":
    main()
