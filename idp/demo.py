"""Demonstration data for `make run`: people, and the sample client's registration."""

from __future__ import annotations

import json
import os
from pathlib import Path

from idp.directory.examples import load_examples
from idp.extensions import db
from idp.models import Account
from idp.services import clients

SAMPLE_CLIENT_ID = "scolarite-services-demo"
#: Where the demo writes the sample client's credentials for examples/sample_client.
SAMPLE_CLIENT_FILE = "sample_client.json"

#: The demo family's password (the mother and one pupil are activated with it).
DEMO_PASSWORD = "Demo-EduConnect-2026"  # noqa: S105 - fictitious demo people only


def load(app, if_empty: bool = False) -> dict:
    """Import the sample directory, activate the demo family, register the sample client."""
    if if_empty and db.session.execute(db.select(Account.id).limit(1)).first():
        return {"loaded": False, "reason": "database not empty"}
    provider = app.extensions["idp"]
    directory = load_examples(app, password=DEMO_PASSWORD)
    secret = None
    if clients.get(SAMPLE_CLIENT_ID) is None:
        _, secret = clients.register(
            client_id=SAMPLE_CLIENT_ID,
            name="Scolarité Services (démo)",
            redirect_uris=["http://127.0.0.1:5001/callback"],
            post_logout_redirect_uris=["http://127.0.0.1:5001/"],
            backchannel_logout_uri="http://127.0.0.1:5001/backchannel-logout",
            scopes=["openid", "profile", "email", "phone", "school", "children",
                    "offline_access"],
        )
        _write_sample_client(app, secret)
    provider.keys.ensure()
    return {"loaded": True, "accounts": directory.get("accounts", {}),
            "password": DEMO_PASSWORD, "directory_refused": directory["refused"],
            "pupils_and_parents_created": directory["created"],
            "client_id": SAMPLE_CLIENT_ID, "client_secret": secret}


def _write_sample_client(app, secret: str) -> None:
    """Hand the sample client its credentials through a private file under var/."""
    path = Path(app.config["VAR_DIR"]) / SAMPLE_CLIENT_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    data = {"issuer": app.config["ISSUER"], "client_id": SAMPLE_CLIENT_ID,
            "client_secret": secret}
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        json.dump(data, fh)


def describe(result: dict) -> str:
    """Human summary of what load() did."""
    if not result.get("loaded"):
        return "Demo data not loaded: the database already has accounts."
    lines = ["Sample directory imported (examples/data, fictitious people)."]
    for role, identifier in result["accounts"].items():
        lines.append(f"  {role}: {identifier} / {result['password']}")
    lines.append(f"Sample client: {result['client_id']}")
    if result.get("client_secret"):
        lines.append(f"  client_secret: {result['client_secret']} (shown only now)")
    return "\n".join(lines)
