"""Server-side single-sign-on sessions."""

from __future__ import annotations

import time
from datetime import timedelta

from sqlalchemy import bindparam
from sqlalchemy import insert
from sqlalchemy import select

from idp.directory.sql import ignoring_insert
from idp.extensions import db
from idp.models import SessionClient
from idp.models import SsoSession
from idp.models.base import utcnow
from idp.services import audit
from idp.services.secrets import new_token
from idp.services.secrets import token_hash

# last_seen_at is written at most this often, to keep SSO reads free of writes.
TOUCH_INTERVAL = timedelta(minutes=5)


class SessionService:
    """Create, find and end SSO sessions; the browser holds only a random secret."""

    def __init__(self, idle_ttl: int, max_ttl: int):
        self.idle_ttl = idle_ttl
        self.max_ttl = max_ttl

    def create(self, account, *, amr: list[str], acr: str | None, extra: dict | None = None,
               auth_time: int | None = None):
        """Open a session for the account; return (cookie secret, public session id).

        `auth_time` is when the person authenticated, if not now (an upstream provider's
        single sign-on may answer without asking them anything)."""
        secret = new_token(32)
        sid = new_token(24)
        now = utcnow()
        # A plain INSERT: every password login opens a session, and nothing in the
        # request needs it as an ORM object afterwards.
        db.session.execute(_INSERT, {
            "secret_hash": token_hash(secret),
            "sid": sid,
            "account_id": account.id,
            "auth_time": auth_time or int(time.time()),
            "amr": amr,
            "acr": acr,
            "extra": extra or {},
            "created_at": now,
            "last_seen_at": now,
            "expires_at": now + timedelta(seconds=self.max_ttl),
            "ended_at": None,
        })
        audit.record("session.created", account=account, sid=sid, amr=amr)
        return secret, sid

    def find(self, secret: str | None) -> SsoSession | None:
        """Return the live session for a cookie secret, or None."""
        if not secret or not isinstance(secret, str) or len(secret) > 128:
            return None
        session = db.session.execute(
            _BY_SECRET, {"digest": token_hash(secret)}
        ).scalar_one_or_none()
        if session is None or session.ended_at is not None:
            return None
        now = utcnow()
        if session.expires_at <= now or session.last_seen_at + timedelta(
            seconds=self.idle_ttl
        ) <= now:
            return None
        if session.account.status == "disabled":
            return None
        if now - session.last_seen_at > TOUCH_INTERVAL:
            session.last_seen_at = now
        return session

    def renew_secret(self, session: SsoSession) -> str:
        """Give a session a new cookie secret (after a change of password): a copy of
        the old cookie no longer opens it. Its `sid`, known to services, stays."""
        secret = new_token(32)
        session.secret_hash = token_hash(secret)
        audit.record("session.renewed", account=session.account, sid=session.sid)
        return secret

    def add_client(self, session: SsoSession, client_id: str) -> None:
        """Remember that the client received tokens in this session."""
        # One statement on every SSO authorization, whether or not the pair is known.
        connection = db.session.connection()
        statement = _ADD_CLIENT.get(connection.dialect.name)
        if statement is None:
            statement = _ADD_CLIENT[connection.dialect.name] = ignoring_insert(
                connection, SessionClient.__table__, ["session_id", "client_id"], {}
            )
        connection.execute(statement, {"session_id": session.id, "client_id": client_id,
                                       "created_at": utcnow()})

    def end(self, session: SsoSession, reason: str = "logout") -> list[str]:
        """End a session; return the ids of the clients it logged into."""
        session.ended_at = utcnow()
        # What an upstream login kept for its own logout (FranceConnect's ID token, read
        # by idp.oauth.logout.finish before this) is not kept past the session.
        session.extra = {}
        audit.record("session.ended", account=session.account, sid=session.sid, reason=reason)
        return [c.client_id for c in session.clients]

    def end_all(self, account, reason: str = "all") -> list[SsoSession]:
        """End every live session of an account (log out everywhere)."""
        sessions = db.session.execute(
            db.select(SsoSession).where(
                SsoSession.account_id == account.id, SsoSession.ended_at.is_(None)
            )
        ).scalars().all()
        for session in sessions:
            self.end(session, reason=reason)
        return sessions


# Built once (SQLAlchemy then skips building and keying them on every request).
_INSERT = insert(SsoSession.__table__)
_BY_SECRET = select(SsoSession).where(SsoSession.secret_hash == bindparam("digest"))
_ADD_CLIENT: dict = {}
