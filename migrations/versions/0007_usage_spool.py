"""usage spool files applied

The ids of usage spool files (rows a stopping worker could not write) whose rows are in the log,
each inserted in the same transaction as its rows, so a file is replayed exactly once.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-02 10:00:00

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0007'
down_revision = '0006'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('ai_usage_spool_applied',
    sa.Column('id', sa.String(length=64), nullable=False),
    sa.Column('rows', sa.Integer(), nullable=False),
    sa.Column('applied_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_ai_usage_spool_applied'))
    )


def downgrade():
    op.drop_table('ai_usage_spool_applied')
