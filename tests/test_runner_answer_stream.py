"""The fused answer, streamed: ``Fusion.stream(stream_mode="messages")`` and the judge's answer events.

The members and the judge are scripted fakes; a streamed merge's writer is the judge model's
plain-text call (its ``script``), its analysis the structured call (``structured``).
"""

from __future__ import annotations

from typing import Any

import pytest
from langchain_core.messages import AIMessage, AIMessageChunk, ToolCall

from fusion_graph import Fusion, FusionResult, MergeVerdict
from fusion_graph.errors import JudgeFailed
from fusion_graph.testing import ScriptedChatModel
from tests._builders import config, member

PROMPT = "Is 1001 prime? Explain."
LONG_A = "No. 1001 is not prime, because 1001 = 7 x 11 x 13, so it has divisors other than one and itself."
LONG_B = "1001 is not a prime number: it factors as 7 times 143, and 143 is 11 times 13."
WRITTEN = "Not prime. The answer is 1001 = 7 x 11 x 13, since seven, eleven and thirteen all divide it."
ANALYSIS = {
    "consensus": ["1001 is not prime"],
    "contradictions": [],
    "unique_insights": ["the full factorisation"],
    "blind_spots": [],
}


Pairs = list[tuple[AIMessageChunk, dict[str, Any]]]


async def _stream(fusion: Fusion, *modes: str) -> tuple[Pairs, list[Any], FusionResult]:
    messages: Pairs = []
    custom: list[Any] = []
    final: dict[str, Any] | None = None
    async for mode, chunk in fusion.stream(PROMPT, stream_mode=("messages", "values", *modes)):  # type: ignore[arg-type]
        if mode == "messages":
            messages.append(chunk)
        elif mode == "values":
            final = chunk
        else:
            custom.append(chunk)
    assert final is not None
    return messages, custom, fusion.result(final)


def _text(messages: Pairs) -> str:
    return "".join(str(chunk.content) for chunk, _ in messages)


def _writer(text: str = WRITTEN, **kwargs: Any) -> ScriptedChatModel:
    return ScriptedChatModel(script=[text], structured=ANALYSIS, **kwargs)


async def test_best_of_streams_the_winner_in_several_chunks_of_one_message():
    fusion = Fusion(config(member("a", LONG_A), member("b", LONG_B)))
    messages, custom, result = await _stream(fusion)
    content = [(chunk, meta) for chunk, meta in messages if chunk.content]
    assert len(content) >= 2
    assert _text(messages) == result.answer and result.answer in {LONG_A, LONG_B}
    assert len({chunk.id for chunk, _ in messages}) == 1
    assert messages[-1][0].chunk_position == "last"
    assert all(meta["langgraph_node"] == "judge" and meta["fusion"] == "answer" for _, meta in messages)
    assert custom == []  # custom was not asked for: the answer events stay inside


async def test_the_answer_events_come_after_the_judge_and_before_the_verdict():
    fusion = Fusion(config(member("a", LONG_A), member("b", LONG_B)))
    _, custom, result = await _stream(fusion, "custom")
    kinds = [event["type"] for event in custom]
    start = kinds.index("answer_started")
    assert kinds.index("judge_started") < start
    assert kinds[-2:] == ["answer_finished", "verdict"]
    deltas = [event["text"] for event in custom if event["type"] == "answer_delta"]
    assert len(deltas) >= 2 and "".join(deltas) == result.answer


async def test_without_a_streamed_answer_a_merge_makes_one_structured_judge_call():
    judge = ScriptedChatModel(structured={**ANALYSIS, "answer": WRITTEN})
    fusion = Fusion(config(member("a", LONG_A), member("b", LONG_B), judge=judge, mode="merge"))
    result = await fusion.run(PROMPT)
    assert result.answer == WRITTEN
    assert len(result.judge_calls) == 1 and len(judge.calls) == 1
    assert judge.call_kwargs[0].get("tool_choice")  # the structured verdict, as before
    # streamed without "messages": no answer asked for, the same single call
    async for _ in fusion.stream(PROMPT, stream_mode=("custom",)):
        pass
    assert len(judge.calls) == 2


async def test_a_streamed_merge_is_an_analysis_then_a_streamed_writer_and_both_are_counted():
    judge = _writer()
    fusion = Fusion(config(member("a", LONG_A), member("b", LONG_B), judge=judge, mode="merge"))
    messages, _, result = await _stream(fusion)
    assert len([chunk for chunk, _ in messages if chunk.content]) >= 5  # one word per chunk
    assert _text(messages) == result.answer == WRITTEN
    assert isinstance(result.verdict, MergeVerdict)
    assert result.verdict.answer == WRITTEN and result.verdict.consensus == ["1001 is not prime"]
    assert len(judge.calls) == 2
    assert judge.call_kwargs[0].get("tool_choice") and not judge.call_kwargs[1].get("tools")
    writer_prompt = str(judge.calls[1][-1].content)
    assert "the full factorisation" in writer_prompt and "[answer_1]" in writer_prompt
    assert len(result.judge_calls) == 2 and all(call.error is None for call in result.judge_calls)
    assert all(call.usage.output_tokens > 0 for call in result.judge_calls)
    assert result.usage.judge[1].output_tokens == len(WRITTEN.split())
    spent = sum(u.output_tokens for u in result.usage.members.values()) + sum(
        u.output_tokens for u in result.usage.judge
    )
    assert result.usage.total.output_tokens == spent
    assert result.decided_by.startswith("judge:")


async def test_a_streamed_merge_is_told_the_majority_and_a_dissent_is_recorded_not_undone():
    pool = [member("a", "The answer is 42."), member("b", "It is 42."), member("c", "I get 41.")]
    judge = _writer("The answer is 41.")
    fusion = Fusion(config(*pool, judge=judge, mode="merge", answer_format="number"))
    messages, _, result = await _stream(fusion)
    assert "2/3 of the comparable answers reach 42" in str(judge.calls[1][-1].content)
    assert _text(messages) == result.answer == "The answer is 41."  # streamed: it stands
    assert result.dissent is not None and "while 2/3 answers reach 42" in result.dissent
    assert any("could not act: the answer had been streamed" in issue for issue in result.verdict_issues)


async def test_a_writer_that_fails_before_writing_falls_back_to_the_judge_free_pick():
    pool = [member("a", "The answer is 42."), member("b", "It is 42."), member("c", "I get 41.")]
    judge = ScriptedChatModel(script=[RuntimeError("writer down")], structured=ANALYSIS)
    fusion = Fusion(config(*pool, judge=judge, mode="merge", answer_format="number"))
    messages, _, result = await _stream(fusion)
    assert result.decided_by == "judge-free:agreement"
    assert _text(messages) == result.answer and result.answer in {"The answer is 42.", "It is 42."}
    assert [call.error is None for call in result.judge_calls] == [True, False]
    assert "writer down" in (result.judge_calls[1].error or "")


class _CutWriter(ScriptedChatModel):
    """Writes two chunks of its answer, then its connection drops."""

    async def _astream(self, messages, stop=None, run_manager=None, **kwargs):  # type: ignore[override]
        count = 0
        async for chunk in super()._astream(messages, stop, run_manager, **kwargs):
            if count == 2:
                raise ConnectionError("the stream was cut")
            count += 1
            yield chunk


async def test_a_writer_that_fails_midway_ends_the_run_with_judge_failed():
    judge = _CutWriter(script=[WRITTEN], structured=ANALYSIS)
    fusion = Fusion(config(member("a", LONG_A), member("b", LONG_B), judge=judge, mode="merge"))
    seen: list[str] = []
    with pytest.raises(JudgeFailed, match="after .* characters had been streamed"):
        async for _, chunk in fusion.stream(PROMPT, stream_mode=("messages",)):
            seen.append(str(chunk[0].content))
    assert "".join(seen) == "Not prime. "


async def test_a_fused_tool_call_arrives_in_the_last_chunk_in_the_standard_shape():
    def calls(name: str) -> AIMessage:
        call = ToolCall(name="multiply", args={"a": 6, "b": 7}, id=f"call_{name}", type="tool_call")
        return AIMessage(content="Let me multiply.", tool_calls=[call])

    fusion = Fusion(config(member("a", calls("a")), member("b", calls("b")), mode="merge"))
    messages, _, result = await _stream(fusion)
    merged = messages[0][0]
    for chunk, _ in messages[1:]:
        merged = merged + chunk
    assert messages[-1][0].chunk_position == "last"
    assert merged.content == result.answer == "Let me multiply."
    assert [(c["name"], c["args"], c["id"]) for c in merged.tool_calls] == [
        (c["name"], c["args"], c["id"]) for c in result.tool_calls
    ]
    assert merged.tool_calls[0]["args"] == {"a": 6, "b": 7}


async def test_one_mode_given_as_a_string_still_streams_pairs():
    fusion = Fusion(config(member("a", LONG_A), member("b", LONG_B)))
    pairs = [pair async for pair in fusion.stream(PROMPT, stream_mode="messages")]  # type: ignore[arg-type]
    assert pairs and {mode for mode, _ in pairs} == {"messages"}
    assert "".join(str(chunk.content) for _, (chunk, _) in pairs) in {LONG_A, LONG_B}
