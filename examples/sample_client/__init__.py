"""Scolarité Services (démo): a relying service of the identity provider.

A small Flask application that logs people in with the provider through OpenID
Connect discovery only (Authlib's Flask client: authorization code flow, PKCE
S256, state, nonce, RFC 9207 `iss` check), shows "Mes services" from the claims,
logs out through RP-initiated logout and receives back-channel logout.

Run it next to the provider with `make run`, or alone::

    python -m examples.sample_client --port 5001

It reads its registration from `var/sample_client.json` (written by
`idp demo load`), or from the file named by SAMPLE_CLIENT_CONFIG.
"""

from examples.sample_client.app import create_app

__all__ = ["create_app"]
