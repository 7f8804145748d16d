"""Protocol endpoints: discovery, JWKS, authorization, token, userinfo, revocation,
introspection and RP-initiated logout. Views are thin: the logic is in the services,
in Authlib, and in `authorize.py` / `logout.py`."""

from __future__ import annotations

from flask import Blueprint
from flask import g
from flask import jsonify
from flask import request

from idp.extensions import db
from idp.metrics import TOKENS
from idp.oauth import authorize as authorize_flow
from idp.oauth import logout as logout_flow
from idp.oauth import tokens
from idp.oauth import userinfo as userinfo_service
from idp.oauth.discovery import metadata
from idp.web import csrf_exempt
from idp.web import provider
from idp.web import reads_only

bp = Blueprint("oauth", __name__)

CORS = {"Access-Control-Allow-Origin": "*"}


@bp.get("/.well-known/openid-configuration")
@bp.get("/.well-known/oauth-authorization-server")
def discovery():
    """OpenID Provider metadata (OIDC Discovery 1.0 section 3), also served where OAuth
    clients look for it (RFC 8414 3, for an issuer without a path)."""
    response = jsonify(metadata())
    response.headers.update(CORS)
    response.headers["Cache-Control"] = "public, max-age=3600"
    return response


@bp.get("/jwks")
def jwks():
    """The published signing keys."""
    response = jsonify(provider().keys.jwks())
    response.headers.update(CORS)
    response.headers["Cache-Control"] = "public, max-age=300"
    return response


@bp.route("/authorize", methods=["GET", "POST"])
@csrf_exempt
def authorize():
    """Authorization endpoint (code flow), GET or form POST."""
    # A parameter sent without a value is treated as omitted (RFC 6749 3.1).
    values = {key: [v for v in request.values.getlist(key) if v] for key in request.values}
    params = {key: given[0] for key, given in values.items() if given}
    return authorize_flow.handle(params, values)


@bp.get("/authorize/resume")
def resume():
    """Continue a pending authorization request after the person logged in."""
    return authorize_flow.resume(request.args.get("flow"))


@bp.route("/token", methods=["POST", "OPTIONS"])
@csrf_exempt
def token():
    """Token endpoint: authorization_code and refresh_token grants."""
    if request.method == "OPTIONS":
        return _preflight()
    response = provider().server.create_token_response()
    if response.status_code == 200:
        db.session.commit()
        TOKENS.labels(request.form.get("grant_type", "")[:32]).inc()
    else:
        db.session.rollback()
        spent = g.pop("spent_code_hash", None)
        if spent:
            # A code is single use: a refused redemption (wrong PKCE verifier or redirect
            # URI) spends it too, so that it cannot be tried again (RFC 6749 4.1.2).
            tokens.spend_code(spent)
            db.session.commit()
    response.headers.update(CORS)
    return response


@bp.route("/userinfo", methods=["GET", "POST", "OPTIONS"])
@csrf_exempt
def userinfo():
    """UserInfo endpoint; bearer token in the header (GET, POST) or the body (POST)."""
    if request.method == "OPTIONS":
        return _preflight()
    reads_only()
    status, body, headers = userinfo_service.respond(
        request.headers.get("Authorization"),
        request.form.get("access_token") if request.method == "POST" else None,
        request.args.get("access_token"),
    )
    response = jsonify(body)
    response.status_code = status
    response.headers.update(headers)
    response.headers.update(CORS)
    return response


@bp.route("/revoke", methods=["POST", "OPTIONS"])
@csrf_exempt
def revoke():
    """Token revocation (RFC 7009)."""
    if request.method == "OPTIONS":
        return _preflight()
    response = provider().server.create_endpoint_response("revocation")
    db.session.commit()
    response.headers.update(CORS)
    return response


@bp.post("/introspect")
@csrf_exempt
def introspect():
    """Token introspection for resource servers (RFC 7662)."""
    response = provider().server.create_endpoint_response("introspection")
    db.session.commit()
    return response


@bp.route("/logout", methods=["GET", "POST"])
@csrf_exempt
def end_session():
    """RP-initiated logout: confirm when the request does not prove its origin."""
    return logout_flow.handle(request.values.to_dict(flat=True), request.method)


@bp.post("/logout/confirm")
def confirm_logout():
    """The person confirmed the logout on our page (CSRF-protected form)."""
    return logout_flow.confirm(request.form.get("logout"))


@bp.get("/logout/done")
def logged_out():
    """Where people land after a logout without a registered return address."""
    return logout_flow.done_page()


def _preflight():
    response = jsonify({})
    response.headers.update(CORS)
    response.headers["Access-Control-Allow-Methods"] = "GET, POST, OPTIONS"
    response.headers["Access-Control-Allow-Headers"] = "Authorization, Content-Type"
    response.headers["Access-Control-Max-Age"] = "600"
    return response
