"""Fine-tuning configuration: presets, seed-style config.ini, overrides, validation messages, seeding."""

from __future__ import annotations

import tomllib
from dataclasses import fields

import pytest

from shoeagent.finetune.config import (
    ALL_LINEAR,
    ConfigError,
    FinetuneConfig,
    describe_fields,
    load_config,
    parse_override,
    peft_lora_config,
    set_seed,
)

SEED_INI = """\
[Model]
BASE_MODEL_NAME = taide/Llama-3.1-TAIDE-LX-8B-Chat
NEW_MODEL_NAME = KCWen/taide
MAX_SEQ_LENGTH = 4096

[LoRA]
R = 16
LORA_ALPHA = 16
LORA_DROPOUT = 0.0
BIAS = none
TARGET_MODULES = q_proj,k_proj,v_proj,o_proj

[Dataset]
DATASET_FILE = train_data.jsonl

[Training]
PER_DEVICE_TRAIN_BATCH_SIZE = 2
GRADIENT_ACCUMULATION_STEPS = 4
LEARNING_RATE = 2e-4
MAX_STEPS = 60
WARMUP_STEPS = 5
OUTPUT_DIR = outputs
LOGGING_STEPS = 1

[Quantization]
LOAD_IN_4BIT = true
QUANTIZATION_METHOD = q4_k_m

[Hardware]
AUTO_FP16_BF16 = true
"""


def test_every_field_has_help_text():
    config = FinetuneConfig()
    for section in fields(config):
        for f in fields(getattr(config, section.name)):
            assert f.metadata.get("help"), f"{section.name}.{f.name} has no help text"
    assert len(describe_fields()) > 30


@pytest.mark.parametrize("name", ["embedded", "llama-3.2-3b", "taide-8b"])
def test_presets_load_and_validate(name):
    config = load_config(name)
    assert config.lora.r >= 1 and config.training.learning_rate > 0


def test_preset_values_follow_the_seeds():
    llama = load_config("llama-3.2-3b")
    assert llama.model.base_model == "unsloth/Llama-3.2-3B-Instruct"
    assert (llama.training.per_device_train_batch_size, llama.training.gradient_accumulation_steps) == (8, 2)
    assert llama.training.learning_rate == 2e-5 and llama.training.lr_scheduler_type == "cosine_with_restarts"
    assert (llama.training.seed, llama.training.optim, llama.training.weight_decay) == (8888, "adamw_8bit", 0.01)
    assert llama.quantization.load_in_4bit
    taide = load_config("taide-8b")
    assert taide.model.base_model == "taide/Llama-3.1-TAIDE-LX-8B-Chat"
    assert (taide.lora.r, taide.lora.alpha, taide.lora.dropout) == (16, 16, 0.0)
    assert taide.lora.target_modules == ["q_proj", "k_proj", "v_proj", "o_proj"]
    assert (taide.training.max_steps, taide.training.learning_rate, taide.quantization.method) == (60, 2e-4, "q4_k_m")
    embedded = load_config("embedded")
    assert embedded.model.base_model == "packaged-gguf" and embedded.hardware.backend == "auto"


def test_seed_config_ini_is_accepted(tmp_path):
    ini = tmp_path / "config.ini"
    ini.write_text(SEED_INI, encoding="utf-8")
    config = load_config(None, ini)
    assert config.model.base_model == "taide/Llama-3.1-TAIDE-LX-8B-Chat"
    assert config.model.new_model_name == "KCWen/taide"
    assert config.model.max_seq_length == 4096
    assert config.lora.alpha == 16 and config.lora.dropout == 0.0
    assert config.lora.target_modules == ["q_proj", "k_proj", "v_proj", "o_proj"]
    assert config.dataset.file == "train_data.jsonl"
    assert config.training.max_steps == 60 and config.training.output_dir == "outputs"
    assert config.quantization.load_in_4bit is True and config.quantization.method == "q4_k_m"
    assert config.hardware.auto_fp16_bf16 is True


def test_overrides_are_typed_and_applied_last(tmp_path):
    config = load_config(
        "embedded",
        overrides=[
            "training.learning_rate=3e-4",
            "lora.target_modules=q_proj,v_proj",
            "training.packing=false",
            "model.max_seq_length=256",
        ],
    )
    assert config.training.learning_rate == 3e-4
    assert config.lora.target_modules == ["q_proj", "v_proj"]
    assert config.training.packing is False and config.model.max_seq_length == 256
    assert parse_override("lora.target_modules=all-linear")[2] == "all-linear"
    assert load_config(overrides=["lora.target_modules=all-linear"]).lora.target_modules == ALL_LINEAR


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("lora.dropout=1.5", "lora.dropout must be in [0, 1], got 1.5"),
        ("lora.r=0", "lora.r must be in [1, 1024], got 0"),
        ("lora.bias=some", "lora.bias must be one of none, all, lora_only, got 'some'"),
        ("training.learning_rate=abc", "training.learning_rate must be a number, got 'abc'"),
        ("training.packing=maybe", "training.packing must be true or false, got 'maybe'"),
        ("training.max_steps=-5", "training.max_steps must be >= -1, got -5"),
        ("lora.rank=8", "unknown setting lora.rank"),
        ("optimizer.lr=1", "unknown section [optimizer]"),
        ("learning_rate=1", "expected section.field=value"),
    ],
)
def test_validation_names_the_field_and_range(override, message):
    with pytest.raises(ConfigError) as exc:
        load_config("embedded", overrides=[override])
    assert message in str(exc.value)


def test_bad_files_are_reported(tmp_path):
    bad_toml = tmp_path / "bad.toml"
    bad_toml.write_text("[lora\nr = 8\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_config(None, bad_toml)
    with pytest.raises(ConfigError, match="does not exist"):
        load_config(None, tmp_path / "missing.toml")
    with pytest.raises(ConfigError, match="unknown preset 'nope'"):
        load_config("nope")
    out_of_range = tmp_path / "c.ini"
    out_of_range.write_text("[LoRA]\nLORA_DROPOUT = 2\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=r"lora.dropout must be in \[0, 1\], got 2"):
        load_config(None, out_of_range)


def test_resolved_config_round_trips_through_toml(tmp_path):
    config = load_config("embedded", overrides=["training.seed=42", "lora.target_modules=q_proj,o_proj"])
    text = config.to_toml()
    assert tomllib.loads(text) == config.to_dict()
    saved = tmp_path / "resolved.toml"
    saved.write_text(text, encoding="utf-8")
    assert load_config(None, saved).to_dict() == config.to_dict()


def test_peft_lora_config_is_built_in_one_place():
    config = load_config("embedded", overrides=["lora.r=8", "lora.alpha=16", "lora.top_layers=4"])
    lora = peft_lora_config(config.lora, num_layers=30)
    assert (lora.r, lora.lora_alpha, lora.lora_dropout) == (8, 16, config.lora.dropout)
    assert set(lora.target_modules) == set(config.lora.target_modules)
    assert list(lora.layers_to_transform) == [26, 27, 28, 29]
    with pytest.raises(ConfigError, match="num_layers"):
        peft_lora_config(config.lora)
    assert peft_lora_config(load_config("embedded", overrides=["lora.top_layers=0"]).lora).layers_to_transform is None


def test_set_seed_returns_the_seed_and_reproduces():
    import torch

    assert set_seed(123) == 123
    first = torch.rand(3)
    set_seed(123)
    assert torch.equal(first, torch.rand(3))
    drawn = set_seed(-1)
    assert 0 <= drawn < 2**31
