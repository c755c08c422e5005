"""Agent speed and verify outcomes on the embedded model; prints one JSON object.

    .venv/bin/python benchmarks/agent.py --n 20 [--out runs/bench/agent.json] [--model PATH.gguf] [--max-tokens 200]

For each question (in-domain ones from agent/eval/questions.jsonl, English and Chinese alternating)
it measures the end-to-end latency of ``ShoeAgent.ask`` (embedded backend, no memory), the time to
the first streamed token, the time spent inside the model, and then replays every model call of that
answer on the bare backend (same engine, same messages, same seed and decoding, so the same tokens, streamed
the same way) to get the pure decoding time and the raw time to the first token. The engine's cache
is reset before each question and before each replay, so neither side reuses the other's prompt; it
then holds the system prompt alone (``cache_system_prompt``), as it does in a chat: ``warm_up`` reads
it before the first question, and every later prompt starts with it. ``--cold`` leaves it empty.
``overhead`` is everything but the model: retrieval, routing, tools, verify, composition and
LangGraph itself; ``e2e_over_raw`` is the agent's end-to-end time over the raw decoding of the same
tokens (goal <= 1.15). The verify outcome of each answer is counted: the first draft passed, a
redraft passed, the answer was composed from the sources, or the question was refused.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from shoeagent import paths
from shoeagent.agent.api import ShoeAgent
from shoeagent.agent.llm import ChatBackend, EmbeddedBackend, embedded_backend


@dataclass
class Call:
    messages: list[dict[str, str]]
    max_tokens: int
    temperature: float
    started: float
    first_piece: float | None = None
    ended: float = 0.0
    text: str = ""


@dataclass
class TimedBackend(ChatBackend):
    """Wraps the embedded backend and records every generation call."""

    inner: EmbeddedBackend | None = None
    calls: list[Call] = field(default_factory=list)

    def stream(
        self,
        messages: Sequence[dict[str, str]],
        *,
        max_tokens: int = 200,
        temperature: float = 0.2,
        cancel: threading.Event | None = None,
    ) -> Iterator[str]:
        call = Call(list(messages), max_tokens, temperature, time.perf_counter())
        self.calls.append(call)
        for piece in self.inner.stream(messages, max_tokens=max_tokens, temperature=temperature, cancel=cancel):
            if call.first_piece is None:
                call.first_piece = time.perf_counter()
            call.text += piece
            yield piece
        call.ended = time.perf_counter()

    def count_tokens(self, text: str) -> int:
        return self.inner.count_tokens(text)


def raw_decode(backend: EmbeddedBackend, call: Call) -> tuple[float, int, float | None]:
    """Replay one call on the bare embedded backend (no graph): the same engine and decoding, prompt
    lookup included (``agent/speculative.py``), so the ratio to it is the graph's own cost.

    Returns (seconds, tokens generated, seconds to the first piece).
    """
    started = time.perf_counter()
    first = None
    pieces = []
    for piece in backend.stream(call.messages, max_tokens=call.max_tokens, temperature=call.temperature):
        if first is None:
            first = time.perf_counter() - started
        pieces.append(piece)
    seconds = time.perf_counter() - started
    return seconds, backend.last_decode.tokens if backend.last_decode else 0, first


def load_questions(n: int) -> list[dict[str, Any]]:
    path = paths._subpackage_dir("agent") / "eval" / "questions.jsonl"
    rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    rows = [r for r in rows if not r.get("refuse")]
    en = [r for r in rows if r.get("lang") == "en"]
    zh = [r for r in rows if r.get("lang") == "zh"]
    mixed = [q for pair in zip(en, zh) for q in pair] + en[len(zh):] + zh[len(en):]
    return mixed[:n]


def pct(values: list[float], q: float) -> float | None:
    """Nearest-rank percentile; None for no values (JSON has no NaN)."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))] if ordered else None


def outcome(answer: Any) -> str:
    if answer.refused:
        return "refused"
    if any("composed from the sources" in n for n in answer.notes):
        return "composed"
    return "passed_after_retry" if answer.repaired else "passed_first"


def _stats(values: list[float]) -> dict[str, Any]:
    clean = [v for v in values if v is not None]
    return {"p50": pct(clean, 50), "p90": pct(clean, 90), "p95": pct(clean, 95), "n": len(clean)}


def summarize_rows(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """Latency, overhead and throughput figures over measured rows (see the module docstring)."""
    answered = [r for r in rows if r["drafts"]]
    agent_s = sum(r["e2e_s"] for r in answered)
    raw_s = sum(r["raw_s"] for r in answered)
    raw_first_s = sum(r.get("raw_first_draft_s", 0.0) for r in answered)
    tokens = sum(r["tokens"] for r in answered)
    ratios = [r["e2e_s"] / r["raw_s"] for r in answered if r["raw_s"]]
    return {
        "n": len(rows),
        "n_answered_by_model": len(answered),
        "e2e_s": _stats([r["e2e_s"] for r in rows]),
        "ttft_s": _stats([r["ttft_s"] for r in answered]),
        "raw_ttft_s": _stats([r["raw_ttft_s"] for r in answered]),
        "overhead_ms": _stats([r["overhead_ms"] for r in rows]),
        "raw_llama_s": _stats([r["raw_s"] for r in answered]),
        "e2e_over_raw": {"p50": pct(ratios, 50), "p95": pct(ratios, 95),
                         "total": agent_s / raw_s if raw_s else None},
        # The agent's time over raw decoding of its first draft alone: redrafts count as overhead here.
        "e2e_over_raw_first_draft": {"total": agent_s / raw_first_s if raw_first_s else None},
        "drafts_per_answer": sum(r["drafts"] for r in answered) / len(answered) if answered else None,
        "tokens": {"p50": pct([r["tokens"] for r in answered], 50), "total": tokens},
        "agent_tokens_per_s": tokens / agent_s if agent_s else None,
        "decode_tokens_per_s": tokens / raw_s if raw_s else None,
    }


def run(n: int = 10, model: str | None = None, max_tokens: int = 200, progress: bool = True, cold: bool = False) -> dict[str, Any]:
    """Measure ``n`` questions; returns the JSON-serialisable result. ``cold``: start every prompt
    from an empty cache instead of one holding the system prompt."""
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    load_before = os.getloadavg()
    inner = embedded_backend(model)
    inner.warm_up()
    timed = TimedBackend(name=inner.name, model_id=inner.model_id, notes=inner.notes, inner=inner, context_window=inner.context_window)
    agent = ShoeAgent(backend="embedded", llm=timed, max_tokens=max_tokens)
    # Warm caches, not measured: router and graph (an out-of-scope question is refused before the
    # model), the knowledge index, and a few tokens from the engine.
    from shoeagent.knowledge.store import search

    agent.ask("What's a good marinade for grilled chicken?")
    search("How do I keep leather boots from going moldy?")
    engine = inner.engine()
    engine.create_chat_completion(messages=[{"role": "user", "content": "Hello"}], max_tokens=4)

    def fresh_cache() -> None:
        engine.reset()
        if not cold:
            inner.cache_system_prompt(agent._context(None).system_prompt)

    rows = []
    for question in load_questions(n):
        timed.calls.clear()
        fresh_cache()  # the same start as the replay below
        started = time.perf_counter()
        first_token = None
        answer = None
        error = None
        for event in agent.stream(question["question"]):
            if event.kind == "token" and first_token is None:
                first_token = time.perf_counter() - started
            elif event.kind == "error":
                error = event.data["message"]
            elif event.kind == "answer":
                answer = event.data["answer"]
        total = time.perf_counter() - started
        model_s = sum(c.ended - c.started for c in timed.calls)
        fresh_cache()
        raw = [raw_decode(inner, c) for c in timed.calls]
        rows.append({
            "id": question.get("id"), "lang": question.get("lang"), "outcome": "error" if error else outcome(answer),
            "error": error, "notes": answer.notes, "answer": answer.text,
            "e2e_s": total, "ttft_s": first_token, "model_s": model_s, "overhead_ms": 1000 * (total - model_s),
            "raw_s": sum(r[0] for r in raw), "raw_first_draft_s": raw[0][0] if raw else 0.0,
            "raw_ttft_s": raw[0][2] if raw else None,
            "tokens": sum(r[1] for r in raw), "agent_tokens": answer.tokens, "drafts": len(timed.calls),
            "first_draft_tokens": raw[0][1] if raw else 0,
            "drafts_text": [c.text for c in timed.calls],
        })
        if progress:
            print(f"[{len(rows)}] {rows[-1]['id']} {rows[-1]['outcome']} {total:.2f} s", file=sys.stderr, flush=True)

    answered = [r for r in rows if r["drafts"]]
    counts = Counter(r["outcome"] for r in rows)
    overall = summarize_rows(rows)
    result = {
        "benchmark": "agent",
        "machine": {"cpus": os.cpu_count(), "platform": platform.platform(), "load_avg_1m": load_before[0],
                    "load_average_before": [round(x, 2) for x in load_before],
                    "load_average_after": [round(x, 2) for x in os.getloadavg()]},
        "backend": inner.name, "model": inner.model_id, "gguf": str(inner.path), "n": len(rows),
        "max_tokens": max_tokens, "cache_at_start": "empty" if cold else "system prompt", "llama_cpp_threads": engine.n_threads if hasattr(engine, "n_threads") else None,
        **{k: overall[k] for k in ("e2e_s", "ttft_s", "raw_ttft_s", "overhead_ms", "raw_llama_s", "e2e_over_raw",
                                   "e2e_over_raw_first_draft", "drafts_per_answer", "tokens", "agent_tokens_per_s",
                                   "decode_tokens_per_s")},
        "overhead_goal": 1.15,
        "e2e_s_single_draft_le_160_tokens": {
            "p50": pct([r["e2e_s"] for r in answered if r["drafts"] == 1 and r["tokens"] <= 160], 50),
            "count": sum(1 for r in answered if r["drafts"] == 1 and r["tokens"] <= 160),
        },
        "by_language": {lang: summarize_rows([r for r in rows if r["lang"] == lang]) for lang in ("en", "zh")},
        "verify": {k: counts.get(k, 0) for k in ("passed_first", "passed_after_retry", "composed", "refused", "error")},
        "citations_attached": sum(1 for r in rows if any("citations attached" in n for n in r["notes"])),
        "verify_rates": {k: round(v / len(rows), 3) for k, v in counts.items()} if rows else {},
        "rows": rows,
    }
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=10, help="number of questions")
    parser.add_argument("--model", default=None, help="GGUF path (default: shoemold GGUF, else the base model)")
    parser.add_argument("--max-tokens", type=int, default=200, help="most tokens per draft (the agent's default 200)")
    parser.add_argument("--out", type=Path, default=None, help="also write the JSON here")
    parser.add_argument("--cold", action="store_true", help="start every prompt from an empty cache, not one holding the system prompt")
    args = parser.parse_args()
    result = run(args.n, args.model, args.max_tokens, cold=args.cold)
    text = json.dumps(result, ensure_ascii=False, indent=2)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        tmp = args.out.with_name(f".{args.out.name}.tmp")
        tmp.write_text(text, encoding="utf-8")
        os.replace(tmp, args.out)
    print(text)


if __name__ == "__main__":
    main()
