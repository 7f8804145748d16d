"""The relying party and the browser of the benchmarks, over plain HTTP with `requests`.

Endpoints come from each provider's discovery document, so the same code drives our
provider and node-oidc-provider. Every response is checked: a benchmark that counts
errors as work would flatter the server.
"""

from __future__ import annotations

import base64
import hashlib
import re
import secrets
from urllib.parse import parse_qs
from urllib.parse import urlencode
from urllib.parse import urljoin
from urllib.parse import urlsplit

import requests

from bench.common import BenchError

HIDDEN_RE = re.compile(r'<input[^>]*type="hidden"[^>]*name="([^"]+)"[^>]*value="([^"]*)"')


def pkce_pair() -> tuple[str, str]:
    """A PKCE verifier and its S256 challenge."""
    verifier = secrets.token_urlsafe(48)
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    return verifier, base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


class RelyingParty:
    """A confidential client (client_secret_basic, PKCE S256) and one browser session."""

    def __init__(self, base: str, client_id: str, client_secret: str, redirect_uri: str,
                 scope: str):
        self.base = base
        self.client_id = client_id
        self.client_secret = client_secret
        self.redirect_uri = redirect_uri
        self.scope = scope
        self.browser = requests.Session()
        self.backend = requests.Session()
        meta = self.backend.get(f"{base}/.well-known/openid-configuration", timeout=10)
        meta.raise_for_status()
        self.meta = meta.json()

    # -- building blocks ----------------------------------------------------------------------

    def authorize_url(self) -> tuple[str, str, str]:
        """Return (url, state, verifier) of a fresh authorization request."""
        verifier, challenge = pkce_pair()
        state = secrets.token_urlsafe(16)
        params = {
            "response_type": "code",
            "client_id": self.client_id,
            "redirect_uri": self.redirect_uri,
            "scope": self.scope,
            "state": state,
            "nonce": secrets.token_urlsafe(16),
            "code_challenge": challenge,
            "code_challenge_method": "S256",
        }
        return f"{self.meta['authorization_endpoint']}?{urlencode(params)}", state, verifier

    def code_from(self, location: str, state: str) -> str:
        """Check a redirect to the client and return its code."""
        if not location.startswith(self.redirect_uri):
            raise BenchError(f"expected a redirect to the client, got {location[:200]}")
        query = parse_qs(urlsplit(location).query)
        if "error" in query:
            raise BenchError(f"authorization error: {query}")
        if query.get("state") != [state]:
            raise BenchError("state mismatch in the authorization response")
        return query["code"][0]

    def follow_to_client(self, url: str, state: str, session=None, hops: int = 12) -> str:
        """Follow redirects (GET) until one goes to the client; return the code."""
        session = session or self.browser
        for _ in range(hops):
            response = session.get(url, allow_redirects=False, timeout=30)
            if response.status_code not in (302, 303):
                raise BenchError(
                    f"GET {url[:120]} answered {response.status_code}: {response.text[:300]}"
                )
            url = urljoin(url, response.headers["Location"])
            if url.startswith(self.redirect_uri):
                return self.code_from(url, state)
        raise BenchError("too many redirects before reaching the client")

    def redeem(self, code: str, verifier: str) -> dict:
        """Token request with client_secret_basic and the PKCE verifier."""
        response = self.backend.post(
            self.meta["token_endpoint"],
            data={
                "grant_type": "authorization_code",
                "code": code,
                "redirect_uri": self.redirect_uri,
                "code_verifier": verifier,
            },
            auth=(self.client_id, self.client_secret),
            timeout=30,
        )
        if response.status_code != 200:
            raise BenchError(f"token endpoint answered {response.status_code}: {response.text}")
        body = response.json()
        if not body.get("access_token") or not body.get("id_token"):
            raise BenchError(f"token response without access or ID token: {body}")
        return body

    def userinfo(self, access_token: str) -> dict:
        """UserInfo request with the bearer token in the header."""
        response = self.backend.get(
            self.meta["userinfo_endpoint"],
            headers={"Authorization": f"Bearer {access_token}"},
            timeout=30,
        )
        if response.status_code != 200:
            raise BenchError(f"userinfo answered {response.status_code}: {response.text}")
        body = response.json()
        if not body.get("sub") or not body.get("email") or not body.get("given_name"):
            raise BenchError(f"userinfo without the expected claims: {body}")
        return body

    # -- whole flows --------------------------------------------------------------------------

    def close_connections(self, close: bool = True) -> None:
        """Ask the server to close the connection after each response (as gunicorn's
        sync worker always does), or keep connections alive again."""
        for session in (self.browser, self.backend):
            if close:
                session.headers["Connection"] = "close"
            else:
                session.headers.pop("Connection", None)

    def sso_flow(self) -> dict:
        """Authorize with the existing session → token → userinfo."""
        url, state, verifier = self.authorize_url()
        response = self.browser.get(url, allow_redirects=False, timeout=30)
        if response.status_code not in (302, 303):
            raise BenchError(f"authorize answered {response.status_code}: {response.text[:300]}")
        code = self.code_from(urljoin(url, response.headers["Location"]), state)
        tokens = self.redeem(code, verifier)
        return self.userinfo(tokens["access_token"])

    def hosted_login(self, identifier: str, password: str, meter=None,
                     browser: requests.Session | None = None) -> str:
        """Our provider's login: authorize → /login form → POST → resume → code.

        With a meter, only the GET of the login page and the POST of the form are
        inside the measured interval. Returns the code (after resuming) when no meter
        is given, else the resume URL (not followed).
        """
        browser = browser or self.browser
        url, state, _verifier = self.authorize_url()
        response = browser.get(url, allow_redirects=False, timeout=30)
        if response.status_code != 302 or "/login" not in response.headers.get("Location", ""):
            raise BenchError(f"authorize without session answered {response.status_code}")
        login_url = urljoin(url, response.headers["Location"])
        if meter:
            meter.start()
        page = browser.get(login_url, timeout=30)
        if page.status_code != 200:
            raise BenchError(f"login page answered {page.status_code}")
        fields = dict(HIDDEN_RE.findall(page.text))
        if "csrf_token" not in fields:
            raise BenchError("no csrf_token on the login page")
        fields.update({"identifier": identifier, "password": password})
        posted = browser.post(
            urljoin(login_url, "/login"), data=fields, allow_redirects=False, timeout=60
        )
        if meter:
            meter.stop()
        if posted.status_code != 302 or "/authorize/resume" not in posted.headers.get(
            "Location", ""
        ):
            raise BenchError(f"login POST answered {posted.status_code}: {posted.text[:300]}")
        resume = urljoin(login_url, posted.headers["Location"])
        if meter:
            return resume
        return self.follow_to_client(resume, state, session=browser)

    def interaction_login(self) -> str:
        """node-oidc-provider: the benchmark's interaction logs in and consents by itself."""
        url, state, verifier = self.authorize_url()
        code = self.follow_to_client(url, state)
        tokens = self.redeem(code, verifier)
        self.userinfo(tokens["access_token"])
        return code
