"""The login page's heading uses the wording of the official guide, in every way the
page is served (from its shell, or rendered by Jinja when there are errors)."""

import html
import re

from tests.conftest import csrf_from

HEADING = "J'accède aux services numériques des établissements scolaires"


def _h1(response) -> str:
    match = re.search(r"<h1[^>]*>(.*?)</h1>", response.get_data(as_text=True), re.S)
    return html.unescape(match.group(1)).strip()


def test_the_login_heading_follows_the_guide(client):
    first = client.get("/login")  # builds and checks the shell
    again = client.get("/login")  # served from the shell
    assert _h1(first) == _h1(again) == HEADING


def test_the_heading_is_the_same_on_a_page_with_errors(client):
    page = client.get("/login")
    refused = client.post("/login", data={"csrf_token": csrf_from(page.text),
                                          "identifier": "x.inconnu", "password": "mauvais"})
    assert refused.status_code == 401 and "error-summary" in refused.text
    assert _h1(refused) == HEADING
