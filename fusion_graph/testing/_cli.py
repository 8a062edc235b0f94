"""``python -m fusion_graph.testing.openai_server``: serve scripted models on 127.0.0.1 by hand."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
from collections.abc import Sequence

from fusion_graph.testing._scripts import ModelScript
from fusion_graph.testing.openai_server import OpenAIStubServer

__all__ = ["main"]


def main(argv: Sequence[str] | None = None) -> None:
    """Parse the command line and serve until interrupted."""
    parser = argparse.ArgumentParser(
        prog="python -m fusion_graph.testing.openai_server",
        description="Serve scripted OpenAI-compatible chat models on 127.0.0.1.",
    )
    parser.add_argument("--port", type=int, default=0, help="port (0: a free one)")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--api-key", default=None, help="require this bearer key")
    parser.add_argument(
        "--model",
        action="append",
        default=[],
        metavar="NAME=REPLY",
        help="a model answering REPLY (repeatable)",
    )
    parser.add_argument(
        "--judge",
        action="append",
        default=[],
        metavar="NAME",
        help="a judge model answering structured-output requests (repeatable)",
    )
    parser.add_argument("--latency", type=float, default=0.0, help="seconds per answer")
    parser.add_argument("--token-delay", type=float, default=0.0, help="seconds per chunk")
    args = parser.parse_args(argv)
    models: dict[str, ModelScript] = {}
    for spec in args.model:
        name, _, reply = spec.partition("=")
        models[name] = ModelScript(reply=reply or "ok", latency=args.latency, token_delay=args.token_delay)
    for name in args.judge:
        models[name] = ModelScript(judge=True, latency=args.latency, token_delay=args.token_delay)
    if not models:
        models["stub"] = ModelScript(reply="ok")

    async def serve() -> None:
        server = OpenAIStubServer(models, api_key=args.api_key, host=args.host, port=args.port)
        async with server:
            print(f"serving {', '.join(models)} at {server.base_url}", flush=True)
            await asyncio.Event().wait()

    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(serve())
