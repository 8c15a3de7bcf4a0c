"""upstreams and their keys in the database, and the configuration version

Upstream keys are stored only as Fernet tokens (see aichat/crypto.py). The configuration version
starts at 0, which is also what a process reads when the row is absent.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-02 09:00:00

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('upstream',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=32), nullable=False),
    sa.Column('kind', sa.String(length=32), nullable=False),
    sa.Column('base_url', sa.String(length=512), nullable=False),
    sa.Column('models', sa.Text(), nullable=False),
    sa.Column('default_model', sa.String(length=128), nullable=False),
    sa.Column('priority', sa.Integer(), nullable=False),
    sa.Column('enabled', sa.Boolean(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_upstream')),
    sa.UniqueConstraint('name', name=op.f('uq_upstream_name'))
    )
    op.create_table('upstream_key',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('upstream_id', sa.Integer(), nullable=False),
    sa.Column('label', sa.String(length=48), nullable=False),
    sa.Column('secret_encrypted', sa.Text(), nullable=False),
    sa.Column('hint', sa.String(length=16), nullable=False),
    sa.Column('enabled', sa.Boolean(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('last_used_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('last_error_code', sa.String(length=64), nullable=True),
    sa.Column('last_error_at', sa.DateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['upstream_id'], ['upstream.id'], name=op.f('fk_upstream_key_upstream_id_upstream'),
                            ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_upstream_key')),
    sa.UniqueConstraint('upstream_id', 'label', name='uq_upstream_key_upstream_label')
    )
    with op.batch_alter_table('upstream_key', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_upstream_key_upstream_id'), ['upstream_id'], unique=False)

    config_version = op.create_table('config_version',
    sa.Column('name', sa.String(length=32), nullable=False),
    sa.Column('version', sa.BigInteger(), nullable=False),
    sa.PrimaryKeyConstraint('name', name=op.f('pk_config_version'))
    )
    # The row every change bumps (aichat/upstreams/store.py: CONFIG), so the first change is an UPDATE.
    op.bulk_insert(config_version, [{"name": "gateway", "version": 0}])


def downgrade():
    op.drop_table('config_version')
    with op.batch_alter_table('upstream_key', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_upstream_key_upstream_id'))

    op.drop_table('upstream_key')
    op.drop_table('upstream')
