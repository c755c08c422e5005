"""Training files: read and validate JSONL, include chat feedback, render through the chat template.

Two row formats are accepted, one per line, mixed freely:

* Alpaca: ``{"instruction": str, "input": str (optional), "output": str, ...extra fields}``
* Chat:   ``{"messages": [{"role": "system"|"user"|"assistant", "content": str}, ...]}`` ending in
  an assistant turn.

Every row becomes a conversational prompt/completion pair: the prompt is the system prompt plus the
user turn built by ``build_user_message`` (the agent's exact layout), the completion is the answer.
A file with any malformed line is rejected as a whole, with every problem's line number.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from shoeagent.agent.prompts import SYSTEM_PROMPT, build_user_message

ROLES = ("system", "user", "assistant")


class DatasetError(ValueError):
    """A training file is malformed; ``problems`` lists ``(line, message)`` pairs."""

    def __init__(self, path: Path | str, problems: list[tuple[int, str]]) -> None:
        self.path = Path(path)
        self.problems = problems
        shown = "; ".join(f"line {line}: {msg}" for line, msg in problems[:5])
        more = f" (and {len(problems) - 5} more)" if len(problems) > 5 else ""
        super().__init__(f"{self.path}: {len(problems)} malformed line(s): {shown}{more}")


@dataclass
class Example:
    """One conversational training example (TRL's prompt/completion format)."""

    prompt: list[dict[str, str]]
    completion: list[dict[str, str]]
    lang: str = ""
    kind: str = ""

    def to_trl(self) -> dict[str, Any]:
        return {"prompt": self.prompt, "completion": self.completion}


def write_jsonl(path: Path, rows: Iterable[dict[str, Any]]) -> None:
    """Write rows as UTF-8 JSONL (Chinese kept readable)."""
    with Path(path).open("w", encoding="utf-8") as fh:
        for row in rows:
            fh.write(json.dumps(row, ensure_ascii=False) + "\n")


def _row_problem(row: Any) -> str | None:
    """Why ``row`` is not a usable example, or None."""
    if not isinstance(row, dict):
        return f"expected a JSON object, got {type(row).__name__}"
    if "messages" in row:
        messages = row["messages"]
        if not isinstance(messages, list) or not messages:
            return "'messages' must be a non-empty list"
        for i, message in enumerate(messages):
            if not isinstance(message, dict) or message.get("role") not in ROLES:
                return f"messages[{i}] needs a role of {', '.join(ROLES)}"
            if not isinstance(message.get("content"), str) or not message["content"].strip():
                return f"messages[{i}] needs non-empty text 'content'"
        if messages[-1]["role"] != "assistant":
            return "the last message must be the assistant's answer"
        if not any(m["role"] == "user" for m in messages):
            return "messages need at least one user turn"
        return None
    for name in ("instruction", "output"):
        if not isinstance(row.get(name), str) or not row[name].strip():
            return f"missing or empty {name!r} (rows need instruction/output, or messages)"
    if not isinstance(row.get("input", ""), str):
        return "'input' must be text"
    return None


def read_rows(path: Path | str) -> list[dict[str, Any]]:
    """Parse and validate a JSONL training file; raise :class:`DatasetError` listing every bad line."""
    path = Path(path)
    if not path.is_file():
        raise DatasetError(path, [(0, "file does not exist")])
    rows: list[dict[str, Any]] = []
    problems: list[tuple[int, str]] = []
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise DatasetError(path, [(text_line(path, exc.start), f"not UTF-8 ({exc.reason})")]) from None
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as exc:
            problems.append((number, f"invalid JSON: {exc.msg} at column {exc.colno}"))
            continue
        problem = _row_problem(row)
        if problem:
            problems.append((number, problem))
        else:
            rows.append(row)
    if problems:
        raise DatasetError(path, problems)
    if not rows:
        raise DatasetError(path, [(0, "file has no examples")])
    return rows


def text_line(path: Path, byte_offset: int) -> int:
    """1-based line number of a byte offset (for encoding errors)."""
    return path.read_bytes()[:byte_offset].count(b"\n") + 1


def to_example(row: dict[str, Any], system_prompt: str = SYSTEM_PROMPT) -> Example:
    """Turn a validated row (either format) into a prompt/completion example."""
    if "messages" in row:
        messages = [{"role": m["role"], "content": m["content"]} for m in row["messages"]]
        if messages[0]["role"] != "system":
            messages.insert(0, {"role": "system", "content": system_prompt})
        return Example(prompt=messages[:-1], completion=messages[-1:], lang=row.get("lang", ""), kind=row.get("kind", "chat"))
    user = build_user_message(row["instruction"].strip(), row.get("input", "") or "")
    return Example(
        prompt=[{"role": "system", "content": system_prompt}, {"role": "user", "content": user}],
        completion=[{"role": "assistant", "content": row["output"].strip()}],
        lang=row.get("lang", ""),
        kind=row.get("kind", ""),
    )


def read_feedback(path: Path | str) -> list[dict[str, Any]]:
    """Rows from the chat's feedback file: rated-up answers and user corrections (as Alpaca rows).

    Lines that are not well-formed feedback are skipped: the file is written by the chat, not by
    hand, and one bad line must not block training.
    """
    path = Path(path)
    if not path.is_file():
        return []
    rows = []
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            item = json.loads(line)
        except json.JSONDecodeError:
            continue
        if not isinstance(item, dict) or not isinstance(item.get("question"), str) or not item["question"].strip():
            continue
        correction = item.get("correction")
        if isinstance(correction, str) and correction.strip():
            answer = correction
        elif item.get("rating") == 1 and isinstance(item.get("answer"), str) and item["answer"].strip():
            answer = item["answer"]
        else:
            continue
        rows.append({"instruction": item["question"], "input": "", "output": answer, "kind": "feedback"})
    return rows


def sha256_of(paths: Iterable[Path]) -> str:
    """One digest over the given files' bytes (recorded in the training report)."""
    digest = hashlib.sha256()
    for path in paths:
        digest.update(Path(path).read_bytes())
    return digest.hexdigest()


def render(example: Example, tokenizer: Any) -> str:
    """The example as the model sees it: prompt and answer through the tokenizer's chat template."""
    return tokenizer.apply_chat_template(example.prompt + example.completion, tokenize=False)


def token_lengths(examples: list[Example], tokenizer: Any) -> list[int]:
    """Token count of each full example (prompt + answer) under the chat template."""
    texts = [render(e, tokenizer) for e in examples]
    encoded = tokenizer(texts, add_special_tokens=False)["input_ids"]
    return [len(ids) for ids in encoded]


def length_report(lengths: list[int], max_length: int) -> dict[str, Any]:
    """Percentiles of token lengths and how many examples exceed ``max_length``."""
    ordered = sorted(lengths)

    def pct(p: float) -> int:
        return ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))]

    return {
        "examples": len(ordered),
        "p50": pct(50),
        "p90": pct(90),
        "p99": pct(99),
        "max": ordered[-1],
        "tokens": sum(ordered),
        "max_length": max_length,
        "truncated": sum(1 for n in ordered if n > max_length),
    }
