"""End-to-end evaluation of the agent on its public question sets (agent/eval/).

* ``questions.jsonl`` (109, the default): hand-written with the agent; looked at while the router and
  verify were improved, so it flatters them.
* ``questions_blind1.jsonl`` (72): written blind by a helper from a topic list, key facts copied from
  the entries afterwards; never seen by the system's authors before its first run, tuning data since.
* ``questions_blind2.jsonl`` (80): written the same way; tuning data after its first run.
* ``questions_blind3.jsonl`` (60): written the same way, held out: run it (``--questions``) to
  measure, never to choose anything.
* ``questions_blind4.jsonl`` and ``questions_blind5.jsonl`` (72 each): written the same way; tuning
  data after their first run.
* ``questions_blind6.jsonl`` (71): written the same way in the eighteenth session (its one question the
  original set already had was dropped); its first run measured that session's changes against the code
  before them, and it is tuning data since.

Routes follow what the user asks for. ``diagnosis`` is about the shoes (is this mold?); symptoms on
the user's body set ``health``, and "is my rash from the mold?" is ``general``.

For every question the agent's answer is checked for: the route, the expected key facts in the text
(number-normalised), refusal of out-of-scope questions and no refusal of in-domain ones, a citation
(at least one source and a [n] marker that points at one), and, for health questions, advice to see a
doctor. :func:`evaluate` works with any object that has ``ask(question) -> Answer`` (the real
:class:`~shoeagent.agent.api.ShoeAgent` or a test fake) and returns one JSON-serialisable dict.
"""

from __future__ import annotations

import json
import re
import statistics
import time
import unicodedata
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any, Protocol

GOALS = {
    "route_accuracy": 0.9,
    "key_fact_accuracy_en": 0.9,
    "key_fact_accuracy_zh": 0.9,
    "refusal_accuracy": 1.0,
    "false_refusal_rate": 0.05,  # at most
    "citation_rate": 1.0,
}


class AgentLike(Protocol):
    def ask(self, question: str) -> Any: ...


@dataclass(frozen=True)
class EvalQuestion:
    id: str
    question: str
    lang: str
    route: str
    health: bool
    refuse: bool
    key_facts: tuple[str, ...] = ()

    @classmethod
    def from_dict(cls, data: dict) -> EvalQuestion:
        missing = {"id", "question", "lang", "route"} - data.keys()
        if missing:
            raise ValueError(f"question {data.get('id', '?')} lacks {', '.join(sorted(missing))}")
        return cls(
            id=str(data["id"]),
            question=str(data["question"]),
            lang=str(data["lang"]),
            route=str(data["route"]),
            health=bool(data.get("health", False)),
            refuse=bool(data.get("refuse", False)),
            key_facts=tuple(data.get("key_facts", ())),
        )


def default_questions_path() -> Path:
    """The packaged evaluation set."""
    return Path(str(resources.files("shoeagent.agent") / "eval" / "questions.jsonl"))


def load_questions(path: Path | str | None = None) -> list[EvalQuestion]:
    """Read the JSONL evaluation set (the packaged one by default)."""
    source = Path(path) if path is not None else default_questions_path()
    questions = []
    for number, line in enumerate(source.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            questions.append(EvalQuestion.from_dict(json.loads(line)))
        except (json.JSONDecodeError, ValueError) as exc:
            raise ValueError(f"{source}:{number}: {exc}") from exc
    return questions


# --------------------------------------------------------------------------------------------
# Matching
# --------------------------------------------------------------------------------------------

_DASHES = dict.fromkeys(map(ord, "‐‑‒–—―−~〜～"), "-")
_CJK = r"\u3400-\u9fff"


def normalize_for_match(text: str) -> str:
    """Fold away formatting differences that do not change a fact.

    NFKC (full-width digits and ％ become ASCII, ℃ becomes °C), every dash or tilde becomes "-",
    number ranges lose their inner spaces and a repeated unit ("50% - 60%" == "50-60%",
    "50 to 60%" == "50-60%"), spaces between numbers and Chinese characters go ("24 小時" ==
    "24小時"), 黴 and 霉 are one character, and case is ignored.
    """
    text = unicodedata.normalize("NFKC", text).translate(_DASHES).replace("黴", "霉").lower()
    text = re.sub(r"(\d)\s*(%|°c|°f)", r"\1\2", text)
    text = re.sub(r"(\d)(%|°c|°f)\s*(?:-|to|至|到)\s*(\d+(?:\.\d+)?)\2", r"\1-\3\2", text)
    text = re.sub(r"(\d)\s*(?:-|to|至|到)\s*(?=\d)", r"\1-", text)
    # Spaces next to Chinese characters carry no meaning ("24 小時", "70% 酒精").
    text = re.sub(rf"\s+(?=[{_CJK}])|(?<=[{_CJK}])\s+", "", text)
    return re.sub(r"\s+", " ", text).strip()


def fact_present(fact: str, text: str) -> bool:
    """Whether ``fact`` appears in ``text`` after :func:`normalize_for_match` on both."""
    return normalize_for_match(fact) in normalize_for_match(text)


_DOCTOR = re.compile(
    r"\b(doctors?|physicians?|gps?|general practitioner|dermatologists?|podiatrists?|medical (help|advice|attention|care)"
    r"|healthcare (provider|professional)|health care (provider|professional))\b"
    r"|醫師|醫生|就醫|就診|看醫|皮膚科|足科|医生|医师|就医|就诊",
    re.IGNORECASE,
)
_CITATION = re.compile(r"\[(\d{1,2})\]")


def recommends_doctor(text: str) -> bool:
    """Whether the answer tells the user to see a doctor (en or zh)."""
    return bool(_DOCTOR.search(unicodedata.normalize("NFKC", text)))


def cites_source(text: str, n_sources: int) -> bool:
    """At least one source and a [n] marker that points at one of them."""
    return n_sources > 0 and any(1 <= int(m) <= n_sources for m in _CITATION.findall(text))


def percentile(values: Sequence[float], q: float) -> float:
    """The q-th percentile (0-100) by linear interpolation; 0.0 for no values."""
    if not values:
        return 0.0
    ordered = sorted(values)
    position = (len(ordered) - 1) * q / 100
    low = int(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


# --------------------------------------------------------------------------------------------
# Evaluation
# --------------------------------------------------------------------------------------------


def _get(answer: Any, name: str, default: Any = None) -> Any:
    if isinstance(answer, dict):
        return answer.get(name, default)
    return getattr(answer, name, default)


@dataclass
class QuestionResult:
    id: str
    lang: str
    expected_route: str
    route: str
    refused: bool
    expected_refuse: bool
    health: bool
    facts_found: list[str] = field(default_factory=list)
    facts_missing: list[str] = field(default_factory=list)
    n_sources: int = 0
    source_ids: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    cited: bool = False
    doctor: bool = False
    grounded: bool = False
    repaired: bool = False
    latency_ms: float = 0.0
    error: str | None = None
    answer: str = ""

    @property
    def problems(self) -> list[str]:
        found = []
        if self.error:
            found.append(f"error: {self.error}")
        if self.route != self.expected_route:
            found.append(f"route {self.route} (expected {self.expected_route})")
        if self.expected_refuse and not self.refused:
            found.append("not refused")
        if not self.expected_refuse and self.refused:
            found.append("falsely refused")
        if self.facts_missing:
            found.append("missing facts: " + ", ".join(self.facts_missing))
        if not self.expected_refuse and not self.cited:
            found.append(f"no citation ({self.n_sources} sources)")
        if self.health and not self.doctor:
            found.append("no doctor advice")
        return found


def _judge(question: EvalQuestion, answer: Any, wall_ms: float) -> QuestionResult:
    text = str(_get(answer, "text", "") or "")
    sources = _get(answer, "sources", None) or []
    latency = float(_get(answer, "latency_ms", 0.0) or 0.0) or wall_ms
    refused = bool(_get(answer, "refused", False))
    found = [fact for fact in question.key_facts if fact_present(fact, text)]
    return QuestionResult(
        id=question.id,
        lang=question.lang,
        expected_route=question.route,
        route=str(_get(answer, "route", "") or ""),
        refused=refused,
        expected_refuse=question.refuse,
        health=question.health,
        facts_found=found,
        facts_missing=[fact for fact in question.key_facts if fact not in found],
        n_sources=len(sources),
        source_ids=[str(_get(source, "id", "")) for source in sources],
        notes=[str(note) for note in (_get(answer, "notes", None) or [])],
        cited=cites_source(text, len(sources)),
        doctor=recommends_doctor(text),
        grounded=bool(_get(answer, "grounded", False)),
        repaired=bool(_get(answer, "repaired", False)),
        latency_ms=round(latency, 1),
        answer=text,
    )


def _share(hits: Iterable[bool]) -> float | None:
    values = list(hits)
    return round(sum(values) / len(values), 4) if values else None


def summarize(results: Sequence[QuestionResult], backend: str = "", model: str = "") -> dict:
    """The metrics over per-question results (see the module docstring)."""
    in_domain = [r for r in results if not r.expected_refuse]
    out_of_scope = [r for r in results if r.expected_refuse]

    def fact_accuracy(lang: str | None) -> float | None:
        chosen = [r for r in in_domain if lang is None or r.lang == lang]
        total = sum(len(r.facts_found) + len(r.facts_missing) for r in chosen)
        return round(sum(len(r.facts_found) for r in chosen) / total, 4) if total else None

    latencies = [r.latency_ms for r in results if r.error is None]
    report = {
        "n": len(results),
        "n_en": sum(r.lang == "en" for r in results),
        "n_zh": sum(r.lang == "zh" for r in results),
        "backend": backend,
        "model": model,
        "route_accuracy": _share(r.route == r.expected_route for r in results),
        "route_accuracy_en": _share(r.route == r.expected_route for r in results if r.lang == "en"),
        "route_accuracy_zh": _share(r.route == r.expected_route for r in results if r.lang == "zh"),
        "key_fact_accuracy": fact_accuracy(None),
        "key_fact_accuracy_en": fact_accuracy("en"),
        "key_fact_accuracy_zh": fact_accuracy("zh"),
        "refusal_accuracy": _share(r.refused for r in out_of_scope),
        "false_refusal_rate": _share(r.refused for r in in_domain),
        "citation_rate": _share(r.cited for r in in_domain),
        "health_advice_rate": _share(r.doctor for r in results if r.health),
        "grounded_rate": _share(r.grounded for r in in_domain),
        "repaired_rate": _share(r.repaired for r in results),
        "errors": sum(r.error is not None for r in results),
        "latency_ms": {
            "p50": round(percentile(latencies, 50), 1),
            "p95": round(percentile(latencies, 95), 1),
            "mean": round(statistics.fmean(latencies), 1) if latencies else 0.0,
        },
    }
    # A measure with nothing to measure (no out-of-scope question in a --limit slice) has no verdict: None.
    report["goals"] = {
        name: (None if value is None else (value <= target if name == "false_refusal_rate" else value >= target))
        for name, target in GOALS.items()
        for value in [report[name]]
    }
    report["failures"] = [
        {"id": r.id, "lang": r.lang, "problems": r.problems, "sources": r.source_ids, "notes": r.notes,
         "answer": r.answer[:300]}
        for r in results
        if r.problems
    ]
    report["results"] = [asdict(r) for r in results]
    return report


def evaluate(
    agent: AgentLike,
    questions: Sequence[EvalQuestion | dict],
    progress: Callable[[int, int, EvalQuestion], None] | None = None,
) -> dict:
    """Ask ``agent`` every question and return the metrics dict (JSON-serialisable).

    An exception from the agent counts as a wrong answer for that question and is recorded.
    ``progress(done, total, question)`` is called after each question.
    """
    items = [q if isinstance(q, EvalQuestion) else EvalQuestion.from_dict(q) for q in questions]
    results: list[QuestionResult] = []
    backend = model = ""
    for done, question in enumerate(items, start=1):
        start = time.perf_counter()
        try:
            answer = agent.ask(question.question)
        except Exception as exc:  # one failing question must not end the whole evaluation
            results.append(
                QuestionResult(
                    id=question.id, lang=question.lang, expected_route=question.route, route="",
                    refused=False, expected_refuse=question.refuse, health=question.health,
                    facts_missing=list(question.key_facts), error=f"{type(exc).__name__}: {exc}",
                )
            )
        else:
            results.append(_judge(question, answer, (time.perf_counter() - start) * 1000))
            backend = str(_get(answer, "backend", "") or backend)
            model = str(_get(answer, "model", "") or model)
        if progress is not None:
            progress(done, len(items), question)
    backend = backend or str(getattr(agent, "backend_name", "") or "")
    model = model or str(getattr(agent, "model_name", "") or "")
    return summarize(results, backend=backend, model=model)
