"""A client's allow-list: the scopes, restricted claims and profile it may receive."""

from __future__ import annotations

from idp.oauth import claims as mapper
from idp.services import audit

# Granted outside the claims mapper, by the token endpoint.
PROTOCOL_SCOPES = ("offline_access",)


class AccessError(ValueError):
    """An unknown scope, claim or profile; the message says which."""


def describe(client) -> dict:
    """Return what the client may receive."""
    extra = client.extra or {}
    return {
        "client_id": client.client_id,
        "scopes": list(client.scopes or []),
        "claims": list(extra.get("claims") or []),
        "profile": extra.get("profile"),
    }


def allow(client, *, scopes=(), claims=(), profile: str | None = None,
          remove: bool = False) -> dict:
    """Add (or, with remove, take away) scopes and restricted claims; set the profile.

    `profile=""` clears the compatibility profile. The caller commits.
    """
    for scope in scopes:
        if scope not in mapper.SCOPE_CLAIMS and scope not in PROTOCOL_SCOPES:
            raise AccessError(f"scope: unknown scope {scope!r}")
    if remove and "openid" in scopes:
        raise AccessError("scope: openid cannot be removed")
    for claim in claims:
        if claim not in mapper.RESTRICTED_CLAIMS:
            raise AccessError(
                f"claim: {claim!r} is not a restricted claim "
                f"(restricted: {', '.join(sorted(mapper.RESTRICTED_CLAIMS)) or 'none'})"
            )
    if profile and profile not in mapper.PROFILES:
        raise AccessError(f"profile: unknown profile {profile!r}")
    current_scopes = list(client.scopes or [])
    extra = dict(client.extra or {})
    current_claims = list(extra.get("claims") or [])
    if remove:
        current_scopes = [s for s in current_scopes if s not in scopes]
        current_claims = [c for c in current_claims if c not in claims]
    else:
        current_scopes += [s for s in dict.fromkeys(scopes) if s not in current_scopes]
        current_claims += [c for c in dict.fromkeys(claims) if c not in current_claims]
    extra["claims"] = current_claims
    if profile is not None:
        if profile:
            extra["profile"] = profile
        else:
            extra.pop("profile", None)
    before = describe(client)
    # New objects, so that the JSON columns are seen as changed.
    client.scopes = current_scopes
    client.extra = extra
    result = describe(client)
    if result != before:
        audit.record("client.access_changed", client_id=client.client_id,
                     scopes=result["scopes"], claims=result["claims"],
                     profile=result["profile"])
    return result
