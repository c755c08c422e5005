"""Start-up cost: ``import shoeagent`` and ``shoeagent --help``, each in fresh processes.

For every run it times a bare interpreter (``python -c pass``), ``python -c "import shoeagent"`` and
``python -m shoeagent.cli --help``; the import's own cost is the difference to the bare interpreter
(median of the runs). ``-X importtime`` also reports the cumulative microseconds Python itself
attributes to the ``shoeagent`` package.

    .venv/bin/python benchmarks/startup.py --runs 5 --out docs/bench/startup.json
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

from benchmarks.common import machine, write_json  # noqa: E402


def _timed(args: list[str]) -> tuple[float, str]:
    env = dict(os.environ, PYTHONDONTWRITEBYTECODE="1")
    started = time.perf_counter()
    done = subprocess.run([sys.executable, *args], capture_output=True, text=True, env=env, timeout=120)
    seconds = time.perf_counter() - started
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(args)} failed ({done.returncode}): {done.stderr[-1000:]}")
    return seconds, done.stderr


def importtime_us(stderr: str, package: str = "shoeagent") -> int | None:
    """The cumulative microseconds ``-X importtime`` gives the top-level ``package`` import."""
    for line in stderr.splitlines():
        parts = [p.strip() for p in line.split("|")]
        if len(parts) == 3 and parts[2] == package and parts[1].isdigit():
            return int(parts[1])
    return None


def run(runs: int = 5) -> dict[str, Any]:
    start_machine = machine()
    bare, imports, helps, self_us = [], [], [], []
    for _ in range(runs):
        bare.append(_timed(["-c", "pass"])[0])
        seconds, stderr = _timed(["-X", "importtime", "-c", "import shoeagent"])
        imports.append(seconds)
        us = importtime_us(stderr)
        if us is not None:
            self_us.append(us)
        helps.append(_timed(["-m", "shoeagent.cli", "--help"])[0])
    bare_s = statistics.median(bare)
    return {
        "benchmark": "startup",
        "machine": start_machine,
        "runs": runs,
        "python_bare_s": round(bare_s, 4),
        "import_shoeagent_s": round(max(0.0, statistics.median(imports) - bare_s), 4),
        "import_shoeagent_process_s": round(statistics.median(imports), 4),
        "importtime_shoeagent_s": round(statistics.median(self_us) / 1e6, 4) if self_us else None,
        "cli_help_s": round(max(0.0, statistics.median(helps) - bare_s), 4),
        "cli_help_process_s": round(statistics.median(helps), 4),
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--out", type=Path, default=None, help="write the JSON here")
    args = parser.parse_args(argv)
    result = run(args.runs)
    if args.out:
        write_json(args.out, result)
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
