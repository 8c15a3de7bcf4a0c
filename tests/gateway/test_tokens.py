"""Token counts offline: tiktoken from hash-checked files in a directory, the documented rule otherwise."""
import hashlib
import os
import socket

import pytest
import tiktoken.load

from aichat.gateway import tokens
from aichat.gateway.tokens import estimate_tokens, estimate_usage
from aichat.gateway.tokens import TokenCounter
from aichat.providers.base import Message
from tests.tokenizer import CL100K_URL, O200K_URL, cache_name, cl100k_file, install_cl100k, reference_cl100k

TEXT = "Hello, world! The quick brown fox jumps over 1234567 lazy dogs. 你好，世界。 naïve café — ok?"
MESSAGES = [Message("system", "You are a helpful assistant."), Message("user", TEXT),
            Message("assistant", "Sure."), Message("user", "Count these tokens, please.")]


@pytest.fixture
def reference(monkeypatch):
    """tiktoken's own cl100k_base from the same file; built before `no_network` when both are used."""
    return reference_cl100k(monkeypatch)


@pytest.fixture
def no_network(monkeypatch):
    """Every outgoing connection and every tiktoken file read is recorded and refused."""
    attempts = []

    def refuse(kind):
        def guard(*args, **kwargs):
            attempts.append((kind, args[:2]))
            raise OSError(f"network use in a test: {kind}")
        return guard

    monkeypatch.setattr(socket.socket, "connect", refuse("connect"))
    monkeypatch.setattr(socket, "create_connection", refuse("create_connection"))
    monkeypatch.setattr(tiktoken.load, "read_file", refuse("tiktoken.load.read_file"))
    monkeypatch.setattr(tiktoken.load, "read_file_cached", refuse("tiktoken.load.read_file_cached"))
    return attempts


def test_the_files_are_where_and_what_tiktoken_expects():
    """Cache name sha1(URL) and the SHA-256 of the genuine file, as tiktoken's openai_public has them."""
    with open(cl100k_file(), "rb") as f:
        genuine = hashlib.sha256(f.read()).hexdigest()
    assert tokens.encoding_source("cl100k_base") == (CL100K_URL, genuine)
    assert tokens.encoding_source("o200k_base")[0] == O200K_URL
    assert tokens.cache_path("/srv/tt", "cl100k_base") == os.path.join("/srv/tt", cache_name(CL100K_URL))


def test_gpt_4_counts_come_from_tiktoken(tmp_path, reference, no_network):
    install_cl100k(tmp_path)
    counter = TokenCounter.from_dir(str(tmp_path))
    assert not no_network, "loading must not touch the network or tiktoken's loader"
    for model in ("gpt-4", "gpt-4-0613", "gpt-3.5-turbo-0125"):
        assert counter.count(model, TEXT) == len(reference.encode(TEXT))
    assert counter.count("gpt-4", TEXT) != estimate_tokens(TEXT)  # really not the rule
    assert counter.describe() == {
        "mode": "tiktoken", "encodings": ["cl100k_base"], "dir": str(tmp_path),
        "rule_for": [f"o200k_base models (missing ({tmp_path / cache_name(O200K_URL)}))",
                     "models of other providers (Gemini and others)"]}


def test_a_chat_prompt_is_counted_with_openais_framing(tmp_path, reference):
    """3 tokens per message besides role and content, 3 to prime the reply (OpenAI's cookbook)."""
    install_cl100k(tmp_path)
    counter = TokenCounter.from_dir(str(tmp_path))
    usage = counter.estimate_usage("gpt-4", MESSAGES, "The answer, as delivered.")
    assert usage.prompt_tokens == 3 + sum(3 + len(reference.encode(m.role)) + len(reference.encode(m.content))
                                          for m in MESSAGES)
    assert usage.completion_tokens == len(reference.encode("The answer, as delivered."))
    assert usage.source == "estimated" and usage.cached_tokens == 0 and usage.reasoning_tokens == 0


def test_o200k_models_use_the_rule_when_o200k_is_absent(tmp_path):
    install_cl100k(tmp_path)
    counter = TokenCounter.from_dir(str(tmp_path))
    for model in ("gpt-4o", "gpt-4o-mini-2024-07-18", "gpt-4.1", "gpt-5", "o3", "o4-mini"):
        assert counter.count(model, TEXT) == estimate_tokens(TEXT)
    assert counter.estimate_usage("gpt-4o", MESSAGES, "done") == estimate_usage(MESSAGES, "done")


def test_gemini_and_other_models_always_use_the_rule(tmp_path):
    install_cl100k(tmp_path)
    counter = TokenCounter.from_dir(str(tmp_path))
    for model in ("gemini-2.5-flash", "models/gemini-2.5-pro", "demo", "llama-3-70b", None):
        assert counter.count(model, TEXT) == estimate_tokens(TEXT)


def test_a_corrupt_file_is_ignored_kept_and_never_refetched(tmp_path, no_network):
    path = install_cl100k(tmp_path)
    with open(path, "r+b") as f:
        f.seek(1000)
        f.write(b"X")
    with open(path, "rb") as f:
        corrupt = f.read()
    counter = TokenCounter.from_dir(str(tmp_path))
    assert counter.encodings == {}
    assert counter.count("gpt-4", TEXT) == estimate_tokens(TEXT)
    with open(path, "rb") as f:
        assert f.read() == corrupt, "the file must be left as it was (tiktoken would delete it)"
    assert no_network == [], "no download, no tiktoken loader"
    described = counter.describe()
    assert described["mode"] == "rule" and "cl100k_base: corrupt" in described["reason"]


def test_a_truncated_file_is_ignored(tmp_path):
    path = install_cl100k(tmp_path)
    with open(path, "r+b") as f:
        f.truncate(5000)
    assert TokenCounter.from_dir(str(tmp_path)).encodings == {}


def test_an_empty_or_missing_directory_means_the_rule(tmp_path, no_network):
    for directory in (tmp_path, tmp_path / "absent"):
        counter = TokenCounter.from_dir(str(directory))
        assert counter.count("gpt-4", TEXT) == estimate_tokens(TEXT)
        assert counter.describe() == {
            "mode": "rule", "dir": str(directory),
            "reason": f"no encoding files in {directory}; run `flask tokens fetch` on a connected machine "
                      f"and copy the files to {directory}"}
    assert no_network == []


def test_the_counter_is_loaded_once_per_directory(tmp_path):
    install_cl100k(tmp_path)
    first = tokens.load_counter(str(tmp_path))
    assert tokens.load_counter(str(tmp_path) + "/") is first
    assert "cl100k_base" in first.encodings


@pytest.mark.parametrize("model,encoding", [
    ("gpt-4", "cl100k_base"), ("gpt-4-turbo", "cl100k_base"), ("gpt-3.5-turbo", "cl100k_base"),
    ("gpt-4o", "o200k_base"), ("gpt-4o-mini-2024-07-18", "o200k_base"), ("gpt-4.1-nano", "o200k_base"),
    ("gpt-5-mini", "o200k_base"), ("o1", "o200k_base"), ("o3-mini", "o200k_base"), ("o4-mini", "o200k_base"),
    ("gpt-6-preview", "o200k_base"), ("chatgpt-4o-latest", "o200k_base"), ("openai/gpt-4", "cl100k_base"),
    ("gemini-2.5-flash", None), ("demo", None), ("davinci-002", "cl100k_base"), ("text-davinci-003", None),
    ("omni-model", None), (None, None),
])
def test_tiktoken_decides_the_encoding_and_unknown_openai_names_get_o200k(model, encoding):
    assert tokens.encoding_name(model) == encoding


def test_the_documented_rule_counts_cjk_one_each_and_other_text_by_four_characters():
    assert estimate_tokens("") == 0
    assert estimate_tokens("abcd") == 1 and estimate_tokens("abcde") == 2
    assert estimate_tokens("你好世界") == 4
    assert estimate_tokens("你好 abcd") == 2 + 2  # 2 CJK + ceil(5 / 4)
    usage = estimate_usage([Message("user", "abcdefgh")], "abcd")
    assert (usage.prompt_tokens, usage.completion_tokens, usage.source) == (2 + 4, 1, "estimated")
