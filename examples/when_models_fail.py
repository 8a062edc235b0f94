"""When models fail: a fusion keeps going, and the result says what failed and who decided.

Four members and two judges are served by fusion-graph's loopback stub server, with injected faults:
one member hangs past its timeout, one answers HTTP 500 on every try, and the judge is overloaded
(HTTP 503), so its fallback decides. Nothing here needs a network or an API key.
"""

import asyncio

from fusion_graph import FusionConfig, Judge, Member, fuse
from fusion_graph.testing import Fault, ModelScript, OpenAIStubServer


async def main() -> None:
    server = OpenAIStubServer(
        models={
            "llama-3.1-8b": ModelScript(reply="1001 = 7 x 11 x 13, so it is not prime."),
            "qwen2.5-7b": ModelScript(reply="1001 is divisible by 7 (7 x 143): not prime."),
            "mistral-7b": ModelScript(faults=[Fault.TIMEOUT]),  # hangs
            "phi-3-mini": ModelScript(faults=[Fault.HTTP_500] * 5),  # fails on every try
            "judge-70b": ModelScript(judge=True, faults=[Fault.HTTP_503]),  # overloaded
            "judge-8b": ModelScript(judge=True),
        }
    )
    async with server:

        def member(name: str) -> Member:
            # timeout: seconds this member may take; max_retries: the HTTP client's own retries
            return Member(f"openai:{name}", base_url=server.base_url, timeout=2.0, params={"max_retries": 1})

        def judge(name: str, **kwargs: object) -> Judge:
            return Judge(
                f"openai:{name}", name=name, base_url=server.base_url, params={"max_retries": 0}, **kwargs
            )

        config = FusionConfig(
            pool=[member("llama-3.1-8b"), member("qwen2.5-7b"), member("mistral-7b"), member("phi-3-mini")],
            judge=judge("judge-70b", fallbacks=[judge("judge-8b")]),
        )
        result = await fuse("Is 1001 prime? Explain briefly.", config)

    print("candidates:")
    for candidate in result.candidates:
        status = candidate.error_kind or "ok"
        print(f"  {candidate.member:13} {status:8} {candidate.error or candidate.text}")
    print("judge calls:")
    for call in result.judge_calls:
        print(f"  {call.judge:13} {'failed' if call.error else 'decided':8} {call.error or ''}".rstrip())
    print(f"decided by: {result.decided_by}")
    print(f"winner: {result.winner}")
    print(f"answer: {result.answer}")


if __name__ == "__main__":
    asyncio.run(main())
