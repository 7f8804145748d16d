"""The printable notices in Chromium: no horizontal scroll on phones (320 and 375 px),
and the printed layout unchanged (labels beside the codes, codes at 1.3rem).

The notices are rendered from the real template and stylesheet, inlined as in the
standalone file of `idp accounts distribute --out` (the console's page links the same
stylesheet): generating them through the live stack would give the demo people new
provisional passwords that the journeys of test_journeys.py rely on. Plain Jinja is
enough for this template, so the provider is not imported, as elsewhere in here.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path
from types import SimpleNamespace

import jinja2
import pytest

from tests.browser.conftest import CHROMIUM
from tests.browser.conftest import chromium_available

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not chromium_available(),
                       reason=f"no Chromium at {CHROMIUM} (set IDP_TEST_CHROMIUM)"),
]

ROOT = Path(__file__).resolve().parents[2]
#: A long compound name and a provisional password in the format distributed.
IDENTIFIER = "m.de-la-fontaine-saint-exupery12"
PASSWORD = "K7PX-M3QD-9WHT"


def _document() -> str:
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(ROOT / "idp" / "templates"),
                             autoescape=True)
    notices = [
        SimpleNamespace(role="responsable", given_name="Marie-Christine",
                        family_name="DE LA FONTAINE-SAINT-EXUPÉRY", division=None,
                        identifier=IDENTIFIER, password=PASSWORD,
                        expires_at=date(2026, 9, 30), school_name="Collège des Oliviers",
                        uai="0130001A", children=["Jade LEGRAND (4B)"]),
        SimpleNamespace(role="eleve", given_name="Jade", family_name="LEGRAND",
                        division="4B", identifier="j.legrand7", password=PASSWORD,
                        expires_at=date(2026, 9, 30), school_name="Collège des Oliviers",
                        uai="0130001A", children=[]),
    ]
    skipped = [SimpleNamespace(name="Jean-Baptiste DE LA FONTAINE-SAINT-EXUPÉRY",
                               role="responsable", identifier="j.de-la-fontaine-saint-exupery3",
                               reason="compte déjà activé : il garde son mot de passe")]
    return env.get_template("admin/notices.html").render(
        css=(ROOT / "idp" / "static" / "css" / "notices.css").read_text(encoding="utf-8"),
        notices=notices, distribution=SimpleNamespace(skipped=skipped),
        service_url="https://educonnect.education.gouv.fr",
        title="Notifications EduConnect - Collège des Oliviers, classe 4B",
        french_date=lambda day: day.strftime("%d/%m/%Y"), phone="0 809 54 06 06",
        hours="du lundi au vendredi de 8h à 20h",
    )


@pytest.fixture
def notices_page(chromium):
    context = chromium.new_context(viewport={"width": 1280, "height": 800}, locale="fr-FR")
    page = context.new_page()
    page.set_content(_document())
    yield page
    context.close()


@pytest.mark.parametrize("width", [320, 375])
def test_notices_have_no_horizontal_scroll_on_phones(notices_page, width):
    notices_page.set_viewport_size({"width": width, "height": 640})
    scroll = notices_page.evaluate("document.documentElement.scrollWidth")
    too_wide = notices_page.evaluate(
        "w => [...document.querySelectorAll('body *')]"
        "  .filter(e => e.getBoundingClientRect().right > w + 0.5)"
        "  .map(e => e.tagName.toLowerCase() + '.' + e.className)", width)
    assert scroll <= width and not too_wide, f"{scroll}px at {width}px: {too_wide}"
    # The codes stay whole and readable: the password on one line.
    password = notices_page.locator("dd.notice__code", has_text=PASSWORD).first
    assert password.evaluate("e => e.getClientRects().length") == 1
    assert password.evaluate("e => e.getBoundingClientRect().height") \
        < 1.5 * password.evaluate("e => parseFloat(getComputedStyle(e).lineHeight)")


def test_the_printed_notice_keeps_its_layout(notices_page):
    notices_page.set_viewport_size({"width": 320, "height": 640})
    notices_page.emulate_media(media="print")
    code = notices_page.locator("dd.notice__code").first
    root = notices_page.evaluate("parseFloat(getComputedStyle(document.documentElement)"
                                 ".fontSize)")
    assert code.evaluate("e => parseFloat(getComputedStyle(e).fontSize)") == \
        pytest.approx(1.3 * root)
    columns = notices_page.locator(".notice__credentials").first.evaluate(
        "e => getComputedStyle(e).gridTemplateColumns.split(' ').length")
    assert columns == 2
    assert notices_page.locator(".notices-screen").evaluate(
        "e => getComputedStyle(e).display") == "none"
