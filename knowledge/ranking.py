"""How retrieval signals combine into one calibrated relevance score in [0, 1].

Two small logistic models. The *ranking* model scores every candidate document from signals in
[0, 1]: how much of the query the document covers (BM25-style, :mod:`shoeagent.knowledge.lexical`),
the cosine similarity of the offline embedding, how much of the query the *title* covers and how
much of the title the query mentions, whether the document is in the query's language, how much of
the query the entry's best-matching example question covers and how close (cosine) its closest
example question is, how much of the query all its example questions together cover and how much
of them the query mentions (doc2query: users' wording rarely matches the fact sheet's), and
language interaction terms (English and Chinese signals run at different levels). The
*answerability* model then maps a candidate's ranking log-odds, plus per-query evidence of being
on topic, to the final score: the probability that the query is in the knowledge base's domain and
this hit answers it. One threshold on it serves both languages.

The weights are fitted on ``knowledge/eval/retrieval_a.jsonl`` only (``python -m
shoeagent.knowledge.evaluate --fit``) and checked on ``retrieval_b.jsonl``.
"""

from __future__ import annotations

import numpy as np

SIGNALS = (
    "coverage",
    "dense",
    "title_coverage",
    "title_recall",
    "same_lang",
    "question_coverage",
    "question_dense",
    "qfield_coverage",
    "qfield_recall",
    "zh",
    "zh_coverage",
    "zh_dense",
    "zh_title_coverage",
    "zh_question_coverage",
    "zh_question_dense",
)
# Inputs of the answerability model: the best candidate's ranking logit, then the per-query features
# of :func:`query_features`.
QUERY_FEATURES = ("rank_logit", "known_fraction", "footwear", "care", "footwear_and_care", "zh")

# Fitted on retrieval_a only, by `python -m shoeagent.knowledge.evaluate --fit`.
RANK_WEIGHTS = np.array([
    -1.192, 3.476, -2.549, 4.127, 0.492, -0.029, 3.043, 6.194, 9.426, 0.270, 1.809, 1.843, 0.598, 0.860, -0.098
])
RANK_BIAS = -9.380
ANSWER_WEIGHTS = np.array([1.655, 2.720, 1.335, 2.171, 3.931, -0.049])
ANSWER_BIAS = -3.107


def signal_matrix(
    coverage: np.ndarray,
    dense: np.ndarray,
    title_coverage: np.ndarray,
    title_recall: np.ndarray,
    same_lang: np.ndarray,
    question_coverage: np.ndarray,
    question_dense: np.ndarray,
    qfield_coverage: np.ndarray,
    qfield_recall: np.ndarray,
    query_is_zh: bool,
) -> np.ndarray:
    """The (n_candidates, len(SIGNALS)) matrix the ranking model scores."""
    zh = np.full_like(coverage, 1.0 if query_is_zh else 0.0)
    return np.column_stack(
        [coverage, dense, title_coverage, title_recall, same_lang, question_coverage, question_dense,
         qfield_coverage, qfield_recall, zh,
         zh * coverage, zh * dense, zh * title_coverage, zh * question_coverage, zh * question_dense]
    )


def rank_logits(matrix: np.ndarray, weights: np.ndarray = RANK_WEIGHTS, bias: float = RANK_BIAS) -> np.ndarray:
    """Ranking model: log-odds that each candidate answers the query (orders candidates)."""
    return matrix @ weights + bias


def query_features(known_fraction: float, footwear: float, care: float, query_is_zh: bool) -> np.ndarray:
    """The per-query inputs of the answerability model (:data:`QUERY_FEATURES` after ``rank_logit``)."""
    return np.array([known_fraction, footwear, care, footwear * care, 1.0 if query_is_zh else 0.0])


def calibrated(
    logits: np.ndarray,
    features: np.ndarray,
    weights: np.ndarray = ANSWER_WEIGHTS,
    bias: float = ANSWER_BIAS,
) -> np.ndarray:
    """Answerability model: the final score in [0, 1] of each candidate, monotone in its ranking logit.

    The query-level ``features`` (:func:`query_features`: how much of the query the corpus knows at
    all, whether it talks about footwear and about mold, damp, smell or care) move all of a query's
    candidates together, so they change whether the query is answered, never the order of its hits.
    """
    return sigmoid(weights[0] * logits + float(np.dot(weights[1:], features)) + bias)


def sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-np.clip(x, -50, 50)))


def fit(
    matrix: np.ndarray, labels: np.ndarray, l2: float = 1.0, sample_weight: np.ndarray | None = None,
    iterations: int = 50,
) -> tuple[np.ndarray, float]:
    """L2-regularised, optionally weighted logistic regression by Newton's method; returns (weights, bias)."""
    x = np.column_stack([matrix, np.ones(len(matrix))])
    sw = np.ones(len(matrix)) if sample_weight is None else sample_weight
    w = np.zeros(x.shape[1])
    penalty = np.full(x.shape[1], l2)
    penalty[-1] = 0.0  # the bias is not shrunk
    for _ in range(iterations):
        p = sigmoid(x @ w)
        gradient = x.T @ (sw * (p - labels)) + penalty * w
        hessian = (x * (sw * p * (1 - p))[:, None]).T @ x + np.diag(penalty)
        step = np.linalg.solve(hessian, gradient)
        w -= step
        if np.abs(step).max() < 1e-8:
            break
    return w[:-1], float(w[-1])
