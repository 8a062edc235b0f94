"""What a ``local:`` call reads: the request, the rendered and tokenized prompt, a forced call's grammar.

Nothing is imported from ``llama_cpp`` at import time.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, cast

from langchain_core.messages import BaseMessage

from fusion_graph.providers._local_loader import LocalModelError, _Loaded
from fusion_graph.providers._local_tools import (
    convert_messages,
    forced_call_instructions,
    forced_tool_schema,
)

__all__: list[str] = []

# --------------------------------------------------------------------------------------------
# Running a request
# --------------------------------------------------------------------------------------------


@dataclass
class _Request:
    messages: list[BaseMessage]
    tools: list[dict[str, Any]] | None
    choice: str | None  # None/"auto" → free; "required" or a name → forced
    sampling: dict[str, Any]
    max_tokens: int | None
    grammar_first: bool = False
    forced_prompt: str = "compact"

    @property
    def tool_names(self) -> list[str]:
        return [t["function"]["name"] for t in self.tools or []]

    @property
    def forced(self) -> list[str] | None:
        if not self.tools or self.choice in (None, "auto", "none"):
            return None
        return self.tool_names if self.choice == "required" else [cast(str, self.choice)]

    @property
    def parse_tools(self) -> bool:
        return bool(self.tools) and self.choice != "none" and self.forced is None


@dataclass
class _Outcome:
    text: str
    finish_reason: str
    input_tokens: int
    output_tokens: int


def _tool_instructions(request: _Request, loaded: _Loaded) -> str | None:
    """System text telling the model about its tools, where the template does not."""
    tools = request.tools or []
    forced = request.forced
    if forced is not None and request.forced_prompt == "compact":
        return forced_call_instructions(tools, forced)
    if forced is not None:
        listing = "\n".join(
            json.dumps(t, ensure_ascii=False) for t in tools if t["function"]["name"] in forced
        )
        target = f"the tool `{forced[0]}`" if len(forced) == 1 else "one of the tools"
        prefix = "" if loaded.template_tools else f"Tools:\n<tools>\n{listing}\n</tools>\n\n"
        return (
            f"{prefix}Call {target} now. Reply with only a JSON object "
            '{"name": <tool name>, "arguments": <arguments object>}.'
        )
    if request.parse_tools and not loaded.template_tools:
        listing = "\n".join(json.dumps(t, ensure_ascii=False) for t in tools)
        return (
            "You may call these tools:\n<tools>\n"
            f"{listing}\n</tools>\n\nTo call a tool, reply with only "
            '<tool_call>\n{"name": <tool name>, "arguments": <arguments object>}\n</tool_call>'
        )
    return None


def _render(loaded: _Loaded, request: _Request, prefill: str = "") -> list[int]:
    """Render the chat template and tokenize the prompt (with ``prefill`` opening the reply)."""
    messages = convert_messages(request.messages, native_tool_calls=loaded.template_tool_calls)
    extra = _tool_instructions(request, loaded)
    if extra:
        if messages and messages[0]["role"] == "system":
            messages[0] = {**messages[0], "content": f"{messages[0]['content']}\n\n{extra}"}
        else:
            messages.insert(0, {"role": "system", "content": extra})
    show_tools = request.tools if (request.tools and request.choice != "none") else None
    if show_tools and request.forced is not None:
        compact = request.forced_prompt == "compact"  # described in the system text instead
        show_tools = None if compact else [t for t in show_tools if t["function"]["name"] in request.forced]
    try:
        # The template renders plain dicts; llama-cpp's TypedDicts are only annotations.
        result = loaded.formatter(
            messages=cast(Any, messages), tools=cast(Any, show_tools if loaded.template_tools else None)
        )
    except Exception as exc:  # jinja2 errors: raise_exception() in the template, bad roles
        raise ValueError(f"the chat template of {loaded.name!r} rejected the messages: {exc}") from exc
    return loaded.llama.tokenize(
        (result.prompt + prefill).encode("utf-8"), add_bos=not result.added_special, special=True
    )


def _max_tokens(loaded: _Loaded, request: _Request, prompt: list[int]) -> int:
    room = loaded.n_ctx - len(prompt)
    if room <= 0:
        raise LocalModelError(
            f"the prompt has {len(prompt)} tokens but {loaded.name!r} was loaded with "
            f"n_ctx={loaded.n_ctx}; raise n_ctx or shorten the conversation"
        )
    return min(request.max_tokens or room, room)


def _forced_grammar(request: _Request) -> str:
    """The GBNF grammar of a forced tool call (its root rule is ``root``)."""
    from llama_cpp.llama_grammar import json_schema_to_gbnf

    return json_schema_to_gbnf(json.dumps(forced_tool_schema(request.tools or [], request.forced or [])))


@dataclass
class _ForcedPrompt:
    prefill: str
    grammar: str
    root: str
    prompt: list[int]


def _forced_prompt(loaded: _Loaded, request: _Request) -> _ForcedPrompt:
    """The prompt, reply opening and grammar of a forced tool call (sample-first decoding).

    When one tool is forced its name is fixed, so ``{"name": <name>, "arguments":`` opens the
    reply as part of the prompt (evaluated in one batch, not token by token) and the grammar
    covers the arguments and the closing brace.
    """
    forced = request.forced or []
    if len(forced) == 1:
        from llama_cpp.llama_grammar import json_schema_to_gbnf

        prefill = '{"name": ' + json.dumps(forced[0], ensure_ascii=False) + ', "arguments":'
        parameters = forced_tool_schema(request.tools or [], forced)["properties"]["arguments"]
        grammar = json_schema_to_gbnf(json.dumps(parameters)) + '\ncall ::= " "? root "}"\n'
        root = "call"
    else:
        prefill, grammar, root = "", _forced_grammar(request), "root"
    return _ForcedPrompt(prefill, grammar, root, _render(loaded, request, prefill))


def _prompt_tokens(loaded: _Loaded, request: _Request) -> list[int]:
    """The tokens a call reads before it writes its first token (a forced call's opening too)."""
    if request.forced is not None and not request.grammar_first:
        return _forced_prompt(loaded, request).prompt
    return _render(loaded, request)
