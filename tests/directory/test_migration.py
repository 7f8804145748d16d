"""The directory's migration creates exactly the tables its models describe."""

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from idp.directory import models
from idp.extensions import db

DIRECTORY_TABLES = {
    model.__tablename__ for model in (
        models.Academie, models.School, models.Mef, models.Pupil, models.ParentIdentity,
        models.Representative, models.RepresentativeLink, models.ChildConfirmation,
        models.IdentifierCounter, models.IssuedIdentifier,
    )
}


def _table_of(diff) -> str | None:
    for item in diff if isinstance(diff, list) else [diff]:
        for part in item:
            name = getattr(part, "name", None) if not isinstance(part, str) else None
            table = getattr(part, "table", None)
            if table is not None:
                return table.name
            if name in DIRECTORY_TABLES:
                return name
    return None


def test_migration_0002_matches_the_directory_models(ctx):
    with db.engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        diffs = compare_metadata(context, db.metadata)
    ours = [d for d in diffs if _table_of(d) in DIRECTORY_TABLES]
    assert ours == []
