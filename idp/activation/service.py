"""The activation logic: matching a parent, children's birth dates, finishing an account.

Flow state lives in the flow store (never in the browser); the account is only changed
at the last step, in one transaction, by the request that takes the flow.
"""

from __future__ import annotations

from datetime import date
from datetime import datetime

from sqlalchemy import select

from idp.directory import family
from idp.directory.models import ParentIdentity
from idp.directory.models import Pupil
from idp.directory.models import Representative
from idp.directory.normalise import name_key
from idp.directory.normalise import phone_e164
from idp.extensions import db
from idp.models import Account
from idp.models.base import utcnow
from idp.services import audit
from idp.services.phone_codes import CodeNotSent
from idp.web import provider

PARENT_FLOW = "parent-activation"
ACCOUNT_FLOW = "account-activation"
EMAIL_FLOW = "email-confirmation"
# The activation's last page, shown again on reload (post/redirect/get) for a while.
ACTIVATED_FLOW = "account-activated"
ACTIVATED_TTL = 600
EMAIL_TTL = 86400
MAX_BIRTHDATE_TRIES = 5


def flow_minutes() -> int:
    """How long a journey (activation, recovery, FranceConnect identification) may take,
    in minutes: its flow expires after that, so its first page says it (RGAA 13.1)."""
    return provider().config["FLOW_TTL"] // 60


class ActivationError(ValueError):
    """A step cannot be completed; the message is for the person, in French."""


def parse_birthdate(value: str | None) -> date | None:
    """Read JJ/MM/AAAA (also JJ-MM-AAAA, JJMMAAAA or AAAA-MM-JJ) into a date."""
    text = (value or "").strip()
    for fmt in ("%d/%m/%Y", "%d-%m-%Y", "%d.%m.%Y", "%d%m%Y", "%Y-%m-%d"):
        try:
            return datetime.strptime(text, fmt).date()
        except ValueError:
            continue
    return None


def match_parent(family_name: str, given_name: str, mobile: str) -> ParentIdentity | None:
    """Find the directory's parent for a name and mobile (birth or usage name)."""
    identity = family.find_identity(family_name, given_name, mobile)
    if identity is not None:
        return identity
    number = phone_e164(mobile)
    if number is None:
        return None
    wanted_name, wanted_given = name_key(family_name), name_key(given_name)
    records = db.session.execute(
        select(Representative).where(Representative.mobile == number,
                                     Representative.identity_id.is_not(None))
    ).scalars()
    for record in records:
        names = {name_key(record.birth_name), name_key(record.usage_name)}
        if wanted_name in names and name_key(record.given_name) == wanted_given:
            return db.session.get(ParentIdentity, record.identity_id)
    return None


def identity_locked(identity_id: int) -> ParentIdentity | None:
    """Load a parent identity and lock it until the transaction ends (PostgreSQL)."""
    return db.session.execute(
        select(ParentIdentity).where(ParentIdentity.id == identity_id).with_for_update()
    ).scalar_one_or_none()


def parent_account_for(identity: ParentIdentity) -> Account:
    """The identity's account, created provisional when the parent never had one."""
    if identity.account_id is not None:
        return db.session.get(Account, identity.account_id)
    return family.create_parent_account(identity)


def children_to_confirm(account: Account) -> list[Pupil]:
    """The children proposed to a parent that are not answered yet, or all of them."""
    return [pupil for pupil, _state in family.proposed_children(account)]


def check_children(account: Account, answers: dict[int, dict]) -> dict[int, str]:
    """Check the birth dates given for each proposed child; return errors by pupil id.

    answers maps a pupil id to {"birthdate": "JJ/MM/AAAA", "refused": bool}. Each
    message names its child: the error summary lists them all, out of their fieldsets,
    and a parent must tell which child is wrong (RGAA 11.10).
    """
    errors = {}
    for pupil in children_to_confirm(account):
        answer = answers.get(pupil.id, {})
        if answer.get("refused"):
            continue
        given = parse_birthdate(answer.get("birthdate"))
        name = f"{pupil.given_name} {pupil.family_name}"
        if given is None:
            errors[pupil.id] = f"{name} : saisissez la date de naissance au format " \
                               "JJ/MM/AAAA."
        elif pupil.birthdate is None or given != pupil.birthdate:
            errors[pupil.id] = f"{name} : la date de naissance ne correspond pas à celle " \
                               "connue de l'établissement."
    return errors


def record_children(account: Account, answers: dict[int, dict]) -> None:
    """Confirm or refuse each proposed child, as the parent answered."""
    for pupil in children_to_confirm(account):
        if answers.get(pupil.id, {}).get("refused"):
            family.refuse_child(account, pupil)
        else:
            family.confirm_child(account, pupil)


def pupil_of(account: Account) -> Pupil | None:
    """The directory record of a pupil's account."""
    return db.session.execute(
        select(Pupil).where(Pupil.account_id == account.id)
    ).scalar_one_or_none()


def finish(account: Account, *, password_hash: str, phone: str | None = None,
           identity: ParentIdentity | None = None, kind: str) -> None:
    """Make the account active with its chosen password (and verified phone)."""
    if account.status == "active" and kind == "parent":
        raise ActivationError("Ce compte est déjà activé.")
    account.password_hash = password_hash
    account.password_changed_at = utcnow()
    account.status = "active"
    account.provisional_expires_at = None
    account.failed_logins = 0
    account.locked_until = None
    account.security_stamp = (account.security_stamp or 0) + 1
    if phone:
        account.phone_number = phone
        account.phone_number_verified = True
    if identity is not None:
        family.link_parent_account(account, identity)
    audit.record("account.activated", account=account, kind=kind)


#: Country codes of the overseas departments, whose numbers are written like in France.
_OVERSEAS = {"262", "590", "594", "596"}


def masked_phone(e164: str) -> dict[str, str]:
    """A number as people write it, with its middle hidden: {"shown": "06 •• •• 44 55",
    "end": "44 55"}; a screen reader is given "end" only (see macros/forms.html)."""
    end = f"{e164[-4:-2]} {e164[-2:]}"
    national = None
    if e164.startswith("+33") and len(e164) == 12:
        national = "0" + e164[3:]
    elif e164[1:4] in _OVERSEAS and len(e164) == 13:
        # +590 690 12 34 56 is written 06 90 12 34 56 in the Antilles.
        national = "0" + e164[4:]
    start = national[:2] if national else e164[:-8]
    return {"shown": f"{start} •• •• {end}", "end": end}


def not_sent_notice(exc: CodeNotSent) -> dict[str, str]:
    """What a refused "Recevoir un nouveau code" shows (macros/forms.html notice): waiting
    is no error and no code was typed, so none of it is the code field's error (RGAA 7.5,
    11.10); a failed or refused sending is told as an error, still not the field's."""
    return {"level": "info" if exc.reason == "too_soon" else "error", "text": exc.message}


#: The password policy's refusal of a confirmation that differs (password_policy.check).
CONFIRMATION_DIFFERS = "Les deux mots de passe saisis ne sont pas identiques."


def password_errors(message: str | None) -> dict[str, str]:
    """The errors of a refused new password, by field: a confirmation that differs is
    the confirmation field's error (that is the field to fix), any other the password's."""
    if not message:
        return {}
    return {"confirmation" if message == CONFIRMATION_DIFFERS else "password": message}


def provisional_expired(account: Account) -> bool:
    """Tell whether a distributed provisional password has passed its validity."""
    return bool(account.provisional_expires_at and account.provisional_expires_at < utcnow())
