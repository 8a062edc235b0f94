"""GSM-Symbolic items from reasoning-gym's generators, without importing the ``reasoning_gym`` package.

``reasoning-gym`` (Apache-2.0) ships procedural GSM-Symbolic generators in
``reasoning_gym/arithmetic/gsm_symbolic/``: ``generate_<n>(rng, difficulty) -> {"question",
"answer", ...}`` in ``generators_00_49.py`` and ``generators_50_99.py``, which import only
``reasoning_gym.utils`` (standard library only). The package's ``__init__`` imports every task and
needs heavy dependencies, so it is installed with ``--no-deps`` and never imported here: the two
generator modules and ``utils.py`` are loaded from their files under private names, with
``reasoning_gym.utils`` in ``sys.modules`` only while the generators import it; the list of usable
generators (``tasks_ok``) is read from ``gsm_symbolic.py`` by parsing it, since importing it would
import the package. Items are generated as ``GSMSymbolicDataset.__getitem__`` does.
"""

from __future__ import annotations

import ast
import importlib.util
import sys
import threading
from collections.abc import Callable
from functools import cache
from pathlib import Path
from random import Random
from types import ModuleType
from typing import Any

__all__ = ["SUFFIX", "generate"]

SUFFIX = " Give the result as your final answer. Do not include units."
"""What ``GSMSymbolicDataset.__getitem__`` appends to each question."""
DIFFICULTY = 1.0
"""The only difficulty reasoning-gym supports."""

Generator = Callable[[Random, float], dict[str, Any]]
_LOCK = threading.Lock()


def generate(package: Path, *, seed: int, size: int) -> list[dict[str, Any]]:
    """The first ``size`` items of ``GSMSymbolicDataset(seed=seed, size=…)``, difficulty 1.0.

    Item ``idx`` uses generator ``Random(seed).choices(tasks_ok, k=size)[idx]`` called with
    ``Random(seed + idx)``; both are prefix-stable, so a smaller ``size`` gives the first items.

    Args:
        package: The installed ``reasoning_gym`` directory.
        seed: The dataset's seed.
        size: How many items.

    Returns:
        One dict per item: ``index``, ``task`` (the generator's number), ``question`` (with
        :data:`SUFFIX`) and ``answer`` (the generator's answer, as text).
    """
    generators = _generators(package)
    tasks = Random(seed).choices(_tasks_ok(package), k=max(size, 0))
    items = []
    for idx, task in enumerate(tasks):
        example = generators[task](Random(seed + idx), DIFFICULTY)
        items.append(
            {
                "index": idx,
                "task": task,
                "question": str(example["question"]) + SUFFIX,
                "answer": str(example["answer"]),
            }
        )
    return items


@cache
def _tasks_ok(package: Path) -> tuple[int, ...]:
    """``tasks_ok`` of ``gsm_symbolic.py``, from its syntax tree (importing it imports the package)."""
    tree = ast.parse(
        (package / "arithmetic" / "gsm_symbolic" / "gsm_symbolic.py").read_text(encoding="utf-8")
    )
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(
            isinstance(target, ast.Name) and target.id == "tasks_ok" for target in node.targets
        ):
            return tuple(int(n) for n in ast.literal_eval(node.value))
    raise LookupError("no tasks_ok list in gsm_symbolic.py")


@cache
def _generators(package: Path) -> dict[int, Generator]:
    """``generate_<n>`` of both generator modules, by ``n``."""
    with _LOCK:
        utils = sys.modules.get("reasoning_gym.utils")  # the real one, if the package was imported
        added = utils is None
        if utils is None:
            utils = _load("_fusion_graph_reasoning_gym_utils", package / "utils.py")
            sys.modules["reasoning_gym.utils"] = utils
        try:
            modules = [
                _load(
                    f"_fusion_graph_reasoning_gym_{part}",
                    package / "arithmetic" / "gsm_symbolic" / f"{part}.py",
                )
                for part in ("generators_00_49", "generators_50_99")
            ]
        finally:
            if added and sys.modules.get("reasoning_gym.utils") is utils:
                del sys.modules["reasoning_gym.utils"]
    prefix = "generate_"
    return {
        int(name.removeprefix(prefix)): getattr(module, name)
        for module in modules
        for name in dir(module)
        if name.startswith(prefix)
    }


def _load(name: str, file: Path) -> ModuleType:
    """Execute a source file as a module named ``name``, not registered in ``sys.modules``."""
    spec = importlib.util.spec_from_file_location(name, file)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot load {file}")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
