"""The Chroma-backed knowledge store on a small fixture knowledge base: building, search, repair."""

from __future__ import annotations

import logging

import pytest
from knowledge_fixtures import ENVIRONMENT, make_pdf, with_questions, write_entries

from shoeagent.knowledge.embedding import HashedNgramEmbedding
from shoeagent.knowledge.entries import KnowledgeFileError
from shoeagent.knowledge.store import (
    MAX_QUERY_CHARS,
    RELEVANCE_THRESHOLD,
    EmptyQueryError,
    Hit,
    KnowledgeBase,
)
from shoeagent.knowledge.userdocs import UserDocumentError


@pytest.fixture
def kb(tmp_path) -> KnowledgeBase:
    return KnowledgeBase(entries_dir=write_entries(tmp_path / "entries"), persist_dir=tmp_path / "chroma")


@pytest.fixture
def embed_counter(monkeypatch) -> list[str]:
    """Records every text the offline embedding embeds."""
    seen: list[str] = []
    original = HashedNgramEmbedding.embed_one

    def counting(self, text):
        seen.append(text)
        return original(self, text)

    monkeypatch.setattr(HashedNgramEmbedding, "embed_one", counting)
    return seen


def test_build_is_idempotent(kb, embed_counter):
    first = kb.build()
    assert (first.entries, first.documents, first.embedded, first.skipped) == (5, 10, 10, False)
    assert len(embed_counter) == 10
    embed_counter.clear()
    second = KnowledgeBase(entries_dir=kb.entries_dir, persist_dir=kb.persist_dir).build()
    assert second.skipped and second.embedded == 0 and second.collection == first.collection
    assert embed_counter == []  # nothing re-embedded


def test_changed_entries_get_a_new_collection_and_old_one_is_dropped(kb):
    first = kb.build()
    path = kb.entries_dir / "environment.yaml"
    path.write_text(ENVIRONMENT.replace("for days", "for several days"), encoding="utf-8")
    second = kb.build()
    assert second.collection != first.collection and not second.skipped
    assert second.removed == [first.collection]
    assert [c.name for c in kb.client().list_collections() if c.name.startswith("kb-")] == [second.collection]


def test_force_rebuild_re_embeds(kb, embed_counter):
    kb.build()
    embed_counter.clear()
    report = kb.build(force=True)
    assert report.embedded == 10 and len(embed_counter) == 10


def test_invalid_files_leave_the_old_index_intact(kb, caplog):
    good = kb.build()
    path = kb.entries_dir / "environment.yaml"
    path.write_text(ENVIRONMENT.replace("stage: basics", "stage: nonsense"), encoding="utf-8")
    with pytest.raises(KnowledgeFileError, match="environment.yaml:4: .*bad stage"):
        kb.build()
    assert [c.name for c in kb.client().list_collections() if c.name.startswith("kb-")] == [good.collection]
    # Search still answers from the previous index, and says why it did not rebuild.
    with caplog.at_level(logging.WARNING, logger="shoeagent.knowledge"):
        hits = KnowledgeBase(entries_dir=kb.entries_dir, persist_dir=kb.persist_dir).search("humidity for mold")
    assert hits[0].id == "env-humidity-thresholds"
    assert "invalid" in caplog.text


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("at what humidity do my sneakers start going moldy?", "env-humidity-thresholds"),
        ("can I use vinegar to get mould off my boots", "clean-alcohol-vinegar-wipe"),
        ("what keeps a shoe cabinet dry", "store-silica-gel-cabinet"),
        ("itchy feet fungus from wet trainers", "health-athletes-foot"),
        ("鞋櫃放什麼可以防潮", "store-silica-gel-cabinet"),
        ("濕度多少鞋子會發霉？", "env-humidity-thresholds"),
        ("麂皮鞋长霉了怎么清理", "mat-suede-brushing"),  # Simplified Chinese
        ("香港腳跟鞋子有關嗎", "health-athletes-foot"),
    ],
)
def test_search_finds_the_right_entry(kb, query, expected):
    hits = kb.search(query, k=3)
    assert hits[0].id == expected
    assert all(isinstance(h, Hit) and 0.0 <= h.score <= 1.0 for h in hits)
    assert [h.score for h in hits] == sorted((h.score for h in hits), reverse=True)


def test_close_questions_score_above_threshold(kb):
    for query in ("humidity thresholds for mold on shoes", "用酒精擦掉鞋子上的黴菌"):
        assert kb.search(query, k=1)[0].score >= RELEVANCE_THRESHOLD


def test_hit_language_follows_query_or_lang(kb):
    zh = kb.search("濕度多少鞋子會發霉", k=1)[0]
    assert zh.lang == "zh" and "濕度" in zh.title and zh.key_facts == ["60-70%", "70-90%", "50-60%"]
    en = kb.search("濕度多少鞋子會發霉", k=1, lang="en")[0]
    assert en.id == zh.id and en.lang == "en" and "Humidity" in en.title and "70-90% RH" in en.key_facts
    assert en.source == "kb" and en.tools == ["mold_risk"] and "epa.gov" in en.references[0]
    assert en.category == "environment" and en.stage == "basics"


@pytest.mark.parametrize(
    "query",
    ["how do I file my income tax return", "best recipe for beef noodle soup", "今天台北天氣如何", "Python 的 list 怎麼排序"],
)
def test_out_of_domain_scores_below_threshold(kb, query):
    hits = kb.search(query, k=3)
    assert not hits or hits[0].score < RELEVANCE_THRESHOLD


def test_route_boosts_matching_stage_without_filtering(kb, monkeypatch):
    import shoeagent.knowledge.store as store_module

    query = "mold on suede shoes"
    plain = kb.search(query, k=5)
    assert plain[0].stage != "prevention"
    # The default boost is a nudge in the ranking log-odds: the order is the margins' plus the boost.
    nudged = kb.search(query, k=5, route="prevention")
    assert store_module.ROUTE_BOOST < 1.0
    boost = store_module.ROUTE_BOOST
    assert nudged == sorted(nudged, key=lambda h: -(h.margin + (boost if h.stage == "prevention" else 0.0)))
    # A boost bigger than any gap between log-odds must lift the prevention entry to the top.
    monkeypatch.setattr(store_module, "ROUTE_BOOST", 100.0)
    boosted = kb.search(query, k=5, route="prevention")
    assert boosted[0].id == "store-silica-gel-cabinet" and boosted[0].stage == "prevention"
    assert {h.id for h in boosted} == {h.id for h in plain}  # nothing filtered out
    # Scores keep their meaning: the boost changes order, not Hit.score.
    assert {h.id: h.score for h in boosted} == {h.id: h.score for h in plain}
    general = kb.search(query, k=5, route="general")
    assert general[0].stage == "basics"
    with pytest.raises(ValueError, match="route"):
        kb.search(query, route="cooking")


def test_hits_are_ordered_by_their_margin_behind_the_best(kb):
    hits = kb.search("mold on suede shoes", k=5)
    margins = [h.margin for h in hits]
    assert margins[0] == 0.0 and all(m < 0 for m in margins[1:])
    assert margins == sorted(margins, reverse=True)
    # The calibrated score is monotone in the log-odds within a query, so it never contradicts the order.
    assert [h.score for h in hits] == sorted((h.score for h in hits), reverse=True)


def test_empty_and_huge_queries(kb):
    for empty in ("", "   \n\t"):
        with pytest.raises(EmptyQueryError):
            kb.search(empty)
    assert issubclass(EmptyQueryError, ValueError)
    huge = ("How humid can my shoe cabinet get before the shoes go moldy? " * 2000)[:100_000]
    assert len(huge) == 100_000 > MAX_QUERY_CHARS
    hits = kb.search(huge, k=2)
    assert hits[0].id in ("env-humidity-thresholds", "store-silica-gel-cabinet")


def test_deleted_store_is_rebuilt(kb, caplog):
    import shutil

    kb.build()
    shutil.rmtree(kb.persist_dir)
    with caplog.at_level(logging.WARNING, logger="shoeagent.knowledge"):
        fresh = KnowledgeBase(entries_dir=kb.entries_dir, persist_dir=kb.persist_dir)
        fresh._reset_client()  # a new process would not share Chroma's in-memory client cache
        hits = fresh.search("silica gel in the shoe cabinet")
    assert hits[0].id == "store-silica-gel-cabinet"
    assert "No knowledge index" in caplog.text


def test_corrupted_store_is_moved_aside_and_rebuilt(kb, caplog):
    kb.build()
    kb._reset_client()
    (kb.persist_dir / "chroma.sqlite3").write_bytes(b"this is not a sqlite database" * 100)
    with caplog.at_level(logging.WARNING, logger="shoeagent.knowledge"):
        fresh = KnowledgeBase(entries_dir=kb.entries_dir, persist_dir=kb.persist_dir)
        hits = fresh.search("wipe mold with vinegar")
    assert hits[0].id == "clean-alcohol-vinegar-wipe"
    assert "unreadable" in caplog.text and "rebuilding" in caplog.text
    assert list(kb.persist_dir.parent.glob("chroma.broken-*"))  # kept for inspection


def test_incomplete_collection_is_rebuilt(kb, caplog):
    report = kb.build()
    collection = kb.client().get_collection(report.collection, embedding_function=kb.embedding)
    collection.delete(ids=["env-humidity-thresholds:zh"])
    with caplog.at_level(logging.WARNING, logger="shoeagent.knowledge"):
        hits = KnowledgeBase(entries_dir=kb.entries_dir, persist_dir=kb.persist_dir).search("濕度門檻")
    assert hits[0].id == "env-humidity-thresholds" and hits[0].lang == "zh"
    assert "incomplete" in caplog.text


def test_user_documents_are_added_and_searched(kb, tmp_path):
    doc = tmp_path / "my notes.md"
    doc.write_text(
        "# Grandma's trick\n\nStuff crumpled newspaper and a cedar block into wet hiking boots overnight; "
        "cedar wood smells nice.\n\n# Other\n\n" + "Unrelated paragraph about gardening. " * 40,
        encoding="utf-8",
    )
    report = kb.add_documents([doc])
    assert report.chunks >= 2 and report.replaced == 0
    hits = kb.search("cedar block in hiking boots", k=3)
    top = hits[0]
    assert top.source == str(doc.resolve()) and top.category == "user_document"
    assert "cedar" in top.text and "Grandma's trick" in top.title and "part 1/" in top.title
    assert top.text.startswith("Stuff crumpled newspaper")  # the heading is the title's, not a bare first line
    assert any(h.source == "kb" for h in kb.search("humidity thresholds", k=3))
    # Re-adding replaces the old chunks instead of duplicating them.
    again = kb.add_documents([doc])
    assert again.replaced == report.chunks
    assert kb.stats()["user_documents"]["chunks"] == report.chunks
    assert kb.remove_documents([doc]) == report.chunks
    assert all(h.source == "kb" for h in kb.search("cedar block in hiking boots", k=5))


def test_a_pdf_is_added_page_by_page_and_cited_with_its_page(kb, tmp_path):
    doc = tmp_path / "boot care.pdf"
    doc.write_bytes(make_pdf([
        ["Boot care leaflet", "Wipe the welt with saddle soap after muddy hikes."],
        ["Put a cedar block and crumpled newspaper into wet hiking boots overnight;",
         "change the paper after two hours. Keep the boots away from the radiator."],
    ]))
    report = kb.add_documents([doc])
    assert report.chunks == 2
    top = kb.search("cedar block in hiking boots", k=3)[0]
    assert top.source == str(doc.resolve()) and top.category == "user_document"
    assert "p. 2" in top.title and "cedar block" in top.text and "saddle soap" not in top.text
    assert kb.remove_documents([doc]) == 2


def test_a_chinese_pdf_is_read_and_found(kb, tmp_path):
    doc = tmp_path / "雨鞋保養.pdf"
    doc.write_bytes(make_pdf([["Rain boots", "雨鞋內裡發霉時，先取出鞋墊，用稀釋白醋擦拭後完全陰乾。"]]))
    assert kb.add_documents([doc]).chunks == 1
    hits = kb.search("雨鞋的內裡發霉，鞋墊要拿出來嗎", k=3)
    mine = [h for h in hits if h.source == str(doc.resolve())]
    assert mine and "稀釋白醋" in mine[0].text and mine[0].title.startswith("雨鞋保養.pdf — p. 1")
    assert kb.remove_documents([doc]) == 1


def test_unreadable_pdfs_are_refused_with_what_to_do(kb, tmp_path):
    import io

    from pypdf import PdfReader, PdfWriter

    locked = PdfWriter(clone_from=PdfReader(io.BytesIO(make_pdf([["secret mold notes"]]))))
    locked.encrypt("secret", algorithm="RC4-128")
    locked.write(tmp_path / "locked.pdf")
    scan = PdfWriter()
    scan.add_blank_page(612, 792)  # what a scan without a text layer looks like to a text extractor
    scan.write(tmp_path / "scan.pdf")
    (tmp_path / "cut.pdf").write_bytes(make_pdf([["mold"]])[:60])
    too_many = PdfWriter()
    for _ in range(501):
        too_many.add_blank_page(612, 792)
    too_many.write(tmp_path / "long.pdf")
    cases = {
        "locked.pdf": "encrypted with a password",
        "scan.pdf": "no text layer",
        "cut.pdf": "not a readable PDF",
        "long.pdf": "501 pages is over the 500-page limit",
    }
    for name, message in cases.items():
        with pytest.raises(UserDocumentError, match=message):
            kb.add_documents([tmp_path / name])
    assert kb.stats()["user_documents"]["files"] == 0


def test_user_document_validation(kb, tmp_path):
    (tmp_path / "a.pdf").write_bytes(b"%PDF-1.4")
    (tmp_path / "a.exe").write_bytes(b"MZ")
    (tmp_path / "big.txt").write_text("x" * 2_000_001)
    (tmp_path / "empty.md").write_text("")
    (tmp_path / "latin1.txt").write_bytes("caf\xe9".encode("latin-1"))
    cases = {
        tmp_path / "missing.md": "no such file",
        tmp_path: "not a regular file",
        tmp_path / "a.pdf": "not a readable PDF",
        tmp_path / "a.exe": "unsupported file type '.exe'",
        tmp_path / "big.txt": "limit",
        tmp_path / "empty.md": "empty",
        tmp_path / "latin1.txt": "not UTF-8",
    }
    for path, message in cases.items():
        with pytest.raises(UserDocumentError, match=message):
            kb.add_documents([path])
    assert kb.stats()["user_documents"]["files"] == 0  # nothing half-added


def test_stats(kb):
    data = kb.stats()
    assert data["entries"] == 5 and data["documents"] == 10
    assert data["per_lang"] == {"en": 5, "zh": 5}
    assert data["per_stage"] == {"basics": 2, "prevention": 1, "treatment": 2}
    assert data["per_category"]["health"] == 1
    assert data["index"]["complete"] and data["index"]["mode"] == "persistent"


def test_embedding_function_interface(kb):
    from chromadb.utils.embedding_functions import known_embedding_functions

    ef = HashedNgramEmbedding(dim=512)
    assert known_embedding_functions[HashedNgramEmbedding.name()] is HashedNgramEmbedding
    clone = HashedNgramEmbedding.build_from_config(ef.get_config())
    assert clone.dim == 512 and ef.default_space() == "cosine"
    vectors = ef(["mold on leather boots", "皮鞋發霉"])
    assert len(vectors) == 2 and len(vectors[0]) == 512
    assert abs(float((vectors[0] ** 2).sum()) - 1.0) < 1e-5 and (vectors[1] >= 0).all()
    # A collection re-opened by a new client rebuilds our embedding from its stored config.
    report = kb.build()
    kb._reset_client()
    reopened = kb.client().get_collection(report.collection)
    assert isinstance(reopened.configuration["embedding_function"], HashedNgramEmbedding)
    result = reopened.query(query_texts=["silica gel cabinet"], n_results=1)
    assert result["ids"][0][0].startswith("store-silica-gel-cabinet")


def test_embedding_choice_from_environment(monkeypatch):
    from shoeagent.knowledge.embedding import config_key, default_embedding

    monkeypatch.delenv("SHOEAGENT_EMBEDDINGS", raising=False)
    assert isinstance(default_embedding(), HashedNgramEmbedding)
    monkeypatch.setenv("SHOEAGENT_EMBEDDINGS", "ollama")
    monkeypatch.setenv("OLLAMA_HOST", "127.0.0.1:11434")
    ollama = default_embedding()  # constructing it does not contact the server
    assert ollama.name() == "ollama" and ollama.get_config()["model_name"] == "bge-m3"
    assert ollama.get_config()["url"] == "http://127.0.0.1:11434"
    # Different embeddings never share a collection.
    assert config_key(ollama) != config_key(HashedNgramEmbedding())
    monkeypatch.setenv("SHOEAGENT_EMBEDDINGS", "magic")
    with pytest.raises(ValueError, match="SHOEAGENT_EMBEDDINGS='magic' is not supported"):
        default_embedding()


@pytest.fixture
def kb_with_questions(tmp_path) -> KnowledgeBase:
    directory = write_entries(tmp_path / "entries-q")
    (directory / "care.yaml").write_text(with_questions(), encoding="utf-8")
    return KnowledgeBase(entries_dir=directory, persist_dir=tmp_path / "chroma-q")


def test_example_questions_are_indexed_as_their_own_documents(kb_with_questions, embed_counter):
    report = kb_with_questions.build()
    assert (report.entries, report.questions, report.documents, report.embedded) == (5, 4, 14, 14)
    assert "why did the little beads in that packet turn pink" in embed_counter
    collection = kb_with_questions.client().get_collection(report.collection)
    stored = collection.get(ids=["store-silica-gel-cabinet:q:zh:1"], include=["documents", "metadatas"])
    assert stored["documents"] == ["小包裡的顆粒變粉紅色了代表什麼"]
    assert stored["metadatas"][0] == {"kind": "question", "entry_id": "store-silica-gel-cabinet", "lang": "zh"}
    # Questions are never hits of their own, and the entry counts stay per entry-language.
    data = kb_with_questions.stats()
    assert data["entries"] == 5 and data["documents"] == 10
    hits = kb_with_questions.search("why did the little beads in that packet turn pink", k=5)
    assert all(":" not in h.id for h in hits)


@pytest.mark.parametrize("query", ["what are the sachets in a new shoe box for", "小包裡的顆粒變成粉紅色"])
def test_a_query_like_an_example_question_finds_its_entry(kb, kb_with_questions, query):
    with_q = kb_with_questions.search(query, k=3)
    assert with_q[0].id == "store-silica-gel-cabinet"
    without = {h.id: h.score for h in kb.search(query, k=5)}
    # The entry's own text shares almost no words with these queries; its questions do.
    assert with_q[0].score >= without.get("store-silica-gel-cabinet", 0.0) + 0.25


def test_index_state_reports_without_building(kb, embed_counter):
    before = kb.index_state()
    assert before["current"] is False and before["entries"] == 0 and "no index" in before["reason"]
    assert before["path"] == str(kb.persist_dir) and not kb.persist_dir.exists()  # nothing created
    report = kb.build()
    embed_counter.clear()
    state = KnowledgeBase(entries_dir=kb.entries_dir, persist_dir=kb.persist_dir).index_state()
    assert state["current"] is True and state["reason"] == ""
    assert (state["entries"], state["documents"], state["collection"]) == (5, 10, report.collection)
    path = kb.entries_dir / "environment.yaml"
    path.write_text("# only a comment changed\n" + ENVIRONMENT, encoding="utf-8")
    assert kb.index_state()["current"] is True  # same content, so the index still matches
    path.write_text(ENVIRONMENT.replace("for days", "for weeks"), encoding="utf-8")
    stale = kb.index_state()
    assert stale["current"] is False and "changed" in stale["reason"] and stale["collection"] == report.collection
    path.write_text(ENVIRONMENT.replace("stage: basics", "stage: nonsense"), encoding="utf-8")
    broken = kb.index_state()
    assert broken["current"] is False and "invalid" in broken["reason"]
    assert embed_counter == []  # index_state never embeds
    assert [c.name for c in kb.client().list_collections() if c.name.startswith("kb-")] == [report.collection]


def test_user_documents_survive_a_new_embedding_version(kb, tmp_path, monkeypatch, caplog):
    """A feature-version bump renames the user collection; the documents are re-embedded, not lost."""
    doc = tmp_path / "notes.md"
    doc.write_text("# Cedar\n\nA cedar block in wet hiking boots overnight draws the damp out.\n", encoding="utf-8")
    chunks = kb.add_documents([doc]).chunks
    old_key = kb._embedding_key()
    monkeypatch.setattr(KnowledgeBase, "_embedding_key", lambda self: "newer-01")
    upgraded = KnowledgeBase(entries_dir=kb.entries_dir, persist_dir=kb.persist_dir)
    with caplog.at_level("WARNING"):
        hits = upgraded.search("cedar block in hiking boots", k=3)
    assert hits[0].source == str(doc.resolve())
    assert "Re-embedded" in caplog.text
    names = [c.name for c in upgraded.client().list_collections()]
    assert "userdocs-newer-01" in names and f"userdocs-{old_key}" not in names
    assert upgraded.stats()["user_documents"]["chunks"] == chunks
