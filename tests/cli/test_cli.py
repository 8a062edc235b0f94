"""The `fusion` CLI against fake members: modes, JSON, failures, config errors, the SQLite re-run."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from typer.testing import CliRunner

from fusion_graph import FusionConfig, FusionResult, Judge, Member, MergeVerdict
from fusion_graph.cli import app
from fusion_graph.testing import ScriptedChatModel

PROMPT = "Capital of France?"


def flat(text: str) -> str:
    """The text with every run of whitespace made one space (rich wraps long messages)."""
    return " ".join(text.split())


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        ([], ["verdict (best-of)", "winner: answer_", "rationale:"]),
        (["--mode", "merge"], ["verdict (merge)", "consensus:", "contradictions:", "unique insights:"]),
        (["--mode", "debate", "--rounds", "2"], ["verdict (debate)", "debate rounds: 2"]),
    ],
    ids=["best-of", "merge", "debate"],
)
def test_run_each_mode(runner: CliRunner, pool_file: Path, args: list[str], expected: list[str]) -> None:
    result = runner.invoke(app, ["run", PROMPT, "--config", str(pool_file), *args])
    assert result.exit_code == 0, result.output
    out = result.stdout
    for part in ["progress", "candidates", "answer", "usage", "total", "alpha", "beta", *expected]:
        assert part in out
    assert "decided by: judge:fake:judge" in out
    assert "answered" in out  # the live table's final state


def test_json_parses_into_fusion_result(runner: CliRunner, pool_file: Path) -> None:
    result = runner.invoke(app, ["run", PROMPT, "-c", str(pool_file), "--mode", "merge", "--json"])
    assert result.exit_code == 0, result.output
    fused = FusionResult.model_validate_json(result.stdout)  # stdout holds the JSON and nothing else
    assert fused.mode == "merge"
    assert isinstance(fused.verdict, MergeVerdict)
    assert {c.member for c in fused.candidates} == {"alpha", "beta"}
    assert fused.usage.members["alpha"].cost_usd > 0


def test_debate_rounds_override_reaches_the_graph(runner: CliRunner, pool_file: Path) -> None:
    args = ["run", PROMPT, "-c", str(pool_file), "-m", "debate", "-r", "1", "--json"]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    fused = FusionResult.model_validate_json(result.stdout)
    assert fused.mode == "debate"
    assert {c.round for c in fused.candidates} == {0, 1}


def test_failing_member_is_shown_as_failed(
    runner: CliRunner, use_config: Callable[[FusionConfig], None], failing_config: Callable[..., FusionConfig]
) -> None:
    use_config(failing_config())
    result = runner.invoke(app, ["run", PROMPT])
    assert result.exit_code == 0, result.output
    assert "failed" in result.stdout
    assert "RuntimeError: down" in result.stdout

    result = runner.invoke(app, ["run", PROMPT, "--json"])
    fused = FusionResult.model_validate_json(result.stdout)
    broken = next(c for c in fused.candidates if c.member == "broken")
    assert broken.error == "RuntimeError: down" and not broken.ok


def test_all_members_failing_exits_1_without_traceback(
    runner: CliRunner, use_config: Callable[[FusionConfig], None], failing_config: Callable[..., FusionConfig]
) -> None:
    use_config(failing_config(all_fail=True))
    result = runner.invoke(app, ["run", PROMPT])
    assert result.exit_code == 1
    assert "Fusion failed: all 2 members failed" in result.stderr
    assert "Traceback" not in result.output


def test_bad_config_file_exits_2_naming_the_field(runner: CliRunner, tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text('[[pool]]\nmodel = "nope:x"\n', encoding="utf-8")
    result = runner.invoke(app, ["run", PROMPT, "--config", str(bad)])
    assert result.exit_code == 2
    assert "Configuration error: pool[0].model: unknown provider prefix 'nope'" in flat(result.stderr)
    assert "Traceback" not in result.output


@pytest.mark.parametrize(
    ("args", "field"),
    [(["--mode", "poll"], "mode: unknown mode 'poll'"), (["--rounds", "0"], "rounds:")],
)
def test_bad_overrides_exit_2(runner: CliRunner, pool_file: Path, args: list[str], field: str) -> None:
    result = runner.invoke(app, ["run", PROMPT, "-c", str(pool_file), *args])
    assert result.exit_code == 2
    assert field in flat(result.stderr)


def test_missing_config_file_and_empty_prompt_exit_2(
    runner: CliRunner, tmp_path: Path, pool_file: Path
) -> None:
    result = runner.invoke(app, ["run", PROMPT, "-c", str(tmp_path / "none.toml")])
    assert result.exit_code == 2
    assert "config: no such file" in flat(result.stderr)
    result = runner.invoke(app, ["run", "  ", "-c", str(pool_file)])
    assert result.exit_code == 2
    assert "prompt: the prompt is empty" in flat(result.stderr)


def test_prompt_from_stdin(runner: CliRunner, pool_file: Path) -> None:
    result = runner.invoke(app, ["run", "-", "-c", str(pool_file), "--json"], input="Is 1001 prime?\n")
    assert result.exit_code == 0, result.output
    FusionResult.model_validate_json(result.stdout)


def test_without_config_and_without_default_pool_exits_2(
    runner: CliRunner, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "fusion_graph.defaults", None)  # as if the module were absent
    result = runner.invoke(app, ["run", PROMPT])
    assert result.exit_code == 2
    assert "pass --config pool.toml" in flat(result.stderr)


def test_db_rerun_returns_the_stored_result_without_calling_models(
    runner: CliRunner, pool_file: Path, tmp_path: Path, use_config: Callable[[FusionConfig], None]
) -> None:
    db = tmp_path / "runs.sqlite"
    first = runner.invoke(app, ["run", PROMPT, "-c", str(pool_file), "--db", str(db), "-t", "t1", "--json"])
    assert first.exit_code == 0, first.output
    stored = FusionResult.model_validate_json(first.stdout)

    # Same thread, models that would fail if called: the stored result comes back untouched.
    untouched = [ScriptedChatModel(script=[RuntimeError("must not be called")]) for _ in range(3)]
    use_config(
        FusionConfig(
            pool=[Member(model=untouched[0], name="alpha"), Member(model=untouched[1], name="beta")],
            judge=Judge(model=untouched[2]),
        )
    )
    again = runner.invoke(app, ["run", PROMPT, "--db", str(db), "-t", "t1", "--json"])
    assert again.exit_code == 0, again.output
    assert FusionResult.model_validate_json(again.stdout) == stored
    shown = runner.invoke(app, ["run", PROMPT, "--db", str(db), "--thread-id", "t1"])
    assert shown.exit_code == 0, shown.output
    assert "stored result of thread t1 (no model was called)" in shown.stdout
    assert all(not model.calls for model in untouched)

    # A new thread in the same database runs (and so fails with these models).
    fresh = runner.invoke(app, ["run", PROMPT, "--db", str(db), "-t", "t2"])
    assert fresh.exit_code == 1


def test_models_lists_local_models_and_providers(runner: CliRunner) -> None:
    result = runner.invoke(app, ["models"])
    assert result.exit_code == 0, result.output
    for part in ["providers", "openai", "anthropic", "ollama", "fake", "(built in)", "base_url"]:
        assert part in result.stdout


def test_models_without_the_local_module_names_the_extra(
    runner: CliRunner, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "fusion_graph.providers.local", None)
    result = runner.invoke(app, ["models"])
    assert result.exit_code == 0, result.output
    assert "pip install 'fusion-graph[local]'" in flat(result.stdout)
    assert "providers" in result.stdout


def test_version_and_tools_placeholder(runner: CliRunner) -> None:
    result = runner.invoke(app, ["version"])
    assert result.exit_code == 0
    assert result.stdout.startswith("fusion-graph ")
    result = runner.invoke(app, ["tools", "--help"])
    assert result.exit_code == 0
    assert "tool registry" in flat(result.stdout)


def test_installed_console_script(pool_file: Path) -> None:
    script = Path(sys.executable).parent / "fusion"
    assert script.exists(), "the `fusion` console script is not installed (pip install -e .)"
    env = {**os.environ, "COLUMNS": "160"}
    done = subprocess.run(
        [str(script), "run", PROMPT, "--config", str(pool_file), "--mode", "merge", "--json"],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    data = json.loads(done.stdout)
    assert data["mode"] == "merge"
    FusionResult.model_validate(data)


def test_importing_the_cli_does_no_work() -> None:
    code = (
        "import sys, fusion_graph.cli\n"
        "heavy = ['langgraph.checkpoint.sqlite', 'aiosqlite', 'fusion_graph.cli.render',"
        " 'fusion_graph.providers.local', 'fusion_graph.defaults']\n"
        "print([m for m in heavy if m in sys.modules])\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True
    )
    assert done.stdout.strip() == "[]"


def test_db_rerun_of_a_failed_thread_resumes_at_the_failed_step(
    runner: CliRunner, tmp_path: Path, use_config: Callable[[FusionConfig], None]
) -> None:
    def judge_down(*_: object) -> dict[str, object]:
        raise RuntimeError("judge down")

    db = tmp_path / "runs.sqlite"
    members = [Member(model="fake:Paris.", name="alpha"), Member(model="fake:Lyon.", name="beta")]
    broken_judge = Judge(model=ScriptedChatModel(structured=judge_down))
    use_config(FusionConfig(pool=members, judge=broken_judge, judge_free_fallback=False))
    first = runner.invoke(app, ["run", PROMPT, "--db", str(db), "-t", "t1"])
    assert first.exit_code == 1
    assert "judge down" in first.stderr

    # Members that would fail now: only the judge step runs again, with a working judge.
    down = [ScriptedChatModel(script=[RuntimeError("must not be called")]) for _ in range(2)]
    pool = [Member(model=down[0], name="alpha"), Member(model=down[1], name="beta")]
    use_config(FusionConfig(pool=pool, judge=Judge(model="fake:judge")))
    again = runner.invoke(app, ["run", PROMPT, "--db", str(db), "-t", "t1", "--json"])
    assert again.exit_code == 0, again.output
    assert "resuming thread t1 at judge" in again.stderr
    fused = FusionResult.model_validate_json(again.stdout)
    assert fused.decided_by == "judge:fake:judge"
    assert fused.decision is not None and fused.decision.judge_pick in {"alpha", "beta"}
    assert all(not model.calls for model in down)
