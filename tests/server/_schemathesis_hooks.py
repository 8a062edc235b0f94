"""Schemathesis hooks for tests/server/test_fuzz_openapi.py (loaded through ``SCHEMATHESIS_HOOKS``).

A JSON Schema cannot say two rules of a chat request: a named ``tool_choice`` must name one of the
request's ``tools``, and a tool's ``parameters`` must itself be a JSON Schema. The server answers a
request that breaks either with a 400 naming the field (tests/server/test_bad_input.py), as OpenAI
does; for generated requests that are meant to be valid, these hooks make both rules hold before
the call, so ``positive_data_acceptance`` checks everything else. Negative cases go out untouched.
"""

from __future__ import annotations

from typing import Any

import schemathesis

from fusion_graph.server._models import json_schema_problem


@schemathesis.hook
def before_call(context: Any, case: Any, kwargs: Any) -> None:
    """Make a valid case's named tool choice and tool parameters valid too."""
    body = case.body
    meta = case.meta
    if not isinstance(body, dict) or meta is None or not meta.generation.mode.is_positive:
        return
    tools = body.get("tools")
    names: list[str] = []
    for tool in tools if isinstance(tools, list) else []:
        function = tool.get("function") if isinstance(tool, dict) else None
        if isinstance(function, dict):
            names.append(function.get("name"))
            parameters = function.get("parameters")
            if isinstance(parameters, dict) and json_schema_problem(parameters) is not None:
                function["parameters"] = {"type": "object"}
    choice = body.get("tool_choice")
    if isinstance(choice, dict) and isinstance(choice.get("function"), dict) and names:
        choice["function"]["name"] = names[0]
