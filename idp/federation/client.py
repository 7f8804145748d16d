"""An OpenID Connect client of FranceConnect (v2), configured by its issuer URL.

It validates everything it receives: the ID token's signature against the upstream
JWKS (refetched once on an unknown key id), an algorithm allow-list, `iss`, `aud`,
`exp`, `iat`, `nonce` and `acr`; the signed userinfo likewise. The back channel has
timeouts and retries; every failure is a FederationError with a reason, never a crash.
"""

from __future__ import annotations

import json
import logging
import secrets
import threading
import time
from dataclasses import dataclass
from urllib.parse import urlencode

import requests
from joserfc import jwt
from joserfc.errors import InvalidKeyIdError
from joserfc.errors import JoseError
from joserfc.jwk import KeySet

log = logging.getLogger(__name__)

ALLOWED_ALGS = ["ES256", "RS256"]
LEEWAY = 60
ACR_LEVELS = {"eidas1": 1, "eidas2": 2, "eidas3": 3}


class FederationError(Exception):
    """Upstream refused, was unreachable, or sent something that does not verify."""

    def __init__(self, reason: str, detail: str = ""):
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason = reason


@dataclass
class UpstreamLogin:
    """What a successful upstream login yields."""

    subject: str
    id_token: str
    claims: dict
    acr: str
    amr: list[str]


class FranceConnectClient:
    """Talks to FranceConnect: discovery, authorize URL, code exchange, userinfo."""

    def __init__(self, *, issuer: str, client_id: str, client_secret: str, redirect_uri: str,
                 post_logout_redirect_uri: str, scopes: str, acr: str = "eidas1",
                 timeout: float = 5.0, retries: int = 2, session: requests.Session | None = None):
        self.issuer = issuer.rstrip("/")
        self.client_id = client_id
        self.client_secret = client_secret
        self.redirect_uri = redirect_uri
        self.post_logout_redirect_uri = post_logout_redirect_uri
        self.scopes = scopes
        self.acr = acr
        self.timeout = timeout
        self.retries = retries
        self.http = session or requests.Session()
        self._metadata: dict | None = None
        self._metadata_at = 0.0
        self._keys: KeySet | None = None
        self._lock = threading.Lock()

    # -- back channel ---------------------------------------------------------------------

    def _request(self, method: str, url: str, *, retry: bool = True, **kwargs):
        attempts = self.retries + 1 if retry else 1
        last = "unreachable"
        for attempt in range(attempts):
            try:
                response = self.http.request(method, url, timeout=self.timeout,
                                             allow_redirects=False, **kwargs)
            except requests.Timeout:
                last = "timeout"
            except requests.RequestException as exc:
                last = exc.__class__.__name__
            else:
                if response.status_code < 500:
                    return response
                last = f"HTTP {response.status_code}"
            if attempt + 1 < attempts:
                time.sleep(0.2 * 2 ** attempt)
        raise FederationError("unavailable", last)

    def metadata(self) -> dict:
        """The upstream discovery document (cached for an hour)."""
        with self._lock:
            if self._metadata is not None and time.monotonic() - self._metadata_at < 3600:
                return self._metadata
        response = self._request("GET", f"{self.issuer}/.well-known/openid-configuration")
        try:
            data = response.json()
        except ValueError:
            raise FederationError("bad_metadata", "not JSON") from None
        if response.status_code != 200 or data.get("issuer") != self.issuer:
            raise FederationError("bad_metadata", "issuer mismatch or error")
        for key in ("authorization_endpoint", "token_endpoint", "jwks_uri"):
            if not isinstance(data.get(key), str):
                raise FederationError("bad_metadata", f"missing {key}")
        with self._lock:
            self._metadata, self._metadata_at = data, time.monotonic()
        return data

    def _keyset(self, refresh: bool = False) -> KeySet:
        with self._lock:
            if self._keys is not None and not refresh:
                return self._keys
        response = self._request("GET", self.metadata()["jwks_uri"])
        try:
            keys = KeySet.import_key_set(response.json())
        except (ValueError, JoseError, KeyError, TypeError):
            raise FederationError("bad_jwks") from None
        with self._lock:
            self._keys = keys
        return keys

    def _verify(self, token: str, what: str) -> dict:
        """Verify a JWS from upstream; refetch the keys once if the kid is unknown."""
        if not isinstance(token, str) or token.count(".") != 2:
            raise FederationError(f"bad_{what}", "not a signed JWT")
        for refresh in (False, True):
            keys = self._keyset(refresh=refresh)
            try:
                return jwt.decode(token, keys, algorithms=ALLOWED_ALGS).claims
            except InvalidKeyIdError:
                if refresh:
                    raise FederationError(f"bad_{what}", "unknown key id") from None
            except (JoseError, ValueError) as exc:
                raise FederationError(f"bad_{what}", exc.__class__.__name__) from None
        raise FederationError(f"bad_{what}")

    # -- front channel --------------------------------------------------------------------

    def new_state(self) -> dict:
        """Fresh state and nonce (FranceConnect wants at least 32 characters each)."""
        return {"state": secrets.token_urlsafe(32), "nonce": secrets.token_urlsafe(32)}

    def authorize_url(self, state: str, nonce: str, prompt: str | None = None) -> str:
        """The URL that sends the browser to FranceConnect."""
        params = {
            "response_type": "code", "client_id": self.client_id,
            "redirect_uri": self.redirect_uri, "scope": self.scopes, "state": state,
            "nonce": nonce, "acr_values": self.acr,
            "claims": json.dumps({"id_token": {"amr": {"essential": True}}}),
        }
        if prompt:
            params["prompt"] = prompt
        return f"{self.metadata()['authorization_endpoint']}?{urlencode(params)}"

    def end_session_url(self, id_token: str, state: str) -> str | None:
        """Where to send the browser to log out of FranceConnect (None if unsupported)."""
        endpoint = self.metadata().get("end_session_endpoint")
        if not endpoint:
            return None
        params = {"id_token_hint": id_token, "state": state,
                  "post_logout_redirect_uri": self.post_logout_redirect_uri}
        return f"{endpoint}?{urlencode(params)}"

    # -- the login ------------------------------------------------------------------------

    def complete(self, code: str, nonce: str) -> UpstreamLogin:
        """Exchange the code and validate the ID token and the userinfo."""
        meta = self.metadata()
        response = self._request("POST", meta["token_endpoint"], retry=False, data={
            "grant_type": "authorization_code", "code": code,
            "redirect_uri": self.redirect_uri, "client_id": self.client_id,
            "client_secret": self.client_secret,
        })
        try:
            body = response.json()
        except ValueError:
            raise FederationError("bad_token_response", "not JSON") from None
        if response.status_code != 200 or not isinstance(body, dict):
            raise FederationError("token_refused", str(body.get("error", ""))[:64]
                                  if isinstance(body, dict) else "")
        id_token, access_token = body.get("id_token"), body.get("access_token")
        if not isinstance(access_token, str) or not access_token:
            raise FederationError("bad_token_response", "no access token")
        claims = self._check_id_token(self._verify(id_token, "id_token"), nonce)
        userinfo = self.userinfo(access_token, claims["sub"])
        return UpstreamLogin(subject=claims["sub"], id_token=id_token, claims=userinfo,
                             acr=claims["acr"], amr=list(claims.get("amr") or []))

    def _check_id_token(self, claims: dict, nonce: str) -> dict:
        now = time.time()
        aud = claims.get("aud")
        audiences = [aud] if isinstance(aud, str) else (aud or [])
        problems = [
            (claims.get("iss") != self.issuer, "iss"),
            (self.client_id not in audiences, "aud"),
            (not isinstance(claims.get("exp"), (int, float)) or claims["exp"] < now - LEEWAY,
             "exp"),
            (not isinstance(claims.get("iat"), (int, float)) or claims["iat"] > now + LEEWAY,
             "iat"),
            (not isinstance(claims.get("sub"), str) or not claims.get("sub"), "sub"),
            (not isinstance(claims.get("nonce"), str) or claims["nonce"] != nonce, "nonce"),
            (ACR_LEVELS.get(claims.get("acr"), 0) < ACR_LEVELS.get(self.acr, 1), "acr"),
        ]
        for failed, name in problems:
            if failed:
                raise FederationError("bad_id_token", name)
        return claims

    def userinfo(self, access_token: str, subject: str) -> dict:
        """Fetch the identity; a signed JWT (FranceConnect v2) or JSON."""
        endpoint = self.metadata().get("userinfo_endpoint")
        if not endpoint:
            raise FederationError("bad_metadata", "no userinfo endpoint")
        response = self._request("GET", endpoint,
                                 headers={"Authorization": f"Bearer {access_token}"})
        if response.status_code != 200:
            raise FederationError("userinfo_refused", f"HTTP {response.status_code}")
        kind = response.headers.get("Content-Type", "").split(";")[0].strip()
        if kind == "application/jwt":
            claims = self._verify(response.text.strip(), "userinfo")
            if claims.get("iss") not in (None, self.issuer):
                raise FederationError("bad_userinfo", "iss")
            aud = claims.get("aud")
            if aud is not None and self.client_id not in ([aud] if isinstance(aud, str)
                                                          else aud):
                raise FederationError("bad_userinfo", "aud")
        else:
            try:
                claims = response.json()
            except ValueError:
                raise FederationError("bad_userinfo", "not JSON") from None
        if not isinstance(claims, dict) or claims.get("sub") != subject:
            raise FederationError("bad_userinfo", "sub")
        return claims
