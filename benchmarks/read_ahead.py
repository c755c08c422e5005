"""Time to the first token with and without reading the prompt ahead while the user types, side by side.

The chat calls ``ShoeAgent.read_ahead`` whenever typing pauses (``READ_AHEAD_PAUSE_S``). For each
in-domain question of ``agent/eval/questions.jsonl`` (languages alternating) this measures three
cases on the embedded model, in rotating order, each from the same engine state (the cache emptied,
then holding the system prompt, as after ``warm_up``):

* ``none``    the question is asked at once: the whole prompt (sources and question) is read;
* ``paused``  the user paused after typing the whole question, then pressed Enter: ``read_ahead``
  on the question ran to the end first;
* ``partial`` the user paused two thirds of the way through, then typed the rest and pressed Enter:
  ``read_ahead`` ran on the first two thirds of the question's characters. Its sources may differ from
  the final question's, and then only the prompt up to the first difference is reused.

It reports time to the first streamed token (p50 per language) and the ratio of each case to
``none``, how long the read-ahead itself took, and how often the answer's text equals the one
without reading ahead (it may differ at a near-tie: a prompt read in two calls rounds differently).

    .venv/bin/python benchmarks/read_ahead.py --n 16 [--out docs/bench/read_ahead.json]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.common import REPO, machine, pct, report  # noqa: E402

CASES = ("none", "paused", "partial")
PARTIAL_SHARE = 2 / 3


def questions(n: int) -> list[dict[str, Any]]:
    """``n`` in-domain evaluation questions, English and Chinese alternating."""
    rows = [json.loads(line) for line in (REPO / "agent" / "eval" / "questions.jsonl").read_text(encoding="utf-8").splitlines() if line.strip()]
    by_lang = {lang: [r for r in rows if r["lang"] == lang and not r["refuse"]] for lang in ("en", "zh")}
    picked = [by_lang[("en", "zh")[i % 2]][i // 2] for i in range(n)]
    return picked


def _typed_part(question: str) -> str:
    return question[: max(1, round(len(question) * PARTIAL_SHARE))]


def run(n: int = 16, progress: bool = True) -> dict[str, Any]:
    from shoeagent.agent.api import ShoeAgent

    start_machine = machine()
    agent = ShoeAgent(backend="embedded")
    agent.warm_up()
    llm = agent._get_llm()
    if not llm.reads_ahead:
        raise SystemExit(f"the {llm.name} backend does not read ahead; this benchmark needs the embedded model")
    engine = llm.engine()
    system_prompt = agent._context(None).system_prompt
    rows: list[dict[str, Any]] = []
    for i, row in enumerate(questions(n)):
        question = row["question"]
        texts: dict[str, str] = {}
        for case in CASES[i % 3 :] + CASES[: i % 3]:
            engine.reset()
            llm.cache_system_prompt(system_prompt)
            started = time.perf_counter()
            read = 0
            if case == "paused":
                read = agent.read_ahead(question)
            elif case == "partial":
                read = agent.read_ahead(_typed_part(question))
            read_ahead_s = time.perf_counter() - started
            started = time.perf_counter()
            first = None
            for event in agent.stream(question):
                if event.kind == "token" and first is None:
                    first = time.perf_counter() - started
                elif event.kind == "answer":
                    texts[case] = event.data["answer"].text
            rows.append({"id": row["id"], "lang": row["lang"], "case": case, "ttft_s": first, "read_ahead_s": read_ahead_s,
                         "tokens_read_ahead": read, "answer_s": time.perf_counter() - started})
            if progress:
                ttft = "-" if first is None else f"{first:.2f} s"
                print(f"[{i + 1}/{n}] {row['id']} {row['lang']} {case}: first token {ttft} (read ahead {read} tokens "
                      f"in {read_ahead_s:.2f} s)", file=sys.stderr, flush=True)
        for r in rows[-len(CASES):]:
            r["same_answer_as_none"] = texts.get(r["case"]) == texts.get("none")

    def p50(case: str, key: str = "ttft_s", lang: str | None = None) -> float | None:
        return pct([r[key] for r in rows if r["case"] == case and (lang is None or r["lang"] == lang)], 50)

    summary: dict[str, Any] = {}
    for case in CASES:
        summary[case] = {
            "ttft_s_p50": p50(case),
            **{f"ttft_s_p50_{lang}": p50(case, lang=lang) for lang in ("en", "zh")},
            "read_ahead_s_p50": p50(case, "read_ahead_s"),
            "tokens_read_ahead_p50": p50(case, "tokens_read_ahead"),
            "same_answer_as_none": sum(r["same_answer_as_none"] for r in rows if r["case"] == case) / max(1, n),
        }
    base = summary["none"]
    ratios = {
        f"ttft_{case}_over_none{suffix}": (summary[case][key] / base[key]) if base[key] else None
        for case in ("paused", "partial")
        for key, suffix in (("ttft_s_p50", ""), ("ttft_s_p50_en", "_en"), ("ttft_s_p50_zh", "_zh"))
    }
    return {
        "benchmark": "read_ahead",
        "n": n,
        "model": llm.model_id,
        "partial_share": PARTIAL_SHARE,
        **summary,
        **ratios,
        "machine": start_machine,
        "load_average_after": machine()["load_average"],
        "rows": rows,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=16, help="questions (languages alternating)")
    parser.add_argument("--out", type=Path)
    args = parser.parse_args(argv)
    if not 1 <= args.n <= 80:
        parser.error("--n must be between 1 and 80")
    result = run(args.n)
    return report(result, args.out)


if __name__ == "__main__":
    raise SystemExit(main())
