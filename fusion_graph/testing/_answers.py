"""What a scripted model answers one request: its reply or tool calls, a judge's structured output."""

from __future__ import annotations

import json
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from fusion_graph.providers.schema_examples import consistent_verdict, example_from_schema
from fusion_graph.testing._scripts import Fault, ModelScript, ReplyText, Turn

__all__ = ["Answer", "answer_for", "prompt_text"]

# Not JSON, and not completable into JSON by lenient partial parsers either.
_BROKEN_ARGS = "<<not json>>"


@dataclass
class Answer:
    """One scripted reply: text or tool calls (OpenAI wire format)."""

    content: str | None
    tool_calls: list[dict[str, Any]]

    @property
    def finish_reason(self) -> str:
        return "tool_calls" if self.tool_calls else "stop"


def _text_of(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        parts = []
        for part in content:
            if isinstance(part, str):
                parts.append(part)
            elif isinstance(part, Mapping) and isinstance(part.get("text"), str):
                parts.append(part["text"])
        return "\n".join(parts)
    return ""


def prompt_text(body: Mapping[str, Any], *, user_only: bool = False) -> str:
    """The text of a request's messages (of its user messages only, when it has some and ``user_only``)."""
    messages = [m for m in body.get("messages") or [] if isinstance(m, Mapping)]
    if user_only:
        users = [m for m in messages if m.get("role") == "user"]
        if users:
            messages = users
    return "\n".join(_text_of(m.get("content")) for m in messages)


def answer_for(script: ModelScript, body: dict[str, Any], fault: Fault | None, served: int) -> Answer:
    """The answer of ``script`` to a request ``body`` (the ``served``-th answered call), after ``fault``."""
    answer = _judge_answer(script, body) if script.judge else None
    if answer is None:
        answer = _scripted_answer(script, body, served)
    if fault is Fault.EMPTY_CONTENT:
        return Answer(content="", tool_calls=[])
    if fault is Fault.INVALID_TOOL_ARGS:
        calls = answer.tool_calls or [_tool_call(_first_tool_name(body), {})]
        broken = [{**c, "function": {**c["function"], "arguments": _BROKEN_ARGS}} for c in calls]
        return Answer(content=None, tool_calls=broken)
    return answer


def _scripted_answer(script: ModelScript, body: dict[str, Any], served: int) -> Answer:
    turns: list[Turn] = [script.respond(body)] if script.respond is not None else list(script.turns or [])
    if not turns and script.tool_calls:
        turns = [Turn(tool_calls=script.tool_calls)]
        if script.reply is not None:
            turns.append(Turn(reply=script.reply))
    if turns:
        turn = turns[min(_assistant_turns(body), len(turns) - 1)]
        if turn.tool_calls:
            return Answer(
                content=None,
                tool_calls=[
                    _tool_call(str(c["name"]), c.get("arguments", {}), c.get("id")) for c in turn.tool_calls
                ],
            )
        return Answer(content=_render(turn.reply, body), tool_calls=[])
    if script.replies:
        reply = script.replies[served % len(script.replies)]
        return Answer(content=_render(reply, body), tool_calls=[])
    return Answer(content=_render(script.reply, body), tool_calls=[])


def _judge_answer(script: ModelScript, body: dict[str, Any]) -> Answer | None:
    prompt = prompt_text(body, user_only=True)

    def generate(schema: Mapping[str, Any]) -> Any:
        value = example_from_schema(schema, prompt=prompt, pick=script.judge_pick, fields=script.judge_fields)
        if "scores" in (script.judge_fields or {}):
            return value  # the script fixes the scores itself
        return consistent_verdict(value)

    response_format = body.get("response_format")
    if isinstance(response_format, Mapping):
        kind = response_format.get("type")
        if kind == "json_schema":
            spec = response_format.get("json_schema") or {}
            schema = spec.get("schema") or {"type": "object"}
            return Answer(content=json.dumps(generate(schema)), tool_calls=[])
        if kind == "json_object":
            text = _render(script.reply, body)
            try:
                json.loads(text)
            except ValueError:
                text = json.dumps({"answer": text})
            return Answer(content=text, tool_calls=[])
    tool = _forced_tool(body)
    if tool is not None:
        function = tool.get("function") or {}
        schema = function.get("parameters") or {"type": "object", "properties": {}}
        call = _tool_call(str(function.get("name", "tool")), generate(schema))
        return Answer(content=None, tool_calls=[call])
    return None


def _tool_call(name: str, arguments: Any, call_id: Any = None) -> dict[str, Any]:
    args = arguments if isinstance(arguments, str) else json.dumps(arguments)
    return {
        "id": str(call_id) if call_id else f"call_{uuid.uuid4().hex[:24]}",
        "type": "function",
        "function": {"name": name, "arguments": args},
    }


def _render(reply: ReplyText | None, body: dict[str, Any]) -> str:
    if reply is None:
        return "ok"
    if callable(reply):
        return str(reply(body))
    return reply


def _assistant_turns(body: Mapping[str, Any]) -> int:
    messages = [m for m in body.get("messages") or [] if isinstance(m, Mapping)]
    count = 0
    for message in reversed(messages):
        role = message.get("role")
        if role == "user":
            break
        if role == "assistant":
            count += 1
    return count


def _first_tool_name(body: Mapping[str, Any]) -> str:
    for tool in body.get("tools") or []:
        if isinstance(tool, Mapping) and isinstance(tool.get("function"), Mapping):
            return str(tool["function"].get("name", "tool"))
    return "tool"


def _forced_tool(body: Mapping[str, Any]) -> Mapping[str, Any] | None:
    tools = [t for t in body.get("tools") or [] if isinstance(t, Mapping)]
    choice = body.get("tool_choice")
    if not tools or choice in (None, "none", "auto"):
        return None
    if isinstance(choice, Mapping):
        name = (choice.get("function") or {}).get("name")
        for tool in tools:
            if (tool.get("function") or {}).get("name") == name:
                return tool
        return None
    if choice in ("required", "any") and len(tools) == 1:
        return tools[0]
    return None
