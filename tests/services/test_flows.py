"""The flow store: single statements in the request's transaction, or Redis."""

import threading
from datetime import timedelta

import pytest
from sqlalchemy import update

from idp.extensions import db
from idp.models import Flow
from idp.models.base import utcnow
from idp.services.flows import FlowStore
from idp.services.secrets import token_hash

PARALLEL = 8


@pytest.fixture(params=["database", "configured"])
def store(request, app):
    """The database store, and the provider's own (Redis when configured)."""
    with app.app_context():
        if request.param == "database":
            yield FlowStore(None, ttl=600)
        else:
            yield app.extensions["idp"].flows


def _expire(store, flow_id):
    if store.redis is not None:
        store.redis.delete(f"{store.prefix}flow:{token_hash(flow_id)}")
        return
    db.session.execute(
        update(Flow).where(Flow.key_hash == token_hash(flow_id))
        .values(expires_at=utcnow() - timedelta(seconds=1))
    )


def test_a_flow_is_read_back_only_with_its_kind(store):
    flow_id = store.create("authorize", {"params": {"client_id": "c1"}})
    assert store.get(flow_id, "authorize") == {"params": {"client_id": "c1"}}
    assert store.get(flow_id, "activation") is None
    assert store.get("unknown", "authorize") is None
    assert store.get(None, "authorize") is None
    assert store.get("x" * 65, "authorize") is None


def test_only_the_hash_of_the_id_is_stored(store):
    flow_id = store.create("authorize", {})
    if store.redis is None:
        assert db.session.get(Flow, token_hash(flow_id)) is not None
        assert db.session.get(Flow, flow_id) is None
    else:
        assert store.redis.exists(f"{store.prefix}flow:{token_hash(flow_id)}")


def test_update_replaces_the_data_of_a_live_flow_only(store):
    flow_id = store.create("authorize", {"step": 1})
    assert store.update(flow_id, "authorize", {"step": 2}) is True
    assert store.get(flow_id, "authorize") == {"step": 2}
    _expire(store, flow_id)
    assert store.update(flow_id, "authorize", {"step": 3}) is False
    assert store.get(flow_id, "authorize") is None


def test_set_item_adds_one_item_in_place(store):
    flow_id = store.create("authorize", {"params": {"client_id": "c1", "state": "s"}})
    assert store.set_item(flow_id, "authorize", "login_sid", "sid-1") is True
    assert store.get(flow_id, "authorize") == {
        "params": {"client_id": "c1", "state": "s"}, "login_sid": "sid-1"}
    assert store.set_item(flow_id, "authorize", "login_sid", 'sid-2 "quoted"') is True
    assert store.get(flow_id, "authorize")["login_sid"] == 'sid-2 "quoted"'


def test_set_item_needs_a_live_flow_of_the_kind(store):
    flow_id = store.create("authorize", {"params": {}})
    assert store.set_item(flow_id, "activation", "login_sid", "sid") is False
    assert store.set_item("unknown", "authorize", "login_sid", "sid") is False
    assert store.set_item(None, "authorize", "login_sid", "sid") is False
    assert store.set_item(flow_id, "authorize", "$.evil", "sid") is False
    _expire(store, flow_id)
    assert store.set_item(flow_id, "authorize", "login_sid", "sid") is False
    assert store.get(flow_id, "authorize") is None


def test_take_returns_a_flow_once(store):
    flow_id = store.create("authorize", {"n": 1})
    assert store.take(flow_id, "authorize") == {"n": 1}
    assert store.take(flow_id, "authorize") is None
    assert store.get(flow_id, "authorize") is None


def test_take_of_another_kind_gets_nothing_and_leaves_the_flow(store):
    flow_id = store.create("authorize", {"n": 1})
    assert store.take(flow_id, "activation") is None
    assert store.get(flow_id, "authorize") == {"n": 1}
    assert store.take(flow_id, "authorize") == {"n": 1}


def test_update_of_another_kind_changes_nothing(store):
    flow_id = store.create("authorize", {"n": 1})
    assert store.update(flow_id, "activation", {"n": 2}) is False
    assert store.get(flow_id, "activation") is None
    assert store.get(flow_id, "authorize") == {"n": 1}
    assert store.update("unknown", "authorize", {"n": 2}) is False


def test_parallel_takes_give_the_flow_to_one_caller_of_its_kind(app, store):
    flow_id = store.create("authorize", {"n": 1})
    db.session.commit()
    barrier = threading.Barrier(PARALLEL)
    results = [None] * PARALLEL

    def take(i):
        # Half of the callers ask for another kind: they must not end the flow.
        kind = "authorize" if i % 2 else "activation"
        with app.app_context():
            barrier.wait()
            results[i] = (kind, store.take(flow_id, kind))
            db.session.commit()

    threads = [threading.Thread(target=take, args=(i,)) for i in range(PARALLEL)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert [r for r in results if r[1] is not None] == [("authorize", {"n": 1})], results


def test_expired_flows_are_gone(store):
    flow_id = store.create("authorize", {"n": 1})
    _expire(store, flow_id)
    assert store.get(flow_id, "authorize") is None
    assert store.take(flow_id, "authorize") is None


def test_delete_ends_a_flow(store):
    flow_id = store.create("authorize", {"n": 1})
    store.delete(flow_id)
    store.delete(None)
    assert store.get(flow_id, "authorize") is None


def test_database_flows_follow_the_request_transaction(app):
    with app.app_context():
        store = FlowStore(None, ttl=600)
        kept = store.create("authorize", {"n": 1})
        db.session.commit()
        dropped = store.create("authorize", {"n": 2})
        store.set_item(kept, "authorize", "login_sid", "sid")
        db.session.rollback()
        assert store.get(dropped, "authorize") is None
        assert store.get(kept, "authorize") == {"n": 1}


def test_ttl_is_set_at_creation(app):
    with app.app_context():
        store = FlowStore(None, ttl=600)
        flow_id = store.create("authorize", {}, ttl=60)
        row = db.session.get(Flow, token_hash(flow_id))
        left = (row.expires_at - utcnow()).total_seconds()
        assert 55 <= left <= 60
