"""End to end on the real parts: the knowledge index, router, planner, tools and the embedded
llama.cpp model. Every answer must be grounded, cite a source and state no unsupported number."""

from __future__ import annotations

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
