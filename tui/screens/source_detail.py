"""A modal that shows one cited source in full: the whole knowledge entry when it can be found by id,
otherwise (tool results, user documents, missing entries) the snippet the answer cited."""

from __future__ import annotations

import logging
from typing import Any

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Markdown, Static

from shoeagent.tui.widgets.records import SourceRecord, ToolCallView

log = logging.getLogger(__name__)


_ENTRIES: dict[str, Any] = {}


def _entries_by_id() -> dict[str, Any]:
    """The packaged knowledge entries by id (loaded once); empty while they cannot be loaded."""
    if not _ENTRIES:
        try:
            from shoeagent.knowledge.entries import load_entries

            _ENTRIES.update({entry.id: entry for entry in load_entries()})
        except Exception as error:  # a broken or missing knowledge base must not break the chat
            log.warning("knowledge entries unavailable: %s", error)
    return _ENTRIES


def _pick(texts: Any, lang: str) -> Any:
    """The ``lang`` version of a bilingual field, falling back to the other language."""
    if isinstance(texts, dict):
        return texts.get(lang) or texts.get("en") or texts.get("zh") or next(iter(texts.values()), "")
    return texts


def entry_markdown(source: SourceRecord, lang: str = "en", tool_call: ToolCallView | None = None) -> str:
    """Markdown for the modal: the full entry for knowledge sources, else the cited snippet."""
    entry = _entries_by_id().get(source.id) if source.kind == "kb" else None
    lines = [f"# {_pick(entry.title, lang) if entry else source.title}", ""]
    if entry is not None:
        lines += [f"*{entry.category} · {entry.stage}* — `{entry.id}`", "", str(_pick(entry.body, lang)).strip(), ""]
        facts = _pick(entry.key_facts, lang) or []
        if facts:
            lines += ["## Key facts", "", *[f"- {fact}" for fact in facts], ""]
        if entry.tools:
            lines += ["## Tools", "", ", ".join(f"`{tool}`" for tool in entry.tools), ""]
        if entry.references:
            lines += ["## References", "", *[f"- {ref.title} — {ref.url}" for ref in entry.references], ""]
        return "\n".join(lines)
    details = " · ".join(part for part in (source.kind, source.category, source.stage) if part)
    lines += [f"*{details}* — `{source.id}`", "", source.snippet.strip() or "(no text)", ""]
    if tool_call is not None:
        lines += ["## Call", "", f"`{tool_call.signature()}`", "", "## Result", "", tool_call.outcome(), ""]
    elif source.kind == "kb":
        lines += ["*The full entry is not in the installed knowledge base; this is the cited snippet.*"]
    return "\n".join(lines)


class SourceScreen(ModalScreen[None]):
    """The full text of one source; Esc or q closes it."""

    BINDINGS = [Binding("escape,q", "close", "Close", id="source.close")]

    def __init__(self, source: SourceRecord, number: int, lang: str = "en", tool_call: ToolCallView | None = None) -> None:
        super().__init__(classes="dialog-screen")
        self.source = source
        self.number = number
        self.lang = lang
        self.tool_call = tool_call

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog source-dialog") as dialog:
            dialog.border_title = f"Source [{self.number}]"
            dialog.border_subtitle = "Esc to close"
            with VerticalScroll():
                yield Markdown(entry_markdown(self.source, self.lang, self.tool_call), id="source-body")
            yield Static("", classes="dialog-keys")

    def action_close(self) -> None:
        self.dismiss(None)
