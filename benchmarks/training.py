"""CPU training throughput: shoeagent's trainer vs a plain-transformers baseline of the seed's setup.

Both runs train a LoRA adapter on the same examples (the first ``--examples`` rows of the packaged
training set, one pass) from the same base model, on this machine, one after the other:

* baseline — the seed notebook's recipe: every example padded to ``max_seq_length``, no packing,
  transformers ``Trainer`` with ``DataCollatorForSeq2Seq``, LoRA on every layer, the model's own loss
  (full-vocabulary logits at every position).
* shoeagent — ``shoeagent train`` with the given preset; for ``embedded``: no padding (one example
  per forward pass, gradient accumulation), the LM head only on answer tokens, one torch thread.
  ``--set training.packing=true --set training.per_device_train_batch_size=1`` measures BFD packing.

Both runs use the preset's torch thread count, so the ratio shows the recipe, not the threads (on an
oversubscribed 2-core machine one thread alone is several times faster than two).

Throughput is real (non-padding) tokens per second of ``trainer.train()`` wall time; model loading
and tokenisation are excluded from both. Usage::

    .venv/bin/python benchmarks/training.py --examples 8 --out /tmp/training_bench.json
"""

from __future__ import annotations

import argparse
import copy
import json
import tempfile
import time
from pathlib import Path
from typing import Any


def _encode(examples: list[Any], tokenizer: Any, max_length: int) -> list[dict[str, list[int]]]:
    rows = []
    for example in examples:
        prompt = tokenizer.apply_chat_template(example.prompt, tokenize=False, add_generation_prompt=True)
        full = tokenizer.apply_chat_template(example.prompt + example.completion, tokenize=False)
        prompt_ids = tokenizer(prompt, add_special_tokens=False)["input_ids"]
        ids = tokenizer(full, add_special_tokens=False)["input_ids"][:max_length]
        labels = ([-100] * len(prompt_ids) + ids[len(prompt_ids) :])[:max_length]
        rows.append({"input_ids": ids, "attention_mask": [1] * len(ids), "labels": labels})
    return rows


def run_baseline(model: Any, tokenizer: Any, examples: list[Any], config: Any, batch_size: int) -> dict[str, Any]:
    """The seed's recipe: pad every example to max_seq_length, no packing, plain Trainer."""
    from datasets import Dataset
    from peft import get_peft_model
    from transformers import DataCollatorForSeq2Seq, Trainer, TrainingArguments

    from shoeagent.finetune.config import LoraSettings, peft_lora_config

    lora = LoraSettings(r=config.lora.r, alpha=config.lora.alpha, dropout=config.lora.dropout,
                        target_modules=list(config.lora.target_modules))
    peft_model = get_peft_model(model, peft_lora_config(lora))
    max_length = config.model.max_seq_length
    rows = _encode(examples, tokenizer, max_length)
    with tempfile.TemporaryDirectory() as out:
        args = TrainingArguments(
            output_dir=out,
            per_device_train_batch_size=batch_size,
            gradient_accumulation_steps=1,
            num_train_epochs=1,
            learning_rate=config.training.learning_rate,
            warmup_steps=0,
            logging_steps=1,
            save_strategy="no",
            report_to="none",
            use_cpu=True,
            seed=config.training.seed,
        )
        trainer = Trainer(
            model=peft_model,
            args=args,
            train_dataset=Dataset.from_list(rows),
            data_collator=DataCollatorForSeq2Seq(tokenizer, padding="max_length", max_length=max_length),
        )
        started = time.perf_counter()
        trainer.train()
        wall = time.perf_counter() - started
    tokens = sum(len(r["input_ids"]) for r in rows)
    return {
        "name": "baseline (seed recipe: fixed padding, no packing, all layers, full logits)",
        "wall_s": round(wall, 1),
        "real_tokens": tokens,
        "padded_tokens": len(rows) * max_length,
        "steps": trainer.state.global_step,
        "tokens_per_s": round(tokens / wall, 1),
    }


def config_name(config: Any) -> str:
    t = config.training
    layout = "packing" if t.packing else ("padding-free" if t.padding_free else f"unpadded batch {t.per_device_train_batch_size}")
    return f"({layout}, answer-only LM head, {config.hardware.torch_threads or 'all'} thread(s))"


def run_shoeagent(model: Any, tokenizer: Any, rows_file: Path, config: Any, tokens: int) -> dict[str, Any]:
    """``shoeagent train`` on the same rows (its model loader swapped for the already loaded base)."""
    from shoeagent.finetune import base as base_module
    from shoeagent.finetune.train import train

    original = base_module.load_base
    base_module.load_base = lambda *_a, **_k: (model, tokenizer)
    try:
        with tempfile.TemporaryDirectory() as out:
            result = train(config, output=Path(out) / "run")
    finally:
        base_module.load_base = original
    wall = result.report["wall_time_s"]
    return {
        "name": f"shoeagent {config_name(config)}",
        "wall_s": wall,
        "real_tokens": tokens,
        "steps": result.report["steps"],
        "tokens_per_s": round(tokens / wall, 1),
    }


def run(preset: str = "embedded", examples: int = 8, batch_size: int = 1, overrides: list[str] | None = None) -> dict[str, Any]:
    """Both trainers on the first ``examples`` training rows; returns the JSON-serialisable result."""
    import os

    import torch

    from shoeagent.finetune.base import load_base
    from shoeagent.finetune.config import load_config
    from shoeagent.finetune.datafile import read_rows, to_example, token_lengths, write_jsonl
    from shoeagent.finetune.train import PACKAGED_TRAIN

    load_before = os.getloadavg()
    rows = read_rows(PACKAGED_TRAIN)[:examples]
    with tempfile.TemporaryDirectory() as tmp:
        rows_file = Path(tmp) / "rows.jsonl"
        write_jsonl(rows_file, rows)
        # The presets hold the GPU recipe (batch 16); on a CPU, shoeagent trains one unpadded example
        # per forward pass with gradient accumulation (see finetune/presets/embedded.toml).
        cpu_recipe = [] if torch.cuda.is_available() else [
            "training.per_device_train_batch_size=1", "training.gradient_accumulation_steps=4",
        ]
        config = load_config(
            preset,
            overrides=[
                *cpu_recipe,
                *(overrides or []),
                f"dataset.file={json.dumps(str(rows_file))}",
                "training.eval_strategy=no",
                "training.max_steps=-1",
                "training.num_train_epochs=1",
                "training.warmup_steps=0",
            ],
        )
        if config.hardware.torch_threads:
            torch.set_num_threads(config.hardware.torch_threads)
        base, tokenizer = load_base(config.model)
        items = [to_example(r) for r in rows]
        max_length = config.model.max_seq_length
        tokens = sum(min(n, max_length) for n in token_lengths(items, tokenizer))
        baseline = run_baseline(copy.deepcopy(base), tokenizer, items, config, batch_size)
        ours = run_shoeagent(copy.deepcopy(base), tokenizer, rows_file, config, tokens)
    return {
        "benchmark": "training",
        "preset": preset,
        "examples": len(rows),
        "max_seq_length": max_length,
        "torch_threads": torch.get_num_threads(),
        "baseline": baseline,
        "shoeagent": ours,
        "speedup": round(ours["tokens_per_s"] / baseline["tokens_per_s"], 2),
        "speedup_goal": 1.5,
        "machine": {"cpus": os.cpu_count(), "load_average_before": [round(x, 2) for x in load_before],
                    "load_average_after": [round(x, 2) for x in os.getloadavg()]},
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--preset", default="embedded")
    parser.add_argument("--examples", type=int, default=8, help="How many training rows both runs train on.")
    # Padded batches make SDPA materialise the attention mask and weights: batch 4 x 1400 tokens needs
    # ~22 GB, so the default stays at 1 (the padding waste per token is the same at any batch size).
    parser.add_argument("--batch-size", type=int, default=1, help="Baseline batch size (padded rows per step).")
    parser.add_argument("--set", action="append", default=[], dest="overrides", help="Config override for both runs.")
    parser.add_argument("--out", type=Path, help="Write the result as JSON here.")
    args = parser.parse_args()
    result = run(args.preset, args.examples, args.batch_size, args.overrides)
    print(json.dumps(result, indent=2))
    if args.out:
        args.out.write_text(json.dumps(result, indent=2), encoding="utf-8")


if __name__ == "__main__":
    main()
