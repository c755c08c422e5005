"""The fine-tuning dataset: generation from the knowledge entries, file validation, feedback, rendering."""

from __future__ import annotations

import json
import re

import pytest
from typer.testing import CliRunner

from shoeagent.agent.prompts import SYSTEM_PROMPT, build_user_message
from shoeagent.finetune import dataset as ds
from shoeagent.finetune.datafile import DatasetError, length_report, read_feedback, read_rows, to_example
from shoeagent.knowledge.entries import load_entries
from shoeagent.lang import detect_language

CJK = re.compile(r"[\u4e00-\u9fff]")


@pytest.fixture(scope="module")
def entries():
    return load_entries()


@pytest.fixture(scope="module")
def rows(entries):
    return ds.build_rows(entries)


def _norm(text: str) -> str:
    return re.sub(r"[\W_]+", "", text.lower())


def test_enough_examples_in_both_languages_and_every_kind(rows):
    train, held_out = rows
    assert len(train) >= 1000
    counts = ds.summarise(train)
    assert counts["lang"]["en"] >= 400 and counts["lang"]["zh"] >= 400
    assert set(counts["kind"]) == {"grounded", "health", "refusal", "not_covered"}
    assert {"plain", "colloquial", "short", "long", "typo"} <= set(counts["style"])
    assert len(held_out) >= 200
    assert set(ds.summarise(held_out)["kind"]) == {"grounded", "health", "refusal", "not_covered"}


def test_train_and_eval_share_no_question(rows):
    train, held_out = rows
    train_questions = {_norm(r.instruction) for r in train}
    assert not train_questions & {_norm(r.instruction) for r in held_out}


def test_grounded_answers_keep_key_facts_and_cite_the_right_source(rows, entries):
    by_id = {e.id: e for e in entries}
    train, held_out = rows
    for row in train + held_out:
        if row.kind not in ("grounded", "health"):
            continue
        entry = by_id[row.entry_id]
        assert row.key_facts == entry.key_facts[row.lang]
        for fact in row.key_facts:
            assert fact in row.output, (row.entry_id, fact)
        # The cited number points at the target entry in the numbered context.
        assert f"[{row.cite}] {entry.title[row.lang]}: " in row.input
        cited = set(re.findall(r"\[(\d+)\]", row.output))
        assert cited == {str(row.cite)}
        sentences = ds.split_sentences(row.output, row.lang)
        assert 2 <= len(sentences) <= ds.MAX_ANSWER_SENTENCES + 2
        assert detect_language(row.output) == row.lang


def test_distractors_are_shuffled_around_the_target(rows):
    train, _ = rows
    grounded = [r for r in train if r.kind == "grounded"]
    positions = {r.cite for r in grounded}
    assert positions >= {1, 2, 3}
    multi = [r for r in grounded if "[2] " in r.input]
    assert len(multi) > len(grounded) / 2


def test_refusals_and_health_answers(rows):
    train, _ = rows
    for row in train:
        if row.kind == "refusal":
            assert row.output in ds.T.REFUSALS[row.lang]
            assert detect_language(row.instruction) == row.lang
            assert row.key_facts == []
        if row.kind == "health":
            assert any(sentence in row.output for sentence in ds.T.SEE_DOCTOR[row.lang])
        if row.kind == "not_covered":
            assert row.output in ds.T.NOT_COVERED[row.lang]
            assert row.entry_id and row.input


def test_generation_is_deterministic_and_committed_files_match(entries, tmp_path):
    a = ds.build_rows(entries, seed=5)
    b = ds.build_rows(entries, seed=5)
    assert [r.to_json() for r in a[0]] == [r.to_json() for r in b[0]]
    assert [r.to_json() for r in ds.build_rows(entries, seed=6)[0]] != [r.to_json() for r in a[0]]
    ds.build_dataset(tmp_path, entries_dir=None)
    for name in ("train.jsonl", "eval.jsonl"):
        assert (tmp_path / name).read_bytes() == (ds.DATA_DIR / name).read_bytes(), (
            f"finetune/data/{name} is stale: run `shoeagent build-dataset`"
        )


def test_answer_from_body_covers_facts_in_2_to_4_sentences():
    body = "Mold likes damp. It grows at 70-90% RH. Keep shoes at 50-60%. Rotate pairs. Sunlight helps. Wipe with 70% alcohol."
    answer = ds.answer_from_body(body, ["70-90% RH", "50-60%", "70% alcohol"], "en", 2)
    assert "70-90% RH [2]." in answer and "50-60% [2]." in answer and "70% alcohol [2]." in answer
    assert len(ds.split_sentences(answer, "en")) == 4
    zh = ds.answer_from_body("黴菌喜歡潮濕。濕度 70-90% 最危險。保持 50-60%。", ["70-90%"], "zh", 1)
    assert zh == "黴菌喜歡潮濕[1]。濕度 70-90% 最危險[1]。"


def test_typos_change_the_question():
    import random

    rng = random.Random(0)
    assert ds.add_typos("Can you help me with this: humidity thresholds?", "en", rng) != "Can you help me with this: humidity thresholds?"
    assert ds.add_typos("請問鞋櫃裡的濕度要多少？", "zh", random.Random(1)) != "請問鞋櫃裡的濕度要多少？"


def test_broken_file_lists_every_bad_line(tmp_path):
    path = tmp_path / "broken.jsonl"
    path.write_text(
        '{"instruction": "q", "input": "", "output": "a"}\n'
        "{not json}\n"
        '{"instruction": "q2"}\n'
        "\n"
        '{"messages": [{"role": "user", "content": "hi"}]}\n'
        '{"messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "hello"}]}\n'
        "[1, 2]\n",
        encoding="utf-8",
    )
    with pytest.raises(DatasetError) as exc:
        read_rows(path)
    assert [line for line, _ in exc.value.problems] == [2, 3, 5, 7]
    message = str(exc.value)
    assert "line 2: invalid JSON" in message and "line 3: missing or empty 'output'" in message
    assert "line 5: the last message must be the assistant's answer" in message


def test_both_formats_render_to_the_agent_prompt_shape(tmp_path):
    path = tmp_path / "mixed.jsonl"
    path.write_text(
        json.dumps({"instruction": "Why?", "input": "[1] T: text", "output": "Because [1]."}) + "\n"
        + json.dumps({"messages": [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello"}]}) + "\n",
        encoding="utf-8",
    )
    alpaca, chat = (to_example(r) for r in read_rows(path))
    assert alpaca.prompt == [
        {"role": "system", "content": SYSTEM_PROMPT},
        {"role": "user", "content": build_user_message("Why?", "[1] T: text")},
    ]
    assert alpaca.completion == [{"role": "assistant", "content": "Because [1]."}]
    assert chat.prompt[0] == {"role": "system", "content": SYSTEM_PROMPT}
    assert chat.completion == [{"role": "assistant", "content": "Hello"}]


def test_feedback_uses_rated_up_answers_and_corrections(tmp_path):
    path = tmp_path / "feedback.jsonl"
    lines = [
        {"question": "Q1", "answer": "good", "rating": 1, "correction": None},
        {"question": "Q2", "answer": "bad", "rating": -1, "correction": "fixed"},
        {"question": "Q3", "answer": "bad", "rating": -1, "correction": None},
    ]
    path.write_text("\n".join(json.dumps(x) for x in lines) + "\nnot json\n", encoding="utf-8")
    got = read_feedback(path)
    assert [(r["instruction"], r["output"]) for r in got] == [("Q1", "good"), ("Q2", "fixed")]
    assert read_feedback(tmp_path / "missing.jsonl") == []


def test_length_report_percentiles_and_truncation():
    report = length_report(list(range(1, 101)), max_length=90)
    assert (report["p50"], report["p90"], report["p99"], report["max"]) == (51, 90, 99, 100)
    assert report["truncated"] == 10


def test_cli_validate_rejects_a_broken_file_with_line_numbers(tmp_path):
    from shoeagent.cli import _build

    path = tmp_path / "bad.jsonl"
    path.write_text('{"instruction": "q", "output": "a"}\n{"output": "a"}\n', encoding="utf-8")
    result = CliRunner().invoke(_build(), ["train", "--validate", "--dataset", str(path)])
    assert result.exit_code == 2
    assert "line 2: missing or empty 'instruction'" in result.stderr
    assert "Traceback" not in result.output
    # Training on a broken file stops before any model is loaded.
    result = CliRunner().invoke(_build(), ["train", "--dataset", str(path)])
    assert result.exit_code == 2 and "malformed line" in result.stderr


@pytest.mark.slow
def test_cli_validate_shows_samples_and_percentiles(tmp_path):
    from shoeagent.cli import _build

    path = tmp_path / "ok.jsonl"
    path.write_text(
        "\n".join(json.dumps({"instruction": f"question {i}", "input": "", "output": "answer " * (i + 1)}) for i in range(10)),
        encoding="utf-8",
    )
    result = CliRunner().invoke(_build(), ["train", "--validate", "--dataset", str(path), "--set", "model.max_seq_length=105"])
    assert result.exit_code == 0, result.output
    assert "<|im_start|>assistant" in result.output
    for column in ("p50", "p90", "p99", "max", "truncated"):
        assert column in result.output
