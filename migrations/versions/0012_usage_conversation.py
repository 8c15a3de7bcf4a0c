"""usage rows name the conversation a call continued

`conversation_id` is the conversation's public id (c_…), NULL for calls outside a conversation and on rows
written before. No foreign key: usage history outlives a conversation deleted by its user or its site's
retention. The daily rollup is unchanged (a conversation is not one of its groups).

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-06 12:00:00

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0012'
down_revision = '0011'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('ai_usage_log', schema=None) as batch_op:
        batch_op.add_column(sa.Column('conversation_id', sa.String(length=24), nullable=True))


def downgrade():
    with op.batch_alter_table('ai_usage_log', schema=None) as batch_op:
        batch_op.drop_column('conversation_id')
