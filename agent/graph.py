"""The agent's LangGraph: build it, and the compiled ``graph`` that ``langgraph.json`` points at.

    route -> retrieve -> tools -> generate -> verify -> finalize
      |         |          |                    |-> generate (one bounded redraft)
      |         |          |                    '-> compose -> finalize (after the redraft, or a thin draft)
      '---------'----------'-> refuse -> finalize

Every loop is bounded by the retry counter in the state (``attempts`` against
``Context.max_retries``), never by the recursion limit. ``ShoeAgent`` compiles its own copy with
the SQLite checkpointer; the module-level ``graph`` has none (LangGraph's server brings its own).
"""

from __future__ import annotations

from typing import Any

from langgraph.graph import END, START, StateGraph

from shoeagent.agent import nodes
from shoeagent.agent.context import Context
from shoeagent.agent.state import InputState, State


def build_graph() -> StateGraph:
    """The uncompiled graph (nodes, edges and routers)."""
    builder = StateGraph(State, input_schema=InputState, context_schema=Context)
    builder.add_node("route", nodes.route)
    builder.add_node("retrieve", nodes.retrieve)
    builder.add_node("tools", nodes.tools)
    builder.add_node("generate", nodes.generate)
    builder.add_node("verify", nodes.verify)
    builder.add_node("compose", nodes.compose)
    builder.add_node("refuse", nodes.refuse)
    builder.add_node("finalize", nodes.finalize)

    builder.add_edge(START, "route")
    builder.add_conditional_edges("route", nodes.after_route)
    builder.add_conditional_edges("retrieve", nodes.after_retrieve)
    builder.add_conditional_edges("tools", nodes.after_tools)
    builder.add_edge("generate", "verify")
    builder.add_conditional_edges("verify", nodes.after_verify)
    builder.add_edge("compose", "finalize")
    builder.add_edge("refuse", "finalize")
    builder.add_edge("finalize", END)
    return builder


def compile_graph(checkpointer: Any = None) -> Any:
    """The compiled graph, with ``checkpointer`` for multi-turn memory when given."""
    return build_graph().compile(checkpointer=checkpointer, name="shoeagent")


graph = compile_graph()
