"""The knowledge store against a real Chroma server (`chroma run`) on 127.0.0.1, via CHROMA_HOST."""

from __future__ import annotations

import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from knowledge_fixtures import write_entries

CHROMA = Path(sys.executable).with_name("chroma")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _wait_for(port: int, process: subprocess.Popen, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"chroma run exited early with status {process.returncode}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.2)
    raise TimeoutError(f"chroma server did not listen on port {port} within {timeout} s")


@pytest.fixture
def chroma_server(tmp_path):
    executable = CHROMA if CHROMA.exists() else shutil.which("chroma")
    if not executable:
        pytest.skip("the `chroma` CLI is not installed in this virtualenv (it ships with the chromadb package)")
    port = _free_port()
    log = (tmp_path / "chroma.log").open("wb")
    process = subprocess.Popen(
        [str(executable), "run", "--path", str(tmp_path / "server-data"), "--host", "127.0.0.1", "--port", str(port)],
        stdout=log, stderr=subprocess.STDOUT,
    )
    try:
        _wait_for(port, process)
        yield port
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log.close()


def test_http_client_mode(chroma_server, tmp_path, monkeypatch):
    from shoeagent.knowledge.store import KnowledgeBase

    monkeypatch.setenv("CHROMA_HOST", "127.0.0.1")
    monkeypatch.setenv("CHROMA_PORT", str(chroma_server))
    entries = write_entries(tmp_path / "entries")
    kb = KnowledgeBase(entries_dir=entries)
    assert kb.location == f"http://127.0.0.1:{chroma_server}"
    first = kb.build()
    assert first.embedded == 10 and not first.skipped
    assert not (tmp_path / "chroma").exists()  # nothing persisted locally in server mode

    second = KnowledgeBase(entries_dir=entries).build()
    assert second.skipped and second.embedded == 0

    hits = KnowledgeBase(entries_dir=entries).search("silica gel for the shoe cabinet", k=2)
    assert hits[0].id == "store-silica-gel-cabinet" and hits[0].source == "kb"
    assert KnowledgeBase(entries_dir=entries).stats()["index"]["mode"] == "http"


def test_unreachable_server_is_a_clear_error(tmp_path, monkeypatch):
    from shoeagent.knowledge.store import KnowledgeBase, StoreUnavailableError

    monkeypatch.setenv("CHROMA_HOST", "127.0.0.1")
    monkeypatch.setenv("CHROMA_PORT", str(_free_port()))
    kb = KnowledgeBase(entries_dir=write_entries(tmp_path / "entries"))
    with pytest.raises(StoreUnavailableError, match="cannot reach the Chroma server"):
        kb.build()
