"""Fuse models served by an OpenAI-compatible server (vLLM, llama.cpp server, LM Studio, …).

Here the server is fusion-graph's own loopback stub, so the example runs anywhere; point ``base_url``
at your server instead.
"""

import asyncio

from fusion_graph import FusionConfig, Judge, Member, fuse
from fusion_graph.testing import ModelScript, OpenAIStubServer


async def main() -> None:
    server = OpenAIStubServer(
        models={
            "llama-3.1-8b": ModelScript(reply="1001 = 7 x 11 x 13, so it is not prime.", latency=0.2),
            "qwen2.5-7b": ModelScript(reply="1001 is divisible by 7 (7 x 143): not prime.", latency=0.3),
            "judge-70b": ModelScript(judge=True, judge_fields={"answer": "Not prime: 1001 = 7 x 11 x 13."}),
        }
    )
    async with server:

        def member(name: str) -> Member:
            return Member(f"openai:{name}", base_url=server.base_url, price_in=0.2, price_out=0.6)

        for mode in ("best-of", "merge", "debate"):
            config = FusionConfig(
                pool=[member("llama-3.1-8b"), member("qwen2.5-7b")],
                judge=Judge("openai:judge-70b", base_url=server.base_url),
                mode=mode,
            )
            result = await fuse("Is 1001 prime? Explain briefly.", config)
            total = result.usage.total
            print(
                f"{mode:8} -> {result.answer!r} (decided by {result.decided_by}, "
                f"{total.input_tokens}+{total.output_tokens} tokens, ${total.cost_usd:.6f})"
            )


if __name__ == "__main__":
    asyncio.run(main())
