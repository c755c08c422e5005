"""`shoeagent bench`: run the benchmarks and write the report (``benchmarks/run_all.py``).

The benchmark scripts live in the source checkout's ``benchmarks/`` folder (they are not part of the
installed package), so the command finds them next to the ``shoeagent`` package and runs them in a
child process; nothing heavy is imported when the CLI registers it.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
import typer

NAMES = ("startup", "retrieval", "scale", "agent", "conversation", "ablation", "training", "export", "tui")


def _fail(message: str) -> None:
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(2)


def benchmarks_dir() -> Path:
    """``benchmarks/`` of the source checkout this package runs from."""
    return Path(__file__).resolve().parent.parent / "benchmarks"


def bench_command(
    quick: bool = typer.Option(False, "--quick", help="Smoke run: a few items per benchmark, written to runs/bench-quick/."),
    only: str | None = typer.Option(None, "--only", help="Comma-separated benchmarks: " + ", ".join(NAMES) + "."),
    limit: int | None = typer.Option(None, "--limit", help="Ablation rows per language and agent questions (default 30: about 40 min on a quiet 2-core machine)."),
    out: Path | None = typer.Option(None, "--out", help="Folder for the JSON and charts (default docs/bench)."),
    report: Path | None = typer.Option(None, "--report", help="Markdown report (default docs/benchmarks.md)."),
) -> None:
    """Measure quality and speed on this machine: JSON, PNG charts and docs/benchmarks.md (as `make bench`)."""
    script = benchmarks_dir() / "run_all.py"
    if not script.is_file():
        _fail(f"the benchmarks are not installed with the package (no {script}); "
              "run `shoeagent bench` from a source checkout, where benchmarks/ sits next to shoeagent/.")
    from shoeagent.threads import check_settings

    try:
        check_settings()
    except ValueError as exc:
        _fail(str(exc))
    names = [n.strip() for n in (only or "").split(",") if n.strip()]
    unknown = [n for n in names if n not in NAMES]
    if unknown:
        _fail(f"unknown benchmark(s) {', '.join(unknown)}; choose from {', '.join(NAMES)}.")
    if limit is not None and limit < 1:
        _fail("--limit must be at least 1.")
    if not quick and (not names or "ablation" in names):
        from shoeagent import paths

        if not paths.shoemold_gguf().is_file():
            _fail(f"no shoemold GGUF at {paths.shoemold_gguf()}; the ablation compares it with the base model. "
                  "Build it with `shoeagent export --if-missing` (or `make models`), or use --quick.")
    args = [sys.executable, str(script)]
    if quick:
        args.append("--quick")
    if names:
        args += ["--only", ",".join(names)]
    if limit is not None:
        args += ["--limit", str(limit)]
    if out is not None:
        args += ["--out", str(out.expanduser().resolve())]
    if report is not None:
        args += ["--report", str(report.expanduser().resolve())]
    code = subprocess.run(args, cwd=script.parent.parent).returncode
    if code:
        raise typer.Exit(code)


def register(app: typer.Typer, eval_app: typer.Typer) -> None:
    """Add `bench` to the CLI."""
    app.command("bench")(bench_command)
