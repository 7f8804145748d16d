"""Authlib's authorization server wired to our models and services.

Authlib validates the protocol (RFC 6749, 7636, 7009, 7662, 7523, OIDC Core); this
module supplies storage, token formats and the ID token contents.
"""

from __future__ import annotations

import secrets
import time
from datetime import timedelta

from authlib.integrations.flask_oauth2 import AuthorizationServer
from authlib.integrations.flask_oauth2.requests import FlaskOAuth2Request
from authlib.oauth2.rfc6749 import InvalidClientError
from authlib.oauth2.rfc6749 import InvalidGrantError
from authlib.oauth2.rfc6749 import InvalidRequestError
from authlib.oauth2.rfc6749 import OAuth2Request
from authlib.oauth2.rfc6749 import grants
from authlib.oauth2.rfc6749.requests import BasicOAuth2Payload
from authlib.oauth2.rfc7009 import RevocationEndpoint
from authlib.oauth2.rfc7523 import JWTBearerClientAssertion
from authlib.oauth2.rfc7636 import CodeChallenge
from authlib.oauth2.rfc7662 import IntrospectionEndpoint
from authlib.oauth2.rfc9207 import IssuerParameter
from authlib.oidc.core.grants import OpenIDCode
from authlib.oidc.core.grants import OpenIDToken
from authlib.oidc.core.util import create_half_hash
from flask import g
from flask import request as flask_request
from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import KeySet

from idp.extensions import db
from idp.models.base import utcnow
from idp.oauth import claims as claims_mapper
from idp.oauth import tokens
from idp.oauth.subject import subject_for
from idp.services import audit
from idp.services import clients as client_service
from idp.services.secrets import token_hash

ALL_AUTH_METHODS = ["client_secret_basic", "client_secret_post", "private_key_jwt", "none"]
# What a private_key_jwt assertion may be signed with (advertised in discovery).
ASSERTION_ALGORITHMS = ["RS256", "ES256"]


class ParamsOAuth2Request(OAuth2Request):
    """An authorization request rebuilt from stored parameters (to resume a flow)."""

    def __init__(self, params: dict):
        super().__init__("GET", flask_request.url, headers=flask_request.headers)
        self.payload = BasicOAuth2Payload(params)
        self._params = params

    @property
    def args(self):
        """Parameters of the original request."""
        return self._params

    @property
    def form(self):
        """No form: the parameters are in args."""
        return {}


class Server(AuthorizationServer):
    """Our authorization server: knows the provider's services."""

    def __init__(self, provider):
        super().__init__()
        self.provider = provider
        self._query_client = self._load_client
        self._save_token = self._store_token

    def _load_client(self, client_id):
        row = client_service.lookup(client_id)
        return client_service.OAuthClient(row) if row else None

    def create_oauth2_request(self, request):
        """Accept a prepared request, or read the current Flask request."""
        if isinstance(request, OAuth2Request):
            return request
        return FlaskOAuth2Request(flask_request)

    def _store_token(self, token, request):
        cfg = self.provider.config
        origin = request.authorization_code or request.refresh_token
        if request.authorization_code is not None:
            grant_id = code_grant_id(request.authorization_code)
        else:
            grant_id = request.refresh_token.grant_id
        granted = origin.get_scope()
        tokens.store(
            token,
            grant_id=grant_id,
            client_id=request.client.client_id,
            account=request.user,
            # A refresh may ask for less: the access token gets what was asked, the new
            # refresh token keeps the grant's scope (RFC 6749 section 6).
            scope=token.get("scope") or granted,
            refresh_scope=granted,
            origin=origin,
            access_ttl=cfg["ACCESS_TOKEN_TTL"],
            refresh_ttl=cfg["REFRESH_TOKEN_TTL"],
        )

    def create_token_response(self, request=None):
        """Authlib's token endpoint, refusing repeated parameters first (RFC 6749 3.2)."""
        request = self.create_oauth2_request(request)
        # Authlib reads the first of repeated values: `code=a&code=b` would be redeemed
        # as `a`. Only the parameters read here count: extensions may repeat theirs
        # (RFC 8707 `resource`).
        if _repeated(request, TOKEN_PARAMS):
            error = InvalidRequestError("Parameters must not be repeated.")
            return self.handle_error_response(request, error)
        if not request.payload.grant_type:
            # Authlib would answer unsupported_grant_type; a missing parameter is an
            # invalid request (RFC 6749 5.2).
            error = InvalidRequestError("grant_type is required.")
            return self.handle_error_response(request, error)
        return super().create_token_response(request)

    def authenticate_client(self, request, methods, endpoint="token"):
        """Authlib's client authentication (token, revocation and introspection), with
        one method per request and a client_id that names the authenticated client."""
        # Authlib takes the first method that succeeds and ignores the others: a Basic
        # header for one client would pass with another's client_id or assertion in the
        # body. RFC 6749 2.3: one authentication method per request.
        if _auth_methods_presented(request) > 1:
            raise InvalidRequestError("Use one client authentication method per request.")
        try:
            client = super().authenticate_client(request, methods, endpoint)
        except InvalidClientError as exc:
            # Always 401 (RFC 6749 5.2 allows it for any method), as the guide says.
            exc.status_code = 401
            raise
        except (ValueError, TypeError, UnicodeError) as exc:
            # Undecodable credentials (Basic that is not UTF-8). RFC 6749 5.2: a client
            # that tried the Authorization header gets a 401, which InvalidClientError
            # sends with `WWW-Authenticate: Basic`.
            status = 401 if request.headers.get("Authorization") else 400
            raise InvalidClientError(status_code=status,
                                     description="Malformed client credentials.") from exc
        if any(value and value != client.client_id
               for value in request.payload.datalist.get("client_id", [])):
            raise InvalidRequestError("client_id names another client than the one that "
                                      "authenticated.")
        return client

    def send_signal(self, name, *args, **kwargs):
        """Signals are not used: audit events are recorded by the services."""


class AuthorizationCodeGrant(grants.AuthorizationCodeGrant):
    """The code grant: codes are single use, short-lived and stored as hashes."""

    TOKEN_ENDPOINT_AUTH_METHODS = ALL_AUTH_METHODS

    def generate_authorization_code(self):
        """A random code of 256 bits (Authlib draws it character by character)."""
        return secrets.token_urlsafe(32)

    def save_authorization_code(self, code, request):
        """Store the code's hash with everything the token response will need."""
        sso = request.sso
        data = request.payload.data
        tokens.save_code(
            code,
            client_id=request.client.client_id,
            account_id=request.user.id,
            redirect_uri=request.payload.redirect_uri,
            scope=request.scope,
            nonce=data.get("nonce"),
            code_challenge=data.get("code_challenge"),
            code_challenge_method=data.get("code_challenge_method"),
            claims_request=request.claims_request,
            auth_time=sso.auth_time,
            acr=sso.acr,
            amr=sso.amr,
            sid=sso.sid,
            expires_at=utcnow() + timedelta(seconds=self.server.provider.config[
                "AUTHORIZATION_CODE_TTL"]),
        )

    def query_authorization_code(self, code, client):
        """Consume the code atomically; a replay revokes what it issued."""
        row, outcome = tokens.claim_code(code, client.client_id)
        if outcome == "ok":
            # Spent even if a later check (PKCE verifier, redirect URI) fails and the
            # request's transaction is rolled back: the token view spends it again.
            g.spent_code_hash = row.code_hash
            return row
        if outcome == "replayed":
            tokens.revoke_grant(code_grant_id(row), reason="code_replayed")
            audit.record("code.replayed", client_id=client.client_id, account_id=row.account_id)
            db.session.commit()
        else:
            audit.record("code.rejected", client_id=client.client_id, reason=outcome)
            db.session.commit()
        return None

    def delete_authorization_code(self, authorization_code):
        """Nothing to do: the code was consumed when it was queried."""

    def authenticate_user(self, authorization_code):
        """Return the account unless it was disabled since."""
        account = authorization_code.account
        return account if account.status != "disabled" else None

    def generate_token(self, user=None, scope=None, grant_type=None, expires_in=None,
                       include_refresh_token=True):
        """Issue tokens; a refresh token only with offline_access or for confidential use."""
        return super().generate_token(
            user=user, scope=scope, grant_type=grant_type, expires_in=expires_in,
            include_refresh_token=include_refresh_token and _wants_refresh(self.request, scope),
        )


# What the token, revocation and introspection endpoints read.
CLIENT_AUTH_PARAMS = ("client_id", "client_secret", "client_assertion", "client_assertion_type")
TOKEN_PARAMS = ("grant_type", "code", "redirect_uri", "code_verifier", "refresh_token",
                "scope", *CLIENT_AUTH_PARAMS)
TOKEN_LOOKUP_PARAMS = ("token", "token_type_hint", *CLIENT_AUTH_PARAMS)


def _repeated(request, names) -> bool:
    """Tell whether one of these parameters is sent twice (RFC 6749 3.2), in the query
    and the body together; empty values count as omitted."""
    datalist = request.payload.datalist
    return any(len([v for v in datalist.get(name, ()) if v]) > 1 for name in names)


def _auth_methods_presented(request) -> int:
    """How many client authentication methods a request carries (empty values are
    omitted ones, RFC 6749 3.2)."""
    form = request.form
    scheme = (request.headers.get("Authorization") or "").split(None, 1)
    return sum((
        bool(scheme) and scheme[0].lower() == "basic",
        bool(form.get("client_secret")),
        bool(form.get("client_assertion") or form.get("client_assertion_type")),
    ))


def code_grant_id(code) -> str:
    """The grant id of the chain a code starts: derived from it, so a replay finds it."""
    return token_hash(f"code:{code.code_hash}")


def _wants_refresh(request, scope) -> bool:
    client = request.client
    scopes = (scope or "").split()
    return "offline_access" in scopes or not client.public


class RefreshTokenGrant(grants.RefreshTokenGrant):
    """Refresh tokens rotate; reuse of a rotated one revokes the whole chain."""

    TOKEN_ENDPOINT_AUTH_METHODS = ALL_AUTH_METHODS
    INCLUDE_NEW_REFRESH_TOKEN = True

    def authenticate_refresh_token(self, refresh_token):
        """Find and claim the refresh token atomically."""
        row = tokens.find_refresh(refresh_token)
        client = self.request.client
        if row is None or row.client_id != client.client_id:
            return None
        if row.refresh_used_at is not None or row.revoked_at is not None:
            if row.refresh_used_at is not None:
                tokens.revoke_grant(row.grant_id, reason="refresh_reused")
                audit.record("refresh.reused", account=row.account, client_id=row.client_id)
                db.session.commit()
            return None
        if row.refresh_expires_at is None or row.refresh_expires_at <= utcnow():
            return None
        if not tokens.claim_refresh(row):
            # A parallel request used it first: that is a reuse too.
            db.session.rollback()
            tokens.revoke_grant(row.grant_id, reason="refresh_reused")
            db.session.commit()
            return None
        return row

    def authenticate_user(self, refresh_token):
        """Return the account unless it was disabled since."""
        account = refresh_token.account
        return account if account.status != "disabled" else None

    def revoke_old_credential(self, refresh_token):
        """The old access token dies with the rotation."""
        refresh_token.revoked_at = utcnow()


class PrivateKeyJWT(JWTBearerClientAssertion):
    """private_key_jwt client authentication (RFC 7523, OIDC Core 9)."""

    CLIENT_AUTH_METHOD = "private_key_jwt"

    def __init__(self, provider):
        super().__init__(validate_jti=True, leeway=30)
        self.provider = provider

    def get_audiences(self):
        """The issuer and the token endpoint are both acceptable audiences."""
        issuer = self.provider.config["ISSUER"]
        return [issuer, issuer + "/token", flask_request.base_url]

    def validate_jti(self, claims, jti):
        """Accept each assertion once within its lifetime."""
        if not isinstance(jti, str) or len(jti) > 200 or "\x00" in jti + str(claims["sub"]):
            return False
        # Remembered until the assertion has expired (plus the leeway): never a window
        # boundary through which a replay could slip.
        lifetime = max(60, int(claims.get("exp", 0)) - int(time.time()) + 60)
        return self.provider.ratelimiter.first_use(f"jti:{claims['sub']}:{jti}", lifetime)

    def resolve_client_public_key(self, client):
        """The keys registered with the client; a client without any cannot use this
        method (invalid_client, not a server error)."""
        keys = (client.row.jwks or {}).get("keys")
        if not keys:
            raise InvalidClientError(description="Client authentication failed.")
        try:
            return KeySet.import_key_set({"keys": keys})
        except (JoseError, ValueError, TypeError) as exc:
            raise InvalidClientError(description="Client authentication failed.") from exc

    def process_assertion_claims(self, assertion, resolve_key):
        """Verify the assertion, signed with one of the advertised algorithms only."""
        try:
            token = jwt.decode(assertion, resolve_key, algorithms=ASSERTION_ALGORITHMS)
        except JoseError as exc:
            raise InvalidClientError(description=exc.description) from exc
        self.verify_claims(token.claims)
        return token.claims


class IdToken(OpenIDCode):
    """ID tokens: OIDC Core 2 claims, pairwise `sub`, signed with the client's algorithm."""

    def __init__(self, provider, require_nonce=False):
        super().__init__(require_nonce=require_nonce)
        self.provider = provider

    def exists_nonce(self, nonce, request):
        """Nonces are the client's to check; we do not refuse repeated ones."""
        return False

    def encode_id_token(self, token, request):
        """Build and sign the ID token for a token response."""
        origin = request.authorization_code or request.refresh_token
        return self.provider.id_tokens.encode(
            client=request.client.row,
            account=request.user,
            scope=token.get("scope") or origin.get_scope(),
            auth_time=origin.auth_time,
            acr=origin.acr,
            amr=origin.amr,
            sid=origin.sid,
            nonce=origin.nonce if request.authorization_code else None,
            access_token=token.get("access_token"),
            claims_request=(origin.claims_request or {}).get("id_token"),
        )


class RefreshIdToken(OpenIDToken):
    """An ID token in refresh responses too (OIDC Core 12.2)."""

    def __init__(self, provider):
        self.provider = provider

    encode_id_token = IdToken.encode_id_token


class IdTokenEncoder:
    """Sign ID tokens and logout tokens with the provider's keys."""

    def __init__(self, provider):
        self.provider = provider

    def encode(self, *, client, account, scope, auth_time, acr, amr, sid, nonce,
               access_token, claims_request):
        """Return a signed ID token."""
        cfg = self.provider.config
        alg = client.id_token_signed_response_alg or "RS256"
        kid, key = self.provider.keys.signing_key(alg)
        now = int(time.time())
        sub = subject_for(account, client, cfg["PAIRWISE_SALT"])
        claims = {
            "iss": cfg["ISSUER"],
            "sub": sub,
            "aud": client.client_id,
            "exp": now + cfg["ID_TOKEN_TTL"],
            "iat": now,
            "auth_time": auth_time,
        }
        if nonce:
            claims["nonce"] = nonce
        if acr:
            claims["acr"] = acr
        if amr:
            claims["amr"] = list(amr)
        if sid:
            claims["sid"] = sid
        if access_token:
            claims["at_hash"] = create_half_hash(access_token, alg).decode("ascii")
        if claims_request:
            ctx = claims_mapper.ClaimsContext(account=account, client=client, sub=sub)
            extra = claims_mapper.build(ctx, scope.split(), claims_request, by_scope=False)
            for name, value in extra.items():
                claims.setdefault(name, value)
        return jwt.encode({"alg": alg, "kid": kid, "typ": "JWT"}, claims, key, [alg])

    def sign(self, claims: dict, alg: str, typ: str) -> str:
        """Sign arbitrary claims (logout tokens) with the active key for alg."""
        kid, key = self.provider.keys.signing_key(alg)
        return jwt.encode({"alg": alg, "kid": kid, "typ": typ}, claims, key, [alg])


class _TokenLookup:
    """Finding the token presented to revocation or introspection."""

    def check_params(self, request, client):
        """Require `token`; an unknown `token_type_hint` is ignored, not an error.

        RFC 7009 2.1 and RFC 7662 2.1: the hint only helps the search, which extends to
        every type when the hint does not find the token.
        """
        if "token" not in request.form:
            raise InvalidRequestError("Missing 'token' parameter.")
        # `token=a&token=b` would act on `a` while the client believes it acted on `b`.
        if _repeated(request, TOKEN_LOOKUP_PARAMS):
            raise InvalidRequestError("Parameters must not be repeated.")

    def query_token(self, token_string, token_type_hint):
        """Find a token by its access or refresh value, and remember which it is."""
        return tokens.find_presented(token_string, token_type_hint)


class Revocation(_TokenLookup, RevocationEndpoint):
    """RFC 7009: revoking a refresh token revokes its whole chain."""

    CLIENT_AUTH_METHODS = ALL_AUTH_METHODS

    def revoke_token(self, token, request):
        """Revoke an access token with the refresh token issued beside it (one row), or
        a refresh token with its whole chain (RFC 7009 2.1 allows both)."""
        if token.kind == tokens.REFRESH_TOKEN:
            tokens.revoke_grant(token.row.grant_id, reason="revocation_endpoint")
        else:
            tokens.revoke(token.row, reason="revocation_endpoint")
        db.session.commit()


class Introspection(_TokenLookup, IntrospectionEndpoint):
    """RFC 7662 for confidential clients: their own tokens, or any token for a client
    registered as a resource server (`introspect_any`)."""

    CLIENT_AUTH_METHODS = ["client_secret_basic", "client_secret_post", "private_key_jwt"]

    def __init__(self, server, provider):
        super().__init__(server)
        self.provider = provider

    def check_permission(self, token, client, request):
        """RFC 7662 section 4: a client learns only about the tokens issued to itself,
        unless it is registered with `introspect_any`; public clients never.

        A refusal is answered `{"active": false}`, as for an unknown token: another
        client's token, its `username` and its pairwise `sub` stay hidden, and so does
        the token's existence.
        """
        return client_service.may_introspect(client.row, token.row.client_id)

    def create_introspection_payload(self, token):
        """Describe the token presented, or say only that it is inactive."""
        # Authlib's version first asks the row whether it expired, which answers for
        # the access token even when the value presented is the refresh token.
        if token is None:
            return {"active": False}
        return self.introspect_token(token)

    def introspect_token(self, token):
        """RFC 7662 2.2 for the access or refresh token presented, never its sibling."""
        expires = token.live_until()
        row = token.row
        client = client_service.lookup(row.client_id) if expires else None
        if client is None:
            return {"active": False}
        sub = subject_for(row.account, client, self.provider.config["PAIRWISE_SALT"])
        return {
            "active": True,
            "scope": token.scope,
            "client_id": row.client_id,
            "username": row.account.identifier,
            # Not "Bearer" for a refresh token: a resource server must not take it for
            # an access token.
            "token_type": "Bearer" if token.kind == tokens.ACCESS_TOKEN else token.kind,
            "exp": int(expires.timestamp()),
            "iat": int(row.issued_at.timestamp()),
            "sub": sub,
            "aud": row.client_id,
            "iss": self.provider.config["ISSUER"],
        }


class Issuer(IssuerParameter):
    """RFC 9207: `iss` in every authorization response."""

    def __init__(self, issuer):
        self.issuer = issuer

    def get_issuer(self):
        """Return our issuer identifier."""
        return self.issuer


def build_server(app, provider) -> Server:
    """Create the authorization server with our grants, endpoints and extensions."""
    server = Server(provider)
    server.init_app(app)
    ttl = app.config["ACCESS_TOKEN_TTL"]
    server.register_token_generator(
        "default",
        lambda grant_type, client, user=None, scope=None, expires_in=None,
        include_refresh_token=True: {
            **tokens.generate(include_refresh_token, ttl),
            **({"scope": scope} if scope else {}),
        },
    )
    server.register_grant(
        AuthorizationCodeGrant, [CodeChallenge(required=True), IdToken(provider)]
    )
    server.register_grant(RefreshTokenGrant, [RefreshIdToken(provider)])
    server.register_client_auth_method("private_key_jwt", PrivateKeyJWT(provider))
    server.register_endpoint(Revocation(server))
    server.register_endpoint(Introspection(server, provider))
    server.register_extension(Issuer(app.config["ISSUER"]))
    return server


__all__ = ["InvalidGrantError", "ParamsOAuth2Request", "build_server"]
