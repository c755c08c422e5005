"""The package skeleton: paths, cheap import, the CLI and `shoeagent doctor`."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from shoeagent import doctor, llama_probe, paths
from shoeagent.cli import _build
from shoeagent.lang import detect_language

runner = CliRunner()


def test_home_follows_env(shoeagent_home):
    assert paths.home() == shoeagent_home
    assert paths.chroma_dir().parent == shoeagent_home
    assert paths.shoemold_gguf().parent == paths.models_dir()
    assert paths.chat_db().parent == shoeagent_home


def test_base_gguf_is_the_packaged_smollm2():
    gguf = paths.base_gguf()
    assert gguf.name == paths.BASE_GGUF_NAME
    with gguf.open("rb") as f:
        assert f.read(4) == b"GGUF"


def test_base_gguf_override_must_exist(monkeypatch, tmp_path):
    monkeypatch.setenv("SHOEAGENT_BASE_GGUF", str(tmp_path / "missing.gguf"))
    with pytest.raises(paths.MissingFileError, match="SHOEAGENT_BASE_GGUF"):
        paths.base_gguf()


def test_subpackages_map_to_top_level_folders():
    repo = Path(__file__).resolve().parents[1]
    assert paths.knowledge_entries_dir().parent == repo / "knowledge"
    assert paths.packaged_adapter_dir().parent == repo / "finetune"


def test_import_is_cheap():
    """`import shoeagent` must not pull in the heavy engines (they load on first use)."""
    code = (
        "import sys, shoeagent, shoeagent.cli;"
        "heavy = [m for m in ('torch', 'transformers', 'llama_cpp', 'chromadb', 'langgraph', 'textual')"
        " if m in sys.modules]; print(heavy)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


@pytest.mark.parametrize(
    ("text", "lang"),
    [
        ("How do I stop my leather boots going moldy?", "en"),
        ("皮鞋發霉怎麼辦？", "zh"),
        ("皮鞋发霉怎么办？", "zh"),
        ("鞋櫃濕度 RH 80% 會發霉嗎", "zh"),
        ("Is 青黴 dangerous on my sneakers?", "en"),
    ],
)
def test_detect_language(text, lang):
    assert detect_language(text) == lang


def test_cli_version_and_help():
    app = _build()
    result = runner.invoke(app, ["--version"])
    assert result.exit_code == 0 and "shoeagent" in result.output
    result = runner.invoke(app, ["--help"])
    assert result.exit_code == 0 and "doctor" in result.output


def test_doctor_reports_no_ollama_and_embedded_usable(monkeypatch):
    monkeypatch.setenv("OLLAMA_HOST", "127.0.0.1:9")  # discard port: nothing listens
    result = runner.invoke(_build(), ["doctor", "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    assert report["embedded_usable"] is True
    by_name = {c["name"]: c for c in report["checks"]}
    assert by_name["ollama"]["status"] == "warn" and "127.0.0.1:9" in by_name["ollama"]["detail"]
    assert by_name["base model"]["status"] == "ok"
    assert by_name["word vectors"]["status"] == by_name["Chinese word vectors"]["status"] == "ok"
    assert by_name["llama.cpp prompt"]["status"] == "ok"  # the real build evaluates a real prompt
    assert by_name["cuda"]["status"] in {"ok", "warn"}


def test_doctor_names_a_llama_cpp_build_that_crashes_on_this_cpu(monkeypatch):
    # A child that dies the way a wrong-CPU-features build does (SIGSEGV), without needing such a build.
    monkeypatch.setattr(llama_probe, "PROBE", "import os, signal; os.kill(os.getpid(), signal.SIGSEGV)")
    check = doctor.check_llama_cpp_runs()
    assert check.status == "fail" and check.required
    assert "SIGSEGV" in check.detail and "make setup" in check.fix
    monkeypatch.setattr(llama_probe, "PROBE", "raise SystemExit('llama_cpp: bad model')")
    check = doctor.check_llama_cpp_runs()
    assert check.status == "fail" and "bad model" in check.detail


def test_the_engine_refuses_a_llama_cpp_build_that_crashes_here(monkeypatch):
    """Loading the embedded engine probes llama.cpp in a child first: a crash there is a clear BackendError
    naming the signal and the fix, not a dead process; nothing is cached, so the next load probes again."""
    from shoeagent.agent import llm

    monkeypatch.setattr(llm, "_ENGINES", {})
    monkeypatch.setattr(llama_probe, "_checked", False)
    monkeypatch.setattr(llama_probe, "PROBE", "import os, signal; os.kill(os.getpid(), signal.SIGSEGV)")
    with pytest.raises(llm.BackendError, match="SIGSEGV.*make setup"):
        llm._load_engine(paths.base_gguf(), 256)
    assert not (paths.home() / llama_probe.CACHE_FILE).exists() and not llm._ENGINES


def test_the_probe_verdict_is_kept_per_build(monkeypatch):
    monkeypatch.setattr(llama_probe, "_checked", False)
    llama_probe.ensure_llama_cpp_runs(paths.base_gguf())  # the real build, a real prompt in a child
    cache = json.loads((paths.home() / llama_probe.CACHE_FILE).read_text())
    assert cache == {"ok": llama_probe.build_key()} and llama_probe.build_key() != "none"

    def must_not_run(*args, **kwargs):
        raise AssertionError("the probe ran again for the same build")

    monkeypatch.setattr(llama_probe, "_checked", False)
    monkeypatch.setattr(llama_probe, "run_probe", must_not_run)
    llama_probe.ensure_llama_cpp_runs(paths.base_gguf())  # read from the cache
    (paths.home() / llama_probe.CACHE_FILE).write_text(json.dumps({"ok": "another-build"}))
    monkeypatch.setattr(llama_probe, "_checked", False)
    with pytest.raises(AssertionError, match="ran again"):  # a rebuilt llama.cpp is probed afresh
        llama_probe.ensure_llama_cpp_runs(paths.base_gguf())


def test_doctor_fails_without_the_chinese_word_vectors(monkeypatch):
    from shoeagent.knowledge import zhvectors

    monkeypatch.setattr(zhvectors.importlib.util, "find_spec", lambda name: None)
    check = doctor.check_chinese_word_vectors()
    assert check.status == "fail" and check.required and "synonyms==3.10.2" in check.fix


def test_doctor_fails_without_base_model(monkeypatch, tmp_path):
    monkeypatch.setenv("SHOEAGENT_BASE_GGUF", str(tmp_path / "nope.gguf"))
    monkeypatch.setenv("OLLAMA_HOST", "127.0.0.1:9")
    result = runner.invoke(_build(), ["doctor", "--json"])
    assert result.exit_code == 1
    report = json.loads(result.output)
    assert report["embedded_usable"] is False


def test_ollama_host_normalisation(monkeypatch):
    monkeypatch.setenv("OLLAMA_HOST", "example.internal:1234")
    assert doctor.ollama_host() == "http://example.internal:1234"
    monkeypatch.delenv("OLLAMA_HOST")
    assert doctor.ollama_host() == doctor.DEFAULT_OLLAMA_HOST


def test_the_built_wheel_carries_every_data_file_the_package_reads(tmp_path):
    """A forgotten package-data pattern only shows in a non-editable install: build the wheel from the
    tracked files and check that every tracked non-Python file inside a package folder is in it (the
    knowledge entries and tables, eval sets, presets, the adapter, the chat's stylesheet)."""
    import shutil
    import zipfile

    repo = Path(__file__).resolve().parent.parent
    try:
        tracked = subprocess.run(["git", "ls-files"], cwd=repo, capture_output=True, text=True, check=True).stdout.split()
    except (OSError, subprocess.CalledProcessError):
        pytest.skip("not a git checkout")
    source = tmp_path / "src"
    for name in tracked:
        (source / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(repo / name, source / name)
    built = subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation",
                            "-w", str(tmp_path / "wheel"), str(source)], capture_output=True, text=True, timeout=300)
    assert built.returncode == 0, built.stderr[-2000:]
    (wheel,) = (tmp_path / "wheel").glob("shoeagent-*.whl")
    inside = set(zipfile.ZipFile(wheel).namelist())
    folders = {"shoeagent": "shoeagent", "agent": "shoeagent/agent", "finetune": "shoeagent/finetune",
               "knowledge": "shoeagent/knowledge", "tui": "shoeagent/tui"}
    expected = {
        folders[name.split("/", 1)[0]] + "/" + name.split("/", 1)[1]
        for name in tracked
        if name.split("/", 1)[0] in folders and "/" in name and not name.endswith(".py")
    }
    assert expected, "no data files found"
    assert not expected - inside, sorted(expected - inside)
