"""school directory: académies, schools, pupils, representatives, families

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-28 13:00:00

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('academies',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('code', sa.String(length=32), nullable=False),
    sa.Column('name', sa.String(length=64), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_academies')),
    sa.UniqueConstraint('code', name=op.f('uq_academies_code'))
    )
    op.create_table('identifier_counters',
    sa.Column('stem', sa.String(length=64), nullable=False),
    sa.Column('last', sa.Integer(), nullable=False),
    sa.PrimaryKeyConstraint('stem', name=op.f('pk_identifier_counters'))
    )
    op.create_table('identifier_history',
    sa.Column('identifier', sa.String(length=64), nullable=False),
    sa.Column('account_id', sa.Integer(), nullable=True),
    sa.Column('issued_at', sa.DateTime(timezone=True), nullable=True),
    sa.PrimaryKeyConstraint('identifier', name=op.f('pk_identifier_history'))
    )
    op.create_table('mefs',
    sa.Column('code', sa.String(length=11), nullable=False),
    sa.Column('mefstat11', sa.String(length=11), nullable=True),
    sa.Column('mefstat4', sa.String(length=4), nullable=True),
    sa.Column('label', sa.String(length=100), nullable=False),
    sa.PrimaryKeyConstraint('code', name=op.f('pk_mefs'))
    )
    op.create_table('parent_identities',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('key', sa.String(length=300), nullable=False),
    sa.Column('account_id', sa.Integer(), nullable=True),
    sa.Column('confirmed_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['account_id'], ['accounts.id'], name=op.f('fk_parent_identities_account_id_accounts'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_parent_identities')),
    sa.UniqueConstraint('key', name=op.f('uq_parent_identities_key'))
    )
    with op.batch_alter_table('parent_identities', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_parent_identities_account_id'), ['account_id'], unique=False)

    op.create_table('schools',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('uai', sa.String(length=8), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('academie_id', sa.Integer(), nullable=True),
    sa.Column('degree', sa.String(length=2), nullable=True),
    sa.Column('school_year', sa.Integer(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=True),
    sa.CheckConstraint("degree IN ('1d', '2d')", name=op.f('ck_schools_degree')),
    sa.ForeignKeyConstraint(['academie_id'], ['academies.id'], name=op.f('fk_schools_academie_id_academies')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_schools')),
    sa.UniqueConstraint('uai', name=op.f('uq_schools_uai'))
    )
    with op.batch_alter_table('schools', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_schools_academie_id'), ['academie_id'], unique=False)

    op.create_table('pupils',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('ine', sa.String(length=11), nullable=False),
    sa.Column('account_id', sa.Integer(), nullable=True),
    sa.Column('school_id', sa.Integer(), nullable=True),
    sa.Column('source_id', sa.String(length=32), nullable=True),
    sa.Column('family_name', sa.String(length=128), nullable=False),
    sa.Column('usage_name', sa.String(length=128), nullable=True),
    sa.Column('given_name', sa.String(length=128), nullable=False),
    sa.Column('name_key', sa.String(length=200), nullable=False),
    sa.Column('birthdate', sa.Date(), nullable=True),
    sa.Column('sex', sa.String(length=1), nullable=True),
    sa.Column('division', sa.String(length=64), nullable=True),
    sa.Column('mef', sa.String(length=11), nullable=True),
    sa.Column('mefstat4', sa.String(length=4), nullable=True),
    sa.Column('level_label', sa.String(length=64), nullable=True),
    sa.Column('degree', sa.String(length=2), nullable=False),
    sa.Column('entry_date', sa.Date(), nullable=True),
    sa.Column('exit_date', sa.Date(), nullable=True),
    sa.Column('left_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('school_year', sa.Integer(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=True),
    sa.CheckConstraint("degree IN ('1d', '2d')", name=op.f('ck_pupils_degree')),
    sa.ForeignKeyConstraint(['account_id'], ['accounts.id'], name=op.f('fk_pupils_account_id_accounts'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['school_id'], ['schools.id'], name=op.f('fk_pupils_school_id_schools')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_pupils')),
    sa.UniqueConstraint('account_id', name=op.f('uq_pupils_account_id')),
    sa.UniqueConstraint('ine', name=op.f('uq_pupils_ine'))
    )
    with op.batch_alter_table('pupils', schema=None) as batch_op:
        batch_op.create_index('ix_pupils_school_source', ['school_id', 'source_id'], unique=False)

    op.create_table('representatives',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('source_key', sa.String(length=96), nullable=False),
    sa.Column('school_id', sa.Integer(), nullable=False),
    sa.Column('civility', sa.String(length=4), nullable=True),
    sa.Column('birth_name', sa.String(length=128), nullable=False),
    sa.Column('usage_name', sa.String(length=128), nullable=True),
    sa.Column('given_name', sa.String(length=128), nullable=False),
    sa.Column('mobile', sa.String(length=16), nullable=True),
    sa.Column('email', sa.String(length=254), nullable=True),
    sa.Column('sms_consent', sa.Boolean(), nullable=True),
    sa.Column('identity_id', sa.Integer(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['identity_id'], ['parent_identities.id'], name=op.f('fk_representatives_identity_id_parent_identities')),
    sa.ForeignKeyConstraint(['school_id'], ['schools.id'], name=op.f('fk_representatives_school_id_schools')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_representatives')),
    sa.UniqueConstraint('source_key', name=op.f('uq_representatives_source_key'))
    )
    with op.batch_alter_table('representatives', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_representatives_identity_id'), ['identity_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_representatives_school_id'), ['school_id'], unique=False)

    op.create_table('child_confirmations',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('account_id', sa.Integer(), nullable=False),
    sa.Column('pupil_id', sa.Integer(), nullable=False),
    sa.Column('confirmed_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('refused_at', sa.DateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['account_id'], ['accounts.id'], name=op.f('fk_child_confirmations_account_id_accounts'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['pupil_id'], ['pupils.id'], name=op.f('fk_child_confirmations_pupil_id_pupils'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_child_confirmations')),
    sa.UniqueConstraint('account_id', 'pupil_id', name=op.f('uq_child_confirmations_account_id'))
    )
    with op.batch_alter_table('child_confirmations', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_child_confirmations_pupil_id'), ['pupil_id'], unique=False)

    op.create_table('representative_links',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('representative_id', sa.Integer(), nullable=False),
    sa.Column('pupil_id', sa.Integer(), nullable=False),
    sa.Column('legal_level', sa.SmallInteger(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=True),
    sa.CheckConstraint('legal_level IN (1, 2)', name=op.f('ck_representative_links_legal_level')),
    sa.ForeignKeyConstraint(['pupil_id'], ['pupils.id'], name=op.f('fk_representative_links_pupil_id_pupils'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['representative_id'], ['representatives.id'], name=op.f('fk_representative_links_representative_id_representatives'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_representative_links')),
    sa.UniqueConstraint('representative_id', 'pupil_id', name=op.f('uq_representative_links_representative_id'))
    )
    with op.batch_alter_table('representative_links', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_representative_links_pupil_id'), ['pupil_id'], unique=False)



def downgrade():
    with op.batch_alter_table('representative_links', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_representative_links_pupil_id'))

    op.drop_table('representative_links')
    with op.batch_alter_table('child_confirmations', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_child_confirmations_pupil_id'))

    op.drop_table('child_confirmations')
    with op.batch_alter_table('representatives', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_representatives_school_id'))
        batch_op.drop_index(batch_op.f('ix_representatives_identity_id'))

    op.drop_table('representatives')
    with op.batch_alter_table('pupils', schema=None) as batch_op:
        batch_op.drop_index('ix_pupils_school_source')

    op.drop_table('pupils')
    with op.batch_alter_table('schools', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_schools_academie_id'))

    op.drop_table('schools')
    with op.batch_alter_table('parent_identities', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_parent_identities_account_id'))

    op.drop_table('parent_identities')
    op.drop_table('mefs')
    op.drop_table('identifier_history')
    op.drop_table('identifier_counters')
    op.drop_table('academies')
