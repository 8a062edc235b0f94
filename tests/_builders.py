"""Builders of scripted pools shared by the tests of the entry points and of the graph."""

from __future__ import annotations

from typing import Any

from fusion_graph import FusionConfig, Judge, Member
from fusion_graph.testing import ScriptedChatModel


def member(name: str, *script: Any, latency: float = 0.0, **kwargs: Any) -> Member:
    model = ScriptedChatModel(script=list(script) or [f"answer from {name}"], latency=latency)
    return Member(model, name=name, **kwargs)


def config(*members: Member, judge: ScriptedChatModel | None = None, **kwargs: Any) -> FusionConfig:
    return FusionConfig(pool=list(members), judge=Judge(judge or ScriptedChatModel()), **kwargs)


def model_of(cfg: FusionConfig, name: str) -> ScriptedChatModel:
    model = cfg.member(name).model
    assert isinstance(model, ScriptedChatModel)
    return model
