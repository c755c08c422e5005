"""User documents: validating the files a user adds to the knowledge base, and cutting them into chunks.

Users can add their own Markdown, plain-text and PDF files (``shoeagent kb add PATH``). They are kept
in a separate Chroma collection, chunked by headings and paragraphs (~500 characters), each chunk
tagged with its file and position so an answer can cite it; a PDF's text is read page by page with
pypdf, and each page becomes a section headed "p. N". Their text is data to quote, never
instructions to follow; the agent sees them marked as user documents (``Hit.category == "user_document"``).
A PDF without a text layer (a scan) is refused with a message: there is no OCR here.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from pathlib import Path

ALLOWED_SUFFIXES = (".md", ".markdown", ".txt", ".pdf")
MAX_FILE_BYTES = 2_000_000
MAX_PDF_BYTES = 30_000_000
"""PDFs carry fonts and images besides their text, so they may be larger than text files."""
MAX_PDF_PAGES = 500
TARGET_CHUNK_CHARS = 500
MAX_CHUNK_CHARS = 800
USER_CATEGORY = "user_document"

_HEADING_RE = re.compile(r"^\s{0,3}#{1,6}\s+(.*?)\s*#*\s*$")
_SENTENCE_RE = re.compile(r"(?<=[。！？!?；;])|(?<=[.])\s+")


class UserDocumentError(ValueError):
    """A user document cannot be added; the message says which file and why."""


@dataclass(frozen=True)
class Chunk:
    """One piece of a user document."""

    index: int
    heading: str
    text: str


def _shown(path: Path) -> str:
    """A path for a one-line message (control characters escaped)."""
    from shoeagent.agent.safety import one_line

    return one_line(str(path), 200)


def validate_path(path: Path | str) -> Path:
    """The resolved path of a file that may be added, or :class:`UserDocumentError` saying why not.

    A symbolic link is judged by what it points to: ``notes.md -> /etc/passwd`` is refused because
    the target is not a Markdown or text file, and a link to a directory or device is not a file.
    """
    p = Path(path).expanduser()
    shown = _shown(p)
    if not p.exists():
        if p.is_symlink():
            raise UserDocumentError(f"{shown}: a symbolic link to a file that does not exist")
        raise UserDocumentError(f"{shown}: no such file")
    try:
        target = p.resolve(strict=True)
    except (OSError, RuntimeError) as exc:  # a link loop, a permission problem
        raise UserDocumentError(f"{shown}: cannot be resolved ({exc.__class__.__name__}); give the path of a .md, .txt or .pdf file") from None
    via = f" (a link to {_shown(target)})" if target != p.absolute() and p.is_symlink() else ""
    if not target.is_file():
        raise UserDocumentError(f"{shown}{via}: not a regular file (give the path of a .md, .txt or .pdf file)")
    for candidate in dict.fromkeys((p, target)):
        suffix = candidate.suffix.lower()
        if suffix not in ALLOWED_SUFFIXES:
            raise UserDocumentError(
                f"{shown}{via}: unsupported file type {suffix or '(none)'!r}; allowed: {', '.join(ALLOWED_SUFFIXES)}"
            )
    size = target.stat().st_size
    limit = MAX_PDF_BYTES if target.suffix.lower() == ".pdf" else MAX_FILE_BYTES
    if size > limit:
        raise UserDocumentError(f"{shown}: {size:,} bytes is over the {limit:,}-byte limit; split the file")
    if size == 0:
        raise UserDocumentError(f"{shown}: the file is empty")
    return target


def read_document(path: Path) -> str:
    """The text of a validated document (UTF-8, BOM removed, line endings normalised).

    Binary files are refused even when their bytes happen to decode (NUL bytes, or mostly control
    characters); stray control characters in real text are removed. A PDF goes through :func:`read_pdf`.
    """
    shown = _shown(path)
    if path.suffix.lower() == ".pdf":
        return _clean_lines(read_pdf(path), shown)
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise UserDocumentError(f"{shown}: cannot be read ({exc.strerror or exc}); check its permissions") from None
    if b"\x00" in raw[:8192]:
        raise UserDocumentError(f"{shown}: a binary file, not text; add Markdown, plain-text or PDF files only")
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise UserDocumentError(f"{shown}: not UTF-8 text (byte {exc.start}); save it as UTF-8") from None
    controls = sum(1 for ch in text[:8192] if ord(ch) < 32 and ch not in "\t\n\r\f")
    if controls > max(8, len(text[:8192]) // 100):
        raise UserDocumentError(f"{shown}: a binary file, not text; add Markdown, plain-text or PDF files only")
    return _clean_lines(text, shown)


def _clean_lines(text: str, shown: str) -> str:
    from shoeagent.agent.safety import clean_text

    text = text.replace("\r\n", "\n").replace("\r", "\n")
    # The same cleaning as questions, line by line so headings and paragraphs keep their shape.
    text = "\n".join(clean_text(line) for line in text.split("\n"))
    if not text.strip():
        raise UserDocumentError(f"{shown}: the file contains only whitespace")
    return text


_HYPHEN_BREAK_RE = re.compile(r"(?<=[A-Za-z])-\n(?=[a-z])")


def read_pdf(path: Path) -> str:
    """The text of a PDF, one ``# p. N`` section per page that has text (pypdf).

    Refused with a message that says what to do: an encrypted PDF that needs a password, a file that
    is not a readable PDF, more than :data:`MAX_PDF_PAGES` pages, or no text layer at all (a scan).
    """
    import logging

    from pypdf import PdfReader
    from pypdf.errors import DependencyError, PyPdfError

    shown = _shown(path)
    logging.getLogger("pypdf").setLevel(logging.ERROR)  # its warnings about sloppy files are not ours
    try:
        reader = PdfReader(path, strict=False)
        if reader.is_encrypted and not reader.decrypt(""):
            raise UserDocumentError(f"{shown}: the PDF is encrypted with a password; save an unencrypted copy and add that")
        pages = reader.pages
        if len(pages) > MAX_PDF_PAGES:
            raise UserDocumentError(f"{shown}: {len(pages)} pages is over the {MAX_PDF_PAGES}-page limit; split the PDF")
        sections = []
        for number, page in enumerate(pages, start=1):
            text = _HYPHEN_BREAK_RE.sub("", (page.extract_text() or "").replace("\x00", ""))
            if text.strip():
                sections.append(f"# p. {number}\n\n{text.strip()}")
    except UserDocumentError:
        raise
    except DependencyError:
        raise UserDocumentError(
            f"{shown}: the PDF is AES-encrypted, which needs the 'cryptography' package to open; "
            "pip install cryptography, or save an unencrypted copy and add that"
        ) from None
    except (PyPdfError, OSError, ValueError, KeyError, TypeError, AttributeError, RecursionError) as exc:
        raise UserDocumentError(f"{shown}: not a readable PDF ({exc.__class__.__name__}); re-save it as PDF or convert it to .txt") from None
    if not sections:
        raise UserDocumentError(
            f"{shown}: the PDF has no text layer (a scan or images only); run it through OCR or convert it to .txt first"
        )
    return "\n\n".join(sections)


def file_digest(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


def path_key(path: Path) -> str:
    """A short stable key for a document path, used in chunk ids."""
    return hashlib.sha1(str(path).encode("utf-8")).hexdigest()[:12]


def chunk_text(text: str, target: int = TARGET_CHUNK_CHARS, limit: int = MAX_CHUNK_CHARS) -> list[Chunk]:
    """Split by Markdown headings, then pack paragraphs into chunks of about ``target`` characters.

    Paragraphs longer than ``limit`` are split at sentence ends (hard-cut if a sentence is longer).
    Each chunk records the heading it falls under, and starts with it, so it reads on its own.
    """
    chunks: list[Chunk] = []
    for heading, paragraphs in _sections(text):
        pieces: list[str] = []
        for paragraph in paragraphs:
            pieces.extend(_split_long(paragraph, limit))
        buffer = ""
        for piece in pieces:
            if buffer and len(buffer) + len(piece) + 2 > target:
                chunks.append(_make_chunk(len(chunks), heading, buffer))
                buffer = piece
            else:
                buffer = f"{buffer}\n\n{piece}" if buffer else piece
        if buffer:
            chunks.append(_make_chunk(len(chunks), heading, buffer))
    return chunks


def _make_chunk(index: int, heading: str, body: str) -> Chunk:
    text = f"{heading}\n\n{body}" if heading and not body.startswith(heading) else body
    return Chunk(index=index, heading=heading, text=text)


def _sections(text: str) -> list[tuple[str, list[str]]]:
    sections: list[tuple[str, list[str]]] = []
    heading = ""
    lines: list[str] = []

    def flush() -> None:
        paragraphs = [" ".join(p.split("\n")).strip() for p in re.split(r"\n\s*\n", "\n".join(lines))]
        paragraphs = [p for p in paragraphs if p]
        if paragraphs:
            sections.append((heading, paragraphs))

    for line in text.split("\n"):
        match = _HEADING_RE.match(line)
        if match:
            flush()
            heading, lines = match.group(1), []
        else:
            lines.append(line)
    flush()
    return sections


def _split_long(paragraph: str, limit: int) -> list[str]:
    if len(paragraph) <= limit:
        return [paragraph]
    parts: list[str] = []
    buffer = ""
    for sentence in (s for s in _SENTENCE_RE.split(paragraph) if s and s.strip()):
        while len(sentence) > limit:
            parts.extend([buffer] if buffer else [])
            buffer = ""
            parts.append(sentence[:limit])
            sentence = sentence[limit:]
        if buffer and len(buffer) + len(sentence) > limit:
            parts.append(buffer)
            buffer = sentence.strip()
        else:
            buffer = f"{buffer} {sentence.strip()}".strip() if buffer else sentence.strip()
    if buffer:
        parts.append(buffer)
    return parts
