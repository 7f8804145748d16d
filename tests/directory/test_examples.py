"""The sample directory that `idp demo load` builds."""

from sqlalchemy import select

from idp.directory import lookup
from idp.directory.examples import load_examples
from idp.directory.models import School
from idp.extensions import db
from idp.models import Account


def test_samples_load_once_with_named_schools_and_an_active_demo_family(app, ctx):
    first = load_examples(app, password="Demo-Famille-2026")
    assert first["refused"] == [] and first["created"] > 0
    assert first["accounts"] == {"parent": "s.legrand1", "pupil": "j.legrand1"}
    again = load_examples(app, password="Demo-Famille-2026")
    assert again["created"] == 0 and again["accounts"] == first["accounts"]
    names = dict(db.session.execute(select(School.uai, School.name)).all())
    assert names["0130902K"] == "Lycée Les Calanques"
    parent = db.session.execute(
        select(Account).where(Account.identifier == "s.legrand1")
    ).scalar_one()
    assert parent.status == "active" and parent.role == "responsable"
    children = lookup.children_of(parent.id)
    assert sorted(c.school_uai for c in children) == ["0061903L", "0130902K", "0830901D"]
