"""LoRA fine-tuning with TRL's SFTTrainer: Unsloth on a CUDA GPU, transformers + PEFT on the CPU.

One front end for both backends: the same dataset (prompt/completion conversations rendered through
the model's chat template, loss on the answer only), the same LoRA settings, the same trainer. What
differs is only how the model is loaded and wrapped. A run directory holds the checkpoints (so
``--resume`` continues from the last complete one: a checkpoint cut off by a kill while it was
being saved is set aside), ``train.log``, and the finished adapter: fp16
safetensors, ``training_report.json``, ``loss_curve.png`` and the resolved ``finetune_config.toml``.
"""

from __future__ import annotations

import json
import logging
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from shoeagent import paths
from shoeagent.finetune.config import FinetuneConfig, layers_to_transform, peft_lora_config, set_seed
from shoeagent.finetune.datafile import Example, read_feedback, read_rows, sha256_of, to_example

log = logging.getLogger("shoeagent.finetune")

PACKAGED_TRAIN = Path(__file__).resolve().parent / "data" / "train.jsonl"
PACKAGED_EVAL = Path(__file__).resolve().parent / "data" / "eval.jsonl"
CONFIG_FILE_NAME = "finetune_config.toml"
REPORT_NAME = "training_report.json"
ADAPTER_DIR_NAME = "adapter"


class TrainingError(RuntimeError):
    """Training cannot start (missing backend, bad run directory); the message says what to do."""


@dataclass
class DatasetSplits:
    """Training and evaluation examples plus where they came from."""

    train: list[Example]
    eval: list[Example]
    files: list[Path] = field(default_factory=list)
    feedback_rows: int = 0

    def sha256(self) -> str:
        return sha256_of(self.files)


@dataclass
class TrainResult:
    run_dir: Path
    adapter_dir: Path
    report: dict[str, Any]


def cuda_available() -> bool:
    import torch

    return torch.cuda.is_available()


def resolve_backend(config: FinetuneConfig) -> str:
    """``unsloth`` when asked for (or ``auto`` with CUDA and unsloth importable), else ``peft``."""
    import importlib.util

    wanted = config.hardware.backend
    has_unsloth = importlib.util.find_spec("unsloth") is not None
    if wanted == "unsloth":
        if not cuda_available() or not has_unsloth:
            raise TrainingError(
                "hardware.backend=unsloth needs a CUDA GPU and `pip install 'shoeagent[gpu]'`; "
                "use --set hardware.backend=peft to train on the CPU."
            )
        return "unsloth"
    if wanted == "auto" and cuda_available() and has_unsloth:
        return "unsloth"
    if config.quantization.load_in_4bit and not cuda_available():
        raise TrainingError("quantization.load_in_4bit needs a CUDA GPU; use --set quantization.load_in_4bit=false on the CPU.")
    return "peft"


def load_splits(
    config: FinetuneConfig, dataset: Path | str | None = None, include_feedback: bool | None = None
) -> DatasetSplits:
    """Read the training and evaluation examples the config (or ``dataset``) names."""
    import random

    train_file = Path(dataset or config.dataset.file or PACKAGED_TRAIN).expanduser()
    files = [train_file]
    train_rows = read_rows(train_file)
    if config.dataset.eval_file:
        eval_file = Path(config.dataset.eval_file).expanduser()
        eval_rows = read_rows(eval_file)
        files.append(eval_file)
    elif train_file.resolve() == PACKAGED_TRAIN.resolve():
        eval_rows = read_rows(PACKAGED_EVAL)
        files.append(PACKAGED_EVAL)
    else:
        # A user file without an eval file: hold out a seeded share for validation.
        rng = random.Random(config.training.seed)
        shuffled = list(train_rows)
        rng.shuffle(shuffled)
        n_eval = int(len(shuffled) * config.dataset.eval_fraction)
        eval_rows, train_rows = shuffled[:n_eval], shuffled[n_eval:]
    feedback_rows: list[dict[str, Any]] = []
    if include_feedback if include_feedback is not None else config.dataset.include_feedback:
        feedback_path = paths.feedback_file()
        feedback_rows = read_feedback(feedback_path)
        if feedback_rows:
            files.append(feedback_path)
    if config.dataset.eval_limit and len(eval_rows) > config.dataset.eval_limit:
        # An even spread over the file keeps every kind and language in the smaller validation set.
        step = len(eval_rows) / config.dataset.eval_limit
        eval_rows = [eval_rows[int(i * step)] for i in range(config.dataset.eval_limit)]
    return DatasetSplits(
        train=[to_example(r) for r in train_rows + feedback_rows],
        eval=[to_example(r) for r in eval_rows],
        files=files,
        feedback_rows=len(feedback_rows),
    )


def default_run_dir(config: FinetuneConfig) -> Path:
    stamp = time.strftime("%Y%m%d-%H%M%S")
    return paths.runs_dir() / f"{config.model.new_model_name}-{stamp}"


def latest_run_dir(config: FinetuneConfig) -> Path | None:
    """The newest run directory of this model that holds a complete checkpoint (for ``--resume``)."""
    candidates = sorted(
        (p for p in paths.runs_dir().glob(f"{config.model.new_model_name}-*") if last_complete_checkpoint(p)),
        key=lambda p: p.stat().st_mtime,
    )
    return candidates[-1] if candidates else None


# What transformers' Trainer writes into a checkpoint folder, trainer_state.json last.
CHECKPOINT_FILES = ("trainer_state.json", "optimizer.pt", "scheduler.pt")
CHECKPOINT_WEIGHTS = ("adapter_model.safetensors", "adapter_model.bin", "model.safetensors", "pytorch_model.bin")


def checkpoint_problem(folder: Path) -> str | None:
    """Why ``folder`` (``checkpoint-N``) cannot be resumed from, or None when it is complete.

    The Trainer writes a checkpoint in place, weights first and ``trainer_state.json`` last, so a run
    killed while saving leaves a folder without that file or with it cut short.
    """
    missing = [name for name in CHECKPOINT_FILES if not (folder / name).is_file()]
    if not any((folder / name).is_file() for name in CHECKPOINT_WEIGHTS):
        missing.append("the weights")
    if missing:
        return f"missing {', '.join(missing)}"
    try:
        state = json.loads((folder / "trainer_state.json").read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        return f"trainer_state.json is unreadable ({exc})"
    step = folder.name.rsplit("-", 1)[-1]
    if str(state.get("global_step")) != step:
        return f"trainer_state.json is for step {state.get('global_step')}, not {step}"
    return None


def last_complete_checkpoint(run_dir: Path, set_aside: bool = False) -> Path | None:
    """The highest-numbered complete ``checkpoint-N`` folder of ``run_dir`` (None if there is none).

    With ``set_aside``, incomplete checkpoints above it (a run killed while saving) are renamed to
    ``incomplete-checkpoint-N`` so neither the Trainer nor a later resume picks them up.
    """
    numbered = []
    for folder in run_dir.glob("checkpoint-*"):
        suffix = folder.name.removeprefix("checkpoint-")
        if folder.is_dir() and suffix.isdigit():
            numbered.append((int(suffix), folder))
    for _, folder in sorted(numbered, reverse=True):
        problem = checkpoint_problem(folder)
        if problem is None:
            return folder
        if set_aside:
            target = folder.with_name(f"incomplete-{folder.name}")
            if target.exists():
                import shutil

                shutil.rmtree(target)
            folder.rename(target)
            log.warning("%s is incomplete (%s), probably cut off by a kill; set aside as %s", folder, problem, target.name)
    return None


def _load_peft_model(config: FinetuneConfig) -> tuple[Any, Any]:
    from peft import get_peft_model

    from shoeagent.finetune.base import load_base

    model, tokenizer = load_base(config.model)
    model.config.use_cache = False
    model = get_peft_model(model, peft_lora_config(config.lora, model.config.num_hidden_layers))
    return model, tokenizer


def _load_unsloth_model(config: FinetuneConfig, seed: int) -> tuple[Any, Any]:  # pragma: no cover - needs CUDA
    from unsloth import FastLanguageModel

    from shoeagent.finetune.base import _fix_tokenizer, resolve_gguf

    name = config.model.base_model
    gguf = resolve_gguf(name)
    if gguf is not None:
        # Unsloth cannot read GGUF: write the dequantized base once as an HF folder and load that.
        name = str(_hf_copy_of_base(config))
    model, tokenizer = FastLanguageModel.from_pretrained(
        model_name=name,
        max_seq_length=config.model.max_seq_length,
        load_in_4bit=config.quantization.load_in_4bit,
        dtype=None,
    )
    if gguf is not None:
        # Record the real base in the adapter (as the PEFT path does), not the cache folder it came from.
        model.name_or_path = model.config.name_or_path = (
            paths.BASE_MODEL_ID if gguf == paths.base_gguf() else str(gguf)
        )
    lora = config.lora
    layers = layers_to_transform(lora, model.config.num_hidden_layers)
    model = FastLanguageModel.get_peft_model(
        model,
        r=lora.r,
        lora_alpha=lora.alpha,
        lora_dropout=lora.dropout,
        bias=lora.bias,
        target_modules=list(lora.target_modules),
        use_gradient_checkpointing="unsloth" if config.training.gradient_checkpointing else False,
        random_state=seed,
        **({"layers_to_transform": layers, "layers_pattern": "layers"} if layers else {}),
    )
    return model, _fix_tokenizer(tokenizer)


def _hf_copy_of_base(config: FinetuneConfig) -> Path:  # pragma: no cover - used by the GPU path
    from shoeagent.finetune.base import load_base

    target = paths.cache_dir() / "base-hf" / Path(config.model.base_model).stem
    if not (target / "config.json").is_file():
        model, tokenizer = load_base(config.model)
        model.save_pretrained(target)
        tokenizer.save_pretrained(target)
    return target


def sft_config(config: FinetuneConfig, run_dir: Path, has_eval: bool, backend: str) -> Any:
    """Translate our settings into TRL's ``SFTConfig``."""
    import torch
    from trl import SFTConfig

    t = config.training
    on_gpu = torch.cuda.is_available()
    bf16 = on_gpu and config.hardware.auto_fp16_bf16 and torch.cuda.is_bf16_supported()
    fp16 = on_gpu and config.hardware.auto_fp16_bf16 and not bf16
    eval_strategy = t.eval_strategy if has_eval else "no"
    # Checkpoints follow validation so the best one can be restored; without validation save by steps.
    save_strategy = eval_strategy if eval_strategy != "no" else "steps"
    # Without packing, padding-free flattens a batch into one row whose length TRL cannot cap, so the
    # examples are capped beforehand (see _drop_too_long) and TRL gets no max_length.
    max_length = None if (t.padding_free and not t.packing) else config.model.max_seq_length
    return SFTConfig(
        output_dir=str(run_dir),
        per_device_train_batch_size=t.per_device_train_batch_size,
        per_device_eval_batch_size=t.per_device_eval_batch_size,
        gradient_accumulation_steps=t.gradient_accumulation_steps,
        learning_rate=t.learning_rate,
        num_train_epochs=t.num_train_epochs,
        max_steps=t.max_steps,
        warmup_steps=t.warmup_steps,
        lr_scheduler_type=t.lr_scheduler_type,
        weight_decay=t.weight_decay,
        max_grad_norm=t.max_grad_norm,
        optim=t.optim,
        seed=t.seed,
        data_seed=t.seed,
        logging_steps=t.logging_steps,
        logging_first_step=True,
        eval_strategy=eval_strategy,
        eval_steps=t.eval_steps,
        save_strategy=save_strategy,
        save_steps=t.eval_steps,
        save_total_limit=t.save_total_limit,
        load_best_model_at_end=eval_strategy != "no",
        metric_for_best_model="eval_loss",
        greater_is_better=False,
        completion_only_loss=t.completion_only_loss,
        packing=t.packing,
        packing_strategy="bfd",
        padding_free=t.padding_free,
        max_length=max_length,
        train_sampling_strategy="group_by_length" if t.group_by_length else "random",
        gradient_checkpointing=t.gradient_checkpointing and backend != "unsloth",
        bf16=bf16,
        fp16=fp16,
        use_cpu=not on_gpu,
        dataloader_num_workers=0,
        dataset_num_proc=None,
        include_num_input_tokens_seen="non_padding",
        report_to="none",
        disable_tqdm=False,
    )


def trainer_class() -> type:
    """TRL's ``SFTTrainer``, or on machines without its Triton loss kernel a subclass with a torch loss.

    TRL 1.x computes the SFT loss with a fused, chunked LM head written in Triton, which exists only
    with CUDA. The subclass computes the same token-averaged cross-entropy in plain torch, and like
    TRL it projects through the LM head only the positions that carry a label (the answer tokens),
    which on the CPU saves most of the 49k-vocabulary projection.
    """
    import torch
    from trl import SFTTrainer
    from trl.trainer import utils as trl_utils

    if torch.cuda.is_available() and getattr(trl_utils, "_ChunkedLogProbFunction", None) is not None:
        return SFTTrainer

    class TorchLossSFTTrainer(SFTTrainer):
        def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):  # noqa: ANN001
            import torch.nn.functional as F

            mode = "train" if self.model.training else "eval"
            inputs = dict(inputs)
            labels = inputs.pop("labels")
            inputs["use_cache"] = False
            base = model.get_base_model() if hasattr(model, "get_base_model") else model
            hidden = base.get_decoder()(**inputs).last_hidden_state[:, :-1]
            targets = labels[:, 1:].to(hidden.device)
            mask = targets != -100
            logits = base.get_output_embeddings()(hidden[mask]).float()
            wanted = targets[mask]
            denominator = num_items_in_batch if num_items_in_batch is not None else mask.sum().clamp(min=1)
            loss = F.cross_entropy(logits, wanted, reduction="sum") / torch.as_tensor(denominator, device=logits.device)
            if self.args.average_tokens_across_devices and num_items_in_batch is not None:
                loss = loss * self.accelerator.num_processes
            with torch.no_grad():
                accuracy = (logits.argmax(-1) == wanted).float().mean().item() if wanted.numel() else 0.0
            self._metrics[mode]["mean_token_accuracy"].append(accuracy)
            return (loss, {"loss": loss}) if return_outputs else loss

        def prediction_step(self, model, inputs, prediction_loss_only, ignore_keys=None):  # noqa: ANN001
            inputs = self._prepare_inputs(inputs)
            with torch.no_grad(), self.compute_loss_context_manager():
                loss = self.compute_loss(model, inputs)
            return loss.detach(), None, None

    return TorchLossSFTTrainer


def _drop_too_long(examples: list[Example], tokenizer: Any, max_length: int) -> tuple[list[Example], int]:
    from shoeagent.finetune.datafile import token_lengths

    lengths = token_lengths(examples, tokenizer)
    kept = [e for e, n in zip(examples, lengths) if n <= max_length]
    return kept, len(examples) - len(kept)


def _too_short_error(split: str, examples: list[Example], tokenizer: Any, config: FinetuneConfig) -> TrainingError:
    """The error for a ``model.max_seq_length`` that cuts off the answer of every example."""
    from shoeagent.finetune.datafile import token_lengths

    shortest = min(token_lengths(examples, tokenizer))
    return TrainingError(
        f"no {split} example fits model.max_seq_length={config.model.max_seq_length}: every answer lies beyond it "
        f"(the shortest example is {shortest} tokens with its prompt); raise it, e.g. --set model.max_seq_length={max(shortest, 256)}"
    )


class _JsonLogCallback:
    """Append every log record (loss, eval loss, learning rate) as one JSON line to the run's log."""

    def __init__(self, logger: logging.Logger) -> None:
        self.logger = logger

    def as_callback(self) -> Any:
        from transformers import TrainerCallback

        outer = self

        class Callback(TrainerCallback):
            def on_log(self, args, state, control, logs=None, **kwargs):  # noqa: ANN001
                if logs:
                    outer.logger.info("step %d %s", state.global_step, json.dumps(logs, default=float))

        return Callback()


def _attach_log_file(run_dir: Path) -> logging.Handler:
    handler = logging.FileHandler(run_dir / "train.log", encoding="utf-8")
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    for name in ("shoeagent.finetune", "transformers", "trl", "peft"):
        logger = logging.getLogger(name)
        logger.addHandler(handler)
        if logger.level == logging.NOTSET or logger.level > logging.INFO:
            logger.setLevel(logging.INFO)
    return handler


def _detach_log_file(handler: logging.Handler) -> None:
    for name in ("shoeagent.finetune", "transformers", "trl", "peft"):
        logging.getLogger(name).removeHandler(handler)
    handler.close()


def save_adapter_fp16(model: Any, adapter_dir: Path) -> Path:
    """Save the LoRA adapter (config + weights) with the weights in fp16 safetensors."""
    import torch
    from safetensors.torch import load_file, save_file

    adapter_dir.mkdir(parents=True, exist_ok=True)
    # save_embedding_layers=False: only LoRA weights (PEFT would otherwise look the base up on the hub).
    model.save_pretrained(str(adapter_dir), safe_serialization=True, save_embedding_layers=False)
    weights = adapter_dir / "adapter_model.safetensors"
    tensors = {k: v.to(torch.float16).contiguous() for k, v in load_file(str(weights)).items()}
    save_file(tensors, str(weights), metadata={"format": "pt"})
    weights.chmod(0o644)  # safetensors writes 0600; the adapter ships as package data others must read
    # PEFT writes a model card with hub boilerplate; the report and config below document the run.
    (adapter_dir / "README.md").unlink(missing_ok=True)
    return weights


def plot_loss(log_history: list[dict[str, Any]], path: Path, title: str) -> None:
    """Training and validation loss per step, as a PNG (matplotlib's Agg backend: no display needed)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    train = [(h["step"], h["loss"]) for h in log_history if "loss" in h]
    evals = [(h["step"], h["eval_loss"]) for h in log_history if "eval_loss" in h]
    fig, ax = plt.subplots(figsize=(7, 4), dpi=100)
    if train:
        steps, losses = zip(*train)
        ax.plot(steps, losses, label="train loss", linewidth=1, alpha=0.4)
        # Small batches of very different examples make the raw loss jumpy; a running mean shows the trend.
        window = max(1, min(8, len(losses) // 4))
        smooth = [sum(losses[max(0, i - window + 1) : i + 1]) / len(losses[max(0, i - window + 1) : i + 1]) for i in range(len(losses))]
        ax.plot(steps, smooth, label=f"train loss, mean of {window}", linewidth=2)
    if evals:
        ax.plot(*zip(*evals), "o-", label="validation loss")
    ax.set_xlabel("optimizer step")
    ax.set_ylabel("loss (answer tokens)")
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def _trainable_snapshot(model: Any) -> dict[str, Any]:
    return {n: p.detach().clone() for n, p in model.named_parameters() if p.requires_grad}


def train(
    config: FinetuneConfig,
    *,
    dataset: Path | str | None = None,
    output: Path | str | None = None,
    resume: bool = False,
    include_feedback: bool | None = None,
    adapter_dir: Path | str | None = None,
    on_model: Callable[[Any], None] | None = None,
) -> TrainResult:
    """Fine-tune a LoRA adapter as ``config`` says and save it; return where it went and the report.

    ``output`` is the run directory (default: a new one under ``runs/``; with ``resume`` the newest
    run of this model). ``adapter_dir`` is where the finished adapter goes (default ``<run>/adapter``).
    ``on_model`` is called with the wrapped model before training (tests use it to snapshot weights).
    """
    import torch

    backend = resolve_backend(config)
    if backend == "unsloth":  # pragma: no cover - needs CUDA
        import unsloth  # noqa: F401  (Unsloth must patch transformers/TRL before they are imported)

    if output is not None:
        run_dir = Path(output).expanduser()
    elif resume:
        found = latest_run_dir(config)
        if found is None:
            raise TrainingError(f"--resume: no run of {config.model.new_model_name!r} with a checkpoint under {paths.runs_dir()}")
        run_dir = found
    else:
        run_dir = default_run_dir(config)
    if resume and last_complete_checkpoint(run_dir) is None:
        found = sorted(p.name for p in run_dir.glob("checkpoint-*"))
        if not found:
            raise TrainingError(f"--resume: {run_dir} holds no checkpoint-* folder to resume from")
        raise TrainingError(
            f"--resume: {run_dir} holds only incomplete checkpoints ({', '.join(found)}: a run killed while saving); "
            "start a new run without --resume"
        )
    run_dir.mkdir(parents=True, exist_ok=True)
    handler = _attach_log_file(run_dir)
    try:
        return _train(config, backend, run_dir, dataset, resume, include_feedback, adapter_dir, on_model, torch)
    finally:
        _detach_log_file(handler)


def _train(
    config: FinetuneConfig,
    backend: str,
    run_dir: Path,
    dataset: Path | str | None,
    resume: bool,
    include_feedback: bool | None,
    adapter_dir: Path | str | None,
    on_model: Callable[[Any], None] | None,
    torch: Any,
) -> TrainResult:
    from datasets import Dataset
    from transformers import EarlyStoppingCallback

    import warnings

    # PEFT looks the base's config up on the hub when saving; offline it only warns, and we save no embeddings.
    warnings.filterwarnings("ignore", message="Could not find a config file in")
    if config.hardware.torch_threads:
        torch.set_num_threads(config.hardware.torch_threads)
    seed = set_seed(config.training.seed)
    config.training.seed = seed  # a drawn seed (-1) is recorded as the value actually used
    (run_dir / CONFIG_FILE_NAME).write_text(config.to_toml(), encoding="utf-8")
    log.info("backend=%s seed=%d run_dir=%s threads=%d", backend, seed, run_dir, torch.get_num_threads())

    splits = load_splits(config, dataset, include_feedback)
    log.info("examples: train=%d eval=%d (feedback rows %d)", len(splits.train), len(splits.eval), splits.feedback_rows)

    model, tokenizer = _load_unsloth_model(config, seed) if backend == "unsloth" else _load_peft_model(config)
    dropped = 0
    train_examples, eval_examples = splits.train, splits.eval
    if config.training.padding_free and not config.training.packing:
        train_examples, dropped = _drop_too_long(train_examples, tokenizer, config.model.max_seq_length)
        eval_examples, _ = _drop_too_long(eval_examples, tokenizer, config.model.max_seq_length)
        if splits.train and not train_examples:
            raise _too_short_error("training", splits.train, tokenizer, config)
    if on_model is not None:
        on_model(model)

    train_ds = Dataset.from_list([e.to_trl() for e in train_examples])
    validate = bool(eval_examples) and config.training.eval_strategy != "no"
    eval_ds = Dataset.from_list([e.to_trl() for e in eval_examples]) if validate else None
    args = sft_config(config, run_dir, eval_ds is not None, backend)
    callbacks = [_JsonLogCallback(log).as_callback()]
    if args.eval_strategy != "no" and config.training.early_stopping_patience > 0:
        callbacks.append(EarlyStoppingCallback(early_stopping_patience=config.training.early_stopping_patience))
    trainer = trainer_class()(
        model=model,
        args=args,
        train_dataset=train_ds,
        eval_dataset=eval_ds,
        processing_class=tokenizer,
        callbacks=callbacks,
    )
    # TRL truncates to max_length and drops the examples whose answer was cut off entirely.
    splits_seen = [("training", train_examples, trainer.train_dataset)]
    if eval_ds is not None:
        splits_seen.append(("evaluation", eval_examples, trainer.eval_dataset))
    for name, before, processed in splits_seen:
        if before and processed is not None and len(processed) == 0:
            raise _too_short_error(name, before, tokenizer, config)
    cut_off = len(train_examples) - len(trainer.train_dataset)
    if cut_off:
        log.warning("%d training example(s) dropped: their answer lies beyond model.max_seq_length=%d", cut_off, config.model.max_seq_length)
        dropped += cut_off
    train_tokens = sum(len(ids) for ids in trainer.train_dataset["input_ids"])
    checkpoint = None
    if resume:
        found = last_complete_checkpoint(run_dir, set_aside=True)
        checkpoint = str(found) if found is not None else None
        log.info("resuming from %s", checkpoint)
    eval_before = None
    if eval_ds is not None and checkpoint is None:
        # The untrained adapter is the identity, so this is the base model's validation loss (step 0).
        eval_before = trainer.evaluate()["eval_loss"]
    started = time.perf_counter()
    output = trainer.train(resume_from_checkpoint=checkpoint)
    wall = time.perf_counter() - started
    final_eval: dict[str, Any] = {}
    if eval_ds is not None:
        # Validation is costly on the CPU: reuse the one the trainer ran at the last step, if it did.
        last = [h for h in trainer.state.log_history if "eval_loss" in h]
        final_eval = last[-1] if last and last[-1].get("step") == trainer.state.global_step else trainer.evaluate()

    target = Path(adapter_dir).expanduser() if adapter_dir is not None else run_dir / ADAPTER_DIR_NAME
    save_adapter_fp16(trainer.model, target)
    (target / CONFIG_FILE_NAME).write_text(config.to_toml(), encoding="utf-8")
    history = trainer.state.log_history
    train_losses = [h["loss"] for h in history if "loss" in h]
    tokens_seen = int(trainer.state.num_input_tokens_seen or 0)
    report = {
        "model": config.model.base_model,
        "new_model_name": config.model.new_model_name,
        "backend": backend,
        "device": "cuda" if torch.cuda.is_available() else "cpu",
        "torch_threads": torch.get_num_threads(),
        "seed": seed,
        "resumed_from_step": int(Path(checkpoint).name.split("-")[-1]) if checkpoint else 0,
        "steps": trainer.state.global_step,
        "epochs": round(float(trainer.state.epoch or 0), 3),
        "train_examples": len(train_examples),
        "eval_examples": len(eval_examples),
        "dropped_too_long": dropped,
        "feedback_rows": splits.feedback_rows,
        "train_tokens_per_epoch": train_tokens,
        "tokens_seen": tokens_seen,
        "train_loss_first": train_losses[0] if train_losses else None,
        "train_loss_final": train_losses[-1] if train_losses else None,
        "train_loss_mean": output.training_loss,
        "eval_loss_before": eval_before,
        "eval_loss_final": final_eval.get("eval_loss"),
        "best_eval_loss": trainer.state.best_metric,
        "wall_time_s": round(wall, 1),
        "tokens_per_s": round(tokens_seen / wall, 1) if wall > 0 else None,
        "dataset_files": [str(p) for p in splits.files],
        "dataset_sha256": splits.sha256(),
        "trainable_parameters": sum(p.numel() for p in trainer.model.parameters() if p.requires_grad),
        "config": config.to_dict(),
        "log_history": history,
    }
    (target / REPORT_NAME).write_text(json.dumps(report, indent=2, ensure_ascii=False, default=float), encoding="utf-8")
    plot_loss(history, target / "loss_curve.png", f"{config.model.new_model_name}: LoRA r={config.lora.r} on {report['device']}")
    log.info("adapter saved to %s (steps=%d, wall %.0f s)", target, report["steps"], wall)
    return TrainResult(run_dir=run_dir, adapter_dir=target, report=report)
