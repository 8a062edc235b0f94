"""`fusion serve` as a real process on 127.0.0.1 whose members are models of an `OpenAIStubServer`."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def stub_model(model: str, base_url: str) -> str:
    """One TOML model table body: an OpenAI model served by the stub, named as it, no SDK retries."""
    return (
        f'model = "openai:{model}"\nname = "{model}"\nbase_url = "{base_url}"\napi_key = "x"\n'
        "params = { max_retries = 0 }\n"
    )


def fusions_file(path: Path, base_url: str, fusions: dict[str, list[str]]) -> Path:
    """A fusions file: the stub's ``judge`` judges, each fusion's pool is the stub's models named."""
    lines = ["[judge]", stub_model("judge", base_url)]
    for fusion, members in fusions.items():
        lines.append(f'[fusions."{fusion}"]\nmode = "best-of"')
        for member in members:
            lines.append(f'[[fusions."{fusion}".pool]]\n{stub_model(member, base_url)}')
    path.write_text("\n".join(lines))
    return path


class ServeProcess:
    """``fusion serve --config PATH --port P ARGS…``, its output in a log file."""

    def __init__(self, config: Path, *args: str) -> None:
        self.port = free_port()
        self.log = config.with_suffix(f".{self.port}.log")
        fusion = Path(sys.executable).with_name("fusion")
        command = [str(fusion), "serve", "--config", str(config), "--port", str(self.port)]
        with self.log.open("w") as out:
            self.proc = subprocess.Popen(
                [*command, "--log-level", "warning", *args],
                env={**os.environ, "FUSION_API_KEYS": ""},
                stdout=out,
                stderr=subprocess.STDOUT,
            )

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def base_url(self) -> str:
        return f"{self.url}/v1"

    def wait_ready(self, timeout: float = 60) -> ServeProcess:
        deadline = time.monotonic() + timeout
        while True:
            try:
                if httpx.get(f"{self.url}/health/ready", timeout=1).status_code == 200:
                    return self
            except httpx.TransportError:
                pass
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"fusion serve did not start:\n{self.log.read_text()}")
            time.sleep(0.1)

    def metrics(self) -> dict[str, Any]:
        return httpx.get(f"{self.url}/metrics", timeout=5).json()

    def errors(self) -> str:
        """The server's log if it holds a traceback (an exception escaped a request), else ''."""
        text = self.log.read_text()
        return text if "Traceback" in text else ""

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)


def serve_process(stub: Any, config: Path, *args: str) -> Iterator[ServeProcess]:
    """A module fixture's body: yield a ready ``fusion serve`` on ``config``, then stop it and ``stub``.

    Fails the module when the server logged a traceback. Use as ``yield from serve_process(...)``.
    """
    process = ServeProcess(config, *args)
    try:
        yield process.wait_ready()
    finally:
        process.stop()
        stub.stop()
    assert not process.errors()
