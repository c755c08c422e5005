"""The terminal chat driven like a user would: keys in, widgets and files checked.

The app runs for real (Textual's pilot, a real SQLite ChatStore); only the agent is the scripted
fake from tui_fakes, so each behaviour is exercised deterministically and fast.
"""

from __future__ import annotations

import json
import threading
from pathlib import Path

import pytest
from textual.widgets import Input, Markdown, OptionList

from shoeagent.agent.memory import ChatStore
from shoeagent.tui.app import DARK_THEME, LIGHT_THEME, ShoeMoldApp
from shoeagent.tui.screens.chat import ChatScreen
from shoeagent.tui.screens.files import default_export_name, resolve_export_path
from shoeagent.tui.screens.prompt import TextPrompt
from shoeagent.tui.screens.source_detail import SourceScreen
from shoeagent.tui.widgets import AnswerMessage, ChatItem, Notice, SourcePanel, StatusBar, UserMessage
from tui_fakes import FakeAgent, Script

SIZE = (120, 40)


@pytest.fixture
def store(tmp_path: Path) -> ChatStore:
    return ChatStore(path=tmp_path / "chat.sqlite")


def make_app(store: ChatStore, script: Script | None = None, **agent_kwargs) -> tuple[ShoeMoldApp, FakeAgent]:
    agent = FakeAgent(store, script, **agent_kwargs)
    return ShoeMoldApp(agent_factory=lambda: agent, store=store), agent


async def settle(app: ShoeMoldApp, pilot) -> None:
    """Wait until every worker (model load, generation) is done and the UI has caught up."""
    await app.workers.wait_for_complete()
    await pilot.pause()
    await pilot.pause()


async def ask(app: ShoeMoldApp, pilot, question: str) -> AnswerMessage:
    prompt = app.screen.query_one("#prompt", Input)
    prompt.focus()
    prompt.value = question
    await pilot.press("enter")
    await settle(app, pilot)
    return app.screen.query(AnswerMessage).last()


def screen_of(app: ShoeMoldApp) -> ChatScreen:
    screen = app.screen
    assert isinstance(screen, ChatScreen)
    return screen


def answer_markdown(answer: AnswerMessage) -> str:
    return answer.query_one(".answer-body", Markdown).source


async def test_question_streams_answer_with_route_tools_and_sources(store):
    app, agent = make_app(store)
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, pilot)
        assert screen_of(app).query_one(StatusBar).status.state == "ready"
        await pilot.press(*"white spots on my boots")
        await pilot.press("enter")
        await settle(app, pilot)
        assert agent.questions == ["white spots on my boots"]
        user = app.screen.query_one(UserMessage)
        answer = app.screen.query_one(AnswerMessage)
        assert user.text == "white spots on my boots"
        assert answer.state == "done"
        assert "".join(answer.streamed) == "".join(Script().tokens)  # it was streamed before the final answer
        assert answer_markdown(answer) == "".join(Script().tokens)
        assert answer.record.route == "diagnosis"
        assert [call.name for call in answer.record.tool_calls] == ["mold_risk"]
        meta = str(answer.query_one(".answer-meta").render())
        assert "diagnosis" in meta and "1 tool" in meta and "2 sources" in meta
        assert "What shoe mold is" in str(answer.query_one(".answer-sources").render())
        panel = app.screen.query_one(SourcePanel)
        assert [source.id for source in panel.sources] == ["mold-basics-what-is-mold", "tool:mold_risk"]
        assert panel.query_one(OptionList).option_count == 2
        status = app.screen.query_one(StatusBar).status
        assert (status.backend, status.model) == ("embedded", "shoemold-fake")
        assert status.last.startswith("1.2 s · ") and status.last.endswith(" tok/s")  # measured live
        assert app.screen.query_one("#prompt", Input).value == ""


async def test_a_pause_in_typing_reads_the_question_ahead(store):
    app, agent = make_app(store)
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, pilot)
        await pilot.press(*"wh")
        await pilot.pause(0.5)
        assert agent.read_aheads == []  # too short to be worth reading
        await pilot.press(*"ite spots on my boots")
        assert agent.read_aheads == []  # still typing
        await pilot.pause(0.5)
        await app.workers.wait_for_complete()
        assert [c["question"] for c in agent.read_aheads] == ["white spots on my boots"]
        await pilot.press("enter")
        await settle(app, pilot)
        assert agent.questions == ["white spots on my boots"]
        thread = screen_of(app).thread_id
        await pilot.press(*"and on suede?")
        await pilot.pause(0.5)
        await app.workers.wait_for_complete()
        assert agent.read_aheads[-1] == {"question": "and on suede?", "thread_id": thread, "cancelled": False}


async def test_sending_the_question_stops_its_read_ahead(store):
    app, agent = make_app(store)
    agent.read_ahead_hold = 30.0
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, pilot)
        await pilot.press(*"white spots on my boots")
        await pilot.pause(0.5)
        assert len(agent.read_aheads) == 1  # reading ahead (held until cancelled)
        await pilot.press("enter")
        await settle(app, pilot)  # would wait 30 s if sending did not stop it
        assert agent.read_aheads[0]["cancelled"] and agent.questions == ["white spots on my boots"]
        assert app.screen.query(AnswerMessage).last().state == "done"


async def test_escape_cancels_generation(store):
    slow = Script(tokens=[f"word{i} " for i in range(200)], token_delay=0.02)
    app, agent = make_app(store, slow)
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, pilot)
        prompt = app.screen.query_one("#prompt", Input)
        prompt.value = "how do I dry suede?"
        await pilot.press("enter")
        answer = app.screen.query_one(AnswerMessage)
        for _ in range(100):  # wait for streaming to begin
            await pilot.pause(0.02)
            if answer.streamed:
                break
        assert answer.streamed, "no token arrived"
        await pilot.press("escape")
        await settle(app, pilot)
        assert answer.state == "cancelled"
        assert "cancelled" in str(answer.query_one(".answer-meta").render())
        shown = "".join(answer.streamed).split()
        assert 0 < len(shown) < 200
        await pilot.pause(0.2)
        assert agent.tokens_yielded < 200  # generation stopped, it did not run on in the background
        assert screen_of(app).generation is None
        # The chat keeps working after a cancel.
        agent.script = Script()
        second = await ask(app, pilot, "and now?")
        assert second.state == "done"


async def test_new_chat_starts_empty_and_keeps_the_old_one(store):
    app, _ = make_app(store)
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, pilot)
        await ask(app, pilot, "first chat question")
        first_thread = screen_of(app).thread_id
        await pilot.press("ctrl+n")
        await pilot.pause()
        assert not app.screen.query(AnswerMessage)
        assert screen_of(app).thread_id is None
        await ask(app, pilot, "second chat question")
        assert screen_of(app).thread_id != first_thread
        titles = [item.title for item in app.screen.query(ChatItem)]
        assert titles == ["second chat question", "first chat question"]


async def test_chats_persist_across_restart(store, tmp_path):
    app, _ = make_app(store)
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, pilot)
        await ask(app, pilot, "will my boots survive?")
        thread_id = screen_of(app).thread_id

    reopened = ChatStore(path=tmp_path / "chat.sqlite")
    app2, _ = make_app(reopened)
    async with app2.run_test(size=SIZE) as pilot:
        await settle(app2, pilot)
        items = list(app2.screen.query(ChatItem))
        assert [(item.thread_id, item.title) for item in items] == [(thread_id, "will my boots survive?")]
        chats = app2.screen.query_one("#chats")
        chats.focus()
        await pilot.press("enter")
        await pilot.pause()
        screen = screen_of(app2)
        assert screen.thread_id == thread_id
        assert [user.text for user in screen.query(UserMessage)] == ["will my boots survive?"]
        answer = screen.query_one(AnswerMessage)
        assert answer.text == "".join(Script().tokens)
        assert [source.id for source in answer.sources] == ["mold-basics-what-is-mold", "tool:mold_risk"]
        assert answer.record.route == "diagnosis"


async def test_open_thread_from_command_line(store):
    store.add_turn("t-1", "stored question", {"text": "stored answer", "route": "prevention", "sources": []})
    app = ShoeMoldApp(agent_factory=lambda: FakeAgent(store), store=store, thread_id="t-1")
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, pilot)
        answer = app.screen.query_one(AnswerMessage)
        assert answer.text == "stored answer" and answer.record.route == "prevention"
        assert app.screen.sub_title == "stored question"


async def test_export_writes_markdown_with_sources(store, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    app, _ = make_app(store)
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, pilot)
        await ask(app, pilot, "mold on leather")
        await pilot.press("ctrl+s")
        await pilot.pause()
        dialog = app.screen
        assert isinstance(dialog, TextPrompt)
        field = dialog.query_one(Input)
        assert field.value == "shoeagent-mold-on-leather.md"
        field.value = "missing-folder/x.md"
        await pilot.press("enter")
        await pilot.pause()
        assert app.screen is dialog  # an invalid path keeps the dialog open with the reason
        assert "does not exist" in str(dialog.query_one("#prompt-error").render())
        field.value = "export.md"
        await pilot.press("enter")
        await settle(app, pilot)
    text = (tmp_path / "export.md").read_text(encoding="utf-8")
    assert "mold on leather" in text
    assert "What shoe mold is" in text and "mold-basics-what-is-mold" in text
    assert not list(tmp_path.glob(".export.md.*"))  # the atomic write left no temp file
    assert (tmp_path / "export.md").stat().st_mode & 0o044  # readable like any file the user writes


async def test_feedback_lines_are_appended(store, shoeagent_home):
    app, _ = make_app(store)
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, pilot)
        answer = await ask(app, pilot, "is bleach ok on suede?")
        await pilot.press("up")  # from the prompt to the last answer
        assert app.focused is answer
        await pilot.press("minus")
        await pilot.pause()
        assert isinstance(app.screen, TextPrompt)
        await pilot.press(*"no bleach on suede")
        await pilot.press("enter")
        await settle(app, pilot)
        answer.focus()
        await pilot.press("plus")
        await settle(app, pilot)
        assert answer.rating == 1
    lines = (Path(shoeagent_home) / "feedback.jsonl").read_text(encoding="utf-8").splitlines()
    records = [json.loads(line) for line in lines]
    assert [record["rating"] for record in records] == [-1, 1]
    down = records[0]
    assert down["question"] == "is bleach ok on suede?"
    assert down["answer"] == "".join(Script().tokens)
    assert down["correction"] == "no bleach on suede"
    assert down["sources"] == ["mold-basics-what-is-mold", "tool:mold_risk"]
    assert down["thread_id"] and isinstance(down["ts"], float)
    assert records[1]["correction"] is None


async def test_error_event_is_shown_and_app_keeps_running(store):
    app, _ = make_app(store, Script(error_event="Ollama stopped responding"))
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, pilot)
        answer = await ask(app, pilot, "why is it green?")
        notices = [notice.text for notice in app.screen.query(Notice)]
        assert any("Ollama stopped responding" in text for text in notices)
        assert answer.state == "done"
        assert app.is_running


async def test_exception_in_worker_is_shown(store):
    app, agent = make_app(store, Script(raise_after_tokens=ConnectionError("Ollama went away")))
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, pilot)
        answer = await ask(app, pilot, "what now?")
        assert answer.state == "failed"
        assert any("Ollama went away" in notice.text for notice in app.screen.query(Notice))
        agent.script = Script()
        assert (await ask(app, pilot, "try again")).state == "done"


async def test_model_load_failure_is_reported(store):
    app, _ = make_app(store, warm_up_error=FileNotFoundError("no GGUF model; run `shoeagent export`"))
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, pilot)
        assert app.screen.query_one(StatusBar).status.state == "failed"
        answer = await ask(app, pilot, "hello?")
        assert answer.state == "failed"
        assert any("no GGUF model" in notice.text for notice in app.screen.query(Notice))


async def test_question_waits_for_model_loading(store):
    gate = threading.Event()

    class SlowAgent(FakeAgent):
        def warm_up(self) -> None:
            gate.wait(5)

    agent = SlowAgent(store)
    app = ShoeMoldApp(agent_factory=lambda: agent, store=store)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        assert app.screen.query_one(StatusBar).status.state == "loading"
        app.screen.query_one("#prompt", Input).value = "early question"
        await pilot.press("enter")
        await pilot.pause()
        answer = app.screen.query_one(AnswerMessage)
        assert answer.state == "loading"
        gate.set()
        await settle(app, pilot)
        assert answer.state == "done"


async def test_verify_revision_replaces_streamed_text(store):
    app, _ = make_app(store, Script(tokens=["Spray bleach ", "on it."], final_text="Brush it off outdoors and dry it [1]."))
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, pilot)
        answer = await ask(app, pilot, "how to clean?")
        assert answer.revised
        assert answer_markdown(answer) == "Brush it off outdoors and dry it [1]."
        assert "revised by verify" in str(answer.query_one(".answer-meta").render())


async def test_source_opens_full_entry(store):
    from shoeagent.knowledge.entries import load_entries

    entry = load_entries()[0]
    script = Script(sources=[Script().sources[0].__class__(id=entry.id, title=entry.title["en"], snippet="short", category=entry.category)])
    app, _ = make_app(store, script)
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, pilot)
        await ask(app, pilot, "tell me")
        await pilot.press("ctrl+o")
        await pilot.press("enter")
        await pilot.pause()
        modal = app.screen
        assert isinstance(modal, SourceScreen)
        body = modal.query_one("#source-body", Markdown).source
        assert entry.body["en"].strip()[:40] in body
        await pilot.press("escape")
        await pilot.pause()
        assert isinstance(app.screen, ChatScreen)


async def test_rename_and_delete_chat(store):
    app, _ = make_app(store)
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, pilot)
        await ask(app, pilot, "old title")
        await pilot.press("ctrl+r")
        await pilot.pause()
        dialog = app.screen
        assert isinstance(dialog, TextPrompt)
        dialog.query_one(Input).value = "Boots in the attic"
        await pilot.press("enter")
        await settle(app, pilot)
        assert [chat.title for chat in store.list_chats()] == ["Boots in the attic"]
        assert app.screen.sub_title == "Boots in the attic"
        app.screen.query_one("#chats").focus()
        await pilot.press("delete")
        await pilot.pause()
        await pilot.press("y")
        await settle(app, pilot)
        assert store.list_chats() == []
        assert not app.screen.query(AnswerMessage)


async def test_command_palette_and_theme(store):
    app, _ = make_app(store)
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, pilot)
        await ask(app, pilot, "something")
        assert app.theme == DARK_THEME
        await pilot.press("ctrl+t")
        assert app.theme == LIGHT_THEME
        await pilot.press("ctrl+p")
        await pilot.pause()
        await pilot.press(*"new chat")
        await pilot.pause(0.3)
        await pilot.press("enter")
        await settle(app, pilot)
        assert screen_of(app).thread_id is None
        assert not app.screen.query(AnswerMessage)


async def test_footer_shows_binding_ids():
    bindings = {binding.id: binding.key for binding in ChatScreen.BINDINGS if binding.id}
    assert bindings["chat.new"] == "ctrl+n" and bindings["chat.export"] == "ctrl+s"


@pytest.mark.parametrize(
    ("typed", "problem"),
    [("", "Type a file name"), ("nope/x.md", "does not exist"), (".", "is a folder"), ("chat.exe", ".md")],
)
def test_export_path_validation(tmp_path, typed, problem):
    assert default_export_name("How do I keep sneakers from going moldy in a closet?").endswith("moldy.md")
    with pytest.raises(ValueError, match=problem):
        resolve_export_path(typed, tmp_path)
    assert resolve_export_path("~/x.md", tmp_path).is_absolute()


def test_speed_text():
    from shoeagent.tui.widgets.records import AnswerRecord

    record = AnswerRecord(text="x", latency_ms=2000, tokens=170)
    assert record.speed() == "2.0 s · 85 tok/s"  # stored answers: tokens over latency
    assert record.speed(42.4) == "2.0 s · 42 tok/s"  # live: the measured streaming speed
    assert AnswerRecord(text="x").speed() == ""


async def test_quit_during_generation_stops_the_worker(store):
    slow = Script(tokens=[f"w{i} " for i in range(500)], token_delay=0.02)
    app, agent = make_app(store, slow)
    async with app.run_test(size=SIZE) as pilot:
        await settle(app, pilot)
        app.screen.query_one("#prompt", Input).value = "long one"
        await pilot.press("enter")
        await pilot.pause(0.3)
        await pilot.press("ctrl+q")
        await pilot.pause(0.3)
    assert agent.tokens_yielded < 500
