"""Bulk inserts that tell the ids of their rows."""

from sqlalchemy import select

from idp.directory.models import ParentIdentity
from idp.directory.sql import insert_ids
from idp.extensions import db

identities = ParentIdentity.__table__


def test_insert_ids_maps_each_key_to_its_new_row(ctx):
    conn = db.session.connection()
    ids = insert_ids(conn, identities, [{"key": f"k{i}"} for i in range(5)], "key")
    stored = dict(conn.execute(select(identities.c.key, identities.c.id)).all())
    assert ids == stored and len(set(ids.values())) == 5


def test_insert_ids_ignoring_collisions_gives_the_existing_rows_ids(ctx):
    conn = db.session.connection()
    first = insert_ids(conn, identities, [{"key": "a"}, {"key": "b"}], "key")
    both = insert_ids(conn, identities, [{"key": "b"}, {"key": "c"}, {"key": "a"}], "key",
                      ignore=True)
    assert both["a"] == first["a"] and both["b"] == first["b"]
    assert conn.execute(select(identities.c.key).where(identities.c.id == both["c"])).scalar() \
        == "c"
