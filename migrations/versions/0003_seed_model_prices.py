"""seed model prices: list prices of common OpenAI and Gemini models

Standard tier, USD per 1M tokens (input, cached input, output). valid_from is the day the
listed price took effect where that is known, else the model's release day. The figures
live here, not in application code, so this migration never changes with the code; later
prices are added with `flask prices set` or `flask prices import`.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-27 09:00:00

"""
from datetime import date, datetime, timezone
from decimal import Decimal

from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None

OPENAI = "OpenAI API pricing, standard tier (platform.openai.com/docs/pricing)"
GEMINI = "Gemini Developer API pricing, paid tier (ai.google.dev/gemini-api/docs/pricing)"

# model, input, cached input (None: billed as input), output, valid_from, above_prompt_tokens, source
PRICES = [
    ("gpt-4o", "2.50", "1.25", "10.00", date(2024, 10, 2), 0, OPENAI),
    ("gpt-4o-2024-05-13", "5.00", None, "15.00", date(2024, 5, 13), 0, OPENAI + "; the first snapshot keeps its launch price"),
    ("gpt-4o-mini", "0.15", "0.075", "0.60", date(2024, 7, 18), 0, OPENAI),
    ("gpt-4.1", "2.00", "0.50", "8.00", date(2025, 4, 14), 0, OPENAI),
    ("gpt-4.1-mini", "0.40", "0.10", "1.60", date(2025, 4, 14), 0, OPENAI),
    ("gpt-4.1-nano", "0.10", "0.025", "0.40", date(2025, 4, 14), 0, OPENAI),
    ("gpt-5", "1.25", "0.125", "10.00", date(2025, 8, 7), 0, OPENAI),
    ("gpt-5-mini", "0.25", "0.025", "2.00", date(2025, 8, 7), 0, OPENAI),
    ("gpt-5-nano", "0.05", "0.005", "0.40", date(2025, 8, 7), 0, OPENAI),
    ("gpt-5.1", "1.25", "0.125", "10.00", date(2025, 11, 13), 0, OPENAI),
    ("gpt-5.2", "1.75", "0.175", "14.00", date(2025, 12, 11), 0, OPENAI),
    ("o1", "15.00", "7.50", "60.00", date(2024, 12, 17), 0, OPENAI),
    ("o3", "2.00", "0.50", "8.00", date(2025, 6, 10), 0, OPENAI + "; price cut of 2025-06-10"),
    ("o3-mini", "1.10", "0.55", "4.40", date(2025, 1, 31), 0, OPENAI),
    ("o4-mini", "1.10", "0.275", "4.40", date(2025, 4, 16), 0, OPENAI),
    ("gpt-4-turbo", "10.00", None, "30.00", date(2024, 4, 9), 0, OPENAI),
    ("gpt-4", "30.00", None, "60.00", date(2023, 3, 14), 0, OPENAI),
    ("gpt-3.5-turbo", "0.50", None, "1.50", date(2024, 1, 25), 0, OPENAI),
    ("gemini-2.5-pro", "1.25", "0.125", "10.00", date(2025, 6, 17), 0, GEMINI + "; prompts up to 200k tokens"),
    ("gemini-2.5-pro", "2.50", "0.25", "15.00", date(2025, 6, 17), 200_000,
     GEMINI + "; prompts over 200k tokens, every token at this rate"),
    ("gemini-2.5-flash", "0.30", "0.03", "2.50", date(2025, 6, 17), 0, GEMINI + "; text/image/video input"),
    ("gemini-2.5-flash-lite", "0.10", "0.01", "0.40", date(2025, 7, 22), 0, GEMINI + "; text/image/video input"),
    ("gemini-2.0-flash", "0.10", "0.025", "0.40", date(2025, 2, 5), 0, GEMINI + "; text/image/video input"),
    ("gemini-2.0-flash-lite", "0.075", None, "0.30", date(2025, 2, 25), 0, GEMINI + "; no context caching"),
    ("gemini-3-pro-preview", "2.00", "0.20", "12.00", date(2025, 11, 18), 0, GEMINI + "; prompts up to 200k tokens"),
    ("gemini-3-pro-preview", "4.00", "0.40", "18.00", date(2025, 11, 18), 200_000,
     GEMINI + "; prompts over 200k tokens, every token at this rate"),
]

SCALE = 6  # model_price amounts: NUMERIC(18, 6); on SQLite whole 10^-6 units in an integer


def _model_price(sqlite: bool) -> sa.Table:
    money = sa.BigInteger() if sqlite else sa.Numeric(18, SCALE)
    return sa.table(
        "model_price",
        sa.column("model", sa.String), sa.column("input_per_mtok", money),
        sa.column("cached_input_per_mtok", money), sa.column("output_per_mtok", money),
        sa.column("currency", sa.String), sa.column("valid_from", sa.Date),
        sa.column("above_prompt_tokens", sa.Integer), sa.column("source", sa.String),
        sa.column("updated_at", sa.DateTime(timezone=True)),
    )


def _amount(value, sqlite: bool):
    if value is None:
        return None
    amount = Decimal(value)
    return int(amount.scaleb(SCALE)) if sqlite else amount


def upgrade():
    sqlite = op.get_bind().dialect.name == "sqlite"
    now = datetime.now(timezone.utc)
    op.bulk_insert(_model_price(sqlite), [
        {"model": model, "input_per_mtok": _amount(inp, sqlite), "cached_input_per_mtok": _amount(cached, sqlite),
         "output_per_mtok": _amount(out, sqlite), "currency": "USD", "valid_from": valid_from,
         "above_prompt_tokens": above, "source": source, "updated_at": now}
        for model, inp, cached, out, valid_from, above, source in PRICES
    ])


def downgrade():
    table = _model_price(op.get_bind().dialect.name == "sqlite")
    for model, _inp, _cached, _out, valid_from, above, _source in PRICES:
        op.execute(table.delete().where(table.c.model == model, table.c.valid_from == valid_from,
                                        table.c.above_prompt_tokens == above))
