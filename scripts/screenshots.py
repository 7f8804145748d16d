#!/usr/bin/env python3
"""Screenshots of every hosted page at 375 px and 1280 px wide, for the docs.

Starts the provider and the demo client on free ports with a temporary database
(tests/browser/stack.py, as the browser tests do), drives Debian's Chromium with
Playwright, and writes docs/screenshots/<page>-<width>.png:

    login, login-errors, account, logout-confirm, logged-out, help, legal,
    accessibility, error, sample-services

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

from tests.browser.stack import PARENT  # noqa: E402
from tests.browser.stack import Stack  # noqa: E402

WIDTHS = (375, 1280)
CHROMIUM = os.environ.get("IDP_TEST_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking"]


def shoot(browser, stack: Stack, width: int, out: Path, only: set[str]) -> list[Path]:
    """Walk through the pages in one fresh browser profile, one screenshot each."""
    context = browser.new_context(viewport={"width": width, "height": 800}, locale="fr-FR",
                                  color_scheme="light", device_scale_factor=1)
    context.set_default_timeout(15_000)
    page = context.new_page()
    written = []
    issuer = stack.issuer
    client = stack.clients["main"]

    def snap(name: str) -> None:
        if only and name not in only:
            return
        page.wait_for_load_state("load")
        path = out / f"{name}-{width}.png"
        page.screenshot(path=str(path), full_page=True, animations="disabled")
        written.append(path)

    login_page = re.compile(re.escape(issuer) + r"/login\?flow=")
    page.goto(client.base_url + "/login")
    page.wait_for_url(login_page)
    snap("login")

    page.get_by_role("textbox", name=re.compile(r"^Identifiant\b")).fill(PARENT[0])
    page.get_by_label("Mot de passe", exact=True).fill("Pas-le-bon-2026")
    page.get_by_role("button", name="Se connecter", exact=True).click()
    page.wait_for_selector("#error-summary")
    snap("login-errors")

    page.get_by_label("Mot de passe", exact=True).fill(PARENT[1])
    page.get_by_role("button", name="Se connecter", exact=True).click()
    page.wait_for_url(client.base_url + "/services")
    snap("sample-services")

    page.goto(issuer + "/compte")
    snap("account")
    for name, path in (("help", "/aide"), ("legal", "/mentions-legales"),
                       ("accessibility", "/accessibilite"),
                       ("error", "/authorize?client_id=inconnu&redirect_uri=https://inconnu.example/")):
        page.goto(issuer + path)
        snap(name)

    # A logout request without id_token_hint: the person confirms it.
    page.goto(issuer + "/logout")
    snap("logout-confirm")
    page.get_by_role("button", name="Me déconnecter").click()
    page.wait_for_url(issuer + "/logout/done")
    snap("logged-out")
    context.close()
    return written


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
    with tempfile.TemporaryDirectory(prefix="idp-screenshots-") as workdir:
        stack = Stack(Path(workdir))
        try:
            stack.start_provider()
            stack.start_clients({"main": "Scolarité Services (démo)"})
            with sync_playwright() as playwright:
                browser = playwright.chromium.launch(executable_path=CHROMIUM,
                                                     args=CHROMIUM_ARGS)
                try:
                    for width in WIDTHS:
                        for path in shoot(browser, stack, width, args.out, set(args.only)):
                            print(path.relative_to(ROOT) if path.is_relative_to(ROOT)
                                  else path)
                finally:
                    browser.close()
        finally:
            stack.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
