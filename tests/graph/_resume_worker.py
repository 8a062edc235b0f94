"""Run one debate against a stub server, checkpointed in SQLite; print the result as JSON.

Usage: ``python _resume_worker.py BASE_URL DB_PATH THREAD_ID``. Run again with the same database
and thread id after the process was killed, it resumes the interrupted fusion.
"""

from __future__ import annotations

import asyncio
import sys

from langgraph.checkpoint.sqlite.aio import AsyncSqliteSaver

from fusion_graph import Fusion, FusionConfig, Judge, Member

MEMBERS = ("alpha", "beta", "gamma")
PROMPT = "Is 1001 prime?"


def config(base_url: str) -> FusionConfig:
    def spec(model: str) -> dict[str, object]:
        return {
            "model": f"openai:{model}",
            "name": model,
            "base_url": base_url,
            "api_key": "sk-test",
            "timeout": 60.0,
            "params": {"max_retries": 0},
        }

    return FusionConfig(
        pool=[Member(**spec(name)) for name in MEMBERS],
        judge=Judge(**spec("judge")),
        mode="debate",
        rounds=2,
        consensus=None,
    )


async def main(base_url: str, db: str, thread_id: str) -> None:
    async with AsyncSqliteSaver.from_conn_string(db) as saver:
        fusion = Fusion(config(base_url), checkpointer=saver)
        result = await fusion.run(PROMPT, thread_id=thread_id)
    sys.stdout.write(result.model_dump_json() + "\n")
    sys.stdout.flush()


if __name__ == "__main__":
    asyncio.run(main(*sys.argv[1:4]))
