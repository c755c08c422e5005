"""Retrieval speed: query latency (p50/p95) over the eval queries, and index build times.

    .venv/bin/python benchmarks/retrieval.py --out runs/bench/retrieval.json
    .venv/bin/python benchmarks/retrieval.py --scale 1500,15000 --out runs/bench/retrieval_scale.json

Everything runs in a temporary Chroma directory, so the user's index is untouched. ``--scale``
also measures synthetic knowledge bases of N entries (real entries repeated with shuffled sentences
and a distinguishing token, without example questions) to show how latency and build time grow.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import yaml

from shoeagent.knowledge.entries import CATEGORIES, Entry, load_entries
from shoeagent.knowledge.evaluate import load_queries
from shoeagent.knowledge.store import KnowledgeBase


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))
    return ordered[index]


def measure(entries_dir: Path, queries: list[str], repeats: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="shoeagent-bench-") as tmp:
        kb = KnowledgeBase(entries_dir=entries_dir, persist_dir=Path(tmp) / "chroma")
        start = time.perf_counter()
        report = kb.build(force=True)
        rebuild_s = time.perf_counter() - start
        start = time.perf_counter()
        KnowledgeBase(entries_dir=entries_dir, persist_dir=Path(tmp) / "chroma").build()
        noop_s = time.perf_counter() - start
        start = time.perf_counter()
        kb.search(queries[0])  # loads the index and the lexical scorer
        load_s = time.perf_counter() - start
        latencies = []
        for _ in range(repeats):
            for query in queries:
                start = time.perf_counter()
                kb.search(query, k=5)
                latencies.append((time.perf_counter() - start) * 1000)
    return {
        "entries": report.entries,
        "documents": report.documents,
        "questions": report.questions,
        "full_rebuild_s": round(rebuild_s, 3),
        "noop_build_s": round(noop_s, 3),
        "first_search_load_s": round(load_s, 3),
        "queries": len(latencies),
        "latency_ms": {
            "p50": round(statistics.median(latencies), 2),
            "p95": round(percentile(latencies, 95), 2),
            "mean": round(statistics.fmean(latencies), 2),
            "max": round(max(latencies), 2),
        },
    }


def synthetic_entries(entries: list[Entry], n: int, directory: Path, seed: int = 0) -> Path:
    """Write ``n`` synthetic entries derived from the real ones into ``directory``."""
    rng = random.Random(seed)
    by_category: dict[str, list[dict[str, Any]]] = {}
    for i in range(n):
        base = entries[i % len(entries)]
        token = f"variant{i}"
        bodies = {}
        for lang in ("en", "zh"):
            sentences = [s for s in base.body[lang].replace("。", "。\n").replace(". ", ".\n").split("\n") if s.strip()]
            rng.shuffle(sentences)
            bodies[lang] = (" " if lang == "en" else "").join(sentences) + f" ({token})"
        by_category.setdefault(base.category, []).append({
            "id": f"{CATEGORIES[base.category]}-syn-{i}",
            "category": base.category,
            "stage": base.stage,
            "title": {lang: f"{base.title[lang]} ({token})" for lang in ("en", "zh")},
            "body": bodies,
            "key_facts": base.key_facts,
            "tools": base.tools,
            "references": [{"title": r.title, "url": r.url} for r in base.references],
        })
    directory.mkdir(parents=True, exist_ok=True)
    for category, items in by_category.items():
        (directory / f"{category}.yaml").write_text(yaml.safe_dump(items, allow_unicode=True, sort_keys=False),
                                                    encoding="utf-8")
    return directory


def run(repeats: int = 3, scale: str = "", queries: int = 0) -> dict[str, Any]:
    """Real-KB latency and build times (plus synthetic sizes in ``scale``); ``queries`` eval queries (0 = all)."""
    from shoeagent.knowledge.entries import default_directory

    entries = load_entries()
    texts = [q.query for q in load_queries()]
    if 0 < queries < len(texts):
        texts = [texts[i * len(texts) // queries] for i in range(queries)]
    results: dict[str, Any] = {
        "benchmark": "retrieval",
        "machine": {"python": platform.python_version(), "cpu": platform.processor() or platform.machine(),
                    "cores": os.cpu_count(), "load_average": [round(x, 2) for x in os.getloadavg()]},
        "real": measure(default_directory(), texts, repeats),
        "scaled": [],
    }
    print(f"real KB: {json.dumps(results['real'])}", flush=True)
    for size in [int(s) for s in scale.split(",") if s.strip()]:
        with tempfile.TemporaryDirectory(prefix="shoeagent-syn-") as tmp:
            directory = synthetic_entries(entries, size, Path(tmp) / "entries")
            scaled = measure(directory, texts, 1)
        results["scaled"].append(scaled)
        print(f"synthetic {size}: {json.dumps(scaled)}", flush=True)
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, help="Write the results as JSON to this file.")
    parser.add_argument("--repeats", type=int, default=3, help="Passes over the eval queries (default 3).")
    parser.add_argument("--queries", type=int, default=0, help="Use this many eval queries, evenly chosen (0 = all).")
    parser.add_argument("--scale", default="", help="Comma-separated synthetic sizes, e.g. 1500,15000.")
    args = parser.parse_args()

    results = run(args.repeats, args.scale, args.queries)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        tmp = args.out.with_name(f".{args.out.name}.tmp")
        tmp.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
        os.replace(tmp, args.out)
        print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
