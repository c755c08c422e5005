"""The benchmarks keep working: a quick run of each on the real parts (a few items), the report renderer
on canned results, the refusal detector the ablation relies on, and the `bench` command's errors.

These tests check that the scripts run and produce sane, complete JSON; they do not judge speed.
"""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from benchmarks import report as report_module  # noqa: E402
from benchmarks.ablation import SYSTEMS, load_items, looks_like_refusal  # noqa: E402
from benchmarks.run_all import NAMES, main as run_all_main, run_all  # noqa: E402

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def _finite(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


# ---------------------------------------------------------------------------------------------------
# Fast: the refusal detector, question selection, the renderer, the command's errors


def test_refusal_detector_knows_every_refusal_and_no_reference_answer():
    from shoeagent.agent import prompts
    from shoeagent.finetune import templates
    from shoeagent.finetune.evaluate import load_eval_rows

    refusals = [t for texts in prompts.REFUSAL.values() for t in texts.values()]
    refusals += [t for texts in templates.REFUSALS.values() for t in texts]
    refusals += [t for texts in templates.NOT_COVERED.values() for t in texts]
    assert refusals and all(looks_like_refusal(t) for t in refusals)
    references = [r.output for r in load_eval_rows() if r.key_facts]
    assert len(references) > 300
    assert not [t for t in references if looks_like_refusal(t)]
    assert not looks_like_refusal("")
    assert not looks_like_refusal("Sorry to hear that! Keep the cabinet at 50-60% humidity [1].")
    assert not looks_like_refusal("I'm sorry for the confusion. Wipe the boots with 70% alcohol [1].")
    assert looks_like_refusal("I'm sorry, but I can only help with questions about shoes.")


def test_ablation_questions_are_balanced_and_the_same_every_time():
    items = load_items(3, 2)
    again = load_items(3, 2)
    assert [i.id for i in items] == [i.id for i in again]
    inside = [i for i in items if i.in_domain]
    outside = [i for i in items if not i.in_domain]
    assert sorted(i.lang for i in inside) == ["en"] * 3 + ["zh"] * 3
    assert sorted(i.lang for i in outside) == ["en", "en", "zh", "zh"]
    assert all(i.row.key_facts and i.row.output for i in inside)
    assert len({i.row.entry_id for i in inside if i.lang == "en"}) == 3  # spread, not the first three
    assert len([i for i in load_items(0, 0) if not i.in_domain]) == 0


def _canned(bench: Path) -> None:
    """Small but complete results of every benchmark, in the shapes the scripts write."""
    metrics = {"completeness": 6.2, "key_data_accuracy": 7.1, "semantic_consistency": 5.4, "readability": 9.2,
               "response_time_s": 2.5, "response_time_p50_s": 2.1, "key_fact_accuracy": 0.75, "refusal_accuracy": 1.0,
               "false_refusal_rate": 0.05, "n_in_domain": 20, "n_out_of_scope": 7, "tokens_mean": 80.0}
    summary = {s: {k: dict(metrics, completeness=1.0 + i) for k in ("all", "en", "zh")} for i, s in enumerate(SYSTEMS)}
    machine = {"cpu": "Test CPU 9000", "cores": 2, "memory_gib": 24.0, "load_average": [0.5, 0.4, 0.3],
               "python": "3.11.7", "platform": "Linux"}
    data = {
        "run": {"started": "2026-01-01T00:00:00+00:00", "quick": False, "command": "python benchmarks/run_all.py",
                "machine": machine, "benchmarks": {"ablation": {"ok": True, "seconds": 900.0, "error": None, "finished": "x"}}},
        "ablation": {"machine": machine, "settings": {"limit_per_language": 20, "max_tokens": 200, "llama_cpp_threads": 2},
                     "models": {"base": {"file": "base.gguf"}, "lora": {"file": "shoemold.gguf"}}, "warnings": [],
                     "n_in_domain": 40, "n_out_of_scope": 14, "summary": summary, "wall_s": 900.0, "seconds_per_item": 16.7},
        "agent": {"n": 10, "model": "shoemold", "gguf": "/x/shoemold.gguf", "max_tokens": 200, "machine": {"load_avg_1m": 0.7},
                  "e2e_s": {"p50": 2.0, "p95": 3.0}, "ttft_s": {"p50": 0.5, "p95": 0.8}, "raw_ttft_s": {"p50": 0.4, "p95": 0.7},
                  "raw_llama_s": {"p50": 1.8, "p95": 2.7}, "e2e_over_raw": {"p50": 1.1, "p95": 1.2, "total": 1.12},
                  "e2e_over_raw_first_draft": {"total": 1.9}, "drafts_per_answer": 1.4,
                  "overhead_ms": {"p50": 25.0, "p95": 40.0}, "agent_tokens_per_s": 45.0, "decode_tokens_per_s": 50.0,
                  "overhead_goal": 1.15, "verify": {"passed_first": 8, "composed": 2},
                  "by_language": {"en": {"n": 5, "ttft_s": {"p50": 0.4}, "e2e_s": {"p50": 1.9, "p95": 2.5}, "e2e_over_raw": {"total": 1.1}}}},
        "retrieval": {"machine": {"load_average": [0.2]}, "real": {"entries": 169, "documents": 2438, "queries": 469,
                      "latency_ms": {"p50": 5.5, "p95": 9.1}, "full_rebuild_s": 9.5, "noop_build_s": 0.1, "first_search_load_s": 2.0}},
        "scale": {"real_entries": 169, "queries": 469, "machine": machine,
                  "sizes": [{"entries": n, "documents": 2 * n, "full_rebuild_s": n / 200, "latency_ms": {"p50": 1 + n / 1000, "p95": 2 + n / 500}}
                            for n in (150, 1500, 15000)]},
        "conversation": {"model": "shoemold", "max_tokens": 48, "turns": 21, "stored_messages": 42, "chat_db_bytes": 81920,
                         "at": [{"turn": t, "probe_e2e_s": 1.5, "probe_overhead_ms": 30.0 + t, "follow_up_e2e_s": 2.0,
                                 "follow_up_prompt_tokens": 600} for t in (1, 5, 10, 20)],
                         "rows": [{"turn": t, "kind": "probe" if t in (1, 5, 10, 20) else "filler", "e2e_s": 1.5, "prompt_tokens": 470}
                                  for t in range(1, 22)]},
        "training": {"examples": 8, "torch_threads": 1, "max_seq_length": 1400, "speedup": 2.59, "speedup_goal": 1.5,
                     "baseline": {"name": "baseline", "tokens_per_s": 24.4, "wall_s": 100.0, "steps": 8},
                     "shoeagent": {"name": "shoeagent", "tokens_per_s": 63.1, "wall_s": 40.0, "steps": 2}},
        "export": {"quants": ["q8_0"], "seconds": 75.0, "goal_seconds": 90.0, "parity_checked": True,
                   "stage_seconds": {"load base model": 30.0}, "parity": {"q8_0": {"passed": True}}},
        "read_ahead": {"n": 16, "model": "shoemold", "partial_share": 2 / 3, "machine": {"load_average": [1.1, 1.0, 1.0]},
                       "none": {"ttft_s_p50": 1.01, "ttft_s_p50_en": 0.56, "ttft_s_p50_zh": 1.49, "read_ahead_s_p50": 0.0,
                                "tokens_read_ahead_p50": 0, "same_answer_as_none": 1.0},
                       "paused": {"ttft_s_p50": 0.05, "ttft_s_p50_en": 0.04, "ttft_s_p50_zh": 0.06, "read_ahead_s_p50": 1.11,
                                  "tokens_read_ahead_p50": 442, "same_answer_as_none": 0.8125},
                       "partial": {"ttft_s_p50": 0.56, "ttft_s_p50_en": 0.45, "ttft_s_p50_zh": 0.76, "read_ahead_s_p50": 0.76,
                                   "tokens_read_ahead_p50": 291, "same_answer_as_none": 1.0}},
        "lookup": {"n": 16, "calls": 19, "model": "shoemold", "draft_tokens": 10, "machine": {"load_average": [1.1, 1.0, 1.0]},
                   "plain_s": 38.6, "lookup_s": 32.5, "speedup": 1.19, "tokens_per_step": 4.49, "plain_ttft_s_p50": 0.6,
                   "lookup_ttft_s_p50": 0.6, "plain_s_en": 10.2, "lookup_s_en": 9.4, "speedup_en": 1.09, "tokens_per_step_en": 3.73,
                   "plain_ttft_s_p50_en": 0.37, "lookup_ttft_s_p50_en": 0.36, "plain_s_zh": 28.4, "lookup_s_zh": 23.1,
                   "speedup_zh": 1.23, "tokens_per_step_zh": 4.93, "plain_ttft_s_p50_zh": 1.06, "lookup_ttft_s_p50_zh": 1.07,
                   "guesses_kept": 0.663, "same_text": 19},
        "startup": {"runs": 5, "import_shoeagent_s": 0.01, "python_bare_s": 0.05, "importtime_shoeagent_s": 0.006, "cli_help_s": 0.5},
        "tui": {"goal_s": 2.0, "launch_to_paint_s": {"median": 0.8, "max": 1.0, "runs": [0.8, 0.7, 1.0]},
                "model_ready_s": {"median": 2.5}},
    }
    bench.mkdir(parents=True, exist_ok=True)
    for name, value in data.items():
        (bench / f"{name}.json").write_text(json.dumps(value), encoding="utf-8")


def test_report_renders_tables_and_charts_from_canned_results(tmp_path):
    bench = tmp_path / "bench"
    _canned(bench)
    page = report_module.render(bench, tmp_path / "benchmarks.md")
    text = page.read_text(encoding="utf-8")
    assert "Test CPU 9000" in text and "0.50 / 0.40 / 0.30" in text  # absolute times labelled with the machine
    for system in ("Base model", "Base + retrieval", "LoRA alone", "Full agent"):
        assert text.count(f"| {system} |") == 3  # both languages, English, Chinese
    assert "| Full agent | 4.0 | 7.1 | 5.4 | 9.2 | 2.50 | 0.75 | 1.00 | 0.05 |" in text
    assert "**1.12×** (meets the ≤ 1.15× goal)" in text
    assert "| 1.90× (1.40 drafts per answer) |" in text
    assert "**2.59×** (meets the ≥ 1.5× goal)" in text
    assert "| 15,000 | 30,000 | 75.0 s | 16.00 ms | 32.00 ms | 13.91× |" in text
    assert "| 20 | 1.50 s | 50 ms | 2.00 s | 600 |" in text
    assert "| 169 | 2438 | 5.50 ms | 9.10 ms |" in text
    assert "| paused | 0.05 s | 0.04 s | 0.06 s | 0.05× | 1.11 s (442) | 81% |" in text
    assert "| zh | 28.40 s | 23.10 s | 1.23× | 4.93 | 1.06 / 1.07 s |" in text and "19 of 19 replies had the same text" in text
    assert "Not run yet" not in text and "Smoke run" not in text
    for chart in ("ablation", "speed", "scale", "conversation"):
        assert f"](bench/{chart}.png)" in text
        assert (bench / f"{chart}.png").read_bytes().startswith(PNG_MAGIC)
    headline = (bench / "headline.md").read_text(encoding="utf-8")
    assert "| Full agent |" in headline and "1.12×" in headline and "2.59×" in headline


def test_report_says_what_was_not_run(tmp_path):
    bench = tmp_path / "bench"
    bench.mkdir()
    text = report_module.render(bench, tmp_path / "b.md").read_text(encoding="utf-8")
    for name in ("ablation", "agent", "retrieval", "training", "scale", "conversation", "read_ahead", "lookup"):
        assert f"`python benchmarks/run_all.py --only {name}`" in text
    assert not list(bench.glob("*.png"))


def test_bench_command_and_run_all_reject_bad_arguments():
    from shoeagent.cli import _build

    runner = CliRunner()
    app = _build()
    result = runner.invoke(app, ["bench", "--only", "nope"])
    assert result.exit_code == 2 and "unknown benchmark(s) nope" in result.output
    result = runner.invoke(app, ["bench", "--limit", "0"])
    assert result.exit_code == 2 and "--limit must be at least 1" in result.output
    # The test home has no shoemold GGUF: a full run says how to build it instead of starting.
    result = runner.invoke(app, ["bench"])
    assert result.exit_code == 2 and "shoeagent export --if-missing" in result.output
    assert run_all_main(["--only", "nope"]) == 2
    assert run_all_main(["--only", "ablation"]) == 2


def test_bench_command_runs_a_benchmark_and_writes_the_report(tmp_path):
    import subprocess

    out, page = tmp_path / "bench", tmp_path / "page.md"
    done = subprocess.run(
        [sys.executable, "-m", "shoeagent.cli", "bench", "--quick", "--only", "startup", "--out", str(out), "--report", str(page)],
        capture_output=True, text=True, timeout=120,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    startup = json.loads((out / "startup.json").read_text(encoding="utf-8"))
    assert startup["runs"] == 2 and startup["python_bare_s"] > 0 and startup["import_shoeagent_s"] >= 0
    run = json.loads((out / "run.json").read_text(encoding="utf-8"))
    assert run["quick"] is True and run["benchmarks"]["startup"]["ok"] is True
    text = page.read_text(encoding="utf-8")
    assert "Smoke run" in text and "`import shoeagent`" in text
    assert "--only ablation`" in text  # the benchmarks not run are named, with the command that runs them


# ---------------------------------------------------------------------------------------------------
# Slow: every benchmark for real, a few items each (the model-free parts and the embedded model)

QUICK = ("startup", "retrieval", "scale", "threads", "agent", "read_ahead", "lookup", "conversation", "ablation", "tui")


@pytest.fixture
def fresh_store():
    from shoeagent.knowledge import store

    store.reset_default()  # the default knowledge base must open this test's SHOEAGENT_HOME
    yield
    store.reset_default()


@pytest.mark.slow
def test_quick_run_of_the_benchmarks_writes_sane_json_and_the_report(tmp_path, fresh_store):
    out = tmp_path / "bench"
    meta = run_all(quick=True, only=list(QUICK), out_dir=out, progress=False)
    assert {n: i["ok"] for n, i in meta["benchmarks"].items()} == dict.fromkeys(QUICK, True), meta["benchmarks"]
    assert meta["machine"]["cores"] >= 1 and meta["machine"]["cpu"]
    data = {name: json.loads((out / f"{name}.json").read_text(encoding="utf-8")) for name in QUICK}

    startup = data["startup"]
    assert startup["import_shoeagent_s"] >= 0 and startup["cli_help_process_s"] > 0

    real = data["retrieval"]["real"]
    assert real["entries"] >= 100 and real["queries"] == 20
    assert 0 < real["latency_ms"]["p50"] <= real["latency_ms"]["p95"] and real["full_rebuild_s"] > 0

    sizes = data["scale"]["sizes"]
    assert [s["entries"] for s in sizes] == [15, 45]
    assert all(s["full_rebuild_s"] > 0 and 0 < s["latency_ms"]["p50"] <= s["latency_ms"]["p95"] for s in sizes)
    assert all(_finite(g["p50_ratio"]) for g in data["scale"]["growth_vs_smallest"])

    agent = data["agent"]
    assert agent["n"] == 1 and not [r for r in agent["rows"] if r["outcome"] == "error"]
    assert agent["e2e_s"]["p50"] > 0 and agent["tokens"]["total"] > 0
    assert _finite(agent["e2e_over_raw"]["total"]) and agent["e2e_over_raw"]["total"] > 0
    assert _finite(agent["decode_tokens_per_s"]) and agent["decode_tokens_per_s"] > 0
    assert agent["e2e_over_raw_first_draft"]["total"] >= agent["e2e_over_raw"]["total"] > 0
    assert agent["ttft_s"]["p50"] is None or agent["ttft_s"]["p50"] > 0

    read_ahead = data["read_ahead"]
    assert read_ahead["n"] == 1 and [r["case"] for r in read_ahead["rows"]] == ["none", "paused", "partial"]
    paused = read_ahead["rows"][1]
    assert paused["tokens_read_ahead"] > 50 and paused["ttft_s"] > 0  # the whole prompt but its last token was read ahead

    lookup = data["lookup"]
    assert lookup["calls"] >= 1 and lookup["plain_s"] > 0 and lookup["lookup_s"] > 0 and _finite(lookup["speedup"])
    row = lookup["rows"][0]
    assert row["plain"]["tokens"] > 0 and row["plain"]["steps"] >= row["plain"]["tokens"] - 1  # one token per step
    assert row["lookup"]["steps"] <= row["plain"]["steps"]

    conversation = data["conversation"]
    assert conversation["turns"] == 2 and conversation["stored_messages"] == 4
    assert [r["kind"] for r in conversation["rows"]] == ["probe", "follow_up"]
    assert all(r["e2e_s"] > 0 and "went wrong" not in r["answer"] for r in conversation["rows"])
    follow = conversation["at"][0]
    assert follow["follow_up_prompt_tokens"] > 0 and follow["probe_overhead_ms"] >= 0

    ablation = data["ablation"]
    assert ablation["n_in_domain"] == 2 and ablation["n_out_of_scope"] == 2
    assert set(ablation["summary"]) == set(SYSTEMS)
    assert len(ablation["records"]) == 4 * len(SYSTEMS)
    assert all("went wrong" not in r["answer"] for r in ablation["records"])
    for system, by_lang in ablation["summary"].items():
        assert set(by_lang) == {"all", "en", "zh"}
        for metrics in by_lang.values():
            for key in ("completeness", "key_data_accuracy", "semantic_consistency", "readability"):
                assert 0 <= metrics[key] <= 10, (system, key, metrics[key])
            for key in ("key_fact_accuracy", "refusal_accuracy", "false_refusal_rate"):
                assert 0 <= metrics[key] <= 1, (system, key, metrics[key])
            assert metrics["response_time_s"] >= 0
    assert ablation["warnings"]  # the test home has no shoemold GGUF: the run says it used the base model

    tui = data["tui"]
    assert tui["launch_to_paint_s"]["median"] > 0

    text = (out / "benchmarks.md").read_text(encoding="utf-8")
    assert "Smoke run" in text and "| Full agent |" in text and "Agent vs raw llama.cpp" in text
    assert "### Knowledge-base size" in text and "### Conversation length" in text
    for chart in ("ablation", "speed", "scale", "conversation"):
        assert (out / f"{chart}.png").read_bytes().startswith(PNG_MAGIC)
    assert set(NAMES) >= set(QUICK)


@pytest.mark.slow
def test_setting_ab_asks_each_question_under_both_values_and_restores_the_setting(monkeypatch, fresh_store):
    from benchmarks import setting_ab

    monkeypatch.setenv("SHOEAGENT_MAX_TOKENS", "24")
    with pytest.raises(SystemExit, match="SHOEAGENT_NOPE is not an agent setting"):
        setting_ab.run("SHOEAGENT_NOPE", "1", "0", n=1, progress=False)
    result = setting_ab.run("SHOEAGENT_MAX_TOKENS", "8", "16", n=1, progress=False)
    row = result["rows"][0]
    assert row["a_s"] > 0 and row["b_s"] > 0 and row["a_text"] and row["b_text"]
    assert result["b_over_a"]["total"] > 0 and result["same_text"] in (0, 1)
    import os

    assert os.environ["SHOEAGENT_MAX_TOKENS"] == "24"
