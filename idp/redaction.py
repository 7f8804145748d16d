"""Request paths as they may be logged: the secrets some routes carry in their path (the
links of password-reset and e-mail-confirmation messages) replaced by REDACTED. Used by
gunicorn's access log (idp.gunicorn_conf) and the development server (idp.cli)."""

from __future__ import annotations

import re

from werkzeug.exceptions import NotFound
from werkzeug.routing import Map
from werkzeug.routing import Rule

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
