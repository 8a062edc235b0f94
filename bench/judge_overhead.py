"""The judge's fixed prompt overhead: tokens it reads beyond the question and the candidates.

For each mode (best-of, merge, debate) a real fusion runs through the graph with scripted members
(fixed answers to ``make demo``'s question) and two judges, whose first request is captured:

* **local** — the bundled Qwen judge of ``default_config()``. Its prompt is rendered by the local
  provider exactly as a call would render it (chat template, tool instructions, the verdict schema it
  injects, a forced call's opening) and counted with llama.cpp's tokenizer; nothing is generated
  unless ``--run`` is given (then the real judge answers and the verdict must parse).
* **hosted** — an OpenAI-compatible judge (``openai-compatible:judge``) on the project's stub server
  on 127.0.0.1. The request body the OpenAI client sends is captured and estimated: each message
  costs 3 tokens plus its role and content (OpenAI's documented chat accounting, "How to count tokens
  with tiktoken"), the reply is primed with 3, and the ``response_format`` / ``tools`` schema is
  counted as its compact JSON text. tiktoken's encodings are downloaded on first use, so the Qwen2.5
  tokenizer (byte-level BPE, 151k vocabulary, close to o200k on English and JSON) counts the text.
  Providers render function schemas more compactly than JSON, so the schema part is an upper bound.

Overhead = prompt tokens − tokens of the question − tokens of each candidate's text (each counted
alone with the same tokenizer). What remains is the system prompt, the user template, the labels and
the schema and its instructions.

``--save FILE`` writes the numbers as JSON; ``--compare FILE`` prints them side by side with a saved
run (``bench/judge_overhead_baseline.json`` holds the run before the prompts were cut).

Usage::

    python bench/judge_overhead.py                    # 2 and 4 candidates, all modes
    python bench/judge_overhead.py --compare bench/judge_overhead_baseline.json
    python bench/judge_overhead.py --run              # also let the real local judge answer
    python bench/judge_overhead.py --show best-of     # print the local judge's rendered prompt
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from pathlib import Path
from typing import Any, ClassVar, Literal

from langchain_core.messages import AIMessage, BaseMessage
from langchain_core.outputs import ChatGeneration, ChatResult

from fusion_graph import FusionConfig, Judge, Member, fuse
from fusion_graph.defaults import default_config
from fusion_graph.providers.local import LocalChatModel
from fusion_graph.testing import ModelScript, OpenAIStubServer, ScriptedChatModel

QUESTION = "Is 1001 a prime number? Explain briefly."
ANSWERS = (
    "No. 1001 = 7 × 11 × 13, so it has divisors other than 1 and itself.\nAnswer: no",
    "Yes. No small prime divides 1001, so it is prime.\nAnswer: yes",
    "No: 1001 is divisible by 7, since 7 × 143 = 1001.\nAnswer: no",
    "1001 is odd and its digit sum is 2, so 2 and 3 do not divide it, but 11 does (11 × 91).\nAnswer: no",
)
MODES = ("best-of", "merge", "debate")
TARGET = 300


class _Tokenizer:
    """Qwen2.5's tokenizer through llama.cpp (vocabulary only: no weights are loaded)."""

    def __init__(self) -> None:
        from llama_cpp import Llama

        from fusion_graph.providers import _weights

        path = _weights.bundled_path(_weights.BUNDLED_MODELS["qwen2.5-coder-0.5b"])
        self.llama = Llama(model_path=str(path), vocab_only=True, verbose=False)

    def count(self, text: str) -> int:
        return len(self.llama.tokenize(text.encode("utf-8"), add_bos=False, special=False)) if text else 0


class _PromptProbe(LocalChatModel):
    """The local judge, stopped before it generates: it records the prompt it would read."""

    seen: ClassVar[list[list[int]]] = []
    answer: ClassVar[bool] = False

    async def _agenerate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: Any = None,
        **kwargs: Any,
    ) -> ChatResult:
        tokens = await asyncio.to_thread(self.prompt_tokens, messages, stop=stop, **kwargs)
        type(self).seen.append(tokens)
        if type(self).answer:
            return await super()._agenerate(messages, stop, run_manager, **kwargs)
        return ChatResult(generations=[ChatGeneration(message=AIMessage(content="(not generated)"))])


def _pool(count: int) -> list[Member]:
    return [
        Member(ScriptedChatModel(script=[ANSWERS[i]], model_name=f"m{i + 1}"), name=f"member-{i + 1}")
        for i in range(count)
    ]


def _config(mode: str, count: int, judge: Judge) -> FusionConfig:
    # consensus=None: the debate's round always runs (the scripted answers repeat themselves).
    return FusionConfig(pool=_pool(count), judge=judge, mode=mode, rounds=1, consensus=None)  # type: ignore[arg-type]


def _content_tokens(tok: _Tokenizer, count: int) -> int:
    return tok.count(QUESTION) + sum(tok.count(text) for text in ANSWERS[:count])


async def _local(
    mode: str, count: int, tok: _Tokenizer, run: bool, forced_prompt: Literal["compact", "template"]
) -> dict[str, Any]:
    base = default_config().judge
    assert base is not None
    params = {k: v for k, v in base.params.items() if k != "instance"}
    probe = _PromptProbe(
        model="qwen2.5-coder-0.5b", instance="overhead-probe", forced_prompt=forced_prompt, **params
    )
    _PromptProbe.seen.clear()
    _PromptProbe.answer = run
    started = time.perf_counter()
    result = await fuse(QUESTION, _config(mode, count, Judge(probe, name="local-judge", timeout=600)))
    seconds = time.perf_counter() - started
    prompt = len(_PromptProbe.seen[0])
    row: dict[str, Any] = {"prompt": prompt, "overhead": prompt - _content_tokens(tok, count)}
    if run:
        call = result.judge_calls[0]
        row |= {
            "parsed": call.error is None,
            "decided_by": result.decided_by,
            "output": call.usage.output_tokens,
            "seconds": round(seconds, 1),
            "error": call.error,
            "calls": len(result.judge_calls),
            "issues": list(getattr(result, "verdict_issues", []) or []),
            "verdict": result.verdict.model_dump() if result.verdict is not None else None,
        }
    return row


def _hosted_tokens(body: dict[str, Any], tok: _Tokenizer) -> int:
    total = 3  # every reply is primed with <|start|>assistant<|message|>
    for message in body["messages"]:
        content = message.get("content") or ""
        if isinstance(content, list):
            content = "".join(part.get("text", "") for part in content if isinstance(part, dict))
        total += 3 + tok.count(message["role"]) + tok.count(content)
    for key in ("response_format", "tools", "tool_choice"):
        if key in body:
            total += tok.count(json.dumps(body[key], separators=(",", ":"), ensure_ascii=False))
    return total


async def _hosted(mode: str, count: int, tok: _Tokenizer) -> dict[str, Any]:
    async with OpenAIStubServer({"judge": ModelScript(judge=True)}) as server:
        judge = Judge("openai-compatible:judge", base_url=server.base_url, api_key="x", name="hosted-judge")
        await fuse(QUESTION, _config(mode, count, judge))
        body = server.requests[0]
    prompt = _hosted_tokens(body, tok)
    schema = sum(
        tok.count(json.dumps(body[k], separators=(",", ":"), ensure_ascii=False))
        for k in ("response_format", "tools", "tool_choice")
        if k in body
    )
    kind = "response_format" if "response_format" in body else "tools"
    return {"prompt": prompt, "overhead": prompt - _content_tokens(tok, count), "schema": schema, "via": kind}


async def _show(mode: str, count: int) -> None:
    base = default_config().judge
    assert base is not None
    probe = _PromptProbe(model="qwen2.5-coder-0.5b", instance="overhead-probe", n_threads=1)
    _PromptProbe.seen.clear()
    _PromptProbe.answer = False
    await fuse(QUESTION, _config(mode, count, Judge(probe, name="local-judge")))
    llama = probe._loaded().llama  # noqa: SLF001 - the probe's own loaded model
    print(llama.detokenize(_PromptProbe.seen[0], special=True).decode("utf-8", "replace"))


def _measure(counts: list[int], run: bool, forced_prompt: Literal["compact", "template"]) -> dict[str, Any]:
    tok = _Tokenizer()
    rows: dict[str, Any] = {}
    for count in counts:
        for mode in MODES:
            key = f"{mode}/{count}"
            rows[key] = {
                "local": asyncio.run(_local(mode, count, tok, run, forced_prompt)),
                "hosted": asyncio.run(_hosted(mode, count, tok)),
            }
            print(f"  measured {key}", file=sys.stderr)
    return rows


def _ratio(now: int, before: int | None) -> str:
    return f"{now / before:5.2f}x" if before else "    -"


def _print(rows: dict[str, Any], baseline: dict[str, Any] | None, run: bool, verbose: bool) -> None:
    print(f"Judge prompt overhead (tokens beyond the question and the candidates); target ≤ {TARGET}")
    print(f"question: {QUESTION!r}; candidates: the first N of {len(ANSWERS)} fixed answers")
    head = f"{'mode/N':<11}{'local':>7}"
    if baseline:
        head += f"{'before':>8}{'ratio':>8}"
    head += f"{'hosted':>8}"
    if baseline:
        head += f"{'before':>8}{'ratio':>8}"
    head += f"{'schema':>8}  via"
    print(head)
    for key, row in rows.items():
        local, hosted = row["local"], row["hosted"]
        old = (baseline or {}).get(key, {})
        line = f"{key:<11}{local['overhead']:>7}"
        if baseline:
            before = old.get("local", {}).get("overhead")
            line += f"{before if before is not None else '-':>8}{_ratio(local['overhead'], before):>8}"
        line += f"{hosted['overhead']:>8}"
        if baseline:
            before = old.get("hosted", {}).get("overhead")
            line += f"{before if before is not None else '-':>8}{_ratio(hosted['overhead'], before):>8}"
        line += f"{hosted['schema']:>8}  {hosted['via']}"
        print(line)
    if run:
        print("\nReal local judge (--run):")
        for key, row in rows.items():
            local = row["local"]
            status = "parsed" if local["parsed"] else f"FAILED: {local['error']}"
            print(
                f"{key:<11} prompt {local['prompt']:>5}  output {local['output']:>4}  "
                f"{local['seconds']:>6.1f} s  calls {local['calls']}  {local['decided_by']}  {status}"
            )
            for issue in local["issues"]:
                print(f"{'':<11} issue: {issue}")
            if verbose:
                print(f"{'':<11} verdict: {json.dumps(local['verdict'], ensure_ascii=False)}")


def main() -> None:
    """Measure and print the judge's prompt overhead per mode."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument(
        "--candidates", type=int, nargs="+", default=[2, 4], choices=range(2, len(ANSWERS) + 1)
    )
    parser.add_argument(
        "--forced-prompt",
        choices=("compact", "template"),
        default="compact",
        help="how the local judge is shown the verdict schema (LocalChatModel.forced_prompt)",
    )
    parser.add_argument("--run", action="store_true", help="let the real local judge answer (slow)")
    parser.add_argument("--verbose", action="store_true", help="with --run: print each verdict")
    parser.add_argument("--save", type=Path, help="write the numbers to this JSON file")
    parser.add_argument("--compare", type=Path, help="a JSON file written by --save, shown side by side")
    parser.add_argument("--show", choices=MODES, help="print the local judge's rendered prompt and stop")
    args = parser.parse_args()
    if args.show:
        asyncio.run(_show(args.show, args.candidates[0]))
        return
    rows = _measure(args.candidates, args.run, args.forced_prompt)
    baseline = json.loads(args.compare.read_text()) if args.compare else None
    _print(rows, baseline, args.run, args.verbose)
    if args.save:
        args.save.write_text(json.dumps(rows, indent=1) + "\n")


if __name__ == "__main__":
    main()
