"""The UserInfo endpoint's logic (OIDC Core 5.3), with RFC 6750 error signalling."""

from __future__ import annotations

from flask import current_app

from idp.oauth import claims as claims_mapper
from idp.oauth import tokens
from idp.oauth.subject import subject_for
from idp.services import clients


def _bearer_error(status: int, error: str, description: str):
    header = f'Bearer error="{error}", error_description="{description}"'
    return status, {"error": error, "error_description": description}, {
        "WWW-Authenticate": header
    }


# RFC 6750 3.1: a request without a bearer token (none, or another scheme) gets the
# challenge without an error code.
_NO_TOKEN = (401, {}, {"WWW-Authenticate": 'Bearer realm="userinfo"'})


def respond(authorization: str | None, body_token: str | None, query_token: str | None):
    """Return (status, JSON body, headers) for a UserInfo request."""
    value = None
    sources = 0
    if authorization:
        scheme, _, credentials = authorization.partition(" ")
        if scheme.lower() != "bearer":
            if not body_token and not query_token:
                return _NO_TOKEN
        elif not credentials.strip():
            return _bearer_error(400, "invalid_request", "The bearer token is empty")
        else:
            value = credentials.strip()
            sources += 1
    if body_token:
        value = body_token
        sources += 1
    if query_token:
        # RFC 9700 2.4: access tokens never travel in URLs.
        return _bearer_error(400, "invalid_request", "Access tokens are not accepted in the URL")
    if sources > 1:
        return _bearer_error(400, "invalid_request", "More than one access token was sent")
    if not value:
        return _NO_TOKEN
    grant = tokens.find_access(value)
    if grant is None:
        return _bearer_error(401, "invalid_token", "The access token is invalid or expired")
    scopes = grant.scope.split()
    if "openid" not in scopes:
        return _bearer_error(403, "insufficient_scope", "The openid scope is required")
    client = clients.lookup(grant.client_id)
    if client is None:
        return _bearer_error(401, "invalid_token", "The access token is invalid or expired")
    # The grant row carries the account's columns.
    sub = subject_for(grant, client, current_app.config["PAIRWISE_SALT"])
    ctx = claims_mapper.ClaimsContext(account=grant, client=client, sub=sub)
    requested = (grant.claims_request or {}).get("userinfo")
    return 200, claims_mapper.build(ctx, scopes, requested), {}
