import json
import re
from pathlib import Path

import pytest
from langchain_core.messages import AIMessage, BaseMessage, HumanMessage
from typer.testing import CliRunner

from fusion_graph import FusionConfig, Judge, Member
from fusion_graph.cli import app
from fusion_graph.eval import eval_configs, load_dataset, load_records, run_eval, summarize
from fusion_graph.testing import ScriptedChatModel

ROWS = [{"id": f"q{i}", "question": f"What is {i} plus {i}?", "answer": 2 * i} for i in range(1, 4)]


@pytest.fixture
def dataset(tmp_path: Path) -> Path:
    path = tmp_path / "tiny.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in ROWS), encoding="utf-8")
    return path


def _adder(offset: int):
    def reply(messages: list[BaseMessage]) -> str:
        question = next(m for m in messages if isinstance(m, HumanMessage)).text
        a, b = map(int, re.findall(r"\d+", question)[:2])
        return f"{a} plus {b} is {a + b + offset}."

    return reply


def _config() -> tuple[FusionConfig, ScriptedChatModel]:
    good = ScriptedChatModel(script=[_adder(0)], cycle=True)
    bad = ScriptedChatModel(script=[_adder(1)], cycle=True)
    config = FusionConfig(
        pool=[Member(good, name="good"), Member(bad, name="bad")],
        judge=Judge(ScriptedChatModel(), name="judge"),
        consensus=None,
    )
    return config, good


async def test_each_member_and_mode_is_scored(dataset: Path):
    config, _ = _config()
    configs = eval_configs(config, ["best-of", "merge", "debate"])
    assert [c.label for c in configs] == [
        "member:good",
        "member:bad",
        "fusion:best-of",
        "fusion:merge",
        "fusion:debate",
    ]
    records = await run_eval(configs, load_dataset(str(dataset)))
    assert len(records) == 15
    by_config = {s.config: s for s in summarize(records, [c.label for c in configs])}
    assert by_config["member:good"].accuracy == 1.0
    assert by_config["member:bad"].accuracy == 0.0
    tokens = {label: s.tokens for label, s in by_config.items()}
    assert tokens["fusion:debate"] > tokens["fusion:best-of"] > tokens["member:good"]
    assert all(r["error"] is None for r in records)


async def test_rerun_with_the_same_out_skips_done_items(dataset: Path, tmp_path: Path):
    config, good = _config()
    configs = eval_configs(config, ["best-of"])
    out = tmp_path / "results.jsonl"
    await run_eval(configs, load_dataset(str(dataset), limit=2), out=out)
    assert len(load_records(out)) == 6
    calls = len(good.calls)
    records = await run_eval(configs, load_dataset(str(dataset)), out=out)
    assert len(records) == 9
    assert len(load_records(out)) == 9
    assert len(good.calls) == calls + 2  # item q3 only: alone, then in the pool
    with out.open("a", encoding="utf-8") as f:
        f.write('{"config": "member:good", "item"')  # a line cut by an interruption
    again = await run_eval(configs, load_dataset(str(dataset)), out=out)
    assert len(again) == 9
    assert len(good.calls) == calls + 2


async def test_function_calling_items_score_the_call():
    pytest.importorskip("bfcl_eval", reason="pip install --no-deps bfcl-eval")
    items = load_dataset("bfcl", limit=1)
    call = {"name": "calculate_triangle_area", "args": {"base": 10, "height": 5}, "id": "c1"}
    right = ScriptedChatModel(script=[AIMessage(content="", tool_calls=[call])])
    wrong = ScriptedChatModel(script=[AIMessage(content="", tool_calls=[{**call, "args": {"base": 5}}])])
    config = FusionConfig(
        pool=[Member(right, name="right"), Member(wrong, name="wrong")],
        judge=Judge(ScriptedChatModel(), name="judge"),
    )
    records = await run_eval(eval_configs(config, ["best-of"]), items)
    correct = {r["config"]: r["correct"] for r in records}
    assert correct["member:right"] is True
    assert correct["member:wrong"] is False
    assert right.call_kwargs[0]["tools"][0]["function"]["name"] == "calculate_triangle_area"


POOL = """\
[[pool]]
model = "fake:The answer is 4."
name = "four"
price_in = 1.0
price_out = 2.0

[[pool]]
model = "fake:The answer is 5."
name = "five"

[judge]
model = "fake:judge"
"""


def test_cli_prints_the_table_writes_jsonl_and_plot(tmp_path: Path):
    data = tmp_path / "d.jsonl"
    rows = '{"question": "2+2?", "answer": 4}\n{"question": "1+3?", "answer": 4}\n'
    data.write_text(rows, encoding="utf-8")
    pool = tmp_path / "pool.toml"
    pool.write_text(POOL, encoding="utf-8")
    out, png = tmp_path / "r.jsonl", tmp_path / "acc.png"
    runner = CliRunner(env={"COLUMNS": "160", "NO_COLOR": "1"})
    args = [
        "eval",
        "--dataset",
        str(data),
        "--config",
        str(pool),
        "--out",
        str(out),
        "--plot",
        str(png),
        "--modes",
        "best-of,merge",
    ]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    assert "member:four" in result.output and "fusion:merge" in result.output
    assert re.search(r"member:four\s+│\s+100%", result.output)
    assert re.search(r"member:five\s+│\s+0%", result.output)
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert len(load_records(out)) == 8
    again = runner.invoke(app, args)
    assert again.exit_code == 0
    assert len(load_records(out)) == 8


def test_cli_unknown_dataset_exits_2(tmp_path: Path):
    result = CliRunner().invoke(app, ["eval", "--dataset", "nope"])
    assert result.exit_code == 2
    assert "unknown dataset" in result.output


def test_cli_writes_a_calibration_that_a_config_takes(tmp_path: Path):
    from fusion_graph import Calibration

    data = tmp_path / "d.jsonl"
    rows = '{"question": "2+2?", "answer": 4}\n{"question": "1+3?", "answer": 4}\n'
    data.write_text(rows, encoding="utf-8")
    pool = tmp_path / "pool.toml"
    pool.write_text(POOL, encoding="utf-8")
    cal = tmp_path / "cal.json"
    args = [
        "eval",
        "--dataset",
        str(data),
        "--config",
        str(pool),
        "--modes",
        "best-of",
        "--no-members",
        "--calibration-out",
        str(cal),
    ]
    result = CliRunner(env={"COLUMNS": "160", "NO_COLOR": "1"}).invoke(app, args)
    assert result.exit_code == 0, result.output
    calibration = Calibration.model_validate_json(cal.read_text())
    entry = calibration.entries[0]
    assert entry.tag == "d"
    assert entry.members["four"].accuracy == 1.0 and entry.members["five"].accuracy == 0.0
    assert entry.members["four"].count == 2
    assert set(entry.judges) <= {"judge", "fake:judge"}
    config = FusionConfig.from_file(pool).replace(calibration=str(cal), task_tag="d")
    assert config.calibration == calibration
