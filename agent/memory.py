"""Conversation memory: the LangGraph checkpointer, the chat list the TUI shows, and follow-up handling.

Both live in one SQLite file (``shoeagent.paths.chat_db()``): LangGraph's ``SqliteSaver`` tables
hold each thread's graph state (its ``messages`` are the conversation the model sees), and two
small tables of ours, ``chats`` and ``chat_messages``, hold titles and the rendered turns with their
answers' sources for listing, reopening and exporting chats.

A short follow-up ("and for suede?", 「那麂皮呢？」) means nothing to the retriever on its own, so
:func:`follow_up_query` prefixes it with the topic of the conversation (the last full question).

Faults: another process holding the database's write lock is waited for (SQLite's busy handler, up
to :data:`BUSY_TIMEOUT` seconds), then reported as :class:`ChatDatabaseError` saying what to do;
nothing already saved is touched. A damaged file (garbage bytes, a malformed page) is detected when
it is opened (``PRAGMA quick_check`` once per process) or when a query fails on it: it is moved aside
as ``chat.sqlite.corrupt-<time>`` (with its ``-wal``/``-shm``), a fresh database is started, and a
warning on the ``shoeagent.agent`` logger says so and where the old file went.
"""

from __future__ import annotations

import functools
import json
import logging
import os
import re
import sqlite3
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from shoeagent import paths

log = logging.getLogger("shoeagent.agent")

BUSY_TIMEOUT = 10.0
"""Seconds a statement waits for another connection's write lock before giving up."""

_SCHEMA = """
CREATE TABLE IF NOT EXISTS chats (
    thread_id TEXT PRIMARY KEY,
    title TEXT NOT NULL,
    created_at REAL NOT NULL,
    updated_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS chat_messages (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    thread_id TEXT NOT NULL REFERENCES chats(thread_id) ON DELETE CASCADE,
    role TEXT NOT NULL,
    text TEXT NOT NULL,
    answer TEXT,
    created_at REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS chat_messages_thread ON chat_messages(thread_id, id);
"""


class ChatDatabaseError(RuntimeError):
    """The chat database cannot be used right now (locked by another process, damaged beyond repair)."""


def _is_corruption(exc: BaseException) -> bool:
    """Whether SQLite says the file itself is damaged (not locked, not a constraint or usage error)."""
    if type(exc) is not sqlite3.DatabaseError:  # Operational/Integrity/Programming errors are subclasses
        return False
    text = str(exc).lower()
    return any(m in text for m in ("malformed", "not a database", "corrupt", "encrypted"))


def _is_locked(exc: BaseException) -> bool:
    return isinstance(exc, sqlite3.OperationalError) and any(m in str(exc).lower() for m in ("locked", "busy"))


def _locked_error(path: Path) -> ChatDatabaseError:
    return ChatDatabaseError(
        f"the chat database {path} is locked by another process (still busy after {BUSY_TIMEOUT:g} s); "
        "close the other program using it (another `shoeagent chat`?) and try again. Saved conversations are untouched."
    )


_VERIFIED: set[str] = set()
_VERIFY_LOCK = threading.Lock()
_NOTICES: list[str] = []


def take_notices() -> list[str]:
    """What the chat database's recovery did since the last call (for the next answer's notes), then forget it."""
    with _VERIFY_LOCK:
        notices = list(_NOTICES)
        _NOTICES.clear()
    return notices


def quarantine(path: Path, reason: object) -> Path:
    """Move a damaged chat database (and its -wal/-shm) aside as ``<name>.corrupt-<time>``; returns the new name."""
    path = Path(path)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    target = path.with_name(f"{path.name}.corrupt-{stamp}")
    n = 1
    while target.exists():
        target = path.with_name(f"{path.name}.corrupt-{stamp}-{n}")
        n += 1
    for suffix in ("", "-wal", "-shm"):
        source = Path(f"{path}{suffix}")
        try:
            os.replace(source, Path(f"{target}{suffix}"))
        except FileNotFoundError:
            pass
    with _VERIFY_LOCK:
        _VERIFIED.discard(str(path))
        del _NOTICES[:-9]  # nobody collected the older ones; keep the last few
        _NOTICES.append(f"the chat database was damaged; moved it to {target.name} and started a new one")
    log.warning(
        "The chat database %s was damaged (%s); moved it to %s and started a new, empty one. "
        "Earlier conversations are not in the new database.",
        path, reason, target,
    )
    return target


def _open(path: Path, verify: bool) -> sqlite3.Connection:
    conn = sqlite3.connect(str(path), check_same_thread=False, timeout=BUSY_TIMEOUT)
    try:
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA foreign_keys=ON")
        key = str(path)
        with _VERIFY_LOCK:
            verify = verify or key not in _VERIFIED
        if verify:
            # Reads every page's structure once per process: garbage written anywhere is found here.
            problems = [row[0] for row in conn.execute("PRAGMA quick_check(3)").fetchall()]
            if problems != ["ok"]:
                raise sqlite3.DatabaseError(f"database disk image is malformed ({'; '.join(problems)})")
            with _VERIFY_LOCK:
                _VERIFIED.add(key)
    except BaseException:
        conn.close()
        raise
    return conn


def connect(path: Path | None = None, *, verify: bool = False) -> sqlite3.Connection:
    """A connection to the chat database, usable from any thread (callers serialise writes).

    A damaged file is moved aside (:func:`quarantine`) and a fresh database started; a file locked
    by another process past :data:`BUSY_TIMEOUT` raises :class:`ChatDatabaseError`. ``verify`` runs
    the integrity check even if this process has checked the file before.
    """
    path = Path(path) if path is not None else paths.chat_db()
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        return _open(path, verify)
    except sqlite3.DatabaseError as exc:
        if _is_locked(exc):
            raise _locked_error(path) from None
        if not _is_corruption(exc):
            raise
        quarantine(path, exc)
    return _open(path, True)


def _translate(path: Path, exc: sqlite3.DatabaseError) -> Exception:
    if _is_locked(exc):
        return _locked_error(path)
    if _is_corruption(exc):
        return ChatDatabaseError(f"the chat database {path} is damaged ({exc}); move it aside and start again.")
    return exc


def _load_checkpointer_class() -> type:
    from langgraph.checkpoint.sqlite import SqliteSaver

    class ChatCheckpointer(SqliteSaver):
        """``SqliteSaver`` that recovers from a database damaged while open and names a lock plainly.

        A query failing on a damaged file closes the connection, moves the file aside (unless another
        connection already replaced it with a healthy one) and retries once on a fresh database.
        """

        def __init__(self, path: Path) -> None:
            self.path = path
            super().__init__(connect(path))

        def _recover(self, exc: BaseException) -> None:
            with self.lock:
                try:
                    self.conn.close()
                except sqlite3.Error:
                    pass
                # connect(verify=True) moves the file aside only if the file now at ``path`` is damaged.
                self.conn = connect(self.path, verify=True)
                self.is_setup = False

        def _guarded(self, method: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
            for attempt in (1, 2):
                try:
                    return method(*args, **kwargs)
                except sqlite3.DatabaseError as exc:
                    if attempt == 1 and _is_corruption(exc):
                        self._recover(exc)
                        continue
                    raise _translate(self.path, exc) from None
            raise AssertionError("unreachable")

        def setup(self) -> None:
            try:
                super().setup()
            except sqlite3.DatabaseError as exc:
                raise _translate(self.path, exc) from None

        def get_tuple(self, config: Any) -> Any:
            return self._guarded(super().get_tuple, config)

        def put(self, config: Any, checkpoint: Any, metadata: Any, new_versions: Any) -> Any:
            return self._guarded(super().put, config, checkpoint, metadata, new_versions)

        def put_writes(self, config: Any, writes: Any, task_id: str, task_path: str = "") -> None:
            return self._guarded(super().put_writes, config, writes, task_id, task_path)

        def delete_thread(self, thread_id: str) -> None:
            return self._guarded(super().delete_thread, thread_id)

        def list(self, *args: Any, **kwargs: Any) -> Iterator[Any]:
            try:
                yield from super().list(*args, **kwargs)
            except sqlite3.DatabaseError as exc:
                raise _translate(self.path, exc) from None

    return ChatCheckpointer


_CHECKPOINTER_CLASS: type | None = None


def open_checkpointer(path: Path | None = None) -> Any:
    """LangGraph's ``SqliteSaver`` on the chat database (its tables are created on first use)."""
    global _CHECKPOINTER_CLASS
    if _CHECKPOINTER_CLASS is None:
        _CHECKPOINTER_CLASS = _load_checkpointer_class()
    saver = _CHECKPOINTER_CLASS(Path(path) if path is not None else paths.chat_db())
    saver.setup()
    return saver


def _store_op(method: Callable[..., Any]) -> Callable[..., Any]:
    """ChatStore method wrapper: a damaged file is moved aside and the operation retried once on a fresh
    database; a lock held past BUSY_TIMEOUT becomes ChatDatabaseError."""

    @functools.wraps(method)
    def wrapper(self: ChatStore, *args: Any, **kwargs: Any) -> Any:
        for attempt in (1, 2):
            try:
                return method(self, *args, **kwargs)
            except sqlite3.DatabaseError as exc:
                if attempt == 1 and _is_corruption(exc):
                    connect(self.path, verify=True).close()  # moves the file aside if it is the damaged one
                    continue
                raise _translate(self.path, exc) from None
        raise AssertionError("unreachable")

    return wrapper


@dataclass
class ChatInfo:
    thread_id: str
    title: str
    created_at: float
    updated_at: float


@dataclass
class ChatMessage:
    role: Literal["user", "assistant"]
    text: str
    answer: dict | None = None
    """Answer.to_dict() for assistant turns."""


class ChatStore:
    """The list of chats and their turns, next to the checkpoints in the same SQLite file."""

    def __init__(self, path: Path | None = None) -> None:
        self.path = Path(path) if path is not None else paths.chat_db()
        with self._connect():
            pass

    @contextmanager
    def _connect(self) -> Iterator[sqlite3.Connection]:
        """A connection for one operation: committed on success, always closed.

        The tables are ensured every time (a no-op that needs no write lock), so a database that was
        moved aside and started afresh by another connection is usable at once.
        """
        conn = connect(self.path)
        try:
            conn.executescript(_SCHEMA)
            with conn:
                yield conn
        finally:
            conn.close()

    @_store_op
    def list_chats(self) -> list[ChatInfo]:
        """All chats, most recently updated first."""
        with self._connect() as conn:
            rows = conn.execute(
                "SELECT thread_id, title, created_at, updated_at FROM chats ORDER BY updated_at DESC, rowid DESC"
            ).fetchall()
        return [ChatInfo(*row) for row in rows]

    @_store_op
    def create_chat(self, title: str = "New chat", thread_id: str | None = None) -> str:
        """Start a chat (a fresh thread id unless given) and return its thread id."""
        thread_id = thread_id or uuid.uuid4().hex
        now = time.time()
        with self._connect() as conn:
            conn.execute(
                "INSERT OR IGNORE INTO chats (thread_id, title, created_at, updated_at) VALUES (?, ?, ?, ?)",
                (thread_id, _title(title), now, now),
            )
        return thread_id

    @_store_op
    def get_chat(self, thread_id: str) -> ChatInfo | None:
        with self._connect() as conn:
            row = conn.execute(
                "SELECT thread_id, title, created_at, updated_at FROM chats WHERE thread_id = ?", (thread_id,)
            ).fetchone()
        return ChatInfo(*row) if row else None

    @_store_op
    def rename_chat(self, thread_id: str, title: str) -> None:
        with self._connect() as conn:
            conn.execute("UPDATE chats SET title = ? WHERE thread_id = ?", (_title(title), thread_id))

    @_store_op
    def delete_chat(self, thread_id: str) -> None:
        """Remove the chat, its turns and its LangGraph checkpoints."""
        with self._connect() as conn:
            conn.execute("DELETE FROM chat_messages WHERE thread_id = ?", (thread_id,))
            conn.execute("DELETE FROM chats WHERE thread_id = ?", (thread_id,))
        saver = open_checkpointer(self.path)
        try:
            saver.delete_thread(thread_id)
        finally:
            saver.conn.close()

    @_store_op
    def add_turn(self, thread_id: str, question: str, answer: dict) -> None:
        """Record a question and its answer, creating the chat (titled from the question) if needed."""
        now = time.time()
        with self._connect() as conn:
            conn.execute(
                "INSERT OR IGNORE INTO chats (thread_id, title, created_at, updated_at) VALUES (?, ?, ?, ?)",
                (thread_id, _title(question), now, now),
            )
            conn.execute(
                "INSERT INTO chat_messages (thread_id, role, text, answer, created_at) VALUES (?, 'user', ?, NULL, ?)",
                (thread_id, question, now),
            )
            conn.execute(
                "INSERT INTO chat_messages (thread_id, role, text, answer, created_at) VALUES (?, 'assistant', ?, ?, ?)",
                (thread_id, str(answer.get("text", "")), json.dumps(answer, ensure_ascii=False), now),
            )
            conn.execute("UPDATE chats SET updated_at = ? WHERE thread_id = ?", (now, thread_id))

    @_store_op
    def messages(self, thread_id: str) -> list[ChatMessage]:
        """The chat's turns in order."""
        with self._connect() as conn:
            rows = conn.execute(
                "SELECT role, text, answer FROM chat_messages WHERE thread_id = ? ORDER BY id", (thread_id,)
            ).fetchall()
        return [ChatMessage(role=role, text=text, answer=json.loads(answer) if answer else None) for role, text, answer in rows]

    def export_markdown(self, thread_id: str) -> str:
        """The chat as Markdown: each question, each answer, and the answer's numbered sources."""
        info = self.get_chat(thread_id)
        lines = [f"# {info.title if info else thread_id}", ""]
        for message in self.messages(thread_id):
            if message.role == "user":
                lines += [f"**You:** {message.text}", ""]
                continue
            lines += [f"**ShoeMold:** {message.text}", ""]
            answer = message.answer or {}
            for n, source in enumerate(answer.get("sources") or [], start=1):
                lines.append(f"{n}. {source.get('title', '')} (`{source.get('id', '')}`)")
            if answer.get("sources"):
                lines.append("")
        return "\n".join(lines).rstrip() + "\n"


def _title(text: str, limit: int = 60) -> str:
    text = " ".join(text.split()) or "New chat"
    return text if len(text) <= limit else text[: limit - 1] + "…"


# --------------------------------------------------------------------------- follow-ups and history

_FOLLOW_UP_EN = re.compile(
    r"^\s*(and|also|what about|how about|what if|same|but|then|or|for|with)\b|\b(it|them|those|these|that one)\b[^a-z]*$",
    re.IGNORECASE,
)
_FOLLOW_UP_ZH = re.compile(r"^\s*(那|那麼|那么|還有|还有|如果|換成|换成|至於|至于|另外|同樣|同样)|(呢|嗎|吗)\s*[？?]?\s*$")


def is_follow_up(question: str, lang: str) -> bool:
    """Whether ``question`` leans on the previous turn: short and elliptic ("and for suede?", 「那麂皮呢？」)."""
    if lang == "zh":
        cjk = len(re.findall(r"[\u3400-\u9fff]", question))
        return cjk <= 6 or (cjk <= 12 and bool(_FOLLOW_UP_ZH.search(question)))
    words = re.findall(r"[A-Za-z0-9]+", question)
    return len(words) <= 3 or (len(words) <= 8 and bool(_FOLLOW_UP_EN.search(question)))


def follow_up_query(question: str, lang: str, history: Sequence[Any]) -> tuple[str, str]:
    """``(retrieval_query, topic)`` for this turn.

    ``history`` holds the thread's earlier messages; user messages carry their turn's topic in
    ``additional_kwargs["topic"]``. A follow-up is searched as "<topic> <question>" and keeps the
    topic; any other question becomes the new topic.
    """
    topic = ""
    for message in reversed(history):
        if getattr(message, "type", "") == "human":
            topic = str((getattr(message, "additional_kwargs", None) or {}).get("topic") or message.content)
            break
    if topic and is_follow_up(question, lang):
        return f"{topic} {question}", topic
    return question, question


def trim_history(
    history: Sequence[Any], budget_tokens: int, count_tokens: Callable[[str], int], max_turns: int = 2
) -> list[dict[str, str]]:
    """The last ``max_turns`` user/assistant pairs that fit ``budget_tokens``, oldest first, as chat dicts."""
    picked: list[dict[str, str]] = []
    used = 0
    for message in reversed(history):
        role = {"human": "user", "ai": "assistant"}.get(getattr(message, "type", ""))
        if role is None:
            continue
        text = str(message.content)
        cost = count_tokens(text) + 4
        if used + cost > budget_tokens or len(picked) >= 2 * max_turns:
            break
        picked.append({"role": role, "content": text})
        used += cost
    picked.reverse()
    # A history must start with a user turn, or the model sees an answer to nothing.
    while picked and picked[0]["role"] != "user":
        picked.pop(0)
    return picked
