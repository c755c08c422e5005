"""Does this llama.cpp build survive a prompt on this machine? Checked in a child process, once per build.

A llama-cpp-python wheel compiled for CPU features the machine does not grant (AMX inside a VM that
does not enable it, seen on this project's machines) loads fine and then dies with a signal on the
first prompt of two or more tokens, taking the whole process with it. Loading the model in a child
first turns that into a clear error with the fix. The verdict is kept in ``SHOEAGENT_HOME`` under a
key made of llama.cpp's library files (name, size, mtime), so the probe runs again only after a
reinstall or rebuild; ``shoeagent doctor`` always runs it afresh.
"""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
import threading
from dataclasses import dataclass
from pathlib import Path

from shoeagent import paths

# Loads the GGUF and evaluates a four-token prompt: a prompt of two or more tokens takes llama.cpp's
# batched matrix kernels, where a build for the wrong CPU features crashes.
PROBE = """
import sys
from llama_cpp import Llama
llm = Llama(model_path=sys.argv[1], n_ctx=64, n_threads=1, n_threads_batch=1, verbose=False)
llm.eval(llm.tokenize(b"Mold on shoes"))
print("ok")
"""
REBUILD = "rm -rf .venv .wheels && make setup  (builds llama.cpp without AMX; pip users: see the README)"
CACHE_FILE = "llama_probe.json"

_checked = False
_lock = threading.Lock()


class LlamaCrashError(RuntimeError):
    """This machine kills llama.cpp on a prompt; the message names the signal and the fix."""


@dataclass(frozen=True)
class ProbeResult:
    status: str  # "ok" | "crashed" | "failed" | "timeout"
    detail: str


def run_probe(model_path: str | os.PathLike[str], timeout: float = 120.0) -> ProbeResult:
    """Evaluate a short prompt with ``model_path`` in a child process and say how it went."""
    try:
        done = subprocess.run([sys.executable, "-c", PROBE, str(model_path)], capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return ProbeResult("timeout", f"a 4-token prompt took over {timeout:.0f} s (machine overloaded?)")
    if done.returncode == 0 and "ok" in done.stdout:
        return ProbeResult("ok", "a 4-token prompt evaluates")
    if done.returncode < 0:
        try:
            name = signal.Signals(-done.returncode).name
        except ValueError:
            name = f"signal {-done.returncode}"
        return ProbeResult("crashed", f"llama.cpp crashed ({name}) evaluating a prompt: it was built for CPU features "
                                      "this machine does not allow (e.g. AMX in a VM)")
    last = (done.stderr.strip().splitlines() or ["no output"])[-1]
    return ProbeResult("failed", f"evaluating a prompt failed: {last}")


def build_key() -> str:
    """Identifies the installed llama.cpp build: its package's native libraries, by name, size and mtime."""
    from importlib.util import find_spec

    spec = find_spec("llama_cpp")
    if spec is None or not spec.origin:
        return "none"
    root = Path(spec.origin).parent
    parts = []
    for lib in sorted(p for p in root.rglob("*") if p.suffix in (".so", ".dylib", ".dll") or ".so." in p.name):
        stat = lib.stat()
        parts.append(f"{lib.relative_to(root)}:{stat.st_size}:{int(stat.st_mtime)}")
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()[:16]


def ensure_llama_cpp_runs(model_path: str | os.PathLike[str]) -> None:
    """Raise :class:`LlamaCrashError` if llama.cpp dies on a prompt here; cheap after the first call.

    Only a crash is an error: a probe that fails otherwise or times out is not recorded and lets the
    caller go on, so that the real load reports its own error.
    """
    global _checked
    if _checked:
        return
    with _lock:
        if _checked:
            return
        key = build_key()
        cache = paths.home() / CACHE_FILE
        try:
            if json.loads(cache.read_text(encoding="utf-8")).get("ok") == key:
                _checked = True
                return
        except (OSError, ValueError, AttributeError):
            pass
        result = run_probe(model_path)
        if result.status == "crashed":
            raise LlamaCrashError(f"{result.detail}. Fix: {REBUILD}")
        if result.status == "ok":
            _checked = True
            tmp = cache.with_name(f".{CACHE_FILE}.{os.getpid()}.tmp")
            try:
                tmp.write_text(json.dumps({"ok": key}), encoding="utf-8")
                os.replace(tmp, cache)
            except OSError:  # a read-only home only costs the probe again next time
                tmp.unlink(missing_ok=True)
