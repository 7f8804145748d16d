"""The environment `idp serve` gives gunicorn."""

from idp.runtime import HUGE_PAGES_TUNABLE
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

