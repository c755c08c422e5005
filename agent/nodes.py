"""The agent graph's nodes and the routers between them.

route -> retrieve -> tools -> generate -> verify -> (finalize | generate once more | compose)
with refuse for out-of-scope questions, injection attempts and questions nothing relevant covers.
Nodes read their collaborators from ``runtime.context`` and report progress to the caller through
``runtime.stream_writer`` as ``{"kind": ..., "data": {...}}`` dicts (route, sources, tool, token,
repair), which ``ShoeAgent.stream`` turns into events.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, is_dataclass
from typing import Any, Literal

from langchain_core.messages import AIMessage, HumanMessage
from langgraph.runtime import Runtime

from shoeagent.agent import prompts
from shoeagent.agent.context import Context
from shoeagent.agent.llm import BackendError, ChatBackend
from shoeagent.agent.memory import follow_up_query, trim_history
from shoeagent.agent.router import with_shoe_said
from shoeagent.agent.safety import MAX_QUESTION_CHARS, clean_passage, clean_text, is_injection, leaks_prompt, neutralize
from shoeagent.agent.state import State
from shoeagent.agent.verify import (
    about_alternative,
    alternative_searches,
    answer_the_request,
    answer_whether_to_replace,
    answer_whether_to_see_a_doctor,
    attach_citations,
    citations,
    complete_key_facts,
    compose_answer,
    correct_citations,
    cover_alternatives,
    cover_contrast,
    cover_health,
    cover_question_materials,
    keep_steps_whole,
    lead_with_tools,
    names_alternative,
    normalize,
    restore_copied_sentences,
    say_what_instead,
    split_sentences,
    strip_tool_label,
    verify_draft,
)
from shoeagent.lang import detect_language

ROUTES = ("diagnosis", "prevention", "treatment", "general", "out_of_scope")
SEARCH_ROUTES = ("diagnosis", "prevention", "treatment", "general")
MAX_TOOL_CALLS = 3
SOURCE_CHARS = {"en": 420, "zh": 140}
"""The first source's text is cut to about this many characters in the prompt: prefill time is most of
the time to the first token, and Chinese costs about two tokens a character."""
LATER_SOURCE_SHARE = 0.5
"""Knowledge sources after the first get this share of SOURCE_CHARS (their key-fact sentences come
first): the answer rests mostly on the first, and the others cost as much prompt time. Tool results
keep the full budget."""
HISTORY_TOKENS = 300
SNIPPET_CHARS = 1000
"""Sources carry their passage (entries are a few sentences) so callers can show and check it."""


def _emit(runtime: Runtime[Context], kind: str, **data: Any) -> None:
    runtime.stream_writer({"kind": kind, "data": data})


def _get(obj: Any, name: str, default: Any = None) -> Any:
    """Read a field of a dataclass/pydantic object or a mapping (collaborators may return either)."""
    if isinstance(obj, Mapping):
        return obj.get(name, default)
    return getattr(obj, name, default)


def _plain(value: Any) -> Any:
    """A JSON-friendly copy (tool results may hold dataclasses)."""
    if is_dataclass(value) and not isinstance(value, type):
        return asdict(value)
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


# --------------------------------------------------------------------------- route


def route(state: State, runtime: Runtime[Context]) -> dict[str, Any]:
    """Start a turn: clean the question, resolve follow-ups, classify; reset the previous turn's fields."""
    notes: list[str] = []
    question = clean_text(state.question)
    if len(question) > MAX_QUESTION_CHARS:
        question = question[:MAX_QUESTION_CHARS]
        notes.append(f"question truncated to {MAX_QUESTION_CHARS} characters")
    lang = detect_language(question)
    retrieval_query, topic = follow_up_query(question, lang, list(state.messages))
    if retrieval_query != question:
        notes.append("follow-up: searched together with the previous question")

    reset: dict[str, Any] = {
        "question": question,
        "lang": lang,
        "retrieval_query": retrieval_query,
        "refused": False,
        "refusal_reason": "",
        "sources": [],
        "tool_calls": [],
        "planned_calls": [],
        "draft": "",
        "attempts": 0,
        "verify_reasons": [],
        "thin_draft": False,
        "repaired": False,
        "composed": False,
        "grounded": False,
        "cancelled": False,
        "answer": "",
        "tokens": 0,
        "backend": "",
        "model": "",
        "notes": [None, *notes],
        "messages": [HumanMessage(content=question, additional_kwargs={"topic": topic})],
    }
    if is_injection(question):
        _emit(runtime, "route", route="out_of_scope", health=False)
        return {**reset, "route": "out_of_scope", "health": False, "route_confidence": 1.0, "scope_confirmed": False,
                "refused": True, "refusal_reason": "injection"}

    decision = runtime.context.get_classify()(retrieval_query)
    name = str(_get(decision, "route", "general"))
    health = bool(_get(decision, "health", False))
    if name not in ROUTES:
        reset["notes"].append(f"router returned unknown route {name!r}; treated as general")
        name = "general"
    _emit(runtime, "route", route=name, health=health)
    out = {**reset, "route": name, "health": health, "route_confidence": float(_get(decision, "confidence", 0.0) or 0.0),
           "scope_confirmed": bool(_get(decision, "confirmed", False))}
    if name == "out_of_scope":
        out.update(refused=True, refusal_reason="out_of_scope")
    return out


def after_route(state: State) -> Literal["retrieve", "refuse"]:
    return "refuse" if state.refused else "retrieve"


# --------------------------------------------------------------------------- retrieve


def _source_from_hit(hit: Any, lang: str) -> dict[str, Any]:
    text = clean_passage(str(_get(hit, "text", "")))  # data, never instructions: see safety.clean_passage
    return {
        "id": str(_get(hit, "id", "")),
        "title": clean_passage(str(_get(hit, "title", ""))),
        "snippet": text[:SNIPPET_CHARS],
        "kind": "kb",
        "category": str(_get(hit, "category", "") or ""),
        "stage": str(_get(hit, "stage", "") or ""),
        "score": float(_get(hit, "score", 0.0) or 0.0),
        "text": text,
        "key_facts": [str(f) for f in (_get(hit, "key_facts", None) or [])],
        "lang": str(_get(hit, "lang", lang) or lang),
    }


def retrieve(state: State, runtime: Runtime[Context]) -> dict[str, Any]:
    """Route-aware knowledge search; keep what scores above the relevance threshold.

    The threshold is set to turn away out-of-domain questions. When the router's rules have already
    placed the question in the domain, that job is done and a lower bar (``confirmed_threshold``)
    only asks whether the knowledge base covers it; if nothing clears it and the question names a shoe
    material but no shoe, the search is repeated with the shoe said (:func:`~shoeagent.agent.router.with_shoe_said`).
    """
    ctx = runtime.context
    search = ctx.get_retriever()
    route_filter = state.route if state.route in SEARCH_ROUTES else None
    threshold = ctx.score_bar(state.scope_confirmed)

    def relevant(query: str) -> list[dict[str, Any]]:
        hits = search(query, k=ctx.k, route=route_filter, lang=state.lang)
        return [_source_from_hit(h, state.lang) for h in hits if float(_get(h, "score", 0.0) or 0.0) >= threshold]

    sources = relevant(state.retrieval_query)
    again = with_shoe_said(state.retrieval_query, state.lang) if not sources and state.scope_confirmed else None
    if again:  # the rules know this question is about shoes; say so to the knowledge base (see with_shoe_said)
        sources = relevant(again)
    sources = sources[: ctx.max_sources]
    if sources:
        sources = _with_each_alternative(sources, state, search, route_filter, threshold, ctx.max_sources)
    _emit(runtime, "sources", sources=sources)

    planned = [
        {"name": str(_get(c, "name")), "args": dict(_get(c, "args", {}) or {})}
        for c in ctx.get_planner()(state.retrieval_query, state.route)
    ]
    if not sources and not planned:
        return {"sources": [], "planned_calls": [], "refused": True, "refusal_reason": "no_sources"}
    return {"sources": sources, "planned_calls": planned}


def _with_each_alternative(
    sources: list[dict[str, Any]], state: State, search: Any, route_filter: str | None, threshold: float, limit: int
) -> list[dict[str, Any]]:
    """Make sure a passage about each alternative the question weighs ("alcohol or vinegar?") is among the sources.

    For each alternative no source's title names, the question is searched again about it alone
    (:func:`~shoeagent.agent.verify.alternative_searches`); the best of its top three whose title names
    the alternative joins the sources if it clears the bar, or the router's rules placed the question in the
    domain (the first search already found it answerable). It takes the place of the last source that
    names no alternative when the sources are full.
    """
    searches = alternative_searches(state.retrieval_query, state.lang)
    if not searches:
        return sources
    alternatives = [units for units, _ in searches]
    out = list(sources)
    for units, query in searches:
        if any(about_alternative(str(s["title"]), units, alternatives, state.lang) for s in out):
            continue
        taken = {s["id"] for s in out}
        hit = next((h for h in (_source_from_hit(x, state.lang) for x in search(query, k=3, route=route_filter, lang=state.lang))
                    if h["id"] not in taken and about_alternative(h["title"], units, alternatives, state.lang)), None)
        if hit is None or (hit["score"] < threshold and not state.scope_confirmed):
            continue
        if len(out) < limit:
            out.append(hit)
            continue
        spare = [i for i, s in enumerate(out) if i > 0 and not any(names_alternative(str(s["title"]), a, state.lang) for a in alternatives)]
        if spare:
            out[spare[-1]] = hit
    return out


def after_retrieve(state: State) -> Literal["tools", "refuse"]:
    return "refuse" if state.refused else "tools"


# --------------------------------------------------------------------------- tools


def _native_calls(llm: ChatBackend, state: State, ctx: Context) -> list[dict[str, Any]]:
    messages = [
        {"role": "system", "content": prompts.TOOL_SYSTEM_PROMPT},
        {"role": "user", "content": state.retrieval_query},
    ]
    return [{"name": c.name, "args": c.args} for c in llm.call_tools(messages, ctx.get_langchain_tools())]


def tools(state: State, runtime: Runtime[Context]) -> dict[str, Any]:
    """Run the tool calls (chosen natively by a tool-calling model, else by the planner); results become sources."""
    ctx = runtime.context
    llm = ctx.get_llm()
    notes: list[str] = []
    calls = state.planned_calls
    if llm.supports_tools:
        try:
            calls = _native_calls(llm, state, ctx)
        except BackendError as exc:
            notes.append(f"native tool calling failed ({exc}); used the planner")

    run_tool = ctx.get_run_tool()
    records: list[dict[str, Any]] = []
    sources = list(state.sources)
    seen: set[str] = set()
    for call in calls[:MAX_TOOL_CALLS]:
        key = f"{call['name']}:{sorted(call['args'].items())}"
        if key in seen:
            continue
        seen.add(key)
        result = run_tool(call["name"], call["args"])
        record = {
            "name": call["name"],
            "args": _plain(call["args"]),
            "result": _plain(_get(result, "result", {}) or {}),
            "error": _get(result, "error"),
        }
        records.append(record)
        _emit(runtime, "tool", call=record)
        if record["error"]:
            notes.append(f"tool {call['name']} could not run: {record['error']}")
            continue
        summary = strip_tool_label(neutralize(str(_get(result, "text_zh" if state.lang == "zh" else "text_en", "") or "")))
        if summary:
            sources.append({
                "id": f"tool:{call['name']}", "title": f"{'工具' if state.lang == 'zh' else 'Tool'} {call['name']}", "snippet": summary[:SNIPPET_CHARS],
                "kind": "tool", "category": "", "stage": "", "score": 1.0, "text": summary,
                "key_facts": [], "lang": state.lang,
            })
    if not sources:
        return {"tool_calls": records, "refused": True, "refusal_reason": "no_sources", "notes": notes}
    return {"tool_calls": records, "sources": sources, "notes": notes}


def after_tools(state: State) -> Literal["generate", "refuse"]:
    return "refuse" if state.refused else "generate"


# --------------------------------------------------------------------------- generate


def _prompt_text(source: Mapping[str, Any], limit: int, lang: str) -> str:
    """The source's text for the prompt: its key-fact sentences first, then the rest, within ``limit`` characters."""
    sentences = split_sentences(str(source["text"]), lang)
    facts = [normalize(f) for f in source.get("key_facts") or []]
    ranked = sorted(range(len(sentences)), key=lambda i: (not any(f in normalize(sentences[i]) for f in facts), i))
    chosen: list[int] = []
    used = 0
    for i in ranked:
        if chosen and used + len(sentences[i]) > limit:
            continue
        chosen.append(i)
        used += len(sentences[i])
    text = ("" if lang == "zh" else " ").join(sentences[i] for i in sorted(chosen))
    return text if len(text) <= limit else text[:limit].rsplit(" ", 1)[0] + "…"


def _fit_sources(sources: Sequence[Mapping[str, Any]], limit: int, lang: str) -> list[prompts.ContextItem]:
    """Sources as prompt items: the first knowledge source (and every tool result) within ``limit``
    characters, later knowledge sources within ``LATER_SOURCE_SHARE`` of it."""
    def budget(i: int, source: Mapping[str, Any]) -> int:
        return limit if i == 0 or source.get("kind") == "tool" else max(1, int(limit * LATER_SOURCE_SHARE))

    return [
        prompts.ContextItem(title=str(s["title"]), text=_prompt_text(s, budget(i, s), lang)) for i, s in enumerate(sources)
    ]


def build_messages(state: State, ctx: Context, llm: ChatBackend, *, redraft: bool) -> list[dict[str, str]]:
    """System prompt, the trimmed history of a follow-up, then sources + question (+ the redraft instruction).

    The redraft instruction comes last, so a redraft's prompt starts with the first draft's whole
    prompt and llama.cpp reuses its cached prefix instead of reading the sources again. Sources are
    shortened until prompt plus answer fit the model's context window.
    """
    system = ctx.system_prompt
    retry = ""
    if redraft:
        facts = [f for s in state.sources if s.get("kind") == "kb" for f in s.get("key_facts", [])][:6]
        template = prompts.RETRY_INSTRUCTION[state.lang]
        retry = "\n\n" + template.format(reasons="; ".join(state.verify_reasons), facts=", ".join(facts) or "-")
    history: list[dict[str, str]] = []
    previous = list(state.messages)[:-1]  # the last message is this turn's question
    if previous and state.retrieval_query != state.question:
        history = trim_history(previous, HISTORY_TOKENS, llm.count_tokens)
    budget = llm.context_window - ctx.max_tokens - 32
    limit = SOURCE_CHARS.get(state.lang, 600)
    while True:
        context = prompts.format_context(_fit_sources(state.sources, limit, state.lang))
        messages = [
            {"role": "system", "content": system},
            *history,
            {"role": "user", "content": prompts.build_user_message(state.question, context) + retry},
        ]
        used = sum(llm.count_tokens(m["content"]) + 4 for m in messages)
        if used <= budget or limit <= 60:
            return messages
        history, limit = [], limit // 2


def _stream_draft(llm: ChatBackend, messages: list[dict[str, str]], ctx: Context, runtime: Runtime[Context], temperature: float) -> str:
    pieces: list[str] = []
    for piece in llm.stream(messages, max_tokens=ctx.max_tokens, temperature=temperature, cancel=ctx.cancel):
        pieces.append(piece)
        _emit(runtime, "token", text=piece)
    return "".join(pieces)


def generate(state: State, runtime: Runtime[Context]) -> dict[str, Any]:
    """Draft the answer from the numbered sources, streaming tokens.

    If the backend fails mid-answer (Ollama gone), the embedded model answers instead (and keeps
    answering this turn's redraft); if that is impossible too the draft stays empty and verify
    sends the turn to composition.
    """
    ctx = runtime.context
    llm: ChatBackend = ctx.get_llm()
    if state.backend == "embedded" and llm.name != "embedded" and ctx.fallback_llm is not None:
        llm = ctx.fallback_llm()
    notes = list(llm.notes)
    redraft = state.attempts > 0
    if redraft:
        _emit(runtime, "repair", reason="; ".join(state.verify_reasons))
    temperature = 0.0 if redraft else ctx.temperature
    draft = ""
    while True:
        try:
            draft = _stream_draft(llm, build_messages(state, ctx, llm, redraft=redraft), ctx, runtime, temperature)
            break
        except BackendError as exc:
            if llm.name == "embedded" or ctx.fallback_llm is None:
                notes.append(f"the model failed: {exc}")
                break
            _emit(runtime, "repair", reason=f"{llm.name} failed; answering with the embedded model")
            notes.append(f"{llm.name} failed mid-answer ({exc}); answered with the embedded model")
            llm = ctx.fallback_llm()
            notes.extend(llm.notes)
    return {
        "draft": draft,
        "attempts": state.attempts + 1,
        "tokens": state.tokens + (llm.count_tokens(draft) if draft else 0),
        "backend": llm.name,
        "model": llm.model_id,
        "cancelled": bool(ctx.cancel is not None and ctx.cancel.is_set()),
        "notes": notes,
    }


# --------------------------------------------------------------------------- verify / compose


# What verify adds to a draft that passed, in this order, and the note each addition leaves. The computed
# result goes first before the last two, which may cite the same tool for its advice.
_ADDITIONS: tuple[tuple[Callable[[str, State], tuple[str, Any]], str], ...] = (
    (lambda d, s: complete_key_facts(d, s.sources, s.lang), "added the top source's key facts the draft left out"),
    (lambda d, s: cover_question_materials(d, s.sources, s.question, s.lang),
     "added what the sources say about the material asked about"),
    (lambda d, s: cover_alternatives(d, s.sources, s.question, s.lang),
     "added what the sources say about the alternative the draft left out"),
    (lambda d, s: cover_contrast(d, s.sources, s.question, s.lang),
     "the question asks which of two it is; added the passage that tells them apart"),
    (lambda d, s: lead_with_tools(d, s.sources, s.lang), "put the computed result the draft left out first"),
    (lambda d, s: answer_the_request(d, s.sources, s.question, s.lang),
     "the question asks what to do; added the treatment step the draft left out"),
    (lambda d, s: answer_whether_to_replace(d, s.sources, s.question, s.lang),
     "the question asks whether to replace; added when to, from"),
    (lambda d, s: answer_whether_to_see_a_doctor(d, s.sources, s.question, s.lang),
     "the question asks whether to see a doctor; added when to, from"),
    (lambda d, s: cover_health(d, s.sources, s.question, s.lang, s.health),
     "the question describes symptoms; added what the health passage says, from"),
    (lambda d, s: say_what_instead(d, s.sources, s.lang), "added what to do instead of what the answer forbids, from"),
    (lambda d, s: keep_steps_whole(d, s.sources, s.lang), "put back the numbered steps the answer skipped, from"),
)


def verify(state: State, runtime: Runtime[Context]) -> dict[str, Any]:
    """Check the draft against the sources (numbers, key facts, citations, language, length, loops)."""
    if state.cancelled:
        # Keep the partial draft only if it states nothing the sources don't support.
        partial = verify_draft(state.draft, state.sources, lang=state.lang, question=state.question)
        kept = "" if partial.unsupported_numbers else state.draft.strip()
        return {"answer": kept, "grounded": False, "notes": ["stopped before the answer was complete"]}
    draft = attach_citations(state.draft, state.sources)
    notes = ["citations attached to the draft by evidence"] if citations(draft) != citations(state.draft) else []
    draft, moved = correct_citations(draft, state.sources, state.lang)
    if moved:
        notes.append(f"citations moved to the source that says the sentence: {moved}")
    draft, restored = restore_copied_sentences(draft, state.sources, state.lang)
    if restored:
        notes.append(f"sentences copied with a slip given their source's words: {restored}")
    report = verify_draft(
        draft, state.sources, lang=state.lang, question=state.question, min_fact_share=runtime.context.min_fact_share
    )
    if report.ok:
        for step, note in _ADDITIONS:
            draft, used = step(draft, state)
            if used:
                notes.append(f"{note}: {used if isinstance(used, str) else ', '.join(used)}")
        return {"answer": draft, "grounded": True, "verify_reasons": [], "repaired": state.attempts > 1, "notes": notes}
    return {"verify_reasons": report.reasons, "thin_draft": report.thin, "repaired": True}


def after_verify(state: State, runtime: Runtime[Context]) -> Literal["finalize", "generate", "compose"]:
    """A rejected draft gets one bounded redraft, except a thin one (grounded, but too few key facts).

    Composition states exactly the top sources' key-fact sentences, which is what a thin draft lacks;
    a redraft of it rarely does better with the embedded model (on the agent evaluation, 3 of 30
    such redrafts passed, at 2.3 s each) while the other failures (copied layout, unsupported
    numbers, wrong language) were fixed by 4 of 14. ``Context.redraft_thin`` restores the redraft.
    """
    if state.cancelled or state.grounded:
        return "finalize"
    if state.thin_draft and not runtime.context.redraft_thin:
        return "compose"
    if state.draft and state.attempts <= runtime.context.max_retries:
        return "generate"
    return "compose"


def compose(state: State, runtime: Runtime[Context]) -> dict[str, Any]:
    """Build the answer deterministically from the sources' key-fact sentences, each cited."""
    _emit(runtime, "repair", reason="composed from the sources: " + "; ".join(state.verify_reasons))
    answer = compose_answer(state.sources, state.lang, question=state.retrieval_query)
    # verify's _ADDITIONS but two: composition already takes each alternative's passage (breadth first)
    # and puts the computed results first, so cover_alternatives and lead_with_tools have nothing to do.
    answer, _ = complete_key_facts(answer, state.sources, state.lang)  # composition keeps two sentences a source
    answer, _ = cover_question_materials(answer, state.sources, state.question, state.lang)
    answer, _ = answer_the_request(answer, state.sources, state.question, state.lang)
    answer, _ = cover_contrast(answer, state.sources, state.question, state.lang)
    answer, _ = answer_whether_to_replace(answer, state.sources, state.question, state.lang)
    answer, _ = answer_whether_to_see_a_doctor(answer, state.sources, state.question, state.lang)
    answer, _ = cover_health(answer, state.sources, state.question, state.lang, state.health)
    answer, _ = say_what_instead(answer, state.sources, state.lang)
    answer, _ = keep_steps_whole(answer, state.sources, state.lang)
    return {
        "answer": answer,
        "composed": True,
        "repaired": True,
        "grounded": bool(answer),
        "notes": [f"draft rejected ({'; '.join(state.verify_reasons)}); answer composed from the sources"],
    }


# --------------------------------------------------------------------------- refuse / finalize


def refuse(state: State, runtime: Runtime[Context]) -> dict[str, Any]:
    """A short polite refusal in the user's language saying what the agent can help with."""
    reason = state.refusal_reason or "out_of_scope"
    return {"answer": prompts.REFUSAL[reason][state.lang], "refused": True, "grounded": False, "sources": []}


def finalize(state: State, runtime: Runtime[Context]) -> dict[str, Any]:
    """Add the doctor recommendation to health questions and store the answer in the conversation."""
    answer = clean_text(state.answer)  # no control tokens, terminal escapes or invisible characters
    if leaks_prompt(answer, [runtime.context.system_prompt]):
        answer = prompts.REFUSAL["injection"][state.lang]
        return {"answer": answer, "refused": True, "refusal_reason": "injection", "grounded": False, "sources": [],
                "notes": ["the draft repeated the assistant's instructions; withheld"], "messages": [AIMessage(content=answer)]}
    if state.cancelled:
        answer = f"{answer} {prompts.CANCELLED_NOTE[state.lang]}".strip()
    if state.health and state.refusal_reason != "injection":
        answer = f"{answer}\n\n{prompts.HEALTH_ADVICE[state.lang]}"
    return {"answer": answer, "messages": [AIMessage(content=answer)]}
