"""Model backends: small objects that stream a chat completion, with capability flags.

* ``EmbeddedBackend`` runs a GGUF in-process with llama.cpp: the built ``shoemold`` GGUF when it
  exists, else the base SmolLM2-135M-Instruct (noted). One engine per process, loaded on first use;
  generation is serialised by a lock because a llama.cpp context is not re-entrant.
* ``LangChainBackend`` wraps any LangChain chat model; ``OllamaBackend`` is one around
  ``ChatOllama`` (model ``shoemold``) with native tool calling when the model supports tools.
* ``resolve_backend("auto")`` picks Ollama when it answers quickly and serves ``shoemold``, else
  the embedded model.

Messages are OpenAI-style dicts (``{"role": ..., "content": ...}``), which both llama.cpp and
LangChain accept. Heavy libraries are imported inside functions.
"""

from __future__ import annotations

import http.client
import json
import logging
import os
import re
import threading
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

from shoeagent import paths

log = logging.getLogger("shoeagent.agent")

CHATML_STOPS = ["<|im_end|>", "<|im_start|>", "<|endoftext|>"]
DEFAULT_OLLAMA_HOST = "http://127.0.0.1:11434"
BASE_MODEL_LABEL = "SmolLM2-135M-Instruct (base, shoemold GGUF not built)"
BASE_MODEL_NOTE = "shoemold GGUF not built; using the base model (build it with `shoeagent export --if-missing`)"
# Ollama requests: connecting must be quick (a local server); a read may wait for the model to load,
# but a server that stops sending for this long counts as gone (the embedded model then finishes).
OLLAMA_CONNECT_TIMEOUT = 5.0
OLLAMA_READ_TIMEOUT = 120.0


class BackendError(RuntimeError):
    """The model backend failed (server gone, stream cut off); the message says which and why."""


@dataclass
class ToolCallRequest:
    """A tool call the model asked for natively."""

    name: str
    args: dict[str, Any]


@dataclass
class ChatBackend:
    """Base of all backends: name, model id, capabilities and the streaming interface."""

    name: str
    model_id: str
    supports_tools: bool = False
    can_stream: bool = True
    context_window: int = 4096
    notes: list[str] = field(default_factory=list)
    reads_ahead: ClassVar[bool] = False
    """:meth:`prefill` keeps what it reads for the next answer (the embedded backend)."""

    def stream(
        self,
        messages: Sequence[dict[str, str]],
        *,
        max_tokens: int = 200,
        temperature: float = 0.2,
        cancel: threading.Event | None = None,
    ) -> Iterator[str]:
        """Yield the answer piece by piece; raise BackendError when the backend fails."""
        raise NotImplementedError

    def execute(self, messages: Sequence[dict[str, str]], **kwargs: Any) -> str:
        """The whole completion as one string."""
        return "".join(self.stream(messages, **kwargs))

    def call_tools(self, messages: Sequence[dict[str, str]], tools: list[Any]) -> list[ToolCallRequest]:
        """Let the model pick tool calls natively (only when ``supports_tools``)."""
        raise BackendError(f"the {self.name} backend has no native tool calling")

    def count_tokens(self, text: str) -> int:
        """Token count of ``text``; a rough estimate unless the backend has a tokenizer."""
        cjk = len(re.findall(r"[\u3000-\u9fff\uff00-\uffef]", text))
        return cjk * 2 + (len(text) - cjk) // 4 + 1

    def warm_up(self, system_prompt: str | None = None) -> None:
        """Load whatever the first answer would otherwise wait for (the embedded backend also reads
        ``system_prompt`` ahead, see :meth:`EmbeddedBackend.cache_system_prompt`)."""

    def prefill(self, messages: Sequence[dict[str, str]], *, cancel: threading.Event | None = None) -> int:
        """Read the prompt of ``messages`` ahead of its answer, where the backend can keep it; returns
        the number of tokens read (0: this backend reads nothing ahead)."""
        return 0


# --------------------------------------------------------------------------- embedded (llama.cpp)

PREFILL_CHUNK = 128
"""Tokens per llama.cpp call when reading a prompt ahead (:meth:`EmbeddedBackend.prefill`): about a
quarter of a second here, and as fast per token as one call for the whole prompt."""

_ENGINE_LOCK = threading.Lock()
_GENERATION_LOCK = threading.Lock()
_ENGINES: dict[str, Any] = {}


def _load_engine(path: Path, n_ctx: int) -> Any:
    """The process-wide llama.cpp engine for ``path``, loaded once."""
    key = str(path)
    with _ENGINE_LOCK:
        engine = _ENGINES.get(key)
        if engine is None:
            from shoeagent.llama_probe import LlamaCrashError, ensure_llama_cpp_runs
            from shoeagent.threads import flash_attention, llama_thread_args

            try:  # a build that crashes on this CPU would take the whole process down on the first prompt
                ensure_llama_cpp_runs(key)
            except LlamaCrashError as exc:
                raise BackendError(str(exc)) from exc
            threads = llama_thread_args(key)  # before llama_cpp loads: it sets OpenMP's wait policy
            from llama_cpp import Llama

            engine = Llama(
                model_path=key, n_ctx=n_ctx, n_batch=512, seed=42, flash_attn=flash_attention(), verbose=False, **threads
            )
            _ENGINES[key] = engine
        return engine


@dataclass
class EmbeddedBackend(ChatBackend):
    """llama.cpp in-process on a GGUF (ChatML template from the file's metadata)."""

    path: Path = field(default_factory=lambda: Path())
    repeat_penalty: float = 1.15
    draft_tokens: int | None = None
    """Guessed tokens per model step (prompt lookup, ``agent/speculative.py``); None: ``SHOEAGENT_DRAFT_TOKENS``."""
    last_decode: Any = None
    """The :class:`~shoeagent.agent.speculative.DecodeStats` of the latest generation."""
    reads_ahead: ClassVar[bool] = True

    def engine(self) -> Any:
        return _load_engine(self.path, self.context_window)

    def warm_up(self, system_prompt: str | None = None) -> None:
        self.engine()
        if system_prompt:
            self.cache_system_prompt(system_prompt)

    def cache_system_prompt(self, system_prompt: str) -> None:
        """Read the system prompt into llama.cpp's cache ahead of the first question.

        Every answer's prompt starts with it, and llama.cpp skips the longest prefix it still holds,
        so the first answer then reads only its sources and question, like every later one does.
        """
        self.prefill([{"role": "system", "content": system_prompt}, {"role": "user", "content": ""}])

    def prompt_tokens(self, messages: Sequence[dict[str, str]]) -> list[int]:
        """The tokens ``create_chat_completion`` gives llama.cpp for ``messages`` (see :func:`chat_prompt_tokens`)."""
        return chat_prompt_tokens(self.engine(), messages, self.path.name)

    def prefill(self, messages: Sequence[dict[str, str]], *, cancel: threading.Event | None = None) -> int:
        """Read the prompt of ``messages`` into llama.cpp's cache, PREFILL_CHUNK tokens at a time.

        A later answer whose prompt starts the same way reads only the rest: llama.cpp keeps the
        longest prefix it holds. The prompt's last token is left for that answer to read, so its
        logits come from a live decode. ``cancel`` stops between chunks (what was read stays cached),
        so a question sent mid-way waits at most one chunk. Tokens the cache already holds are not
        read again.
        """
        try:
            tokens = self.prompt_tokens(messages)[:-1]
        except (ValueError, RuntimeError) as exc:  # BackendError included: nothing is read ahead
            log.info("prefill skipped: %s", exc)
            return 0
        from shoeagent.agent.speculative import cached_prefix

        engine = self.engine()
        if len(tokens) >= engine.n_ctx():
            return 0  # the answer itself will report the overflow
        read = 0
        with _GENERATION_LOCK:
            start = cached_prefix(engine, tokens)
            engine.n_tokens = start  # eval() drops the cache beyond this point before reading on
            try:
                for first in range(start, len(tokens), PREFILL_CHUNK):
                    if cancel is not None and cancel.is_set():
                        break
                    chunk = tokens[first : first + PREFILL_CHUNK]
                    engine.eval(chunk)
                    read += len(chunk)
            except (ValueError, RuntimeError) as exc:
                engine.reset()
                raise BackendError(f"llama.cpp failed: {exc}") from exc
        return read

    def count_tokens(self, text: str) -> int:
        return len(self.engine().tokenize(text.encode("utf-8"), add_bos=False, special=False))

    def stream(
        self,
        messages: Sequence[dict[str, str]],
        *,
        max_tokens: int = 200,
        temperature: float = 0.2,
        cancel: threading.Event | None = None,
    ) -> Iterator[str]:
        from shoeagent.agent.speculative import DecodeStats
        from shoeagent.threads import draft_tokens

        engine = self.engine()
        try:
            prompt = self.prompt_tokens(messages)
        except BackendError:  # a GGUF without its own chat template: llama-cpp-python's formatter, one token per step
            yield from self._stream_chat_completion(messages, max_tokens=max_tokens, temperature=temperature, cancel=cancel)
            return
        stats = DecodeStats()
        # One generation at a time: concurrent callers queue here instead of corrupting the KV cache.
        with _GENERATION_LOCK:
            try:
                yield from stream_tokens_text(
                    engine, prompt, max_tokens=max_tokens, temperature=temperature, top_p=0.9, repeat_penalty=self.repeat_penalty,
                    draft_tokens=self.draft_tokens if self.draft_tokens is not None else draft_tokens(), cancel=cancel, stats=stats,
                )
            finally:
                self.last_decode = stats

    def _stream_chat_completion(
        self, messages: Sequence[dict[str, str]], *, max_tokens: int, temperature: float, cancel: threading.Event | None
    ) -> Iterator[str]:
        engine = self.engine()
        with _GENERATION_LOCK:
            try:
                chunks = engine.create_chat_completion(
                    messages=list(messages), stream=True, max_tokens=max_tokens, temperature=temperature, top_p=0.9,
                    repeat_penalty=self.repeat_penalty, stop=CHATML_STOPS, seed=42,
                )
            except (ValueError, RuntimeError) as exc:
                raise BackendError(f"llama.cpp could not start: {exc}") from exc
            try:
                for chunk in chunks:
                    if cancel is not None and cancel.is_set():
                        break
                    piece = chunk["choices"][0]["delta"].get("content")
                    if piece:
                        yield piece
            except (ValueError, RuntimeError) as exc:  # context overflow, decode failure
                raise BackendError(f"llama.cpp failed: {exc}") from exc
            finally:
                chunks.close()


def chat_prompt_tokens(engine: Any, messages: Sequence[dict[str, str]], name: str = "this GGUF") -> list[int]:
    """The tokens ``create_chat_completion`` gives llama.cpp for ``messages``: the GGUF's own chat
    template, rendered and tokenized the way llama-cpp-python's template handler does it. A
    BackendError when the GGUF has no template of its own."""
    from llama_cpp.llama_chat_format import Jinja2ChatFormatter

    template = engine.metadata.get("tokenizer.chat_template")
    if engine.chat_format != "chat_template.default" or not template:
        raise BackendError(f"{name} answers through chat format {engine.chat_format!r}, not its own template")

    def text(token: int) -> str:
        return engine._model.token_get_text(token) if token != -1 else ""

    formatter = Jinja2ChatFormatter(template=template, eos_token=text(engine.token_eos()), bos_token=text(engine.token_bos()))
    result = formatter(messages=list(messages))
    return engine.tokenize(result.prompt.encode("utf-8"), add_bos=not result.added_special, special=True)


def stop_ids(engine: Any) -> set[int]:
    """The token ids that end an answer: the end-of-text token and each ChatML stop that is one token."""
    ids = {engine.token_eos()}
    for stop in CHATML_STOPS:
        tokens = engine.tokenize(stop.encode("utf-8"), add_bos=False, special=True)
        if len(tokens) == 1:
            ids.add(tokens[0])
    return ids


def stream_tokens_text(
    engine: Any,
    prompt: Sequence[int],
    *,
    max_tokens: int,
    temperature: float,
    top_p: float,
    repeat_penalty: float,
    draft_tokens: int,
    top_k: int = 40,
    cancel: threading.Event | None = None,
    stats: Any = None,
) -> Iterator[str]:
    """The answer's text after ``prompt`` tokens, in pieces: prompt lookup (``agent/speculative.py``)
    over llama-cpp-python's sampler chain, as ``create_chat_completion`` would sample. The caller
    holds the engine alone. Raises BackendError when the prompt leaves no room or llama.cpp fails."""
    from shoeagent.agent.speculative import generate_tokens, stream_text

    sampler = engine._init_sampler(top_k=top_k, top_p=top_p, min_p=0.05, typical_p=1.0, temp=temperature, repeat_penalty=repeat_penalty)
    tokens = generate_tokens(engine, prompt, max_tokens=max_tokens, sampler=sampler, stop_ids=stop_ids(engine),
                             draft_tokens=draft_tokens, cancel=cancel, stats=stats)
    try:
        for piece in stream_text(engine, tokens, CHATML_STOPS):
            if cancel is not None and cancel.is_set():
                break
            yield piece
    except ValueError as exc:  # the prompt leaves no room to answer
        raise BackendError(f"llama.cpp could not start: {exc}") from exc
    except RuntimeError as exc:  # decode failure
        engine.reset()
        raise BackendError(f"llama.cpp failed: {exc}") from exc
    finally:
        tokens.close()


def embedded_backend(model: str | None = None) -> EmbeddedBackend:
    """The embedded backend on ``model`` (a GGUF path), the built shoemold GGUF, or the base model."""
    if model:
        path = Path(model).expanduser()
        if not path.is_file():
            raise paths.MissingFileError(f"GGUF model {model} does not exist; pass a .gguf file path or leave it empty.")
        return EmbeddedBackend(name="embedded", model_id=path.stem, path=path)
    shoemold = paths.shoemold_gguf()
    if shoemold.is_file():
        return EmbeddedBackend(name="embedded", model_id=paths.MODEL_NAME, path=shoemold)
    return EmbeddedBackend(name="embedded", model_id=BASE_MODEL_LABEL, path=paths.base_gguf(), notes=[BASE_MODEL_NOTE])


# --------------------------------------------------------------------------- LangChain / Ollama


@dataclass
class LangChainBackend(ChatBackend):
    """Any LangChain chat model (tests use the fake chat models through this)."""

    chat: Any = None
    require_done: bool = False
    """Treat a stream that ends without the server's final ``done`` chunk as a failure (Ollama)."""

    def _call_kwargs(self, max_tokens: int, temperature: float) -> dict[str, Any]:
        return {}

    def stream(
        self,
        messages: Sequence[dict[str, str]],
        *,
        max_tokens: int = 200,
        temperature: float = 0.2,
        cancel: threading.Event | None = None,
    ) -> Iterator[str]:
        done = False
        try:
            for chunk in self.chat.stream(list(messages), **self._call_kwargs(max_tokens, temperature)):
                if cancel is not None and cancel.is_set():
                    return
                done = done or bool(chunk.response_metadata.get("done"))
                if isinstance(chunk.content, str) and chunk.content:
                    yield chunk.content
        except BackendError:
            raise
        except Exception as exc:  # noqa: BLE001 - any transport error means this backend is gone
            raise BackendError(f"{self.name} stopped responding: {type(exc).__name__}: {exc}") from exc
        if self.require_done and not done:
            raise BackendError(f"{self.name} stream ended before the answer was complete")

    def call_tools(self, messages: Sequence[dict[str, str]], tools: list[Any]) -> list[ToolCallRequest]:
        if not self.supports_tools:
            return super().call_tools(messages, tools)
        try:
            reply = self.chat.bind_tools(tools).invoke(list(messages), **self._call_kwargs(256, 0.0))
        except Exception as exc:  # noqa: BLE001
            raise BackendError(f"{self.name} tool call failed: {type(exc).__name__}: {exc}") from exc
        return [ToolCallRequest(name=call["name"], args=dict(call.get("args") or {})) for call in reply.tool_calls]


@dataclass
class OllamaBackend(LangChainBackend):
    """``ChatOllama`` on an Ollama server; ``supports_tools`` from the model's capabilities."""

    host: str = DEFAULT_OLLAMA_HOST
    repeat_penalty: float = 1.15

    def _call_kwargs(self, max_tokens: int, temperature: float) -> dict[str, Any]:
        return {
            "options": {
                "num_predict": max_tokens,
                "temperature": temperature,
                "repeat_penalty": self.repeat_penalty,
            }
        }


def ollama_host() -> str:
    """``OLLAMA_HOST`` as a URL (it may be given as ``host:port`` or ``0.0.0.0``), else the default."""
    raw = os.environ.get("OLLAMA_HOST", "").strip()
    if not raw:
        return DEFAULT_OLLAMA_HOST
    if "://" not in raw:
        raw = "http://" + raw
    raw = raw.rstrip("/").replace("://0.0.0.0", "://127.0.0.1")
    if re.match(r"^https?://[^/:]+$", raw):
        raw += ":11434"
    return raw


def ollama_host_error(host: str) -> str | None:
    """One line naming OLLAMA_HOST when ``host`` cannot be a server address at all, else None.

    urllib raises http.client.InvalidURL for "http://not a url" (not the URLError of a server that
    is merely down), so such a value is caught here: "auto" then treats it as no server.
    """
    try:
        parts = urllib.parse.urlsplit(host)
        parts.port  # noqa: B018 - raises ValueError for a port that is not a number in range
        usable = parts.scheme in ("http", "https") and bool(parts.hostname)
        usable = usable and all(c.isprintable() and not c.isspace() for c in parts.netloc)
    except ValueError:
        usable = False
    if usable:
        return None
    raw = os.environ.get("OLLAMA_HOST", host)
    return f"OLLAMA_HOST={raw!r} is not a usable server address; set it to e.g. {DEFAULT_OLLAMA_HOST}, or unset it."


def _get_json(url: str, timeout: float, payload: dict | None = None) -> Any:
    data = None if payload is None else json.dumps(payload).encode()
    request = urllib.request.Request(url, data=data, headers={"Content-Type": "application/json"})
    # The proxy environment must not route a loopback probe elsewhere.
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    with opener.open(request, timeout=timeout) as response:
        return json.loads(response.read().decode("utf-8"))


def ollama_models(host: str | None = None, timeout: float = 0.5) -> list[str] | None:
    """Model names Ollama lists at ``host`` (``GET /api/tags``), or None if it does not answer in time."""
    host = host or ollama_host()
    if ollama_host_error(host):
        return None
    try:
        reply = _get_json(f"{host}/api/tags", timeout)
    except (OSError, ValueError, urllib.error.URLError, http.client.HTTPException):  # HTTPException: no HTTP server there
        return None
    return [str(m.get("name") or m.get("model") or "") for m in reply.get("models", [])]


def ollama_serves(model: str, timeout: float = 0.5) -> bool:
    """Whether the Ollama at OLLAMA_HOST answers within ``timeout`` and lists ``model`` (any tag)."""
    models = ollama_models(timeout=timeout)
    return models is not None and _served_name(models, model) is not None


def _served_name(models: Sequence[str], model: str) -> str | None:
    """The name under which ``model`` is served (``shoemold`` matches ``shoemold:latest``)."""
    for name in models:
        if name == model or name == f"{model}:latest" or (":" not in model and name.split(":")[0] == model):
            return name
    return None


def ollama_capabilities(host: str, model: str, timeout: float = 2.0) -> list[str]:
    """The model's capabilities from ``POST /api/show`` (e.g. ["completion", "tools"]); [] if unknown."""
    try:
        reply = _get_json(f"{host}/api/show", timeout, {"model": model})
    except (OSError, ValueError, urllib.error.URLError, http.client.HTTPException):
        return []
    return [str(c) for c in reply.get("capabilities") or []]


def ollama_backend(model: str | None = None, host: str | None = None) -> OllamaBackend:
    """The Ollama backend for ``model`` (default shoemold); BackendError if the server lacks it."""
    from langchain_ollama import ChatOllama

    host = host or ollama_host()
    wanted = model or paths.MODEL_NAME
    if problem := ollama_host_error(host):
        raise BackendError(f"{problem.removesuffix('.')} (or use --backend embedded).")
    models = ollama_models(host, timeout=2.0)
    if models is None:
        raise BackendError(f"Ollama does not answer at {host}; start it (`ollama serve`) or use --backend embedded.")
    served = _served_name(models, wanted)
    if served is None:
        raise BackendError(
            f"Ollama at {host} has no model {wanted!r}; create it with `shoeagent export --ollama` or use --backend embedded."
        )
    import httpx

    timeout = httpx.Timeout(OLLAMA_READ_TIMEOUT, connect=OLLAMA_CONNECT_TIMEOUT)
    chat = ChatOllama(base_url=host, model=served, temperature=0.2, repeat_penalty=1.15, client_kwargs={"timeout": timeout})
    return OllamaBackend(
        name="ollama",
        model_id=served.removesuffix(":latest"),
        chat=chat,
        host=host,
        require_done=True,
        supports_tools="tools" in ollama_capabilities(host, served),
    )


_EMBEDDED_CACHE: dict[str | None, EmbeddedBackend] = {}


def cached_embedded_backend(model: str | None = None) -> EmbeddedBackend:
    """One EmbeddedBackend object per model path (they share the process-wide engine anyway).

    Without ``model`` the key is the shoemold GGUF when it exists, so a process that answered with the
    base model before the GGUF was built (by `shoeagent export`, or `ask`'s first-use build) picks the
    built model up at its next question instead of keeping the base one.
    """
    key = model
    if model is None:
        shoemold = paths.shoemold_gguf()
        key = str(shoemold) if shoemold.is_file() else None
    backend = _EMBEDDED_CACHE.get(key)
    if backend is None:
        backend = _EMBEDDED_CACHE[key] = embedded_backend(model)
    return backend


def resolve_backend(name: str = "auto", model: str | None = None) -> ChatBackend:
    """The backend for ``name`` ("auto", "embedded" or "ollama").

    "auto" asks Ollama (0.5 s timeout) whether it serves ``model`` (default shoemold); if it does
    the answer comes from Ollama, otherwise from the embedded model. ``model`` names an Ollama model
    for Ollama and a GGUF path for the embedded backend.
    """
    name = (name or "auto").lower()
    if name == "embedded":
        return cached_embedded_backend(model)
    if name == "ollama":
        return ollama_backend(model)
    if name != "auto":
        raise ValueError(f"Unknown backend {name!r}; use auto, embedded or ollama.")
    gguf = model if model and model.endswith(".gguf") else None
    wanted = paths.MODEL_NAME if gguf or not model else model
    if ollama_serves(wanted):
        try:
            return ollama_backend(wanted)
        except BackendError:
            pass  # it vanished between the two requests: the embedded model still answers
    return cached_embedded_backend(gguf)
