"""How many CPU threads llama.cpp and torch get: one rule for the agent, the evaluation and the export.

Measured on this project's 2-core machine with the 145 MB shoemold GGUF (``python -m
benchmarks.threads``): decoding one token of a 135M model is too little work to split, so a second
decode thread only adds a barrier per layer. One decode thread ran at 117 tokens/s quiet and 94
under load; two threads ran at 137 with spinning OpenMP waits but collapsed to 34-48 under load,
and at 41 quiet with passive waits. Prompt evaluation is a large batch and does scale (860
tokens: 2.2 s on one thread, 1.3 s on two). So: prompts on every core (one while the machine is
oversubscribed), tokens on one thread for small models, and OpenMP threads that sleep rather
than spin while they wait. ``SHOEAGENT_THREADS`` overrides the decode count.
"""

from __future__ import annotations

import os
from pathlib import Path

SMALL_MODEL_BYTES = 1 << 30
"""GGUF files below this (about a 1B model in 8 bits) decode on one thread."""


def cores() -> int:
    return os.cpu_count() or 1


def threads_for_load() -> int:
    """All cores, or one while the machine is oversubscribed (load average above its cores).

    Thread pools that spin-wait for each other collapse when other processes hold the cores.
    Measured on 2 shared cores at load 7-9: 16 greedy tokens of SmolLM2 in torch took 82 s with 2
    threads and 12 s with 1; 32 tokens in llama.cpp took 188 s with 2 threads and 16 s with 1.
    """
    return 1 if os.getloadavg()[0] > cores() else cores()


def decode_threads(model_path: str | os.PathLike[str] | None = None) -> int:
    """Threads for generating tokens: ``SHOEAGENT_THREADS``, else 1 for a small model, else :func:`threads_for_load`."""
    raw = os.environ.get("SHOEAGENT_THREADS", "").strip()
    if raw:
        try:
            value = int(raw)
        except ValueError:
            raise ValueError(f"SHOEAGENT_THREADS={raw!r} is not a whole number; set it to e.g. 1 or {cores()}, or unset it.") from None
        if value < 1:
            raise ValueError(f"SHOEAGENT_THREADS={raw!r} must be at least 1; set it to e.g. 1 or {cores()}, or unset it.")
        return value
    try:
        small = model_path is not None and Path(model_path).stat().st_size < SMALL_MODEL_BYTES
    except OSError:
        small = False
    return 1 if small else threads_for_load()


def llama_thread_args(model_path: str | os.PathLike[str] | None = None) -> dict[str, int]:
    """``n_threads`` / ``n_threads_batch`` for ``llama_cpp.Llama``; also asks OpenMP not to spin (see module doc).

    Call it before ``llama_cpp`` is first imported: libgomp reads ``OMP_WAIT_POLICY`` once, and a
    value the user set wins.
    """
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    return {"n_threads": decode_threads(model_path), "n_threads_batch": threads_for_load()}


DRAFT_TOKENS = 10
"""Tokens guessed per model step by prompt lookup (``agent/speculative.py``). Tried on 28 of the
agent's own prompts, each number back to back with plain decoding: 4 guessed tokens were 1.26x as
fast, 8 1.33x, 10 1.38x, 12 1.35x, 16 1.34x (prompt reading included; runs vary by about 0.1).
Growing or shrinking the number with each step's outcome did not help. The limit is cost: on
these 2 cores a batch of 11 tokens takes about 5 times as long as one token."""


def draft_tokens() -> int:
    """``SHOEAGENT_DRAFT_TOKENS`` (0 to 32; 0 turns prompt lookup off), else :data:`DRAFT_TOKENS`."""
    raw = os.environ.get("SHOEAGENT_DRAFT_TOKENS", "").strip()
    if not raw:
        return DRAFT_TOKENS
    try:
        value = int(raw)
    except ValueError:
        value = -1
    if not 0 <= value <= 32:
        raise ValueError(
            f"SHOEAGENT_DRAFT_TOKENS={raw!r} is not a whole number from 0 to 32; use 0 to turn prompt lookup off "
            f"or e.g. {DRAFT_TOKENS} (the default), or unset it."
        )
    return value


def flash_attention() -> bool:
    """Whether llama.cpp runs flash attention: yes unless ``SHOEAGENT_FLASH_ATTN`` is 0/false/no/off.

    Any other value than those and 1/true/yes/on is a ValueError naming the variable.

    Measured on 2 cores with the shoemold GGUF (the same engine settings, alternating, 5 runs each,
    median): a 992-token Chinese prompt read in 2.32 s instead of 3.05 s, a 433-token English one in
    0.86 s instead of 1.10 s, and 64 greedy tokens took 0.66 s instead of 0.76 s, with the same text.
    """
    raw = os.environ.get("SHOEAGENT_FLASH_ATTN", "").strip()
    value = raw.lower()
    if value in ("", "1", "true", "yes", "on"):
        return True
    if value in ("0", "false", "no", "off"):
        return False
    raise ValueError(f"SHOEAGENT_FLASH_ATTN={raw!r} is not understood; set it to 1 (on, the default) or 0 (off), or unset it.")


def setting_problems(home: bool = True) -> list[str]:
    """One message per malformed setting, naming the variable, its value and what it accepts: the
    user-data folder (unless ``home`` is False), the engine's (SHOEAGENT_THREADS, SHOEAGENT_FLASH_ATTN,
    SHOEAGENT_DRAFT_TOKENS),
    every SHOEAGENT_* variable the agent's Context reads, SHOEAGENT_AUTO_BUILD, CHROMA_PORT and
    SHOEAGENT_EMBEDDINGS.
    ``shoeagent doctor`` lists them all; :func:`check_settings` refuses the first."""
    from shoeagent import paths
    from shoeagent.agent.context import setting_problems as context_problems
    from shoeagent.knowledge.store import chroma_port

    checks = [paths.check_home] if home else []
    from shoeagent.finetune.export_cli import auto_build_enabled

    checks += [decode_threads, flash_attention, draft_tokens, chroma_port, auto_build_enabled]
    if os.environ.get("SHOEAGENT_EMBEDDINGS", "").strip():  # the check imports chromadb: only when set
        from shoeagent.knowledge.embedding import embedding_choice

        checks.append(embedding_choice)
    problems = []
    for check in checks:
        try:
            check()
        except ValueError as exc:
            problems.append(str(exc))
    return problems + context_problems()


def check_settings() -> None:
    """Raise ValueError naming the variable if any setting is malformed (see :func:`setting_problems`):
    commands call it first, so a typo fails at once rather than inside an answer."""
    problems = setting_problems()
    if problems:
        raise ValueError(problems[0])
