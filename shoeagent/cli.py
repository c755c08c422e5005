"""The `shoeagent` command line. Each package contributes its own subcommands through `register()`.

Subcommand modules import heavy libraries inside their command functions, so `shoeagent --help`
stays fast.
"""

from __future__ import annotations

import importlib

import typer

app = typer.Typer(
    name="shoeagent",
    help="A bilingual shoe-mold expert agent on small local models.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
eval_app = typer.Typer(help="Measure quality: retrieval, the agent, the fine-tuned model.", no_args_is_help=True)

# Modules that add commands to `app` (and to `eval_app`) through a `register(app, eval_app)` function.
_COMMAND_MODULES = (
    "shoeagent.doctor",
    "shoeagent.knowledge.cli",
    "shoeagent.agent.cli",
    "shoeagent.agent.eval_cli",
    "shoeagent.finetune.cli",
    "shoeagent.finetune.export_cli",
    "shoeagent.tui.cli",
    "shoeagent.bench_cli",
)


def _version_callback(value: bool) -> None:
    if value:
        from shoeagent import __version__

        typer.echo(f"shoeagent {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    # metavar="": a plain flag in the help, not "--version <bool>" (Typer shows every option's type).
    version: bool = typer.Option(
        False, "--version", callback=_version_callback, is_eager=True, metavar="", help="Print the version."
    ),
) -> None:
    """A bilingual (zh-TW/en) shoe-mold expert agent on small local models."""


def _build() -> typer.Typer:
    for name in _COMMAND_MODULES:
        importlib.import_module(name).register(app, eval_app)
    if eval_app.registered_commands:
        app.add_typer(eval_app, name="eval")
    return app


def main() -> None:
    from shoeagent.paths import HomeError

    try:
        _build()()
    except HomeError as exc:  # SHOEAGENT_HOME is a file: one line, whichever command first needed the folder
        typer.echo(f"error: {exc}", err=True)
        raise SystemExit(2) from None


if __name__ == "__main__":
    main()
