"""Token and cost arithmetic, in one place."""
from __future__ import annotations

import math
import re

from aichat.providers.base import Message, Usage

# CJK characters are about one token each; other text about four characters per token.
_WIDE = re.compile(r"[\u3040-\u30ff\u3400-\u9fff\uac00-\ud7af\uf900-\ufaff]")


def estimate_tokens(text: str) -> int:
    """A documented rule for when upstream reports no usage: CJK chars + ceil(other chars / 4)."""
    if not text:
        return 0
    wide = len(_WIDE.findall(text))
    return wide + math.ceil((len(text) - wide) / 4)


def estimate_usage(messages: list[Message], delivered: str) -> Usage:
    """Usage of a call whose upstream gave no counts: the prompt as sent, the output as delivered."""
    # Each message carries a few tokens of framing on every provider.
    prompt = sum(estimate_tokens(m.content) + 4 for m in messages)
    return Usage(prompt_tokens=prompt, completion_tokens=estimate_tokens(delivered), source="estimated")
