"""Every example runs, as a user would run it."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

EXAMPLES = Path(__file__).parent.parent / "examples"
EXPECTED = {
    "openai_compatible.py": "debate",
    "fusion_node_graph.py": "4 messages kept in the thread",
    "fusion_agent.py": "tool  42",
    "agent_middleware.py": "fused (final answer), decided by",
    "local_default.py": "decided by",
    "when_models_fail.py": "decided by: fallback:judge-8b",
    "structured_output.py": " 2100000 (fields",
}


def test_every_example_is_covered():
    assert {p.name for p in EXAMPLES.glob("*.py")} == set(EXPECTED)


@pytest.mark.parametrize(
    "name",
    [pytest.param(n, marks=pytest.mark.local) if n.startswith("local") else n for n in sorted(EXPECTED)],
)
def test_example_runs(name):
    env = {**os.environ, "FUSION_EXAMPLE_MAX_TOKENS": "24"}
    done = subprocess.run(
        [sys.executable, str(EXAMPLES / name)], capture_output=True, text=True, timeout=240, env=env
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert EXPECTED[name] in done.stdout
