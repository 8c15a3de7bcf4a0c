"""A deterministic local responder, used only when no provider key is configured.

It lets a fresh install work end to end; every answer says plainly that it is demo output.
"""
from __future__ import annotations

import json
import re
import time
from collections.abc import Iterator

from .base import SUGGESTIONS_MARKER, ChatRequest, Completion, Delta, Usage

_CJK = re.compile(r"[\u3040-\u30ff\u3400-\u9fff\uac00-\ud7af]")


class DemoProvider:
    kind = "demo"

    def __init__(self, delay: float = 0.02):
        self.delay = delay  # between streamed words, so a stream looks like one

    def make_client(self, api_key: str) -> None:
        return None

    def complete(self, client, req: ChatRequest, model: str) -> Completion:
        text = _answer(req)
        return Completion(text, model, "stop", _usage(req, text), id=None)

    def stream(self, client, req: ChatRequest, model: str) -> Iterator[Delta]:
        text = _answer(req)
        pieces = re.findall(r"\S+\s*|\s+", text)
        for piece in pieces:
            yield Delta(piece, None, None, model)
            time.sleep(self.delay)
        yield Delta("", "stop", _usage(req, text), model)


def _answer(req: ChatRequest) -> str:
    last = next((m.content for m in reversed(req.messages) if m.role == "user"), "")
    quoted = last if len(last) <= 200 else last[:200] + "…"
    if _CJK.search(last):
        text = (
            f"[演示] 这是 aichat 的演示回答，不是 AI 生成的：尚未配置任何模型服务商的密钥。"
            f"你说的是：「{quoted}」。设置 OPENAI_API_KEY 或 GEMINI_API_KEY，"
            f"或用 flask upstreams add 添加上游，即可获得真实回答。"
        )
        follow_ups = ["如何配置 Gemini 密钥？", "aichat 支持哪些模型？", "怎样查看用量和费用？"]
    else:
        text = (
            f"[demo] This is aichat's demo responder, not an AI: no provider key is configured. "
            f"You said: \"{quoted}\". Set OPENAI_API_KEY or GEMINI_API_KEY, or add an upstream with "
            f"`flask upstreams add`, to get real answers."
        )
        follow_ups = ["How do I add a Gemini key?", "Which models does aichat support?", "Where can I see usage and cost?"]
    if any(SUGGESTIONS_MARKER in m.content for m in req.messages if m.role == "system"):
        text += "\n" + SUGGESTIONS_MARKER + json.dumps(follow_ups, ensure_ascii=False)
    return text


def _usage(req: ChatRequest, text: str) -> Usage:
    words = sum(len(m.content.split()) for m in req.messages)
    return Usage(prompt_tokens=words, completion_tokens=len(text.split()), source="estimated")
