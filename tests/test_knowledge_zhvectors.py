"""Chinese word vectors as a retrieval signal: the Synonyms package's word2vec table read offline, its
Simplified words meeting Traditional (and variant) spellings, a synonym landing nearer than an
unrelated text, and the knowledge base using them for Chinese questions only."""

from __future__ import annotations

import socket
import struct
import sys

import numpy as np
import pytest

from shoeagent.knowledge import zhvectors


@pytest.fixture(scope="module")
def vectors():
    return zhvectors.shared()


def test_the_table_is_read_offline_without_importing_the_package(vectors, monkeypatch):
    def no_network(*args, **kwargs):
        raise AssertionError("Chinese word vectors tried to reach the network")

    monkeypatch.setattr(socket, "create_connection", no_network)
    monkeypatch.setattr(socket.socket, "connect", no_network)
    words, table = zhvectors.read_word2vec(zhvectors.vectors_file())
    assert table.shape == (len(words), 100) and len(words) > 100_000
    assert "synonyms" not in sys.modules
    assert vectors.dim == 100 and len(vectors.rows) > 100_000


def test_missing_package_says_how_to_fix(monkeypatch):
    monkeypatch.setattr(zhvectors.importlib.util, "find_spec", lambda name: None)
    with pytest.raises(zhvectors.ChineseVectorsMissingError, match=r"pip install 'synonyms==3\.10\.2'"):
        zhvectors.vectors_file()


def test_a_word2vec_binary_file_is_parsed_row_by_row(tmp_path):
    path = tmp_path / "tiny.vector"
    rows = [("鞋子", [1.0, 0.0]), ("发霉", [0.0, 1.0]), ("dry", [0.5, 0.5])]
    payload = b"3 2\n" + b"".join(w.encode() + b" " + struct.pack("<2f", *v) for w, v in rows)
    path.write_bytes(payload)
    words, table = zhvectors.read_word2vec(path)
    assert words == ["鞋子", "发霉", "dry"]
    assert table.tolist() == [[1.0, 0.0], [0.0, 1.0], [0.5, 0.5]]


def test_segmentation_prefers_frequent_words_and_drops_what_it_does_not_know():
    # Rows are frequency ranks: 鞋子 (row 0) beats 鞋 + 子 even though both pieces are known.
    words = ["鞋子", "鞋", "子", "发霉", "霉", "dry"]
    table = np.eye(6, dtype=np.float32)
    v = zhvectors.ChineseWordVectors(words, table)
    assert v.segment("鞋子發霉了") == ["鞋子", "發霉"]  # 了 is not in the table: dropped
    assert v.segment("Dry 鞋") == ["dry", "鞋"]
    assert [list(ids) for ids in v.token_ids(["發霉", ""])] == [[3], []]


def test_simplified_traditional_and_variant_spellings_meet(vectors):
    assert vectors.segment("發霉") == vectors.segment("发霉") == vectors.segment("發黴") == ["發霉"]


def test_a_synonym_is_nearer_than_an_unrelated_text(vectors):
    texts = [
        "淋濕的鞋子要在室溫下通風陰乾，塞報紙吸水。",
        "黴菌孢子可能引起過敏，例如打噴嚏、流鼻水、眼睛癢。",
        "皮鞋收納時放雪松鞋撐，放在透氣的袋子裡。",
    ]
    index = vectors.index(texts)
    # No character of these questions is in the text they belong to; the vectors know the words.
    assert int(np.argmax(index.cosine("一直咳嗽跟鼻塞"))) == 1
    assert int(np.argmax(index.cosine("长靴怎么保存"))) == 2


def test_empty_and_huge_texts(vectors):
    index = vectors.index(["", "皮鞋發霉"])
    assert index.cosine("皮鞋發霉")[0] == 0.0
    assert np.isfinite(index.cosine("霉" * 200_000)).all()


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        # Tuning-split questions (E) that only the Chinese vectors bring into the top three (C's 鞋底發霉後變很滑
        # and E's 鞋子 黑斑 去除 were, until the entries gained more example questions).
        ("除霉噴霧直接噴在鞋子上安全嗎？會不會褪色啊", "health-cleaning-chemicals-safety"),
        ("登山鞋收在儲藏室一整年，要去爬合歡山前才發現發霉，清一清還能穿去爬嗎？", "perf-hiking-boots"),
    ],
)
def test_chinese_vectors_bring_a_paraphrase_into_the_top_three(kb, query, expected):
    assert expected in {h.id for h in kb.search(query, k=3)}
    kb.use_zh_vectors = False
    try:
        assert expected not in {h.id for h in kb.search(query, k=3)}
    finally:
        kb.use_zh_vectors = True


def test_each_language_uses_its_own_vectors(kb):
    kb.search("鞋子發霉怎麼辦", k=1)  # loads the index
    zh_static, zh_question = kb._static_scores("鞋子發霉怎麼辦", "zh")
    en_static, en_question = kb._static_scores("moldy shoes", "en")
    assert zh_static.any() and zh_question.any() and en_static.any() and en_question.any()
    # The Chinese vectors know no English: an English entry scores nothing for a Chinese question.
    english = np.array([d.metadata.get("lang") == "en" for d in kb._docs])
    assert not zh_static[english].any()
    kb.use_zh_vectors = False
    try:
        static, question = kb._static_scores("鞋子發霉怎麼辦", "zh")
        assert not static.any() and not question.any()
    finally:
        kb.use_zh_vectors = True
