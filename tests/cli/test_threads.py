"""`fusion run --thread-id --db` against the thread table (the rule of fusion_graph._threads).

- same prompt (or none) on a finished thread → the stored result, no model called;
- a new prompt on a finished thread → the next turn, only the new prompt appended;
- an interrupted or failed thread, same prompt (or none) → resume at the step that stopped;
- a different prompt on an interrupted thread → exit 2 naming how to resume or start a new thread.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path

import pytest
from langgraph.checkpoint.sqlite.aio import AsyncSqliteSaver
from typer.testing import CliRunner

from fusion_graph import Fusion, FusionConfig, FusionResult
from fusion_graph.cli import app
from tests._pools import SwitchableJudgePool

PROMPT = "Capital of France?"


def flat(text: str) -> str:
    return " ".join(text.split())


class Pool(SwitchableJudgePool):
    """Scripted members and a judge that can be switched off, so a run fails at the judge step."""

    def __init__(self) -> None:
        super().__init__(("Paris.", "Lyon."))

    def messages(self, db: Path, thread: str) -> list[tuple[str, str]]:
        async def read() -> list[tuple[str, str]]:
            async with AsyncSqliteSaver.from_conn_string(str(db)) as saver:
                fusion = Fusion(self.config, checkpointer=saver)
                state = await fusion.graph.aget_state({"configurable": {"thread_id": thread}})
            return [(m.type, str(m.content)) for m in state.values["messages"]]

        return asyncio.run(read())


@pytest.fixture
def pool(use_config: Callable[[FusionConfig], None]) -> Pool:
    pool = Pool()
    use_config(pool.config)
    return pool


def run(runner: CliRunner, db: Path, *args: str):
    return runner.invoke(app, ["run", *args, "--db", str(db), "-t", "t1"])


def test_same_prompt_or_none_on_a_finished_thread_prints_the_stored_result(
    runner: CliRunner, pool: Pool, tmp_path: Path
) -> None:
    db = tmp_path / "runs.sqlite"
    first = run(runner, db, PROMPT, "--json")
    assert first.exit_code == 0, first.output
    calls = pool.member_calls()
    for args in ([PROMPT, "--json"], ["--json"]):
        again = run(runner, db, *args)
        assert again.exit_code == 0, again.output
        assert again.stdout == first.stdout
    shown = run(runner, db)
    assert "stored result of thread t1 (no model was called)" in shown.stdout
    assert pool.member_calls() == calls


def test_a_new_prompt_on_a_finished_thread_is_the_next_turn(
    runner: CliRunner, pool: Pool, tmp_path: Path
) -> None:
    db = tmp_path / "runs.sqlite"
    assert run(runner, db, PROMPT).exit_code == 0
    calls = pool.member_calls()
    second = run(runner, db, "Capital of Italy?", "--json")
    assert second.exit_code == 0, second.output
    assert FusionResult.model_validate_json(second.stdout).answer in {"Paris.", "Lyon."}
    assert pool.member_calls() == calls + 2
    assert pool.alpha.calls[-1][-1].content == "Capital of Italy?"
    turns = pool.messages(db, "t1")
    assert [t for t, _ in turns] == ["human", "ai", "human", "ai"]
    assert [c for t, c in turns if t == "human"] == [PROMPT, "Capital of Italy?"]


@pytest.mark.parametrize("again", [[PROMPT], []], ids=["same-prompt", "no-prompt"])
def test_a_failed_thread_resumes_at_the_failed_step(
    runner: CliRunner, pool: Pool, tmp_path: Path, again: list[str]
) -> None:
    db = tmp_path / "runs.sqlite"
    pool.judge_down = True
    first = run(runner, db, PROMPT)
    assert first.exit_code == 1 and "judge down" in first.stderr
    calls = pool.member_calls()
    pool.judge_down = False
    resumed = run(runner, db, *again, "--json")
    assert resumed.exit_code == 0, resumed.output
    assert "resuming thread t1 at judge" in resumed.stderr
    assert FusionResult.model_validate_json(resumed.stdout).answer in {"Paris.", "Lyon."}
    assert pool.member_calls() == calls  # the members' answers came from the checkpoint
    assert [t for t, _ in pool.messages(db, "t1")] == ["human", "ai"]


def test_a_different_prompt_on_an_interrupted_thread_exits_2_saying_how_to_resume(
    runner: CliRunner, pool: Pool, tmp_path: Path
) -> None:
    db = tmp_path / "runs.sqlite"
    pool.judge_down = True
    assert run(runner, db, PROMPT).exit_code == 1
    pool.judge_down = False
    calls = pool.member_calls()
    other = run(runner, db, "Capital of Italy?")
    assert other.exit_code == 2
    message = flat(other.stderr)
    assert "Thread conflict" in message
    assert "thread 't1' was interrupted before it answered 'Capital of France?'" in message
    assert "same prompt again (or none)" in message and "new thread" in message
    assert pool.member_calls() == calls
    assert [t for t, _ in pool.messages(db, "t1")] == ["human"]  # the thread is untouched


def test_no_prompt_needs_a_thread(runner: CliRunner, pool: Pool, tmp_path: Path) -> None:
    missing = runner.invoke(app, ["run"])
    assert missing.exit_code == 2
    assert "--thread-id and --db" in flat(missing.stderr)
    empty = run(runner, tmp_path / "runs.sqlite")
    assert empty.exit_code == 2
    assert "thread 't1' has no run to resume or read back" in flat(empty.stderr)
    assert pool.member_calls() == 0
