"""`shoeagent eval agent`: run the agent over its public question set and report the metrics.

Registered by shoeagent/cli.py through :func:`register`. Heavy imports (the agent, rich) happen
inside the command so `shoeagent --help` stays fast.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated

import typer

_METRICS = (
    ("route_accuracy", "Route accuracy", "≥ 0.90"),
    ("key_fact_accuracy_en", "Key-fact accuracy (en)", "≥ 0.90"),
    ("key_fact_accuracy_zh", "Key-fact accuracy (zh)", "≥ 0.90"),
    ("refusal_accuracy", "Out-of-scope refused", "1.00"),
    ("false_refusal_rate", "False refusals (in-domain)", "≤ 0.05"),
    ("citation_rate", "In-domain answers citing a source", "1.00"),
    ("health_advice_rate", "Health answers advising a doctor", ""),
    ("grounded_rate", "Grounded (verify passed)", ""),
)


def _fail(message: str) -> typer.Exit:
    typer.echo(f"error: {message}", err=True)
    return typer.Exit(code=2)


def _print_report(report: dict) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console()
    table = Table(title=f"Agent evaluation: {report['n']} questions ({report['n_en']} en, {report['n_zh']} zh)")
    table.add_column("Metric")
    table.add_column("Value", justify="right")
    table.add_column("Goal", justify="right")
    table.add_column("", justify="center")
    for key, label, goal in _METRICS:
        value = report.get(key)
        met = report["goals"].get(key)
        mark = "" if met is None else ("[green]ok[/green]" if met else "[red]miss[/red]")
        table.add_row(label, "n/a" if value is None else f"{value:.2f}", goal, mark)
    latency = report["latency_ms"]
    table.add_row("Latency p50 / p95", f"{latency['p50'] / 1000:.1f} s / {latency['p95'] / 1000:.1f} s", "", "")
    table.add_row("Backend / model", f"{report['backend']} / {report['model']}", "", "")
    if report["errors"]:
        table.add_row("Errors", str(report["errors"]), "0", "[red]miss[/red]")
    console.print(table)
    if report["failures"]:
        failures = Table(title="Questions with problems")
        failures.add_column("id")
        failures.add_column("Problems")
        for item in report["failures"]:
            failures.add_row(item["id"], "; ".join(item["problems"]))
        console.print(failures)


def agent_command(
    json_output: Annotated[bool, typer.Option("--json", help="Print one JSON object instead of tables.")] = False,
    backend: Annotated[str, typer.Option(help="auto, embedded or ollama.")] = "auto",
    model: Annotated[str | None, typer.Option(help="Model name or GGUF path (default: the backend's default).")] = None,
    limit: Annotated[int | None, typer.Option(min=1, help="Only the first N questions.")] = None,
    lang: Annotated[str | None, typer.Option(help="Only questions in this language: en or zh.")] = None,
    questions: Annotated[Path | None, typer.Option(help="Another JSONL question file.")] = None,
    out: Annotated[Path | None, typer.Option(help="Also write the JSON report to this file.")] = None,
) -> None:
    """Ask the agent every evaluation question and report route, key-fact, refusal and citation metrics."""
    from shoeagent.agent.evaluate import evaluate, load_questions

    if backend not in ("auto", "embedded", "ollama"):
        raise _fail(f"unknown backend {backend!r}; use auto, embedded or ollama")
    if lang not in (None, "en", "zh"):
        raise _fail(f"unknown language {lang!r}; use en or zh")
    if questions is not None and not questions.is_file():
        raise _fail(f"question file {questions} does not exist")
    from shoeagent.threads import check_settings

    try:
        check_settings()
    except ValueError as exc:
        raise _fail(str(exc)) from None
    try:
        items = load_questions(questions)
    except ValueError as exc:
        raise _fail(f"bad question file: {exc}") from None
    if lang is not None:
        items = [q for q in items if q.lang == lang]
    if limit is not None:
        items = items[:limit]
    if not items:
        raise _fail("no questions to ask (check --lang and --limit)")

    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from shoeagent.agent.api import ShoeAgent

    try:
        agent = ShoeAgent(backend=backend, model=model)
    except (FileNotFoundError, ConnectionError, ValueError, RuntimeError) as exc:
        raise _fail(f"cannot start the agent: {exc}") from None

    console = _stderr_console()
    for note in getattr(agent, "backend_notes", None) or []:
        # An evaluation of the base model by mistake looks like a regression: say so before the long run.
        typer.echo(f"warning: {note}", err=True)
    if console.is_terminal:
        columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
        with Progress(*columns, transient=True, console=console) as bar:
            task = bar.add_task("Asking the agent", total=len(items))
            report = evaluate(agent, items, progress=lambda done, total, q: bar.update(task, completed=done))
    else:
        # Logs and pipes get one line per question instead of a bar that only a terminal can redraw.
        def log(done: int, total: int, question) -> None:
            typer.echo(f"[{done}/{total}] {question.id}", err=True)

        report = evaluate(agent, items, progress=log)

    if out is not None:
        out.write_text(json.dumps(report, ensure_ascii=False, indent=2), encoding="utf-8")
    if json_output:
        sys.stdout.write(json.dumps(report, ensure_ascii=False) + "\n")
    else:
        _print_report(report)


def _stderr_console():
    from rich.console import Console

    return Console(stderr=True)


def register(app: typer.Typer, eval_app: typer.Typer) -> None:
    """Add `shoeagent eval agent`."""
    eval_app.command("agent")(agent_command)
