"""Flask extensions, created unbound and initialised by the app factory."""

from flask_migrate import Migrate
from flask_sqlalchemy import SQLAlchemy
from sqlalchemy import MetaData
from sqlalchemy import event

# Constraint names are fixed so that Alembic migrations are identical on every engine.
NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

db = SQLAlchemy(metadata=MetaData(naming_convention=NAMING_CONVENTION))
migrate = Migrate()


def tune_engine(engine) -> None:
    """Per-connection settings: SQLite in write-ahead-log mode for concurrent workers."""
    if engine.dialect.name != "sqlite":
        return

    @event.listens_for(engine, "connect")
    def _sqlite_pragmas(dbapi_connection, connection_record):
        # WAL lets readers and the writer of several gunicorn workers proceed together,
        # and a commit appends to the log instead of rewriting a journal file;
        # synchronous=NORMAL is durable across application crashes in that mode; a power
        # or OS failure may lose the last commits, acceptable for the embedded default
        # (production runs on PostgreSQL, docs/operations.md).
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()
