"""Stub HTTP members and stub judges of set quality, for the issue-10 tests through the real graph.

Members are ``openai:NAME`` models served by :class:`OpenAIStubServer` on 127.0.0.1. Judges are stub
models whose verdict is built from the prompt they receive (the candidate blocks, in the order shown),
so a judge can be position-biased, an oracle, or self-contradictory on purpose.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from fusion_graph import FusionConfig, Judge, Member, prompts
from fusion_graph.testing import ModelScript, OpenAIStubServer

KEY = "sk-quality"
QUESTION = "What is 12 * 33 + 4?"

_BLOCK = re.compile(r"^\[(answer_\d+)\]\n(.*?)\n\[end of \1\]", re.DOTALL | re.MULTILINE)
REASK_MARK = prompts.VERDICT_REASK.split(":", 1)[0]
"""The start of the second ask after a self-contradictory verdict ("Your verdict contradicts itself")."""
MAJORITY_MARK = prompts.MAJORITY_REASK.split(":", 1)[0]
"""The start of the majority re-ask ("Check again")."""


def blocks(prompt: str) -> dict[str, str]:
    """Label → candidate text, in the order the judge was shown them."""
    return {label: text for label, text in _BLOCK.findall(prompt)}


def label_with(needle: str) -> Callable[[str, list[str] | None], str]:
    """A judge pick: the first shown label whose text contains ``needle`` (an oracle for it)."""

    def pick(prompt: str, options: list[str] | None) -> str:
        return next((label for label, text in blocks(prompt).items() if needle in text), "answer_1")

    return pick


def first_shown(prompt: str, options: list[str] | None) -> str:
    """A judge pick that always takes the first position (uninformative, position-biased)."""
    return "answer_1"


def scores(values: Mapping[str, float], reason: str = "checked the arithmetic") -> list[dict[str, Any]]:
    """A verdict's scores list from label → score."""
    return [{"label": label, "score": score, "reason": reason} for label, score in values.items()]


def judge_script(**fields: Any) -> ModelScript:
    """A judge: ``pick`` (a label picker) and verdict fields (fixed values or callables of the prompt)."""
    pick = fields.pop("pick", None)
    return ModelScript(judge=True, judge_pick=pick, judge_fields=fields or None)


def member_spec(server: OpenAIStubServer, name: str, **extra: Any) -> dict[str, Any]:
    """The spec of the stub model ``name`` as a pool member or judge (no client retries)."""
    params = {"max_retries": 0, **extra.pop("params", {})}
    return {
        "model": f"openai:{name}",
        "name": name,
        "base_url": server.base_url,
        "api_key": KEY,
        "params": params,
        **extra,
    }


def make_config(
    server: OpenAIStubServer,
    members: Sequence[str | Member],
    *,
    judge: str | Judge = "judge",
    fallbacks: tuple[str, ...] = (),
    **kwargs: Any,
) -> FusionConfig:
    """A fusion of stub members and a stub judge; candidates shown in pool order unless told."""
    pool = [m if isinstance(m, Member) else Member(**member_spec(server, m)) for m in members]
    if isinstance(judge, str):
        judge = Judge(
            **member_spec(server, judge),
            fallbacks=[Judge(**member_spec(server, name)) for name in fallbacks],
        )
    kwargs.setdefault("shuffle", False)
    return FusionConfig(pool=pool, judge=judge, **kwargs)


def server_of(members: Mapping[str, str | ModelScript], **judges: ModelScript) -> OpenAIStubServer:
    """A stub server with text members and the given judges (``judge=…``, ``fallback=…``)."""
    models: dict[str, ModelScript] = {
        name: reply if isinstance(reply, ModelScript) else ModelScript(reply=reply)
        for name, reply in members.items()
    }
    models.update(judges)
    return OpenAIStubServer(models, api_key=KEY)


def requests_to(server: OpenAIStubServer, model: str) -> list[dict[str, Any]]:
    """The request bodies ``model`` received, in order."""
    return [body for body in server.requests if body.get("model") == model]


def user_text(body: Mapping[str, Any]) -> str:
    """The text of every user message of a request body, joined."""
    return "\n".join(str(m.get("content")) for m in body.get("messages", []) if m.get("role") == "user")
