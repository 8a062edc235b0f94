"""Simulated members and judges of set quality for ``bench/quality.py``, served over real HTTP.

Everything here runs inside the stub server's process (``OpenAIStubServer`` scripts): members are
``reply`` callables ``(request_body) -> str`` and judges are ``judge_fields`` callables of the
judge's prompt. The functions are module-level and configured with ``functools.partial`` so they
pickle into the server's process.

Items: item ``i`` of seed ``s`` is a synthetic arithmetic question ``a × b − c`` with a gold number;
its id appears in the prompt ("Item 42: …") so members and judges can look it up.

Members have a set accuracy. Whether a member is right is drawn from a hash of (seed, member, item,
sample), optionally correlated across members through an item difficulty (``rho``, a Gaussian
copula: the accuracies stay exactly as set). A wrong member answers its own wrong number (a hash of
seed, member and item), or, with probability ``collision``, the item's common "trap" number that
other wrong members may share. Samples of one member (``Member(samples=k)``) are told apart by the
request's ``seed`` (fusion-graph offsets it per sample); a wrong sample repeats the member's usual
wrong number with probability ``habit``, else it has one of its own. In a debate revision a member
reads the answers shown to it and, with probability ``switch``, moves to the plurality answer it
sees when more answers reach it than its own; otherwise it keeps its answer.

Judges read only the labelled candidate blocks and the item id, never anything else in the prompt
(in particular not the agreement line). Their decision is drawn from a hash of (seed, judge kind,
the whole prompt), so a re-ask or a reversed order is a fresh draw. Kinds:

* ``uninformative``: always the first label shown;
* ``biased``: the first label with probability 0.5, else a right one when present (else the first);
* ``noisy``: a right one with probability 0.8 when present, else a wrong one; a random label when
  none is right;
* ``oracle``: a right one when present, else a random label;
* ``weak`` (merge only): writes the plurality number, but with probability ``p_weak`` a new wrong
  number that no candidate gave;
* ``contradictory`` (integrity check only): picks like ``noisy``, but in 30 % of its verdicts scores
  its winner 2 and another answer 9 (the self-contradiction of the README's demo verdict).

Merge judges write the number of the candidate they would pick. Best-of scores are consistent
with the pick (winner 9, candidates with the winner's number 8, the rest 3), except the
``contradictory`` judge's.
"""

from __future__ import annotations

import asyncio
import functools
import hashlib
import json
import re
import statistics
import time
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from fusion_graph import prompts

JUDGE_KINDS = ("uninformative", "biased", "noisy", "oracle")
GRID_JUDGES = ("uninformative", "biased", "noisy", "good", "trapped", "sycophantic")
HARD_SHARE = 0.3
"""The share of items that are "hard" (highest shared difficulty): a trapped judge falls for traps there."""
MERGE_KINDS = (*JUDGE_KINDS, "weak")

_ITEM = re.compile(r"\bItem (\d+):")
_REASK = re.compile(r"answers reach (-?[\d,]+)\. Re-read")
_NORMAL = statistics.NormalDist()


# --------------------------------------------------------------------------- draws and items


def u01(*key: Any) -> float:
    """A uniform number in [0, 1) fixed by ``key`` (a hash, so every draw is reproducible)."""
    digest = hashlib.blake2b(repr(key).encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") / 2**64


def normal(*key: Any) -> float:
    """A standard normal number fixed by ``key``."""
    return _NORMAL.inv_cdf(min(max(u01(*key), 1e-12), 1 - 1e-12))


@dataclass(frozen=True)
class Item:
    """One synthetic question with its gold number and a common wrong ("trap") number."""

    id: int
    a: int
    b: int
    c: int

    @property
    def gold(self) -> int:
        return self.a * self.b - self.c

    @property
    def trap(self) -> int:
        return self.a * self.b + self.c  # the sign slip several members may share

    @property
    def question(self) -> str:
        return (
            f"Item {self.id}: a depot holds {self.a} crates of {self.b} parts each and ships {self.c} "
            "parts. How many parts are left? Reply with one short sentence of reasoning that ends "
            "with the number."
        )


@functools.lru_cache(maxsize=100_000)
def item(seed: int, index: int) -> Item:
    """Item ``index`` of ``seed``."""
    a = 12 + int(u01(seed, index, "a") * 49)
    b = 11 + int(u01(seed, index, "b") * 38)
    c = 10 + int(u01(seed, index, "c") * (a * b // 2))
    return Item(index, a, b, c)


def hard(seed: int, it: Item) -> bool:
    """Whether an item is among the hardest :data:`HARD_SHARE` (by the difficulty members share)."""
    return normal(seed, it.id, "difficulty") > _NORMAL.inv_cdf(1 - HARD_SHARE)


def wrong_number(seed: int, it: Item, *key: Any) -> int:
    """A wrong number of its own for ``key``: the gold plus a nonzero offset, never the trap."""
    for attempt in range(8):
        offset = 1 + int(u01(seed, it.id, "wrong", attempt, *key) * 400)
        value = it.gold + (offset if u01(seed, it.id, "sign", attempt, *key) < 0.5 else -offset)
        if value not in (it.gold, it.trap) and value > 0:
            return value
    return it.gold + 997


_NUMBER = re.compile(r"-?\d[\d,]*(?:\.\d+)?")
_BOXED = re.compile(r"\\boxed\{([^{}]*)\}")
_STATED = re.compile(r"(?i)(?:answer is|final answer:)\s*\**\s*(-?\d[\d,]*(?:\.\d+)?)")


def final_number(text: str | None) -> int | None:
    """The bench's own reading of a final number (``\\boxed{}``, "the answer is N", else the last)."""
    if not text:
        return None
    text = re.sub(r"(?<=\d)[\u2009\u202f\u00a0](?=\d{3})", "", text)
    for pattern in (_BOXED, _STATED):
        found = pattern.findall(text)
        if found:
            return _as_int(found[-1])
    numbers = _NUMBER.findall(text)
    return _as_int(numbers[-1]) if numbers else None


def _as_int(raw: str) -> int | None:
    raw = raw.replace(",", "").rstrip(".")
    try:
        value = float(raw)
    except ValueError:
        return None
    return int(value) if value.is_integer() else None


# --------------------------------------------------------------------------- prompt parsing


def _template_regex(template: str, groups: Mapping[str, str]) -> re.Pattern[str]:
    """A regex matching a ``str.format`` template of ``fusion_graph.prompts`` (so format changes follow)."""
    parts = re.split(r"\{(\w+)\}", template)
    out: list[str] = []
    seen: set[str] = set()
    for i, part in enumerate(parts):
        if i % 2 == 0:
            out.append(re.escape(part))
        elif part in seen:
            out.append(f"(?P={part})")
        else:
            seen.add(part)
            out.append(f"(?P<{part}>{groups.get(part, '.*?')})")
    return re.compile("".join(out), re.DOTALL)


_CANDIDATE = _template_regex(prompts.CANDIDATE_BLOCK, {"label": r"[A-Za-z0-9_.#-]+"})
_PEER = _template_regex(prompts.PEER_BLOCK, {"index": r"\d+"})
_OWN = re.compile(r"<your_answer>\s*(.*?)\s*</your_answer>", re.DOTALL)


def _user_texts(body: Mapping[str, Any]) -> list[str]:
    out = []
    for message in body.get("messages") or []:
        if isinstance(message, Mapping) and message.get("role") == "user":
            content = message.get("content")
            if isinstance(content, list):
                content = "\n".join(str(p.get("text", "")) for p in content if isinstance(p, Mapping))
            out.append(str(content or ""))
    return out


def item_id(text: str) -> int:
    """The item id in a prompt (a script error when there is none)."""
    found = _ITEM.search(text)
    if found is None:
        raise ValueError("no 'Item N:' in the prompt")
    return int(found.group(1))


def candidates_shown(prompt: str) -> list[tuple[str, str]]:
    """The (label, text) blocks of a judge prompt, in the order shown."""
    blocks = [(m.group("label"), m.group("text")) for m in _CANDIDATE.finditer(prompt)]
    if not blocks:
        raise ValueError("no candidate blocks in the judge prompt")
    return blocks


# --------------------------------------------------------------------------- members


@dataclass(frozen=True)
class MemberSim:
    """One simulated member (picklable)."""

    name: str
    accuracy: float
    style: int
    seed: int
    rho: float = 0.0
    collision: float = 0.05
    switch: float = 0.5
    habit: float = 0.5
    short: bool = False
    noise: float = 0.0
    """Extraction noise: the share of answers written without an explicit marker, with several
    numbers, or with other number formats (thin-space thousands, a trailing ``.0``)."""


STYLES = (
    "I multiply {a} by {b} and take away the {c} shipped parts, so the answer is {n}.",
    "First {a} × {b} parts, then subtract the {c} that left the depot. Final answer: {n}",
    "The depot keeps {a} times {b} parts less the {c} shipped, so the answer is {n:,}.",
    "Working it through: {a} × {b} − {c}, which gives \\boxed{{{n}}}.",
    "Taking the product of {a} and {b} and removing {c} parts, the answer is {n}.",
)
SHORT = "The answer is {n}."
KEEP = "I re-checked against the other answers and keep mine. "
MOVE = "After reading the other answers I revise mine. "

_UNSEEDED: dict[str, int] = {}


def _sample_key(body: Mapping[str, Any]) -> Any:
    """Which sample a request is: its ``seed`` (offset per sample), else a count of identical bodies."""
    seed = body.get("seed")
    if isinstance(seed, int):
        return seed
    key = hashlib.blake2b(
        json.dumps(body.get("messages"), sort_keys=True).encode(), digest_size=12
    ).hexdigest()
    count = _UNSEEDED.get(key, 0)
    _UNSEEDED[key] = count + 1
    return ("n", count)


def first_answer(sim: MemberSim, it: Item, sample: Any) -> int:
    """A member's first answer to an item (right with probability ``sim.accuracy``)."""
    latent = normal(sim.seed, sim.name, it.id, sample, "e")
    if sim.rho > 0:
        latent = sim.rho**0.5 * normal(sim.seed, it.id, "difficulty") + (1 - sim.rho) ** 0.5 * latent
    if latent < _NORMAL.inv_cdf(sim.accuracy):
        return it.gold
    if u01(sim.seed, sim.name, it.id, sample, "collide") < sim.collision:
        return it.trap
    if u01(sim.seed, sim.name, it.id, sample, "habit") < sim.habit:
        return wrong_number(sim.seed, it, sim.name)
    return wrong_number(sim.seed, it, sim.name, sample)


NOISY = (
    # no explicit marker, several numbers: ``auto`` reads none (the right thing), ``number`` the last
    "{a} × {b} is {ab}; less the {c} shipped leaves {n} parts.",
    # a marker, then more numbers after it
    "The answer is {n} ({a} × {b} = {ab}, then minus {c}).",
    # thin-space thousands
    "So the depot keeps {n_thin} parts; the answer is {n_thin}.",
    # a trailing .0
    "Final answer: {n}.0",
)


def render(sim: MemberSim, it: Item, n: int, draw: float = 1.0) -> str:
    """A member's answer text: a short reasoning sentence that ends with the number.

    With probability ``sim.noise`` (``draw`` below it) the answer takes a noisy form instead.
    """
    if draw < sim.noise:
        template = NOISY[int(draw / sim.noise * len(NOISY)) % len(NOISY)]
        return template.format(
            a=it.a, b=it.b, c=it.c, ab=it.a * it.b, n=n, n_thin=f"{n:,}".replace(",", "\u2009")
        )
    template = SHORT if sim.short else STYLES[sim.style % len(STYLES)]
    return template.format(a=it.a, b=it.b, c=it.c, n=n)


def member_reply(sim: MemberSim, body: dict[str, Any]) -> str:
    """The stub ``reply`` of a simulated member."""
    users = _user_texts(body)
    it = item(sim.seed, item_id(users[0]))
    sample = _sample_key(body)
    own_match = _OWN.search(users[-1]) if len(users) > 1 else None
    if len(users) > 1 and own_match is None:
        raise ValueError("a follow-up request that is not a debate revision the bench can read")
    if own_match is None:
        return render(sim, it, first_answer(sim, it, sample), u01(sim.seed, sim.name, it.id, sample, "noise"))
    own = final_number(own_match.group(1))
    peers = [final_number(m.group("text")) for m in _PEER.finditer(users[-1][own_match.end() :])]
    if own is None:
        own = first_answer(sim, it, sample)
    counts = Counter(n for n in [own, *peers] if n is not None)
    top, top_count = counts.most_common(1)[0]
    draw = u01(sim.seed, sim.name, it.id, sample, "switch", own, tuple(sorted(p or 0 for p in peers)))
    if top != own and top_count > counts[own] and draw < sim.switch:
        return MOVE + render(sim, it, top)
    return KEEP + render(sim, it, own)


# --------------------------------------------------------------------------- judges


@dataclass(frozen=True)
class Decision:
    winner: str
    scores: tuple[tuple[str, float], ...]
    number: int
    invented: bool


@functools.lru_cache(maxsize=8192)
def decide(kind: str, seed: int, p_weak: float, prompt: str) -> Decision:
    """What a judge of ``kind`` decides on this prompt (cached: several fields ask the same)."""
    it = item(seed, item_id(prompt))
    shown = candidates_shown(prompt)
    labels = [label for label, _ in shown]
    numbers = {label: final_number(text) for label, text in shown}
    right = [label for label in labels if numbers[label] == it.gold]
    wrong = [label for label in labels if label not in right]

    same_as = "noisy" if kind == "contradictory" else kind  # the same picks, so only integrity differs

    def draw(*key: Any) -> float:
        return u01(seed, same_as, prompt, *key)

    def any_of(options: list[str], key: str) -> str:
        return options[int(draw(key) * len(options))]

    if kind == "uninformative":
        winner = labels[0]
    elif kind == "biased":
        winner = labels[0] if draw("first") < 0.5 or not right else any_of(right, "right")
    elif kind in ("noisy", "contradictory"):
        if right and (draw("right") < 0.8 or not wrong):
            winner = any_of(right, "which")
        else:
            winner = any_of(wrong or labels, "which")
    elif kind in ("oracle", "good"):
        winner = any_of(right, "which") if right else any_of(labels, "which")
    elif kind == "trapped":
        trapped = [label for label in labels if numbers[label] == it.trap]
        if trapped and hard(seed, it):
            winner = any_of(trapped, "which")
        else:
            winner = any_of(right, "which") if right else any_of(labels, "which")
    elif kind == "sycophantic":
        named = _REASK.search(prompt)
        follow = [label for label in labels if named and numbers[label] == _as_int(named.group(1))]
        if follow:
            winner = any_of(follow, "which")
        elif right and (draw("right") < 0.8 or not wrong):
            winner = any_of(right, "which")
        else:
            winner = any_of(wrong or labels, "which")
    elif kind == "weak":
        counts = Counter(numbers[label] for label in labels if numbers[label] is not None)
        best = max(counts.values(), default=0)
        winner = (
            next(label for label in labels if numbers[label] is not None and counts[numbers[label]] == best)
            if counts
            else labels[0]
        )
    else:
        raise ValueError(f"unknown judge kind {kind!r}")
    number = numbers[winner]
    invented = False
    if kind == "weak" and draw("invent") < p_weak:
        given = {n for n in numbers.values() if n is not None}
        key = 0
        number = wrong_number(seed, it, "judge", prompt)
        while number in given:
            key += 1
            number = wrong_number(seed, it, "judge", prompt, key)
        invented = True
    if number is None:
        number = it.trap
    scores = tuple(
        (label, 9.0 if label == winner else 8.0 if numbers[label] == numbers[winner] else 3.0)
        for label in labels
    )
    others = [label for label in labels if label != winner]
    if kind == "contradictory" and others and draw("contradict") < 0.3:
        top = any_of(others, "top")
        scores = tuple((label, 2.0 if label == winner else 9.0 if label == top else 3.0) for label in labels)
    return Decision(winner, scores, number, invented)


def judge_winner(kind: str, seed: int, p_weak: float, prompt: str) -> str:
    """The ``winner`` field."""
    return decide(kind, seed, p_weak, prompt).winner


def judge_scores(kind: str, seed: int, p_weak: float, prompt: str) -> list[dict[str, Any]]:
    """The ``scores`` field: one per label in the order shown, consistent with the winner."""
    verdict = decide(kind, seed, p_weak, prompt)
    return [
        {
            "label": label,
            "score": score,
            "reason": "Its working supports its number."
            if score > 5
            else "Its final number does not follow.",
        }
        for label, score in verdict.scores
    ]


def judge_rationale(kind: str, seed: int, p_weak: float, prompt: str) -> str:
    """The ``rationale`` field."""
    return f"{decide(kind, seed, p_weak, prompt).winner} reaches the number that holds up best."


def judge_answer(kind: str, seed: int, p_weak: float, prompt: str) -> str:
    """The merged ``answer`` field: a sentence ending in the number the judge settles on."""
    number = decide(kind, seed, p_weak, prompt).number
    return f"Combining the answers' working on the product and the parts shipped, the answer is {number}."


def judge_script(kind: str, seed: int, p_weak: float, latency: float) -> dict[str, Any]:
    """``ModelScript`` keyword arguments of a judge of ``kind``."""
    fields = {
        name: functools.partial(fn, kind, seed, p_weak)
        for name, fn in (
            ("winner", judge_winner),
            ("scores", judge_scores),
            ("rationale", judge_rationale),
            ("answer", judge_answer),
        )
    }
    return {"judge": True, "judge_fields": fields, "latency": latency}


def sim_config(
    members: list[tuple[str, str, int]], judge: tuple[str, str], url: str, http: Any, **fields: Any
) -> Any:
    """A ``FusionConfig`` of stub models on ``url``: ``(model, name, samples)`` members and a
    ``(model, name)`` judge, sharing one HTTP client, no retries, each member its own seed."""
    from fusion_graph import FusionConfig, Judge, Member

    pool = [
        Member(
            f"openai:{model}",
            name=name,
            base_url=url,
            api_key="sk-bench",
            samples=samples,
            params={"max_retries": 0, "temperature": 0.7, "seed": 1000 * (i + 1), "http_async_client": http},
        )
        for i, (model, name, samples) in enumerate(members)
    ]
    judge_spec = Judge(
        f"openai:{judge[0]}",
        name=judge[1],
        base_url=url,
        api_key="sk-bench",
        params={"max_retries": 0, "http_async_client": http},
    )
    return FusionConfig(pool=pool, judge=judge_spec, **fields)


def member_script(sim: MemberSim, latency: float) -> dict[str, Any]:
    """``ModelScript`` keyword arguments of a simulated member."""
    return {"reply": functools.partial(member_reply, sim), "latency": latency}


# --------------------------------------------------------------------------- the server process


def serve(models: dict[str, dict[str, Any]], conn: Any) -> None:
    """Run the stub server in this (child) process until the parent says stop."""
    from fusion_graph.testing import ModelScript, OpenAIStubServer

    async def main() -> None:
        server = OpenAIStubServer({name: ModelScript(**kw) for name, kw in models.items()})
        async with server:
            conn.send(server.port)
            loop = asyncio.get_running_loop()
            stop = loop.run_in_executor(None, _wait, conn)
            while not stop.done():  # the server keeps every request body: drop them as we go
                server.requests.clear()
                await asyncio.wait({stop}, timeout=1.0)
            conn.send(
                {
                    "errors": [repr(e) for e in server.errors[:5]],
                    "error_count": len(server.errors),
                    "cpu_s": time.process_time(),
                    "calls": sum(server._calls.values()),
                }
            )

    asyncio.run(main())


def _wait(conn: Any) -> None:
    try:
        conn.recv()
    except (EOFError, OSError):
        pass


class SimServer:
    """The simulation's stub server in a child process: ``with SimServer(models) as base_url: …``."""

    def __init__(self, models: dict[str, dict[str, Any]]) -> None:
        self.models = models
        self.report: dict[str, Any] = {}
        self._proc: Any = None
        self._conn: Any = None

    def __enter__(self) -> str:
        import multiprocessing as mp

        ctx = mp.get_context("spawn")
        parent, child = ctx.Pipe()
        self._proc = ctx.Process(target=serve, args=(self.models, child), daemon=True)
        self._proc.start()
        if not parent.poll(60):
            raise RuntimeError("the stub server process did not start")
        self._conn = parent
        return f"http://127.0.0.1:{parent.recv()}/v1"

    def __exit__(self, *exc: object) -> None:
        if self._conn is not None:
            self._conn.send("stop")
            if self._conn.poll(10):
                self.report = self._conn.recv()
        if self._proc is not None:
            self._proc.join(10)
            if self._proc.is_alive():
                self._proc.terminate()
                self._proc.join(5)
