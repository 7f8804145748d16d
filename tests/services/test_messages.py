"""Message backends: outbox files, a real SMTP server, an HTTP SMS gateway."""

import datetime
import json
import socket
import ssl
import threading
from http.server import BaseHTTPRequestHandler
from http.server import ThreadingHTTPServer

import pytest
from aiosmtpd.controller import Controller
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from idp.services.messages import HttpSmsBackend
from idp.services.messages import Message
from idp.services.messages import MessageError
from idp.services.messages import OutboxBackend
from idp.services.messages import SmtpBackend


def test_outbox_writes_one_json_file_per_message(tmp_path):
    backend = OutboxBackend(str(tmp_path / "outbox"))
    backend.send(Message("sms", "+33612345678", "Code : 123456", kind="code"))
    files = list((tmp_path / "outbox").glob("*.json"))
    assert len(files) == 1
    data = json.loads(files[0].read_text())
    assert data["to"] == "+33612345678" and data["body"] == "Code : 123456"


class Recorder:
    def __init__(self):
        self.messages = []

    async def handle_DATA(self, server, session, envelope):  # noqa: N802 - aiosmtpd API
        self.messages.append(envelope)
        return "250 OK"


def _self_signed(tmp_path):
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now).not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost")]), False)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), True)
            .sign(key, hashes.SHA256()))
    cert_path, key_path = tmp_path / "cert.pem", tmp_path / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                           serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return cert_path, key_path


def test_smtp_backend_delivers_over_starttls_to_a_real_server(tmp_path):
    cert, key = _self_signed(tmp_path)
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    recorder = Recorder()
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    controller = Controller(recorder, hostname="127.0.0.1", port=port, tls_context=context,
                            require_starttls=True, server_hostname="localhost")
    controller.start()
    try:
        backend = SmtpBackend("localhost", port,
                              "EduConnect <noreply@example.org>", cafile=str(cert))
        backend.send(Message("mail", "eleve@example.org", "Bonjour\n", subject="Objet é"))
    finally:
        controller.stop()
    assert len(recorder.messages) == 1
    envelope = recorder.messages[0]
    assert envelope.rcpt_tos == ["eleve@example.org"]
    assert b"Bonjour" in envelope.content


def test_smtp_failure_raises_message_error():
    backend = SmtpBackend("127.0.0.1", 1, "x@example.org", starttls=False, timeout=1)
    with pytest.raises(MessageError):
        backend.send(Message("mail", "a@example.org", "x", subject="s"))


@pytest.fixture
def gateway():
    """An SMS gateway that fails with 503 as many times as told, then accepts."""
    state = {"fail": 0, "received": [], "auth": []}

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):  # noqa: N802
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            state["auth"].append(self.headers.get("Authorization"))
            if state["fail"] > 0:
                state["fail"] -= 1
                self.send_response(503)
            else:
                state["received"].append(body)
                self.send_response(202)
            self.end_headers()

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    state["url"] = f"http://127.0.0.1:{server.server_port}/sms"
    yield state
    server.shutdown()
    server.server_close()


def test_http_sms_retries_with_backoff_then_delivers(gateway):
    gateway["fail"] = 2
    backend = HttpSmsBackend(gateway["url"], "tok", "EduConnect", retries=3, backoff=0.01)
    backend.send(Message("sms", "+33612345678", "Votre code : 123456"))
    assert gateway["received"][0]["to"] == "+33612345678"
    assert gateway["auth"] == ["Bearer tok"] * 3


def test_http_sms_gives_up_after_its_retries(gateway):
    gateway["fail"] = 10
    backend = HttpSmsBackend(gateway["url"], "tok", "EduConnect", retries=2, backoff=0.01)
    with pytest.raises(MessageError):
        backend.send(Message("sms", "+33612345678", "x"))
    assert gateway["received"] == []
