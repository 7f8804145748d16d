"""gunicorn settings used by `idp serve` (workers and bind come from the command line)."""

from __future__ import annotations

import logging
import traceback

from gunicorn import glogging
from prometheus_client import multiprocess

from idp.config import ConfigError
from idp.config import load_config
from idp.logs import ServerJsonFormatter
from idp.redaction import REDACTED
from idp.redaction import PathRedactor

worker_class = "sync"
# Requests are short: a stuck one is killed rather than piling up behind it.
timeout = 30
graceful_timeout = 30
keepalive = 5
# Recycle workers now and then, spreading restarts so that they never coincide.
max_requests = 20000
max_requests_jitter = 2000
# The access log never shows query strings or referrers: they carry codes, states and
# ID tokens (id_token_hint) that must not end up in log storage. Paths carry secrets too
# (the links of password-reset and e-mail-confirmation messages): AccessLogger (below)
# logs them with the secret replaced by REDACTED. With log_json, the access and error
# logs are JSON lines instead (AccessLogger.access), with the same fields and the
# request id.
access_log_format = '%(h)s "%(m)s %(U)s %(H)s" %(s)s %(b)s %(L)s "%(a)s"'
# Load the app before forking so that workers share its memory.
preload_app = True
# No control socket: its default path (~/.gunicorn/gunicorn.ctl) is one per user, so a
# second `idp serve` on the host would take over the first one's; operations use signals.
control_socket_disable = True

def log_json_configured(environ=None) -> bool:
    """log_json of the configuration `idp serve` runs with: the IDP_CONFIG file and the
    IDP_* variables, which the preloaded application (idp.wsgi) reads too, once gunicorn's
    logger exists. False when they cannot be read: loading the application then fails
    with the message."""
    try:
        return bool(load_config(environ=environ).get("log_json"))
    except ConfigError:
        return False


class AccessLogger(glogging.Logger):
    """gunicorn's logger, whose access log shows request paths without their secrets,
    and which writes JSON lines when the configuration says log_json.

    Every atom that carries the path (%(U)s, %(r)s, {path_info}e, {raw_uri}e) gets the
    redacted path, without query string. Until a worker gives it the application's
    routes (post_worker_init), or if the application has none, no path is logged.

    With log_json, gunicorn's own lines (start, workers, signals, errors) are JSON objects
    like the application's (ts, level, logger, message, pid), and each access line is one
    too, with the fields of the plain line (remote_addr, method, path, protocol, status,
    bytes, duration in seconds, user_agent) and the request_id that the application
    answered in X-Request-ID (null when the application did not answer).
    """

    redactor: PathRedactor | None = None
    json_lines = False

    def setup(self, cfg):
        """gunicorn's setup, then the format the configuration asks for."""
        super().setup(cfg)
        self.use_json(log_json_configured())

    def use_json(self, enabled: bool) -> None:
        """Write JSON lines (log_json) or gunicorn's plain text, on gunicorn's own handlers
        of its error and access logs (a logging configuration given to gunicorn keeps its
        formatters, syslog its format)."""
        self.json_lines = bool(enabled)
        for log, plain in ((self.error_log, logging.Formatter(self.error_fmt, self.datefmt)),
                           (self.access_log, logging.Formatter(self.access_fmt))):
            formatter = ServerJsonFormatter() if self.json_lines else plain
            for handler in log.handlers:
                if getattr(handler, "_gunicorn", False) and isinstance(handler,
                                                                       logging.StreamHandler):
                    handler.setFormatter(formatter)

    def atoms(self, resp, req, environ, request_time):
        """gunicorn's atoms, with the request path redacted."""
        atoms = super().atoms(resp, req, environ, request_time)
        path = environ.get("PATH_INFO")
        if path is not None:
            logged = self.redactor(path) if self.redactor is not None else REDACTED
            atoms["U"] = atoms["{path_info}e"] = atoms["{raw_uri}e"] = logged
            atoms["r"] = (f"{environ.get('REQUEST_METHOD')} {logged} "
                          f"{environ.get('SERVER_PROTOCOL')}")
        return atoms

    def access(self, resp, req, environ, request_time):
        """One access line: gunicorn's plain one, or with log_json a JSON object."""
        if not self.json_lines:
            super().access(resp, req, environ, request_time)
            return
        if not self.access_log_enabled:
            return
        try:
            atoms = self.atoms(resp, req, environ, request_time)
            status = atoms["s"]
            fields = {
                "request_id": atoms.get("{x-request-id}o"),
                "remote_addr": atoms["h"],
                "method": atoms["m"],
                "path": atoms["U"],
                "protocol": atoms["H"],
                "status": int(status) if str(status).isdigit() else status,
                "bytes": getattr(resp, "sent", None),
                "duration": round(request_time.total_seconds(), 6),
                "user_agent": environ.get("HTTP_USER_AGENT"),
            }
            self.access_log.info("%s %s %s", fields["method"], fields["path"], status,
                                 extra={"access": fields})
        except Exception:  # noqa: BLE001 - as gunicorn's: a log line never fails a request
            self.error(traceback.format_exc())


logger_class = AccessLogger


def post_worker_init(worker):
    """Give the worker's access logger the application's routes, to redact their secrets,
    and its log_json."""
    if not isinstance(worker.log, AccessLogger):
        return
    url_map = getattr(worker.wsgi, "url_map", None)
    if url_map is not None:
        worker.log.redactor = PathRedactor(url_map)
    app_config = getattr(worker.wsgi, "config", None)
    if isinstance(app_config, dict) and "LOG_JSON" in app_config:
        worker.log.use_json(app_config["LOG_JSON"])


def child_exit(server, worker):
    """Forget a dead worker's metrics files."""
    multiprocess.mark_process_dead(worker.pid)
