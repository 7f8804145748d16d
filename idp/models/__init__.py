"""Database models. The schema itself is owned by the Alembic migrations."""

from idp.models.accounts import Account
from idp.models.admin import AdminScope
from idp.models.audit import AuditEvent
from idp.models.clients import Client
from idp.models.federation import FederatedIdentity
from idp.models.flows import Flow
from idp.models.keys import SigningKey
from idp.models.ratelimit import RateCounter
from idp.models.sessions import SessionClient
from idp.models.sessions import SsoSession
from idp.models.tokens import AuthorizationCode
from idp.models.tokens import Token

__all__ = [
    "Account",
    "AdminScope",
    "AuditEvent",
    "AuthorizationCode",
    "Client",
    "FederatedIdentity",
    "Flow",
    "RateCounter",
    "SessionClient",
    "SigningKey",
    "SsoSession",
    "Token",
]

# The directory's tables join the same metadata (no cycle: idp.directory imports nothing).
from idp.directory import models as directory_models  # noqa: E402,F401
