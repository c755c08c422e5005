"""`shoeagent train` and `shoeagent build-dataset`: fine-tune the LoRA adapter, rebuild its dataset.

Heavy libraries (torch, transformers, TRL) load inside the commands so ``shoeagent --help`` stays
fast. User-caused problems (a bad setting, a malformed dataset line, a missing file) print one line
and exit 2; a malformed dataset lists its bad line numbers and nothing trains.
"""

from __future__ import annotations

import json
from pathlib import Path

import typer


def _fail(message: str) -> None:
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(2)


def _user_errors() -> tuple[type[Exception], ...]:
    from shoeagent.finetune.config import ConfigError
    from shoeagent.finetune.datafile import DatasetError
    from shoeagent.finetune.train import TrainingError
    from shoeagent.knowledge.entries import KnowledgeFileError
    from shoeagent.paths import MissingFileError

    return ConfigError, DatasetError, TrainingError, MissingFileError, KnowledgeFileError


def _validate(config, dataset: Path | None, include_feedback: bool, samples: int) -> None:  # noqa: ANN001
    """Print rendered samples, token-length percentiles and the truncation count."""
    from rich.console import Console
    from rich.markup import escape
    from rich.panel import Panel
    from rich.table import Table

    from shoeagent.finetune.base import load_tokenizer
    from shoeagent.finetune.datafile import length_report, render, token_lengths
    from shoeagent.finetune.train import load_splits

    console = Console()
    splits = load_splits(config, dataset, include_feedback)
    with console.status("Loading the tokenizer…"):
        tokenizer = load_tokenizer(config.model)
    console.print(f"[bold]{len(splits.train)}[/bold] training and [bold]{len(splits.eval)}[/bold] evaluation examples "
                  f"from {', '.join(str(p) for p in splits.files)} (feedback rows: {splits.feedback_rows})")
    step = max(1, len(splits.train) // max(1, samples))
    for example in splits.train[::step][:samples]:
        console.print(Panel(escape(render(example, tokenizer)), title=f"{example.kind or 'example'} · {example.lang or '?'}"))
    table = Table(title=f"Token lengths (max_seq_length = {config.model.max_seq_length})")
    for column in ("split", "examples", "p50", "p90", "p99", "max", "truncated"):
        table.add_column(column, justify="right")
    for name, examples in (("train", splits.train), ("eval", splits.eval)):
        if not examples:
            continue
        stats = length_report(token_lengths(examples, tokenizer), config.model.max_seq_length)
        table.add_row(name, *(str(stats[k]) for k in ("examples", "p50", "p90", "p99", "max", "truncated")))
    console.print(table)


def train_command(
    preset: str = typer.Option("embedded", "--preset", help="Preset name (embedded, llama-3.2-3b, taide-8b) or a .toml path."),
    config_file: Path | None = typer.Option(None, "--config", help="TOML in the preset layout, or a seed-style config.ini."),
    overrides: list[str] = typer.Option([], "--set", help="Override one setting: --set training.learning_rate=2e-4 (repeatable)."),
    dataset: Path | None = typer.Option(None, "--dataset", help="Training JSONL (instruction/input/output or messages rows)."),
    resume: bool = typer.Option(False, "--resume", help="Continue from the last checkpoint (of --output, else the newest run)."),
    validate: bool = typer.Option(False, "--validate", help="Check the dataset and show samples and token lengths; train nothing."),
    output: Path | None = typer.Option(None, "--output", help="Run directory (default: a new folder under the runs directory)."),
    adapter_dir: Path | None = typer.Option(None, "--adapter-dir", help="Where the finished adapter goes (default: <run>/adapter)."),
    include_feedback: bool = typer.Option(False, "--include-feedback", help="Add the chat's rated-up answers and corrections."),
    samples: int = typer.Option(3, "--samples", help="Rendered samples --validate shows."),
    json_output: bool = typer.Option(False, "--json", help="Print the training report as JSON."),
) -> None:
    """Fine-tune the LoRA adapter (Unsloth on a CUDA GPU, PEFT on the CPU) with TRL's SFTTrainer."""
    from shoeagent.finetune.config import load_config

    errors = _user_errors()
    try:
        config = load_config(preset, config_file, overrides)
        if include_feedback:
            config.dataset.include_feedback = True
        if validate:
            _validate(config, dataset, include_feedback, samples)
            return
        from shoeagent.finetune.train import load_splits, train

        # Check the data before the (slow) model load, so a broken file fails at once.
        load_splits(config, dataset, include_feedback)
        result = train(config, dataset=dataset, output=output, resume=resume, include_feedback=include_feedback,
                       adapter_dir=adapter_dir)
    except errors as exc:
        _fail(str(exc))
    report = {k: v for k, v in result.report.items() if k not in ("log_history", "config")}
    if json_output:
        typer.echo(json.dumps(report, ensure_ascii=False, default=float))
        return
    typer.echo(f"adapter: {result.adapter_dir}")
    typer.echo(
        f"steps {report['steps']} · train loss {report['train_loss_final']} · eval loss {report['eval_loss_final']} · "
        f"{report['wall_time_s']} s · {report['tokens_per_s']} tokens/s"
    )
    typer.echo(f"run directory (checkpoints, train.log): {result.run_dir}")


def build_dataset_command(
    out_dir: Path | None = typer.Option(None, "--out-dir", help="Where train.jsonl and eval.jsonl go (default: the packaged data folder)."),
    seed: int = typer.Option(8888, "--seed", help="Seed of the paraphrase and distractor choices."),
    entries_dir: Path | None = typer.Option(None, "--entries", help="Knowledge entries folder (default: the packaged one)."),
) -> None:
    """Regenerate the fine-tuning dataset from the knowledge entries (deterministic for a seed)."""
    from shoeagent.finetune.dataset import DATA_DIR, build_dataset

    try:
        result = build_dataset(out_dir or DATA_DIR, seed=seed, entries_dir=entries_dir)
    except _user_errors() as exc:
        _fail(str(exc))
    typer.echo(json.dumps(result, ensure_ascii=False, indent=2))


def register(app: typer.Typer, eval_app: typer.Typer) -> None:
    """Add `shoeagent train` and `shoeagent build-dataset` to the CLI."""
    app.command("train")(train_command)
    app.command("build-dataset")(build_dataset_command)
