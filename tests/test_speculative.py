"""Prompt-lookup decoding (agent/speculative.py): the guesser's logic, then the real engine, where
guessing must give the text plain decoding gives while taking fewer model steps."""

from __future__ import annotations

import threading

import pytest

from shoeagent import threads
from shoeagent.agent import llm
from shoeagent.agent.speculative import NgramDrafter, stream_text

# ------------------------------------------------------------------ the guesser


def test_the_drafter_continues_the_latest_earlier_occurrence_of_the_tail():
    drafter = NgramDrafter([1, 2, 3, 4, 5, 9, 1, 2])
    assert drafter.draft(3) == [3, 4, 5]
    assert drafter.draft(1) == [3]
    assert drafter.draft(0) == []
    drafter.extend([3])
    assert drafter.draft(10) == [4, 5, 9, 1, 2, 3]  # runs to the end of the history


def test_the_drafter_prefers_the_longest_matching_run_and_needs_two_tokens():
    # [7, 2] last appeared before 8; [2] alone last appeared before 6: the longer run wins.
    drafter = NgramDrafter([7, 2, 8, 8, 2, 6, 5, 7, 2])
    assert drafter.draft(2) == [8, 8]
    assert NgramDrafter([5, 1, 6, 1]).draft(4) == []  # a single shared token is not enough
    assert NgramDrafter([]).draft(4) == [] and NgramDrafter([3]).draft(4) == []


def test_the_drafter_never_offers_the_tail_itself():
    assert NgramDrafter([4, 4, 4]).draft(3) == [4]  # [4, 4] at 0 continues with one 4
    assert NgramDrafter([1, 2]).draft(3) == []


class _BytesEngine:
    def __init__(self, pieces: dict[int, bytes]) -> None:
        self.pieces = pieces

    def detokenize(self, tokens: list[int]) -> bytes:
        return b"".join(self.pieces[t] for t in tokens)


def test_stream_text_waits_for_whole_characters_and_stops_before_a_stop_string():
    engine = _BytesEngine({1: "黴".encode()[:2], 2: "黴".encode()[2:] + b"ok <|im", 3: b"_end|> never", 4: b" <|i", 5: b"x"})
    assert list(stream_text(engine, iter([1, 2, 3]), ["<|im_end|>"])) == ["黴ok "]
    # A held-back start of a stop that turns out not to be one is given back.
    assert "".join(stream_text(engine, iter([1, 2, 5]), ["<|im_end|>"])) == "黴ok <|imx"
    assert "".join(stream_text(engine, iter([4]), ["<|im_end|>"])) == " <|i"


def test_draft_tokens_setting(monkeypatch):
    monkeypatch.delenv("SHOEAGENT_DRAFT_TOKENS", raising=False)
    assert threads.draft_tokens() == threads.DRAFT_TOKENS
    monkeypatch.setenv("SHOEAGENT_DRAFT_TOKENS", " 0 ")
    assert threads.draft_tokens() == 0
    for bad in ("-1", "33", "ten"):
        monkeypatch.setenv("SHOEAGENT_DRAFT_TOKENS", bad)
        with pytest.raises(ValueError, match="SHOEAGENT_DRAFT_TOKENS=.*0 to turn prompt lookup off"):
            threads.draft_tokens()
        assert any("SHOEAGENT_DRAFT_TOKENS" in p for p in threads.setting_problems(home=False))


# ------------------------------------------------------------------ the real engine

SOURCE = (
    "Keep shoes at 50-60% relative humidity. Mold grows when relative humidity stays above 70% for days, "
    "and visible growth can appear within 24-48 hours of staying wet."
)
COPY = [{"role": "system", "content": "You repeat text exactly."},
        {"role": "user", "content": f"Repeat this text exactly, word for word:\n{SOURCE}"}]


@pytest.fixture
def backend():  # per test: each test has its own SHOEAGENT_HOME (engines are cached per GGUF anyway)
    return llm.embedded_backend()


def _run(backend, messages, draft, **kwargs):
    backend.draft_tokens = draft
    backend.engine().reset()
    try:
        text = "".join(backend.stream(messages, **{"max_tokens": 64, "temperature": 0.0, **kwargs}))
    finally:
        backend.draft_tokens = None
    return text, backend.last_decode


@pytest.mark.parametrize("temperature", [0.0, 0.2])
def test_guessing_gives_plain_decodings_text_in_fewer_steps(backend, temperature):
    plain, plain_stats = _run(backend, COPY, 0, temperature=temperature)
    guessed, stats = _run(backend, COPY, 10, temperature=temperature)
    assert plain.strip() and guessed == plain
    assert plain_stats.steps == plain_stats.tokens - 1 or plain_stats.steps == plain_stats.tokens  # one token per step
    assert stats.tokens == plain_stats.tokens
    assert stats.accepted > 0 and stats.steps < plain_stats.steps


def test_plain_decoding_matches_llama_cpp_own_generation(backend):
    engine = backend.engine()
    engine.reset()
    reply = engine.create_chat_completion(messages=COPY, max_tokens=48, temperature=0.2, top_p=0.9,
                                          repeat_penalty=backend.repeat_penalty, stop=llm.CHATML_STOPS, seed=42)
    text, _ = _run(backend, COPY, 0, temperature=0.2, max_tokens=48)
    assert text == reply["choices"][0]["message"]["content"]


def test_the_cache_holds_exactly_what_was_read(backend):
    text, stats = _run(backend, COPY, 10, max_tokens=40)
    engine = backend.engine()
    prompt = backend.prompt_tokens(COPY)
    held = engine.input_ids[: engine.n_tokens].tolist()
    assert held[: len(prompt)] == prompt
    # The kept answer tokens follow the prompt; a guess past the last kept token may remain, never more.
    answer = engine.tokenize(text.encode(), add_bos=False, special=False)
    assert len(prompt) + stats.tokens - 1 <= len(held) <= len(prompt) + stats.tokens + 10
    assert engine.detokenize(held[len(prompt) : len(prompt) + stats.tokens]).decode(errors="ignore").startswith(text[:20])
    assert answer
    # A read-ahead of the same prompt afterwards reuses it all (reads nothing).
    assert backend.prefill(COPY) == 0


def test_max_tokens_and_cancel_are_honoured(backend):
    _, stats = _run(backend, COPY, 10, max_tokens=5)
    assert stats.tokens == 5
    cancel = threading.Event()
    backend.engine().reset()
    pieces = []
    for piece in backend.stream(COPY, max_tokens=64, temperature=0.0, cancel=cancel):
        pieces.append(piece)
        cancel.set()
    assert len(pieces) == 1 and backend.last_decode.tokens < 15


def test_a_prompt_that_fills_the_context_is_a_backend_error(backend):
    huge = [{"role": "user", "content": "mold " * (backend.engine().n_ctx() + 10)}]
    with pytest.raises(llm.BackendError, match="could not start.*exceed context window"):
        list(backend.stream(huge, max_tokens=8))
    text, _ = _run(backend, COPY, 10, max_tokens=8)  # the engine still answers afterwards
    assert text.strip()


def test_a_gguf_without_its_own_chat_template_still_answers(backend, monkeypatch):
    """prompt_tokens needs the GGUF's template; without one, llama-cpp-python formats and decodes."""

    def no_template(messages):
        raise llm.BackendError("answers through chat format 'llama-2', not its own template")

    monkeypatch.setattr(backend, "prompt_tokens", no_template)
    backend.last_decode = None
    backend.engine().reset()
    text = "".join(backend.stream(COPY, max_tokens=12, temperature=0.0))
    assert text.strip() and backend.last_decode is None  # the plain path, not the lookup loop
