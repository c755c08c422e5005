"""`shoeagent eval model`'s metrics on hand-made answers, its table and chart, and one real llama.cpp pass."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from shoeagent import paths
from shoeagent.finetune.evaluate import (
    EvalError,
    EvalRow,
    ModelEval,
    aggregate,
    answer_rows,
    chrf,
    completeness,
    improvement,
    key_data_accuracy,
    load_eval_rows,
    markdown_table,
    readability,
    score_answer,
    semantic_consistency,
    write_reports,
)

EN = EvalRow(
    instruction="How humid does it have to be before my shoes go moldy?",
    input="[1] Humidity thresholds: Mold grows on shoes when relative humidity stays above 60-70%.",
    output=(
        "Mold starts to grow on shoes once relative humidity stays above 60-70% [1]. Sustained 70-90% RH is "
        "high risk, so store shoes at or below 50-60% RH with silica gel."
    ),
    lang="en",
    key_facts=["60-70%", "70-90% RH", "50-60%", "silica gel"],
    entry_id="env-humidity-thresholds",
)
ZH = EvalRow(
    instruction="鞋子發霉要怎麼清潔？",
    input="[1] 皮革清潔: 用約70%酒精或以1:1清水稀釋的白醋擦拭黴斑。",
    output="用約70%酒精或以1:1清水稀釋的白醋擦拭黴斑 [1]，皮革不可使用漂白水，之後放在通風處陰乾。",
    lang="zh",
    key_facts=["70%酒精", "1:1", "漂白水"],
    entry_id="clean-leather-mold",
)


@pytest.mark.parametrize("row", [EN, ZH], ids=["en", "zh"])
def test_the_reference_itself_scores_ten_everywhere(row):
    score = score_answer(row, row.output, seconds=1.0)
    assert (score.completeness, score.key_data_accuracy, score.semantic_consistency, score.readability) == (10, 10, 10, 10)


def test_missing_key_facts_lower_completeness():
    partial = "Mold starts to grow on shoes once relative humidity stays above 60-70% [1]."
    assert completeness(partial, EN.output, EN.key_facts) < 6
    assert completeness(partial, EN.output, EN.key_facts) > completeness("Shoes are nice.", EN.output, EN.key_facts)


def test_a_paraphrase_with_the_facts_keeps_completeness_high():
    paraphrase = ("Keep relative humidity at 50-60% or lower; above 60-70% mold grows on shoes, and 70-90% RH for long "
                  "is high risk. Silica gel helps.")
    assert completeness(paraphrase, EN.output, EN.key_facts) >= 7.5


def test_a_wrong_number_lowers_key_data_accuracy():
    right = "Store shoes at or below 50-60% RH; above 60-70% mold grows and 70-90% RH is high risk. Use silica gel."
    wrong = "Store shoes at or below 30-40% RH; above 60-70% mold grows and 70-90% RH is high risk. Use silica gel."
    context = EN.input + EN.instruction
    assert key_data_accuracy(right, EN.output, EN.key_facts, context) == 10
    assert key_data_accuracy(wrong, EN.output, EN.key_facts, context) < 7


def test_an_invented_number_is_penalised_even_with_all_facts():
    honest = EN.output
    invented = EN.output + " Mold also dies after 17 minutes at 45°C."
    context = EN.input + EN.instruction
    assert key_data_accuracy(invented, EN.output, EN.key_facts, context) < key_data_accuracy(honest, EN.output, EN.key_facts, context)


def test_citation_markers_are_not_numbers():
    answer = "Above 60-70% [1] mold grows [2]; 70-90% RH is high risk; store at 50-60% with silica gel [3]."
    assert key_data_accuracy(answer, EN.output, EN.key_facts, EN.input) == 10


def test_numbers_from_the_sources_are_supported():
    row_context = "[1] Rotate pairs so each rests about 24 hours."
    assert key_data_accuracy("Let each pair rest 24 hours.", "Rotate your shoes.", [], row_context) == 10
    assert key_data_accuracy("Let each pair rest 36 hours.", "Rotate your shoes.", [], row_context) == 0


def test_chrf_orders_answers_by_closeness():
    assert chrf(EN.output, EN.output) == pytest.approx(1.0)
    near = semantic_consistency("Mold grows on shoes when humidity stays above 60-70%; store them at 50-60% RH.", EN.output)
    far = semantic_consistency("The stock market closed higher today.", EN.output)
    assert 10 > near > far >= 0


def test_a_looping_answer_loses_readability():
    loop = "Keep your shoes dry. " * 12
    assert readability(loop, "en") <= 6
    assert readability(EN.output, "en") == 10


def test_a_chinese_loop_loses_readability():
    assert readability("鞋子要保持乾燥通風。" * 10, "zh") <= 6


def test_the_wrong_language_loses_readability():
    assert readability(EN.output, "zh") <= 6
    assert readability(ZH.output, "en") <= 6


def test_cut_off_empty_and_leaky_answers_lose_readability():
    assert readability(EN.output, "en", finished=False) == 8
    assert readability("", "en") == 0
    assert readability("Yes.", "en") < 10
    assert readability(EN.output + " <|im_start|>user", "en") < 10


def test_aggregate_means_and_time():
    scores = [score_answer(EN, EN.output, 2.0), score_answer(EN, "Shoes.", 4.0)]
    summary = aggregate(scores)
    assert summary["n"] == 2 and summary["response_time_s"] == 3.0
    assert summary["completeness"] == pytest.approx((10 + scores[1].completeness) / 2, abs=0.01)


def _result() -> ModelEval:
    base = {"completeness": 5.4, "key_data_accuracy": 4.9, "semantic_consistency": 6.1, "readability": 6.0,
            "response_time_s": 16.4, "n": 3}
    lora = {"completeness": 7.2, "key_data_accuracy": 6.6, "semantic_consistency": 8.4, "readability": 8.8,
            "response_time_s": 8.4, "n": 3}
    return ModelEval(base, lora, {"base": "base.gguf", "lora": "shoemold.gguf"}, 3)


def test_markdown_table_reproduces_the_seed_format():
    table = markdown_table(_result())
    assert "| **內容完整性 (completeness)** | 5.4 | 7.2 | +33% |" in table
    assert "| **答案可讀性 (readability)** | 6.0 | 8.8 | +47% |" in table
    assert "16.40s | 8.40s | **提升 49%** |" in table
    assert improvement(0, 5) is None and improvement(10, 12, lower_is_better=True) == -20.0


def test_reports_are_written(tmp_path):
    files = write_reports(_result(), tmp_path / "eval")
    assert json.loads(files["json"].read_text())["lora"]["readability"] == 8.8
    assert files["markdown"].read_text().startswith("| **評估指標")
    assert files["chart"].read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_eval_rows_load_and_limit(tmp_path):
    data = tmp_path / "eval.jsonl"
    rows = [dict(instruction=f"q{i}", input="", output="a", lang="en", key_facts=[], entry_id=f"e{i}", kind="paraphrase")
            for i in range(5)]
    data.write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    assert [r.entry_id for r in load_eval_rows(data, limit=2)] == ["e0", "e2"]  # spread over the split
    assert len(load_eval_rows(data)) == 5
    data.write_text('{"instruction": "no output"}\n')
    with pytest.raises(EvalError, match="not an evaluation row"):
        load_eval_rows(data)
    with pytest.raises(EvalError, match="no evaluation split"):
        load_eval_rows(tmp_path / "missing.jsonl")


@pytest.mark.slow
def test_answer_rows_runs_a_gguf_through_llama_cpp():
    """The embedded base GGUF answers both rows; every score is on the 0-10 scale and time is measured."""
    scores = answer_rows(paths.base_gguf(), [EN, ZH])
    assert len(scores) == 2
    for score in scores:
        assert score.answer and score.seconds > 0
        for metric in ("completeness", "key_data_accuracy", "semantic_consistency", "readability"):
            assert 0 <= getattr(score, metric) <= 10


def test_evaluate_ggufs_alternates_base_and_lora_row_by_row(monkeypatch):
    """Both models answer each row in turn, so load changes during the run slow both alike."""
    from shoeagent.finetune import evaluate as ev

    calls: list[tuple[str, str]] = []

    class Recorder:
        def __init__(self, gguf, threads=0):
            self.name = Path(gguf).stem

        def answer(self, row):
            calls.append((self.name, row.instruction))
            return ev.score_answer(row, row.output, 1.0 if self.name == "base" else 0.5)

        def close(self):
            calls.append((self.name, "closed"))

    monkeypatch.setattr(ev, "_Answerer", Recorder)
    result = ev.evaluate_ggufs(Path("base.gguf"), Path("lora.gguf"), [EN, ZH])
    assert calls[:4] == [("base", EN.instruction), ("lora", EN.instruction), ("base", ZH.instruction), ("lora", ZH.instruction)]
    assert sorted(calls[4:]) == [("base", "closed"), ("lora", "closed")]
    assert result.base["response_time_s"] == 1.0 and result.lora["response_time_s"] == 0.5 and result.rows == 2
