"""Database engine settings applied at start."""

from sqlalchemy import text

from idp.app import create_app
from idp.extensions import db
from tests.conftest import TEST_CONFIG


def test_embedded_sqlite_runs_in_write_ahead_log_mode(tmp_path):
    app = create_app(dict(TEST_CONFIG, database_url=f"sqlite:///{tmp_path / 'idp.db'}",
                          var_dir=str(tmp_path / "var")))
    with app.app_context():
        try:
            assert db.session.execute(text("PRAGMA journal_mode")).scalar() == "wal"
            assert db.session.execute(text("PRAGMA synchronous")).scalar() == 1  # NORMAL
        finally:
            db.session.remove()
            db.engine.dispose()
