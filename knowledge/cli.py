"""`shoeagent kb …` (build, rebuild, search, stats, add) and `shoeagent eval retrieval`.

Imports of Chroma and the store happen inside the commands so `shoeagent --help` stays fast.
User-caused problems (a malformed entry file, a bad path, an empty query, an unreachable server)
print one line to stderr and exit with status 2.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import typer

def _user_errors() -> tuple[type[Exception], ...]:
    from shoeagent.knowledge.entries import KnowledgeFileError
    from shoeagent.knowledge.evaluate import EvalFileError
    from shoeagent.knowledge.store import EmptyQueryError, StoreUnavailableError
    from shoeagent.knowledge.userdocs import UserDocumentError
    from shoeagent.paths import HomeError

    return (KnowledgeFileError, EvalFileError, EmptyQueryError, StoreUnavailableError, UserDocumentError, HomeError)


@contextmanager
def _friendly_errors() -> Iterator[None]:
    try:
        yield
    except _user_errors() as exc:
        _fail(str(exc))


@contextmanager
def _progress(description: str) -> Iterator[Callable[[int, int], None]]:
    """A rich progress bar on stderr, driven by a (done, total) callback."""
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    with Progress(
        TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
        console=Console(stderr=True), transient=True,
    ) as bar:
        task = bar.add_task(description, total=None)

        def update(done: int, total: int) -> None:
            bar.update(task, completed=done, total=total)

        yield update


def _build(force: bool) -> None:
    from shoeagent.knowledge.store import KnowledgeBase

    with _friendly_errors():
        kb = KnowledgeBase()
        with _progress("Embedding knowledge entries") as update:
            report = kb.build(force=force, progress=update)
    if report.skipped:
        typer.echo(f"Knowledge index is up to date: {report.entries} entries ({report.collection}, {kb.location}).")
    else:
        typer.echo(
            f"Indexed {report.entries} entries with {report.questions} example questions "
            f"({report.embedded} documents embedded) in {report.seconds:.1f} s into {report.collection} at {kb.location}."
        )
    if report.removed:
        typer.echo(f"Removed outdated index(es): {', '.join(report.removed)}.")


def build() -> None:
    """Build the knowledge index; a quick no-op when nothing changed."""
    _build(force=False)


def rebuild() -> None:
    """Rebuild the knowledge index from the entry files, re-embedding everything."""
    _build(force=True)


def search(
    query: str = typer.Argument(..., help="The question or keywords to search for."),
    k: int = typer.Option(5, "--k", "-k", min=1, max=50, help="How many results."),
    route: str = typer.Option(None, help="Prefer entries for: diagnosis, prevention, treatment or general."),
    lang: str = typer.Option(None, help="Language of the results: en or zh (default: the query's)."),
    as_json: bool = typer.Option(False, "--json", help="Print the hits as JSON."),
) -> None:
    """Search the knowledge base and your added documents."""
    from shoeagent.agent.safety import clean_text
    from shoeagent.knowledge.store import RELEVANCE_THRESHOLD, KnowledgeBase

    query = clean_text(query)  # control and invisible characters, chat-template tokens

    if route is not None and route not in ("diagnosis", "prevention", "treatment", "general"):
        _fail(f"--route must be diagnosis, prevention, treatment or general, not {route!r}")
    if lang is not None and lang not in ("en", "zh"):
        _fail(f"--lang must be en or zh, not {lang!r}")
    with _friendly_errors():
        hits = KnowledgeBase().search(query, k=k, route=route, lang=lang)
    if as_json:
        from dataclasses import asdict

        payload = {"query": query, "threshold": RELEVANCE_THRESHOLD, "hits": [asdict(h) for h in hits]}
        typer.echo(json.dumps(payload, ensure_ascii=False, indent=2))
        return
    from rich.console import Console
    from rich.padding import Padding
    from rich.text import Text

    # One block per hit with its id on a line of its own: ids are what users copy, and a table column
    # on an 80-column terminal cut them to "clean-suede…". Queries, titles and file names are user
    # text, so they go in as plain Text, never parsed as markup.
    # score: the calibrated relevance the threshold applies to (close to 1 for several hits of a clear
    # question); margin: the ranking log-odds behind the best hit, which orders them.
    console = Console()
    console.print(Text.assemble(("Results for: ", "bold"), query[:80]))
    for i, h in enumerate(hits, start=1):
        mark = "" if h.score >= RELEVANCE_THRESHOLD else " (below threshold)"
        console.print(Text.assemble(f"{i:>2}. ", (h.id, "bold")), overflow="fold")
        details = f"score {h.score:.3f}{mark} · margin {h.margin:+.2f} · stage {h.stage} · source {h.source}"
        for line in (Text(h.title), Text(details, style="dim")):
            console.print(Padding(line, (0, 0, 0, 4), expand=False))
    if not hits or hits[0].score < RELEVANCE_THRESHOLD:
        typer.echo(f"Nothing scores above the relevance threshold {RELEVANCE_THRESHOLD}: the agent would decline.")


def stats(as_json: bool = typer.Option(False, "--json", help="Print as JSON.")) -> None:
    """Entries per category, stage and language; the index's state; your added documents."""
    from shoeagent.knowledge.store import KnowledgeBase

    with _friendly_errors():
        data = KnowledgeBase().stats()
    if as_json:
        typer.echo(json.dumps(data, ensure_ascii=False, indent=2))
        return
    from rich.console import Console
    from rich.markup import escape
    from rich.table import Table

    console = Console()
    index = data["index"]
    console.print(
        f"[bold]{data['entries']}[/] entries, {data['documents']} indexed documents "
        f"({', '.join(f'{k}: {v}' for k, v in data['per_lang'].items())})"
    )
    console.print(f"Index: {index['collection']} ({'complete' if index['complete'] else 'INCOMPLETE'}, "
                  f"built {index['built_at']}) at {escape(index['location'])} ({index['mode']}), embedding {index['embedding']}")
    for title, counts in (("category", data["per_category"]), ("stage", data["per_stage"])):
        table = Table(title=f"Entries per {title}")
        table.add_column(title)
        table.add_column("entries", justify="right")
        for key, value in counts.items():
            table.add_row(key, str(value))
        console.print(table)
    user = data["user_documents"]
    console.print(f"User documents: {user['files']} file(s), {user['chunks']} chunk(s)")
    for source, chunks in user["sources"].items():
        console.print(f"  {escape(source)}: {chunks} chunk(s)", highlight=False)


def add(paths: list[Path] = typer.Argument(..., help="Markdown (.md), text (.txt) or PDF (.pdf, with a text layer) files to add.")) -> None:
    """Add your own Markdown, text or PDF documents to the knowledge base (re-adding a file replaces it)."""
    from shoeagent.knowledge import userdocs
    from shoeagent.knowledge.store import KnowledgeBase

    with _friendly_errors():
        for path in paths:  # a bad path fails here, before any progress bar is drawn on stderr
            userdocs.read_document(userdocs.validate_path(path))
        kb = KnowledgeBase()
        with _progress("Adding documents") as update:
            result = kb.add_documents(list(paths), progress=update)
    replaced = f", replacing {result.replaced} older chunk(s)" if result.replaced else ""
    typer.echo(f"Added {len(result.files)} file(s) as {result.chunks} chunk(s){replaced}.")


def eval_retrieval(
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object instead of tables."),
    threshold: float = typer.Option(None, help="Count hits scoring below this (0-1) as misses; default: the score below which the agent declines to answer."),
    failures: bool = typer.Option(False, "--failures", help="Also list the queries that missed."),
) -> None:
    """Retrieval quality on the labelled queries: hit@1, hit@3, MRR, out-of-domain rejection (and the
    agent's own refusals: its router, then the threshold)."""
    from shoeagent.knowledge.evaluate import evaluate

    with _friendly_errors():
        result = evaluate(threshold=threshold, gate=_agent_gate(threshold), retry=_agent_retry)
    if as_json:
        if not failures:
            result = {**result, "failures": len(result["failures"])}
        typer.echo(json.dumps(result, ensure_ascii=False, indent=2))
        return
    _print_eval(result, failures)


def _agent_gate(threshold: float | None) -> Any:
    """The agent's decision before it answers: refused by the router's rules (None), or the score the
    best hit needs (the relevance threshold, or the agent's lower bar when the rules confirm the
    question is about the domain; see agent.nodes.retrieve)."""
    from shoeagent.agent.context import Context
    from shoeagent.agent.router import classify

    context = Context(relevance_threshold=threshold)

    def gate(query: str) -> float | None:
        decision = classify(query)
        if decision.route == "out_of_scope":
            return None
        return context.score_bar(decision.confirmed)

    return gate


def _agent_retry(query: str, lang: str) -> str | None:
    """The agent's second search for a question its router's rules confirmed (see agent.nodes.retrieve)."""
    from shoeagent.agent.router import classify, with_shoe_said

    return with_shoe_said(query, lang) if classify(query).confirmed else None


def _print_eval(result: dict[str, Any], failures: bool) -> None:
    from rich.console import Console
    from rich.table import Table

    columns = {"n_queries": "n", "n_ood": "ood", "hit_at_1": "hit@1", "hit_at_3": "hit@3", "mrr": "MRR",
               "ood_rejection": "OOD rej", "false_refusal": "false ref", "raw_hit_at_3": "raw hit@3"}
    table = Table(title=f"Retrieval at threshold {result['threshold']} (hits below it count as misses)")
    table.add_column("set")
    for header in columns.values():
        table.add_column(header, justify="right")

    def row(name: str, m: dict[str, Any]) -> None:
        table.add_row(name, *("-" if m[c] is None else f"{m[c]:.3f}" if isinstance(m[c], float) else str(m[c])
                              for c in columns))

    row("all", result)
    for lang, m in result["per_lang"].items():
        row(lang, m)

    def label(split: str, role: str | None) -> str:
        return f"{split} (held out)" if role == "held_out" else split

    for split, m in result["per_split"].items():
        row(label(split, m.get("role")), m)
        for lang, lm in m["per_lang"].items():
            row(f"{split} {lang}", lm)
    for kind, m in result["per_kind"].items():
        row(kind, m)
    console = Console(width=max(100, Console().width))
    console.print(table)
    if result.get("agent_gate"):
        gate = Table(title="As the agent decides (its router's rules, then the threshold)")
        for header in ("set", "OOD rej", "false ref"):
            gate.add_column(header, justify="right" if header != "set" else "left")
        for split, m in result["agent_gate"].items():
            for name, lm in [(label(split, m.get("role")), m), *((f"{split} {lang}", v) for lang, v in m["per_lang"].items())]:
                gate.add_row(name, *("-" if lm[c] is None else f"{lm[c]:.3f}" for c in ("ood_rejection", "false_refusal")))
        console.print(gate)
    for split, m in result["per_split"].items():
        console.print(f"Threshold that {split} alone would choose: {m['best_threshold_on_this_split']}")
    if failures:
        for f in result["failures"]:
            console.print(f"[{f['split']}/{f['lang']}/{f['kind']}] {f['query']!r} want {f['relevant']} got "
                          f"{list(zip(f['top'], f['scores']))}", markup=False)
    else:
        console.print(f"{len(result['failures'])} misses (--failures lists them)")


def _fail(message: str) -> None:
    """One line on stderr (control characters escaped, credentials redacted), exit status 2."""
    from shoeagent.agent.safety import one_line, redact

    typer.echo(f"error: {one_line(redact(message))}", err=True)
    raise typer.Exit(2)


def register(app: typer.Typer, eval_app: typer.Typer) -> None:
    """Add `kb` and `eval retrieval` to the CLI (idempotent: a second call adds nothing)."""
    if any(group.name == "kb" for group in app.registered_groups):
        return
    kb_app = typer.Typer(help="The knowledge base: build the index, search it, add your own documents.",
                         no_args_is_help=True)
    for command in (build, rebuild, search, stats, add):
        kb_app.command(command.__name__)(command)
    app.add_typer(kb_app, name="kb")
    eval_app.command("retrieval")(eval_retrieval)
