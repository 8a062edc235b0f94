"""``fusion serve`` as a real process: refuses open binds without a key, stops gracefully on SIGTERM."""

from __future__ import annotations

import concurrent.futures
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import openai
from typer.testing import CliRunner

from fusion_graph.cli import app

FUSIONS = """
[judge]
model = "fake:judge"

[[pool]]
model = "fake:Not prime: 7 x 11 x 13."
name = "slow"
params = { latency = 1.5 }

[[pool]]
model = "fake:Not prime."
name = "fast"

[fusions."fusion/best-of"]
mode = "best-of"
"""


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_open_bind_without_api_key_is_refused(monkeypatch, tmp_path):
    monkeypatch.delenv("FUSION_API_KEYS", raising=False)
    path = tmp_path / "fusions.toml"
    path.write_text(FUSIONS)
    result = CliRunner().invoke(app, ["serve", "--config", str(path), "--host", "0.0.0.0"])
    assert result.exit_code == 2
    assert "--host" in result.output and "--api-key" in result.output


def test_invalid_config_exits_2(tmp_path):
    path = tmp_path / "fusions.toml"
    path.write_text(FUSIONS.replace('mode = "best-of"', 'mode = "poll"'))
    result = CliRunner().invoke(app, ["serve", "--config", str(path)])
    assert result.exit_code == 2
    assert 'fusions."fusion/best-of".mode' in result.output


def test_sigterm_lets_the_in_flight_fusion_finish(tmp_path):
    path = tmp_path / "fusions.toml"
    path.write_text(FUSIONS)
    port = _free_port()
    fusion = Path(sys.executable).with_name("fusion")
    env = {**os.environ, "FUSION_API_KEYS": "sk-proc"}
    proc = subprocess.Popen(
        [str(fusion), "serve", "--config", str(path), "--port", str(port), "--log-level", "warning"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                if httpx.get(f"http://127.0.0.1:{port}/health", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert proc.poll() is None, proc.stdout.read() if proc.stdout else ""
            assert time.monotonic() < deadline, "fusion serve did not start"
            time.sleep(0.1)
        client = openai.OpenAI(base_url=f"http://127.0.0.1:{port}/v1", api_key="sk-proc", max_retries=0)
        with concurrent.futures.ThreadPoolExecutor(1) as pool:
            pending = pool.submit(
                client.chat.completions.create,
                model="fusion/best-of",
                messages=[{"role": "user", "content": "Is 1001 prime?"}],
            )
            time.sleep(0.5)
            proc.send_signal(signal.SIGTERM)
            response = pending.result(timeout=20)
        assert response.choices[0].message.content in {"Not prime: 7 x 11 x 13.", "Not prime."}
        # uvicorn re-raises the signal once it has shut down, as process managers expect
        assert proc.wait(timeout=20) == -signal.SIGTERM
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(5)
