"""admin roles and login lockout; the audit log

Every admin that exists becomes an owner: before roles, every admin could do everything.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-03 09:00:00

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0008'
down_revision = '0007'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('admin_user') as batch:
        batch.add_column(sa.Column('role', sa.String(length=16), nullable=False, server_default='owner'))
        batch.add_column(sa.Column('failed_logins', sa.Integer(), nullable=False, server_default='0'))
        batch.add_column(sa.Column('failed_logins_since', sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column('locked_until', sa.DateTime(timezone=True), nullable=True))
    # The default filled the existing rows; a new account's role is always chosen by the code.
    with op.batch_alter_table('admin_user') as batch:
        batch.alter_column('role', server_default=None)
    op.create_table('audit_event',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('actor', sa.String(length=128), nullable=False),
    sa.Column('action', sa.String(length=64), nullable=False),
    sa.Column('target_type', sa.String(length=32), nullable=False),
    sa.Column('target', sa.String(length=255), nullable=False),
    sa.Column('before', sa.Text(), nullable=True),
    sa.Column('after', sa.Text(), nullable=True),
    sa.Column('address', sa.String(length=64), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_audit_event'))
    )
    op.create_index(op.f('ix_audit_event_created_at'), 'audit_event', ['created_at'], unique=False)
    op.create_index('ix_audit_event_actor_created', 'audit_event', ['actor', 'created_at'], unique=False)
    op.create_index('ix_audit_event_target_created', 'audit_event', ['target_type', 'target', 'created_at'],
                    unique=False)


def downgrade():
    op.drop_index('ix_audit_event_target_created', table_name='audit_event')
    op.drop_index('ix_audit_event_actor_created', table_name='audit_event')
    op.drop_index(op.f('ix_audit_event_created_at'), table_name='audit_event')
    op.drop_table('audit_event')
    with op.batch_alter_table('admin_user') as batch:
        batch.drop_column('locked_until')
        batch.drop_column('failed_logins_since')
        batch.drop_column('failed_logins')
        batch.drop_column('role')
