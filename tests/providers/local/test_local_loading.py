"""Loading models in parallel must leave the process's stdout and stderr alone."""

import asyncio
import os

import pytest

from fusion_graph.providers.local import create_local_model, unload_local_models

pytestmark = pytest.mark.local


def _fd_target(fd: int) -> tuple[int, int]:
    stat = os.fstat(fd)
    return stat.st_dev, stat.st_ino


async def test_parallel_loads_do_not_silence_stdout_and_stderr(llama_cpp_module):
    before = (_fd_target(1), _fd_target(2))
    for attempt in range(3):
        unload_local_models()
        small, large = (
            create_local_model(name, {"n_threads": 1, "max_tokens": 2, "instance": f"fd-{attempt}"})
            for name in ("smollm2-135m", "qwen2.5-coder-0.5b")
        )

        # the large model starts loading while the small one loads, and finishes after it
        await asyncio.gather(small.ainvoke("hi"), _later(large, 0.02 * attempt))
        assert (_fd_target(1), _fd_target(2)) == before, f"fds swapped for /dev/null on attempt {attempt}"
    unload_local_models()


async def _later(model, delay: float) -> None:
    await asyncio.sleep(delay)
    await model.ainvoke("hi")
