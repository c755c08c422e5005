"""Run every benchmark on this machine and write the report: raw JSON, PNG charts and a Markdown page.

    .venv/bin/python benchmarks/run_all.py                 # full run -> docs/bench/*.json, docs/benchmarks.md
    .venv/bin/python benchmarks/run_all.py --limit 10      # fewer questions per language (quicker)
    .venv/bin/python benchmarks/run_all.py --only ablation,agent
    .venv/bin/python benchmarks/run_all.py --quick         # smoke run, a few items -> runs/bench-quick/

(``make bench`` and ``shoeagent bench [--quick]`` run the same.) The benchmarks, in order:

  startup       ``import shoeagent`` and ``shoeagent --help`` in fresh processes
  retrieval     query latency p50/p95 and build times of the real knowledge base
  scale         retrieval latency and build time at 150 / 1,500 / 15,000 (synthetic) entries
  threads       llama.cpp thread settings for the embedded model: decode tokens/s and prompt time, side by side
  agent         time to first token, end-to-end p50/p95, tokens/s, next to raw llama.cpp on the same tokens
  read_ahead    time to first token after the chat read the prompt ahead during a pause in typing, vs not
  lookup        prompt-lookup decoding against plain decoding on the agent's own prompts
  conversation  answer latency and prompt size at turns 1 / 5 / 10 / 20 of one thread
  ablation      base · base + retrieval · LoRA · full agent on the evaluation set (quality + refusals)
  training      training tokens/s: shoeagent's trainer vs the seed's plain transformers recipe
  export        adapter -> merged -> GGUF -> quantized -> parity, total and per stage
  tui           launch to first painted chat screen

A full run executes each benchmark in its own process, one after the other (ratios inside one
benchmark are always measured side by side). ``--quick`` runs them all in this process with a few
items each and writes to ``runs/bench-quick`` unless ``--out`` says otherwise, so smoke numbers never
overwrite the published ones. ``--limit N`` sets how many questions the model-answering benchmarks
ask: the ablation N in-domain rows per language plus the 14 out-of-scope questions, the agent speed
benchmark N questions (languages alternating); the default is 30, about 40 minutes on a quiet
2-core machine (about 14 minutes fixed plus about 50 s per unit of N).
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import datetime as dt
import json
import os
import subprocess
import sys
import time
import traceback
from collections.abc import Iterator
from pathlib import Path
from typing import Any

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.common import REPO, machine, write_json  # noqa: E402

NAMES = ("startup", "retrieval", "scale", "threads", "agent", "read_ahead", "lookup", "conversation", "ablation", "training", "export", "tui")
DEFAULT_LIMIT = 30
FULL_OUT = REPO / "docs" / "bench"
FULL_REPORT = REPO / "docs" / "benchmarks.md"
QUICK_OUT = REPO / "runs" / "bench-quick"


def settings(name: str, quick: bool, limit: int | None) -> dict[str, Any]:
    """Keyword arguments of ``benchmarks.<name>.run`` for a full or a quick run."""
    n = limit if limit is not None else (1 if quick else DEFAULT_LIMIT)
    if name == "startup":
        return {"runs": 2 if quick else 5}
    if name == "retrieval":
        return {"repeats": 1, "queries": 20} if quick else {"repeats": 3}
    if name == "scale":
        return {"sizes": [15, 45], "queries": 10} if quick else {"sizes": [150, 1500, 15000]}
    if name == "threads":
        return {"rows": 1, "rounds": 1, "max_tokens": 8} if quick else {"rows": 6, "rounds": 2}
    if name == "agent":
        return {"n": n, "max_tokens": 16 if quick else 320}
    if name == "read_ahead":
        return {"n": min(n, 16) if not quick else 1}
    if name == "lookup":
        return {"n": 1, "max_tokens": 16} if quick else {"n": min(n, 16)}
    if name == "conversation":
        return {"checkpoints": [1], "max_tokens": 12} if quick else {"checkpoints": [1, 5, 10, 20], "max_tokens": 48}
    if name == "ablation":
        if quick:
            return {"limit": n, "ood_limit": 1, "max_tokens": 16, "allow_base_as_lora": True}
        return {"limit": n, "ood_limit": -1, "max_tokens": 320}
    if name == "training":
        # Quick: one row, padded to 384 tokens instead of 1400 (the baseline's padding dominates its time).
        return {"examples": 1, "overrides": ["model.max_seq_length=384"]} if quick else {"examples": 8}
    if name == "export":
        return {"quants": ("f16",), "check_parity": False} if quick else {}
    if name == "tui":
        return {"runs": 1, "model_timeout": 30.0} if quick else {"runs": 3}
    raise ValueError(f"unknown benchmark {name!r}")


def run_one(name: str, kwargs: dict[str, Any]) -> dict[str, Any]:
    """Run ``benchmarks.<name>`` in this process with ``kwargs``; returns its JSON result."""
    import importlib

    module = importlib.import_module(f"benchmarks.{name}")
    if name == "export":
        from shoeagent.finetune.export import DEFAULT_QUANTS

        result = module.run(None, tuple(kwargs.get("quants") or DEFAULT_QUANTS), kwargs.get("check_parity", True))
    elif name == "training":
        result = module.run(examples=kwargs["examples"], overrides=list(kwargs.get("overrides") or []))
    else:
        result = module.run(**kwargs)
    result.setdefault("benchmark", name)
    result["settings_run_all"] = {k: list(v) if isinstance(v, tuple) else v for k, v in kwargs.items()}
    return result


@contextlib.contextmanager
def shared_base_load() -> Iterator[None]:
    """Quick runs only: load the base model once for training and export (each gets a deep copy).

    Loading SmolLM2 from its GGUF through transformers takes about 30 s here; a smoke run need not
    pay it twice. Full runs never use this, so export time includes the load.
    """
    from shoeagent.finetune import base as base_module

    original = base_module.load_base
    cache: dict[Any, tuple[Any, Any]] = {}

    def cached(config: Any = None, *, dtype: Any = None) -> tuple[Any, Any]:
        key = (getattr(config, "base_model", None), str(dtype))
        if key not in cache:
            cache[key] = original(config, dtype=dtype)
        model, tokenizer = cache[key]
        return copy.deepcopy(model), tokenizer

    base_module.load_base = cached
    try:
        yield
    finally:
        base_module.load_base = original


def _child(name: str, kwargs: dict[str, Any], out: Path, log: Path) -> tuple[bool, str]:
    """Run one benchmark in a fresh process (full runs); returns (ok, error line)."""
    code = (
        "import json, sys; sys.path.insert(0, sys.argv[1]);"
        "from benchmarks.run_all import run_one; from benchmarks.common import write_json;"
        "write_json(sys.argv[3], run_one(sys.argv[2], json.loads(sys.argv[4])))"
    )
    env = dict(os.environ, OMP_WAIT_POLICY=os.environ.get("OMP_WAIT_POLICY", "PASSIVE"))
    with open(log, "w", encoding="utf-8") as handle:
        done = subprocess.run(
            [sys.executable, "-c", code, str(REPO), name, str(out), json.dumps(kwargs)],
            stdout=handle, stderr=subprocess.STDOUT, env=env, cwd=REPO,
        )
    if done.returncode != 0:
        tail = log.read_text(encoding="utf-8", errors="replace").strip().splitlines()[-1:] or ["(no output)"]
        return False, f"exit {done.returncode}: {tail[0]}"
    return True, ""


def run_all(
    quick: bool = False,
    only: list[str] | None = None,
    limit: int | None = None,
    out_dir: Path | None = None,
    report_path: Path | None = None,
    isolate: bool | None = None,
    progress: bool = True,
) -> dict[str, Any]:
    """Run the chosen benchmarks, write ``<out_dir>/<name>.json`` and ``run.json``, render the report."""
    from benchmarks.report import render

    names = list(only or NAMES)
    unknown = [n for n in names if n not in NAMES]
    if unknown:
        raise ValueError(f"unknown benchmark(s) {', '.join(unknown)}; choose from {', '.join(NAMES)}")
    out_dir = Path(out_dir) if out_dir else (QUICK_OUT if quick else FULL_OUT)
    report_path = Path(report_path) if report_path else (out_dir / "benchmarks.md" if quick else FULL_REPORT)
    isolate = (not quick) if isolate is None else isolate
    out_dir.mkdir(parents=True, exist_ok=True)
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

    meta: dict[str, Any] = {
        "started": dt.datetime.now().astimezone().isoformat(timespec="seconds"),
        "quick": quick, "limit": limit if limit is not None else (1 if quick else DEFAULT_LIMIT),
        "isolated_processes": isolate, "machine": machine(), "benchmarks": {},
        "command": "python benchmarks/run_all.py" + (" --quick" if quick else "")
                   + (f" --limit {limit}" if limit is not None else "") + (f" --only {','.join(only)}" if only else ""),
    }
    # Keep what an earlier run (e.g. without --only) recorded for the benchmarks not rerun now.
    previous = out_dir / "run.json"
    if only and previous.is_file():
        with contextlib.suppress(ValueError, OSError):
            meta["benchmarks"] = json.loads(previous.read_text(encoding="utf-8")).get("benchmarks", {})
    started_all = time.perf_counter()
    shared = shared_base_load() if quick and not isolate else contextlib.nullcontext()
    with shared:
        for name in names:
            kwargs = settings(name, quick, limit)
            target = out_dir / f"{name}.json"
            if progress:
                print(f"== {name} {json.dumps(kwargs, default=list)}", file=sys.stderr, flush=True)
            target.unlink(missing_ok=True)  # a failed run must not leave the previous numbers looking current
            started = time.perf_counter()
            error = ""
            if isolate:
                ok, error = _child(name, kwargs, target, out_dir / f"{name}.log")
            else:
                try:
                    write_json(target, run_one(name, kwargs))
                    ok = True
                except (Exception, SystemExit) as exc:  # noqa: BLE001 - one failure must not end the run
                    ok, error = False, f"{type(exc).__name__}: {exc}"
                    if progress:
                        traceback.print_exc()
            seconds = time.perf_counter() - started
            meta["benchmarks"][name] = {"ok": ok, "seconds": round(seconds, 1), "error": error or None,
                                        "finished": dt.datetime.now().astimezone().isoformat(timespec="seconds")}
            if progress:
                print(f"== {name}: {'ok' if ok else 'FAILED ' + error} in {seconds:.1f} s", file=sys.stderr, flush=True)
    meta["wall_s"] = round(time.perf_counter() - started_all, 1)
    meta["load_average_end"] = [round(x, 2) for x in os.getloadavg()]
    write_json(out_dir / "run.json", meta)
    render(out_dir, report_path)
    if progress:
        print(f"wrote {report_path} and {out_dir}/ in {meta['wall_s']} s", file=sys.stderr, flush=True)
    return meta


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="run_all.py", description=__doc__.split("\n\n")[0], epilog=__doc__.split("\n\n", 2)[2],
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--quick", action="store_true", help="smoke run: a few items per benchmark, in one process")
    parser.add_argument("--only", default="", help="comma-separated benchmarks to run: " + ", ".join(NAMES))
    parser.add_argument("--limit", type=int, default=None, help=f"ablation rows per language and agent questions (default {DEFAULT_LIMIT}; quick 1)")
    parser.add_argument("--out", type=Path, default=None, help="folder for the JSON and charts (default docs/bench)")
    parser.add_argument("--report", type=Path, default=None, help="Markdown report (default docs/benchmarks.md)")
    parser.add_argument("--isolate", action=argparse.BooleanOptionalAction, default=None,
                        help="each benchmark in its own process (default: yes for a full run, no for --quick)")
    args = parser.parse_args(argv)
    only = [n.strip() for n in args.only.split(",") if n.strip()] or None
    if only:
        unknown = [n for n in only if n not in NAMES]
        if unknown:
            print(f"error: unknown benchmark(s) {', '.join(unknown)}; choose from {', '.join(NAMES)}", file=sys.stderr)
            return 2
    if args.limit is not None and args.limit < 1:
        print("error: --limit must be at least 1", file=sys.stderr)
        return 2
    if not args.quick and (not only or "ablation" in only):
        from shoeagent import paths

        if not paths.shoemold_gguf().is_file():
            print(f"error: no shoemold GGUF at {paths.shoemold_gguf()}; the ablation compares it with the base model. "
                  "Build it with `shoeagent export --if-missing` (or `make models`), or use --quick.", file=sys.stderr)
            return 2
    meta = run_all(args.quick, only, args.limit, args.out, args.report, args.isolate)
    failed = [n for n, info in meta["benchmarks"].items() if not info["ok"] and (not only or n in only)]
    if failed:
        print(f"error: benchmark(s) failed: {', '.join(failed)} (see the log or traceback above)", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
