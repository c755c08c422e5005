"""Scope measurement for the router: in-domain acceptance and out-of-scope refusal, per language.

Run ``python -m shoeagent.agent.router_eval`` (``--misses`` lists every wrong call, ``--json`` prints
the figures as JSON). No LLM, no index: only :func:`shoeagent.agent.router.classify` on

* ``finetune``  finetune/data/eval.jsonl: rows of kind ``refusal`` are out of scope, every other kind
  (grounded, not_covered, health) is an in-domain question; duplicate instructions count once;
* ``agent``     agent/eval/questions.jsonl: ``refuse`` marks the out-of-scope rows; route accuracy too;
* ``retrieval`` knowledge/eval/retrieval_ood.jsonl (all out of scope) plus retrieval_a/b.jsonl
  (kind ``ood`` out of scope, the rest in-domain). retrieval_c.jsonl (tuning data too), retrieval_d.jsonl and retrieval_f.jsonl (held out) are not read here.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from importlib import resources

from shoeagent.agent.router import classify


@dataclass(frozen=True)
class Case:
    source: str
    lang: str
    question: str
    in_domain: bool
    route: str | None = None  # expected in-domain route, where the set says


def _jsonl(package: str, name: str) -> Iterator[dict]:
    text = (resources.files(package) / name).read_text(encoding="utf-8")
    for line in text.splitlines():
        if line.strip():
            yield json.loads(line)


def load_cases() -> list[Case]:
    cases: list[Case] = []
    seen: set[tuple[str, str]] = set()

    def add(case: Case) -> None:
        key = (case.source, case.question.strip().lower())
        if key not in seen:
            seen.add(key)
            cases.append(case)

    for row in _jsonl("shoeagent.finetune", "data/eval.jsonl"):
        add(Case("finetune", row["lang"], row["instruction"], row["kind"] != "refusal"))
    for row in _jsonl("shoeagent.agent", "eval/questions.jsonl"):
        add(Case("agent", row["lang"], row["question"], not row["refuse"], row["route"]))
    for name in ("eval/retrieval_ood.jsonl", "eval/retrieval_a.jsonl", "eval/retrieval_b.jsonl"):
        for row in _jsonl("shoeagent.knowledge", name):
            add(Case("retrieval", row["lang"], row["query"], row.get("kind") != "ood" and bool(row.get("relevant"))))
    return cases


def _share(hits: int, total: int) -> str:
    return f"{hits / total:.3f} ({hits}/{total})" if total else "-"


def measure(cases: list[Case]) -> tuple[dict, list[tuple[Case, str, str]]]:
    figures: dict = {}
    misses: list[tuple[Case, str, str]] = []
    for case in cases:
        decision = classify(case.question)
        refused = decision.route == "out_of_scope"
        cell = figures.setdefault(case.source, {}).setdefault(
            case.lang, {"in_total": 0, "accepted": 0, "ood_total": 0, "refused": 0, "routed": 0, "route_total": 0}
        )
        if case.in_domain:
            cell["in_total"] += 1
            cell["accepted"] += not refused
            if case.route:
                cell["route_total"] += 1
                cell["routed"] += decision.route == case.route
        else:
            cell["ood_total"] += 1
            cell["refused"] += refused
        if refused == case.in_domain:
            misses.append((case, decision.route, decision.reason))
    return figures, misses


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--misses", action="store_true", help="list false refusals and accepted OOD questions")
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    args = parser.parse_args(argv)
    figures, misses = measure(load_cases())
    if args.json:
        print(json.dumps(figures, indent=2, sort_keys=True))
    else:
        print(f"{'set':<10} {'lang':<4} {'in-domain accepted':<22} {'OOD refused':<20} route accuracy")
        for source, by_lang in figures.items():
            for lang, c in sorted(by_lang.items()):
                print(f"{source:<10} {lang:<4} {_share(c['accepted'], c['in_total']):<22} "
                      f"{_share(c['refused'], c['ood_total']):<20} {_share(c['routed'], c['route_total'])}")
    if args.misses:
        for case, route, reason in misses:
            kind = "FALSE REFUSAL" if case.in_domain else "OOD ACCEPTED "
            print(f"{kind} [{case.source}/{case.lang}] -> {route} ({reason}): {case.question}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
