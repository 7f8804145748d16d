"""The per-process cache of client registrations used by the protocol endpoints."""

from sqlalchemy import update

from idp.extensions import db
from idp.models import Client
from idp.services import clients as client_service


def _registered(app, make_client, **fields):
    registration = make_client(**fields)
    with app.app_context():
        row = client_service.get(registration["client_id"])
    return registration, row


def test_rotated_secret_takes_effect_at_once_in_this_process(app, client, rp, make_account):
    person = make_account()
    callback = rp.code_flow(person["identifier"], person["password"])
    with app.app_context():
        new_secret = client_service.rotate_secret(client_service.get(rp.reg["client_id"]))
    # The old secret no longer authenticates, although the client was just cached.
    refused = rp.token(callback["code"])
    assert refused.status_code == 401
    rp.reg["client_secret"] = new_secret
    assert rp.token(callback["code"]).status_code == 200


def test_removed_client_is_refused_at_once(app, client, rp, make_account):
    person = make_account()
    rp.code_flow(person["identifier"], person["password"])
    with app.app_context():
        client_service.remove(client_service.get(rp.reg["client_id"]))
    response = rp.authorize()
    assert response.status_code == 400


def test_orm_changes_to_a_registration_empty_the_cache(app, make_client):
    registration, _ = _registered(app, make_client)
    with app.test_request_context():
        assert client_service.lookup(registration["client_id"]).name == "Service test"
        row = client_service.get(registration["client_id"])
        row.name = "Bourses nationales"
        db.session.commit()
        assert client_service.lookup(registration["client_id"]).name == "Bourses nationales"


def test_changes_by_another_process_are_seen_after_the_cache_delay(app, make_client,
                                                                   monkeypatch):
    registration, _ = _registered(app, make_client)
    clock = [1000.0]
    monkeypatch.setattr(client_service.time, "monotonic", lambda: clock[0])
    with app.test_request_context():
        assert client_service.lookup(registration["client_id"]).name == "Service test"
        # A statement that bypasses this process's ORM session, like the CLI run elsewhere.
        db.session.execute(
            update(Client).where(Client.client_id == registration["client_id"])
            .values(name="Renamed elsewhere")
            .execution_options(synchronize_session=False)
        )
        db.session.commit()
        clock[0] += client_service.CACHE_SECONDS - 1
        assert client_service.lookup(registration["client_id"]).name == "Service test"
        clock[0] += 2
        assert client_service.lookup(registration["client_id"]).name == "Renamed elsewhere"


def test_snapshots_are_not_orm_objects_and_unknown_ids_are_not_cached(app, make_client):
    registration, _ = _registered(app, make_client)
    with app.test_request_context():
        snapshot = client_service.lookup(registration["client_id"])
        assert not isinstance(snapshot, Client)
        assert snapshot.redirect_uris == registration["redirect_uris"]
        for unknown in ("nope", "", None, "x" * 65):
            assert client_service.lookup(unknown) is None
        cache = app.extensions["idp.client_cache"]
        assert set(cache.entries) == {registration["client_id"]}
