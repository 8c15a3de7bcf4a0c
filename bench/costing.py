"""What pricing adds to the usage writer, per row: `python bench/costing.py`.

Prices a batch of realistic rows the way the writer does before its insert (the price
table cached, as between refreshes), and separately times one reload of the price table.
Reports medians over repeats. Runs against a migrated SQLite file in a temporary directory.
"""
from __future__ import annotations

import os
import statistics
import sys
import tempfile
import time
from datetime import datetime, timezone

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from flask_migrate import upgrade  # noqa: E402

from aichat import create_app  # noqa: E402
from aichat.usage.costing import load_price_book, price_cache, price_rows  # noqa: E402

BATCH = 50
REPEATS = 200
MODELS = ["gpt-4o-mini-2024-07-18", "gemini-2.5-flash", "gpt-4o", "gemini-2.5-pro", "my-unpriced-model"]


def rows() -> list[dict]:
    now = datetime.now(timezone.utc)
    return [{"model_served": MODELS[i % len(MODELS)], "prompt_tokens": 1200 + i, "cached_tokens": 512,
             "completion_tokens": 300 + i, "created_at": now} for i in range(BATCH)]


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        app = create_app({"TESTING": True, "SECRET_KEY": "bench", "OPENAI_API_KEY": [], "GEMINI_API_KEY": [],
                          "SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp}/bench.db", "AICHAT_PRICE_REFRESH": 3600})
        with app.app_context():
            upgrade()
            price_cache().book()  # warm, as between refreshes
            per_row = []
            for _ in range(REPEATS):
                batch = rows()
                start = time.perf_counter()
                price_rows(batch)
                per_row.append((time.perf_counter() - start) / BATCH)
            reloads = []
            for _ in range(50):
                start = time.perf_counter()
                load_price_book()
                reloads.append(time.perf_counter() - start)
    print(f"pricing, per row (batches of {BATCH}, median of {REPEATS}): {statistics.median(per_row) * 1e6:.1f} µs")
    print(f"price table reload (once per AICHAT_PRICE_REFRESH, median of 50): "
          f"{statistics.median(reloads) * 1e3:.2f} ms")


if __name__ == "__main__":
    main()
