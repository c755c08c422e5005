"""Small modal dialogs: a one-line text prompt with validation, and a yes/no confirmation."""

from __future__ import annotations

from collections.abc import Callable

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.content import Content
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Static

# Returns an error message for a bad value, or None when the value is acceptable.
Validator = Callable[[str], str | None]


class TextPrompt(ModalScreen[str | None]):
    """Ask for one line of text. Enter submits (if valid), Esc cancels (result ``None``)."""

    BINDINGS = [Binding("escape", "cancel", "Cancel", id="prompt.cancel")]

    def __init__(
        self,
        title: str,
        *,
        value: str = "",
        placeholder: str = "",
        hint: str = "",
        validate: Validator | None = None,
        allow_empty: bool = False,
    ) -> None:
        super().__init__(classes="dialog-screen")
        self.prompt_title = title
        self.value = value
        self.placeholder = placeholder
        self.hint = hint
        self.validate_value = validate
        self.allow_empty = allow_empty

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog") as dialog:
            dialog.border_title = self.prompt_title
            if self.hint:
                yield Static(Content(self.hint), classes="dialog-hint")
            yield Input(value=self.value, placeholder=self.placeholder, id="prompt-input")
            yield Static("", id="prompt-error", classes="dialog-error")
            yield Static(Content("Enter to confirm · Esc to cancel"), classes="dialog-keys")

    @on(Input.Submitted)
    def _submit(self, event: Input.Submitted) -> None:
        event.stop()
        value = event.value.strip()
        problem = None
        if not value and not self.allow_empty:
            problem = "Please type something (or press Esc to cancel)."
        elif value and self.validate_value is not None:
            problem = self.validate_value(value)
        if problem:
            self.query_one("#prompt-error", Static).update(Content(problem))
            return
        self.dismiss(value)

    def action_cancel(self) -> None:
        self.dismiss(None)


class Confirm(ModalScreen[bool]):
    """Ask a yes/no question; ``y``/Enter on Yes confirms, ``n``/Esc declines."""

    BINDINGS = [
        Binding("escape,n", "answer(False)", "No", id="confirm.no"),
        Binding("y", "answer(True)", "Yes", id="confirm.yes"),
    ]

    def __init__(self, title: str, question: str) -> None:
        super().__init__(classes="dialog-screen")
        self.confirm_title = title
        self.question = question

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog") as dialog:
            dialog.border_title = self.confirm_title
            yield Static(Content(self.question), classes="dialog-hint")
            with Horizontal(classes="dialog-buttons"):
                yield Button("Yes", variant="error", id="yes")
                yield Button("No", variant="primary", id="no")

    def on_mount(self) -> None:
        self.query_one("#no", Button).focus()

    @on(Button.Pressed)
    def _pressed(self, event: Button.Pressed) -> None:
        self.dismiss(event.button.id == "yes")

    def action_answer(self, yes: bool) -> None:
        self.dismiss(yes)
