"""Agent speed and verify outcomes on the embedded model; prints one JSON object.

    .venv/bin/python benchmarks/agent.py --n 20 [--out runs/bench/agent.json] [--model PATH.gguf]

For each question (in-domain ones from agent/eval/questions.jsonl, English and Chinese alternating)
it measures the end-to-end latency of ``ShoeAgent.ask`` (embedded backend, no memory), the time to
the first streamed token, the time spent inside the model, and then replays every model call of that
answer on the raw llama.cpp engine (same GGUF, same messages, same seed, so the same tokens) to get
the pure decoding time. ``overhead`` is everything but the model: retrieval, routing, tools, verify,
composition and LangGraph itself. The verify outcome of each answer is counted: the first draft
passed, a redraft passed, the answer was composed from the sources, or the question was refused.
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
from shoeagent.agent.llm import CHATML_STOPS, ChatBackend, EmbeddedBackend, embedded_backend


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


def raw_decode_seconds(backend: EmbeddedBackend, call: Call) -> tuple[float, int]:
    """Replay one call on the bare llama.cpp engine: seconds and tokens generated."""
    engine = backend.engine()
    started = time.perf_counter()
    out = engine.create_chat_completion(
        messages=call.messages, max_tokens=call.max_tokens, temperature=call.temperature, top_p=0.9,
        repeat_penalty=backend.repeat_penalty, stop=CHATML_STOPS, seed=42,
    )
    return time.perf_counter() - started, int(out["usage"]["completion_tokens"])


def load_questions(n: int) -> list[dict[str, Any]]:
    path = paths._subpackage_dir("agent") / "eval" / "questions.jsonl"
    rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    rows = [r for r in rows if not r.get("refuse")]
    en = [r for r in rows if r.get("lang") == "en"]
    zh = [r for r in rows if r.get("lang") == "zh"]
    mixed = [q for pair in zip(en, zh) for q in pair] + en[len(zh):] + zh[len(en):]
    return mixed[:n]


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))] if ordered else float("nan")


def outcome(answer: Any) -> str:
    if answer.refused:
        return "refused"
    if any("composed from the sources" in n for n in answer.notes):
        return "composed"
    return "passed_after_retry" if answer.repaired else "passed_first"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=10, help="number of questions")
    parser.add_argument("--model", default=None, help="GGUF path (default: shoemold GGUF, else the base model)")
    parser.add_argument("--out", type=Path, default=None, help="also write the JSON here")
    args = parser.parse_args()

    inner = embedded_backend(args.model)
    inner.warm_up()
    timed = TimedBackend(name=inner.name, model_id=inner.model_id, notes=inner.notes, inner=inner, context_window=inner.context_window)
    agent = ShoeAgent(backend="embedded", llm=timed)
    agent.ask("How do I keep leather boots from going moldy?")  # warm caches: index, router, graph

    rows = []
    for question in load_questions(args.n):
        timed.calls.clear()
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
        raw = [raw_decode_seconds(inner, c) for c in timed.calls]
        rows.append({
            "id": question.get("id"), "lang": question.get("lang"), "outcome": "error" if error else outcome(answer),
            "error": error, "notes": answer.notes, "answer": answer.text,
            "e2e_s": total, "ttft_s": first_token, "model_s": model_s, "overhead_ms": 1000 * (total - model_s),
            "raw_s": sum(r[0] for r in raw), "tokens": sum(r[1] for r in raw), "drafts": len(timed.calls),
            "first_draft_tokens": raw[0][1] if raw else 0,
            "drafts_text": [c.text for c in timed.calls],
        })
        print(f"[{len(rows)}] {rows[-1]['id']} {rows[-1]['outcome']} {total:.2f} s", file=sys.stderr, flush=True)

    answered = [r for r in rows if r["drafts"]]
    counts = Counter(r["outcome"] for r in rows)
    result = {
        "machine": {"cpus": os.cpu_count(), "platform": platform.platform(), "load_avg_1m": os.getloadavg()[0]},
        "backend": inner.name, "model": inner.model_id, "gguf": str(inner.path), "n": len(rows),
        "e2e_s": {"p50": pct([r["e2e_s"] for r in rows], 50), "p90": pct([r["e2e_s"] for r in rows], 90)},
        "e2e_s_single_draft_le_160_tokens": {
            "p50": pct([r["e2e_s"] for r in answered if r["drafts"] == 1 and r["tokens"] <= 160], 50),
            "count": sum(1 for r in answered if r["drafts"] == 1 and r["tokens"] <= 160),
        },
        "ttft_s": {"p50": pct([r["ttft_s"] for r in answered if r["ttft_s"] is not None], 50),
                   "p90": pct([r["ttft_s"] for r in answered if r["ttft_s"] is not None], 90)},
        "overhead_ms": {"p50": pct([r["overhead_ms"] for r in rows], 50), "p90": pct([r["overhead_ms"] for r in rows], 90)},
        "raw_llama_s": {"p50": pct([r["raw_s"] for r in answered], 50)},
        "e2e_over_raw": {"p50": pct([r["e2e_s"] / r["raw_s"] for r in answered if r["raw_s"]], 50)},
        "tokens": {"p50": pct([r["tokens"] for r in answered], 50), "total": sum(r["tokens"] for r in answered)},
        "decode_tokens_per_s": sum(r["tokens"] for r in answered) / max(1e-9, sum(r["raw_s"] for r in answered)),
        "verify": {k: counts.get(k, 0) for k in ("passed_first", "passed_after_retry", "composed", "refused", "error")},
        "citations_attached": sum(1 for r in rows if any("citations attached" in n for n in r["notes"])),
        "verify_rates": {k: round(v / len(rows), 3) for k, v in counts.items()} if rows else {},
        "rows": rows,
    }
    text = json.dumps(result, ensure_ascii=False, indent=2)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(text, encoding="utf-8")
    print(text)


if __name__ == "__main__":
    main()
