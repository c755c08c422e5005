"""Load, small: benchmarks/load.py run as a script with a few concurrent and sequential asks on the real
embedded model (the full run, 16 concurrent + 200 sequential, is in docs/load.json)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_concurrent_and_sequential_asks_all_answered_with_consistent_checkpoints(tmp_path):
    out = tmp_path / "load.json"
    result = subprocess.run(
        [sys.executable, str(REPO / "benchmarks" / "load.py"), "--concurrent", "4", "--sequential", "3",
         "--max-tokens", "8", "--home", str(tmp_path / "home"), "--timeout", "240", "--out", str(out)],
        capture_output=True, text=True, timeout=290,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    report = json.loads(out.read_text(encoding="utf-8"))
    assert report == json.loads(result.stdout)
    assert report["backend"] == "embedded"
    assert (report["concurrent"]["calls"], report["concurrent"]["answered"]) == (4, 4)
    assert (report["sequential"]["calls"], report["sequential"]["answered"]) == (3, 3)
    assert report["total"] == {"calls": 8, "answered": 8, "errors": 0, "deadlock": False}  # + the warm-up ask
    assert report["checkpoints"] == {"threads_checked": 8, "consistent": 8, "problems": []}
    rss = report["rss_mb"]
    assert 0 < rss["after_warmup"] <= rss["peak"] and rss["growth_per_100_sequential_calls"] is not None
    assert report["concurrent"]["latency_s"]["p50"] > 0 and report["sequential"]["latency_s"]["p95"] > 0


def test_slope_and_percentiles_of_the_benchmark():
    import importlib.util

    spec = importlib.util.spec_from_file_location("load_benchmark", REPO / "benchmarks" / "load.py")
    load = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(load)
    assert load.slope_per_100([100.0 + 0.5 * i for i in range(50)]) == pytest.approx(50.0)
    assert load.slope_per_100([7.0] * 10) == pytest.approx(0.0)
    assert load.slope_per_100([1.0]) is None
    assert load.pct([5, 1, 3, 2, 4], 50) == 3 and load.pct([], 95) is None
    assert load.rss_mb() > 0 and load.peak_rss_mb() >= load.rss_mb() * 0.5
