"""The authorization endpoint's decisions: validate with Authlib, then decide whether
the person must (re)authenticate, and issue the code or the error.

Errors before the client and its redirect URI are known show a page and never
redirect (RFC 6749 4.1.2.1); later errors go back to the client with `state` and `iss`.
"""

from __future__ import annotations

import json
import time

from authlib.common.urls import add_params_to_uri
from authlib.oauth2.rfc6749 import OAuth2Error
from flask import current_app
from flask import redirect
from flask import url_for
from joserfc import jwt
from joserfc.errors import JoseError

from idp.extensions import db
from idp.oauth.server import ParamsOAuth2Request
from idp.oauth.subject import subject_for
from idp.services import audit
from idp.services import clients
from idp.web import current_sso
from idp.web import provider
from idp.web import render_error

FLOW_KIND = "authorize"
MAX_PARAM_LENGTH = 4096


class AuthorizeError(Exception):
    """An error to send back to the client's redirect URI."""

    def __init__(self, error: str, description: str):
        super().__init__(description)
        self.error = error
        self.description = description


def handle(params: dict, multi=None, flow_id: str | None = None, fresh_sid: str | None = None):
    """Process an authorization request given as a dict of parameters."""
    if multi is not None:
        for key in ("client_id", "redirect_uri", "response_type", "scope", "state", "nonce",
                    "code_challenge", "code_challenge_method", "prompt", "max_age"):
            if len(multi.getlist(key)) > 1:
                return _page_error("Paramètre répété", f"Le paramètre {key} est répété.")
    if any(len(v) > MAX_PARAM_LENGTH for v in params.values()):
        return _page_error("Requête invalide", "Un paramètre de la demande est trop long.")
    server = provider().server
    oauth_request = ParamsOAuth2Request(params)
    sso = current_sso()
    if sso is not None and sso.account.role == "admin":
        # A console session of a school account administrator never logs into services.
        sso = None
    account = sso.account if sso else None
    if not params.get("redirect_uri"):
        return _page_error(
            "Demande de connexion invalide",
            "Le service qui vous a envoyé ici n'a pas indiqué d'adresse de retour.",
        )
    try:
        grant = server.get_consent_grant(request=oauth_request, end_user=account)
        redirect_uri = grant.redirect_uri
    except OAuth2Error as error:
        if not error.redirect_uri:
            return _page_error(
                "Demande de connexion invalide",
                "Le service qui vous a envoyé ici n'est pas reconnu ou son adresse de "
                "retour n'est pas enregistrée. Retournez sur le site du service et "
                "réessayez.",
                status=400,
            )
        return _redirect_error(error.redirect_uri, error.error, error.description, params)
    except ValueError:
        # Authlib refuses to echo characters that RFC 6749 forbids in error descriptions.
        return _page_error("Requête invalide", "La demande contient des caractères invalides.")
    try:
        _check_extra(grant, params)
        if _needs_login(grant, params, sso, fresh_sid):
            if "none" in (params.get("prompt") or "").split():
                raise AuthorizeError("login_required", "The end-user must authenticate.")
            flow_id = flow_id or provider().flows.create(FLOW_KIND, {"params": params})
            db.session.commit()
            return redirect(url_for("auth.login", flow=flow_id))
    except AuthorizeError as error:
        return _redirect_error(redirect_uri, error.error, error.description, params)
    oauth_request.sso = sso
    oauth_request.claims_request = grant.claims_request
    response = server.create_authorization_response(
        request=oauth_request, grant_user=account, grant=grant
    )
    provider().sessions.add_client(sso, grant.client.client_id)
    if flow_id:
        provider().flows.delete(flow_id)
    audit.record("code.issued", account=account, client_id=grant.client.client_id)
    db.session.commit()
    return response


def resume(flow_id: str | None):
    """Resume a stored authorization request after login."""
    data = provider().flows.get(flow_id, FLOW_KIND)
    if data is None:
        return _page_error(
            "Session expirée",
            "Votre demande de connexion a expiré. Retournez sur le site du service et "
            "réessayez.",
        )
    return handle(data["params"], flow_id=flow_id, fresh_sid=data.get("login_sid"))


def mark_logged_in(flow_id: str | None, sid: str) -> str | None:
    """Record on a pending flow that the person just authenticated in session sid."""
    if not provider().flows.set_item(flow_id, FLOW_KIND, "login_sid", sid):
        return None
    return url_for("oauth.resume", flow=flow_id)


def pending_client_name(flow_id: str | None, data: dict | None = None) -> str | None:
    """Name of the service waiting for the person, for the login page.

    data: the flow, when the caller has already read it (one read per request).
    """
    if data is None:
        data = provider().flows.get(flow_id, FLOW_KIND)
    if data is None:
        return None
    client = clients.lookup(data["params"].get("client_id"))
    return client.name if client else None


def login_hint(flow_id: str | None, data: dict | None = None) -> str:
    """The login_hint of a pending request, to prefill the identifier.

    data: the flow, when the caller has already read it (one read per request).
    """
    if data is None:
        data = provider().flows.get(flow_id, FLOW_KIND)
    hint = (data or {}).get("params", {}).get("login_hint") or ""
    return hint[:64]


def _check_extra(grant, params):
    """What Authlib leaves to us: PKCE policy, claims, request objects, max_age."""
    client = grant.client.row
    if params.get("request"):
        raise AuthorizeError("request_not_supported", "Request objects are not supported.")
    if params.get("request_uri"):
        raise AuthorizeError("request_uri_not_supported", "request_uri is not supported.")
    mode = params.get("response_mode")
    if mode and mode != "query":
        raise AuthorizeError("invalid_request", "Only response_mode=query is supported.")
    challenge = params.get("code_challenge")
    method = params.get("code_challenge_method")
    if client.public and not challenge:
        raise AuthorizeError("invalid_request", "PKCE code_challenge is required.")
    if challenge and method != "S256":
        raise AuthorizeError("invalid_request", "code_challenge_method must be S256.")
    if "openid" not in (grant.request.scope or "").split():
        raise AuthorizeError("invalid_scope", "The openid scope is required.")
    max_age = params.get("max_age")
    if max_age and (not max_age.isdigit() or len(max_age) > 9):
        raise AuthorizeError("invalid_request", "max_age must be a non-negative integer.")
    grant.claims_request = _parse_claims(params.get("claims"))


def _parse_claims(raw: str | None) -> dict | None:
    if not raw:
        return None
    try:
        value = json.loads(raw)
    except ValueError:
        raise AuthorizeError("invalid_request", "The claims parameter is not JSON.") from None
    if not isinstance(value, dict):
        raise AuthorizeError("invalid_request", "The claims parameter must be an object.")
    result = {}
    for part in ("userinfo", "id_token"):
        section = value.get(part)
        if section is None:
            continue
        if not isinstance(section, dict):
            raise AuthorizeError("invalid_request", f"claims.{part} must be an object.")
        result[part] = {str(k)[:64]: v for k, v in list(section.items())[:50]}
    return result


def _needs_login(grant, params, sso, fresh_sid) -> bool:
    if sso is None:
        return True
    fresh = fresh_sid is not None and fresh_sid == sso.sid
    prompts = (params.get("prompt") or "").split()
    if "login" in prompts and not fresh:
        return True
    max_age = params.get("max_age")
    if max_age and not fresh and time.time() - sso.auth_time > int(max_age):
        return True
    if max_age == "0" and not fresh:
        return True
    hint = params.get("id_token_hint")
    return bool(hint) and not _hint_matches(hint, sso, grant.client.row)


def _hint_matches(hint: str, sso, client) -> bool:
    """Tell whether id_token_hint names the person of the current session."""
    try:
        token = jwt.decode(hint, provider().keys.public_keyset(), algorithms=["RS256", "ES256"])
    except (JoseError, ValueError):
        raise AuthorizeError("invalid_request", "id_token_hint is not valid.") from None
    claims = token.claims
    if claims.get("iss") != current_app.config["ISSUER"]:
        raise AuthorizeError("invalid_request", "id_token_hint was not issued here.")
    expected = subject_for(sso.account, client, current_app.config["PAIRWISE_SALT"])
    return claims.get("sub") == expected


def _redirect_error(redirect_uri: str, error: str, description: str | None, params: dict):
    items = [("error", error)]
    if description:
        items.append(("error_description", description))
    if params.get("state"):
        items.append(("state", params["state"]))
    items.append(("iss", current_app.config["ISSUER"]))
    audit.record("authorize.error", client_id=(params.get("client_id") or "")[:64], error=error)
    db.session.commit()
    return redirect(add_params_to_uri(redirect_uri, items))


def _page_error(title: str, message: str, status: int = 400):
    db.session.rollback()
    return render_error(status, title, message)
