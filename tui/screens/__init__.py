"""Screens of the terminal chat: the main chat screen and its modal dialogs."""

from shoeagent.tui.screens.chat import ChatScreen
from shoeagent.tui.screens.prompt import Confirm, TextPrompt
from shoeagent.tui.screens.source_detail import SourceScreen

__all__ = ["ChatScreen", "Confirm", "SourceScreen", "TextPrompt"]
