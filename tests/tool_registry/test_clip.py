from fusion_graph.graph.nodes.gather import candidate_view
from tool_registry.convert import FENCE_CLOSE, FENCE_OPEN, clip, fence


def test_a_cut_fenced_result_stays_closed():
    fenced = fence("x" * 3000, "search")
    cut = clip(fenced, 500)
    assert len(cut) == 500
    assert cut.startswith(FENCE_OPEN.format(name="search")) and cut.endswith(FENCE_CLOSE)
    assert cut.count(FENCE_CLOSE) == 1


def test_short_and_unfenced_text_is_cut_plainly():
    assert clip("short", 500) == "short"
    assert clip("y" * 600, 100) == "y" * 98 + " …"


def test_the_judge_reads_a_closed_fence_for_a_long_tool_result():
    record = {
        "member": "a",
        "round": 0,
        "text": "done",
        "error": None,
        "error_kind": None,
        "latency_s": 0.0,
        "input_tokens": 0,
        "output_tokens": 0,
        "cost_usd": 0.0,
        "tool_calls": [],
        "partial": False,
        "cuts": [],
        "tool_trace": [{"name": "search", "args": {}, "result": fence("z" * 5000, "search"), "error": False}],
    }
    view = candidate_view(record)  # type: ignore[arg-type]
    assert view.count(FENCE_CLOSE) == 1 and view.index(FENCE_CLOSE) < view.index("done")
