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
from joserfc.jwk import KeySet

from idp.extensions import db
from idp.models import Token
from idp.models.base import utcnow
from idp.oauth import claims as claims_mapper
from idp.oauth import tokens
from idp.oauth.subject import subject_for
from idp.services import audit
from idp.services import clients as client_service
from idp.services.secrets import token_hash

ALL_AUTH_METHODS = ["client_secret_basic", "client_secret_post", "private_key_jwt", "none"]


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
        tokens.store(
            token,
            grant_id=grant_id,
            client_id=request.client.client_id,
            account=request.user,
            scope=token.get("scope") or origin.scope,
            origin=origin,
            access_ttl=cfg["ACCESS_TOKEN_TTL"],
            refresh_ttl=cfg["REFRESH_TOKEN_TTL"],
        )

    def authenticate_client(self, request, methods, endpoint="token"):
        """Authlib's client authentication, with malformed credentials made a 401."""
        try:
            return super().authenticate_client(request, methods, endpoint)
        except (ValueError, TypeError, UnicodeError) as exc:
            raise InvalidClientError(description="Malformed client credentials.") from exc

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
        """The keys registered with the client."""
        return KeySet.import_key_set(client.row.jwks or {"keys": []})


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
            scope=token.get("scope") or origin.scope,
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


class Revocation(RevocationEndpoint):
    """RFC 7009: revoking a refresh token revokes its whole chain."""

    CLIENT_AUTH_METHODS = ALL_AUTH_METHODS

    def query_token(self, token_string, token_type_hint):
        """Find a token by its access or refresh value."""
        finders = [tokens.find_refresh, _find_access_any]
        if token_type_hint == "access_token":  # noqa: S105 - a hint name, not a secret
            finders.reverse()
        for finder in finders:
            row = finder(token_string)
            if row is not None:
                row._matched = finder
                return row
        return None

    def revoke_token(self, token, request):
        """Revoke an access token alone, or a refresh token with its chain."""
        if getattr(token, "_matched", None) is tokens.find_refresh:
            tokens.revoke_grant(token.grant_id, reason="revocation_endpoint")
        else:
            tokens.revoke(token, reason="revocation_endpoint")
        db.session.commit()


def _find_access_any(value):
    if not value or not isinstance(value, str) or len(value) > 256:
        return None
    return db.session.execute(
        db.select(Token).where(Token.access_token_hash == token_hash(value))
    ).scalar_one_or_none()


class Introspection(IntrospectionEndpoint):
    """RFC 7662 for resource servers registered as clients."""

    CLIENT_AUTH_METHODS = ["client_secret_basic", "client_secret_post", "private_key_jwt"]

    def __init__(self, server, provider):
        super().__init__(server)
        self.provider = provider

    def query_token(self, token_string, token_type_hint):
        """Find a token by its access or refresh value."""
        return _find_access_any(token_string) or tokens.find_refresh(token_string)

    def check_permission(self, token, client, request):
        """Any authenticated confidential client may introspect."""
        return not client.public

    def introspect_token(self, token):
        """Describe a token; inactive ones say only that."""
        now = utcnow()
        expires = token.access_expires_at
        if token.refresh_token_hash and token.refresh_expires_at and token.refresh_used_at is None:
            expires = max(expires, token.refresh_expires_at)
        if token.revoked_at is not None or expires <= now or token.account.status == "disabled":
            return {"active": False}
        client = client_service.lookup(token.client_id)
        sub = subject_for(token.account, client, self.provider.config["PAIRWISE_SALT"])
        return {
            "active": True,
            "scope": token.scope,
            "client_id": token.client_id,
            "username": token.account.identifier,
            "token_type": "Bearer",
            "exp": int(expires.timestamp()),
            "iat": int(token.issued_at.timestamp()),
            "sub": sub,
            "aud": token.client_id,
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
