"""Schemathesis against the served `/openapi.json`: every check, a fixed seed, bounded examples.

``st run --checks all`` generates valid and invalid requests for every operation from the document
and checks each response: no 5xx, a documented status and content type, a body (and each SSE event)
matching its documented schema, valid data accepted and invalid data rejected. It runs against a
real uvicorn on 127.0.0.1 serving two scripted fusions with a checkpointer (``_fuzz.fuzz_app``).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from ._fuzz import fuzz_app, server_errors
from .conftest import serve

pytestmark = [pytest.mark.fuzz, pytest.mark.timeout(150)]

ROOT = Path(__file__).resolve().parents[2]
SEED = "20"
MAX_EXAMPLES = "25"
PHASES = "fuzzing"
"""The phase bounded by ``--max-examples``. The coverage phase (every boundary value of every field,
432 cases, unbounded by it) passes too at this seed, but takes 40 s on a loaded machine:
``make fuzz-coverage`` runs it."""


def test_schemathesis_finds_nothing_against_the_served_document(tmp_path):
    st = shutil.which("st", path=str(Path(sys.executable).parent))
    assert st is not None, "schemathesis is not installed (the dev extra)"
    command = [
        st,
        "run",
        "--checks=all",
        f"--seed={SEED}",
        f"--max-examples={MAX_EXAMPLES}",
        f"--phases={os.environ.get('FUSION_FUZZ_PHASES', PHASES)}",
        "--workers=1",
        "--generation-database=none",
        "--request-timeout=30",
        "--no-color",
        "--report=junit",
        f"--report-dir={tmp_path}",
    ]
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])),
        "SCHEMATHESIS_HOOKS": "tests.server._schemathesis_hooks",
        "NO_COLOR": "1",
    }
    with serve(fuzz_app()) as live, server_errors() as errors:
        done = subprocess.run(
            [*command, f"{live.url}/openapi.json"],
            capture_output=True,
            text=True,
            timeout=140,
            env=env,
            cwd=tmp_path,
        )
    report = done.stdout[-6000:] + done.stderr[-2000:]
    assert done.returncode == 0, report
    counts = re.search(r"(\d+) generated, (\d+) passed", done.stdout)
    assert counts is not None and counts.group(1) == counts.group(2), report
    assert int(counts.group(1)) >= 50, report  # it reached every operation
    assert not errors.records, errors.records
