"""End to end on the real parts: the knowledge index, router, planner, tools and the embedded
llama.cpp model. Every answer must be grounded, cite a source and state no unsupported number."""

from __future__ import annotations

import re

import pytest

from shoeagent.agent.api import ShoeAgent
from shoeagent.agent.verify import citations, numbers

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def agent(tmp_path_factory):
    # Module-scoped so the model is loaded and the index built once: the knowledge store's default
    # instance keeps the directory it was first opened in, whatever SHOEAGENT_HOME says later.
    from shoeagent.knowledge import store

    home = tmp_path_factory.mktemp("e2e_home")
    mp = pytest.MonkeyPatch()
    mp.setenv("SHOEAGENT_HOME", str(home))
    store.reset_default()
    yield ShoeAgent(backend="embedded", max_tokens=120)
    store.reset_default()
    mp.undo()


def _supported(answer) -> set[str]:
    text = " ".join(f"{s.title} {s.snippet}" for s in answer.sources)
    text += " " + " ".join(str(t.args) + " " + str(t.result) for t in answer.tool_calls)
    return numbers(text)


def test_english_prevention_question(agent):
    answer = agent.ask("How should I store my leather boots so they don't get moldy?")
    assert not answer.refused and answer.grounded
    assert answer.backend == "embedded" and answer.lang == "en"
    assert len(answer.sources) >= 1 and citations(answer.text)
    assert numbers(answer.text) <= _supported(answer) | numbers("How should I store my leather boots")
    assert answer.latency_ms > 0 and answer.tokens > 0


def test_chinese_question(agent):
    answer = agent.ask("鞋櫃裡的球鞋發霉了，要怎麼清理？")
    assert not answer.refused and answer.grounded and answer.lang == "zh"
    assert len(answer.sources) >= 1 and citations(answer.text)
    assert numbers(answer.text) <= _supported(answer)


def test_out_of_scope_is_refused_without_the_model(agent):
    answer = agent.ask("What's a good recipe for banana bread?")
    assert answer.refused and answer.tokens == 0 and "mold on shoes" in answer.text


def test_answers_say_what_was_asked_on_the_real_model(agent):
    # Invariants of the final answer, whatever the draft and whichever of verify's steps or composition
    # supplied the sentence (tests/test_agent_verify.py tests each step on its own): a question whether
    # to see a doctor hears when to, and an answer that says never to dry leather with heat says how to.
    answer = agent.ask("腳趾縫很癢又脫皮，是香港腳還是鞋子發霉？要看醫生嗎")
    body = answer.text.split("\n\n")[0]  # without the health note every health answer gets
    ids = [s.id for s in answer.sources]
    assert answer.grounded and "health-when-to-see-doctor" in ids
    assert re.search(r"看(?:醫生|醫師|皮膚科)|就醫", body)  # when to see a doctor, from the knowledge
    if "health-athletes-foot-dermatophytes" in ids:  # "athlete's foot or mold?": the passage that tells them apart
        assert "皮癬菌" in body
    answer = agent.ask("皮鞋淋雨濕掉了可以用吹風機吹乾嗎")
    assert answer.grounded and citations(answer.text)
    if "不要直接用高溫烘乾" in answer.text:  # never only what not to do
        assert "室溫" in answer.text
