"""The migrations (the only source of the schema) create exactly what the models
describe, for every table: a new column needs its revision."""

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

import idp.directory.models  # noqa: F401 - the directory's tables join the metadata
from idp.extensions import db


def test_the_migrated_schema_matches_every_model(ctx):
    with db.engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        assert compare_metadata(context, db.metadata) == []
