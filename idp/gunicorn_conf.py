"""gunicorn settings used by `idp serve` (workers and bind come from the command line)."""

from __future__ import annotations

import re

from gunicorn import glogging
from prometheus_client import multiprocess
from werkzeug.exceptions import NotFound
from werkzeug.routing import Map
from werkzeug.routing import Rule

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
# logs them with the secret replaced by REDACTED.
access_log_format = '%(h)s "%(m)s %(U)s %(H)s" %(s)s %(b)s %(L)s "%(a)s"'
# Load the app before forking so that workers share its memory.
preload_app = True

REDACTED = "[redacted]"
# The path variables of the application's routes that may be logged. Every other one is
# taken for a secret: a route added later with a token in its path is redacted without
# anyone having to remember this file (test_gunicorn_conf.py lists what is redacted).
PUBLIC_PATH_VARIABLES = frozenset({
    "uai",  # a school's public registry number (administration console)
    "pupil_id",  # a child account's row number (parent's space), no secret
    "filename",  # static files
})
# A variable in a werkzeug rule pattern: <name>, <converter:name>, <converter(args):name>.
# (werkzeug's own syntax: werkzeug.routing.rules._part_re)
_RULE_VARIABLE = re.compile(
    r"<(?:[a-zA-Z_][a-zA-Z0-9_]*(?:\(.*?\))?:)?(?P<name>[a-zA-Z_][a-zA-Z0-9_]*)>"
)
_TAIL = "redacted_tail__"


class PathRedactor:
    """Turns a request path into the one to log: the secret variables of the route it
    matches are replaced by REDACTED, e.g. /recuperation/mot-de-passe/lien/[redacted].

    Built from the application's url_map and matched by werkzeug as Flask does, but
    ignoring methods (a 405 is logged too) and slashes (a trailing slash, doubled
    slashes). A path that starts like a secret route without matching it (an extra
    segment) keeps what comes before the secret only. Any other path is returned as is.
    """

    def __init__(self, url_map: Map, public: frozenset[str] = PUBLIC_PATH_VARIABLES):
        self.public = frozenset(public)
        self.secret_rules: list[str] = []
        rules: list[Rule] = []
        seen: set[str] = set()

        def add(pattern: str, kind: str) -> None:
            if pattern not in seen:
                seen.add(pattern)
                rules.append(Rule(pattern, endpoint=(pattern, kind)))

        for rule in url_map.iter_rules():
            hidden = [m for m in _RULE_VARIABLE.finditer(rule.rule)
                      if m["name"] not in self.public]
            if not hidden:
                add(rule.rule, "plain")
                continue
            if rule.rule not in self.secret_rules:
                self.secret_rules.append(rule.rule)
            add(rule.rule, "secret")
            # Whatever follows the static start of the first secret, when nothing else
            # matches: werkzeug tries this path converter after every other rule.
            add(rule.rule[:hidden[0].start()] + f"<path:{_TAIL}>", "tail")
        self._adapter = Map(rules, converters=url_map.converters, strict_slashes=False,
                            merge_slashes=False).bind("localhost")

    def __call__(self, path: str) -> str:
        """The path to log for this PATH_INFO (a WSGI string: UTF-8 bytes as latin-1)."""
        try:
            text = path.encode("latin-1").decode("utf-8")
        except UnicodeError:
            text = path
        try:
            (pattern, kind), values = self._adapter.match(re.sub("//+", "/", text),
                                                          method="GET")
        except NotFound:
            return path
        except Exception:  # noqa: BLE001 - unforeseen: log no path rather than a secret
            return REDACTED
        if kind == "plain":
            return path

        def value(match: re.Match) -> str:
            name = match["name"]
            return str(values[name]) if name in self.public else REDACTED

        return _RULE_VARIABLE.sub(value, pattern)


class AccessLogger(glogging.Logger):
    """gunicorn's logger, whose access log shows request paths without their secrets.

    Every atom that carries the path (%(U)s, %(r)s, {path_info}e, {raw_uri}e) gets the
    redacted path, without query string. Until a worker gives it the application's
    routes (post_worker_init), or if the application has none, no path is logged.
    """

    redactor: PathRedactor | None = None

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


logger_class = AccessLogger


def post_worker_init(worker):
    """Give the worker's access logger the application's routes, to redact their secrets."""
    url_map = getattr(worker.wsgi, "url_map", None)
    if isinstance(worker.log, AccessLogger) and url_map is not None:
        worker.log.redactor = PathRedactor(url_map)


def child_exit(server, worker):
    """Forget a dead worker's metrics files."""
    multiprocess.mark_process_dead(worker.pid)
