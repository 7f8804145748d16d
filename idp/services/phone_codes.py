"""One-time codes sent by SMS to prove a phone number.

A code has 6 digits (pyotp), is valid 10 minutes, allows 3 tries, may be re-sent after
60 seconds, and a number receives at most 5 codes a day (answers to requests, such as
a lost identifier, count toward the same limit). The code itself lives only as
a hash in the flow that asked for it; a code that could not be sent was never issued.
A typed value that is not 6 digits is refused without costing a try: it is never
compared with the code, so it tells nothing about it.

The tries are counted in the shared rate limiter, not only in the flow: parallel
requests that all read the flow before any of them wrote it back would otherwise each
see three tries left. The code's hash is keyed with the server's secret, so that a
copy of the database does not give the code away (a million candidates are quickly
hashed).
"""

from __future__ import annotations

import hashlib
import hmac
import re
import time
import unicodedata
from dataclasses import dataclass

import pyotp

from idp.services.messages import MessageError
from idp.services.secrets import new_token
from idp.services.secrets import same

CODE_TTL = 600
MAX_TRIES = 3
RESEND_AFTER = 60
DAILY_LIMIT = 5
DAY = 86400
CODE_DIGITS = 6

_CODE_FORMAT = re.compile(f"[0-9]{{{CODE_DIGITS}}}")
#: Set in a flow once its code is spent by wrong tries, until a new code is sent.
EXHAUSTED = "code_exhausted"


#: What people are told when no code could be sent, by CodeNotSent.reason.
NOT_SENT_MESSAGES = {
    "too_soon": "Un code vient de vous être envoyé. Vous pourrez en demander un nouveau "
                "dans {wait} secondes.",
    "daily_limit": "Trop de codes ont été envoyés à ce numéro aujourd'hui. Réessayez demain "
                   "ou contactez l'établissement de votre enfant.",
    "gateway": "L'envoi du SMS a échoué. Réessayez dans quelques instants.",
}
#: What people are told when a typed code is refused, by CheckResult.outcome.
CHECK_MESSAGES = {
    "wrong": "Le code saisi est incorrect. Il vous reste {tries} essai(s).",
    "expired": "Ce code a expiré. Demandez un nouveau code.",
    "exhausted": "Vous avez saisi trop de codes incorrects. Demandez un nouveau code.",
    "format": "Le code reçu par SMS comporte 6 chiffres. Saisissez ces 6 chiffres, sans "
              "lettre ni autre signe. Aucun essai n'a été décompté.",
}


@dataclass
class CheckResult:
    """The outcome of a code check: ok, wrong (tries left), expired, exhausted, or
    format (not 6 digits: refused without using a try)."""

    outcome: str
    tries_left: int = 0

    @property
    def ok(self) -> bool:
        """Tell whether the code was right."""
        return self.outcome == "ok"

    @property
    def message(self) -> str:
        """The French explanation of a refusal."""
        return CHECK_MESSAGES[self.outcome].format(tries=self.tries_left)


class CodeNotSent(Exception):
    """No code was sent: too soon, daily limit reached, or the gateway failed."""

    def __init__(self, reason: str, wait: int = 0):
        super().__init__(reason)
        self.reason = reason
        self.wait = wait

    @property
    def message(self) -> str:
        """The French explanation for the person."""
        return NOT_SENT_MESSAGES[self.reason].format(wait=self.wait)


class PhoneCodes:
    """Issue and check SMS codes; state is kept in the caller's flow dict."""

    def __init__(self, messenger, ratelimiter, secret: str):
        self.messenger = messenger
        self.ratelimiter = ratelimiter
        self._key = hashlib.sha256(f"sms-code:{secret}".encode()).digest()

    def _digest(self, phone: str, code: str) -> str:
        return hmac.new(self._key, f"{phone}:{code}".encode(), hashlib.sha256).hexdigest()

    def _daily_key(self, phone: str) -> str:
        # The number only as a keyed hash: rate counters are no directory of phones.
        return f"sms-day:{self._digest(phone, 'day')[:32]}"

    def send_answer(self, phone: str, kind: str, **context) -> bool:
        """Send an SMS that answers a request (a lost identifier, advice) within the
        number's daily limit shared with codes; False when the limit is reached and
        nothing was sent. A gateway failure raises MessageError and counts nothing."""
        key = self._daily_key(phone)
        if self.ratelimiter.peek(key, DAY) >= DAILY_LIMIT:
            return False
        self.messenger.sms(phone, kind, **context)
        self.ratelimiter.count(key, DAY)
        return True

    def _claim_try(self, state: dict) -> int | None:
        """Take the next of the code's three tries in the shared rate limiter and return
        its number, or None when all are taken (by this flow or a parallel request)."""
        code_id = state.get("code_id") or state["code_hash"][:32]
        # Tries this flow already knows of are taken: start after them.
        for number in range(MAX_TRIES - state.get("code_tries", MAX_TRIES) + 1, MAX_TRIES + 1):
            if self.ratelimiter.first_use(f"sms-try:{code_id}:{number}", CODE_TTL + 60):
                return number
        return None

    def send(self, state: dict, phone: str, kind: str, now: float | None = None) -> None:
        """Send a new code to phone and record it in state; raise CodeNotSent."""
        now = time.time() if now is None else now
        last = state.get("code_sent_at", 0)
        if now - last < RESEND_AFTER:
            raise CodeNotSent("too_soon", int(RESEND_AFTER - (now - last)) + 1)
        key = self._daily_key(phone)
        if self.ratelimiter.peek(key, DAY) >= DAILY_LIMIT:
            raise CodeNotSent("daily_limit")
        code = pyotp.HOTP(pyotp.random_base32(), digits=CODE_DIGITS).at(0)
        try:
            self.messenger.sms(phone, kind, code=code, minutes=CODE_TTL // 60)
        except MessageError as exc:
            raise CodeNotSent("gateway") from exc
        # Counted once sent: a gateway failure costs the person nothing.
        self.ratelimiter.count(key, DAY)
        state.update({
            "code_hash": self._digest(phone, code),
            "code_id": new_token(12),
            "code_phone": phone,
            "code_sent_at": now,
            "code_expires_at": now + CODE_TTL,
            "code_tries": MAX_TRIES,
        })
        state.pop(EXHAUSTED, None)

    def check(self, state: dict, code: str, now: float | None = None) -> CheckResult:
        """Check a typed code against state; each wrong try uses one of three. A value
        that is not 6 digits is refused as "format" and uses no try."""
        now = time.time() if now is None else now
        if not state.get("code_hash"):
            # A code spent by wrong tries stays "exhausted": calling it expired would
            # send people looking for a delay that is not the problem.
            return CheckResult("exhausted" if state.get(EXHAUSTED) else "expired")
        if now > state.get("code_expires_at", 0):
            self.clear(state)
            return CheckResult("expired")
        if state.get("code_tries", 0) <= 0:
            return CheckResult("exhausted")
        typed = normalise(code)
        if not _CODE_FORMAT.fullmatch(typed):
            # Never compared with the code, so costing no try gives nothing away: only
            # 6-digit guesses can match, and each of them uses one of the three tries.
            return CheckResult("format", state["code_tries"])
        number = self._claim_try(state)
        if number is not None and same(self._digest(state["code_phone"], typed),
                                       state["code_hash"]):
            self.clear(state)
            return CheckResult("ok")
        state["code_tries"] = MAX_TRIES - number if number is not None else 0
        if state["code_tries"] <= 0:
            self.clear(state, keep_sent_at=True)
            state[EXHAUSTED] = True
            return CheckResult("exhausted")
        return CheckResult("wrong", state["code_tries"])

    @staticmethod
    def clear(state: dict, keep_sent_at: bool = False) -> None:
        """Forget the current code (used, expired or exhausted)."""
        for key in ("code_hash", "code_id", "code_expires_at", "code_tries", EXHAUSTED):
            state.pop(key, None)
        if not keep_sent_at:
            state.pop("code_sent_at", None)


def normalise(code: str | None) -> str:
    """The typed code without spaces, full-width digits made plain: "123 456" and
    "１２３４５６" are the code 123456 as phones and pasted SMS may give it."""
    return "".join(unicodedata.normalize("NFKC", code or "").split())
