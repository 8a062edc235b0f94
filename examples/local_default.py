"""A real fusion with the offline default: a local Qwen answers three times (the first greedily), voted.

python examples/local_default.py "Is 1001 prime?"
"""

import asyncio
import os
import sys

from fusion_graph import fuse
from fusion_graph.defaults import default_config


async def main(prompt: str) -> None:
    max_tokens = int(os.environ.get("FUSION_EXAMPLE_MAX_TOKENS", "160"))
    result = await fuse(prompt, default_config(max_tokens=max_tokens))
    for candidate in result.candidates:
        status = "ok" if candidate.ok else f"failed: {candidate.error}"
        print(f"- {candidate.member} ({candidate.latency_s:.1f} s, {status}): {candidate.text[:100]!r}")
    print(f"decided by {result.decided_by}; winner {result.winner}")
    print(f"answer: {result.answer}")


if __name__ == "__main__":
    asyncio.run(main(" ".join(sys.argv[1:]) or "Name one prime number between 10 and 20."))
