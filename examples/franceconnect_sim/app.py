"""A FranceConnect v2 simulator: an OpenID Connect provider for development and tests.

It behaves, for one or more registered service providers ("FS"), like FranceConnect's
integration platform does: endpoints under the issuer's path (`/api/v2`), the
authorization code flow only, `acr_values` (eidas1..3), `state` and `nonce` of at
least 32 characters (else the error page Y030007), `client_secret_post` only, a
pairwise `sub` computed as FranceConnect computes it, the ID token and the userinfo
signed (ES256 or RS256, `application/jwt`), RP-initiated logout at `/session/end`.

Everything lives in memory: keys made at start, codes, tokens, sessions. With
`faults=True` a small admin API (`/_sim/faults`, `/_sim/rotate-keys`) makes the
upstream misbehave on purpose, so that the relying side can be tested against it.

This is a development tool. It must never be used in production.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
import os
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from dataclasses import field
from urllib.parse import urlencode
from urllib.parse import urlsplit
from urllib.parse import urlunsplit

from flask import Blueprint
from flask import Flask
from flask import Response
from flask import current_app
from flask import jsonify
from flask import redirect
from flask import request
from flask import url_for

from . import pages
from .identities import PEOPLE
from .identities import SCOPE_CLAIMS
from .identities import Person
from .identities import claims_for_scopes
from .identities import pairwise_sub
from .keys import ALGS
from .keys import KeyRing

log = logging.getLogger("franceconnect_sim")

EXTENSION = "franceconnect_sim"
COOKIE = "fc_sim_sso"
ACR_VALUES = ("eidas1", "eidas2", "eidas3")
#: FranceConnect keeps single sign-on for these levels only (`allowedSsoAcrs`).
SSO_ACRS = ("eidas1",)
PROMPTS = ("login", "consent")
ABORTED = "User auth aborted"
WRONG_ISSUER = "https://wrong-issuer.invalid/api/v2"

#: What each fault switch accepts (POST /_sim/faults).
FAULTS: dict[str, tuple[str, ...]] = {
    "token": ("timeout", "500", "bad_signature", "wrong_nonce", "expired", "wrong_iss",
              "wrong_aud", "alg_none", "unknown_kid"),
    "userinfo": ("timeout", "500", "bad_signature", "json"),
    "authorize": ("access_denied",),
}
#: Seconds a "timeout" fault sleeps beyond the configured delay.
TIMEOUT_MARGIN = 0.5

DEFAULTS = {
    "issuer": "http://127.0.0.1:5002/api/v2",
    "clients": (),
    "alg": "ES256",
    # A fixed development secret keeps each person's `sub` stable across restarts.
    "sub_secret": "franceconnect-simulator-development-only",
    "faults": False,
    "timeout_delay": 5.0,
    "min_state_length": 32,
    "code_ttl": 30,
    "access_token_ttl": 60,
    "id_token_ttl": 60,
    "session_ttl": 1800,
    "interaction_ttl": 1800,
    "people": PEOPLE,
}


class ProductionRefused(RuntimeError):
    """IDP_ENV=production: the simulator does not start."""


def refuse_production(environ=None) -> None:
    """Raise ProductionRefused when IDP_ENV says production."""
    environ = os.environ if environ is None else environ
    if environ.get("IDP_ENV", "").strip().lower() == "production":
        raise ProductionRefused(
            "IDP_ENV=production: the FranceConnect simulator is a development tool and "
            "never runs in production."
        )


@dataclass(frozen=True)
class Client:
    """A registered service provider (FS)."""

    client_id: str
    client_secret: str
    redirect_uris: tuple[str, ...]
    post_logout_redirect_uris: tuple[str, ...]
    id_token_alg: str
    userinfo_alg: str  # "ES256", "RS256" or "none" (plain JSON)
    entity_id: str


def make_client(data: dict, default_alg: str) -> Client:
    """Check one client registration (dict) and return it as a Client."""
    if not isinstance(data, dict):
        raise ValueError("a client registration is a JSON object")

    def uris(plural: str, singular: str) -> tuple[str, ...]:
        value = data.get(plural, data.get(singular, ()))
        value = [value] if isinstance(value, str) else list(value or ())
        if not all(isinstance(v, str) and v for v in value):
            raise ValueError(f"{plural}: a list of URLs")
        return tuple(value)

    client_id, secret = data.get("client_id"), data.get("client_secret")
    if not isinstance(client_id, str) or not client_id:
        raise ValueError("client_id is required")
    if not isinstance(secret, str) or not secret:
        raise ValueError(f"{client_id}: client_secret is required")
    redirect_uris = uris("redirect_uris", "redirect_uri")
    if not redirect_uris:
        raise ValueError(f"{client_id}: at least one redirect_uri is required")
    id_token_alg = data.get("id_token_alg") or data.get("id_token_signed_response_alg") \
        or default_alg
    userinfo_alg = data.get("userinfo_alg") or data.get("userinfo_signed_response_alg") \
        or default_alg
    if id_token_alg not in ALGS:
        raise ValueError(f"{client_id}: id_token_alg must be one of {', '.join(ALGS)}")
    if userinfo_alg not in (*ALGS, "none"):
        raise ValueError(f"{client_id}: userinfo_alg must be one of {', '.join(ALGS)}, none")
    return Client(
        client_id=client_id,
        client_secret=secret,
        redirect_uris=redirect_uris,
        post_logout_redirect_uris=uris("post_logout_redirect_uris", "post_logout_redirect_uri"),
        id_token_alg=id_token_alg,
        userinfo_alg=userinfo_alg,
        entity_id=data.get("entity_id") or client_id,
    )


@dataclass
class Simulator:
    """The provider's state: configuration, keys and the in-memory stores."""

    issuer: str
    clients: dict[str, Client]
    people: dict[str, Person]
    sub_secret: str
    faults_enabled: bool
    timeout_delay: float
    min_state_length: int
    code_ttl: int
    access_token_ttl: int
    id_token_ttl: int
    session_ttl: int
    interaction_ttl: int
    keys: KeyRing = field(default_factory=KeyRing)
    #: Replaceable in tests to move time forward.
    clock: Callable[[], float] = time.time
    faults: dict = field(default_factory=dict)
    interactions: dict = field(default_factory=dict)
    codes: dict = field(default_factory=dict)
    tokens: dict = field(default_factory=dict)
    sessions: dict = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def now(self) -> float:
        """The current time (seconds since the epoch)."""
        return self.clock()

    def url(self, path: str) -> str:
        """An absolute endpoint URL under the issuer."""
        return f"{self.issuer}{path}"

    # -- stores: every record carries "expires"; expired ones are dropped on the way --

    def remember(self, store: dict, key: str, record: dict, ttl: float) -> None:
        now = self.now()
        record["expires"] = now + ttl
        with self.lock:
            for old in [k for k, v in store.items() if v["expires"] <= now]:
                del store[old]
            store[key] = record

    def recall(self, store: dict, key: str) -> dict | None:
        with self.lock:
            record = store.get(key)
        if record is None or record["expires"] <= self.now():
            return None
        return record

    def fault(self, name: str) -> str | None:
        """The fault switched on for this endpoint, if any."""
        with self.lock:
            return self.faults.get(name)

    def fault_sleep(self) -> float:
        """How long a "timeout" fault sleeps: longer than the configured delay."""
        with self.lock:
            delay = self.faults.get("delay", self.timeout_delay)
        return float(delay) + TIMEOUT_MARGIN

    def sub(self, client: Client, person: Person) -> str:
        """The person's pairwise `sub` at this service provider."""
        return pairwise_sub(client.entity_id, person, self.sub_secret)

    def session_from_cookie(self) -> tuple[str | None, dict | None]:
        """The single sign-on session of this browser, if still valid."""
        sid = request.cookies.get(COOKIE, "")
        record = self.recall(self.sessions, sid) if sid else None
        return (sid, record) if record else (None, None)

    def end_session(self, sid: str | None) -> None:
        """Forget a session and revoke the access tokens issued within it."""
        if not sid:
            return
        with self.lock:
            self.sessions.pop(sid, None)
            for token in [k for k, v in self.tokens.items() if v.get("sid") == sid]:
                del self.tokens[token]


def _sim() -> Simulator:
    return current_app.extensions[EXTENSION]


def with_query(url: str, **params) -> str:
    """`url` with `params` added to its query string (None values left out)."""
    parts = urlsplit(url)
    extra = urlencode({k: v for k, v in params.items() if v is not None})
    query = f"{parts.query}&{extra}" if parts.query and extra else (parts.query or extra)
    return urlunsplit((parts.scheme, parts.netloc, parts.path, query, parts.fragment))


def _error_page(code: str, message: str, status: int = 400) -> Response:
    log.info("error page %s: %s", code, message)
    response = Response(pages.error_page(code, message), status=status,
                        mimetype="text/html")
    response.headers["Cache-Control"] = "no-store"
    return response


def _oauth_error(error: str, description: str, status: int = 400) -> Response:
    log.info("%s: %s", error, description)
    response = jsonify(error=error, error_description=description)
    response.status_code = status
    response.headers["Cache-Control"] = "no-store"
    response.headers["Pragma"] = "no-cache"
    return response


def _no_store(response: Response) -> Response:
    response.headers["Cache-Control"] = "no-store"
    response.headers["Pragma"] = "no-cache"
    return response


bp = Blueprint("franceconnect", __name__)
admin = Blueprint("franceconnect_admin", __name__, url_prefix="/_sim")


# -- discovery ------------------------------------------------------------------------------


@bp.get("/.well-known/openid-configuration")
def discovery():
    """The provider's metadata, as FranceConnect v2 publishes it (discovery is v2 only)."""
    sim = _sim()
    claims = ["sub", "iss", "auth_time", "acr", "amr"]
    for scope in SCOPE_CLAIMS:
        claims.extend(c for c in SCOPE_CLAIMS[scope] if c not in claims)
    return jsonify({
        "issuer": sim.issuer,
        "authorization_endpoint": sim.url("/authorize"),
        "token_endpoint": sim.url("/token"),
        "userinfo_endpoint": sim.url("/userinfo"),
        "jwks_uri": sim.url("/jwks"),
        "end_session_endpoint": sim.url("/session/end"),
        "scopes_supported": list(SCOPE_CLAIMS),
        "claims_supported": claims,
        "response_types_supported": ["code"],
        "response_modes_supported": ["query"],
        "grant_types_supported": ["authorization_code"],
        "acr_values_supported": list(ACR_VALUES),
        "prompt_values_supported": list(PROMPTS),
        "subject_types_supported": ["pairwise"],
        "id_token_signing_alg_values_supported": list(ALGS),
        "userinfo_signing_alg_values_supported": list(ALGS),
        "token_endpoint_auth_methods_supported": ["client_secret_post"],
        "claims_parameter_supported": True,
        "request_parameter_supported": False,
        "request_uri_parameter_supported": False,
        "frontchannel_logout_supported": False,
        "backchannel_logout_supported": False,
        "ui_locales_supported": ["fr"],
    })


@bp.get("/jwks")
def jwks():
    """The public keys (one ES256, one RS256)."""
    return jsonify(_sim().keys.jwks())


# -- authorization --------------------------------------------------------------------------


def _dto_problems(params: dict, min_length: int) -> list[str]:
    """What FranceConnect's parameter validation (→ Y030007) would reject."""
    problems = []
    if params.get("response_type") != "code":
        problems.append("response_type must be code")
    if not params.get("scope", "").split():
        problems.append("scope is required")
    if not params.get("acr_values", "").split():
        problems.append("acr_values is required")
    for name in ("state", "nonce"):
        if len(params.get(name, "")) < min_length:
            problems.append(f"{name} must be at least {min_length} characters long")
    prompts = params.get("prompt", "").split()
    if any(p not in PROMPTS for p in prompts):
        problems.append(f"prompt must be among {', '.join(PROMPTS)}")
    if params.get("claims"):
        try:
            claims = json.loads(params["claims"])
        except ValueError:
            claims = None
        if not isinstance(claims, dict):
            problems.append("claims must be a JSON object")
    return problems


@bp.route("/authorize", methods=["GET", "POST"])
def authorize():
    """Check the request, then log in (or reuse the session) and send a code back."""
    sim = _sim()
    params = {k: v for k, v in request.values.items() if isinstance(v, str)}
    client = sim.clients.get(params.get("client_id", ""))
    if client is None:
        return _error_page("Y04EA6EF", "client is invalid, client not found")
    redirect_uri = params.get("redirect_uri", "")
    if redirect_uri not in client.redirect_uris:
        return _error_page("Y04C013C", "redirect_uri is not registered for this client")
    problems = _dto_problems(params, sim.min_state_length)
    if problems:
        return _error_page("Y030007", "; ".join(problems))
    scopes = params["scope"].split()
    if "openid" not in scopes:
        return _error_page("Y04133E6", "openid scope must be requested")
    acr = next((a for a in params["acr_values"].split() if a in ACR_VALUES), None)
    if acr is None:
        return _error_page("Y100002", "acr_values not supported")
    state = params["state"]
    if sim.fault("authorize") == "access_denied":
        return redirect(with_query(redirect_uri, error="access_denied",
                                   error_description=ABORTED, state=state))
    claims = json.loads(params["claims"]) if params.get("claims") else {}
    id_token_claims = claims.get("id_token")
    pending = {
        "client_id": client.client_id,
        "redirect_uri": redirect_uri,
        "scopes": scopes,
        "state": state,
        "nonce": params["nonce"],
        "acr": acr,
        "amr": "amr" in scopes or (isinstance(id_token_claims, dict)
                                   and "amr" in id_token_claims),
    }
    sid, session = sim.session_from_cookie()
    if session and "login" not in params.get("prompt", "").split() and acr in SSO_ACRS:
        return _send_code(sim, pending, sid, session)
    uid = secrets.token_urlsafe(24)
    sim.remember(sim.interactions, uid, pending, sim.interaction_ttl)
    # FranceConnect answers 303 to its own identity provider selection page.
    return redirect(url_for(".interaction", uid=uid), code=303)


def _send_code(sim: Simulator, pending: dict, sid: str, session: dict) -> Response:
    code = secrets.token_urlsafe(32)
    record = dict(pending, login=session["login"], auth_time=session["auth_time"], sid=sid,
                  used=False, access_token=None)
    sim.remember(sim.codes, code, record, sim.code_ttl)
    log.info("code issued to %s for %s", pending["client_id"], session["login"])
    # FranceConnect v2 sends no `iss` on the callback.
    return redirect(with_query(pending["redirect_uri"], code=code, state=pending["state"]))


@bp.route("/interaction/<uid>", methods=["GET", "POST"])
def interaction(uid: str):
    """The identity provider's login form (the test people, password "123")."""
    sim = _sim()
    pending = sim.recall(sim.interactions, uid)
    if pending is None:
        return _error_page("Y000400", "interaction inconnue ou expirée")
    form = {"action": url_for(".interaction", uid=uid), "client_id": pending["client_id"],
            "acr": pending["acr"], "people": list(sim.people.values())}
    if request.method == "GET":
        return _no_store(Response(pages.login_page(**form), mimetype="text/html"))
    if request.form.get("action") == "cancel":
        with sim.lock:
            sim.interactions.pop(uid, None)
        return redirect(with_query(pending["redirect_uri"], error="access_denied",
                                   error_description=ABORTED, state=pending["state"]))
    login = request.form.get("login", "").strip()
    password = request.form.get("password", "")
    person = sim.people.get(login)
    if person is None or not hmac.compare_digest(password.encode(), person.password.encode()):
        page = pages.login_page(**form, error="Identifiant ou mot de passe incorrect.",
                                login=login)
        return _no_store(Response(page, status=401, mimetype="text/html"))
    with sim.lock:
        sim.interactions.pop(uid, None)
    old_sid, _ = sim.session_from_cookie()
    sim.end_session(old_sid)
    sid = secrets.token_urlsafe(32)
    session = {"login": person.login, "auth_time": int(sim.now())}
    sim.remember(sim.sessions, sid, session, sim.session_ttl)
    response = _send_code(sim, pending, sid, session)
    response.set_cookie(COOKIE, sid, max_age=sim.session_ttl, httponly=True, samesite="Lax",
                        secure=sim.issuer.startswith("https://"))
    return response


# -- token ----------------------------------------------------------------------------------


def _at_hash(access_token: str) -> str:
    digest = hashlib.sha256(access_token.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest[:16]).rstrip(b"=").decode("ascii")


@bp.post("/token")
def token():
    """Exchange a code (client_secret_post only) for an access token and an ID token."""
    sim = _sim()
    fault = sim.fault("token")
    if fault == "timeout":
        time.sleep(sim.fault_sleep())
    elif fault == "500":
        return _oauth_error("server_error", "simulated failure (fault token=500)", 500)
    if "Authorization" in request.headers:
        return _oauth_error("invalid_client", "only client_secret_post is accepted: send "
                            "client_id and client_secret in the request body", 401)
    client = sim.clients.get(request.form.get("client_id", ""))
    secret = request.form.get("client_secret", "")
    if client is None or not hmac.compare_digest(secret.encode(),
                                                 client.client_secret.encode()):
        return _oauth_error("invalid_client", "client authentication failed", 401)
    if request.form.get("grant_type") != "authorization_code":
        return _oauth_error("unsupported_grant_type", "only authorization_code is supported")
    code = request.form.get("code", "")
    with sim.lock:
        grant = sim.codes.get(code)
        first_use = grant is not None and not grant["used"]
        if grant is not None:
            grant["used"] = True
    if grant is None or grant["expires"] <= sim.now() or grant["client_id"] != client.client_id:
        return _oauth_error("invalid_grant", "authorization code is invalid or expired")
    if not first_use:
        with sim.lock:
            sim.tokens.pop(grant.get("access_token") or "", None)
        return _oauth_error("invalid_grant", "authorization code already consumed")
    if request.form.get("redirect_uri") != grant["redirect_uri"]:
        return _oauth_error("invalid_grant", "redirect_uri does not match the authorization "
                            "request")
    person = sim.people[grant["login"]]
    access_token = secrets.token_urlsafe(32)
    grant["access_token"] = access_token
    sim.remember(sim.tokens, access_token,
             {"client_id": client.client_id, "login": person.login, "scopes": grant["scopes"],
              "sid": grant["sid"]}, sim.access_token_ttl)
    now = int(sim.now())
    claims = {
        "iss": sim.issuer,
        "sub": sim.sub(client, person),
        "aud": client.client_id,
        "exp": now + sim.id_token_ttl,
        "iat": now,
        "auth_time": grant["auth_time"],
        "nonce": grant["nonce"],
        "acr": grant["acr"],
        "at_hash": _at_hash(access_token),
    }
    if grant["amr"]:
        claims["amr"] = ["pwd"]
    if fault == "wrong_nonce":
        claims["nonce"] = secrets.token_urlsafe(32)
    elif fault == "expired":
        claims["iat"] = now - 3600
        claims["exp"] = claims["iat"] + sim.id_token_ttl
        claims["auth_time"] = min(claims["auth_time"], claims["iat"])
    elif fault == "wrong_iss":
        claims["iss"] = WRONG_ISSUER
    elif fault == "wrong_aud":
        claims["aud"] = "another-service-provider"
    sign_fault = fault if fault in ("bad_signature", "alg_none", "unknown_kid") else None
    id_token = sim.keys.sign(claims, client.id_token_alg, sign_fault)
    log.info("tokens issued to %s for %s", client.client_id, person.login)
    return _no_store(jsonify({"access_token": access_token, "token_type": "Bearer",
                              "expires_in": sim.access_token_ttl, "id_token": id_token}))


# -- userinfo -------------------------------------------------------------------------------


def _bearer() -> str:
    header = request.headers.get("Authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() == "bearer" and value.strip():
        return value.strip()
    # FranceConnect also accepts the token as a query parameter (acceptQueryParamAccessTokens).
    return request.values.get("access_token", "")


@bp.route("/userinfo", methods=["GET", "POST"])
def userinfo():
    """The person's claims for the granted scopes, as a signed JWT (application/jwt)."""
    sim = _sim()
    fault = sim.fault("userinfo")
    if fault == "timeout":
        time.sleep(sim.fault_sleep())
    elif fault == "500":
        return _oauth_error("server_error", "simulated failure (fault userinfo=500)", 500)
    grant = sim.recall(sim.tokens, _bearer())
    if grant is None:
        response = _oauth_error("invalid_token", "access token invalid or expired", 401)
        response.headers["WWW-Authenticate"] = 'Bearer error="invalid_token"'
        return response
    client = sim.clients[grant["client_id"]]
    person = sim.people[grant["login"]]
    claims = {"sub": sim.sub(client, person)}
    for name in claims_for_scopes(grant["scopes"]):
        value = ["pwd"] if name == "amr" else person.claim(name)
        if value is not None:
            claims[name] = value
    if fault == "json" or client.userinfo_alg == "none":
        return _no_store(jsonify(claims))
    body = {"iss": sim.issuer, "aud": client.client_id, "iat": int(sim.now()), **claims}
    signed = sim.keys.sign(body, client.userinfo_alg,
                           "bad_signature" if fault == "bad_signature" else None)
    return _no_store(Response(signed, mimetype="application/jwt"))


# -- logout ---------------------------------------------------------------------------------


@bp.get("/session/end")
def session_end():
    """RP-initiated logout: end the session, then back to post_logout_redirect_uri."""
    sim = _sim()
    hint = request.args.get("id_token_hint", "")
    if not hint:
        return _error_page("Y000400", "id_token_hint is required")
    claims = sim.keys.verify(hint)
    if claims is None or claims.get("iss") != sim.issuer:
        return _error_page("Y000400", "id_token_hint is not an ID token issued here")
    aud = claims.get("aud")
    client = sim.clients.get(aud if isinstance(aud, str) else "")
    asked = request.args.get("client_id")
    if client is None or (asked and asked != client.client_id):
        return _error_page("Y04EA6EF", "client is invalid, client not found")
    target = request.args.get("post_logout_redirect_uri")
    if target and target not in client.post_logout_redirect_uris:
        return _error_page("Y04CFAEF", "post_logout_redirect_uri not registered")
    sid, _ = sim.session_from_cookie()
    sim.end_session(sid)
    log.info("session ended for %s", client.client_id)
    if target:
        response = redirect(with_query(target, state=request.args.get("state") or None))
    else:
        response = Response(pages.info_page("Vous êtes déconnecté(e) de FranceConnect "
                                            "(simulateur)."), mimetype="text/html")
    response.delete_cookie(COOKIE)
    return response


# -- fault injection (only with faults=True) ------------------------------------------------


@admin.route("/faults", methods=["GET", "POST"])
def faults():
    """GET: the faults in force. POST {...}: replace them ({} resets everything)."""
    sim = _sim()
    if request.method == "POST":
        data = request.get_json(silent=True)
        if not isinstance(data, dict):
            return _oauth_error("invalid_request", "send a JSON object, {} to reset")
        for name, value in data.items():
            if name == "delay":
                if isinstance(value, bool) or not isinstance(value, (int, float)) \
                        or value < 0:
                    return _oauth_error("invalid_request", "delay: a number of seconds >= 0")
            elif name not in FAULTS or value not in FAULTS[name]:
                return _oauth_error("invalid_request", f"unknown fault {name}={value!r}; known: "
                                    + json.dumps(FAULTS))
        with sim.lock:
            sim.faults = dict(data)
        log.warning("faults now %s", data or "off")
    with sim.lock:
        return jsonify(sim.faults)


@admin.post("/rotate-keys")
def rotate_keys():
    """New signing keys with new kids; the old ones are dropped from the JWKS."""
    kids = _sim().keys.rotate()
    log.warning("keys rotated: %s", ", ".join(kids))
    return jsonify({"kids": kids})


# -- the factory ----------------------------------------------------------------------------


def create_app(config: dict | None = None) -> Flask:
    """The simulator as a Flask application.

    :param config: ``issuer`` (its path is the endpoints' prefix, e.g. ``/api/v2``),
        ``clients`` (registrations: client_id, client_secret, redirect_uris,
        post_logout_redirect_uris, and optionally id_token_alg, userinfo_alg — ES256,
        RS256 or ``none`` for plain JSON —, entity_id), ``alg`` (default signing
        algorithm, ES256), ``sub_secret``, ``faults`` (enable ``/_sim/*``),
        ``timeout_delay`` (seconds, 5), ``min_state_length`` (32), TTLs, ``people``.
    :raise ProductionRefused: when IDP_ENV=production.
    :raise ValueError: on an invalid configuration.
    """
    refuse_production()
    cfg = dict(DEFAULTS, **(config or {}))
    issuer = str(cfg["issuer"]).rstrip("/")
    parts = urlsplit(issuer)
    if parts.scheme not in ("http", "https") or not parts.netloc or parts.query:
        raise ValueError(f"issuer must be an http(s) URL without query: {issuer!r}")
    if cfg["alg"] not in ALGS:
        raise ValueError(f"alg must be one of {', '.join(ALGS)}")
    clients = [make_client(c, cfg["alg"]) for c in cfg["clients"]]
    if not clients:
        raise ValueError("at least one client (service provider) must be registered")
    people = list(cfg["people"])
    sim = Simulator(
        issuer=issuer,
        clients={c.client_id: c for c in clients},
        people={p.login: p for p in people},
        sub_secret=str(cfg["sub_secret"]),
        faults_enabled=bool(cfg["faults"]),
        timeout_delay=float(cfg["timeout_delay"]),
        min_state_length=int(cfg["min_state_length"]),
        code_ttl=int(cfg["code_ttl"]),
        access_token_ttl=int(cfg["access_token_ttl"]),
        id_token_ttl=int(cfg["id_token_ttl"]),
        session_ttl=int(cfg["session_ttl"]),
        interaction_ttl=int(cfg["interaction_ttl"]),
    )
    app = Flask(__name__)
    app.json.ensure_ascii = False
    app.extensions[EXTENSION] = sim
    app.register_blueprint(bp, url_prefix=parts.path or None)
    if sim.faults_enabled:
        app.register_blueprint(admin)

    @app.get("/")
    def home():
        """What this is, the test people and the endpoints."""
        links = [("Issuer", sim.issuer),
                 ("Découverte", sim.url("/.well-known/openid-configuration"))]
        if sim.faults_enabled:
            links.append(("Pannes simulées (POST JSON)", "/_sim/faults"))
        message = ("Fournisseur OpenID Connect qui imite la plateforme d'intégration de "
                   "FranceConnect v2, pour le développement et les tests uniquement.")
        return pages.info_page(message, people=people, links=links)

    @app.after_request
    def banner_header(response: Response) -> Response:
        response.headers["X-Simulator"] = "FranceConnect simulator - development only"
        response.headers["X-Robots-Tag"] = "noindex"
        return response

    return app
