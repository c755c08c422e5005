"""`shoeagent chat`: the terminal chat (see shoeagent/cli.py). Textual and the agent load inside the command."""

from __future__ import annotations

import sys
from enum import Enum

import typer


class Backend(str, Enum):
    auto = "auto"
    embedded = "embedded"
    ollama = "ollama"


def chat(
    backend: Backend = typer.Option(Backend.auto, "--backend", "-b", help="auto (Ollama if it serves shoemold, else embedded), embedded or ollama."),
    thread: str | None = typer.Option(None, "--thread", "-t", help="Open this saved chat (its thread id) instead of a new one."),
    light: bool = typer.Option(False, "--light", help="Start in the light theme (Ctrl+T toggles)."),
) -> None:
    """Chat with the shoe-mold expert in the terminal: streamed answers with their route, tools and sources."""
    from shoeagent.threads import check_settings

    try:
        check_settings()
    except ValueError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None
    if not sys.stdin.isatty() or not sys.stdout.isatty():
        typer.echo("error: shoeagent chat needs an interactive terminal; run it in a terminal, not a pipe.", err=True)
        raise typer.Exit(2)
    if thread is not None and not thread.strip():
        typer.echo("error: --thread needs a chat id (the sidebar lists saved chats).", err=True)
        raise typer.Exit(2)

    from shoeagent.finetune.export_cli import ensure_shoemold

    ensure_shoemold(backend.value)  # before the screen opens: its progress bar needs the plain terminal
    from shoeagent.tui.app import DARK_THEME, LIGHT_THEME, ShoeMoldApp

    app = ShoeMoldApp(backend=backend.value, thread_id=thread, theme=LIGHT_THEME if light else DARK_THEME)
    app.run()


def register(app: typer.Typer, eval_app: typer.Typer) -> None:
    """Add `chat` to the CLI."""
    app.command("chat")(chat)
