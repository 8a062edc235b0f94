from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from typer.testing import CliRunner

from fusion_graph import FusionConfig, Judge, Member
from fusion_graph.cli import _common
from fusion_graph.testing import ScriptedChatModel

POOL_TOML = """\
mode = "best-of"

[[pool]]
model = "fake:Paris is the capital of France."
name = "alpha"
price_in = 0.5
price_out = 1.5

[[pool]]
model = "fake:I think it is Lyon."
name = "beta"

[judge]
model = "fake:judge"
"""


@pytest.fixture
def pool_file(tmp_path: Path) -> Path:
    path = tmp_path / "pool.toml"
    path.write_text(POOL_TOML, encoding="utf-8")
    return path


@pytest.fixture
def runner() -> CliRunner:
    return CliRunner(env={"COLUMNS": "160", "NO_COLOR": "1"})


@pytest.fixture
def use_config(monkeypatch: pytest.MonkeyPatch) -> Callable[[FusionConfig], None]:
    """Make `fusion run` use a config built in Python (e.g. with members that fail)."""

    def install(config: FusionConfig) -> None:
        monkeypatch.setattr(_common, "load_config", lambda path: config)

    return install


def _failing_config(*, all_fail: bool = False) -> FusionConfig:
    pool = [Member(model=ScriptedChatModel(script=[RuntimeError("down")]), name="broken")]
    if all_fail:
        pool.append(Member(model=ScriptedChatModel(script=[RuntimeError("also down")]), name="broken-too"))
    else:
        pool.append(Member(model="fake:Paris is the capital of France.", name="alpha"))
        pool.append(Member(model="fake:I think it is Lyon.", name="beta"))
    return FusionConfig(pool=pool, judge=Judge(model="fake:judge"))


@pytest.fixture
def failing_config() -> Callable[..., FusionConfig]:
    """A pool with a member whose model raises RuntimeError("down") (or where every member does)."""
    return _failing_config
