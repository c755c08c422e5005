"""llama.cpp thread settings for the embedded model: the rule in ``shoeagent.threads`` against the alternatives.

Each setting runs in a fresh process (OpenMP reads its wait policy once, at load) on the same real
prompts (the model evaluation's first rows: the agent's system prompt and sources, English and
Chinese), greedy, and reports prompt time (time to first token) and decode tokens/s. Ratios are
against the previous default (all cores for both, passive OpenMP waits) measured in the same run.
``--load N`` adds N busy-looping processes for the whole run, as a shared machine has.

    .venv/bin/python benchmarks/threads.py --rows 6 --out docs/bench/threads.json
    .venv/bin/python benchmarks/threads.py --rows 6 --load 2 --out docs/bench/threads_loaded.json
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.common import machine, pct, write_json  # noqa: E402

CORES = os.cpu_count() or 1
# name -> (OMP_WAIT_POLICY, n_threads, n_threads_batch); None = the shoeagent rule itself.
SETTINGS: dict[str, tuple[str, int, int] | None] = {
    "previous (all cores, passive waits)": ("PASSIVE", CORES, CORES),
    "all cores, spinning waits": ("ACTIVE", CORES, CORES),
    "shoeagent rule": None,
}
BASELINE = "previous (all cores, passive waits)"


def _worker(gguf: str, rows: int, max_tokens: int, threads: dict[str, int] | None) -> None:
    """Runs in the child: load, answer ``rows`` prompts, print one JSON line."""
    from shoeagent.finetune.evaluate import load_eval_rows, prompt_messages
    from shoeagent.threads import llama_thread_args

    settings = threads or llama_thread_args(gguf)
    from llama_cpp import Llama

    llm = Llama(model_path=gguf, n_ctx=2048, seed=0, verbose=False, **settings)
    picked = load_eval_rows(limit=rows)
    out = []
    for row in picked:
        llm.reset()  # no prompt cache between rows: every row pays its whole prompt
        started = time.perf_counter()
        first = None
        tokens = 0
        for _ in llm.create_chat_completion(prompt_messages(row), max_tokens=max_tokens, temperature=0.0, stream=True):
            if first is None:
                first = time.perf_counter() - started
            tokens += 1
        total = time.perf_counter() - started
        out.append({"lang": row.lang, "ttft_s": first, "total_s": total, "tokens": tokens,
                    "decode_tps": (tokens - 1) / (total - first) if first is not None and total > first else None})
    print(json.dumps({"settings": {"omp_wait_policy": os.environ.get("OMP_WAIT_POLICY", "unset"), **settings}, "rows": out}))


def _run_setting(gguf: str, rows: int, max_tokens: int, setting: tuple[str, int, int] | None) -> dict[str, Any]:
    env = dict(os.environ)
    threads = None
    if setting is not None:
        policy, n, nb = setting
        env["OMP_WAIT_POLICY"] = policy
        threads = {"n_threads": n, "n_threads_batch": nb}
    else:
        env.pop("OMP_WAIT_POLICY", None)
    code = (f"import json,sys; sys.path.insert(0, {str(Path(__file__).resolve().parent.parent)!r}); "
            f"from benchmarks.threads import _worker; _worker({gguf!r}, {rows}, {max_tokens}, json.loads({json.dumps(json.dumps(threads))}))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=1800)
    if done.returncode != 0:
        raise RuntimeError(f"thread setting {setting} failed: {done.stderr[-1500:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def _spin() -> None:
    while True:
        pass


def run(rows: int = 6, max_tokens: int = 120, load: int = 0, gguf: str | None = None, rounds: int = 2) -> dict[str, Any]:
    from shoeagent import paths

    model = gguf or str(paths.shoemold_gguf() if paths.shoemold_gguf().is_file() else paths.base_gguf())
    hogs = [multiprocessing.Process(target=_spin, daemon=True) for _ in range(load)]
    for hog in hogs:
        hog.start()
    start_machine = machine()
    measured: dict[str, list[dict[str, Any]]] = {name: [] for name in SETTINGS}
    used: dict[str, Any] = {}
    try:
        for _ in range(rounds):  # settings alternate, so a change in load hits all of them
            for name, setting in SETTINGS.items():
                result = _run_setting(model, rows, max_tokens, setting)
                measured[name].extend(result["rows"])
                used[name] = result["settings"]  # as the child process saw them
                print(f"{name}: done", file=sys.stderr, flush=True)
    finally:
        for hog in hogs:
            hog.terminate()
    report: dict[str, Any] = {}
    for name, items in measured.items():
        report[name] = {
            "settings": used[name],
            "ttft_s_p50": pct([r["ttft_s"] for r in items], 50),
            "decode_tokens_per_s_p50": pct([r["decode_tps"] for r in items], 50),
            "answer_s_p50": pct([r["total_s"] for r in items], 50),
            "n": len(items),
        }
    base = report[BASELINE]
    for name, item in report.items():
        item["decode_speedup"] = round(item["decode_tokens_per_s_p50"] / base["decode_tokens_per_s_p50"], 2)
        item["ttft_ratio"] = round(item["ttft_s_p50"] / base["ttft_s_p50"], 2)
        item["answer_time_ratio"] = round(item["answer_s_p50"] / base["answer_s_p50"], 2)
    return {"benchmark": "threads", "gguf": model, "rows": rows, "rounds": rounds, "max_tokens": max_tokens,
            "busy_processes": load, "machine": start_machine, "baseline": BASELINE, "settings": report}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=6, help="eval rows (prompts) per setting and round")
    parser.add_argument("--max-tokens", type=int, default=120)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--load", type=int, default=0, help="busy-looping processes to run alongside")
    parser.add_argument("--gguf", help="GGUF to measure (default: the built shoemold GGUF, else the base)")
    parser.add_argument("--out", type=Path)
    args = parser.parse_args(argv)
    result = run(args.rows, args.max_tokens, args.load, args.gguf, args.rounds)
    for name, item in result["settings"].items():
        print(f"{name:40s} ttft p50 {item['ttft_s_p50']:.2f} s ({item['ttft_ratio']}x)  "
              f"decode p50 {item['decode_tokens_per_s_p50']:.0f} tok/s ({item['decode_speedup']}x)  "
              f"answer p50 {item['answer_s_p50']:.2f} s ({item['answer_time_ratio']}x)")
    if args.out:
        write_json(args.out, result)
    return 0


if __name__ == "__main__":
    sys.exit(main())
