"""The Textual application behind ``shoeagent chat``.

``ShoeMoldApp`` takes the agent and the chat store by injection (``agent_factory``, ``store``), so tests
run it with fakes; by default it builds ``shoeagent.agent.api.ShoeAgent`` and
``shoeagent.agent.memory.ChatStore``, imported lazily inside background workers so the first paint
never waits for LangGraph, Chroma or the model.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from functools import partial
from pathlib import Path
from typing import Any

from textual.app import App
from textual.binding import Binding
from textual.command import DiscoveryHit, Hit, Hits, Provider
from textual.theme import Theme

from shoeagent.tui.screens.chat import ChatScreen

DARK_THEME = "shoemold-dark"
LIGHT_THEME = "shoemold-light"

THEMES = (
    Theme(
        name=DARK_THEME,
        primary="#5FA8A0",  # mold-teal: the brand colour
        secondary="#C79A6B",  # leather tan
        accent="#E0B45E",
        warning="#E6A23C",
        error="#E06C6C",
        success="#7FBF6A",
        foreground="#E6E1DA",
        background="#171A1C",
        surface="#1F2427",
        panel="#2A3034",
        dark=True,
    ),
    Theme(
        name=LIGHT_THEME,
        primary="#2F7D74",
        secondary="#8A5A2B",
        accent="#9C6B12",
        warning="#B8730A",
        error="#B83A3A",
        success="#3F7F2E",
        foreground="#24292B",
        background="#F6F3EE",
        surface="#FFFFFF",
        panel="#E8E2D8",
        dark=False,
    ),
)


def _default_agent_factory(backend: str) -> Callable[[], Any]:
    def build() -> Any:
        from shoeagent.agent.api import ShoeAgent

        return ShoeAgent(backend=backend)

    return build


def _default_store_factory() -> Any:
    from shoeagent.agent.memory import ChatStore

    return ChatStore()


class ChatCommands(Provider):
    """Command-palette entries for the chat: chats, export, feedback, theme, open a saved chat."""

    def _commands(self) -> Iterator[tuple[str, str, Callable[[], Any]]]:
        app = self.app
        screen = next((screen for screen in app.screen_stack if isinstance(screen, ChatScreen)), None)
        if screen is None:
            return
        yield "New chat", "Start an empty conversation", screen.action_new_chat
        yield "Rename chat", "Give the current chat a new title", screen.action_rename_chat
        yield "Delete chat", "Delete the current chat and its history", screen.action_delete_chat
        yield "Export chat to Markdown", "Write the chat and its sources to a .md file", screen.action_export_chat
        yield "Rate last answer 👍", "Record that the last answer was good", partial(screen.action_rate_last, 1)
        yield "Rate last answer 👎", "Record that the last answer was wrong, with a correction", partial(screen.action_rate_last, -1)
        yield "Cancel answer", "Stop the answer being written", screen.action_cancel
        yield "Toggle light/dark theme", "Switch between the ShoeMold light and dark themes", app.action_toggle_theme
        yield "Toggle chat list", "Show or hide the sidebar", screen.action_toggle_sidebar
        for thread_id, title in screen.chat_titles():
            yield f"Open chat: {title}", "Switch to this saved chat", partial(screen.open_chat, thread_id)

    async def discover(self) -> Hits:
        for name, help_text, callback in self._commands():
            if not name.startswith("Open chat: "):
                yield DiscoveryHit(name, callback, help=help_text)

    async def search(self, query: str) -> Hits:
        matcher = self.matcher(query)
        for name, help_text, callback in self._commands():
            score = matcher.match(name)
            if score > 0:
                yield Hit(score, matcher.highlight(name), callback, help=help_text)


class ShoeMoldApp(App[None]):
    """Terminal chat with the shoe-mold agent, showing where every answer came from."""

    # Absolute, so subclasses defined elsewhere (tests, benchmarks) find the stylesheet too.
    CSS_PATH = Path(__file__).with_name("app.tcss")
    TITLE = "ShoeMold"
    COMMANDS = App.COMMANDS | {ChatCommands}
    BINDINGS = [
        Binding("ctrl+t", "toggle_theme", "Theme", id="app.toggle_theme"),
        Binding("ctrl+q", "quit", "Quit", id="app.quit", priority=True),
    ]

    def __init__(
        self,
        agent_factory: Callable[[], Any] | None = None,
        store: Any = None,
        *,
        backend: str = "auto",
        thread_id: str | None = None,
        store_factory: Callable[[], Any] | None = None,
        theme: str = DARK_THEME,
    ) -> None:
        """``agent_factory()`` returns an object with ``stream()``, ``warm_up()``, ``backend_name`` and
        ``model_name``; ``store`` is a ChatStore (or built by ``store_factory`` in the background)."""
        super().__init__()
        self.agent_factory = agent_factory or _default_agent_factory(backend)
        self.store = store
        self.store_factory = store_factory or _default_store_factory
        self.backend_label = backend
        self.initial_thread = thread_id
        for custom in THEMES:
            self.register_theme(custom)
        self.theme = theme

    def get_default_screen(self) -> ChatScreen:
        return ChatScreen()

    async def action_quit(self) -> None:
        # Stop a running generation first: Python waits for worker threads before it exits.
        for screen in self.screen_stack:
            if isinstance(screen, ChatScreen):
                screen.action_cancel()
        self.exit()

    def action_toggle_theme(self) -> None:
        self.theme = LIGHT_THEME if self.current_theme.dark else DARK_THEME
