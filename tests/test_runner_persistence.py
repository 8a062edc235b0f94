from pathlib import Path

import pytest
from langgraph.checkpoint.memory import InMemorySaver
from langgraph.checkpoint.sqlite.aio import AsyncSqliteSaver

from fusion_graph import Fusion, fuse
from tests._builders import config, member, model_of


def _calls(cfg) -> int:
    return sum(len(model_of(cfg, name).calls) for name in cfg.member_names)


@pytest.mark.parametrize("mode", ["best-of", "merge", "debate"])
async def test_sqlite_rerun_of_a_finished_thread_returns_the_stored_result(tmp_path: Path, mode):
    cfg = config(member("a", "one", "one again"), member("b", "two", "two again"), mode=mode, consensus=None)
    async with AsyncSqliteSaver.from_conn_string(str(tmp_path / "fusion.sqlite")) as saver:
        first = await fuse("Q?", cfg, checkpointer=saver, thread_id="t1")
        calls = _calls(cfg)
        again = await fuse("Q?", cfg, checkpointer=saver, thread_id="t1")
    assert _calls(cfg) == calls  # nothing was called again
    assert again == first
    # a new process (a new saver on the same file) sees the same result
    async with AsyncSqliteSaver.from_conn_string(str(tmp_path / "fusion.sqlite")) as saver:
        third = await Fusion(cfg, checkpointer=saver).run("Q?", thread_id="t1")
    assert third.answer == first.answer and _calls(cfg) == calls


async def test_in_memory_saver_keeps_threads_apart():
    cfg = config(member("a", "one"), member("b", "two"))
    fusion = Fusion(cfg, checkpointer=InMemorySaver())
    r1 = await fusion.run("Q1", thread_id="x")
    r2 = await fusion.run("Q2", thread_id="y")
    assert r1.answer and r2.answer
    state = await fusion.graph.aget_state({"configurable": {"thread_id": "y"}})
    assert state.values["messages"][0].content == "Q2"
    assert len(model_of(cfg, "a").calls) == 2


async def test_a_new_run_on_a_thread_fuses_only_its_own_answers():
    from fusion_graph import create_fusion_graph

    cfg = config(member("a", "one", "three"), member("b", "two", "four"))
    graph = create_fusion_graph(cfg).compile(checkpointer=InMemorySaver())
    run = {"configurable": {"thread_id": "chat"}}
    await graph.ainvoke({"messages": [("user", "first")]}, run)
    second = await graph.ainvoke({"messages": [("user", "second")]}, run)
    assert [c["text"] for c in second["candidates"]] == ["three", "four"]
    assert len(second["judge_calls"]) == 1
    assert [m.type for m in second["messages"]] == ["human", "ai", "human", "ai"]
