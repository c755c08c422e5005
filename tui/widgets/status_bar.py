"""The one-line status bar: backend, model, model-loading state and the speed of the last answer."""

from __future__ import annotations

from dataclasses import dataclass

from textual.content import Content
from textual.widgets import Static

MODEL_STATES = {
    "starting": ("○ starting", "$text-muted"),
    "loading": ("◌ loading model…", "$warning"),
    "ready": ("● ready", "$success"),
    "busy": ("◉ answering…", "$accent"),
    "failed": ("✖ model unavailable", "$error"),
}


@dataclass
class Status:
    """What the bar shows; every field is plain data, so the same status always renders the same."""

    backend: str = "…"
    model: str = "…"
    state: str = "starting"
    last: str = ""


class StatusBar(Static):
    """Backend · model · state · speed of the last answer."""

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.status = Status()

    def on_mount(self) -> None:
        self._render_status()

    def set(self, **changes: str) -> None:
        """Change some fields (``backend``, ``model``, ``state``, ``last``) and redraw."""
        for key, value in changes.items():
            setattr(self.status, key, value)
        self._render_status()

    def _render_status(self) -> None:
        status = self.status
        label, style = MODEL_STATES.get(status.state, (status.state, "$text-muted"))
        parts: list[tuple[str, str] | str] = [
            (" backend ", "$text-muted"),
            (status.backend, "bold"),
            ("  model ", "$text-muted"),
            (status.model, "bold"),
            ("  ", ""),
            (label, style),
        ]
        if status.last:
            parts += [("  last answer ", "$text-muted"), (status.last, "bold")]
        self.update(Content.assemble(*parts))
