"""WordLlama's word vectors as a retrieval signal: read offline from the installed package, a paraphrase
lands nearer than an unrelated text, and the knowledge base uses them for English questions only."""

from __future__ import annotations

import socket
import sys

import numpy as np
import pytest

from shoeagent.knowledge import wordvectors


@pytest.fixture(scope="module")
def vectors():
    return wordvectors.shared()


def test_the_files_are_read_offline_without_importing_the_package(vectors, monkeypatch):
    # WordLlama.load() asks the Hugging Face hub for the tokenizer first; we must never do that.
    def no_network(*args, **kwargs):
        raise AssertionError("word vectors tried to reach the network")

    monkeypatch.setattr(socket, "create_connection", no_network)
    monkeypatch.setattr(socket.socket, "connect", no_network)
    fresh = wordvectors.WordVectors.load()
    assert fresh.table.shape == (32000, 256) and fresh.dim == 256
    assert "wordllama" not in sys.modules
    weights, tokenizer = wordvectors.package_files()
    assert weights.name.endswith(".safetensors") and tokenizer.suffix == ".json"


def test_missing_package_says_how_to_fix(monkeypatch):
    monkeypatch.setattr(wordvectors.importlib.util, "find_spec", lambda name: None)
    with pytest.raises(wordvectors.WordVectorsMissingError, match="pip install wordllama"):
        wordvectors.package_files()


def test_a_paraphrase_is_nearer_than_an_unrelated_text(vectors):
    texts = [
        "Dry wet shoes at room temperature with newspaper inside and a fan.",
        "Allergies and asthma: breathing mold spores can irritate the airways.",
        "Store leather shoes with cedar shoe trees in a breathable bag.",
    ]
    index = vectors.index(texts)
    # No word of the query but "shoes" and "soaked"/"wet" is shared; the vectors know the synonyms.
    similarity = index.cosine("how can I get my soaked sneakers dried out quickly")
    assert similarity.shape == (3,) and int(np.argmax(similarity)) == 0
    assert int(np.argmax(index.cosine("sneezing and wheezing near the closet"))) == 1


def test_idf_weights_rare_tokens_above_tokens_every_text_has(vectors):
    index = vectors.index(["shoes mold leather", "shoes mold canvas", "shoes mold suede"])
    shoe = vectors.token_ids(["shoes"])[0]
    suede = vectors.token_ids(["suede"])[0]
    assert index.token_weight[suede].min() > index.token_weight[shoe].max()


def test_empty_and_huge_texts(vectors):
    index = vectors.index(["", "mold on leather"])
    assert index.cosine("mold on leather")[0] == 0.0  # an empty text scores nothing, not NaN
    assert np.isfinite(index.cosine("x" * 200_000)).all()
    assert vectors.index([]).cosine("anything").size == 0


def _without_word_vectors(kb, monkeypatch):
    real = kb._static_scores
    monkeypatch.setattr(kb, "_static_scores", lambda text, lang: tuple(x * 0 for x in real(text, lang)))


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        # Tuning-split questions that only the word vectors bring into the top three (split E's mildew-smell
        # and perfume questions were, until the entries gained example questions that word them so).
        ("how to get rid of mold on suade shoes", {"clean-suede-nubuck"}),
        ("what conditions does mold need to grow inside a shoe", {"basics-four-needs", "basics-why-shoes-mold"}),
        ("Are mold spores already on my shoes before any mold becomes visible?", {"basics-spores-everywhere"}),
    ],
)
def test_word_vectors_bring_a_paraphrase_into_the_top_three(kb, monkeypatch, query, expected):
    assert expected & {h.id for h in kb.search(query, k=3)}
    _without_word_vectors(kb, monkeypatch)
    assert not expected & {h.id for h in kb.search(query, k=3)}


def test_chinese_questions_do_not_use_them(kb):
    # Chinese questions are scored by the Chinese table instead (test_knowledge_zhvectors).
    kb.search("鞋子發霉怎麼辦", k=1)  # loads the index
    kb.use_word_vectors = False
    try:
        static, question = kb._static_scores("鞋子發霉怎麼辦", "zh")
        assert static.any() and question.any()
        static, question = kb._static_scores("moldy shoes", "en")
        assert not static.any() and not question.any()
    finally:
        kb.use_word_vectors = True
