"""The knowledge store: a Chroma index of the curated entries (plus user documents) and hybrid search.

Each entry is indexed twice, once per language (ids ``<entry>:en`` and ``<entry>:zh``), with all
it needs to be cited stored as metadata. The collection is named after the entries' content hash and
the embedding config, so building is idempotent: unchanged entries are never embedded again, and a
changed knowledge base gets a fresh collection (the old one is dropped only after the new one is
complete). Files are validated before the store is touched.

A query's candidates are Chroma's nearest neighbours under the offline n-gram embedding plus the
best matches of a coverage-normalised BM25 (:mod:`shoeagent.knowledge.lexical`, which also fixes
English typos); :mod:`shoeagent.knowledge.ranking` turns their signals into one calibrated score in
[0, 1], per entry the best of its two language versions. Scores below :data:`RELEVANCE_THRESHOLD`
mean "nothing relevant".

Storage is ``chromadb.PersistentClient`` under :func:`shoeagent.paths.chroma_dir`, or a Chroma
server when ``CHROMA_HOST`` (and ``CHROMA_PORT``, default 8000) are set.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable

if TYPE_CHECKING:  # pragma: no cover
    from shoeagent.knowledge.entries import Entry
    from shoeagent.knowledge.lexical import LexicalIndex, Speller

log = logging.getLogger("shoeagent.knowledge")

# Hits scoring below this mean the knowledge base has nothing relevant (the agent then refuses).
# Chosen with the scoring models on knowledge/eval/retrieval_a.jsonl (balanced accuracy between
# answering in-domain and rejecting out-of-domain queries), checked on retrieval_b.jsonl:
# `python -m shoeagent.knowledge.evaluate --fit`, then `shoeagent eval retrieval`.
RELEVANCE_THRESHOLD: float = 0.59
# Added to the ranking (not to Hit.score) of entries whose stage matches the question's route.
ROUTE_BOOST = 0.05
ROUTE_STAGES = {"diagnosis": "diagnosis", "prevention": "prevention", "treatment": "treatment", "general": "basics"}
# Longer queries are cut here: enough for any real question, and it bounds the work per query.
MAX_QUERY_CHARS = 2000
# Nearest neighbours fetched from Chroma per collection, and lexical candidates added to them.
CANDIDATES = 40
UPSERT_BATCH = 128
KB_PREFIX = "kb-"
USER_PREFIX = "userdocs-"

ProgressCallback = Callable[[int, int], None]


class EmptyQueryError(ValueError):
    """The query has no text to search for."""


class StoreUnavailableError(RuntimeError):
    """The Chroma store (directory or server) cannot be used; the message says what to do."""


@dataclass
class Hit:
    """One search result: a knowledge entry (``source == "kb"``) or a user document chunk (source = path)."""

    id: str
    title: str
    text: str
    category: str
    stage: str
    score: float
    lang: str
    key_facts: list[str] = field(default_factory=list)
    tools: list[str] = field(default_factory=list)
    references: list[str] = field(default_factory=list)
    source: str = "kb"


@dataclass
class BuildReport:
    """What :meth:`KnowledgeBase.build` did."""

    collection: str
    entries: int
    documents: int
    embedded: int
    skipped: bool
    seconds: float
    removed: list[str] = field(default_factory=list)


@dataclass
class AddReport:
    """What :meth:`KnowledgeBase.add_documents` did."""

    files: list[str]
    chunks: int
    replaced: int


@dataclass
class _Doc:
    """An indexed document as held in memory for scoring and for building hits."""

    doc_id: str
    text: str
    metadata: dict[str, Any]
    collection: str


def _utcnow() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def _files_fingerprint(directory: Path) -> str:
    """Cheap staleness check: hash of the raw entry files (names and bytes)."""
    import hashlib

    digest = hashlib.sha256()
    for path in sorted(directory.glob("*.y*ml")):
        digest.update(path.name.encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


class KnowledgeBase:
    """The curated knowledge base and user documents in Chroma, with hybrid bilingual search."""

    def __init__(
        self,
        entries_dir: Path | str | None = None,
        persist_dir: Path | str | None = None,
        embedding: Any = None,
        host: str | None = None,
        port: int | None = None,
        model: Any = None,
    ) -> None:
        from shoeagent.knowledge.entries import default_directory

        self.entries_dir = Path(entries_dir) if entries_dir is not None else default_directory()
        self._persist_dir = Path(persist_dir) if persist_dir is not None else None
        self.host = host if host is not None else os.environ.get("CHROMA_HOST") or None
        self.port = int(port if port is not None else os.environ.get("CHROMA_PORT") or 8000)
        self._embedding = embedding
        from shoeagent.knowledge import ranking

        # The scoring models (see shoeagent.knowledge.ranking): (rank weights, rank bias, answer
        # weights, answer bias); overridable for fitting and evaluating new weights.
        self.rank_weights, self.rank_bias, self.answer_weights, self.answer_bias = model or (
            ranking.RANK_WEIGHTS, ranking.RANK_BIAS, ranking.ANSWER_WEIGHTS, ranking.ANSWER_BIAS
        )
        self._client: Any = None
        self._lock = threading.RLock()
        self._docs: list[_Doc] | None = None
        self._lexical: LexicalIndex | None = None
        self._speller: Speller | None = None
        self._titles: LexicalIndex | None = None
        self._by_entry: dict[str, dict[str, _Doc]] = {}
        self._kb_collection: Any = None
        self._user_collection: Any = None

    # ----- plumbing -------------------------------------------------------------------------
    @property
    def persist_dir(self) -> Path:
        if self._persist_dir is None:
            from shoeagent.paths import chroma_dir

            self._persist_dir = chroma_dir()
        return self._persist_dir

    @property
    def location(self) -> str:
        return f"http://{self.host}:{self.port}" if self.host else str(self.persist_dir)

    @property
    def embedding(self) -> Any:
        if self._embedding is None:
            from shoeagent.knowledge.embedding import default_embedding

            self._embedding = default_embedding()
        return self._embedding

    def _embedding_key(self) -> str:
        import hashlib

        from shoeagent.knowledge.embedding import config_key

        return hashlib.sha256(config_key(self.embedding).encode()).hexdigest()[:8]

    def client(self) -> Any:
        """The Chroma client (created on first use)."""
        if self._client is None:
            import chromadb
            from chromadb.config import Settings

            settings = Settings(anonymized_telemetry=False)
            if self.host:
                try:
                    self._client = chromadb.HttpClient(host=self.host, port=self.port, settings=settings)
                except Exception as exc:  # chromadb raises several types for an unreachable server
                    raise StoreUnavailableError(
                        f"cannot reach the Chroma server at {self.location} ({exc}); "
                        "start it (`chroma run --path DIR --port PORT`) or unset CHROMA_HOST"
                    ) from None
            else:
                self.persist_dir.mkdir(parents=True, exist_ok=True)
                self._client = chromadb.PersistentClient(path=str(self.persist_dir), settings=settings)
        return self._client

    def _reset_client(self) -> None:
        from chromadb.api.shared_system_client import SharedSystemClient

        self._client = None
        self._kb_collection = self._user_collection = None
        self._docs = None
        SharedSystemClient.clear_system_cache()

    def _quarantine_store(self, reason: str) -> None:
        """Move a broken persistent store aside so a fresh one can be built from the files."""
        if self.host:
            raise StoreUnavailableError(f"the Chroma server at {self.location} failed: {reason}")
        self._reset_client()
        target = self.persist_dir.with_name(f"{self.persist_dir.name}.broken-{int(time.time())}")
        if self.persist_dir.exists():
            shutil.move(str(self.persist_dir), str(target))
        log.warning(
            "The knowledge index at %s was unreadable (%s); moved it to %s and rebuilding it from %s. "
            "User documents added with `shoeagent kb add` must be added again.",
            self.persist_dir, reason, target, self.entries_dir,
        )

    def _collections(self) -> list[Any]:
        return list(self.client().list_collections())

    def _kb_collections(self) -> list[Any]:
        suffix = f"-{self._embedding_key()}"
        return [c for c in self._collections() if c.name.startswith(KB_PREFIX) and c.name.endswith(suffix)]

    def _user_collection_name(self) -> str:
        return f"{USER_PREFIX}{self._embedding_key()}"

    def _open_collection(self, name: str, create: bool = False, metadata: dict[str, Any] | None = None) -> Any:
        client = self.client()
        if create:
            return client.get_or_create_collection(
                name=name,
                embedding_function=self.embedding,
                configuration={"hnsw": {"space": "cosine"}},
                metadata=metadata,
            )
        return client.get_collection(name=name, embedding_function=self.embedding)

    # ----- building ---------------------------------------------------------------------------
    def build(self, force: bool = False, progress: ProgressCallback | None = None) -> BuildReport:
        """Index the entries; a no-op when an identical, complete index exists (unless ``force``).

        All files are validated first (:class:`~shoeagent.knowledge.entries.KnowledgeFileError`);
        on any failure the previous index stays as it was.
        """
        from shoeagent.knowledge.entries import content_hash, load_entries

        start = time.perf_counter()
        entries = load_entries(self.entries_dir)
        with self._lock:
            try:
                return self._build(entries, content_hash(entries), force, progress, start)
            except StoreUnavailableError:
                raise
            except Exception as exc:
                if self.host or not _looks_like_store_damage(exc):
                    raise
                self._quarantine_store(f"{type(exc).__name__}: {exc}")
                return self._build(entries, content_hash(entries), True, progress, start)

    def _build(
        self, entries: list[Entry], digest: str, force: bool, progress: ProgressCallback | None, start: float
    ) -> BuildReport:
        name = f"{KB_PREFIX}{digest}-{self._embedding_key()}"
        documents = 2 * len(entries)
        fingerprint = _files_fingerprint(self.entries_dir)
        existing = {c.name: c for c in self._kb_collections()}
        collection = existing.get(name)
        if collection is not None and force:
            self.client().delete_collection(name)
            collection = None
        if collection is not None and collection.metadata.get("complete") and collection.count() == documents:
            if collection.metadata.get("files") != fingerprint:
                collection.modify(metadata={**collection.metadata, "files": fingerprint})
            removed = self._drop_other_kb_collections(name, existing)
            self._docs = None
            return BuildReport(name, len(entries), documents, 0, True, time.perf_counter() - start, removed)

        metadata = {"kind": "knowledge", "content_hash": digest, "entries": len(entries), "documents": documents,
                    "complete": False, "files": fingerprint, "built_at": _utcnow()}
        collection = self._open_collection(name, create=True, metadata=metadata)
        present = set(collection.get(include=[])["ids"]) if collection.count() else set()
        ids, texts, metas = [], [], []
        for entry in entries:
            for lang in ("en", "zh"):
                doc_id = f"{entry.id}:{lang}"
                if doc_id not in present:
                    ids.append(doc_id)
                    texts.append(entry.document(lang))
                    metas.append(_entry_metadata(entry, lang))
        for first in range(0, len(ids), UPSERT_BATCH):
            batch = slice(first, first + UPSERT_BATCH)
            collection.upsert(ids=ids[batch], documents=texts[batch], metadatas=metas[batch])
            if progress:
                progress(min(first + UPSERT_BATCH, len(ids)), len(ids))
        if collection.count() != documents:
            raise StoreUnavailableError(
                f"index {name} holds {collection.count()} documents after building, expected {documents}"
            )
        collection.modify(metadata={**metadata, "complete": True})
        removed = self._drop_other_kb_collections(name, existing)
        self._docs = None
        return BuildReport(name, len(entries), documents, len(ids), False, time.perf_counter() - start, removed)

    def _drop_other_kb_collections(self, keep: str, existing: dict[str, Any]) -> list[str]:
        removed = [n for n in existing if n != keep]
        for n in removed:
            self.client().delete_collection(n)
        return removed

    # ----- user documents ---------------------------------------------------------------------
    def add_documents(self, paths: list[Path | str], progress: ProgressCallback | None = None) -> AddReport:
        """Add Markdown/text files as user documents (re-adding a file replaces its chunks).

        Every path is validated and read before anything is stored
        (:class:`~shoeagent.knowledge.userdocs.UserDocumentError`).
        """
        from shoeagent.knowledge import userdocs
        from shoeagent.lang import detect_language

        if not paths:
            raise userdocs.UserDocumentError("no files given")
        prepared = []
        for raw in paths:
            path = userdocs.validate_path(raw)
            text = userdocs.read_document(path)
            chunks = userdocs.chunk_text(text)
            if not chunks:
                raise userdocs.UserDocumentError(f"{path}: no text to index")
            prepared.append((path, userdocs.file_digest(text), chunks))
        with self._lock:
            collection = self._open_collection(self._user_collection_name(), create=True, metadata={"kind": "user"})
            replaced = 0
            added = 0
            total = sum(len(c) for _, _, c in prepared)
            for path, digest, chunks in prepared:
                old = collection.get(where={"source": str(path)}, include=[])["ids"]
                if old:
                    collection.delete(ids=old)
                    replaced += len(old)
                key = userdocs.path_key(path)
                for first in range(0, len(chunks), UPSERT_BATCH):
                    batch = chunks[first : first + UPSERT_BATCH]
                    collection.upsert(
                        ids=[f"user-{key}:{c.index}" for c in batch],
                        documents=[c.text for c in batch],
                        metadatas=[
                            {"kind": userdocs.USER_CATEGORY, "source": str(path), "chunk": c.index,
                             "chunks": len(chunks), "heading": c.heading, "lang": detect_language(c.text),
                             "sha256": digest, "added_at": _utcnow()}
                            for c in batch
                        ],
                    )
                    added += len(batch)
                    if progress:
                        progress(added, total)
            self._docs = None
        return AddReport(files=[str(p) for p, _, _ in prepared], chunks=added, replaced=replaced)

    def remove_documents(self, paths: list[Path | str]) -> int:
        """Remove user documents by path; returns how many chunks were removed."""
        with self._lock:
            collection = self._user_collection_or_none()
            if collection is None:
                return 0
            removed = 0
            for raw in paths:
                ids = collection.get(where={"source": str(Path(raw).expanduser().resolve())}, include=[])["ids"]
                if ids:
                    collection.delete(ids=ids)
                    removed += len(ids)
            self._docs = None
            return removed

    def _user_collection_or_none(self) -> Any:
        name = self._user_collection_name()
        if any(c.name == name for c in self._collections()):
            return self._open_collection(name)
        return None

    # ----- loading for search -----------------------------------------------------------------
    def _ensure_ready(self) -> None:
        """Open the index (building or repairing it when needed) and load the in-memory scorer."""
        if self._docs is not None:
            return
        with self._lock:
            if self._docs is not None:
                return
            try:
                self._load()
            except (StoreUnavailableError, EmptyQueryError):
                raise
            except Exception as exc:
                if self.host or not _looks_like_store_damage(exc):
                    raise
                self._quarantine_store(f"{type(exc).__name__}: {exc}")
                self.build(force=True)
                self._load()

    def _load(self) -> None:
        from shoeagent.knowledge.entries import KnowledgeFileError
        from shoeagent.knowledge.lexical import LexicalIndex, Speller

        candidates = [c for c in self._kb_collections() if c.metadata.get("complete")]
        if not candidates:
            log.warning("No knowledge index at %s; building it from %s.", self.location, self.entries_dir)
            self.build()
            candidates = [c for c in self._kb_collections() if c.metadata.get("complete")]
        collection = max(candidates, key=lambda c: str(c.metadata.get("built_at", "")))
        if collection.count() != collection.metadata.get("documents"):
            log.warning(
                "The knowledge index %s at %s is incomplete (%d of %s documents); rebuilding it.",
                collection.name, self.location, collection.count(), collection.metadata.get("documents"),
            )
            self.build(force=True)
            collection = max(self._kb_collections(), key=lambda c: str(c.metadata.get("built_at", "")))
        elif self.entries_dir.is_dir() and collection.metadata.get("files") != _files_fingerprint(self.entries_dir):
            try:
                self.build()
                collection = max(self._kb_collections(), key=lambda c: str(c.metadata.get("built_at", "")))
            except KnowledgeFileError as exc:
                log.warning("Knowledge files changed but are invalid (%s); searching the previous index.", exc)
        self._kb_collection = self._open_collection(collection.name)
        self._user_collection = self._user_collection_or_none()

        docs: list[_Doc] = []
        for coll in (self._kb_collection, self._user_collection):
            if coll is None or coll.count() == 0:
                continue
            data = coll.get(include=["documents", "metadatas"])
            docs.extend(_Doc(i, t, m, coll.name) for i, t, m in zip(data["ids"], data["documents"], data["metadatas"]))
        self._by_entry = {}
        for doc in docs:
            if doc.metadata.get("kind") == "knowledge":
                self._by_entry.setdefault(doc.metadata["entry_id"], {})[doc.metadata["lang"]] = doc
        self._index_of = {doc.doc_id: i for i, doc in enumerate(docs)}
        self._lexical = LexicalIndex([d.text for d in docs])
        self._titles = LexicalIndex([_title_of(d) for d in docs], idf_from=self._lexical)
        self._speller = Speller([d.text for d in docs])
        self._docs = docs

    # ----- search -----------------------------------------------------------------------------
    def search(self, query: str, k: int = 5, route: str | None = None, lang: str | None = None) -> list[Hit]:
        """The ``k`` best entries or user-document chunks for ``query``, best first.

        ``lang`` chooses the language of the returned text (default: the query's language);
        ``route`` (diagnosis | prevention | treatment | general) ranks entries of the matching stage
        a little higher without filtering others. Compare ``Hit.score`` with
        :data:`RELEVANCE_THRESHOLD` to decide whether anything relevant was found.
        """
        from shoeagent.lang import detect_language

        text = _clean_query(query)
        if k < 1:
            raise ValueError(f"k must be at least 1, got {k}")
        if route is not None and route not in ROUTE_STAGES:
            raise ValueError(f"route must be one of {', '.join(ROUTE_STAGES)} or None, got {route!r}")
        out_lang = lang or detect_language(text)
        if out_lang not in ("en", "zh"):
            raise ValueError(f"lang must be 'en' or 'zh', got {lang!r}")

        best: dict[str, float] = {}
        for doc_id, score in self.score_candidates(text).items():
            doc = self._docs[self._index_of[doc_id]]
            key = doc.metadata["entry_id"] if doc.metadata.get("kind") == "knowledge" else doc_id
            if score > best.get(key, -1.0):
                best[key] = score

        wanted_stage = ROUTE_STAGES.get(route) if route else None

        def rank(key: str) -> float:
            stage = self._stage_of(key)
            return best[key] + (ROUTE_BOOST if wanted_stage and stage == wanted_stage else 0.0)

        ordered = sorted(best, key=lambda key: (-rank(key), key))[:k]
        return [self._hit(key, min(1.0, max(0.0, best[key])), out_lang) for key in ordered]

    def candidate_signals(self, query: str) -> tuple[list[str], Any]:
        """Candidate document ids for a cleaned query and their signal matrix (see :mod:`.ranking`)."""
        import numpy as np

        from shoeagent.knowledge.features import features
        from shoeagent.knowledge.ranking import signal_matrix
        from shoeagent.lang import detect_language

        self._ensure_ready()
        text = self._speller.correct(query)
        try:
            dense = self._dense_scores(text)
        except Exception as exc:
            if self.host or not _looks_like_store_damage(exc):
                raise
            with self._lock:
                self._quarantine_store(f"{type(exc).__name__}: {exc}")
                self.build(force=True)
                self._docs = None
            self._ensure_ready()
            dense = self._dense_scores(text)
        assert self._docs is not None and self._lexical is not None and self._titles is not None
        bag = features(text)
        coverage = self._lexical.scores(bag)
        candidates = set(dense)
        top_lexical = np.argsort(-coverage)[:CANDIDATES]
        candidates.update(self._docs[i].doc_id for i in top_lexical if coverage[i] > 0)
        missing = [d for d in candidates if d not in dense]
        if missing:
            dense.update(self._cosine_of(text, missing))
        ids = sorted(candidates)
        rows = np.array([self._index_of[d] for d in ids], dtype=np.int64)
        query_lang = detect_language(text)
        matrix = signal_matrix(
            coverage=coverage[rows],
            dense=np.array([dense[d] for d in ids]),
            title_coverage=self._titles.scores(bag)[rows],
            title_recall=self._titles.recall(bag)[rows],
            same_lang=np.array([1.0 if self._docs[i].metadata.get("lang") == query_lang else 0.0 for i in rows]),
            query_is_zh=query_lang == "zh",
        )
        return ids, matrix

    def score_candidates(self, query: str) -> dict[str, float]:
        """Calibrated relevance in [0, 1] of each candidate document for a cleaned query."""
        from shoeagent.knowledge import ranking

        ids, matrix = self.candidate_signals(query)
        if not ids:
            return {}
        known, domain, is_zh = self.query_features(query)
        logits = ranking.rank_logits(matrix, self.rank_weights, self.rank_bias)
        scores = ranking.calibrated(logits, known, domain, is_zh, self.answer_weights, self.answer_bias)
        return dict(zip(ids, (float(s) for s in scores)))

    def query_features(self, query: str) -> tuple[float, float, bool]:
        """Per-query inputs of the answerability model: known fraction, domain terms, is Chinese."""
        from shoeagent.knowledge.features import domain_terms, features
        from shoeagent.lang import detect_language

        self._ensure_ready()
        text = self._speller.correct(query)
        bag = features(text)
        return self._lexical.known_fraction(bag), domain_terms(bag), detect_language(text) == "zh"

    def _stage_of(self, key: str) -> str | None:
        langs = self._by_entry.get(key)
        return next(iter(langs.values())).metadata["stage"] if langs else None

    def _dense_scores(self, text: str) -> dict[str, float]:
        vector = self.embedding([text])[0]
        scores: dict[str, float] = {}
        for coll in (self._kb_collection, self._user_collection):
            if coll is None:
                continue
            count = coll.count()
            if count == 0:
                continue
            result = coll.query(query_embeddings=[vector], n_results=min(CANDIDATES, count), include=["distances"])
            for doc_id, distance in zip(result["ids"][0], result["distances"][0]):
                scores[doc_id] = max(0.0, 1.0 - float(distance))
        return scores

    def _cosine_of(self, text: str, doc_ids: list[str]) -> dict[str, float]:
        import numpy as np

        query = np.asarray(self.embedding([text])[0], dtype=np.float32)
        result: dict[str, float] = {}
        for coll in (self._kb_collection, self._user_collection):
            if coll is None:
                continue
            wanted = [d for d in doc_ids if self._docs[self._index_of[d]].collection == coll.name]
            if not wanted:
                continue
            data = coll.get(ids=wanted, include=["embeddings"])
            for doc_id, emb in zip(data["ids"], data["embeddings"]):
                vec = np.asarray(emb, dtype=np.float32)
                denom = float(np.linalg.norm(vec) * np.linalg.norm(query)) or 1.0
                result[doc_id] = max(0.0, float(vec @ query) / denom)
        return result

    def _hit(self, key: str, score: float, lang: str) -> Hit:
        from shoeagent.knowledge.userdocs import USER_CATEGORY

        langs = self._by_entry.get(key)
        if langs:
            meta = (langs.get(lang) or next(iter(langs.values()))).metadata
            return Hit(
                id=key,
                title=meta["title"],
                text=meta["body"],
                category=meta["category"],
                stage=meta["stage"],
                score=score,
                lang=meta["lang"],
                key_facts=json.loads(meta["key_facts"]),
                tools=json.loads(meta["tools"]),
                references=json.loads(meta["references"]),
                source="kb",
            )
        doc = self._docs[self._index_of[key]]
        meta = doc.metadata
        name = Path(meta["source"]).name
        title = f"{name} — {meta['heading']}" if meta.get("heading") else name
        return Hit(
            id=key,
            title=f"{title} (part {int(meta['chunk']) + 1}/{meta['chunks']})",
            text=doc.text,
            category=USER_CATEGORY,
            stage=USER_CATEGORY,
            score=score,
            lang=meta["lang"],
            source=meta["source"],
        )

    # ----- introspection ----------------------------------------------------------------------
    def stats(self) -> dict[str, Any]:
        """Counts per category/stage/language, the index's state, and the user documents."""
        self._ensure_ready()
        assert self._docs is not None
        kb_docs = [d for d in self._docs if d.metadata.get("kind") == "knowledge"]
        entries = {d.metadata["entry_id"]: d.metadata for d in kb_docs}
        user_sources: Counter[str] = Counter(d.metadata["source"] for d in self._docs if d.metadata.get("kind") != "knowledge")
        meta = self._kb_collection.metadata
        return {
            "entries": len(entries),
            "documents": len(kb_docs),
            "per_category": dict(sorted(Counter(m["category"] for m in entries.values()).items())),
            "per_stage": dict(sorted(Counter(m["stage"] for m in entries.values()).items())),
            "per_lang": dict(sorted(Counter(d.metadata["lang"] for d in kb_docs).items())),
            "index": {
                "location": self.location,
                "mode": "http" if self.host else "persistent",
                "collection": self._kb_collection.name,
                "complete": bool(meta.get("complete")),
                "built_at": meta.get("built_at"),
                "embedding": self.embedding.name(),
                "entries_dir": str(self.entries_dir),
            },
            "user_documents": {"files": len(user_sources), "chunks": sum(user_sources.values()),
                               "sources": dict(sorted(user_sources.items()))},
        }


def _title_of(doc: _Doc) -> str:
    meta = doc.metadata
    return str(meta.get("title") or meta.get("heading") or "")


def _entry_metadata(entry: Entry, lang: str) -> dict[str, Any]:
    return {
        "kind": "knowledge",
        "entry_id": entry.id,
        "lang": lang,
        "category": entry.category,
        "stage": entry.stage,
        "title": entry.title[lang],
        "body": entry.body[lang],
        "key_facts": json.dumps(entry.key_facts[lang], ensure_ascii=False),
        "tools": json.dumps(entry.tools),
        "references": json.dumps([f"{r.title} — {r.url}" for r in entry.references], ensure_ascii=False),
    }


def _clean_query(query: str) -> str:
    if not isinstance(query, str):
        raise TypeError(f"query must be a string, got {type(query).__name__}")
    text = query.strip()
    if not text:
        raise EmptyQueryError("the query is empty; ask a question about shoes and mold")
    return text[:MAX_QUERY_CHARS]


def _looks_like_store_damage(exc: Exception) -> bool:
    """Whether an exception from Chroma means the on-disk store is damaged (vs. a usage error)."""
    import sqlite3

    if isinstance(exc, (sqlite3.DatabaseError, OSError, EOFError)):
        return True
    text = f"{type(exc).__name__}: {exc}".lower()
    markers = ("database", "corrupt", "hnsw", "segment", "no such table", "malformed", "not a database",
               "error loading", "compaction", "file is not", "disk i/o")
    return any(m in text for m in markers)


_default: KnowledgeBase | None = None
_default_lock = threading.Lock()


def default_knowledge_base() -> KnowledgeBase:
    """The process-wide knowledge base used by :func:`search` (created on first use)."""
    global _default
    with _default_lock:
        if _default is None:
            _default = KnowledgeBase()
        return _default


def reset_default() -> None:
    """Forget the process-wide knowledge base (after SHOEAGENT_HOME or CHROMA_HOST changed)."""
    global _default
    with _default_lock:
        _default = None


def search(query: str, k: int = 5, route: str | None = None, lang: str | None = None) -> list[Hit]:
    """Search the default knowledge base; see :meth:`KnowledgeBase.search`."""
    return default_knowledge_base().search(query, k=k, route=route, lang=lang)
