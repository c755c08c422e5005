"""End to end: the real agent (embedded llama.cpp model, real knowledge index, real chat store) in the app."""

from __future__ import annotations

import asyncio
import importlib.util
import time

import pytest
from textual.widgets import Input

from shoeagent.tui.app import ShoeMoldApp
from shoeagent.tui.widgets import AnswerMessage, SourcePanel, StatusBar

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        importlib.util.find_spec("shoeagent.agent.api") is None, reason="shoeagent.agent.api is not built yet"
    ),
]


async def test_real_embedded_agent_answers_with_sources(shoeagent_home):
    from shoeagent.agent.api import ShoeAgent
    from shoeagent.agent.memory import ChatStore

    store = ChatStore()
    # Short generations keep the test small; everything else is the real pipeline.
    app = ShoeMoldApp(agent_factory=lambda: ShoeAgent(backend="embedded", max_tokens=64, max_retries=0), store=store)
    async with app.run_test(size=(120, 40)) as pilot:
        status = app.screen.query_one(StatusBar)
        prompt = app.screen.query_one("#prompt", Input)
        prompt.value = "How do I stop my leather boots going moldy?"
        await pilot.press("enter")
        answer = app.screen.query_one(AnswerMessage)
        deadline = time.monotonic() + 600
        while answer.state not in ("done", "failed", "cancelled") and time.monotonic() < deadline:
            await asyncio.sleep(0.5)
        await pilot.pause()
        assert answer.state == "done", f"answer ended {answer.state}"
        assert answer.text.strip()
        assert answer.record.route in ("prevention", "treatment", "diagnosis", "general")
        assert len(answer.sources) >= 1
        assert app.screen.query_one(SourcePanel).sources == answer.sources
        assert status.status.backend == "embedded" and status.status.state == "ready"
        assert "s" in status.status.last  # "<latency> s · <n> tok/s"
    # The agent recorded the turn in the same store the sidebar reads.
    chats = store.list_chats()
    assert len(chats) == 1 and store.messages(chats[0].thread_id)[1].answer["sources"]


async def test_a_pause_in_typing_has_the_real_model_read_the_prompt_ahead(shoeagent_home):
    from shoeagent.agent.api import ShoeAgent
    from shoeagent.agent.memory import ChatStore

    agent = ShoeAgent(backend="embedded", max_tokens=32, max_retries=0)
    read: list[int] = []
    real_read_ahead = agent.read_ahead

    def recording(question, thread_id=None, cancel=None):
        read.append(real_read_ahead(question, thread_id=thread_id, cancel=cancel))
        return read[-1]

    agent.read_ahead = recording
    app = ShoeMoldApp(agent_factory=lambda: agent, store=ChatStore())
    async with app.run_test(size=(120, 40)) as pilot:
        status = app.screen.query_one(StatusBar)
        deadline = time.monotonic() + 600
        while status.status.state != "ready" and time.monotonic() < deadline:
            await asyncio.sleep(0.2)
        await pilot.press(*"How do I stop my leather boots going moldy?")
        await pilot.pause(0.6)
        await app.workers.wait_for_complete()
        engine = agent._get_llm().engine()
        assert len(read) == 1 and read[0] > 50  # sources and question, read while the user paused
        batches: list[int] = []
        real_eval = engine.eval
        engine.eval = lambda tokens: (batches.append(len(tokens)), real_eval(tokens))[1]
        try:
            await pilot.press("enter")
            answer = app.screen.query_one(AnswerMessage)
            while answer.state not in ("done", "failed", "cancelled") and time.monotonic() < deadline:
                await asyncio.sleep(0.2)
        finally:
            del engine.eval
        assert answer.state == "done" and answer.text.strip() and answer.sources
        # The answer read only the prompt's last token: everything before it had been read ahead.
        assert batches[0] == 1
