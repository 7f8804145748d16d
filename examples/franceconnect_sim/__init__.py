"""FranceConnect v2 simulator — a DEVELOPMENT TOOL, never to be used in production.

An OpenID Connect provider that behaves like FranceConnect's integration platform
towards a service provider (FS): `/api/v2` endpoints, `acr_values`, 32-character
`state` and `nonce`, `client_secret_post`, pairwise `sub`, signed ID token and
userinfo (ES256 or RS256), `/session/end`; test people with the password "123";
fault injection for tests. Run it from the repository root::

    python -m examples.franceconnect_sim --port 5002 \\
        --issuer http://127.0.0.1:5002/api/v2 --client-id ID --client-secret SECRET \\
        --redirect-uri URI --post-logout-redirect-uri URI [--alg ES256|RS256]

See README.md next to this file.
"""

from .app import create_app

__all__ = ["create_app"]
