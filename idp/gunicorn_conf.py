"""gunicorn settings used by `idp serve` (workers and bind come from the command line)."""

from prometheus_client import multiprocess

worker_class = "sync"
# Requests are short: a stuck one is killed rather than piling up behind it.
timeout = 30
graceful_timeout = 30
keepalive = 5
# Recycle workers now and then, spreading restarts so that they never coincide.
max_requests = 20000
max_requests_jitter = 2000
# The access log never shows query strings or referrers: they carry codes, states and
# ID tokens (id_token_hint) that must not end up in log storage.
access_log_format = '%(h)s "%(m)s %(U)s %(H)s" %(s)s %(b)s %(L)s "%(a)s"'
# Load the app before forking so that workers share its memory.
preload_app = True


def child_exit(server, worker):
    """Forget a dead worker's metrics files."""
    multiprocess.mark_process_dead(worker.pid)
