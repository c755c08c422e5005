"""What a new user's mistakes look like: one `error:` line and exit 2 (or a doctor row), never a
traceback or an "answer" that apologises with exit 0. No model is loaded: settings are refused first."""

from __future__ import annotations

import json
import socket
from dataclasses import fields

import pytest
import typer
from agent_fakes import GOOD_EN, agent_kwargs, scripted_llm
from typer.testing import CliRunner

from shoeagent import doctor, paths, threads
from shoeagent.agent import cli as agent_cli
from shoeagent.agent import llm
from shoeagent.agent.api import ShoeAgent
from shoeagent.agent.context import Context
from shoeagent.cli import _build

runner = CliRunner()
QUESTION = "How do I dry wet boots?"


def _ask_app(monkeypatch, make=None) -> typer.Typer:
    """`ask` alone, its agent made by ``make`` (default: scripted model and fakes); ``app.made`` lists the backends asked for."""
    made = []

    def make_agent(backend):
        made.append(backend)
        return make() if make else ShoeAgent(llm=scripted_llm(GOOD_EN), **agent_kwargs())

    monkeypatch.setattr(agent_cli, "_make_agent", make_agent)
    app = typer.Typer()
    agent_cli.register(app, typer.Typer())
    app.command("noop")(lambda: None)
    app.made = made
    return app


def _one_error_line(result, *parts: str) -> None:
    assert result.exit_code == 2, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    assert all(part in lines[0] for part in parts), lines[0]
    assert "Traceback" not in result.output


# Every variable the agent's Context reads, with a value it cannot use (free text is never wrong).
CONTEXT_SETTINGS = [
    (f.metadata["env"], "maybe" if f.type in (bool, "bool") else "bogus")
    for f in fields(Context)
    if f.metadata.get("env") and f.type not in (str, "str") or f.metadata.get("choices")
]
BAD_SETTINGS = [
    *CONTEXT_SETTINGS,
    ("SHOEAGENT_K", "0"),
    ("SHOEAGENT_MAX_RETRIES", "-1"),
    ("SHOEAGENT_TEMPERATURE", "nan"),
    ("SHOEAGENT_MIN_FACT_SHARE", "1.5"),
    ("SHOEAGENT_THREADS", "abc"),
    ("SHOEAGENT_FLASH_ATTN", "maybe"),
    ("CHROMA_PORT", "abc"),
    ("CHROMA_PORT", "70000"),
    ("SHOEAGENT_EMBEDDINGS", "magic"),
    ("SHOEAGENT_AUTO_BUILD", "maybe"),
]


def test_every_setting_the_context_reads_is_covered():
    names = {name for name, _ in CONTEXT_SETTINGS}
    assert {"SHOEAGENT_K", "SHOEAGENT_MAX_SOURCES", "SHOEAGENT_MAX_RETRIES", "SHOEAGENT_REDRAFT_THIN",
            "SHOEAGENT_MAX_TOKENS", "SHOEAGENT_TEMPERATURE", "SHOEAGENT_CONFIRMED_THRESHOLD",
            "SHOEAGENT_MIN_FACT_SHARE", "SHOEAGENT_BACKEND"} <= names


@pytest.mark.parametrize(("variable", "value"), BAD_SETTINGS)
def test_a_malformed_setting_is_one_error_line_before_answering(monkeypatch, variable, value):
    monkeypatch.setenv(variable, value)
    with pytest.raises(ValueError, match=f"{variable}='{value}'"):
        threads.check_settings()
    app = _ask_app(monkeypatch)
    result = runner.invoke(app, ["ask", QUESTION, "--json"])
    _one_error_line(result, f"{variable}='{value}'", "or unset it")
    assert app.made == [] and result.stdout == ""  # refused before any agent or answer


@pytest.mark.parametrize(("variable", "value", "accepts"), [
    ("SHOEAGENT_MAX_RETRIES", "abc", "a whole number of at least 0 (default 1)"),
    ("SHOEAGENT_REDRAFT_THIN", "maybe", "1/0, true/false, yes/no or on/off (default 0)"),
    ("SHOEAGENT_CONFIRMED_THRESHOLD", "2", "a number from 0 to 1 (default 0.12)"),
    ("SHOEAGENT_BACKEND", "gpu", "auto, embedded or ollama"),
    ("CHROMA_PORT", "abc", "1-65535, default 8000"),
])
def test_the_message_says_what_the_variable_accepts(monkeypatch, variable, value, accepts):
    monkeypatch.setenv(variable, value)
    with pytest.raises(ValueError, match=accepts.replace("(", r"\(").replace(")", r"\)")):
        threads.check_settings()


def test_good_and_blank_settings_pass(monkeypatch):
    for variable, value in [("SHOEAGENT_K", " 6 "), ("SHOEAGENT_REDRAFT_THIN", "on"), ("SHOEAGENT_TEMPERATURE", "0"),
                            ("SHOEAGENT_BACKEND", "embedded"), ("CHROMA_PORT", "8123"), ("SHOEAGENT_MAX_TOKENS", ""),
                            ("SHOEAGENT_EMBEDDINGS", "offline")]:
        monkeypatch.setenv(variable, value)
    threads.check_settings()
    context = Context()
    assert (context.k, context.redraft_thin, context.temperature, context.max_tokens) == (6, True, 0.0, 320)


def test_doctor_flags_each_malformed_setting(monkeypatch):
    monkeypatch.setenv("SHOEAGENT_THREADS", "abc")
    monkeypatch.setenv("SHOEAGENT_FLASH_ATTN", "maybe")
    monkeypatch.setenv("SHOEAGENT_K", "x")
    monkeypatch.setenv("OLLAMA_HOST", "127.0.0.1:9")
    monkeypatch.setattr(doctor, "check_llama_cpp_runs", lambda: doctor.Check("llama.cpp prompt", "ok", "skipped here", required=True))
    result = runner.invoke(_build(), ["doctor", "--json"])
    assert result.exit_code == 1, result.output
    report = json.loads(result.output)
    rows = [c for c in report["checks"] if c["name"] == "settings"]
    assert report["embedded_usable"] is False and all(c["status"] == "fail" and c["fix"] for c in rows)
    details = " ".join(c["detail"] for c in rows)
    assert "SHOEAGENT_THREADS='abc'" in details and "SHOEAGENT_FLASH_ATTN='maybe'" in details and "SHOEAGENT_K='x'" in details


def test_an_unusable_ollama_host_falls_back_in_auto_and_is_one_line_for_ollama(monkeypatch):
    monkeypatch.setenv("OLLAMA_HOST", "not a url")
    assert llm.ollama_models() is None  # was http.client.InvalidURL out of urllib
    monkeypatch.setattr(llm, "cached_embedded_backend", lambda model=None: "embedded")
    assert llm.resolve_backend("auto") == "embedded"
    result = runner.invoke(_ask_app(monkeypatch, lambda: ShoeAgent(backend="ollama")), ["ask", QUESTION, "--backend", "ollama"])
    _one_error_line(result, "OLLAMA_HOST='not a url'", "unset it", "--backend embedded")
    check, = doctor.check_ollama()
    assert check.status == "warn" and "OLLAMA_HOST='not a url'" in check.detail and "unset it" in check.fix


def test_a_file_as_shoeagent_home_is_one_line_everywhere(monkeypatch, tmp_path):
    home = tmp_path / "home-file"
    home.write_text("not a folder")
    monkeypatch.setenv("SHOEAGENT_HOME", str(home))
    with pytest.raises(paths.HomeError, match="is a file, not a folder"):
        paths.home()
    result = runner.invoke(_ask_app(monkeypatch), ["ask", QUESTION])
    _one_error_line(result, f"SHOEAGENT_HOME={home} is a file, not a folder")
    _one_error_line(runner.invoke(_build(), ["kb", "stats"]), "is a file, not a folder")
    check = doctor.check_home()
    assert check.status == "fail" and check.required and "is a file" in check.detail and "SHOEAGENT_HOME" in check.fix
    assert doctor.check_shoemold().status == "warn" and doctor.check_knowledge_index().status == "warn"  # no crash


def test_main_turns_a_home_error_from_any_command_into_one_line(monkeypatch, capsys):
    from shoeagent import cli

    app = typer.Typer()
    app.command("train")(lambda: paths.runs_dir())
    app.command("noop")(lambda: None)
    monkeypatch.setattr(cli, "_build", lambda: app)
    home = paths.home() / "a-file"
    home.write_text("")
    monkeypatch.setenv("SHOEAGENT_HOME", str(home))
    monkeypatch.setattr("sys.argv", ["shoeagent", "train"])
    with pytest.raises(SystemExit) as exit_info:
        cli.main()
    assert exit_info.value.code == 2
    assert capsys.readouterr().err.startswith(f"error: SHOEAGENT_HOME={home} is a file")


def test_an_answer_that_ended_in_an_internal_error_exits_1_and_says_so_in_json(monkeypatch):
    def broken_retriever(*args, **kwargs):
        raise RuntimeError("the index exploded")

    make = lambda: ShoeAgent(llm=scripted_llm(GOOD_EN), **agent_kwargs(retriever=broken_retriever))  # noqa: E731
    result = runner.invoke(_ask_app(monkeypatch, make), ["ask", "How do I stop my boots going moldy?", "--json"])
    assert result.exit_code == 1, result.output
    data = json.loads(result.stdout)
    assert data["error"] == "RuntimeError: the index exploded" and data["sources"] == []
    result = runner.invoke(_ask_app(monkeypatch, make), ["ask", "How do I stop my boots going moldy?"])
    assert result.exit_code == 1 and "something went wrong" in result.stdout
    ok = runner.invoke(_ask_app(monkeypatch), ["ask", "How do I stop my boots going moldy?", "--json"])
    assert ok.exit_code == 0 and json.loads(ok.stdout)["error"] is None


def test_an_unreachable_chroma_server_is_one_line_not_an_answer(monkeypatch):
    from shoeagent.knowledge import store

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    monkeypatch.setenv("CHROMA_HOST", "127.0.0.1")
    monkeypatch.setenv("CHROMA_PORT", str(port))
    store.reset_default()
    try:
        make = lambda: ShoeAgent(llm=scripted_llm(GOOD_EN), fallback=False)  # noqa: E731 - the real store
        result = runner.invoke(_ask_app(monkeypatch, make), ["ask", QUESTION, "--json"])
    finally:
        store.reset_default()
    _one_error_line(result, f"Chroma server at http://127.0.0.1:{port}", "chroma run", "unset CHROMA_HOST")
    assert result.stdout == ""


def test_question_lengths_are_written_alike():
    from shoeagent.agent.safety import check_question

    with pytest.raises(ValueError, match=r"is 102,399 characters long; the limit is 4,000\."):
        check_question("m" * 102_399)


def test_help_texts_say_what_the_commands_do():
    app = _build()
    env = {"COLUMNS": "200"}
    assert "PDF" in runner.invoke(app, ["kb", "--help"], env=env).output
    export_help = runner.invoke(app, ["export", "--help"], env=env).output
    assert "$SHOEAGENT_HOME/models" in export_help
    assert "RELEVANCE_THRESHOLD" not in runner.invoke(app, ["eval", "retrieval", "--help"], env=env).output
    version_line = next(line for line in runner.invoke(app, ["--help"], env=env).output.splitlines() if "--version" in line)
    assert "<bool>" not in version_line


def test_chat_outside_a_terminal_is_an_error_line():
    result = runner.invoke(_build(), ["chat"])
    assert result.exit_code == 2 and result.stderr.startswith("error: shoeagent chat needs an interactive terminal")


def test_kb_search_shows_whole_ids_on_an_80_column_terminal(monkeypatch, tmp_path):
    from knowledge_fixtures import write_entries

    from shoeagent.knowledge import store

    directory = write_entries(tmp_path / "entries")
    monkeypatch.setattr("shoeagent.knowledge.entries.default_directory", lambda: directory)
    store.reset_default()
    app = _build()
    query = "white fuzz on suede after wiping with alcohol and vinegar"
    hits = json.loads(runner.invoke(app, ["kb", "search", query, "--json"]).output)["hits"]
    result = runner.invoke(app, ["kb", "search", query], env={"COLUMNS": "80"})
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert max(len(line) for line in lines) <= 80 and "…" not in result.output
    for hit in hits:  # each id whole, on its own line, ready to copy
        assert any(line.split(". ", 1)[-1] == hit["id"] for line in lines), hit["id"]
    assert len(hits) >= 3 and any(len(hit["id"]) > 20 for hit in hits)
