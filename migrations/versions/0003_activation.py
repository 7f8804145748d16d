"""activation: provisional passwords, administrators' TOTP and scopes

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-28 13:10:00

"""
import sqlalchemy as sa
from alembic import op

revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('accounts') as batch:
        batch.add_column(sa.Column('provisional_expires_at', sa.DateTime(timezone=True),
                                   nullable=True))
        batch.add_column(sa.Column('totp_secret_encrypted', sa.Text(), nullable=True))
        batch.add_column(sa.Column('totp_last_step', sa.Integer(), nullable=True))
    op.create_table(
        'admin_scopes',
        sa.Column('account_id', sa.Integer(), nullable=False),
        sa.Column('uai', sa.String(length=8), nullable=False),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(['account_id'], ['accounts.id'],
                                name=op.f('fk_admin_scopes_account_id_accounts'),
                                ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('account_id', 'uai', name=op.f('pk_admin_scopes')),
    )
    op.create_index(op.f('ix_admin_scopes_uai'), 'admin_scopes', ['uai'], unique=False)
    # Self-activation looks representatives up by mobile number.
    op.create_index('ix_representatives_mobile', 'representatives', ['mobile'], unique=False)


def downgrade():
    op.drop_index('ix_representatives_mobile', table_name='representatives')
    op.drop_index(op.f('ix_admin_scopes_uai'), table_name='admin_scopes')
    op.drop_table('admin_scopes')
    with op.batch_alter_table('accounts') as batch:
        batch.drop_column('totp_last_step')
        batch.drop_column('totp_secret_encrypted')
        batch.drop_column('provisional_expires_at')
