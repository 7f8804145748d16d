"""Short-lived flow state (pending authorization requests, multi-step forms).

Kept in Redis when configured, else in the database, so that any process can
continue a flow that another one started.

In the database, flows are read and written with single Core statements on the
session's connection (inside the request's transaction, never through the ORM unit
of work): a flow is a small keyed record that no other row refers to, and the login
page reads it on every display.
"""

from __future__ import annotations

import json
import re
from datetime import timedelta

from sqlalchemy import JSON
from sqlalchemy import Text
from sqlalchemy import bindparam
from sqlalchemy import cast
from sqlalchemy import delete
from sqlalchemy import func
from sqlalchemy import insert
from sqlalchemy import select
from sqlalchemy import update
from sqlalchemy.dialects.postgresql import JSONB

from idp.extensions import db
from idp.models import Flow
from idp.models.base import utcnow
from idp.services.secrets import new_token
from idp.services.secrets import token_hash

_flows = Flow.__table__
_LIVE = (_flows.c.key_hash == bindparam("b_key"), _flows.c.kind == bindparam("b_kind"),
         _flows.c.expires_at > bindparam("b_now"))
# Built once: the statements of the hot paths, with their values bound at execution.
_INSERT = insert(_flows)
_SELECT = select(_flows.c.data).where(*_LIVE)
_UPDATE = update(_flows).where(*_LIVE).values(
    data=bindparam("b_data", type_=_flows.c.data.type)
)
_SET_ITEM = {
    "sqlite": update(_flows).where(*_LIVE).values(
        data=func.json_set(_flows.c.data, bindparam("b_path"), bindparam("b_value"))
    ),
    "postgresql": update(_flows).where(*_LIVE).values(
        data=cast(
            cast(_flows.c.data, JSONB).op("||")(
                func.jsonb_build_object(cast(bindparam("b_name"), Text),
                                        cast(bindparam("b_value"), Text))
            ),
            JSON,
        )
    ),
}
_ITEM_NAME = re.compile(r"[a-z_]{1,32}")
_TAKE = delete(_flows).where(*_LIVE).returning(_flows.c.data)
_DELETE = delete(_flows).where(_flows.c.key_hash == bindparam("b_key"))

# In Redis, a flow of another kind must be left as it is, as the database statements
# above leave its row: the kind check and the change run as one script, so that no
# other caller acts between them. KEYS[1] is the flow's key, ARGV[1] the kind.
_REDIS_TAKE = """
local raw = redis.call('GET', KEYS[1])
if not raw or cjson.decode(raw)['kind'] ~= ARGV[1] then return false end
redis.call('DEL', KEYS[1])
return raw
"""
# ARGV[2] is the new record; KEEPTTL keeps the expiry set at creation.
_REDIS_UPDATE = """
local raw = redis.call('GET', KEYS[1])
if not raw or cjson.decode(raw)['kind'] ~= ARGV[1] then return 0 end
redis.call('SET', KEYS[1], ARGV[2], 'KEEPTTL')
return 1
"""


def _valid_id(flow_id) -> bool:
    return bool(flow_id) and isinstance(flow_id, str) and len(flow_id) <= 64


class FlowStore:
    """Create, read, update and end flows identified by an unguessable id."""

    def __init__(self, redis=None, ttl: int = 1800, prefix: str = "idp:"):
        self.redis = redis
        self.ttl = ttl
        self.prefix = prefix
        if redis is not None:
            # Sent by digest (EVALSHA), loaded again if the server lost them.
            self._take_script = redis.register_script(_REDIS_TAKE)
            self._update_script = redis.register_script(_REDIS_UPDATE)

    def create(self, kind: str, data: dict, ttl: int | None = None) -> str:
        """Store a new flow and return its id (only its hash is kept)."""
        flow_id = new_token(24)
        key = token_hash(flow_id)
        ttl = ttl or self.ttl
        if self.redis is not None:
            self.redis.set(self._rkey(key), json.dumps({"kind": kind, "data": data}), ex=ttl)
        else:
            now = utcnow()
            db.session.connection().execute(_INSERT, {
                "key_hash": key, "kind": kind, "data": data, "created_at": now,
                "expires_at": now + timedelta(seconds=ttl),
            })
        return flow_id

    def get(self, flow_id: str | None, kind: str) -> dict | None:
        """Return the flow's data if it exists, is of this kind and has not expired."""
        if not _valid_id(flow_id):
            return None
        key = token_hash(flow_id)
        if self.redis is not None:
            return self._decode(self.redis.get(self._rkey(key)), kind)
        data = db.session.connection().execute(
            _SELECT, {"b_key": key, "b_kind": kind, "b_now": utcnow()}
        ).scalar()
        return dict(data) if data is not None else None

    def update(self, flow_id: str, kind: str, data: dict) -> bool:
        """Replace the data of an existing flow of this kind, keeping its expiry.

        Return whether a live flow was updated.
        """
        if not _valid_id(flow_id):
            return False
        key = token_hash(flow_id)
        if self.redis is not None:
            # Only an existing flow of this kind: never resurrect a flow that expired or
            # ended meanwhile, nor turn a flow of another kind into this one.
            payload = json.dumps({"kind": kind, "data": data})
            return bool(self._update_script(keys=[self._rkey(key)], args=[kind, payload]))
        result = db.session.connection().execute(
            _UPDATE, {"b_key": key, "b_kind": kind, "b_now": utcnow(), "b_data": data}
        )
        return result.rowcount > 0

    def set_item(self, flow_id: str | None, kind: str, name: str, value: str) -> bool:
        """Set one top-level string item of a live flow's data, keeping its expiry.

        In the database this is a single UPDATE (the engine's JSON functions), with no
        read first. Return whether a live flow of this kind was there.
        """
        if not _valid_id(flow_id) or not _ITEM_NAME.fullmatch(name):
            return False
        connection = None if self.redis is not None else db.session.connection()
        statement = _SET_ITEM.get(connection.dialect.name) if connection is not None else None
        if statement is None:
            # Redis (and any other engine): read, change, write back.
            data = self.get(flow_id, kind)
            if data is None:
                return False
            data[name] = value
            return self.update(flow_id, kind, data)
        result = connection.execute(statement, {
            "b_key": token_hash(flow_id), "b_kind": kind, "b_now": utcnow(),
            "b_name": name, "b_path": f"$.{name}", "b_value": value,
        })
        return result.rowcount > 0

    def take(self, flow_id: str | None, kind: str) -> dict | None:
        """Return and end a flow atomically: of parallel callers, only one gets it."""
        if not _valid_id(flow_id):
            return None
        key = token_hash(flow_id)
        if self.redis is not None:
            return self._decode(self._take_script(keys=[self._rkey(key)], args=[kind]), kind)
        row = db.session.connection().execute(
            _TAKE, {"b_key": key, "b_kind": kind, "b_now": utcnow()}
        ).first()
        return dict(row[0]) if row else None

    def delete(self, flow_id: str | None) -> None:
        """End a flow."""
        if not flow_id:
            return
        key = token_hash(flow_id)
        if self.redis is not None:
            self.redis.delete(self._rkey(key))
            return
        db.session.connection().execute(_DELETE, {"b_key": key})

    def _rkey(self, key: str) -> str:
        return f"{self.prefix}flow:{key}"

    @staticmethod
    def _decode(raw, kind: str) -> dict | None:
        if raw is None:
            return None
        record = json.loads(raw)
        return record["data"] if record["kind"] == kind else None
