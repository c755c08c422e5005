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
