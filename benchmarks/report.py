"""Render the benchmark report: ``docs/benchmarks.md`` with tables, PNG charts next to the raw JSON.

    .venv/bin/python benchmarks/report.py [--bench docs/bench] [--out docs/benchmarks.md]

Reads ``<bench>/<name>.json`` (whatever exists; a missing benchmark gets a "not run" line) and
``<bench>/run.json`` (machine, flags, durations), writes ``<bench>/ablation.png``, ``scale.png``,
``conversation.png`` and ``speed.png``, the Markdown page, and ``<bench>/headline.md`` (the short
tables for the README).
"""

from __future__ import annotations

import argparse
import io
import json
import math
import os
import sys
from pathlib import Path
from typing import Any

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.common import write_bytes, write_text  # noqa: E402

SYSTEM_ORDER = ("base", "base_retrieval", "lora", "agent")
SYSTEM_LABELS = {"base": "Base model", "base_retrieval": "Base + retrieval", "lora": "LoRA alone", "agent": "Full agent"}
QUALITY_COLUMNS = (
    ("completeness", "Completeness", 1),
    ("key_data_accuracy", "Key-data acc.", 1),
    ("semantic_consistency", "Semantic cons.", 1),
    ("readability", "Readability", 1),
    ("response_time_s", "Time / answer (s)", 2),
    ("key_fact_accuracy", "Key facts", 2),
    ("refusal_accuracy", "Refusal acc. (OOD)", 2),
    ("false_refusal_rate", "False refusals", 2),
)
NAMES = ("startup", "retrieval", "scale", "threads", "agent", "read_ahead", "lookup", "conversation", "ablation", "training", "export", "tui")
COLORS = {"base": "#9aa5b1", "base_retrieval": "#d9a441", "lora": "#5b8fb9", "agent": "#2f7d6d"}


def fmt(value: Any, digits: int = 2, suffix: str = "") -> str:
    """A number for a table cell; "n/a" for missing or non-finite values."""
    if value is None or isinstance(value, bool):
        return "n/a"
    if isinstance(value, (int, float)):
        if isinstance(value, float) and not math.isfinite(value):
            return "n/a"
        return f"{value:,.{digits}f}{suffix}" if digits else f"{value:,.0f}{suffix}"
    return str(value)


def ratio(a: Any, b: Any) -> float | None:
    if isinstance(a, (int, float)) and isinstance(b, (int, float)) and b:
        return a / b
    return None


def load(bench: Path) -> dict[str, Any]:
    """Every ``<name>.json`` and ``run.json`` in ``bench`` that parses."""
    data: dict[str, Any] = {}
    for name in (*NAMES, "run"):
        path = bench / f"{name}.json"
        if path.is_file():
            try:
                data[name] = json.loads(path.read_text(encoding="utf-8"))
            except (OSError, ValueError):
                data[name] = None
    return data


def _cache_note(agent: dict[str, Any]) -> str:
    """How each agent-benchmark prompt started: runs before the field existed started from an empty cache."""
    if agent.get("cache_at_start", "empty") == "empty":
        return "and left empty"
    return "and then given the system prompt, as a chat's cache holds it"


def _load_note(result: dict[str, Any] | None) -> str:
    """The load average a benchmark started at, for labelling its absolute times."""
    if not result:
        return ""
    machine = result.get("machine") or {}
    load = machine.get("load_average") or machine.get("load_average_before") or result.get("load_average_before")
    if isinstance(load, list) and load:
        return f"load average {load[0]:.1f} at its start"
    if isinstance(machine.get("load_avg_1m"), (int, float)):
        return f"load average {machine['load_avg_1m']:.1f} at its start"
    return ""


def _not_run(name: str) -> str:
    return f"_Not run yet: `python benchmarks/run_all.py --only {name}`._\n"


# ---------------------------------------------------------------------------------------------------
# Sections


def machine_section(run: dict[str, Any] | None) -> list[str]:
    if not run:
        return ["## Machine", "", "_No run.json: the machine is unknown._", ""]
    m = run.get("machine") or {}
    load = m.get("load_average") or []
    lines = [
        "## Machine",
        "",
        "Absolute times below come from this machine; ratios were measured side by side in one run.",
        "",
        "| CPU | Cores | Memory | Load average at start (1 / 5 / 15 min) | Python | Platform |",
        "|---|---|---|---|---|---|",
        f"| {m.get('cpu', 'n/a')} | {m.get('cores', 'n/a')} | {fmt(m.get('memory_gib'), 1, ' GiB')} | "
        f"{' / '.join(fmt(x, 2) for x in load) or 'n/a'} | {m.get('python', 'n/a')} | {m.get('platform', 'n/a')} |",
        "",
    ]
    benchmarks = run.get("benchmarks") or {}
    if benchmarks:
        lines += ["| Benchmark | Result | Wall time | Finished |", "|---|---|---|---|"]
        for name in NAMES:
            info = benchmarks.get(name)
            if info:
                state = "ok" if info.get("ok") else f"**failed**: {info.get('error') or ''}"
                lines.append(f"| {name} | {state} | {fmt(info.get('seconds'), 0, ' s')} | {info.get('finished', '')} |")
        lines.append("")
    return lines


def ablation_table(summary: dict[str, Any], key: str) -> list[str]:
    header = "| System | " + " | ".join(label for _, label, _ in QUALITY_COLUMNS) + " |"
    lines = [header, "|---|" + "---|" * len(QUALITY_COLUMNS)]
    for system in SYSTEM_ORDER:
        metrics = (summary.get(system) or {}).get(key)
        if metrics is None:
            continue
        cells = [fmt(metrics.get(column), digits) for column, _, digits in QUALITY_COLUMNS]
        lines.append(f"| {SYSTEM_LABELS[system]} | " + " | ".join(cells) + " |")
    return lines


def ablation_section(result: dict[str, Any] | None, charts: dict[str, str]) -> list[str]:
    lines = ["## Quality ablation", ""]
    if not result:
        return lines + [_not_run("ablation")]
    settings = result.get("settings") or {}
    models = result.get("models") or {}
    summary = result.get("summary") or {}
    lines += [
        f"{result.get('n_in_domain', 0)} in-domain rows of the evaluation split (`finetune/data/eval.jsonl`, "
        f"{settings.get('limit_per_language')} per language, each with a reference answer and key facts) and "
        f"{result.get('n_out_of_scope', 0)} out-of-scope questions (`agent/eval/questions.jsonl`). At most "
        f"{settings.get('max_tokens')} tokens per answer; llama.cpp with {settings.get('llama_cpp_threads')} threads; "
        f"base = `{(models.get('base') or {}).get('file', '?')}`, LoRA = `{(models.get('lora') or {}).get('file', '?')}`.",
        "",
        "- **Base model** / **LoRA alone**: the system prompt and the question, nothing else.",
        "- **Base + retrieval**: the agent's search and prompt layout (top 3 passages), no relevance gate, tools or verify.",
        "- **Full agent**: `ShoeAgent` on the embedded backend with the LoRA GGUF (route, retrieve, tools, generate, verify).",
        "",
        "Scores 0–10 (the seed's metrics, `shoeagent.finetune.evaluate`); key facts = share of the rows' key facts "
        "in the answer (`shoeagent.agent.evaluate.fact_present`); refusal accuracy = share of out-of-scope questions "
        "declined; false refusals = share of in-domain questions declined. A bare model's answer counts as declined "
        "when it opens with an apology or says the question is outside its area / not covered "
        "(`benchmarks.ablation.looks_like_refusal`); the agent's also when it sets `refused`. Time per answer "
        f"is wall-clock on the machine above ({_load_note(result)}).",
        "",
    ]
    for warning in result.get("warnings") or []:
        lines += [f"> **Warning:** {warning}", ""]
    lines += ["### Both languages", "", *ablation_table(summary, "all"), ""]
    lines += ["### English", "", *ablation_table(summary, "en"), ""]
    lines += ["### 繁體中文 (Traditional Chinese)", "", *ablation_table(summary, "zh"), ""]
    if "ablation" in charts:
        lines += [f"![quality ablation]({charts['ablation']})", ""]
    lines += [f"{fmt(result.get('seconds_per_item'), 1)} s per question for all four systems together "
              f"({fmt(result.get('wall_s'), 0)} s in all).", ""]
    return lines


def speed_section(data: dict[str, Any], charts: dict[str, str]) -> list[str]:
    lines = ["## Speed", "", "### Agent vs raw llama.cpp (same GGUF, same tokens, same run)", ""]
    agent = data.get("agent")
    if agent:
        ratio_total = (agent.get("e2e_over_raw") or {}).get("total")
        goal = agent.get("overhead_goal", 1.15)
        verdict = "meets" if isinstance(ratio_total, (int, float)) and ratio_total <= goal else "misses"
        e2e, ttft, raw_ttft, raw = agent.get("e2e_s") or {}, agent.get("ttft_s") or {}, agent.get("raw_ttft_s") or {}, agent.get("raw_llama_s") or {}
        lines += [
            f"{agent.get('n')} in-domain questions (half English, half Chinese), `{agent.get('model')}` "
            f"(`{Path(str(agent.get('gguf', ''))).name}`), at most {agent.get('max_tokens')} tokens per draft. Each "
            "model call of the agent was replayed on the bare llama.cpp engine with the same messages and seed "
            f"(the same tokens), the cache reset before both {_cache_note(agent)} ({_load_note(agent)}).",
            "",
            "| | Agent | Raw llama.cpp | Agent / raw |",
            "|---|---|---|---|",
            f"| Time to first token, p50 | {fmt(ttft.get('p50'))} s | {fmt(raw_ttft.get('p50'))} s | "
            f"{fmt(ratio(ttft.get('p50'), raw_ttft.get('p50')))}× |",
            f"| Time to first token, p95 | {fmt(ttft.get('p95'))} s | {fmt(raw_ttft.get('p95'))} s | "
            f"{fmt(ratio(ttft.get('p95'), raw_ttft.get('p95')))}× |",
            f"| End to end, p50 | {fmt(e2e.get('p50'))} s | {fmt(raw.get('p50'))} s | {fmt((agent.get('e2e_over_raw') or {}).get('p50'))}× (per question) |",
            f"| End to end, p95 | {fmt(e2e.get('p95'))} s | {fmt(raw.get('p95'))} s | {fmt((agent.get('e2e_over_raw') or {}).get('p95'))}× (per question) |",
            f"| Tokens per second | {fmt(agent.get('agent_tokens_per_s'), 1)} | {fmt(agent.get('decode_tokens_per_s'), 1)} | "
            f"{fmt(ratio(agent.get('decode_tokens_per_s'), agent.get('agent_tokens_per_s')))}× slower |",
            f"| **Total time over the same tokens** | | | **{fmt(ratio_total)}×** ({verdict} the ≤ {goal}× goal) |",
            f"| Total time over the first draft's tokens alone (redrafts count as overhead) | | | "
            f"{fmt((agent.get('e2e_over_raw_first_draft') or {}).get('total'))}× "
            f"({fmt(agent.get('drafts_per_answer'))} drafts per answer) |",
            "",
            f"Time outside the model (route, retrieve, tools, verify, graph): p50 {fmt((agent.get('overhead_ms') or {}).get('p50'), 0)} ms, "
            f"p95 {fmt((agent.get('overhead_ms') or {}).get('p95'), 0)} ms. Verify outcomes: "
            + ", ".join(f"{k.replace('_', ' ')} {v}" for k, v in (agent.get("verify") or {}).items()) + ".",
            "",
        ]
        by_lang = agent.get("by_language") or {}
        if by_lang:
            lines += ["| Language | n | TTFT p50 | E2E p50 | E2E p95 | Agent / raw (total) |", "|---|---|---|---|---|---|"]
            for lang, stats in by_lang.items():
                lines.append(
                    f"| {lang} | {stats.get('n')} | {fmt((stats.get('ttft_s') or {}).get('p50'))} s | "
                    f"{fmt((stats.get('e2e_s') or {}).get('p50'))} s | {fmt((stats.get('e2e_s') or {}).get('p95'))} s | "
                    f"{fmt((stats.get('e2e_over_raw') or {}).get('total'))}× |"
                )
            lines.append("")
        if "speed" in charts:
            lines += [f"![agent vs raw llama.cpp]({charts['speed']})", ""]
    else:
        lines.append(_not_run("agent"))

    lines += read_ahead_section(data.get("read_ahead"))
    lines += lookup_section(data.get("lookup"))

    threads = data.get("threads")
    if threads and threads.get("settings"):
        lines += [
            "### llama.cpp threads (same GGUF, same prompts, each setting in its own process)", "",
            f"{threads.get('rows')} evaluation prompts × {threads.get('rounds')} rounds per setting, greedy, at most "
            f"{threads.get('max_tokens')} tokens, {threads.get('busy_processes', 0)} busy processes alongside "
            f"({_load_note(threads)}). Ratios are against `{threads.get('baseline')}`.", "",
            "| Setting | OpenMP waits | Decode / prompt threads | Prompt (TTFT) p50 | Decode p50 | Answer p50 |",
            "|---|---|---|---|---|---|",
        ]
        for name, item in threads["settings"].items():
            used = item.get("settings") or {}
            lines.append(
                f"| {name} | {used.get('omp_wait_policy')} | {used.get('n_threads')} / {used.get('n_threads_batch')} | "
                f"{fmt(item.get('ttft_s_p50'))} s ({fmt(item.get('ttft_ratio'))}×) | "
                f"{fmt(item.get('decode_tokens_per_s_p50'), 0)} tok/s ({fmt(item.get('decode_speedup'))}×) | "
                f"{fmt(item.get('answer_s_p50'))} s ({fmt(item.get('answer_time_ratio'))}×) |"
            )
        lines.append("")

    lines += ["### Retrieval (the real knowledge base)", ""]
    retrieval = data.get("retrieval")
    if retrieval and retrieval.get("real"):
        real = retrieval["real"]
        latency = real.get("latency_ms") or {}
        lines += [
            f"{real.get('queries')} queries (the labelled retrieval eval set, {_load_note(retrieval) or 'load n/a'}).",
            "",
            "| Entries | Indexed documents | Query p50 | Query p95 | Full rebuild | No-op build | First search (load) |",
            "|---|---|---|---|---|---|---|",
            f"| {real.get('entries')} | {real.get('documents')} | {fmt(latency.get('p50'))} ms | {fmt(latency.get('p95'))} ms | "
            f"{fmt(real.get('full_rebuild_s'))} s | {fmt(real.get('noop_build_s'))} s | {fmt(real.get('first_search_load_s'))} s |",
            "",
        ]
    else:
        lines.append(_not_run("retrieval"))

    lines += ["### Training throughput (CPU)", ""]
    training = data.get("training")
    if training:
        base, ours = training.get("baseline") or {}, training.get("shoeagent") or {}
        speedup = training.get("speedup")
        goal = training.get("speedup_goal", 1.5)
        verdict = "meets" if isinstance(speedup, (int, float)) and speedup >= goal else "misses"
        lines += [
            f"The same {training.get('examples')} training rows, one epoch, {training.get('torch_threads')} torch thread(s), "
            f"max_seq_length {training.get('max_seq_length')}.",
            "",
            "| Trainer | Real tokens / s | Wall time | Steps |",
            "|---|---|---|---|",
            f"| {base.get('name', 'baseline')} | {fmt(base.get('tokens_per_s'), 1)} | {fmt(base.get('wall_s'), 1)} s | {base.get('steps', 'n/a')} |",
            f"| {ours.get('name', 'shoeagent')} | {fmt(ours.get('tokens_per_s'), 1)} | {fmt(ours.get('wall_s'), 1)} s | {ours.get('steps', 'n/a')} |",
            f"| **Speed-up** | **{fmt(speedup)}×** ({verdict} the ≥ {goal}× goal) | | |",
            "",
        ]
    else:
        lines.append(_not_run("training"))

    lines += ["### Export, start-up and the chat", ""]
    rows = []
    export = data.get("export")
    if export:
        stages = ", ".join(f"{k} {fmt(v, 1)} s" for k, v in (export.get("stage_seconds") or {}).items())
        parity = export.get("parity") or {}
        passed = all(p.get("passed") for p in parity.values()) if parity else None
        parity_note = "parity not checked" if not export.get("parity_checked", True) else (
            "parity passed" if passed else "parity FAILED" if passed is False else "parity n/a")
        rows.append(f"| Export ({', '.join(export.get('quants') or [])}; {parity_note}) | {fmt(export.get('seconds'), 1)} s "
                    f"(goal ≤ {fmt(export.get('goal_seconds'), 0)} s) | {stages} |")
    startup = data.get("startup")
    if startup:
        rows.append(f"| `import shoeagent` | {fmt(startup.get('import_shoeagent_s'), 3)} s | median of {startup.get('runs')} fresh "
                    f"processes minus a bare interpreter ({fmt(startup.get('python_bare_s'), 3)} s); -X importtime "
                    f"{fmt(startup.get('importtime_shoeagent_s'), 3)} s |")
        rows.append(f"| `shoeagent --help` | {fmt(startup.get('cli_help_s'), 2)} s | same method |")
    tui = data.get("tui")
    if tui:
        paint = tui.get("launch_to_paint_s") or {}
        ready = tui.get("model_ready_s") or {}
        rows.append(f"| Chat: launch to first paint | {fmt(paint.get('median'))} s (goal ≤ {fmt(tui.get('goal_s'), 1)} s) | "
                    f"median of {len(paint.get('runs') or [])} cold starts, max {fmt(paint.get('max'))} s; "
                    f"model ready {fmt(ready.get('median'))} s |")
    if rows:
        lines += ["| What | Figure | Details |", "|---|---|---|", *rows, ""]
    for name in ("export", "startup", "tui"):
        if not data.get(name):
            lines.append(_not_run(name))
    return lines


def read_ahead_section(result: dict[str, Any] | None) -> list[str]:
    """Time to first token when the chat read the prompt ahead during a pause in typing."""
    lines = ["### Reading the prompt ahead while the user types (same questions, same run)", ""]
    if not result:
        return lines + [_not_run("read_ahead"), ""]
    lines += [
        f"{result.get('n')} in-domain questions (languages alternating), `{result.get('model')}`, each case from the state "
        f"after `warm_up` ({_load_note(result)}). *paused*: `read_ahead` on the whole question before it is sent; "
        f"*partial*: on its first {fmt(100 * (result.get('partial_share') or 0), 0)}% of characters.",
        "",
        "| Case | TTFT p50 | en | zh | Ratio to none | Read-ahead p50 (tokens) | Same answer as none |",
        "|---|---|---|---|---|---|---|",
    ]
    for case in ("none", "paused", "partial"):
        item = result.get(case) or {}
        share = ratio(item.get("ttft_s_p50"), (result.get("none") or {}).get("ttft_s_p50"))
        lines.append(
            f"| {case} | {fmt(item.get('ttft_s_p50'))} s | {fmt(item.get('ttft_s_p50_en'))} s | {fmt(item.get('ttft_s_p50_zh'))} s | "
            f"{fmt(share)}× | {fmt(item.get('read_ahead_s_p50'))} s ({fmt(item.get('tokens_read_ahead_p50'), 0)}) | "
            f"{fmt(100 * (item.get('same_answer_as_none') or 0), 0)}% |"
        )
    return lines + [""]


def lookup_section(result: dict[str, Any] | None) -> list[str]:
    """Prompt-lookup decoding against plain decoding on the agent's own prompts."""
    lines = ["### Prompt-lookup decoding (the agent's own prompts, same run)", ""]
    if not result:
        return lines + [_not_run("lookup"), ""]
    lines += [
        f"{result.get('calls')} model calls of {result.get('n')} in-domain questions, `{result.get('model')}`, each replayed "
        f"with plain decoding and with up to {result.get('draft_tokens')} guessed tokens per step, alternating, from the "
        f"cache holding the system prompt ({_load_note(result)}). Times include reading the prompt. "
        f"{result.get('same_text')} of {result.get('calls')} replies had the same text both ways; "
        f"{fmt(100 * (result.get('guesses_kept') or 0), 0)}% of guesses were kept.",
        "",
        "| Language | Plain | Lookup | Speed-up | Tokens per step | TTFT p50 plain / lookup |",
        "|---|---|---|---|---|---|",
    ]
    for lang, suffix in (("all", ""), ("en", "_en"), ("zh", "_zh")):
        lines.append(
            f"| {lang} | {fmt(result.get('plain_s' + suffix))} s | {fmt(result.get('lookup_s' + suffix))} s | "
            f"{fmt(result.get('speedup' + suffix))}× | {fmt(result.get('tokens_per_step' + suffix))} | "
            f"{fmt(result.get('plain_ttft_s_p50' + suffix))} / {fmt(result.get('lookup_ttft_s_p50' + suffix))} s |"
        )
    return lines + [""]


def growth_section(data: dict[str, Any], charts: dict[str, str]) -> list[str]:
    lines = ["## How cost grows", "", "### Knowledge-base size", ""]
    scale = data.get("scale")
    if scale and scale.get("sizes"):
        lines += [
            f"Synthetic knowledge bases (copies of the {scale.get('real_entries')} real entries with new ids, shuffled "
            f"sentences, no example questions), each built from scratch in a temporary folder and queried with "
            f"{scale.get('queries')} eval queries ({_load_note(scale)}).",
            "",
            "| Entries | Documents | Build | Query p50 | Query p95 | p50 vs smallest |",
            "|---|---|---|---|---|---|",
        ]
        first = scale["sizes"][0]
        for size in scale["sizes"]:
            latency = size.get("latency_ms") or {}
            lines.append(
                f"| {size.get('entries'):,} | {size.get('documents'):,} | {fmt(size.get('full_rebuild_s'), 1)} s | "
                f"{fmt(latency.get('p50'))} ms | {fmt(latency.get('p95'))} ms | "
                f"{fmt(ratio(latency.get('p50'), (first.get('latency_ms') or {}).get('p50')))}× |"
            )
        lines.append("")
        if "scale" in charts:
            lines += [f"![retrieval latency vs knowledge-base size]({charts['scale']})", ""]
    else:
        lines.append(_not_run("scale"))

    lines += ["### Conversation length", ""]
    conversation = data.get("conversation")
    if conversation and conversation.get("at"):
        lines += [
            f"One thread with memory (SQLite checkpoints), `{conversation.get('model')}`, at most "
            f"{conversation.get('max_tokens')} tokens per draft. At each listed turn the same standalone question "
            "is asked, and at the next turn the same follow-up, whose prompt carries the trimmed history "
            f"({_load_note(conversation)}).",
            "",
            "| Turn | Question: end to end | Question: outside the model | Follow-up: end to end | Follow-up: prompt tokens |",
            "|---|---|---|---|---|",
        ]
        for point in conversation["at"]:
            lines.append(
                f"| {point['turn']} | {fmt(point.get('probe_e2e_s'))} s | {fmt(point.get('probe_overhead_ms'), 0)} ms | "
                f"{fmt(point.get('follow_up_e2e_s'))} s | {point.get('follow_up_prompt_tokens')} |"
            )
        lines += ["", f"{conversation.get('turns')} turns, {conversation.get('stored_messages')} stored messages, "
                      f"chat database {fmt((conversation.get('chat_db_bytes') or 0) / 1024, 0)} KiB at the end.", ""]
        if "conversation" in charts:
            lines += [f"![latency vs conversation length]({charts['conversation']})", ""]
    else:
        lines.append(_not_run("conversation"))
    return lines


# ---------------------------------------------------------------------------------------------------
# Charts


def _save(fig: Any, path: Path) -> Path:
    import matplotlib.pyplot as plt

    buffer = io.BytesIO()
    fig.tight_layout()
    fig.savefig(buffer, format="png", dpi=110)
    plt.close(fig)
    return write_bytes(path, buffer.getvalue())


def charts(data: dict[str, Any], bench: Path) -> dict[str, Path]:
    """Write the PNG charts for whatever data exists; returns {name: path}."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    made: dict[str, Path] = {}
    ablation = data.get("ablation")
    if ablation and ablation.get("summary"):
        summary = ablation["summary"]
        systems = [s for s in SYSTEM_ORDER if s in summary]
        fig, (left, right) = plt.subplots(1, 2, figsize=(12, 4.2), gridspec_kw={"width_ratios": [3, 2]})
        metrics = [("completeness", "completeness"), ("key_data_accuracy", "key data"),
                   ("semantic_consistency", "semantic"), ("readability", "readability")]
        width = 0.8 / max(1, len(systems))
        for i, system in enumerate(systems):
            values = [(summary[system]["all"].get(m) or 0) for m, _ in metrics]
            left.bar([x + (i - (len(systems) - 1) / 2) * width for x in range(len(metrics))], values, width,
                     label=SYSTEM_LABELS[system], color=COLORS[system])
        left.set_xticks(range(len(metrics)), [label for _, label in metrics])
        left.set_ylim(0, 10)
        left.set_ylabel("score (0-10)")
        left.legend(fontsize=8)
        left.set_title("answer quality (both languages)")
        rates = [("key_fact_accuracy", "key facts"), ("refusal_accuracy", "refused OOD"), ("false_refusal_rate", "false refusals")]
        for i, system in enumerate(systems):
            values = [(summary[system]["all"].get(m) or 0) for m, _ in rates]
            right.bar([x + (i - (len(systems) - 1) / 2) * width for x in range(len(rates))], values, width,
                      color=COLORS[system])
        right.set_xticks(range(len(rates)), [label for _, label in rates])
        right.set_ylim(0, 1)
        right.set_title("rates (0-1)")
        made["ablation"] = _save(fig, bench / "ablation.png")

    agent = data.get("agent")
    if agent and (agent.get("e2e_s") or {}).get("p50") is not None:
        fig, ax = plt.subplots(figsize=(7, 3.6))
        labels = ["TTFT p50", "TTFT p95", "E2E p50", "E2E p95"]
        agent_values = [(agent.get("ttft_s") or {}).get("p50"), (agent.get("ttft_s") or {}).get("p95"),
                        (agent.get("e2e_s") or {}).get("p50"), (agent.get("e2e_s") or {}).get("p95")]
        raw_values = [(agent.get("raw_ttft_s") or {}).get("p50"), (agent.get("raw_ttft_s") or {}).get("p95"),
                      (agent.get("raw_llama_s") or {}).get("p50"), (agent.get("raw_llama_s") or {}).get("p95")]
        xs = range(len(labels))
        ax.bar([x - 0.2 for x in xs], [v or 0 for v in agent_values], 0.4, label="agent", color=COLORS["agent"])
        ax.bar([x + 0.2 for x in xs], [v or 0 for v in raw_values], 0.4, label="raw llama.cpp", color=COLORS["base"])
        ax.set_xticks(list(xs), labels)
        ax.set_ylabel("seconds")
        ax.legend()
        ax.set_title("agent vs raw llama.cpp on the same tokens")
        made["speed"] = _save(fig, bench / "speed.png")

    scale = data.get("scale")
    if scale and scale.get("sizes"):
        sizes = scale["sizes"]
        fig, (left, right) = plt.subplots(1, 2, figsize=(10, 3.6))
        entries = [s["entries"] for s in sizes]
        left.plot(entries, [s["latency_ms"]["p50"] for s in sizes], "o-", label="p50", color=COLORS["agent"])
        left.plot(entries, [s["latency_ms"]["p95"] for s in sizes], "s--", label="p95", color=COLORS["base_retrieval"])
        left.set_xscale("log")
        left.set_xlabel("knowledge entries")
        left.set_ylabel("query latency (ms)")
        left.legend()
        left.set_title("retrieval latency")
        right.plot(entries, [s["full_rebuild_s"] for s in sizes], "o-", color=COLORS["lora"])
        right.set_xscale("log")
        right.set_yscale("log")
        right.set_xlabel("knowledge entries")
        right.set_ylabel("full build (s)")
        right.set_title("index build time")
        made["scale"] = _save(fig, bench / "scale.png")

    conversation = data.get("conversation")
    if conversation and conversation.get("rows"):
        rows = conversation["rows"]
        fig, ax = plt.subplots(figsize=(8, 3.6))
        for kind, marker, color in (("probe", "o", COLORS["agent"]), ("follow_up", "s", COLORS["base_retrieval"]),
                                    ("filler", ".", COLORS["base"])):
            chosen = [r for r in rows if r["kind"] == kind]
            ax.plot([r["turn"] for r in chosen], [r["e2e_s"] for r in chosen], marker, label=kind.replace("_", "-"), color=color)
        ax.set_xlabel("turn")
        ax.set_ylabel("end to end (s)")
        twin = ax.twinx()
        twin.plot([r["turn"] for r in rows], [r["prompt_tokens"] for r in rows], ":", color="#555555", label="prompt tokens")
        twin.set_ylabel("prompt tokens")
        ax.legend(loc="upper left", fontsize=8)
        ax.set_title("latency and prompt size along one conversation")
        made["conversation"] = _save(fig, bench / "conversation.png")
    return made


# ---------------------------------------------------------------------------------------------------
# The page


def headline(data: dict[str, Any]) -> list[str]:
    """The short tables for the README: ablation (both languages) and the main speed ratios."""
    lines: list[str] = []
    ablation = data.get("ablation")
    if ablation and ablation.get("summary"):
        lines += ablation_table(ablation["summary"], "all") + [""]
    rows = []
    agent = data.get("agent")
    if agent:
        rows.append(f"| Agent time over raw llama.cpp, same tokens (goal ≤ 1.15×) | "
                    f"{fmt((agent.get('e2e_over_raw') or {}).get('total'))}× |")
        rows.append(f"| Agent time to first token p50 / end to end p50, p95 | {fmt((agent.get('ttft_s') or {}).get('p50'))} s / "
                    f"{fmt((agent.get('e2e_s') or {}).get('p50'))} s, {fmt((agent.get('e2e_s') or {}).get('p95'))} s |")
    retrieval = data.get("retrieval")
    if retrieval and retrieval.get("real"):
        latency = retrieval["real"].get("latency_ms") or {}
        rows.append(f"| Retrieval p50 / p95 | {fmt(latency.get('p50'))} ms / {fmt(latency.get('p95'))} ms |")
    training = data.get("training")
    if training:
        rows.append(f"| Training tokens/s vs the seed's recipe (goal ≥ 1.5×) | {fmt(training.get('speedup'))}× |")
    export = data.get("export")
    if export:
        rows.append(f"| Export | {fmt(export.get('seconds'), 1)} s |")
    tui = data.get("tui")
    if tui:
        rows.append(f"| Chat first paint | {fmt((tui.get('launch_to_paint_s') or {}).get('median'))} s |")
    if rows:
        lines += ["| Speed | Figure |", "|---|---|", *rows, ""]
    return lines


def render_markdown(data: dict[str, Any], chart_paths: dict[str, str]) -> str:
    run = data.get("run") or {}
    lines = ["# Benchmarks", ""]
    command = run.get("command") or "python benchmarks/run_all.py"
    lines += [
        f"Measured {run.get('started', '(date unknown)')} with `{command}` "
        "(`make bench` runs the full set, `shoeagent bench` the same from the CLI). "
        "Raw results: the JSON files next to the charts.",
        "",
    ]
    if run.get("quick"):
        lines += ["> **Smoke run (`--quick`)**: a few items per benchmark to check that everything works. "
                  "These numbers say nothing about quality or speed.", ""]
    lines += machine_section(run)
    lines += ablation_section(data.get("ablation"), chart_paths)
    lines += speed_section(data, chart_paths)
    lines += growth_section(data, chart_paths)
    return "\n".join(lines).rstrip() + "\n"


def render(bench: Path | str, out: Path | str) -> Path:
    """Read ``bench``'s JSON, write the charts there, the page to ``out`` and ``bench/headline.md``."""
    bench, out = Path(bench), Path(out)
    data = load(bench)
    made = charts(data, bench)
    relative = {name: os.path.relpath(path, out.parent).replace(os.sep, "/") for name, path in made.items()}
    write_text(out, render_markdown(data, relative))
    write_text(bench / "headline.md", "\n".join(headline(data)).rstrip() + "\n")
    return out


def main(argv: list[str] | None = None) -> None:
    from benchmarks.run_all import FULL_OUT, FULL_REPORT

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--bench", type=Path, default=FULL_OUT, help="folder with the JSON (default docs/bench)")
    parser.add_argument("--out", type=Path, default=FULL_REPORT, help="Markdown page (default docs/benchmarks.md)")
    args = parser.parse_args(argv)
    print(render(args.bench, args.out))


if __name__ == "__main__":
    main()
