"""The entry loader: valid files load, and every kind of mistake is reported with its file and line."""

from __future__ import annotations

import re

import pytest
from knowledge_fixtures import CARE, ENTRY_IDS, ENVIRONMENT, write_entries

from shoeagent.knowledge.entries import CATEGORIES, STAGES, KnowledgeFileError, content_hash, load_entries


def test_fixture_entries_load(tmp_path):
    entries = load_entries(write_entries(tmp_path))
    assert sorted(e.id for e in entries) == sorted(ENTRY_IDS)
    env = next(e for e in entries if e.id == "env-humidity-thresholds")
    assert env.line == 2 and env.source_file.endswith("environment.yaml")
    assert env.key_facts["zh"] == ["60-70%", "70-90%", "50-60%"]
    assert env.references[0].url.startswith("https://www.epa.gov/")
    assert "濕度" in env.document("zh") and "humidity" in env.document("en")


def test_content_hash_ignores_comments_and_order(tmp_path):
    a = write_entries(tmp_path / "a")
    b = write_entries(tmp_path / "b")
    (b / "environment.yaml").write_text("# another comment\n" + ENVIRONMENT, encoding="utf-8")
    assert content_hash(load_entries(a)) == content_hash(load_entries(b))
    (b / "environment.yaml").write_text(ENVIRONMENT.replace("for days", "for weeks"), encoding="utf-8")
    assert content_hash(load_entries(a)) != content_hash(load_entries(b))


def _broken(tmp_path, text: str, name: str = "care.yaml"):
    directory = write_entries(tmp_path)
    (directory / name).write_text(text, encoding="utf-8")
    with pytest.raises(KnowledgeFileError) as info:
        load_entries(directory)
    return info.value


def _line_of(text: str, needle: str) -> int:
    return text.splitlines().index(next(l for l in text.splitlines() if needle in l)) + 1


def test_missing_field_names_file_line_and_field(tmp_path):
    text = CARE.replace("  stage: prevention\n", "", 1)
    error = _broken(tmp_path, text)
    assert error.path.name == "care.yaml"
    assert error.line == _line_of(text, "id: store-silica-gel-cabinet")
    assert "missing required field 'stage'" in str(error) and "store-silica-gel-cabinet" in str(error)
    assert re.match(r".*care\.yaml:\d+: ", str(error))


def test_bad_stage(tmp_path):
    text = CARE.replace("stage: prevention", "stage: cure", 1)
    error = _broken(tmp_path, text)
    assert error.line == _line_of(text, "stage: cure")
    assert "bad stage 'cure'" in str(error)
    assert all(stage in str(error) for stage in STAGES)


def test_key_fact_not_in_body(tmp_path):
    text = CARE.replace('en: ["silica gel", "every month"]', 'en: ["silica gel", "every week"]')
    error = _broken(tmp_path, text)
    assert error.line == _line_of(text, '"every week"')
    assert "key fact 'every week' not found verbatim in body.en" in str(error)


def test_duplicate_id_across_files(tmp_path):
    directory = write_entries(tmp_path)
    (directory / "zz_more.yaml").write_text(ENVIRONMENT, encoding="utf-8")
    with pytest.raises(KnowledgeFileError) as info:
        load_entries(directory)
    message = str(info.value)
    assert "zz_more.yaml:2" in message and "duplicate id 'env-humidity-thresholds'" in message
    assert "environment.yaml:2" in message  # where it was first defined


def test_invalid_yaml_reports_line(tmp_path):
    text = CARE.replace("  category: storage_care\n", "  category: [storage_care\n", 1)
    error = _broken(tmp_path, text)
    assert "invalid YAML" in str(error) and error.line is not None
    assert abs(error.line - _line_of(text, "[storage_care")) <= 2


@pytest.mark.parametrize(
    ("old", "new", "message"),
    [
        ("category: health", "category: wellness", "unknown category 'wellness'"),
        ("id: health-athletes-foot", "id: Health_Athletes", "lowercase kebab-case"),
        ("id: health-athletes-foot", "id: env-athletes-foot", "must start with 'health-'"),
        ("tools: []", "tools: [hammer]", "tools must be a list drawn from"),
        ("url: https://www.nhs.uk/conditions/athletes-foot/", "url: nhs athletes foot", "is not an http(s) URL"),
        ("  tools: []\n", "  tools: []\n  notes: extra\n", "unknown field 'notes'"),
        ("香港腳與潮濕的鞋子", "", "title.zh must be non-empty text"),
    ],
)
def test_other_mistakes(tmp_path, old, new, message):
    assert old in CARE
    error = _broken(tmp_path, CARE.replace(old, new, 1))
    assert message in str(error)
    assert error.line and error.line > 1


def test_zh_body_must_be_chinese(tmp_path):
    zh_body = "麂皮不能泡水。先讓它乾燥，用麂皮刷順著同一方向刷毛，頑固的斑點用麂皮專用橡皮擦處理，再重新噴防水劑。"
    error = _broken(tmp_path, CARE.replace(zh_body, "suede brush and eraser"))
    assert "body.zh contains no Chinese text" in str(error)


def test_empty_file_and_empty_directory(tmp_path):
    error = _broken(tmp_path / "a", "# nothing here\n")
    assert "file is empty" in str(error) and error.path.name == "care.yaml"
    (tmp_path / "empty").mkdir()
    with pytest.raises(KnowledgeFileError, match="no \\*.yaml knowledge files"):
        load_entries(tmp_path / "empty")


def test_packaged_entries_are_valid():
    entries = load_entries()
    assert len(entries) >= 20
    assert {e.category for e in entries} <= set(CATEGORIES)
    for entry in entries:
        for lang in ("en", "zh"):
            assert all(f.casefold() in entry.body[lang].casefold() for f in entry.key_facts[lang])


def test_questions_are_optional_and_part_of_the_content_hash(tmp_path):
    from knowledge_fixtures import QUESTIONS, with_questions

    plain = load_entries(write_entries(tmp_path / "plain"))
    assert all(e.questions == {} for e in plain)
    directory = write_entries(tmp_path / "q")
    (directory / "care.yaml").write_text(with_questions(), encoding="utf-8")
    entries = load_entries(directory)
    silica = next(e for e in entries if e.id == "store-silica-gel-cabinet")
    assert silica.questions["en"][0] == "why did the little beads in that packet turn pink"
    assert silica.questions["en"][1].endswith("new box of boots for?") and len(silica.questions["zh"]) == 2
    assert content_hash(entries) != content_hash(plain)
    # Entries without questions hash as before the field existed; questions' wording counts.
    others = [e for e in entries if e.id != "store-silica-gel-cabinet"]
    assert content_hash(others) == content_hash([e for e in plain if e.id != "store-silica-gel-cabinet"])
    (directory / "care.yaml").write_text(with_questions(block=QUESTIONS.replace("pink", "red")), encoding="utf-8")
    assert content_hash(load_entries(directory)) != content_hash(entries)


@pytest.mark.parametrize(
    ("block", "needle", "message"),
    [
        ("  questions:\n    en: [\"\"]\n", 'en: [""]', "questions.en has an empty or non-text item"),
        ("  questions:\n    en:\n      - ok question\n      - 鞋子發霉\n", "鞋子發霉", "questions.en item '鞋子發霉' contains Chinese"),
        ("  questions:\n    zh:\n      - why is it moldy\n", "why is it moldy", "questions.zh item 'why is it moldy' contains no Chinese"),
        ("  questions:\n    en:\n      - Is it moldy\n      - is it  moldy\n", "is it  moldy", "lists 'is it moldy' twice"),
        ("  questions:\n    en: is it moldy\n", "en: is it moldy", "questions.en must be a list of 1-12 questions"),
        ("  questions:\n    fr: [moisi]\n", "fr: [moisi]", "keys 'en' and/or 'zh'"),
        ("  questions: []\n", "questions:", "keys 'en' and/or 'zh'"),
        ("  questions:\n    en: [" + ", ".join(f"q{i}" for i in range(13)) + "]\n", "en: [q0", "1-12 questions"),
    ],
)
def test_bad_questions_name_file_line_and_problem(tmp_path, block, needle, message):
    from knowledge_fixtures import with_questions

    text = with_questions(block=block)
    error = _broken(tmp_path, text)
    assert message in str(error) and "store-silica-gel-cabinet" in str(error)
    assert error.path.name == "care.yaml" and error.line == _line_of(text, needle)
