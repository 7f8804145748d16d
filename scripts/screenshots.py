#!/usr/bin/env python3
"""Screenshots of every hosted page at 375 px and 1280 px wide, for the docs.

Starts the provider, the FranceConnect simulator and the demo client on free ports
with a temporary database (tests/browser/stack.py, as the browser tests do), walks
the journeys of tests/browser/journeys.py in Debian's Chromium with Playwright, and
writes docs/screenshots/<page>-<width>.png for each page shown:

    login, login-errors, account, logout-confirm, logged-out, help, legal,
    accessibility, error, not-found,
    activation-start, activation-parent-{identify,code,code-error,children,password},
    activation-pupil-{password,birthdate,birthdate-error,email},
    franceconnect-{identify,code,children},
    recovery-identifier-{start,parent,sent}, recovery-password-{start,parent,code,new,done},
    admin-login, admin-login-code, admin-index, admin-school,
    sample-home, sample-services-parent, sample-services-child, sample-services-pupil

Usage: .venv/bin/python scripts/screenshots.py [--out DIR] [--only NAME ...]
Chromium: $IDP_TEST_CHROMIUM (default /usr/bin/chromium).
"""

from __future__ import annotations

import argparse
import os
import re
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.browser import journeys  # noqa: E402
from tests.browser import stack as stack_module  # noqa: E402
from tests.browser.stack import PARENT  # noqa: E402
from tests.browser.stack import PUPIL  # noqa: E402

WIDTHS = (375, 1280)
CHROMIUM = os.environ.get("IDP_TEST_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking"]


class Camera:
    """The `visit` of the journeys: each hosted page, once, at every width."""

    def __init__(self, out: Path, only: set[str]):
        self.out, self.only = out, only
        self.written: list[Path] = []
        self.taken: set[str] = set()

    def __call__(self, page, name: str, hosted: bool = True) -> None:
        if not hosted or name in self.taken or (self.only and name not in self.only):
            return
        self.taken.add(name)
        page.wait_for_load_state("load")
        size = page.viewport_size
        for width in WIDTHS:
            page.set_viewport_size({"width": width, "height": 800})
            path = self.out / f"{name}-{width}.png"
            page.screenshot(path=str(path), full_page=True, animations="disabled")
            self.written.append(path)
        page.set_viewport_size(size)


def shoot(browser, stack, camera: Camera) -> None:
    """Walk through the journeys, each in a fresh browser profile."""
    issuer = stack.issuer
    client = stack.clients["main"]

    def fresh():
        context = browser.new_context(viewport={"width": 1280, "height": 800},
                                      locale="fr-FR", color_scheme="light",
                                      device_scale_factor=1)
        context.set_default_timeout(15_000)
        page = context.new_page()
        return context, page, lambda name, hosted=True: camera(page, name, hosted)

    # The demo mother: login, errors, her services, the account and the other pages.
    context, page, visit = fresh()
    page.goto(client.base_url + "/")
    visit("sample-home")
    page.get_by_role("link", name="Se connecter avec EduConnect").click()
    page.wait_for_url(re.compile(re.escape(issuer) + r"/login\?flow="))
    visit("login")
    journeys.log_in(page, PARENT[0], "Pas-le-bon-2026")
    page.wait_for_selector("#error-summary")
    visit("login-errors")
    journeys.log_in(page, *PARENT)
    page.wait_for_url(client.base_url + "/services")
    visit("sample-services-parent")
    page.get_by_role("link", name=re.compile("^Noah LEGRAND")).click()
    page.wait_for_url(re.compile(r"/services\?enfant="))
    visit("sample-services-child")
    page.goto(issuer + "/compte")
    visit("account")
    for name, path in (("help", "/aide"), ("legal", "/mentions-legales"),
                       ("accessibility", "/accessibilite"),
                       ("error", "/authorize?client_id=inconnu"
                                 "&redirect_uri=https://inconnu.example/"),
                       ("not-found", "/pas-de-page-ici")):
        page.goto(issuer + path)
        visit(name)
    # A logout request without id_token_hint: the person confirms it.
    page.goto(issuer + "/logout")
    visit("logout-confirm")
    page.get_by_role("button", name="Me déconnecter").click()
    page.wait_for_url(issuer + "/logout/done")
    visit("logged-out")
    context.close()

    # Jade, a pupil.
    context, page, visit = fresh()
    journeys.to_login(page, stack, client)
    journeys.log_in(page, *PUPIL)
    page.wait_for_url(client.base_url + "/services")
    visit("sample-services-pupil")
    context.close()

    # The journeys of people who have not activated their accounts.
    context, page, visit = fresh()
    journeys.pupil_activation(page, stack, client, journeys.CHLOE,
                              stack.provisional[journeys.CHLOE.identifier], visit)
    context.close()
    context, page, visit = fresh()
    journeys.parent_activation(page, stack, client, journeys.THOMAS, visit)
    context.close()
    context, page, visit = fresh()
    journeys.franceconnect_login(page, stack, client, journeys.JEAN_PIERRE, visit)
    context.close()
    context, page, visit = fresh()
    identifier = journeys.parent_activation(page, stack, client, journeys.NATHALIE,
                                            lambda *_, **__: None, wrong_code=False)
    context.clear_cookies()
    journeys.lost_identifier(page, stack, client, journeys.NATHALIE, visit)
    journeys.forgotten_password(page, stack, journeys.NATHALIE, identifier, visit,
                                journeys.OTHER_PASSWORD)
    context.close()

    # The administration console: password, then the TOTP code.
    context, page, visit = fresh()
    journeys.admin_console(page, stack, visit)
    context.close()


def main(argv=None) -> int:
    """Start the stack, take the screenshots, stop the stack."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "screenshots")
    parser.add_argument("--only", nargs="*", default=[], help="page names to take")
    args = parser.parse_args(argv)
    if not Path(CHROMIUM).is_file():
        print(f"no Chromium at {CHROMIUM} (set IDP_TEST_CHROMIUM)", file=sys.stderr)
        return 2
    from playwright.sync_api import sync_playwright

    args.out.mkdir(parents=True, exist_ok=True)
    camera = Camera(args.out, set(args.only))
    with tempfile.TemporaryDirectory(prefix="idp-screenshots-") as workdir:
        stack = stack_module.start(Path(workdir), {"main": "Scolarité Services (démo)"},
                                   provisional=(journeys.CHLOE.identifier,),
                                   admins=(journeys.ADMIN,))
        try:
            with sync_playwright() as playwright:
                browser = playwright.chromium.launch(executable_path=CHROMIUM,
                                                     args=CHROMIUM_ARGS)
                try:
                    shoot(browser, stack, camera)
                finally:
                    browser.close()
        finally:
            stack.stop()
    for path in camera.written:
        print(path.relative_to(ROOT) if path.is_relative_to(ROOT) else path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
