"""The chat's first question: how long it waits with and without ``ShoeAgent.warm_up``, side by side.

A new process answers one question on the embedded backend. *cold* asks at once; *model* first
loads only the model and reads the system prompt (what ``warm_up`` did before it loaded the rest);
*warm* first calls ``warm_up`` (what ``shoeagent chat`` does in the background while its screen opens
and the user types), which also imports and builds the graph and loads the router and the knowledge
index. Each run starts fresh processes of all three kinds, in rotating order, and times the first
streamed token and the whole answer of the first question (the warm-up itself is timed apart). The
ratios model / warm and cold / warm are the first question's gains.

    .venv/bin/python benchmarks/first_question.py --runs 3 [--out runs/bench/first_question.json]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.common import machine, report  # noqa: E402

QUESTIONS = {"en": "How do I clean mold off my leather boots?", "zh": "皮鞋發霉了要怎麼清理？"}

_CHILD = """
import json, sys, time
from shoeagent.agent.api import ShoeAgent
mode, question = sys.argv[1], sys.argv[2]
agent = ShoeAgent(backend="embedded")
started = time.perf_counter()
if mode == "warm":
    agent.warm_up()
elif mode == "model":
    agent._get_llm().warm_up(system_prompt=agent._context(None).system_prompt)
warm_up_s = time.perf_counter() - started
started = time.perf_counter()
first = None
for event in agent.stream(question):
    if event.kind == "token" and first is None:
        first = time.perf_counter() - started
print(json.dumps({"warm_up_s": warm_up_s, "ttft_s": first, "answer_s": time.perf_counter() - started}))
"""


def _child(mode: str, question: str) -> dict[str, float]:
    env = dict(os.environ, PYTHONDONTWRITEBYTECODE="1")
    done = subprocess.run([sys.executable, "-c", _CHILD, mode, question], capture_output=True, text=True, env=env,
                          timeout=300)
    if done.returncode != 0:
        raise RuntimeError(f"the {mode} child failed ({done.returncode}): {done.stderr[-1500:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def run(runs: int = 3, progress: bool = True) -> dict[str, Any]:
    start_machine = machine()
    rows: list[dict[str, Any]] = []
    for i in range(runs):
        for lang, question in QUESTIONS.items():
            modes = ("cold", "model", "warm")
            for mode in modes[i % 3:] + modes[: i % 3]:
                row = {"run": i, "lang": lang, "mode": mode, **_child(mode, question)}
                rows.append(row)
                if progress:
                    print(f"[{i}] {lang} {mode}: first token {row['ttft_s']:.2f} s, answer {row['answer_s']:.2f} s",
                          file=sys.stderr, flush=True)

    def median(mode: str, key: str, lang: str | None = None) -> float:
        return statistics.median(r[key] for r in rows if r["mode"] == mode and (lang is None or r["lang"] == lang))

    summary = {
        mode: {"ttft_s": median(mode, "ttft_s"), "answer_s": median(mode, "answer_s"), "warm_up_s": median(mode, "warm_up_s"),
               **{f"ttft_s_{lang}": median(mode, "ttft_s", lang) for lang in QUESTIONS}}
        for mode in ("cold", "model", "warm")
    }
    return {
        "benchmark": "first_question",
        "runs": runs,
        **summary,
        "ttft_model_over_warm": summary["model"]["ttft_s"] / summary["warm"]["ttft_s"],
        "ttft_cold_over_warm": summary["cold"]["ttft_s"] / summary["warm"]["ttft_s"],
        "machine": start_machine,
        "rows": rows,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args(argv)
    if args.runs < 1:
        parser.error("--runs must be at least 1")
    result = run(args.runs)
    return report(result, args.out)


if __name__ == "__main__":
    raise SystemExit(main())
