"""WSGI entry point for gunicorn: `gunicorn idp.wsgi:app`."""

from idp.app import create_app
from idp.cli import check_runtime
from idp.extensions import db

app = create_app()
check_runtime(app)
with app.app_context():
    # gunicorn forks workers after this: no connection may be shared across processes.
    db.engine.dispose()
    if app.extensions["idp"].redis is not None:
        app.extensions["idp"].redis.connection_pool.disconnect()
