"""Prompt-lookup decoding for the embedded engine: the same tokens, fewer model steps.

An answer copies much of its prompt: key facts, terms and whole phrases of the sources. So the next
few tokens can often be guessed by finding the last few generated tokens earlier in the prompt or
the answer and taking what followed them there (prompt lookup; no second model). llama.cpp then
reads the sampled token and the guesses in one batch, which costs less than reading them one at a
time, and the sampler picks each next token from that batch's logits in order.
Every guess up to the first one the sampler did not pick is kept; the sampler's own pick replaces
that one. The sampler sees the same logits and draws once per token kept, as plain decoding does,
so the text is the same, apart from rare near-ties that come out differently because a batch
rounds differently from one token at a time (``benchmarks/lookup.py`` counts them).

Measured on the agent's own prompts (``benchmarks/lookup.py``, 19 model calls of 16 questions, each
replayed both ways in the same run): 4.5 tokens per model step; the tokens after the first came
1.36x as fast (Chinese 1.45x, English 1.17x), and whole generations, prompt reading included, took
1.21x less time (Chinese 1.25x, English 1.10x). All 19 replies had the same text both ways.
Chinese answers, which copy their sources most, gain most. The gain is bounded by cost, not by
guessing: on these 2 cores llama.cpp reads a batch of 11 tokens in about 5 times one token's time.

The prompt itself is read exactly as before (logits only for its last token), so the time to the
first token does not change.
"""

from __future__ import annotations

import codecs
import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

NGRAM_MAX = 4
"""The longest run of recent tokens looked up in the history."""
NGRAM_MIN = 2
"""The shortest: a single token matches too often to guess from."""


@dataclass
class NgramDrafter:
    """Guesses the tokens after the history's last ``NGRAM_MIN``-``NGRAM_MAX`` tokens from their
    latest earlier occurrence (longest run first). Indexes grow by one entry per size and token."""

    history: list[int] = field(default_factory=list)
    sizes: tuple[int, ...] = tuple(range(NGRAM_MAX, NGRAM_MIN - 1, -1))
    _seen: dict[int, dict[tuple[int, ...], int]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        tokens, self.history = list(self.history), []
        self._seen = {size: {} for size in self.sizes}
        self.extend(tokens)

    def extend(self, tokens: Sequence[int]) -> None:
        for token in tokens:
            # Index every run that ends just before this token: its continuation now exists.
            end = len(self.history)
            for size in self.sizes:
                if end >= size:
                    self._seen[size][tuple(self.history[end - size : end])] = end
            self.history.append(token)

    def draft(self, limit: int) -> list[int]:
        """Up to ``limit`` tokens that followed the latest earlier occurrence of the history's tail."""
        if limit <= 0:
            return []
        n = len(self.history)
        for size in self.sizes:
            if n < size:
                continue
            start = self._seen[size].get(tuple(self.history[n - size :]))
            if start is not None:
                return self.history[start : start + limit]
        return []


@dataclass
class DecodeStats:
    """What one generation did: model steps, tokens guessed, and guesses kept."""

    steps: int = 0
    drafted: int = 0
    accepted: int = 0
    tokens: int = 0


def cached_prefix(engine: Any, tokens: Sequence[int]) -> int:
    """How many leading ``tokens`` the engine's cache already holds (llama.cpp need not read them again)."""
    held = engine.input_ids[: engine.n_tokens].tolist()
    shared = 0
    while shared < min(len(held), len(tokens)) and held[shared] == tokens[shared]:
        shared += 1
    return shared


def generate_tokens(
    engine: Any,
    prompt: Sequence[int],
    *,
    max_tokens: int,
    sampler: Any,
    stop_ids: set[int],
    draft_tokens: int,
    cancel: threading.Event | None = None,
    stats: DecodeStats | None = None,
) -> Iterator[int]:
    """Yield the tokens sampled after ``prompt`` on a ``llama_cpp.Llama`` engine, up to ``max_tokens``
    or a token of ``stop_ids`` (not yielded), guessing up to ``draft_tokens`` tokens per step
    (0: one token per step, plain decoding).

    The engine's cache is reused for the longest prefix it holds and left holding exactly the tokens
    read, so read-ahead and the next answer find it as llama.cpp's own generation leaves it. The
    caller holds the generation lock. Raises ValueError for a prompt that leaves no room to answer,
    RuntimeError when llama.cpp fails.
    """
    n_ctx = engine.n_ctx()
    if len(prompt) >= n_ctx:
        raise ValueError(f"Requested tokens ({len(prompt)}) exceed context window of {n_ctx}")
    stats = stats if stats is not None else DecodeStats()
    reuse = min(cached_prefix(engine, prompt), len(prompt) - 1)  # the last prompt token is always read, for live logits
    engine.n_tokens = reuse
    engine.eval(list(prompt[reuse:]))  # drops the cache beyond ``reuse`` first; logits for the last token only
    drafter = NgramDrafter(list(prompt))
    token = sampler.sample(engine._ctx, -1)
    produced = 0
    try:
        while token not in stop_ids:
            yield token
            produced += 1
            drafter.extend([token])
            if produced >= max_tokens or (cancel is not None and cancel.is_set()):
                return
            room = min(max_tokens - produced, n_ctx - engine.n_tokens - 1, draft_tokens)
            if room < 0:
                return  # the context is full
            guesses = drafter.draft(room)
            batch = [token, *guesses]
            past = engine.n_tokens
            engine._batch.set_batch(batch=batch, n_past=past, logits_all=True)
            engine._ctx.decode(engine._batch)
            engine.input_ids[past : past + len(batch)] = batch
            engine.n_tokens = past + len(batch)
            stats.steps += 1
            stats.drafted += len(guesses)
            for i, guess in enumerate(guesses):
                picked = sampler.sample(engine._ctx, i)
                if picked != guess or picked in stop_ids:
                    token = picked
                    break
                stats.accepted += 1
                yield picked
                produced += 1
                drafter.extend([picked])
                if produced >= max_tokens:
                    return
            else:
                token = sampler.sample(engine._ctx, len(guesses))
                continue
            # The guesses after position i were read but not kept: forget them.
            keep = past + i + 1
            engine._ctx.kv_cache_seq_rm(-1, keep, -1)
            engine.n_tokens = keep
    finally:
        stats.tokens += produced
        engine._requires_eval = True  # the context's logits no longer belong to its last token


def stream_text(engine: Any, tokens: Iterator[int], stops: Sequence[str]) -> Iterator[str]:
    """The text of ``tokens``, in pieces as soon as they are whole UTF-8, ending before any of
    ``stops`` (a piece that could be the start of one is held back until it is known)."""
    decoder = codecs.getincrementaldecoder("utf-8")(errors="ignore")
    pending = ""
    for token in tokens:
        pending += decoder.decode(engine.detokenize([token]))
        cut = min((pending.find(stop) for stop in stops if stop in pending), default=-1)
        if cut >= 0:
            if pending[:cut]:
                yield pending[:cut]
            return
        hold = max((n for stop in stops for n in range(len(stop) - 1, 0, -1) if pending.endswith(stop[:n])), default=0)
        if len(pending) > hold:
            yield pending[: len(pending) - hold]
            pending = pending[len(pending) - hold :]
    pending += decoder.decode(b"", final=True)
    if pending:
        yield pending
