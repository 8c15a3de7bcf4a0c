"""Fixtures for upstreams in the database: an app with its encryption key, and `flask …` through the CLI runner."""
from __future__ import annotations

import pytest
from cryptography.fernet import Fernet

# Two encryption keys of this run: OLD_KEY stores keys, NEW_KEY is what they are rotated to.
OLD_KEY = Fernet.generate_key().decode()
NEW_KEY = Fernet.generate_key().decode()
# Provider keys as an operator would paste them; distinctive, so a scan finds them anywhere.
DEEPSEEK_KEY = "sk-deepseekSECRET0123456789abcdefXYZ"
QWEN_KEY = "sk-qwenSECRET9876543210fedcbaZYX"


@pytest.fixture
def make_upstreams_app(make_app):
    """An app with AICHAT_ENCRYPTION_KEY set (OLD_KEY unless told), and no environment upstreams."""

    def build(**overrides):
        # No poller: its log line on a change would land in the commands' captured stderr.
        return make_app(**{"AICHAT_ENCRYPTION_KEY": [OLD_KEY], "AICHAT_ENV": "development",
                           "AICHAT_CONFIG_POLL_INTERVAL": 0, **overrides})

    return build


@pytest.fixture
def app(make_upstreams_app):
    return make_upstreams_app()


def ok(result):
    assert result.exit_code == 0, (result.exit_code, result.output)
    assert "Traceback" not in result.output
    return result


def refused(result, message, exit_code=2):
    """Bad input: one line on stderr naming what is wrong, the exit code, no traceback."""
    assert result.exit_code == exit_code, (result.exit_code, result.output)
    assert message in result.stderr, result.stderr
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert "Traceback" not in result.output
    assert isinstance(result.exception, SystemExit)


@pytest.fixture
def deepseek(flask):
    """An upstream `deepseek` with the key DEEPSEEK_KEY labelled `main`."""
    ok(flask("upstreams", "add", "deepseek", "--kind", "openai", "--base-url", "https://api.deepseek.com/v1",
             "--models", "deepseek-chat,deepseek-*", "--priority", "5"))
    ok(flask("upstreams", "keys", "add", "deepseek", "--label", "main", input=DEEPSEEK_KEY + "\n"))
    return "deepseek"
