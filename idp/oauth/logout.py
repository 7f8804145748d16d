"""RP-initiated logout 1.0 and back-channel logout 1.0.

A logout request that carries a valid `id_token_hint` for the current session is
carried out at once; otherwise the person confirms on our page, so that a third-party
site cannot log people out. Ending the session notifies, by signed logout tokens,
every client that received tokens within it.
"""

from __future__ import annotations

import logging
import time
import uuid
from concurrent.futures import ThreadPoolExecutor

import requests
from authlib.common.urls import add_params_to_uri
from flask import current_app
from flask import redirect
from flask import render_template
from flask import url_for
from joserfc import jwt
from joserfc.errors import JoseError

from idp.extensions import db
from idp.federation.client import FederationError
from idp.metrics import LOGOUTS
from idp.oauth import tokens
from idp.oauth.subject import subject_for
from idp.services import audit
from idp.services import clients
from idp.web import current_sso
from idp.web import provider
from idp.web import render_error
from idp.web import set_sso_cookie

log = logging.getLogger(__name__)

FLOW_KIND = "logout"
EVENT = "http://schemas.openid.net/event/backchannel-logout"


class LogoutError(Exception):
    """A logout request that cannot be honoured; shown on a page, never redirected."""


def handle(params: dict, method: str):
    """Validate an end-session request and log out or ask for confirmation."""
    try:
        client, hint_claims = _validate(params)
    except LogoutError as error:
        return render_error(400, "Déconnexion impossible", str(error))
    target = None
    if params.get("post_logout_redirect_uri"):
        target = add_params_to_uri(
            params["post_logout_redirect_uri"],
            [("state", params["state"])] if params.get("state") else [],
        )
    sso = current_sso()
    if sso is None:
        return redirect(target or url_for("oauth.logged_out"))
    if hint_claims is not None and hint_claims.get("sid") == sso.sid:
        return finish(sso, target)
    flow_id = provider().flows.create(FLOW_KIND, {"target": target})
    db.session.commit()
    return render_template(
        "auth/logout_confirm.html", flow_id=flow_id,
        client_name=client.name if client else None,
    )


def confirm(flow_id: str | None):
    """Carry out a logout the person confirmed."""
    data = provider().flows.get(flow_id, FLOW_KIND)
    if data is None:
        return render_error(
            400, "Déconnexion expirée", "La demande de déconnexion a expiré. Réessayez."
        )
    provider().flows.delete(flow_id)
    sso = current_sso()
    if sso is None:
        db.session.commit()
        return redirect(data.get("target") or url_for("oauth.logged_out"))
    return finish(sso, data.get("target"))


UPSTREAM_FLOW = "upstream-logout"
#: Where a session opened through FranceConnect keeps its (sealed) ID token, which
#: FranceConnect's logout needs back (written by idp.federation).
UPSTREAM_ID_TOKEN = "fc_id_token"  # noqa: S105 - a key name, not a secret


def finish(sso, target: str | None):
    """End the session, notify the clients, clear the cookie, and go to target.

    A session opened through FranceConnect is also ended there: the browser goes to its
    end-session endpoint first and comes back to `federation.logged_out`, then to target.
    """
    upstream_token = (sso.extra or {}).get(UPSTREAM_ID_TOKEN)
    end_session(sso)
    destination = target or url_for("oauth.logged_out")
    franceconnect = provider().franceconnect
    if upstream_token and franceconnect is not None:
        state = provider().flows.create(UPSTREAM_FLOW, {"target": destination})
        db.session.commit()
        try:
            upstream = franceconnect.end_session_url(upstream_token, state)
        except FederationError:
            upstream = None
        if upstream:
            destination = upstream
    return set_sso_cookie(redirect(destination), None)


def end_session(sso, reason: str = "logout") -> None:
    """End a session, revoke its online tokens, and send back-channel logout tokens."""
    client_ids = provider().sessions.end(sso, reason=reason)
    tokens.revoke_session(sso.sid)
    db.session.commit()
    notify(sso.account, sso.sid, client_ids)
    db.session.commit()


def end_all_sessions(account, reason: str) -> None:
    """End every live session of an account and tell its services, within the caller's
    transaction (the caller commits)."""
    for sso in provider().sessions.end_all(account, reason=reason):
        tokens.revoke_session(sso.sid, keep_offline=False)
        notify(account, sso.sid, [c.client_id for c in sso.clients])


def done_page():
    """The page shown after a logout with no registered return address."""
    return render_template("auth/logged_out.html")


def _validate(params: dict):
    hint = params.get("id_token_hint")
    client_id = params.get("client_id")
    hint_claims = None
    if hint:
        try:
            token = jwt.decode(
                hint, provider().keys.public_keyset(), algorithms=["RS256", "ES256"]
            )
        except (JoseError, ValueError):
            raise LogoutError(
                "La demande de déconnexion du service n'est pas valide (jeton incorrect)."
            ) from None
        hint_claims = token.claims
        if hint_claims.get("iss") != current_app.config["ISSUER"]:
            raise LogoutError("La demande de déconnexion ne vient pas de ce fournisseur.")
        aud = hint_claims.get("aud")
        aud_id = aud if isinstance(aud, str) else (aud or [None])[0]
        if client_id and client_id != aud_id:
            raise LogoutError("La demande de déconnexion est incohérente (client_id).")
        client_id = aud_id
    client = clients.lookup(client_id) if client_id else None
    if client_id and client is None:
        raise LogoutError("Le service qui demande la déconnexion n'est pas reconnu.")
    target = params.get("post_logout_redirect_uri")
    if target:
        if client is None:
            raise LogoutError(
                "L'adresse de retour ne peut être acceptée sans identifier le service."
            )
        if target not in client.post_logout_redirect_uris:
            raise LogoutError("L'adresse de retour après déconnexion n'est pas enregistrée.")
    return client, hint_claims


def logout_token(client, account, sid: str) -> str:
    """Return the signed logout token for one client (Back-Channel Logout 2.4)."""
    cfg = current_app.config
    now = int(time.time())
    claims = {
        "iss": cfg["ISSUER"],
        "aud": client.client_id,
        "iat": now,
        "exp": now + 120,
        "jti": uuid.uuid4().hex,
        "sub": subject_for(account, client, cfg["PAIRWISE_SALT"]),
        "sid": sid,
        "events": {EVENT: {}},
    }
    return provider().id_tokens.sign(
        claims, client.id_token_signed_response_alg or "RS256", "logout+jwt"
    )


def notify(account, sid: str, client_ids: list[str]) -> dict[str, bool]:
    """POST logout tokens to every client with a back-channel URI; return results."""
    jobs = []
    for client_id in client_ids:
        client = clients.lookup(client_id)
        if client is None or not client.backchannel_logout_uri:
            continue
        jobs.append((client, logout_token(client, account, sid)))
    if not jobs:
        return {}
    timeout = current_app.config["BACKCHANNEL_TIMEOUT"]

    def send(job):
        client, token = job
        try:
            response = requests.post(
                client.backchannel_logout_uri, data={"logout_token": token},
                timeout=timeout, allow_redirects=False,
            )
            return client.client_id, response.status_code in (200, 204)
        except requests.RequestException as exc:
            log.warning("back-channel logout to %s failed: %s", client.client_id, exc)
            return client.client_id, False

    with ThreadPoolExecutor(max_workers=min(8, len(jobs))) as pool:
        results = dict(pool.map(send, jobs))
    for client_id, ok in results.items():
        audit.record("logout.backchannel", account=account, client_id=client_id, delivered=ok)
        LOGOUTS.labels("delivered" if ok else "failed").inc()
    return results
