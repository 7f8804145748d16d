"""The demo client (examples/sample_client) without a browser: logout token
validation, the services it shows, its session store, and, against the live
provider, the checks of its OpenID Connect glue (iss, state, back-channel)."""

from __future__ import annotations

import base64
import json
import re
import time
import uuid
from urllib.parse import parse_qs
from urllib.parse import urljoin
from urllib.parse import urlsplit

import pytest
import requests
from joserfc import jwt
from joserfc.jwk import ECKey
from joserfc.jwk import KeySet
from joserfc.jwk import RSAKey

from examples.sample_client import backchannel
from examples.sample_client import create_app
from examples.sample_client import services
from examples.sample_client.store import SessionStore
from examples.sample_client.store import StateCache
from tests.browser.stack import PARENT

ISSUER = "https://idp.example"
CLIENT_ID = "client-1"
EVENT = backchannel.EVENT

# -- back-channel logout tokens ---------------------------------------------------------


@pytest.fixture(scope="module")
def keys():
    """An RSA and an EC signing key, plus a key the provider never published."""
    return {
        "rsa": RSAKey.generate_key(2048, parameters={"kid": "k1"}),
        "ec": ECKey.generate_key("P-256", parameters={"kid": "k2"}),
        "rotated": RSAKey.generate_key(2048, parameters={"kid": "k3"}),
        "stranger": RSAKey.generate_key(2048, parameters={"kid": "k1"}),
    }


def logout_token(key, alg="RS256", typ="logout+jwt", **changes):
    """A logout token as the provider makes them; changes=None drops a claim."""
    now = int(time.time())
    claims = {"iss": ISSUER, "aud": CLIENT_ID, "iat": now, "exp": now + 120,
              "jti": uuid.uuid4().hex, "sub": "sub-1", "sid": "sid-1", "events": {EVENT: {}}}
    claims.update(changes)
    claims = {k: v for k, v in claims.items() if v is not None}
    header = {"alg": alg, "kid": key.kid}
    if typ:
        header["typ"] = typ
    return jwt.encode(header, claims, key)


class Jwks:
    """The provider's JWKS as the client sees it: cached, refetched on demand."""

    def __init__(self, cached, fresh=None):
        self.cached, self.fresh, self.forced = cached, fresh or cached, 0

    def __call__(self, force):
        if force:
            self.forced += 1
            return self.fresh
        return self.cached


def public(*keys):
    return KeySet(list(keys)).as_dict(private=False)


def validate(token, jwks):
    return backchannel.validate(token, issuer=ISSUER, client_id=CLIENT_ID,
                                algorithms=["RS256", "ES256"], get_jwks=jwks)


def test_valid_logout_tokens_are_accepted(keys):
    jwks = Jwks(public(keys["rsa"], keys["ec"]))
    assert validate(logout_token(keys["rsa"]), jwks)["sid"] == "sid-1"
    assert validate(logout_token(keys["ec"], alg="ES256"), jwks)["sub"] == "sub-1"
    assert validate(logout_token(keys["rsa"], aud=[CLIENT_ID, "other"]), jwks)
    assert validate(logout_token(keys["rsa"], sid=None), jwks)["sub"] == "sub-1"
    assert jwks.forced == 0


def test_an_unknown_kid_makes_the_client_fetch_the_keys_again(keys):
    jwks = Jwks(public(keys["rsa"]), fresh=public(keys["rsa"], keys["rotated"]))
    assert validate(logout_token(keys["rotated"]), jwks)["sid"] == "sid-1"
    assert jwks.forced == 1
    stale = Jwks(public(keys["rsa"]))
    with pytest.raises(backchannel.LogoutTokenError, match="unknown key"):
        validate(logout_token(keys["rotated"]), stale)


@pytest.mark.parametrize("changes, reason", [
    ({"iss": "https://evil.example"}, "wrong iss"),
    ({"aud": "another-client"}, "wrong aud"),
    ({"iat": None}, "missing iat"),
    ({"iat": int(time.time()) - 3600}, "iat out of range"),
    ({"iat": int(time.time()) + 3600}, "iat out of range"),
    ({"exp": int(time.time()) - 3600}, "expired"),
    ({"events": None}, "event"),
    ({"events": {"http://example.com/other": {}}}, "event"),
    ({"nonce": "n-1"}, "nonce"),
    ({"sid": None, "sub": None}, "neither sid nor sub"),
    ({"jti": None}, "jti"),
], ids=lambda v: v if isinstance(v, str) else None)
def test_invalid_logout_tokens_are_refused(keys, changes, reason):
    with pytest.raises(backchannel.LogoutTokenError, match=reason):
        validate(logout_token(keys["rsa"], **changes), Jwks(public(keys["rsa"])))


def test_forged_or_malformed_logout_tokens_are_refused(keys):
    jwks = Jwks(public(keys["rsa"]))
    # Same kid, another key: the signature does not verify.
    with pytest.raises(backchannel.LogoutTokenError, match="signature"):
        validate(logout_token(keys["stranger"]), jwks)
    with pytest.raises(backchannel.LogoutTokenError, match="typ"):
        validate(logout_token(keys["rsa"], typ="JWT"), jwks)
    for token in ("", "not-a-jwt", "a.b.c", "x" * 20000):
        with pytest.raises(backchannel.LogoutTokenError):
            validate(token, jwks)


def test_alg_none_is_never_accepted(keys):
    def b64(data):
        return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()

    now = int(time.time())
    claims = {"iss": ISSUER, "aud": CLIENT_ID, "iat": now, "jti": "j", "sid": "s",
              "events": {EVENT: {}}}
    token = f"{b64({'alg': 'none', 'typ': 'logout+jwt'})}.{b64(claims)}."
    with pytest.raises(backchannel.LogoutTokenError):
        validate(token, Jwks(public(keys["rsa"])))
    with pytest.raises(backchannel.LogoutTokenError, match="algorithm"):
        backchannel.validate(logout_token(keys["rsa"]), issuer=ISSUER, client_id=CLIENT_ID,
                             algorithms=["none"], get_jwks=Jwks(public(keys["rsa"])))


# -- what "Mes services" shows ----------------------------------------------------------


@pytest.mark.parametrize("level, degree, school_label, stage, label", [
    ("2111", "2d", "", "college", "6e"),
    ("2116", "2d", "", "college", "3e"),
    ("2115", "", "4EME", "college", "4e"),
    ("2211", "2d", "", "lycee", "Seconde générale et technologique"),
    ("2211", "", "2NDE", "lycee", "Seconde générale et technologique"),
    ("2382", "2d", "", "lycee", "Première professionnelle"),
    ("2251", "2d", "", "lycee", "Lycée (niveau 2251)"),
    ("2251", "", "1ERE STMG", "lycee", "1ERE STMG"),
    ("", "1d", "", "ecole", "École"),
    # First degree: no MEFSTAT4 in the `children` claim, only the school's label.
    ("", "", "CE2", "ecole", "CE2"),
    ("", "", "CM2", "ecole", "CM2"),
    ("", "", "TERMINALE GENERALE", "lycee", "Terminale générale"),
    ("9999", "", "", None, "Niveau 9999"),
    ("", "", "", None, "Niveau non communiqué"),
])
def test_levels(level, degree, school_label, stage, label):
    assert services.stage(level, degree, school_label) == stage
    assert services.level_label(level, degree, school_label) == label


#: The `children` claim as the provider releases it (idp/directory/claims.py).
CHILDREN = [
    {"sub": "s-noah", "given_name": "Noah", "family_name": "LEGRAND",
     "birthdate": "2009-04-18", "level": "2211", "level_label": "2NDE",
     "school_name": "Lycée Les Calanques", "school_uai": "0130902K"},
    {"sub": "s-jade", "given_name": "Jade", "family_name": "LEGRAND",
     "birthdate": "2012-03-12", "level": "2115", "level_label": "4EME",
     "school_name": "Collège des Oliviers", "school_uai": "0830901D"},
    {"sub": "s-lina", "given_name": "Lina", "family_name": "LEGRAND",
     "birthdate": "2016-02-14", "level_label": "CE2",
     "school_name": "École élémentaire Les Mimosas", "school_uai": "0061903L"},
]


def test_a_parent_sees_bourse_de_college_or_de_lycee_by_level():
    info = {"affiliation": "responsable", "degree": ["1d", "2d"],
            "children": [*CHILDREN, "not-an-object"]}
    assert services.affiliation(info) == "responsable"
    kids = {c.id: c for c in services.children(info)}
    assert list(kids) == ["s-noah", "s-jade", "s-lina"]
    assert [s.title for s in kids["s-jade"].services()] == ["Bourse de collège",
                                                            "Fiche de renseignements"]
    assert [s.title for s in kids["s-noah"].services()] == ["Bourse de lycée",
                                                            "Fiche de renseignements"]
    assert [s.title for s in kids["s-lina"].services()] == ["Fiche de renseignements"]
    assert kids["s-jade"].name == "Jade LEGRAND"
    assert kids["s-jade"].level_label == "4e"
    assert kids["s-lina"].level_label == "CE2"


def test_children_of_older_shapes_with_id_and_degree():
    kids = services.children({"children": [
        {"id": "c1", "given_name": "Lou", "family_name": "DURAND", "degree": "1d"},
        {"id": "c2", "given_name": "Malo", "family_name": "DURAND", "level": "2212"},
    ]})
    assert [(c.id, c.stage) for c in kids] == [("c1", "ecole"), ("c2", "lycee")]


@pytest.mark.parametrize("info, expected", [
    ({"affiliation": "eleve"}, "eleve"),
    ({"FrEduCtPersonAffiliation": ["resp2d"]}, "responsable"),
    ({"FrEduCtPersonAffiliation": "eleve1d"}, "eleve"),
    ({"children": []}, "responsable"),
    ({"school": {"uai": "0750001A", "name": "Lycée X"}}, "eleve"),
    ({"name": "Claire DURAND"}, None),
    ({"affiliation": "autre"}, None),
])
def test_affiliation_from_the_claims_with_fallbacks(info, expected):
    assert services.affiliation(info) == expected


def test_the_school_claim_as_an_object_or_flat_claims():
    assert services.school({"school": {"uai": "0750001A", "name": "Lycée X",
                                       "level": "2211"}})["name"] == "Lycée X"
    flat = services.school({"school_uai": "0750001A", "school_name": "Collège Y"})
    assert flat == {"uai": "0750001A", "name": "Collège Y"}
    # What the provider releases to a pupil with `profile school`.
    jade = services.school({"affiliation": "eleve", "degree": "2d", "school_uai": "0830901D",
                            "school_name": "Collège des Oliviers", "academie": "nice",
                            "class": "4A", "level": "2115", "level_label": "4EME"})
    assert jade == {"uai": "0830901D", "name": "Collège des Oliviers", "level": "2115",
                    "label": "4EME", "class": "4A", "academie": "nice", "degree": "2d"}
    assert services.school({"FrEduCtEleveUAI": "0590121L", "FrEduCtEleveNiveau": "2211"}) == \
        {"uai": "0590121L", "level": "2211"}
    assert [s.title for s in services.pupil_services({})] == ["Livret scolaire"]


# -- the session store ------------------------------------------------------------------


def _session(store, sub, sid):
    return store.create(sub=sub, sid=sid, id_token="t", id_token_header={},
                        id_token_claims={}, userinfo={}, scope="openid")


def test_a_back_channel_logout_ends_the_sessions_of_its_sid_only():
    store = SessionStore()
    a1, a2 = _session(store, "alice", "sid-a"), _session(store, "alice", "sid-a")
    b = _session(store, "bob", "sid-b")
    other = _session(store, "alice", "sid-c")
    assert store.end_for_provider_session("sid-a", "alice") == 2
    assert store.get(a1.lsid) is None and store.get(a2.lsid) is None
    assert store.get(b.lsid) is not None and store.get(other.lsid) is not None
    # A sid with another person's sub ends nothing.
    assert store.end_for_provider_session("sid-b", "alice") == 0
    # Without sid: every session of the subject.
    assert store.end_for_provider_session(None, "alice") == 1
    assert store.count() == 1
    assert [e.ended for e in store.events()] == [1, 0, 2]


def test_a_replayed_logout_token_is_noticed():
    store = SessionStore()
    assert store.first_use_of_jti("j1", ttl=60)
    assert not store.first_use_of_jti("j1", ttl=60)
    assert store.first_use_of_jti("j2", ttl=60)


def test_the_state_cache_expires():
    cache = StateCache()
    cache.set("a", "1", 60)
    cache.set("b", "2", -1)
    assert cache.get("a") == "1"
    assert cache.get("b") is None
    cache.delete("a")
    assert cache.get("a") is None


# -- the application without a registration ---------------------------------------------


def test_without_a_registration_the_client_says_how_to_get_one(tmp_path):
    app = create_app(config_path=tmp_path / "absent.json", base_url="http://127.0.0.1:5999")
    client = app.test_client()
    home = client.get("/")
    assert home.status_code == 200
    assert "idp demo load" in home.get_data(as_text=True)
    login = client.get("/login")
    assert login.status_code == 503
    assert "idp demo load" in login.get_data(as_text=True)
    assert "script-src 'none'" in login.headers["Content-Security-Policy"]


def offline_app(tmp_path, scopes=("openid", "profile", "school", "children")):
    """The client with a registration and a discovery document, without a provider."""
    config = tmp_path / "sample_client.json"
    config.write_text(json.dumps({"issuer": ISSUER, "client_id": CLIENT_ID,
                                  "client_secret": "s"}))
    app = create_app(config_path=config, base_url="http://127.0.0.1:5999")
    relying = app.extensions["sample_client"]["relying"]
    relying.client.server_metadata.update({
        "issuer": ISSUER, "scopes_supported": list(scopes), "_loaded_at": time.time(),
        "end_session_endpoint": f"{ISSUER}/logout",
    })
    return app


def logged_in(app, userinfo):
    store = app.extensions["sample_client"]["store"]
    record = _session(store, userinfo.get("sub", "sub-1"), "sid-1")
    record.userinfo = userinfo
    record.scope = "openid profile children"
    client = app.test_client()
    with client.session_transaction() as flask_session:
        flask_session["lsid"] = record.lsid
    return client, record


PARENT_INFO = {"sub": "p1", "name": "Claire DURAND", "affiliation": "responsable", "children": [
    {"sub": "c1", "given_name": "Enora", "family_name": "DURAND", "level": "2111",
     "level_label": "6EME", "school_name": "Collège <b>Jean</b> Moulin"},
    {"sub": "c2", "given_name": "Malo", "family_name": "DURAND", "level": "2211",
     "level_label": "2NDE"},
]}


def test_mes_services_of_a_parent_lists_the_children_then_their_services(tmp_path):
    client, _ = logged_in(offline_app(tmp_path), PARENT_INFO)
    page = client.get("/services").get_data(as_text=True)
    assert "Je choisis mon enfant" in page
    assert "Enora DURAND" in page and "Malo DURAND" in page
    assert "Collège &lt;b&gt;Jean&lt;/b&gt; Moulin" in page  # escaped, never markup
    assert "Bourse de" not in page  # no child chosen yet
    enora = client.get("/services?enfant=c1").get_data(as_text=True)
    assert 'aria-current="true"' in enora
    assert "Bourse de collège" in enora and "Bourse de lycée" not in enora
    assert "Fiche de renseignements" in enora
    malo = client.get("/services?enfant=c2").get_data(as_text=True)
    assert "Bourse de lycée" in malo and "Bourse de collège" not in malo
    assert client.get("/services?enfant=nobody").status_code == 404
    assert client.get("/demarches/bourse-college?enfant=c1").status_code == 200
    assert client.get("/demarches/bourse-lycee?enfant=c1").status_code == 404
    assert client.get("/demarches/livret-scolaire").status_code == 404


def test_mes_services_of_a_pupil_and_without_the_claims(tmp_path):
    app = offline_app(tmp_path, scopes=("openid", "profile"))
    pupil, _ = logged_in(app, {"sub": "e1", "affiliation": "eleve",
                               "school": {"name": "Lycée Chateaubriand", "level": "2211"}})
    page = pupil.get("/services").get_data(as_text=True)
    assert "Livret scolaire" in page and "Lycée Chateaubriand" in page
    assert pupil.get("/demarches/livret-scolaire").status_code == 200
    parent, _ = logged_in(app, {"sub": "p2", "affiliation": "responsable"})
    assert "ne transmet pas encore la liste des enfants" in \
        parent.get("/services").get_data(as_text=True)
    unknown, _ = logged_in(app, {"sub": "x"})
    assert "Profil non communiqué" in unknown.get("/services").get_data(as_text=True)


def test_logout_needs_the_form_token_then_ends_the_local_session(tmp_path):
    app = offline_app(tmp_path)
    client, record = logged_in(app, PARENT_INFO)
    assert client.post("/logout", data={"csrf": "forged"}).status_code == 400
    response = client.post("/logout", data={"csrf": record.csrf})
    assert response.status_code == 302
    query = parse_qs(urlsplit(response.headers["Location"]).query)
    assert response.headers["Location"].startswith(f"{ISSUER}/logout?")
    assert query["id_token_hint"] == [record.id_token]
    assert query["post_logout_redirect_uri"] == ["http://127.0.0.1:5999/"]
    assert query["state"][0]
    assert app.extensions["sample_client"]["store"].get(record.lsid) is None
    back = client.get("/?state=" + query["state"][0])
    assert back.status_code == 302
    assert "Vous êtes déconnecté" in client.get("/").get_data(as_text=True)


# -- against the live provider ----------------------------------------------------------


def browser() -> requests.Session:
    session = requests.Session()
    session.trust_env = False
    return session


def form_fields(html: str) -> dict:
    return dict(re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)"', html))


def login(session, client, identifier, password) -> requests.Response:
    """Through the client's /login and the provider's form, back to the client."""
    page = session.get(client.base_url + "/login", timeout=10)
    assert urlsplit(page.url).path == "/login", page.url
    fields = form_fields(page.text)
    fields.update(identifier=identifier, password=password)
    return session.post(urljoin(page.url, "/login"), data=fields, timeout=10)


def authorization_request(session, client) -> dict:
    """Start a login at the client; return the authorization request's parameters."""
    response = session.get(client.base_url + "/login", allow_redirects=False, timeout=10)
    assert response.status_code == 302
    return {k: v[0] for k, v in parse_qs(urlsplit(response.headers["Location"]).query).items()}


live = pytest.mark.live


@live
def test_the_authorization_request_uses_pkce_state_nonce_and_discovered_scopes(stack):
    params = authorization_request(browser(), stack.clients["main"])
    assert params["code_challenge_method"] == "S256"
    assert len(params["code_challenge"]) == 43
    assert params["state"] and params["nonce"]
    assert params["response_type"] == "code"
    assert params["scope"].split()[:2] == ["openid", "profile"]
    offered = requests.get(f"{stack.issuer}/.well-known/openid-configuration",
                           timeout=5).json()["scopes_supported"]
    for optional in ("school", "children"):
        assert (optional in params["scope"].split()) == (optional in offered)


@live
def test_a_login_shows_the_verified_id_token_and_userinfo(stack):
    session = browser()
    response = login(session, stack.clients["main"], *PARENT)
    assert response.url == stack.clients["main"].base_url + "/services"
    assert "<h1>Mes services</h1>" in response.text
    # JSON is escaped in the page, never raw markup.
    assert "&#34;iss&#34;: &#34;" + stack.issuer in response.text
    assert "&#34;preferred_username&#34;: &#34;s.legrand1&#34;" in response.text


@live
@pytest.mark.parametrize("iss, message", [
    ("https://evil.example", "vient d'un autre émetteur"),
    (None, "ne contient pas l'émetteur"),
])
def test_an_authorization_response_from_another_issuer_is_refused(stack, iss, message):
    session = browser()
    client = stack.clients["main"]
    params = authorization_request(session, client)
    query = {"code": "forged", "state": params["state"]}
    if iss:
        query["iss"] = iss
    response = session.get(client.base_url + "/callback", params=query, timeout=10)
    assert response.status_code == 400
    assert message in response.text.replace("&#39;", "'")


@live
def test_a_callback_with_an_unknown_state_is_refused(stack):
    client = stack.clients["main"]
    response = browser().get(client.base_url + "/callback", timeout=10,
                             params={"code": "x", "state": "forged", "iss": stack.issuer})
    assert response.status_code == 400
    assert "Connexion impossible" in response.text


@live
def test_a_logout_return_with_an_unknown_state_is_ignored(stack):
    response = browser().get(stack.clients["main"].base_url + "/?state=forged", timeout=10)
    assert "state invalide" in response.text


@live
def test_the_back_channel_endpoint_refuses_bad_tokens(stack, keys):
    url = stack.clients["main"].base_url + "/backchannel-logout"
    forged = jwt.encode({"alg": "RS256", "kid": "unknown", "typ": "logout+jwt"},
                        {"iss": stack.issuer, "aud": stack.clients["main"].client_id,
                         "iat": int(time.time()), "jti": "j", "sid": "s",
                         "events": {EVENT: {}}}, keys["rsa"])
    for data in ({}, {"logout_token": "garbage"}, {"logout_token": forged}):
        response = requests.post(url, data=data, timeout=10)
        assert response.status_code == 400, data
        assert response.json()["error"] == "invalid_request"
        assert response.headers["Cache-Control"] == "no-store"


@live
def test_a_logout_at_the_provider_ends_the_sessions_of_both_services(stack):
    main, second = stack.clients["main"], stack.clients["second"]
    session = browser()
    login(session, main, *PARENT)
    assert session.get(second.base_url + "/login", timeout=10).url == \
        second.base_url + "/services"
    # Log out on the provider's own account page.
    account = session.get(stack.issuer + "/compte", timeout=10)
    session.post(stack.issuer + "/compte/deconnexion", data=form_fields(account.text),
                 timeout=10)
    for client in (main, second):
        response = session.get(client.base_url + "/services", timeout=10)
        assert response.url == client.base_url + "/", client.name
        assert "Votre session a pris fin" in response.text
