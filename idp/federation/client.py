"""An OpenID Connect client of FranceConnect (v2), configured by its issuer URL.

It validates everything it receives: the ID token's signature against the upstream
JWKS (refetched once on an unknown key id), an algorithm allow-list, the type and value
of `iss`, `aud`, `azp`, `exp`, `iat`, `nbf`, `nonce`, `acr`, `amr`, `auth_time` and
`sub`; the userinfo must be a JWT signed likewise, for us (`iss`, `aud`), about the same
`sub`. The back channel has timeouts, retries, an overall deadline per exchange and a
size limit on what it reads; every failure is a FederationError with a reason, never a
crash.
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
import urllib3
from joserfc import jwt
from joserfc.errors import InvalidKeyIdError
from joserfc.errors import JoseError
from joserfc.jwk import KeySet

from idp.services.sealing import SealError
from idp.services.sealing import seal
from idp.services.sealing import unseal

log = logging.getLogger(__name__)

ALLOWED_ALGS = ["ES256", "RS256"]
LEEWAY = 60
ACR_LEVELS = {"eidas1": 1, "eidas2": 2, "eidas3": 3}
# An exchange with FranceConnect (all the attempts of one request, connection, headers
# and body) ends by this many times the per-read timeout; a body may be this long.
DEADLINE_FACTOR = 3
MAX_BODY = 1024 * 1024
READ_SIZE = 16 * 1024
# An `auth_time` older than this is not believed (FranceConnect's sessions last 30
# minutes): the login then counts from its return here.
MAX_UPSTREAM_AUTH_AGE = 24 * 3600
MAX_SUBJECT = 255  # federated_identities.subject
MAX_AMR = 16
# The identity claims we read: strings, of a sane length, when present.
STRING_CLAIMS = ("given_name", "family_name", "preferred_username", "birthdate", "gender",
                 "birthplace", "birthcountry", "email")
MAX_CLAIM = 256
SEAL_PURPOSE = b"fc-id-token"


class FederationError(Exception):
    """Upstream refused, was unreachable, or sent something that does not verify."""

    def __init__(self, reason: str, detail: str = ""):
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason = reason


class _Deadline(Exception):
    """The exchange's overall deadline passed while its answer was being read."""


@dataclass
class UpstreamLogin:
    """What a successful upstream login yields."""

    subject: str
    id_token: str
    claims: dict
    acr: str
    amr: list[str]
    # When the person authenticated at FranceConnect (its `auth_time` when believable,
    # else the moment the login came back here).
    auth_time: int | None = None


@dataclass
class Reply:
    """An upstream answer, read whole within the deadline and the size limit."""

    status_code: int
    headers: requests.structures.CaseInsensitiveDict
    content: bytes

    @property
    def text(self) -> str:
        return self.content.decode("utf-8", "replace")

    def json(self):
        """The body as JSON (ValueError if it is not)."""
        return json.loads(self.content)


def _number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _audiences(value) -> list[str] | None:
    """`aud` as a list of strings, or None when it is neither a string nor one."""
    if isinstance(value, str):
        return [value]
    if isinstance(value, list) and value and all(isinstance(a, str) for a in value):
        return value
    return None


class FranceConnectClient:
    """Talks to FranceConnect: discovery, authorize URL, code exchange, userinfo."""

    def __init__(self, *, issuer: str, client_id: str, client_secret: str, redirect_uri: str,
                 post_logout_redirect_uri: str, scopes: str, acr: str = "eidas1",
                 timeout: float = 5.0, retries: int = 2, session: requests.Session | None = None,
                 deadline: float | None = None, max_body: int = MAX_BODY,
                 seal_secret: str):
        self.issuer = issuer.rstrip("/")
        # Seals the upstream ID tokens we keep (sessions, flows): the application secret.
        self.seal_secret = seal_secret
        self.client_id = client_id
        self.client_secret = client_secret
        self.redirect_uri = redirect_uri
        self.post_logout_redirect_uri = post_logout_redirect_uri
        self.scopes = scopes
        self.acr = acr
        self.timeout = timeout
        self.retries = retries
        self.deadline = deadline or DEADLINE_FACTOR * timeout
        self.max_body = max_body
        self.http = session or requests.Session()
        self._metadata: dict | None = None
        self._metadata_at = 0.0
        self._keys: KeySet | None = None
        self._lock = threading.Lock()

    # -- back channel ---------------------------------------------------------------------

    def _request(self, method: str, url: str, *, retry: bool = True, **kwargs) -> Reply:
        """One exchange: its attempts, and the reading of the answer, end by the deadline
        (give or take one read timeout); an answer longer than max_body is refused."""
        attempts = self.retries + 1 if retry else 1
        deadline = time.monotonic() + self.deadline
        last = "unreachable"
        for attempt in range(attempts):
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                last = "deadline"
                break
            try:
                reply = self._exchange(method, url, deadline, min(self.timeout, remaining),
                                       **kwargs)
            except _Deadline:
                last = "deadline"
                break
            except (requests.Timeout, urllib3.exceptions.TimeoutError):
                last = "timeout"
            except (requests.RequestException, urllib3.exceptions.HTTPError, OSError) as exc:
                last = exc.__class__.__name__
            else:
                if reply.status_code < 500:
                    return reply
                last = f"HTTP {reply.status_code}"
            if attempt + 1 < attempts:
                pause = 0.2 * 2 ** attempt
                if time.monotonic() + pause >= deadline:
                    break
                time.sleep(pause)
        raise FederationError("unavailable", last)

    def _exchange(self, method: str, url: str, deadline: float, timeout: float,
                  **kwargs) -> Reply:
        """Send one request and read its answer in pieces, watching the clock and the
        size (a slow drip or a huge body must not hold a worker or its memory)."""
        with self.http.request(method, url, timeout=timeout, allow_redirects=False,
                               stream=True, **kwargs) as response:
            length = response.headers.get("Content-Length", "")
            if length.isdigit() and int(length) > self.max_body:
                raise FederationError("too_large", f"Content-Length {length}")
            chunks, size = [], 0
            while True:
                if time.monotonic() > deadline:
                    log.warning("FranceConnect answer not read by the deadline: %s", url)
                    raise _Deadline()
                chunk = response.raw.read1(READ_SIZE, decode_content=True)
                if not chunk:
                    break
                size += len(chunk)
                if size > self.max_body:
                    raise FederationError("too_large", f"more than {self.max_body} bytes")
                chunks.append(chunk)
            return Reply(response.status_code, response.headers, b"".join(chunks))

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
        if response.status_code != 200 or not isinstance(data, dict) \
                or data.get("issuer") != self.issuer:
            raise FederationError("bad_metadata", "issuer mismatch or error")
        for key in ("authorization_endpoint", "token_endpoint", "jwks_uri"):
            if not isinstance(data.get(key), str):
                raise FederationError("bad_metadata", f"missing {key}")
        for key in ("userinfo_endpoint", "end_session_endpoint"):
            if data.get(key) is not None and not isinstance(data[key], str):
                raise FederationError("bad_metadata", f"bad {key}")
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
        except (ValueError, JoseError, KeyError, TypeError, AttributeError):
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
                claims = jwt.decode(token, keys, algorithms=ALLOWED_ALGS).claims
            except InvalidKeyIdError:
                if refresh:
                    raise FederationError(f"bad_{what}", "unknown key id") from None
            except (JoseError, ValueError, TypeError) as exc:
                raise FederationError(f"bad_{what}", exc.__class__.__name__) from None
            else:
                if not isinstance(claims, dict):
                    raise FederationError(f"bad_{what}", "not a JSON object")
                return claims
        raise FederationError(f"bad_{what}")

    # -- front channel --------------------------------------------------------------------

    def new_state(self) -> dict:
        """Fresh state and nonce (FranceConnect wants at least 32 characters each)."""
        return {"state": secrets.token_urlsafe(32), "nonce": secrets.token_urlsafe(32)}

    def seal_id_token(self, id_token: str) -> str:
        """An upstream ID token as kept on our side (a session, a flow): sealed with the
        application secret. FranceConnect's logout needs it back as `id_token_hint`."""
        return seal(self.seal_secret, SEAL_PURPOSE, id_token, "franceconnect")

    def open_id_token(self, value) -> str | None:
        """The ID token a sealed value holds; None when it cannot be opened (another secret
        key, tampering). A clear token, kept by a session opened before sealing, is taken
        as it is."""
        if not isinstance(value, str) or not value:
            return None
        if value.count(".") == 2:
            return value
        try:
            return unseal(self.seal_secret, SEAL_PURPOSE, value, "franceconnect")
        except SealError:
            return None

    def authorize_url(self, state: str, nonce: str, prompt: str | None = None) -> str:
        """The URL that sends the browser to FranceConnect (prompt="login" makes it ask
        the person to authenticate again, whatever its single sign-on)."""
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
        """Where to send the browser to log out of FranceConnect (None if unsupported, or
        when the ID token kept, sealed, cannot be opened)."""
        endpoint = self.metadata().get("end_session_endpoint")
        hint = self.open_id_token(id_token)
        if not endpoint or hint is None:
            return None
        params = {"id_token_hint": hint, "state": state,
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
        token_type = body.get("token_type")
        if token_type is not None and (not isinstance(token_type, str)
                                       or token_type.lower() != "bearer"):
            raise FederationError("bad_token_response", "token_type")
        claims = self._check_id_token(self._verify(id_token, "id_token"), nonce)
        userinfo = self.userinfo(access_token, claims["sub"])
        return UpstreamLogin(subject=claims["sub"], id_token=id_token, claims=userinfo,
                             acr=claims["acr"], amr=list(claims.get("amr") or []),
                             auth_time=self._auth_time(claims))

    def _check_id_token(self, claims: dict, nonce: str) -> dict:
        """OpenID Connect Core 3.1.3.7 and RFC 7519 4.1: each claim of the right type and
        value (a claim of the wrong type is refused like a wrong one)."""
        now = time.time()
        audiences = _audiences(claims.get("aud"))
        azp = claims.get("azp")
        amr = claims.get("amr")
        problems = [
            (claims.get("iss") != self.issuer, "iss"),
            (audiences is None or self.client_id not in audiences, "aud"),
            # Several audiences: the party it was issued to must be named, and be us.
            (audiences is not None and len(set(audiences)) > 1 and azp is None, "azp"),
            (azp is not None and azp != self.client_id, "azp"),
            (not _number(claims.get("exp")) or claims["exp"] < now - LEEWAY, "exp"),
            (not _number(claims.get("iat")) or claims["iat"] > now + LEEWAY, "iat"),
            ("nbf" in claims and (not _number(claims["nbf"])
                                  or claims["nbf"] > now + LEEWAY), "nbf"),
            (not isinstance(claims.get("sub"), str) or not claims["sub"]
             or len(claims["sub"]) > MAX_SUBJECT, "sub"),
            (not isinstance(claims.get("nonce"), str) or claims["nonce"] != nonce, "nonce"),
            (not isinstance(claims.get("acr"), str)
             or ACR_LEVELS.get(claims["acr"], 0) < ACR_LEVELS.get(self.acr, 1), "acr"),
            (amr is not None and (not isinstance(amr, list) or len(amr) > MAX_AMR or not all(
                isinstance(m, str) and 0 < len(m) <= 32 for m in amr)), "amr"),
            (claims.get("auth_time") is not None and not _number(claims["auth_time"]),
             "auth_time"),
        ]
        for failed, name in problems:
            if failed:
                raise FederationError("bad_id_token", name)
        return claims

    @staticmethod
    def _auth_time(claims: dict) -> int:
        """FranceConnect's `auth_time` when it is believable (not in the future, not
        older than a day), else now."""
        now = time.time()
        value = claims.get("auth_time")
        if _number(value) and now - MAX_UPSTREAM_AUTH_AGE <= value <= now + LEEWAY:
            return int(min(value, now))
        return int(now)

    def userinfo(self, access_token: str, subject: str) -> dict:
        """Fetch the identity: a JWT signed by FranceConnect (v2), issued by it to us."""
        endpoint = self.metadata().get("userinfo_endpoint")
        if not endpoint:
            raise FederationError("bad_metadata", "no userinfo endpoint")
        response = self._request("GET", endpoint,
                                 headers={"Authorization": f"Bearer {access_token}"})
        if response.status_code != 200:
            raise FederationError("userinfo_refused", f"HTTP {response.status_code}")
        kind = response.headers.get("Content-Type", "").split(";")[0].strip().lower()
        if kind != "application/jwt":
            # FranceConnect v2 signs the userinfo; unsigned, anybody on the way could
            # have written it.
            raise FederationError("bad_userinfo", "not a signed JWT")
        claims = self._verify(response.text.strip(), "userinfo")
        audiences = _audiences(claims.get("aud"))
        problems = [
            (claims.get("iss") != self.issuer, "iss"),
            (audiences is None or self.client_id not in audiences, "aud"),
            (claims.get("sub") != subject, "sub"),
        ] + [(name in claims and (not isinstance(claims[name], str)
                                  or len(claims[name]) > MAX_CLAIM), name)
             for name in STRING_CLAIMS]
        for failed, name in problems:
            if failed:
                raise FederationError("bad_userinfo", name)
        return claims
