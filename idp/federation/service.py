"""Linking FranceConnect identities to parent accounts.

FranceConnect is for parents (legal representatives, role "responsable") only: no
other account is ever linked, nor logged in through it.

A FranceConnect identity is linked to a parent when its pivot identity (birth name,
first given name) and a mobile number proven by SMS match a legal representative of
the directory (the same rule as the parents' self-activation), and the parent then
confirms their children. Later logins with the same identity go straight through.

A parent logged in with their password may link their identity from the account page:
the password is asked again, and the identity's names must be the account's; the
parent is told by SMS or e-mail.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from sqlalchemy import select

from idp.directory import family
from idp.directory.models import ParentIdentity
from idp.directory.normalise import name_key
from idp.extensions import db
from idp.models import Account
from idp.models import FederatedIdentity
from idp.models.base import utcnow
from idp.oauth.logout import UPSTREAM_ID_TOKEN
from idp.services import audit
from idp.services.messages import MessageError

log = logging.getLogger(__name__)

PROVIDER = "franceconnect"
PARENT_ROLE = "responsable"
# The key of a session's `extra` that holds FranceConnect's ID token (sealed), for
# FranceConnect's logout.
SESSION_HINT_KEY = UPSTREAM_ID_TOKEN
NOT_A_PARENT = ("FranceConnect permet aux représentants légaux (parents) de se connecter. "
                "Les élèves et les personnels se connectent avec leur identifiant et leur "
                "mot de passe EduConnect.")


class LinkError(ValueError):
    """The identity cannot be linked; the message is for the person, in French."""

    def __init__(self, message: str, status: int = 409):
        super().__init__(message)
        self.status = status


def may_use(account: Account) -> bool:
    """Whether an account may be linked to FranceConnect or log in through it."""
    return account.role == PARENT_ROLE


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


def names_match(account: Account, claims: dict) -> bool:
    """Whether the identity's names are the account's, compared as the directory does
    (`name_key`: accents, case, spaces and hyphens aside): the family name, birth
    (`family_name`) or usage (`preferred_username`), is one of the account's or of its
    school records (birth or usage name), and the first given name, or all of them, is
    the account's given name or a record's (as `match_pivot` takes them)."""
    families, givens = family.name_keys(account)
    upstream_families = {name_key(claims.get("family_name")),
                         name_key(claims.get("preferred_username"))} - {""}
    given_names = (claims.get("given_name") or "").split()
    upstream_givens = {name_key(given_names[0]), name_key(" ".join(given_names))} \
        if given_names else set()
    return bool(families & upstream_families) and bool(givens & upstream_givens)


def pivot(claims: dict) -> dict:
    """The part of the upstream claims worth keeping for support staff."""
    keep = ("given_name", "family_name", "birthdate", "gender", "birthplace", "birthcountry",
            "preferred_username")
    return {k: claims[k] for k in keep if isinstance(claims.get(k), str)}


def link(account: Account, subject: str, claims: dict, *,
         replace: bool = False) -> FederatedIdentity:
    """Link an upstream subject to a parent's account (one each way).

    replace: the account's link to another subject is moved to this one (the person
    has just proven the account is theirs, and FranceConnect's `sub` changed).
    """
    if not may_use(account):
        audit.record("federation.link_refused", account=account, reason="role")
        raise LinkError(NOT_A_PARENT, 403)
    existing = find_linked(subject)
    if existing is not None and existing.account_id != account.id:
        raise LinkError("Cette identité FranceConnect est déjà liée à un autre compte.")
    current = link_of(account)
    if current is not None and current.subject != subject:
        if not replace:
            raise LinkError("Ce compte est déjà lié à une autre identité FranceConnect. "
                            "Connectez-vous avec votre identifiant et votre mot de passe "
                            "EduConnect, déliez-la depuis « Mon compte », puis liez la "
                            "nouvelle.")
        current.subject = subject
        current.claims = pivot(claims)
        db.session.flush()
        audit.record("federation.relinked", account=account, provider=PROVIDER,
                     reason="subject_changed")
        return current
    if existing is None and current is None:
        existing = FederatedIdentity(provider=PROVIDER, subject=subject, account=account,
                                     account_id=account.id, claims=pivot(claims))
        db.session.add(existing)
        db.session.flush()
        audit.record("federation.linked", account=account, provider=PROVIDER)
    return existing or current


def link_from_account_page(account: Account, subject: str, claims: dict) -> FederatedIdentity:
    """Link the identity a parent just logged in with at FranceConnect, from their
    account page (their password was checked when the link started): only when its
    names are the account's. Raise LinkError."""
    if not may_use(account):
        audit.record("federation.link_refused", account=account, reason="role")
        raise LinkError(NOT_A_PARENT, 403)
    if not names_match(account, claims):
        audit.record("federation.link_refused", account=account, reason="names")
        raise LinkError(
            "L'identité FranceConnect avec laquelle vous vous êtes connecté "
            "ne correspond pas au titulaire de ce compte (nom de naissance ou d'usage et "
            "prénom). Chaque parent lie sa propre identité FranceConnect à son propre "
            "compte. Aucune identité n'a été liée.", 403)
    return link(account, subject, claims)


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


def linked_notice_job(provider, account: Account, help_url: str) -> Callable[[], None]:
    """Tell the person that a FranceConnect identity was linked to their account: by SMS
    to a verified mobile, else by e-mail to a confirmed address (as for a new password).
    The messages are messages/sms_federation_linked.txt and mail_federation_linked.txt."""
    account_id = account.id
    messages = provider.messages

    def send():
        person = db.session.get(Account, account_id)
        if person is None:
            return
        channel = None
        try:
            if person.phone_number and person.phone_number_verified:
                channel = "sms"
                messages.sms(person.phone_number, "federation_linked",
                             identifier=person.identifier)
            elif person.email and person.email_verified:
                channel = "mail"
                messages.mail(person.email, "federation_linked", identifier=person.identifier,
                              help_url=help_url)
            else:
                audit.record("federation.link_not_notified", account=person,
                             reason="no_contact")
                return
        except MessageError:
            audit.record("federation.link_not_notified", account=person, channel=channel,
                         reason="gateway")
            return
        audit.record("federation.link_notified", account=person, channel=channel)

    return send
