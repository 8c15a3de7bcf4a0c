"""usage log indexes for the console's log explorer: each filter's index ends in (created_at, id)

The explorer pages by keyset on (created_at, id) and filters by site, upstream, status, model (requested or
served), error code and caller. An index of (filter column, created_at, id) makes each page a range scan in
either direction on SQLite and PostgreSQL, never a sort. The (created_at), (site_domain, created_at),
(upstream, created_at) and (status, created_at) indexes are replaced by their longer forms, which serve every
query they served.

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-05 01:00:00

"""
from alembic import op


# revision identifiers, used by Alembic.
revision = '0015'
down_revision = '0014'
branch_labels = None
depends_on = None

TABLE = 'ai_usage_log'
REPLACED = (
    ('ix_ai_usage_log_created_at', ['created_at'], 'ix_ai_usage_log_created_id', ['created_at', 'id']),
    ('ix_ai_usage_log_site_created', ['site_domain', 'created_at'],
     'ix_ai_usage_log_site_created_id', ['site_domain', 'created_at', 'id']),
    ('ix_ai_usage_log_upstream_created', ['upstream', 'created_at'],
     'ix_ai_usage_log_upstream_created_id', ['upstream', 'created_at', 'id']),
    ('ix_ai_usage_log_status_created', ['status', 'created_at'],
     'ix_ai_usage_log_status_created_id', ['status', 'created_at', 'id']),
)
ADDED = (
    ('ix_ai_usage_log_model_requested_created_id', ['model_requested', 'created_at', 'id']),
    ('ix_ai_usage_log_model_served_created_id', ['model_served', 'created_at', 'id']),
    ('ix_ai_usage_log_error_code_created_id', ['error_code', 'created_at', 'id']),
    ('ix_ai_usage_log_caller_created_id', ['caller', 'created_at', 'id']),
)


def upgrade():
    for old, _old_columns, new, columns in REPLACED:
        op.create_index(new, TABLE, columns, unique=False)
        op.drop_index(old, table_name=TABLE)
    for name, columns in ADDED:
        op.create_index(name, TABLE, columns, unique=False)


def downgrade():
    for name, _columns in ADDED:
        op.drop_index(name, table_name=TABLE)
    for old, old_columns, new, _columns in REPLACED:
        op.create_index(old, TABLE, old_columns, unique=False)
        op.drop_index(new, table_name=TABLE)
