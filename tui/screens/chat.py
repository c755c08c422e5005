"""The main screen: chat list, transcript with streamed answers, prompt, source panel and status bar.

It owns the conversation logic. The agent is built and warmed up in a background thread so the first
paint never waits for the model; each question runs ``agent.stream()`` in a thread worker whose
events are handed to the UI thread with ``call_from_thread``. Esc sets the ``cancel`` event the agent
watches and the worker stops consuming. While the user types, each pause has the agent read the prompt
of the text so far ahead (``agent.read_ahead``, see :mod:`shoeagent.agent.read_ahead`); sending the
question stops it.
"""

from __future__ import annotations

import asyncio
import threading
import time
import uuid
from functools import partial
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import Screen
from textual.timer import Timer
from textual.widgets import Footer, Header, Input, Markdown

from shoeagent.tui.screens.files import Feedback, append_feedback, default_export_name, resolve_export_path, write_atomic
from shoeagent.tui.screens.prompt import Confirm, TextPrompt
from shoeagent.tui.screens.source_detail import SourceScreen
from shoeagent.tui.widgets.chat_list import ChatList
from shoeagent.tui.widgets.messages import AnswerMessage, Notice, UserMessage
from shoeagent.tui.widgets.records import AnswerRecord, SourceRecord, ToolCallView
from shoeagent.tui.widgets.source_panel import SourcePanel
from shoeagent.tui.widgets.status_bar import StatusBar

if TYPE_CHECKING:
    from shoeagent.tui.app import ShoeMoldApp

WELCOME = """\
## Ask about mold on shoes

Diagnosis, prevention and treatment — in English or 繁體中文. Every answer shows its **route**,
the **tools** it ran and the **sources** it cites (right panel; Enter opens one).

- *White fuzzy spots on my leather boots after rain — is it mold?*
- *It's 28 °C and 85 % humidity: how risky is storing sneakers in the closet?*
- *皮鞋發霉了要怎麼清潔？*
"""


# How often streamed tokens are drawn. The worker never waits for the UI per token (that would
# throttle the model to the UI's pace); it appends to a buffer the UI drains at this rate.
FLUSH_INTERVAL_S = 1 / 15

# When typing pauses this long, the agent reads the prompt the text so far would get (``read_ahead``):
# the question's answer then starts after reading only what changed since, instead of the whole prompt.
READ_AHEAD_PAUSE_S = 0.35
READ_AHEAD_MIN_CHARS = 4


@dataclass
class Generation:
    """The answer being generated: its widget, the thread it belongs to, the cancel flag and the
    tokens received but not yet drawn."""

    answer: AnswerMessage
    thread_id: str
    cancel: threading.Event
    pending: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    tokens: int = 0
    first_token_at: float = 0.0
    last_token_at: float = 0.0

    def push(self, text: str) -> None:
        now = time.perf_counter()
        with self.lock:
            self.pending.append(text)
        if not self.tokens:
            self.first_token_at = now
        self.tokens += 1
        self.last_token_at = now

    def tokens_per_second(self) -> float | None:
        """Streaming speed measured here (first to last token), or None if too few tokens."""
        window = self.last_token_at - self.first_token_at
        return (self.tokens - 1) / window if self.tokens > 1 and window > 0 else None

    def take(self) -> str:
        with self.lock:
            text = "".join(self.pending)
            self.pending.clear()
        return text


class ChatScreen(Screen[None]):
    """Everything the user sees in ``shoeagent chat``."""

    app: ShoeMoldApp

    AUTO_FOCUS = "#prompt"
    # Narrow terminals drop the chat list (Ctrl+L or Ctrl+B brings it back); wide ones get more room for sources.
    HORIZONTAL_BREAKPOINTS = [(0, "-narrow"), (100, "-normal"), (150, "-wide")]
    BINDINGS = [
        Binding("escape", "cancel", "Cancel answer", id="chat.cancel"),
        Binding("ctrl+n", "new_chat", "New chat", id="chat.new"),
        Binding("ctrl+r", "rename_chat", "Rename", id="chat.rename"),
        Binding("ctrl+s", "export_chat", "Export", id="chat.export"),
        Binding("ctrl+l", "focus_chats", "Chats", id="chat.focus_chats"),
        Binding("ctrl+o", "focus_sources", "Sources", id="chat.focus_sources"),
        Binding("ctrl+b", "toggle_sidebar", "Sidebar", show=False, id="chat.toggle_sidebar"),
        Binding("up", "focus_last_answer", "Answers", show=False, id="chat.focus_answers"),
        Binding("i", "focus_prompt", "Type", show=False, id="chat.focus_prompt"),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.store: Any = None
        self.agent: Any = None
        self.agent_error: str | None = None
        self.agent_ready = threading.Event()
        self.thread_id: str | None = None
        self.generation: Generation | None = None
        self.selected: AnswerMessage | None = None
        self._flush_timer: Timer | None = None
        self._read_ahead_timer: Timer | None = None
        self._read_ahead_cancel = threading.Event()

    # --- layout ------------------------------------------------------------------------------

    def compose(self) -> ComposeResult:
        yield Header(icon="❖")
        with Horizontal(id="body"):
            with Vertical(id="sidebar") as sidebar:
                sidebar.border_title = "Chats"
                yield ChatList(id="chats")
            with Vertical(id="main"):
                with VerticalScroll(id="transcript"):
                    yield Markdown(WELCOME, id="welcome")
                yield Input(placeholder="Ask about shoe mold…   ↑ answers · ^p commands", id="prompt")
            yield SourcePanel(id="sources")
        yield StatusBar(id="status")
        yield Footer()

    @property
    def transcript(self) -> VerticalScroll:
        return self.query_one("#transcript", VerticalScroll)

    @property
    def status(self) -> StatusBar:
        return self.query_one(StatusBar)

    @property
    def source_panel(self) -> SourcePanel:
        return self.query_one(SourcePanel)

    async def on_mount(self) -> None:
        self.sub_title = "New chat"
        self.transcript.anchor()
        self.status.set(backend=self.app.backend_label, state="loading")
        # Start loading only after the first frame: the imports behind the agent (LangGraph, Chroma,
        # llama.cpp) hold the GIL for long stretches and would otherwise delay the first paint.
        self.call_after_refresh(self._load_model)
        if self.app.store is not None:
            await self._store_ready(self.app.store)
        else:
            self._load_store()

    # --- background loading ------------------------------------------------------------------

    def _call(self, callback: Any, *args: Any, **kwargs: Any) -> Any:
        """Run ``callback`` on the UI thread from a worker; quietly nothing once the app has gone."""
        try:
            return self.app.call_from_thread(callback, *args, **kwargs)
        except RuntimeError:
            return None

    @work(thread=True, group="model", exit_on_error=False)
    def _load_model(self) -> None:
        try:
            agent = self.app.agent_factory()
            self._call(self._set_status, backend=str(agent.backend_name), model=str(agent.model_name))
            agent.warm_up()
        except Exception as error:  # no model, Ollama unreachable, broken install: say so and keep running
            self.agent_error = f"{type(error).__name__}: {error}" if not str(error) else str(error)
            self._call(self._model_failed, self.agent_error)
        else:
            self.agent = agent
            self._call(self._set_status, backend=str(agent.backend_name), model=str(agent.model_name), state="ready")
        finally:
            self.agent_ready.set()

    def _set_status(self, **changes: str) -> None:
        self.status.set(**changes)

    async def _model_failed(self, message: str) -> None:
        self.status.set(state="failed")
        await self._mount_notice(f"⚠ The model could not be loaded: {message}", error=True)

    @work(thread=True, group="store", exit_on_error=False)
    def _load_store(self) -> None:
        try:
            store = self.app.store_factory()
        except Exception as error:
            self._call(self._mount_notice, f"⚠ Saved chats are unavailable: {error}", error=True)
        else:
            self._call(self._store_ready, store)

    async def _store_ready(self, store: Any) -> None:
        self.store = store
        self.app.store = store
        initial = self.app.initial_thread
        if initial:
            await self.open_chat(initial)
        else:
            await self.refresh_chats()

    async def refresh_chats(self) -> None:
        if self.store is None:
            return
        chats = self.store.list_chats()
        await self.query_one(ChatList).show(chats, self.thread_id)
        title = next((chat.title for chat in chats if chat.thread_id == self.thread_id), None)
        self.sub_title = title or "New chat"

    def chat_titles(self) -> list[tuple[str, str]]:
        """(thread_id, title) of every saved chat, for the command palette."""
        if self.store is None:
            return []
        return [(chat.thread_id, chat.title) for chat in self.store.list_chats()]

    def store_has(self, thread_id: str) -> bool:
        return any(chat.thread_id == thread_id for chat in self.store.list_chats())

    def _saved_thread(self) -> str | None:
        """The current chat's id if the store knows it (a new chat is saved with its first answer)."""
        if self.store is None or self.thread_id is None:
            return None
        return self.thread_id if self.store_has(self.thread_id) else None

    # --- transcript --------------------------------------------------------------------------

    async def _mount_notice(self, text: str, *, error: bool = False, after: Any = None) -> None:
        notice = Notice(text, error=error)
        if after is not None and after.parent is self.transcript:
            await self.transcript.mount(notice, after=after)
        else:
            await self.transcript.mount(notice)
        self.transcript.scroll_end(animate=False)

    async def _clear_transcript(self) -> None:
        await self.transcript.remove_children()
        self.selected = None
        self.source_panel.show([], "")
        self.status.set(last="")

    async def open_chat(self, thread_id: str) -> None:
        """Show a saved chat (or start an empty one with that id if the store has none)."""
        if self._busy("switching chats"):
            return
        await self._clear_transcript()
        self.thread_id = thread_id
        messages = self.store.messages(thread_id) if self.store is not None else []
        widgets: list[Any] = []
        question = ""
        last: AnswerMessage | None = None
        for message in messages:
            if message.role == "user":
                question = message.text
                widgets.append(UserMessage(message.text))
            else:
                record = AnswerRecord.from_any(message.answer or {"text": message.text})
                if not record.text:
                    record.text = message.text
                last = AnswerMessage(question, record)
                widgets.append(last)
        if widgets:
            await self.transcript.mount_all(widgets)
        else:
            await self.transcript.mount(Markdown(WELCOME, id="welcome"))
            if self.store is not None and not self.store_has(thread_id):
                self.notify(f"No saved chat with id {thread_id}; your first question starts it.")
        self.transcript.scroll_end(animate=False)
        if last is not None:
            self.select_answer(last)
            self.status.set(last=last.record.speed())
        await self.refresh_chats()

    async def new_chat(self) -> None:
        if self._busy("starting a new chat"):
            return
        await self._clear_transcript()
        await self.transcript.mount(Markdown(WELCOME, id="welcome"))
        self.thread_id = None
        await self.refresh_chats()
        self.query_one("#prompt", Input).focus()

    def select_answer(self, answer: AnswerMessage) -> None:
        """Show ``answer``'s sources in the side panel."""
        self.selected = answer
        question = " ".join(answer.question.split())
        caption = f"For: {question[:60]}{'…' if len(question) > 60 else ''}" if question else ""
        self.source_panel.show(answer.sources, caption)

    def answers(self) -> list[AnswerMessage]:
        return list(self.transcript.query(AnswerMessage))

    # --- reading ahead while the user types ---------------------------------------------------

    def _stop_read_ahead(self) -> None:
        """Cancel the pending pause timer and stop a read-ahead in progress (within one chunk)."""
        if self._read_ahead_timer is not None:
            self._read_ahead_timer.stop()
            self._read_ahead_timer = None
        self._read_ahead_cancel.set()

    @on(Input.Changed, "#prompt")
    def _typed(self, event: Input.Changed) -> None:
        self._stop_read_ahead()
        if len(event.value.strip()) >= READ_AHEAD_MIN_CHARS:
            self._read_ahead_timer = self.set_timer(READ_AHEAD_PAUSE_S, partial(self._pause_in_typing, event.value))

    def _pause_in_typing(self, text: str) -> None:
        self._read_ahead_timer = None
        read_ahead = getattr(self.agent, "read_ahead", None)
        if read_ahead is None or self.generation is not None or not self.agent_ready.is_set():
            return
        self._read_ahead_cancel = cancel = threading.Event()
        self._read_ahead(read_ahead, text, self.thread_id, cancel)

    @work(thread=True, group="read_ahead", exit_on_error=False)
    def _read_ahead(self, read_ahead: Any, text: str, thread_id: str | None, cancel: threading.Event) -> None:
        read_ahead(text, thread_id=thread_id, cancel=cancel)  # it cleans the text and checks ``cancel`` itself

    # --- asking ------------------------------------------------------------------------------

    def _busy(self, doing: str) -> bool:
        if self.generation is None:
            return False
        self.notify(f"An answer is still being written — press Esc to cancel it before {doing}.", severity="warning")
        return True

    @on(Input.Submitted, "#prompt")
    async def _submitted(self, event: Input.Submitted) -> None:
        from shoeagent.agent.safety import clean_text

        self._stop_read_ahead()  # the answer waits for at most one chunk of it
        # What the agent will see: control and invisible characters gone, so an input of only those asks nothing.
        question = clean_text(event.value)
        if not question or self._busy("asking again"):
            return
        event.input.value = ""
        await self.ask(question)

    async def ask(self, question: str) -> AnswerMessage:
        """Add the question and an empty answer to the transcript and start generating."""
        if self.thread_id is None:
            self.thread_id = uuid.uuid4().hex
        for welcome in self.transcript.query("#welcome"):
            await welcome.remove()
        answer = AnswerMessage(question)
        await self.transcript.mount_all([UserMessage(question), answer])
        self.transcript.scroll_end(animate=False)
        answer.set_state("thinking" if self.agent_ready.is_set() else "loading")
        self.select_answer(answer)
        generation = self.generation = Generation(answer, self.thread_id, threading.Event())
        self.refresh_bindings()  # shows "Esc Cancel answer" in the footer
        self.status.set(state="busy" if self.agent_ready.is_set() else "loading")
        self._flush_timer = self.set_interval(FLUSH_INTERVAL_S, partial(self._flush, generation))
        self._generate(question, generation)
        return answer

    async def _flush(self, generation: Generation) -> None:
        """Draw the tokens that arrived since the last flush."""
        text = generation.take()
        if text:
            await generation.answer.add_token(text)

    async def _end_streaming(self, generation: Generation) -> None:
        """Stop the flush timer and draw what is left in the buffer."""
        if self._flush_timer is not None:
            self._flush_timer.stop()
            self._flush_timer = None
        await self._flush(generation)

    @work(thread=True, group="generation", exit_on_error=False)
    def _generate(self, question: str, generation: Generation) -> None:
        """Consume ``agent.stream()`` on a worker thread, handing each event to the UI thread."""
        answer, cancel = generation.answer, generation.cancel
        while not self.agent_ready.wait(0.1):
            if cancel.is_set():
                self._call(self._stopped, generation, "cancelled", None)
                return
        if self.agent is None:
            self._call(self._stopped, generation, "failed", f"No model to answer with: {self.agent_error}")
            return
        self._call(self._started, answer)
        final: Any = None
        events = None
        try:
            events = self.agent.stream(question, thread_id=generation.thread_id, cancel=cancel)
            for event in events:
                if cancel.is_set():
                    break
                if event.kind == "token":
                    generation.push(str(event.data.get("text", "")))
                elif event.kind == "answer":
                    final = event.data.get("answer")
                else:
                    self._call(self._apply_event, generation, event.kind, event.data)
        except ValueError as error:  # the agent rejects empty or over-long questions before starting
            self._call(self._stopped, generation, "failed", str(error))
            return
        except Exception as error:  # Ollama gone, engine crash: the chat reports it and keeps going
            self._call(self._stopped, generation, "failed", f"The agent failed: {type(error).__name__}: {error}")
            return
        finally:
            close = getattr(events, "close", None)
            if callable(close):
                close()
        if cancel.is_set():
            self._call(self._stopped, generation, "cancelled", None)
        elif final is None:
            self._call(self._stopped, generation, "failed", "The agent stopped without giving an answer.")
        else:
            self._call(self._finished, generation, final)

    def _started(self, answer: AnswerMessage) -> None:
        answer.set_state("thinking")
        self.status.set(state="busy")

    async def _apply_event(self, generation: Generation, kind: str, data: dict) -> None:
        answer = generation.answer
        await self._flush(generation)  # tokens that came before this event are drawn first
        if kind == "route":
            answer.set_route(str(data.get("route", "general")), bool(data.get("health", False)))
        elif kind == "sources":
            answer.set_sources([SourceRecord.from_any(source) for source in data.get("sources") or []])
            if self.selected is answer:
                self.select_answer(answer)
        elif kind == "tool":
            answer.add_tool_call(ToolCallView.from_any(data.get("call")))
        elif kind == "repair":
            answer.set_state("revising")
        elif kind == "error":
            await self._mount_notice(f"⚠ {data.get('message', 'unknown error')}", error=True, after=answer)

    async def _finished(self, generation: Generation, final: Any) -> None:
        answer = generation.answer
        await self._end_streaming(generation)
        record = AnswerRecord.from_any(final)
        await answer.finish(record)
        self.generation = None
        self.refresh_bindings()
        self.status.set(state="ready", last=record.speed(generation.tokens_per_second()))
        if record.backend:
            self.status.set(backend=record.backend)
        if record.model:
            self.status.set(model=record.model)
        if self.selected is answer:
            self.select_answer(answer)
        if self.thread_id == generation.thread_id:
            await self.refresh_chats()

    async def _stopped(self, generation: Generation, state: str, message: str | None) -> None:
        answer = generation.answer
        await self._end_streaming(generation)
        await answer.stop_stream()
        answer.set_state(state)
        self.generation = None
        self.refresh_bindings()
        self.status.set(state="ready" if self.agent is not None else "failed")
        if message:
            await self._mount_notice(f"⚠ {message}", error=True, after=answer)
        if self.thread_id == generation.thread_id:
            await self.refresh_chats()

    # --- events from widgets -----------------------------------------------------------------

    @on(AnswerMessage.Selected)
    def _answer_selected(self, event: AnswerMessage.Selected) -> None:
        self.select_answer(event.answer)

    @on(SourcePanel.Chosen)
    def _source_chosen(self, event: SourcePanel.Chosen) -> None:
        answer = self.selected
        lang = answer.record.lang if answer else "en"
        tool_call = None
        if answer is not None and event.source.kind == "tool":
            name = event.source.id.removeprefix("tool:")
            tool_call = next((call for call in answer.record.tool_calls if call.name == name), None)
        self.app.push_screen(SourceScreen(event.source, event.number, lang, tool_call))

    @on(ChatList.Opened)
    async def _chat_opened(self, event: ChatList.Opened) -> None:
        if event.thread_id != self.thread_id or not self.answers():
            await self.open_chat(event.thread_id)
        self.query_one("#prompt", Input).focus()

    @on(ChatList.RenameRequested)
    def _rename_requested(self, event: ChatList.RenameRequested) -> None:
        self.rename_chat(event.thread_id)

    @on(ChatList.DeleteRequested)
    def _delete_requested(self, event: ChatList.DeleteRequested) -> None:
        self.delete_chat(event.thread_id)

    @on(AnswerMessage.Rated)
    def _rated(self, event: AnswerMessage.Rated) -> None:
        self.rate(event.answer, event.rating)

    # --- dialogs (async workers so they can wait for the modal's result) ---------------------

    @work(group="dialog", exclusive=True)
    async def rename_chat(self, thread_id: str | None = None) -> None:
        thread_id = thread_id or self._saved_thread()
        if thread_id is None:
            self.notify("Nothing to rename yet — ask a question first.")
            return
        current = dict(self.chat_titles()).get(thread_id, "")
        title = await self.app.push_screen_wait(TextPrompt("Rename chat", value=current, placeholder="New title"))
        if title:
            self.store.rename_chat(thread_id, title)
            await self.refresh_chats()

    @work(group="dialog", exclusive=True)
    async def delete_chat(self, thread_id: str | None = None) -> None:
        thread_id = thread_id or self._saved_thread()
        if thread_id is None:
            self.notify("Nothing to delete — this chat is not saved yet.")
            return
        if thread_id == self.thread_id and self._busy("deleting this chat"):
            return
        title = dict(self.chat_titles()).get(thread_id, thread_id)
        if not await self.app.push_screen_wait(Confirm("Delete chat", f"Delete “{title}” and its history?")):
            return
        # Deleting also drops the LangGraph checkpoints (imports LangGraph): keep the UI responsive.
        await asyncio.to_thread(self.store.delete_chat, thread_id)
        if thread_id == self.thread_id:
            await self.new_chat()
        else:
            await self.refresh_chats()
        self.notify(f"Deleted “{title}”.")

    @work(group="dialog", exclusive=True)
    async def export_chat(self) -> None:
        thread_id = self._saved_thread()
        if thread_id is None:
            self.notify("Nothing to export yet — ask a question first.")
            return
        title = dict(self.chat_titles()).get(thread_id, "chat")
        cwd = Path.cwd()

        def problem(value: str) -> str | None:
            try:
                resolve_export_path(value, cwd)
            except ValueError as error:
                return str(error)
            return None

        typed = await self.app.push_screen_wait(
            TextPrompt(
                "Export chat to Markdown",
                value=default_export_name(title),
                hint=f"File name or path (relative to {cwd}):",
                validate=problem,
            )
        )
        if not typed:
            return
        path = resolve_export_path(typed, cwd)
        if path.exists() and not await self.app.push_screen_wait(Confirm("Export", f"{path} exists. Overwrite it?")):
            return
        try:
            write_atomic(path, self.store.export_markdown(thread_id))
        except Exception as error:
            self.notify(f"Export failed: {error}", severity="error")
            return
        self.notify(f"Exported to {path}", title="Export")

    @work(group="dialog", exclusive=True)
    async def rate(self, answer: AnswerMessage, rating: int) -> None:
        """Record 👍/👎 for ``answer``; a 👎 asks for an optional correction first."""
        if answer.state != "done":
            self.notify("Rate an answer once it is finished.")
            return
        correction: str | None = None
        if rating < 0:
            typed = await self.app.push_screen_wait(
                TextPrompt(
                    "👎 What should the answer have said?",
                    placeholder="Optional correction — Enter with nothing to skip",
                    hint="Your correction is saved with the rating for future training.",
                    allow_empty=True,
                )
            )
            if typed is None:
                return
            correction = typed or None
        feedback = Feedback(
            question=answer.question,
            answer=answer.text,
            rating=1 if rating > 0 else -1,
            correction=correction,
            thread_id=self.thread_id,
            sources=[source.id for source in answer.sources],
        )
        try:
            path = append_feedback(feedback)
        except OSError as error:
            self.notify(f"Could not save feedback: {error}", severity="error")
            return
        answer.set_rating(feedback.rating)
        self.notify(f"{'👍' if rating > 0 else '👎'} saved to {path}", title="Feedback")

    # --- actions -----------------------------------------------------------------------------

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        # Hide "Cancel answer" from the footer when nothing is being generated.
        if action == "cancel":
            return self.generation is not None
        return True

    def action_cancel(self) -> None:
        generation = self.generation
        if generation is None or generation.cancel.is_set():
            return
        generation.cancel.set()
        generation.answer.set_state("cancelling")

    async def action_new_chat(self) -> None:
        await self.new_chat()

    def action_rename_chat(self) -> None:
        self.rename_chat()

    def action_delete_chat(self) -> None:
        self.delete_chat()

    def action_export_chat(self) -> None:
        self.export_chat()

    def action_rate_last(self, rating: int) -> None:
        answers = [answer for answer in self.answers() if answer.state == "done"]
        if not answers:
            self.notify("No finished answer to rate yet.")
            return
        self.rate(answers[-1], rating)

    def action_focus_chats(self) -> None:
        self.query_one("#sidebar").display = True
        self.query_one(ChatList).focus()

    def action_focus_sources(self) -> None:
        self.query_one("#sources OptionList").focus()

    def action_toggle_sidebar(self) -> None:
        sidebar = self.query_one("#sidebar")
        sidebar.display = not sidebar.display

    def action_focus_last_answer(self) -> None:
        answers = self.answers()
        if answers:
            answers[-1].focus()
            answers[-1].scroll_visible(animate=False)

    def action_focus_prompt(self) -> None:
        self.query_one("#prompt", Input).focus()
