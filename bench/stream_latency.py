"""How soon the fused answer's first token reaches an SDK client, against the judge's own first token.

A real ``fusion serve`` process serves two fusions of the same pool (``--members`` stub models,
``--latency`` s each): a ``merge`` and a ``best-of``. The judge is a streaming ``OpenAIStubServer``
model (in another process) with a known first-token time: it waits ``--judge-latency`` s, then sends
one word per chunk, ``--token-delay`` s apart. Measured in one run, ``--runs`` times each:

- **judge alone**: the judge model's own first-token time, streamed straight from the stub (httpx,
  raw SSE): from sending the request to its first content chunk;
- **merge**: an ``openai`` SDK client streams the merge fusion, reading the raw SSE (the SDK's
  ``with_streaming_response``: the parsed stream hides SSE comments). From the
  ``: fusion {"type":"answer_started","source":"writer"}`` comment (the writer call starts) to the
  first content chunk; its excess over the judge alone is the fusion's cost (target: ≤ 50 ms);
- **best-of**: the same from ``answer_started`` (sent once the verdict is in and the winner is
  known) to the first content chunk;
- for context, each stream's time from the request to its first content token.

    .venv/bin/python bench/stream_latency.py [--runs 10] [--judge-latency 0.3] [--token-delay 0.02]
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import httpx
import openai
from _common import ServeProcess, StubProcess, load_note, median, pct

PROMPT = [{"role": "user", "content": "Is 1001 prime? Explain briefly."}]
WRITTEN = (
    "No. 1001 is not prime: 1001 = 7 x 11 x 13, so besides 1 and itself it has the divisors 7, 11, 13, "
    "77, 91 and 143. A quick check is the alternating sum of its digits, 1 - 0 + 0 - 1 = 0, which shows "
    "that 11 divides it."
)


def _fusions_file(path: Path, base_url: str, members: int) -> Path:
    def model(name: str) -> str:
        return (
            f'model = "openai:{name}"\nname = "{name}"\nbase_url = "{base_url}"\napi_key = "x"\n'
            "params = { max_retries = 0 }\n"
        )

    parts = ["[judge]", model("judge")]
    for fusion, mode in (("fusion/merge", "merge"), ("fusion/best-of", "best-of")):
        parts.append(f'[fusions."{fusion}"]\nmode = "{mode}"')
        parts += [f'[[fusions."{fusion}".pool]]\n{model(f"m{i}")}' for i in range(members)]
    path.write_text("\n".join(parts))
    return path


def _content(line: str) -> str:
    """The content delta of one ``data:`` line ('' for anything else)."""
    if not line.startswith("data: {"):
        return ""
    choices = json.loads(line[6:]).get("choices") or [{}]
    return choices[0].get("delta", {}).get("content") or ""


def judge_alone(client: httpx.Client, stub_url: str) -> float:
    """The judge model's own first-token time: request sent → first content chunk, straight from the stub."""
    body = {"model": "judge", "messages": PROMPT, "stream": True}
    start = time.perf_counter()
    first: float | None = None
    with client.stream("POST", f"{stub_url}/chat/completions", json=body) as r:
        for line in r.iter_lines():  # the whole stream, as a client would read it
            if first is None and _content(line):
                first = time.perf_counter() - start
    if first is None:
        raise RuntimeError("the judge sent no content")
    return first


def fusion_stream(sdk: openai.OpenAI, model: str) -> dict[str, float | str]:
    """One streamed fusion through the SDK's raw stream: event times, in seconds from the request."""
    start = time.perf_counter()
    started: float | None = None
    first: float | None = None
    text: list[str] = []
    with sdk.chat.completions.with_streaming_response.create(
        model=model,
        messages=PROMPT,  # type: ignore[arg-type]
        stream=True,
    ) as response:
        for line in response.iter_lines():
            now = time.perf_counter() - start
            if line.startswith(": fusion ") and '"type":"answer_started"' in line:
                started = now
            piece = _content(line)
            if piece:
                first = now if first is None else first
                text.append(piece)
    if started is None or first is None:
        raise RuntimeError(f"{model}: no answer_started comment or no content")
    return {"started": started, "first": first, "text": "".join(text)}


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--members", type=int, default=3)
    parser.add_argument("--latency", type=float, default=0.2, help="each member's answer time, s")
    parser.add_argument("--judge-latency", type=float, default=0.3, help="the judge's first-token wait, s")
    parser.add_argument("--token-delay", type=float, default=0.02, help="s between the judge's chunks")
    args = parser.parse_args()

    models: dict[str, dict[str, object]] = {
        f"m{i}": {"reply": f"Member {i}: 1001 = 7 x 11 x 13, so it is not prime.", "latency": args.latency}
        for i in range(args.members)
    }
    models["judge"] = {
        "judge": True,
        "reply": WRITTEN,
        "latency": args.judge_latency,
        "token_delay": args.token_delay,
    }
    with StubProcess(models) as stub_url, tempfile.TemporaryDirectory() as tmp:
        server = ServeProcess(_fusions_file(Path(tmp) / "fusions.toml", stub_url, args.members))
        try:
            server.wait_ready()
            sdk = openai.OpenAI(base_url=f"{server.url}/v1", api_key="none", timeout=60, max_retries=0)
            with httpx.Client(timeout=60) as client:
                judge_alone(client, stub_url)  # warm-ups: imports, connections, compiled fusions
                fusion_stream(sdk, "fusion/merge")
                fusion_stream(sdk, "fusion/best-of")
                own, merge, best = [], [], []
                for _ in range(args.runs):  # interleaved, so load drifts hit all three alike
                    own.append(judge_alone(client, stub_url))
                    merge.append(fusion_stream(sdk, "fusion/merge"))
                    best.append(fusion_stream(sdk, "fusion/best-of"))
        finally:
            server.stop()

    assert all(run["text"] == WRITTEN for run in merge), "the merge's streamed text is not the writer's"
    merge_gap = [float(r["first"]) - float(r["started"]) for r in merge]
    best_gap = [float(r["first"]) - float(r["started"]) for r in best]
    excess = [gap - alone for gap, alone in zip(merge_gap, own, strict=True)]

    def ms(samples: list[float]) -> str:
        return f"{median(samples) * 1000:8.1f} {pct(samples, 0.9) * 1000:8.1f} {max(samples) * 1000:8.1f}"

    print(
        f"stream latency: {args.runs} runs, {args.members} members ({args.latency} s), judge first token "
        f"after {args.judge_latency} s then {args.token_delay} s per word; fusion serve + openai SDK; "
        f"{load_note()}"
    )
    print(f"{'':58} {'median':>8} {'p90':>8} {'max':>8}  (ms)")
    print(f"{'judge alone: request -> first token (straight from the stub)':58} {ms(own)}")
    print(f"{'merge: answer_started (writer) -> first token at the SDK':58} {ms(merge_gap)}")
    print(f"{'merge: excess over the judge alone (target <= 50 ms)':58} {ms(excess)}")
    print(f"{'best-of: answer_started (winner known) -> first token':58} {ms(best_gap)}")
    print(f"{'merge: request -> first token at the SDK':58} {ms([float(r['first']) for r in merge])}")
    print(f"{'best-of: request -> first token at the SDK':58} {ms([float(r['first']) for r in best])}")
    verdict = "met" if median(excess) <= 0.050 and max(excess) <= 0.050 else "NOT met"
    print(f"target (first token within the judge's own first-token time + 50 ms, every run): {verdict}")


if __name__ == "__main__":
    main()
