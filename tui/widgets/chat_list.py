"""The sidebar list of saved conversations (newest first), with keys to open, rename and delete."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from textual import on
from textual.binding import Binding
from textual.content import Content
from textual.message import Message
from textual.widgets import Label, ListItem, ListView


class ChatItem(ListItem):
    """One conversation in the list."""

    def __init__(self, thread_id: str, title: str) -> None:
        super().__init__(Label(Content(title or "Untitled"), classes="chat-title", markup=False))
        self.thread_id = thread_id
        self.title = title


class ChatList(ListView):
    """Saved chats; Enter or a click opens one."""

    BINDINGS = [
        Binding("r", "rename", "Rename", id="chats.rename"),
        Binding("delete,d", "delete", "Delete", key_display="del", id="chats.delete"),
    ]

    class Opened(Message):
        def __init__(self, thread_id: str) -> None:
            super().__init__()
            self.thread_id = thread_id

    class RenameRequested(Message):
        def __init__(self, thread_id: str) -> None:
            super().__init__()
            self.thread_id = thread_id

    class DeleteRequested(Message):
        def __init__(self, thread_id: str) -> None:
            super().__init__()
            self.thread_id = thread_id

    async def show(self, chats: Iterable[Any], current: str | None) -> None:
        """Replace the items with ``chats`` (objects with ``thread_id`` and ``title``); mark ``current``."""
        await self.clear()
        items = [ChatItem(chat.thread_id, chat.title) for chat in chats]
        await self.extend(items)
        for index, item in enumerate(items):
            if item.thread_id == current:
                self.index = index
                break
        else:
            self.index = None

    def on_focus(self) -> None:
        # Arriving in the list should land on a chat, so Enter opens something.
        if self.index is None and self.children:
            self.index = 0

    def _highlighted_id(self) -> str | None:
        item = self.highlighted_child
        return item.thread_id if isinstance(item, ChatItem) else None

    @on(ListView.Selected)
    def _opened(self, event: ListView.Selected) -> None:
        event.stop()
        if isinstance(event.item, ChatItem):
            self.post_message(self.Opened(event.item.thread_id))

    def action_rename(self) -> None:
        if (thread_id := self._highlighted_id()) is not None:
            self.post_message(self.RenameRequested(thread_id))

    def action_delete(self) -> None:
        if (thread_id := self._highlighted_id()) is not None:
            self.post_message(self.DeleteRequested(thread_id))
