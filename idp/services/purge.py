"""Removal of expired rows in bounded batches, so tables never grow without end."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import and_
from sqlalchemy import or_
from sqlalchemy import tuple_

from idp.extensions import db
from idp.models import AuthorizationCode
from idp.models import Flow
from idp.models import RateCounter
from idp.models import SsoSession
from idp.models import Token
from idp.models.base import utcnow

# Kept a little after expiry: a code replay or a refresh reuse must still be recognised
# (and its chain revoked) for a while after the code or token stopped being usable.
GRACE = timedelta(days=1)


def _targets(now):
    """Each table with the condition that makes a row removable."""
    return [
        ("authorization_codes", AuthorizationCode,
         AuthorizationCode.expires_at < now - GRACE),
        ("tokens", Token, and_(
            Token.access_expires_at < now - GRACE,
            or_(Token.refresh_expires_at.is_(None), Token.refresh_expires_at < now - GRACE,
                Token.revoked_at < now - GRACE),
        )),
        ("sso_sessions", SsoSession, or_(SsoSession.expires_at < now,
                                         SsoSession.ended_at < now - GRACE)),
        ("flows", Flow, Flow.expires_at < now),
        ("rate_counters", RateCounter, RateCounter.expires_at < now),
    ]


def purge(batch_size: int = 5000, max_batches: int = 1000) -> dict[str, int]:
    """Delete expired rows table by table, batch_size rows per transaction."""
    now = utcnow()
    removed = {}
    for name, model, condition in _targets(now):
        key = model.__mapper__.primary_key
        total = 0
        for _ in range(max_batches):
            batch = db.select(*key).where(condition).limit(batch_size)
            if len(key) == 1:
                # A materialised list: MySQL-style engines refuse LIMIT inside IN.
                ids = [r[0] for r in db.session.execute(batch)]
                done = db.session.execute(db.delete(model).where(key[0].in_(ids))).rowcount \
                    if ids else 0
            else:
                done = db.session.execute(
                    db.delete(model).where(tuple_(*key).in_(batch))
                ).rowcount
            db.session.commit()
            total += done
            if done < batch_size:
                break
        removed[name] = total
    return removed
