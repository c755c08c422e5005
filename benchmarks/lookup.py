"""Prompt-lookup decoding against plain decoding, on the agent's own prompts, side by side.

The agent answers ``--n`` in-domain questions of ``agent/eval/questions.jsonl`` (English and Chinese
alternating) on the embedded model, and every model call it makes is recorded. Each call is then
replayed on the same engine with ``draft_tokens=0`` (one token per model step, plain decoding) and
with the default number of guessed tokens (``SHOEAGENT_DRAFT_TOKENS``), in alternating order, each
from the same state: the cache holding the system prompt alone, as in a chat. Reported: generation
time (prompt reading included) and time to the first token, per language; the ratio of plain to
lookup (above 1: lookup is faster); tokens per model step; how many guesses were kept; and how many
replies have the same text both ways (they may differ at a near-tie, since a batch of tokens rounds
differently from one token at a time).

    .venv/bin/python benchmarks/lookup.py --n 16 [--out docs/bench/lookup.json]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.agent import TimedBackend, load_questions  # noqa: E402
from benchmarks.common import machine, pct, report, rounded  # noqa: E402

MODES = ("plain", "lookup")


def run(n: int = 16, max_tokens: int = 320, progress: bool = True) -> dict[str, Any]:
    from shoeagent.agent.api import ShoeAgent
    from shoeagent.agent.llm import embedded_backend
    from shoeagent.threads import draft_tokens

    start_machine = machine()
    inner = embedded_backend()
    timed = TimedBackend(name=inner.name, model_id=inner.model_id, notes=inner.notes, inner=inner, context_window=inner.context_window)
    agent = ShoeAgent(backend="embedded", llm=timed, max_tokens=max_tokens)
    agent.warm_up()
    system_prompt = agent._context(None).system_prompt
    langs: list[str] = []
    for row in load_questions(n):
        before = len(timed.calls)
        agent.ask(row["question"])
        langs += [row["lang"]] * (len(timed.calls) - before)
    guesses = draft_tokens()
    engine = inner.engine()
    rows: list[dict[str, Any]] = []
    for i, (call, lang) in enumerate(zip(timed.calls, langs)):
        result: dict[str, Any] = {"lang": lang}
        for mode in MODES[i % 2 :] + MODES[: i % 2]:
            inner.draft_tokens = 0 if mode == "plain" else guesses
            engine.reset()
            inner.cache_system_prompt(system_prompt)
            started = time.perf_counter()
            first = None
            text = ""
            for piece in inner.stream(call.messages, max_tokens=call.max_tokens, temperature=call.temperature):
                if first is None:
                    first = time.perf_counter() - started
                text += piece
            stats = inner.last_decode
            result[mode] = {"s": time.perf_counter() - started, "ttft_s": first, "tokens": stats.tokens, "steps": stats.steps,
                            "drafted": stats.drafted, "accepted": stats.accepted, "text": text}
        result["same_text"] = result["plain"]["text"] == result["lookup"]["text"]
        rows.append(result)
        if progress:
            print(f"[{i + 1}/{len(timed.calls)}] {lang}: plain {result['plain']['s']:.2f} s, lookup {result['lookup']['s']:.2f} s "
                  f"({result['lookup']['tokens']} tokens in {result['lookup']['steps']} steps)", file=sys.stderr, flush=True)
    inner.draft_tokens = None

    def total(mode: str, key: str, lang: str | None) -> float:
        return sum(r[mode][key] or 0 for r in rows if lang is None or r["lang"] == lang)

    summary: dict[str, Any] = {}
    for lang in (None, "en", "zh"):
        suffix = f"_{lang}" if lang else ""
        plain, lookup = total("plain", "s", lang), total("lookup", "s", lang)
        summary[f"plain_s{suffix}"] = rounded(plain)
        summary[f"lookup_s{suffix}"] = rounded(lookup)
        summary[f"speedup{suffix}"] = rounded(plain / lookup) if lookup else None
        summary[f"tokens_per_step{suffix}"] = rounded(total("lookup", "tokens", lang) / max(1, total("lookup", "steps", lang)), 2)
        for mode in MODES:
            summary[f"{mode}_ttft_s_p50{suffix}"] = rounded(pct([r[mode]["ttft_s"] for r in rows if lang is None or r["lang"] == lang], 50))
    drafted = total("lookup", "drafted", None)
    return {
        "benchmark": "lookup",
        "n": n,
        "calls": len(rows),
        "model": inner.model_id,
        "draft_tokens": guesses,
        **summary,
        "guesses_kept": rounded(total("lookup", "accepted", None) / drafted) if drafted else None,
        "same_text": sum(r["same_text"] for r in rows),
        "machine": start_machine,
        "load_average_after": machine()["load_average"],
        "rows": rows,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=16, help="questions (languages alternating)")
    parser.add_argument("--max-tokens", type=int, default=320)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args(argv)
    if not 1 <= args.n <= 80:
        parser.error("--n must be between 1 and 80")
    return report(run(args.n, args.max_tokens), args.out)


if __name__ == "__main__":
    raise SystemExit(main())
