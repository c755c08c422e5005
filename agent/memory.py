"""Conversation memory: the LangGraph checkpointer, the chat list the TUI shows, and follow-up handling.

Both live in one SQLite file (``shoeagent.paths.chat_db()``): LangGraph's ``SqliteSaver`` tables
hold each thread's graph state (its ``messages`` are the conversation the model sees), and two
small tables of ours, ``chats`` and ``chat_messages``, hold titles and the rendered turns with their
answers' sources for listing, reopening and exporting chats.

A short follow-up ("and for suede?", 「那麂皮呢？」) means nothing to the retriever on its own, so
:func:`follow_up_query` prefixes it with the topic of the conversation (the last full question).
"""

from __future__ import annotations

import json
import re
import sqlite3
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from shoeagent import paths

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


def connect(path: Path | None = None) -> sqlite3.Connection:
    """A connection to the chat database, usable from any thread (callers serialise writes)."""
    path = Path(path) if path is not None else paths.chat_db()
    path.parent.mkdir(parents=True, exist_ok=True)
    conn = sqlite3.connect(str(path), check_same_thread=False, timeout=10.0)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA foreign_keys=ON")
    return conn


def open_checkpointer(path: Path | None = None) -> Any:
    """LangGraph's ``SqliteSaver`` on the chat database (its tables are created on first use)."""
    from langgraph.checkpoint.sqlite import SqliteSaver

    saver = SqliteSaver(connect(path))
    saver.setup()
    return saver


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
        with self._connect() as conn:
            conn.executescript(_SCHEMA)

    @contextmanager
    def _connect(self) -> Iterator[sqlite3.Connection]:
        """A connection for one operation: committed on success, always closed."""
        conn = connect(self.path)
        try:
            with conn:
                yield conn
        finally:
            conn.close()

    def list_chats(self) -> list[ChatInfo]:
        """All chats, most recently updated first."""
        with self._connect() as conn:
            rows = conn.execute(
                "SELECT thread_id, title, created_at, updated_at FROM chats ORDER BY updated_at DESC, rowid DESC"
            ).fetchall()
        return [ChatInfo(*row) for row in rows]

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

    def get_chat(self, thread_id: str) -> ChatInfo | None:
        with self._connect() as conn:
            row = conn.execute(
                "SELECT thread_id, title, created_at, updated_at FROM chats WHERE thread_id = ?", (thread_id,)
            ).fetchone()
        return ChatInfo(*row) if row else None

    def rename_chat(self, thread_id: str, title: str) -> None:
        with self._connect() as conn:
            conn.execute("UPDATE chats SET title = ? WHERE thread_id = ?", (_title(title), thread_id))

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
