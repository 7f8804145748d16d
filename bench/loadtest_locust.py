"""The load generator of `python -m bench.loadtest`: locust, headless, in its own process.

    python -m bench.loadtest_locust CONFIG.json RESULT.json

Started by bench/loadtest.py once the provider runs; never on its own. Importing locust
monkey-patches the standard library with gevent, which is why this lives in a separate
process from the orchestrator (that starts gunicorn, fills PostgreSQL and reads /proc).

Each simulated user is one browser (a cookie jar) plus the relying party that holds the
tokens it obtained. Tasks, weighted like a school-year-start morning:

- login (15): a new browser (empty cookie jar) logs in with a random account through the
  hosted pages: GET /authorize -> 302 /login -> GET /login (csrf_token, flow) -> POST
  /login -> 302 /authorize/resume -> GET -> 302 to the client with a code -> POST /token;
- sso (45): with the session of the last login: GET /authorize -> 302 with a code ->
  POST /token -> GET /userinfo;
- refresh (20): refresh_token grant with the latest (rotated) refresh token;
- userinfo (20): GET /userinfo with the latest access token.

Every response is checked (status, Location, state, iss, tokens present, the ID token's
iss/aud/nonce/sub, the same `sub` throughout a session); anything else, a timeout or a
connection error is an error, recorded with the request and the response.
"""

# ruff: noqa: I001 - locust must be imported first: it monkey-patches the standard library
# with gevent before anything else creates sockets or locks.
from __future__ import annotations

import locust
from locust import FastHttpUser
from locust import HttpUser
from locust import between
from locust import constant
from locust.env import Environment

import base64
import hashlib
import json
import logging
import random
import re
import resource
import secrets
import sys
import time
import traceback
from urllib.parse import parse_qs
from urllib.parse import urlencode
from urllib.parse import urljoin
from urllib.parse import urlsplit

import gevent

HIDDEN_RE = re.compile(r'<input[^>]*type="hidden"[^>]*name="([^"]+)"[^>]*value="([^"]*)"')
OPERATIONS = ("login", "sso", "refresh", "userinfo")
MAX_ERROR_DETAILS = 40


class FlowFailed(Exception):
    """A step of an operation did not get the expected answer (already recorded)."""


# -- what the run collects ------------------------------------------------------------------


class Collector:
    """Every HTTP request and every operation, with its end time, duration and outcome."""

    def __init__(self):
        self.http: list[tuple[float, str, float, bool]] = []
        self.ops: list[tuple[float, str, float, bool]] = []
        self.errors: list[dict] = []
        self.error_counts: dict[str, int] = {}
        self.window_start: float | None = None
        self.window_end: float | None = None

    def on_request(self, request_type, name, response_time, response_length, response=None,
                   context=None, exception=None, start_time=None, url=None, **_kw):
        """locust's request event: one HTTP request."""
        self.http.append((time.time(), name, float(response_time), exception is None))

    def op(self, name: str, started: float, ok: bool) -> None:
        """One whole operation (login, sso, refresh, userinfo)."""
        self.ops.append((time.time(), name, (time.perf_counter() - started) * 1000.0, ok))

    def error(self, op: str, detail: dict) -> None:
        """Remember what went wrong (all counted, the first ones in full)."""
        key = f"{op}: {detail.get('request', '?')} -> {detail.get('problem', '?')}"
        key = re.sub(r"\d{5,}", "N", key)[:200]
        self.error_counts[key] = self.error_counts.get(key, 0) + 1
        if len(self.errors) < MAX_ERROR_DETAILS:
            self.errors.append({"time": round(time.time(), 3), "operation": op, **detail})


COLLECTOR = Collector()
CFG: dict = {}
META: dict = {}


# -- small helpers ----------------------------------------------------------------------------


def pkce_pair() -> tuple[str, str]:
    """A PKCE verifier and its S256 challenge."""
    verifier = secrets.token_urlsafe(48)
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    return verifier, base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


def jwt_claims(token: str) -> dict:
    """The payload of a JWT, unverified (the provider's signature is not what is tested)."""
    payload = token.split(".")[1]
    payload += "=" * (-len(payload) % 4)
    return json.loads(base64.urlsafe_b64decode(payload))


def header(response, name: str) -> str:
    """A response header, whatever the client library."""
    headers = getattr(response, "headers", None) or {}
    value = headers.get(name) or headers.get(name.lower())
    return value or ""


def body_excerpt(response, limit: int = 400) -> str:
    """The start of a response body, for error reports."""
    try:
        text = response.text or ""
    except Exception:  # noqa: BLE001 - a broken response has no text
        return ""
    if "<html" in text[:200].lower():
        # An HTML page: its title and visible text, without the head and the markup.
        title = re.search(r"<title>(.*?)</title>", text, re.S | re.I)
        body = re.sub(r"(?is)<head>.*?</head>|<script.*?</script>|<nav.*?</nav>", " ", text)
        body = re.sub(r"<[^>]+>", " ", body)
        text = (f"[{title.group(1).strip()}] " if title else "") + body
    text = re.sub(r"\s+", " ", text).strip()
    return text[:limit]


def redact(url: str) -> str:
    """A URL with its query values hidden (codes, states, flows)."""
    parts = urlsplit(url)
    if not parts.query:
        return parts.path
    keys = [k for k, _v in (p.partition("=")[::2] for p in parts.query.split("&"))]
    return f"{parts.path}?" + "&".join(f"{k}=…" for k in keys)


# -- the simulated user -----------------------------------------------------------------------


class Visitor:
    """Behaviour shared by the two client flavours (FastHttpUser, HttpUser)."""

    abstract = True

    def on_start(self):
        self.sub = None
        self.access_token = None
        self.refresh_token = None
        self.rng = random.Random()
        # Each user starts with a session, as a pupil who logged in at the first lesson.
        self.run_op("login", self.do_login)

    # -- the plumbing ----------------------------------------------------------------------

    def clear_cookies(self) -> None:
        jar = getattr(self.client, "cookiejar", None)
        if jar is None:
            jar = self.client.cookies
        jar.clear()

    def call(self, op: str, method: str, url: str, name: str, expect: int, check=None,
             **kwargs):
        """One HTTP request; the answer must have status `expect` and pass `check`
        (which returns a problem string or None). Returns the response or raises
        FlowFailed after recording the error."""
        if CFG["client"] == "requests":
            kwargs.setdefault("timeout", CFG["timeout"])
        problem = None
        with self.client.request(method, url, name=name, catch_response=True,
                                 allow_redirects=False, **kwargs) as response:
            status = getattr(response, "status_code", 0) or 0
            error = getattr(response, "error", None)
            if status != expect:
                problem = f"status {status}, expected {expect}"
                if error is not None and not status:
                    problem = f"{error.__class__.__name__}: {error}"[:300]
            elif check is not None:
                try:
                    problem = check(response)
                except Exception as exc:  # noqa: BLE001 - a malformed answer is an error
                    problem = f"unreadable answer: {exc.__class__.__name__}: {exc}"[:300]
            if problem is None:
                response.success()
                return response
            response.failure(problem)
        COLLECTOR.error(op, {
            "request": f"{method} {redact(url)}",
            "problem": problem,
            "status": status,
            "location": redact(header(response, "Location")) if header(response, "Location")
            else "",
            "body": body_excerpt(response),
        })
        raise FlowFailed(problem)

    def run_op(self, name: str, fn) -> None:
        started = time.perf_counter()
        try:
            fn()
        except FlowFailed:
            COLLECTOR.op(name, started, False)
            self.reset()
            return
        except Exception as exc:  # noqa: BLE001 - a bug here is an error too, with its trace
            COLLECTOR.error(name, {
                "request": "(generator)", "problem": f"{exc.__class__.__name__}: {exc}"[:300],
                "traceback": traceback.format_exc()[-1500:],
            })
            COLLECTOR.op(name, started, False)
            self.reset()
            return
        COLLECTOR.op(name, started, True)

    def reset(self) -> None:
        """After an error the state is unknown: the next operation logs in again."""
        self.sub = None
        self.access_token = None
        self.refresh_token = None

    def ensure_session(self) -> bool:
        """Log in first when an earlier error left the user without a session."""
        if self.sub is None:
            self.run_op("login", self.do_login)
        return self.sub is not None

    # -- the protocol pieces -----------------------------------------------------------------

    def authorize_request(self) -> tuple[str, str, str, str]:
        verifier, challenge = pkce_pair()
        state = secrets.token_urlsafe(16)
        nonce = secrets.token_urlsafe(16)
        params = {
            "response_type": "code",
            "client_id": CFG["client_id"],
            "redirect_uri": CFG["redirect_uri"],
            "scope": CFG["scope"],
            "state": state,
            "nonce": nonce,
            "code_challenge": challenge,
            "code_challenge_method": "S256",
        }
        return f"{META['authorization_endpoint']}?{urlencode(params)}", state, verifier, nonce

    @staticmethod
    def code_check(state: str):
        def check(response):
            location = header(response, "Location")
            if not location.startswith(CFG["redirect_uri"]):
                return f"redirect to {redact(location)!r}, not to the client"
            query = parse_qs(urlsplit(location).query)
            if "error" in query:
                return f"authorization error {query.get('error')} {query.get('error_description')}"
            if query.get("state") != [state]:
                return "state mismatch"
            if "iss" in query and query["iss"] != [CFG["issuer"]]:
                return f"iss {query['iss']} is not the issuer"
            if not query.get("code"):
                return "no code"
            return None
        return check

    @staticmethod
    def code_of(response) -> str:
        return parse_qs(urlsplit(header(response, "Location")).query)["code"][0]

    def token_check(self, nonce: str | None, refresh: bool):
        def check(response):
            body = response.json()
            missing = [k for k in ("access_token", "id_token", "refresh_token") if not body.get(k)]
            if missing:
                return f"token response without {', '.join(missing)}"
            if str(body.get("token_type", "")).lower() != "bearer":
                return f"token_type {body.get('token_type')!r}"
            claims = jwt_claims(body["id_token"])
            if claims.get("iss") != CFG["issuer"]:
                return f"ID token iss {claims.get('iss')!r}"
            aud = claims.get("aud")
            if CFG["client_id"] not in (aud if isinstance(aud, list) else [aud]):
                return f"ID token aud {aud!r}"
            if nonce is not None and claims.get("nonce") != nonce:
                return "ID token nonce mismatch"
            if self.sub is not None and claims.get("sub") != self.sub:
                return "ID token sub is not that of the session's account"
            if refresh and body["refresh_token"] == self.refresh_token:
                return "the refresh token was not rotated"
            return None
        return check

    def keep_tokens(self, response) -> None:
        body = response.json()
        self.access_token = body["access_token"]
        self.refresh_token = body["refresh_token"]
        self.sub = jwt_claims(body["id_token"])["sub"]

    def redeem(self, op: str, code: str, verifier: str, nonce: str) -> None:
        response = self.call(
            op, "POST", META["token_endpoint"], "POST /token (code)", 200,
            check=self.token_check(nonce, refresh=False),
            data=urlencode({
                "grant_type": "authorization_code", "code": code,
                "redirect_uri": CFG["redirect_uri"], "code_verifier": verifier,
            }),
            headers={"Content-Type": "application/x-www-form-urlencoded"},
            auth=(CFG["client_id"], CFG["client_secret"]),
        )
        self.keep_tokens(response)

    def get_userinfo(self, op: str) -> None:
        def check(response):
            body = response.json()
            if body.get("sub") != self.sub:
                return "userinfo sub is not that of the tokens' account"
            if not body.get("email") or not body.get("given_name"):
                return "userinfo without email or given_name"
            return None

        self.call(op, "GET", META["userinfo_endpoint"], "GET /userinfo", 200, check=check,
                  headers={"Authorization": f"Bearer {self.access_token}"})

    # -- the four operations -----------------------------------------------------------------

    def do_login(self) -> None:
        self.reset()
        self.clear_cookies()
        number = self.rng.randrange(CFG["accounts"])
        identifier = CFG["identifier_format"].format(number)
        url, state, verifier, nonce = self.authorize_request()

        def to_login(response):
            location = header(response, "Location")
            return None if "/login" in location and "flow=" in location else (
                f"redirect to {redact(location)!r}, not to /login?flow=")

        response = self.call("login", "GET", url, "GET /authorize (no session)", 302,
                             check=to_login)
        login_url = urljoin(url, header(response, "Location"))
        fields: dict = {}

        def form(response):
            fields.update(HIDDEN_RE.findall(response.text))
            missing = [k for k in ("csrf_token", "flow") if not fields.get(k)]
            return f"login page without {', '.join(missing)}" if missing else None

        self.call("login", "GET", login_url, "GET /login", 200, check=form)
        fields.update({"identifier": identifier, "password": CFG["password"]})

        def to_resume(response):
            location = header(response, "Location")
            return None if "/authorize/resume" in location else (
                f"redirect to {redact(location)!r}, not to /authorize/resume")

        response = self.call(
            "login", "POST", urljoin(login_url, "/login"), "POST /login", 302, check=to_resume,
            data=urlencode(fields),
            headers={"Content-Type": "application/x-www-form-urlencoded"},
        )
        resume = urljoin(login_url, header(response, "Location"))
        response = self.call("login", "GET", resume, "GET /authorize/resume", 302,
                             check=self.code_check(state))
        self.redeem("login", self.code_of(response), verifier, nonce)

    def do_sso(self) -> None:
        url, state, verifier, nonce = self.authorize_request()
        response = self.call("sso", "GET", url, "GET /authorize (session)", 302,
                             check=self.code_check(state))
        self.redeem("sso", self.code_of(response), verifier, nonce)
        self.get_userinfo("sso")

    def do_refresh(self) -> None:
        response = self.call(
            "refresh", "POST", META["token_endpoint"], "POST /token (refresh)", 200,
            check=self.token_check(None, refresh=True),
            data=urlencode({"grant_type": "refresh_token", "refresh_token": self.refresh_token}),
            headers={"Content-Type": "application/x-www-form-urlencoded"},
            auth=(CFG["client_id"], CFG["client_secret"]),
        )
        self.keep_tokens(response)

    def do_userinfo(self) -> None:
        self.get_userinfo("userinfo")

    # -- locust tasks (weights from the configuration) ---------------------------------------

    def t_login(self):
        self.run_op("login", self.do_login)

    def t_sso(self):
        if self.ensure_session():
            self.run_op("sso", self.do_sso)

    def t_refresh(self):
        if self.ensure_session():
            self.run_op("refresh", self.do_refresh)

    def t_userinfo(self):
        if self.ensure_session():
            self.run_op("userinfo", self.do_userinfo)


def user_class(cfg: dict):
    """The locust user class for this run (client flavour, weights, think time)."""
    base = FastHttpUser if cfg["client"] == "fasthttp" else HttpUser
    weights = cfg["weights"]
    think = cfg["think_ms"] / 1000.0
    attrs = {
        "host": cfg["base"],
        "abstract": False,
        "wait_time": between(0, 2 * think) if think > 0 else constant(0),
        "tasks": {
            Visitor.t_login: weights["login"],
            Visitor.t_sso: weights["sso"],
            Visitor.t_refresh: weights["refresh"],
            Visitor.t_userinfo: weights["userinfo"],
        },
    }
    if base is FastHttpUser:
        attrs.update({
            "network_timeout": float(cfg["timeout"]),
            "connection_timeout": float(cfg["timeout"]),
            "max_retries": 0,
        })
    return type("SchoolMorning", (Visitor, base), attrs)


# -- statistics ---------------------------------------------------------------------------------


def percentile(ordered: list[float], p: float) -> float | None:
    """Nearest-rank percentile of a sorted list."""
    if not ordered:
        return None
    rank = max(1, -(-len(ordered) * p // 100))  # ceil
    return ordered[int(rank) - 1]


def summarise(samples, start: float, end: float) -> dict:
    """Count, errors and latency percentiles, per name and overall, of the samples that
    ended inside [start, end]; errors are counted over the whole run."""
    window = end - start
    names = sorted({s[1] for s in samples})
    per, all_ok = {}, []
    for name in names + [None]:
        inside = [s for s in samples if (name is None or s[1] == name) and start <= s[0] <= end]
        times = sorted(s[2] for s in inside)
        row = {
            "count": len(inside),
            "per_s": round(len(inside) / window, 2) if window > 0 else None,
            "errors": sum(1 for s in samples if (name is None or s[1] == name) and not s[3]),
            "count_whole_run": sum(1 for s in samples if name is None or s[1] == name),
            "mean_ms": round(sum(times) / len(times), 1) if times else None,
            "p50_ms": _r(percentile(times, 50)),
            "p95_ms": _r(percentile(times, 95)),
            "p99_ms": _r(percentile(times, 99)),
            "max_ms": _r(times[-1] if times else None),
        }
        if name is None:
            all_ok = row
        else:
            per[name] = row
    return {"per_name": per, "overall": all_ok}


def _r(value):
    return round(value, 1) if value is not None else None


def timeline(samples, start: float, end: float, step: float = 10.0) -> list[dict]:
    """Requests per second and p95 in consecutive slices of the window."""
    out = []
    t = start
    while t < end - 1e-6:
        stop = min(end, t + step)
        if end - stop < step / 2:
            stop = end  # no short last slice: it would say little
        inside = sorted(s[2] for s in samples if t <= s[0] < stop)
        out.append({
            "from_s": round(t - start, 1), "to_s": round(stop - start, 1),
            "per_s": round(len(inside) / (stop - t), 1) if stop > t else None,
            "p95_ms": _r(percentile(inside, 95)),
            "errors": sum(1 for s in samples if t <= s[0] < stop and not s[3]),
        })
        t = stop
    return out


# -- main ---------------------------------------------------------------------------------------


def main(config_path: str, result_path: str) -> int:
    with open(config_path) as fh:
        CFG.update(json.load(fh))
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr,
                        format="[locust %(asctime)s] %(levelname)s %(message)s")
    import requests

    META.update(requests.get(f"{CFG['base']}/.well-known/openid-configuration",
                             timeout=10).json())
    cls = user_class(CFG)
    env = Environment(user_classes=[cls], stop_timeout=float(CFG["stop_timeout"]),
                      catch_exceptions=True)
    env.events.request.add_listener(COLLECTOR.on_request)
    runner = env.create_local_runner()
    started = time.time()
    cpu0 = resource.getrusage(resource.RUSAGE_SELF)
    runner.start(CFG["users"], spawn_rate=max(1, CFG["users"] / max(1.0, CFG["ramp_s"])))
    COLLECTOR.window_start = started + CFG["warmup_s"]
    deadline = started + CFG["warmup_s"] + CFG["duration_s"]
    last = started
    window_cpu0 = None
    while time.time() < deadline:
        now = time.time()
        if window_cpu0 is None and now >= COLLECTOR.window_start:
            window_cpu0 = _cpu()
        nxt = deadline if window_cpu0 is not None else COLLECTOR.window_start
        gevent.sleep(min(1.0, max(0.0, nxt - now)))
        if time.time() - last >= 15:
            last = time.time()
            done = len(COLLECTOR.http)
            bad = sum(COLLECTOR.error_counts.values())
            print(f"[loadtest {time.strftime('%H:%M:%S')}] {last - started:5.0f} s: "
                  f"{done} requests, {bad} errors", file=sys.stderr, flush=True)
    COLLECTOR.window_end = time.time()
    window_cpu = _cpu() - (window_cpu0 if window_cpu0 is not None else _cpu())
    runner.stop()
    stopped = time.time()
    runner.quit()
    cpu1 = resource.getrusage(resource.RUSAGE_SELF)
    start, end = COLLECTOR.window_start, COLLECTOR.window_end
    total = locust_totals(env)
    result = {
        "locust": locust.__version__,
        "client": CFG["client"],
        "users": CFG["users"],
        "started": started,
        "window_start": start,
        "window_end": end,
        "stopped": stopped,
        "window_s": round(end - start, 2),
        "http": summarise(COLLECTOR.http, start, end),
        "operations": summarise(COLLECTOR.ops, start, end),
        "timeline": timeline(COLLECTOR.http, start, end),
        "errors": {
            "count": sum(COLLECTOR.error_counts.values()),
            "by_kind": COLLECTOR.error_counts,
            "first": COLLECTOR.errors,
            "unhandled_exceptions": [
                {"count": row["count"], "msg": row["msg"], "traceback": row["traceback"][-1500:]}
                for row in runner.exceptions.values()
            ],
        },
        "locust_totals": total,
        "generator_cpu_s": round((cpu1.ru_utime + cpu1.ru_stime)
                                 - (cpu0.ru_utime + cpu0.ru_stime), 2),
        "generator_window_cpu_s": round(window_cpu, 2),
        "generator_max_rss_mb": round(cpu1.ru_maxrss / 1024, 1),
    }
    with open(result_path, "w") as fh:
        json.dump(result, fh, indent=1)
    return 0


def _cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def locust_totals(env) -> dict:
    """locust's own totals, as a cross-check of the collector."""
    total = env.stats.total
    return {"requests": total.num_requests, "failures": total.num_failures,
            "median_ms": total.median_response_time,
            "p95_ms": total.get_response_time_percentile(0.95)}


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], sys.argv[2]))
