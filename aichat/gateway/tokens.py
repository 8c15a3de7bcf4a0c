"""Token counts for calls whose upstream reported none: tiktoken offline, or the documented rule.

tiktoken downloads its encoding files on first use, and a corrupt file in its cache makes it
delete the file and download again. Neither may happen here: the files are loaded once per
process from a directory (TIKTOKEN_CACHE_DIR, filled by `flask tokens fetch` on a connected
machine), each checked against the SHA-256 tiktoken itself expects before it is parsed, and
tiktoken's own file loader is never called. A missing or corrupt file leaves that encoding
unavailable, and its models are counted by the rule below instead.
"""
from __future__ import annotations

import base64
import functools
import hashlib
import math
import os
import re
import threading
import types

from aichat.providers.base import Message, Usage


ENCODINGS = ("o200k_base", "cl100k_base")
# CJK characters are about one token each; other text about four characters per token.
_WIDE = re.compile(r"[\u3040-\u30ff\u3400-\u9fff\uac00-\ud7af\uf900-\ufaff]")  # every current OpenAI chat model uses one of these

# OpenAI's documented chat framing ("How to count tokens with tiktoken", OpenAI Cookbook):
# every message costs 3 tokens besides its role and content, and every reply is primed with 3.
TOKENS_PER_MESSAGE = 3
TOKENS_FOR_REPLY = 3


def _run_constructor(name: str, loader):
    """tiktoken's own constructor for `name`, with its file loader swapped for `loader`.

    The constructor holds the encoding's URL, expected hash, split pattern and special
    tokens; running a copy of it with another loader reuses all of that without touching
    tiktoken's module state and without tiktoken reading (or fetching) any file.
    """
    from tiktoken_ext import openai_public

    constructor = openai_public.ENCODING_CONSTRUCTORS[name]
    scope = {**constructor.__globals__, "load_tiktoken_bpe": loader}
    return types.FunctionType(constructor.__code__, scope, constructor.__name__)()


@functools.cache
def encoding_source(name: str) -> tuple[str, str]:
    """(URL, expected SHA-256) of an encoding's file, as tiktoken itself has them."""
    found: list[tuple[str, str]] = []

    def record(url: str, expected_hash: str | None = None) -> dict:
        found.append((url, expected_hash or ""))
        return {}

    _run_constructor(name, record)
    return found[0]


def cache_path(directory: str, name: str) -> str:
    """Where tiktoken keeps an encoding in TIKTOKEN_CACHE_DIR: a file named sha1(URL)."""
    url, _ = encoding_source(name)
    return os.path.join(directory, hashlib.sha1(url.encode()).hexdigest())


def check_file(directory: str, name: str) -> tuple[bytes | None, str]:
    """The encoding file's bytes if it is present and intact, else None and what is wrong."""
    _, expected = encoding_source(name)
    path = cache_path(directory, name)
    if not os.path.isfile(path):
        return None, f"missing ({path})"
    with open(path, "rb") as f:
        data = f.read()
    if hashlib.sha256(data).hexdigest() != expected:
        return None, f"corrupt: SHA-256 does not match ({path})"
    return data, "ok"


def fetch(directory: str, name: str) -> None:
    """Download one encoding into `directory` through tiktoken's own cache (for `flask tokens fetch`).

    Runs on a connected machine, never on the request path: tiktoken downloads the file,
    checks its hash and stores it under the name it will look for.
    """
    from tiktoken_ext import openai_public

    os.makedirs(directory, exist_ok=True)
    previous = os.environ.get("TIKTOKEN_CACHE_DIR")
    os.environ["TIKTOKEN_CACHE_DIR"] = directory
    try:
        openai_public.ENCODING_CONSTRUCTORS[name]()
    finally:
        if previous is None:
            del os.environ["TIKTOKEN_CACHE_DIR"]
        else:
            os.environ["TIKTOKEN_CACHE_DIR"] = previous


def _ranks(data: bytes) -> dict[bytes, int]:
    """The .tiktoken format: one `base64(token) rank` pair a line."""
    ranks = {}
    for line in data.splitlines():
        if line:
            token, rank = line.split()
            ranks[base64.b64decode(token)] = int(rank)
    return ranks


def _load(directory: str, name: str):
    """A tiktoken Encoding built from the verified file, or the reason it is unavailable."""
    import tiktoken

    data, problem = check_file(directory, name)
    if data is None:
        return None, problem
    try:
        ranks = _ranks(data)
        spec = _run_constructor(name, lambda *_args, **_kwargs: ranks)
        return tiktoken.Encoding(**spec), "ok"
    except Exception as exc:  # noqa: BLE001 - an unreadable file leaves the rule in force
        return None, f"unreadable: {type(exc).__name__}"


def encoding_name(model: str | None) -> str | None:
    """The encoding of an OpenAI-family model (tiktoken decides); None for other providers' models."""
    if not model:
        return None
    from tiktoken.model import encoding_name_for_model

    name = model.rsplit("/", 1)[-1]  # e.g. openai/gpt-4o on an OpenAI-compatible router
    try:
        found = encoding_name_for_model(name)
    except KeyError:
        # New OpenAI models appear before tiktoken knows them; they all use o200k_base so far.
        is_openai = name.startswith(("gpt-", "chatgpt-")) or (len(name) > 1 and name[0] == "o" and name[1].isdigit())
        return "o200k_base" if is_openai else None
    # gpt-oss's harmony encoding has o200k_base's vocabulary; plain text counts the same.
    found = "o200k_base" if found == "o200k_harmony" else found
    return found if found in ENCODINGS else None


def estimate_tokens(text: str) -> int:
    """A documented rule for when upstream reports no usage: CJK chars + ceil(other chars / 4)."""
    if not text:
        return 0
    wide = len(_WIDE.findall(text))
    return wide + math.ceil((len(text) - wide) / 4)


def estimate_usage(messages: list[Message], delivered: str) -> Usage:
    """Usage of a call whose upstream gave no counts, by the rule: the prompt as sent, the output as delivered."""
    # Each message carries a few tokens of framing on every provider.
    prompt = sum(estimate_tokens(m.content) + 4 for m in messages)
    return Usage(prompt_tokens=prompt, completion_tokens=estimate_tokens(delivered), source="estimated")


def _tiktoken_count(encoding, text: str) -> int:
    return len(encoding.encode_ordinary(text)) if text else 0


class TokenCounter:
    """Counts tokens with the encodings that loaded, and with the rule for everything else."""

    def __init__(self, directory: str, encodings: dict | None = None, problems: dict[str, str] | None = None):
        self.directory = directory
        self.encodings = encodings or {}
        self.problems = problems or {}

    @classmethod
    def from_dir(cls, directory: str) -> TokenCounter:
        """Load every known encoding found intact in `directory`; never downloads."""
        encodings, problems = {}, {}
        for name in ENCODINGS:
            encoding, problem = _load(directory, name)
            if encoding is not None:
                encodings[name] = encoding
            else:
                problems[name] = problem
        return cls(directory, encodings, problems)

    def encoding_for(self, model: str | None):
        name = encoding_name(model)
        return self.encodings.get(name) if name else None

    def count(self, model: str | None, text: str) -> int:
        """Tokens in `text` for `model`: tiktoken when its encoding is loaded, else the rule."""
        encoding = self.encoding_for(model)
        return estimate_tokens(text) if encoding is None else _tiktoken_count(encoding, text)

    def estimate_usage(self, model: str | None, messages: list[Message], delivered: str) -> Usage:
        """Usage of a call upstream gave no counts for: the prompt as sent, the output as delivered."""
        encoding = self.encoding_for(model)
        if encoding is None:
            return estimate_usage(messages, delivered)
        prompt = TOKENS_FOR_REPLY + sum(
            TOKENS_PER_MESSAGE + _tiktoken_count(encoding, m.role) + _tiktoken_count(encoding, m.content)
            for m in messages)
        return Usage(prompt_tokens=prompt, completion_tokens=_tiktoken_count(encoding, delivered), source="estimated")

    def describe(self) -> dict:
        """Which counting is in force, for `flask verify` and `flask tokens status`."""
        if not self.encodings:
            present = [f"{name}: {problem}" for name, problem in self.problems.items()
                       if not problem.startswith("missing")]
            reason = ("; ".join(present) if present else f"no encoding files in {self.directory}")
            return {"mode": "rule", "reason": f"{reason}; run `flask tokens fetch` on a connected machine "
                                              f"and copy the files to {self.directory}",
                    "dir": self.directory}
        rule_for = [f"{name} models ({problem})" for name, problem in self.problems.items()]
        rule_for.append("models of other providers (Gemini and others)")
        return {"mode": "tiktoken", "encodings": sorted(self.encodings), "rule_for": rule_for,
                "dir": self.directory}


_loaded: dict[str, TokenCounter] = {}
_lock = threading.Lock()


def load_counter(directory: str) -> TokenCounter:
    """The process's counter for `directory`, loaded on first use and kept (the files are large)."""
    key = os.path.abspath(directory)
    with _lock:
        counter = _loaded.get(key)
        if counter is None:
            counter = _loaded[key] = TokenCounter.from_dir(key)
        return counter
