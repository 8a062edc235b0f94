"""Many fusions at once through one compiled ``Fusion``, beside the same calls hand-written.

A pool of 3 members (``--member`` seconds each) and a judge (``--judge`` seconds) served by
``OpenAIStubServer`` in a separate process. For each level N, in fresh child processes (so that
memory freed by one run does not hide the next one's growth):

- no-HTTP: N fusions of in-process ``ScriptedChatModel`` members (the fusion's own cost);
- server alone: N × (3 concurrent member calls, then a judge-latency call), raw HTTP;
- gather: the baseline of issue 12, N hand-written ``asyncio.gather`` of the 3 members' ``ainvoke``
  then one structured judge call (``with_structured_output``), through the very
  models (and so the same HTTP client) that ``resolve_model`` builds for the fusion's specs;
- plain: the baseline of issue 17, what a user writes without the library: the same gather and
  judge call over plain ``langchain_openai.ChatOpenAI`` models (the SDK's own HTTP client);
- HTTP fusion: N ``fusion.run`` on one ``Fusion`` compiled from those specs;
- fuse: N ``fuse(prompt, config)`` calls (the README's first example; compiled once, then reused);
- compile (only with ``--kinds``): N ``Fusion(config).run(prompt)``, each compiling its own graph
  (what ``fuse()`` did before it kept compiled fusions).

Both baselines send the judge the prompt and verdict schema the graph sends
(``_common.judge_messages``, built with ``fusion_graph.prompts.judge_prompt``).

Connections are opened before timing (``--cold`` to skip): see ``prewarm``.

Reported per level: wall time ÷ one fusion's critical path (member + judge), fusion ÷ gather and
fuse ÷ plain wall time (issue 12: fusion ÷ gather <= 1.25 at 200; issue 17: fuse ÷ plain <= 1.15 at
200, <= 1.02 at 1), client CPU seconds of each, and peak RSS growth per in-flight fusion
(``/proc/self/statm`` sampled every 5 ms, minus the RSS after a warm-up run). ``--repeat R`` runs
every kind R times, interleaved, and reports medians.

Connection pool: the library's own (``fusion_graph/providers/_http.py``): every OpenAI-compatible
model of one ``base_url`` shares one client whose transport spreads requests over 64 connection
pools per event loop, with no connection cap. ``--shards`` changes the count for this run.

    .venv/bin/python bench/concurrency.py [--levels 1,10,50,100,200,500] [--member 1.0] [--judge 0.3]
                                          [--kinds gather,plain,fusion,fuse] [--repeat 3]
    .venv/bin/python bench/concurrency.py --profile 200 [--kinds plain,fuse] [--profile-out DIR]
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable
from typing import Any

from _common import StubProcess, judge_messages, judge_schema, load_note, rss_bytes
from langchain_core.messages import HumanMessage
from langchain_openai import ChatOpenAI

from fusion_graph import FusionConfig, Judge, Member, fuse
from fusion_graph.providers import resolve_model
from fusion_graph.providers._http import DEFAULT_SHARDS, httpx, shared_async_client
from fusion_graph.runner import Fusion
from fusion_graph.testing import ScriptedChatModel

KEY = "sk-bench"
PROMPT = "Is 1001 prime? Explain briefly."


def client(url: str) -> httpx.AsyncClient:
    """The library's shared client for ``url`` (the one the resolved models hold)."""
    return shared_async_client(url, SHARDS[0])


SHARDS = [DEFAULT_SHARDS]
"""The shard count of this run (``--shards``)."""


async def prewarm(http: httpx.AsyncClient, url: str, connections: int) -> None:
    """Open ``connections`` keep-alive connections, 50 new ones every 25 ms (not timed).

    Opening hundreds at once overflows the server's listen backlog (asyncio's default is 100): the
    dropped SYNs are retried after 1 s, 3 s, … and the burst takes seconds (run with ``--cold``).
    """

    async def hold() -> None:
        r = await http.post(
            f"{url}/chat/completions",
            headers={"Authorization": f"Bearer {KEY}"},
            json={"model": "warm", "messages": [{"role": "user", "content": "hi"}]},
        )
        r.raise_for_status()

    tasks = []
    for start in range(0, connections, 50):
        tasks += [asyncio.create_task(hold()) for _ in range(min(50, connections - start))]
        await asyncio.sleep(0.025)
    await asyncio.gather(*tasks)


async def server_alone(url: str, n: int, cold: bool) -> float:
    """Seconds for n × 3 concurrent member calls then n concurrent judge-latency calls, raw HTTP."""
    http = client(url)
    if not cold:
        await prewarm(http, url, 3 * n)

    async def call(model: str) -> None:
        r = await http.post(
            f"{url}/chat/completions",
            headers={"Authorization": f"Bearer {KEY}"},
            json={"model": model, "messages": [{"role": "user", "content": PROMPT}]},
        )
        r.raise_for_status()

    async def one() -> None:
        await asyncio.gather(*(call(f"m{i}") for i in range(3)))
        await call("slowjudge")

    await one()
    t = time.perf_counter()
    await asyncio.gather(*(one() for _ in range(n)))
    return time.perf_counter() - t


def fake_fusion(member: float, judge: float) -> Fusion:
    """The same pool in-process (``ScriptedChatModel`` sleeping its latency): no HTTP at all."""
    reply = "1001 = 7 x 11 x 13, so it is not prime."
    pool = [Member(ScriptedChatModel(script=[reply], latency=member), name=f"m{i}") for i in range(3)]
    return Fusion(FusionConfig(pool=pool, judge=Judge(ScriptedChatModel(latency=judge), name="judge")))


def specs(url: str) -> tuple[list[Member], Judge]:
    """The pool and judge as a user writes them (``resolve_model`` gives them the shared client)."""
    params: dict[str, Any] = {"max_retries": 0}
    if SHARDS[0] != DEFAULT_SHARDS:
        params["http_async_client"] = client(url)
    pool = [Member(f"openai:m{i}", name=f"m{i}", base_url=url, api_key=KEY, params=params) for i in range(3)]
    return pool, Judge("openai:judge", base_url=url, api_key=KEY, params=params)


def gather_baseline(url: str) -> Callable[[], Awaitable[Any]]:
    """The same calls hand-written: gather the 3 members, then one structured judge call.

    The models are the ones ``resolve_model`` builds from the fusion's own specs (same client); the
    judge's prompt and schema are the ones the graph sends (``_common.judge_messages``).
    """
    pool, judge = specs(url)
    members = [resolve_model(m) for m in pool]
    structured = resolve_model(judge).with_structured_output(judge_schema("best-of", 3), include_raw=True)
    return _gather_and_judge(members, structured)


def plain_baseline(url: str) -> Callable[[], Awaitable[Any]]:
    """What a user writes without the library: plain ``ChatOpenAI`` (the SDK's own HTTP client).

    ``asyncio.gather`` of the 3 members, then one structured judge call with the prompt and schema
    the graph sends.
    """
    members = [plain_model(url, f"m{i}") for i in range(3)]
    judge = plain_model(url, "judge")
    structured = judge.with_structured_output(judge_schema("best-of", 3), include_raw=True)
    return _gather_and_judge(members, structured)


def plain_model(url: str, model: str) -> ChatOpenAI:
    """``ChatOpenAI`` as a user writes it: every model of one ``base_url`` shares the SDK's default client."""
    return ChatOpenAI(model=model, base_url=url, api_key=KEY)  # type: ignore[arg-type]


def _gather_and_judge(members: list[Any], structured: Any) -> Callable[[], Awaitable[Any]]:
    async def run() -> Any:
        question = [HumanMessage(PROMPT)]
        replies = await asyncio.gather(*(m.ainvoke(question) for m in members))
        out: Any = await structured.ainvoke(judge_messages(question, [r.text for r in replies]))
        if out["parsed"] is None:
            raise RuntimeError(f"the judge's verdict did not parse: {out['parsing_error']}")
        return out

    return run


def fusion_runner(
    url: str | None, member: float, judge: float, how: str = "fusion"
) -> Callable[[], Awaitable[Any]]:
    """``fusion.run`` on one compiled ``Fusion`` (in-process fakes when ``url`` is None); with
    ``how="fuse"``, ``fuse(prompt, config)`` on every call (the README's first example); with
    ``how="compile"``, ``Fusion(config).run(prompt)`` on every call (what ``fuse()`` did before it
    kept compiled fusions)."""
    if url is None:
        fusion = fake_fusion(member, judge)
        config = fusion.config
    else:
        pool, judge_spec = specs(url)
        config = FusionConfig(pool=pool, mode="best-of", judge=judge_spec)
        fusion = Fusion(config)

    async def one() -> Any:
        if how == "fuse":
            return await fuse(PROMPT, config)
        if how == "compile":
            return await Fusion(config).run(PROMPT)
        return await fusion.run(PROMPT)

    async def run() -> Any:
        result = await one()
        if any(not c.ok for c in result.candidates) or not result.decided_by.startswith("judge:"):
            raise RuntimeError(f"a failed fusion: {result.decided_by}")
        return result

    return run


def packages(profiler: Any, top: int = 12) -> dict[str, float]:
    """Own CPU seconds of a cProfile run summed per top-level package (waiting in ``poll`` left out)."""
    import pstats
    import re

    per: dict[str, float] = {}
    stats: dict[Any, Any] = pstats.Stats(profiler).stats  # type: ignore[attr-defined]
    for (filename, _, func), (_, _, tottime, _, _) in stats.items():
        if "poll" in func and filename == "~":
            continue
        match = (
            re.search(r"site-packages/([^/]+)", filename)
            or re.search(r"/(fusion_graph)/", filename)
            or re.search(r"python3\.\d+/(asyncio)/", filename)
            or re.search(r"python3\.\d+/([^/]+)", filename)
        )
        key = match.group(1).removesuffix(".py") if match else "builtins"
        per[key] = per.get(key, 0.0) + tottime
    return dict(sorted(per.items(), key=lambda kv: -kv[1])[:top])


async def prewarm_plain(url: str, connections: int) -> None:
    """``prewarm`` for the SDK's default client (the plain baseline's), through a ``ChatOpenAI``.

    That client keeps at most 100 idle connections (the SDK's limits): the rest are opened again in
    the timed run, as they would be for a user.
    """
    warm = plain_model(url, "warm")
    tasks = []
    for start in range(0, connections, 50):
        tasks += [asyncio.create_task(warm.ainvoke("hi")) for _ in range(min(50, connections - start))]
        await asyncio.sleep(0.025)
    await asyncio.gather(*tasks)


async def level(
    url: str | None,
    n: int,
    cold: bool,
    member: float,
    judge: float,
    no_gc: bool = False,
    kind: str = "fusion",
    profile: bool = False,
    profile_out: str | None = None,
) -> dict[str, Any]:
    """Run ``n`` at once (fusions, or a baseline) after a warm-up run: wall, CPU, memory.

    ``kind``: ``fusion`` (one compiled ``Fusion``), ``fuse`` (``fuse()`` per call), ``compile``
    (``Fusion(config).run()`` per call), ``gather`` (the library's models and client, hand-written)
    or ``plain`` (plain ``ChatOpenAI``, hand-written).
    """
    if url is not None and not cold:
        await (prewarm_plain(url, 3 * n) if kind == "plain" else prewarm(client(url), url, 3 * n))
    if url is not None and kind in ("gather", "plain"):
        run = gather_baseline(url) if kind == "gather" else plain_baseline(url)
    else:
        run = fusion_runner(url, member, judge, kind)
    await run()  # warm-up
    gc.collect()
    base = rss_bytes()
    peak = base
    done = False

    async def sample() -> None:
        nonlocal peak
        while not done:
            peak = max(peak, rss_bytes())
            await asyncio.sleep(0.005)

    sampler = asyncio.create_task(sample())
    if no_gc:
        gc.disable()
    profiler = None
    if profile:
        import cProfile

        profiler = cProfile.Profile()
        profiler.enable()
    cpu = time.process_time()
    t = time.perf_counter()
    results = await asyncio.gather(*(run() for _ in range(n)), return_exceptions=True)
    wall = time.perf_counter() - t
    cpu = time.process_time() - cpu
    if profiler is not None:
        profiler.disable()
    gc.enable()
    done = True
    await sampler
    errors = [r for r in results if isinstance(r, BaseException)]
    out = {"n": n, "wall": wall, "cpu": cpu, "per_fusion_bytes": (peak - base) / n, "failed": len(errors)}
    if errors:
        out["error"] = f"{type(errors[0]).__name__}: {str(errors[0])[:200]}"
    if profiler is not None:
        out["packages"] = packages(profiler)
        if profile_out:
            profiler.dump_stats(profile_out)
    return out


def models(member: float, judge: float) -> dict[str, dict[str, Any]]:
    reply = "1001 = 7 x 11 x 13, so it is not prime."
    out: dict[str, dict[str, Any]] = {f"m{i}": {"reply": reply, "latency": member} for i in range(3)}
    out["judge"] = {"judge": True, "latency": judge}
    out["slowjudge"] = {"reply": "ok", "latency": judge}
    out["warm"] = {"reply": "ok", "latency": 1.5}
    return out


KINDS = ("gather", "plain", "fusion", "fuse")
"""The timed kinds of run, besides no-HTTP and the server alone (see ``level``)."""


def profile_level(args: argparse.Namespace) -> None:
    """Own CPU ms per run (cProfile, so inflated) by package: each baseline beside the fusion."""
    n = args.profile
    kinds = args.kinds.split(",")
    with StubProcess(models(args.member, args.judge)) as url:
        out = {}
        for kind in kinds:
            cmd = [
                sys.executable,
                __file__,
                "--child",
                str(n),
                "--url",
                url,
                "--member",
                str(args.member),
                "--judge",
                str(args.judge),
                "--shards",
                str(args.shards),
                "--profile",
                str(n),
                "--kind",
                kind,
            ]
            if args.profile_out:
                cmd += ["--profile-out", f"{args.profile_out}/{kind}.pstats"]
            done = subprocess.run(cmd, capture_output=True, text=True, timeout=600, check=False)
            if done.returncode:
                raise RuntimeError(done.stderr[-2000:])
            out[kind] = json.loads(done.stdout.strip().splitlines()[-1])
    print(f"{n} at once, cProfile on: own CPU ms per run, by package ({load_note()})")
    names = list(dict.fromkeys(name for kind in kinds for name in out[kind]["packages"]))
    print(f"{'package':>22} " + " ".join(f"{kind:>8}" for kind in kinds))
    for name in names:
        own = [out[k]["packages"].get(name, 0.0) * 1000 / n for k in kinds]
        print(f"{name:>22} " + " ".join(f"{ms:>8.2f}" for ms in own))
    print(f"{'total CPU':>22} " + " ".join(f"{out[k]['cpu'] * 1000 / n:>8.2f}" for k in kinds))
    print(f"{'wall s':>22} " + " ".join(f"{out[k]['wall']:>8.3f}" for k in kinds))


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--levels", default="1,10,50,100,200,500")
    parser.add_argument("--member", type=float, default=1.0)
    parser.add_argument("--judge", type=float, default=0.3)
    parser.add_argument("--repeat", type=int, default=1, help="runs per cell (the median is kept)")
    parser.add_argument(
        "--kinds",
        default=",".join(KINDS),
        help="which runs to time, in this order per level (no-HTTP and alone always)",
    )
    parser.add_argument("--shards", type=int, default=DEFAULT_SHARDS, help="connection pools per base URL")
    parser.add_argument("--cold", action="store_true", help="do not pre-open the connections")
    parser.add_argument("--no-gc", action="store_true", help="disable the cyclic GC while timing (diagnosis)")
    parser.add_argument("--child", type=int, default=None, help=argparse.SUPPRESS)
    parser.add_argument("--url", default=None, help=argparse.SUPPRESS)
    parser.add_argument("--alone", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--kind", default="fusion", help=argparse.SUPPRESS)
    parser.add_argument(
        "--profile",
        type=int,
        default=None,
        metavar="N",
        help="only: CPU per package (cProfile) of N runs of each kind, side by side",
    )
    parser.add_argument(
        "--profile-out",
        default=None,
        metavar="DIR",
        help="with --profile: also write each kind's pstats file into DIR",
    )
    args = parser.parse_args()
    SHARDS[0] = args.shards
    if args.child is not None:
        url = None if args.url == "fake" else args.url
        if args.alone:
            out: Any = asyncio.run(server_alone(args.url, args.child, args.cold))
        else:
            out = asyncio.run(
                level(
                    url,
                    args.child,
                    args.cold,
                    args.member,
                    args.judge,
                    args.no_gc,
                    args.kind,
                    args.profile is not None,
                    args.profile_out,
                )
            )
        print(json.dumps(out if isinstance(out, dict) else {"wall": out}))
        return
    crit = args.member + args.judge
    if args.profile is not None:
        profile_level(args)
        return
    levels = [int(x) for x in args.levels.split(",")]
    kinds = args.kinds.split(",")
    print(f"start: {load_note()}")
    print(
        f"pool of 3 ({args.member} s each), judge {args.judge} s: critical path {crit:.2f} s; "
        f"stub server in its own process; library HTTP pool, {args.shards} shards; each run in a fresh "
        "process; "
        + ("cold connections" if args.cold else "3 x N keep-alive connections opened before timing")
        + ("; cyclic GC off while timing" if args.no_gc else "")
        + (f"; median of {args.repeat} runs per cell, kinds interleaved" if args.repeat > 1 else "")
    )
    print(
        "columns: no-HTTP = in-process ScriptedChatModel members (the fusion's own cost); alone = the "
        "same HTTP calls without langchain; gather = hand-written asyncio.gather of the 3 members + "
        "a structured judge call through the library's models and HTTP pool; plain = the same, "
        "hand-written over plain ChatOpenAI (the SDK's own client); fusion = Fusion.run on one "
        "compiled Fusion; fuse = fuse(prompt, config) per call; x/crit = wall / critical path; "
        "fus/gat, fus/pln, fuse/pln = wall-time ratios; CPU = client CPU seconds for the whole level; "
        "KB = peak RSS growth per in-flight run (HTTP)"
    )
    head = f"{'N':>4} {'no-HTTP/crit':>12} {'alone/crit':>10} "
    head += " ".join(f"{k + '/crit':>11}" for k in kinds)
    pairs = (("fusion", "gather"), ("fusion", "plain"), ("fuse", "plain"), ("compile", "plain"))
    ratio_names = [(a, b) for a, b in pairs if a in kinds and b in kinds]
    head += "".join(f" {a[:4] + '/' + b[:3]:>8}" for a, b in ratio_names)
    head += "".join(f" {'CPU ' + k:>10}" for k in kinds) + "".join(f" {'KB ' + k:>9}" for k in kinds)
    print(head + f" {'failed':>6}")
    ratios: dict[tuple[int, str, str], float] = {}
    with StubProcess(models(args.member, args.judge)) as url:
        for n in levels:

            def child(kind: str, n: int = n) -> dict[str, Any]:
                cmd = [
                    sys.executable,
                    __file__,
                    "--child",
                    str(n),
                    "--url",
                    "fake" if kind == "fake" else url,
                    "--member",
                    str(args.member),
                    "--judge",
                    str(args.judge),
                    "--shards",
                    str(args.shards),
                ]
                cmd += ["--alone"] if kind == "alone" else ["--kind", "fusion" if kind == "fake" else kind]
                cmd += (["--cold"] if args.cold else []) + (["--no-gc"] if args.no_gc else [])
                done = subprocess.run(cmd, capture_output=True, text=True, timeout=300, check=False)
                if done.returncode:
                    raise RuntimeError(done.stderr[-2000:])
                return json.loads(done.stdout.strip().splitlines()[-1])

            fake = child("fake")
            alone = child("alone")["wall"]
            # the kinds alternate, run after run, so that a burst of load on the machine hits them all
            runs: dict[str, list[dict[str, Any]]] = {kind: [] for kind in kinds}
            for _ in range(args.repeat):
                for kind in kinds:
                    runs[kind].append(child(kind))
            cell = {kind: sorted(r, key=lambda x: x["wall"])[len(r) // 2] for kind, r in runs.items()}
            line = f"{n:>4} {fake['wall'] / crit:>12.3f} {alone / crit:>10.3f} "
            line += " ".join(f"{cell[k]['wall'] / crit:>11.3f}" for k in kinds)
            for a, b in ratio_names:
                walls = sorted(x["wall"] / y["wall"] for x, y in zip(runs[a], runs[b], strict=True))
                ratios[(n, a, b)] = walls[len(walls) // 2]
                line += f" {ratios[(n, a, b)]:>8.3f}"
            line += "".join(f" {cell[k]['cpu']:>10.2f}" for k in kinds)
            line += "".join(f" {cell[k]['per_fusion_bytes'] / 1024:>9.1f}" for k in kinds)
            failed = fake["failed"] + sum(r["failed"] for k in kinds for r in runs[k])
            print(line + f" {failed:>6}", flush=True)
            if failed:  # which runs failed, and why (the first error of each kind)
                print(
                    f"     failed: no-HTTP {fake['failed']}, "
                    + ", ".join(f"{k} {sum(r['failed'] for r in runs[k])}" for k in kinds)
                    + "; "
                    + "; ".join(f"{k}: {r['error']}" for k in kinds for r in runs[k][:1] if r.get("error")),
                    flush=True,
                )
    print(f"end: {load_note()}")
    print(
        "targets: fusion / gather <= 1.25 at 200 concurrent (issue 12; goal 1.05); fuse / plain <= 1.15 "
        "at 200 and <= 1.02 at 1 (issue 17); <= 256 KB per in-flight fusion; 500 fusions in <= 1.5 x "
        "the critical path"
    )
    for (n, a, b), ratio in ratios.items():
        if n in (1, 200):
            print(f"{a} / {b} at {n}: {ratio:.3f} (median of the per-run ratios)")


if __name__ == "__main__":
    main()
