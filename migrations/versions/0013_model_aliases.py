"""model aliases kept in the database, edited in the console

A row names a model (`fast`) and what it stands for (`deepseek/deepseek-chat`). The environment's
AICHAT_MODEL_ALIASES win over a row of the same name. Changes bump the `gateway` configuration version,
so every process picks them up without a restart.

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-05 01:00:00

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0013'
down_revision = '0012'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        'model_alias',
        sa.Column('name', sa.String(length=128), nullable=False),
        sa.Column('target', sa.String(length=160), nullable=False),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint('name'),
    )


def downgrade():
    op.drop_table('model_alias')
