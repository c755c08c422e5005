"""The generated Modelfile: the repository's copy cannot drift, it lints clean, and its TEMPLATE is the training format."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from shoeagent import paths
from shoeagent.agent.prompts import SYSTEM_PROMPT
from shoeagent.finetune.export import render_gguf_template
from shoeagent.finetune.gguf_tools import chat_template, read_metadata
from shoeagent.finetune.modelfile import (
    CHAT_FORMATS,
    CHATML_TEMPLATE,
    ModelfileError,
    ModelfileSpec,
    default_modelfile,
    detect_chat_format,
    lint_modelfile,
    ollama_parameters,
    parse_modelfile,
    render_modelfile,
)

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def special_tokens() -> set[str]:
    """The control (special) tokens of the embedded model's vocabulary, read from its GGUF."""
    import gguf

    meta = read_metadata(paths.base_gguf(), "tokenizer.ggml.", max_array=10**6)
    types = meta["tokenizer.ggml.token_type"]
    return {tok for tok, kind in zip(meta["tokenizer.ggml.tokens"], types) if kind == gguf.TokenType.CONTROL}


def test_repository_modelfile_is_the_generated_one():
    assert (REPO / "Modelfile").read_text(encoding="utf-8") == default_modelfile(), (
        "Modelfile drifted from the generator; regenerate with `python -m shoeagent.finetune.modelfile Modelfile`"
    )


def test_default_modelfile_lints_clean_next_to_its_gguf(tmp_path, special_tokens):
    (tmp_path / "shoemold.gguf").write_bytes(b"GGUF")
    assert lint_modelfile(default_modelfile(), tmp_path, special_tokens) == []


def test_lint_reports_from_that_does_not_resolve(tmp_path):
    problems = lint_modelfile(default_modelfile(), tmp_path)
    assert len(problems) == 1 and "FROM ./shoemold.gguf does not exist" in problems[0]


def test_default_modelfile_content():
    instructions = parse_modelfile(default_modelfile())
    by_directive: dict[str, list[str]] = {}
    for ins in instructions:
        by_directive.setdefault(ins.directive, []).append(ins.args)
    assert by_directive["FROM"] == ["./shoemold.gguf"]
    assert by_directive["SYSTEM"] == [SYSTEM_PROMPT]
    assert by_directive["TEMPLATE"] == [CHATML_TEMPLATE]
    params = [p.split(" ", 1) for p in by_directive["PARAMETER"]]
    assert ["stop", '"<|im_end|>"'] in params
    assert dict((k, v) for k, v in params if k != "stop") == {
        "temperature": "0.2", "top_p": "0.9", "repeat_penalty": "1.1", "num_ctx": "4096", "num_predict": "384",
    }


def test_stop_tokens_are_special_tokens_of_the_vocabulary(special_tokens):
    assert set(CHAT_FORMATS["chatml"].stop) <= special_tokens


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        ("FROM ./m.gguf\nPARAMS temperature 1\n", "unknown instruction PARAMS"),
        ("FROM ./m.gguf\nPARAMETER warmth 1\n", "unknown PARAMETER warmth"),
        ("FROM ./m.gguf\nPARAMETER num_ctx lots\n", "must be an integer"),
        ("FROM ./m.gguf\nPARAMETER temperature hot\n", "must be a number"),
        ("PARAMETER temperature 0.2\n", "exactly one FROM"),
        ('FROM ./m.gguf\nSYSTEM """never closed\n', "unterminated"),
        ('FROM ./m.gguf\nPARAMETER stop "<|nope|>"\n', "not a special token"),
    ],
)
def test_lint_catches_mistakes(text, needle, special_tokens):
    problems = lint_modelfile(text, special_tokens=special_tokens)
    assert any(needle in p for p in problems), problems


def _render_chatml_like_ollama(template: str, messages: list[dict[str, str]]) -> str:
    """Ollama's rendering of exactly our ChatML template (a `range .Messages` loop with `{{-` trimming)."""
    match = re.fullmatch(r"\{\{- range \.Messages \}\}(.*)\{\{ end \}\}(.*)", template, re.S)
    assert match, "the ChatML TEMPLATE changed shape; update this renderer"
    body, tail = match.groups()
    rendered = "".join(body.replace("{{ .Role }}", m["role"]).replace("{{ .Content }}", m["content"]) for m in messages)
    return rendered + tail


def test_ollama_template_renders_the_training_prompt():
    """Ollama's TEMPLATE and the base model's own chat template give the same prompt text."""
    messages = [{"role": "system", "content": SYSTEM_PROMPT}, {"role": "user", "content": "鞋子發霉怎麼辦？"}]
    training = render_gguf_template(chat_template(paths.base_gguf()), messages)
    assert _render_chatml_like_ollama(CHATML_TEMPLATE, messages) == training


def test_llama3_family_gets_a_tool_aware_template():
    hf_template = "{{ '<|start_header_id|>' + message['role'] + '<|end_header_id|>\n\n' }}"
    chat = detect_chat_format(hf_template)
    assert chat.name == "llama3" and chat.supports_tools
    text = render_modelfile(ModelfileSpec(gguf_file="shoemold-3b.gguf", chat_format="llama3"))
    assert ".Tools" in text and ".ToolCalls" in text and "FROM ./shoemold-3b.gguf" in text
    assert 'PARAMETER stop "<|eot_id|>"' in text
    assert lint_modelfile(text) == []


def test_unknown_chat_template_is_a_clear_error():
    with pytest.raises(ModelfileError, match="neither ChatML nor Llama 3"):
        detect_chat_format("{{ '[INST]' + message['content'] }}")


def test_ollama_parameters_match_the_modelfile():
    spec = ModelfileSpec()
    params = ollama_parameters(spec)
    text = render_modelfile(spec)
    for stop in params["stop"]:
        assert f'PARAMETER stop "{stop}"' in text
    assert f"PARAMETER num_ctx {params['num_ctx']}" in text
