"""Exact cosine similarity of a query against stored embeddings, held in memory in sparse form.

The knowledge base's own documents (entries and their example questions, a few thousand rows) are
scored exactly on every query instead of through Chroma's approximate nearest-neighbour search: a
hashed n-gram vector has a few hundred non-zero dimensions out of 4096, so an inverted layout
(dimension -> rows holding it) touches only the dimensions the query has, which takes well under a
millisecond, where one Chroma round trip takes several. Rows arrive in batches and only their
non-zero values are kept, so memory follows the number of non-zeros, not rows x dimensions. Dense
embeddings (Ollama) are kept as a plain matrix instead.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import numpy as np

# Above this share of non-zero values a plain matrix product is cheaper than the inverted layout.
DENSE_SHARE = 0.25


class VectorIndex:
    """Unit-normalised rows (inverted by dimension when sparse); :meth:`cosine` scores them all.

    ``batches`` yields 2-D arrays (or lists of vectors) of equal width, in row order.
    """

    def __init__(self, batches: Iterable[Any]) -> None:
        self.size = 0
        self.dim = 0
        dense_parts: list[np.ndarray] = []
        rows_parts: list[np.ndarray] = []
        dims_parts: list[np.ndarray] = []
        values_parts: list[np.ndarray] = []
        self._dense: np.ndarray | None = None
        dense: bool | None = None
        for batch in batches:
            matrix = np.asarray(batch, dtype=np.float32)
            if matrix.size == 0:
                continue
            if matrix.ndim == 1:
                matrix = matrix[None, :]
            if self.dim and matrix.shape[1] != self.dim:
                raise ValueError(f"rows of {matrix.shape[1]} dimensions after rows of {self.dim}")
            self.dim = matrix.shape[1]
            norms = np.linalg.norm(matrix, axis=1, keepdims=True)
            matrix = matrix / np.where(norms > 0, norms, 1.0)
            if dense is None:  # the first batch decides the layout
                dense = np.count_nonzero(matrix) > DENSE_SHARE * matrix.size
            if dense:
                dense_parts.append(matrix)
            else:
                row_ids, dims = np.nonzero(matrix)
                rows_parts.append((row_ids + self.size).astype(np.int32))
                dims_parts.append(dims)
                values_parts.append(matrix[row_ids, dims])
            self.size += len(matrix)
        if dense:
            self._dense = np.concatenate(dense_parts)
            return
        dims = np.concatenate(dims_parts) if dims_parts else np.zeros(0, dtype=np.int64)
        order = np.argsort(dims, kind="stable")
        self._rows = np.concatenate(rows_parts)[order] if rows_parts else np.zeros(0, dtype=np.int32)
        self._values = np.concatenate(values_parts)[order] if values_parts else np.zeros(0, dtype=np.float32)
        # _starts[d]:_starts[d + 1] is the slice of _rows/_values holding dimension d.
        self._starts = np.searchsorted(dims[order], np.arange(self.dim + 1))

    def cosine(self, query: Any) -> np.ndarray:
        """Cosine similarity of ``query`` with every row, clipped to [0, 1] (zeros for a zero query)."""
        vector = np.asarray(query, dtype=np.float32).ravel()
        result = np.zeros(self.size, dtype=np.float64)
        if self.size == 0:
            return result
        if vector.shape[0] != self.dim:
            raise ValueError(f"query has {vector.shape[0]} dimensions, the index has {self.dim}")
        norm = float(np.linalg.norm(vector))
        if norm == 0.0:
            return result
        if self._dense is not None:
            return np.clip(self._dense @ (vector / norm), 0.0, 1.0).astype(np.float64)
        dims = np.flatnonzero(vector)
        starts = self._starts[dims]
        lengths = self._starts[dims + 1] - starts
        total = int(lengths.sum())
        if total == 0:
            return result
        # Gather every (row, value) of the query's dimensions in one go, each weighted by the query.
        offsets = np.repeat(starts - np.cumsum(lengths) + lengths, lengths) + np.arange(total)
        weights = self._values[offsets] * np.repeat(vector[dims] / norm, lengths)
        result += np.bincount(self._rows[offsets], weights=weights, minlength=self.size)
        return np.clip(result, 0.0, 1.0)
