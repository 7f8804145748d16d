"""Sibling grouping across académies, and parents confirming their children."""

import pytest
from sqlalchemy import delete
from sqlalchemy import select

from idp.directory import family
from idp.directory import lookup
from idp.directory.models import ParentIdentity
from idp.directory.models import Pupil
from idp.directory.models import Representative
from idp.directory.models import RepresentativeLink
from idp.directory.models import School
from idp.extensions import db
from tests.directory.conftest import COLLEGE
from tests.directory.conftest import EXAMPLES
from tests.directory.conftest import LYCEE
from tests.directory.conftest import siecle_files


def identity_of(source_key):
    """The identity id of a representative record."""
    return db.session.execute(
        select(Representative.identity_id).where(Representative.source_key == source_key)
    ).scalar_one()


def academies_of(identity_id):
    """The académies of the schools whose records an identity groups."""
    return set(db.session.execute(
        select(School.academie_id).join(Representative, Representative.school_id == School.id)
        .where(Representative.identity_id == identity_id)
    ).scalars())


def pupil(ine) -> Pupil:
    """The pupil with this INE."""
    return db.session.execute(select(Pupil).where(Pupil.ine == ine)).scalar_one()


def sophie() -> ParentIdentity:
    """The identity of Sophie ROUX (LEGRAND), mother in three schools."""
    return db.session.get(ParentIdentity, identity_of(f"siecle:{COLLEGE}:2001"))


def test_the_same_parent_in_two_academies_is_grouped_once(ctx, examples_imported):
    collège, lycée = identity_of(f"siecle:{COLLEGE}:2001"), identity_of(f"siecle:{LYCEE}:7001")
    # "ROUX Sophie 06 11 22 33 44" and "Roux SOPHIE +33 6 11 22 33 44": one parent.
    assert collège == lycée
    assert len(academies_of(collège)) == 2
    ecole = db.session.execute(
        select(Representative).where(Representative.source_key.like("onde:%"),
                                     Representative.given_name == "Sophie")
    ).scalar_one()
    assert ecole.identity_id == collège
    assert identity_of(f"siecle:{COLLEGE}:2002") == identity_of(f"siecle:{LYCEE}:7002")


def test_hyphens_in_first_names_do_not_split_a_parent(ctx, examples_imported):
    jean_pierre = identity_of(f"siecle:{COLLEGE}:2003")
    records = db.session.execute(
        select(Representative.given_name).where(Representative.identity_id == jean_pierre)
    ).scalars().all()
    assert sorted(records) == ["Jean Pierre", "Jean-Pierre"]


def test_homonyms_with_another_mobile_and_parents_without_mobile_are_not_grouped(
        ctx, examples_imported):
    assert identity_of(f"siecle:{LYCEE}:7003") != identity_of(f"siecle:{COLLEGE}:2001")
    camille, anne = identity_of(f"siecle:{COLLEGE}:2004"), identity_of(f"siecle:{LYCEE}:7006")
    assert camille != anne
    assert db.session.get(ParentIdentity, camille).key == f"solo:siecle:{COLLEGE}:2004"


def test_finding_a_parent_by_name_and_mobile_for_auto_inscription(ctx, examples_imported):
    found = family.find_identity("roux", "sophie", "+33611223344")
    assert found is not None and found.id == sophie().id
    assert family.find_identity("ROUX", "Sophie", "0600000000") is None


def test_a_parent_account_is_created_named_after_the_records_and_linked(ctx, examples_imported):
    identity = sophie()
    account = family.create_parent_account(identity)
    assert (account.identifier, account.role, account.status) == (
        "s.legrand1", "responsable", "provisional"
    )
    assert account.password_hash is None
    assert identity.account_id == account.id
    with pytest.raises(family.FamilyError, match="already has an account"):
        family.create_parent_account(identity)


def test_children_are_only_proposed_until_the_parent_confirms_them(ctx, examples_imported):
    account = family.create_parent_account(sophie())
    family.link_parent_account(account, sophie())
    proposed = family.proposed_children(account)
    assert [(p.given_name, state) for p, state in proposed] == [
        ("Noah", "proposed"), ("Jade", "proposed"), ("Lina", "proposed")
    ]
    assert lookup.children_of(account.id) == []
    family.confirm_child(account, pupil("120000001AB"))
    family.refuse_child(account, pupil("1609000001A"))
    db.session.commit()
    states = {p.given_name: state for p, state in family.proposed_children(account)}
    assert states == {"Noah": "proposed", "Jade": "confirmed", "Lina": "refused"}
    assert [c.given_name for c in lookup.children_of(account.id)] == ["Jade"]


def test_a_confirmed_child_is_no_longer_released_once_the_legal_link_is_gone(
        ctx, examples_imported):
    account = family.create_parent_account(sophie())
    family.confirm_child(account, pupil("120000001AB"))
    db.session.commit()
    assert [c.given_name for c in lookup.children_of(account.id)] == ["Jade"]
    db.session.execute(
        delete(RepresentativeLink).where(
            RepresentativeLink.pupil_id == pupil("120000001AB").id
        )
    )
    db.session.commit()
    assert lookup.children_of(account.id) == []


def test_a_pupil_without_a_legal_link_cannot_be_confirmed(ctx, examples_imported):
    account = family.create_parent_account(sophie())
    with pytest.raises(family.FamilyError, match="not linked to this parent"):
        family.confirm_child(account, pupil("080000002BB"))  # the other Sophie ROUX's son


def test_a_confirmed_child_stays_confirmed_when_changing_school(app, ctx, run_import):
    run_import([EXAMPLES / "siecle" / "Nomenclature.xml",
                *(EXAMPLES / "siecle" / COLLEGE).glob("*.xml")])
    karim = db.session.get(ParentIdentity, identity_of(f"siecle:{COLLEGE}:2005"))
    account = family.create_parent_account(karim)
    family.confirm_child(account, pupil("120000003AD"))
    db.session.commit()
    # Yanis leaves the collège (Nice) for the lycée (Aix-Marseille): the collège's record
    # of his father goes, the lycée's comes; the grouping and the confirmation stay.
    run_import(siecle_files("next-year"))
    db.session.expire_all()
    assert identity_of(f"siecle:{LYCEE}:7007") == karim.id
    children = lookup.children_of(account.id)
    assert [(c.given_name, c.school_uai) for c in children] == [("Yanis", LYCEE)]


def test_a_grouping_without_records_or_account_is_forgotten(ctx, run_import):
    run_import(siecle_files())
    petit = identity_of(f"siecle:{COLLEGE}:2006")
    run_import(siecle_files("next-year"))  # Manon left; her mother's record is gone
    assert db.session.get(ParentIdentity, petit) is None
