"""Running one ``local:`` request on a loaded model, one sequence at a time (blocking).

Call these from a worker thread in async code; each holds the loaded model's lock while it runs.
"""

from __future__ import annotations

import threading
from collections.abc import Generator
from typing import Any, cast

from fusion_graph.providers._local_grammar import generate_with_grammar
from fusion_graph.providers._local_loader import _Loaded
from fusion_graph.providers._local_prompt import (
    _forced_grammar,
    _forced_prompt,
    _max_tokens,
    _Outcome,
    _render,
    _Request,
)

__all__: list[str] = []


def _run_forced(loaded: _Loaded, request: _Request, cancel: threading.Event | None) -> _Outcome:
    """A forced tool call: the grammar checks the sampled token, filters only on rejection."""
    forced = _forced_prompt(loaded, request)
    prefill, grammar, root, prompt = forced.prefill, forced.grammar, forced.root, forced.prompt
    run = generate_with_grammar(
        loaded.llama,
        grammar,
        root,
        prompt,
        max_tokens=_max_tokens(loaded, request, prompt),
        sampling=request.sampling,
        cancel=cancel,
    )
    return _Outcome(prefill + run.text, run.finish_reason, len(prompt), run.output_tokens)


def _completion_args(
    loaded: _Loaded, request: _Request, prompt: list[int], cancel: threading.Event | None
) -> tuple[dict[str, Any], list[int]]:
    from llama_cpp import LlamaGrammar, StoppingCriteriaList

    max_tokens = _max_tokens(loaded, request, prompt)
    sampled = [0]

    def count_and_cancel(_ids: Any, _logits: Any) -> bool:
        sampled[0] += 1
        return cancel is not None and cancel.is_set()

    args: dict[str, Any] = {
        **request.sampling,
        "prompt": prompt,
        "max_tokens": max_tokens,
        "stop": [*(request.sampling.get("stop") or []), loaded.formatter.eos_token],
        "stopping_criteria": StoppingCriteriaList([count_and_cancel]),
    }
    if request.forced is not None:
        args["grammar"] = LlamaGrammar.from_string(_forced_grammar(request), verbose=False)
    return args, sampled


def _run(loaded: _Loaded, request: _Request, cancel: threading.Event | None) -> _Outcome:
    """Run one completion (blocking). Call from a worker thread in async code."""
    with loaded.lock:
        if cancel is not None and cancel.is_set():
            return _Outcome("", "cancelled", 0, 0)
        if request.forced is not None and not request.grammar_first:
            return _run_forced(loaded, request, cancel)
        prompt = _render(loaded, request)
        args, _ = _completion_args(loaded, request, prompt, cancel)
        result = cast(dict[str, Any], loaded.llama.create_completion(**args, stream=False))
    choice = result["choices"][0]
    usage = result["usage"]
    return _Outcome(
        text=choice["text"],
        finish_reason=choice["finish_reason"] or "stop",
        input_tokens=usage["prompt_tokens"],
        output_tokens=usage["completion_tokens"],
    )


def _iter_run(
    loaded: _Loaded, request: _Request, cancel: threading.Event | None
) -> Generator[str | _Outcome, None, None]:
    """Stream one completion (blocking): text pieces, then one :class:`_Outcome`."""
    with loaded.lock:
        if cancel is not None and cancel.is_set():
            yield _Outcome("", "cancelled", 0, 0)
            return
        if request.forced is not None and not request.grammar_first:
            yield _run_forced(loaded, request, cancel)  # a forced call has no pieces
            return
        prompt = _render(loaded, request)
        args, sampled = _completion_args(loaded, request, prompt, cancel)
        text: list[str] = []
        finish = "stop"
        for chunk in loaded.llama.create_completion(**args, stream=True):
            choice = cast(dict[str, Any], chunk)["choices"][0]
            if choice["text"]:
                text.append(choice["text"])
                yield choice["text"]
            finish = choice.get("finish_reason") or finish
    # llama-cpp streams no usage. The stopping criteria runs once per sampled token and once
    # more after the loop. A "stop" finish is the end-of-generation token (sampled, not part of
    # the output) unless a caller's stop string ended it, where this count is one too low.
    output = args["max_tokens"] if finish == "length" else max(sampled[0] - 2, 0)
    yield _Outcome("".join(text), finish, len(prompt), output)
