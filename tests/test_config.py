"""The configuration contract: environment variables (and .env) parsed into settings."""
import pytest

from aichat.config import from_environ
from aichat.runtime import runtime_of


def test_lists_and_aliases_are_parsed():
    settings = from_environ({
        "OPENAI_API_KEY": "sk-a, sk-b ,", "AICHAT_PROVIDER_ORDER": "OpenAI,gemini",
        "AICHAT_MODEL_ALIASES": "fast=openai/gpt-4o-mini", "AICHAT_ALLOWED_ORIGINS": "https://a.example/",
        "AICHAT_SUGGESTIONS": "off", "AICHAT_MAX_ATTEMPTS": "6", "AICHAT_TOTAL_TIMEOUT": "90.5"})
    assert settings["OPENAI_API_KEY"] == ["sk-a", "sk-b"]
    assert settings["AICHAT_PROVIDER_ORDER"] == ["openai", "gemini"]
    assert settings["AICHAT_MODEL_ALIASES"] == {"gemini-2.5-flash-latest": "gemini-2.5-flash",
                                               "fast": "openai/gpt-4o-mini"}
    assert settings["AICHAT_ALLOWED_ORIGINS"] == ["https://a.example"]
    assert settings["AICHAT_SUGGESTIONS"] is False
    assert settings["AICHAT_MAX_ATTEMPTS"] == 6 and settings["AICHAT_TOTAL_TIMEOUT"] == 90.5


def test_database_url_spellings_use_psycopg():
    assert from_environ({"DATABASE_URL": "postgres://u@h/db"})["SQLALCHEMY_DATABASE_URI"] == \
        "postgresql+psycopg://u@h/db"
    assert from_environ({"DATABASE_URL": "sqlite:///x.db"})["SQLALCHEMY_DATABASE_URI"] == "sqlite:///x.db"


@pytest.mark.parametrize("env, name", [
    ({"AICHAT_MAX_ATTEMPTS": "many"}, "AICHAT_MAX_ATTEMPTS"),
    ({"AICHAT_SUGGESTIONS": "perhaps"}, "AICHAT_SUGGESTIONS"),
    ({"AICHAT_MODEL_ALIASES": "nothing-here"}, "AICHAT_MODEL_ALIASES"),
])
def test_a_bad_value_names_the_variable(env, name):
    with pytest.raises(ValueError, match=name):
        from_environ(env)


def test_dotenv_is_read_and_the_environment_wins(tmp_path, monkeypatch, app_from_environment):
    (tmp_path / ".env").write_text("GEMINI_MODEL=gemini-from-dotenv\nOPENAI_MODEL=gpt-from-dotenv\n")
    monkeypatch.setenv("OPENAI_MODEL", "gpt-from-environment")
    for name in ("GEMINI_MODEL", "OPENAI_API_KEY", "GEMINI_API_KEY"):
        monkeypatch.delenv(name, raising=False)
    app = app_from_environment()
    assert app.config["GEMINI_MODEL"] == "gemini-from-dotenv"
    assert app.config["OPENAI_MODEL"] == "gpt-from-environment"
    assert runtime_of(app).gateway.router.demo, "no keys anywhere: the demo answers"


def test_a_secret_key_is_generated_once_in_the_instance_folder(tmp_path):
    """With no SECRET_KEY set, is a random one written on first start and then kept?"""
    from aichat.config import SECRET_KEY_FILE, instance_secret_key

    first = instance_secret_key(str(tmp_path))
    path = tmp_path / SECRET_KEY_FILE
    assert first and len(first) >= 32 and path.read_text() == first
    assert path.stat().st_mode & 0o777 == 0o600, "only the owner may read the key"
    assert instance_secret_key(str(tmp_path)) == first
    assert [p.name for p in tmp_path.iterdir()] == [SECRET_KEY_FILE], "no temporary file left behind"
    assert instance_secret_key(str(tmp_path / "other")) != first


def test_workers_starting_at_once_agree_on_one_key(tmp_path):
    """Several processes create the key at the same moment: all of them end up with the same one."""
    import multiprocessing

    ctx = multiprocessing.get_context("fork")
    with ctx.Pool(6) as pool:
        keys = pool.map(_key_in, [str(tmp_path)] * 24)
    assert len(set(keys)) == 1 and keys[0]


def _key_in(path):
    from aichat.config import instance_secret_key

    return instance_secret_key(path)


def test_no_key_file_where_the_instance_folder_cannot_be_written(tmp_path):
    from aichat.config import instance_secret_key

    (tmp_path / "a-file").write_text("")
    assert instance_secret_key(str(tmp_path / "a-file" / "instance")) is None


def test_a_secret_key_from_the_environment_is_used_as_is(monkeypatch, app_from_environment):
    monkeypatch.setenv("SECRET_KEY", "k" * 40)
    assert app_from_environment().config["SECRET_KEY"] == "k" * 40


@pytest.mark.parametrize("url, timeout", [
    ("postgresql+psycopg://127.0.0.1/test", 7),
    ("postgresql+psycopg://127.0.0.1/test?connect_timeout=2", None),  # the URL's own is left to apply
    ("sqlite:///x.db", None),
])
def test_the_database_connect_timeout_applies_unless_the_url_sets_one(tmp_path, url, timeout):
    from flask import Flask

    from aichat import config

    app = Flask(__name__, instance_path=str(tmp_path))
    config.load(app, {"SQLALCHEMY_DATABASE_URI": url, "AICHAT_DB_CONNECT_TIMEOUT": 7, "TESTING": True})
    assert app.config["SQLALCHEMY_ENGINE_OPTIONS"].get("connect_args", {}).get("connect_timeout") == timeout


def test_an_empty_secret_key_counts_as_unset(tmp_path):
    """`SECRET_KEY=` left empty in the environment file: is a key generated, as when it is absent, rather
    than an empty one that makes every console login fail?"""
    from flask import Flask

    from aichat import config

    app = Flask(__name__, instance_path=str(tmp_path))
    config.load(app, {"SECRET_KEY": ""})
    assert app.config["SECRET_KEY"] == (tmp_path / config.SECRET_KEY_FILE).read_text()
