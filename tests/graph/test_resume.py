"""A debate killed with SIGKILL mid-round-1 resumes from its SQLite checkpoint in a new process.

How round 1 is held up: every member model's script has ``faults=[None, Fault.TIMEOUT]``. Its
first call (round 0) answers at once; its second call (round 1) hangs until the client goes away.
So the first worker always blocks inside round 1, after round 0 was checkpointed, and the test
kills it there. A member's third call (round 1 again, from the resumed worker) answers normally.
Round-0 requests are told apart from revisions by the debate prompt they lack.
"""

from __future__ import annotations

import json
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from fusion_graph import FusionResult, prompts
from fusion_graph.testing import Fault, ModelScript, OpenAIStubServer
from tests.graph._resume_worker import MEMBERS

pytestmark = pytest.mark.timeout(60)

WORKER = Path(__file__).with_name("_resume_worker.py")
ROOT = Path(__file__).resolve().parents[2]
REVISE_MARK = prompts.DEBATE_REVISE.split(".")[0]
"""The first sentence of the debate prompt: in every revision request, in no round-0 request."""


def _round(body: dict) -> int:
    return 1 if any(REVISE_MARK in str(m.get("content")) for m in body["messages"]) else 0


def _wait_for(condition: Callable[[], bool], what: str, timeout: float, worker: subprocess.Popen) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if worker.poll() is not None:
            raise AssertionError(f"the worker exited ({worker.returncode}) before {what}")
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


def _newest_checkpoint(db: Path) -> tuple[str | None, int, int]:
    """The newest checkpoint's id, how many writes its tasks saved, and how many candidates were written.

    LangGraph saves each step's checkpoint in the background. A process killed after every task of
    the newest checkpoint wrote, but before the next checkpoint was saved, leaves ``snapshot.next``
    empty; ``Fusion.run`` resumes it anyway, because it decides from the thread's messages (the
    last one is not a fused answer), which the second test below checks. This test kills at a
    newest checkpoint without writes, one whose tasks still run: here the round-1 members, stuck on
    their hanging requests.
    """
    if not db.exists():
        return None, 0, 0
    try:
        with sqlite3.connect(db, timeout=1) as conn:
            row = conn.execute(
                "SELECT checkpoint_id FROM checkpoints WHERE checkpoint_ns = '' "
                "ORDER BY checkpoint_id DESC LIMIT 1"
            ).fetchone()
            if row is None:
                return None, 0, 0
            (writes,) = conn.execute("SELECT count(*) FROM writes WHERE checkpoint_id = ?", row).fetchone()
            (candidates,) = conn.execute(
                "SELECT count(*) FROM writes WHERE channel = 'candidates'"
            ).fetchone()
    except sqlite3.OperationalError:
        return None, 0, 0
    return str(row[0]), int(writes), int(candidates)


def _settled_in_round_one(db: Path) -> Callable[[], bool]:
    """A condition: the round-0 candidates are checkpointed and the newest checkpoint, without
    writes, has stayed the newest for half a second."""
    seen: dict[str, float] = {}

    def check() -> bool:
        newest, writes, candidates = _newest_checkpoint(db)
        if newest is None or writes or candidates < len(MEMBERS):
            seen.clear()
            return False
        first = seen.setdefault(newest, time.monotonic())
        if len(seen) > 1:
            seen.clear()
            seen[newest] = time.monotonic()
            return False
        return time.monotonic() - first >= 0.5

    return check


@pytest.fixture
def server() -> Iterator[OpenAIStubServer]:
    models = {
        name: ModelScript(
            replies=[f"{name}: 1001 = 7 x 11 x 13, not prime.", f"{name}, revised: not prime."],
            faults=[None, Fault.TIMEOUT],
        )
        for name in MEMBERS
    }
    models["judge"] = ModelScript(judge=True)
    stub = OpenAIStubServer(models=models).start_in_thread()
    try:
        yield stub
    finally:
        stub.stop()


def test_a_debate_killed_mid_round_one_resumes_without_asking_round_zero_again(
    server: OpenAIStubServer, tmp_path: Path
):
    db = tmp_path / "fusion.sqlite"
    command = [sys.executable, str(WORKER), server.base_url, str(db), "thread-1"]
    started = time.monotonic()
    worker = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        _wait_for(
            lambda: sum(_round(r) == 1 for r in list(server.requests)) == len(MEMBERS),
            "every member's round-1 request",
            30,
            worker,
        )
        _wait_for(
            _settled_in_round_one(db),
            "the round-0 candidates in the checkpoint",
            10,
            worker,
        )
        round_zero = {
            r["model"]: r for r in list(server.requests) if r["model"] in MEMBERS and _round(r) == 0
        }
        assert set(round_zero) == set(MEMBERS)
        assert worker.poll() is None, "the worker must still be stuck in round 1"
        worker.send_signal(signal.SIGKILL)
        worker.wait(timeout=10)
    finally:
        if worker.poll() is None:
            worker.kill()
            worker.wait(timeout=10)
    assert worker.returncode == -signal.SIGKILL
    assert server.calls("judge") == 0

    resumed = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=40)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    result = FusionResult.model_validate(json.loads(resumed.stdout.strip().splitlines()[-1]))
    assert time.monotonic() - started < 50

    # nothing of round 0 was asked again: one round-0 request per member, ever
    member_requests = [r for r in server.requests if r["model"] in MEMBERS]
    for name in MEMBERS:
        rounds = [_round(r) for r in member_requests if r["model"] == name]
        assert rounds.count(0) == 1, (name, rounds)
        assert rounds.count(1) == 3, (name, rounds)  # round 1 killed, round 1 resumed, round 2
    assert server.calls("judge") == 1

    # the result is complete, and its round-0 candidates are the original answers
    assert result.rounds == 2 and result.decided_by == "judge:judge"
    assert result.answer and result.winner in MEMBERS
    by_round = {(c.member, c.round): c for c in result.candidates}
    assert set(by_round) == {(name, r) for name in MEMBERS for r in range(3)}
    assert all(c.ok for c in result.candidates)
    for name in MEMBERS:
        assert by_round[(name, 0)].text == f"{name}: 1001 = 7 x 11 x 13, not prime."
        assert by_round[(name, 1)].text == f"{name}, revised: not prime."


async def test_a_thread_stopped_before_its_round_zero_checkpoint_resumes_from_pending_writes(
    tmp_path: Path,
):
    from langgraph.checkpoint.sqlite.aio import AsyncSqliteSaver

    from fusion_graph import Fusion
    from tests.graph._resume_worker import PROMPT, config

    db = tmp_path / "fusion.sqlite"
    models = {name: ModelScript(replies=[f"{name} first", f"{name} revised"]) for name in MEMBERS}
    models["judge"] = ModelScript(judge=True)
    async with OpenAIStubServer(models=models) as stub:
        cfg = config(stub.base_url).replace(rounds=1)
        async with AsyncSqliteSaver.from_conn_string(str(db)) as saver:
            await Fusion(cfg, checkpointer=saver).run(PROMPT, thread_id="t")
        # keep what a process killed at that moment leaves: the checkpoint before round 0 and the
        # candidates its members wrote (pending writes), not the checkpoints after it
        with sqlite3.connect(db) as conn:
            conn.execute(
                "DELETE FROM checkpoints WHERE checkpoint_id > (SELECT checkpoint_id FROM writes "
                "WHERE channel = 'candidates' GROUP BY checkpoint_id HAVING count(DISTINCT task_id) = ? "
                "ORDER BY checkpoint_id LIMIT 1)",
                (len(MEMBERS),),
            )
            conn.execute(
                "DELETE FROM writes WHERE checkpoint_id NOT IN (SELECT checkpoint_id FROM checkpoints)"
            )
        stub.reset()
        async with AsyncSqliteSaver.from_conn_string(str(db)) as saver:
            fusion = Fusion(cfg, checkpointer=saver)
            snapshot = await fusion.graph.aget_state({"configurable": {"thread_id": "t"}})
            assert len(snapshot.values["candidates"]) == len(MEMBERS)  # round 0 is in the thread
            result = await fusion.run(PROMPT, thread_id="t")
        asked_again = [r["model"] for r in stub.requests if r["model"] in MEMBERS and _round(r) == 0]
    assert asked_again == []
    assert sorted(c.member for c in result.candidates if c.round == 0) == sorted(MEMBERS)
