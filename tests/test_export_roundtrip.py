"""One real export of the embedded model with a LoRA adapter made here, checked end to end.

The adapter (made on a same-shaped model, so only one real model load happens) gets non-zero
``lora_B`` weights so merging changes the model. The export (load the
packaged GGUF with transformers, merge, convert with llama.cpp's converter, quantize q8_0, parity)
runs once per module; the eval test adds the second real export (the base model).
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from shoeagent import paths
from shoeagent.cli import _build
from shoeagent.finetune.export import ExportOptions, ExportResult, export_model
from shoeagent.finetune.gguf_tools import read_metadata, sha256_file
from shoeagent.finetune.modelfile import lint_modelfile

pytestmark = pytest.mark.slow
TARGETS = ["q_proj", "v_proj", "down_proj"]


@pytest.fixture(scope="module")
def home(tmp_path_factory):
    """A SHOEAGENT_HOME for the module-scoped export (the autouse per-test home is not set up yet)."""
    folder = tmp_path_factory.mktemp("export_home")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("SHOEAGENT_HOME", str(folder))
        patch.setenv("HF_HUB_OFFLINE", "1")
        yield folder


@pytest.fixture(scope="module")
def lora_adapter(home, tmp_path_factory) -> Path:
    """A LoRA adapter for the embedded model, built on a same-shaped model (its base weights don't matter)."""
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import LlamaConfig, LlamaForCausalLM

    meta = read_metadata(paths.base_gguf(), "llama.")
    config = LlamaConfig(
        hidden_size=meta["llama.embedding_length"], intermediate_size=meta["llama.feed_forward_length"],
        num_hidden_layers=meta["llama.block_count"], num_attention_heads=meta["llama.attention.head_count"],
        num_key_value_heads=meta["llama.attention.head_count_kv"], vocab_size=meta["llama.vocab_size"],
        tie_word_embeddings=True,
    )
    config._name_or_path = paths.BASE_MODEL_ID
    torch.manual_seed(0)  # PEFT draws lora_A from the global generator: the same adapter every run
    peft_model = get_peft_model(LlamaForCausalLM(config), LoraConfig(r=4, lora_alpha=8, target_modules=TARGETS, task_type="CAUSAL_LM"))
    generator = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for name, parameter in peft_model.named_parameters():
            if "lora_B" in name:  # PEFT starts B at zero (a no-op adapter); make it change the weights
                parameter.copy_(torch.randn(parameter.shape, generator=generator) * 0.05)
    folder = tmp_path_factory.mktemp("adapter")
    peft_model.save_pretrained(folder)
    (folder / "training_report.json").write_text(json.dumps({"dataset_sha256": "ab" * 32, "metrics": {"eval_loss": 2.5}}))
    return folder


def _special_tokens(gguf_path: Path) -> tuple[list[str], set[str]]:
    """(the vocabulary, its control tokens) from the GGUF's metadata."""
    meta = read_metadata(gguf_path, "tokenizer.ggml.", max_array=10**6)
    tokens, types = meta["tokenizer.ggml.tokens"], meta["tokenizer.ggml.token_type"]
    return tokens, {t for t, kind in zip(tokens, types) if kind == 3}  # 3 = CONTROL


@pytest.fixture(scope="module")
def exported(home, lora_adapter) -> ExportResult:
    stages: list[str] = []
    result = export_model(ExportOptions(adapter_dir=lora_adapter, output_dir=home / "models"), stages.append)
    assert stages[0] == "load base model" and "parity check" in stages
    return result


@pytest.fixture(scope="module")
def exported_reader(exported):
    """gguf's own reader on the exported file (slow: it maps every array item, so once per module)."""
    import gguf

    return gguf.GGUFReader(str(exported.gguf))


def test_export_writes_the_model_files(exported):
    names = sorted(p.name for p in exported.output_dir.iterdir())
    assert names == ["Modelfile", "manifest.json", "shoemold.gguf"]
    size = exported.gguf.stat().st_size
    assert 120e6 < size < 170e6, size  # q8_0 of 135M parameters
    assert exported.seconds > 0 and "convert to GGUF f16" in exported.stage_seconds


def test_manifest_and_gguf_metadata_carry_the_provenance(exported, exported_reader, lora_adapter):
    manifest = json.loads((exported.output_dir / "manifest.json").read_text())
    assert manifest["base"]["id"] == paths.BASE_MODEL_ID
    assert manifest["base"]["sha256"] == sha256_file(paths.base_gguf())
    assert manifest["adapter"]["sha256"] == sha256_file(lora_adapter / "adapter_model.safetensors")
    assert manifest["dataset"]["sha256"] == "ab" * 32 and manifest["metrics"]["eval_loss"] == 2.5
    for name, info in manifest["files"].items():
        assert sha256_file(exported.output_dir / name) == info["sha256"]
    metadata = {k: f.contents() for k, f in exported_reader.fields.items() if not k.startswith("tokenizer.ggml.")}
    assert {k: v for k, v in metadata.items() if k.startswith("shoeagent.")} == manifest["gguf_metadata"]
    assert metadata["general.name"] == "shoemold"
    assert metadata["general.base_model.0.organization"] == "HuggingFaceTB"
    assert json.loads(metadata["shoeagent.export"])["quants"] == ["q8_0"]


def test_the_gguf_keeps_the_base_tokenizer(exported):
    """GPT-2 byte-level vocabulary, SmolLM's pre-tokenizer, <|im_end|> ends a turn — as in the base GGUF."""
    exported_meta = read_metadata(exported.gguf, "tokenizer.ggml.")
    base_meta = read_metadata(paths.base_gguf(), "tokenizer.ggml.")
    for key in ("tokenizer.ggml.model", "tokenizer.ggml.pre", "tokenizer.ggml.eos_token_id", "tokenizer.ggml.bos_token_id"):
        assert exported_meta[key] == base_meta[key], key
    tokens, _ = _special_tokens(exported.gguf)
    assert tokens[exported_meta["tokenizer.ggml.eos_token_id"]] == "<|im_end|>"


def test_parity_between_merged_model_and_gguf(exported):
    (report,) = exported.parity
    assert report.quant == "q8_0" and report.passed, report.summary()
    assert all(case.template_match for case in report.cases)
    assert report.agreement >= 0.9


def test_merging_changed_exactly_the_adapted_weights(exported, exported_reader):
    """Adapted projections moved well beyond the q8_0 rounding that is all the untouched ones show."""
    import gguf
    import numpy as np

    def tensors(reader: gguf.GGUFReader) -> dict[str, np.ndarray]:
        wanted = {"blk.3.attn_q.weight", "blk.3.attn_k.weight"}
        return {t.name: gguf.quants.dequantize(t.data, t.tensor_type) for t in reader.tensors if t.name in wanted}

    new, base = tensors(exported_reader), tensors(gguf.GGUFReader(str(paths.base_gguf())))
    moved_q = float(np.abs(new["blk.3.attn_q.weight"] - base["blk.3.attn_q.weight"]).mean())
    moved_k = float(np.abs(new["blk.3.attn_k.weight"] - base["blk.3.attn_k.weight"]).mean())
    assert moved_q > 2 * moved_k, (moved_q, moved_k)


def test_the_gguf_answers_a_question_in_llama_cpp(exported):
    from llama_cpp import Llama

    llm = Llama(model_path=str(exported.gguf), n_ctx=1024, verbose=False)
    try:
        reply = llm.create_chat_completion(
            messages=[{"role": "user", "content": "How do I keep my shoes from going moldy?"}], max_tokens=24, temperature=0
        )
    finally:
        llm.close()
    text = reply["choices"][0]["message"]["content"]
    assert len(text.split()) >= 3 and "<|im_" not in text


def test_generated_modelfile_lints_clean_against_the_exported_vocabulary(exported):
    _, specials = _special_tokens(exported.gguf)
    text = (exported.output_dir / "Modelfile").read_text()
    assert lint_modelfile(text, exported.output_dir, specials) == []


def test_if_missing_is_quick_when_built(exported, lora_adapter):
    stamp = exported.gguf.stat().st_mtime_ns
    result = CliRunner().invoke(
        _build(), ["export", "--adapter", str(lora_adapter), "--output", str(exported.output_dir), "--if-missing"]
    )
    assert result.exit_code == 0, result.stderr
    assert "up to date" in result.stderr and exported.gguf.stat().st_mtime_ns == stamp


def test_eval_model_cli_compares_base_and_lora(exported, lora_adapter, tmp_path):
    """`shoeagent eval model`: the LoRA export is reused, the base is exported alike (the 2nd real export)."""
    lora_dir = paths.models_dir() / "eval-lora"
    lora_dir.mkdir(parents=True)
    for name in ("shoemold.gguf", "manifest.json"):
        shutil.copy(exported.output_dir / name, lora_dir / name)
    manifest = json.loads((lora_dir / "manifest.json").read_text())
    manifest["files"].pop("Modelfile")
    (lora_dir / "manifest.json").write_text(json.dumps(manifest))
    data = tmp_path / "eval.jsonl"
    rows = [
        {"instruction": "How humid is too humid for shoes?", "lang": "en", "entry_id": "env-humidity", "kind": "paraphrase",
         "input": "[1] Humidity thresholds: mold grows on shoes when relative humidity stays above 60-70%.",
         "output": "Above 60-70% relative humidity mold grows on shoes [1].", "key_facts": ["60-70%"]},
        {"instruction": "鞋子發霉怎麼清潔？", "lang": "zh", "entry_id": "clean-leather", "kind": "paraphrase",
         "input": "[1] 皮革清潔: 用約70%酒精擦拭黴斑。", "output": "用約70%酒精擦拭黴斑 [1]。", "key_facts": ["70%酒精"]},
    ]
    data.write_text("\n".join(json.dumps(r, ensure_ascii=False) for r in rows) + "\n", encoding="utf-8")
    out = tmp_path / "eval"
    result = CliRunner().invoke(
        _build(), ["eval", "model", "--adapter", str(lora_adapter), "--data", str(data), "--json", "--output", str(out)]
    )
    assert result.exit_code == 0, result.stderr
    summary = json.loads(result.stdout)
    for side in ("base", "lora"):
        assert summary[side]["n"] == 2
        assert set(summary[side]) == {"completeness", "key_data_accuracy", "semantic_consistency", "readability",
                                      "response_time_s", "n"}
        assert all(0 <= summary[side][m] <= 10 for m in ("completeness", "readability")) and summary[side]["response_time_s"] > 0
    assert (paths.models_dir() / "eval-base" / "base.gguf").is_file()
    assert (out / "eval_model.md").read_text().startswith("| **評估指標")
    assert (out / "eval_model.png").stat().st_size > 1000
