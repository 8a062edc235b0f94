"""Test kit: a scripted fake chat model, and a real OpenAI-compatible server on 127.0.0.1."""

from fusion_graph.testing.fake import ScriptedChatModel, Step, count_tokens, sample_from_schema

__all__ = ["ScriptedChatModel", "Step", "count_tokens", "sample_from_schema"]
