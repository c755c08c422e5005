"""The retrieval metrics and the threshold rule, on hand-made results (pure logic, no index)."""

from __future__ import annotations

import pytest

from shoeagent.knowledge.evaluate import EvalQuery, QueryResult, choose_threshold, compute_metrics


def _result(score: float, ood: bool, ranked: tuple[str, ...] = ("x",)) -> QueryResult:
    query = EvalQuery("q", "en", [] if ood else ["x"], "ood" if ood else "short", "retrieval_a")
    return QueryResult(query, list(ranked), [score] * len(ranked))


def test_threshold_rejects_the_target_share_of_ood_with_margin():
    ood = [0.51, 0.19, 0.18] + [0.05] * 17  # 20: at 95%, one of them may pass
    in_domain = [0.9, 0.5, 0.3, 0.25, 0.2]
    results = [_result(s, True) for s in ood] + [_result(s, False) for s in in_domain]
    threshold = choose_threshold(results)
    assert threshold == pytest.approx((0.51 + 0.19) / 2, abs=1e-4)
    metrics = compute_metrics(results, threshold)
    assert metrics.ood_rejection == 0.95 and metrics.false_refusal == pytest.approx(3 / 5)
    # Balanced accuracy would have put the cut above 0.51 and refused 4 of the 5 in-domain queries.
    strict = choose_threshold(results, min_rejection=1.0)
    assert 0.51 < strict < 0.9 and compute_metrics(results, strict).false_refusal == pytest.approx(4 / 5)


def test_false_refusal_counts_in_domain_queries_under_the_threshold():
    results = [_result(0.8, False), _result(0.2, False, ("y", "x")), _result(0.1, True)]
    metrics = compute_metrics(results, 0.5)
    assert metrics.false_refusal == pytest.approx(0.5) and metrics.in_domain_answered == pytest.approx(0.5)
    assert metrics.raw_hit_at_3 == 1.0 and metrics.hit_at_3 == pytest.approx(0.5)
    assert metrics.as_dict()["false_refusal"] == 0.5
    with pytest.raises(ValueError, match="both in-domain and out-of-domain"):
        choose_threshold(results[:2])


def test_listwise_ranking_fit_learns_which_signal_marks_the_relevant_candidate():
    import numpy as np

    from shoeagent.knowledge.ranking import fit_listwise

    rng = np.random.default_rng(0)
    groups = []
    for _ in range(40):
        x = rng.random((12, 3))
        relevant = np.zeros(12)
        best = int(np.argmax(x[:, 0] + 0.1 * rng.random(12)))  # signal 0 (mostly) decides
        relevant[best] = 1.0
        groups.append((x, relevant))
    w = fit_listwise(groups, l2=0.1)
    assert w[0] > 3 * max(abs(w[1]), abs(w[2]))
    hits = sum(int(np.argmax(x @ w) == np.argmax(y)) for x, y in groups)
    assert hits >= 30  # chance would be about 40 / 12


def test_eval_splits_the_held_out_split_is_separate_and_large_enough():
    from collections import Counter

    from shoeagent.knowledge.entries import load_entries
    from shoeagent.knowledge.evaluate import HELD_OUT_SPLITS, TUNING_SPLITS, eval_dir, load_queries

    entries = {e.id: e for e in load_entries()}
    held = load_queries([eval_dir() / f"{s}.jsonl" for s in HELD_OUT_SPLITS], known_ids=set(entries))
    tuning = load_queries([eval_dir() / f"{s}.jsonl" for s in TUNING_SPLITS], known_ids=set(entries))
    assert not {q.query.lower() for q in held} & {q.query.lower() for q in tuning}
    # Written from the entries' titles, not copied from their example questions.
    examples = {x.lower() for e in entries.values() for qs in e.questions.values() for x in qs}
    assert not {q.query.lower() for q in held} & examples
    in_domain = Counter(q.lang for q in held if not q.ood)
    ood = Counter(q.lang for q in held if q.ood)
    assert in_domain["en"] >= 60 and in_domain["zh"] >= 60 and ood["en"] >= 15 and ood["zh"] >= 15
    categories = {entries[r].category for q in held for r in q.relevant}
    assert len(categories) == 10


def test_fitting_refuses_the_held_out_split():
    from types import SimpleNamespace

    from shoeagent.knowledge.evaluate import fit_model

    with pytest.raises(ValueError, match="held out"):
        fit_model(kb=SimpleNamespace(build=lambda: None), splits=("retrieval_a", "retrieval_d"))


def test_halves_check_only_takes_a_tuning_split():
    from types import SimpleNamespace

    from shoeagent.knowledge.evaluate import halves_check

    with pytest.raises(ValueError, match="not a tuning split"):
        halves_check("retrieval_d", kb=SimpleNamespace(build=lambda: None))


def test_report_separates_tuning_and_held_out_splits():
    from shoeagent.knowledge.evaluate import report

    def res(split: str, score: float, ood: bool) -> QueryResult:
        query = EvalQuery("q", "zh", [] if ood else ["x"], "ood" if ood else "short", split)
        return QueryResult(query, ["x"], [score])

    results = [res("retrieval_a", 0.9, False), res("retrieval_a", 0.1, True),
               res("retrieval_d", 0.2, False), res("retrieval_d", 0.8, True)]
    data = report(results, 0.5)
    assert data["per_split"]["retrieval_a"]["role"] == "tuning"
    assert data["per_split"]["retrieval_d"]["role"] == "held_out"
    assert data["held_out"]["splits"] == ["retrieval_d"] and data["held_out"]["hit_at_3"] == 0.0
    assert data["held_out"]["ood_rejection"] == 0.0 and data["held_out"]["per_lang"]["zh"]["false_refusal"] == 1.0
    assert data["tuning"]["hit_at_3"] == 1.0 and data["tuning"]["ood_rejection"] == 1.0


def test_agent_gate_counts_router_refusals_and_its_lower_bar_for_confirmed_questions():
    from shoeagent.knowledge.evaluate import gate_metrics

    def res(text: str, score: float, ood: bool, lang: str = "en") -> QueryResult:
        query = EvalQuery(text, lang, [] if ood else ["x"], "ood" if ood else "short", "retrieval_d")
        return QueryResult(query, ["x"], [score])

    bars = {"sofa mold": None, "moldy insole": 0.12, "white stuff on boots": 0.3, "mold on a tent": 0.3}
    results = [res("sofa mold", 0.9, True),  # the router refuses it, however well it scores
               res("mold on a tent", 0.4, True),  # passes the threshold: not rejected
               res("moldy insole", 0.2, False),  # confirmed by the router: 0.2 clears its bar of 0.12
               res("white stuff on boots", 0.2, False)]  # not confirmed: refused under 0.3
    gate = gate_metrics(results, bars.get)["retrieval_d"]
    assert gate["role"] == "held_out"
    assert gate["ood_rejection"] == 0.5 and gate["false_refusal"] == 0.5
    assert gate["per_lang"]["zh"]["ood_rejection"] is None and gate["per_lang"]["en"]["n_ood"] == 2
