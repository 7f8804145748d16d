"""provisional passwords: the school that issued them

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-28 18:30:00

"""
import sqlalchemy as sa
from alembic import op

revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None


def upgrade():
    # Passwords issued before this revision keep no school: they count as issued
    # outside any school (see idp.admin.distribution).
    with op.batch_alter_table('accounts') as batch:
        batch.add_column(sa.Column('provisional_uai', sa.String(length=8), nullable=True))


def downgrade():
    with op.batch_alter_table('accounts') as batch:
        batch.drop_column('provisional_uai')
