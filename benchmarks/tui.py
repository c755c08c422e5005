"""Chat start-up speed: time from launching a fresh Python process to the first painted screen of
``shoeagent chat``, and (separately) until the model finished loading in the background.

    .venv/bin/python benchmarks/tui.py --runs 3 --out runs/bench/tui.json

Each run is a new process (cold imports) running the real app headless at 120x40 with the real
default agent and chat store, in a temporary SHOEAGENT_HOME so user data is untouched. The parent
times launch → the child's "painted" line; the child also reports its own phases. Prints JSON.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

# The child: import, build the app, run it headless, say "painted" when the chat screen's first frame
# is rendered, then wait for the background model load to settle.
CHILD = r"""
import asyncio, json, os, sys, time
t0 = time.perf_counter()
from shoeagent.tui.app import ShoeMoldApp
from shoeagent.tui.screens import ChatScreen
from shoeagent.tui.widgets import StatusBar
t_import = time.perf_counter()


class TimedApp(ShoeMoldApp):
    painted_at = None

    def _display(self, screen, renderable):
        # The first frame of the chat screen handed to the output: the moment a terminal would show it.
        # (Printed straight to fd 1: Textual captures print() while it runs.)
        if renderable is not None and self.painted_at is None and isinstance(screen, ChatScreen):
            self.painted_at = time.perf_counter()
            os.write(1, b"painted\n")
        super()._display(screen, renderable)


async def main():
    app = TimedApp(backend=sys.argv[1])
    async with app.run_test(size=(120, 40)) as pilot:
        status = app.screen.query_one(StatusBar)
        deadline = time.perf_counter() + float(sys.argv[2])
        while (app.painted_at is None or status.status.state in ("starting", "loading")) and time.perf_counter() < deadline:
            await asyncio.sleep(0.05)
        t_model = time.perf_counter()
        os.write(1, (json.dumps({
            "import_s": t_import - t0,
            "paint_in_process_s": app.painted_at - t0,
            "model_state": status.status.state,
            "model_ready_s": t_model - t0 if status.status.state == "ready" else None,
            "backend": status.status.backend,
            "model": status.status.model,
        }) + "\n").encode())

asyncio.run(main())
"""


def run_once(backend: str, model_timeout: float, home: Path) -> dict[str, Any]:
    env = dict(os.environ, SHOEAGENT_HOME=str(home), HF_HUB_OFFLINE="1", ANONYMIZED_TELEMETRY="False")
    start = time.perf_counter()
    child = subprocess.Popen(
        [sys.executable, "-c", CHILD, backend, str(model_timeout)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    assert child.stdout is not None
    first = child.stdout.readline().strip()
    launch_to_paint = time.perf_counter() - start
    rest, errors = child.communicate(timeout=model_timeout + 60)
    if first != "painted" or child.returncode != 0:
        raise RuntimeError(f"the app did not start (exit {child.returncode}): {first}{rest}\n{errors[-2000:]}")
    result = json.loads(rest.strip().splitlines()[-1])
    result["launch_to_paint_s"] = launch_to_paint
    return result


def run(runs: int = 3, backend: str = "embedded", model_timeout: float = 60.0) -> dict[str, Any]:
    """``runs`` cold starts of the chat in fresh processes; returns the JSON-serialisable report."""
    results = []
    load_before = os.getloadavg()
    with tempfile.TemporaryDirectory(prefix="shoeagent-bench-tui-") as home:
        for _ in range(runs):
            results.append(run_once(backend, model_timeout, Path(home)))
    paints = [r["launch_to_paint_s"] for r in results]
    ready = [r["model_ready_s"] for r in results if r["model_ready_s"] is not None]
    return {
        "benchmark": "tui_first_paint",
        "goal_s": 2.0,
        "launch_to_paint_s": {"median": statistics.median(paints), "max": max(paints), "runs": paints},
        "model_ready_s": {"median": statistics.median(ready), "runs": ready} if ready else None,
        "model_state": results[-1]["model_state"],
        "backend": results[-1]["backend"],
        "model": results[-1]["model"],
        "runs": results,
        "python": platform.python_version(),
        "cpus": os.cpu_count(),
        "load_average_before": [round(x, 2) for x in load_before],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--backend", default="embedded", choices=("auto", "embedded", "ollama"))
    parser.add_argument("--model-timeout", type=float, default=60.0, help="seconds to wait for the model load")
    parser.add_argument("--out", type=Path, help="also write the JSON here")
    args = parser.parse_args()
    report = run(args.runs, args.backend, args.model_timeout)
    text = json.dumps(report, indent=2)
    print(text)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(text + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
