"""`shoeagent kb …` and `shoeagent eval retrieval` through the real CLI app (real entries, real Chroma)."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from shoeagent import cli


@pytest.fixture(scope="module")
def app():
    return cli._build()


@pytest.fixture
def run(app):
    runner = CliRunner()

    def invoke(*args: str):
        return runner.invoke(app, list(args))

    return invoke


def test_build_then_noop(run):
    first = run("kb", "build")
    assert first.exit_code == 0, first.output
    assert "Indexed" in first.output
    second = run("kb", "build")
    assert second.exit_code == 0 and "up to date" in second.output
    forced = run("kb", "rebuild")
    assert forced.exit_code == 0 and "Indexed" in forced.output


def test_search_json_and_table(run):
    result = run("kb", "search", "my leather boots have white fuzzy spots", "--k", "3", "--json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert len(data["hits"]) == 3 and data["threshold"] > 0
    hit = data["hits"][0]
    assert set(hit) >= {"id", "title", "text", "category", "stage", "score", "lang", "key_facts", "tools",
                        "references", "source"}
    assert hit["lang"] == "en" and hit["source"] == "kb"
    table = run("kb", "search", "鞋子發霉怎麼辦", "--k", "2")
    assert table.exit_code == 0 and "score" in table.output


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("kb", "search", "   "), "query is empty"),
        (("kb", "search", "mold", "--route", "cooking"), "--route"),
        (("kb", "search", "mold", "--lang", "fr"), "--lang"),
        (("kb", "add", "/nonexistent/notes.md"), "no such file"),
    ],
)
def test_user_errors_exit_2_with_one_line(run, args, message):
    result = run(*args)
    assert result.exit_code == 2
    assert message in result.output
    assert "Traceback" not in result.output


def test_bad_entry_file_exits_2(run, tmp_path, monkeypatch):
    from knowledge_fixtures import CARE, write_entries

    directory = write_entries(tmp_path / "entries")
    (directory / "care.yaml").write_text(CARE.replace("stage: prevention", "stage: later"), encoding="utf-8")
    monkeypatch.setattr("shoeagent.knowledge.entries.default_directory", lambda: directory)
    result = run("kb", "build")
    assert result.exit_code == 2
    assert "care.yaml:" in result.output and "bad stage 'later'" in result.output


def test_add_and_stats(run, tmp_path):
    notes = tmp_path / "notes.txt"
    notes.write_text("Our shop keeps a dehumidifier running at 45% in the stock room.\n", encoding="utf-8")
    added = run("kb", "add", str(notes))
    assert added.exit_code == 0 and "Added 1 file(s) as 1 chunk(s)" in added.output
    stats = run("kb", "stats", "--json")
    assert stats.exit_code == 0
    data = json.loads(stats.output)
    assert data["user_documents"]["files"] == 1 and str(notes.resolve()) in data["user_documents"]["sources"]
    assert data["entries"] >= 20 and data["per_lang"]["en"] == data["per_lang"]["zh"] == data["entries"]
    table = run("kb", "stats")
    assert table.exit_code == 0 and "Entries per category" in table.output


def test_eval_retrieval_json(run):
    from shoeagent.knowledge.evaluate import eval_dir

    if not list(eval_dir().glob("retrieval_*.jsonl")):
        pytest.skip("no eval query files yet")
    result = run("eval", "retrieval", "--json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    for key in ("n_queries", "hit_at_1", "hit_at_3", "mrr", "ood_rejection", "false_refusal", "threshold"):
        assert key in data
    assert set(data["per_lang"]) == {"en", "zh"}
    for part in data["per_lang"].values():
        # Every in-domain query is either answered or falsely refused.
        assert part["false_refusal"] == pytest.approx(1.0 - part["in_domain_answered"], abs=1e-3)
    assert 0.0 <= data["hit_at_3"] <= 1.0 and data["n_queries"] > 0
    # The agent's own gate (router, then threshold) is reported next to the knowledge base's figures.
    held_out = data["agent_gate"]["retrieval_d"]
    assert held_out["role"] == "held_out" and 0.0 <= held_out["ood_rejection"] <= 1.0
    assert set(held_out["per_lang"]) == {"en", "zh"}


def test_eval_table_marks_the_held_out_splits(capsys):
    from shoeagent.knowledge.cli import _print_eval

    m = {"n_queries": 2, "n_ood": 1, "hit_at_1": 1.0, "hit_at_3": 1.0, "mrr": 1.0, "ood_rejection": 1.0,
         "false_refusal": 0.0, "raw_hit_at_3": 1.0}
    split = {**m, "per_lang": {"en": m}, "best_threshold_on_this_split": 0.2}
    result = {**m, "threshold": 0.2, "per_lang": {"en": m}, "per_kind": {},
              "per_split": {"retrieval_a": {**split, "role": "tuning"}, "retrieval_f": {**split, "role": "held_out"}},
              "failures": []}
    _print_eval(result, failures=False)
    out = capsys.readouterr().out
    assert "retrieval_f (held out)" in out and "retrieval_a (held out)" not in out and "retrieval_a" in out
