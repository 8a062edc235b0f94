"""The one ``[TOOL_CALLS]`` parser: the forms small local models write, and caller-minted ids."""

import itertools

from fusion_graph.providers._local_tools import parse_tool_calls
from tool_registry.mistral_native import base62, parse_mistral_tool_calls


def test_a_lone_object_and_parameters_are_read() -> None:
    text = 'Ok.[TOOL_CALLS]{"name": "add", "parameters": {"a": 1}}'
    content, calls, invalid = parse_mistral_tool_calls(text)
    assert content == "Ok." and invalid == []
    assert [(c["name"], c["args"]) for c in calls] == [("add", {"a": 1})]


def test_new_id_mints_ids_the_model_did_not_give() -> None:
    counter = itertools.count(1)
    text = (
        '[TOOL_CALLS]add[ARGS]{"a": 1}[TOOL_CALLS]mul[CALL_ID]abcDEF123[ARGS]{"a": 2}[TOOL_CALLS]bad[ARGS]{'
    )
    _, calls, invalid = parse_mistral_tool_calls(text, new_id=lambda: f"id{next(counter)}")
    assert [c["id"] for c in calls] == ["id1", "abcDEF123"]
    assert [i["id"] for i in invalid] == ["id2"]
    _, _, default_invalid = parse_mistral_tool_calls(text)
    assert default_invalid[0]["id"] is None


def test_the_local_provider_reads_mistral_text_with_its_own_ids() -> None:
    head, calls, _ = parse_tool_calls('Sure.[TOOL_CALLS]add[ARGS]{"a": 3}</s>', ["add"])
    assert head == "Sure." and calls[0]["args"] == {"a": 3}
    assert calls[0]["id"].startswith("call_") and len(calls[0]["id"]) == 29


def test_base62() -> None:
    assert base62((61).to_bytes(1, "big"), 2) == "z0"
    assert len(base62(b"\xff" * 8, 9)) == 9
