from fusion_graph import Fusion
from tests.core.helpers import config, member


async def test_stream_yields_typed_events_updates_and_tokens():
    cfg = config(
        member("a", "seven eleven thirteen"),
        member("b", "it is prime"),
        member("c", RuntimeError("down")),
        mode="debate",
        rounds=1,
        consensus=None,
    )
    seen: dict[str, list] = {"custom": [], "updates": [], "messages": []}
    async for mode, chunk in Fusion(cfg).stream(
        "Is 1001 prime?", stream_mode=("updates", "custom", "messages")
    ):
        seen[mode].append(chunk)
    kinds = [event["type"] for event in seen["custom"]]
    assert kinds.count("member_started") == 5  # 3 first answers + 2 revisions
    assert kinds.count("member_finished") == 4
    assert kinds.count("member_failed") == 1
    assert kinds.count("round_finished") == 2
    assert kinds[-2:] == ["judge_started", "verdict"]
    failed = next(e for e in seen["custom"] if e["type"] == "member_failed")
    assert failed["member"] == "c" and "down" in failed["error"]
    assert {node for update in seen["updates"] for node in update} >= {"member", "gather", "judge"}
    tokens = [
        (meta.get("fusion_member"), chunk.content)
        for chunk, meta in seen["messages"]
        if meta.get("fusion_member")
    ]
    assert ("a", "seven ") in tokens
