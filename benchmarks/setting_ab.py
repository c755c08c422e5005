"""Two values of one agent setting (a ``SHOEAGENT_*`` variable), side by side on the same questions.

Every in-domain question of ``agent/eval/questions.jsonl`` (languages alternating, ``--n`` of them)
is asked once under each value, in alternating order, each time from the same engine state (the
cache emptied, then holding the system prompt, as after ``warm_up``). It reports answer time (p50,
mean, p95, total) per value, the ratio of B to A, how many answers took over a second less or more
under B, and how many answers have the same text under both.

    .venv/bin/python benchmarks/setting_ab.py SHOEAGENT_REDRAFT_THIN 1 0 --n 40 [--out docs/bench/redraft_thin.json]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path
from typing import Any

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.common import machine, pct, report  # noqa: E402
from benchmarks.read_ahead import questions  # noqa: E402


def run(variable: str, a: str, b: str, n: int = 40, progress: bool = True) -> dict[str, Any]:
    from shoeagent.agent.api import ShoeAgent
    from shoeagent.agent.context import Context

    known = {f.metadata.get("env") for f in Context.__dataclass_fields__.values()}
    if variable not in known:
        raise SystemExit(f"{variable} is not an agent setting; choose from {', '.join(sorted(k for k in known if k))}")
    start_machine = machine()
    previous = os.environ.get(variable)
    agent = ShoeAgent(backend="embedded")
    agent.warm_up()
    llm = agent._get_llm()
    engine = llm.engine()
    system_prompt = agent._context(None).system_prompt
    rows: list[dict[str, Any]] = []
    try:
        for i, row in enumerate(questions(n)):
            item: dict[str, Any] = {"id": row["id"], "lang": row["lang"]}
            for label, value in (("a", a), ("b", b)) if i % 2 == 0 else (("b", b), ("a", a)):
                os.environ[variable] = value
                engine.reset()
                llm.cache_system_prompt(system_prompt)
                started = time.perf_counter()
                answer = agent.ask(row["question"])
                item[f"{label}_s"] = time.perf_counter() - started
                item[f"{label}_text"] = answer.text
            rows.append(item)
            if progress:
                print(f"[{i + 1}/{n}] {row['id']} {row['lang']}: A {item['a_s']:.2f} s, B {item['b_s']:.2f} s",
                      file=sys.stderr, flush=True)
    finally:
        if previous is None:
            os.environ.pop(variable, None)
        else:
            os.environ[variable] = previous

    def stats(label: str) -> dict[str, float | None]:
        values = [r[f"{label}_s"] for r in rows]
        return {"p50": pct(values, 50), "mean": statistics.mean(values), "p95": pct(values, 95), "total": sum(values)}

    sa, sb = stats("a"), stats("b")
    return {
        "benchmark": "setting_ab",
        "variable": variable,
        "a": a,
        "b": b,
        "n": n,
        "model": llm.model_id,
        "answer_s": {"a": sa, "b": sb},
        "b_over_a": {key: sb[key] / sa[key] for key in ("p50", "mean", "p95", "total")},
        "b_faster_by_1s": sum(r["a_s"] - r["b_s"] > 1 for r in rows),
        "b_slower_by_1s": sum(r["b_s"] - r["a_s"] > 1 for r in rows),
        "same_text": sum(r["a_text"] == r["b_text"] for r in rows),
        "machine": start_machine,
        "load_average_after": machine()["load_average"],
        "rows": rows,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("variable", help="a SHOEAGENT_* agent setting, e.g. SHOEAGENT_REDRAFT_THIN")
    parser.add_argument("a", help="its baseline value")
    parser.add_argument("b", help="the value to compare with it")
    parser.add_argument("--n", type=int, default=40, help="questions (languages alternating)")
    parser.add_argument("--out", type=Path)
    args = parser.parse_args(argv)
    if not 1 <= args.n <= 80:
        parser.error("--n must be between 1 and 80")
    result = run(args.variable, args.a, args.b, args.n)
    return report(result, args.out)


if __name__ == "__main__":
    raise SystemExit(main())
