"""The claims mapper: which claims each scope releases, and how each is computed.

One table maps scopes to claim names and one maps claim names to resolvers, so that
other capabilities (the school directory, federation) add their scopes and claims
with `register_scope` and `register_claim` without touching the protocol code.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from dataclasses import field


@dataclass
class ClaimsContext:
    """What a resolver may use: the account, the client, the client's `sub`."""

    account: object
    client: object
    sub: str
    cache: dict = field(default_factory=dict)


Resolver = Callable[[ClaimsContext], object]

SCOPE_CLAIMS: dict[str, list[str]] = {
    "openid": ["sub"],
    "profile": [
        "name",
        "given_name",
        "family_name",
        "preferred_username",
        "birthdate",
        "locale",
        "updated_at",
    ],
    "email": ["email", "email_verified"],
    "phone": ["phone_number", "phone_number_verified"],
}

CLAIM_RESOLVERS: dict[str, Resolver] = {
    "sub": lambda ctx: ctx.sub,
    "name": lambda ctx: " ".join(
        p for p in (ctx.account.given_name, ctx.account.family_name) if p
    ) or None,
    "given_name": lambda ctx: ctx.account.given_name or None,
    "family_name": lambda ctx: ctx.account.family_name or None,
    "preferred_username": lambda ctx: ctx.account.identifier,
    "birthdate": lambda ctx: ctx.account.birthdate.isoformat() if ctx.account.birthdate else None,
    "locale": lambda ctx: "fr-FR",
    "updated_at": lambda ctx: int(ctx.account.updated_at.timestamp())
    if ctx.account.updated_at else None,
    "email": lambda ctx: ctx.account.email or None,
    "email_verified": lambda ctx: bool(ctx.account.email_verified) if ctx.account.email else None,
    "phone_number": lambda ctx: ctx.account.phone_number or None,
    "phone_number_verified": lambda ctx: bool(ctx.account.phone_number_verified)
    if ctx.account.phone_number else None,
}

# Claims that only go where the client's registration allows them (data minimisation).
RESTRICTED_CLAIMS: set[str] = set()

#: Compatibility profiles: extra userinfo keys for clients whose registration names the
#: profile in `extra["profile"]` (e.g. the keys services written for EduConnect read).
Profile = Callable[[ClaimsContext, list[str], dict], dict]
PROFILES: dict[str, Profile] = {}
# The keys each profile may add, listed in discovery's claims_supported.
PROFILE_KEYS: dict[str, tuple[str, ...]] = {}


def register_scope(scope: str, claims: list[str]) -> None:
    """Declare (or extend) the claims a scope releases."""
    SCOPE_CLAIMS.setdefault(scope, [])
    for name in claims:
        if name not in SCOPE_CLAIMS[scope]:
            SCOPE_CLAIMS[scope].append(name)


def register_claim(name: str, resolver: Resolver, restricted: bool = False) -> None:
    """Declare how a claim is computed."""
    CLAIM_RESOLVERS[name] = resolver
    if restricted:
        RESTRICTED_CLAIMS.add(name)


def register_profile(name: str, profile: Profile, keys: tuple[str, ...] = ()) -> None:
    """Declare a compatibility profile a client can be registered with, and its keys."""
    PROFILES[name] = profile
    PROFILE_KEYS[name] = tuple(keys)


def supported_claims() -> list[str]:
    """Every claim name the provider can release (for discovery), profiles' keys included."""
    names = set(CLAIM_RESOLVERS)
    for keys in PROFILE_KEYS.values():
        names.update(keys)
    return sorted(names)


def allowed_claims(client, scopes: list[str]) -> set[str]:
    """The claims released by the granted scopes, within what the client may receive."""
    names: set[str] = set()
    for scope in scopes:
        names.update(SCOPE_CLAIMS.get(scope, ()))
    permitted = set((getattr(client, "extra", None) or {}).get("claims", ()))
    return {n for n in names if n not in RESTRICTED_CLAIMS or n in permitted}


def build(ctx: ClaimsContext, scopes: list[str], requested: dict | None = None,
          by_scope: bool = True) -> dict:
    """Compute the claims for scopes (if by_scope) plus individually requested ones.

    Claims asked for through the `claims` request parameter are released only when
    one of the granted scopes covers them: the parameter selects, it never widens.
    """
    allowed = allowed_claims(ctx.client, scopes)
    names = set(allowed) if by_scope else {"sub"}
    if requested:
        names.update(n for n in requested if n in allowed)
    result = {}
    for name in sorted(names):
        resolver = CLAIM_RESOLVERS.get(name)
        if resolver is None:
            continue
        value = resolver(ctx)
        if value is not None and value != [] and value != "":
            result[name] = value
    result["sub"] = ctx.sub
    profile = PROFILES.get((getattr(ctx.client, "extra", None) or {}).get("profile", ""))
    if profile is not None and by_scope:
        result.update(profile(ctx, scopes, result))
    return result
