"""`fusion run` shows the verdict issues, the dissent and the minority report, and the server's
``fusion`` field returns them: stub HTTP members and judge, the real CLI and a real uvicorn."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from typer.testing import CliRunner

from fusion_graph import FusionConfig, FusionResult
from fusion_graph.cli import _common, app
from fusion_graph.testing import ModelScript, OpenAIStubServer
from tests._quality_stubs import QUESTION, REASK_MARK, make_config, scores, server_of

from ..server.conftest import serve

R400 = "12 * 33 = 396, and 396 + 4 = 400. The answer is 400."
R400B = "Multiplying first gives 396; adding four.\nFinal answer: 400"
R409 = "I get 12 * 33 = 405, plus 4. The answer is 409."
MEMBERS = {"w": R409, "a": R400, "b": R400B}  # shown as answer_1, answer_2, answer_3


def _stubborn_judge() -> ModelScript:
    """Picks answer_1 (409): first with its winner scored below another answer, then consistently."""

    def pick_scores(prompt: str) -> list[dict[str, Any]]:
        if REASK_MARK in prompt:
            return scores({"answer_1": 9, "answer_2": 4, "answer_3": 4})
        return scores({"answer_1": 0, "answer_2": 10, "answer_3": 10})

    return ModelScript(
        judge=True, judge_fields={"winner": "answer_1", "scores": pick_scores, "rationale": "409 it is."}
    )


@pytest.fixture
def stub() -> Iterator[OpenAIStubServer]:
    with server_of(MEMBERS, judge=_stubborn_judge()) as server:
        yield server


def _config(server: OpenAIStubServer, **kwargs: Any) -> FusionConfig:
    return make_config(server, list(MEMBERS), majority_policy="majority", **kwargs)


def _flat(text: str) -> str:
    return " ".join(text.split())


ISSUE = "judge: the winner answer_1 scores 0 but answer_2, answer_3 scores 10"
DISSENT = "the judge chose answer_1 (409) but 2/3 answers reach 400"


def test_fusion_run_shows_issues_dissent_and_minority(stub, monkeypatch):
    monkeypatch.setattr(_common, "load_config", lambda path: _config(stub))
    runner = CliRunner(env={"COLUMNS": "160", "NO_COLOR": "1"})
    result = runner.invoke(app, ["run", QUESTION])
    assert result.exit_code == 0, result.output
    out = _flat(result.stdout)
    assert f"verdict issue: {ISSUE}" in out
    assert f"dissent: {DISSENT}" in out
    assert "minority report: w → 409" in out
    assert "final answers: answers 2, 3 reach 400; answer 1 reaches 409" in out
    assert "decided by: majority:2/3" in out
    assert "decision: majority_policy='majority': 2 of 3 answers reach 400 (weights: prior)" in out


def test_fusion_run_json_carries_issues_dissent_and_minority(stub, monkeypatch):
    # its own test (own stub server): langchain-openai caches one async HTTP client per base URL for
    # the process, so a second asyncio.run against the same URL meets a closed loop
    monkeypatch.setattr(_common, "load_config", lambda path: _config(stub))
    runner = CliRunner(env={"COLUMNS": "160", "NO_COLOR": "1"})
    result = runner.invoke(app, ["run", QUESTION, "--json"])
    assert result.exit_code == 0, result.output
    fused = FusionResult.model_validate_json(result.stdout)
    assert any(ISSUE in issue for issue in fused.verdict_issues)
    assert fused.dissent == DISSENT
    assert [(d.member, d.answer) for d in fused.minority] == [("w", "409")]


def test_fusion_run_shows_scouts_and_cut_off_answers(monkeypatch):
    members = {
        "cheap-a": ModelScript(reply="The answer is 400.", finish_reason="length"),
        "cheap-b": R400,
        "big": R409,
    }
    with server_of(members, judge=ModelScript(judge=True)) as server:
        config = make_config(server, list(members), scouts=["cheap-a", "cheap-b"])
        monkeypatch.setattr(_common, "load_config", lambda path: config)
        result = CliRunner(env={"COLUMNS": "160", "NO_COLOR": "1"}).invoke(app, ["run", QUESTION])
        assert server.calls("big") == 0
    assert result.exit_code == 0, result.output
    out = _flat(result.stdout)
    assert "scouts agreed" in out and "decided by: scouts:agree" in out
    assert "ok (cut off)" in out


def test_server_fusion_field_returns_issues_dissent_and_minority(stub):
    from fusion_graph.server import create_app

    app_ = create_app({"fusion/best-of": _config(stub)}, api_keys=["sk-test"])
    with serve(app_) as live:
        response = httpx.post(
            f"{live.base_url}/chat/completions",
            json={"model": "fusion/best-of", "messages": [{"role": "user", "content": QUESTION}]},
            headers={"Authorization": "Bearer sk-test"},
            timeout=30,
        )
    assert response.status_code == 200, response.text
    body = response.json()
    fusion = body["fusion"]
    assert body["choices"][0]["message"]["content"] in {R400, R400B}
    assert fusion["decided_by"] == "majority:2/3"
    assert any(ISSUE in issue for issue in fusion["verdict_issues"])
    assert fusion["dissent"] == DISSENT
    assert fusion["minority"] == [{"member": "w", "answer": "409", "label": "answer_1"}]
    assert fusion["answers"] == {"w": "409", "a": "400", "b": "400"}
    assert fusion["agreement_summary"] == "answers 2, 3 reach 400; answer 1 reaches 409"
    assert fusion["decision"]["rule"] == "majority" and fusion["decision"]["judge_pick"] == "w"
    assert fusion["decision"]["judge_stood"] is False
    assert fusion["escalated"] is None
