"""Widgets of the terminal chat: transcript messages, the chat list, the source panel, the status bar."""

from shoeagent.tui.widgets.chat_list import ChatItem, ChatList
from shoeagent.tui.widgets.messages import AnswerMessage, Notice, UserMessage
from shoeagent.tui.widgets.records import AnswerRecord, SourceRecord, ToolCallView
from shoeagent.tui.widgets.source_panel import SourcePanel
from shoeagent.tui.widgets.status_bar import StatusBar

__all__ = [
    "AnswerMessage",
    "AnswerRecord",
    "ChatItem",
    "ChatList",
    "Notice",
    "SourcePanel",
    "SourceRecord",
    "StatusBar",
    "ToolCallView",
    "UserMessage",
]
