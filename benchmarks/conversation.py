"""Answer latency vs conversation length: one thread, the embedded backend, real memory (SQLite checkpoints).

At each checkpoint turn (default 1, 5, 10 and 20) the thread is asked the same standalone question,
and at the next turn the same follow-up ("And what about suede ones?"), whose prompt carries the
trimmed history; the turns in between are other questions and follow-ups, so the thread's stored
state really grows. For every turn it records the end-to-end time, the time to the first token, the
time inside the model, the rest (``overhead_ms``: routing, retrieval, memory, checkpointing, verify)
and the prompt size in tokens as the agent counts them. The chat database lives in a temporary
folder; the knowledge index and the model are the user's (read only).

    .venv/bin/python benchmarks/conversation.py --turns 1,5,10,20 --max-tokens 48 --out docs/bench/conversation.json
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.common import machine, summary, write_json  # noqa: E402

PROBE = "How do I keep leather boots from going moldy?"
FOLLOW_UP = "And what about suede ones?"
FILLERS = [
    "Why do my gym shoes smell musty after a week in the locker?",
    "What about leather ones?",
    "What humidity should I keep my shoe cabinet at?",
    "And in the rainy season?",
    "How do I clean white mold off canvas sneakers?",
    "Can I put them in the washing machine?",
    "Do silica gel packets really help in a shoe box?",
    "How often should I replace them?",
    "Is it safe to dry wet boots next to a heater?",
    "What about a hair dryer?",
]


def script(checkpoints: list[int]) -> list[tuple[str, str]]:
    """(kind, question) for every turn: the probe at each checkpoint, the follow-up right after, fillers between."""
    last = max(checkpoints) + 1
    turns: list[tuple[str, str]] = []
    filler = 0
    for turn in range(1, last + 1):
        if turn in checkpoints:
            turns.append(("probe", PROBE))
        elif turn - 1 in checkpoints:
            turns.append(("follow_up", FOLLOW_UP))
        else:
            turns.append(("filler", FILLERS[filler % len(FILLERS)]))
            filler += 1
    return turns


def prompt_tokens(messages: list[dict[str, str]], count: Any) -> int:
    """Prompt size as the agent's budget counts it: each message's tokens plus 4 for its frame."""
    return sum(count(m["content"]) + 4 for m in messages)


def run(checkpoints: list[int], max_tokens: int = 48, model: str | None = None, progress: bool = True) -> dict[str, Any]:
    from benchmarks.agent import TimedBackend

    from shoeagent.agent.api import ShoeAgent
    from shoeagent.agent.llm import embedded_backend

    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    checkpoints = sorted(set(checkpoints))
    if not checkpoints or checkpoints[0] < 1:
        raise SystemExit("error: --turns needs positive turn numbers, e.g. 1,5,10,20")
    for a, b in zip(checkpoints, checkpoints[1:]):
        if b - a < 2:
            raise SystemExit(f"error: --turns {a} and {b} are adjacent; a checkpoint's next turn is its follow-up")
    start_machine = machine()
    inner = embedded_backend(model)
    inner.warm_up()
    engine = inner.engine()
    timed = TimedBackend(name=inner.name, model_id=inner.model_id, notes=inner.notes, inner=inner,
                         context_window=inner.context_window)
    rows: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="shoeagent-bench-conv-") as home:
        agent = ShoeAgent(backend="embedded", llm=timed, max_tokens=max_tokens, home=home)
        # Warm-up without memory, not measured: router and graph, the index, a few engine tokens.
        from shoeagent.knowledge.store import search

        agent.ask("What's a good marinade for grilled chicken?")
        search(PROBE)
        engine.create_chat_completion(messages=[{"role": "user", "content": "Hello"}], max_tokens=4)
        thread = "bench-conversation"
        started_all = time.perf_counter()
        for turn, (kind, question) in enumerate(script(checkpoints), start=1):
            timed.calls.clear()
            engine.reset()
            started = time.perf_counter()
            first = None
            answer = None
            for event in agent.stream(question, thread_id=thread):
                if event.kind == "token" and first is None:
                    first = time.perf_counter() - started
                elif event.kind == "answer":
                    answer = event.data["answer"]
            total = time.perf_counter() - started
            model_s = sum(c.ended - c.started for c in timed.calls)
            first_prompt = prompt_tokens(timed.calls[0].messages, inner.count_tokens) if timed.calls else 0
            rows.append({
                "turn": turn, "kind": kind, "question": question, "e2e_s": round(total, 4),
                "ttft_s": round(first, 4) if first is not None else None, "model_s": round(model_s, 4),
                "overhead_ms": round(1000 * (total - model_s), 2), "prompt_tokens": first_prompt,
                "history_messages": sum(1 for m in (timed.calls[0].messages if timed.calls else []) if m["role"] != "system") - 1
                if timed.calls else 0,
                "drafts": len(timed.calls), "answer_tokens": answer.tokens if answer else 0,
                "refused": bool(answer and answer.refused), "answer": answer.text if answer else "",
            })
            if progress:
                print(f"[turn {turn}] {kind} {total:.2f} s, prompt {first_prompt} tokens", file=sys.stderr, flush=True)
        wall = time.perf_counter() - started_all
        stored = len(agent.history(thread))
        db_bytes = sum(f.stat().st_size for f in Path(home).glob("chat.sqlite*"))

    at = []
    for checkpoint in checkpoints:
        probe = next(r for r in rows if r["turn"] == checkpoint)
        follow = next(r for r in rows if r["turn"] == checkpoint + 1)
        at.append({
            "turn": checkpoint,
            "probe_e2e_s": probe["e2e_s"], "probe_ttft_s": probe["ttft_s"], "probe_overhead_ms": probe["overhead_ms"],
            "probe_prompt_tokens": probe["prompt_tokens"],
            "follow_up_turn": checkpoint + 1, "follow_up_e2e_s": follow["e2e_s"], "follow_up_ttft_s": follow["ttft_s"],
            "follow_up_overhead_ms": follow["overhead_ms"], "follow_up_prompt_tokens": follow["prompt_tokens"],
        })
    first, last = at[0], at[-1]
    return {
        "benchmark": "conversation",
        "machine": start_machine,
        "load_average_end": [round(x, 2) for x in os.getloadavg()],
        "backend": inner.name, "model": inner.model_id, "gguf": str(inner.path), "max_tokens": max_tokens,
        "checkpoints": checkpoints, "turns": len(rows), "wall_s": round(wall, 1),
        "seconds_per_turn": round(wall / len(rows), 2) if rows else None,
        "stored_messages": stored, "chat_db_bytes": db_bytes,
        "at": at,
        "growth": {
            "probe_e2e_last_over_first": round(last["probe_e2e_s"] / first["probe_e2e_s"], 3) if first["probe_e2e_s"] else None,
            "probe_overhead_ms_last_minus_first": round(last["probe_overhead_ms"] - first["probe_overhead_ms"], 2),
            "follow_up_prompt_tokens_last_minus_first": last["follow_up_prompt_tokens"] - first["follow_up_prompt_tokens"],
        },
        "overhead_ms": summary([r["overhead_ms"] for r in rows], 2),
        "rows": rows,
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--turns", default="1,5,10,20", help="checkpoint turns (comma-separated, at least 2 apart)")
    parser.add_argument("--max-tokens", type=int, default=48, help="most tokens per draft (small: this measures the rest)")
    parser.add_argument("--model", default=None, help="GGUF path (default: shoemold GGUF, else the base model)")
    parser.add_argument("--out", type=Path, default=None, help="write the JSON here")
    args = parser.parse_args(argv)
    try:
        checkpoints = [int(t) for t in args.turns.split(",") if t.strip()]
    except ValueError:
        parser.error(f"--turns must be comma-separated integers, not {args.turns!r}")
    result = run(checkpoints, args.max_tokens, args.model)
    if args.out:
        write_json(args.out, result)
    print(json.dumps({k: v for k, v in result.items() if k != "rows"}, indent=2, ensure_ascii=False))


if __name__ == "__main__":
    main()
