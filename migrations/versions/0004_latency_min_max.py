"""latency min and max in the daily rollup

The exact fastest and slowest successful attempt of each stats group, NULL where the group has
none. Rows rolled up before this revision have NULL in both; their days are marked dirty so the
next rollup recomputes them from their logs. Days whose logs were already pruned keep NULL, and
the monitoring API reports their bounds as unknown.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-27 09:00:00

"""
from datetime import datetime

from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None

stats = sa.table("ai_usage_stats", sa.column("day", sa.Date), sa.column("latency_count", sa.Integer))
dirty = sa.table("ai_usage_dirty_day", sa.column("day", sa.Date), sa.column("version", sa.BigInteger))
state = sa.table("ai_usage_rollup_state", sa.column("name", sa.String), sa.column("value", sa.String))


def upgrade():
    with op.batch_alter_table('ai_usage_stats', schema=None) as batch_op:
        batch_op.add_column(sa.Column('latency_min_ms', sa.Float(), nullable=True))
        batch_op.add_column(sa.Column('latency_max_ms', sa.Float(), nullable=True))

    # Mark the days that had timed attempts, except those wholly before the prune horizon (their
    # logs are gone; the rollup would only drop the mark again, with a warning per day).
    days = (sa.select(stats.c.day).distinct()
            .where(stats.c.latency_count > 0, stats.c.day.not_in(sa.select(dirty.c.day))))
    horizon = op.get_bind().execute(sa.select(state.c.value).where(state.c.name == "pruned_before")).scalar()
    if horizon:
        days = days.where(stats.c.day >= datetime.fromisoformat(horizon).date())
    op.execute(dirty.insert().from_select(["day", "version"], sa.select(days.subquery().c.day, sa.literal(1))))


def downgrade():
    with op.batch_alter_table('ai_usage_stats', schema=None) as batch_op:
        batch_op.drop_column('latency_max_ms')
        batch_op.drop_column('latency_min_ms')
