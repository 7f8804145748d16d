"""Record security events in the audit trail and the structured log."""

import logging
from contextvars import ContextVar

from idp.extensions import db
from idp.models import AuditEvent

log = logging.getLogger("idp.audit")

#: Where the current action comes from ({"ip": ..., "request_id": ...}); set per request
#: by the web layer, so services can record events without knowing about HTTP.
origin: ContextVar[dict] = ContextVar("audit_origin", default={})  # noqa: B039


def record(event: str, *, account=None, identifier=None, client_id=None, **details):
    """Add an audit event to the current transaction and log it."""
    where = origin.get()
    entry = AuditEvent(
        event=event,
        account_id=getattr(account, "id", None),
        identifier=identifier or getattr(account, "identifier", None),
        client_id=client_id,
        ip=where.get("ip"),
        request_id=where.get("request_id"),
        details=details,
    )
    db.session.add(entry)
    log.info(
        event,
        extra={"audit": {"event": event, "identifier": entry.identifier,
                         "client_id": client_id, **details}},
    )
    return entry
