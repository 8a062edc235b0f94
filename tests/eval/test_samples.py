"""``fusion eval`` with samples, scouts, vote and the dataset's answer format, through real HTTP members."""

import json
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest
from rich.console import Console
from typer.testing import CliRunner

from fusion_graph import FusionConfig, Judge, Member
from fusion_graph.cli import app
from fusion_graph.eval import eval_configs, load_records, summarize
from fusion_graph.eval.report import Summary, print_table, wilson
from fusion_graph.testing import ModelScript, OpenAIStubServer

KEY = "sk-eval"
ROWS = [{"id": f"q{i}", "question": f"What is {i} plus {i}?", "answer": 2 * i} for i in range(1, 3)]


def _sum(body: Mapping[str, Any]) -> int:
    question = next(m["content"] for m in body["messages"] if m["role"] == "user")
    a, b = map(int, re.findall(r"\d+", str(question))[:2])
    return a + b


def sampler(body: Mapping[str, Any]) -> str:
    """Greedy (temperature 0) it is off by one; sampled, seeds 11 and 12 are right and 13 is off by two.

    The reply ends in a number without saying "the answer is", so only ``answer_format="number"``
    compares it (``auto`` guesses nothing from free text).
    """
    total = _sum(body)
    if body.get("temperature") == 0:
        return f"Adding them up carefully makes {total + 1} in all."
    offset = {11: 0, 12: 0, 13: 2}[int(body["seed"])]
    return f"Adding them up carefully makes {total + offset} in all."


def steady(body: Mapping[str, Any]) -> str:
    """Always right, in free text."""
    return f"Counting on my fingers gives {_sum(body)} altogether."


@pytest.fixture
def server():
    models = {
        "sampler": ModelScript(reply=sampler),
        "steady": ModelScript(reply=steady),
        "judge": ModelScript(judge=True),
    }
    with OpenAIStubServer(models, api_key=KEY) as stub:  # its own thread: the CLI runs its own loop
        yield stub


@pytest.fixture
def dataset(tmp_path: Path) -> Path:
    path = tmp_path / "tiny.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in ROWS), encoding="utf-8")
    return path


def _pool_file(path: Path, server: OpenAIStubServer, extra: str = 'scouts = ["steady"]') -> Path:
    def member(name: str, body: str) -> str:
        return (
            f'[[pool]]\nmodel = "openai:{name}"\nname = "{name}"\nbase_url = "{server.base_url}"\n'
            f'api_key = "{KEY}"\n{body}\n'
        )

    text = (
        f"{extra}\n"
        + member("sampler", "samples = 3\nparams = {temperature = 0.7, seed = 11, max_retries = 0}")
        + member("steady", "samples = 2\nparams = {temperature = 0.7, seed = 1, max_retries = 0}")
        + f'[judge]\nmodel = "openai:judge"\nbase_url = "{server.base_url}"\napi_key = "{KEY}"\n'
    )
    path.write_text(text, encoding="utf-8")
    return path


def _bodies(server: OpenAIStubServer, model: str) -> list[dict[str, Any]]:
    return [b for b in server.requests if b.get("model") == model]


def test_rows_of_a_sampled_pool_with_scouts():
    pool = FusionConfig(
        pool=[
            Member("fake:4", name="a", samples=3, params={"temperature": 0.7, "seed": 3}),
            Member("fake:4", name="b", samples=2),
            Member("fake:5", name="c"),
        ],
        judge=Judge("fake:judge"),
        scouts=["b"],
        min_answers=4,
        judge_swap=True,
    )
    rows = {c.label: c for c in eval_configs(pool, ["best-of", "vote"])}
    assert list(rows) == [
        "member:a",
        "fusion:a x3 vote",
        "member:b",
        "fusion:b x2 vote",
        "member:c",
        "fusion:best-of",
        "fusion:vote",
    ]
    alone = rows["member:a"].config
    assert [(m.samples, m.params) for m in alone.pool] == [(1, {"temperature": 0.0, "seed": 3})]
    assert (alone.scouts, alone.judge_swap, alone.min_answers) == (None, False, 1)
    vote = rows["fusion:a x3 vote"].config
    assert (vote.mode, vote.pool[0].samples, vote.scouts, vote.min_answers) == ("vote", 3, None, 3)
    assert vote.pool[0].params["temperature"] == 0.7
    assert rows["member:c"].config.pool[0] == pool.member("c")  # an unsampled member runs as configured
    assert rows["fusion:vote"].config.scouts == ["b"] and rows["fusion:vote"].config.mode == "vote"
    assert all(c.dataset_format for c in rows.values())
    pinned = eval_configs(pool.replace(answer_format="text"), ["vote"], members=False)
    assert [c.dataset_format for c in pinned] == [False]


def test_cli_runs_samples_scouts_and_vote_from_a_pool_file(server, dataset: Path, tmp_path: Path):
    pool = _pool_file(tmp_path / "pool.toml", server)
    out, png = tmp_path / "r.jsonl", tmp_path / "acc.png"
    runner = CliRunner(env={"COLUMNS": "200", "NO_COLOR": "1"})
    args = [
        "eval",
        "-d",
        str(dataset),
        "-c",
        str(pool),
        "-o",
        str(out),
        "--plot",
        str(png),
        "--modes",
        "best-of,vote",
        "--by-item",
    ]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    records = load_records(out)
    by = {(r["config"], r["item"]): r for r in records}
    labels = [
        "member:sampler",
        "fusion:sampler x3 vote",
        "member:steady",
        "fusion:steady x2 vote",
        "fusion:best-of",
        "fusion:vote",
    ]
    assert [r["config"] for r in records[:6]] == labels  # --by-item: every row on q1 first
    summary = {s.config: s for s in summarize(records)}
    # The member alone is its own greedy answer (temperature 0): off by one, every item.
    assert summary["member:sampler"].accuracy == 0.0
    # Three samples (seeds 11, 12, 13) voted: the two right ones win without a judge call.
    assert summary["fusion:sampler x3 vote"].accuracy == 1.0
    assert by[("fusion:sampler x3 vote", "q1")]["decided_by"] == "vote:majority"
    assert by[("fusion:sampler x3 vote", "q1")]["answers"] == {
        "sampler#1": "2",
        "sampler#2": "2",
        "sampler#3": "4",
    }
    sampled = _bodies(server, "sampler")
    assert sorted((b["temperature"], b.get("seed")) for b in sampled) == sorted(
        [(0.0, 11)] * 2 + [(0.7, 11), (0.7, 12), (0.7, 13)] * 2
    )  # the pool rows never call it: the scouts agree
    # The scouts (steady's two samples) agree, so the pool rows return without the rest of the pool.
    for mode in ("best-of", "vote"):
        record = by[(f"fusion:{mode}", "q2")]
        assert (record["decided_by"], record["escalated"], record["correct"]) == ("scouts:agree", False, True)
    # Tokens count every sample: three samples cost about three greedy answers.
    assert summary["fusion:sampler x3 vote"].tokens > 2.5 * summary["member:sampler"].tokens
    assert not _bodies(server, "judge")
    assert re.search(r"fusion:sampler x3 vote\s+│\s+100%\s+│\s+34%–100%", result.output)
    assert "tokens/item" in result.output
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_a_pool_file_answer_format_is_kept(server, dataset: Path, tmp_path: Path):
    pool = _pool_file(tmp_path / "pool.toml", server, extra='answer_format = "auto"')  # no scouts
    out = tmp_path / "r.jsonl"
    args = [
        "eval",
        "-d",
        str(dataset),
        "-c",
        str(pool),
        "-o",
        str(out),
        "--modes",
        "vote",
        "--no-members",
        "--limit",
        "1",
    ]
    result = CliRunner(env={"COLUMNS": "200"}).invoke(app, args)
    assert result.exit_code == 0, result.output
    [record] = load_records(out)
    # "auto" reads no final answer from free text: the vote has nothing to count and the judge decides.
    assert record["answers"] == dict.fromkeys(["sampler#1", "sampler#2", "sampler#3", "steady#1", "steady#2"])
    assert record["decided_by"].startswith("judge:")
    assert _bodies(server, "judge")


def test_wilson_interval_and_table_columns():
    assert [round(x, 3) for x in wilson(8, 10)] == [0.49, 0.943]
    assert wilson(0, 0) == (0.0, 1.0)
    low, high = wilson(0, 5)
    assert low == 0.0 and 0.4 < high < 0.45
    summary = Summary(
        config="fusion:vote",
        items=4,
        correct=3,
        tokens=1000,
        cost_usd=0.02,
        p50_latency_s=1.5,
        errors=0,
        latency_s=8.0,
    )
    assert (summary.tokens_per_item, summary.cost_per_item, summary.seconds_per_item) == (250, 0.005, 2.0)
    console = Console(width=200, record=True, no_color=True)
    print_table(console, [summary])
    text = console.export_text()
    row = r"fusion:vote\s+│\s+75%\s+│\s+30%–95%\s+│\s+3/4\s+│\s+250\s+│\s+0\.00500\s+│\s+2\.0"
    assert re.search(row, text)
