from fusion_graph import Fusion
from tests._builders import config, member


def _debate():
    return config(
        member("a", "seven eleven thirteen"),
        member("b", "it is prime"),
        member("c", RuntimeError("down")),
        mode="debate",
        rounds=1,
        consensus=None,
    )


async def test_stream_yields_typed_events_updates_and_the_answer_tokens():
    seen: dict[str, list] = {"custom": [], "updates": [], "messages": []}
    async for mode, chunk in Fusion(_debate()).stream(
        "Is 1001 prime?", stream_mode=("updates", "custom", "messages")
    ):
        seen[mode].append(chunk)
    kinds = [event["type"] for event in seen["custom"]]
    assert kinds.count("member_started") == 5  # 3 first answers + 2 revisions
    assert kinds.count("member_finished") == 4
    assert kinds.count("member_failed") == 1
    assert kinds.count("round_finished") == 2
    answer = kinds.index("answer_started")
    assert kinds[answer - 1] == "judge_started"
    assert kinds[-2:] == ["answer_finished", "verdict"]
    assert set(kinds[answer + 1 : -2]) == {"answer_delta"}
    failed = next(e for e in seen["custom"] if e["type"] == "member_failed")
    assert failed["member"] == "c" and "down" in failed["error"]
    assert {node for update in seen["updates"] for node in update} >= {"member", "gather", "judge"}
    # messages mode is the fused answer only, not every member's tokens
    assert all(meta["fusion"] == "answer" for _, meta in seen["messages"])
    judged = next(u["judge"] for u in seen["updates"] if "judge" in u)
    assert "".join(str(chunk.content) for chunk, _ in seen["messages"]) == judged["answer"]


async def test_the_members_tokens_stream_from_the_graph_itself():
    fusion = Fusion(_debate())
    inputs = (await fusion.plan("Is 1001 prime?")).inputs
    tokens = [
        (meta.get("fusion_member"), chunk.content)
        async for chunk, meta in fusion.graph.astream(inputs, stream_mode="messages")
        if meta.get("fusion_member")
    ]
    assert ("a", "seven ") in tokens
