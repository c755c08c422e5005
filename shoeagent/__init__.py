"""shoeagent: a bilingual (zh-TW/en) shoe-mold expert agent on small local models.

    >>> import shoeagent
    >>> answer = shoeagent.ask("How do I stop my leather boots going moldy?")
    >>> print(answer.text, answer.sources)

Importing this package is cheap: torch, transformers, llama.cpp, Chroma and LangGraph load on
first use. The public names below are resolved lazily.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

# public name -> module that defines it
_LAZY = {
    "ShoeAgent": "shoeagent.agent.api",
    "Answer": "shoeagent.agent.api",
    "ask": "shoeagent.agent.api",
    "search": "shoeagent.knowledge.store",
    "Hit": "shoeagent.knowledge.store",
}

__all__ = ["__version__", *_LAZY]

if TYPE_CHECKING:  # pragma: no cover
    from shoeagent.agent.api import Answer, ShoeAgent, ask
    from shoeagent.knowledge.store import Hit, search


def __getattr__(name: str) -> Any:
    module_name = _LAZY.get(name)
    if module_name is None:
        raise AttributeError(f"module 'shoeagent' has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(module_name), name)
    globals()[name] = value
    return value
