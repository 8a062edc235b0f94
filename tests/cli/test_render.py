"""`fusion run`'s tables fit the terminal: whole member names, whole columns, the least useful dropped."""

from __future__ import annotations

import io

import pytest
from rich.console import Console

from fusion_graph import Fusion, FusionResult
from fusion_graph.cli.render import ProgressView, render_result
from tests._builders import config, member

NAMES = ("qwen2.5-coder-0.5b-instruct-q8_0", "SmolLM2-135M-Instruct")
ANSWER = "The train arrives at 3pm, twelve hours after it left, so the answer is 3pm."
CANDIDATE_HEADERS = ("member", "label", "round", "status", "latency", "tokens", "cost", "preview")
PROGRESS_HEADERS = ("member", "status", "round", "latency", "tokens", "last")


async def _run() -> tuple[ProgressView, FusionResult]:
    fusion = Fusion(config(*(member(name, ANSWER) for name in NAMES)))
    view = ProgressView(list(NAMES), "local:Qwen2.5-Coder-0.5B-Instruct")
    state: dict[str, object] = {}
    async for mode, chunk in fusion.stream("When does the train arrive?", stream_mode=("custom", "values")):
        if mode == "custom":
            view.handle(chunk)
        else:
            state = chunk
    return view, fusion.result(state)


def _render(width: int, view: ProgressView, result: FusionResult) -> list[str]:
    console = Console(file=io.StringIO(), width=width, color_system=None, force_terminal=False)
    console.print(view)
    render_result(console, result)
    text = console.file.getvalue()  # pyright: ignore[reportAttributeAccessIssue]
    return [line.rstrip() for line in text.splitlines()]


def _header(lines: list[str], first: str) -> list[str]:
    """The words of the header line of the table whose first column is ``first``."""
    return next(line.split() for line in lines if line.split()[:1] == [first])


async def test_at_80_columns_member_names_and_headers_stay_whole():
    view, result = await _run()
    lines = _render(80, view, result)
    assert all(len(line) <= 80 for line in lines)
    text = "\n".join(lines)
    for name in NAMES:
        assert f"  {name}  " in text or f"★ {name}  " in text  # whole, never "qwen2.5-coder-0.5b-instruct-q…"
    headers = [words for words in (line.split() for line in lines) if words[:1] == ["member"]]
    progress, candidates = headers[0], headers[1]
    # the columns shown are whole words, never cut ("ro… stat… late… toke…")
    assert set(progress) <= set(PROGRESS_HEADERS) and "…" not in " ".join(progress)
    assert set(candidates) <= set(CANDIDATE_HEADERS) and "…" not in " ".join(candidates)
    # the status and some of the answer stay; the single round and the zero cost went first
    assert progress[:2] == ["member", "status"] and progress[-1] == "last"
    assert candidates[:3] == ["member", "label", "status"] and candidates[-1] == "preview"
    assert "round" not in candidates and "cost" not in candidates
    assert "The train arrives" in text


@pytest.mark.parametrize("width", [160, 200])
async def test_a_wide_terminal_shows_every_column(width: int):
    view, result = await _run()
    lines = _render(width, view, result)
    headers = [words for words in (line.split() for line in lines) if words[:1] == ["member"]]
    assert tuple(headers[0]) == PROGRESS_HEADERS
    assert tuple(headers[1]) == CANDIDATE_HEADERS
    assert all(len(line) <= width for line in lines)


async def test_a_narrow_terminal_keeps_the_names_and_statuses():
    view, result = await _run()
    lines = _render(48, view, result)
    headers = [words for words in (line.split() for line in lines) if words[:1] == ["member"]]
    assert headers[0] == ["member", "status"] and headers[1] == ["member", "status"]
    assert sum(NAMES[0] in line for line in lines) >= 2  # whole, in both tables
