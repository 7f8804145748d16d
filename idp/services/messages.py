"""SMS and e-mail through configurable backends, from French templates.

`outbox` (the default) writes one JSON file per message under var/outbox/, which the
demo and the tests read; `smtp` sends mail through a real SMTP server (STARTTLS, auth);
`http` sends SMS to a JSON gateway with a bearer token, retrying with backoff. A message
that cannot be sent raises MessageError, so that callers consume nothing.
"""

from __future__ import annotations

import json
import logging
import os
import smtplib
import ssl
import time
import uuid
from dataclasses import dataclass
from email.message import EmailMessage
from pathlib import Path

import requests

from idp.metrics import MESSAGES

log = logging.getLogger(__name__)


class MessageError(Exception):
    """The message could not be handed to its gateway."""


@dataclass
class Message:
    """A rendered message ready to send."""

    channel: str  # "sms" or "mail"
    to: str
    body: str
    subject: str | None = None
    kind: str = ""


class OutboxBackend:
    """One JSON file per message in a directory (development, demo and tests)."""

    def __init__(self, directory: str):
        self.directory = Path(directory)

    def send(self, message: Message) -> None:
        """Write the message atomically (a reader never sees half a file)."""
        self.directory.mkdir(parents=True, exist_ok=True)
        name = f"{time.time_ns()}-{message.channel}-{uuid.uuid4().hex[:8]}.json"
        tmp = self.directory / f".{name}.tmp"
        data = {"channel": message.channel, "to": message.to, "subject": message.subject,
                "body": message.body, "kind": message.kind, "sent_at": time.time()}
        try:
            with open(tmp, "w", encoding="utf-8") as fh:
                json.dump(data, fh, ensure_ascii=False)
            os.replace(tmp, self.directory / name)
        except OSError as exc:
            raise MessageError(f"outbox: {exc.strerror}") from exc


class SmtpBackend:
    """Mail through an SMTP server, with STARTTLS and authentication when configured."""

    def __init__(self, host, port, sender, username="", password="", starttls=True,
                 timeout=10.0, cafile=None):
        self.host, self.port, self.sender = host, port, sender
        self.username, self.password = username, password
        self.starttls, self.timeout = starttls, timeout
        # A private CA for the relay, if it does not use a public one.
        self.cafile = cafile or None

    def send(self, message: Message) -> None:
        """Hand one e-mail to the SMTP server."""
        mail = EmailMessage()
        mail["From"] = self.sender
        mail["To"] = message.to
        mail["Subject"] = message.subject or ""
        mail["Message-ID"] = f"<{uuid.uuid4().hex}@{self.sender.split('@')[-1]}>"
        mail.set_content(message.body)
        try:
            with smtplib.SMTP(self.host, self.port, timeout=self.timeout) as smtp:
                if self.starttls:
                    smtp.starttls(context=ssl.create_default_context(cafile=self.cafile))
                if self.username:
                    smtp.login(self.username, self.password)
                smtp.send_message(mail)
        except (OSError, smtplib.SMTPException) as exc:
            raise MessageError(f"smtp: {exc.__class__.__name__}") from exc


class HttpSmsBackend:
    """SMS through a JSON HTTP gateway: POST {to, sender, text} with a bearer token."""

    def __init__(self, url, token, sender, retries=3, timeout=5.0, backoff=0.5):
        self.url, self.token, self.sender = url, token, sender
        self.retries, self.timeout, self.backoff = retries, timeout, backoff

    def send(self, message: Message) -> None:
        """POST the SMS, retrying transient failures with exponential backoff."""
        payload = {"to": message.to, "sender": self.sender, "text": message.body,
                   "reference": uuid.uuid4().hex}
        last = None
        for attempt in range(self.retries + 1):
            try:
                response = requests.post(
                    self.url, json=payload, timeout=self.timeout,
                    headers={"Authorization": f"Bearer {self.token}"},
                )
                if response.status_code < 300:
                    return
                if response.status_code < 500 and response.status_code != 429:
                    # The gateway refused this message: retrying would not help.
                    raise MessageError(f"sms gateway refused: HTTP {response.status_code}")
                last = f"HTTP {response.status_code}"
            except requests.RequestException as exc:
                last = exc.__class__.__name__
            if attempt < self.retries:
                time.sleep(self.backoff * 2 ** attempt)
        raise MessageError(f"sms gateway unavailable: {last}")


class Messenger:
    """Render templates and send through the configured backends."""

    def __init__(self, sms_backend, mail_backend, render):
        self.sms_backend = sms_backend
        self.mail_backend = mail_backend
        self.render = render

    @classmethod
    def from_config(cls, config, render) -> Messenger:
        """Build the backends named in the configuration."""
        outbox = OutboxBackend(os.path.join(config["VAR_DIR"], "outbox"))
        if config["SMS_BACKEND"] == "http":
            sms = HttpSmsBackend(config["SMS_HTTP_URL"], config["SMS_HTTP_TOKEN"],
                                 config["SMS_SENDER"], retries=config["SMS_HTTP_RETRIES"])
        else:
            sms = outbox
        if config["MAIL_BACKEND"] == "smtp":
            mail = SmtpBackend(config["SMTP_HOST"], config["SMTP_PORT"], config["MAIL_FROM"],
                               config["SMTP_USERNAME"], config["SMTP_PASSWORD"],
                               config["SMTP_STARTTLS"], cafile=config["SMTP_CAFILE"])
        else:
            mail = outbox
        return cls(sms, mail, render)

    def sms(self, to: str, kind: str, **context) -> None:
        """Send the SMS template messages/sms_<kind>.txt to a phone number."""
        body = self.render(f"messages/sms_{kind}.txt", **context).strip()
        self._send(self.sms_backend, Message("sms", to, body, kind=kind))

    def mail(self, to: str, kind: str, **context) -> None:
        """Send the e-mail template messages/mail_<kind>.txt (first line: subject)."""
        text = self.render(f"messages/mail_{kind}.txt", **context)
        subject, _, body = text.partition("\n")
        self._send(self.mail_backend,
                   Message("mail", to, body.strip() + "\n", subject=subject.strip(), kind=kind))

    def _send(self, backend, message: Message) -> None:
        try:
            backend.send(message)
        except MessageError:
            MESSAGES.labels(message.channel, "failed").inc()
            log.warning("%s %s could not be sent", message.channel, message.kind)
            raise
        MESSAGES.labels(message.channel, "sent").inc()
