"""The Ollama Modelfile for an exported model: generated from the chat format used in training, and linted.

The TEMPLATE must render exactly the prompt the model was trained on, so it is chosen from the
training tokenizer's chat template: ChatML for SmolLM2, the Llama 3 header format (with Ollama's
tool-call blocks) for Llama 3.x and TAIDE. SYSTEM is the agent's SYSTEM_PROMPT, read when the file
is generated, so the Modelfile never drifts from the prompt the dataset was rendered with. The
repository's top-level ``Modelfile`` is :func:`default_modelfile`'s output (a test keeps them equal).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from shoeagent.paths import MODEL_NAME

# ChatML, as SmolLM2's tokenizer renders it (system turn included): one turn per message, then the
# assistant header. Ollama adds the Modelfile's SYSTEM as the first message when a request has none.
CHATML_TEMPLATE = """{{- range .Messages }}<|im_start|>{{ .Role }}
{{ .Content }}<|im_end|>
{{ end }}<|im_start|>assistant
"""

# Llama 3.1/3.2 (and TAIDE, a Llama 3.1 fine-tune): header-delimited turns; tools are offered in the
# last user turn and tool calls come back as JSON, as in Ollama's own llama3.2 template.
LLAMA3_TEMPLATE = """<|start_header_id|>system<|end_header_id|>

{{ if .System }}{{ .System }}
{{- end }}
{{- if .Tools }}When you receive a tool call response, use the output to format an answer to the original user question.

You are a helpful assistant with tool calling capabilities.
{{- end }}<|eot_id|>
{{- range $i, $_ := .Messages }}
{{- $last := eq (len (slice $.Messages $i)) 1 }}
{{- if eq .Role "user" }}<|start_header_id|>user<|end_header_id|>
{{- if and $.Tools $last }}

Given the following functions, please respond with a JSON for a function call with its proper arguments that best answers the given prompt.

Respond in the format {"name": function name, "parameters": dictionary of argument name and its value}. Do not use variables.

{{ range $.Tools }}
{{- . }}
{{ end }}
{{ .Content }}<|eot_id|>
{{- else }}

{{ .Content }}<|eot_id|>
{{- end }}{{ if $last }}<|start_header_id|>assistant<|end_header_id|>

{{ end }}
{{- else if eq .Role "assistant" }}<|start_header_id|>assistant<|end_header_id|>
{{- if .ToolCalls }}
{{ range .ToolCalls }}
{"name": "{{ .Function.Name }}", "parameters": {{ .Function.Arguments }}}{{ end }}
{{- else }}

{{ .Content }}
{{- end }}{{ if not $last }}<|eot_id|>{{ end }}
{{- else if eq .Role "tool" }}<|start_header_id|>ipython<|end_header_id|>

{{ .Content }}<|eot_id|>{{ if $last }}<|start_header_id|>assistant<|end_header_id|>

{{ end }}
{{- end }}
{{- end }}"""


@dataclass(frozen=True)
class ChatFormat:
    """How one model family frames a conversation, as Ollama needs it."""

    name: str
    template: str
    stop: tuple[str, ...]
    supports_tools: bool


CHAT_FORMATS: dict[str, ChatFormat] = {
    "chatml": ChatFormat("chatml", CHATML_TEMPLATE, ("<|im_end|>", "<|im_start|>", "<|endoftext|>"), False),
    "llama3": ChatFormat(
        "llama3", LLAMA3_TEMPLATE, ("<|eot_id|>", "<|start_header_id|>", "<|end_header_id|>"), True
    ),
}

# Every instruction Ollama's Modelfile parser accepts.
DIRECTIVES = frozenset({"FROM", "PARAMETER", "TEMPLATE", "SYSTEM", "ADAPTER", "LICENSE", "MESSAGE", "REQUIRES"})
# PARAMETER names Ollama knows (its runner options) and the type of each value.
PARAMETERS: dict[str, type] = {
    "mirostat": int, "mirostat_eta": float, "mirostat_tau": float, "num_ctx": int, "num_batch": int,
    "num_gpu": int, "main_gpu": int, "num_thread": int, "num_keep": int, "num_predict": int,
    "repeat_last_n": int, "repeat_penalty": float, "presence_penalty": float, "frequency_penalty": float,
    "temperature": float, "seed": int, "stop": str, "top_k": int, "top_p": float, "min_p": float,
    "typical_p": float, "use_mmap": bool, "numa": bool,
}


class ModelfileError(ValueError):
    """The tokenizer's chat template is one no Modelfile template exists for."""


def detect_chat_format(chat_template: str) -> ChatFormat:
    """The Ollama chat format matching a Hugging Face (Jinja) chat template."""
    if "<|im_start|>" in chat_template:
        return CHAT_FORMATS["chatml"]
    if "<|start_header_id|>" in chat_template:
        return CHAT_FORMATS["llama3"]
    raise ModelfileError(
        "the tokenizer's chat template is neither ChatML nor Llama 3; add its Ollama TEMPLATE to "
        "shoeagent.finetune.modelfile.CHAT_FORMATS"
    )


@dataclass
class ModelfileSpec:
    """What goes into the Modelfile. ``system=None`` means the agent's SYSTEM_PROMPT."""

    gguf_file: str = f"{MODEL_NAME}.gguf"
    chat_format: str = "chatml"
    system: str | None = None
    temperature: float = 0.2
    top_p: float = 0.9
    repeat_penalty: float = 1.1
    # Retrieval prompts (system + 4 numbered passages + tool results + question) stay near 1,500
    # tokens; 4096 leaves room for a multi-turn chat and the answer.
    num_ctx: int = 4096
    num_predict: int = 384
    extra_stop: list[str] = field(default_factory=list)


def _quote(text: str) -> str:
    if '"""' in text:
        raise ModelfileError('a Modelfile block may not contain """')
    return f'"""{text}"""'


def ollama_parameters(spec: ModelfileSpec) -> dict[str, Any]:
    """The PARAMETER lines as Ollama's create API takes them (``stop`` is a list)."""
    chat = CHAT_FORMATS[spec.chat_format]
    return {
        "stop": list(dict.fromkeys([*chat.stop, *spec.extra_stop])),
        "temperature": spec.temperature,
        "top_p": spec.top_p,
        "repeat_penalty": spec.repeat_penalty,
        "num_ctx": spec.num_ctx,
        "num_predict": spec.num_predict,
    }


def system_prompt(spec: ModelfileSpec) -> str:
    """The SYSTEM text: the spec's own, else the agent's SYSTEM_PROMPT as it is now."""
    from shoeagent.agent.prompts import SYSTEM_PROMPT

    return SYSTEM_PROMPT if spec.system is None else spec.system


def render_modelfile(spec: ModelfileSpec | None = None) -> str:
    """The Modelfile text for ``spec`` (default: the embedded shoemold build)."""
    spec = spec or ModelfileSpec()
    chat = CHAT_FORMATS[spec.chat_format]
    system = system_prompt(spec)
    params = ollama_parameters(spec)
    lines = [
        f"# {MODEL_NAME} for Ollama, generated by `shoeagent export` (shoeagent/finetune/modelfile.py): edit that, not this.",
        f"# Build: `ollama create {MODEL_NAME} -f Modelfile` in the folder holding {spec.gguf_file}",
        "# (`shoeagent export` writes both to ~/.cache/shoeagent/models; `--ollama` also runs the create).",
        f"FROM ./{spec.gguf_file}",
        "",
        f"# Chat format used in training: {chat.name}" + (" (tool-aware)" if chat.supports_tools else "") + ".",
        f"TEMPLATE {_quote(chat.template)}",
        "",
        f"SYSTEM {_quote(system)}",
        "",
        *(f"PARAMETER stop {json.dumps(stop)}" for stop in params.pop("stop")),
        *(f"PARAMETER {name} {value:g}" for name, value in params.items()),
    ]
    return "\n".join(lines) + "\n"


def default_modelfile() -> str:
    """The repository's top-level ``Modelfile``: the default (SmolLM2, ChatML) build."""
    return render_modelfile(ModelfileSpec())


@dataclass(frozen=True)
class Instruction:
    """One instruction of a parsed Modelfile (directive upper-cased, quotes removed from the argument)."""

    directive: str
    args: str
    line: int


def parse_modelfile(text: str) -> list[Instruction]:
    """Split a Modelfile into instructions: ``#`` comments, one-line arguments and triple-quoted blocks."""
    instructions: list[Instruction] = []
    lines = text.splitlines()
    index = 0
    while index < len(lines):
        raw = lines[index]
        stripped = raw.strip()
        index += 1
        if not stripped or stripped.startswith("#"):
            continue
        directive, _, rest = stripped.partition(" ")
        start = index
        rest = rest.strip()
        if rest.startswith('"""'):
            body = rest[3:]
            while '"""' not in body:
                if index >= len(lines):
                    raise ModelfileError(f"line {start}: unterminated triple-quoted {directive} block")
                body += "\n" + lines[index]
                index += 1
            body, _, after = body.partition('"""')
            if after.strip():
                raise ModelfileError(f"line {start}: text after the closing triple quote")
            rest = body
        instructions.append(Instruction(directive.upper(), rest, start))
    return instructions


def _unquote(value: str) -> str:
    value = value.strip()
    if len(value) >= 2 and value[0] == value[-1] == '"':
        return json.loads(value)
    return value


def lint_modelfile(
    text: str, modelfile_dir: Path | None = None, special_tokens: Iterable[str] | None = None
) -> list[str]:
    """Problems Ollama would reject or a user would trip on; an empty list means the file is fine.

    Checks directives and PARAMETER names and values; with ``modelfile_dir``, that FROM names a file
    relative to the Modelfile; with ``special_tokens`` (the tokenizer's), that every stop string is one.
    """
    try:
        instructions = parse_modelfile(text)
    except ModelfileError as exc:
        return [str(exc)]
    problems: list[str] = []
    specials = set(special_tokens) if special_tokens is not None else None
    froms = [i for i in instructions if i.directive == "FROM"]
    if len(froms) != 1:
        problems.append(f"expected exactly one FROM, found {len(froms)}")
    for ins in instructions:
        if ins.directive not in DIRECTIVES:
            problems.append(f"line {ins.line}: unknown instruction {ins.directive}")
        elif ins.directive == "PARAMETER":
            name, _, value = ins.args.partition(" ")
            kind = PARAMETERS.get(name)
            if kind is None:
                problems.append(f"line {ins.line}: unknown PARAMETER {name}")
                continue
            value = _unquote(value)
            if not value:
                problems.append(f"line {ins.line}: PARAMETER {name} has no value")
            elif kind is int and not re.fullmatch(r"-?\d+", value):
                problems.append(f"line {ins.line}: PARAMETER {name} must be an integer, got {value!r}")
            elif kind is float and not re.fullmatch(r"-?\d+(\.\d+)?([eE]-?\d+)?", value):
                problems.append(f"line {ins.line}: PARAMETER {name} must be a number, got {value!r}")
            elif kind is bool and value not in ("true", "false"):
                problems.append(f"line {ins.line}: PARAMETER {name} must be true or false, got {value!r}")
            elif name == "stop" and specials is not None and value not in specials:
                problems.append(f"line {ins.line}: stop {value!r} is not a special token of the tokenizer")
        elif ins.directive == "FROM" and modelfile_dir is not None:
            target = ins.args.strip()
            if target.startswith(("./", "../", "/")) or target.endswith(".gguf"):
                if not (modelfile_dir / target).is_file():
                    problems.append(f"line {ins.line}: FROM {target} does not exist next to the Modelfile")
        elif ins.directive == "TEMPLATE" and ins.args.count("{{") != ins.args.count("}}"):
            problems.append(f"line {ins.line}: TEMPLATE has unbalanced {{{{ }}}}")
    return problems


def write_default_modelfile(path: Path) -> None:
    """Write the repository's top-level Modelfile (``python -m shoeagent.finetune.modelfile PATH``)."""
    path.write_text(default_modelfile(), encoding="utf-8")


if __name__ == "__main__":
    import sys

    write_default_modelfile(Path(sys.argv[1] if len(sys.argv) > 1 else "Modelfile"))
