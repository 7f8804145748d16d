"""tokens: the refresh token's own scope

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-28 19:00:00

"""
import sqlalchemy as sa
from alembic import op

revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None


def upgrade():
    # A refresh with a narrower scope narrows only the access token it issues: the new
    # refresh token keeps the grant's scope (RFC 6749 section 6). Rows written before
    # this revision keep NULL, read as their `scope` (idp.models.tokens.Token.get_scope).
    with op.batch_alter_table('tokens') as batch:
        batch.add_column(sa.Column('refresh_scope', sa.String(length=1000), nullable=True))


def downgrade():
    with op.batch_alter_table('tokens') as batch:
        batch.drop_column('refresh_scope')
