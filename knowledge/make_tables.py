"""Regenerate the tables under ``knowledge/data/`` (a maintainer's tool, not run by the package;
``pip install opencc-python-reimplemented pypinyin`` first, both ship their dictionaries, and have
Debian's ``wamerican-small`` word list at ``/usr/share/dict/american-english-small``):

* ``simplified_chars.tsv``: Simplified -> Traditional (Taiwan) characters, which
  :func:`shoeagent.knowledge.features.normalize` applies to queries and documents alike;
* ``pinyin_chars.tsv``: each CJK character's toneless pinyin readings (at most two), with which
  :class:`shoeagent.knowledge.lexical.Speller` corrects homophone typos (吐由 for 吐油);
* ``english_words.txt``: the lower-case English words of 4 or more letters of SCOWL's size-35 list
  (Debian's ``wamerican-small``), which the speller never "corrects" (a real word the knowledge base lacks,
  such as "mattress", must not become "matters").

The Simplified table reads OpenCC's character tables. Each Simplified character takes OpenCC's first Traditional form, then Taiwan's
variant of that (爲 -> 為), then the domain choices of ``features.MANUAL_CHARS`` win (干 -> 乾, for dry,
not 幹). The table is one pass (``str.translate``), so it is made idempotent: no target is itself
mapped further, and a mapping that would undo a manual one (台 -> 臺 against 臺 -> 台) is dropped.

    python -m shoeagent.knowledge.make_tables
"""

from __future__ import annotations

from pathlib import Path

TABLE = Path(__file__).resolve().parent / "data" / "simplified_chars.tsv"
PINYIN_TABLE = Path(__file__).resolve().parent / "data" / "pinyin_chars.tsv"
WORDS = Path(__file__).resolve().parent / "data" / "english_words.txt"
WORDS_SOURCE = Path("/usr/share/dict/american-english-small")
WORDS_LICENSE = Path("/usr/share/doc/wamerican-small/copyright")
MAX_READINGS = 2
"""Rare readings (角 also reads lu, gu) would only add false homophones."""


def _read(path: Path) -> dict[str, list[str]]:
    table: dict[str, list[str]] = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        if "\t" in line:
            key, values = line.split("\t", 1)
            if len(key) == 1:
                table[key] = values.split()
    return table


def build() -> dict[str, str]:
    import opencc  # noqa: PLC0415 (a maintainer-only dependency)

    from shoeagent.knowledge.features import MANUAL_CHARS

    folder = Path(opencc.__file__).resolve().parent / "dictionary"
    st = _read(folder / "STCharacters.txt")
    tw = {k: v[0] for k, v in _read(folder / "TWVariants.txt").items()}
    mapping: dict[str, str] = dict(MANUAL_CHARS)
    for simplified, forms in st.items():
        if simplified in mapping or not forms:
            continue
        target = tw.get(forms[0], forms[0])
        target = MANUAL_CHARS.get(target, target)
        if target != simplified:
            mapping[simplified] = target
    return resolve(mapping, set(MANUAL_CHARS))


def _cycles_back(mapping: dict[str, str], key: str) -> bool:
    seen, value = {key}, mapping[key]
    while value in mapping:
        if value in seen:
            return True
        seen.add(value)
        value = mapping[value]
    return False


def resolve(mapping: dict[str, str], keep: set[str]) -> dict[str, str]:
    """The mapping with every chain followed to its end, so that one ``str.translate`` pass is final.

    A character whose chain comes back to itself (台 -> 臺 -> 台) loses its mapping unless it is in
    ``keep`` (the manual choices), which then decide the direction.
    """
    mapping = dict(mapping)
    for key in [k for k in mapping if k not in keep and _cycles_back(mapping, k)]:
        del mapping[key]
    resolved = {}
    for key, value in mapping.items():
        steps = 0
        while value in mapping and steps < len(mapping):
            value, steps = mapping[value], steps + 1
        if value != key:
            resolved[key] = value
    return resolved


def pinyin_table() -> dict[str, list[str]]:
    from pypinyin import Style, pinyin  # noqa: PLC0415 (a maintainer-only dependency)

    table = {}
    for code in range(0x4E00, 0xA000):
        char = chr(code)
        readings = [r for r in pinyin(char, style=Style.NORMAL, heteronym=True)[0] if r.isascii() and r.isalpha()]
        if readings:
            table[char] = list(dict.fromkeys(readings))[:MAX_READINGS]
    return table


def english_words(source: Path = WORDS_SOURCE) -> list[str]:
    """The lower-case, letters-only words of 4 or more letters of a one-word-a-line list (proper nouns
    and possessives are left out)."""
    if not source.is_file():
        raise SystemExit(f"{source} is missing: install Debian's wamerican-small (apt-get install wamerican-small)")
    words = {w for w in source.read_text(encoding="utf-8").split() if len(w) >= 4 and w.isascii() and w.isalpha() and w.islower()}
    return sorted(words)


def _scowl_notice(path: Path = WORDS_LICENSE) -> str:
    """SCOWL's copyright and permission notice, which must travel with every copy of the list."""
    text = path.read_text(encoding="utf-8") if path.is_file() else ""
    start, end = text.find("  Copyright 2000"), text.find("without express or implied warranty.")
    if start < 0 or end < 0:
        raise SystemExit(f"SCOWL's copyright notice was not found in {path}")
    notice = text[start : end + len("without express or implied warranty.")]
    return "".join(f"# {line.strip()}\n" for line in notice.splitlines())


def _write(path: Path, header: str, lines: list[str]) -> None:
    tmp = path.with_suffix(".tmp")
    tmp.write_text(header + "\n".join(lines) + "\n", encoding="utf-8")
    tmp.replace(path)


def main() -> None:
    mapping = build()
    _write(TABLE, "# Simplified (and variant) -> Traditional characters; generated by `python -m shoeagent.knowledge.make_tables`.\n",
           [f"{k}\t{v}" for k, v in sorted(mapping.items())])
    print(f"wrote {len(mapping)} characters to {TABLE}")
    readings = pinyin_table()
    _write(PINYIN_TABLE, "# CJK character -> toneless pinyin readings (pypinyin, at most 2); generated by `python -m shoeagent.knowledge.make_tables`.\n",
           [f"{k}\t{' '.join(v)}" for k, v in sorted(readings.items())])
    print(f"wrote {len(readings)} characters to {PINYIN_TABLE}")
    words = english_words()
    _write(WORDS, "# English words (lower case, 4+ letters) from SCOWL size 35, as packaged by Debian's wamerican-small;\n"
           "# generated by `python -m shoeagent.knowledge.make_tables`. SCOWL's notice:\n" + _scowl_notice(), words)
    print(f"wrote {len(words)} words to {WORDS}")


if __name__ == "__main__":
    main()
