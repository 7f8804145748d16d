"""Short-lived flow state (pending authorization requests, multi-step forms).

Kept in Redis when configured, else in the database, so that any process can
continue a flow that another one started.
"""

from __future__ import annotations

import json
from datetime import timedelta

from idp.extensions import db
from idp.models import Flow
from idp.models.base import utcnow
from idp.services.secrets import new_token
from idp.services.secrets import token_hash


class FlowStore:
    """Create, read, update and end flows identified by an unguessable id."""

    def __init__(self, redis=None, ttl: int = 1800, prefix: str = "idp:"):
        self.redis = redis
        self.ttl = ttl
        self.prefix = prefix

    def create(self, kind: str, data: dict, ttl: int | None = None) -> str:
        """Store a new flow and return its id (only its hash is kept)."""
        flow_id = new_token(24)
        self._write(flow_id, kind, data, ttl or self.ttl, create=True)
        return flow_id

    def get(self, flow_id: str | None, kind: str) -> dict | None:
        """Return the flow's data if it exists, is of this kind and has not expired."""
        if not flow_id or not isinstance(flow_id, str) or len(flow_id) > 64:
            return None
        key = token_hash(flow_id)
        if self.redis is not None:
            raw = self.redis.get(f"{self.prefix}flow:{key}")
            if raw is None:
                return None
            record = json.loads(raw)
            return record["data"] if record["kind"] == kind else None
        row = db.session.get(Flow, key)
        if row is None or row.kind != kind or row.expires_at <= utcnow():
            return None
        return dict(row.data)

    def update(self, flow_id: str, kind: str, data: dict) -> None:
        """Replace the data of an existing flow, keeping its expiry."""
        self._write(flow_id, kind, data, None, create=False)

    def take(self, flow_id: str | None, kind: str) -> dict | None:
        """Return and end a flow atomically: of parallel callers, only one gets it."""
        if not flow_id or not isinstance(flow_id, str) or len(flow_id) > 64:
            return None
        key = token_hash(flow_id)
        if self.redis is not None:
            raw = self.redis.getdel(f"{self.prefix}flow:{key}")
            if raw is None:
                return None
            record = json.loads(raw)
            return record["data"] if record["kind"] == kind else None
        row = db.session.execute(
            db.delete(Flow).where(Flow.key_hash == key, Flow.kind == kind,
                                  Flow.expires_at > utcnow())
            .returning(Flow.data)
        ).first()
        return dict(row[0]) if row else None

    def delete(self, flow_id: str | None) -> None:
        """End a flow."""
        if not flow_id:
            return
        key = token_hash(flow_id)
        if self.redis is not None:
            self.redis.delete(f"{self.prefix}flow:{key}")
            return
        db.session.execute(db.delete(Flow).where(Flow.key_hash == key))

    def _write(self, flow_id, kind, data, ttl, create):
        key = token_hash(flow_id)
        if self.redis is not None:
            payload = json.dumps({"kind": kind, "data": data})
            if create:
                self.redis.set(f"{self.prefix}flow:{key}", payload, ex=ttl)
            else:
                self.redis.set(f"{self.prefix}flow:{key}", payload, keepttl=True)
            return
        if create:
            db.session.add(
                Flow(key_hash=key, kind=kind, data=data,
                     expires_at=utcnow() + timedelta(seconds=ttl))
            )
        else:
            row = db.session.get(Flow, key)
            if row is not None:
                row.data = data
