"""Identifiers generated for people: first initial, family name, a number; never reused."""

import pytest
from sqlalchemy import delete

from idp.directory import identifiers
from idp.extensions import db
from idp.models import Account


@pytest.mark.parametrize("given, family, stem", [
    ("Jean", "MARTIN", "j.martin"),
    ("Éloïse", "FAURÉ", "e.faure"),
    ("Anne-Sophie", "LE GALL", "a.le-gall"),
    ("Zoé", "D'ALMEIDA", "z.dalmeida"),
    ("", "MARTIN", "x.martin"),
    ("Li", "王", "l.x"),
    ("Marie", "DE LA TOUR D'AUVERGNE-LAURAGUAIS DE SAINTE-MÈRE-ÉGLISE",
     "m.de-la-tour-dauvergne-lauraguais-de-saint"),
])
def test_stems_are_lowercase_ascii_initial_dot_family_name(given, family, stem):
    assert identifiers.stem(given, family) == stem


def test_numbers_follow_each_other_per_stem(ctx):
    issued = identifiers.allocate(db.session.connection(), [
        ("Jean", "MARTIN"), ("Julie", "Martin"), ("Paul", "DURAND"), ("Jeanne", "MARTIN"),
    ])
    assert issued == ["j.martin1", "j.martin2", "p.durand1", "j.martin3"]
    assert identifiers.issue("Jules", "MARTIN") == "j.martin4"


def test_identifiers_taken_by_accounts_created_otherwise_are_skipped(ctx, make_account):
    make_account("j.martin1")
    make_account("j.martin2")
    assert identifiers.allocate(db.session.connection(), [("Jean", "MARTIN")]) == ["j.martin3"]


def test_an_identifier_is_never_issued_again_even_after_its_account_is_deleted(ctx,
                                                                             make_account):
    first = identifiers.issue("Jean", "MARTIN")
    identifiers.record_issued(db.session.connection(), [(first, 1)])
    db.session.commit()
    make_account(first)
    db.session.execute(delete(Account).where(Account.identifier == first))
    db.session.commit()
    assert identifiers.was_issued(first)
    # Even if the counter were lost, the history keeps the number from coming back.
    db.session.execute(delete(identifiers.counters))
    db.session.commit()
    assert identifiers.issue("Jean", "MARTIN") == "j.martin2"
