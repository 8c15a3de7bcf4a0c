"""usage rows and the daily rollup record the site by its id

`site_id` is a plain indexed integer, with no foreign key: usage history outlives a removed site.
Rows written before sites existed keep NULL (their `site_domain` is all they name); the rollup
groups them, and the local site's rows, by domain as before, and every other site's rows by site
id alone, so a renamed domain does not split a site's history. The id joins the rollup's group
key. On SQLite the site table is rebuilt with AUTOINCREMENT: without it a removed site's id goes to
the next site made, which would inherit its usage history.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-05 10:00:00

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0010'
down_revision = '0009'
branch_labels = None
depends_on = None

OLD_GROUP = ('day', 'site_domain', 'upstream', 'provider', 'model', 'caller', 'currency')
NEW_GROUP = ('day', 'site_id', 'site_domain', 'upstream', 'provider', 'model', 'caller', 'currency')
# The rollup's columns besides its group: summed when groups merge, except the latency bounds.
SUMS = ('attempts', 'requests', 'successes', 'errors', 'cancelled', 'failovers', 'streams', 'prompt_tokens',
        'cached_tokens', 'completion_tokens', 'reasoning_tokens', 'cost', 'unpriced', 'estimated', 'latency_sum_ms',
        'latency_count', 'lat_le_50', 'lat_le_100', 'lat_le_200', 'lat_le_300', 'lat_le_500', 'lat_le_750',
        'lat_le_1000', 'lat_le_1500', 'lat_le_2000', 'lat_le_3000', 'lat_le_5000', 'lat_le_7500', 'lat_le_10000',
        'lat_le_15000', 'lat_le_20000', 'lat_le_30000', 'lat_le_60000', 'lat_le_inf')


def _site_ids_never_reused(reused: bool = False) -> None:
    if op.get_bind().dialect.name == 'sqlite':
        with op.batch_alter_table('site', recreate='always', table_kwargs={'sqlite_autoincrement': not reused}):
            pass


def upgrade():
    _site_ids_never_reused()
    with op.batch_alter_table('ai_usage_log', schema=None) as batch_op:
        batch_op.add_column(sa.Column('site_id', sa.Integer(), nullable=True))
        batch_op.create_index('ix_ai_usage_log_site_id_created', ['site_id', 'created_at'], unique=False)

    with op.batch_alter_table('ai_usage_stats', schema=None) as batch_op:
        batch_op.add_column(sa.Column('site_id', sa.Integer(), nullable=True))
        batch_op.create_index('ix_ai_usage_stats_site_id_day', ['site_id', 'day'], unique=False)
        batch_op.drop_constraint('uq_ai_usage_stats_group', type_='unique')
        batch_op.create_unique_constraint('uq_ai_usage_stats_group', list(NEW_GROUP))


def _merge_sites_of_one_domain() -> None:
    """Stats rows told apart only by their site id (a site removed and its domain given to a new one) become
    one row, so the old group key holds again; merged from the stats, so days with pruned logs keep theirs."""
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
        conn.execute(stats.insert().values(**row))


def downgrade():
    with op.batch_alter_table('ai_usage_stats', schema=None) as batch_op:
        batch_op.drop_constraint('uq_ai_usage_stats_group', type_='unique')
    _merge_sites_of_one_domain()
    with op.batch_alter_table('ai_usage_stats', schema=None) as batch_op:
        batch_op.drop_index('ix_ai_usage_stats_site_id_day')
        batch_op.drop_column('site_id')
        batch_op.create_unique_constraint('uq_ai_usage_stats_group', list(OLD_GROUP))

    with op.batch_alter_table('ai_usage_log', schema=None) as batch_op:
        batch_op.drop_index('ix_ai_usage_log_site_id_created')
        batch_op.drop_column('site_id')
    _site_ids_never_reused(reused=True)
