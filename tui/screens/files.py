"""Files the chat writes: a chat exported to Markdown (validated path, atomic write) and feedback lines.

Feedback lines are the loop back to ``shoeagent train --include-feedback``; their fields are fixed:
question, answer, rating (1 | -1), correction (str | None), thread_id, ts (Unix seconds), sources (ids).
"""

from __future__ import annotations

import json
import os
import re
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path


def default_export_name(title: str) -> str:
    """``shoeagent-<slug of the title>.md``, safe on every file system."""
    slug = re.sub(r"[^\w]+", "-", title.lower(), flags=re.UNICODE)[:40].strip("-") or "chat"
    return f"shoeagent-{slug}.md"


def resolve_export_path(text: str, cwd: Path | None = None) -> Path:
    """The file an export should go to, relative paths under ``cwd``; raises ValueError saying what is wrong."""
    text = text.strip()
    if not text:
        raise ValueError("Type a file name, e.g. chat.md.")
    if "\x00" in text:
        raise ValueError("The path contains a NUL character.")
    path = Path(text).expanduser()
    if not path.is_absolute():
        path = (cwd or Path.cwd()) / path
    if path.exists() and path.is_dir():
        raise ValueError(f"{path} is a folder; add a file name, e.g. {path / 'chat.md'}.")
    if path.suffix.lower() not in (".md", ".markdown", ".txt"):
        raise ValueError("Use a .md (or .markdown / .txt) file name.")
    parent = path.parent
    if not parent.is_dir():
        raise ValueError(f"The folder {parent} does not exist.")
    if not os.access(parent, os.W_OK):
        raise ValueError(f"Cannot write to {parent} (permission denied).")
    return path


def write_atomic(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` so that a reader never sees a half-written file."""
    handle, temp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as stream:
            stream.write(text)
            stream.flush()
            os.fsync(stream.fileno())
        # mkstemp makes the file private (0600); give it the mode a normal write would have.
        os.chmod(temp_name, path.stat().st_mode & 0o777 if path.exists() else 0o666 & ~_umask())
        os.replace(temp_name, path)
    except BaseException:
        Path(temp_name).unlink(missing_ok=True)
        raise


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


@dataclass
class Feedback:
    """One 👍/👎 on an answer."""

    question: str
    answer: str
    rating: int
    correction: str | None
    thread_id: str | None
    sources: list[str] = field(default_factory=list)
    ts: float = field(default_factory=time.time)


def append_feedback(feedback: Feedback, path: Path | None = None) -> Path:
    """Append ``feedback`` as one JSON line to ``path`` (default ``shoeagent.paths.feedback_file()``)."""
    if feedback.rating not in (1, -1):
        raise ValueError(f"rating must be 1 or -1, not {feedback.rating!r}")
    if path is None:
        from shoeagent.paths import feedback_file

        path = feedback_file()
    path.parent.mkdir(parents=True, exist_ok=True)
    line = json.dumps(asdict(feedback), ensure_ascii=False)
    # One write of a whole line in append mode: concurrent writers never interleave within a line.
    with path.open("a", encoding="utf-8") as stream:
        stream.write(line + "\n")
    return path
