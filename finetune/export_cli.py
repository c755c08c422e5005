"""`shoeagent export` (adapter -> GGUF + Modelfile [+ ollama create]) and `shoeagent eval model` (base vs LoRA).

Heavy libraries (torch, transformers, llama.cpp) load inside the commands, so registering them keeps
``shoeagent --help`` fast. User-caused problems print one line on stderr and exit 2.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import typer

QUANT_HELP = "GGUF quantization: q8_0 (default; best for the 135M model), f16, q6_k, q5_k_m, q4_k_m, q4_0, q4_1. Repeat for several; the first is <name>.gguf."


def _fail(message: str) -> None:
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(2)


@contextmanager
def _stage_progress(stages: list[str], enabled: bool = True) -> Iterator[Callable[[str], None]]:
    """A progress bar on stderr advanced once per named stage (stdout stays clean for --json)."""
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

    if not enabled:
        yield lambda stage: None
        return
    progress = Progress(SpinnerColumn(), TextColumn("{task.description:<24}"), BarColumn(), MofNCompleteColumn(),
                        TimeElapsedColumn(), console=Console(stderr=True), transient=False)
    task = progress.add_task("starting", total=len(stages))
    seen: list[str] = []

    def report(stage: str) -> None:
        if seen:
            progress.advance(task)
        seen.append(stage)
        progress.update(task, description=stage)

    with progress:
        yield report
        progress.update(task, completed=len(stages), description="done")


AUTO_BUILD_ENV = "SHOEAGENT_AUTO_BUILD"
"""Set to 0 (or false/no/off) and `shoeagent ask` / `shoeagent chat` answer with the base model instead of
building the missing shoemold GGUF first (the test suite does this; so can scripts that must not wait)."""


def auto_build_enabled() -> bool:
    """Whether `ask` and `chat` may build a missing shoemold GGUF (:data:`AUTO_BUILD_ENV`, default yes);
    ValueError naming the variable when it is malformed."""
    import os

    from shoeagent.agent.context import _parse_bool

    raw = os.environ.get(AUTO_BUILD_ENV, "").strip()
    try:
        return _parse_bool(raw) if raw else True
    except ValueError as exc:
        raise ValueError(f"{AUTO_BUILD_ENV}={raw!r} is not understood: {exc}, or unset it.") from None


def ensure_shoemold(backend: str = "auto") -> None:
    """Build the shoemold GGUF from the packaged adapter when it is missing, before `ask` or `chat` answers.

    A new user's first question would otherwise come from the untuned base model (`make chat` ran
    `shoeagent export --if-missing` first; `pip install` users never did). It takes about a minute, once,
    with a progress bar on stderr. Nothing happens for the Ollama backend, when Ollama serves shoemold
    (auto), when the GGUF exists (stale or not: `shoeagent export --if-missing` checks that) or when
    :data:`AUTO_BUILD_ENV` says no. A failed build is a warning: the base model answers and says so.
    """
    from shoeagent import paths

    try:
        wanted = auto_build_enabled()
    except ValueError as exc:
        _fail(str(exc))
    if not wanted or backend == "ollama" or paths.shoemold_gguf().is_file():
        return
    if backend == "auto":
        from shoeagent.agent.llm import ollama_serves

        if ollama_serves(paths.MODEL_NAME):
            return
    try:
        adapter_dir = paths.packaged_adapter_dir()
    except paths.MissingFileError:
        return
    if not (adapter_dir / "adapter_config.json").is_file():
        return
    typer.echo(
        f"The fine-tuned shoemold model is not built yet: building it once from the packaged adapter into "
        f"{paths.shoemold_gguf().parent} (about a minute; {AUTO_BUILD_ENV}=0 skips this and answers with the base model).",
        err=True,
    )
    try:
        from shoeagent.finetune.export import ExportError, ExportOptions, export_model, export_stages

        options = ExportOptions(adapter_dir=adapter_dir)
        with _quiet_libraries(), _stage_progress(export_stages(options)) as report:
            export_model(options, report)
    except (ExportError, OSError, ImportError, RuntimeError) as exc:
        typer.echo(f"warning: could not build the shoemold model ({exc}); answering with the base model. "
                   "Build it later with `shoeagent export --if-missing`.", err=True)


def _output_problem(output: Path) -> str | None:
    """Why ``--output`` cannot take the export (a file, or a folder that cannot be written), else None.

    Checked before the minutes of merging and converting, by creating the folder and a scratch file
    in it (``os.access`` would say yes to root on a read-only file system), so a bad path fails at once.
    """
    import tempfile

    path = output.expanduser()
    if path.exists() and not path.is_dir():
        return f"--output {path} is a file, not a folder; give a folder for the GGUF, Modelfile and manifest."
    existing = path
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    if not existing.is_dir():
        return f"--output {path}: {existing} is a file, not a folder; give a folder for the GGUF, Modelfile and manifest."
    try:
        path.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=path):
            pass
    except OSError as exc:
        return f"--output {path}: the folder cannot be written ({exc.strerror or exc}); pass a folder you can write to."
    return None


def _human(size: int) -> str:
    return f"{size / 1e6:.1f} MB" if size >= 100_000 else f"{size / 1e3:.1f} kB"


@contextmanager
def _quiet_libraries() -> Iterator[None]:
    """Our progress bar replaces transformers' bars and advisory warnings while a command runs (they would interleave)."""
    import os
    import warnings

    from transformers.utils import logging as hf_logging

    verbosity, bars = hf_logging.get_verbosity(), hf_logging.is_progress_bar_enabled()
    # transformers' GGUF reader draws a plain tqdm bar; tqdm reads its defaults from TQDM_* variables.
    previous_tqdm = os.environ.get("TQDM_DISABLE")
    os.environ["TQDM_DISABLE"] = "1"
    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()
    try:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", category=UserWarning, module=r"peft\..*")
            yield
    finally:
        hf_logging.set_verbosity(verbosity)
        if bars:
            hf_logging.enable_progress_bar()
        if previous_tqdm is None:
            os.environ.pop("TQDM_DISABLE", None)
        else:
            os.environ["TQDM_DISABLE"] = previous_tqdm


def export_command(
    adapter: Path | None = typer.Option(None, "--adapter", help="PEFT adapter folder (default: the adapter shipped with shoeagent)."),
    quant: list[str] | None = typer.Option(None, "--quant", help=QUANT_HELP),
    output: Path | None = typer.Option(None, "--output", help="Folder for the GGUF, Modelfile and manifest (default: $SHOEAGENT_HOME/models, ~/.cache/shoeagent/models when unset)."),
    name: str = typer.Option("shoemold", "--name", help="Model name: <name>.gguf and the Ollama model."),
    if_missing: bool = typer.Option(False, "--if-missing", help="Do nothing when <name>.gguf exists and its manifest matches this adapter."),
    ollama: bool = typer.Option(False, "--ollama", help="Also create the Ollama model <name> (needs a running Ollama server; OLLAMA_HOST)."),
    json_output: bool = typer.Option(False, "--json", help="Print the manifest as one JSON object."),
) -> None:
    """Merge the LoRA adapter into the base model and export it as GGUF (+ Modelfile, manifest)."""
    from shoeagent import paths
    from shoeagent.finetune.gguf_tools import QUANT_FTYPES

    quants = tuple(quant or ("q8_0",))
    unknown = [q for q in quants if q not in QUANT_FTYPES]
    if unknown:
        _fail(f"unknown --quant {unknown[0]!r}; choose from {', '.join(QUANT_FTYPES)}.")
    if len(set(quants)) != len(quants):
        _fail("each --quant may be given once.")
    if not name or "/" in name or name.startswith("."):
        _fail(f"--name {name!r} is not a plain file/model name.")
    if output is not None and (problem := _output_problem(output)):
        _fail(problem)
    try:
        adapter_dir = adapter or paths.packaged_adapter_dir()
    except paths.MissingFileError as exc:
        _fail(str(exc))

    from shoeagent.finetune.export import (
        ExportError,
        ExportOptions,
        create_ollama_model,
        existing_export,
        export_model,
        export_stages,
        up_to_date,
    )

    options = ExportOptions(adapter_dir=Path(adapter_dir), quants=quants, output_dir=output, name=name)
    try:
        if if_missing and up_to_date(options):
            result = existing_export(options)
            typer.echo(f"{result.gguf} is up to date with {adapter_dir}; nothing to do.", err=True)
        else:
            with _quiet_libraries(), _stage_progress(export_stages(options)) as report:
                result = export_model(options, report)
        if ollama:
            chat_format = result.manifest.get("export", {}).get("chat_format", "chatml")
            host = create_ollama_model(result.gguf, chat_format, name)
            typer.echo(f"Ollama model {name!r} created at {host}.", err=True)
    except ExportError as exc:
        _fail(str(exc))
    except OSError as exc:
        _fail(f"could not write the export ({exc}); nothing was replaced. Free some space or pass --output DIR.")
    if json_output:
        typer.echo(json.dumps(result.manifest, ensure_ascii=False))
        return
    if not result.skipped:
        for file_name, info in result.manifest.get("files", {}).items():
            typer.echo(f"{result.output_dir / file_name}  {_human(info['bytes'])}")
        for parity in result.parity:
            typer.echo(f"parity {parity.summary()}")
        typer.echo(f"exported in {result.seconds:.1f} s; run it with `shoeagent chat` (embedded) or "
                   f"`ollama create {name} -f {result.output_dir / 'Modelfile'}`.")


def eval_model_command(
    json_output: bool = typer.Option(False, "--json", help="Print {\"base\": {...}, \"lora\": {...}} as one JSON object."),
    limit: int = typer.Option(0, "--limit", min=0, help="Evaluate at most N rows (0 = the whole split)."),
    output: Path | None = typer.Option(None, "--output", help="Folder for eval_model.json/.md/.png (default: $SHOEAGENT_HOME/cache/eval, ~/.cache/shoeagent/cache/eval when unset)."),
    adapter: Path | None = typer.Option(None, "--adapter", help="PEFT adapter folder (default: the shipped adapter)."),
    data: Path | None = typer.Option(None, "--data", help="Evaluation JSONL (default: the packaged finetune/data/eval.jsonl)."),
) -> None:
    """Base vs LoRA on the evaluation split, scored like the seed's table (0-10, seconds per answer)."""
    from shoeagent import paths
    from shoeagent.threads import check_settings

    try:
        check_settings()
    except ValueError as exc:
        _fail(str(exc))
    from shoeagent.finetune.evaluate import (
        EvalError,
        default_output_dir,
        evaluate_ggufs,
        load_eval_rows,
        markdown_table,
        prepare_models,
        write_reports,
    )
    from shoeagent.finetune.export import ExportError, export_stages
    from shoeagent.finetune.export import ExportOptions as _Options

    try:
        rows = load_eval_rows(data, limit)
        adapter_dir = adapter or paths.packaged_adapter_dir()
        stages = export_stages(_Options(adapter_dir=adapter_dir)) + export_stages(_Options())
        with _quiet_libraries(), _stage_progress(stages) as report:
            base, lora = prepare_models(adapter_dir, report)
        with _stage_progress([f"answer {i}" for i in range(2 * len(rows))]) as report:
            counter = iter(range(1, 2 * len(rows) + 1))
            result = evaluate_ggufs(base, lora, rows, on_answer=lambda: report(f"answer {next(counter)}/{2 * len(rows)}"))
        files = write_reports(result, output or default_output_dir())
    except (EvalError, ExportError, paths.MissingFileError) as exc:
        _fail(str(exc))
    if json_output:
        typer.echo(json.dumps(result.summary(), ensure_ascii=False))
        return
    typer.echo(markdown_table(result))
    typer.echo("written: " + ", ".join(str(p) for p in files.values()))


def register(app: typer.Typer, eval_app: typer.Typer) -> None:
    """Add `export` to the CLI and `model` to `shoeagent eval`."""
    app.command("export")(export_command)
    eval_app.command("model")(eval_model_command)
