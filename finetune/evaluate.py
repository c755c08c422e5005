"""`shoeagent eval model`: the seed's before/after table, measured on the evaluation split.

Base and LoRA model run the same way — both exported through the same pipeline and quantization
(``finetune.export``), both through llama.cpp, the same prompts (SYSTEM_PROMPT + the agent's
``build_user_message``), temperature 0 — and every answer is scored on the seed's 0-10 scale:

- completeness: share of the reference's key points present (its key facts, and its salient terms:
  numbers, content words, Chinese content bigrams);
- key_data_accuracy: key numbers and terms reproduced exactly, times the share of the answer's
  numbers that the reference, the sources or the question support (an invented number costs);
- semantic_consistency: chrF (character n-gram F-score, n = 1..6, beta = 2) against the reference;
- readability: finished (not cut off), no repetition loop, the question's language, a sane length,
  no leaked control tokens;
- response_time_s: mean wall-clock seconds per answer.
"""

from __future__ import annotations

import json
import re
import time
import unicodedata
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from shoeagent import paths
from shoeagent.lang import detect_language

METRICS = ("completeness", "key_data_accuracy", "semantic_consistency", "readability")
# The agent's answer budget. Chinese costs ~2.7x the tokens of English in SmolLM2's tokenizer (answers
# in the dataset: p50 191 / p90 287 tokens in zh, 72 / 107 in en), so 200 cut 4 in 10 Chinese answers.
MAX_TOKENS = 320
# The same decoding for both models; repeat_penalty matches the Modelfile (and the agent's default).
DECODING = {"temperature": 0.0, "top_k": 1, "top_p": 1.0, "repeat_penalty": 1.1, "max_tokens": MAX_TOKENS}
# The seed's row labels (Traditional Chinese, as in its table) with ours in brackets.
SEED_LABELS = {
    "completeness": "內容完整性 (completeness)",
    "key_data_accuracy": "關鍵數據準確度 (key-data accuracy)",
    "semantic_consistency": "語意一致性 (semantic consistency)",
    "readability": "答案可讀性 (readability)",
    "response_time_s": "回應時間 (秒) (response time, s)",
}


class EvalError(RuntimeError):
    """The evaluation cannot run (missing split, no model); the message says what to do."""


@dataclass
class EvalRow:
    """One evaluation example (a row of ``finetune/data/eval.jsonl``)."""

    instruction: str
    input: str
    output: str
    lang: str = "en"
    key_facts: list[str] = field(default_factory=list)
    entry_id: str = ""
    kind: str = ""


def packaged_eval_file() -> Path:
    return paths.packaged_adapter_dir().parent / "data" / "eval.jsonl"


def load_eval_rows(path: Path | None = None, limit: int = 0) -> list[EvalRow]:
    """The evaluation split (default: the packaged one); ``limit`` rows spread evenly over it (0 = all)."""
    path = Path(path) if path else packaged_eval_file()
    if not path.is_file():
        raise EvalError(f"no evaluation split at {path}; build the dataset with `shoeagent dataset` or pass --data FILE")
    rows = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            data = json.loads(line)
            rows.append(EvalRow(
                instruction=data["instruction"], input=data.get("input", ""), output=data["output"],
                lang=data.get("lang") or detect_language(data["instruction"]),
                key_facts=list(data.get("key_facts") or []), entry_id=data.get("entry_id", ""), kind=data.get("kind", ""),
            ))
        except (json.JSONDecodeError, KeyError, TypeError) as exc:
            raise EvalError(f"{path}:{number}: not an evaluation row ({exc})") from None
    if not rows:
        raise EvalError(f"{path} has no rows")
    if limit and limit < len(rows):
        # Evenly spaced rows, so a short run still mixes languages, kinds and categories.
        rows = [rows[i * len(rows) // limit] for i in range(limit)]
    return rows


# ---------------------------------------------------------------------------------------------------
# Text normalisation and terms

_CJK = r"\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"
_NUMBER = re.compile(r"\d+(?:\.\d+)?(?:\s*[-~]\s*\d+(?:\.\d+)?)?\s*(?:%|°c|°f)?")
_CITATION = re.compile(r"\[\d+\]")
_LIST_MARK = re.compile(r"(?m)^\s*\d+[.)]\s+")
_EN_STOP = frozenset(
    "a an the and or but if of to in on at by for with from as is are was were be been being it its this that these "
    "those there their they them you your we our not no so do does did can could should would will may might must "
    "have has had more most less than then when which what who how why where also very into over under about up out "
    "any all each some such only other same own just both few many much keep use used using make makes".split()
)
# Function characters whose bigrams carry little content in a Chinese sentence.
_ZH_FUNCTION = set("的了是在和與及或也就都而且但如果因為所以可以這那些個一不要會有讓把被將於為之其並很再更")
_CONTROL = re.compile(r"<\|[a-z_]+\|>|\ufffd")


def normalize(text: str) -> str:
    """NFKC, lower case, one kind of dash, no space inside ranges, percentages and degrees."""
    text = unicodedata.normalize("NFKC", text).lower()
    text = re.sub(r"[\u2010-\u2015\u2212～〜]", "-", text)
    text = re.sub(r"(?<=\d)\s*-\s*(?=\d)", "-", text)
    text = re.sub(r"(?<=\d)\s+(?=%|°)", "", text)
    text = re.sub(r"°\s*c\b", "°c", text)
    return text


def numbers(text: str) -> list[str]:
    """Numeric expressions (``70-90%``, ``24``, ``1:1`` as 1 and 1), citation markers and list numbers removed."""
    text = _LIST_MARK.sub(" ", _CITATION.sub(" ", normalize(text)))
    return [re.sub(r"\s+", "", m.group(0)) for m in _NUMBER.finditer(text)]


def _bare_numbers(text: str) -> set[str]:
    """Every plain number in the text (the parts of a range count separately)."""
    return set(re.findall(r"\d+(?:\.\d+)?", _LIST_MARK.sub(" ", _CITATION.sub(" ", normalize(text)))))


def content_terms(text: str) -> set[str]:
    """English content words (stemmed to 6 letters) and Chinese content bigrams."""
    norm = normalize(text)
    words = {w[:6] for w in re.findall(r"[a-z][a-z'-]+", norm) if len(w) >= 4 and w not in _EN_STOP}
    bigrams: set[str] = set()
    for run in re.findall(f"[{_CJK}]+", norm):
        for i in range(len(run) - 1):
            pair = run[i:i + 2]
            if not (set(pair) & _ZH_FUNCTION):
                bigrams.add(pair)
    return words | bigrams


def fact_present(fact: str, answer: str) -> bool:
    """A key fact counts as present verbatim (after normalisation), or with all its numbers and most of its words."""
    norm_fact, norm_answer = normalize(fact).strip(), normalize(answer)
    if not norm_fact:
        return True
    if norm_fact in norm_answer:
        return True
    fact_numbers = numbers(fact)
    if fact_numbers and not all(n in numbers(answer) for n in fact_numbers):
        return False
    terms = content_terms(fact)
    if not terms:
        return bool(fact_numbers)
    return len(terms & content_terms(answer)) / len(terms) >= 0.7


# ---------------------------------------------------------------------------------------------------
# Metrics (0-10)


def completeness(answer: str, reference: str, key_facts: Iterable[str] = ()) -> float:
    """10 x the share of the reference's key points in the answer: key facts weigh 60 %, salient terms 40 %."""
    facts = [f for f in key_facts if f.strip()]
    salient = content_terms(reference) | set(numbers(reference))
    answer_terms = content_terms(answer) | set(numbers(answer))
    term_recall = len(salient & answer_terms) / len(salient) if salient else 1.0
    if not facts:
        return round(10 * term_recall, 2)
    fact_recall = sum(fact_present(f, answer) for f in facts) / len(facts)
    return round(10 * (0.6 * fact_recall + 0.4 * term_recall), 2)


def key_data_accuracy(answer: str, reference: str, key_facts: Iterable[str] = (), context: str = "") -> float:
    """10 x (share of key numbers and terms reproduced exactly) x (share of the answer's numbers that are supported).

    Key data are the key facts and the numbers of the reference; an answer number counts as
    supported when the reference, the sources or the question contain it.
    """
    facts = [f for f in key_facts if f.strip()]
    norm_answer = normalize(answer)
    answer_numbers = numbers(answer)
    required = list(dict.fromkeys([normalize(f).strip() for f in facts] + numbers(reference)))
    found = sum(1 for item in required if item in norm_answer or item in answer_numbers)
    recall = found / len(required) if required else 1.0
    supported_pool = _bare_numbers(reference) | _bare_numbers(context)
    answer_bare = [n for expression in answer_numbers for n in re.findall(r"\d+(?:\.\d+)?", expression)]
    precision = sum(n in supported_pool for n in answer_bare) / len(answer_bare) if answer_bare else 1.0
    return round(10 * recall * precision, 2)


def chrf(hypothesis: str, reference: str, max_n: int = 6, beta: float = 2.0) -> float:
    """chrF (Popović 2015): character n-gram F-beta averaged over n = 1..max_n, whitespace ignored; 0..1."""
    hyp, ref = re.sub(r"\s+", "", normalize(hypothesis)), re.sub(r"\s+", "", normalize(reference))
    if not hyp or not ref:
        return 1.0 if hyp == ref else 0.0
    precisions, recalls = [], []
    for n in range(1, max_n + 1):
        hyp_grams = Counter(hyp[i:i + n] for i in range(len(hyp) - n + 1))
        ref_grams = Counter(ref[i:i + n] for i in range(len(ref) - n + 1))
        if not hyp_grams or not ref_grams:
            continue
        overlap = sum((hyp_grams & ref_grams).values())
        precisions.append(overlap / sum(hyp_grams.values()))
        recalls.append(overlap / sum(ref_grams.values()))
    if not precisions:
        return 0.0
    p, r = sum(precisions) / len(precisions), sum(recalls) / len(recalls)
    if p == 0 and r == 0:
        return 0.0
    return (1 + beta**2) * p * r / (beta**2 * p + r)


def semantic_consistency(answer: str, reference: str) -> float:
    """10 x chrF of the answer against the reference."""
    return round(10 * chrf(answer, reference), 2)


def repetition_ratio(text: str) -> float:
    """Share of repeated n-grams (word 4-grams for English, character 6-grams for Chinese): 0 = none."""
    norm = normalize(text)
    if detect_language(text) == "zh":
        units = [c for c in norm if not c.isspace()]
        n = 6
    else:
        units = re.findall(r"\w+", norm)
        n = 4
    grams = [tuple(units[i:i + n]) for i in range(len(units) - n + 1)]
    if len(grams) < 4:
        return 0.0
    return 1 - len(set(grams)) / len(grams)


def readability(answer: str, lang: str, finished: bool = True) -> float:
    """10 minus penalties: cut off (-2), repetition (up to -6), wrong language (-4), too short/long, leaked tokens."""
    text = answer.strip()
    if not text:
        return 0.0
    score = 10.0
    if not finished:
        score -= 2
    repeated = repetition_ratio(text)
    if repeated > 0.1:
        score -= min(6.0, 12 * (repeated - 0.1) + 2)
    if detect_language(text) != lang:
        score -= 4
    length = len(text) if lang == "zh" else len(text.split())
    if length < (8 if lang == "zh" else 5):
        score -= 3
    elif length > (600 if lang == "zh" else 300):
        score -= 1
    if _CONTROL.search(text):
        score -= 2
    return round(max(0.0, score), 2)


@dataclass
class AnswerScore:
    """One answer and its scores."""

    entry_id: str
    lang: str
    answer: str
    finished: bool
    seconds: float
    completeness: float
    key_data_accuracy: float
    semantic_consistency: float
    readability: float


def score_answer(row: EvalRow, answer: str, seconds: float, finished: bool = True) -> AnswerScore:
    context = f"{row.input}\n{row.instruction}"
    return AnswerScore(
        entry_id=row.entry_id, lang=row.lang, answer=answer, finished=finished, seconds=round(seconds, 3),
        completeness=completeness(answer, row.output, row.key_facts),
        key_data_accuracy=key_data_accuracy(answer, row.output, row.key_facts, context),
        semantic_consistency=semantic_consistency(answer, row.output),
        readability=readability(answer, row.lang, finished),
    )


def aggregate(scores: list[AnswerScore]) -> dict[str, float]:
    """Mean of each metric (0-10, two decimals), mean seconds per answer and n."""
    n = len(scores)
    result: dict[str, float] = {m: round(sum(getattr(s, m) for s in scores) / n, 2) if n else 0.0 for m in METRICS}
    result["response_time_s"] = round(sum(s.seconds for s in scores) / n, 3) if n else 0.0
    result["n"] = n
    return result


# ---------------------------------------------------------------------------------------------------
# Running the models


def prompt_messages(row: EvalRow) -> list[dict[str, str]]:
    """The agent's prompt for a row: SYSTEM_PROMPT and the user turn with its sources."""
    from shoeagent.agent.prompts import SYSTEM_PROMPT, build_user_message

    return [{"role": "system", "content": SYSTEM_PROMPT},
            {"role": "user", "content": build_user_message(row.instruction, row.input)}]


class _Answerer:
    """One GGUF loaded in llama.cpp, answering eval rows with the fixed decoding and scoring them."""

    def __init__(self, gguf: Path, threads: int = 0) -> None:
        from shoeagent.finetune.gguf_tools import captured_native_log
        from shoeagent.threads import flash_attention, llama_thread_args

        settings = llama_thread_args(gguf)  # the agent's thread rule, so timings match what users get
        if threads:
            settings["n_threads"] = threads
        from llama_cpp import Llama

        with captured_native_log():
            self.llm = Llama(model_path=str(gguf), n_ctx=2048, seed=0, flash_attn=flash_attention(), verbose=False, **settings)

    def answer(self, row: EvalRow) -> AnswerScore:
        """The row answered as the agent's embedded backend decodes (prompt lookup included, see
        ``agent/speculative.py``), or by llama-cpp-python for a GGUF without its own chat template."""
        from shoeagent.agent.llm import BackendError, chat_prompt_tokens, stream_tokens_text
        from shoeagent.agent.speculative import DecodeStats
        from shoeagent.threads import draft_tokens

        messages = prompt_messages(row)
        started = time.perf_counter()
        try:
            prompt = chat_prompt_tokens(self.llm, messages)
        except BackendError:
            response = self.llm.create_chat_completion(messages=messages, **DECODING)
            choice = response["choices"][0]
            text, finished = choice["message"]["content"] or "", choice.get("finish_reason") == "stop"
        else:
            stats = DecodeStats()
            decoding = {k: v for k, v in DECODING.items() if k != "temperature"}
            text = "".join(stream_tokens_text(self.llm, prompt, temperature=DECODING["temperature"], draft_tokens=draft_tokens(),
                                              stats=stats, **decoding))
            finished = stats.tokens < DECODING["max_tokens"]
        seconds = time.perf_counter() - started
        return score_answer(row, text.strip(), seconds, finished=finished)

    def close(self) -> None:
        from shoeagent.finetune.gguf_tools import captured_native_log

        with captured_native_log():
            self.llm.close()


def answer_rows(
    gguf: Path, rows: list[EvalRow], on_answer: Callable[[], None] | None = None, threads: int = 0
) -> list[AnswerScore]:
    """Answer every row with the GGUF through llama.cpp (chat template from the GGUF) and score it."""
    answerer = _Answerer(gguf, threads)
    scores = []
    try:
        for row in rows:
            scores.append(answerer.answer(row))
            if on_answer:
                on_answer()
    finally:
        answerer.close()
    return scores


@dataclass
class ModelEval:
    """Base vs LoRA on the same rows."""

    base: dict[str, float]
    lora: dict[str, float]
    models: dict[str, str]
    rows: int
    answers: dict[str, list[AnswerScore]] = field(default_factory=dict)
    threads: int = 0

    def summary(self) -> dict[str, dict[str, float]]:
        return {"base": self.base, "lora": self.lora}

    def to_dict(self) -> dict[str, Any]:
        from shoeagent.threads import draft_tokens

        return {
            "base": self.base, "lora": self.lora, "models": self.models, "rows": self.rows,
            "decoding": {**DECODING, "draft_tokens": draft_tokens()},
            "llama_cpp_threads": self.threads,
            "answers": {name: [asdict(a) for a in answers] for name, answers in self.answers.items()},
        }


def evaluate_ggufs(base: Path, lora: Path, rows: list[EvalRow], on_answer: Callable[[], None] | None = None) -> ModelEval:
    """Score both GGUFs on ``rows`` with the same decoding and thread count.

    Both models stay loaded and answer each row in turn (base, then LoRA, alternating), so a change
    in machine load during the run slows both alike and the response-time ratio stays fair.
    """
    from shoeagent.threads import decode_threads

    threads = max(decode_threads(base), decode_threads(lora))  # one decode thread count for both
    base_answerer = _Answerer(base, threads)
    try:
        lora_answerer = _Answerer(lora, threads)
        try:
            base_scores, lora_scores = [], []
            for row in rows:
                for answerer, scores in ((base_answerer, base_scores), (lora_answerer, lora_scores)):
                    scores.append(answerer.answer(row))
                    if on_answer:
                        on_answer()
        finally:
            lora_answerer.close()
    finally:
        base_answerer.close()
    return ModelEval(aggregate(base_scores), aggregate(lora_scores), {"base": str(base), "lora": str(lora)}, len(rows),
                     {"base": base_scores, "lora": lora_scores}, threads)


def improvement(before: float, after: float, lower_is_better: bool = False) -> float | None:
    """Relative change in percent (positive = better); None when ``before`` is 0."""
    if before == 0:
        return None
    change = (before - after) / before if lower_is_better else (after - before) / before
    return round(100 * change, 1)


def markdown_table(result: ModelEval) -> str:
    """The seed's table: metric, before LoRA, after LoRA, improvement (%)."""
    lines = ["| **評估指標 (metric)** | **LoRA 前 (base)** | **LoRA 後 (LoRA)** | **提升幅度 (%)** |",
             "|------------|------------|------------|------------|"]
    for metric in METRICS:
        before, after = result.base[metric], result.lora[metric]
        change = improvement(before, after)
        shown = "n/a" if change is None else f"{change:+.0f}%"
        lines.append(f"| **{SEED_LABELS[metric]}** | {before:.1f} | {after:.1f} | {shown} |")
    before, after = result.base["response_time_s"], result.lora["response_time_s"]
    change = improvement(before, after, lower_is_better=True)
    shown = "n/a" if change is None else (f"**提升 {change:.0f}%**" if change >= 0 else f"**變慢 {-change:.0f}%**")
    lines.append(f"| **{SEED_LABELS['response_time_s']}** | {before:.2f}s | {after:.2f}s | {shown} |")
    return "\n".join(lines) + f"\n\n{result.rows} evaluation rows, both models through llama.cpp, temperature 0.\n"


def bar_chart(result: ModelEval, path: Path) -> Path:
    """A PNG with the four quality metrics (0-10) and the response time, base vs LoRA."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 4), gridspec_kw={"width_ratios": [4, 1]})
    xs = range(len(METRICS))
    width = 0.38
    left.bar([x - width / 2 for x in xs], [result.base[m] for m in METRICS], width, label="base", color="#9aa5b1")
    left.bar([x + width / 2 for x in xs], [result.lora[m] for m in METRICS], width, label="LoRA", color="#2f7d6d")
    left.set_xticks(list(xs), ["completeness", "key data", "semantic", "readability"])
    left.set_ylim(0, 10)
    left.set_ylabel("score (0-10)")
    left.legend()
    left.set_title(f"shoemold: base vs LoRA ({result.rows} eval rows)")
    right.bar(["base", "LoRA"], [result.base["response_time_s"], result.lora["response_time_s"]], color=["#9aa5b1", "#2f7d6d"])
    right.set_title("seconds / answer")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def write_reports(result: ModelEval, output_dir: Path) -> dict[str, Path]:
    """``eval_model.json``, ``eval_model.md`` and ``eval_model.png`` in ``output_dir``."""
    output_dir.mkdir(parents=True, exist_ok=True)
    json_path = output_dir / "eval_model.json"
    json_path.write_text(json.dumps(result.to_dict(), indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    md_path = output_dir / "eval_model.md"
    md_path.write_text(markdown_table(result), encoding="utf-8")
    return {"json": json_path, "markdown": md_path, "chart": bar_chart(result, output_dir / "eval_model.png")}


def default_output_dir() -> Path:
    return paths.cache_dir() / "eval"


def prepare_models(adapter_dir: Path, report: Callable[[str], None] | None = None) -> tuple[Path, Path]:
    """(base GGUF, LoRA GGUF), exported through the same pipeline and quantization, reused when up to date.

    The LoRA model is the user's ``shoemold.gguf`` when it was built from ``adapter_dir`` (else it is
    built there for the packaged adapter, or under ``models/eval-lora`` for any other adapter); the
    base goes to ``models/eval-base`` in the LoRA model's quantization.
    """
    from shoeagent.finetune.export import DEFAULT_QUANTS, ExportOptions, export_model, read_manifest, up_to_date

    adapter_dir = Path(adapter_dir).resolve()
    packaged = adapter_dir == paths.packaged_adapter_dir().resolve()
    lora_dir = paths.models_dir() if packaged else paths.models_dir() / "eval-lora"
    manifest = read_manifest(lora_dir) or {}
    quants = tuple(manifest.get("export", {}).get("quants") or DEFAULT_QUANTS)
    lora = ExportOptions(adapter_dir=adapter_dir, quants=quants, output_dir=lora_dir)
    if not up_to_date(lora):
        lora = ExportOptions(adapter_dir=adapter_dir, quants=DEFAULT_QUANTS, output_dir=lora_dir)
        if not up_to_date(lora):
            export_model(lora, report)
    base = ExportOptions(adapter_dir=None, quants=lora.quants[:1], output_dir=paths.models_dir() / "eval-base",
                         name="base", write_modelfile=False)
    if not up_to_date(base):
        export_model(base, report)
    return base.resolved_output_dir() / base.gguf_names()[base.quants[0]], lora_dir / lora.gguf_names()[lora.quants[0]]
