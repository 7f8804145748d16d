"""The claims each client receives, through the real authorize / token / userinfo flow."""

import re

import pytest
from sqlalchemy import select

from idp.directory import access
from idp.directory import family
from idp.directory.models import ParentIdentity
from idp.directory.models import Pupil
from idp.directory.models import Representative
from idp.extensions import db
from idp.models import Account
from idp.oauth.subject import pairwise
from idp.services import clients as client_service
from tests.conftest import RelyingParty
from tests.directory.conftest import COLLEGE
from tests.directory.conftest import EXAMPLES
from tests.directory.conftest import LYCEE

JADE, NOAH, LINA = "120000001AB", "090000001BA", "1609000001A"
SALT = "test-salt"
SECTOR = "rp.example.org"


@pytest.fixture
def service(app, make_client):
    """Factory: a client allowed some scopes, restricted claims and a profile."""

    def create(scopes, claims=(), profile=None):
        registration = make_client(scopes=["openid", *scopes])
        if claims or profile:
            with app.app_context():
                row = client_service.get(registration["client_id"])
                access.allow(row, claims=list(claims), profile=profile)
                db.session.commit()
        return registration

    return create


@pytest.fixture
def userinfo(app):
    """Log a person in to a client in a fresh browser; return the UserInfo response."""

    def fetch(registration, person, scope):
        rp = RelyingParty(app.test_client(), registration, scope=scope)
        callback = rp.code_flow(person["identifier"], person["password"])
        tokens = rp.token(callback["code"])
        assert tokens.status_code == 200, tokens.json
        assert set(tokens.json["scope"].split()) <= set(registration["scopes"])
        info = rp.browser.get(
            "/userinfo", headers={"Authorization": f"Bearer {tokens.json['access_token']}"}
        )
        assert info.status_code == 200, info.json
        return info.json

    return fetch


@pytest.fixture
def pupil_login(pupil_account, activate, examples_imported):
    """An activated pupil of the sample directory, by INE."""
    return lambda ine: activate(pupil_account(ine))


@pytest.fixture
def parent(app, activate, examples_imported):
    """Sophie (ROUX, usage LEGRAND): an activated account confirming some of her children."""

    def create(confirm=(JADE, NOAH)):
        with app.app_context():
            source = f"siecle:{COLLEGE}:2001"
            identity = db.session.execute(
                select(ParentIdentity).join(Representative)
                .where(Representative.source_key == source)
            ).scalar_one()
            account = family.create_parent_account(identity)
            family.link_parent_account(account, identity)
            for ine in confirm:
                pupil = db.session.execute(select(Pupil).where(Pupil.ine == ine)).scalar_one()
                family.confirm_child(account, pupil)
            db.session.commit()
            account_id = account.id
        return activate(account_id)

    return create


def child_public_id(app, ine):
    """The public id of a pupil's account (what pairwise subjects derive from)."""
    with app.app_context():
        pupil = db.session.execute(select(Pupil).where(Pupil.ine == ine)).scalar_one()
        return db.session.get(Account, pupil.account_id).public_id


def test_a_pupil_gets_affiliation_degree_and_school_but_not_the_ine(service, userinfo,
                                                                      pupil_login):
    info = userinfo(service(["profile", "school"]), pupil_login(JADE), "openid profile school")
    assert {k: info[k] for k in ("given_name", "family_name", "birthdate", "affiliation",
                                 "degree", "school_uai", "school_name", "academie", "class",
                                 "level", "level_label")} == {
        "given_name": "Jade", "family_name": "LEGRAND", "birthdate": "2012-03-12",
        "affiliation": "eleve", "degree": "2d", "school_uai": COLLEGE,
        "school_name": "COLLEGE DES OLIVIERS", "academie": "nice", "class": "4A",
        "level": "2115", "level_label": "4EME",
    }
    assert "ine" not in info
    assert not any(k.startswith("FrEduCt") for k in info)


def test_the_ine_goes_only_to_clients_explicitly_allowed_it(service, userinfo, pupil_login):
    allowed = service(["profile", "school"], claims=["ine"])
    assert userinfo(allowed, pupil_login(NOAH), "openid school")["ine"] == NOAH
    # Asking for it by name in the claims parameter does not widen what is released.
    plain = service(["profile", "school"])
    info = userinfo(plain, pupil_login(NOAH), "openid school")
    assert "ine" not in info and info["school_uai"] == LYCEE


def test_a_parent_gets_only_confirmed_children_with_pairwise_ids(app, service, userinfo,
                                                                 parent):
    sophie = parent(confirm=(JADE, NOAH))
    info = userinfo(service(["profile", "children"]), sophie, "openid profile children")
    assert (info["affiliation"], info["degree"]) == ("responsable", ["2d"])
    jade, noah = sorted(info["children"], key=lambda c: c["given_name"])
    assert jade == {
        "sub": pairwise(SECTOR, child_public_id(app, JADE), SALT),
        "given_name": "Jade", "family_name": "LEGRAND", "birthdate": "2012-03-12",
        "school_uai": COLLEGE, "school_name": "COLLEGE DES OLIVIERS", "level": "2115",
        "level_label": "4EME",
    }
    assert noah["school_uai"] == LYCEE and noah["level"] == "2211"
    assert "ine" not in jade
    assert all(c["given_name"] != "Lina" for c in info["children"])  # not confirmed


def test_the_child_id_is_the_childs_own_sub_at_that_service_and_differs_elsewhere(
        make_client, service, userinfo, parent, pupil_login):
    registration = service(["profile", "children"])
    sophie = parent(confirm=(JADE,))
    children = userinfo(registration, sophie, "openid children")["children"]
    jade_sub = userinfo(registration, pupil_login(JADE), "openid")["sub"]
    assert children[0]["sub"] == jade_sub
    elsewhere = make_client(scopes=["openid", "children"],
                            redirect_uris=["https://autre.example.net/cb"],
                            post_logout_redirect_uris=[])
    assert userinfo(elsewhere, sophie, "openid children")["children"][0]["sub"] != jade_sub


def test_children_in_both_degrees_give_both(service, userinfo, parent):
    sophie = parent(confirm=(JADE, NOAH, LINA))
    info = userinfo(service(["profile", "children"], claims=["ine"]), sophie,
                    "openid profile children")
    assert info["degree"] == ["1d", "2d"]
    lina = next(c for c in info["children"] if c["given_name"] == "Lina")
    assert (lina["school_name"], lina["level_label"], lina["ine"]) == (
        "École élémentaire Les Mimosas", "CE2", LINA
    )
    assert "level" not in lina


def test_a_scope_the_client_may_not_use_is_dropped_silently(service, userinfo, parent,
                                                            pupil_login):
    registration = service(["profile"])
    info = userinfo(registration, parent(), "openid profile children school")
    assert "children" not in info and info["affiliation"] == "responsable"
    info = userinfo(registration, pupil_login(JADE), "openid profile school")
    assert "school_uai" not in info and info["degree"] == "2d"


def test_the_educonnect_profile_gives_a_pupil_the_frEduCt_keys(service, userinfo, pupil_login):
    registration = service(["profile"], profile="educonnect")
    # A service written for EduConnect asks for its own scopes; unknown ones are dropped.
    info = userinfo(registration, pupil_login(JADE), "openid profile ect.scope.cnx")
    assert info["FrEduCtPersonAffiliation"] == ["eleve2d"]
    assert info["FrEduCtEleveUAI"] == COLLEGE
    assert info["FrEduCtEleveNiveau"] == "2115"
    assert info["FrEduCtDateNaissance"] == "2012-03-12"
    assert re.fullmatch(r"[0-9a-f]{96}", info["FrEduCtId"])
    assert "FrEduCtEleveINE" not in info
    with_ine = service(["profile"], claims=["ine"], profile="educonnect")
    assert userinfo(with_ine, pupil_login(JADE), "openid profile")["FrEduCtEleveINE"] == JADE


def test_the_educonnect_profile_gives_a_parent_resp_affiliations_and_empty_pupil_keys(
        service, userinfo, parent):
    info = userinfo(service(["profile"], profile="educonnect"), parent(confirm=(JADE, LINA)),
                    "openid profile")
    assert info["FrEduCtPersonAffiliation"] == ["resp1d", "resp2d"]
    assert (info["FrEduCtEleveUAI"], info["FrEduCtEleveNiveau"]) == ("", "")
    assert len(info["FrEduCtId"]) == 96


def test_a_pupil_who_left_has_no_school_claims(app, service, userinfo, pupil_login, run_import):
    manon = pupil_login("120000004AE")
    run_import([EXAMPLES / "next-year" / "siecle" / COLLEGE / "ElevesSansAdresses.xml"])
    info = userinfo(service(["profile", "school"]), manon, "openid profile school")
    assert info["affiliation"] == "eleve" and info["degree"] == "2d"
    assert not {"school_uai", "school_name", "class", "level"} & set(info)
