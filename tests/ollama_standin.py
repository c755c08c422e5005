"""A stand-in Ollama server for tests: the documented HTTP API on 127.0.0.1, scripted replies.

    with OllamaStandIn(replies=["Hello [1]."], models=["shoemold"]) as server:
        ChatOllama(base_url=server.url, model="shoemold").invoke("hi")
        server.requests  # every request: method, path and JSON body

Endpoints (https://github.com/ollama/ollama/blob/main/docs/api.md): ``GET /api/tags``,
``GET /api/version``, ``GET /api/ps``, ``POST /api/chat`` (streaming NDJSON over chunked transfer
encoding, or one object with ``"stream": false``), ``POST /api/generate``, ``POST /api/show``,
``POST /api/create`` (streams status lines, then lists the model), ``DELETE /api/delete``,
``HEAD``/``POST /api/blobs/<digest>``.

A scripted reply is a string (the assistant's text) or a dict with ``content``, ``tool_calls``
(``[{"function": {"name": ..., "arguments": {...}}}]``) and ``die_after`` (send that many chunks,
then drop the connection mid-stream, as a crashing server would). Replies are used in order; the
last one repeats.
"""

from __future__ import annotations

import json
import re
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

Reply = str | dict[str, Any]


@dataclass
class RecordedRequest:
    method: str
    path: str
    body: Any


def _now() -> str:
    return datetime.now(timezone.utc).isoformat().replace("+00:00", "Z")


@dataclass
class OllamaStandIn:
    """A tiny Ollama-compatible server in a background thread (use as a context manager)."""

    replies: list[Reply] = field(default_factory=lambda: ["This is the stand-in's answer [1]."])
    models: list[str] = field(default_factory=lambda: ["shoemold"])
    capabilities: list[str] = field(default_factory=lambda: ["completion"])
    version: str = "0.6.5"
    chunk_delay: float = 0.0
    requests: list[RecordedRequest] = field(default_factory=list)
    blobs: set[str] = field(default_factory=set)

    def __post_init__(self) -> None:
        self._reply_index = 0
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # ---- lifecycle

    @property
    def url(self) -> str:
        if self._server is None:
            raise RuntimeError("OllamaStandIn is not running; use it as a context manager or call start().")
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> OllamaStandIn:
        standin = self

        class Handler(_Handler):
            server_state = standin

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, name="ollama-standin", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self) -> OllamaStandIn:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # ---- helpers for tests

    def chat_requests(self) -> list[dict[str, Any]]:
        """Bodies of the ``POST /api/chat`` requests so far."""
        return [r.body for r in self.requests if r.path == "/api/chat"]

    def _next_reply(self) -> dict[str, Any]:
        with self._lock:
            reply = self.replies[min(self._reply_index, len(self.replies) - 1)]
            self._reply_index += 1
        return {"content": reply} if isinstance(reply, str) else dict(reply)

    def _has_model(self, name: str) -> str | None:
        base = name.removesuffix(":latest")
        for model in self.models:
            if model.removesuffix(":latest") == base:
                return model
        return None


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_state: OllamaStandIn

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - keep test output quiet
        return

    # ---- plumbing

    def _body(self) -> Any:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        if not raw:
            return None
        try:
            return json.loads(raw)
        except ValueError:
            return {"_raw_bytes": len(raw)}

    def _record(self, body: Any) -> None:
        self.server_state.requests.append(RecordedRequest(self.command, self.path, body))

    def _json(self, status: int, payload: Any) -> None:
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _empty(self, status: int) -> None:
        self.send_response(status)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def _start_stream(self) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "application/x-ndjson")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()

    def _chunk(self, payload: dict[str, Any]) -> None:
        data = (json.dumps(payload) + "\n").encode()
        self.wfile.write(f"{len(data):X}\r\n".encode() + data + b"\r\n")
        self.wfile.flush()
        if self.server_state.chunk_delay:
            time.sleep(self.server_state.chunk_delay)

    def _end_stream(self) -> None:
        self.wfile.write(b"0\r\n\r\n")
        self.wfile.flush()

    def _die(self) -> None:
        """Drop the connection without finishing the chunked body, like a crashed server."""
        self.close_connection = True
        self.wfile.flush()
        self.connection.shutdown(2)

    # ---- routes

    def do_HEAD(self) -> None:  # noqa: N802
        self._record(None)
        match = re.fullmatch(r"/api/blobs/(sha256[:-][0-9a-f]+)", self.path)
        if match:
            self._empty(200 if match.group(1).replace("-", ":") in self.server_state.blobs else 404)
        else:
            self._empty(200 if self.path == "/" else 404)

    def do_GET(self) -> None:  # noqa: N802
        self._record(None)
        state = self.server_state
        if self.path == "/":
            data = b"Ollama is running"
            self.send_response(200)
            self.send_header("Content-Type", "text/plain; charset=utf-8")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)
        elif self.path == "/api/version":
            self._json(200, {"version": state.version})
        elif self.path == "/api/tags":
            self._json(200, {"models": [_model_entry(name) for name in state.models]})
        elif self.path == "/api/ps":
            self._json(200, {"models": []})
        else:
            self._json(404, {"error": f"404 page not found: {self.path}"})

    def do_DELETE(self) -> None:  # noqa: N802
        body = self._body()
        self._record(body)
        state = self.server_state
        name = state._has_model(str((body or {}).get("model") or (body or {}).get("name") or ""))
        if self.path == "/api/delete" and name:
            state.models.remove(name)
            self._empty(200)
        else:
            self._json(404, {"error": "model not found"})

    def do_POST(self) -> None:  # noqa: N802
        state = self.server_state
        blob = re.fullmatch(r"/api/blobs/(sha256[:-][0-9a-f]+)", self.path)
        if blob:
            self._record(self._body())
            state.blobs.add(blob.group(1).replace("-", ":"))
            self._empty(201)
            return
        body = self._body() or {}
        self._record(body)
        if self.path == "/api/chat":
            self._chat(body)
        elif self.path == "/api/generate":
            self._generate(body)
        elif self.path == "/api/show":
            self._show(body)
        elif self.path == "/api/create":
            self._create(body)
        else:
            self._json(404, {"error": f"404 page not found: {self.path}"})

    def _model_or_404(self, body: dict[str, Any]) -> str | None:
        requested = str(body.get("model") or body.get("name") or "")
        name = self.server_state._has_model(requested)
        if name is None:
            self._json(404, {"error": f"model '{requested}' not found"})
        return name

    def _chat(self, body: dict[str, Any]) -> None:
        name = self._model_or_404(body)
        if name is None:
            return
        if body.get("tools") and "tools" not in self.server_state.capabilities:
            self._json(400, {"error": f"registry.ollama.ai/library/{name} does not support tools"})
            return
        reply = self.server_state._next_reply()
        content = str(reply.get("content", ""))
        tool_calls = reply.get("tool_calls")
        final = {
            "model": name,
            "created_at": _now(),
            "message": {"role": "assistant", "content": ""},
            "done": True,
            "done_reason": "stop",
            "total_duration": 1_000_000,
            "load_duration": 100_000,
            "prompt_eval_count": sum(len(str(m.get("content", "")).split()) for m in body.get("messages", [])),
            "prompt_eval_duration": 200_000,
            "eval_count": max(1, len(content.split())),
            "eval_duration": 700_000,
        }
        if body.get("stream", True) is False:
            message: dict[str, Any] = {"role": "assistant", "content": content}
            if tool_calls:
                message["tool_calls"] = tool_calls
            self._json(200, {**final, "message": message})
            return
        self._start_stream()
        pieces = re.findall(r"\S+\s*|\s+", content) if content else []
        die_after = reply.get("die_after")
        for i, piece in enumerate(pieces):
            if die_after is not None and i >= die_after:
                self._die()
                return
            self._chunk({"model": name, "created_at": _now(), "message": {"role": "assistant", "content": piece}, "done": False})
        if die_after is not None:
            self._die()
            return
        if tool_calls:
            self._chunk({
                "model": name, "created_at": _now(),
                "message": {"role": "assistant", "content": "", "tool_calls": tool_calls}, "done": False,
            })
        self._chunk(final)
        self._end_stream()

    def _generate(self, body: dict[str, Any]) -> None:
        name = self._model_or_404(body)
        if name is None:
            return
        content = str(self.server_state._next_reply().get("content", ""))
        self._json(200, {"model": name, "created_at": _now(), "response": content, "done": True, "done_reason": "stop"})

    def _show(self, body: dict[str, Any]) -> None:
        name = self._model_or_404(body)
        if name is None:
            return
        self._json(200, {
            "modelfile": f"# Modelfile generated by \"ollama show\"\nFROM {name}\n",
            "parameters": 'stop                           "<|im_end|>"',
            "template": "{{ if .System }}<|im_start|>system\n{{ .System }}<|im_end|>\n{{ end }}"
            "{{ if .Prompt }}<|im_start|>user\n{{ .Prompt }}<|im_end|>\n{{ end }}<|im_start|>assistant\n",
            "details": {"parent_model": "", "format": "gguf", "family": "llama", "families": ["llama"],
                        "parameter_size": "134.52M", "quantization_level": "Q4_1"},
            "model_info": {"general.architecture": "llama", "general.parameter_count": 134515008},
            "capabilities": list(self.server_state.capabilities),
            "modified_at": _now(),
        })

    def _create(self, body: dict[str, Any]) -> None:
        name = str(body.get("model") or body.get("name") or "")
        if not name:
            self._json(400, {"error": "model name is required"})
            return
        missing = [d for d in (body.get("files") or {}).values() if d not in self.server_state.blobs]
        if missing:
            self._json(400, {"error": f"blob {missing[0]} not found; upload it with POST /api/blobs/<digest> first"})
            return
        statuses = ["reading model metadata", "creating system layer", "writing manifest", "success"]
        if not self.server_state._has_model(name):
            self.server_state.models.append(name)
        if body.get("stream", True) is False:
            self._json(200, {"status": "success"})
            return
        self._start_stream()
        for status in statuses:
            self._chunk({"status": status})
        self._end_stream()


def _model_entry(name: str) -> dict[str, Any]:
    full = name if ":" in name else f"{name}:latest"
    return {
        "name": full,
        "model": full,
        "modified_at": _now(),
        "size": 91_000_000,
        "digest": "0" * 64,
        "details": {"parent_model": "", "format": "gguf", "family": "llama", "families": ["llama"],
                    "parameter_size": "134.52M", "quantization_level": "Q4_1"},
    }
