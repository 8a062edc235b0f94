"""Test kit: a scripted fake chat model, and a real OpenAI-compatible server on 127.0.0.1.

The fake is the ``fake:`` provider's model (:mod:`fusion_graph.providers.fake`); production code
never imports this package.

The server's names load on first use, so ``python -m fusion_graph.testing.openai_server`` runs clean.
"""

from typing import TYPE_CHECKING, Any

from fusion_graph.providers.fake import ScriptedChatModel, Step, count_tokens
from fusion_graph.providers.schema_examples import sample_from_schema

if TYPE_CHECKING:
    from fusion_graph.testing.openai_server import Fault, ModelScript, OpenAIStubServer, Turn

__all__ = [
    "Fault",
    "ModelScript",
    "OpenAIStubServer",
    "ScriptedChatModel",
    "Step",
    "Turn",
    "count_tokens",
    "sample_from_schema",
]

_SERVER_NAMES = ("Fault", "ModelScript", "OpenAIStubServer", "Turn")


def __getattr__(name: str) -> Any:
    if name in _SERVER_NAMES:
        from fusion_graph.testing import openai_server

        return getattr(openai_server, name)
    raise AttributeError(f"module 'fusion_graph.testing' has no attribute {name!r}")
