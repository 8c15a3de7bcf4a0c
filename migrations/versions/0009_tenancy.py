"""sites and client keys, with the local site a fresh install serves its demo from

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-04 19:30:00

"""
import secrets
from datetime import datetime, timezone

from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0009'
down_revision = '0008'
branch_labels = None
depends_on = None


def upgrade():
    site = op.create_table('site',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('domain', sa.String(length=253), nullable=False),
    sa.Column('name', sa.String(length=128), nullable=False),
    sa.Column('publishable_key', sa.String(length=64), nullable=False),
    sa.Column('origins', sa.Text(), nullable=False),
    sa.Column('enabled', sa.Boolean(), nullable=False),
    sa.Column('allow_anonymous', sa.Boolean(), nullable=False),
    sa.Column('preset', sa.Text(), nullable=False),
    sa.Column('limits', sa.Text(), nullable=False),
    sa.Column('ip_allow', sa.Text(), nullable=False),
    sa.Column('ip_deny', sa.Text(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_site')),
    sa.UniqueConstraint('domain', name=op.f('uq_site_domain')),
    sa.UniqueConstraint('publishable_key', name=op.f('uq_site_publishable_key'))
    )
    op.create_table('client_key',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('site_id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=64), nullable=False),
    sa.Column('prefix', sa.String(length=24), nullable=False),
    sa.Column('key_hash', sa.String(length=64), nullable=False),
    sa.Column('models', sa.Text(), nullable=False),
    sa.Column('limits', sa.Text(), nullable=False),
    sa.Column('ip_allow', sa.Text(), nullable=False),
    sa.Column('ip_deny', sa.Text(), nullable=False),
    sa.Column('expires_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('revoked_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('replaced_by_id', sa.Integer(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('last_used_at', sa.DateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['site_id'], ['site.id'], name=op.f('fk_client_key_site_id_site'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['replaced_by_id'], ['client_key.id'], name=op.f('fk_client_key_replaced_by_id_client_key'),
                            ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_client_key')),
    sa.UniqueConstraint('key_hash', name=op.f('uq_client_key_key_hash')),
    sa.UniqueConstraint('prefix', name=op.f('uq_client_key_prefix'))
    )
    with op.batch_alter_table('client_key', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_client_key_site_id'), ['site_id'], unique=False)

    # The local site: the demo page works out of the box, and AICHAT_ALLOWED_ORIGINS adds to its origins.
    now = datetime.now(timezone.utc)
    op.bulk_insert(site, [{"domain": "localhost", "name": "Local site", "publishable_key": "pk_" + secrets.token_urlsafe(18),
                           "origins": "[]", "enabled": True, "allow_anonymous": True, "preset": "{}", "limits": "{}",
                           "ip_allow": "[]", "ip_deny": "[]", "created_at": now, "updated_at": now}])
    # The row every site or key change bumps (aichat/tenancy/store.py: CONFIG).
    op.execute(sa.text("INSERT INTO config_version (name, version) VALUES ('tenancy', 0)"))


def downgrade():
    op.execute(sa.text("DELETE FROM config_version WHERE name = 'tenancy'"))
    with op.batch_alter_table('client_key', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_client_key_site_id'))

    op.drop_table('client_key')
    op.drop_table('site')
