"""The chat transcript's widgets: a user turn, an assistant answer (streamed Markdown plus route,
tools and sources) and a notice for errors.

An :class:`AnswerMessage` is created empty when a question is sent and filled by the agent's events
(route, sources, tool, token, repair, answer); reloaded answers are built complete from a record.
"""

from __future__ import annotations

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.content import Content
from textual.message import Message
from textual.widgets import Collapsible, Markdown, Static
from textual.widgets.markdown import MarkdownStream

from shoeagent.tui.widgets.records import AnswerRecord, SourceRecord, ToolCallView

ROUTE_LABELS = {
    "diagnosis": "diagnosis",
    "prevention": "prevention",
    "treatment": "treatment",
    "general": "general",
    "out_of_scope": "out of scope",
}
# Each route gets a theme colour, so the chip reads the same in every theme, light or dark.
ROUTE_STYLES = {
    "diagnosis": "bold $text on $warning 45%",
    "prevention": "bold $text on $success 45%",
    "treatment": "bold $text on $accent 45%",
    "general": "bold $text on $primary 45%",
    "out_of_scope": "bold $text on $error 35%",
}


def _normalise(text: str) -> str:
    """Whitespace-insensitive form, so a trailing newline is not mistaken for a revision."""
    return " ".join(text.split())


class UserMessage(Static):
    """A question the user asked."""

    def __init__(self, text: str) -> None:
        super().__init__(Content(text), classes="user-message", markup=False)
        self.text = text
        self.border_title = "You"


class Notice(Static):
    """A line in the transcript that is not a turn: errors, cancellations, hints."""

    def __init__(self, text: str, *, error: bool = False) -> None:
        super().__init__(Content(text), classes="notice -error" if error else "notice", markup=False)
        self.text = text


class AnswerMessage(Vertical, can_focus=True):
    """One assistant answer: route, streamed Markdown, the tools it called and the sources it cites."""

    BINDINGS = [
        Binding("plus,equals_sign", "rate(1)", "👍 good", key_display="+", id="answer.rate_up"),
        Binding("minus", "rate(-1)", "👎 bad", key_display="-", id="answer.rate_down"),
        Binding("up,k", "app.focus_previous", "Previous", show=False),
        Binding("down,j", "app.focus_next", "Next", show=False),
    ]

    class Rated(Message):
        """The user pressed 👍 (+1) or 👎 (-1) on this answer."""

        def __init__(self, answer: AnswerMessage, rating: int) -> None:
            super().__init__()
            self.answer = answer
            self.rating = rating

    class Selected(Message):
        """This answer became the one whose sources the side panel shows."""

        def __init__(self, answer: AnswerMessage) -> None:
            super().__init__()
            self.answer = answer

    def __init__(self, question: str, record: AnswerRecord | None = None) -> None:
        super().__init__(classes="answer")
        self.question = question
        self.record = record or AnswerRecord(text="")
        self.streamed: list[str] = []
        self.state = "done" if record else "thinking"
        self.route_known = record is not None
        self.sources_known = record is not None
        self.revised = False
        self.rating: int | None = None
        self._stream: MarkdownStream | None = None
        self._built = False  # children exist (is_mounted only turns true after on_mount)
        self.border_title = "ShoeMold"

    def compose(self) -> ComposeResult:
        yield Static(self._meta(), classes="answer-meta")
        yield Markdown(self.record.text or "", classes="answer-body")
        yield Collapsible(Static(classes="tool-calls"), title=self._tools_title(), collapsed=True, classes="answer-tools")
        yield Static(self._sources_line(), classes="answer-sources")

    def on_mount(self) -> None:
        self._built = True
        self._refresh_tools()
        self._refresh_chrome()

    @property
    def text(self) -> str:
        """What the answer says now: the final text once known, else the tokens so far."""
        return self.record.text if self.state == "done" else "".join(self.streamed)

    @property
    def sources(self) -> list[SourceRecord]:
        return self.record.sources

    # --- live events -------------------------------------------------------------------------

    def set_state(self, state: str) -> None:
        """loading (model) → thinking → streaming (→ revising) → done | cancelling → cancelled | failed."""
        self.state = state
        self._refresh_chrome()

    def set_route(self, route: str, health: bool = False) -> None:
        self.record.route = route
        self.record.health = health
        self.route_known = True
        self._refresh_chrome()

    def set_sources(self, sources: list[SourceRecord]) -> None:
        self.record.sources = sources
        self.sources_known = True
        self._refresh_chrome()

    def add_tool_call(self, call: ToolCallView) -> None:
        self.record.tool_calls.append(call)
        self._refresh_tools()
        self._refresh_chrome()

    async def add_token(self, text: str) -> None:
        if self.state in ("loading", "thinking", "revising"):  # never undo "cancelling"
            self.set_state("streaming")
        self.streamed.append(text)
        if self._stream is None:
            self._stream = Markdown.get_stream(self.query_one(".answer-body", Markdown))
        await self._stream.write(text)

    async def stop_stream(self) -> None:
        """Flush what was streamed (after cancel, error or the final answer)."""
        if self._stream is not None:
            await self._stream.stop()
            self._stream = None

    async def finish(self, record: AnswerRecord) -> None:
        """Apply the final answer; if verify changed the text, show the final text and say so."""
        await self.stop_stream()
        streamed = "".join(self.streamed)
        self.revised = bool(streamed) and _normalise(streamed) != _normalise(record.text)
        if self.revised or not streamed:
            await self.query_one(".answer-body", Markdown).update(record.text)
        self.record = record
        self.state = "done"
        self.route_known = True
        self.sources_known = True
        self._refresh_tools()
        self._refresh_chrome()

    def set_rating(self, rating: int) -> None:
        self.rating = rating
        self._refresh_chrome()

    # --- rendering ---------------------------------------------------------------------------

    def _tools_title(self) -> str:
        count = len(self.record.tool_calls)
        return f"Tools ({count})" if count else "Tools"

    def _refresh_tools(self) -> None:
        if not self._built:
            return
        tools = self.query_one(".answer-tools", Collapsible)
        tools.title = self._tools_title()
        tools.display = bool(self.record.tool_calls)
        calls = [self._tool_content(call) for call in self.record.tool_calls]
        tools.query_one(".tool-calls", Static).update(Content("\n").join(calls))

    @staticmethod
    def _tool_content(call: ToolCallView) -> Content:
        style = "$error" if call.error else "$success"
        return Content.assemble(("⚙ ", "$accent"), (call.signature(), "bold"), "\n  → ", (call.outcome(), style))

    def _meta(self) -> Content:
        record = self.record
        parts: list[Content | tuple[str, str] | str] = []
        label = ROUTE_LABELS.get(record.route, record.route)
        route_style = ROUTE_STYLES.get(record.route, "bold reverse")
        if not self.route_known:
            waiting = {"loading": "◌ waiting for the model to load…", "thinking": "◌ thinking…"}
            parts.append((waiting.get(self.state, ""), "italic $text-muted"))
        else:
            parts.append((f" {label} ", route_style))
            if record.health:
                parts.append(("  ⚕ health", "$warning"))
            if record.tool_calls:
                parts.append((f"  ⚙ {len(record.tool_calls)} tool{'s' if len(record.tool_calls) != 1 else ''}", "$text-muted"))
            if self.sources_known:
                parts.append((f"  ❖ {len(record.sources)} source{'s' if len(record.sources) != 1 else ''}", "$text-muted"))
        flags = {
            "thinking": ("  ◌ retrieving and thinking…", "italic $text-muted"),
            "streaming": ("  ▌ streaming", "$accent"),
            "revising": ("  ✎ verify is revising…", "$warning"),
            "cancelling": ("  … cancelling", "$warning"),
            "cancelled": ("  ✖ cancelled", "bold $warning"),
            "failed": ("  ✖ failed", "bold $error"),
        }
        if self.state in flags and (self.route_known or self.state != "thinking"):
            parts.append(flags[self.state])
        if self.revised:
            parts.append(("  ✎ revised by verify", "bold $warning"))
        if record.refused and self.state == "done":
            parts.append(("  ⊘ declined", "$text-muted"))
        if self.rating is not None:
            parts.append(("  👍 rated" if self.rating > 0 else "  👎 rated", "$text-muted"))
        return Content.assemble(*parts)

    def _sources_line(self) -> Content:
        if not self.record.sources:
            return Content("")
        parts: list[tuple[str, str] | str] = [("Sources ", "bold $text-muted")]
        for number, source in enumerate(self.record.sources, start=1):
            if number > 1:
                parts.append(("  ", ""))
            parts.append((f"[{number}]", "bold $accent"))
            parts.append((f" {source.title}", "$text-muted"))
        return Content.assemble(*parts)

    def _refresh_chrome(self) -> None:
        if not self._built:
            return
        self.query_one(".answer-meta", Static).update(self._meta())
        sources = self.query_one(".answer-sources", Static)
        sources.update(self._sources_line())
        sources.display = bool(self.record.sources)
        self.set_class(self.state == "failed", "-failed")
        self.set_class(self.state == "cancelled", "-cancelled")

    # --- interaction -------------------------------------------------------------------------

    def action_rate(self, rating: int) -> None:
        self.post_message(self.Rated(self, rating))

    @on(Markdown.LinkClicked)
    def _ignore_links(self, event: Markdown.LinkClicked) -> None:
        # Answers never carry links the user should follow from the terminal.
        event.prevent_default()

    def on_focus(self) -> None:
        self.post_message(self.Selected(self))

    def on_click(self) -> None:
        self.focus()
