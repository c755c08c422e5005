"""Faults: the parts the agent depends on fail while it runs, and nothing crashes or is lost.

* Ollama unreachable at start, killed between turns, dying mid-stream or going silent: the answer
  comes from the embedded model (or fails with a clear message) and the conversation saved in the
  SQLite checkpoint is exactly what it was, plus the new turn.
* The Chroma store deleted or overwritten under a knowledge base that has it open: detected on the
  next search, rebuilt, the question answered (and ``kb add`` works on the rebuilt store).
* The chat database locked by another process (waited for, then a clear error; nothing saved is
  lost) or damaged (moved aside as ``chat.sqlite.corrupt-<time>``, a new one started, a warning).
* Training killed with SIGKILL mid-epoch: ``--resume`` ends where an uninterrupted run ends.
* Export killed halfway or out of space: the previous GGUF, Modelfile and manifest stay intact,
  leftovers are cleaned by the next export.
* Invalid configs and broken dataset files through the CLI: exit 2, one line naming the field or line.

Known faults covered elsewhere (not repeated here): tests/test_backends.py (stand-in dying mid-stream
at the backend level, fallback for one turn), tests/test_knowledge_store.py (deleted/corrupted store
opened by a fresh object), tests/test_export.py (ENOSPC and failing stages in-process, stale
``.partial`` files), tests/test_finetune_config.py and tests/test_dataset.py (config field/range
messages, broken JSONL lines), tests/test_train.py (resume of a finished run).
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from agent_fakes import GOOD_EN, agent_kwargs, scripted_llm
from knowledge_fixtures import write_entries
from ollama_standin import OllamaStandIn
from typer.testing import CliRunner

from shoeagent import paths
from shoeagent.agent import llm as backends
from shoeagent.agent import memory
from shoeagent.agent.api import ShoeAgent
from shoeagent.agent.memory import ChatDatabaseError, ChatStore

Q1 = "How do I prevent mold on leather boots?"
Q2 = "How do I keep my sneakers from going moldy in a humid closet?"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _saved(thread_id: str) -> dict[str, list]:
    """What the chat database holds for a thread, read by fresh objects: checkpoint messages and chat list."""
    reader = ShoeAgent(llm=scripted_llm(), **agent_kwargs())
    return {
        "checkpoint": [(m.type, m.content) for m in reader.history(thread_id)],
        "chat_list": [(m.role, m.text) for m in ChatStore().messages(thread_id)],
    }


def _turn(question: str, answer: str) -> dict[str, list]:
    return {"checkpoint": [("human", question), ("ai", answer)], "chat_list": [("user", question), ("assistant", answer)]}


def _plus(*turns: dict[str, list]) -> dict[str, list]:
    return {key: [item for turn in turns for item in turn[key]] for key in ("checkpoint", "chat_list")}


# --------------------------------------------------------------------------- Ollama


class KillableOllama(OllamaStandIn):
    """The stand-in, plus :meth:`kill`: like a crashed server it also drops the kept-alive connections
    (``stop`` alone leaves their handler threads serving, which a dead process would not)."""

    def start(self) -> KillableOllama:
        super().start()
        handler = self._server.RequestHandlerClass
        connections = self._connections = []
        original = handler.setup

        def setup(h) -> None:
            original(h)
            connections.append(h.connection)

        handler.setup = setup
        # A client that hung up (the read-timeout test) is expected here, not a traceback on stderr.
        self._server.handle_error = lambda request, client_address: None
        return self

    def kill(self) -> None:
        self.stop()
        for connection in self._connections:
            try:
                connection.shutdown(socket.SHUT_RDWR)
                connection.close()
            except OSError:
                pass


@pytest.fixture
def first_turn_through_ollama(monkeypatch):
    """A conversation whose first turn Ollama (the stand-in) answered and the database saved."""
    server = KillableOllama(replies=[GOOD_EN], models=["shoemold"]).start()
    monkeypatch.setenv("OLLAMA_HOST", server.url)
    # Falls back to whatever the embedded backend is (the fake_embedded fixture, or the real model).
    agent = ShoeAgent(backend="ollama", **agent_kwargs(fallback=lambda: backends.cached_embedded_backend(None)))
    first = agent.ask(Q1, thread_id="conv")
    assert first.backend == "ollama" and first.text == GOOD_EN
    before = _saved("conv")
    assert before == _turn(Q1, GOOD_EN)
    yield server, agent, before
    server.kill()


@pytest.fixture
def fake_embedded(monkeypatch):
    """The embedded model as a scripted fake (the real one is exercised by the slow test below)."""
    embedded = scripted_llm(*[GOOD_EN] * 5, name="embedded")
    monkeypatch.setattr(backends, "cached_embedded_backend", lambda model=None: embedded)
    return embedded


def test_ollama_unreachable_at_start_auto_answers_with_embedded_and_keeps_history(first_turn_through_ollama, fake_embedded, monkeypatch):
    server, _, before = first_turn_through_ollama
    server.kill()  # Ollama is gone before the next session starts
    monkeypatch.setenv("OLLAMA_HOST", f"127.0.0.1:{_free_port()}")
    agent = ShoeAgent(backend="auto", **agent_kwargs())
    started = time.perf_counter()
    answer = agent.ask(Q2, thread_id="conv")
    assert answer.backend == "embedded" and answer.text == GOOD_EN and answer.grounded
    assert time.perf_counter() - started < 5  # the 0.5 s probe, not a hang
    assert _saved("conv") == _plus(before, _turn(Q2, GOOD_EN))


def test_ollama_asked_for_but_unreachable_is_a_clear_error_and_history_is_untouched(first_turn_through_ollama, monkeypatch):
    server, _, before = first_turn_through_ollama
    server.kill()
    monkeypatch.setenv("OLLAMA_HOST", f"127.0.0.1:{_free_port()}")
    agent = ShoeAgent(backend="ollama", **agent_kwargs())
    with pytest.raises(backends.BackendError, match=r"Ollama does not answer at .*ollama serve.*--backend embedded"):
        agent.ask(Q2, thread_id="conv")
    assert _saved("conv") == before


def test_ollama_killed_between_turns_falls_back_and_history_holds_both_turns(first_turn_through_ollama, fake_embedded):
    server, agent, before = first_turn_through_ollama
    server.kill()  # the agent already chose Ollama; now the server process is gone entirely
    answer = agent.ask(Q2, thread_id="conv")
    assert answer.backend == "embedded" and answer.text == GOOD_EN
    assert any("ollama failed mid-answer" in n for n in answer.notes)
    assert _saved("conv") == _plus(before, _turn(Q2, GOOD_EN))


def test_ollama_dying_mid_stream_falls_back_and_history_holds_both_turns(first_turn_through_ollama, fake_embedded):
    server, agent, before = first_turn_through_ollama
    server.replies = [{"content": "Keep your shoes at 50-60% RH and", "die_after": 3}]
    events = list(agent.stream(Q2, thread_id="conv"))
    answer = events[-1].data["answer"]
    assert answer.backend == "embedded" and answer.text == GOOD_EN
    assert not [e for e in events if e.kind == "error"]
    assert _saved("conv") == _plus(before, _turn(Q2, GOOD_EN))


def test_ollama_dying_without_fallback_composes_an_answer_and_saves_it(first_turn_through_ollama):
    server, _, before = first_turn_through_ollama
    server.replies = [{"content": "Keep your shoes at 50-60% RH and", "die_after": 2}]
    agent = ShoeAgent(backend="ollama", **agent_kwargs(fallback=False))
    answer = agent.ask(Q2, thread_id="conv")
    assert answer.grounded and answer.repaired and "[1]" in answer.text
    assert any("the model failed" in n for n in answer.notes)
    assert _saved("conv") == _plus(before, _turn(Q2, answer.text))


def test_ollama_going_silent_mid_stream_times_out_and_falls_back(first_turn_through_ollama, fake_embedded, monkeypatch):
    server, _, before = first_turn_through_ollama
    monkeypatch.setattr(backends, "OLLAMA_READ_TIMEOUT", 0.5)
    server.chunk_delay = 3.0  # one chunk, then nothing for longer than the read timeout
    server.replies = ["Keep your shoes at 50-60% RH and more words follow"]
    agent = ShoeAgent(backend="ollama", **agent_kwargs(fallback=True))  # a new client with the short timeout
    started = time.perf_counter()
    answer = agent.ask(Q2, thread_id="conv")
    assert time.perf_counter() - started < 2.5
    assert answer.backend == "embedded" and answer.text == GOOD_EN
    assert any("ReadTimeout" in n for n in answer.notes)
    assert _saved("conv") == _plus(before, _turn(Q2, GOOD_EN))


@pytest.mark.slow
@pytest.mark.timeout(180)
def test_ollama_dying_mid_stream_is_finished_by_the_real_embedded_model(first_turn_through_ollama):
    server, _, before = first_turn_through_ollama
    server.replies = [{"content": "Keep your shoes at 50-60% RH and", "die_after": 3}]
    agent = ShoeAgent(backend="ollama", max_tokens=24, **agent_kwargs(fallback=True))
    answer = agent.ask(Q2, thread_id="conv")
    assert answer.backend == "embedded" and answer.model == backends.BASE_MODEL_LABEL
    assert answer.text.strip() and any("ollama failed mid-answer" in n for n in answer.notes)
    assert _saved("conv") == _plus(before, _turn(Q2, answer.text))


# --------------------------------------------------------------------------- Chroma store


@pytest.fixture
def kb(tmp_path):
    from shoeagent.knowledge.store import KnowledgeBase

    return KnowledgeBase(entries_dir=write_entries(tmp_path / "entries"), persist_dir=tmp_path / "chroma")


def _kb_agent(kb):
    return ShoeAgent(llm=scripted_llm(*[GOOD_EN] * 4), **agent_kwargs(retriever=kb.search, relevance_threshold=None))


@pytest.mark.parametrize("damage", ["deleted", "overwritten"])
def test_chroma_store_damaged_while_the_agent_runs_is_rebuilt_and_the_question_answered(kb, damage, caplog):
    agent = _kb_agent(kb)
    first = agent.ask("How humid can my shoe cabinet be before mold grows?")
    assert first.sources and first.sources[0].id == "env-humidity-thresholds"
    if damage == "deleted":
        shutil.rmtree(kb.persist_dir)
    else:
        for file in kb.persist_dir.rglob("*"):
            if file.is_file():
                file.write_bytes(b"\x00garbage\xff" * 512)
    with caplog.at_level(logging.WARNING, logger="shoeagent.knowledge"):
        answer = agent.ask("Should I put silica gel packs in the shoe cabinet?")
    assert not answer.refused and answer.sources[0].id == "store-silica-gel-cabinet"
    assert "changed while in use" in caplog.text
    assert (kb.persist_dir / "chroma.sqlite3").read_bytes().startswith(b"SQLite format 3\x00")
    state = kb.index_state()
    assert state["current"] and state["entries"] == 5, state
    if damage == "overwritten":
        assert list(kb.persist_dir.parent.glob("chroma.broken-*"))  # the damaged files kept for inspection


def test_kb_add_after_the_store_was_deleted_under_an_open_knowledge_base(kb, tmp_path, caplog):
    kb.search("silica gel")
    shutil.rmtree(kb.persist_dir)
    doc = tmp_path / "cedar.md"
    doc.write_text("# Cedar\n\nPut a cedar block in wet hiking boots overnight to pull out moisture.", encoding="utf-8")
    with caplog.at_level(logging.WARNING, logger="shoeagent.knowledge"):
        report = kb.add_documents([doc])  # was: InternalError "attempt to write a readonly database"
    assert report.chunks == 1 and "changed while in use" in caplog.text
    assert kb.search("cedar block in wet hiking boots")[0].source == str(doc.resolve())
    assert kb.search("silica gel in the shoe cabinet")[0].id == "store-silica-gel-cabinet"


# --------------------------------------------------------------------------- chat database


def _hold_lock(db: Path, seconds: float | None = None) -> subprocess.Popen:
    """Another process holding the database's write lock (BEGIN EXCLUSIVE) until stdin closes or ``seconds`` pass."""
    code = textwrap.dedent(f"""
        import sqlite3, sys, time
        conn = sqlite3.connect({str(db)!r}, isolation_level=None)
        conn.execute("BEGIN EXCLUSIVE")
        print("locked", flush=True)
        if {seconds!r} is None:
            sys.stdin.read()
        else:
            time.sleep({seconds!r})
        conn.execute("COMMIT")
    """)
    holder = subprocess.Popen([sys.executable, "-c", code], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    assert holder.stdout.readline().strip() == "locked"
    return holder


@pytest.fixture
def saved_conversation():
    agent = ShoeAgent(llm=scripted_llm(*[GOOD_EN] * 5), **agent_kwargs())
    agent.ask(Q1, thread_id="old")
    before = _saved("old")
    assert before == _turn(Q1, GOOD_EN)
    return agent, before


def test_chat_db_locked_briefly_by_another_process_is_waited_for(saved_conversation, monkeypatch):
    agent, before = saved_conversation
    monkeypatch.setattr(memory, "BUSY_TIMEOUT", 10.0)
    holder = _hold_lock(paths.chat_db(), seconds=1.0)
    started = time.perf_counter()
    answer = agent.ask(Q2, thread_id="new")
    waited = time.perf_counter() - started
    holder.wait(timeout=10)
    assert answer.text == GOOD_EN and waited >= 0.5
    assert _saved("new") == _turn(Q2, GOOD_EN) and _saved("old") == before


def test_chat_db_locked_past_the_timeout_is_a_clear_error_and_loses_nothing(saved_conversation, monkeypatch):
    agent, before = saved_conversation
    monkeypatch.setattr(memory, "BUSY_TIMEOUT", 0.5)
    holder = _hold_lock(paths.chat_db())
    try:
        events = list(agent.stream(Q2, thread_id="new"))
        errors = [e.data["message"] for e in events if e.kind == "error"]
        assert errors and "locked by another process" in errors[0] and "try again" in errors[0]
        answer = events[-1].data["answer"]
        assert answer.text.startswith("Sorry") and "locked by another process" in answer.text
        with pytest.raises(ChatDatabaseError, match="locked by another process"):
            ChatStore().add_turn("other", Q2, {"text": "x"})
        assert _saved("old") == before  # reading still works while the other process holds the lock
    finally:
        holder.stdin.close()
        holder.wait(timeout=10)
    assert _saved("old") == before and _saved("new") == {"checkpoint": [], "chat_list": []}
    assert agent.ask(Q2, thread_id="new").text == GOOD_EN  # usable again once the lock is gone
    assert _saved("new") == _turn(Q2, GOOD_EN)


def _checkpoint_wal(db: Path) -> None:
    """Write the WAL back into the main file, so damage to the main file is what readers meet."""
    with sqlite3.connect(db) as conn:
        assert conn.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()[0] == 0


def test_chat_db_overwritten_with_garbage_is_moved_aside_and_a_new_one_started(saved_conversation, caplog):
    db = paths.chat_db()
    _checkpoint_wal(db)
    garbage = os.urandom(db.stat().st_size)
    db.write_bytes(garbage)
    memory._VERIFIED.clear()  # as in a new process, which checks the file when it first opens it
    with caplog.at_level(logging.WARNING, logger="shoeagent.agent"):
        agent = ShoeAgent(llm=scripted_llm(GOOD_EN), **agent_kwargs())
        answer = agent.ask(Q2, thread_id="new")
    assert answer.text == GOOD_EN
    assert any("chat database was damaged; moved it to chat.sqlite.corrupt-" in n for n in answer.notes)
    moved = list(db.parent.glob("chat.sqlite.corrupt-*"))
    assert [p.name for p in moved if not p.name.endswith(("-wal", "-shm"))] and "was damaged" in caplog.text
    assert (db.parent / moved[0].name.removesuffix("-wal").removesuffix("-shm")).read_bytes() == garbage
    assert _saved("new") == _turn(Q2, GOOD_EN)
    assert [c.thread_id for c in ChatStore().list_chats()] == ["new"]


def test_chat_db_damaged_while_the_agent_has_it_open_recovers(saved_conversation, caplog):
    agent, _ = saved_conversation
    db = paths.chat_db()
    _checkpoint_wal(db)
    with open(db, "r+b") as handle:  # garbage over the pages after the header
        handle.seek(4096)
        handle.write(b"\xde\xad\xbe\xef" * 2048)
    with caplog.at_level(logging.WARNING, logger="shoeagent.agent"):
        answer = agent.ask(Q2, thread_id="new")
    assert answer.text == GOOD_EN, answer.notes
    assert any("chat database was damaged" in n for n in answer.notes)  # the user is told, not only the log
    assert "was damaged" in caplog.text and list(db.parent.glob("chat.sqlite.corrupt-*"))
    assert _saved("new") == _turn(Q2, GOOD_EN)
    assert [c.thread_id for c in ChatStore().list_chats()] == ["new"]


# --------------------------------------------------------------------------- training


def _fake_checkpoint(folder: Path, step: int, complete: bool = True) -> Path:
    folder.mkdir(parents=True)
    (folder / "adapter_model.safetensors").write_bytes(b"w")
    (folder / "optimizer.pt").write_bytes(b"o")
    (folder / "scheduler.pt").write_bytes(b"s")
    if complete:
        (folder / "trainer_state.json").write_text(json.dumps({"global_step": step}))
    return folder


def test_resume_skips_a_checkpoint_cut_off_while_it_was_saved(tmp_path):
    from shoeagent.finetune.config import load_config
    from shoeagent.finetune.train import TrainingError, last_complete_checkpoint, train

    run = tmp_path / "run"
    good = _fake_checkpoint(run / "checkpoint-2", 2)
    cut = _fake_checkpoint(run / "checkpoint-3", 3, complete=False)
    truncated = _fake_checkpoint(run / "checkpoint-4", 4, complete=False)
    (truncated / "trainer_state.json").write_text('{"global_step": 4, "log_hist')
    assert last_complete_checkpoint(run) == good
    assert last_complete_checkpoint(run, set_aside=True) == good
    assert sorted(p.name for p in run.iterdir()) == ["checkpoint-2", "incomplete-checkpoint-3", "incomplete-checkpoint-4"]
    assert not cut.exists()

    only_cut = tmp_path / "cut"
    _fake_checkpoint(only_cut / "checkpoint-1", 1, complete=False)
    with pytest.raises(TrainingError, match="only incomplete checkpoints.*start a new run"):
        train(load_config("embedded"), output=only_cut, resume=True)


@pytest.mark.slow
@pytest.mark.timeout(120)
def test_a_max_seq_length_that_cuts_off_every_answer_is_a_clear_error(tmp_path, monkeypatch):
    """Was a traceback from deep inside torch (num_samples=0): TRL drops every example whose answer is cut off."""
    from peft import get_peft_model
    from transformers import LlamaConfig, LlamaForCausalLM

    from shoeagent.finetune import train as train_module
    from shoeagent.finetune.base import load_tokenizer
    from shoeagent.finetune.config import load_config, peft_lora_config
    from shoeagent.finetune.datafile import write_jsonl

    def tiny_model(config):  # the real tokenizer on a tiny random model: the model's size is beside the point
        tokenizer = load_tokenizer(config.model)
        model = LlamaForCausalLM(LlamaConfig(hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=2,
                                             num_key_value_heads=2, vocab_size=len(tokenizer)))
        return get_peft_model(model, peft_lora_config(config.lora, 2)), tokenizer

    monkeypatch.setattr(train_module, "_load_peft_model", tiny_model)
    rows = [{"instruction": f"Item {i}: which colour?", "input": "", "output": "blue [1]."} for i in range(4)]
    write_jsonl(tmp_path / "train.jsonl", rows)
    write_jsonl(tmp_path / "eval.jsonl", rows[:1])
    config = load_config("embedded", overrides=[
        f"dataset.file={json.dumps(str(tmp_path / 'train.jsonl'))}", f"dataset.eval_file={json.dumps(str(tmp_path / 'eval.jsonl'))}",
        "model.max_seq_length=32", "training.max_steps=1", "training.eval_strategy=no", "lora.top_layers=0",
    ])
    with pytest.raises(train_module.TrainingError) as error:
        train_module.train(config, output=tmp_path / "run")
    message = str(error.value)
    assert "no training example fits model.max_seq_length=32" in message and "--set model.max_seq_length=" in message
    shortest = int(message.split("the shortest example is ")[1].split()[0])
    assert shortest > 32


TRAIN_OVERRIDES = [
    "dataset.eval_limit=0",
    "model.max_seq_length=64",
    "lora.top_layers=1",
    "lora.target_modules=q_proj,v_proj",
    "training.per_device_train_batch_size=2",
    "training.gradient_accumulation_steps=1",
    "training.max_steps=6",  # 12 examples / 2 per step = 6 steps: one epoch
    "training.warmup_steps=0",
    "training.learning_rate=1e-3",
    "training.eval_strategy=no",
    "training.eval_steps=1",  # without validation, a checkpoint every step
    "training.save_total_limit=2",
]


def _train_rows(n: int) -> list[dict]:
    colours = ["blue", "green", "red", "white", "black", "grey"]
    return [
        {"messages": [
            {"role": "system", "content": "Answer in one word."},
            {"role": "user", "content": f"Item {i}: which colour?"},
            {"role": "assistant", "content": f"{colours[i % 6]} [1]."},
        ]}
        for i in range(n)
    ]


def _logged_losses(run_dir: Path) -> list[float]:
    """The training loss of every logged step, from the finished adapter's report."""
    report = json.loads((run_dir / "adapter" / "training_report.json").read_text(encoding="utf-8"))
    return [h["loss"] for h in report["log_history"] if "loss" in h]


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_training_killed_mid_epoch_resumes_to_the_result_of_an_uninterrupted_run(tmp_path):
    from shoeagent.finetune.datafile import write_jsonl

    data = tmp_path / "train.jsonl"
    write_jsonl(data, _train_rows(12))
    sets = [f"--set={o}" for o in [*TRAIN_OVERRIDES, f"dataset.file={json.dumps(str(data))}"]]
    eval_split = tmp_path / "eval.jsonl"  # named so that no training row is held out for validation
    write_jsonl(eval_split, _train_rows(2))
    sets.append(f"--set=dataset.eval_file={json.dumps(str(eval_split))}")
    cli = [sys.executable, "-m", "shoeagent.cli", "train", "--json", *sets]
    env = {**os.environ, "TQDM_DISABLE": "1"}

    # The uninterrupted reference run and the same run killed with SIGKILL as soon as its second
    # checkpoint is complete (mid-epoch), side by side (one torch thread each).
    reference = subprocess.Popen([*cli, "--output", str(tmp_path / "ref")], stdout=subprocess.PIPE,
                                 stderr=subprocess.PIPE, text=True, env=env)
    run = tmp_path / "killed"
    victim = subprocess.Popen([*cli, "--output", str(run)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
    try:
        deadline = time.monotonic() + 200
        while not (run / "checkpoint-2" / "trainer_state.json").is_file():
            assert victim.poll() is None, "the run ended before it could be killed"
            assert time.monotonic() < deadline
            time.sleep(0.02)
        victim.send_signal(signal.SIGKILL)
        assert victim.wait(timeout=30) == -signal.SIGKILL
        out, err = reference.communicate(timeout=240)
    finally:
        for process in (victim, reference):
            if process.poll() is None:
                process.kill()
    assert reference.returncode == 0, err[-2000:]
    ref = json.loads(out.strip().splitlines()[-1])
    assert ref["steps"] == 6
    assert not (run / "adapter").exists()  # the killed run never finished
    done = sorted(int(p.name.split("-")[1]) for p in run.glob("checkpoint-*"))
    assert done and max(done) < 6

    resumed = subprocess.run([*cli, "--output", str(run), "--resume"], capture_output=True, text=True, env=env, timeout=240)
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    res = json.loads(resumed.stdout.strip().splitlines()[-1])
    assert 2 <= res["resumed_from_step"] < 6 and res["steps"] == 6
    assert res["seed"] == ref["seed"]
    # Same data order, same RNG state restored from the checkpoint: the same losses step by step (the
    # restored log has the killed run's first steps) and the same end point.
    assert res["train_loss_final"] == pytest.approx(ref["train_loss_final"], rel=0.02, abs=1e-3)
    assert _logged_losses(run) == pytest.approx(_logged_losses(tmp_path / "ref"), rel=0.02, abs=1e-3)
    # And the same adapter: the LoRA weights of both runs agree to within fp16 rounding.
    from safetensors.numpy import load_file

    ref_weights = load_file(str(tmp_path / "ref" / "adapter" / "adapter_model.safetensors"))
    res_weights = load_file(str(run / "adapter" / "adapter_model.safetensors"))
    assert ref_weights.keys() == res_weights.keys() and ref_weights
    print(json.dumps({"killed_after_checkpoints": done, "resumed_from_step": res["resumed_from_step"],
                      "final_loss_uninterrupted": ref["train_loss_final"], "final_loss_resumed": res["train_loss_final"]}))
    for name, weight in ref_weights.items():
        scale = max(float(abs(weight.astype("float32")).max()), 1e-3)
        assert float(abs(weight.astype("float32") - res_weights[name].astype("float32")).max()) <= 0.02 * scale, name


# --------------------------------------------------------------------------- export

EXPORT_SCRIPT = """
import os, sys, time
from pathlib import Path
from shoeagent import paths
from shoeagent.finetune import export as export_module

class Tokenizer:
    chat_template = "{% for m in messages %}<|im_start|>{{ m.role }}{% endfor %}"
    def save_pretrained(self, folder):
        Path(folder, "tokenizer.json").write_text("{}")

class Model:
    def save_pretrained(self, folder):
        Path(folder).mkdir(parents=True, exist_ok=True)

def load(options, base_model, report):
    return Model(), Tokenizer(), paths.base_gguf()

def convert(hf_dir, out_path, **kwargs):
    out_path.write_bytes(b"GGUF f16 " + b"x" * 4000)
    return out_path

def quantize(src, dst, quant, threads=0):
    with open(dst, "wb") as handle:
        handle.write(b"GGUF new " + b"y" * 2000)  # the first half of the new model
        handle.flush()
        if sys.argv[1] == "kill":
            print("half written", flush=True)
            time.sleep(600)  # killed here
        handle.write(b"z" * 6000)
    return dst

export_module._load_model = load
export_module.convert_hf_to_gguf = convert
export_module.quantize = quantize
export_module.check_parity = lambda model, tokenizer, files: []
if sys.argv[1] == "kill":
    export_module.export_model(export_module.ExportOptions(adapter_dir=Path(sys.argv[2]), check_parity=False))
else:
    import resource
    from shoeagent.cli import main
    resource.setrlimit(resource.RLIMIT_FSIZE, (5000, resource.RLIM_INFINITY))  # a nearly full disk
    sys.argv = ["shoeagent", "export", "--adapter", sys.argv[2]]
    main()
"""


@pytest.fixture
def previous_export(tmp_path):
    adapter = tmp_path / "adapter"
    adapter.mkdir()
    (adapter / "adapter_config.json").write_text(json.dumps({"base_model_name_or_path": paths.BASE_MODEL_ID}))
    (adapter / "adapter_model.safetensors").write_bytes(b"weights")
    out = paths.models_dir()
    (out / "shoemold.gguf").write_bytes(b"GGUF previous good model")
    (out / "Modelfile").write_text("FROM ./shoemold.gguf\n")
    (out / "manifest.json").write_text('{"format": 1}')
    script = tmp_path / "export_script.py"
    script.write_text(EXPORT_SCRIPT)
    return adapter, out, script, {p.name: p.read_bytes() for p in out.iterdir()}


def _visible(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in folder.iterdir() if not p.name.startswith(".")}


def test_export_killed_halfway_leaves_the_previous_model_where_the_agent_loads_it(previous_export, monkeypatch):
    adapter, out, script, before = previous_export
    victim = subprocess.Popen([sys.executable, str(script), "kill", str(adapter)], stdout=subprocess.PIPE, text=True)
    assert victim.stdout.readline().strip() == "half written"
    victim.send_signal(signal.SIGKILL)
    assert victim.wait(timeout=30) == -signal.SIGKILL

    assert _visible(out) == before  # what the agent and Ollama read is untouched
    assert backends.embedded_backend().path == out / "shoemold.gguf"
    partials = list(out.glob(".*.partial"))
    scratch = list(paths.cache_dir().glob("export-*"))
    assert partials and scratch  # the killed process could not clean up

    # The next export removes both and installs the complete new model.
    from shoeagent.finetune import export as export_module

    def quantize(src, dst, quant, threads=0):
        dst.write_bytes(b"GGUF complete new model")
        return dst

    monkeypatch.setattr(export_module, "_load_model", lambda o, b, r: (_Model(), _Tokenizer(), paths.base_gguf()))
    monkeypatch.setattr(export_module, "convert_hf_to_gguf", lambda hf, out_path, **kw: out_path.write_bytes(b"GGUF f16") and out_path)
    monkeypatch.setattr(export_module, "quantize", quantize)
    export_module.export_model(export_module.ExportOptions(adapter_dir=adapter, check_parity=False))
    assert not list(out.glob(".*.partial")) and not list(paths.cache_dir().glob("export-*"))
    assert (out / "shoemold.gguf").read_bytes() == b"GGUF complete new model"


class _Tokenizer:
    chat_template = "{% for m in messages %}<|im_start|>{{ m.role }}{% endfor %}"

    def save_pretrained(self, folder) -> None:
        Path(folder, "tokenizer.json").write_text("{}")


class _Model:
    def save_pretrained(self, folder) -> None:
        Path(folder).mkdir(parents=True, exist_ok=True)


def test_export_on_a_nearly_full_disk_fails_in_one_line_and_replaces_nothing(previous_export):
    adapter, out, script, before = previous_export
    # RLIMIT_FSIZE makes the kernel refuse writes past 5000 bytes (EFBIG), like a disk that fills up.
    result = subprocess.run([sys.executable, str(script), "full", str(adapter)], capture_output=True, text=True, timeout=120)
    assert result.returncode == 2, result.stderr[-2000:]
    error_lines = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(error_lines) == 1 and "could not write the export" in error_lines[0]
    assert "File too large" in error_lines[0] and "nothing was replaced" in error_lines[0]
    assert "Traceback" not in result.stderr
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before  # no partial file either
    assert not list(paths.cache_dir().glob("export-*"))


# --------------------------------------------------------------------------- configs and datasets


@pytest.mark.parametrize(
    ("files", "args", "needle"),
    [
        ({"d.jsonl": b""}, ["--dataset", "d.jsonl"], "d.jsonl: 1 malformed line(s): line 0: file has no examples"),
        ({"d.jsonl": b"\xff\xfe\x00garbage\n"}, ["--dataset", "d.jsonl"], "line 1: not UTF-8"),
        ({"d.jsonl": b'{"instruction": "q", "output": "a"}\n{"instruction": "q", "output": "a"'},
         ["--dataset", "d.jsonl"], "line 2: invalid JSON"),
        ({}, ["--dataset", "missing.jsonl"], "missing.jsonl: 1 malformed line(s): line 0: file does not exist"),
        ({"c.toml": b'[lora]\nr = 8\ndropout = "x"\n'}, ["--config", "c.toml"], "lora.dropout must be a number, got 'x'"),
        ({"c.toml": b"[lora]\nr = 8\n[training\n"}, ["--config", "c.toml"], "not valid TOML: Expected ']' at the end of a table declaration (at line 3"),
        ({"c.ini": b"[LoRA]\nR = lots\n"}, ["--config", "c.ini"], "lora.r must be an integer, got 'lots'"),
        ({"c.ini": b"[LoRA]\nLORA_R = 8\n"}, ["--config", "c.ini"], "unknown setting lora.lora_r (known: r, alpha"),
        ({}, ["--set", "training.eval_strategy=sometimes"], "training.eval_strategy must be one of epoch, steps, no, got 'sometimes'"),
        ({}, ["--set", "hardware.torch_threads=-2"], "hardware.torch_threads must be"),
    ],
)
def test_bad_configs_and_datasets_name_the_field_or_line_in_one_line(tmp_path, monkeypatch, files, args, needle):
    from shoeagent.cli import _build

    monkeypatch.chdir(tmp_path)
    for name, content in files.items():
        (tmp_path / name).write_bytes(content)
    result = CliRunner().invoke(_build(), ["train", "--validate", *args])
    assert result.exit_code == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and needle in lines[0], result.stderr
    assert "Traceback" not in result.output
