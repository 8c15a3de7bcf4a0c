"""time to first token in the daily rollup

A sum, a count and a histogram (the latency buckets) of the time to first token of successful streamed
attempts, per stats group. Rows rolled up before this revision have ttft_sum_ms and ttft_count NULL:
their time to first token is unknown, and the console says so rather than showing a number. Days that
had streams and whose logs are kept are marked dirty, so the next rollup recomputes them from the logs.

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-05 01:30:00

"""
from datetime import datetime

from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0014'
down_revision = '0013'
branch_labels = None
depends_on = None

BUCKETS = ("50", "100", "200", "300", "500", "750", "1000", "1500", "2000", "3000", "5000", "7500", "10000",
           "15000", "20000", "30000", "60000", "inf")
stats = sa.table("ai_usage_stats", sa.column("day", sa.Date), sa.column("streams", sa.Integer))
dirty = sa.table("ai_usage_dirty_day", sa.column("day", sa.Date), sa.column("version", sa.BigInteger))
state = sa.table("ai_usage_rollup_state", sa.column("name", sa.String), sa.column("value", sa.String))


def upgrade():
    with op.batch_alter_table('ai_usage_stats', schema=None) as batch_op:
        batch_op.add_column(sa.Column('ttft_sum_ms', sa.Float(), nullable=True))
        batch_op.add_column(sa.Column('ttft_count', sa.Integer(), nullable=True))
        for bucket in BUCKETS:
            batch_op.add_column(sa.Column(f'ttft_le_{bucket}', sa.Integer(), nullable=False, server_default='0'))

    # As 0004 did: days with streams whose logs are all kept are recomputed; the others stay unknown.
    days = (sa.select(stats.c.day).distinct()
            .where(stats.c.streams > 0, stats.c.day.not_in(sa.select(dirty.c.day))))
    horizon = op.get_bind().execute(sa.select(state.c.value).where(state.c.name == "pruned_before")).scalar()
    if horizon:
        days = days.where(stats.c.day >= datetime.fromisoformat(horizon).date())
    op.execute(dirty.insert().from_select(["day", "version"], sa.select(days.subquery().c.day, sa.literal(1))))


def downgrade():
    with op.batch_alter_table('ai_usage_stats', schema=None) as batch_op:
        for bucket in reversed(BUCKETS):
            batch_op.drop_column(f'ttft_le_{bucket}')
        batch_op.drop_column('ttft_count')
        batch_op.drop_column('ttft_sum_ms')
