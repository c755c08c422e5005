"""Generate the bilingual fine-tuning set from the knowledge entries.

Each knowledge entry yields questions in English and Traditional Chinese (templates of several
styles: plain, colloquial, short, long, with typos) answered from numbered sources laid out exactly as
the agent lays them out (``format_context``): the entry itself, usually with one or two unrelated
entries shuffled around it, and the answer cites the right number. Answers are 2-4 sentences of the
entry's body that keep every key fact verbatim. Around them: out-of-scope questions answered with a
polite refusal, questions whose sources do not cover them, and symptom questions whose answers
recommend a doctor. Training and evaluation use disjoint templates and question lists.

The output is deterministic for a given seed: ``shoeagent build-dataset`` rewrites
``finetune/data/train.jsonl`` and ``eval.jsonl``.
"""

from __future__ import annotations

import random
import re
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from shoeagent.agent.prompts import ContextItem, format_context
from shoeagent.finetune import templates as T

DATA_DIR = Path(__file__).resolve().parent / "data"
DATASET_SEED = 8888
LANGS = ("en", "zh")
# Chinese bodies cost ~330 tokens each in SmolLM2's tokenizer (English ~120), so Chinese examples get
# fewer distractor sources to stay within the embedded preset's max_seq_length.
MAX_DISTRACTORS = {"en": 2, "zh": 1}
GROUNDED_PER_ENTRY = 3  # questions per entry and language answered with distractors around the source
MAX_ANSWER_SENTENCES = 4

_EN_SPLIT = re.compile(r"(?<=[.!?])\s+(?=[A-Z0-9\"'(])")
_ZH_SPLIT = re.compile(r"(?<=[。！？])")
_CJK = re.compile(r"[\u3400-\u9fff]")


@dataclass
class Row:
    """One training example: Alpaca fields plus metadata the evaluation uses."""

    instruction: str
    input: str
    output: str
    lang: str
    kind: str  # grounded | health | refusal | not_covered
    entry_id: str = ""
    key_facts: list[str] = field(default_factory=list)
    style: str = ""
    cite: int = 0  # the source number the answer cites (0 = none)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def split_sentences(text: str, lang: str) -> list[str]:
    """Split an entry body into sentences (Chinese on 。！？, English on . ! ? before a capital)."""
    pattern = _ZH_SPLIT if lang == "zh" else _EN_SPLIT
    return [s.strip() for s in pattern.split(text.strip()) if s.strip()]


def _cite(sentence: str, n: int, lang: str) -> str:
    """Put ``[n]`` before the sentence's final punctuation."""
    marker = f"[{n}]" if lang == "zh" else f" [{n}]"
    if sentence and sentence[-1] in ".!?。！？":
        return sentence[:-1] + marker + sentence[-1]
    return sentence + marker + ("。" if lang == "zh" else ".")


def answer_from_body(body: str, facts: list[str], lang: str, n: int) -> str:
    """2-4 sentences of ``body`` that together hold every key fact, each citing source ``n``."""
    sentences = split_sentences(body, lang)
    chosen = {0}
    for fact in facts:
        if any(fact in sentences[i] for i in chosen):
            continue
        hit = next((i for i, s in enumerate(sentences) if fact in s), None)
        if hit is None:  # the fact straddles a sentence break: keep the whole body
            chosen = set(range(len(sentences)))
            break
        chosen.add(hit)
    if len(chosen) > MAX_ANSWER_SENTENCES and not any(f in sentences[0] for f in facts):
        chosen.discard(0)
    for i in range(len(sentences)):
        if len(chosen) >= 2:
            break
        chosen.add(i)
    joiner = "" if lang == "zh" else " "
    answer = joiner.join(_cite(sentences[i], n, lang) for i in sorted(chosen))
    missing = [f for f in facts if f not in answer]
    if missing:  # a citation marker landed inside a fact; fall back to the body with one citation
        answer = _cite(body.strip(), n, lang)
    return answer


def topic(title: str, lang: str) -> tuple[str, str]:
    """The title as a topic phrase for templates: ``(t, T)`` lower- and upper-initial (English)."""
    text = title.strip().rstrip("?？。.")
    if lang == "zh" or not text:
        return text, text
    first_word = text.split()[0]
    keep_case = len(first_word) > 1 and (first_word[1].isupper() or first_word.isupper())
    lower = text if keep_case else text[0].lower() + text[1:]
    return lower, text[0].upper() + text[1:]


def add_typos(text: str, lang: str, rng: random.Random) -> str:
    """Make a question look hastily typed: swapped/dropped letters, or Simplified/homophone slips in zh."""
    if lang == "zh":
        simplified = text.translate(T.SIMPLIFIED)
        if simplified != text and rng.random() < 0.6:
            return simplified
        for a, b in T.ZH_SLIPS:
            if a in text:
                return text.replace(a, b, 1)
        return text.rstrip("？?") if text.endswith(("？", "?")) else text + "？？"
    chars = list(text)
    positions = [i for i in range(1, len(chars) - 2) if chars[i].isalpha() and chars[i + 1].isalpha()]
    for i in rng.sample(positions, k=min(2, len(positions))):
        if rng.random() < 0.5:
            chars[i], chars[i + 1] = chars[i + 1], chars[i]
        else:
            chars[i] = ""
    return "".join(chars).lower()


def _question(template: str, style: str, title: str, lang: str, rng: random.Random) -> str:
    t, cap = topic(title, lang)
    question = template.format(t=t, T=cap)
    if style == "typo":
        question = add_typos(question, lang, rng)
    return question


def _draws(templates: dict[str, list[str]]) -> list[tuple[str, str]]:
    return [(style, tpl) for style, tpls in templates.items() for tpl in tpls]


def _overlap(a: str, b: str) -> float:
    """Jaccard similarity of character bigrams (works for both languages without a tokenizer)."""
    grams_a = {a[i : i + 2] for i in range(len(a) - 1)}
    grams_b = {b[i : i + 2] for i in range(len(b) - 1)}
    return len(grams_a & grams_b) / max(1, len(grams_a | grams_b))


class _Builder:
    """Builds the rows of one split; keeps the random choices in one seeded generator."""

    def __init__(self, entries: list[Any], seed: int) -> None:
        self.entries = entries
        self.by_id = {e.id: e for e in entries}
        self.rng = random.Random(seed)

    def item(self, entry: Any, lang: str) -> ContextItem:
        # The agent shows a passage as its title and body in the question's language.
        return ContextItem(title=entry.title[lang], text=entry.body[lang])

    def distractors(self, entry: Any, k: int, far: bool = False) -> list[Any]:
        """``k`` entries of other categories; ``far`` picks the least similar (for not-covered rows)."""
        pool = [e for e in self.entries if e.category != entry.category]
        if far:
            pool.sort(key=lambda e: _overlap(e.body["en"], entry.body["en"]))
            return self.rng.sample(pool[: max(k, len(pool) // 4)], k)
        return self.rng.sample(pool, k)

    def grounded(self, entry: Any, lang: str, question: str, style: str, n_distractors: int, kind: str = "grounded") -> Row:
        others = self.distractors(entry, n_distractors)
        sources = [entry, *others]
        self.rng.shuffle(sources)
        n = sources.index(entry) + 1
        facts = entry.key_facts[lang]
        output = answer_from_body(entry.body[lang], facts, lang, n)
        if kind == "health":
            output += (" " if lang == "en" else "") + self.rng.choice(T.SEE_DOCTOR[lang])
        return Row(
            instruction=question,
            input=format_context([self.item(e, lang) for e in sources]),
            output=output,
            lang=lang,
            kind=kind,
            entry_id=entry.id,
            key_facts=list(facts),
            style=style,
            cite=n,
        )

    def entry_rows(self, templates: dict[str, dict[str, list[str]]], per_entry: int) -> list[Row]:
        rows = []
        for entry in self.entries:
            for lang in LANGS:
                draws = self.rng.sample(_draws(templates[lang]), k=min(per_entry, len(_draws(templates[lang]))))
                for i, (style, tpl) in enumerate(draws):
                    question = _question(tpl, style, entry.title[lang], lang, self.rng)
                    # The first draw gets a lone source (the agent often finds only one good passage).
                    k = 0 if i == 0 else self.rng.randint(1, MAX_DISTRACTORS[lang])
                    rows.append(self.grounded(entry, lang, question, style, k))
        return rows

    def health_rows(self, questions: dict[str, list[tuple[str, str]]]) -> list[Row]:
        rows = []
        for lang in LANGS:
            for question, entry_id in questions[lang]:
                entry = self.by_id.get(entry_id) or self._closest(question, lang, category="health")
                for k in (0, 1):
                    rows.append(self.grounded(entry, lang, question, "symptom", k, kind="health"))
        return rows

    def _closest(self, question: str, lang: str, category: str) -> Any:
        pool = [e for e in self.entries if e.category == category] or self.entries
        return max(pool, key=lambda e: _overlap(question, e.document(lang)))

    def refusal_rows(self, questions: dict[str, list[str]]) -> list[Row]:
        rows = []
        for lang in LANGS:
            for question in questions[lang]:
                # Out-of-scope questions arrive with no sources, or with whatever weak hits retrieval found.
                for k in (0, self.rng.randint(1, MAX_DISTRACTORS[lang])):
                    sources = self.rng.sample(self.entries, k) if k else []
                    rows.append(
                        Row(
                            instruction=question,
                            input=format_context([self.item(e, lang) for e in sources]),
                            output=self.rng.choice(T.REFUSALS[lang]),
                            lang=lang,
                            kind="refusal",
                            style="ood",
                        )
                    )
        return rows

    def not_covered_rows(self, templates: dict[str, dict[str, list[str]]], count: int) -> list[Row]:
        rows = []
        for entry in self.rng.sample(self.entries, min(count, len(self.entries))):
            lang = self.rng.choice(LANGS)
            style, tpl = self.rng.choice(_draws(templates[lang]))
            sources = self.distractors(entry, self.rng.randint(1, MAX_DISTRACTORS[lang]), far=True)
            rows.append(
                Row(
                    instruction=_question(tpl, style, entry.title[lang], lang, self.rng),
                    input=format_context([self.item(e, lang) for e in sources]),
                    output=self.rng.choice(T.NOT_COVERED[lang]),
                    lang=lang,
                    kind="not_covered",
                    entry_id=entry.id,
                    style=style,
                )
            )
        return rows


def _normalise(question: str) -> str:
    return re.sub(r"[\W_]+", "", question.lower())


def build_rows(entries: list[Any], seed: int = DATASET_SEED) -> tuple[list[Row], list[Row]]:
    """Return ``(train, eval)`` rows generated from ``entries``; no question text appears in both."""
    if not entries:
        raise ValueError("no knowledge entries to build a dataset from")
    train_builder = _Builder(entries, seed)
    train = (
        train_builder.entry_rows(T.TRAIN_TEMPLATES, GROUNDED_PER_ENTRY + 1)
        + train_builder.health_rows(T.SYMPTOMS_TRAIN)
        + train_builder.refusal_rows(T.OOD_TRAIN)
        + train_builder.not_covered_rows(T.TRAIN_TEMPLATES, max(20, len(entries) // 3))
    )
    eval_builder = _Builder(entries, seed + 1)
    held_out = (
        eval_builder.entry_rows(T.EVAL_TEMPLATES, 1)
        + eval_builder.health_rows(T.SYMPTOMS_EVAL)
        + eval_builder.refusal_rows(T.OOD_EVAL)
        + eval_builder.not_covered_rows(T.EVAL_TEMPLATES, max(6, len(entries) // 10))
    )
    # Belt and braces: templates differ, but a typo transform could in principle collide.
    seen = {_normalise(r.instruction) for r in train}
    held_out = [r for r in held_out if _normalise(r.instruction) not in seen]
    train_builder.rng.shuffle(train)
    return train, held_out


def summarise(rows: list[Row] | list[dict[str, Any]]) -> dict[str, dict[str, int]]:
    """Counts per kind, per language and per style."""
    dicts = [r.to_json() if isinstance(r, Row) else r for r in rows]
    return {
        "kind": dict(sorted(Counter(d.get("kind", "?") for d in dicts).items())),
        "lang": dict(sorted(Counter(d.get("lang", "?") for d in dicts).items())),
        "style": dict(sorted(Counter(d.get("style", "?") for d in dicts).items())),
        "total": {"rows": len(dicts)},
    }


def build_dataset(out_dir: Path | str = DATA_DIR, seed: int = DATASET_SEED, entries_dir: Path | str | None = None) -> dict[str, Any]:
    """Write ``train.jsonl`` and ``eval.jsonl`` into ``out_dir``; return their paths and counts."""
    from shoeagent.finetune.datafile import write_jsonl
    from shoeagent.knowledge.entries import load_entries

    entries = load_entries(entries_dir)
    train, held_out = build_rows(entries, seed)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    write_jsonl(out / "train.jsonl", [r.to_json() for r in train])
    write_jsonl(out / "eval.jsonl", [r.to_json() for r in held_out])
    return {
        "entries": len(entries),
        "train": str(out / "train.jsonl"),
        "eval": str(out / "eval.jsonl"),
        "train_counts": summarise(train),
        "eval_counts": summarise(held_out),
    }
