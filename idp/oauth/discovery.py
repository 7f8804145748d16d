"""The OpenID Provider metadata document."""

from __future__ import annotations

from flask import current_app

from idp.oauth import claims
from idp.oauth.server import ALL_AUTH_METHODS
from idp.oauth.server import ASSERTION_ALGORITHMS
from idp.services.keys import ALGORITHMS

# The levels a password login gives (FranceConnect may report a higher one): an essential
# acr request that names none of them, nor the session's, gets access_denied.
ACR_VALUES = ["eidas1"]
# No consent: services and what they receive are decided by the operators who register
# them, so prompt=consent is accepted without a page and not advertised. select_account
# shows the login page, where the person picks the account (see idp.oauth.authorize).
PROMPT_VALUES = ["none", "login", "select_account"]
# Where metadata() keeps the document in app.extensions (tests clear it).
CACHE_KEY = "idp.discovery"


def cached_metadata(app) -> dict | None:
    """Return the document metadata() computed for app, or None if not computed (yet).

    Needs no application context; the same dict until the cache is cleared, so that
    derived data (idp.oauth.documents' bytes) can be keyed on its identity.
    """
    return app.extensions.get(CACHE_KEY)


def metadata() -> dict:
    """Return the discovery document (computed once per application)."""
    cached = current_app.extensions.get(CACHE_KEY)
    if cached is not None:
        return cached
    issuer = current_app.config["ISSUER"]
    scopes = ["openid", *sorted(s for s in claims.SCOPE_CLAIMS if s != "openid"),
              "offline_access"]
    doc = {
        "issuer": issuer,
        "authorization_endpoint": f"{issuer}/authorize",
        "token_endpoint": f"{issuer}/token",
        "userinfo_endpoint": f"{issuer}/userinfo",
        "jwks_uri": f"{issuer}/jwks",
        "end_session_endpoint": f"{issuer}/logout",
        "revocation_endpoint": f"{issuer}/revoke",
        "introspection_endpoint": f"{issuer}/introspect",
        "scopes_supported": scopes,
        "response_types_supported": ["code"],
        "response_modes_supported": ["query"],
        "grant_types_supported": ["authorization_code", "refresh_token"],
        "subject_types_supported": ["public", "pairwise"],
        "id_token_signing_alg_values_supported": list(ALGORITHMS),
        "token_endpoint_auth_methods_supported": ALL_AUTH_METHODS,
        "token_endpoint_auth_signing_alg_values_supported": ASSERTION_ALGORITHMS,
        "revocation_endpoint_auth_methods_supported": ALL_AUTH_METHODS,
        # RFC 8414 2: required wherever private_key_jwt is listed.
        "revocation_endpoint_auth_signing_alg_values_supported": ASSERTION_ALGORITHMS,
        "introspection_endpoint_auth_methods_supported": [
            m for m in ALL_AUTH_METHODS if m != "none"
        ],
        "introspection_endpoint_auth_signing_alg_values_supported": ASSERTION_ALGORITHMS,
        "code_challenge_methods_supported": ["S256"],
        "claims_supported": [
            "iss", "aud", "exp", "iat", "auth_time", "nonce", "acr", "amr", "sid", "at_hash",
            *claims.supported_claims(),
        ],
        "claims_parameter_supported": True,
        "request_parameter_supported": False,
        "request_uri_parameter_supported": False,
        "acr_values_supported": ACR_VALUES,
        "prompt_values_supported": PROMPT_VALUES,
        "display_values_supported": ["page", "touch"],
        "ui_locales_supported": ["fr-FR"],
        "claims_locales_supported": ["fr-FR"],
        "authorization_response_iss_parameter_supported": True,
        "backchannel_logout_supported": True,
        "backchannel_logout_session_supported": True,
        "frontchannel_logout_supported": False,
        "service_documentation": f"{issuer}/aide",
        "op_policy_uri": f"{issuer}/mentions-legales",
    }
    current_app.extensions[CACHE_KEY] = doc
    return doc
