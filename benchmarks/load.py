"""Load: many concurrent and sequential ``ShoeAgent.ask`` calls on the embedded model; prints one JSON object.

    .venv/bin/python benchmarks/load.py [--concurrent 16] [--sequential 200] [--max-tokens 32]
                                        [--model PATH.gguf] [--home DIR] [--out docs/load.json]

One ``ShoeAgent`` (embedded backend, memory on) is shared by all callers, as a server would share it.
Phase 1 starts ``--concurrent`` threads at once, each asking one question on its own thread id;
phase 2 asks ``--sequential`` questions one after another, each on its own thread id. Questions are
the in-domain ones of agent/eval/questions.jsonl, English and Chinese alternating.

Reported: how many were answered, errors (error events or exceptions), threads still running after
``--timeout`` (a deadlock), wall time and p50/p95 latency per phase, resident memory (RSS) at the
start, after warm-up, after each phase and its peak, and its growth per 100 calls (least-squares
slope over the sequential calls after the first 10%). Finally every thread id's conversation is read
back from the chat database by a second, fresh agent: its LangGraph checkpoint must hold exactly
[its question, its answer] and the chat list exactly [user question, assistant answer].

All user data (knowledge index, chat database) goes to a fresh temporary SHOEAGENT_HOME unless
``--home`` names one. The model defaults to the built shoemold GGUF of the caller's home, else the
packaged base model.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

QUESTIONS_FILE = Path(__file__).resolve().parent.parent / "agent" / "eval" / "questions.jsonl"


def rss_mb() -> float:
    """Resident set size of this process in MB (psutil if installed, else /proc/self/status)."""
    try:
        import psutil

        return psutil.Process().memory_info().rss / 1e6
    except ImportError:
        return _proc_status_kb("VmRSS") / 1e3


def peak_rss_mb() -> float:
    """The process's peak resident set size so far in MB (VmHWM; ru_maxrss where /proc is missing).

    The kernel updates it lazily, so the report takes the larger of it and every RSS sample."""
    try:
        return _proc_status_kb("VmHWM") / 1e3
    except (OSError, KeyError):
        import resource

        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e3


def _proc_status_kb(field: str) -> float:
    with open("/proc/self/status", encoding="ascii") as handle:
        for line in handle:
            if line.startswith(field + ":"):
                return float(line.split()[1])
    raise KeyError(field)


def load_questions() -> list[str]:
    rows = [json.loads(line) for line in QUESTIONS_FILE.read_text(encoding="utf-8").splitlines() if line.strip()]
    rows = [r for r in rows if not r.get("refuse")]
    en = [r["question"] for r in rows if r.get("lang") == "en"]
    zh = [r["question"] for r in rows if r.get("lang") == "zh"]
    return [q for pair in zip(en, zh) for q in pair] + en[len(zh):] + zh[len(en):]


def pct(values: list[float], q: float) -> float | None:
    ordered = sorted(values)
    if not ordered:
        return None
    return ordered[min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))]


def slope_per_100(samples: list[float]) -> float | None:
    """Least-squares slope of ``samples`` (one per call) times 100: MB per 100 calls."""
    n = len(samples)
    if n < 2:
        return None
    mean_x, mean_y = (n - 1) / 2, sum(samples) / n
    var = sum((x - mean_x) ** 2 for x in range(n))
    return 100 * sum((x - mean_x) * (y - mean_y) for x, y in enumerate(samples)) / var


def ask_once(agent: Any, question: str, thread_id: str) -> dict[str, Any]:
    """One ask through the event stream, so that error events are seen (``ask`` folds them into text)."""
    started = time.perf_counter()
    errors: list[str] = []
    answer = None
    try:
        for event in agent.stream(question, thread_id=thread_id):
            if event.kind == "error":
                errors.append(str(event.data.get("message")))
            elif event.kind == "answer":
                answer = event.data["answer"]
    except Exception as exc:  # noqa: BLE001 - counted, not raised
        errors.append(f"{type(exc).__name__}: {exc}")
    return {
        "thread_id": thread_id,
        "question": question,
        "answer": answer.text if answer is not None else None,
        "refused": bool(answer.refused) if answer is not None else None,
        "answered": answer is not None and not errors and bool(answer.text.strip()),
        "errors": errors,
        "latency_s": time.perf_counter() - started,
    }


def check_conversations(results: list[dict[str, Any]], home: Path, model: str | None) -> list[str]:
    """Problems found reading every thread back from the chat database with a fresh agent (empty = consistent)."""
    from shoeagent.agent.api import ShoeAgent

    reader = ShoeAgent(backend="embedded", model=model, home=home)
    problems = []
    for row in results:
        tid = row["thread_id"]
        history = reader.history(tid)
        got = [(m.type, m.content) for m in history]
        want = [("human", row["question"]), ("ai", row["answer"])]
        if got != want:
            problems.append(f"{tid}: checkpoint holds {[t for t, _ in got]} not [human, ai] with its own question and answer")
        listed = [(m.role, m.text) for m in reader.chats.messages(tid)]
        if listed != [("user", row["question"]), ("assistant", row["answer"])]:
            problems.append(f"{tid}: chat list holds {[r for r, _ in listed]} not [user, assistant] with its own turn")
    return problems


def phase_summary(rows: list[dict[str, Any]], wall: float, stuck: int) -> dict[str, Any]:
    latencies = [r["latency_s"] for r in rows]
    return {
        "calls": len(rows) + stuck,
        "answered": sum(r["answered"] for r in rows),
        "refused": sum(bool(r["refused"]) for r in rows),
        "errors": sum(len(r["errors"]) for r in rows),
        "error_messages": sorted({e for r in rows for e in r["errors"]})[:10],
        "still_running_after_timeout": stuck,
        "wall_s": round(wall, 2),
        "latency_s": {"p50": _round(pct(latencies, 50)), "p95": _round(pct(latencies, 95)),
                      "max": _round(max(latencies) if latencies else None)},
    }


def _round(value: float | None, digits: int = 3) -> float | None:
    return None if value is None else round(value, digits)


def run(concurrent: int, sequential: int, max_tokens: int, model: str | None, home: Path, timeout: float,
        log: Any = sys.stderr) -> dict[str, Any]:
    """Both phases and the consistency check in this process, with all user data under ``home``."""
    os.environ["SHOEAGENT_HOME"] = str(home)
    from shoeagent.agent.api import ShoeAgent
    from shoeagent.knowledge.store import default_knowledge_base, reset_default

    rss_start = rss_mb()
    reset_default()
    started = time.perf_counter()
    default_knowledge_base().build()
    index_s = time.perf_counter() - started
    agent = ShoeAgent(backend="embedded", model=model, max_tokens=max_tokens, home=home)
    questions = load_questions()
    warm = ask_once(agent, questions[0], "load-warmup")  # loads the model, the index's scorer, the graph
    rss_warm = rss_mb()
    print(f"warm-up {warm['latency_s']:.1f} s, RSS {rss_warm:.0f} MB, backend {agent.model_name}", file=log, flush=True)

    # Phase 1: all threads released at once by a barrier.
    concurrent_rows: list[dict[str, Any]] = []
    lock = threading.Lock()
    barrier = threading.Barrier(concurrent) if concurrent else None

    def worker(i: int) -> None:
        barrier.wait()
        row = ask_once(agent, questions[i % len(questions)], f"load-c{i:03d}")
        with lock:
            concurrent_rows.append(row)

    threads = [threading.Thread(target=worker, args=(i,), name=f"ask-{i}", daemon=True) for i in range(concurrent)]
    started = time.perf_counter()
    for t in threads:
        t.start()
    deadline = started + timeout
    for t in threads:
        t.join(timeout=max(0.0, deadline - time.perf_counter()))
    concurrent_wall = time.perf_counter() - started
    stuck = sum(t.is_alive() for t in threads)
    rss_after_concurrent = rss_mb()
    print(f"concurrent: {len(concurrent_rows)}/{concurrent} back in {concurrent_wall:.1f} s", file=log, flush=True)

    # Phase 2: one after another; RSS sampled after each call.
    sequential_rows: list[dict[str, Any]] = []
    samples: list[float] = []
    started = time.perf_counter()
    for i in range(sequential):
        if time.perf_counter() - started > timeout:
            break
        sequential_rows.append(ask_once(agent, questions[(concurrent + i) % len(questions)], f"load-s{i:04d}"))
        samples.append(rss_mb())
        if (i + 1) % 20 == 0:
            print(f"sequential: {i + 1}/{sequential}, RSS {samples[-1]:.0f} MB", file=log, flush=True)
    sequential_wall = time.perf_counter() - started
    rss_end = rss_mb()
    skip = len(samples) // 10  # the first calls still fill caches (allocator arenas, lexical caches)

    problems = check_conversations([warm, *concurrent_rows, *sequential_rows], home, model)
    all_rows = [warm, *concurrent_rows, *sequential_rows]
    return {
        "machine": {"cpus": os.cpu_count(), "platform": platform.platform(), "python": platform.python_version(),
                    "load_avg_1m_at_end": round(os.getloadavg()[0], 2)},
        "backend": agent.backend_name,
        "model": agent.model_name,
        "max_tokens": max_tokens,
        "index_build_s": round(index_s, 2),
        "warmup_s": round(warm["latency_s"], 2),
        "concurrent": phase_summary(concurrent_rows, concurrent_wall, stuck),
        "sequential": {**phase_summary(sequential_rows, sequential_wall, 0), "requested": sequential},
        "total": {
            "calls": len(all_rows) + stuck,
            "answered": sum(r["answered"] for r in all_rows),
            "errors": sum(len(r["errors"]) for r in all_rows),
            "deadlock": stuck > 0,
        },
        "rss_mb": {
            "start": round(rss_start, 1),
            "after_warmup": round(rss_warm, 1),
            "after_concurrent": round(rss_after_concurrent, 1),
            "after_sequential": round(rss_end, 1),
            "peak": round(max([peak_rss_mb(), rss_warm, rss_after_concurrent, rss_end, *samples]), 1),
            "growth_per_100_sequential_calls": _round(slope_per_100(samples[skip:]), 2),
            "growth_after_warmup": round(rss_end - rss_warm, 1),
        },
        "checkpoints": {"threads_checked": len(all_rows), "consistent": len(all_rows) - len({p.split(":")[0] for p in problems}),
                        "problems": problems[:20]},
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--concurrent", type=int, default=16, help="threads asking at once (default 16)")
    parser.add_argument("--sequential", type=int, default=200, help="asks one after another (default 200)")
    parser.add_argument("--max-tokens", type=int, default=32, help="most tokens per draft (default 32)")
    parser.add_argument("--model", default=None, help="GGUF path (default: the built shoemold GGUF, else the base model)")
    parser.add_argument("--home", type=Path, default=None, help="SHOEAGENT_HOME for the run (default: a fresh temp dir)")
    parser.add_argument("--timeout", type=float, default=1800.0, help="seconds a phase may take before it counts as stuck")
    parser.add_argument("--out", type=Path, default=None, help="also write the JSON here")
    args = parser.parse_args(argv)

    model = args.model
    if model is None:
        from shoeagent import paths

        built = paths.shoemold_gguf()  # of the caller's home, before the run's home replaces it
        model = str(built) if built.is_file() else None
    home = args.home or Path(tempfile.mkdtemp(prefix="shoeagent-load-"))
    home.mkdir(parents=True, exist_ok=True)
    try:
        result = run(args.concurrent, args.sequential, args.max_tokens, model, home, args.timeout)
    finally:
        if args.home is None:
            shutil.rmtree(home, ignore_errors=True)
    result["command"] = "benchmarks/load.py " + " ".join(argv if argv is not None else sys.argv[1:])
    text = json.dumps(result, ensure_ascii=False, indent=2)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(text + "\n", encoding="utf-8")
    print(text)
    ok = result["total"]["answered"] == result["total"]["calls"] and not result["checkpoints"]["problems"]
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
