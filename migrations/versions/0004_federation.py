"""federation: upstream identities linked to accounts

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-28 13:15:00

"""
import sqlalchemy as sa
from alembic import op

revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        'federated_identities',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('provider', sa.String(length=32), nullable=False),
        sa.Column('subject', sa.String(length=255), nullable=False),
        sa.Column('account_id', sa.Integer(), nullable=False),
        sa.Column('claims', sa.JSON(), nullable=False),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('last_login_at', sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(['account_id'], ['accounts.id'],
                                name=op.f('fk_federated_identities_account_id_accounts'),
                                ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_federated_identities')),
        sa.UniqueConstraint('provider', 'subject',
                            name=op.f('uq_federated_identities_provider')),
    )
    op.create_index(op.f('ix_federated_identities_account_id'), 'federated_identities',
                    ['account_id'], unique=False)


def downgrade():
    op.drop_index(op.f('ix_federated_identities_account_id'),
                  table_name='federated_identities')
    op.drop_table('federated_identities')
