"""`shoeagent ask`: one question to the agent from the command line.

Prints the answer, its numbered sources and a line with route, backend and model (or, with
``--json``, ``Answer.to_dict()`` as one JSON object). The agent and its libraries load inside the
command, so registering it keeps ``shoeagent --help`` fast. User-caused problems (an empty or too
long question, an unknown backend, Ollama missing when asked for) print one line and exit 2.
``shoeagent ask -`` reads the question from standard input (for long or scripted questions).
"""

from __future__ import annotations

import json
from typing import Any

import typer


def _make_agent(backend: str) -> Any:
    """The agent the command asks (a seam for tests)."""
    from shoeagent.agent.api import ShoeAgent

    return ShoeAgent(backend=backend)


MAX_STDIN_BYTES = 4_000_000


def _fail(message: str) -> None:
    from shoeagent.agent.safety import one_line, redact

    typer.echo(f"error: {one_line(redact(message))}", err=True)
    raise typer.Exit(2)


def _read_stdin() -> str:
    """The question piped on standard input (bytes that are not UTF-8 stay detectable for check_question)."""
    import click

    data = click.get_binary_stream("stdin").read(MAX_STDIN_BYTES + 1)
    if len(data) > MAX_STDIN_BYTES:
        _fail(f"the question on standard input is over {MAX_STDIN_BYTES:,} bytes; the limit is 4,000 characters.")
    return data.decode("utf-8", errors="surrogateescape")


def _print_answer(answer: Any) -> None:
    from rich.console import Console
    from rich.markup import escape

    console = Console()
    console.print(escape(answer.text))
    if answer.sources:
        console.print()
        console.print("[bold]Sources[/bold]")
        for n, source in enumerate(answer.sources, start=1):
            console.print(f"  [{n}] {escape(source.title)} [dim]({escape(source.id)})[/dim]", highlight=False)
    flags = [f for f, on in (("refused", answer.refused), ("grounded", answer.grounded), ("repaired", answer.repaired), ("health", answer.health)) if on]
    console.print(
        f"[dim]route: {answer.route} · backend: {answer.backend} · model: {escape(answer.model)} · "
        f"{answer.latency_ms / 1000:.1f} s · {', '.join(flags) or 'ungrounded'}[/dim]",
        highlight=False,
    )
    for note in answer.notes:
        console.print(f"[dim]note: {escape(note)}[/dim]", highlight=False)


def ask(
    question: str = typer.Argument("", help="Your question about mold on shoes (English or Chinese); - reads it from standard input."),
    json_output: bool = typer.Option(False, "--json", help="Print Answer.to_dict() as one JSON object."),
    backend: str = typer.Option("auto", "--backend", help="auto (Ollama's shoemold if running, else embedded), embedded or ollama."),
    thread: str | None = typer.Option(None, "--thread", help="Continue (or start) the conversation with this id."),
) -> None:
    """Ask the shoe-mold agent a question; the answer cites its numbered sources."""
    from shoeagent.agent.safety import check_question, check_thread_id

    if backend not in ("auto", "embedded", "ollama"):
        _fail(f"unknown backend {backend!r}; use auto, embedded or ollama.")
    from shoeagent.threads import check_settings

    try:
        check_settings()  # any malformed setting (SHOEAGENT_*, CHROMA_PORT, SHOEAGENT_HOME) fails here, not inside the answer
    except ValueError as exc:
        _fail(str(exc))
    if question == "-":
        question = _read_stdin()
    try:
        question = check_question(question)
        thread = check_thread_id(thread)
    except ValueError as exc:
        _fail(str(exc))

    from shoeagent.finetune.export_cli import ensure_shoemold

    ensure_shoemold(backend)  # a first question gets the fine-tuned model, not the base one
    from shoeagent.agent.llm import BackendError
    from shoeagent.agent.memory import ChatDatabaseError
    from shoeagent.knowledge.store import StoreUnavailableError
    from shoeagent.paths import MissingFileError

    try:
        agent = _make_agent(backend)
        if json_output:
            answer = agent.ask(question, thread_id=thread)
        else:
            from rich.console import Console

            with Console(stderr=True).status("Thinking…"):
                answer = agent.ask(question, thread_id=thread)
    except (BackendError, ChatDatabaseError, MissingFileError, StoreUnavailableError, ValueError) as exc:
        _fail(str(exc))
    if json_output:
        typer.echo(json.dumps(answer.to_dict(), ensure_ascii=False))
    else:
        _print_answer(answer)
    if answer.error is not None:  # the text only apologises: a script must not take it for an answer
        raise typer.Exit(1)


def register(app: typer.Typer, eval_app: typer.Typer) -> None:
    """Add `shoeagent ask` to the CLI."""
    app.command("ask")(ask)
