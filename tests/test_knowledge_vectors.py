"""The in-memory exact cosine index: same answers as a plain matrix product, sparse or dense."""

from __future__ import annotations

import numpy as np
import pytest

from shoeagent.knowledge.vectors import VectorIndex


def _reference(rows: np.ndarray, query: np.ndarray) -> np.ndarray:
    unit = rows / np.maximum(np.linalg.norm(rows, axis=1, keepdims=True), 1e-30)
    return np.clip(unit @ (query / np.linalg.norm(query)), 0.0, 1.0)


@pytest.mark.parametrize("density", [0.03, 1.0])  # hashed n-grams (inverted layout), Ollama-like (matrix)
def test_cosine_matches_matrix_product_across_batches(density):
    rng = np.random.default_rng(7)
    rows = np.where(rng.random((250, 256)) < density, rng.standard_normal((250, 256)), 0.0)
    rows[17] = 0.0  # an all-zero row scores 0, not NaN
    index = VectorIndex([rows[:100], rows[100:200], rows[200:]])
    assert index.size == 250 and index.dim == 256
    for _ in range(3):
        query = np.where(rng.random(256) < max(density, 0.1), rng.standard_normal(256), 0.0)
        got = index.cosine(query)
        assert got.shape == (250,) and got[17] == 0.0
        np.testing.assert_allclose(got, _reference(rows, query), atol=1e-5)
    assert not index.cosine(np.zeros(256)).any()


def test_bad_shapes_and_empty_index():
    index = VectorIndex([np.eye(4)])
    with pytest.raises(ValueError, match="3 dimensions, the index has 4"):
        index.cosine(np.ones(3))
    with pytest.raises(ValueError, match="rows of 5 dimensions"):
        VectorIndex([np.eye(4), np.ones((1, 5))])
    assert VectorIndex([]).cosine(np.ones(4)).size == 0
