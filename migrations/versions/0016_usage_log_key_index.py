"""usage log index for a key's newest success, error and cancel

The upstreams page shows each key's last use, last error and whether it is benched, read from the usage
log of the last 30 days. With an index of (upstream, key_label, status, created_at) each answer is the
newest row of one (upstream, key, status): a seek, however many rows the month holds.

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-05 02:30:00

"""
from alembic import op


# revision identifiers, used by Alembic.
revision = '0016'
down_revision = '0015'
branch_labels = None
depends_on = None

NAME = 'ix_ai_usage_log_upstream_key_status_created'


def upgrade():
    op.create_index(NAME, 'ai_usage_log', ['upstream', 'key_label', 'status', 'created_at'], unique=False)


def downgrade():
    op.drop_index(NAME, table_name='ai_usage_log')
