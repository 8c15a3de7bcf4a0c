"""end users' conversations and messages; each site's conversation settings and identity secret

Conversations belong to a site and an owner (`user:<id>` or `anon:<hash of the session>`), found by
(site_id, owner) through one index; messages go with their conversation. Existing sites get the
defaults: merging anonymous conversations on sign-in, stopping an answer when its client goes, and
keeping conversations 90 days. The identity secret is Fernet-encrypted; none exists until
`flask sites identity-secret` makes one.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-05 12:00:00

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0011'
down_revision = '0010'
branch_labels = None
depends_on = None

BigId = sa.BigInteger().with_variant(sa.Integer(), 'sqlite')


def upgrade():
    # SQLite may rebuild the table to add these columns: the rebuilt one keeps AUTOINCREMENT (ids never reused).
    kwargs = {'table_kwargs': {'sqlite_autoincrement': True}} if op.get_bind().dialect.name == 'sqlite' else {}
    with op.batch_alter_table('site', schema=None, **kwargs) as batch_op:
        batch_op.add_column(sa.Column('merge_anonymous', sa.Boolean(), nullable=False, server_default=sa.true()))
        batch_op.add_column(sa.Column('on_disconnect', sa.String(length=8), nullable=False, server_default='stop'))
        batch_op.add_column(sa.Column('retention_days', sa.Integer(), nullable=True, server_default='90'))
        batch_op.add_column(sa.Column('identity_secret', sa.Text(), nullable=True))
        batch_op.add_column(sa.Column('identity_secret_previous', sa.Text(), nullable=True))
        batch_op.add_column(sa.Column('identity_secret_previous_until', sa.DateTime(timezone=True), nullable=True))

    op.create_table('conversation',
    sa.Column('id', BigId, autoincrement=True, nullable=False),
    sa.Column('public_id', sa.String(length=24), nullable=False),
    sa.Column('site_id', sa.Integer(), nullable=False),
    sa.Column('owner', sa.String(length=140), nullable=False),
    sa.Column('title', sa.String(length=200), nullable=False),
    sa.Column('message_count', sa.Integer(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['site_id'], ['site.id'], name=op.f('fk_conversation_site_id_site'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_conversation')),
    sa.UniqueConstraint('public_id', name=op.f('uq_conversation_public_id'))
    )
    with op.batch_alter_table('conversation', schema=None) as batch_op:
        batch_op.create_index('ix_conversation_owner_updated', ['site_id', 'owner', 'updated_at'], unique=False)
        batch_op.create_index('ix_conversation_site_updated', ['site_id', 'updated_at'], unique=False)

    op.create_table('chat_message',
    sa.Column('id', BigId, autoincrement=True, nullable=False),
    sa.Column('public_id', sa.String(length=24), nullable=False),
    sa.Column('conversation_id', BigId, nullable=False),
    sa.Column('role', sa.String(length=16), nullable=False),
    sa.Column('content', sa.Text(), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('request_id', sa.String(length=64), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['conversation_id'], ['conversation.id'],
                            name=op.f('fk_chat_message_conversation_id_conversation'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_chat_message')),
    sa.UniqueConstraint('public_id', name=op.f('uq_chat_message_public_id'))
    )
    with op.batch_alter_table('chat_message', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_chat_message_conversation_id'), ['conversation_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_chat_message_request_id'), ['request_id'], unique=False)


def downgrade():
    with op.batch_alter_table('chat_message', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_chat_message_request_id'))
        batch_op.drop_index(batch_op.f('ix_chat_message_conversation_id'))
    op.drop_table('chat_message')
    with op.batch_alter_table('conversation', schema=None) as batch_op:
        batch_op.drop_index('ix_conversation_site_updated')
        batch_op.drop_index('ix_conversation_owner_updated')
    op.drop_table('conversation')

    # SQLite rebuilds the table to drop columns: it keeps AUTOINCREMENT (0010), so site ids are never reused.
    kwargs = {'table_kwargs': {'sqlite_autoincrement': True}} if op.get_bind().dialect.name == 'sqlite' else {}
    with op.batch_alter_table('site', schema=None, **kwargs) as batch_op:
        for column in ('identity_secret_previous_until', 'identity_secret_previous', 'identity_secret',
                       'retention_days', 'on_disconnect', 'merge_anonymous'):
            batch_op.drop_column(column)
