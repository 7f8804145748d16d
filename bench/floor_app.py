"""The stack floor: the SSO flow and the password login of the benchmark, answered by a
bare Flask application that does only what no provider on this stack can skip.

Served like the provider (gunicorn, 1 sync worker): `gunicorn bench.floor_app:app`.
It answers the same requests as the provider, so that the benchmark's relying party
and browser (`bench/flows.py`) drive it unchanged:

- `GET /authorize`: with the session cookie, a 302 to the client with a new random
  code, `state` and `iss`; without it, a 302 to the login page, the request's query
  carried in the `flow` parameter (`GET /authorize/resume?flow=…` answers it after the
  login);
- `GET /login`: a small French form with a CSRF token kept in Flask's signed session;
  `POST /login`: the CSRF check and one argon2id verify (the provider's parameters, from
  BENCH_FLOOR_ARGON2 "memory_kib,time_cost,parallelism"), then the session cookie and a
  302 to `/authorize/resume`;
- `POST /token`: HTTP Basic client credentials compared in constant time, and an ID
  token signed with RS256 (a 2048-bit key, joserfc, as the provider signs);
- `GET /userinfo`: the claims for a bearer token.

Nothing is stored and nothing else is checked: codes and tokens are never looked up,
there is no audit trail, no rate limit, no Authlib and no database. Its CPU per flow or
per login is a lower bound for any provider built on gunicorn, Flask and joserfc;
`docs/performance.md` sets it beside node-oidc-provider's flow and one argon2id verify.
Never deploy it: it accepts any code and any token.
"""

from __future__ import annotations

import base64
import hmac
import os
import secrets
import time
from urllib.parse import parse_qsl
from urllib.parse import urlencode

from argon2 import PasswordHasher
from argon2 import Type
from argon2.exceptions import VerifyMismatchError
from flask import Flask
from flask import abort
from flask import jsonify
from flask import redirect
from flask import request
from flask import session
from joserfc import jwt
from joserfc.jwk import RSAKey
from markupsafe import escape

from bench.instance import PASSWORD

CLIENT_ID = "floor-client"
CLIENT_SECRET = "floor-secret"  # noqa: S105 - a benchmark's fixed client, never deployed
COOKIE = "floor_sso"
CLAIMS = {"given_name": "Camille", "family_name": "Martin", "email": "camille@example.org"}

app = Flask(__name__)
app.secret_key = secrets.token_bytes(32)
_KEY = RSAKey.generate_key(2048, parameters={"kid": "floor"})
_memory, _time, _lanes = (int(v) for v in os.environ.get(
    "BENCH_FLOOR_ARGON2", "19456,2,1").split(","))
_HASHER = PasswordHasher(time_cost=_time, memory_cost=_memory, parallelism=_lanes,
                         hash_len=32, salt_len=16, type=Type.ID)
_PASSWORD_HASH = _HASHER.hash(PASSWORD)
_PAGE = (
    '<!doctype html><html lang="fr"><head><meta charset="utf-8"><title>Connexion</title>'
    '</head><body><main><h1>Connexion</h1><form method="post" action="/login">'
    '<input type="hidden" name="csrf_token" value="{csrf}">'
    '<input type="hidden" name="flow" value="{flow}">'
    '<label for="identifier">Identifiant</label><input id="identifier" name="identifier">'
    '<label for="password">Mot de passe</label>'
    '<input id="password" name="password" type="password">'
    '<button type="submit">Se connecter</button></form></main></body></html>'
)


def _issuer() -> str:
    return request.host_url.rstrip("/")


@app.get("/.well-known/openid-configuration")
def discovery():
    """The endpoints the benchmark's relying party reads."""
    issuer = _issuer()
    return jsonify({
        "issuer": issuer, "authorization_endpoint": f"{issuer}/authorize",
        "token_endpoint": f"{issuer}/token", "userinfo_endpoint": f"{issuer}/userinfo",
    })


@app.get("/authorize")
def authorize():
    """A code for a browser with the session cookie; the login page otherwise."""
    if COOKIE not in request.cookies:
        flow = base64.urlsafe_b64encode(request.query_string).decode()
        return redirect(f"/login?flow={flow}")
    return _code_response(request.args)


@app.get("/authorize/resume")
def resume():
    """The authorization request carried through the login, answered."""
    if COOKIE not in request.cookies:
        abort(401)
    try:
        query = base64.urlsafe_b64decode(request.args.get("flow", "")).decode()
    except ValueError:
        abort(400)
    return _code_response(dict(parse_qsl(query)))


def _code_response(args):
    if "redirect_uri" not in args:
        abort(400)
    query = urlencode({"code": secrets.token_urlsafe(32), "state": args.get("state", ""),
                       "iss": _issuer()})
    return redirect(f"{args['redirect_uri']}?{query}")


@app.route("/login", methods=["GET", "POST"])
def login():
    """The form, then one argon2id verify and the session cookie."""
    if request.method == "GET":
        csrf = session.setdefault("csrf", secrets.token_urlsafe(32))
        return _PAGE.format(csrf=csrf, flow=escape(request.args.get("flow", "")))
    form = request.form
    if not hmac.compare_digest(form.get("csrf_token", ""), session.get("csrf", "")):
        abort(400)
    try:
        _HASHER.verify(_PASSWORD_HASH, form.get("password", ""))
    except VerifyMismatchError:
        abort(401)
    response = redirect(f"/authorize/resume?{urlencode({'flow': form.get('flow', '')})}")
    response.set_cookie(COOKIE, secrets.token_urlsafe(32), httponly=True, samesite="Lax")
    return response


@app.post("/token")
def token():
    """Client credentials checked, an RS256 ID token signed."""
    auth = request.authorization
    if auth is None or auth.username != CLIENT_ID or not hmac.compare_digest(
        auth.password or "", CLIENT_SECRET
    ):
        abort(401)
    request.form.get("code")
    now = int(time.time())
    claims = {"iss": _issuer(), "sub": "floor-subject", "aud": CLIENT_ID, "iat": now,
              "exp": now + 300, "auth_time": now, "nonce": "n", "at_hash": "h"}
    id_token = jwt.encode({"alg": "RS256", "kid": "floor"}, claims, _KEY)
    response = jsonify({
        "access_token": secrets.token_urlsafe(32), "token_type": "Bearer", "expires_in": 600,
        "refresh_token": secrets.token_urlsafe(32), "id_token": id_token,
        "scope": "openid profile email",
    })
    response.headers["Cache-Control"] = "no-store"
    return response


@app.get("/userinfo")
def userinfo():
    """The claims, for any bearer token."""
    if not request.headers.get("Authorization", "").startswith("Bearer "):
        abort(401)
    return jsonify({"sub": "floor-subject", **CLAIMS})


@app.get("/healthz")
def healthz():
    """Started."""
    return "ok"
