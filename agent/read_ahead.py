"""The prompt a question will get, built before it is asked, so the model can read it ahead.

Most of the time to an answer's first token is llama.cpp reading the prompt (sources and question):
about 0.6 s for an English question and 1.7 s for a Chinese one on two cores, where this tokenizer
spends about two tokens on a Chinese character. The chat knows the question before it is sent: it
calls :meth:`shoeagent.ShoeAgent.read_ahead` whenever the user pauses while typing. That runs the
graph's steps before ``generate`` (route, retrieve, tools) on the text so far, builds the messages
exactly as ``generate`` would (:func:`prompt_for`), and has the backend read them into its cache
(:meth:`ChatBackend.prefill`). When the question is sent, the graph builds the same prompt again, or
one that starts the same way, and llama.cpp reads only what differs.

Nothing here is recorded: no checkpoint, no events, no answer. The nodes are the graph's own, called
directly with a silent runtime, so the prompt cannot drift from the one the graph builds.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any

from langchain_core.messages import AnyMessage
from langgraph.graph import add_messages
from langgraph.runtime import Runtime

from shoeagent.agent import nodes
from shoeagent.agent.context import Context
from shoeagent.agent.state import State, extend_notes

_REDUCERS = {"messages": add_messages, "notes": extend_notes}


def _merged(state: State, update: dict[str, Any]) -> State:
    """``state`` with a node's ``update`` applied, through the state's reducers where it has them."""
    changes = {
        key: _REDUCERS[key](getattr(state, key), value) if key in _REDUCERS else value for key, value in update.items()
    }
    return dataclasses.replace(state, **changes)


def prompt_for(question: str, history: Sequence[AnyMessage], context: Context) -> list[dict[str, str]] | None:
    """The messages ``generate`` would give the model for ``question`` after ``history``; None when
    the graph would refuse it instead (out of scope, nothing relevant found)."""
    runtime = Runtime(context=context)
    state = State(question=question, messages=list(history))
    for node in (nodes.route, nodes.retrieve, nodes.tools):
        state = _merged(state, node(state, runtime))
        if state.refused:
            return None
    return nodes.build_messages(state, context, context.get_llm(), redraft=False)
