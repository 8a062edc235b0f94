"""Shared helpers of the benchmarks: a stub server in its own process, RSS, percentiles, judge prompts.

The stub server (``fusion_graph.testing.OpenAIStubServer``) runs in a separate *process* by default:
in a thread of the benchmark's process it would share the GIL and the event-loop CPU with the client
it is measuring (``bench/overhead.py --server thread`` shows the difference).
"""

from __future__ import annotations

import asyncio
import multiprocessing as mp
import os
import signal
import socket
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import httpx
from langchain_core.messages import BaseMessage, HumanMessage, SystemMessage
from pydantic import BaseModel

from fusion_graph import answers, prompts
from fusion_graph.testing import ModelScript, OpenAIStubServer
from fusion_graph.verdicts import verdict_schema

ScriptSpec = Mapping[str, Any]
"""Keyword arguments of one ``ModelScript`` (picklable: callables must be module-level functions)."""


def _serve(models: dict[str, dict[str, Any]], conn: Any) -> None:
    async def main() -> None:
        server = OpenAIStubServer({name: ModelScript(**kw) for name, kw in models.items()})
        async with server:
            conn.send(server.port)
            loop = asyncio.get_running_loop()
            # Wait for the parent to say stop (or to die): a blocking recv in a thread.
            await loop.run_in_executor(None, _wait_quiet, conn)

    asyncio.run(main())


def _wait_quiet(conn: Any) -> None:
    try:
        conn.recv()
    except (EOFError, OSError):
        pass


class StubProcess:
    """An ``OpenAIStubServer`` in a child process; ``with StubProcess(models) as base_url: …``."""

    def __init__(self, models: Mapping[str, ScriptSpec]) -> None:
        self.models = {name: dict(kw) for name, kw in models.items()}
        self._proc: Any = None
        self._conn: Any = None

    def __enter__(self) -> str:
        ctx = mp.get_context("spawn")
        parent, child = ctx.Pipe()
        self._proc = ctx.Process(target=_serve, args=(self.models, child), daemon=True)
        self._proc.start()
        if not parent.poll(30):
            raise RuntimeError("the stub server process did not start")
        port = parent.recv()
        self._conn = parent
        return f"http://127.0.0.1:{port}/v1"

    def __exit__(self, *exc: object) -> None:
        if self._conn is not None:
            self._conn.send("stop")
        if self._proc is not None:
            self._proc.join(10)
            if self._proc.is_alive():
                self._proc.terminate()
                self._proc.join(5)


class StubThread:
    """The same server in a thread of this process (for comparison only)."""

    def __init__(self, models: Mapping[str, ScriptSpec]) -> None:
        self.server = OpenAIStubServer({name: ModelScript(**kw) for name, kw in models.items()})

    def __enter__(self) -> str:
        self.server.start_in_thread()
        return self.server.base_url

    def __exit__(self, *exc: object) -> None:
        self.server.stop()


def stub(models: Mapping[str, ScriptSpec], where: str) -> StubProcess | StubThread:
    """A stub server in a ``process`` or a ``thread``."""
    return StubThread(models) if where == "thread" else StubProcess(models)


def rss_bytes() -> int:
    """This process's resident set size, from ``/proc/self/statm``."""
    with open("/proc/self/statm") as f:
        pages = int(f.read().split()[1])
    return pages * os.sysconf("SC_PAGE_SIZE")


def pct(samples: list[float], q: float) -> float:
    """The ``q`` quantile (nearest rank) of ``samples``."""
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def median(samples: list[float]) -> float:
    """The median."""
    return statistics.median(samples)


async def timed(fn: Callable[[], Any]) -> float:
    """Seconds one awaited call of ``fn()`` takes."""
    t = time.perf_counter()
    await fn()
    return time.perf_counter() - t


def load_note() -> str:
    """The machine's 1-minute load average and core count: other processes distort wall times."""
    with open("/proc/loadavg") as f:
        load = f.read().split()[0]
    return f"load average {load} on {os.cpu_count()} cores"


def free_port() -> int:
    """A free TCP port on 127.0.0.1."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class ServeProcess:
    """``fusion serve -c config`` in a child process on 127.0.0.1 (``command`` replaces ``fusion``)."""

    def __init__(self, config: Path, *args: str, command: list[str] | None = None) -> None:
        self.port = free_port()
        fusion = command or [str(Path(sys.executable).parent / "fusion")]
        self.proc = subprocess.Popen(
            [*fusion, "serve", "-c", str(config), "--port", str(self.port), "--log-level", "error", *args],
            env={**os.environ, "FUSION_API_KEYS": ""},
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        self.url = f"http://127.0.0.1:{self.port}"

    def wait_ready(self) -> None:
        """Return once ``/health/ready`` answers 200 (120 s at most)."""
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError("fusion serve exited")
            try:
                if httpx.get(f"{self.url}/health/ready", timeout=1).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.2)
        raise RuntimeError("fusion serve did not start in 120 s")

    def metrics(self) -> dict[str, Any]:
        """The server's ``/metrics``."""
        return httpx.get(f"{self.url}/metrics", timeout=10).json()

    def stop(self) -> None:
        """SIGTERM, then SIGKILL after 30 s."""
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(5)


def labels(count: int) -> list[str]:
    """The judge's labels for ``count`` answers, as the graph numbers them."""
    return [f"answer_{i + 1}" for i in range(count)]


def judge_schema(kind: str, count: int) -> type[BaseModel]:
    """The verdict schema the graph asks a judge to fill for ``count`` answers."""
    return verdict_schema(kind, labels(count))


def judge_messages(
    conversation: Sequence[BaseMessage], texts: list[str], kind: str = "best-of", answer_format: Any = "auto"
) -> list[BaseMessage]:
    """The judge prompt the graph sends for these answers, from the library's own builder.

    The same steps as the judge node: the conversation as ``human: …`` text, each answer's final
    answer extracted for the agreement line, then :func:`fusion_graph.prompts.judge_prompt`. (The
    graph also shuffles the answers by a seed; the order does not change the prompt's cost.)
    """
    shown = dict(zip(labels(len(texts)), texts, strict=True))
    keys, _ = answers.extract_answers(
        {label: (text, ()) for label, text in shown.items()}, answer_format=answer_format
    )
    agreement = answers.describe_agreement(keys, list(shown))
    system, user = prompts.judge_prompt(
        kind, prompts.render_conversation(conversation), shown, agreement=agreement
    )
    return [SystemMessage(system), HumanMessage(user)]


def fusions_file(path: Path, base_url: str, members: int, model: str) -> Path:
    """A ``fusion serve --fusions`` file: ``model`` fuses ``members`` stub members with a stub judge."""

    def entry(name: str) -> str:
        return (
            f'model = "openai:{name}"\nname = "{name}"\nbase_url = "{base_url}"\napi_key = "x"\n'
            "params = { max_retries = 0 }\n"
        )

    parts = ["[judge]", entry("judge"), f'[fusions."{model}"]\nmode = "best-of"']
    parts += [f'[[fusions."{model}".pool]]\n{entry(f"m{i}")}' for i in range(members)]
    path.write_text("\n".join(parts))
    return path
