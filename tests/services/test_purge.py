"""Purging expired rows in batches."""

from datetime import timedelta

from idp.extensions import db
from idp.models import AuthorizationCode
from idp.models import Flow
from idp.models import RateCounter
from idp.models import Token
from idp.models.base import utcnow
from idp.services import purge


def test_purge_removes_only_expired_rows_in_batches(app, rp, make_account):
    person = make_account()
    callback = rp.code_flow(person["identifier"], person["password"])
    assert rp.token(callback["code"]).status_code == 200
    with app.app_context():
        old = utcnow() - timedelta(days=40)
        for i in range(7):
            db.session.add(Flow(key_hash=f"old{i}", kind="x", data={}, expires_at=old))
            db.session.add(RateCounter(key=f"k{i}", window_start=i, count=1, expires_at=old))
        db.session.add(Flow(key_hash="live", kind="x", data={},
                            expires_at=utcnow() + timedelta(hours=1)))
        for row in db.session.execute(db.select(AuthorizationCode)).scalars():
            row.expires_at = old
        db.session.commit()
        removed = purge.purge(batch_size=3)
        assert removed["flows"] == 7 and removed["rate_counters"] == 7
        assert removed["authorization_codes"] == 1
        assert removed["tokens"] == 0, "live tokens stay"
        assert db.session.get(Flow, "live") is not None
        assert db.session.execute(db.select(Token)).scalars().first() is not None
