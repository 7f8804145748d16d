"""The process environment the production server runs with, and what /readyz checks
beyond the reachability of the database and Redis: the schema and the signing keys."""

from __future__ import annotations

import functools
import logging
import time
from collections.abc import Callable
from collections.abc import Iterable

from alembic.config import Config
from alembic.script import ScriptDirectory
from sqlalchemy.exc import SQLAlchemyError

# glibc's malloc asks for transparent huge pages on the large blocks it maps: argon2id's
# 19 MiB working memory then needs ~10 TLB entries instead of ~4,900, and a verify costs
# about 13 % less CPU (measured by `make bench`, which runs under the same setting).
# Other C libraries and kernels without THP ignore it.
HUGE_PAGES_TUNABLE = "glibc.malloc.hugetlb=1"

log = logging.getLogger("idp.readiness")


def server_environ(environ: dict[str, str]) -> dict[str, str]:
    """Return environ with the settings the server processes need at start (kept when
    the operator already set them)."""
    result = dict(environ)
    tunables = result.get("GLIBC_TUNABLES", "")
    if "glibc.malloc.hugetlb=" not in tunables:
        result["GLIBC_TUNABLES"] = ":".join(t for t in (tunables, HUGE_PAGES_TUNABLE) if t)
    return result


# -- readiness --------------------------------------------------------------------------

# The table where Alembic records the database's revision (migrations/env.py keeps the
# default name).
VERSION_QUERY = "SELECT version_num FROM alembic_version"


@functools.cache
def migration_revisions(directory: str) -> tuple[frozenset[str], frozenset[str]]:
    """(heads, every revision) of the migrations in directory, read once per process
    (the preloaded application reads them before gunicorn forks its workers)."""
    config = Config()
    config.set_main_option("script_location", directory)
    script = ScriptDirectory.from_config(config)
    return (frozenset(script.get_heads()),
            frozenset(rev.revision for rev in script.walk_revisions()))


def schema_state(recorded: Iterable[str], heads: frozenset[str],
                 known: frozenset[str]) -> str:
    """What the revisions recorded in the database's alembic_version table say of its
    schema, for code whose migrations have these heads and revisions:

    - "ok": at the code's head, or at a revision this code does not know, that is one a
      newer release has migrated to (its migrations are additive first: the older code
      of a rolling upgrade keeps serving on it);
    - "behind": an older revision of this code's migrations: `idp db upgrade` is due,
      and requests that touch the new columns would fail;
    - "missing": no revision recorded (a database never migrated).
    """
    current = set(recorded)
    if not current:
        return "missing"
    if current - known or heads <= current:
        return "ok"
    return "behind"


class KeysVerdict:
    """Whether this node's secret_key opens the signing keys, checked at most once every
    `ttl` seconds (decrypting a key costs more than a readiness probe should, and /readyz
    is polled every few seconds by every load balancer)."""

    ttl = 60.0

    def __init__(self, clock: Callable[[], float] = time.monotonic):
        self._clock = clock
        self._verdict: str | None = None
        self._at = 0.0

    def __call__(self, keys) -> str:
        """"ok" or "unusable" (cached); raise SQLAlchemyError when the database failed
        during the check (no verdict then: the next probe checks again)."""
        now = self._clock()
        if self._verdict is not None and now - self._at < self.ttl:
            return self._verdict
        try:
            keys.check_usable()
            verdict = "ok"
        except SQLAlchemyError:
            raise
        except Exception as exc:  # noqa: BLE001 - whatever prevents signing
            log.error("not ready: %s", exc)
            verdict = "unusable"
        self._verdict, self._at = verdict, now
        return verdict
