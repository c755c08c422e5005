"""Stand-ins for the agent graph's collaborators: a fixed retriever, router, planner, tools, and
scripted chat models (LangChain's fake chat models behind the LangChainBackend)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from langchain_core.language_models import GenericFakeChatModel
from langchain_core.messages import AIMessage
from pydantic import Field

from shoeagent.agent.llm import LangChainBackend


@dataclass
class FakeHit:
    id: str
    title: str
    text: str
    category: str = "environment"
    stage: str = "prevention"
    score: float = 0.8
    lang: str = "en"
    key_facts: list[str] = field(default_factory=list)
    tools: list[str] = field(default_factory=list)
    references: list[str] = field(default_factory=list)
    source: str = "kb"


HITS_EN = [
    FakeHit(
        "env-humidity-thresholds",
        "Humidity thresholds for mold on shoes",
        "Mold grows on shoes when relative humidity stays above 60-70%. Store shoes at or below 50-60% RH. "
        "Cold slows mold but does not kill it.",
        key_facts=["60-70%", "50-60%"],
    ),
    FakeHit(
        "store-rotation",
        "Rotate your pairs",
        "Rotate pairs so each rests about 24 hours between wears. Put silica gel packs in stored shoes.",
        category="storage_care",
        score=0.6,
        key_facts=["24 hours", "silica gel"],
    ),
]
HITS_ZH = [
    FakeHit(
        "env-humidity-thresholds",
        "鞋子發霉的濕度門檻",
        "相對濕度長期高於60-70%時，鞋子容易發霉。鞋子應存放在濕度50-60%以下的地方。",
        lang="zh",
        key_facts=["60-70%", "50-60%"],
    ),
]

GOOD_EN = "Keep shoes at or below 50-60% RH, because mold grows above 60-70% [1]. Rotate pairs so each rests 24 hours [2]."
GOOD_ZH = "鞋子應存放在濕度50-60%以下的地方，濕度高於60-70%容易發霉[1]。"


@dataclass
class FakeDecision:
    route: str
    health: bool = False
    confidence: float = 0.9
    scores: dict[str, float] = field(default_factory=dict)
    confirmed: bool = False


def fake_classify(question: str) -> FakeDecision:
    q = question.lower()
    if any(w in q for w in ("tax", "recipe", "capital", "稅")):
        return FakeDecision("out_of_scope", confidence=0.95)
    health = any(w in q for w in ("itch", "rash", "癢"))
    if "clean" in q or "清" in q:
        return FakeDecision("treatment", health)
    return FakeDecision("prevention", health)


class Retriever:
    """A fixed list of hits; remembers every query it was asked."""

    def __init__(self, hits: list[FakeHit] | None = None, by_lang: dict[str, list[FakeHit]] | None = None):
        self.hits = hits
        self.by_lang = by_lang or {"en": HITS_EN, "zh": HITS_ZH}
        self.calls: list[dict[str, Any]] = []

    def __call__(self, query: str, k: int = 5, route: str | None = None, lang: str | None = None) -> list[FakeHit]:
        self.calls.append({"query": query, "k": k, "route": route, "lang": lang})
        hits = self.hits if self.hits is not None else self.by_lang.get(lang or "en", [])
        return list(hits)[:k]


@dataclass
class FakePlannedCall:
    name: str
    args: dict


@dataclass
class FakeToolResult:
    name: str
    args: dict
    result: dict
    text_en: str
    text_zh: str
    error: str | None = None


def fake_planner(question: str, route: str) -> list[FakePlannedCall]:
    if "°c" in question.lower() and "%" in question:
        return [FakePlannedCall("mold_risk", {"temperature_c": 28, "relative_humidity": 85})]
    return []


def fake_run_tool(name: str, args: dict) -> FakeToolResult:
    if name != "mold_risk":
        return FakeToolResult(name, args, {}, "", "", error=f"unknown tool {name}")
    return FakeToolResult(
        name,
        args,
        {"level": "high"},
        "Tool mold_risk: at 28°C and 85% RH the mold risk is high.",
        "工具 mold_risk：在 28°C、85% 濕度下發霉風險高。",
    )


class RecordingFakeChat(GenericFakeChatModel):
    """GenericFakeChatModel that remembers the messages of every call."""

    seen: list[list[Any]] = Field(default_factory=list)

    def _stream(self, messages, stop=None, run_manager=None, **kwargs):  # type: ignore[override]
        self.seen.append(list(messages))
        yield from super()._stream(messages, stop=stop, run_manager=run_manager, **kwargs)


def scripted_llm(*replies: str, name: str = "fake") -> LangChainBackend:
    """A backend that answers with ``replies`` in order (running out raises, which tests can detect)."""
    chat = RecordingFakeChat(messages=iter([AIMessage(content=r) for r in replies]))
    return LangChainBackend(name=name, model_id=f"{name}-model", chat=chat)


def agent_kwargs(**overrides: Any) -> dict[str, Any]:
    """ShoeAgent keyword arguments wiring in all the fakes."""
    kwargs: dict[str, Any] = {
        "retriever": Retriever(),
        "relevance_threshold": 0.3,
        "classify": fake_classify,
        "plan_tool_calls": fake_planner,
        "run_tool": fake_run_tool,
        "langchain_tools": lambda: [],
        "fallback": False,
    }
    kwargs.update(overrides)
    return kwargs
