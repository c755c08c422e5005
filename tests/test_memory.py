"""Conversation memory: SQLite checkpoints per thread, follow-ups resolved against history,
history surviving a restart, and the ChatStore the terminal UI lists and exports."""

from __future__ import annotations

import sqlite3

from agent_fakes import GOOD_EN, GOOD_ZH, Retriever, agent_kwargs, scripted_llm
from langchain_core.messages import AIMessage, HumanMessage

from shoeagent import paths
from shoeagent.agent.api import ShoeAgent
from shoeagent.agent.memory import ChatStore, follow_up_query, is_follow_up, trim_history


def test_follow_up_detection():
    assert is_follow_up("and for suede?", "en")
    assert is_follow_up("What about canvas sneakers?", "en")
    assert not is_follow_up("How do I get mold out of the lining of my leather boots?", "en")
    assert is_follow_up("那麂皮呢？", "zh")
    assert not is_follow_up("我的皮鞋放在鞋櫃裡發霉了，要怎麼清理？", "zh")


def test_follow_up_query_keeps_the_topic_across_several_follow_ups():
    first = HumanMessage("How do I prevent mold on leather boots?", additional_kwargs={"topic": "How do I prevent mold on leather boots?"})
    query, topic = follow_up_query("and for suede?", "en", [first, AIMessage("...")])
    assert query == "How do I prevent mold on leather boots? and for suede?"
    second = HumanMessage("and for suede?", additional_kwargs={"topic": topic})
    query2, _ = follow_up_query("and canvas?", "en", [first, AIMessage("..."), second, AIMessage("...")])
    assert query2 == "How do I prevent mold on leather boots? and canvas?"
    assert follow_up_query("and for suede?", "en", []) == ("and for suede?", "and for suede?")


def test_trim_history_fits_the_budget_and_starts_with_a_user_turn():
    history = [HumanMessage("q1 " * 50), AIMessage("a1 " * 50), HumanMessage("q2"), AIMessage("a2")]
    kept = trim_history(history, budget_tokens=40, count_tokens=lambda t: len(t.split()))
    assert kept == [{"role": "user", "content": "q2"}, {"role": "assistant", "content": "a2"}]
    assert trim_history(history, budget_tokens=3, count_tokens=lambda t: len(t.split())) == []


def test_follow_up_is_searched_with_the_previous_question():
    retriever = Retriever()
    agent = ShoeAgent(llm=scripted_llm(GOOD_EN, GOOD_EN), **agent_kwargs(retriever=retriever))
    agent.ask("How do I prevent mold on leather boots?", thread_id="t1")
    answer = agent.ask("and for suede?", thread_id="t1")
    assert retriever.calls[1]["query"] == "How do I prevent mold on leather boots? and for suede?"
    assert answer.thread_id == "t1" and not answer.refused
    assert any("follow-up" in n for n in answer.notes)


def test_follow_up_in_chinese_and_history_reaches_the_model():
    retriever = Retriever()
    llm = scripted_llm(GOOD_ZH, GOOD_ZH)
    agent = ShoeAgent(llm=llm, **agent_kwargs(retriever=retriever))
    agent.ask("皮鞋要怎麼預防發霉？", thread_id="zh")
    agent.ask("那麂皮呢？", thread_id="zh")
    assert retriever.calls[1]["query"] == "皮鞋要怎麼預防發霉？ 那麂皮呢？"
    roles = [m.type for m in llm.chat.seen[1]]
    assert roles == ["system", "human", "ai", "human"]  # the previous turn, then this one
    assert llm.chat.seen[1][1].content == "皮鞋要怎麼預防發霉？"


def test_threads_are_separate_and_unthreaded_questions_keep_no_history():
    retriever = Retriever()
    agent = ShoeAgent(llm=scripted_llm(GOOD_EN, GOOD_EN, GOOD_EN), **agent_kwargs(retriever=retriever))
    agent.ask("How do I prevent mold on leather boots?", thread_id="a")
    agent.ask("and for suede?", thread_id="b")
    agent.ask("and for suede?")
    assert retriever.calls[1]["query"] == "and for suede?"
    assert retriever.calls[2]["query"] == "and for suede?"
    assert len(agent.history("a")) == 2 and len(agent.history("b")) == 2


def test_history_survives_a_restart(shoeagent_home):
    first = ShoeAgent(llm=scripted_llm(GOOD_EN), **agent_kwargs())
    first.ask("How do I prevent mold on leather boots?", thread_id="persist")
    del first

    retriever = Retriever()
    second = ShoeAgent(llm=scripted_llm(GOOD_EN), **agent_kwargs(retriever=retriever))
    history = second.history("persist")
    assert [m.type for m in history] == ["human", "ai"]
    assert history[1].content == GOOD_EN
    second.ask("and for suede?", thread_id="persist")
    assert retriever.calls[0]["query"].startswith("How do I prevent mold on leather boots?")
    assert paths.chat_db().is_file() and str(paths.chat_db()).startswith(str(shoeagent_home))


def test_turns_are_recorded_in_the_chat_store_and_exported():
    agent = ShoeAgent(llm=scripted_llm(GOOD_EN, GOOD_EN), **agent_kwargs())
    agent.ask("How do I prevent mold on leather boots?", thread_id="t9")
    agent.ask("and for suede?", thread_id="t9")
    store = ChatStore()
    chats = store.list_chats()
    assert [c.thread_id for c in chats] == ["t9"]
    assert chats[0].title == "How do I prevent mold on leather boots?"
    messages = store.messages("t9")
    assert [m.role for m in messages] == ["user", "assistant", "user", "assistant"]
    assert messages[1].answer["sources"][0]["id"] == "env-humidity-thresholds"
    markdown = store.export_markdown("t9")
    assert markdown.startswith("# How do I prevent mold on leather boots?")
    assert "**ShoeMold:** " + GOOD_EN in markdown
    assert "1. Humidity thresholds for mold on shoes (`env-humidity-thresholds`)" in markdown


def test_chat_store_crud_and_delete_removes_checkpoints():
    store = ChatStore()
    older = store.create_chat("First")
    newer = store.create_chat("Second")
    assert [c.thread_id for c in store.list_chats()] == [newer, older]
    store.rename_chat(older, "Renamed " + "x" * 100)
    assert store.get_chat(older).title.startswith("Renamed") and len(store.get_chat(older).title) <= 60

    agent = ShoeAgent(llm=scripted_llm(GOOD_EN), **agent_kwargs())
    agent.ask("How do I prevent mold on leather boots?", thread_id=older)
    assert [c.thread_id for c in store.list_chats()][0] == older  # updated most recently
    with sqlite3.connect(paths.chat_db()) as conn:
        assert conn.execute("SELECT COUNT(*) FROM checkpoints WHERE thread_id = ?", (older,)).fetchone()[0] > 0
    store.delete_chat(older)
    assert [c.thread_id for c in store.list_chats()] == [newer]
    assert store.messages(older) == []
    with sqlite3.connect(paths.chat_db()) as conn:
        assert conn.execute("SELECT COUNT(*) FROM checkpoints WHERE thread_id = ?", (older,)).fetchone()[0] == 0
    assert agent.history(older) == []
