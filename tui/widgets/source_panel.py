"""The side panel listing the sources cited by the selected answer; choosing one asks to open it."""

from __future__ import annotations

from textual import on
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.content import Content
from textual.message import Message
from textual.widgets import OptionList, Static
from textual.widgets.option_list import Option

from shoeagent.tui.widgets.records import SourceRecord

KIND_LABELS = {"kb": "knowledge", "tool": "tool", "user": "your docs"}
SNIPPET_CHARS = 120


def _shorten(text: str, limit: int) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def source_prompt(number: int, source: SourceRecord, gap: bool = False) -> Content:
    """How one source reads in the list: number and title, then kind/category, then a snippet."""
    details = " · ".join(part for part in (KIND_LABELS.get(source.kind, source.kind), source.category, source.stage) if part)
    return Content.assemble(
        (f"[{number}] ", "bold $accent"),
        (source.title, "bold"),
        "\n",
        (details, "italic $text-muted"),
        "\n",
        (_shorten(source.snippet, SNIPPET_CHARS), "$text-muted"),
        "\n" if gap else "",
    )


class SourcePanel(Vertical):
    """Cited knowledge entries, tool results and user documents of one answer."""

    class Chosen(Message):
        """The user picked a source to read in full."""

        def __init__(self, source: SourceRecord, number: int) -> None:
            super().__init__()
            self.source = source
            self.number = number

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.sources: list[SourceRecord] = []
        self.border_title = "Sources"

    def compose(self) -> ComposeResult:
        yield Static(Content("Ask a question: the sources of the answer appear here."), classes="panel-hint")
        yield OptionList(classes="source-list")

    def show(self, sources: list[SourceRecord], caption: str = "") -> None:
        """List ``sources``; ``caption`` says which answer they belong to."""
        self.sources = list(sources)
        options = self.query_one(OptionList)
        options.clear_options()
        options.add_options(
            [
                # A blank line after each source but the last keeps them apart.
                Option(source_prompt(number, source, gap=number < len(sources)), id=f"source-{number}")
                for number, source in enumerate(sources, start=1)
            ]
        )
        hint = self.query_one(".panel-hint", Static)
        if sources:
            hint.update(Content(f"{caption}\nEnter opens the full source." if caption else "Enter opens the full source."))
            options.highlighted = 0
        else:
            hint.update(Content(f"{caption}\n\nNo sources cited for this answer." if caption else "No sources cited."))
        self.border_subtitle = str(len(sources)) if sources else ""

    @on(OptionList.OptionSelected)
    def _chosen(self, event: OptionList.OptionSelected) -> None:
        event.stop()
        number = int((event.option.id or "source-0").removeprefix("source-"))
        if 1 <= number <= len(self.sources):
            self.post_message(self.Chosen(self.sources[number - 1], number))
