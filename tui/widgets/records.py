"""Plain view records of answers, sources and tool calls, built from the agent's objects or stored dicts.

Live answers arrive as dataclasses (``shoeagent.agent.api.Answer``/``Source``/``ToolCallRecord``);
answers reloaded from the chat store arrive as ``Answer.to_dict()`` dicts. The widgets only ever see
these records, so both paths render identically.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

ROUTES = ("diagnosis", "prevention", "treatment", "general", "out_of_scope")


def as_dict(obj: Any) -> dict:
    """A dict view of a dataclass, an object with ``to_dict()``, or a dict (copied shallowly)."""
    if obj is None:
        return {}
    if isinstance(obj, dict):
        return dict(obj)
    to_dict = getattr(obj, "to_dict", None)
    if callable(to_dict):
        return dict(to_dict())
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return dataclasses.asdict(obj)
    raise TypeError(f"cannot read {type(obj).__name__} as a record")


@dataclass
class SourceRecord:
    """One cited item: a knowledge entry (``kb``), a tool result (``tool``) or a user document (``user``)."""

    id: str
    title: str
    snippet: str = ""
    kind: str = "kb"
    category: str = ""
    stage: str = ""
    score: float = 0.0

    @classmethod
    def from_any(cls, obj: Any) -> SourceRecord:
        data = as_dict(obj)
        return cls(
            id=str(data.get("id", "")),
            title=str(data.get("title", "") or data.get("id", "")),
            snippet=str(data.get("snippet", "")),
            kind=str(data.get("kind", "kb") or "kb"),
            category=str(data.get("category", "") or ""),
            stage=str(data.get("stage", "") or ""),
            score=float(data.get("score", 0.0) or 0.0),
        )


@dataclass
class ToolCallView:
    """One tool the agent ran, with its arguments and result (or error)."""

    name: str
    args: dict = field(default_factory=dict)
    result: dict = field(default_factory=dict)
    error: str | None = None

    @classmethod
    def from_any(cls, obj: Any) -> ToolCallView:
        data = as_dict(obj)
        return cls(
            name=str(data.get("name", "?")),
            args=dict(data.get("args") or {}),
            result=dict(data.get("result") or {}),
            error=data.get("error"),
        )

    def signature(self) -> str:
        """``name(a=1, b='x')``: how the call reads in the chat."""
        args = ", ".join(f"{key}={value!r}" for key, value in self.args.items())
        return f"{self.name}({args})"

    def outcome(self) -> str:
        """The result as ``key: value`` pairs, or the error."""
        if self.error:
            return f"error: {self.error}"
        return ", ".join(f"{key}: {value}" for key, value in self.result.items()) or "(no result)"


@dataclass
class AnswerRecord:
    """Everything the chat shows about one answer."""

    text: str
    route: str = "general"
    refused: bool = False
    sources: list[SourceRecord] = field(default_factory=list)
    tool_calls: list[ToolCallView] = field(default_factory=list)
    grounded: bool = False
    backend: str = ""
    model: str = ""
    latency_ms: float = 0.0
    tokens: int = 0
    repaired: bool = False
    lang: str = "en"
    health: bool = False
    thread_id: str | None = None

    @classmethod
    def from_any(cls, obj: Any) -> AnswerRecord:
        data = as_dict(obj)
        return cls(
            text=str(data.get("text", "")),
            route=str(data.get("route", "general") or "general"),
            refused=bool(data.get("refused", False)),
            sources=[SourceRecord.from_any(source) for source in data.get("sources") or []],
            tool_calls=[ToolCallView.from_any(call) for call in data.get("tool_calls") or []],
            grounded=bool(data.get("grounded", False)),
            backend=str(data.get("backend", "") or ""),
            model=str(data.get("model", "") or ""),
            latency_ms=float(data.get("latency_ms", 0.0) or 0.0),
            tokens=int(data.get("tokens", 0) or 0),
            repaired=bool(data.get("repaired", False)),
            lang=str(data.get("lang", "en") or "en"),
            health=bool(data.get("health", False)),
            thread_id=data.get("thread_id"),
        )

    def speed(self, tokens_per_second: float | None = None) -> str:
        """``1.2 s · 85 tok/s``: latency, and the streaming speed when measured live, else
        tokens over latency (so a stored answer always reads the same)."""
        if self.latency_ms <= 0:
            return ""
        seconds = self.latency_ms / 1000
        text = f"{seconds:.1f} s"
        if tokens_per_second is None and self.tokens > 0:
            tokens_per_second = self.tokens / seconds
        if tokens_per_second:
            text += f" · {tokens_per_second:.0f} tok/s"
        return text
