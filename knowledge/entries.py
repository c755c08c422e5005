"""Knowledge entries: the schema of the curated YAML files, and a strict loader for them.

Every file under ``knowledge/entries/`` is a YAML list of entries (see ``docs`` or the module
constants below for the allowed values). :func:`load_entries` validates *all* files before it
returns anything, so a caller never ingests half a knowledge base. Any problem raises
:class:`KnowledgeFileError` naming the file, the line and what is wrong.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import asdict, dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

LANGS = ("en", "zh")
# category key -> id prefix ("short code")
CATEGORIES: dict[str, str] = {
    "mold_basics": "basics",
    "environment": "env",
    "materials": "mat",
    "storage_care": "store",
    "use_cleaning": "clean",
    "effects_on_shoes": "effect",
    "odor_senses": "odor",
    "health": "health",
    "shoe_parts": "part",
    "performance": "perf",
}
STAGES = ("basics", "diagnosis", "prevention", "treatment")
TOOLS = ("mold_risk", "dew_point", "material_care", "drying_plan", "diagnose_symptoms")
REQUIRED_FIELDS = ("id", "category", "stage", "title", "body", "key_facts", "tools", "references")
# Example user questions per language (doc2query): indexed with the entry so a user's wording meets it.
OPTIONAL_FIELDS = ("questions",)
ALLOWED_FIELDS = REQUIRED_FIELDS + OPTIONAL_FIELDS
MAX_KEY_FACTS = 4
MAX_REFERENCES = 2
MAX_QUESTIONS = 12

_ID_RE = re.compile(r"^[a-z0-9]+(?:-[a-z0-9]+)*$")
_URL_RE = re.compile(r"^https?://[^\s/]+\.[^\s]+$")
_CJK_RE = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")


class KnowledgeFileError(ValueError):
    """A knowledge file is malformed; the message names the file, the line and the problem."""

    def __init__(self, path: Path | str, line: int | None, problem: str) -> None:
        self.path = Path(path)
        self.line = line
        self.problem = problem
        where = f"{self.path}:{line}" if line else str(self.path)
        super().__init__(f"{where}: {problem}")


@dataclass(frozen=True)
class Reference:
    """A public source that backs an entry."""

    title: str
    url: str


@dataclass
class Entry:
    """One curated fact sheet, in English and Traditional Chinese."""

    id: str
    category: str
    stage: str
    title: dict[str, str]
    body: dict[str, str]
    key_facts: dict[str, list[str]]
    tools: list[str]
    references: list[Reference]
    questions: dict[str, list[str]] = field(default_factory=dict)
    source_file: str = field(default="", compare=False)
    line: int = field(default=0, compare=False)

    def document(self, lang: str) -> str:
        """The text indexed for ``lang``: title, then body."""
        return f"{self.title[lang]}\n{self.body[lang]}"

    def canonical(self) -> dict[str, Any]:
        """The entry's content without its location, for hashing and metadata."""
        data = asdict(self)
        data.pop("source_file")
        data.pop("line")
        if not data["questions"]:
            data.pop("questions")  # entries without questions hash as they did before the field existed
        return data


def content_hash(entries: list[Entry]) -> str:
    """A short, order-independent hash of the entries' content (comments and layout don't count)."""
    payload = json.dumps(
        sorted((e.canonical() for e in entries), key=lambda d: d["id"]), ensure_ascii=False, sort_keys=True
    )
    return hashlib.sha256(payload.encode("utf-8")).hexdigest()[:16]


def default_directory() -> Path:
    from shoeagent.paths import knowledge_entries_dir

    return knowledge_entries_dir()


def load_entries(directory: Path | str | None = None) -> list[Entry]:
    """Load and validate every ``*.yaml`` file in ``directory`` (default: the packaged entries).

    Raises :class:`KnowledgeFileError` on the first problem found, before anything is returned.
    """
    root = Path(directory) if directory is not None else default_directory()
    if not root.is_dir():
        raise KnowledgeFileError(root, None, "knowledge entries directory does not exist")
    files = sorted(p for p in root.iterdir() if p.suffix in (".yaml", ".yml") and p.is_file())
    if not files:
        raise KnowledgeFileError(root, None, "no *.yaml knowledge files found")
    entries: list[Entry] = []
    seen: dict[str, Entry] = {}
    for path in files:
        for entry in load_file(path):
            if entry.id in seen:
                first = seen[entry.id]
                raise KnowledgeFileError(
                    path, entry.line, f"duplicate id {entry.id!r} (first defined at {first.source_file}:{first.line})"
                )
            seen[entry.id] = entry
            entries.append(entry)
    return entries


@lru_cache(maxsize=1)
def packaged_entries() -> tuple[Entry, ...]:
    """The packaged entries (:func:`load_entries` of the default directory), parsed once per process for the
    readers that only need their text: the router's classifier and verify's known characters."""
    return tuple(load_entries())


def load_file(path: Path) -> list[Entry]:
    """Parse and validate one YAML file of entries."""
    import yaml

    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise KnowledgeFileError(path, None, f"not valid UTF-8 ({exc.reason} at byte {exc.start})") from None
    # libyaml's loader is ~10x faster and keeps node marks (line numbers) too.
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)(text)
    try:
        root = loader.get_single_node()
        if root is None:
            raise KnowledgeFileError(path, None, "file is empty; expected a YAML list of entries")
        if not isinstance(root, yaml.SequenceNode):
            raise KnowledgeFileError(path, _line(root), "expected a YAML list of entries at the top level")
        return [_parse_entry(path, node, loader) for node in root.value]
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark else None
        raise KnowledgeFileError(path, line, f"invalid YAML: {exc.problem or exc.context}") from None
    finally:
        loader.dispose()


def _line(node: Any) -> int:
    return node.start_mark.line + 1


def _parse_entry(path: Path, node: Any, loader: Any) -> Entry:
    import yaml

    if not isinstance(node, yaml.MappingNode):
        raise KnowledgeFileError(path, _line(node), "each list item must be a mapping (an entry)")
    fields: dict[str, Any] = {}
    for key_node, value_node in node.value:
        key = key_node.value
        if key in fields:
            raise KnowledgeFileError(path, _line(key_node), f"field {key!r} appears twice")
        if key not in ALLOWED_FIELDS:
            raise KnowledgeFileError(
                path, _line(key_node), f"unknown field {key!r} (allowed: {', '.join(ALLOWED_FIELDS)})"
            )
        fields[key] = value_node
    entry_id = fields["id"].value if "id" in fields and isinstance(fields["id"], yaml.ScalarNode) else None
    label = f"entry {entry_id!r}" if entry_id else "entry"
    for name in REQUIRED_FIELDS:
        if name not in fields:
            raise KnowledgeFileError(path, _line(node), f"{label} is missing required field {name!r}")

    def fail(name: str, problem: str, at: Any = None) -> KnowledgeFileError:
        return KnowledgeFileError(path, _line(at if at is not None else fields[name]), f"{label}: {problem}")

    values = {name: loader.construct_object(fields[name], deep=True) for name in REQUIRED_FIELDS if name in fields}
    values.update({name: loader.construct_object(fields[name], deep=True) for name in OPTIONAL_FIELDS if name in fields})

    entry_id = values["id"]
    if not isinstance(entry_id, str) or not _ID_RE.match(entry_id):
        raise fail("id", f"id {entry_id!r} must be lowercase kebab-case (a-z, 0-9, single hyphens)")
    category = values["category"]
    if category not in CATEGORIES:
        raise fail("category", f"unknown category {category!r} (allowed: {', '.join(CATEGORIES)})")
    prefix = CATEGORIES[category] + "-"
    if not entry_id.startswith(prefix):
        raise fail("id", f"id {entry_id!r} must start with {prefix!r} for category {category!r}")
    stage = values["stage"]
    if stage not in STAGES:
        raise fail("stage", f"bad stage {stage!r} (allowed: {', '.join(STAGES)})")

    title = _bilingual_text(values["title"], "title", fail)
    body = _bilingual_text(values["body"], "body", fail)
    for lang in LANGS:
        has_cjk = bool(_CJK_RE.search(body[lang]))
        if lang == "zh" and not has_cjk:
            raise fail("body", "body.zh contains no Chinese text")
        if lang == "en" and len(_CJK_RE.findall(body[lang])) > 0.2 * len(body[lang]):
            raise fail("body", "body.en is mostly Chinese text")

    raw_facts = values["key_facts"]
    if not isinstance(raw_facts, dict) or set(raw_facts) != set(LANGS):
        raise fail("key_facts", "key_facts must be a mapping with exactly the keys 'en' and 'zh'")
    key_facts: dict[str, list[str]] = {}
    for lang in LANGS:
        facts = raw_facts[lang]
        if not isinstance(facts, list) or not 1 <= len(facts) <= MAX_KEY_FACTS:
            raise fail("key_facts", f"key_facts.{lang} must be a list of 1-{MAX_KEY_FACTS} strings")
        fact_nodes = _mapping_value(fields["key_facts"], lang)
        for position, fact in enumerate(facts):
            at = fact_nodes.value[position] if fact_nodes is not None else None
            if not isinstance(fact, (str, int, float)) or not str(fact).strip():
                raise fail("key_facts", f"key_facts.{lang} has an empty or non-text item {fact!r}", at)
            # Case-insensitive: a fact that starts a sentence is capitalised there.
            if str(fact).casefold() not in body[lang].casefold():
                raise fail("key_facts", f"key fact {str(fact)!r} not found verbatim in body.{lang}", at)
        key_facts[lang] = [str(f) for f in facts]

    tools = values["tools"]
    if tools is None:
        tools = []
    if not isinstance(tools, list) or any(t not in TOOLS for t in tools):
        raise fail("tools", f"tools must be a list drawn from {', '.join(TOOLS)}; got {tools!r}")
    if len(set(tools)) != len(tools):
        raise fail("tools", f"tools lists a tool twice: {tools!r}")

    raw_refs = values["references"]
    if not isinstance(raw_refs, list) or not 1 <= len(raw_refs) <= MAX_REFERENCES:
        raise fail("references", f"references must be a list of 1-{MAX_REFERENCES} items with title and url")
    references = []
    for ref_node, ref in zip(fields["references"].value, raw_refs):
        if not isinstance(ref, dict) or set(ref) != {"title", "url"}:
            raise fail("references", "each reference needs exactly 'title' and 'url'", ref_node)
        if not isinstance(ref["title"], str) or not ref["title"].strip():
            raise fail("references", "reference title is empty", ref_node)
        if not isinstance(ref["url"], str) or not _URL_RE.match(ref["url"]):
            raise fail("references", f"reference url {ref['url']!r} is not an http(s) URL", ref_node)
        references.append(Reference(title=ref["title"].strip(), url=ref["url"]))

    questions = _questions(values["questions"], fields["questions"], fail) if "questions" in values else {}

    return Entry(
        id=entry_id,
        category=category,
        stage=stage,
        title=title,
        body=body,
        key_facts=key_facts,
        tools=list(tools),
        references=references,
        questions=questions,
        source_file=str(path),
        line=_line(node),
    )


def _mapping_value(node: Any, key: str, any_kind: bool = False) -> Any:
    """The value node under ``key`` in a YAML mapping node, if it is a sequence (or, with ``any_kind``,
    whatever it is), for precise line numbers."""
    import yaml

    for key_node, value_node in getattr(node, "value", []):
        if getattr(key_node, "value", None) == key and (any_kind or isinstance(value_node, yaml.SequenceNode)):
            return value_node
    return None


def _bilingual_text(value: Any, name: str, fail: Any) -> dict[str, str]:
    if not isinstance(value, dict) or set(value) != set(LANGS):
        raise fail(name, f"{name} must be a mapping with exactly the keys 'en' and 'zh'")
    result = {}
    for lang in LANGS:
        text = value[lang]
        if not isinstance(text, str) or not text.strip():
            raise fail(name, f"{name}.{lang} must be non-empty text")
        result[lang] = text.strip()
    return result


def _questions(value: Any, node: Any, fail: Any) -> dict[str, list[str]]:
    """Validate ``questions``: per language (en and/or zh) a list of distinct, non-empty questions."""
    if not isinstance(value, dict) or not value or not set(value) <= set(LANGS):
        raise fail("questions", "questions must be a mapping with the keys 'en' and/or 'zh'")
    result: dict[str, list[str]] = {}
    for lang in LANGS:
        if lang not in value:
            continue
        items = value[lang]
        if not isinstance(items, list) or not 1 <= len(items) <= MAX_QUESTIONS:
            raise fail("questions", f"questions.{lang} must be a list of 1-{MAX_QUESTIONS} questions",
                       _mapping_value(node, lang, any_kind=True))
        item_nodes = _mapping_value(node, lang)
        seen: set[str] = set()
        cleaned = []
        for position, item in enumerate(items):
            at = item_nodes.value[position] if item_nodes is not None else None
            if not isinstance(item, str) or not item.strip():
                raise fail("questions", f"questions.{lang} has an empty or non-text item {item!r}", at)
            text = " ".join(item.split())
            has_cjk = bool(_CJK_RE.search(text))
            if lang == "zh" and not has_cjk:
                raise fail("questions", f"questions.zh item {text!r} contains no Chinese text", at)
            if lang == "en" and has_cjk:
                raise fail("questions", f"questions.en item {text!r} contains Chinese text", at)
            if text.casefold() in seen:
                raise fail("questions", f"questions.{lang} lists {text!r} twice", at)
            seen.add(text.casefold())
            cleaned.append(text)
        result[lang] = cleaned
    return result
