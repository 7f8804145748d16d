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
from idp.oauth.discovery import ACR_VALUES
from idp.oauth.server import ParamsOAuth2Request
from idp.oauth.subject import subject_for
from idp.services import audit
from idp.services import clients
from idp.web import current_sso
from idp.web import provider
from idp.web import render_error

FLOW_KIND = "authorize"
MAX_PARAM_LENGTH = 4096
# Every parameter this endpoint reads or answers about: none may be sent twice (RFC 6749
# 3.1), else "the first value wins" would let a value slip past the check of the other.
KNOWN_PARAMS = (
    "client_id", "redirect_uri", "response_type", "scope", "state", "nonce",
    "code_challenge", "code_challenge_method", "prompt", "max_age", "response_mode",
    "claims", "request", "request_uri", "registration", "id_token_hint", "login_hint",
    "acr_values", "ui_locales", "claims_locales", "display",
)
# Repeated, these leave the redirect URI untrusted: a page, never a redirect (RFC 6749
# 4.1.2.1). Any other repeated parameter is reported to the validated redirect URI.
IDENTIFYING_PARAMS = ("client_id", "redirect_uri")
# Larger max_age values all mean "any session will do" (no session lives that long);
# the bound keeps int() away from thousands of digits.
MAX_AGE_BOUND = 10**10
# The levels a login on our pages gives (a password login is eidas1): an essential acr
# request naming none of them can never be satisfied by asking the person to log in.
LOGIN_ACRS = frozenset(ACR_VALUES)


class AuthorizeError(Exception):
    """An error to send back to the client's redirect URI."""

    def __init__(self, error: str, description: str):
        super().__init__(description)
        self.error = error
        self.description = description


def handle(params: dict, multi=None, flow_id: str | None = None, fresh_sid: str | None = None):
    """Process an authorization request given as a dict of parameters.

    `multi` maps each parameter to all the values sent (a repeat is refused).
    """
    repeated = [k for k in KNOWN_PARAMS if multi is not None and len(multi.get(k, ())) > 1]
    for key in repeated:
        if key in IDENTIFYING_PARAMS:
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
        if error.error == "unsupported_response_type" and not params.get("response_type"):
            # Authlib found no grant for a missing response_type; a missing required
            # parameter is invalid_request (RFC 6749 4.1.2.1).
            return _redirect_error(error.redirect_uri, "invalid_request",
                                   "response_type is required.", params)
        return _redirect_error(error.redirect_uri, error.error, error.description, params)
    except ValueError:
        # Authlib refuses to echo characters that RFC 6749 forbids in error descriptions.
        return _page_error("Requête invalide", "La demande contient des caractères invalides.")
    try:
        if repeated:
            raise AuthorizeError("invalid_request", f"The {repeated[0]} parameter is repeated.")
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
    """What Authlib leaves to us: PKCE policy, scope, claims, request objects, max_age,
    id_token_hint; the results the login decision needs are kept on the grant."""
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
    # The requested scope, not the granted one: a client's allowed scopes stand in for a
    # missing scope, and OIDC Core 3.1.2.1 requires the request to say openid.
    if not (params.get("scope") or "").split():
        raise AuthorizeError("invalid_request", "The scope parameter is required.")
    if "openid" not in (grant.request.scope or "").split():
        raise AuthorizeError("invalid_scope", "The openid scope is required.")
    grant.max_age = _max_age(params.get("max_age"))
    grant.claims_request = _parse_claims(params.get("claims"))
    grant.expected_subs = _expected_subjects(params.get("id_token_hint"),
                                             grant.claims_request)
    grant.essential_acrs = _essential_acrs(grant.claims_request)


def _max_age(raw: str | None) -> int | None:
    """max_age as a number of seconds (any non-negative integer, huge ones clamped)."""
    if not raw:
        return None
    # isascii: str.isdigit() also accepts digits such as "²" that int() refuses.
    if not (raw.isascii() and raw.isdigit()):
        raise AuthorizeError("invalid_request", "max_age must be a non-negative integer.")
    digits = raw.lstrip("0") or "0"
    if len(digits) > len(str(MAX_AGE_BOUND)):
        return MAX_AGE_BOUND
    return min(int(digits), MAX_AGE_BOUND)


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


def _id_token_claim(claims_request: dict | None, name: str) -> dict | None:
    """The request for one ID token claim, when it is an object (not null)."""
    value = ((claims_request or {}).get("id_token") or {}).get(name)
    return value if isinstance(value, dict) else None


def _expected_subjects(hint: str | None, claims_request: dict | None) -> set[str]:
    """The `sub` values the request names: id_token_hint's, and a `sub` claim request's.

    Checked before anyone logs in, so that a forged hint never leads to the login page.
    """
    expected = set()
    if hint:
        expected.add(_hint_subject(hint))
    requested = _id_token_claim(claims_request, "sub")
    if requested is not None and "value" in requested:
        if not isinstance(requested["value"], str):
            raise AuthorizeError("invalid_request", "claims.id_token.sub.value must be a string.")
        expected.add(requested["value"])
    return expected


def _essential_acrs(claims_request: dict | None) -> frozenset[str] | None:
    """The acr values an essential acr request accepts; None when any acr will do.

    Only the claims parameter binds: acr_values, and a non-essential acr claim, are
    voluntary (OIDC Core 3.1.2.1, 5.5.1.1) and answered with the acr the session has.
    """
    requested = _id_token_claim(claims_request, "acr")
    if requested is None or requested.get("essential") is not True:
        return None
    if "values" in requested:
        values = requested["values"]
    elif "value" in requested:
        values = [requested["value"]]
    else:
        return None
    if not isinstance(values, list) or not values or not all(
        isinstance(v, str) for v in values
    ):
        raise AuthorizeError("invalid_request", "claims.id_token.acr values must be strings.")
    return frozenset(values)


def _needs_login(grant, params, sso, fresh_sid) -> bool:
    """Tell whether the person must log in first; raise the answer when a login is no use.

    A session opened for this very request (fresh) is never sent to the login page again:
    if it still misses what the request demands, that is the answer, not another login.
    """
    acrs = grant.essential_acrs
    acr_met = acrs is None or (sso is not None and sso.acr in acrs)
    if not acr_met and not acrs & LOGIN_ACRS:
        # OIDC Core 5.5.1.1: an essential acr that cannot be met is a failed
        # authentication; no login on our pages gives these levels.
        raise AuthorizeError("access_denied", "The requested acr cannot be satisfied.")
    if sso is None:
        return True
    fresh = fresh_sid is not None and fresh_sid == sso.sid
    prompts = (params.get("prompt") or "").split()
    # prompt=select_account is the login page: one account per person, but a family
    # shares a computer, and the login form is where one picks the account to use.
    # prompt=consent changes nothing, and discovery does not advertise it: which services
    # exist and what each receives is decided by the operators who register them (a
    # public-service mission, not the person's consent), so the approval it asks for is
    # established beforehand and is never missing, hence never consent_required (OIDC
    # Core 3.1.2.6 ties that error to prompt=none). Refusing it would lock out relying
    # parties that send it with offline_access, as OIDC Core 11 tells them to.
    if not fresh:
        if "login" in prompts or "select_account" in prompts:
            return True
        max_age = grant.max_age
        if max_age is not None and (max_age == 0 or time.time() - sso.auth_time > max_age):
            return True
    if grant.expected_subs:
        sub = subject_for(sso.account, grant.client.row, current_app.config["PAIRWISE_SALT"])
        if grant.expected_subs != {sub}:
            if fresh:
                # OIDC Core 3.1.2.1 and 5.5.1: the person just logged in and is still not
                # the one the request names; logging in again would loop forever.
                raise AuthorizeError("login_required",
                                     "The end-user is not the one the request names.")
            return True
    if not acr_met:
        if fresh:
            raise AuthorizeError("access_denied",
                                 "The authentication does not meet the requested acr.")
        return True
    return False


def _hint_subject(hint: str) -> str:
    """The `sub` of an id_token_hint, once its signature and issuer are checked."""
    try:
        token = jwt.decode(hint, provider().keys.public_keyset(), algorithms=["RS256", "ES256"])
    except (JoseError, ValueError):
        raise AuthorizeError("invalid_request", "id_token_hint is not valid.") from None
    claims = token.claims
    if claims.get("iss") != current_app.config["ISSUER"]:
        raise AuthorizeError("invalid_request", "id_token_hint was not issued here.")
    sub = claims.get("sub")
    if not isinstance(sub, str):
        raise AuthorizeError("invalid_request", "id_token_hint has no subject.")
    return sub


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
