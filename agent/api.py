"""The public Python API: ``ShoeAgent`` (ask / stream / aask), ``Answer`` and friends, and ``ask()``.

    >>> from shoeagent import ShoeAgent
    >>> agent = ShoeAgent()                       # backend="auto": Ollama's shoemold, else embedded
    >>> answer = agent.ask("How do I keep leather boots from going moldy?", thread_id="demo")
    >>> print(answer.text); print([s.title for s in answer.sources])

Questions with a ``thread_id`` continue that conversation (LangGraph checkpoints in the chat
database) and are recorded in the chat list the terminal UI shows.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any, Literal

from shoeagent.agent.safety import check_question, check_thread_id, redact

log = logging.getLogger("shoeagent.agent")


@dataclass
class Source:
    """One citable item, numbered in the order of ``Answer.sources`` ([1] is sources[0])."""

    id: str
    title: str
    snippet: str
    kind: str
    category: str = ""
    stage: str = ""
    score: float = 0.0

    @classmethod
    def from_state(cls, item: dict[str, Any]) -> Source:
        names = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in item.items() if k in names})


@dataclass
class ToolCallRecord:
    name: str
    args: dict
    result: dict
    error: str | None = None


@dataclass
class Answer:
    text: str
    route: str
    refused: bool
    sources: list[Source]
    tool_calls: list[ToolCallRecord]
    grounded: bool
    backend: str
    model: str
    latency_ms: float
    thread_id: str | None = None
    lang: str = "en"
    health: bool = False
    repaired: bool = False
    tokens: int = 0
    notes: list[str] = field(default_factory=list)
    # What went wrong when no real answer could be made ("ValueError: …"; the text then apologises):
    # lets a caller (`shoeagent ask --json`, a script) tell a failure from an answer.
    error: str | None = None

    def to_dict(self) -> dict:
        """A JSON-serialisable dict (sources and tool calls as dicts)."""
        return asdict(self)


@dataclass
class Event:
    kind: Literal["route", "sources", "tool", "token", "repair", "answer", "error"]
    data: dict


def _event(kind: str, data: dict[str, Any]) -> Event:
    """Turn a node's stream payload into a public event (typed sources and tool calls)."""
    if kind == "sources":
        return Event("sources", {"sources": [Source.from_state(s) for s in data.get("sources", [])]})
    if kind == "tool":
        return Event("tool", {"call": ToolCallRecord(**data["call"])})
    return Event(kind, dict(data))  # type: ignore[arg-type]


class ShoeAgent:
    """The shoe-mold agent: retrieval + tools + a small model + verification, with memory per thread.

    ``backend`` is "auto", "embedded" or "ollama"; ``model`` an Ollama model name or a GGUF path.
    ``home`` puts the chat database (memory) in that directory instead of SHOEAGENT_HOME.
    The keyword-only collaborators (``llm``, ``retriever``, ``classify``, ``plan_tool_calls``,
    ``run_tool``, ``langchain_tools``, ``relevance_threshold``) replace the real ones, for tests.
    ``fallback``: when Ollama dies mid-answer, finish with the embedded model (True), with the
    backend a callable returns, or not at all (False: the answer is composed from the sources).
    """

    def __init__(
        self,
        backend: str = "auto",
        model: str | None = None,
        *,
        k: int = 4,
        home: str | Path | None = None,
        max_retries: int = 1,
        max_tokens: int = 320,
        llm: Any = None,
        fallback: bool | Callable[[], Any] = True,
        retriever: Callable[..., Sequence[Any]] | None = None,
        relevance_threshold: float | None = None,
        classify: Callable[[str], Any] | None = None,
        plan_tool_calls: Callable[[str, str], Sequence[Any]] | None = None,
        run_tool: Callable[[str, dict], Any] | None = None,
        langchain_tools: Callable[[], list[Any]] | None = None,
    ) -> None:
        if backend not in ("auto", "embedded", "ollama"):
            raise ValueError(f"Unknown backend {backend!r}; use auto, embedded or ollama.")
        self._backend = backend
        self._model = model
        self._llm = llm
        self._fallback = fallback
        self._db_path = Path(home).expanduser() / "chat.sqlite" if home is not None else None
        self._settings = {"k": k, "max_sources": min(k, 3), "max_retries": max_retries, "max_tokens": max_tokens}
        self._collaborators = {
            "retriever": retriever,
            "relevance_threshold": relevance_threshold,
            "classify": classify,
            "plan_tool_calls": plan_tool_calls,
            "run_tool": run_tool,
            "langchain_tools": langchain_tools,
        }
        self._lock = threading.Lock()
        self._graphs: dict[bool, Any] = {}
        self._store: Any = None

    # ---- backend

    def _get_llm(self) -> Any:
        with self._lock:
            if self._llm is None:
                from shoeagent.agent.llm import resolve_backend

                self._llm = resolve_backend(self._backend, self._model)
            return self._llm

    @property
    def backend_name(self) -> str:
        return self._get_llm().name

    @property
    def model_name(self) -> str:
        return self._get_llm().model_id

    @property
    def backend_notes(self) -> list[str]:
        """What the user should know about the backend in use (the base model standing in for an unbuilt GGUF)."""
        return list(getattr(self._get_llm(), "notes", None) or [])

    def warm_up(self) -> None:
        """Pick the backend and load its model now, reading the system prompt ahead where the backend
        can, then build the graph and load the router and the knowledge index (the TUI calls this in
        the background). Those take seconds (LangGraph's import, the router's tables, Chroma, the
        lexical indexes, the speller), which the first question would otherwise wait for. A part that
        fails to load is left for that question to report: the model is ready either way."""
        context = self._context(None)
        self._get_llm().warm_up(system_prompt=context.system_prompt)
        try:
            self._graph(with_memory=False)
            context.get_classify()("shoe mold")
            context.get_retriever()("shoe mold", k=1)
        except Exception as exc:  # the first question builds, routes and searches again and says what is wrong
            log.warning("the agent did not fully load ahead of the first question: %s", exc)

    def read_ahead(self, question: str, thread_id: str | None = None, cancel: threading.Event | None = None) -> int:
        """Have the model read the prompt ``question`` would get, before it is asked; the number of
        tokens read (0 when the backend cannot keep them, or the question would be refused).

        The chat calls this while the user types (see :mod:`shoeagent.agent.read_ahead`), so that
        when the question is sent its answer starts after reading only what changed. It is only a
        head start: it never raises, records nothing, and ``cancel`` stops it within one chunk.
        """
        try:
            llm = self._get_llm()
            if not llm.reads_ahead:
                return 0
            from shoeagent.agent.read_ahead import prompt_for

            text = check_question(question)
            thread_id = check_thread_id(thread_id)
            history = self.history(thread_id) if thread_id else []
            if cancel is not None and cancel.is_set():
                return 0
            messages = prompt_for(text, history, self._context(cancel))
            return llm.prefill(messages, cancel=cancel) if messages else 0
        except Exception as exc:  # noqa: BLE001 - the question itself will meet and report any problem
            log.info("read-ahead skipped: %s: %s", type(exc).__name__, redact(str(exc)))
            return 0

    def _fallback_llm(self) -> Any:
        from shoeagent.agent.llm import cached_embedded_backend

        return cached_embedded_backend(None)

    # ---- graph and memory

    def _graph(self, with_memory: bool) -> Any:
        with self._lock:
            graph = self._graphs.get(with_memory)
            if graph is None:
                from shoeagent.agent.graph import compile_graph
                from shoeagent.agent.memory import open_checkpointer

                graph = compile_graph(open_checkpointer(self._db_path) if with_memory else None)
                self._graphs[with_memory] = graph
            return graph

    @property
    def chats(self) -> Any:
        """The ChatStore of this agent's chat database."""
        with self._lock:
            if self._store is None:
                from shoeagent.agent.memory import ChatStore

                self._store = ChatStore(self._db_path)
            return self._store

    def history(self, thread_id: str) -> list[Any]:
        """The conversation messages LangGraph keeps for ``thread_id`` (empty for a new thread)."""
        snapshot = self._graph(True).get_state({"configurable": {"thread_id": thread_id}})
        return list((snapshot.values or {}).get("messages", []))

    def _context(self, cancel: threading.Event | None) -> Any:
        from shoeagent.agent.context import Context

        return Context(
            backend=self._backend,
            model=self._model or "",
            llm=self._get_llm(),
            fallback_llm=self._fallback if callable(self._fallback) else (self._fallback_llm if self._fallback else None),
            cancel=cancel,
            **self._settings,
            **self._collaborators,
        )

    # ---- asking

    def stream(
        self, question: str, thread_id: str | None = None, cancel: threading.Event | None = None
    ) -> Iterator[Event]:
        """Events as the answer forms: route, sources, tool…, token…, (repair), then exactly one "answer".

        The answer event's text is final; it may differ from the streamed tokens when verify
        repaired the draft (a "repair" event says so). ValueError for an empty or too long question,
        BackendError when the requested backend cannot be used, StoreUnavailableError when the Chroma
        server (CHROMA_HOST) does not answer.
        """
        text = check_question(question)
        thread_id = check_thread_id(thread_id)
        try:
            self._get_llm()  # an unusable backend (Ollama asked for but absent) raises here, not mid-stream
        except Exception as exc:
            message = redact(str(exc))
            if message == str(exc):
                raise
            try:  # never pass on a credential from OLLAMA_HOST or the like
                clean = type(exc)(message)
            except Exception:  # noqa: BLE001 - an exception type that needs other arguments
                clean = RuntimeError(message)
            raise clean from None
        self._check_store()
        return self._run(text, thread_id, cancel)

    def _check_store(self) -> None:
        """Connect to the Chroma server (CHROMA_HOST) before answering: one that does not answer is a
        StoreUnavailableError saying how to fix it, raised here like an unusable backend, rather than
        an answer that apologises. The client is kept, so this costs nothing after the first question."""
        if self._collaborators["retriever"] is not None:
            return
        from shoeagent.knowledge.store import default_knowledge_base

        store = default_knowledge_base()
        if store.host:
            store.client()

    def _run(self, question: str, thread_id: str | None, cancel: threading.Event | None) -> Iterator[Event]:
        started = time.perf_counter()
        final: dict[str, Any] = {}
        error: str | None = None
        try:
            config = {"configurable": {"thread_id": thread_id}} if thread_id else {}
            graph = self._graph(thread_id is not None)
            # With memory, checkpoint once at the end of the turn rather than after every node.
            options = {"durability": "exit"} if thread_id else {}
            for mode, chunk in graph.stream(
                {"question": question},
                config,
                context=self._context(cancel),
                stream_mode=["custom", "values"],
                **options,
            ):
                if mode == "custom":
                    yield _event(chunk["kind"], chunk["data"])
                else:
                    final = chunk
        except Exception as exc:  # noqa: BLE001 - the caller always gets an answer event
            error = redact(f"{type(exc).__name__}: {exc}")
            yield Event("error", {"message": error})
        answer = self._answer(question, final, thread_id, 1000 * (time.perf_counter() - started), error)
        if thread_id and error is None:
            self.chats.add_turn(thread_id, question, answer.to_dict())
        yield Event("answer", {"answer": answer})

    def _answer(
        self, question: str, state: dict[str, Any], thread_id: str | None, latency_ms: float, error: str | None
    ) -> Answer:
        from shoeagent.lang import detect_language

        lang = state.get("lang") or detect_language(question)
        llm = self._llm
        notes = [redact(note) for note in state.get("notes") or []]
        from shoeagent.agent.memory import take_notices

        notes += take_notices()  # a damaged chat database moved aside and started afresh
        if error is not None:
            notes.append(error)
        text = state.get("answer", "") if error is None else (
            "抱歉，處理這個問題時發生錯誤：" if lang == "zh" else "Sorry, something went wrong while answering: "
        ) + error
        return Answer(
            text=text,
            route=state.get("route", "general"),
            refused=bool(state.get("refused", False)),
            sources=[Source.from_state(s) for s in state.get("sources", [])] if error is None else [],
            tool_calls=[ToolCallRecord(**t) for t in state.get("tool_calls", [])],
            grounded=bool(state.get("grounded", False)) and error is None,
            backend=state.get("backend") or (llm.name if llm is not None else self._backend),
            model=state.get("model") or (llm.model_id if llm is not None else ""),
            latency_ms=round(latency_ms, 1),
            thread_id=thread_id,
            lang=lang,
            health=bool(state.get("health", False)),
            repaired=bool(state.get("repaired", False)),
            tokens=int(state.get("tokens", 0)),
            notes=notes,
            error=error,
        )

    def ask(self, question: str, thread_id: str | None = None) -> Answer:
        """Answer one question (continuing ``thread_id``'s conversation when given)."""
        answer = None
        for event in self.stream(question, thread_id):
            if event.kind == "answer":
                answer = event.data["answer"]
        assert answer is not None  # _run always ends with an answer event
        return answer

    async def aask(self, question: str, thread_id: str | None = None) -> Answer:
        """``ask`` in a worker thread, for asyncio callers."""
        return await asyncio.to_thread(self.ask, question, thread_id)


_DEFAULT_AGENTS: dict[tuple, ShoeAgent] = {}
_DEFAULT_LOCK = threading.Lock()


def ask(question: str, **kwargs: Any) -> Answer:
    """Ask with a shared default agent; ``thread_id`` continues a chat, other kwargs configure the agent."""
    thread_id = kwargs.pop("thread_id", None)
    key = tuple(sorted(kwargs.items()))
    with _DEFAULT_LOCK:
        agent = _DEFAULT_AGENTS.get(key)
        if agent is None:
            agent = _DEFAULT_AGENTS[key] = ShoeAgent(**kwargs)
    return agent.ask(question, thread_id=thread_id)
