"""Search quality on the real, packaged entries: the right fact sheet in both languages, and refusals."""

from __future__ import annotations

import pytest

from shoeagent.knowledge import store


@pytest.fixture(scope="module")
def kb(tmp_path_factory):
    kb = store.KnowledgeBase(persist_dir=tmp_path_factory.mktemp("chroma"))
    kb.build()
    return kb


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("is 70% alcohol ok for wiping mold off my shoes", {"clean-alcohol-70"}),
        ("how fast do wet sneakers get moldy", {"basics-growth-timeline"}),
        ("what's the difference between mold and mildew", {"basics-mold-vs-mildew"}),
        ("my shoelaces have mold on them", {"part-laces"}),
        ("鞋櫃裡要不要放濕度計", {"store-hygrometer"}),
        ("香港腳是鞋子的黴菌造成的嗎", {"health-athletes-foot-dermatophytes"}),
        ("鞋带发霉了怎么处理", {"part-laces"}),  # Simplified Chinese
        ("梅雨季鞋子一直發霉怎麼辦", {"env-plum-rain-season", "store-before-plum-rain"}),
    ],
)
def test_real_queries_find_the_entry_above_threshold(kb, query, expected):
    hits = kb.search(query, k=3)
    assert expected & {h.id for h in hits}, [(h.id, round(h.score, 3)) for h in hits]
    assert hits[0].score >= store.RELEVANCE_THRESHOLD


@pytest.mark.parametrize(
    "query",
    ["how do I change a flat tire on my car", "如何申報所得稅", "best carbonara recipe", "how to sort a list in python",
     "明天台北會下雨嗎"],
)
def test_out_of_domain_is_rejected(kb, query):
    assert kb.search(query, k=1)[0].score < store.RELEVANCE_THRESHOLD


def test_module_level_search_uses_the_default_knowledge_base():
    store.reset_default()
    hits = store.search("用白醋清除鞋子上的黴菌", k=2)
    assert hits[0].lang == "zh" and hits[0].source == "kb"
    assert {"clean-vinegar"} & {h.id for h in hits}
    store.reset_default()
