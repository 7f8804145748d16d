"""Credential recovery and changes: the logic behind "Identifiant perdu", "Mot de passe
oublié" and the credential sections of the account page.

Recovery never tells whether an account, a phone number or an address exists. The
request functions do the same work whatever they find (look-ups, rate limits, a flow
created in every case) and return the message to send as `Outcome.later`, which the
caller runs once the response has left, so that a gateway's latency never shows. A code
flow with no account behind it carries a decoy code that nobody knows: checking a code
then fails exactly as a wrong code does.

Codes and links live only as hashes (the flow store keeps the hash of the flow id, the
code is hashed in the flow), are single use (`take`) and are bound to the account's
security stamp, so that any password change kills those still outstanding.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func
from sqlalchemy import or_
from sqlalchemy import select
from sqlalchemy import update

from idp.activation import service as activation
from idp.admin import distribution
from idp.directory import family
from idp.directory.models import Pupil
from idp.directory.normalise import name_key
from idp.extensions import db
from idp.models import Account
from idp.models import SsoSession
from idp.models import Token
from idp.models.base import utcnow
from idp.oauth import logout
from idp.oauth import tokens
from idp.services import accounts as account_service
from idp.services import audit
from idp.services import password_policy
from idp.services.messages import MessageError
from idp.services.phone_codes import CODE_TTL
from idp.services.phone_codes import DAILY_LIMIT
from idp.services.phone_codes import MAX_TRIES
from idp.services.phone_codes import RESEND_AFTER
from idp.services.phone_codes import CheckResult
from idp.services.phone_codes import CodeNotSent
from idp.services.phone_codes import PhoneCodes
from idp.services.secrets import new_token
from idp.services.secrets import token_hash

log = logging.getLogger(__name__)

SMS_FLOW = "recovery-sms"
LINK_FLOW = "recovery-link"
PHONE_FLOW = "account-phone"
LINK_TTL = 1800
# (requests, seconds) per client address, per account (identifier typed) and per phone
# number or e-mail address.
LIMITS = {"ip": (20, 600), "account": (5, 3600), "contact": (5, 3600)}
# Wrong current passwords accepted on the account page before a pause.
CURRENT_PASSWORD_LIMIT = (5, 900)
EMAIL_CHANGE_LIMIT = (5, 3600)
RESETTABLE_ROLES = ("eleve", "responsable")

Later = Callable[[], None]


class RecoveryError(ValueError):
    """A change that cannot be made; the message is for the person, in French."""


class Refused(Exception):
    """A new code was refused: "too_soon" (wait seconds) or "too_many" for this flow."""

    def __init__(self, reason: str, wait: int = 0):
        super().__init__(reason)
        self.reason = reason
        self.wait = wait


@dataclass
class Outcome:
    """What a step leads to: the flow that continues it, the messages to send once the
    response has left, and the identifier when the person has proved they may see it."""

    flow_id: str | None = None
    later: Later | None = None
    identifier: str | None = None


@dataclass
class Child:
    """A confirmed child on a parent's account page, and whether the parent may give
    their account a new provisional password."""

    pupil: Pupil
    account: Account | None
    can_reset: bool


# -- shared helpers -----------------------------------------------------------------------


def valid_email(email: str) -> bool:
    """Tell whether an address looks deliverable (one @, a dot in the domain, no space)."""
    local, at, domain = (email or "").partition("@")
    return bool(local) and bool(at) and "@" not in domain and "." in domain \
        and " " not in email and len(email) <= 254 \
        and not domain.startswith(".") and not domain.endswith(".")


def within_limits(ratelimiter, *, ip: str, identifier: str | None = None,
                  contact: str | None = None) -> bool:
    """Count one recovery request against each of its keys; False when one is over.

    Every key is counted whether or not an account matches it, so that a refusal tells
    nothing; numbers and addresses are kept only as hashes in the counters.
    """
    keys = [("ip", ip)]
    if identifier:
        keys.append(("account", account_service.normalise_identifier(identifier)))
    if contact:
        keys.append(("contact", contact.lower()))
    # A list, not a generator: every key is counted even when an earlier one is over.
    results = [ratelimiter.hit(_limit_key(scope, value), *LIMITS[scope])
               for scope, value in keys]
    return all(results)


def _limit_key(scope: str, value: str) -> str:
    return f"recovery-{scope}:{token_hash(value)[:32]}"


def check_new_password(config, account: Account, password: str, confirmation: str):
    """Judge a new password against the policy (length, common, names, strength)."""
    return password_policy.check(
        password, confirmation, min_length=config["PASSWORD_MIN_LENGTH"],
        min_score=config["PASSWORD_MIN_SCORE"],
        personal=[account.identifier, account.given_name, account.family_name],
    )


def end_sessions(account: Account, reason: str, keep_sid: str | None = None) -> int:
    """End the account's live sessions (but keep_sid) with back-channel logout."""
    live = db.session.execute(
        select(SsoSession).where(SsoSession.account_id == account.id,
                                 SsoSession.ended_at.is_(None),
                                 SsoSession.expires_at > utcnow())
    ).scalars().all()
    ended = 0
    for sso in live:
        if keep_sid is not None and sso.sid == keep_sid:
            continue
        logout.end_session(sso, reason=reason)
        ended += 1
    return ended


def _codes(provider) -> PhoneCodes:
    return provider.phone_codes


def _typed(identifier: str) -> str:
    return account_service.normalise_identifier(identifier)[:64]


def _valid_account(data: dict | None) -> Account | None:
    """The account a flow was made for, unless its credentials changed since."""
    if not data or not data.get("account_id"):
        return None
    account = db.session.get(Account, data["account_id"])
    if account is None or account.status == "disabled" \
            or account.security_stamp != data.get("stamp"):
        return None
    return account


def password_changed_job(provider, account: Account, help_url: str) -> Later:
    """Tell the person that their password changed: by SMS to a verified mobile, else by
    e-mail to a confirmed address."""
    account_id = account.id

    def send():
        person = db.session.get(Account, account_id)
        if person is None:
            return
        try:
            if person.phone_number and person.phone_number_verified:
                channel = "sms"
                provider.messages.sms(person.phone_number, "account_password_changed",
                                      identifier=person.identifier)
            elif person.email and person.email_verified:
                channel = "mail"
                provider.messages.mail(person.email, "account_password_changed",
                                       identifier=person.identifier, help_url=help_url)
            else:
                audit.record("account.password_change_not_notified", account=person,
                             reason="no_contact")
                return
        except MessageError:
            audit.record("account.password_change_not_notified", account=person,
                         channel=channel, reason="gateway")
            return
        audit.record("account.password_change_notified", account=person, channel=channel)

    return send


# -- lost identifier ----------------------------------------------------------------------


def parent_accounts(family_name: str, given_name: str, phone: str) -> list[Account]:
    """Active parents with this verified mobile whose name matches (usage or birth name,
    as on the account or in the school files), accents, case and hyphens aside."""
    wanted_family, wanted_given = name_key(family_name), name_key(given_name)
    if not (wanted_family and wanted_given and phone):
        return []
    candidates = db.session.execute(
        select(Account).where(Account.phone_number == phone,
                              Account.phone_number_verified.is_(True),
                              Account.role == "responsable", Account.status == "active")
        .order_by(Account.id)
    ).scalars().all()
    found = []
    for account in candidates:
        families, givens = family.name_keys(account)
        if wanted_family in families and wanted_given in givens:
            found.append(account)
    return found


def accounts_by_email(email: str) -> list[Account]:
    """Pupils' and parents' accounts whose confirmed address is this one (siblings may
    share their parent's)."""
    if not valid_email(email):
        return []
    return list(db.session.execute(
        select(Account).where(func.lower(Account.email) == email.lower(),
                              Account.email_verified.is_(True),
                              Account.role.in_(RESETTABLE_ROLES),
                              Account.status != "disabled")
        .order_by(Account.id)
    ).scalars())


def request_identifier_by_sms(provider, family_name: str, given_name: str,
                              phone: str) -> Later | None:
    """A parent's lost identifier: the SMS to send after the response (all the matching
    identifiers in one message), or None when nobody matches."""
    found = parent_accounts(family_name, given_name, phone)
    audit.record("recovery.identifier_requested", channel="sms", matches=len(found))
    if not found:
        return None
    return _identifier_job(provider, "sms", phone, [a.id for a in found], None)


def request_identifier_by_mail(provider, email: str, login_url: str) -> Later | None:
    """A pupil's lost identifier: the e-mail to send after the response, or None."""
    found = accounts_by_email(email)
    audit.record("recovery.identifier_requested", channel="mail", matches=len(found))
    if not found:
        return None
    return _identifier_job(provider, "mail", email, [a.id for a in found], login_url)


def _identifier_job(provider, channel: str, to: str, account_ids: list[int],
                    login_url: str | None) -> Later:
    def send():
        found = [a for a in (db.session.get(Account, i) for i in account_ids) if a]
        identifiers = [a.identifier for a in found]
        try:
            if channel == "sms":
                sent = _codes(provider).send_answer(to, "recovery_identifier",
                                                    identifiers=identifiers)
            else:
                provider.messages.mail(to, "recovery_identifier", identifiers=identifiers,
                                       login_url=login_url)
                sent = True
        except MessageError:
            sent, reason = False, "gateway"
        else:
            reason = "daily_limit"
        if not sent:
            for account in found:
                audit.record("recovery.identifier_not_sent", account=account,
                             channel=channel, reason=reason)
            return
        for account in found:
            audit.record("recovery.identifier_sent", account=account, channel=channel)

    return send


# -- forgotten password, by SMS (parents) -------------------------------------------------


def _sms_action(account: Account | None, phone: str) -> str | None:
    if account is None or account.role != "responsable" or account.status != "active":
        return None
    if not account.phone_number_verified or account.phone_number != phone:
        return None
    # A parent who only ever logged in through FranceConnect has no password to reset.
    return "code" if account.password_hash else "franceconnect"


def _decoy(state: dict, phone: str, now: float) -> None:
    """A code nobody knows, replaced by the real one when an SMS goes out: the checks of
    a flow without an account answer like those of a flow with one."""
    state.update({"code_hash": token_hash(new_token(24)), "code_phone": phone,
                  "code_expires_at": now + CODE_TTL, "code_tries": MAX_TRIES})


def request_reset_by_sms(provider, identifier: str, phone: str,
                         authorize: str | None = None, now: float | None = None) -> Outcome:
    """A parent's forgotten password: a code flow in every case; the SMS (a code, or the
    advice to use FranceConnect) goes out only to the account's own verified mobile."""
    now = time.time() if now is None else now
    account = account_service.find(identifier)
    action = _sms_action(account, phone)
    data = {"account_id": account.id if action else None,
            "stamp": account.security_stamp if action else None,
            "action": action, "identifier": _typed(identifier), "phone": phone,
            "authorize": authorize, "requested_at": now, "sends": 1, "step": "code"}
    _decoy(data, phone, now)
    flow_id = provider.flows.create(SMS_FLOW, data)
    audit.record("recovery.password_requested", account=account, identifier=_typed(identifier),
                 channel="sms",
                 outcome=action or ("unknown" if account is None else "not_eligible"))
    return Outcome(flow_id, _sms_job(provider, flow_id, action))


def _sms_job(provider, flow_id: str, action: str | None) -> Later | None:
    if action is None:
        return None

    def send():
        data = provider.flows.get(flow_id, SMS_FLOW)
        if data is None:
            return
        account = db.session.get(Account, data["account_id"])
        if action == "franceconnect":
            try:
                sent = _codes(provider).send_answer(data["phone"], "recovery_franceconnect")
            except MessageError:
                sent, reason = False, "gateway"
            else:
                reason = "daily_limit"
            if not sent:
                audit.record("recovery.franceconnect_not_sent", account=account,
                             channel="sms", reason=reason)
                return
            audit.record("recovery.franceconnect_told", account=account, channel="sms")
            return
        try:
            # Dated from the request, so that the 60-second wait before a new code is the
            # same with or without an account behind the flow.
            _codes(provider).send(data, data["phone"], "recovery_code",
                                  now=data["requested_at"])
        except CodeNotSent as exc:
            audit.record("recovery.code_not_sent", account=account, reason=exc.reason)
            return
        provider.flows.update(flow_id, SMS_FLOW, data)
        audit.record("recovery.code_sent", account=account)

    return send


def sms_flow(provider, flow_id: str | None) -> dict | None:
    """The data of a code flow, if it is still going."""
    return provider.flows.get(flow_id, SMS_FLOW)


def resend_code(provider, flow_id: str, data: dict, now: float | None = None) -> Outcome:
    """A new code for a flow, at most every 60 seconds and 5 times; raise Refused."""
    now = time.time() if now is None else now
    wait = RESEND_AFTER - (now - data.get("requested_at", 0))
    if wait > 0:
        raise Refused("too_soon", int(wait) + 1)
    if data.get("sends", 0) >= DAILY_LIMIT:
        raise Refused("too_many")
    data.update(requested_at=now, sends=data.get("sends", 0) + 1)
    _decoy(data, data["phone"], now)
    provider.flows.update(flow_id, SMS_FLOW, data)
    audit.record("recovery.code_requested_again", account=_valid_account(data),
                 identifier=data.get("identifier"))
    # The advice to use FranceConnect went with the first request; repeating it would
    # let anyone send SMS to that parent without the daily limit of codes.
    action = data.get("action") if data.get("action") == "code" else None
    return Outcome(flow_id, _sms_job(provider, flow_id, action))


def check_code(provider, flow_id: str, data: dict, code: str) -> CheckResult:
    """Check the code typed for a flow (3 tries); a right one opens the password step."""
    result = _codes(provider).check(data, code)
    account = _valid_account(data)
    if result.ok and data.get("action") == "code" and account is not None:
        data["step"] = "password"
        audit.record("recovery.code_verified", account=account)
    else:
        if result.ok:
            # Only reachable if the account changed since the code was sent.
            result = CheckResult("expired")
        audit.record("recovery.code_refused", account=account,
                     identifier=data.get("identifier"), outcome=result.outcome)
    provider.flows.update(flow_id, SMS_FLOW, data)
    return result


def sms_reset_account(provider, flow_id: str | None) -> Account | None:
    """The account whose new password a verified code flow may set."""
    data = sms_flow(provider, flow_id)
    if data is None or data.get("step") != "password":
        return None
    return _valid_account(data)


def finish_sms_reset(provider, flow_id: str, password: str, help_url: str) -> Outcome | None:
    """Set the new password of a verified code flow (once: the flow is taken)."""
    taken = provider.flows.take(flow_id, SMS_FLOW)
    if taken is None or taken.get("step") != "password" or taken.get("action") != "code":
        return None
    account = _valid_account(taken)
    if account is None:
        audit.record("recovery.reset_refused", identifier=taken.get("identifier"),
                     reason="stale")
        return None
    return reset_password(provider, account, password, channel="sms", help_url=help_url)


# -- forgotten password, by e-mail link (pupils) ------------------------------------------


def _mail_action(account: Account | None) -> str | None:
    if account is None or account.status == "disabled" \
            or account.role not in RESETTABLE_ROLES:
        return None
    if not (account.email and account.email_verified):
        return None
    if account.password_hash is None:
        return "franceconnect" if account.role == "responsable" \
            and account.status == "active" else None
    return "link"


def request_reset_by_mail(provider, identifier: str,
                          link_for: Callable[[str], str]) -> Outcome:
    """A pupil's forgotten password: a 30-minute link flow in every case; the link goes
    out only to the account's confirmed address. link_for turns a token into the URL."""
    account = account_service.find(identifier)
    action = _mail_action(account)
    token = provider.flows.create(
        LINK_FLOW, {"account_id": account.id if action else None,
                    "stamp": account.security_stamp if action else None, "action": action},
        ttl=LINK_TTL)
    link = link_for(token)
    audit.record("recovery.password_requested", account=account, identifier=_typed(identifier),
                 channel="mail",
                 outcome=action or ("unknown" if account is None else "not_eligible"))
    if action is None:
        return Outcome()
    return Outcome(later=_mail_job(provider, account.id, action, link))


def _mail_job(provider, account_id: int, action: str, link: str) -> Later:
    def send():
        account = db.session.get(Account, account_id)
        if account is None or not account.email:
            return
        # The address's own limit is counted here, silently: counting it before the
        # response would tell that the identifier has an address.
        if not provider.ratelimiter.hit(_limit_key("contact", account.email.lower()),
                                        *LIMITS["contact"]):
            audit.record("recovery.link_not_sent", account=account, reason="rate_limited")
            return
        try:
            if action == "link":
                provider.messages.mail(account.email, "recovery_link", link=link,
                                       identifier=account.identifier,
                                       minutes=LINK_TTL // 60)
            else:
                provider.messages.mail(account.email, "recovery_franceconnect",
                                       identifier=account.identifier)
        except MessageError:
            audit.record("recovery.link_not_sent", account=account, reason="gateway")
            return
        audit.record("recovery.link_sent" if action == "link"
                     else "recovery.franceconnect_told", account=account, channel="mail")

    return send


def link_account(provider, token: str | None) -> Account | None:
    """The account a reset link is for, while it is valid: unused, 30 minutes at most,
    and no credential change since it was sent."""
    data = provider.flows.get(token, LINK_FLOW)
    account = _valid_account(data) if data and data.get("action") == "link" else None
    if account is None:
        audit.record("recovery.link_refused", reason="stale" if data else "expired_or_used")
    return account


def finish_link_reset(provider, token: str, password: str, help_url: str) -> Outcome | None:
    """Set the new password of a reset link (once: the link is taken)."""
    taken = provider.flows.take(token, LINK_FLOW)
    account = _valid_account(taken) if taken and taken.get("action") == "link" else None
    if account is None:
        audit.record("recovery.link_refused", reason="stale" if taken else "expired_or_used")
        return None
    return reset_password(provider, account, password, channel="mail", help_url=help_url)


# -- a new password -----------------------------------------------------------------------


def reset_password(provider, account: Account, password: str, *, channel: str,
                   help_url: str) -> Outcome:
    """Set a forgotten password: unlock, kill outstanding links and codes, revoke every
    token, end every session with back-channel logout; the person is told afterwards."""
    account_service.set_password(provider.passwords, account, password)
    if account.status == "provisional":
        # Only an account activated before has a confirmed address; a parent's reset
        # made it provisional again, and its own mailbox now proves who chose this one.
        account.status = "active"
        account.provisional_expires_at = None
    revoked = tokens.revoke_account(account.id)
    audit.record("recovery.password_reset", account=account, channel=channel,
                 tokens_revoked=revoked)
    db.session.commit()
    end_sessions(account, reason="password_reset")
    return Outcome(later=password_changed_job(provider, account, help_url),
                   identifier=account.identifier)


# -- the account page ---------------------------------------------------------------------


def verify_current_password(provider, account: Account, password: str,
                            change: str = "password") -> str:
    """Check the current password before a change of password, e-mail or phone: "ok",
    "wrong" or "limited" (after 5 wrong ones in 15 minutes, counted for all three, so
    that a session left open cannot guess it)."""
    key = f"account-password:{account.id}"
    limit, window = CURRENT_PASSWORD_LIMIT
    if provider.ratelimiter.peek(key, window) >= limit:
        provider.passwords.verify(None, password)
        # Not "limited", which account.email_change_refused also says of too many requests.
        audit.record(f"account.{change}_change_refused", account=account,
                     reason="current_password_limited")
        return "limited"
    if account.password_hash and provider.passwords.verify(account.password_hash, password):
        return "ok"
    provider.ratelimiter.count(key, window)
    audit.record(f"account.{change}_change_refused", account=account, reason="wrong_password")
    return "wrong"


def change_password(provider, account: Account, password: str, *, keep_sid: str,
                    help_url: str) -> Outcome:
    """A new password chosen on the account page: this session stays, every other one
    ends (back-channel logout) and their tokens are revoked."""
    account_service.set_password(provider.passwords, account, password)
    revoked = db.session.execute(
        update(Token)
        .where(Token.account_id == account.id, Token.revoked_at.is_(None),
               or_(Token.sid.is_(None), Token.sid != keep_sid))
        .values(revoked_at=utcnow())
    ).rowcount
    audit.record("account.password_changed", account=account, tokens_revoked=revoked)
    db.session.commit()
    end_sessions(account, reason="password_changed", keep_sid=keep_sid)
    return Outcome(later=password_changed_job(provider, account, help_url))


def request_email_change(provider, account: Account, email: str,
                         link_for: Callable[[str], str]) -> Outcome:
    """Send a confirmation link to a new address (activation's confirmation page takes
    it); the address changes only when the link is used. Raise RecoveryError."""
    if not provider.ratelimiter.hit(f"account-email:{account.id}", *EMAIL_CHANGE_LIMIT):
        audit.record("account.email_change_refused", account=account, reason="limited")
        raise RecoveryError("Vous avez demandé trop de changements d'adresse. Réessayez "
                            "dans une heure.")
    token = provider.flows.create(
        activation.EMAIL_FLOW, {"account_id": account.id, "email": email,
                                "stamp": account.security_stamp}, ttl=activation.EMAIL_TTL)
    try:
        provider.messages.mail(email, "email_confirmation", link=link_for(token),
                               identifier=account.identifier,
                               hours=activation.EMAIL_TTL // 3600)
    except MessageError:
        provider.flows.delete(token)
        audit.record("account.email_change_not_sent", account=account, reason="gateway")
        raise RecoveryError("L'envoi du courriel a échoué. Réessayez dans quelques "
                            "instants.") from None
    audit.record("account.email_change_requested", account=account)
    later = None
    if account.email and account.email_verified and account.email.lower() != email.lower():
        later = _contact_change_job(provider, account.id, "mail", account.email,
                                    "account_email_change")
    return Outcome(later=later)


def _contact_change_job(provider, account_id: int, channel: str, to: str,
                        kind: str) -> Later:
    """Tell the former address or number that it is being replaced."""

    def send():
        account = db.session.get(Account, account_id)
        try:
            if channel == "sms":
                provider.messages.sms(to, kind, identifier=account.identifier)
            else:
                provider.messages.mail(to, kind, identifier=account.identifier)
        except MessageError:
            audit.record("account.contact_change_not_notified", account=account,
                         channel=channel)
            return
        audit.record("account.contact_change_notified", account=account, channel=channel)

    return send


def start_phone_change(provider, account: Account, phone: str) -> str:
    """Send a code to a new mobile; return the flow id. Raise CodeNotSent."""
    data = {"account_id": account.id, "phone": phone, "stamp": account.security_stamp}
    try:
        _codes(provider).send(data, phone, "account_phone_code")
    except CodeNotSent as exc:
        audit.record("account.phone_code_not_sent", account=account, reason=exc.reason)
        raise
    flow_id = provider.flows.create(PHONE_FLOW, data)
    audit.record("account.phone_code_sent", account=account)
    return flow_id


def phone_flow(provider, flow_id: str | None, account: Account) -> dict | None:
    """The data of a number change, if it is still going and is this account's."""
    data = provider.flows.get(flow_id, PHONE_FLOW)
    if data is None or data.get("account_id") != account.id:
        return None
    return data


def resend_phone_code(provider, flow_id: str, data: dict) -> None:
    """Send a new code for a number change. Raise CodeNotSent."""
    _codes(provider).send(data, data["phone"], "account_phone_code")
    provider.flows.update(flow_id, PHONE_FLOW, data)


def confirm_phone_change(provider, account: Account, flow_id: str, data: dict,
                         code: str) -> tuple[CheckResult, Outcome | None]:
    """Check the code sent to the new mobile; a right one makes it the verified number
    (the former one is told)."""
    result = _codes(provider).check(data, code)
    if not result.ok:
        provider.flows.update(flow_id, PHONE_FLOW, data)
        audit.record("account.phone_code_refused", account=account, outcome=result.outcome)
        return result, None
    taken = provider.flows.take(flow_id, PHONE_FLOW)
    if taken is None or _valid_account(taken) is not account:
        return CheckResult("expired"), None
    former = account.phone_number if account.phone_number_verified else None
    account.phone_number = taken["phone"]
    account.phone_number_verified = True
    audit.record("account.phone_changed", account=account)
    later = None
    if former and former != taken["phone"]:
        later = _contact_change_job(provider, account.id, "sms", former,
                                    "account_phone_changed")
    return result, Outcome(later=later)


def children(account: Account) -> list[Child]:
    """A parent's confirmed children, and which accounts the parent may reset: those of
    first-degree pupils (at primary school), who cannot manage an address yet."""
    if account.role != "responsable":
        return []
    result = []
    for pupil, state in family.proposed_children(account):
        if state != "confirmed":
            continue
        child = db.session.get(Account, pupil.account_id) if pupil.account_id else None
        can_reset = pupil.degree == "1d" and child is not None and child.role == "eleve" \
            and child.status != "disabled"
        result.append(Child(pupil, child, can_reset))
    return result


def resettable_child(parent: Account, pupil_id: int) -> Child | None:
    """The parent's confirmed first-degree child with this pupil id, if any."""
    return next((c for c in children(parent) if c.pupil.id == pupil_id and c.can_reset),
                None)


def reset_child_password(provider, parent: Account,
                         pupil_id: int) -> tuple[str, str, datetime]:
    """Give a parent's first-degree child a new provisional password, shown once to the
    parent; the child's sessions end. Return (identifier, password, expiry)."""
    child = resettable_child(parent, pupil_id)
    if child is None:
        audit.record("account.child_reset_refused", account=parent, pupil_id=pupil_id)
        raise RecoveryError("Vous ne pouvez pas réinitialiser le mot de passe de cet élève.")
    account = child.account
    # The same provisional password a school would distribute: the child then chooses
    # their own at the next login. Sessions end and services are told.
    password, expires_at = distribution.issue(provider, account, by=parent.identifier,
                                              event="account.child_password_reset")
    db.session.commit()
    return account.identifier, password, expires_at


def log_out_everywhere(account: Account, keep_sid: str) -> int:
    """Revoke every token of the account and end its sessions but keep_sid, which the
    caller ends itself (it also clears the browser's cookie); return how many ended."""
    revoked = tokens.revoke_account(account.id)
    audit.record("account.logged_out_everywhere", account=account, tokens_revoked=revoked)
    db.session.commit()
    return end_sessions(account, reason="all", keep_sid=keep_sid)
