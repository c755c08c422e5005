"""Model backends at the wire level: the Ollama backend against a stand-in Ollama server (streaming,
native tool calls, auto-selection, the server dying mid-stream), and the embedded llama.cpp engine."""

from __future__ import annotations

import json
import socket
import threading
import time
import urllib.request

import pytest
from agent_fakes import GOOD_EN, agent_kwargs, scripted_llm
from ollama_standin import OllamaStandIn

from shoeagent.agent import llm as backends
from shoeagent.agent.api import ShoeAgent
from shoeagent.agent.tools import langchain_tools

TOOL_CALL = {"function": {"name": "mold_risk", "arguments": {"temperature_c": 28, "relative_humidity": 85}}}


@pytest.fixture
def ollama_server(monkeypatch):
    """A stand-in Ollama serving shoemold with tool support; OLLAMA_HOST points at it."""
    with OllamaStandIn(replies=[GOOD_EN], models=["shoemold"], capabilities=["completion", "tools"]) as server:
        monkeypatch.setenv("OLLAMA_HOST", server.url)
        yield server


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_standin_speaks_the_documented_api():
    with OllamaStandIn(replies=["Hi there."], models=["shoemold"]) as server:
        with urllib.request.urlopen(f"{server.url}/api/tags") as r:
            assert json.load(r)["models"][0]["name"] == "shoemold:latest"
        with urllib.request.urlopen(f"{server.url}/api/version") as r:
            assert "version" in json.load(r)
        request = urllib.request.Request(
            f"{server.url}/api/chat",
            data=json.dumps({"model": "shoemold", "messages": [{"role": "user", "content": "hi"}]}).encode(),
        )
        with urllib.request.urlopen(request) as r:
            lines = [json.loads(line) for line in r.read().decode().splitlines()]
        assert "".join(line["message"]["content"] for line in lines) == "Hi there."
        assert [line["done"] for line in lines][-1] is True and lines[-1]["done_reason"] == "stop"
        assert all(line["done"] is False for line in lines[:-1])
        create = urllib.request.Request(
            f"{server.url}/api/create", data=json.dumps({"model": "other", "from": "shoemold"}).encode()
        )
        with urllib.request.urlopen(create) as r:
            statuses = [json.loads(line)["status"] for line in r.read().decode().splitlines()]
        assert statuses[-1] == "success" and "other" in server.models
        assert server.requests[-1].body == {"model": "other", "from": "shoemold"}


def test_ollama_backend_streams_tokens(ollama_server):
    backend = backends.ollama_backend(host=ollama_server.url)
    assert (backend.name, backend.model_id, backend.supports_tools) == ("ollama", "shoemold", True)
    pieces = list(backend.stream([{"role": "user", "content": "hello"}], max_tokens=50, temperature=0.1))
    assert len(pieces) > 3 and "".join(pieces) == GOOD_EN
    body = ollama_server.chat_requests()[-1]
    assert body["stream"] is True and body["model"] == "shoemold:latest"
    assert body["options"]["num_predict"] == 50 and body["options"]["temperature"] == 0.1


def test_ollama_backend_without_tool_capability(monkeypatch):
    with OllamaStandIn(models=["shoemold:latest"], capabilities=["completion"]) as server:
        backend = backends.ollama_backend(host=server.url)
        assert not backend.supports_tools and backend.model_id == "shoemold"


def test_missing_model_or_server_is_a_clear_error():
    with OllamaStandIn(models=["llama3.2"]) as server:
        with pytest.raises(backends.BackendError, match="no model 'shoemold'.*shoeagent export --ollama"):
            backends.ollama_backend(host=server.url)
    with pytest.raises(backends.BackendError, match="does not answer"):
        backends.ollama_backend(host=f"http://127.0.0.1:{_free_port()}")


def test_native_tool_call_round_trip_through_the_agent(ollama_server):
    answer_text = "At 28°C and 85% RH the mold risk is high [3]; keep shoes at 50-60% RH, not above 60-70% [1]."
    ollama_server.replies = [{"content": "", "tool_calls": [TOOL_CALL]}, answer_text]
    planner_calls = []
    agent = ShoeAgent(
        backend="ollama",
        **agent_kwargs(
            plan_tool_calls=lambda q, r: planner_calls.append(q) or [],
            langchain_tools=langchain_tools,
        ),
    )
    answer = agent.ask("My closet is 28°C and 85% humid, will my shoes mold?")
    assert answer.backend == "ollama" and answer.model == "shoemold"
    assert [t.name for t in answer.tool_calls] == ["mold_risk"]
    assert answer.tool_calls[0].args == {"temperature_c": 28, "relative_humidity": 85}
    assert answer.sources[-1].id == "tool:mold_risk" and answer.text == answer_text

    first, second = ollama_server.chat_requests()
    assert {t["function"]["name"] for t in first["tools"]} >= {"mold_risk", "dew_point"}
    assert not second.get("tools")
    assert "[3] Tool mold_risk: " in second["messages"][-1]["content"]  # the tool result went back to the model


def test_auto_picks_ollama_when_it_serves_shoemold(ollama_server):
    assert backends.resolve_backend("auto").name == "ollama"
    agent = ShoeAgent(**agent_kwargs())
    assert agent.backend_name == "ollama" and agent.model_name == "shoemold"


def test_auto_picks_embedded_without_shoemold_or_without_server(monkeypatch):
    with OllamaStandIn(models=["llama3.2"]) as server:
        monkeypatch.setenv("OLLAMA_HOST", server.url)
        assert backends.resolve_backend("auto").name == "embedded"
    monkeypatch.setenv("OLLAMA_HOST", f"127.0.0.1:{_free_port()}")
    started = time.perf_counter()
    backend = backends.resolve_backend("auto")
    assert backend.name == "embedded" and time.perf_counter() - started < 1.0
    assert backend.model_id == backends.BASE_MODEL_LABEL and backend.notes == [backends.BASE_MODEL_NOTE]
    from shoeagent.agent.api import ShoeAgent

    assert ShoeAgent(backend="embedded").backend_notes == [backends.BASE_MODEL_NOTE]  # `eval agent` warns with it


def test_a_shoemold_gguf_built_while_running_is_used_from_the_next_question():
    from shoeagent import paths

    assert backends.resolve_backend("embedded").model_id == backends.BASE_MODEL_LABEL
    paths.shoemold_gguf().parent.mkdir(parents=True, exist_ok=True)
    paths.shoemold_gguf().write_bytes(b"GGUF")  # the engine loads lazily: a stand-in file is enough here
    backend = backends.resolve_backend("embedded")
    assert backend.model_id == paths.MODEL_NAME and backend.path == paths.shoemold_gguf() and not backend.notes


def test_ollama_host_forms(monkeypatch):
    for raw, url in [
        ("", "http://127.0.0.1:11434"),
        ("0.0.0.0", "http://127.0.0.1:11434"),
        ("localhost:1234", "http://localhost:1234"),
        ("https://ollama.example:443/", "https://ollama.example:443"),
    ]:
        monkeypatch.setenv("OLLAMA_HOST", raw)
        assert backends.ollama_host() == url


def test_server_dying_mid_stream_raises_backend_error(ollama_server):
    ollama_server.replies = [{"content": "one two three four five six", "die_after": 2}]
    backend = backends.ollama_backend(host=ollama_server.url)
    received = []
    with pytest.raises(backends.BackendError, match="stopped responding"):
        for piece in backend.stream([{"role": "user", "content": "hi"}]):
            received.append(piece)
    assert "".join(received) == "one two "


def test_agent_falls_back_to_the_embedded_model_when_ollama_dies(ollama_server):
    ollama_server.replies = [{"content": "Keep your shoes at 50-60% RH and", "die_after": 3}]
    fallback = scripted_llm(GOOD_EN, name="embedded")
    agent = ShoeAgent(backend="ollama", **agent_kwargs(fallback=lambda: fallback))
    events = list(agent.stream("How do I stop my leather boots going moldy?", thread_id="fb"))
    answer = events[-1].data["answer"]
    assert answer.text == GOOD_EN and answer.backend == "embedded" and answer.model == "embedded-model"
    assert any("ollama failed mid-answer" in n for n in answer.notes)
    repair = [e for e in events if e.kind == "repair"]
    assert repair and "embedded" in repair[0].data["reason"]
    # The conversation is intact: the next turn still sees this one.
    assert [m.type for m in agent.history("fb")] == ["human", "ai"]


def test_without_fallback_a_dead_server_still_gives_a_grounded_composed_answer(ollama_server):
    ollama_server.replies = [{"content": "Keep your shoes at 50-60% RH and", "die_after": 2}]
    agent = ShoeAgent(backend="ollama", **agent_kwargs(fallback=False))
    answer = agent.ask("How do I stop my leather boots going moldy?")
    assert answer.grounded and answer.repaired and "50-60% RH [1]" in answer.text
    assert any("the model failed" in n for n in answer.notes)


@pytest.mark.slow
def test_embedded_engine_serialises_concurrent_generation():
    backend = backends.embedded_backend()
    messages = [{"role": "user", "content": "Say hello."}]
    results: list[str] = []
    errors: list[BaseException] = []

    def run() -> None:
        try:
            results.append(backend.execute(messages, max_tokens=8, temperature=0.0))
        except BaseException as exc:  # noqa: BLE001
            errors.append(exc)

    threads = [threading.Thread(target=run) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert not errors and len(results) == 3
    assert all(r.strip() for r in results) and len(set(results)) == 1  # same seed, same prompt
    assert backend.count_tokens("hello world") == 2
    assert len(backends._ENGINES) == 1


@pytest.mark.slow
def test_the_system_prompt_read_ahead_is_the_prefix_of_every_answer_prompt():
    """warm_up reads the system prompt into llama.cpp's cache; a real answer's prompt (sources and question
    after it) starts with exactly those tokens, so llama.cpp skips them instead of reading them again."""
    from shoeagent.agent.prompts import SYSTEM_PROMPT, build_user_message

    backend = backends.embedded_backend()
    backend.engine().reset()
    backend.warm_up(system_prompt=SYSTEM_PROMPT)
    engine = backend.engine()
    cached = [int(t) for t in engine._input_ids]
    question = build_user_message("How do I dry wet leather boots?", "[1] Drying: Stuff them with paper.")
    # prompt_tokens is what create_chat_completion reads (tests/test_read_ahead.py checks that).
    prompt = backend.prompt_tokens([{"role": "system", "content": SYSTEM_PROMPT}, {"role": "user", "content": question}])
    shared = 0
    for a, b in zip(cached, prompt):
        if a != b:
            break
        shared += 1
    assert shared >= backend.count_tokens(SYSTEM_PROMPT) > 50
    assert backend.execute([{"role": "system", "content": SYSTEM_PROMPT}, {"role": "user", "content": question}], max_tokens=4,
                           temperature=0.0).strip()


def test_shoe_agent_warm_up_hands_its_system_prompt_to_the_backend():
    seen = []

    class Recording(backends.ChatBackend):
        def warm_up(self, system_prompt=None):
            seen.append(system_prompt)

    agent = ShoeAgent(llm=Recording(name="fake", model_id="fake"), **agent_kwargs())
    agent.warm_up()
    from shoeagent.agent.prompts import SYSTEM_PROMPT

    assert seen == [SYSTEM_PROMPT]


def test_shoe_agent_warm_up_loads_the_knowledge_index_and_survives_a_broken_one(caplog):
    searched = []

    def retriever(query, k=5, route=None, lang=None):
        searched.append(query)
        return []

    agent = ShoeAgent(llm=backends.ChatBackend(name="fake", model_id="fake"), **agent_kwargs(retriever=retriever))
    agent.warm_up()
    assert len(searched) == 1  # the index is loaded before the first question, not by it

    def broken(query, k=5, route=None, lang=None):
        raise RuntimeError("index damaged")

    agent = ShoeAgent(llm=backends.ChatBackend(name="fake", model_id="fake"), **agent_kwargs(retriever=broken))
    with caplog.at_level("WARNING", logger="shoeagent.agent"):
        agent.warm_up()  # the model is ready; the first question reports the index
    assert "index damaged" in caplog.text


@pytest.mark.ollama
def test_real_ollama_answers_with_shoemold():
    models = backends.ollama_models(timeout=1.0)
    if models is None or backends._served_name(models, "shoemold") is None:
        pytest.skip("no Ollama with model shoemold at OLLAMA_HOST")
    backend = backends.ollama_backend()
    text = backend.execute(
        [{"role": "user", "content": "Sources:\n[1] Humidity: Store shoes at 50-60% RH.\n\nQuestion: How humid should my closet be?"}],
        max_tokens=60,
    )
    assert text.strip()
