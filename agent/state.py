"""The agent graph's state: a narrow input (the question) and the full per-turn working state.

Everything stored here is plain data (str, int, float, bool, lists and dicts of those, LangChain
messages) so the SQLite checkpointer can persist it without custom serialisers. ``messages`` is the
conversation that survives across turns; every other field describes the current turn only and is
reset by the first node of each run (a checkpointed thread would otherwise carry the previous turn's
sources into the next).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Annotated, Any

from langchain_core.messages import AnyMessage
from langgraph.graph import add_messages


def extend_notes(left: list[str] | None, right: list[str | None] | None) -> list[str]:
    """Reducer for per-turn notes: a list appends (without duplicates); a leading ``None`` starts afresh.

    The first node of a turn writes ``[None, *notes]`` so the previous turn's notes are dropped.
    """
    merged: list[str] = list(left or [])
    items = list(right or [])
    if items and items[0] is None:
        merged, items = [], items[1:]
    merged.extend(note for note in items if note is not None and note not in merged)
    return merged


@dataclass
class InputState:
    """What a caller passes in: one question. History comes from the checkpointer (``messages``)."""

    question: str = ""


@dataclass
class State(InputState):
    """The working state of one turn (plus the conversation in ``messages``)."""

    messages: Annotated[Sequence[AnyMessage], add_messages] = field(default_factory=list)
    """The conversation so far (user questions and final answers), kept by the checkpointer."""

    lang: str = "en"
    """Language of the answer: "zh" or "en", from the question."""

    retrieval_query: str = ""
    """The question, rewritten with the previous user turn when it is a short follow-up."""

    route: str = "general"
    health: bool = False
    route_confidence: float = 0.0
    scope_confirmed: bool = False
    """The router's rules (not only its classifier) put the question in the domain."""

    refused: bool = False
    refusal_reason: str = ""
    """"out_of_scope" | "no_sources" | "injection" when refused."""

    sources: list[dict[str, Any]] = field(default_factory=list)
    """Numbered context ([1] is sources[0]): Source fields plus ``text`` and ``key_facts`` for verify."""

    planned_calls: list[dict[str, Any]] = field(default_factory=list)
    """Tool calls the deterministic planner proposes ({"name", "args"})."""

    tool_calls: list[dict[str, Any]] = field(default_factory=list)
    """ToolCallRecord fields of every tool call of this turn, including failed ones."""

    draft: str = ""
    """The model's latest draft answer."""

    attempts: int = 0
    """How many drafts the model has written this turn; verify allows ``Context.max_retries`` more after the first."""

    verify_reasons: list[str] = field(default_factory=list)
    """Why verify rejected the latest draft (empty when it passed)."""

    thin_draft: bool = False
    """Verify rejected the latest draft only for keeping too few key facts (see ``VerifyReport.thin``)."""

    repaired: bool = False
    composed: bool = False
    grounded: bool = False
    cancelled: bool = False

    answer: str = ""
    """The final answer text of this turn."""

    tokens: int = 0
    backend: str = ""
    model: str = ""
    notes: Annotated[list[str], extend_notes] = field(default_factory=list)
    """What the caller should know about this answer (fallbacks, base model, repairs)."""
