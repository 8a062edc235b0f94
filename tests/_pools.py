"""A pool for thread tests: two scripted members and a judge that can be switched off."""

from __future__ import annotations

from typing import Any

from fusion_graph import FusionConfig, Judge, Member
from fusion_graph.testing import ScriptedChatModel


class SwitchableJudgePool:
    """Members ``alpha`` and ``beta`` answer fixed replies; with ``judge_down`` the judge raises, so a
    run fails at the judge step (no judge-free fallback) and its thread is left unfinished."""

    def __init__(
        self, replies: tuple[str, str] = ("alpha: no", "beta: no"), judge_name: str | None = None
    ) -> None:
        self.alpha = ScriptedChatModel(script=[replies[0]], cycle=True)
        self.beta = ScriptedChatModel(script=[replies[1]], cycle=True)
        self.judge = ScriptedChatModel(structured=self._verdict)
        self.judge_down = False
        self.config = FusionConfig(
            pool=[Member(self.alpha, name="alpha"), Member(self.beta, name="beta")],
            judge=Judge(self.judge, name=judge_name),
            judge_free_fallback=False,
        )

    def _verdict(self, schema: dict[str, Any], messages: list[Any]) -> None:
        if self.judge_down:
            raise RuntimeError("judge down")
        return None  # a verdict sampled from the schema

    def member_calls(self) -> int:
        return len(self.alpha.calls) + len(self.beta.calls)

    def model_calls(self) -> int:
        return self.member_calls() + len(self.judge.calls)
