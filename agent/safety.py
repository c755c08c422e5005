"""Input hygiene and output guards: one place that decides what user text may reach the model.

User questions, retrieved passages and user documents are data. Everything that enters a prompt
goes through :func:`clean_text` first:

* control characters (NUL, ESC sequences, BEL ...) and invisible format characters (zero-width
  spaces, bidirectional overrides, BOMs, Unicode tag characters) are removed;
* chat-template control tokens (``<|im_start|>``, ``<|eot_id|>``, ``</s>``, ``[INST]`` ...) would let
  text end the user turn and forge a system turn, so they are rewritten into inert look-alikes
  (``<|im_start|>`` -> ``(im_start)``).

:func:`check_question` is the single entry check of the API, the CLI and the chat UI: it cleans the
question and rejects what cannot be answered (not text, invalid UTF-8, empty, too long) with a
``ValueError`` whose message says what to do. Requests to drop the instructions, reveal the system
prompt or act outside the agent's role (run commands, read files) are refused by the graph
(:func:`is_injection`); instruction-like sentences inside retrieved passages are removed before the
model sees them (:func:`clean_passage`); and an answer that repeats the assistant's own instructions
is withheld (:func:`leaks_prompt`).
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable

MAX_QUESTION_CHARS = 4000
MAX_THREAD_ID_CHARS = 200
_HARD_LIMIT = 50 * MAX_QUESTION_CHARS
"""Beyond this many characters a question is rejected before it is even cleaned (bounded work)."""

# Each special token of the chat templates we may meet (ChatML, Llama 3, Llama 2 / Mistral).
_CONTROL_TOKENS = re.compile(
    r"<\|\s*(im_start|im_end|im_sep|endoftext|eot_id|begin_of_text|end_of_text|start_header_id|end_header_id|eom_id|python_tag)\s*\|>"
    r"|</?s>|\[/?INST\]|<<\s*/?SYS\s*>>",
    re.IGNORECASE,
)

# C0 controls except tab and newline, DEL, C1 controls.
_CONTROL_CHARS = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]+")
_LONE_SURROGATE = re.compile(r"[\ud800-\udfff]")
_KEEP_FORMAT = {"\u200c", "\u200d"}  # ZWNJ / ZWJ shape scripts and emoji sequences
_SPACES = re.compile(r"[ \t\u00a0]{2,}")
_BLANK_LINES = re.compile(r"\n{3,}")

_INJECTION = [
    re.compile(p, re.IGNORECASE)
    for p in (
        # Dropping or replacing the instructions, disclosing the prompt, role hijacking.
        r"\b(ignore|disregard|forget|override|bypass)\b.{0,40}\b(instruction|instructions|rules|prompt|guidelines|directions)\b",
        r"\b(print|show|reveal|repeat|output|display|tell me|give me|what is|what's|leak|dump)\b.{0,30}\b(system|initial|hidden|original)\s+(prompt|instructions|message)",
        r"\b(print|show|reveal|repeat|output|display)\b.{0,20}\byour\s+(prompt|instructions)\b",
        r"\byou are now\b|\bdeveloper mode\b|\bjailbreak\b|\bDAN mode\b",
        r"(忽略|無視|无视|忘記|忘记|不要理會|不要理会).{0,20}(指示|指令|規則|规则|提示|設定|设定)",
        r"(系統|系统|隱藏|隐藏|原始)(提示|指令|訊息|讯息)",
        r"(顯示|显示|印出|輸出|输出|告訴我|告诉我|說出|说出).{0,10}(你的)?(提示詞|提示词|指令|prompt)",
        r"你現在是|你现在是|越獄|越狱",
        # Acting outside the role: shell commands, code execution, reading or deleting files.
        r"\brm\s+-[a-z]*[rf]|\bsudo\b|\bchmod\s+\d|\bmkfs\b|:\(\)\s*\{|\$\(",
        r"/etc/(passwd|shadow|sudoers)\b|(~|\$HOME)?/\.ssh/|\bid_(rsa|ed25519|ecdsa)\b|\bos\.(system|popen|remove)|\bsubprocess\b|\b(eval|exec|__import__)\s*\(",
        r"\b(curl|wget)\s+(-\w|https?://|\S+\.\S+/)|\b(bash|sh|powershell|cmd\.exe)\s+-c\b",
        r"\b(run|execute)\b.{0,20}\b(command|commands|script|shell|terminal|code)\b",
        r"\b(cat|less|more|head|tail|type|open|read|show|print|dump|delete|remove|send|upload)\b.{0,20}"
        r"(~/|/etc/|/root\b|/home/|/proc/|/var/|\.ssh\b|id_rsa|id_ed25519|\.env\b|[a-z]:\\)",
        r"(執行|运行|運行|執行一下).{0,10}(指令|命令|程式|程序|腳本|脚本)|(讀取|读取|打開|打开|刪除|删除).{0,8}(檔案|档案|文件)",
    )
]

# Only in retrieved passages: text that addresses the assistant. A user may well write "note for the
# assistant: I live in Taiwan" or "answer only with the steps"; a knowledge passage never needs to.
_PASSAGE_INSTRUCTION = re.compile(
    r"\b(note|message|instructions?|command)s?\s+(to|for)\s+(the\s+)?(assistant|ai|model|chatbot|llm|bot)\b"
    r"|\b(answer|reply|respond)\s+only\s+with\b|\b(assistant|ai|model)\s*(must|should|shall)\b",
    re.IGNORECASE,
)
_NEUTRALIZED = re.compile(
    r"\((im_start|im_end|im_sep|endoftext|eot_id|begin_of_text|end_of_text|start_header_id|end_header_id|eom_id|python_tag|INST|SYS)\)",
    re.IGNORECASE,
)
"""What :func:`neutralize` leaves of a control token (``(im_start)``): the marks of forged chat turns."""
_SENTENCE_END = re.compile(r"(?<=[.!?。！？；;])\s*|\n+")
REDACTED = "[…]"


# --------------------------------------------------------------------------------------------- cleaning


def neutralize(text: str) -> str:
    """Rewrite chat-template control tokens as inert text (``<|im_start|>`` -> ``(im_start)``)."""

    def inert(match: re.Match[str]) -> str:
        token = re.sub(r"[<>|\[\]/\s]", "", match.group(0))
        return f"({token})"

    return _CONTROL_TOKENS.sub(inert, text)


def has_control_tokens(text: str) -> bool:
    return _CONTROL_TOKENS.search(text) is not None


def _drop_invisible(text: str) -> str:
    """Remove format characters (zero-width, bidi controls, BOM, tag characters) and lone surrogates."""
    if text.isascii():
        return text
    return "".join(ch for ch in text if ch in _KEEP_FORMAT or unicodedata.category(ch) not in ("Cf", "Cs"))


def clean_text(text: str) -> str:
    """Text safe to put in a prompt: line ends unified, control and invisible characters removed,
    runs of spaces and blank lines collapsed, chat-template control tokens made inert, trimmed."""
    text = text.replace("\r\n", "\n").replace("\r", "\n").replace("\u2028", "\n").replace("\u2029", "\n")
    text = _CONTROL_CHARS.sub(" ", text)
    text = _drop_invisible(text)
    text = _SPACES.sub(" ", text)
    text = _BLANK_LINES.sub("\n\n", text)
    # Removing an invisible character may join the pieces of a split token (<|im_<ZWSP>start|>).
    return neutralize(text).strip()


def one_line(text: str, limit: int = 300) -> str:
    """A message for a terminal: control characters escaped, one line, at most ``limit`` characters."""
    text = " ".join(str(text).split())
    text = _CONTROL_CHARS.sub(lambda m: m.group(0).encode("unicode_escape").decode("ascii"), text)
    text = _LONE_SURROGATE.sub(lambda m: f"\\x{ord(m.group(0)) - 0xDC00:02x}" if ord(m.group(0)) >= 0xDC80 else "?", text)
    return text if len(text) <= limit else text[: limit - 1] + "…"


# --------------------------------------------------------------------------------------------- checks


def is_injection(text: str) -> bool:
    """Whether the text asks the agent to drop its instructions, disclose its prompt, or act outside its
    role (run shell commands or code, read or delete files)."""
    return any(pattern.search(text) for pattern in _INJECTION)


def check_question(question: object) -> str:
    """The question, cleaned (:func:`clean_text`); ``ValueError`` with a clear message when it is not
    text, not valid UTF-8, empty (also when only control or invisible characters), or too long."""
    if not isinstance(question, str):
        raise ValueError(f"The question must be text, not {type(question).__name__}.")
    if len(question) > _HARD_LIMIT:
        raise ValueError(
            f"The question is {len(question):,} characters long; the limit is {MAX_QUESTION_CHARS:,}. Shorten it and ask again."
        )
    bad = _LONE_SURROGATE.search(question)
    if bad:
        raise ValueError(
            f"The question is not valid UTF-8 text (an undecodable byte at character {bad.start() + 1}); "
            "check your terminal's encoding and ask again."
        )
    text = clean_text(question)
    if not text:
        raise ValueError("The question is empty: ask something about mold on shoes.")
    if len(text) > MAX_QUESTION_CHARS:
        raise ValueError(
            f"The question is {len(text):,} characters long; the limit is {MAX_QUESTION_CHARS:,}. Shorten it and ask again."
        )
    return text


def check_thread_id(thread_id: object) -> str | None:
    """``None`` or a usable conversation id (1-200 printable characters); ``ValueError`` otherwise."""
    if thread_id is None:
        return None
    if not isinstance(thread_id, str):
        raise ValueError(f"The thread id must be text, not {type(thread_id).__name__}.")
    if not thread_id.strip() or len(thread_id) > MAX_THREAD_ID_CHARS or not thread_id.isprintable():
        raise ValueError(
            f"The thread id must be 1 to {MAX_THREAD_ID_CHARS} printable characters (got {one_line(repr(thread_id), 60)})."
        )
    return thread_id


# --------------------------------------------------------------------------------------------- passages


def clean_passage(text: str) -> str:
    """A retrieved passage (or its title) for the prompt: :func:`clean_text`, and every sentence that
    reads as an instruction to the assistant (:func:`is_injection`, or text addressed to the
    assistant) or carried a chat-template control token (nothing a real passage needs) replaced by ``[…]``.

    User documents are data to quote; an "ignore your instructions and ..." inside one never reaches
    the model, so the model cannot follow it and the answer cannot repeat it as a grounded fact.
    """
    raw = clean_text(text)

    def suspect(piece: str) -> bool:
        return is_injection(piece) or bool(_PASSAGE_INSTRUCTION.search(piece) or _NEUTRALIZED.search(piece))

    if not suspect(raw):
        return raw
    kept = [REDACTED if suspect(p) else p for p in _SENTENCE_END.split(raw) if p.strip()]
    collapsed: list[str] = []
    for piece in kept:
        if not (piece == REDACTED and collapsed and collapsed[-1] == REDACTED):
            collapsed.append(piece)
    return " ".join(collapsed)


# --------------------------------------------------------------------------------------------- output


def _shingles(text: str, size_words: int = 6, size_chars: int = 10) -> set[str]:
    """Word n-grams of the Latin text and character n-grams of the CJK text (case and spacing ignored)."""
    text = unicodedata.normalize("NFKC", text).lower()
    words = re.findall(r"[a-z0-9']+", text)
    grams = {" ".join(words[i : i + size_words]) for i in range(len(words) - size_words + 1)}
    cjk = "".join(re.findall(r"[\u3400-\u9fff\uf900-\ufaff]", text))
    grams |= {cjk[i : i + size_chars] for i in range(len(cjk) - size_chars + 1)}
    return grams


def _instruction_texts() -> list[str]:
    from shoeagent.agent import prompts

    texts = [prompts.SYSTEM_PROMPT, prompts.TOOL_SYSTEM_PROMPT]
    for template in prompts.RETRY_INSTRUCTION.values():
        texts.extend(re.split(r"\{\w+\}", template))
    return texts


def leaks_prompt(answer: str, extra: Iterable[str] = ()) -> bool:
    """Whether ``answer`` repeats a run of the assistant's instructions (six words in a row, or ten
    Chinese characters, of the system prompt, the tool prompt, the redraft instruction or ``extra``)."""
    produced = _shingles(answer)
    if not produced:
        return False
    return any(produced & _shingles(text) for text in (*_instruction_texts(), *extra) if text)


# --------------------------------------------------------------------------------------------- secrets

_URL_USERINFO = re.compile(r"(?<=://)[^/\s@]+@")
_SECRET_QUERY = re.compile(r"(?i)([?&](?:api[_-]?key|key|token|access_token|password)=)[^&\s]+")
_BEARER = re.compile(r"(?i)\b(bearer|token)\s+[A-Za-z0-9._~+/=-]{12,}")
_SECRET_NAME = re.compile(r"KEY|TOKEN|SECRET|PASSW|CREDENTIAL|AUTH", re.IGNORECASE)


def redact(text: str) -> str:
    """``text`` with credentials removed: ``user:password@`` in URLs, ``?api_key=`` values, bearer
    tokens, and the value of every environment variable whose name says it is a secret
    (``*_KEY``, ``*_TOKEN``, ``*SECRET*``, ``*PASSWORD*`` ...). Used on every error message and note
    the API, the CLI and the chat UI show."""
    import os

    text = _URL_USERINFO.sub("***@", str(text))
    text = _SECRET_QUERY.sub(r"\1***", text)
    text = _BEARER.sub(r"\1 ***", text)
    for name, value in os.environ.items():
        if len(value) >= 6 and _SECRET_NAME.search(name) and value in text:
            text = text.replace(value, "***")
    return text
