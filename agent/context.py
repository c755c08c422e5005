"""Run-time configuration of the agent graph (LangGraph ``context_schema``).

Plain settings (backend, k, limits) fall back to ``SHOEAGENT_*`` environment variables when left at
their defaults. The collaborators (model backend, retriever, router, planner, tools) are injectable
so tests can run the graph with fakes; left as ``None`` they resolve to the real modules on first
use, imported lazily so that importing this module stays cheap.
"""

from __future__ import annotations

import math
import os
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, fields
from typing import Any

from shoeagent.agent.prompts import SYSTEM_PROMPT

Retriever = Callable[..., Sequence[Any]]
"""``search(query, k=..., route=..., lang=...) -> list[Hit]`` (shoeagent.knowledge.store.search)."""


def _env_field(
    default: Any, env: str, description: str, *, low: float | None = None, high: float | None = None,
    choices: tuple[str, ...] = (),
) -> Any:
    """A setting read from ``env`` when left at its default; ``low``/``high``/``choices`` bound what
    the variable may say, so a value the agent cannot use is refused before it answers."""
    meta = {"description": description, "env": env, "low": low, "high": high, "choices": choices}
    return field(default=default, metadata=meta)


def _parse_bool(raw: str) -> bool:
    value = raw.strip().lower()
    if value in ("1", "true", "yes", "on"):
        return True
    if value in ("0", "false", "no", "off"):
        return False
    raise ValueError("use 1/0, true/false, yes/no or on/off")


def _accepts(f: Any) -> str:
    """What ``f``'s variable accepts, in words (for the error message)."""
    low, high, kind = f.metadata["low"], f.metadata["high"], type(f.default)
    if f.metadata["choices"]:
        *rest, last = f.metadata["choices"]
        return f"{', '.join(rest)} or {last}"
    if kind is bool:
        return "1/0, true/false, yes/no or on/off"
    what = "a whole number" if kind is int else "a number"
    if low is not None and high is not None:
        return f"{what} from {low:g} to {high:g}"
    return f"{what} of at least {low:g}" if low is not None else what


def _env_value(f: Any, raw: str) -> Any:
    """``raw``, the value of ``f``'s variable, as ``f``'s type; a ValueError naming the variable, the
    value and what it accepts when it does not fit."""
    kind, low, high, choices = type(f.default), f.metadata["low"], f.metadata["high"], f.metadata["choices"]
    problem = f"is not a valid {'backend' if choices else kind.__name__}"
    try:
        if kind is bool:
            return _parse_bool(raw)
        if kind is str:  # free text (a model, a prompt) is taken as it is
            value = raw.strip() if choices else raw
            if not choices or value in choices:
                return value
            raise ValueError(raw)
        value = kind(raw.strip())
        problem = "is out of range"
        if math.isfinite(value) and (low is None or value >= low) and (high is None or value <= high):
            return value
        raise ValueError(raw)
    except ValueError:
        default = int(f.default) if kind is bool else f.default
        raise ValueError(f"{f.metadata['env']}={raw!r} {problem}; use {_accepts(f)} (default {default}), or unset it.") from None


def _env_settings() -> list[tuple[Any, str]]:
    """The Context fields whose variables are set, with their raw values (a blank number or switch
    counts as unset, as for SHOEAGENT_THREADS)."""
    found = []
    for f in fields(Context):
        env = f.metadata.get("env")
        if not env or env not in os.environ:
            continue
        raw = os.environ[env]
        if raw.strip() or (type(f.default) is str and not f.metadata["choices"]):
            found.append((f, raw))
    return found


def setting_problems() -> list[str]:
    """One message per malformed SHOEAGENT_* variable the Context reads (``shoeagent doctor`` lists
    them, :func:`shoeagent.threads.check_settings` refuses to answer with any)."""
    problems = []
    for f, raw in _env_settings():
        try:
            _env_value(f, raw)
        except ValueError as exc:
            problems.append(str(exc))
    return problems


def _injected(description: str) -> Any:
    return field(default=None, metadata={"description": description})


@dataclass(kw_only=True)
class Context:
    """Settings and collaborators of one agent; passed to every node as ``runtime.context``."""

    backend: str = _env_field(
        "auto", "SHOEAGENT_BACKEND", "Model backend: 'auto' (Ollama if it serves shoemold, else embedded), 'embedded' or 'ollama'.",
        choices=("auto", "embedded", "ollama"),
    )
    model: str = _env_field(
        "", "SHOEAGENT_MODEL", "Ollama model name, or a GGUF path for the embedded backend; empty = shoemold / the built GGUF."
    )
    k: int = _env_field(4, "SHOEAGENT_K", "How many knowledge passages to retrieve.", low=1)
    max_sources: int = _env_field(3, "SHOEAGENT_MAX_SOURCES", "At most this many knowledge passages become numbered sources (tool results come on top).", low=1)
    max_retries: int = _env_field(1, "SHOEAGENT_MAX_RETRIES", "Redrafts allowed after verify rejects the first draft.", low=0)
    redraft_thin: bool = _env_field(
        False, "SHOEAGENT_REDRAFT_THIN",
        "Redraft a draft rejected only for keeping too few key facts, instead of composing the answer at once.",
    )
    max_tokens: int = _env_field(320, "SHOEAGENT_MAX_TOKENS", "Most tokens the model may generate per draft (Chinese needs ~2.7x English).", low=1)
    temperature: float = _env_field(0.2, "SHOEAGENT_TEMPERATURE", "Sampling temperature of the first draft (redrafts use 0).", low=0)
    confirmed_threshold: float = _env_field(
        0.12, "SHOEAGENT_CONFIRMED_THRESHOLD",
        "Relevance bar for questions the router's rules placed in the domain (others use the knowledge store's threshold).",
        low=0, high=1,
    )
    min_fact_share: float = _env_field(
        0.34, "SHOEAGENT_MIN_FACT_SHARE", "Share of the top sources' key facts a draft must keep to pass verify.", low=0, high=1
    )
    system_prompt: str = _env_field(SYSTEM_PROMPT, "SHOEAGENT_SYSTEM_PROMPT", "System prompt of the answering model.")

    llm: Any = _injected("A resolved backend (shoeagent.agent.llm.ChatBackend); None = resolve `backend` on first use.")
    fallback_llm: Callable[[], Any] | None = _injected("Makes the backend to finish an answer with when the primary dies mid-stream.")
    retriever: Retriever | None = _injected("Knowledge search; None = shoeagent.knowledge.store.search.")
    relevance_threshold: float | None = _injected("Hits scoring below this are ignored; None = the knowledge store's RELEVANCE_THRESHOLD.")
    classify: Callable[[str], Any] | None = _injected("Router; None = shoeagent.agent.router.classify.")
    plan_tool_calls: Callable[[str, str], Sequence[Any]] | None = _injected("Planner; None = shoeagent.agent.planner.plan_tool_calls.")
    run_tool: Callable[[str, dict], Any] | None = _injected("Tool runner; None = shoeagent.agent.tools.run_tool.")
    langchain_tools: Callable[[], list[Any]] | None = _injected("Tools for native tool calling; None = shoeagent.agent.tools.langchain_tools.")
    cancel: threading.Event | None = _injected("Set it to stop generation early (the TUI's stop button).")

    def __post_init__(self) -> None:
        """Fill settings left at their defaults from their environment variables."""
        for f, raw in _env_settings():
            if getattr(self, f.name) == f.default:
                setattr(self, f.name, _env_value(f, raw))

    def get_retriever(self) -> Retriever:
        if self.retriever is not None:
            return self.retriever
        from shoeagent.knowledge.store import search

        return search

    def get_threshold(self) -> float:
        if self.relevance_threshold is not None:
            return self.relevance_threshold
        from shoeagent.knowledge.store import RELEVANCE_THRESHOLD

        return float(RELEVANCE_THRESHOLD)

    def score_bar(self, scope_confirmed: bool) -> float:
        """The score a hit needs to become a source: the relevance threshold, or the lower
        ``confirmed_threshold`` when the router's rules already placed the question in the domain."""
        threshold = self.get_threshold()
        return min(threshold, self.confirmed_threshold) if scope_confirmed else threshold

    def get_classify(self) -> Callable[[str], Any]:
        if self.classify is not None:
            return self.classify
        from shoeagent.agent.router import classify

        return classify

    def get_planner(self) -> Callable[[str, str], Sequence[Any]]:
        if self.plan_tool_calls is not None:
            return self.plan_tool_calls
        from shoeagent.agent.planner import plan_tool_calls

        return plan_tool_calls

    def get_run_tool(self) -> Callable[[str, dict], Any]:
        if self.run_tool is not None:
            return self.run_tool
        from shoeagent.agent.tools import run_tool

        return run_tool

    def get_langchain_tools(self) -> list[Any]:
        if self.langchain_tools is not None:
            return self.langchain_tools()
        from shoeagent.agent.tools import langchain_tools

        return langchain_tools()

    def get_llm(self) -> Any:
        """The answering backend, resolving (and caching) ``backend``/``model`` on first use."""
        if self.llm is None:
            from shoeagent.agent.llm import resolve_backend

            self.llm = resolve_backend(self.backend, self.model or None)
        return self.llm
