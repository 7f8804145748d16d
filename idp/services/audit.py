"""Record security events in the audit trail and the structured log."""

import logging
from contextvars import ContextVar

from sqlalchemy import insert

from idp.extensions import db
from idp.models import AuditEvent
from idp.models.base import utcnow

log = logging.getLogger("idp.audit")

#: Where the current action comes from ({"ip": ..., "request_id": ...}); set per request
#: by the web layer, so services can record events without knowing about HTTP.
origin: ContextVar[dict] = ContextVar("audit_origin", default={})  # noqa: B039


def record(event: str, *, account=None, identifier=None, client_id=None, **details) -> None:
    """Write an audit event in the current transaction and log it."""
    where = origin.get()
    identifier = identifier or getattr(account, "identifier", None)
    # A plain INSERT in the caller's transaction: the event commits or rolls back with
    # the action it describes, without the ORM's unit of work on every hot path.
    db.session.execute(
        _INSERT,
        {
            "created_at": utcnow(),
            "event": event,
            "account_id": getattr(account, "id", None),
            "identifier": identifier,
            "client_id": client_id,
            "ip": where.get("ip"),
            "request_id": where.get("request_id"),
            "details": details,
        },
    )
    log.info(
        event,
        extra={"audit": {"event": event, "identifier": identifier,
                         "client_id": client_id, **details}},
    )


_INSERT = insert(AuditEvent.__table__)
