"""WSGI entry point for gunicorn: `gunicorn idp.wsgi:app`."""

from idp.app import create_app
from idp.cli import check_runtime

app = create_app()
check_runtime(app)
