"""A new user's first `shoeagent ask` builds the shoemold GGUF from the packaged adapter, then answers with it.

The logic runs against a fake export (fast); the last test does it for real: the packaged adapter, the
real merge, convert and quantize, then the real embedded model answers (about a minute and a half).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import typer
from agent_fakes import GOOD_EN, agent_kwargs, scripted_llm
from typer.testing import CliRunner

from shoeagent import paths
from shoeagent.agent import cli
from shoeagent.agent.api import ShoeAgent
from shoeagent.finetune import export as export_module


def _app() -> typer.Typer:
    app = typer.Typer()
    cli.register(app, typer.Typer())
    app.command("noop")(lambda: None)  # keep `ask` a named subcommand
    return app


@pytest.fixture
def fake_export(monkeypatch):
    """export_model replaced by one that records its call and writes a stand-in GGUF; the agent is scripted."""
    calls: list[Path] = []

    def export_model(options, report=None):
        calls.append(Path(options.adapter_dir))
        for stage in export_module.export_stages(options):
            if report:
                report(stage)
        paths.shoemold_gguf().parent.mkdir(parents=True, exist_ok=True)
        paths.shoemold_gguf().write_bytes(b"GGUF stand-in")

    monkeypatch.setattr(export_module, "export_model", export_model)
    monkeypatch.setattr(cli, "_make_agent", lambda backend: ShoeAgent(llm=scripted_llm(GOOD_EN), **agent_kwargs()))
    monkeypatch.setattr("shoeagent.agent.llm.ollama_models", lambda timeout=0.5: None)
    monkeypatch.delenv("SHOEAGENT_AUTO_BUILD")
    return calls


def test_first_ask_builds_the_missing_model_once_then_never_again(fake_export):
    first = CliRunner().invoke(_app(), ["ask", "How do I stop my boots going moldy?"])
    assert first.exit_code == 0, first.output
    assert fake_export == [paths.packaged_adapter_dir()]
    assert "building it once from the packaged adapter" in first.output and GOOD_EN in " ".join(first.output.split())
    second = CliRunner().invoke(_app(), ["ask", "How do I stop my boots going moldy?"])
    assert second.exit_code == 0 and len(fake_export) == 1 and "building" not in second.output


@pytest.mark.parametrize(("setting", "backend"), [("0", "auto"), ("off", "embedded"), (None, "ollama")])
def test_no_build_when_switched_off_or_for_ollama(fake_export, monkeypatch, setting, backend):
    if setting is not None:
        monkeypatch.setenv("SHOEAGENT_AUTO_BUILD", setting)
    result = CliRunner().invoke(_app(), ["ask", "How do I stop my boots going moldy?", "--backend", backend])
    assert result.exit_code == 0, result.output
    assert fake_export == [] and not paths.shoemold_gguf().exists()


def test_no_build_when_ollama_serves_shoemold(fake_export, monkeypatch):
    monkeypatch.setattr("shoeagent.agent.llm.ollama_models", lambda timeout=0.5: ["shoemold:latest"])
    result = CliRunner().invoke(_app(), ["ask", "How do I stop my boots going moldy?"])
    assert result.exit_code == 0 and fake_export == []


def test_a_bad_auto_build_setting_is_a_one_line_error(fake_export, monkeypatch):
    monkeypatch.setenv("SHOEAGENT_AUTO_BUILD", "maybe")
    result = CliRunner().invoke(_app(), ["ask", "How do I stop my boots going moldy?"])
    assert result.exit_code == 2 and "SHOEAGENT_AUTO_BUILD='maybe'" in result.output and fake_export == []


def test_a_failed_build_warns_and_the_base_model_answers(fake_export, monkeypatch):
    def broken(options, report=None):
        raise OSError("No space left on device")

    monkeypatch.setattr(export_module, "export_model", broken)
    result = CliRunner().invoke(_app(), ["ask", "How do I stop my boots going moldy?"])
    assert result.exit_code == 0, result.output
    assert "could not build the shoemold model (No space left on device)" in result.output
    assert "shoeagent export --if-missing" in result.output and GOOD_EN in " ".join(result.output.split())


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_real_first_ask_builds_shoemold_and_answers_with_it(monkeypatch):
    monkeypatch.delenv("SHOEAGENT_AUTO_BUILD")
    assert not paths.shoemold_gguf().exists()
    result = CliRunner().invoke(_app(), ["ask", "How do I stop my leather boots going moldy?", "--json", "--backend", "embedded"])
    assert result.exit_code == 0, result.output
    answer = json.loads(result.stdout)
    assert paths.shoemold_gguf().is_file() and (paths.shoemold_gguf().parent / "manifest.json").is_file()
    assert answer["model"] == paths.MODEL_NAME and answer["backend"] == "embedded"
    assert not answer["refused"] and answer["sources"]
