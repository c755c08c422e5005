"""Language helpers shared by retrieval, the agent and evaluation: which language a text is in.

shoeagent speaks two languages: ``"zh"`` (answers in Traditional Chinese; a Simplified-Chinese
question is also ``"zh"``) and ``"en"``.
"""

from __future__ import annotations

import re
from typing import Literal

Lang = Literal["zh", "en"]

_CJK = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")
_LATIN = re.compile(r"[A-Za-z]")


def cjk_ratio(text: str) -> float:
    """Share of CJK ideographs among the letters (CJK + Latin) of ``text``; 0.0 for no letters."""
    cjk = len(_CJK.findall(text))
    latin_words = len(re.findall(r"[A-Za-z]+", text))
    total = cjk + latin_words
    return cjk / total if total else 0.0


def detect_language(text: str) -> Lang:
    """``"zh"`` when Chinese characters make up a fair share of the text, else ``"en"``.

    Counts CJK characters against Latin *words* so that a Chinese question quoting a brand name or
    "RH" stays Chinese, and an English question with one Chinese term stays English.
    """
    return "zh" if cjk_ratio(text) >= 0.3 else "en"
