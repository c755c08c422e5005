"""LoRA training: a tiny real run on the CPU (PEFT), resume from a checkpoint, the Unsloth path on CUDA."""

from __future__ import annotations

import copy
import json

import pytest

from shoeagent.finetune import base as base_module
from shoeagent.finetune.config import load_config
from shoeagent.finetune.datafile import sha256_of, write_jsonl
from shoeagent.finetune.train import TrainingError, resolve_backend, train


def _rows(n: int, offset: int = 0) -> list[dict]:
    colours = ["blue", "green", "red", "white", "black", "grey", "pink", "brown"]
    return [
        {
            "messages": [
                {"role": "system", "content": "Answer in one word."},
                {"role": "user", "content": f"Item {i + offset}: which colour?"},
                {"role": "assistant", "content": f"{colours[(i + offset) % len(colours)]} [1]."},
            ]
        }
        for i in range(n)
    ]


@pytest.fixture(scope="module")
def pristine_base():
    """The real SmolLM2-135M base, loaded once for the module (dequantizing the GGUF takes a while)."""
    return base_module.load_base()


@pytest.fixture
def fast_base(pristine_base, monkeypatch):
    """Every train() call gets a fresh copy of the module's base instead of reloading the GGUF."""
    model, tokenizer = pristine_base
    monkeypatch.setattr(base_module, "load_base", lambda config=None, **_: (copy.deepcopy(model), tokenizer))
    return model


@pytest.fixture
def tiny_data(tmp_path):
    train_file, eval_file = tmp_path / "train.jsonl", tmp_path / "eval.jsonl"
    write_jsonl(train_file, _rows(8))
    write_jsonl(eval_file, _rows(4, offset=100))
    return train_file, eval_file


def _tiny_config(train_file, eval_file, *extra: str):
    return load_config(
        "embedded",
        overrides=[
            f"dataset.file={json.dumps(str(train_file))}",
            f"dataset.eval_file={json.dumps(str(eval_file))}",
            "dataset.eval_limit=0",
            "model.max_seq_length=64",
            "lora.top_layers=2",
            "training.per_device_train_batch_size=4",
            "training.per_device_eval_batch_size=4",
            "training.gradient_accumulation_steps=1",
            "training.max_steps=2",
            "training.warmup_steps=0",
            "training.learning_rate=1e-3",
            "training.eval_strategy=steps",
            "training.eval_steps=1",
            "hardware.backend=peft",  # the preset says auto, which is Unsloth on a CUDA machine with unsloth installed
            *extra,
        ],
    )


def test_backend_is_peft_without_cuda():
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    assert resolve_backend(load_config("embedded", overrides=["hardware.backend=auto"])) == "peft"
    with pytest.raises(TrainingError, match="needs a CUDA GPU"):
        resolve_backend(load_config("embedded", overrides=["hardware.backend=unsloth"]))
    with pytest.raises(TrainingError, match="load_in_4bit needs a CUDA GPU"):
        resolve_backend(load_config("llama-3.2-3b"))


def test_resume_without_checkpoint_is_a_clear_error(tmp_path):
    with pytest.raises(TrainingError, match="no checkpoint"):
        train(load_config("embedded"), output=tmp_path / "empty", resume=True)


@pytest.mark.slow
@pytest.mark.timeout(240)
def test_tiny_run_trains_lora_only_and_saves_everything(fast_base, tiny_data, tmp_path):
    import torch
    from PIL import Image
    from safetensors import safe_open

    train_file, eval_file = tiny_data
    config = _tiny_config(train_file, eval_file)
    seen = {}

    def snapshot(model):
        seen["model"] = model
        seen["lora"] = {n: p.detach().clone() for n, p in model.named_parameters() if "lora_" in n}

    result = train(config, output=tmp_path / "run", on_model=snapshot)
    model = seen["model"]
    report = result.report

    # LoRA weights moved (lora_B starts at zero), the base weights did not.
    lora_now = {n: p.detach() for n, p in model.named_parameters() if "lora_" in n}
    # .cpu(): on a CUDA machine the trainer moved the model to the GPU after the snapshot.
    assert lora_now and any(not torch.equal(lora_now[n].cpu(), seen["lora"][n].cpu()) for n in lora_now if "lora_B" in n)
    assert all(("layers.28." in n or "layers.29." in n) for n in lora_now)  # lora.top_layers=2
    pristine = dict(fast_base.named_parameters())
    for name, param in model.get_base_model().named_parameters():
        if "lora_" in name:
            continue
        # In the trained model's dtype: on a GPU the trainer may cast frozen weights to bf16 (rounding, not training).
        before = pristine[name.replace(".base_layer", "")].detach().cpu().to(param.dtype)
        assert torch.equal(param.detach().cpu(), before), name

    adapter = result.adapter_dir
    assert adapter == tmp_path / "run" / "adapter"
    with safe_open(str(adapter / "adapter_model.safetensors"), "pt") as fh:
        keys = list(fh.keys())
        assert keys and all(fh.get_tensor(k).dtype == torch.float16 for k in keys)
    assert json.loads((adapter / "adapter_config.json").read_text())["r"] == config.lora.r
    assert Image.open(adapter / "loss_curve.png").size[0] > 100
    assert load_config(None, adapter / "finetune_config.toml").to_dict() == config.to_dict()

    on_disk = json.loads((adapter / "training_report.json").read_text())
    assert on_disk["steps"] == report["steps"] == 2
    assert on_disk["seed"] == config.training.seed == 8888
    assert on_disk["dataset_sha256"] == sha256_of([train_file, eval_file])
    assert on_disk["train_loss_final"] > 0 and on_disk["eval_loss_final"] > 0 and on_disk["eval_loss_before"] > 0
    assert on_disk["tokens_per_s"] > 0 and on_disk["wall_time_s"] > 0
    assert on_disk["config"]["lora"]["top_layers"] == 2
    log_text = (tmp_path / "run" / "train.log").read_text()
    assert "backend=peft seed=8888" in log_text and '"loss"' in log_text


@pytest.mark.slow
@pytest.mark.timeout(240)
def test_resume_continues_from_the_last_checkpoint(fast_base, tiny_data, tmp_path):
    train_file, eval_file = tiny_data
    run_dir = tmp_path / "run"
    first = train(_tiny_config(train_file, eval_file, "training.early_stopping_patience=0"), output=run_dir)
    assert first.report["steps"] == 2 and (run_dir / "checkpoint-2").is_dir()
    second = train(
        _tiny_config(train_file, eval_file, "training.early_stopping_patience=0", "training.max_steps=3"),
        output=run_dir,
        resume=True,
    )
    assert second.report["resumed_from_step"] == 2
    assert second.report["steps"] == 3
    # The restored trainer state carries the first run's losses for steps 1-2.
    first_losses = [h["loss"] for h in first.report["log_history"] if "loss" in h]
    second_losses = [h["loss"] for h in second.report["log_history"] if "loss" in h]
    assert second_losses[: len(first_losses)] == first_losses and len(second_losses) == len(first_losses) + 1


@pytest.mark.gpu
@pytest.mark.slow
def test_unsloth_backend_on_cuda(tmp_path, tiny_data):
    import importlib.util

    import torch

    if not torch.cuda.is_available() or importlib.util.find_spec("unsloth") is None:
        pytest.skip("needs CUDA and unsloth (pip install 'shoeagent[gpu]')")
    train_file, eval_file = tiny_data
    config = _tiny_config(train_file, eval_file, "hardware.backend=unsloth", "lora.top_layers=0")
    result = train(config, output=tmp_path / "run")
    assert result.report["backend"] == "unsloth" and result.report["device"] == "cuda"
    assert (result.adapter_dir / "adapter_model.safetensors").is_file()
