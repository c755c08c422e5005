"""Static word vectors that know English synonyms: WordLlama's token embeddings, read offline.

The hashed n-gram embedding (:mod:`.embedding`) only matches what is spelt alike, so a question in
words no entry uses ("fluff" for mold, "mildew smell" for a musty odour) finds nothing to match.
WordLlama (MIT licence) ships, inside its PyPI wheel, a 32,000 x 256 table of token vectors distilled
from Llama 2 70B's embeddings and trained on English sentence pairs: averaged over a text's tokens
and normalised, they make a sentence embedding that puts paraphrases near each other. It is a table
lookup, so embedding a query takes well under a millisecond.

We read the package's two files (the safetensors table and its tokenizer) without importing the
package: ``WordLlama.load()`` looks for the tokenizer on the Hugging Face hub first, and nothing here
may reach a model hub. Chinese mostly falls to byte tokens in this tokenizer, so the vectors carry
little for Chinese; the ranking model weighs them per language (:mod:`.ranking`).
"""

from __future__ import annotations

import importlib.util
import threading
from pathlib import Path
from typing import Any

import numpy as np

PACKAGE = "wordllama"
WEIGHTS = "weights/l2_supercat_256.safetensors"
TOKENIZER = "tokenizers/l2_supercat_tokenizer_config.json"
# Characters of a text that are embedded: a mean over more tokens than this changes little.
MAX_CHARS = 4000


class WordVectorsMissingError(RuntimeError):
    """WordLlama's files are not installed."""


def package_files() -> tuple[Path, Path]:
    """(weights, tokenizer) inside the installed ``wordllama`` package, located without importing it."""
    spec = importlib.util.find_spec(PACKAGE)
    if spec is not None and spec.submodule_search_locations:
        for location in spec.submodule_search_locations:
            weights, tokenizer = Path(location) / WEIGHTS, Path(location) / TOKENIZER
            if weights.is_file() and tokenizer.is_file():
                return weights, tokenizer
    raise WordVectorsMissingError(
        "The word vectors retrieval uses are missing: the package 'wordllama' is not installed (or lacks "
        f"{WEIGHTS}). Fix: pip install wordllama (or run `make setup`)."
    )


class WordVectors:
    """WordLlama's token table and tokenizer; :meth:`index` builds a :class:`WordVectorIndex` over texts."""

    def __init__(self, table: np.ndarray, tokenizer: Any) -> None:
        self.table = np.ascontiguousarray(table, dtype=np.float32)
        self.tokenizer = tokenizer
        self.dim = self.table.shape[1]

    @classmethod
    def load(cls) -> WordVectors:
        from safetensors.numpy import load_file
        from tokenizers import Tokenizer

        weights, tokenizer_file = package_files()
        table = load_file(str(weights))["embedding.weight"]
        tokenizer = Tokenizer.from_file(str(tokenizer_file))
        tokenizer.no_padding()
        tokenizer.no_truncation()
        return cls(table, tokenizer)

    def token_ids(self, texts: list[str]) -> list[np.ndarray]:
        encodings = self.tokenizer.encode_batch([t[:MAX_CHARS] for t in texts], add_special_tokens=False)
        return [np.clip(np.asarray(e.ids, dtype=np.int64), 0, len(self.table) - 1) for e in encodings]

    def index(self, texts: list[str]) -> WordVectorIndex:
        return WordVectorIndex(self, texts)


class WordVectorIndex:
    """Texts embedded for one corpus, and the cosine of a query with each of them.

    Two corpus-level adjustments, each chosen because it ranked the tuning splits better: a token
    counts by its inverse document frequency in the corpus (every entry speaks of shoes and mold, so
    those tokens would pull all vectors together), and the corpus's mean vector is subtracted from
    every vector, the query's included (what all the texts share says nothing about which one fits).
    """

    def __init__(self, vectors: WordVectors, texts: list[str]) -> None:
        from shoeagent.knowledge.vectors import VectorIndex

        self.vectors = vectors
        ids = vectors.token_ids(texts)
        frequency = np.zeros(len(vectors.table))
        for row in ids:
            frequency[np.unique(row)] += 1
        self.token_weight = (np.log((1 + len(texts)) / (1 + frequency)) + 1.0).astype(np.float32)
        matrix = self._pooled(ids)
        self.centre = matrix.mean(axis=0) if len(matrix) else np.zeros(vectors.dim, dtype=np.float32)
        self._index = VectorIndex([matrix - self.centre]) if len(matrix) else None
        self.size = len(texts)

    def _pooled(self, ids: list[np.ndarray]) -> np.ndarray:
        out = np.zeros((len(ids), self.vectors.dim), dtype=np.float32)
        for row, tokens in enumerate(ids):
            if len(tokens):
                vector = self.token_weight[tokens] @ self.vectors.table[tokens]
                norm = float(np.linalg.norm(vector))
                if norm > 0:
                    out[row] = vector / norm
        return out

    def embed(self, texts: list[str]) -> np.ndarray:
        """Centred, IDF-weighted vectors of ``texts`` in this corpus's space (not normalised)."""
        return self._pooled(self.vectors.token_ids(texts)) - self.centre

    def cosine(self, text: str) -> np.ndarray:
        """Cosine of ``text`` with every indexed text, clipped to [0, 1]."""
        if self._index is None:
            return np.zeros(0)
        return self._index.cosine(self.embed([text])[0])


_shared: WordVectors | None = None
_lock = threading.Lock()


def shared() -> WordVectors:
    """One table per process (16 MB), loaded on first use."""
    global _shared
    with _lock:
        if _shared is None:
            _shared = WordVectors.load()
        return _shared
