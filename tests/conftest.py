"""Test-wide guards: every test gets its own SHOEAGENT_HOME and no network beyond loopback."""

from __future__ import annotations

import ipaddress
import socket

import pytest


@pytest.fixture(autouse=True)
def shoeagent_home(tmp_path_factory, monkeypatch):
    """Point all user data (index, chat db, built models) at a fresh temp dir."""
    home = tmp_path_factory.mktemp("shoeagent_home")
    monkeypatch.setenv("SHOEAGENT_HOME", str(home))
    monkeypatch.setenv("ANONYMIZED_TELEMETRY", "False")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("TRANSFORMERS_OFFLINE", "1")
    # `ask` and `chat` would build the shoemold GGUF (a minute) in every fresh home; the tests that
    # check that first-use build turn it back on (tests/test_first_use_build.py).
    monkeypatch.setenv("SHOEAGENT_AUTO_BUILD", "0")
    return home


def _is_loopback(address) -> bool:
    if isinstance(address, tuple):
        host = address[0]
    elif isinstance(address, (str, bytes)):  # AF_UNIX path
        return True
    else:
        return False
    if host in ("localhost", ""):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        try:
            return all(ipaddress.ip_address(info[4][0]).is_loopback for info in socket.getaddrinfo(host, None))
        except OSError:
            return False


@pytest.fixture(autouse=True)
def no_network(monkeypatch):
    """Fail any connection that leaves the machine: tests may only talk to loopback servers."""
    real_connect = socket.socket.connect
    real_connect_ex = socket.socket.connect_ex

    def guarded_connect(sock, address):
        if sock.family in (socket.AF_INET, socket.AF_INET6) and not _is_loopback(address):
            raise OSError(f"tests may not reach the network: connect({address!r}) blocked")
        return real_connect(sock, address)

    def guarded_connect_ex(sock, address):
        if sock.family in (socket.AF_INET, socket.AF_INET6) and not _is_loopback(address):
            raise OSError(f"tests may not reach the network: connect_ex({address!r}) blocked")
        return real_connect_ex(sock, address)

    monkeypatch.setattr(socket.socket, "connect", guarded_connect)
    monkeypatch.setattr(socket.socket, "connect_ex", guarded_connect_ex)


@pytest.fixture(scope="session")
def kb(tmp_path_factory):
    """The packaged knowledge base, built once for the test modules that only read it (modules that
    need their own entries define their own ``kb``)."""
    from shoeagent.knowledge import store

    kb = store.KnowledgeBase(persist_dir=tmp_path_factory.mktemp("chroma"))
    kb.build()
    return kb
