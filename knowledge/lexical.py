"""A BM25-style lexical scorer over the indexed documents, normalised to [0, 1] by query coverage,
and a spelling corrector for query words built from the same documents (English misspellings and
Chinese homophone typos).

``score(q, d) = Σ_t w(t)·idf(t)·sat(t, d) / Σ_t w(t)·idf(t)`` over the query's features ``t``, where
``sat`` is BM25's length-normalised term-frequency saturation divided by its limit ``k1 + 1``. It reads as "how much of
what the query says (weighted by how telling each word is) this document covers". Query features the
corpus has never seen get the highest idf, so a question about a leather *sofa* covers less than one
about leather *boots*: this is what lets a single threshold reject out-of-domain questions.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from functools import lru_cache
from pathlib import Path

import numpy as np

from shoeagent.knowledge.features import EN_STOPWORDS, KIND_WEIGHTS, SYNONYMS, ZH_PARTICLES, ZH_WEAK, features, normalize, read_char_table

K1 = 0.6  # low saturation: one mention of a term already counts for much
B = 0.75


def _grouped(fids: list[int], n_features: int, *columns: tuple[list[float] | list[int], type]) -> tuple[np.ndarray, list[np.ndarray]]:
    """Postings in one block: ``columns`` reordered by feature id (stably, so each feature's documents
    stay in ascending order) and each feature's ``starts[f]:starts[f + 1]`` slice of them. A few numpy
    calls, where small arrays per feature cost a second per index on the knowledge base."""
    keys = np.asarray(fids, dtype=np.int64)
    order = np.argsort(keys, kind="stable")
    starts = np.zeros(n_features + 1, dtype=np.int64)
    np.cumsum(np.bincount(keys, minlength=n_features), out=starts[1:])
    return starts, [np.asarray(values, dtype=dtype)[order] for values, dtype in columns]


class _Inverted:
    """What both indexes share: feature ids (``_ids``) and each feature's slice bounds (``_bounds``,
    plain ints: a query looks up dozens of spans) into their posting arrays (see :func:`_grouped`)."""

    _ids: dict[str, int]
    _bounds: list[int]

    def _span(self, feature: str) -> tuple[int, int] | None:
        fid = self._ids.get(feature)
        return None if fid is None else (self._bounds[fid], self._bounds[fid + 1])


class LexicalIndex(_Inverted):
    """Inverted index over documents' features with coverage-normalised BM25 scoring.

    Documents are texts, or their feature bags (:func:`.features.features`) when the caller has them
    already. ``idf_from`` lets an index of short fields (titles) use the idf of the full documents.
    Feature ``f``'s postings are ``_docs``, ``_sat`` (saturated, length-normalised tf in [0, 1]) and
    ``_weight`` (kind weight, sublinear tf) over ``_starts[_ids[f]]:_starts[_ids[f] + 1]``.
    """

    def __init__(self, texts: list[str] | list[Counter[str]], idf_from: LexicalIndex | None = None) -> None:
        self.size = len(texts)
        self._idf_from = idf_from
        bags = [features(t) if isinstance(t, str) else t for t in texts]
        lengths = np.array([sum(KIND_WEIGHTS[f[0]] * n for f, n in bag.items()) for bag in bags], dtype=np.float64)
        avg = float(lengths.mean()) if self.size else 1.0
        norms = (K1 * (1 - B + B * lengths / (avg or 1.0))).tolist()
        self._ids: dict[str, int] = {}
        fids: list[int] = []
        docs: list[int] = []
        sats: list[float] = []
        weights: list[float] = []
        for i, bag in enumerate(bags):
            norm = norms[i]
            for feature, tf in bag.items():
                fids.append(self._ids.setdefault(feature, len(self._ids)))
                docs.append(i)
                sats.append(tf / (tf + norm))
                weights.append(KIND_WEIGHTS[feature[0]] * (1.0 + math.log(tf)))
        self._starts, (self._docs, self._sat, self._weight) = _grouped(
            fids, len(self._ids), (docs, np.int32), (sats, np.float32), (weights, np.float32)
        )
        self._bounds = self._starts.tolist()
        self._unseen_idf = self._idf_of_df(0)
        # Each document's own idf-weighted mass, the denominator of recall().
        idf = np.array([self.feature_idf(f) for f in self._ids], dtype=np.float64)
        owner = np.repeat(np.arange(len(self._ids)), np.diff(self._starts))
        self._mass = np.bincount(self._docs, weights=self._weight * idf[owner], minlength=self.size).astype(np.float64)

    def _idf_of_df(self, df: int) -> float:
        return math.log(1.0 + (self.size - df + 0.5) / (df + 0.5))

    def feature_idf(self, feature: str) -> float:
        """Inverse document frequency of ``feature`` (highest for unseen features)."""
        if self._idf_from is not None:
            return self._idf_from.feature_idf(feature)
        span = self._span(feature)
        return self._idf_of_df(span[1] - span[0]) if span is not None else self._unseen_idf

    def known(self, feature: str) -> bool:
        source = self._idf_from or self
        return feature in source._ids

    def scores(self, query: str | Counter[str]) -> np.ndarray:
        """Coverage in [0, 1]: how much of the query each document covers (zeros for a featureless query)."""
        bag = features(query) if isinstance(query, str) else query
        result = np.zeros(self.size, dtype=np.float64)
        total = 0.0
        for feature, tf in bag.items():
            if feature[0] == "b" and not self.known(feature):
                # An unseen Chinese bigram is mostly a word boundary ("帶發" in "鞋帶發霉"); its characters
                # still count as unigrams, so an unknown topic is still noticed.
                continue
            weight = KIND_WEIGHTS[feature[0]] * (1.0 + math.log(tf)) * self.feature_idf(feature)
            total += weight
            span = self._span(feature)
            if span is not None:
                a, b = span
                result[self._docs[a:b]] += weight * self._sat[a:b]  # a posting lists each doc once
        return result / total if total > 0 else result

    def known_fraction(self, query: str | Counter[str], also: LexicalIndex | None = None) -> float:
        """Share of the query's idf-weighted features that occur anywhere in the corpus, or in the
        corpus of ``also`` (0 to 1)."""
        bag = features(query) if isinstance(query, str) else query
        known = total = 0.0
        for feature, tf in bag.items():
            seen = self.known(feature) or (also is not None and also.known(feature))
            if feature[0] == "b" and not seen:
                continue
            weight = KIND_WEIGHTS[feature[0]] * (1.0 + math.log(tf)) * self.feature_idf(feature)
            total += weight
            known += weight if seen else 0.0
        return known / total if total > 0 else 0.0

    def recall(self, query: str | Counter[str]) -> np.ndarray:
        """Recall in [0, 1]: how much of each document the query mentions (idf-weighted)."""
        bag = features(query) if isinstance(query, str) else query
        result = np.zeros(self.size, dtype=np.float64)
        for feature in bag:
            span = self._span(feature)
            if span is not None:
                a, b = span
                result[self._docs[a:b]] += self._weight[a:b] * self.feature_idf(feature)
        return np.divide(result, self._mass, out=np.zeros_like(result), where=self._mass > 0)


_CJK_RUN_RE = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]+")
# Weight (relative to a known one) of a Chinese bigram no indexed text contains, in
# :class:`PresenceIndex`: mostly a word boundary ("帶發"), sometimes a word the base knows nothing
# about ("浴簾", "沙發"), which is what the residual is there to notice.
UNSEEN_BIGRAM_WEIGHT = 0.5


class PresenceIndex(_Inverted):
    """Which of the query's features each row (an entry: both languages and its example questions)
    contains at all, idf-weighted: ``coverage(q)[r]`` is the share of the query a row can explain.

    Unlike :meth:`LexicalIndex.scores` there is no saturation or length normalisation: a row either
    mentions a feature or not, and a feature's idf is taken over these rows. ``1 - max(coverage)``
    is the part of the query nothing in the base explains ("leather *sofa*", "*bread* mold"),
    evidence that the question is out of domain.
    """

    def __init__(self, bags: list[Counter[str]] | list[set[str]]) -> None:
        self.size = len(bags)
        self._ids: dict[str, int] = {}
        fids: list[int] = []
        rows: list[int] = []
        for i, bag in enumerate(bags):
            for feature in bag:
                fids.append(self._ids.setdefault(feature, len(self._ids)))
                rows.append(i)
        starts, (self._rows,) = _grouped(fids, len(self._ids), (rows, np.int32))
        self._bounds = starts.tolist()

    def _idf(self, feature: str) -> float:
        span = self._span(feature)
        df = span[1] - span[0] if span is not None else 0
        return math.log(1.0 + (self.size - df + 0.5) / (df + 0.5))

    def _known(self, feature: str) -> bool:
        return feature in self._ids

    def _boundaries(self, text: str) -> set[str]:
        """Unseen Chinese bigrams of ``text`` that touch a known one: "醋跟" in "白醋跟水", where two
        words meet, rather than an unknown word such as "沙發" in "皮沙發發霉" (whose neighbours
        "皮沙" and "發發" are unseen too)."""
        result: set[str] = set()
        for run in _CJK_RUN_RE.findall(normalize(text)):
            pairs = ["b:" + run[i : i + 2] for i in range(len(run) - 1)]
            known = [self._known(p) for p in pairs]
            for i, pair in enumerate(pairs):
                if not known[i] and ((i > 0 and known[i - 1]) or (i + 1 < len(pairs) and known[i + 1])):
                    result.add(pair)
        return result

    def _weights(self, bag: Counter[str], boundaries: set[str]) -> dict[str, float]:
        weights = {}
        for feature, tf in bag.items():
            weight = KIND_WEIGHTS[feature[0]] * (1.0 + math.log(tf)) * self._idf(feature)
            if feature[0] == "b" and not self._known(feature):
                if feature in boundaries:
                    continue
                weight *= UNSEEN_BIGRAM_WEIGHT
            weights[feature] = weight
        return weights

    def coverage(self, query: str | Counter[str], text: str | None = None) -> np.ndarray:
        """Per row, the idf-weighted share of the query's features it contains (0 to 1). Given the
        query's ``text`` (when ``query`` is its feature bag), unseen Chinese bigrams that sit where
        two known words meet are left out (see :meth:`_boundaries`)."""
        bag = features(query) if isinstance(query, str) else query
        text = query if isinstance(query, str) else text
        result = np.zeros(self.size, dtype=np.float64)
        weights = self._weights(bag, self._boundaries(text) if text else set())
        total = sum(weights.values())
        if total <= 0:
            return result
        for feature, weight in weights.items():
            span = self._span(feature)
            if span is not None:
                result[self._rows[span[0] : span[1]]] += weight
        return result / total


_WORD_RE = re.compile(r"[a-z]+")


def _deletes(word: str, depth: int) -> set[str]:
    """All strings made by deleting up to ``depth`` characters from ``word`` (SymSpell's trick)."""
    result = {word}
    frontier = {word}
    for _ in range(depth):
        frontier = {w[:i] + w[i + 1 :] for w in frontier for i in range(len(w))}
        result |= frontier
    return result


def _distance(a: str, b: str) -> int:
    """Optimal-string-alignment edit distance (a swap of neighbours counts as one edit)."""
    prev2: list[int] = []
    prev = list(range(len(b) + 1))
    for i, ca in enumerate(a, start=1):
        cur = [i] + [0] * len(b)
        for j, cb in enumerate(b, start=1):
            cur[j] = min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (ca != cb))
            if i > 1 and j > 1 and ca == b[j - 2] and a[i - 2] == cb:
                cur[j] = min(cur[j], prev2[j - 2] + 1)
        prev2, prev = prev, cur
    return prev[-1]


def _skeleton(word: str) -> str:
    """The word's consonants with doubled letters made single ("desiccant" and "dessicant" -> "dscnt")."""
    out: list[str] = []
    for ch in word:
        if ch not in "aeiouy" and (not out or out[-1] != ch):
            out.append(ch)
    return "".join(out)


def _typo_like(a: str, b: str) -> bool:
    """Whether two edits between ``a`` and ``b`` are the slips people make: vowels wrong, missing or
    extra, a letter doubled or not, two neighbours swapped ("vinger" for "vinegar", "dessicant" for
    "desiccant"), rather than other consonants ("sweater" and "sneaker")."""
    sa, sb = _skeleton(a), _skeleton(b)
    if sa == sb:
        return True
    return len(sa) == len(sb) and _distance(sa, sb) == 1 and sorted(sa) == sorted(sb)


@lru_cache(maxsize=1)
def english_words() -> frozenset[str]:
    """Real English words (SCOWL size 35, 4 or more letters, ``data/english_words.txt``): never corrected."""
    lines = _WORDS_LIST.read_text(encoding="utf-8").splitlines()
    return frozenset(line for line in lines if line and not line.startswith("#"))


_NOT_NEIGHBOURS = ZH_PARTICLES | ZH_WEAK
# A correction must not change what the question is about: 霉屑 (mold flakes on laundry) is not 霉鞋.
_NEVER_WRITTEN = frozenset("鞋靴")
_NEVER_REPLACEMENTS = _NOT_NEIGHBOURS | _NEVER_WRITTEN
_PINYIN_TABLE = Path(__file__).resolve().parent / "data" / "pinyin_chars.tsv"
_WORDS_LIST = Path(__file__).resolve().parent / "data" / "english_words.txt"
# Initials and finals that many Taiwanese speakers (and their typing) do not tell apart.
_FUZZY_PINYIN = ((re.compile(r"^([zcs])h"), r"\1"), (re.compile(r"(?<=[ie])ng$"), "n"))


def fuzzy_pinyin(syllable: str) -> str:
    """A toneless syllable with zh/z, ch/c, sh/s and in/ing, en/eng merged ("zhi" -> "zi", "jing" -> "jin")."""
    for pattern, replacement in _FUZZY_PINYIN:
        syllable = pattern.sub(replacement, syllable)
    return syllable


@lru_cache(maxsize=1)
def pinyin_readings() -> dict[str, tuple[str, ...]]:
    """Each CJK character's toneless readings, main reading first, from ``data/pinyin_chars.tsv``
    (knowledge/make_tables.py)."""
    return {char: tuple(readings.split()) for char, readings in read_char_table(_PINYIN_TABLE).items()}


class Speller:
    """Corrects misspelled English words in a query to words of the indexed documents, and Chinese
    homophone typos to characters that make the documents' words (:meth:`correct_chinese`).

    Only words that neither the corpus, the synonym table nor an English word list
    (:func:`english_words`) knows, of 4 or more letters, are corrected: a real word the corpus lacks
    must stay itself ("bread", "ceiling", "mattress" must not become "tread", "peeling",
    "matters", or a question about bread mold would look like one about shoes). One edit for
    words up to 5 letters ("smel", "basment"); from 6 letters also two, but only slips people make:
    vowels wrong, missing or extra, doubled letters, swapped neighbours ("vinger" and "vinager"
    become "vinegar", "dessicant" becomes "desiccant"; see :func:`_typo_like`). The closest, then
    the most frequent candidate wins. A correction keeps the first letter (typos rarely change it)
    and never lands on a stopword.
    """

    MIN_LEN = 4
    TWO_EDITS_FROM = 6
    MIN_ZH_SUPPORT = 2
    """A homophone correction must make known bigrams seen at least this often in the corpus."""

    def __init__(self, texts: list[str]) -> None:
        counts: Counter[str] = Counter()
        bigrams: Counter[str] = Counter()
        for text in texts:
            normalized = normalize(text)
            counts.update(_WORD_RE.findall(normalized))
            for run in _CJK_RUN_RE.findall(normalized):
                bigrams.update(run[i : i + 2] for i in range(len(run) - 1))
        self.bigrams = bigrams
        readings = pinyin_readings()
        # (a character, a fuzzy main reading, side) -> the characters with that reading that form a known
        # bigram with it: on its right (side 1) or on its left (side 0).
        self._homophones: dict[tuple[str, str, int], list[str]] = {}
        # A replacement is looked up by its main reading only (前 also reads jian, but is not a typo for 尖),
        # and is never a particle or question word (害 must not become 還), nor 鞋 or 靴 (_NEVER_WRITTEN).
        for bigram in bigrams:
            first, second = bigram
            if second in readings and second not in _NEVER_REPLACEMENTS:
                self._homophones.setdefault((first, fuzzy_pinyin(readings[second][0]), 1), []).append(second)
            if first in readings and first not in _NEVER_REPLACEMENTS:
                self._homophones.setdefault((second, fuzzy_pinyin(readings[first][0]), 0), []).append(first)
        for words, _ in SYNONYMS.values():
            counts.update({w: 1 for w in words if w not in counts})
        self.counts = counts
        self._known = english_words()
        self._index: dict[str, list[str]] = {}
        for word in counts:
            if len(word) >= self.MIN_LEN - 1 and word not in EN_STOPWORDS:
                for variant in _deletes(word, 2 if len(word) >= self.TWO_EDITS_FROM - 1 else 1):
                    self._index.setdefault(variant, []).append(word)

    @classmethod
    def _depth(cls, word: str) -> int:
        return 2 if len(word) >= cls.TWO_EDITS_FROM else 1

    def correct_word(self, word: str) -> str:
        if len(word) < self.MIN_LEN or word in self.counts or word in EN_STOPWORDS or word in self._known:
            return word
        depth = self._depth(word)
        candidates = {c for variant in _deletes(word, depth) for c in self._index.get(variant, ()) if c[0] == word[0]}
        best = None
        for candidate in candidates:
            distance = _distance(word, candidate)
            if distance == 2 and not _typo_like(word, candidate):
                continue
            if distance <= depth:
                key = (distance, -self.counts[candidate], candidate)
                if best is None or key < best[0]:
                    best = (key, candidate)
        return best[1] if best else word

    def correct_chinese(self, run: str) -> str:
        """A run of Chinese characters with homophone typos fixed: 吐由 -> 吐油, 香港角 -> 香港腳, 灰子甲 -> 灰指甲.

        Only a character that forms no known bigram (seen at least :data:`MIN_ZH_SUPPORT` times) with
        either neighbour (particles and question words do not count as neighbours) is replaced, by a
        character whose main reading is its main reading (fuzzy pinyin) and that forms known bigrams
        with every such neighbour, the most frequent first. A correct query rarely has such an
        island; a typo almost always is one.
        """
        if len(run) < 2:
            return run
        readings = pinyin_readings()
        chars = list(run)
        for j, char in enumerate(chars):
            if char in ZH_PARTICLES or char not in readings:
                continue
            # Particles and question words are not neighbours that a word is made with ("油是", "機嗎").
            left = chars[j - 1] if j > 0 and chars[j - 1] not in _NOT_NEIGHBOURS else None
            right = chars[j + 1] if j + 1 < len(chars) and chars[j + 1] not in _NOT_NEIGHBOURS else None
            if left is None and right is None:
                continue
            known = self.MIN_ZH_SUPPORT  # a bigram seen once may be two words meeting ("乾造成")
            if (left and self.bigrams[left + char] >= known) or (right and self.bigrams[char + right] >= known):
                continue
            reading = readings[char][0]  # the sound the writer meant to type
            sides = [set(self._homophones.get((left, fuzzy_pinyin(reading), 1), ())) if left else None,
                     set(self._homophones.get((right, fuzzy_pinyin(reading), 0), ())) if right else None]
            # With two neighbours the replacement must make a known word with both (灰子甲 -> 灰指甲), so
            # that an unusual but correct word (孕婦) is not "corrected" from one side; with one, it
            # must sound exactly the same (吐由 -> 吐油, but not 差 -> 擦 or 更 -> 跟, zh/z or eng/en apart).
            candidates = set.intersection(*[side for side in sides if side is not None]) - {char}
            if left is None or right is None:
                candidates = {c for c in candidates if readings[c][0] == reading}
            if not candidates:
                continue
            support = {c: (self.bigrams[left + c] if left else 0) + (self.bigrams[c + right] if right else 0) for c in candidates}
            candidate, count = max(support.items(), key=lambda item: (item[1], item[0]))
            if count >= self.MIN_ZH_SUPPORT:
                chars[j] = candidate
        return "".join(chars)

    def correct(self, text: str) -> str:
        """``text`` (normalised) with unknown English words replaced by their closest known word, if
        any, and Chinese homophone typos fixed (:meth:`correct_chinese`)."""
        text = _WORD_RE.sub(lambda m: self.correct_word(m.group(0)), normalize(text))
        return _CJK_RUN_RE.sub(lambda m: self.correct_chinese(m.group(0)), text)
