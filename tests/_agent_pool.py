"""An agent's own model and a fusion pool, all stub models over real loopback HTTP (OpenAIStubServer)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from langchain_core.tools import tool
from langchain_openai import ChatOpenAI

from fusion_graph import FusionConfig, Judge, Member
from fusion_graph.testing import ModelScript, OpenAIStubServer, Turn

MULTIPLY = {"name": "multiply", "arguments": {"a": 6, "b": 7}}


def caller(answer: str, call: Mapping[str, Any] = MULTIPLY, *, token_delay: float = 0.0) -> ModelScript:
    """A model that calls ``call`` first and answers ``answer`` once it has the tool's result."""
    return ModelScript(turns=[Turn(tool_calls=[call]), Turn(reply=answer)], token_delay=token_delay)


def stub_models(**overrides: ModelScript) -> dict[str, ModelScript]:
    """The agent's model ``agent``, members ``m1`` and ``m2`` and a ``judge``; all multiply 6 by 7."""
    models = {
        "agent": caller("The agent's own answer: 6 x 7 = 42"),
        "m1": caller("Member one says 42"),
        "m2": caller("Member two says 42"),
        "judge": ModelScript(judge=True),
    }
    return {**models, **overrides}


def pool_config(server: OpenAIStubServer, *members: str, **changes: Any) -> FusionConfig:
    """A fusion of ``members`` (default m1, m2) judged by ``judge``, all served by ``server``."""
    names = members or ("m1", "m2")
    return FusionConfig(
        pool=[Member(f"openai:{name}", base_url=server.base_url, api_key="sk-test") for name in names],
        judge=Judge("openai:judge", base_url=server.base_url, api_key="sk-test"),
        **changes,
    )


def own_model(server: OpenAIStubServer, name: str = "agent", **kwargs: Any) -> ChatOpenAI:
    """The agent's own model: a real ChatOpenAI client of the stub ``name``, streaming with usage."""
    return ChatOpenAI(
        model=name,
        base_url=server.base_url,
        api_key="sk-test",  # type: ignore[arg-type]
        max_retries=0,
        streaming=True,
        stream_usage=True,
        **kwargs,
    )


@dataclass
class Multiply:
    """A ``multiply`` tool that counts its runs."""

    runs: list[dict[str, int]] = field(default_factory=list)

    def tool(self) -> Any:
        runs = self.runs

        @tool
        def multiply(a: int, b: int) -> int:
            """Multiply two integers."""
            runs.append({"a": a, "b": b})
            return a * b

        return multiply


def calls(server: OpenAIStubServer) -> dict[str, int]:
    """Chat completion calls per model so far."""
    return {name: server.calls(name) for name in server.models}
