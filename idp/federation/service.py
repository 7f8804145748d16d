"""Linking FranceConnect identities to parent accounts.

A FranceConnect identity is linked to a parent when its pivot identity (birth name,
first given name) and a mobile number proven by SMS match a legal representative of
the directory (the same rule as the parents' self-activation), and the parent then
confirms their children. Later logins with the same identity go straight through.
"""

from __future__ import annotations

from sqlalchemy import select

from idp.directory import family
from idp.directory.models import ParentIdentity
from idp.extensions import db
from idp.models import Account
from idp.models import FederatedIdentity
from idp.models.base import utcnow
from idp.services import audit

PROVIDER = "franceconnect"


class LinkError(ValueError):
    """The identity cannot be linked; the message is for the person, in French."""


def find_linked(subject: str) -> FederatedIdentity | None:
    """The link of an upstream subject, if any."""
    return db.session.execute(
        select(FederatedIdentity).where(FederatedIdentity.provider == PROVIDER,
                                        FederatedIdentity.subject == subject)
    ).scalar_one_or_none()


def link_of(account: Account) -> FederatedIdentity | None:
    """The FranceConnect identity linked to an account, if any."""
    return db.session.execute(
        select(FederatedIdentity).where(FederatedIdentity.provider == PROVIDER,
                                        FederatedIdentity.account_id == account.id)
    ).scalar_one_or_none()


def match_pivot(claims: dict, mobile: str) -> ParentIdentity | None:
    """Match the pivot identity and a mobile number to a directory parent."""
    birth_name = claims.get("family_name") or ""
    given_names = (claims.get("given_name") or "").split()
    if not birth_name or not given_names:
        return None
    for given in (given_names[0], " ".join(given_names)):
        identity = family.find_identity(birth_name, given, mobile)
        if identity is not None:
            return identity
    return None


def pivot(claims: dict) -> dict:
    """The part of the upstream claims worth keeping for support staff."""
    keep = ("given_name", "family_name", "birthdate", "gender", "birthplace", "birthcountry",
            "preferred_username")
    return {k: claims[k] for k in keep if isinstance(claims.get(k), str)}


def link(account: Account, subject: str, claims: dict) -> FederatedIdentity:
    """Link an upstream subject to an account (one each way)."""
    existing = find_linked(subject)
    if existing is not None and existing.account_id != account.id:
        raise LinkError("Cette identité FranceConnect est déjà liée à un autre compte.")
    current = link_of(account)
    if current is not None and current.subject != subject:
        raise LinkError("Ce compte est déjà lié à une autre identité FranceConnect.")
    if existing is None and current is None:
        existing = FederatedIdentity(provider=PROVIDER, subject=subject, account=account,
                                     account_id=account.id, claims=pivot(claims))
        db.session.add(existing)
        db.session.flush()
        audit.record("federation.linked", account=account, provider=PROVIDER)
    return existing or current


def touch(link_row: FederatedIdentity, claims: dict) -> None:
    """Record a login through the link."""
    link_row.last_login_at = utcnow()
    link_row.claims = pivot(claims)


def activate_without_password(account: Account, phone: str) -> None:
    """A parent who never activated gets an active account that logs in via FranceConnect."""
    if account.status == "provisional":
        account.status = "active"
        account.provisional_expires_at = None
        account.password_hash = None
        audit.record("account.activated", account=account, kind="franceconnect")
    account.phone_number = phone
    account.phone_number_verified = True


def unlink(account: Account) -> None:
    """Remove the link; only for accounts that can still log in with a password."""
    if not account.password_hash:
        raise LinkError("Votre compte n'a pas de mot de passe EduConnect : choisissez-en un "
                        "avant de délier FranceConnect.")
    row = link_of(account)
    if row is not None:
        db.session.delete(row)
        audit.record("federation.unlinked", account=account, provider=PROVIDER)
