"""The thread rule shared by the embedded backend, the model evaluation and the export parity check."""

from __future__ import annotations

import os

import pytest

from shoeagent import threads


def test_small_model_decodes_on_one_thread_and_prompts_use_the_free_cores(tmp_path, monkeypatch):
    monkeypatch.delenv("SHOEAGENT_THREADS", raising=False)
    monkeypatch.setattr(os, "cpu_count", lambda: 8)
    monkeypatch.setattr(os, "getloadavg", lambda: (0.5, 0.5, 0.5))
    small = tmp_path / "small.gguf"
    small.write_bytes(b"\0" * 1024)
    args = threads.llama_thread_args(small)
    assert args == {"n_threads": 1, "n_threads_batch": 8}
    assert os.environ["OMP_WAIT_POLICY"]  # set (to PASSIVE unless the user chose one) before llama_cpp loads


def test_large_or_unknown_model_decodes_on_all_cores_unless_the_machine_is_oversubscribed(tmp_path, monkeypatch):
    monkeypatch.delenv("SHOEAGENT_THREADS", raising=False)
    monkeypatch.setattr(os, "cpu_count", lambda: 8)
    big = tmp_path / "big.gguf"
    with open(big, "wb") as handle:  # sparse: size without the disk
        handle.truncate(threads.SMALL_MODEL_BYTES + 1)
    monkeypatch.setattr(os, "getloadavg", lambda: (0.5, 0.5, 0.5))
    assert threads.decode_threads(big) == 8
    assert threads.decode_threads(tmp_path / "missing.gguf") == 8
    monkeypatch.setattr(os, "getloadavg", lambda: (9.0, 9.0, 9.0))
    assert threads.decode_threads(big) == 1
    assert threads.llama_thread_args(big)["n_threads_batch"] == 1


def test_environment_override_and_its_errors(tmp_path, monkeypatch):
    small = tmp_path / "small.gguf"
    small.write_bytes(b"\0")
    monkeypatch.setenv("SHOEAGENT_THREADS", "3")
    assert threads.decode_threads(small) == 3
    for bad in ("two", "0", "-1"):
        monkeypatch.setenv("SHOEAGENT_THREADS", bad)
        with pytest.raises(ValueError, match="SHOEAGENT_THREADS"):
            threads.decode_threads(small)


def test_the_embedded_engine_is_loaded_with_the_rule(monkeypatch):
    """The real llama.cpp engine on the packaged GGUF gets one decode thread and all free cores for prompts."""
    from shoeagent import paths
    from shoeagent.agent import llm

    monkeypatch.delenv("SHOEAGENT_THREADS", raising=False)
    monkeypatch.setattr(os, "getloadavg", lambda: (0.0, 0.0, 0.0))
    monkeypatch.setattr(llm, "_ENGINES", {})
    engine = llm._load_engine(paths.base_gguf(), 512)
    try:
        assert engine.n_threads == 1
        assert engine.n_threads_batch == (os.cpu_count() or 1)
        assert engine.context_params.flash_attn_type == 1  # LLAMA_FLASH_ATTN_TYPE_ENABLED
        assert engine.create_completion("Mold needs", max_tokens=4, temperature=0)["choices"][0]["text"]
    finally:
        engine.close()
    monkeypatch.setenv("SHOEAGENT_FLASH_ATTN", "0")
    monkeypatch.setattr(llm, "_ENGINES", {})
    engine = llm._load_engine(paths.base_gguf(), 512)
    try:
        assert engine.context_params.flash_attn_type == 0
        assert engine.create_completion("Mold needs", max_tokens=4, temperature=0)["choices"][0]["text"]
    finally:
        engine.close()


@pytest.mark.parametrize(("raw", "on"), [(None, True), ("1", True), ("yes", True), ("0", False), (" OFF ", False), ("false", False)])
def test_flash_attention_is_on_unless_turned_off(monkeypatch, raw, on):
    if raw is None:
        monkeypatch.delenv("SHOEAGENT_FLASH_ATTN", raising=False)
    else:
        monkeypatch.setenv("SHOEAGENT_FLASH_ATTN", raw)
    assert threads.flash_attention() is on


@pytest.mark.parametrize("raw", ["maybe", "2", "of"])
def test_flash_attention_rejects_what_it_does_not_understand(monkeypatch, raw):
    monkeypatch.setenv("SHOEAGENT_FLASH_ATTN", raw)
    with pytest.raises(ValueError, match="SHOEAGENT_FLASH_ATTN=.*set it to 1"):
        threads.flash_attention()


@pytest.mark.parametrize(
    "args", [["chat"], ["eval", "agent", "--limit", "1"], ["eval", "model", "--limit", "1"], ["bench", "--quick"], ["ask", "How do I dry wet boots?"]]
)
def test_commands_that_run_the_model_reject_a_bad_engine_setting_first(monkeypatch, args):
    from typer.testing import CliRunner

    from shoeagent.cli import _build

    monkeypatch.setenv("SHOEAGENT_FLASH_ATTN", "maybe")
    result = CliRunner().invoke(_build(), args)
    assert result.exit_code == 2
    assert "SHOEAGENT_FLASH_ATTN='maybe'" in result.output and "Traceback" not in result.output
