"""Subject identifiers: public, or pairwise per sector (OIDC Core 8.1)."""

import base64
import hashlib

from idp.services.clients import sector_of


def pairwise(sector: str, local_id: str, salt: str) -> str:
    """Return the pairwise subject of an account within a sector."""
    digest = hashlib.sha256(f"{sector}|{local_id}|{salt}".encode()).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


def subject_for(account, client, salt: str) -> str:
    """Return the `sub` the client sees for the account."""
    if client.subject_type == "public":
        return account.public_id
    return pairwise(sector_of(client), account.public_id, salt)
