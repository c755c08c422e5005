"""The knowledge store: a Chroma index of the curated entries (plus user documents) and hybrid search.

Each entry is indexed twice, once per language (ids ``<entry>:en`` and ``<entry>:zh``), with all
it needs to be cited stored as metadata, and each of its example user questions once more (ids
``<entry>:q:<lang>:<n>``, metadata ``kind: question``), so that a question worded the way users
ask meets the entry it belongs to (doc2query). The collection is named after the entries' content
hash, the index layout and the embedding config, so building is idempotent: unchanged entries are
never embedded again, and a changed knowledge base gets a fresh collection (the old one is dropped
only after the new one is complete). Files are validated before the store is touched.

A query's candidates are Chroma's nearest neighbours under the offline n-gram embedding, the best
matches of a coverage-normalised BM25 (:mod:`shoeagent.knowledge.lexical`, which also fixes English
typos), and the entries whose example questions resemble the query most (by BM25 coverage and by
cosine, each entry-language taking its best question). :mod:`shoeagent.knowledge.ranking` turns
their signals into ranking log-odds, which order the hits, and one calibrated score in [0, 1], per
entry its better language version. Scores below :data:`RELEVANCE_THRESHOLD` mean "nothing
relevant"; a clear question's best few hits all score close to 1, and ``Hit.margin`` (the
log-odds behind the best hit) still tells them apart.

Storage is ``chromadb.PersistentClient`` under :func:`shoeagent.paths.chroma_dir`, or a Chroma
server when ``CHROMA_HOST`` (and ``CHROMA_PORT``, default 8000) are set.
"""

from __future__ import annotations

import json
import logging
import math
import os
import shutil
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Iterator

if TYPE_CHECKING:  # pragma: no cover
    from shoeagent.knowledge.entries import Entry
    from shoeagent.knowledge.lexical import LexicalIndex, PresenceIndex, Speller
    from shoeagent.knowledge.vectors import VectorIndex

log = logging.getLogger("shoeagent.knowledge")

# Hits scoring below this mean the knowledge base has nothing relevant (the agent then refuses).
# Chosen with the scoring models on knowledge/eval/retrieval_{a,b,c,e,g,ood}.jsonl (reject at least 95%
# of their out-of-domain queries, then refuse as few in-domain ones as possible:
# evaluate.choose_threshold) by `python -m shoeagent.knowledge.evaluate --fit`; the held-out
# splits retrieval_d.jsonl and retrieval_f.jsonl check it in `shoeagent eval retrieval` (which also reports
# false_refusal, the in-domain queries scoring below it).
RELEVANCE_THRESHOLD: float = 0.3269
# Added to the ranking log-odds (not to Hit.score) of entries whose stage matches the question's
# route: a nudge (odds x1.6) next to the ~2.7 that usually separates the first hit from the second.
# In the calibrated probability instead, 0.05 was next to nothing where scores are moderate and
# outweighed any ranking difference where they are close to 1 (most in-domain questions).
ROUTE_BOOST = 0.5
# An entry one of whose example questions is the query itself (up to words that carry no feature:
# "鞋子发霉了怎么办" is "鞋子發霉了該怎麼辦", "what do I do" is "what should I do") has been declared, by
# whoever wrote the entry, to answer it. Its ranking log-odds get this much more, which puts it first:
# broad first questions otherwise went to whichever entry's body says "moldy shoes" most often.
EXACT_QUESTION_COSINE = 0.98
EXACT_QUESTION_BOOST = 3.0
ROUTE_STAGES = {"diagnosis": "diagnosis", "prevention": "prevention", "treatment": "treatment", "general": "basics"}
# Longer queries are cut here: enough for any real question, and it bounds the work per query.
MAX_QUERY_CHARS = 2000
# Nearest neighbours fetched from Chroma per collection, and lexical candidates added to them.
CANDIDATES = 40
UPSERT_BATCH = 128
# Embeddings read back from Chroma per call when loading (bounds the memory it takes at once).
LOAD_BATCH = 1000
# Chroma's persistent store keeps its catalogue in this SQLite file (a valid one starts with the magic).
SQLITE_NAME = "chroma.sqlite3"
SQLITE_MAGIC = b"SQLite format 3\x00"
# Bump when what is indexed per entry changes: it is part of the collection name, so an index of
# another layout is never mistaken for a current one.
INDEX_LAYOUT = 2
KB_PREFIX = "kb-"
USER_PREFIX = "userdocs-"

ProgressCallback = Callable[[int, int], None]


class EmptyQueryError(ValueError):
    """The query has no text to search for."""


class StoreUnavailableError(RuntimeError):
    """The Chroma store (directory or server) cannot be used; the message says what to do."""


def chroma_port() -> int:
    """``CHROMA_PORT``, default 8000; a ValueError naming the variable when it is not a port number
    (the settings check reports it before a question is answered)."""
    raw = os.environ.get("CHROMA_PORT", "")
    try:
        port = int(raw.strip() or 8000)
    except ValueError:
        port = 0
    if not 1 <= port <= 65535:
        raise ValueError(f"CHROMA_PORT={raw!r} is not a port number; use the Chroma server's port (1-65535, default 8000), or unset it.")
    return port


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
    # The ranking model's log-odds for this hit minus the best hit's (0 for the best, negative
    # below): what orders hits. ``score`` is a calibrated probability for the relevance threshold
    # and is close to 1 for several hits of a plainly in-domain question, where it no longer shows
    # how far apart they are; the margin does.
    margin: float = 0.0


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
    questions: int = 0


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
        try:
            self.port = int(port) if port is not None else chroma_port()
        except ValueError as exc:  # a kb command says so in one line, like an unreachable server
            raise StoreUnavailableError(str(exc)) from None
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
        # Per entry (or user chunk): which features it mentions at all; the row of each _docs entry in it.
        self._presence: PresenceIndex | None = None
        self._presence_row: Any = None
        # The kb collection's embeddings (its documents, then its example questions) for exact cosine.
        self._vectors: VectorIndex | None = None
        self._kb_rows: Any = None  # rows in _docs of the kb collection's documents, in _vectors order
        # Example questions: their lexical index, the row in _docs of the document each belongs to,
        # and each kb document's questions as one field (in _kb_rows order).
        self._question_lexical: LexicalIndex | None = None
        self._question_fields: LexicalIndex | None = None
        self._question_owner: Any = None
        self._has_questions: Any = None  # per row of _docs
        # Word vectors of _docs then the example questions (see wordvectors); off only to measure them.
        self._static: Any = None
        self.use_word_vectors = True
        # Chinese word vectors of the same texts (see zhvectors); off only to measure them.
        self._static_zh: Any = None
        self.use_zh_vectors = True
        self._user_count = 0
        self._by_entry: dict[str, dict[str, _Doc]] = {}
        self._kb_collection: Any = None
        self._user_collection: Any = None
        # (device, inode) of the persistent store's SQLite file when the client opened it: a store
        # deleted, replaced or overwritten while this object is in use is noticed by comparing.
        self._store_identity: tuple[int, int] | None = None

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
                try:
                    stat = (self.persist_dir / SQLITE_NAME).stat()
                    self._store_identity = (stat.st_dev, stat.st_ino)
                except OSError:
                    self._store_identity = None
        return self._client

    def _store_changed(self) -> str | None:
        """Why the persistent store this object has open is no longer usable, or None if it still is.

        Cheap enough for every search (a stat and a 16-byte read): the store's SQLite file deleted
        (``rm -rf`` of the directory), replaced by another file, or its header overwritten.
        """
        if self.host or self._client is None or self._store_identity is None:
            return None
        path = self.persist_dir / SQLITE_NAME
        try:
            stat = path.stat()
            with open(path, "rb") as handle:
                header = handle.read(len(SQLITE_MAGIC))
        except FileNotFoundError:
            return "its files were deleted"
        except OSError as exc:
            return f"its database cannot be read ({exc})"
        if header != SQLITE_MAGIC:
            return "its database file was overwritten"
        if (stat.st_dev, stat.st_ino) != self._store_identity:
            return "its database file was replaced"
        return None

    def _forget_store(self, reason: str) -> None:
        """Drop everything loaded from a store that changed under us; the next use reopens, repairs or rebuilds it."""
        log.warning("The knowledge index at %s changed while in use (%s); reopening it.", self.persist_dir, reason)
        if reason == "its database file was overwritten":
            self._quarantine_store(reason)
        else:
            self._reset_client()

    def _reset_client(self) -> None:
        from chromadb.api.shared_system_client import SharedSystemClient

        self._client = None
        self._store_identity = None
        self._kb_collection = self._user_collection = None
        self._docs = None
        SharedSystemClient.clear_system_cache()

    def _notice_store_change(self) -> None:
        """Drop what is loaded when the store on disk was deleted, replaced or overwritten since."""
        reason = self._store_changed()
        if reason is not None:
            self._forget_store(reason)

    def _repairing(self, action: Callable[[], Any], retry: Callable[[], Any] | None = None) -> Any:
        """``action()``; a local store found damaged meanwhile is moved aside and ``retry`` (or ``action``) runs once."""
        try:
            return action()
        except StoreUnavailableError:
            raise
        except Exception as exc:
            if self.host or not _looks_like_store_damage(exc):
                raise
            self._quarantine_store(f"{type(exc).__name__}: {exc}")
            return (retry or action)()

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
            self._notice_store_change()
            return self._repairing(
                lambda: self._build(entries, content_hash(entries), force, progress, start),
                lambda: self._build(entries, content_hash(entries), True, progress, start),
            )

    def _kb_collection_name(self, digest: str) -> str:
        return f"{KB_PREFIX}{digest}-v{INDEX_LAYOUT}-{self._embedding_key()}"

    def _build(
        self, entries: list[Entry], digest: str, force: bool, progress: ProgressCallback | None, start: float
    ) -> BuildReport:
        name = self._kb_collection_name(digest)
        indexed = _index_documents(entries)
        documents = len(indexed)
        questions = sum(1 for _, _, meta in indexed if meta["kind"] == "question")
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
            return BuildReport(name, len(entries), documents, 0, True, time.perf_counter() - start, removed, questions)

        metadata = {"kind": "knowledge", "content_hash": digest, "layout": INDEX_LAYOUT, "entries": len(entries),
                    "documents": documents, "questions": questions, "complete": False, "files": fingerprint,
                    "built_at": _utcnow()}
        collection = self._open_collection(name, create=True, metadata=metadata)
        present = set(collection.get(include=[])["ids"]) if collection.count() else set()
        missing = [doc for doc in indexed if doc[0] not in present]
        ids = [doc_id for doc_id, _, _ in missing]
        texts = [text for _, text, _ in missing]
        metas = [meta for _, _, meta in missing]
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
        return BuildReport(
            name, len(entries), documents, len(ids), False, time.perf_counter() - start, removed, questions
        )

    def _drop_other_kb_collections(self, keep: str, existing: dict[str, Any]) -> list[str]:
        removed = [n for n in existing if n != keep]
        for n in removed:
            self.client().delete_collection(n)
        return removed

    # ----- user documents ---------------------------------------------------------------------
    def add_documents(self, paths: list[Path | str], progress: ProgressCallback | None = None) -> AddReport:
        """Add Markdown/text files as user documents (re-adding a file replaces its chunks).

        Every path is validated and read before anything is stored
        (:class:`~shoeagent.knowledge.userdocs.UserDocumentError`). A store deleted or damaged
        since it was opened is noticed and started afresh before the files are stored.
        """
        from shoeagent.knowledge import userdocs

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
            self._notice_store_change()
            return self._repairing(lambda: self._add_prepared(prepared, progress))

    def _add_prepared(self, prepared: list[tuple[Path, str, Any]], progress: ProgressCallback | None) -> AddReport:
        from shoeagent.knowledge import userdocs
        from shoeagent.lang import detect_language

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
            self._notice_store_change()
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
        names = [c.name for c in self._collections()]
        if name in names:
            return self._open_collection(name)
        older = [n for n in names if n.startswith(USER_PREFIX)]
        return self._migrate_user_documents(older, name) if older else None

    def _migrate_user_documents(self, older: list[str], name: str) -> Any:
        """Re-embed user documents stored under an older embedding (a new feature version) into ``name``.

        The texts and metadata are copied as they are and embedded afresh; the old collection is
        dropped only after the copy is complete, so a failure leaves the user's documents where they were.
        """
        target = self._open_collection(name, create=True, metadata={"kind": "user"})
        for old_name in older:
            try:
                old = self.client().get_collection(name=old_name)
                data = old.get(include=["documents", "metadatas"])
            except Exception as exc:  # an unreadable old collection stays; the user can `kb add` again
                log.warning("Could not read older user documents %s (%s); add them again with `shoeagent kb add`.",
                            old_name, exc)
                continue
            ids, documents, metadatas = data["ids"], data["documents"], data["metadatas"]
            for first in range(0, len(ids), UPSERT_BATCH):
                target.upsert(ids=ids[first : first + UPSERT_BATCH], documents=documents[first : first + UPSERT_BATCH],
                              metadatas=metadatas[first : first + UPSERT_BATCH])
            self.client().delete_collection(old_name)
            log.warning("Re-embedded %d user-document chunks from %s for the current retrieval features.",
                        len(ids), old_name)
        return target

    # ----- loading for search -----------------------------------------------------------------
    def _ensure_ready(self) -> None:
        """Open the index (building or repairing it when needed) and load the in-memory scorer.

        A store deleted or damaged while loaded is noticed here (:meth:`_store_changed`) and rebuilt.
        """
        if self._docs is not None:
            if self._store_changed() is None:
                return
            with self._lock:
                self._notice_store_change()
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
        from shoeagent.knowledge.lexical import LexicalIndex, PresenceIndex, Speller

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

        import numpy as np

        from shoeagent.knowledge.features import features
        from shoeagent.knowledge.vectors import VectorIndex

        docs: list[_Doc] = []
        questions: list[_Doc] = []
        for coll in (self._kb_collection, self._user_collection):
            if coll is None or coll.count() == 0:
                continue
            data = coll.get(include=["documents", "metadatas"])
            for doc_id, text, meta in zip(data["ids"], data["documents"], data["metadatas"]):
                (questions if meta.get("kind") == "question" else docs).append(_Doc(doc_id, text, meta, coll.name))
        self._user_count = self._user_collection.count() if self._user_collection is not None else 0
        self._by_entry = {}
        for doc in docs:
            if doc.metadata.get("kind") == "knowledge":
                self._by_entry.setdefault(doc.metadata["entry_id"], {})[doc.metadata["lang"]] = doc
        self._index_of = {doc.doc_id: i for i, doc in enumerate(docs)}
        # A question whose entry-language document is absent (a damaged index) cannot be scored.
        questions = [q for q in questions if _owner_id(q) in self._index_of]
        doc_bags = [features(d.text) for d in docs]
        self._lexical = LexicalIndex(doc_bags)
        self._titles = LexicalIndex([_title_of(d) for d in docs], idf_from=self._lexical)
        # The speller learns words from the entries and user documents, not from the example questions:
        # those are written the way users type, typos included ("sneekers", 發徽), and a typo the
        # speller knows is a typo it no longer corrects ("sneekers" then hid the footwear in a query).
        self._speller = Speller([d.text for d in docs])
        question_bags = [features(q.text) for q in questions]
        self._question_lexical = LexicalIndex(question_bags) if questions else None
        self._question_owner = np.array([self._index_of[_owner_id(q)] for q in questions], dtype=np.int64)
        self._has_questions = np.zeros(len(docs), dtype=bool)
        self._has_questions[self._question_owner] = True
        kb_docs = [d for d in docs if d.collection == self._kb_collection.name]
        self._kb_rows = np.array([self._index_of[d.doc_id] for d in kb_docs], dtype=np.int64)
        # An entry-language's questions as one field: the sum of their feature bags.
        fields: dict[str, Counter[str]] = {}
        for q, bag in zip(questions, question_bags):
            fields.setdefault(_owner_id(q), Counter()).update(bag)
        self._question_fields = LexicalIndex([fields.get(d.doc_id, Counter()) for d in kb_docs]) if questions else None
        # What each entry (both languages, all its example questions) or user chunk mentions at all.
        owners = [d.metadata["entry_id"] if d.metadata.get("kind") == "knowledge" else d.doc_id for d in docs]
        owner_bags: dict[str, set[str]] = {}
        for owner, bag in zip(owners + [q.metadata["entry_id"] for q in questions], doc_bags + question_bags):
            owner_bags.setdefault(owner, set()).update(bag)
        owner_row = {owner: i for i, owner in enumerate(owner_bags)}
        self._presence = PresenceIndex(list(owner_bags.values()))
        self._presence_row = np.array([owner_row[o] for o in owners], dtype=np.int64)
        # The kb collection's embeddings are scored in memory (user documents through Chroma).
        self._vectors = VectorIndex(self._embeddings_of([d.doc_id for d in kb_docs + questions])) if kb_docs else None
        # Word vectors of every document (entries, user chunks) and example question, scored in memory.
        from shoeagent.knowledge.wordvectors import shared as word_vectors
        from shoeagent.knowledge.zhvectors import shared as chinese_word_vectors

        texts = [d.text for d in docs + questions]
        self._static = word_vectors().index(texts)
        self._static_zh = chinese_word_vectors().index(texts)
        self._docs = docs

    def _embeddings_of(self, doc_ids: list[str]) -> Iterator[Any]:
        """The kb collection's stored embeddings of ``doc_ids``, in that order, a batch at a time."""
        import numpy as np

        for first in range(0, len(doc_ids), LOAD_BATCH):
            wanted = doc_ids[first : first + LOAD_BATCH]
            data = self._kb_collection.get(ids=wanted, include=["embeddings"])
            by_id = dict(zip(data["ids"], data["embeddings"]))
            missing = [d for d in wanted if d not in by_id]
            if missing:
                raise StoreUnavailableError(f"index {self._kb_collection.name} lacks the embeddings of {missing[:3]}")
            yield np.asarray([by_id[d] for d in wanted], dtype=np.float32)

    # ----- search -----------------------------------------------------------------------------
    def search(self, query: str, k: int = 5, route: str | None = None, lang: str | None = None) -> list[Hit]:
        """The ``k`` best entries or user-document chunks for ``query``, best first.

        ``lang`` chooses the language of the returned text (default: the query's language);
        ``route`` (diagnosis | prevention | treatment | general) ranks entries of the matching stage
        a little higher without filtering others. Compare ``Hit.score`` with
        :data:`RELEVANCE_THRESHOLD` to decide whether anything relevant was found.

        Hits are ordered by the ranking model's log-odds (:attr:`Hit.margin`), not by ``score``:
        the calibrated probability saturates near 1 for the best few hits of a clear question.
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

        # Per entry (or user chunk): the (log-odds, score) of its best document (language version).
        best: dict[str, tuple[float, float]] = {}
        for doc_id, logit, score in self.score_candidates_with_logits(text):
            doc = self._docs[self._index_of[doc_id]]
            key = doc.metadata["entry_id"] if doc.metadata.get("kind") == "knowledge" else doc_id
            if key not in best or logit > best[key][0]:
                best[key] = (logit, score)
        if not best:
            return []

        wanted_stage = ROUTE_STAGES.get(route) if route else None

        def rank(key: str) -> float:
            stage = self._stage_of(key)
            return best[key][0] + (ROUTE_BOOST if wanted_stage and stage == wanted_stage else 0.0)

        ordered = sorted(best, key=lambda key: (-rank(key), key))[:k]
        top = max(logit for logit, _ in best.values())
        return [self._hit(key, min(1.0, max(0.0, best[key][1])), out_lang, best[key][0] - top) for key in ordered]

    def candidate_signals(self, query: str) -> tuple[list[str], Any]:
        """Candidate document ids for a cleaned query and their signal matrix (see :mod:`.ranking`)."""
        import numpy as np

        from shoeagent.knowledge.features import features, strip_chat_filler
        from shoeagent.knowledge.ranking import signal_matrix
        from shoeagent.lang import detect_language

        self._ensure_ready()
        text = self._speller.correct(strip_chat_filler(query))
        vector = np.asarray(self.embedding([text])[0], dtype=np.float32)
        try:
            user_dense = self._user_dense_scores(vector)
        except Exception as exc:
            if self.host or not _looks_like_store_damage(exc):
                raise
            with self._lock:
                self._quarantine_store(f"{type(exc).__name__}: {exc}")
                self.build(force=True)
                self._docs = None
            self._ensure_ready()
            user_dense = self._user_dense_scores(vector)
        assert self._docs is not None and self._lexical is not None and self._titles is not None
        bag = features(text)
        coverage = self._lexical.scores(bag)
        dense, question_dense = self._kb_dense_scores(vector)
        query_lang = detect_language(text)
        static, static_question = self._static_scores(text, query_lang)
        question_coverage, qfield_coverage, qfield_recall = self._question_lexical_scores(bag)
        candidates = set(user_dense)
        for signal in (dense, coverage, question_coverage, question_dense, static, static_question):
            top = np.argsort(-signal)[:CANDIDATES]
            candidates.update(self._docs[i].doc_id for i in top if signal[i] > 0)
        missing = [d for d in candidates if self._docs[self._index_of[d]].collection != self._kb_collection.name
                   and d not in user_dense]
        if missing:
            user_dense.update(self._cosine_of(vector, missing))
        for doc_id, similarity in user_dense.items():
            dense[self._index_of[doc_id]] = similarity
        # A document without example questions (a user document, an entry not given any) stands in for
        # its own questions, so that it is scored on the same scale as the entries that have them.
        alone = ~self._has_questions
        question_coverage[alone] = qfield_coverage[alone] = coverage[alone]
        question_dense[alone] = dense[alone]
        static_question[alone] = static[alone]
        qfield_recall[alone] = self._lexical.recall(bag)[alone]
        ids = sorted(candidates)
        rows = np.array([self._index_of[d] for d in ids], dtype=np.int64)
        matrix = signal_matrix(
            coverage=coverage[rows],
            dense=dense[rows],
            title_coverage=self._titles.scores(bag)[rows],
            title_recall=self._titles.recall(bag)[rows],
            same_lang=np.array([1.0 if self._docs[i].metadata.get("lang") == query_lang else 0.0 for i in rows]),
            question_coverage=question_coverage[rows],
            question_dense=question_dense[rows],
            qfield_coverage=qfield_coverage[rows],
            qfield_recall=qfield_recall[rows],
            query_is_zh=query_lang == "zh",
            entry_coverage=self._presence.coverage(bag, text)[self._presence_row[rows]],
            static_dense=static[rows],
            static_question_dense=static_question[rows],
        )
        return ids, matrix

    def _static_scores(self, text: str, query_lang: str) -> tuple[Any, Any]:
        """Per document: the word-vector cosine of the query with the document, and with its closest
        example question (zeros for documents without questions; the caller fills those in). English
        queries use WordLlama's vectors (:mod:`.wordvectors`), Chinese ones the Chinese word2vec table
        (:mod:`.zhvectors`); the ranking model weighs the two in separate signals."""
        import numpy as np

        assert self._docs is not None
        n_docs = len(self._docs)
        question = np.zeros(n_docs)
        zh = query_lang == "zh"
        index, used = (self._static_zh, self.use_zh_vectors) if zh else (self._static, self.use_word_vectors)
        if not used:
            return np.zeros(n_docs), question
        similarity = index.cosine(text)
        np.maximum.at(question, self._question_owner, similarity[n_docs:])
        return similarity[:n_docs].copy(), question

    def _kb_dense_scores(self, vector: Any) -> tuple[Any, Any]:
        """Per document: the cosine of the query with the knowledge document itself, and with the
        closest of its example questions (zeros for user documents and for entries without questions)."""
        import numpy as np

        assert self._docs is not None
        dense = np.zeros(len(self._docs))
        question_dense = np.zeros(len(self._docs))
        if self._vectors is None:
            return dense, question_dense
        similarity = self._vectors.cosine(vector)
        n_docs = len(self._kb_rows)
        dense[self._kb_rows] = similarity[:n_docs]
        np.maximum.at(question_dense, self._question_owner, similarity[n_docs:])
        return dense, question_dense

    def _question_lexical_scores(self, bag: Counter[str]) -> tuple[Any, Any, Any]:
        """Per document: how much of the query its best-matching example question covers (BM25), how
        much of it all its example questions together cover, and how much of them the query mentions
        (zeros for user documents and for entries without questions)."""
        import numpy as np

        assert self._docs is not None
        best = np.zeros(len(self._docs))
        field_coverage = np.zeros(len(self._docs))
        field_recall = np.zeros(len(self._docs))
        if self._question_lexical is not None and self._question_fields is not None:
            np.maximum.at(best, self._question_owner, self._question_lexical.scores(bag))
            field_coverage[self._kb_rows] = self._question_fields.scores(bag)
            field_recall[self._kb_rows] = self._question_fields.recall(bag)
        return best, field_coverage, field_recall

    def score_candidates(self, query: str) -> dict[str, float]:
        """Calibrated relevance in [0, 1] of each candidate document for a cleaned query."""
        return {doc_id: score for doc_id, _, score in self.score_candidates_with_logits(query)}

    def score_candidates_with_logits(self, query: str) -> list[tuple[str, float, float]]:
        """(document id, ranking log-odds, calibrated relevance in [0, 1]) of each candidate for a
        cleaned query; the log-odds order them, the relevance is what the threshold applies to."""
        from shoeagent.knowledge import ranking

        ids, matrix = self.candidate_signals(query)
        if not ids:
            return []
        logits = ranking.rank_logits(matrix, self.rank_weights, self.rank_bias)
        exact = matrix[:, ranking.SIGNALS.index("question_dense")] >= EXACT_QUESTION_COSINE
        logits = logits + EXACT_QUESTION_BOOST * exact
        scores = ranking.calibrated(logits, self.query_features(query), self.answer_weights, self.answer_bias)
        return [(doc_id, float(logit), float(score)) for doc_id, logit, score in zip(ids, logits, scores)]

    def query_features(self, query: str) -> Any:
        """Per-query inputs of the answerability model (:func:`.ranking.query_features`) for a cleaned query."""
        from shoeagent.knowledge.features import domain_flags, features, strip_chat_filler
        from shoeagent.knowledge.ranking import query_features
        from shoeagent.lang import detect_language

        self._ensure_ready()
        text = self._speller.correct(strip_chat_filler(query))
        bag = features(text)
        known = self._lexical.known_fraction(bag, also=self._question_lexical)
        footwear, care = domain_flags(bag)
        explained = self._presence.coverage(bag, text)
        residual = 1.0 - (float(explained.max()) if explained.size else 0.0)
        length = math.log1p(sum(1 for f in bag if f[0] in "wb"))
        return query_features(known, footwear, care, detect_language(text) == "zh", residual, length)

    def _stage_of(self, key: str) -> str | None:
        langs = self._by_entry.get(key)
        return next(iter(langs.values())).metadata["stage"] if langs else None

    def _user_dense_scores(self, vector: Any) -> dict[str, float]:
        """Cosine of the query with its nearest user-document chunks (Chroma's nearest neighbours)."""
        if self._user_collection is None or not self._user_count:
            return {}
        result = self._user_collection.query(
            query_embeddings=[vector], n_results=min(CANDIDATES, self._user_count), include=["distances"]
        )
        return {doc_id: max(0.0, 1.0 - float(distance))
                for doc_id, distance in zip(result["ids"][0], result["distances"][0])}

    def _cosine_of(self, query: Any, doc_ids: list[str]) -> dict[str, float]:
        """Cosine of the query with the given user-document chunks."""
        import numpy as np

        if self._user_collection is None:
            return {}
        data = self._user_collection.get(ids=doc_ids, include=["embeddings"])
        result: dict[str, float] = {}
        for doc_id, emb in zip(data["ids"], data["embeddings"]):
            vec = np.asarray(emb, dtype=np.float32)
            denom = float(np.linalg.norm(vec) * np.linalg.norm(query)) or 1.0
            result[doc_id] = max(0.0, float(vec @ query) / denom)
        return result

    def _hit(self, key: str, score: float, lang: str, margin: float = 0.0) -> Hit:
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
                margin=margin,
            )
        doc = self._docs[self._index_of[key]]
        meta = doc.metadata
        name = Path(meta["source"]).name
        title = f"{name} — {meta['heading']}" if meta.get("heading") else name
        return Hit(
            id=key,
            title=f"{title} (part {int(meta['chunk']) + 1}/{meta['chunks']})",
            text=_without_heading(doc.text, str(meta.get("heading") or "")),
            category=USER_CATEGORY,
            stage=USER_CATEGORY,
            score=score,
            lang=meta["lang"],
            source=meta["source"],
            margin=margin,
        )

    # ----- introspection ----------------------------------------------------------------------
    def index_state(self) -> dict[str, Any]:
        """The index's state for `shoeagent doctor`, without building, repairing or embedding anything.

        ``current`` is true when a complete index of this code's layout and embedding exists and was
        built from the entry files as they are now; ``reason`` says why not otherwise. Also:
        ``entries``, ``documents`` and ``questions`` indexed, ``collection``, ``path`` (directory or
        server URL) and ``built_at``.
        """
        from shoeagent.knowledge.entries import KnowledgeFileError, content_hash, load_entries

        state: dict[str, Any] = {"current": False, "entries": 0, "documents": 0, "questions": 0, "collection": "",
                                 "path": self.location, "built_at": None, "reason": ""}
        if not self.host and not (self.persist_dir / "chroma.sqlite3").is_file():
            state["reason"] = "no index has been built yet"
            return state
        try:
            complete = [c for c in self._kb_collections() if c.metadata.get("complete")]
        except StoreUnavailableError:
            raise
        except Exception as exc:  # a damaged store: reported here, repaired by the next search or build
            state["reason"] = f"the index cannot be read ({type(exc).__name__}: {exc})"
            return state
        if not complete:
            state["reason"] = "no complete index has been built yet"
            return state
        collection = max(complete, key=lambda c: str(c.metadata.get("built_at", "")))
        meta = collection.metadata
        state.update(entries=int(meta.get("entries", 0)), documents=int(meta.get("documents", 0)),
                     questions=int(meta.get("questions", 0)), collection=collection.name,
                     built_at=meta.get("built_at"))
        if meta.get("layout") != INDEX_LAYOUT:
            state["reason"] = "the index was built by an older version of shoeagent"
        elif not self.entries_dir.is_dir():
            state["reason"] = f"the entries directory {self.entries_dir} does not exist"
        elif meta.get("files") != _files_fingerprint(self.entries_dir):
            # Only the raw bytes differ (perhaps only comments): compare the content itself.
            try:
                same = content_hash(load_entries(self.entries_dir)) == meta.get("content_hash")
            except KnowledgeFileError as exc:
                state["reason"] = f"the entry files are invalid: {exc}"
            else:
                state["current"] = same
                state["reason"] = "" if same else "the entry files changed since the index was built"
        else:
            state["current"] = True
        return state

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
                "questions": int(meta.get("questions", 0)),
                "embedding": self.embedding.name(),
                "entries_dir": str(self.entries_dir),
            },
            "user_documents": {"files": len(user_sources), "chunks": sum(user_sources.values()),
                               "sources": dict(sorted(user_sources.items()))},
        }


def _index_documents(entries: list[Entry]) -> list[tuple[str, str, dict[str, Any]]]:
    """(id, text, metadata) of every document indexed for ``entries``: each entry per language, and
    each of its example questions."""
    result = []
    for entry in entries:
        for lang in ("en", "zh"):
            result.append((f"{entry.id}:{lang}", entry.document(lang), _entry_metadata(entry, lang)))
            for n, question in enumerate(entry.questions.get(lang, [])):
                meta = {"kind": "question", "entry_id": entry.id, "lang": lang}
                result.append((f"{entry.id}:q:{lang}:{n}", question, meta))
    return result


def _owner_id(question: _Doc) -> str:
    """The id of the entry-language document an example question belongs to."""
    return f"{question.metadata['entry_id']}:{question.metadata['lang']}"


def _title_of(doc: _Doc) -> str:
    meta = doc.metadata
    return str(meta.get("title") or meta.get("heading") or "")


def _without_heading(text: str, heading: str) -> str:
    """A user chunk's text without the heading line it is indexed with (for retrieval): the hit's
    title carries the heading, and an answer quoting the chunk's first sentence must not start with a
    bare heading line."""
    if heading and text.startswith(heading):
        rest = text[len(heading):].lstrip()
        return rest or text
    return text


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
