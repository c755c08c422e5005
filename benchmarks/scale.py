"""How retrieval cost grows with the knowledge base: build time and query latency (p50/p95) at
150, 1,500 and 15,000 entries.

The entries are synthetic: copies of the real curated entries with new ids, their sentences
shuffled and a distinguishing token added (``benchmarks/retrieval.py``'s ``synthetic_entries``;
without example questions, so every size is built the same way). Each size is built from scratch
into a temporary Chroma folder under a temporary SHOEAGENT_HOME, so the user's index is untouched,
and queried with the labelled retrieval eval queries.

    .venv/bin/python benchmarks/scale.py --sizes 150,1500,15000 --out docs/bench/scale.json
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

from benchmarks.common import machine, write_json  # noqa: E402
from benchmarks.retrieval import measure, synthetic_entries  # noqa: E402

DEFAULT_SIZES = (150, 1500, 15000)


def run(sizes: list[int], queries: int = 0, progress: bool = True) -> dict[str, Any]:
    """Build and query a synthetic knowledge base of each size; ``queries`` eval queries (0 = all)."""
    from shoeagent.knowledge.entries import load_entries
    from shoeagent.knowledge.evaluate import load_queries

    if not sizes or any(s < 1 for s in sizes):
        raise SystemExit("error: --sizes needs positive entry counts, e.g. 150,1500,15000")
    start_machine = machine()
    entries = load_entries()
    texts = [q.query for q in load_queries()]
    if 0 < queries < len(texts):
        texts = [texts[i * len(texts) // queries] for i in range(queries)]
    results = []
    previous_home = os.environ.get("SHOEAGENT_HOME")
    with tempfile.TemporaryDirectory(prefix="shoeagent-bench-scale-") as tmp:
        os.environ["SHOEAGENT_HOME"] = str(Path(tmp) / "home")  # nothing may touch the user's data
        try:
            for size in sizes:
                started = time.perf_counter()
                directory = synthetic_entries(entries, size, Path(tmp) / f"entries-{size}")
                generate_s = time.perf_counter() - started
                result = measure(directory, texts, 1)
                result["size"] = size
                result["generate_entries_s"] = round(generate_s, 3)
                results.append(result)
                if progress:
                    print(f"{size} entries: build {result['full_rebuild_s']} s, p50 {result['latency_ms']['p50']} ms, "
                          f"p95 {result['latency_ms']['p95']} ms", file=sys.stderr, flush=True)
        finally:
            if previous_home is None:
                os.environ.pop("SHOEAGENT_HOME", None)
            else:
                os.environ["SHOEAGENT_HOME"] = previous_home
    first = results[0]
    growth = []
    for result in results[1:]:
        growth.append({
            "size": result["size"],
            "size_ratio": round(result["size"] / first["size"], 2),
            "p50_ratio": round(result["latency_ms"]["p50"] / first["latency_ms"]["p50"], 2) if first["latency_ms"]["p50"] else None,
            "p95_ratio": round(result["latency_ms"]["p95"] / first["latency_ms"]["p95"], 2) if first["latency_ms"]["p95"] else None,
            "build_ratio": round(result["full_rebuild_s"] / first["full_rebuild_s"], 2) if first["full_rebuild_s"] else None,
        })
    return {
        "benchmark": "scale",
        "machine": start_machine,
        "load_average_end": [round(x, 2) for x in os.getloadavg()],
        "real_entries": len(entries),
        "queries": len(texts),
        "sizes": results,
        "growth_vs_smallest": growth,
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default=",".join(map(str, DEFAULT_SIZES)), help="entry counts, comma-separated")
    parser.add_argument("--queries", type=int, default=0, help="eval queries per size, evenly chosen (0 = all)")
    parser.add_argument("--out", type=Path, default=None, help="write the JSON here")
    args = parser.parse_args(argv)
    try:
        sizes = [int(s) for s in args.sizes.split(",") if s.strip()]
    except ValueError:
        parser.error(f"--sizes must be comma-separated integers, not {args.sizes!r}")
    result = run(sizes, args.queries)
    if args.out:
        write_json(args.out, result)
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
