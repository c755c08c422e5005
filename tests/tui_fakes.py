"""A scripted stand-in for ``shoeagent.agent.api.ShoeAgent`` for the TUI tests.

It implements the agent contract the chat consumes (``stream()`` yielding events that end with one
"answer" event, ``warm_up()``, ``backend_name``/``model_name``) with canned answers, and records turns
in a real ``ChatStore`` the way the agent does. It exists only because the real model is too slow and
too unpredictable for UI logic tests; the end-to-end test runs the real agent.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass
class Source:
    id: str
    title: str
    snippet: str
    kind: str = "kb"
    category: str = ""
    stage: str = ""
    score: float = 0.0


@dataclass
class ToolCallRecord:
    name: str
    args: dict
    result: dict
    error: str | None = None


@dataclass
class Answer:
    text: str
    route: str
    refused: bool
    sources: list[Source]
    tool_calls: list[ToolCallRecord]
    grounded: bool
    backend: str
    model: str
    latency_ms: float
    thread_id: str | None = None
    lang: str = "en"
    health: bool = False
    repaired: bool = False
    tokens: int = 0
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class Event:
    kind: str
    data: dict


SOURCES = [
    Source(
        id="mold-basics-what-is-mold",
        title="What shoe mold is",
        snippet="Mold is a fungus that grows on damp leather and textiles as fuzzy white, green or black spots.",
        category="mold_basics",
        stage="basics",
        score=0.82,
    ),
    Source(
        id="tool:mold_risk",
        title="Tool mold_risk",
        snippet="Tool mold_risk: at 28 °C and 85 % RH the mold risk is high.",
        kind="tool",
        category="environment",
        stage="prevention",
        score=1.0,
    ),
]
TOOL_CALL = ToolCallRecord(
    name="mold_risk",
    args={"temperature_c": 28, "relative_humidity": 85},
    result={"risk": "high", "score": 0.8},
)


@dataclass
class Script:
    """What the fake answers: the streamed tokens, the final text and what happens on the way."""

    tokens: list[str] = field(default_factory=lambda: ["White fuzzy ", "spots are **mold** [1]. ", "Dry the boots [2]."])
    final_text: str | None = None  # None: the tokens joined (no verify repair)
    route: str = "diagnosis"
    sources: list[Source] = field(default_factory=lambda: list(SOURCES))
    tool_calls: list[ToolCallRecord] = field(default_factory=lambda: [TOOL_CALL])
    token_delay: float = 0.0
    error_event: str | None = None  # an "error" Event before the answer
    raise_after_tokens: Exception | None = None  # the engine dies mid-answer
    latency_ms: float = 1250.0
    tokens_count: int = 100


class FakeAgent:
    """Answers every question with ``script`` (or ``scripts[question]``)."""

    def __init__(
        self,
        store: Any = None,
        script: Script | None = None,
        scripts: dict[str, Script] | None = None,
        *,
        warm_up_delay: float = 0.0,
        warm_up_error: Exception | None = None,
    ) -> None:
        self.store = store
        self.script = script or Script()
        self.scripts = scripts or {}
        self.warm_up_delay = warm_up_delay
        self.warm_up_error = warm_up_error
        self.questions: list[str] = []
        self.tokens_yielded = 0
        self.warmed = threading.Event()
        self.read_aheads: list[dict[str, Any]] = []
        self.read_ahead_hold = 0.0  # a read-ahead takes this long unless cancelled

    backend_name = "embedded"
    model_name = "shoemold-fake"

    def warm_up(self) -> None:
        time.sleep(self.warm_up_delay)
        if self.warm_up_error is not None:
            raise self.warm_up_error
        self.warmed.set()

    def read_ahead(self, question: str, thread_id: str | None = None, cancel: threading.Event | None = None) -> int:
        call = {"question": question, "thread_id": thread_id, "cancelled": False}
        self.read_aheads.append(call)
        if cancel is not None and cancel.wait(self.read_ahead_hold):
            call["cancelled"] = True
            return 0
        return len(question)

    def stream(self, question: str, thread_id: str | None = None, cancel: threading.Event | None = None) -> Iterator[Event]:
        self.questions.append(question)
        script = self.scripts.get(question, self.script)
        yield Event("route", {"route": script.route, "health": False})
        yield Event("sources", {"sources": list(script.sources)})
        for call in script.tool_calls:
            yield Event("tool", {"call": call})
        for token in script.tokens:
            if cancel is not None and cancel.is_set():
                return
            if script.token_delay:
                time.sleep(script.token_delay)
            self.tokens_yielded += 1
            yield Event("token", {"text": token})
        if script.raise_after_tokens is not None:
            raise script.raise_after_tokens
        if script.error_event:
            yield Event("error", {"message": script.error_event})
        text = script.final_text if script.final_text is not None else "".join(script.tokens)
        if script.final_text is not None:
            yield Event("repair", {"reason": "uncited claim"})
        answer = Answer(
            text=text,
            route=script.route,
            refused=script.route == "out_of_scope",
            sources=list(script.sources),
            tool_calls=list(script.tool_calls),
            grounded=True,
            backend=self.backend_name,
            model=self.model_name,
            latency_ms=script.latency_ms,
            thread_id=thread_id,
            repaired=script.final_text is not None,
            tokens=script.tokens_count,
        )
        if thread_id is not None and self.store is not None:
            self.store.add_turn(thread_id, question, answer.to_dict())
        yield Event("answer", {"answer": answer})


FIXED_THREAD = "fixed-thread-1"


def fixed_data_app(store: Any, **app_kwargs: Any) -> Any:
    """The app on fixed store contents (two chats, one answered turn) for snapshot tests.

    Timings shown (latency, tokens/s) come from the stored answer, so the screen is identical on
    every run.
    """
    from shoeagent.tui.app import ShoeMoldApp

    store.add_turn("fixed-thread-0", "如何預防皮鞋發霉？", _fixed_answer("保持乾燥並通風 [1]。", "prevention", []).to_dict())
    sources = [
        Source(
            id="fixture-leather-white-bloom",
            title="White bloom vs. mold on leather",
            snippet="Fatty spew wipes off and returns in cold weather; mold is fuzzy, smells musty and spreads.",
            category="materials",
            stage="diagnosis",
        ),
        SOURCES[1],
    ]
    text = (
        "Those **white fuzzy spots** are most likely mold [1]. At 28 °C and 85 % humidity the risk is "
        "high [2].\n\n- Brush them off outdoors\n- Dry the boots away from heat"
    )
    store.add_turn(FIXED_THREAD, "White fuzzy spots on my leather boots — mold?", _fixed_answer(text, "diagnosis", sources).to_dict())
    agent = FakeAgent(store)
    return ShoeMoldApp(agent_factory=lambda: agent, store=store, thread_id=FIXED_THREAD, **app_kwargs)


def _fixed_answer(text: str, route: str, sources: list[Source]) -> Answer:
    return Answer(
        text=text,
        route=route,
        refused=False,
        sources=sources,
        tool_calls=[TOOL_CALL] if sources else [],
        grounded=True,
        backend="embedded",
        model="shoemold-fake",
        latency_ms=2000.0,
        tokens=170,
    )
