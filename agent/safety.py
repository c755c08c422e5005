"""Input hygiene: size limits, chat-template control tokens and prompt-injection requests.

User questions and retrieved passages are data. Control tokens in them (``<|im_start|>``,
``[INST]`` ...) would let text end the user turn and forge a system turn in the model's chat
template, so they are rewritten into harmless look-alikes before anything reaches a prompt.
Requests to drop the instructions or reveal the system prompt are refused outright.
"""

from __future__ import annotations

import re

MAX_QUESTION_CHARS = 4000

# Each special token of the chat templates we may meet (ChatML, Llama 3, Llama 2 / Mistral).
_CONTROL_TOKENS = re.compile(
    r"<\|\s*(im_start|im_end|im_sep|endoftext|eot_id|begin_of_text|end_of_text|start_header_id|end_header_id|eom_id|python_tag)\s*\|>"
    r"|</?s>|\[/?INST\]|<<\s*/?SYS\s*>>",
    re.IGNORECASE,
)

_INJECTION = [
    re.compile(p, re.IGNORECASE)
    for p in (
        r"\b(ignore|disregard|forget|override|bypass)\b.{0,40}\b(instruction|instructions|rules|prompt|guidelines|directions)\b",
        r"\b(print|show|reveal|repeat|output|display|tell me|give me|what is|what's|leak|dump)\b.{0,30}\b(system|initial|hidden|original)\s+(prompt|instructions|message)",
        r"\b(print|show|reveal|repeat|output|display)\b.{0,20}\byour\s+(prompt|instructions)\b",
        r"\byou are now\b|\bdeveloper mode\b|\bjailbreak\b|\bDAN mode\b",
        r"(忽略|無視|无视|忘記|忘记|不要理會|不要理会).{0,20}(指示|指令|規則|规则|提示|設定|设定)",
        r"(系統|系统|隱藏|隐藏|原始)(提示|指令|訊息|讯息)",
        r"(顯示|显示|印出|輸出|输出|告訴我|告诉我|說出|说出).{0,10}(你的)?(提示詞|提示词|指令|prompt)",
        r"你現在是|你现在是|越獄|越狱",
    )
]


def neutralize(text: str) -> str:
    """Rewrite chat-template control tokens as inert text (``<|im_start|>`` -> ``(im_start)``)."""

    def inert(match: re.Match[str]) -> str:
        token = re.sub(r"[<>|\[\]/\s]", "", match.group(0))
        return f"({token})"

    return _CONTROL_TOKENS.sub(inert, text)


def has_control_tokens(text: str) -> bool:
    return _CONTROL_TOKENS.search(text) is not None


def is_injection(text: str) -> bool:
    """Whether the text asks the agent to drop its instructions or disclose its prompt."""
    return any(pattern.search(text) for pattern in _INJECTION)


def check_question(question: object) -> str:
    """The question stripped; ValueError with a clear message when it is empty, not text or too long."""
    if not isinstance(question, str):
        raise ValueError(f"The question must be text, not {type(question).__name__}.")
    text = question.strip()
    if not text:
        raise ValueError("The question is empty: ask something about mold on shoes.")
    if len(text) > MAX_QUESTION_CHARS:
        raise ValueError(
            f"The question is {len(text)} characters long; the limit is {MAX_QUESTION_CHARS}. Shorten it and ask again."
        )
    return text
