"""`shoeagent ask`: output with sources and backend line, --json, and one-line user errors (exit 2)."""

from __future__ import annotations

import json

import pytest
import typer
from agent_fakes import GOOD_EN, agent_kwargs, scripted_llm
from typer.testing import CliRunner

from shoeagent.agent import cli
from shoeagent.agent.api import ShoeAgent
from shoeagent.agent.llm import BackendError


@pytest.fixture
def app(monkeypatch):
    made = []

    def make_agent(backend):
        made.append(backend)
        return ShoeAgent(llm=scripted_llm(GOOD_EN), **agent_kwargs())

    monkeypatch.setattr(cli, "_make_agent", make_agent)
    app = typer.Typer()
    cli.register(app, typer.Typer())
    app.command("noop")(lambda: None)  # keep `ask` a named subcommand
    app.made = made
    return app


def test_ask_prints_answer_sources_and_backend_line(app):
    result = CliRunner().invoke(app, ["ask", "How do I stop my boots going moldy?", "--backend", "embedded"])
    assert result.exit_code == 0, result.output
    output = " ".join(result.output.split())  # rich wraps at the terminal width
    assert GOOD_EN in output
    assert "[1] Humidity thresholds for mold on shoes (env-humidity-thresholds)" in output
    assert "route: prevention · backend: fake · model: fake-model" in output
    assert app.made == ["embedded"]


def test_ask_json_prints_one_answer_object(app):
    result = CliRunner().invoke(app, ["ask", "How do I stop my boots going moldy?", "--json", "--thread", "cli-1"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["text"] == GOOD_EN and data["thread_id"] == "cli-1" and data["sources"][0]["kind"] == "kb"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["ask", ""], "The question is empty"),
        (["ask", "   "], "The question is empty"),
        (["ask", "x" * 4001], "limit is 4,000"),
        (["ask", "hi", "--backend", "gpu"], "unknown backend 'gpu'"),
    ],
)
def test_user_errors_exit_2_with_one_line(app, args, message):
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 2
    assert message in result.stderr and len(result.stderr.strip().splitlines()) == 1
    assert "Traceback" not in result.output


def test_unusable_backend_exits_2(monkeypatch):
    def make_agent(backend):
        raise BackendError("Ollama does not answer at http://127.0.0.1:1; start it or use --backend embedded.")

    monkeypatch.setattr(cli, "_make_agent", make_agent)
    app = typer.Typer()
    cli.register(app, typer.Typer())
    app.command("noop")(lambda: None)
    result = CliRunner().invoke(app, ["ask", "hi", "--backend", "ollama"])
    assert result.exit_code == 2 and "Ollama does not answer" in result.stderr


def test_registering_the_cli_is_cheap():
    import subprocess
    import sys

    code = "import sys, shoeagent.agent.cli; print(any(m in sys.modules for m in ('langgraph', 'llama_cpp', 'chromadb', 'langchain_core')))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False"


def test_a_locked_chat_database_is_one_line_exit_2(monkeypatch):
    from shoeagent.agent.memory import ChatDatabaseError

    class LockedAgent:
        def ask(self, question, thread_id=None):
            raise ChatDatabaseError("the chat database /x/chat.sqlite is locked by another process; close it and try again.")

    monkeypatch.setattr(cli, "_make_agent", lambda backend: LockedAgent())
    app = typer.Typer()
    cli.register(app, typer.Typer())
    app.command("noop")(lambda: None)
    result = CliRunner().invoke(app, ["ask", "How do I dry boots?", "--thread", "t1", "--json"])
    assert result.exit_code == 2
    assert "locked by another process" in result.output and "Traceback" not in result.output


@pytest.mark.parametrize(("variable", "value"), [("SHOEAGENT_THREADS", "abc"), ("SHOEAGENT_THREADS", "0"), ("SHOEAGENT_FLASH_ATTN", "maybe"), ("SHOEAGENT_DRAFT_TOKENS", "lots")])
def test_a_bad_engine_setting_exits_2_before_answering(app, monkeypatch, variable, value):
    monkeypatch.setenv(variable, value)
    result = CliRunner().invoke(app, ["ask", "How do I dry wet sneakers?"])
    assert result.exit_code == 2
    assert variable in result.output and app.made == []  # no agent was built
