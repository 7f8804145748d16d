"""Server-side state of the demo client, in process memory.

- `SessionStore`: the local sessions (who is logged in, their tokens and claims),
  indexed by the provider's session id (`sid`) and subject (`sub`) so that a
  back-channel logout can end them. The browser only holds a random local session
  id in its (signed) cookie.
- `StateCache`: the cache Authlib keeps `state`, `nonce` and the PKCE
  `code_verifier` in between the authorization request and the callback, so that
  they never travel in a cookie.

A real service would keep both in its database or in Redis; a dict behind a lock
is enough for one process.
"""

from __future__ import annotations

import secrets
import threading
import time
from dataclasses import dataclass
from dataclasses import field


@dataclass
class LocalSession:
    """One person logged in to this service."""

    lsid: str
    sub: str
    sid: str | None
    id_token: str
    id_token_header: dict
    id_token_claims: dict
    userinfo: dict
    scope: str
    csrf: str
    created_at: float = field(default_factory=time.time)


@dataclass
class BackchannelEvent:
    """A logout token this service accepted, for the integrators' panel."""

    received_at: float
    sid: str | None
    sub: str | None
    ended: int


class SessionStore:
    """Local sessions, by local id, with the indexes a back-channel logout needs."""

    def __init__(self, max_events: int = 20):
        self._lock = threading.Lock()
        self._sessions: dict[str, LocalSession] = {}
        self._by_sid: dict[str, set[str]] = {}
        self._by_sub: dict[str, set[str]] = {}
        self._events: list[BackchannelEvent] = []
        self._max_events = max_events
        self._seen_jti: dict[str, float] = {}

    def create(self, **values) -> LocalSession:
        """Open a local session and return it."""
        record = LocalSession(lsid=secrets.token_urlsafe(24), csrf=secrets.token_urlsafe(24),
                              **values)
        with self._lock:
            self._sessions[record.lsid] = record
            if record.sid:
                self._by_sid.setdefault(record.sid, set()).add(record.lsid)
            self._by_sub.setdefault(record.sub, set()).add(record.lsid)
        return record

    def get(self, lsid: str | None) -> LocalSession | None:
        """The live local session with this id, if any."""
        if not lsid:
            return None
        with self._lock:
            return self._sessions.get(lsid)

    def end(self, lsid: str | None) -> None:
        """End one local session (local logout)."""
        with self._lock:
            self._drop(lsid)

    def end_for_provider_session(self, sid: str | None, sub: str | None) -> int:
        """End the local sessions of a provider session (by sid; else by sub)."""
        with self._lock:
            if sid:
                lsids = set(self._by_sid.get(sid, ()))
                if sub:
                    # A sid names one provider session; never end another person's.
                    lsids = {i for i in lsids if self._sessions[i].sub == sub}
            else:
                lsids = set(self._by_sub.get(sub or "", ()))
            for lsid in lsids:
                self._drop(lsid)
            self._events.insert(0, BackchannelEvent(time.time(), sid, sub, len(lsids)))
            del self._events[self._max_events:]
            return len(lsids)

    def first_use_of_jti(self, jti: str, ttl: float) -> bool:
        """Remember a logout token's jti; False when it was already seen (replay)."""
        now = time.time()
        with self._lock:
            for key in [k for k, exp in self._seen_jti.items() if exp < now]:
                del self._seen_jti[key]
            if jti in self._seen_jti:
                return False
            self._seen_jti[jti] = now + ttl
            return True

    def events(self) -> list[BackchannelEvent]:
        """The latest back-channel logouts received, newest first."""
        with self._lock:
            return list(self._events)

    def count(self) -> int:
        """How many local sessions are open."""
        with self._lock:
            return len(self._sessions)

    def _drop(self, lsid: str | None) -> None:
        record = self._sessions.pop(lsid or "", None)
        if record is None:
            return
        for index, key in ((self._by_sid, record.sid), (self._by_sub, record.sub)):
            if key and key in index:
                index[key].discard(lsid)
                if not index[key]:
                    del index[key]


class StateCache:
    """The `cache` interface Authlib's Flask client uses: get, set, delete."""

    def __init__(self):
        self._lock = threading.Lock()
        self._data: dict[str, tuple[float, str]] = {}

    def get(self, key: str) -> str | None:
        """Return the value, or None when absent or expired."""
        with self._lock:
            item = self._data.get(key)
            if item is None:
                return None
            if item[0] < time.time():
                del self._data[key]
                return None
            return item[1]

    def set(self, key: str, value: str, expires_in: int | None = None) -> None:
        """Store a value for expires_in seconds (an hour by default)."""
        with self._lock:
            now = time.time()
            for stale in [k for k, (exp, _) in self._data.items() if exp < now]:
                del self._data[stale]
            self._data[key] = (now + (expires_in or 3600), value)

    def delete(self, key: str) -> None:
        """Forget a value."""
        with self._lock:
            self._data.pop(key, None)
