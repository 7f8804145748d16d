"""The environment `idp serve` gives gunicorn, and what /readyz checks beyond the
reachability of the database and Redis (tests/test_readiness.py drives /readyz)."""

import pytest
from sqlalchemy.exc import OperationalError

from idp.app import MIGRATIONS_DIR
from idp.runtime import HUGE_PAGES_TUNABLE
from idp.runtime import KeysVerdict
from idp.runtime import migration_revisions
from idp.runtime import schema_state
from idp.runtime import server_environ


def test_huge_pages_are_asked_for_without_touching_the_rest():
    environ = {"PATH": "/usr/bin"}
    result = server_environ(environ)
    assert result == {"PATH": "/usr/bin", "GLIBC_TUNABLES": HUGE_PAGES_TUNABLE}
    assert environ == {"PATH": "/usr/bin"}


def test_operator_tunables_are_kept_and_completed():
    result = server_environ({"GLIBC_TUNABLES": "glibc.malloc.arena_max=2"})
    assert result["GLIBC_TUNABLES"] == f"glibc.malloc.arena_max=2:{HUGE_PAGES_TUNABLE}"


def test_an_explicit_huge_pages_choice_is_respected():
    environ = {"GLIBC_TUNABLES": "glibc.malloc.hugetlb=0"}
    assert server_environ(environ) == environ


# -- readiness --


def test_the_head_is_read_from_the_migrations_once():
    heads, known = migration_revisions(MIGRATIONS_DIR)
    assert len(heads) == 1 and heads <= known and "0001" in known
    assert migration_revisions(MIGRATIONS_DIR) is migration_revisions(MIGRATIONS_DIR)


@pytest.mark.parametrize(("recorded", "state"), [
    (["0006"], "ok"),  # the code's head
    (["0005"], "behind"),
    (["0001"], "behind"),
    (["0042_from_a_newer_release"], "ok"),  # migrated further by newer code
    ([], "missing"),
])
def test_schema_state(recorded, state):
    assert schema_state(recorded, frozenset({"0006"}),
                        frozenset({"0001", "0005", "0006"})) == state


class _Keys:
    """Stands for a KeyService whose check_usable raises `error`: here a database that
    fails during the check, which a real KeyService on a live database cannot be made
    to do at that moment (tests/test_readiness.py checks real keys)."""

    def __init__(self, error=None):
        self.error = error
        self.checks = 0

    def check_usable(self):
        self.checks += 1
        if self.error:
            raise self.error


def test_a_database_failure_during_the_check_is_no_verdict():
    verdict = KeysVerdict()
    with pytest.raises(OperationalError):
        verdict(_Keys(OperationalError("SELECT", {}, Exception("down"))))
    assert verdict(_Keys()) == "ok"  # checked again at once, not cached
