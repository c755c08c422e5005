"""Check a draft answer against its sources, and compose a grounded answer when the model fails.

The answering model is tiny, so correctness comes from here: a draft passes only if every number in
it appears in a source, the tool results or the question, it keeps a fair share of the top sources'
key facts, cites at least one existing source, is in the user's language, has a sane length and
does not loop. ``compose_answer`` builds the fallback answer from the sources' own sentences (the
ones that carry their key facts), each with its [n] citation, so it can never state an unsupported
number.
"""

from __future__ import annotations

import difflib
import math
import re
import unicodedata
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

from shoeagent.agent.router import request
from shoeagent.agent.safety import has_control_tokens
from shoeagent.agent.tools import TOOL_NAMES, find_materials
from shoeagent.lang import detect_language

_CITATION = re.compile(r"\[\s*(\d+(?:\s*[,，、-]\s*\d+)*)\s*\]")
_LIST_MARKER = re.compile(r"(?m)^\s*(?:\d+[.)、]|[-*•])\s+")
_NUMBER = re.compile(r"\d+(?:[.,]\d+)*")
_DASHES = re.compile(r"\s*[‐‑‒–—―~〜～]\s*|\s+-\s*|\s*-\s+")
# Characters that exist only in Simplified Chinese; answers must be Traditional (Taiwan usage).
_SIMPLIFIED_ONLY = set(
    "这们说时会为发湿处应该与个无关么还进过对从气没种样点让经开现长见间问题变体东车门电话语读写买卖钱错际产业务动"
    "后图场块报声备复头实层带帮库张强当录态总战户护换据数断显书杂权条来构标档检测济满灯热爱环画疗监盘确础视离积称"
    "稳简类紧红约级纯纸线组细织终结给统继续绿网职联肤脚脏脑节药蓝虑虽袜补装观规觉计认议记讲许论设证识词试详误请调"
    "谈谢负质购费软轻较边选释针销锁镜闭闻阴阳难须顾预领频颜风饮验鲜柜垫剂机"
)
_MIN_CHARS = {"en": 40, "zh": 15}
_MAX_CHARS = {"en": 1200, "zh": 600}


_STOPWORDS = frozenset(
    "about above after again also because been before being below between both cannot could does doing down during "
    "each either even every from further have having here into itself just keep kept make makes more most much must "
    "only other over same should since some such than that their them then there these they this those through under "
    "until very were what when where which while will with within without would your yours answer question source "
    "sources".split()
)
_MIN_SUPPORT = {"en": 0.5, "zh": 0.4}


def _stem(word: str) -> str:
    for suffix in ("ing", "ed", "es", "s", "ly"):
        if len(word) > len(suffix) + 3 and word.endswith(suffix):
            return word[: -len(suffix)]
    return word


def _content_units(text: str, lang: str, min_len: int = 4) -> set[str]:
    """Content words (English, stemmed, of ``min_len`` letters or more) or character bigrams (Chinese) of ``text``."""
    plain = _CITATION.sub(" ", normalize(text))
    if lang == "zh":
        units: set[str] = set()
        for run in re.findall(r"[\u3400-\u9fff]+", plain):
            units.update(run[i : i + 2] for i in range(len(run) - 1))
        return units
    return {_stem(w) for w in re.findall(r"[a-z]+", plain) if len(w) >= min_len and w not in _STOPWORDS}


def unsupported_sentences(draft: str, sources: Sequence[Mapping[str, Any]], lang: str, question: str = "") -> list[str]:
    """Sentences most of whose content words (Chinese: character pairs) appear in no source nor the question.

    A lexical proxy for "says things the sources don't": it catches rambling and invented advice,
    not a sentence that rearranges the sources' own words into a false claim.
    """
    known = _content_units(question, lang)
    for source in sources:
        known |= _content_units(f"{source.get('title', '')} {source.get('text', '')}", lang)
    flagged = []
    for sentence in split_sentences(_CITATION.sub("", draft), lang):
        units = _content_units(sentence, lang)
        if len(units) >= 4 and len(units & known) / len(units) < _MIN_SUPPORT.get(lang, 0.5):
            flagged.append(sentence)
    return flagged


@dataclass
class VerifyReport:
    """Outcome of :func:`verify_draft`; ``reasons`` is empty exactly when ``ok``."""

    ok: bool
    reasons: list[str] = field(default_factory=list)
    unsupported_numbers: list[str] = field(default_factory=list)
    fact_share: float = 1.0
    citations: list[int] = field(default_factory=list)
    thin: bool = False
    """The draft failed only because it keeps too few of the top sources' key facts: it is cited,
    supported, in the right language and well formed, but says too little."""


def normalize(text: str) -> str:
    """Lower-case, width-folded text with one spelling of ranges ("60 – 70 %" -> "60-70%")."""
    text = unicodedata.normalize("NFKC", text).lower()
    text = _DASHES.sub("-", text)
    text = re.sub(r"(\d)\s+(%|°c|°f)", r"\1\2", text)
    return re.sub(r"\s+", " ", text)


def citations(text: str) -> list[int]:
    """Source numbers cited in ``text`` ([1], [1, 2], [1-3] count each number)."""
    found: list[int] = []
    for group in _CITATION.findall(text):
        parts = [int(p) for p in re.findall(r"\d+", group)]
        if "-" in group and len(parts) == 2 and parts[0] < parts[1] <= parts[0] + 10:
            parts = list(range(parts[0], parts[1] + 1))
        found.extend(parts)
    return found


def numbers(text: str) -> set[str]:
    """The numbers stated in ``text`` (citation markers and list numbering excluded), canonicalised."""
    text = unicodedata.normalize("NFKC", text)
    text = _LIST_MARKER.sub(" ", _CITATION.sub(" ", text))
    found: set[str] = set()
    for raw in _NUMBER.findall(text):
        if re.fullmatch(r"\d{1,3}(,\d{3})+", raw):
            raw = raw.replace(",", "")
        for part in raw.split(","):
            if not part:
                continue
            try:
                found.add(f"{float(part):g}")
            except ValueError:
                found.add(part)
    return found


def _ngrams(tokens: Sequence[str], n: int) -> Counter[tuple[str, ...]]:
    return Counter(tuple(tokens[i : i + n]) for i in range(len(tokens) - n + 1))


def is_repetitive(text: str) -> bool:
    """A generation loop: a 4-word (en) / 6-character (zh) sequence three times, an 8-word / 12-character one or a sentence twice."""
    plain = _CITATION.sub(" ", normalize(text))
    words = re.findall(r"[a-z0-9%°]+", plain)
    chars = [c for c in plain if "\u3400" <= c <= "\u9fff"]
    if any(count >= 3 for count in _ngrams(words, 4).values()):
        return True
    if any(count >= 3 for count in _ngrams(chars, 6).values()):
        return True
    # A long run said twice is a loop too (a phrase, not a term, coming back).
    # (Chinese: within unbroken runs of characters, so two clauses that share a term don't count.)
    runs: Counter[tuple[str, ...]] = Counter()
    for run in re.findall(r"[\u3400-\u9fff]{12,}", plain):
        runs.update(_ngrams(list(run), 12))
    if any(count >= 2 for count in _ngrams(words, 8).values()) or any(count >= 2 for count in runs.values()):
        return True
    sentences = [s.strip() for s in re.split(r"[.!?。！？\n]+", plain) if len(s.strip()) >= 12]
    return len(sentences) != len(set(sentences))


def fact_present(fact: str, text_normalized: str) -> bool:
    """``fact`` in already-normalised text; a Chinese fact matches with or without spaces ("24 小時" = "24小時")."""
    wanted = normalize(fact)
    if wanted in text_normalized:
        return True
    return bool(re.search(r"[\u3400-\u9fff]", wanted)) and wanted.replace(" ", "") in text_normalized.replace(" ", "")


# The user turn's scaffolding (prompts.build_user_message): a draft that starts a line with it is echoing
# the prompt, which small models do, rather than answering.
_LAYOUT = re.compile(r"(?im)^\s*(?:sources|question|來源|問題)\s*[:：]")
# A tool's name (mold_risk, material_care, ...) from a source title such as "工具 material_care": no
# answer says it unless it copies the label ("工具Material_care: ...").
_TOOL_NAME = re.compile(r"(?<![A-Za-z])(?:" + "|".join(TOOL_NAMES) + r")(?![A-Za-z])", re.I)


def copies_prompt_layout(text: str, sources: Sequence[Mapping[str, Any]]) -> bool:
    """True if ``text`` repeats the prompt's layout: a "Sources:"/"Question:" line, "[n] <a source's title>:",
    or a tool's name."""
    if _LAYOUT.search(text) or _TOOL_NAME.search(text):
        return True
    for source in sources:
        title = str(source.get("title") or "").strip()
        if len(title) >= 4 and re.search(r"\[\d+\]\s*" + re.escape(title) + r"\s*[:：]", text):
            return True
    return False


# Where the prompt cut a long passage short (agent.nodes._prompt_text): a draft that copies the cut
# ends a sentence in the middle ("migrate to the surface and crystallise,…").
_CUT_OFF = re.compile(r"…|\.\.\.")
_CJK_CHAR = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")
_ACCENTED = re.compile(r"[\u00c0-\u00d6\u00d8-\u00f6\u00f8-\u024f]")
"""Latin letters with accents: neither the knowledge base nor the prompts use one ("並不接這方ú" was a slip)."""


_QUESTION_USES = 3


@lru_cache(maxsize=1)
def _known_characters() -> frozenset[str]:
    """Every Chinese character of the packaged entries' titles, bodies and key facts, the agent's prompts
    and its tools' texts, and those that at least :data:`_QUESTION_USES` of the entries' example questions
    write, read once per process.

    The example questions are written as users type, slips included (瓢白水 for 漂白水): a character that
    only one or two of them write is as likely a slip as a word, while one that many write is the users'
    own word (一股霉味).
    """
    from shoeagent.agent import prompts, tools
    from shoeagent.knowledge.entries import packaged_entries

    texts = [Path(prompts.__file__).read_text(encoding="utf-8"), Path(tools.__file__).read_text(encoding="utf-8")]
    asked: Counter[str] = Counter()
    for entry in packaged_entries():
        for lang in entry.title:
            texts += [entry.title[lang], entry.body[lang], *entry.key_facts.get(lang, [])]
        for question in (q for questions in entry.questions.values() for q in questions):
            asked.update(set(_CJK_CHAR.findall(question)))
    known = {c for text in texts for c in _CJK_CHAR.findall(text)}
    return frozenset(known | {c for c, uses in asked.items() if uses >= _QUESTION_USES})


def foreign_characters(text: str, sources: Sequence[Mapping[str, Any]], question: str = "") -> list[str]:
    """Chinese characters of ``text`` that no source, the question, the knowledge base or the prompts use,
    and accented Latin letters that no source or the question uses.

    The small model's slips in Chinese are characters from nowhere: "確誤查" for 確認檢查, "在镘菌常出現"
    where two sentences ran together, "用煩清潔劑" for 中性清潔劑. The answer draws on about 1,300
    characters (:func:`_known_characters`); a character outside them and
    outside this question and these sources is a slip, never a word the answer needs.
    """
    plain = _CITATION.sub(" ", text)
    found = set(_CJK_CHAR.findall(plain)) - _known_characters()
    found |= set(_ACCENTED.findall(plain))
    if not found:
        return []
    found -= set(question)
    for source in sources:
        if not found:
            break
        found -= set(f"{source.get('title', '')} {source.get('text', '')}")
    return sorted(found)


def verify_draft(
    draft: str,
    sources: Sequence[Mapping[str, Any]],
    *,
    lang: str,
    question: str = "",
    min_fact_share: float = 0.34,
    top_n: int = 2,
) -> VerifyReport:
    """Check ``draft`` against the numbered ``sources`` (dicts with ``text``, ``title``, ``key_facts``, ``kind``)."""
    reasons: list[str] = []
    text = draft.strip()
    if not text:
        return VerifyReport(ok=False, reasons=["empty draft"], fact_share=0.0)

    if has_control_tokens(text):
        reasons.append("control tokens in the answer")

    supported = numbers(question)
    for source in sources:
        supported |= numbers(f"{source.get('title', '')} {source.get('text', '')}")
    unsupported = sorted(numbers(text) - supported, key=lambda n: (len(n), n))
    if unsupported:
        reasons.append(f"numbers not in the sources: {', '.join(unsupported)}")

    cited = citations(text)
    if not cited:
        reasons.append("no citation")
    elif any(n < 1 or n > len(sources) for n in cited):
        reasons.append(f"cites a source that does not exist (there are {len(sources)})")

    facts = [f for s in [s for s in sources if s.get("kind", "kb") == "kb"][:top_n] for f in s.get("key_facts") or []]
    normalized = normalize(text)
    kept = sum(fact_present(f, normalized) for f in facts)
    share = kept / len(facts) if facts else 1.0
    thin = share < min_fact_share
    if thin:
        needed = math.ceil(min_fact_share * len(facts) - 1e-9)
        reasons.append(f"keeps {kept} of the top sources' {len(facts)} key facts (needs {needed})")

    body = _CITATION.sub(" ", text)
    if detect_language(body) != lang:
        reasons.append(f"not in {'Chinese' if lang == 'zh' else 'English'}")
    elif lang == "zh" and any(c in _SIMPLIFIED_ONLY for c in body):
        reasons.append("Simplified instead of Traditional Chinese")
    if _CUT_OFF.search(body) and not any(_CUT_OFF.search(str(s.get("text", ""))) for s in sources):
        reasons.append("quotes a passage where the prompt cut it off (…)")
    odd = foreign_characters(text, sources, question)
    if odd:
        reasons.append(f"characters that no source uses (a slip): {''.join(odd[:5])}")

    if len(text) < _MIN_CHARS.get(lang, 40):
        reasons.append("too short")
    elif len(text) > _MAX_CHARS.get(lang, 1200):
        reasons.append("too long")
    if is_repetitive(text):
        reasons.append("repeats itself")
    elif unsupported_sentences(text, sources, lang, question):
        reasons.append("says things the sources don't")
    if copies_prompt_layout(text, sources):
        reasons.append("copies the prompt's layout (Sources:, [n] Title:) instead of answering")

    return VerifyReport(
        ok=not reasons, reasons=reasons, unsupported_numbers=unsupported, fact_share=share, citations=cited,
        thin=thin and len(reasons) == 1,
    )


_CITED_SENTENCE = re.compile(r"[^.!?。！？\n]+[.!?。！？]*\s*|\n+")
"""A sentence with its closing punctuation, any citation before it and the space after (or a run of
newlines): the unit whose citation :func:`attach_citations` and :func:`correct_citations` judge."""


# A sentence the model copied from a passage with a slip of one or two characters or words ("任佑濕氣" for
# 任何濕氣, "wearing shoe moldy shoes", "麂皮…是最容易發霉的材質之一" for the leather passage's 皮革) is the
# passage's sentence: how alike, by difflib's ratio, and how long a sentence must be for a slip to be told
# from a different sentence.
_COPY_RATIO = 0.9
_COPY_MIN_CHARS = {"en": 40, "zh": 12}
_END_PUNCTUATION = ".!?。！？；;"


def restore_copied_sentences(draft: str, sources: Sequence[Mapping[str, Any]], lang: str) -> tuple[str, int]:
    """Give each sentence of ``draft`` that is a near copy of a source sentence that sentence's exact words.

    The small model copies its passages, and now and then a character or a word slips: a wrong
    character (允訹 for 允許), a dropped or doubled word, a material swapped for the one asked about.
    A draft sentence whose words (without its citation and closing punctuation) are at least
    :data:`_COPY_RATIO` alike to one sentence of a source, but not the same, takes that sentence's
    words and keeps its own citation and punctuation (a copy cut short, as the prompt's passages are,
    gets the closing punctuation it lacked). Sentences with a citation inside them, and short ones,
    are left alone. Returns the draft and how many sentences were restored.
    """
    minimum = _COPY_MIN_CHARS.get(lang, 40)
    # Cut where the draft is cut (:data:`_CITED_SENTENCE`): a Chinese clause after "；" stays in its sentence.
    candidates = [
        core for s in sources for x in _CITED_SENTENCE.findall(strip_tool_label(str(s.get("text", ""))))
        if len(core := x.strip().rstrip(_END_PUNCTUATION).strip()) >= minimum
    ]
    out: list[str] = []
    restored = 0
    for piece in _CITED_SENTENCE.findall(draft):
        core = _CITATION.sub("", piece).strip().rstrip(_END_PUNCTUATION).strip()
        best = _copied_from(core, candidates) if len(core) >= minimum and core not in candidates and core in piece else None
        if best is not None:
            piece = piece.replace(core, best, 1)
            if not piece.rstrip().endswith(tuple(_END_PUNCTUATION)):  # a copy cut short ("or on… [2]")
                body = piece.rstrip()
                piece = body + ("。" if lang == "zh" else ".") + piece[len(body) :]
            restored += 1
        out.append(piece)
    return "".join(out), restored


def _copied_from(core: str, candidates: Sequence[str]) -> str | None:
    """The candidate ``core`` is a slipped copy of: at least :data:`_COPY_RATIO` alike, or its start up to
    the "…" where the prompt cut the passage; None when it copies none."""
    if core.endswith("…"):
        start = core.rstrip("…").rstrip()
        return next((c for c in candidates if c.startswith(start) and len(c) > len(start)), None)
    matcher = difflib.SequenceMatcher(autojunk=False)
    matcher.set_seq2(core)
    best, best_ratio = None, _COPY_RATIO
    for candidate in candidates:
        matcher.set_seq1(candidate)
        if matcher.real_quick_ratio() >= best_ratio and matcher.quick_ratio() >= best_ratio:
            ratio = matcher.ratio()
            if ratio >= best_ratio:
                best, best_ratio = candidate, ratio
    return best


def attach_citations(draft: str, sources: Sequence[Mapping[str, Any]]) -> str:
    """Cite uncited sentences by evidence: each gets [n] of the source sharing most of its numbers and key facts.

    Citations to sources that do not exist are dropped first. A sentence that shares nothing with
    any source stays uncited (and verify still judges the whole draft), so this only labels
    content whose support can be pointed at.
    """
    def valid(match: re.Match[str]) -> str:
        cited = [n for n in citations(match.group(0)) if 1 <= n <= len(sources)]
        return f"[{', '.join(map(str, dict.fromkeys(cited)))}]" if cited else ""

    text = _CITATION.sub(valid, draft.strip())
    source_numbers = [numbers(f"{s.get('title', '')} {s.get('text', '')}") for s in sources]
    source_facts = [[normalize(f) for f in s.get("key_facts") or []] for s in sources]
    out: list[str] = []
    for sentence in _CITED_SENTENCE.findall(text):
        if citations(sentence) or not sentence.strip():
            out.append(sentence)
            continue
        said, plain = numbers(sentence), normalize(sentence)
        evidence = [len(said & nums) + sum(f in plain for f in facts) for nums, facts in zip(source_numbers, source_facts)]
        best = max(range(len(sources)), key=lambda i: evidence[i], default=None)
        if best is None or evidence[best] == 0:
            out.append(sentence)
            continue
        body = sentence.rstrip()
        end = body[-1] if body and body[-1] in ".!?。！？" else ""
        core = body[:-1] if end else body
        core = core.rstrip()
        if not end and core.endswith(("；", "，", "、")):  # a Chinese draft that stopped mid-sentence
            core, end = core[:-1], "。"
        gap = "" if core and "\u3000" <= core[-1] <= "\u9fff" or end == "。" else " "
        out.append(f"{core}{gap}[{best + 1}]{end}{sentence[len(body):]}")
    return "".join(out).strip()


_MISCITED_SHARE = 0.5
"""A single citation is wrong when its source holds less than this share of the sentence's content words..."""
_RIGHT_SHARE = 0.8
"""...and another source holds at least this share (Chinese: character pairs)."""


def correct_citations(draft: str, sources: Sequence[Mapping[str, Any]], lang: str) -> tuple[str, int]:
    """Point each wrongly numbered citation at the source that says the sentence.

    The small model copies a passage's sentence faithfully and then cites its neighbour: "活性碳…能把
    MVOCs 等氣味分子吸附…[3]" with [3] the silica-gel passage (16 of 657 single-cited sentences of the
    tuning sets' answers). A sentence of four content units or more with one citation whose source
    holds under :data:`_MISCITED_SHARE` of its words, while another holds :data:`_RIGHT_SHARE` or
    more, gets that source's number instead. A sentence citing a tool is left alone: the model words
    the user's computed numbers with a passage's sentence ("At 28°C and 85% RH, mold risk depends on
    humidity, temperature and time together"), and whether a tool is cited decides whether its result
    leads the answer (:func:`lead_with_tools`). Returns the draft and how many citations moved.
    """
    units = [_content_units(f"{s.get('title', '')} {s.get('text', '')}", lang) for s in sources]
    out: list[str] = []
    moved = 0
    for sentence in _CITED_SENTENCE.findall(draft):
        cited = set(citations(sentence))
        words = _content_units(_CITATION.sub(" ", sentence), lang)
        if (
            len(cited) == 1 and len(words) >= 4 and 0 < (n := next(iter(cited))) <= len(sources)
            and sources[n - 1].get("kind") != "tool"
        ):
            share = [len(words & u) / len(words) for u in units]
            best = max(range(len(sources)), key=share.__getitem__)
            if share[n - 1] < _MISCITED_SHARE and share[best] >= _RIGHT_SHARE:
                sentence = _CITATION.sub(f"[{best + 1}]", sentence)
                moved += 1
        out.append(sentence)
    return "".join(out), moved


def complete_key_facts(answer: str, sources: Sequence[Mapping[str, Any]], lang: str, max_added: int = 2) -> tuple[str, list[str]]:
    """Add the top knowledge source's key facts that ``answer`` left out, in that source's own sentences, cited.

    The small model often answers from a lower-ranked passage and drops the best one's exact facts
    (numbers, names of products and methods). The passage ranked first is the retriever's best
    evidence, so the sentences that state its missing facts are appended, at most ``max_added``,
    each with its [n], never past the length limit. When the answer already has a sentence that says
    mostly the same (the model shortened the source's sentence and dropped the fact), the source's
    sentence replaces it instead of following it, so the answer does not say the thing twice.
    Returns the answer and the facts added.
    """
    ranked = [(i, s) for i, s in enumerate(sources) if s.get("kind", "kb") == "kb"]
    if not answer.strip() or not ranked:
        return answer, []
    index, top = ranked[0]
    plain = normalize(answer)
    missing = [f for f in top.get("key_facts") or [] if not fact_present(f, plain)]
    added: list[str] = []
    sentences_added = 0
    text = answer.rstrip()
    for sentence in split_sentences(str(top.get("text", "")), lang):
        if not missing or sentences_added >= max_added:
            break
        said = normalize(sentence)
        carries = [f for f in missing if fact_present(f, said)]
        if not carries:
            continue
        extra = _cite(sentence, index + 1, lang)
        twin = _near_duplicate(sentence, split_sentences(text, lang), lang)
        if twin is not None:
            joined = text.replace(twin, extra, 1)
        else:
            joined = f"{text}{'' if lang == 'zh' else ' '}{extra}"
        if len(joined) > _MAX_CHARS.get(lang, 1200):
            break
        text = joined
        sentences_added += 1
        added.extend(carries)
        missing = [f for f in missing if f not in carries]
    return (text, added) if added else (answer, [])


_DUPLICATE_OVERLAP = 0.7
"""Share of the shorter sentence's content units (words, or Chinese character bigrams) that two
sentences must have in common to say the same thing."""


def _carrying_facts(sentences: Sequence[str], facts: Sequence[str]) -> list[str]:
    """The ``sentences`` that state at least one of ``facts``."""
    return [x for x in sentences if any(fact_present(f, normalize(x)) for f in facts)]


def _facts_said(sentence: str, facts: Sequence[str], answer_normalized: str) -> bool:
    """Whether ``sentence`` carries some of ``facts`` and the (normalised) answer states all of those already."""
    carried = [f for f in facts if fact_present(f, normalize(sentence))]
    return bool(carried) and all(fact_present(f, answer_normalized) for f in carried)


def _append_cited(text: str, sentence: str, index: int, lang: str) -> str | None:
    """``text`` with ``sentence`` appended and cited as source ``index + 1``; None past the length limit."""
    joined = f"{text}{'' if lang == 'zh' else ' '}{_cite(sentence, index + 1, lang)}"
    return joined if len(joined) <= _MAX_CHARS.get(lang, 1200) else None


def _near_duplicate(sentence: str, candidates: Sequence[str], lang: str) -> str | None:
    """The first of ``candidates`` that says mostly what ``sentence`` says (see :data:`_DUPLICATE_OVERLAP`)."""
    units = _content_units(sentence, lang)
    for candidate in candidates:
        other = _content_units(candidate, lang)
        if units and other and len(units & other) >= _DUPLICATE_OVERLAP * min(len(units), len(other)):
            return candidate
    return None


def split_sentences(text: str, lang: str) -> list[str]:
    """Sentences of a passage, each keeping its closing punctuation."""
    text = text.strip()
    if not text:
        return []
    if lang == "zh":
        parts = re.findall(r"[^。！？；]+[。！？；]?", text)
    else:
        parts = re.split(r"(?<=[.!?])\s+(?=[A-Z0-9\"“(])", text)
    sentences: list[str] = []
    for part in (p.strip() for p in parts if p.strip()):
        # A break inside brackets ("（…高風險；28°C…）") is not the end of a sentence, nor is a semicolon
        # before "or …" (…仍未改善；或出現…，請看醫師): the part after it is a clause of the same sentence.
        if sentences and (_open_brackets(sentences[-1]) > 0 or (sentences[-1].endswith("；") and part.startswith(("或", "以及")))):
            sentences[-1] += part if lang == "zh" else f" {part}"
        else:
            sentences.append(part)
    return sentences


def _open_brackets(text: str) -> int:
    return sum(text.count(c) for c in "(（") - sum(text.count(c) for c in ")）")


def _cite(sentence: str, n: int, lang: str) -> str:
    """Put ``[n]`` before the sentence's closing punctuation."""
    sentence = sentence.rstrip()
    end = sentence[-1] if sentence and sentence[-1] in ".!?。！？；" else ""
    core = sentence[: -1] if end else sentence
    if lang == "zh":
        return f"{core}[{n}]{'。' if end in ('；', '') else end}"
    return f"{core} [{n}]{end or '.'}"


# Tools that compute from the user's own numbers or symptoms lead a composed answer; the generic
# material_care sheet follows the knowledge passages.
_LEADING_TOOLS = ("tool:mold_risk", "tool:dew_point", "tool:drying_plan", "tool:diagnose_symptoms")
_NUMBER_TOOLS = ("tool:mold_risk", "tool:dew_point")
_TOOL_PREFIX = re.compile(r"^\s*(?:Tool|工具)\s+[a-z_]+\s*(?:[(（][^)）]*[)）])?\s*[:：]\s*")


def strip_tool_label(text: str) -> str:
    """A tool summary without its "Tool name:" / "工具 name：" label (the source's title carries it)."""
    text = _TOOL_PREFIX.sub("", text.strip())
    return text[:1].upper() + text[1:]


def lead_with_tools(answer: str, sources: Sequence[Mapping[str, Any]], lang: str) -> tuple[str, list[str]]:
    """Put the first sentence of each computed tool result the answer never states in front of it, cited.

    A tool in :data:`_LEADING_TOOLS` computed something from the user's own numbers or symptoms (the
    mold risk at their temperature and humidity, their dew point, a drying plan, a likely diagnosis);
    its first sentence is that result ("at 28°C and 85% RH the mold risk is high"). The small model
    often answers from the knowledge passages and leaves it out, so the user never hears the answer
    to what they asked. A citation of a computed number (risk, dew point, drying plan) counts only on a
    sentence that says mostly what the tool says (:func:`_states_source`); any citation of a likely
    diagnosis counts, because a diagnosis is a guess: put in front of an answer whose draft leaned on
    other sources, "most likely mold (58%)" answered what "why do moldy shoes smell?" never asked.
    The sentence goes first, never past the length limit. Returns the answer and the ids of the tools
    put in front.
    """
    if not answer.strip():
        return answer, []
    cited = set(citations(answer))
    lead: list[str] = []
    ids: list[str] = []
    for index, source in enumerate(sources):
        if source.get("id") not in _LEADING_TOOLS:
            continue
        if index + 1 in cited and (
            source.get("id") == "tool:diagnose_symptoms" or _states_source(answer, index, source, lang)
        ):
            continue
        sentences = split_sentences(strip_tool_label(str(source.get("text", ""))), lang)
        if sentences:
            lead.append(_cite(sentences[0], index + 1, lang))
            ids.append(str(source["id"]))
    joined = ("" if lang == "zh" else " ").join([*lead, answer.strip()])
    if not lead or len(joined) > _MAX_CHARS.get(lang, 1200):
        return answer, []
    return joined, ids


def _states_source(answer: str, index: int, source: Mapping[str, Any], lang: str) -> bool:
    """Whether a sentence of ``answer`` that cites source ``index + 1`` says mostly what that source says.

    The small model sometimes hangs a tool's number on a sentence of its own ("… hygroscopic … [4]"
    where [4] is the mold-risk result), so a citation alone does not show the user heard the result.
    """
    known = _content_units(str(source.get("text", "")), lang)
    for sentence in split_sentences(answer, lang):
        if index + 1 not in citations(sentence):
            continue
        units = _content_units(sentence, lang)
        if not units or len(units & known) >= _MIN_SUPPORT.get(lang, 0.5) * len(units):
            return True
    return False


_GENERIC_MATERIAL_WORDS = frozenset({"cloth", "fabric", "cotton", "foam"})
"""Aliases that name a material but rarely the shoe's ("wipe it with a damp cloth", "cotton socks")."""


def _shoe_materials(text: str) -> list[str]:
    plain = normalize(text)
    for word in _GENERIC_MATERIAL_WORDS:
        plain = re.sub(rf"(?<![a-z]){word}(?![a-z])", " ", plain)
    return find_materials(plain)


def cover_question_materials(
    answer: str, sources: Sequence[Mapping[str, Any]], question: str, lang: str, max_added: int = 2
) -> tuple[str, list[str]]:
    """Add a cited source sentence about each shoe material the question names and the answer never mentions.

    "Can I use bleach on my canvas sneakers?" was answered with the top source's leather sentence
    only, though the same source says what bleach does to canvas. The first sentence of the
    knowledge passages (in rank order) that names the material, and no material the question did
    not ask about, is appended, unless the answer already says it. Returns the answer and the
    materials added.
    """
    if not answer.strip():
        return answer, []
    asked = _shoe_materials(question)
    missing = [m for m in asked if m not in _shoe_materials(answer)]
    # Knowledge passages only: the material_care tool's sheet is general advice ("never bleach leather")
    # that rarely answers the question asked.
    order = [i for i, s in enumerate(sources) if s.get("kind", "kb") == "kb"]
    text, added = answer.rstrip(), []
    for material in missing[:max_added]:
        for index in order:
            body = str(sources[index].get("text", ""))
            # A sentence about this material, not one that compares it with another ("suede is the leather that…").
            sentence = next(
                (x for x in split_sentences(body, lang) if material in (named := _shoe_materials(x)) and set(named) <= set(asked)),
                None,
            )
            if sentence is None or _near_duplicate(sentence, split_sentences(text, lang), lang) is not None:
                continue
            joined = _append_cited(text, sentence, index, lang)
            if joined is not None:
                text = joined
                added.append(material)
            break
    return (text, added) if added else (answer, [])


_ALTERNATIVES = {
    "zh": re.compile(r"([\u3400-\u9fff]{2,3})(?:還是|或是|或者|(?<!或)或(?!許)|跟|和|與)(?:用|是|拿去|拿|去|把|直接)*([\u3400-\u9fff]{2,3})"),
    # After "or", articles and verbs are skipped, and so is "rubbing" ("vinegar or rubbing alcohol": the
    # knowledge base says "70% alcohol").
    "en": re.compile(r"([a-z]+)\s+(?:or|vs\.?|versus)\s+(?:(?:a|an|the|on|in|with|some|just|use|using|put|rubbing|isopropyl)\s+)*([a-z]+)"),
}
_CHOICE_ZH = re.compile(r"還是|或|哪|比較")
"""跟/和/與 join alternatives only in a question that asks to choose (酒精跟白醋哪個好)."""
_GENERIC_WORDS = frozenset({"mold", "mould", "moldy", "mouldy", "mildew", "shoe", "shoes", "發霉", "黴菌", "霉菌", "鞋子", "長霉"})
"""Words every passage is about: an alternative between them and something else names only the other."""
_ZH_FUNCTION_CHARS = frozenset("是的了嗎呢哪需要該會也都就很把被或跟和與還")


def _units(text: str, lang: str) -> set[str]:
    """:func:`_side_units` without generic domain words ("gel" and "sun" name alternatives; 是發 does not)."""
    return _side_units(text, lang) - _GENERIC_WORDS


def _side_units(side: str, lang: str) -> set[str]:
    """:func:`_content_units` of any length, without Chinese function characters; generic words kept."""
    units = _content_units(side, lang, min_len=1)
    return {u for u in units if not set(u) & _ZH_FUNCTION_CHARS} if lang == "zh" else units


def alternative_searches(question: str, lang: str) -> list[tuple[set[str], str]]:
    """Each alternative of ``question`` (see :func:`question_alternatives`) with the question asked about it alone.

    "vinegar or alcohol for killing mold, what ratio" gives ({vinegar}, "vinegar for killing mold, what
    ratio") and ({alcohol}, "alcohol for killing mold, what ratio"): a search for each finds the passage
    about it, which a search for both can rank below passages about the first.
    """
    plain = normalize(question)
    if lang == "zh" and not _CHOICE_ZH.search(plain):
        return []
    found: list[tuple[set[str], str]] = []
    edge = 2 if lang == "zh" else 10**6  # Chinese: take the two characters next to "or" as the other word
    for match in _ALTERNATIVES["zh" if lang == "zh" else "en"].finditer(plain):
        (x_start, x_end), (y_start, y_end) = match.span(1), match.span(2)
        alone = (
            plain[:x_end] + plain[min(y_start + edge, y_end):],  # the first, without "or" and the second
            plain[: max(x_end - edge, x_start)] + plain[y_start:],  # the second, without the first and "or"
        )
        for side, query in zip(match.groups(), alone):
            units = _units(side, lang)
            if units and all(units != seen for seen, _ in found):
                found.append((units, query))
    return found


def question_alternatives(question: str, lang: str) -> list[set[str]]:
    """What stands on either side of "or" / 還是 / 跟…哪個 in ``question``, each as :func:`_units`.

    "silica gel packets or cedar shoe trees" gives {packet}, {cedar}; 用吹風機吹或拿去曬太陽 gives the
    bigrams of 機吹 and 曬太陽 (a window of up to three characters: Chinese has no spaces to say where a word ends).
    """
    return [units for units, _ in alternative_searches(question, lang)]


def names_alternative(title: str, alternative: set[str], lang: str) -> bool:
    """Whether ``title`` names one of :func:`question_alternatives` (shares a word stem or a Chinese bigram)."""
    return bool(_units(title, lang) & alternative)


def about_alternative(title: str, alternative: set[str], alternatives: Sequence[set[str]], lang: str) -> bool:
    """Whether ``title`` is about ``alternative``: it names it, and not every one of ``alternatives``.

    A title that names them all is about something they share ("Shoes smell of vinegar or alcohol after
    cleaning"), not about either: an answer or a search that has it has heard about neither.
    """
    return names_alternative(title, alternative, lang) and not all(names_alternative(title, a, lang) for a in alternatives)


_MORE_ASKS = {
    "zh": re.compile(r"[？?嗎][，,\s]*[\u3400-\u9fff]{2}|、"),
    "en": re.compile(r"\?\s*[a-z]{2}|,\s*(?:the\s+|a\s+)?[a-z]+(?:\s+[a-z]+)?,?\s+and\s"),
}
"""A second question after the first (是發霉嗎？要換嗎), or a list (濕度、溫度和時間; "the humidity, the temperature and how long")."""


def asks_several_things(question: str, lang: str) -> bool:
    """Whether ``question`` asks about alternatives, asks a second question, or lists what it wants."""
    plain = normalize(question)
    return bool(question_alternatives(question, lang) or _MORE_ASKS["zh" if lang == "zh" else "en"].search(plain))


def cover_alternatives(
    answer: str, sources: Sequence[Mapping[str, Any]], question: str, lang: str, max_added: int = 2
) -> tuple[str, list[str]]:
    """Add what a knowledge passage says about each alternative of the question the answer left to one side.

    "Do silica gel packets or cedar shoe trees do anything?" retrieves a passage on each; the small
    model answers from the first and the user hears nothing about cedar. For each word of
    :func:`question_alternatives` that no cited source's title is about (:func:`about_alternative`), the first
    uncited knowledge passage whose title is about it gives its key-fact sentence closest to the question (else its
    first sentence naming the word), cited, at most ``max_added``, never past the length limit.
    Titles, not the answer's text, decide what is covered: "vinegar is gentler than alcohol" is an
    answer about vinegar. A cited title that names every alternative covers none of them: "vinegar or
    alcohol, and what ratio?" answered only from "Shoes smell of vinegar or alcohol after cleaning"
    never said how to use either. Returns the answer and the ids of the sources added.
    """
    if not answer.strip():
        return answer, []
    wanted = question_alternatives(question, lang)
    if not wanted:
        return answer, []
    cited = set(citations(answer))
    kb = [i for i, s in enumerate(sources) if s.get("kind", "kb") == "kb"]
    text, added = answer.rstrip(), []

    def covers(title: str, alternative: set[str]) -> bool:
        return about_alternative(title, alternative, wanted, lang)

    for alternative in wanted:
        if len(added) >= max_added or any(
            covers(str(sources[i - 1].get("title", "")), alternative) for i in cited if 0 < i <= len(sources)
        ):
            continue
        index = next((i for i in kb if i + 1 not in cited and covers(str(sources[i].get("title", "")), alternative)), None)
        if index is None:
            continue
        source = sources[index]
        sentences = split_sentences(str(source.get("text", "")), lang)
        carrying = _carrying_facts(sentences, source.get("key_facts") or [])
        naming = [x for x in sentences if names_alternative(x, alternative, lang)]
        if not (carrying or naming):
            continue
        sentence = _closest_to(question, carrying, lang) if carrying else naming[0]
        if _near_duplicate(sentence, split_sentences(text, lang), lang) is not None:
            continue
        joined = _append_cited(text, sentence, index, lang)
        if joined is None:
            break
        text = joined
        cited.add(index + 1)
        added.append(str(source.get("id", "")))
    return (text, added) if added else (answer, [])


def cover_contrast(answer: str, sources: Sequence[Mapping[str, Any]], question: str, lang: str) -> tuple[str, str]:
    """Add what the passage that tells the two apart says, when the question asks "is it A or B?" and no cited one does.

    "腳趾縫很癢，是香港腳還是鞋子發霉？": the small model describes athlete's foot from one passage and
    never says which it is, though the passage titled "Athlete's foot is caused by dermatophytes, not
    shoe mold" was retrieved. Both sides of each "or" in the question (see :data:`_ALTERNATIVES`; here
    generic words such as mold count, since "mold" is one of the things asked about) are looked for in
    the sources' titles; when no cited title names both and an uncited knowledge passage's title does,
    that passage says which it is: of its key-fact sentences (else its first), the one closest to its
    title is added, cited, within the length limit. Returns the answer and the id of the passage added ("" for none).
    """
    text = answer.rstrip()
    plain = normalize(question)
    if not text or (lang == "zh" and not _CHOICE_ZH.search(plain)):
        return answer, ""
    cited = set(citations(text))
    for match in _ALTERNATIVES["zh" if lang == "zh" else "en"].finditer(plain):
        first, second = (_side_units(side, lang) for side in match.groups())
        if not first or not second or first == second:
            continue

        def contrasts(title: str) -> bool:
            units = _content_units(title, lang, min_len=1)
            return bool(units & first) and bool(units & second)

        if any(contrasts(str(sources[i - 1].get("title", ""))) for i in cited if 0 < i <= len(sources)):
            continue
        index = next(
            (i for i, s in enumerate(sources)
             if s.get("kind", "kb") == "kb" and i + 1 not in cited and contrasts(str(s.get("title", "")))),
            None,
        )
        if index is None:
            continue
        sentences = split_sentences(str(sources[index].get("text", "")), lang)
        carrying = _carrying_facts(sentences, sources[index].get("key_facts") or []) or sentences[:1]
        carrying = [x for x in carrying if _near_duplicate(x, split_sentences(text, lang), lang) is None]
        if not carrying:
            continue
        # The title says how the two differ; the sentence closest to it is the passage's answer to "which?".
        joined = _append_cited(text, _closest_to(str(sources[index].get("title", "")), carrying, lang), index, lang)
        return (answer, "") if joined is None else (joined, str(sources[index].get("id", "")))
    return answer, ""


def cover_health(answer: str, sources: Sequence[Mapping[str, Any]], question: str, lang: str, health: bool) -> tuple[str, str]:
    """Add what a retrieved health passage says, when the question describes symptoms and no cited passage is about health.

    "My mom is on chemo … found mold on her wool slippers, how worried should we be?": the draft
    answered from the wool passage (how wool molds, how to air it) and the user never heard that a
    weakened immune system makes mold riskier, though the high-risk-groups passage was retrieved. For a
    health question (the router's flag), when no cited knowledge passage is of the health category, the
    key-fact sentence (else the first) closest to the question of the best-ranked health passage is
    added, cited, within the length limit. Returns the answer and the id of the passage added ("" for none).
    """
    text = answer.rstrip()
    if not health or not text:
        return answer, ""
    cited = set(citations(text))
    kb = [i for i, s in enumerate(sources) if s.get("kind", "kb") == "kb"]
    if any(sources[i].get("category") == "health" for i in kb if i + 1 in cited):
        return answer, ""
    index = next((i for i in kb if sources[i].get("category") == "health"), None)
    if index is None:
        return answer, ""
    sentences = split_sentences(str(sources[index].get("text", "")), lang)
    facts = sources[index].get("key_facts") or []
    carrying = _carrying_facts(sentences, facts) or sentences[:1]
    said, plain = split_sentences(text, lang), normalize(text)
    # Not a sentence the answer says already, in its words or in its facts (a second "wear an N95").
    carrying = [x for x in carrying if _near_duplicate(x, said, lang) is None and not _facts_said(x, facts, plain)]
    if not carrying:
        return answer, ""
    joined = _append_cited(text, _closest_to(question, carrying, lang), index, lang)
    return (answer, "") if joined is None else (joined, str(sources[index].get("id", "")))


_ADVISING_TOOLS = ("tool:diagnose_symptoms", "tool:material_care", "tool:drying_plan")


def answer_the_request(answer: str, sources: Sequence[Mapping[str, Any]], question: str, lang: str) -> tuple[str, str]:
    """Add a treatment passage's step when the question ends by asking what to do and no cited passage says it.

    "Black fuzz on the insole, is it mold? How do I clean it?": the small model answers the first
    question from the diagnosis passage, and the user never hears what to do. When the request of a
    question of several clauses (:func:`~shoeagent.agent.router.request`) asks for treatment and no
    cited knowledge passage is a treatment entry, the key-fact sentence of the best-ranked uncited
    treatment passage closest to the request is added, cited, within the length limit; with no
    treatment passage retrieved, the sentence of an advising tool's result (:data:`_ADVISING_TOOLS`:
    the diagnosis's next step) closest to the request that the answer does not already say. Returns
    the answer and the id of the passage added ("" for none).
    """
    asked = request(question)
    if not answer.strip() or asked is None or asked[1] != "treatment":
        return answer, ""
    cited = set(citations(answer))
    kb = [i for i, s in enumerate(sources) if s.get("kind", "kb") == "kb"]
    if any(sources[i].get("stage") == "treatment" for i in kb if i + 1 in cited):
        return answer, ""
    index = next((i for i in kb if i + 1 not in cited and sources[i].get("stage") == "treatment"), None)
    if index is None:
        # No treatment passage was retrieved: a tool that advises (the diagnosis's next step) says what to do.
        index = next((i for i, s in enumerate(sources) if s.get("id") in _ADVISING_TOOLS), None)
        if index is None:
            return answer, ""
    source = sources[index]
    sentences = split_sentences(strip_tool_label(str(source.get("text", ""))), lang)
    if source.get("kind") == "tool":
        carrying = sentences[1:] if source.get("id") == "tool:diagnose_symptoms" else sentences  # not the verdict again
    else:
        carrying = _carrying_facts(sentences, source.get("key_facts") or []) or sentences[:1]
    text = answer.rstrip()
    said = split_sentences(text, lang)
    carrying = [x for x in carrying if _near_duplicate(x, said, lang) is None]
    if not carrying:
        return answer, ""
    sentence = _closest_to(asked[0], carrying, lang)
    joined = _append_cited(text, sentence, index, lang)
    return (answer, "") if joined is None else (joined, str(source.get("id", "")))


# "Should I replace them / throw them out?" asks for a decision the knowledge states in so many words
# ("Replace them if stains have soaked into the foam"). Question side: 換 but not 換季 (change of season),
# 換氣 (airing), 換穿/輪換 (rotating pairs), 換個 (another way); 丟 but not 丟進洗衣機 (into the washer).
_ASKS_REPLACE = {
    "zh": re.compile(r"(?<![輪交])換(?![季氣穿洗個成])|丟(?:掉|棄)|[要該得]丟(?![進到入洗])|扔掉|汰換"),
    "en": re.compile(
        r"\b(?:replac\w*|toss(?:ed|ing)?|bin (?:them|it)|discard\w*|throw (?:\w+ ){0,2}(?:away|out)"
        r"|new (?:ones|pair|insoles)|ruined|salvag\w*|worth (?:saving|keeping)|save them)\b"
    ),
}
_STATES_REPLACE = {
    "zh": re.compile(r"更換|換新|換掉|換一雙|丟掉|丟棄|扔掉|汰換"),
    "en": re.compile(r"\b(?:replac\w*|discard\w*|throw (?:\w+ ){0,2}(?:away|out)|bin (?:them|it)|new (?:insoles|pair))\b", re.I),
}


def answer_whether_to_replace(answer: str, sources: Sequence[Mapping[str, Any]], question: str, lang: str) -> tuple[str, str]:
    """Add when to replace or throw away, when the question asks whether to and the answer never says.

    "鞋墊發霉要換掉嗎": the small model explains how to wash foam insoles and the user never hears
    "replace them if the stain has soaked in". When the question asks whether to replace or discard
    (:data:`_ASKS_REPLACE`) and no sentence of the answer speaks of it, a knowledge passage's sentence
    that does is added (:func:`_answer_decision`). Rank, not citation, decides: the draft for
    鞋墊發霉要換掉嗎 cited the custom-orthotics passage, whose "have the clinic replace the top cover"
    is not the answer for ordinary insoles. Returns the answer and the id of the passage used ("" for none).
    """
    return _answer_decision(answer, sources, question, lang, _ASKS_REPLACE, _STATES_REPLACE)


# "Do I need to see a doctor?" (要看醫生嗎) asks for the knowledge's own criteria ("if it does not improve
# after about 2 weeks of pharmacy treatment, see a doctor"); the reminder added to every health answer
# says only "see a doctor if it lasts". "只有醫師能確認" (only a doctor can confirm) does not say when to go.
_ASKS_DOCTOR = {
    "zh": re.compile(r"看(?:醫生|醫師|皮膚科|病|診)|就醫|就診|掛號|去醫院"),
    "en": re.compile(
        r"\b(?:see|visit|need|call|go to|ask) (?:a |an |my |the )?(?:doctor|dermatologist|gp|physician|podiatrist|clinic)"
        r"|\bmedical (?:help|attention|advice)\b"
    ),
}
_STATES_DOCTOR = {
    "zh": re.compile(r"看(?:醫生|醫師|皮膚科)|就醫|就診|找醫師|請醫師"),
    "en": re.compile(
        r"\b(?:see|visit|call|consult) (?:a |an |your |the )?(?:doctor|dermatologist|gp|physician|podiatrist)"
        r"|\bmedical (?:help|attention|advice)\b",
        re.I,
    ),
}


def answer_whether_to_see_a_doctor(
    answer: str, sources: Sequence[Mapping[str, Any]], question: str, lang: str
) -> tuple[str, str]:
    """Add when to see a doctor, when the question asks whether to and the answer never says.

    "腳趾縫很癢又脫皮，是香港腳嗎？要看醫生嗎": the small model describes athlete's foot and the user
    never hears when a doctor is needed. As :func:`answer_whether_to_replace`, with :data:`_ASKS_DOCTOR`
    and :data:`_STATES_DOCTOR`. Returns the answer and the id of the passage used ("" for none).
    """
    return _answer_decision(answer, sources, question, lang, _ASKS_DOCTOR, _STATES_DOCTOR)


def _answer_decision(
    answer: str,
    sources: Sequence[Mapping[str, Any]],
    question: str,
    lang: str,
    asks: Mapping[str, re.Pattern[str]],
    states: Mapping[str, re.Pattern[str]],
) -> tuple[str, str]:
    """Add a passage's sentence that ``states`` the decision the question ``asks`` for, when no sentence of the answer does.

    The sentence comes from the best-ranked knowledge passage whose key facts such a sentence carries,
    else the best-ranked with any such sentence; of its sentences, the one closest to the question;
    cited, within the length limit. Returns the answer and the id of the passage used ("" for none).
    """
    key = "zh" if lang == "zh" else "en"
    text = answer.rstrip()
    if not text or not asks[key].search(normalize(question)):
        return answer, ""
    if any(states[key].search(x) for x in split_sentences(text, lang)):
        return answer, ""
    kb = [i for i, s in enumerate(sources) if s.get("kind", "kb") == "kb"]
    saying = {i: [x for x in split_sentences(str(sources[i].get("text", "")), lang) if states[key].search(x)] for i in kb}
    for facts_only in (True, False):  # a key-fact sentence of any of them first: the entry's own point
        for index in kb:
            candidates = _carrying_facts(saying[index], sources[index].get("key_facts") or []) if facts_only else saying[index]
            if candidates:
                joined = _append_cited(text, _closest_to(question, candidates, lang), index, lang)
                return (answer, "") if joined is None else (joined, str(sources[index].get("id", "")))
    return answer, ""


# A passage that forbids something usually says what to do instead, in a later sentence ("Never dry
# leather with high heat ... Dry at room temperature with moving air instead"). 別 is left out: 特別, 區別.
_FORBIDS = {
    "zh": re.compile(r"不要|不可以|避免|絕對不|絕不|切勿|千萬別|不宜"),
    "en": re.compile(r"\b(?:never|don't|do not|avoid|shouldn't|should not|must not)\b", re.I),
}
_INSTEAD = {
    "zh": re.compile(r"改用|改以|改在|改成|改放|請在|取而代之|而應"),
    "en": re.compile(r"\binstead\b", re.I),
}


def say_what_instead(answer: str, sources: Sequence[Mapping[str, Any]], lang: str, max_added: int = 2) -> tuple[str, list[str]]:
    """After a sentence that says what not to do, add what its passage says to do instead, when the answer does not.

    "Can I dry wet shoes in the sun or with a hair dryer?": the composed answer quoted "Never dry leather
    shoes with direct high heat: a hair dryer ..." and stopped there; the passage's next sentences say
    "Dry at room temperature with moving air instead". For each knowledge passage with a sentence that
    forbids (:data:`_FORBIDS`, not itself saying "instead") which the answer states (a near duplicate),
    the passage's first later sentence that says what to do instead (:data:`_INSTEAD`, forbidding
    nothing) is put right after it, cited, unless the answer says it already (a near duplicate, or all
    the key facts it carries); at most ``max_added``,
    within the length limit. Returns the answer and the ids of the passages used.
    """
    key = "zh" if lang == "zh" else "en"
    text = answer.rstrip()
    if not text:
        return answer, []
    used: list[str] = []
    for index, source in enumerate(sources):
        if len(used) >= max_added:
            break
        if source.get("kind", "kb") != "kb":
            continue
        sentences = split_sentences(str(source.get("text", "")), lang)
        said = split_sentences(text, lang)
        for position, sentence in enumerate(sentences):
            if not _FORBIDS[key].search(sentence) or _INSTEAD[key].search(sentence):
                continue
            remedy = next((x for x in sentences[position + 1 :] if _INSTEAD[key].search(x) and not _FORBIDS[key].search(x)), None)
            stated = _near_duplicate(sentence, said, lang)
            if remedy is None or stated is None or _near_duplicate(remedy, said, lang) is not None:
                continue
            if _facts_said(remedy, source.get("key_facts") or [], normalize(text)):
                continue  # "dry at room temperature" said already, in other words
            joined = text.replace(stated, f"{stated}{'' if lang == 'zh' else ' '}{_cite(remedy, index + 1, lang)}", 1)
            if len(joined) > _MAX_CHARS.get(lang, 1200):
                continue
            text = joined
            used.append(str(source.get("id", "")))
            break
    return (text, used) if used else (answer, [])


def _compose_order(sources: Sequence[Mapping[str, Any]]) -> list[int]:
    lead = [i for i, s in enumerate(sources) if s.get("id") in _LEADING_TOOLS]
    kb = [i for i, s in enumerate(sources) if s.get("kind") != "tool"]
    rest = [i for i in range(len(sources)) if i not in lead and i not in kb]
    return lead + kb + rest


def _closest_to(question: str, sentences: Sequence[str], lang: str) -> str:
    """The sentence sharing most content words with ``question`` (the first on a tie, or when none does)."""
    wanted = _content_units(question, lang)
    return max(sentences, key=lambda x: (len(_content_units(x, lang) & wanted), -sentences.index(x)))


def compose_answer(sources: Sequence[Mapping[str, Any]], lang: str, max_sentences: int = 4, question: str = "") -> str:
    """A short answer built from the sources' own sentences, each cited.

    Tool results computed from the user's numbers come first, then knowledge passages by rank,
    then other tool results; from each, the sentences that carry its key facts (at most two), else
    the sentence closest to ``question`` (a user's own document has no key facts, and its first
    sentence is often scene-setting: "Our crew keeps the gumboots in the wheelhouse locker."). Tool
    summaries lose their "Tool name:" label; the diagnosis tool gives only its diagnosis when the
    question names a shoe material.

    When the question asks several things (:func:`asks_several_things`: "a hair dryer or the sun?"),
    sentences are taken breadth first: each source's first choice, then each source's second, so
    each part hears from the passage about it rather than twice from the first (a leading tool's
    sentences all come first). So it is after a risk or dew point computed from the user's numbers: they
    answer the numbers, and the rest of the question is often the third passage's point ("80-90% at home,
    how long until wet shoes mold?"). Otherwise the best passage says most. A sentence saying mostly what
    an earlier pick said is skipped. They are printed grouped by source, in rank order. A leading
    tool's sentences count as one against ``max_sentences``, so the passages get three: a diagnosis's
    verdict and its standard advice used to leave room for two passage sentences, and "is it black mold?
    is it harmful?" never heard from the passage on whether black mold is toxic. (Not counting them at
    all gave up to eight sentences, the last ones off the point: football boots for drying leather.)
    """
    choices: list[tuple[int, list[str]]] = []
    for index in _compose_order(sources):
        source = sources[index]
        text = str(source.get("text", ""))
        if source.get("kind") == "tool":
            text = strip_tool_label(text)
        sentences = split_sentences(text, lang)
        if not sentences:
            continue
        with_facts = _carrying_facts(sentences, source.get("key_facts") or [])
        if source.get("id") == "tool:diagnose_symptoms" and _shoe_materials(question):
            # Its advice ("wipe with 70% alcohol") is the same for every material; for suede it is wrong.
            # The passages about the material named say how to treat it.
            chosen = sentences[:1]
        elif source.get("kind") == "tool":
            chosen = sentences[:2]
        else:
            chosen = with_facts[:2] or [_closest_to(question, sentences, lang)]
        choices.append((index, chosen))

    def leads(index: int) -> bool:  # a result computed from the user's own numbers: all of it, first
        return sources[index].get("id") in _LEADING_TOOLS

    # A risk or dew point computed from the user's numbers answers those; the passages then answer the rest
    # of the question (how long, how to store them), which is often the third passage's point ("80-90%,
    # how long until it molds?"). A diagnosis is different: the passages explain the verdict, the first best.
    if asks_several_things(question, lang) or any(sources[i].get("id") in _NUMBER_TOOLS for i, _ in choices):
        order = [(i, x) for turn in range(2) for i, chosen in choices
                 for x in ((chosen if turn == 0 else []) if leads(i) else chosen[turn : turn + 1])]
    else:
        order = [(i, x) for i, chosen in choices for x in chosen]
    picked: dict[int, list[str]] = {}
    said: list[str] = []
    # A leading tool's sentences count as one, whatever their number (see the docstring).
    budget = max_sentences - any(leads(i) for i, _ in choices)
    passages = 0
    for index, sentence in order:
        if (passages >= budget and not leads(index)) or _near_duplicate(sentence, said, lang) is not None:
            continue
        said.append(sentence)
        passages += not leads(index)
        picked.setdefault(index, []).append(_cite(sentence, index + 1, lang))
    return ("" if lang == "zh" else " ").join(s for index, _ in choices for s in picked.get(index, []))


_ORDINAL = {
    "zh": re.compile(r"^(?:第[一二三四五六七八九十]+[，、：,:]|首先|其次)"),
    "en": re.compile(r"^(?:first|second|third|fourth|fifth|sixth)(?:ly)?\b", re.I),
}


def keep_steps_whole(answer: str, sources: Sequence[Mapping[str, Any]], lang: str) -> tuple[str, list[str]]:
    """Put back the numbered steps an answer skipped between two it states (第一… 第三… lacks 第二).

    A passage of numbered checks (第一…第二…第三…) is often quoted in part: its first and third carry
    key facts, so the draft or composition keeps them and the answer reads as if something were lost.
    For each knowledge passage, the numbered sentences (:data:`_ORDINAL`) between the first and last
    the answer states (near duplicates) are put back, cited, and the whole run of steps stands where
    the first stood (a step the completion of key facts appended after other passages joins it),
    within the length limit. Returns the answer and the ids of the passages completed.
    """
    text = answer.rstrip()
    if not text:
        return answer, []
    ordinal = _ORDINAL["zh" if lang == "zh" else "en"]
    used: list[str] = []
    for index, source in enumerate(sources):
        if source.get("kind", "kb") != "kb":
            continue
        steps = [x for x in split_sentences(str(source.get("text", "")), lang) if ordinal.match(x)]
        said = split_sentences(text, lang)
        stated = [(k, twin) for k, x in enumerate(steps) if (twin := _near_duplicate(x, said, lang)) is not None]
        if len(stated) < 2:
            continue
        first, last = stated[0][0], stated[-1][0]
        twins = dict(stated)
        if all(k in twins for k in range(first, last + 1)):
            continue
        # The whole run, from the first step stated to the last, where the first stands.
        run = [twins[k] if k in twins else _cite(steps[k], index + 1, lang) for k in range(first, last + 1)]
        start = said.index(twins[first])
        rest = [x for x in said if x not in twins.values()]
        position = sum(1 for x in said[:start] if x not in twins.values())
        joined = ("" if lang == "zh" else " ").join(rest[:position] + run + rest[position:])
        if len(joined) <= _MAX_CHARS.get(lang, 1200):
            text = joined
            used.append(str(source.get("id", "")))
    return (text, used) if used else (answer, [])
