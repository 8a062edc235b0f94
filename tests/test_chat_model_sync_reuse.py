"""Sync entry points called twice in one process, with members served over real HTTP."""

from __future__ import annotations

from fusion_graph import FusionChatModel
from tests._quality_stubs import judge_script, make_config, server_of


def test_fusion_chat_model_invoked_twice_from_sync_code():
    with server_of({"a": "The answer is 400.", "b": "The answer is 409."}, judge=judge_script()) as server:
        llm = FusionChatModel(config=make_config(server, ["a", "b"]))
        first = llm.invoke("What is 12 * 33 + 4?")
        second = llm.invoke("What is 12 * 33 + 4?")
    assert first.content and second.content
