"""Agent evaluation: the question set's shape, the matching rules, the metrics (with fake agents) and the CLI."""

from __future__ import annotations

import json
import re
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from typer.testing import CliRunner

from shoeagent.agent.evaluate import (
    EvalQuestion,
    cites_source,
    default_questions_path,
    evaluate,
    fact_present,
    load_questions,
    normalize_for_match,
    percentile,
    recommends_doctor,
)
from shoeagent.agent.router import ROUTES

# ------------------------------------------------------------------------------------ question set


@pytest.fixture(scope="module")
def questions() -> list[EvalQuestion]:
    return load_questions()


def test_question_set_has_the_required_shape(questions):
    langs = Counter(q.lang for q in questions)
    assert len(questions) >= 90
    assert langs["en"] >= 40 and langs["zh"] >= 40
    assert len({q.id for q in questions}) == len(questions)
    assert all(re.fullmatch(r"q\d{3}", q.id) for q in questions)
    assert all(q.route in ROUTES for q in questions)
    refused = [q for q in questions if q.refuse]
    assert len(refused) >= 12
    assert all(q.route == "out_of_scope" and not q.key_facts for q in refused)
    injections = [q for q in refused if re.search(r"ignore|instructions|/etc/|rm -rf|忽略|執行", q.question, re.I)]
    assert len(injections) >= 3
    assert sum(q.health for q in questions) >= 8
    in_domain = [q for q in questions if not q.refuse]
    assert all(1 <= len(q.key_facts) <= 3 for q in in_domain)
    assert sum(len(q.key_facts) >= 2 for q in in_domain) >= 10  # some multi-fact questions


def test_question_language_matches_its_text(questions):
    for q in questions:
        has_cjk = bool(re.search(r"[\u4e00-\u9fff]", q.question))
        assert has_cjk == (q.lang == "zh"), q.id


def test_every_key_fact_is_stated_in_the_knowledge_base(questions):
    """A grounded answer can only contain facts the knowledge base holds, in the question's language."""
    from shoeagent.knowledge.entries import load_entries

    entries = load_entries()
    bodies = {lang: [normalize_for_match(e.body[lang]) for e in entries] for lang in ("en", "zh")}
    missing = [
        (q.id, fact)
        for q in questions
        for fact in q.key_facts
        if not any(normalize_for_match(fact) in body for body in bodies[q.lang])
    ]
    assert missing == []


@pytest.mark.parametrize(("name", "prefix", "size"), [("blind1", "h", 72), ("blind2", "b", 80), ("blind3", "c", 60), ("blind4", "d", 72), ("blind5", "e", 72), ("blind6", "f", 71)])
def test_blind_sets_are_well_formed_and_grounded(name, prefix, size):
    """The blind sets (written from a topic list by someone who never ran the system): same checks."""
    from shoeagent.knowledge.entries import load_entries

    path = Path(str(default_questions_path())).with_name(f"questions_{name}.jsonl")
    blind = load_questions(path)
    assert len(blind) == size and len({q.id for q in blind}) == size
    assert all(re.fullmatch(rf"{prefix}\d{{3}}", q.id) and q.route in ROUTES for q in blind)
    assert all(q.refuse == (q.route == "out_of_scope") and (not q.key_facts) == q.refuse for q in blind)
    assert {q.lang for q in blind} == {"en", "zh"}
    for q in blind:
        assert bool(re.search(r"[\u4e00-\u9fff]", q.question)) == (q.lang == "zh"), q.id
    entries = load_entries()
    bodies = {lang: [normalize_for_match(e.body[lang]) for e in entries] for lang in ("en", "zh")}
    assert [(q.id, f) for q in blind for f in q.key_facts if not any(normalize_for_match(f) in b for b in bodies[q.lang])] == []
    # The original set's questions are not among them.
    assert not {q.question for q in blind} & {q.question for q in load_questions()}


def test_bad_question_file_is_reported_with_its_line(tmp_path):
    path = tmp_path / "q.jsonl"
    path.write_text('{"id": "q1", "question": "x", "lang": "en", "route": "general"}\n{"id": "q2"}\n', encoding="utf-8")
    with pytest.raises(ValueError, match=r"q\.jsonl:2: question q2 lacks"):
        load_questions(path)


# ------------------------------------------------------------------------------------ matching


@pytest.mark.parametrize(
    ("fact", "text"),
    [
        ("50-60%", "keep it at 50–60% or below"),
        ("50-60%", "keep it at 50 - 60 %"),
        ("50-60%", "keep it at 50%-60%"),
        ("50-60%", "keep it at 50% to 60%"),
        ("50-60%", "保持在５０～６０％以下"),
        ("20-30°C", "grows best at 20~30 ℃"),
        ("24-48 小時", "24-48小時內"),
        ("24 小時", "休息約24 小時"),
        ("不會殺死黴菌", "小蘇打不會殺死霉菌"),
        ("MVOCs", "these mvocs smell musty"),
        ("70% 酒精", "用70%酒精擦拭"),
    ],
)
def test_facts_match_across_formatting(fact, text):
    assert fact_present(fact, text)


@pytest.mark.parametrize(
    ("fact", "text"),
    [
        ("50-60%", "keep it at 40-60%"),
        ("24 hours", "about 48 hours"),
        ("70% alcohol", "70% vinegar"),
        ("皮癬菌", "黴菌"),
    ],
)
def test_different_facts_do_not_match(fact, text):
    assert not fact_present(fact, text)


def test_doctor_advice_detection():
    assert recommends_doctor("If it persists, see a doctor [2].")
    assert recommends_doctor("Ask a dermatologist or your GP.")
    assert recommends_doctor("症狀持續請就醫。")
    assert recommends_doctor("建議看皮膚科醫師")
    assert not recommends_doctor("Dry the shoes for 24 hours.")
    assert not recommends_doctor("請把鞋子晾乾")


def test_citation_needs_a_marker_that_points_at_a_source():
    assert cites_source("Keep it at 50-60% [1].", 1)
    assert not cites_source("Keep it at 50-60% [3].", 2)
    assert not cites_source("Keep it at 50-60%.", 2)
    assert not cites_source("Keep it at 50-60% [1].", 0)


def test_percentile():
    assert percentile([], 50) == 0.0
    assert percentile([5.0], 95) == 5.0
    assert percentile([1, 2, 3, 4], 50) == 2.5
    assert percentile(list(range(1, 101)), 95) == pytest.approx(95.05)


# ------------------------------------------------------------------------------------ metrics


@dataclass
class FakeAnswer:
    text: str
    route: str
    refused: bool
    sources: list = field(default_factory=list)
    grounded: bool = True
    repaired: bool = False
    backend: str = "fake"
    model: str = "fake-model"
    latency_ms: float = 100.0


class OracleAgent:
    """Answers every question perfectly from the question set itself."""

    def __init__(self, questions: list[EvalQuestion]):
        self.by_text = {q.question: q for q in questions}

    def ask(self, question: str) -> FakeAnswer:
        q = self.by_text[question]
        if q.refuse:
            return FakeAnswer("Sorry, I can only help with mold on shoes.", "out_of_scope", True)
        doctor = " If symptoms persist, see a doctor." if q.health else ""
        text = "Facts: " + ", ".join(q.key_facts) + " [1]." + doctor
        return FakeAnswer(text, q.route, False, sources=[object()], latency_ms=float(len(q.question)))


class CarelessAgent:
    """Never refuses, never cites, says nothing useful, routes everything as general."""

    def ask(self, question: str) -> FakeAnswer:
        return FakeAnswer("Shoes are nice.", "general", False)


class RefusingAgent:
    def ask(self, question: str) -> dict:
        return {"text": "I can't help with that.", "route": "out_of_scope", "refused": True, "sources": []}


class CrashingAgent:
    backend_name = "broken"
    model_name = "none"

    def ask(self, question: str):
        raise RuntimeError("model not loaded")


def test_a_perfect_agent_meets_every_goal(questions):
    report = evaluate(OracleAgent(questions), questions)
    assert report["n"] == len(questions)
    for key in ("route_accuracy", "key_fact_accuracy_en", "key_fact_accuracy_zh", "refusal_accuracy",
                "citation_rate", "health_advice_rate", "grounded_rate"):
        assert report[key] == 1.0, key
    assert report["false_refusal_rate"] == 0.0
    assert all(report["goals"].values())
    assert report["failures"] == []
    assert report["backend"] == "fake" and report["model"] == "fake-model"
    assert 0 < report["latency_ms"]["p50"] <= report["latency_ms"]["p95"]
    json.dumps(report, ensure_ascii=False)  # serialisable


def test_a_careless_agent_fails_with_reasons(questions):
    report = evaluate(CarelessAgent(), questions)
    general_share = sum(q.route == "general" for q in questions) / len(questions)
    assert report["route_accuracy"] == pytest.approx(general_share, abs=1e-4)
    assert report["refusal_accuracy"] == 0.0
    assert report["citation_rate"] == 0.0
    assert report["key_fact_accuracy"] == 0.0
    assert report["health_advice_rate"] == 0.0
    assert not report["goals"]["refusal_accuracy"]
    problems = {item["id"]: item["problems"] for item in report["failures"]}
    refused_id = next(q.id for q in questions if q.refuse)
    assert "not refused" in problems[refused_id]
    in_domain_id = next(q.id for q in questions if not q.refuse)
    assert any(p.startswith("missing facts") for p in problems[in_domain_id])
    assert any(p.startswith("no citation") for p in problems[in_domain_id])


def test_refusing_everything_is_a_false_refusal_rate_of_one(questions):
    report = evaluate(RefusingAgent(), questions[:20] + [q for q in questions if q.refuse][:3])
    assert report["false_refusal_rate"] == 1.0
    assert report["refusal_accuracy"] == 1.0
    assert report["goals"]["false_refusal_rate"] is False


def test_a_measure_with_nothing_to_measure_has_no_verdict(questions):
    # A --limit slice with no out-of-scope question: refusal accuracy is n/a, not a missed goal.
    report = evaluate(RefusingAgent(), [q for q in questions if not q.refuse][:5])
    assert report["refusal_accuracy"] is None and report["goals"]["refusal_accuracy"] is None
    assert report["goals"]["false_refusal_rate"] is False


def test_an_agent_error_counts_against_that_question_only(questions):
    report = evaluate(CrashingAgent(), questions[:3])
    assert report["errors"] == 3
    assert report["route_accuracy"] == 0.0
    assert report["backend"] == "broken"
    assert "error: RuntimeError: model not loaded" in report["failures"][0]["problems"]


def test_evaluate_accepts_plain_dicts_and_reports_progress():
    seen = []
    items = [{"id": "q1", "question": "Why mold?", "lang": "en", "route": "general", "key_facts": ["50-60%"]}]
    report = evaluate(CarelessAgent(), items, progress=lambda done, total, q: seen.append((done, total, q.id)))
    assert seen == [(1, 1, "q1")]
    assert report["key_fact_accuracy_en"] == 0.0 and report["key_fact_accuracy_zh"] is None


# ------------------------------------------------------------------------------------ CLI


def _cli():
    from shoeagent.cli import _build

    return _build()


def test_cli_reports_json_with_a_fake_agent(monkeypatch, questions):
    import shoeagent.agent.api as api

    monkeypatch.setattr(api, "ShoeAgent", lambda backend, model: OracleAgent(questions))
    result = CliRunner().invoke(_cli(), ["eval", "agent", "--json", "--limit", "5"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert report["n"] == 5 and report["route_accuracy"] == 1.0


def test_cli_warns_when_the_backend_stands_in_with_the_base_model(monkeypatch, questions):
    import shoeagent.agent.api as api
    from shoeagent.agent.llm import BASE_MODEL_NOTE

    class BaseModelAgent(OracleAgent):
        backend_notes = [BASE_MODEL_NOTE]

    monkeypatch.setattr(api, "ShoeAgent", lambda backend, model: BaseModelAgent(questions))
    result = CliRunner().invoke(_cli(), ["eval", "agent", "--json", "--limit", "2"])
    assert result.exit_code == 0, result.output
    assert f"warning: {BASE_MODEL_NOTE}" in result.stderr
    assert json.loads(result.stdout.strip().splitlines()[-1])["n"] == 2


def test_cli_table_and_language_filter(monkeypatch, questions, tmp_path):
    import shoeagent.agent.api as api

    monkeypatch.setattr(api, "ShoeAgent", lambda backend, model: CarelessAgent())
    out = tmp_path / "report.json"
    result = CliRunner().invoke(_cli(), ["eval", "agent", "--lang", "zh", "--limit", "4", "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert "Route accuracy" in result.stdout and "Questions with problems" in result.stdout
    saved = json.loads(out.read_text(encoding="utf-8"))
    assert saved["n"] == saved["n_zh"] == 4


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--lang", "fr"], "unknown language"),
        (["--backend", "gpt"], "unknown backend"),
        (["--questions", "/nonexistent/q.jsonl"], "does not exist"),
    ],
)
def test_cli_user_errors_exit_2_with_one_line(args, message):
    result = CliRunner().invoke(_cli(), ["eval", "agent", *args])
    assert result.exit_code == 2
    assert message in result.stderr
    assert "Traceback" not in result.output
