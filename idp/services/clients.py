"""Registration and authentication of relying services."""

from __future__ import annotations

import secrets
import time
from itertools import chain
from types import SimpleNamespace
from urllib.parse import urlsplit

from authlib.oauth2.rfc6749 import ClientMixin
from authlib.oauth2.rfc6749 import scope_to_list
from flask import current_app
from flask import has_app_context
from joserfc.errors import JoseError
from joserfc.jwk import KeySet
from sqlalchemy import bindparam
from sqlalchemy import event
from sqlalchemy import inspect
from sqlalchemy import select
from sqlalchemy.orm import Session

from idp.extensions import db
from idp.models import Client
from idp.models.base import utcnow
from idp.oauth import claims as claims_mapper
from idp.services import audit
from idp.services.secrets import same
from idp.services.secrets import token_hash

AUTH_METHODS = ("client_secret_basic", "client_secret_post", "private_key_jwt", "none")
SIGNING_ALGS = ("RS256", "ES256")
DEFAULT_SCOPES = ("openid", "profile", "email", "phone", "offline_access")
#: Granted by the token endpoint rather than the claims mapper (as idp.directory.access).
PROTOCOL_SCOPES = ("offline_access",)
#: Key types a client's JWK set may hold (private_key_jwt signs with RS256 or ES256).
CLIENT_KEY_TYPES = ("RSA", "EC")
#: Members of a private JWK (RFC 7518 6.2.2, 6.3.2): a client registers public keys only.
PRIVATE_MEMBERS = ("d", "p", "q", "dp", "dq", "qi", "oth", "k")

#: How long a worker serves a client registration from memory. A change made in this
#: process is seen at once; other processes (the CLI, other workers and hosts) see it
#: within this delay (docs/operations.md).
CACHE_SECONDS = 30.0
#: Bound on the cached registrations per process (a country has thousands of services).
CACHE_SIZE = 20_000


#: Key in `Client.extra`: the client is a resource server that may introspect the tokens
#: issued to any client, not only its own (RFC 7662 section 4).
INTROSPECT_ANY = "introspect_any"
_PUBLIC_CANNOT_INTROSPECT = (
    "introspect_any: a public client cannot call the introspection endpoint"
)


class ClientError(ValueError):
    """Invalid client registration data; the message says which field."""


def _check_uri(uri: str, field: str, allow_http_loopback: bool = True) -> str:
    parts = urlsplit(uri)
    if parts.fragment:
        raise ClientError(f"{field}: must not contain a fragment: {uri}")
    if parts.scheme == "https" and parts.netloc:
        return uri
    loopback = parts.scheme == "http" and parts.hostname in ("localhost", "127.0.0.1", "::1")
    if loopback and allow_http_loopback:
        return uri
    if loopback:
        raise ClientError(f"{field}: must be an https URL in production (http on loopback "
                          f"is for development only): {uri}")
    raise ClientError(f"{field}: must be an https URL (http only on loopback): {uri}")


def _in_production() -> bool:
    return has_app_context() and current_app.config.get("ENV") == "production"


def known_scopes() -> list[str]:
    """The scopes the provider knows (those of the discovery document)."""
    return [*claims_mapper.SCOPE_CLAIMS, *PROTOCOL_SCOPES]


def _check_scopes(scopes: list[str]) -> None:
    known = set(known_scopes())
    for scope in scopes:
        if scope not in known:
            raise ClientError(f"scope: unknown scope {scope!r} (known: "
                              f"{' '.join(sorted(known))})")


def _check_jwks(jwks) -> dict:
    """A client's public JWK set, as private_key_jwt will read it; ClientError if not."""
    keys = jwks.get("keys") if isinstance(jwks, dict) else None
    if not isinstance(keys, list) or not keys:
        raise ClientError('jwks: a JWK set is required: {"keys": [...]} with at least one key')
    for index, key in enumerate(keys):
        if not isinstance(key, dict):
            raise ClientError(f"jwks: key {index + 1} is not a JSON object")
        name = f"key {key.get('kid')!r}" if key.get("kid") else f"key {index + 1}"
        if key.get("kty") not in CLIENT_KEY_TYPES:
            raise ClientError(f"jwks: {name}: kty must be one of "
                              f"{', '.join(CLIENT_KEY_TYPES)}, not {key.get('kty')!r}")
        if any(member in key for member in PRIVATE_MEMBERS):
            raise ClientError(f"jwks: {name} is a private key: register the public keys "
                              "only (and keep the private one secret)")
        try:
            KeySet.import_key_set({"keys": [key]})
        except (JoseError, ValueError, TypeError) as exc:
            detail = getattr(exc, "description", None) or str(exc)
            raise ClientError(f"jwks: {name} is not a valid {key['kty']} key: {detail}") \
                from exc
    return jwks


def sector_of(client: Client) -> str:
    """Return the sector identifier (host) under which pairwise subjects are computed."""
    if client.sector_identifier:
        return client.sector_identifier
    hosts = {urlsplit(u).hostname for u in client.redirect_uris}
    return sorted(hosts)[0] if hosts else client.client_id


def register(*, name: str, redirect_uris: list[str], post_logout_redirect_uris=(),
             backchannel_logout_uri=None, scopes=None, public=False, auth_method=None,
             subject_type="pairwise", sector_uri=None, id_token_alg="RS256",  # noqa: S107
             jwks=None, introspect_any=False,
             client_id=None) -> tuple[Client, str | None]:
    """Create a client; return it with its secret in clear (None for public clients).

    `introspect_any` registers a resource server that may introspect the tokens of every
    client (RFC 7662); without it a client may introspect only its own tokens. Scopes
    must be known to the provider; http URLs on loopback are refused in production.
    """
    name = (name or "").strip()
    if not name:
        raise ClientError("name: required")
    if not redirect_uris:
        raise ClientError("redirect_uri: at least one is required")
    loopback = not _in_production()
    redirect_uris = [_check_uri(u, "redirect_uri", loopback) for u in redirect_uris]
    post_logout = [_check_uri(u, "post_logout_redirect_uri", loopback)
                   for u in post_logout_redirect_uris]
    if backchannel_logout_uri:
        _check_uri(backchannel_logout_uri, "backchannel_logout_uri", loopback)
    auth_method = auth_method or ("none" if public else "client_secret_basic")
    if auth_method not in AUTH_METHODS:
        raise ClientError(f"auth_method: one of {', '.join(AUTH_METHODS)}")
    if public and auth_method != "none":
        raise ClientError("auth_method: a public client authenticates with 'none'")
    if not public and auth_method == "none":
        raise ClientError("auth_method: 'none' is only for public clients (--public)")
    if auth_method == "private_key_jwt" and not jwks:
        raise ClientError("jwks: private_key_jwt needs the client's public keys")
    if jwks is not None:
        _check_jwks(jwks)
    if subject_type not in ("public", "pairwise"):
        raise ClientError("subject_type: public or pairwise")
    if id_token_alg not in SIGNING_ALGS:
        raise ClientError(f"id_token_alg: one of {', '.join(SIGNING_ALGS)}")
    if introspect_any and public:
        raise ClientError(_PUBLIC_CANNOT_INTROSPECT)
    sector = None
    if sector_uri:
        sector = urlsplit(_check_uri(sector_uri, "sector_uri", loopback)).hostname
    elif subject_type == "pairwise":
        hosts = {urlsplit(u).hostname for u in redirect_uris}
        if len(hosts) > 1:
            raise ClientError(
                "sector_uri: required for pairwise subjects when redirect URIs span hosts"
            )
    scopes = list(dict.fromkeys(scopes or DEFAULT_SCOPES))
    _check_scopes(scopes)
    if "openid" not in scopes:
        scopes.insert(0, "openid")
    # Hex: a client id never starts with "-", which command lines would take for an option.
    client_id = client_id or secrets.token_hex(16)
    if db.session.execute(db.select(Client.id).where(Client.client_id == client_id)).first():
        raise ClientError(f"client_id: {client_id} already exists")
    secret = None if public or auth_method == "private_key_jwt" else secrets.token_urlsafe(32)
    grant_types = ["authorization_code"]
    if "offline_access" in scopes or not public:
        grant_types.append("refresh_token")
    client = Client(
        client_id=client_id,
        secret_hash=token_hash(secret) if secret else None,
        name=name,
        redirect_uris=redirect_uris,
        post_logout_redirect_uris=post_logout,
        backchannel_logout_uri=backchannel_logout_uri,
        scopes=scopes,
        grant_types=grant_types,
        public=public,
        token_endpoint_auth_method=auth_method,
        jwks=jwks,
        subject_type=subject_type,
        sector_identifier=sector,
        id_token_signed_response_alg=id_token_alg,
        extra={INTROSPECT_ANY: True} if introspect_any else {},
    )
    db.session.add(client)
    audit.record("client.registered", client_id=client_id, name=name,
                 introspect_any=bool(introspect_any))
    db.session.commit()
    return client, secret


def rotate_secret(client: Client) -> str:
    """Give a confidential client a new secret and return it in clear, once."""
    if client.public or client.token_endpoint_auth_method in ("none", "private_key_jwt"):
        raise ClientError("this client does not authenticate with a secret")
    secret = secrets.token_urlsafe(32)
    client.secret_hash = token_hash(secret)
    client.secret_rotated_at = utcnow()
    audit.record("client.secret_rotated", client_id=client.client_id)
    db.session.commit()
    return secret


def get(client_id: str | None) -> Client | None:
    """Return the client with this id, if any."""
    if not _plausible_id(client_id):
        return None
    return db.session.execute(_BY_ID, {"client_id": client_id}).scalar_one_or_none()


_BY_ID = select(Client).where(Client.client_id == bindparam("client_id"))


def _plausible_id(client_id) -> bool:
    # Ids come from headers and assertions too (HTTP Basic, client_assertion), which the
    # request hooks do not check for NUL, a character PostgreSQL refuses in text.
    return (bool(client_id) and isinstance(client_id, str) and len(client_id) <= 64
            and "\x00" not in client_id)


def lookup(client_id: str | None):
    """Return a read-only snapshot of the client for the protocol paths, or None.

    Every authorization, token and UserInfo request needs the client; reading it from
    memory saves a query on each. The snapshot has the Client columns as attributes but
    is not an ORM object: registrations are changed through `get` and the functions
    above, never through a snapshot.
    """
    if not _plausible_id(client_id):
        return None
    return _cache().get(client_id)


def reread(client_id: str | None):
    """Like `lookup`, but read from the database now (replacing the cached snapshot).

    For a client authentication that failed against a cached snapshot: the secret may
    have been rotated by another process since this worker cached the registration.
    """
    if not _plausible_id(client_id):
        return None
    return _cache().get(client_id, fresh=True)


def _cache() -> _ClientCache:
    cache = current_app.extensions.get("idp.client_cache")
    if cache is None or cache.generation != _changes.generation:
        cache = current_app.extensions["idp.client_cache"] = _ClientCache(_changes.generation)
    return cache


class _ClientCache:
    """Snapshots of client rows with the time they were read."""

    def __init__(self, generation: int):
        self.generation = generation
        self.entries: dict[str, tuple[float, SimpleNamespace]] = {}

    def get(self, client_id: str, fresh: bool = False):
        now = time.monotonic()
        entry = self.entries.get(client_id)
        if not fresh and entry is not None and now - entry[0] < CACHE_SECONDS:
            return entry[1]
        row = get(client_id)
        if row is None:
            # Unknown ids are not remembered: random ids must not fill the memory.
            self.entries.pop(client_id, None)
            return None
        if len(self.entries) >= CACHE_SIZE:
            self.entries.clear()
        snapshot = SimpleNamespace(
            **{attr.key: getattr(row, attr.key) for attr in inspect(Client).column_attrs}
        )
        self.entries[client_id] = (now, snapshot)
        return snapshot


class _Changes:
    """Counts the changes to client rows flushed by this process."""

    generation = 0


_changes = _Changes()


@event.listens_for(Session, "after_flush")
def _forget_changed_clients(session, flush_context):
    # Any write to a client row (services, CLI, console, tests) empties every cache of
    # this process at once, so a rotated secret or a removed client stops working here
    # immediately.
    for obj in chain(session.new, session.dirty, session.deleted):
        if isinstance(obj, Client):
            _changes.generation += 1
            return


def introspects_any(client) -> bool:
    """Tell whether the client (a row or a snapshot) may introspect other clients' tokens."""
    if getattr(client, "public", True):
        return False
    return (getattr(client, "extra", None) or {}).get(INTROSPECT_ANY) is True


def may_introspect(client, token_client_id: str) -> bool:
    """Tell whether the client may learn about a token issued to `token_client_id`.

    A confidential client may introspect the tokens issued to itself; only a client
    registered with `introspect_any` may introspect the tokens of other clients. Public
    clients never introspect.
    """
    if getattr(client, "public", True):
        return False
    return token_client_id == client.client_id or introspects_any(client)


def set_introspect_any(client: Client, value: bool) -> bool:
    """Allow or forbid a client to introspect other clients' tokens; return the value."""
    value = bool(value)
    if value and client.public:
        raise ClientError(_PUBLIC_CANNOT_INTROSPECT)
    if introspects_any(client) == value:
        return value
    extra = dict(client.extra or {})
    if value:
        extra[INTROSPECT_ANY] = True
    else:
        extra.pop(INTROSPECT_ANY, None)
    # A new object, so that the JSON column is seen as changed.
    client.extra = extra
    audit.record("client.introspection_changed", client_id=client.client_id,
                 introspect_any=value)
    db.session.commit()
    return value


def remove(client: Client) -> None:
    """Delete a client registration."""
    audit.record("client.removed", client_id=client.client_id)
    db.session.delete(client)
    db.session.commit()


def describe(client: Client) -> dict:
    """Return the registration as a JSON-ready dict (never the secret)."""
    return {
        "client_id": client.client_id,
        "name": client.name,
        "redirect_uris": client.redirect_uris,
        "post_logout_redirect_uris": client.post_logout_redirect_uris,
        "backchannel_logout_uri": client.backchannel_logout_uri,
        "scopes": client.scopes,
        "grant_types": client.grant_types,
        "public": client.public,
        "token_endpoint_auth_method": client.token_endpoint_auth_method,
        "subject_type": client.subject_type,
        "sector_identifier": client.sector_identifier,
        "id_token_signed_response_alg": client.id_token_signed_response_alg,
        "introspect_any": introspects_any(client),
    }


class OAuthClient(ClientMixin):
    """Authlib's view of a Client row."""

    def __init__(self, row: Client):
        self.row = row
        self.client_id = row.client_id
        self.id_token_signed_response_alg = row.id_token_signed_response_alg

    def get_client_id(self):
        """Return the client identifier."""
        return self.row.client_id

    def get_default_redirect_uri(self):
        """Return the only redirect URI, if exactly one is registered."""
        uris = self.row.redirect_uris
        return uris[0] if len(uris) == 1 else None

    def get_allowed_scope(self, scope):
        """Drop the scopes this client may not use (never an error that leaks data)."""
        if not scope:
            return "openid" if "openid" in self.row.scopes else ""
        allowed = set(self.row.scopes)
        return " ".join(s for s in dict.fromkeys(scope_to_list(scope)) if s in allowed)

    def check_redirect_uri(self, redirect_uri):
        """Exact match against the registered redirect URIs."""
        return redirect_uri in self.row.redirect_uris

    def check_client_secret(self, client_secret):
        """Compare the hash of the given secret in constant time.

        The row may be this worker's cached snapshot, and another process may have
        rotated the secret since (`idp clients rotate-secret`): a secret that does not
        match is checked once more against the registration read from the database,
        which then replaces the snapshot. A new secret thus works at once on every
        worker; an old one keeps working until the snapshot is refreshed (at most
        CACHE_SECONDS), or at once where the new one has been presented.
        """
        if not isinstance(client_secret, str):
            return False
        if self._matches(self.row, client_secret):
            return True
        fresh = reread(self.row.client_id)
        if fresh is None or fresh.secret_hash == self.row.secret_hash:
            return False
        self.row = fresh
        return self._matches(fresh, client_secret)

    @staticmethod
    def _matches(row, client_secret: str) -> bool:
        return bool(row.secret_hash) and same(token_hash(client_secret), row.secret_hash)

    def check_endpoint_auth_method(self, method, endpoint):
        """Allow only the registered method, at every authenticated endpoint."""
        return method == self.row.token_endpoint_auth_method

    def check_response_type(self, response_type):
        """Only the authorization code flow is offered."""
        return response_type == "code"

    def check_grant_type(self, grant_type):
        """Tell whether the client may use this grant type."""
        return grant_type in self.row.grant_types

    @property
    def public(self):
        """Tell whether the client is public (no credentials)."""
        return self.row.public
