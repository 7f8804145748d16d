"""Fixtures of the browser tests: the live stack (provider + two demo clients, see
stack.py), Debian's Chromium driven by Playwright, and axe-core.

- Chromium: $IDP_TEST_CHROMIUM, default /usr/bin/chromium; the browser tests are
  skipped, with the reason, when it is missing (Playwright never downloads one).
- axe-core: $IDP_TEST_AXE_JS (a path to axe.min.js), else `npm install
  axe-core@<AXE_VERSION>` (a 4.x release, pinned) into tests/browser/.axe/
  (gitignored) on first use. When neither works, the
  accessibility checks are skipped *with a notice*: a skipped test names the reason
  and the terminal summary says so.

Nothing here imports the provider: the in-process fixtures of tests/conftest.py are
not used (its autouse `_clean` is overridden below).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import warnings
from pathlib import Path

import pytest

from tests.browser import stack as stack_module

HERE = Path(__file__).resolve().parent
CHROMIUM = os.environ.get("IDP_TEST_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking"]
AXE_DIR = HERE / ".axe"
#: Pinned, so that a new axe-core release (new rules) never changes a test run by itself.
AXE_VERSION = "4.14.1"
AXE_PACKAGE = f"axe-core@{AXE_VERSION}"
AXE_CSS_FETCH = re.compile(r"Connecting to '[^']+\.css' violates")
#: Impacts that fail a page.
BLOCKING = ("serious", "critical")

AXE_RUN = """() => axe.run(document, {resultTypes: ['violations']}).then(r => ({
    version: axe.version,
    violations: r.violations.map(v => ({
        id: v.id, impact: v.impact, help: v.help, tags: v.tags,
        nodes: v.nodes.slice(0, 5).map(n => ({target: n.target.join(' '),
                                              summary: n.failureSummary})),
    })),
}))"""


def chromium_available() -> bool:
    """Whether the Chromium executable exists."""
    return Path(CHROMIUM).is_file() and os.access(CHROMIUM, os.X_OK)


@pytest.fixture(autouse=True)
def _clean():
    """Override tests/conftest.py's autouse fixture: no in-process app here."""
    yield


@pytest.fixture(scope="session")
def stack(tmp_path_factory):
    """The provider (gunicorn) with the FranceConnect simulator, and the demo clients
    "main" and "second"; the pupil of the activation journey has a provisional
    password from the start (`stack.provisional`), the console's administrator a
    TOTP secret (`stack.admins`)."""
    from tests.browser.journeys import ADMIN
    from tests.browser.journeys import CHLOE

    running = stack_module.start(tmp_path_factory.mktemp("browser-stack"),
                                 provisional=(CHLOE.identifier,), admins=(ADMIN,))
    yield running
    running.stop()


@pytest.fixture(scope="session")
def chromium():
    """Debian's Chromium, launched once for the session."""
    if not chromium_available():
        pytest.skip(f"no Chromium at {CHROMIUM} (set IDP_TEST_CHROMIUM)")
    sync_api = pytest.importorskip("playwright.sync_api")
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


class ConsoleLog:
    """What the pages of a context printed to the console, and CSP refusals."""

    def __init__(self):
        self.messages: list[str] = []

    def record(self, message) -> None:
        self.messages.append(f"{message.type}: {message.text}")

    def csp_refusals(self) -> list[str]:
        """Messages of a Content-Security-Policy refusal (inline script or style...).

        axe-core itself fetches the page's stylesheets to read their rules (its
        "cssom" preload): a page whose connect-src refuses that, like the demo
        client's cross-origin DSFR stylesheet, is not at fault.
        """
        return [m for m in self.messages if "Content Security Policy" in m
                and not AXE_CSS_FETCH.search(m)]


@pytest.fixture
def browser_context(chromium):
    """A fresh browser profile (no cookies), 1280 px wide, in French."""
    context = chromium.new_context(viewport={"width": 1280, "height": 800}, locale="fr-FR",
                                   color_scheme="light")
    context.set_default_timeout(10_000)
    yield context
    context.close()


@pytest.fixture
def page(browser_context):
    """A page of the fresh context; fails the test on a CSP refusal."""
    console = ConsoleLog()
    tab = browser_context.new_page()
    tab.on("console", console.record)
    tab.console_log = console
    yield tab
    refusals = console.csp_refusals()
    assert not refusals, "Content-Security-Policy refusals:\n" + "\n".join(refusals)


# -- axe-core ---------------------------------------------------------------------------


class Axe:
    """Runs axe-core in pages and fails on serious or critical violations."""

    def __init__(self, source: str | None, reason: str | None):
        self.source = source
        self.reason = reason
        self.version = None
        self.checked: list[str] = []
        self.minor: dict[str, set[str]] = {}

    def check(self, page, where: str = "", blocking: bool = True) -> None:
        """Assert that the page has no serious or critical axe violation (only report
        them when blocking is false)."""
        if self.source is None:
            return
        page.wait_for_load_state("load")
        if not page.evaluate("() => typeof window.axe === 'object'"):
            page.evaluate(self.source + "\n;void 0")
        result = page.evaluate(AXE_RUN)
        self.version = result["version"]
        label = where or page.url
        self.checked.append(label)
        serious = [v for v in result["violations"] if v["impact"] in BLOCKING]
        for violation in result["violations"]:
            if violation["impact"] not in BLOCKING or not blocking:
                note = "" if blocking else ", not hosted"
                self.minor.setdefault(f"{violation['id']} ({violation['impact']}{note})",
                                      set()).add(label)
        if not blocking:
            return
        assert not serious, (
            f"axe-core {self.version}: serious/critical violations on {label} "
            f"({page.url}):\n{json.dumps(serious, indent=2, ensure_ascii=False)}"
        )


class PageChecks:
    """What every page of a journey must pass: axe-core (no serious or critical
    violation, at 1280 px) and no horizontal scroll at 320 px. Call it on each page
    (the `visit` of journeys.py), then `assert_fit()` at the end of the test, which
    names every page too wide at once.

    Pages that are not the provider's (the FranceConnect simulator, a development
    tool standing for FranceConnect) are checked too, but only reported."""

    def __init__(self, page, axe, prefix: str = ""):
        self.page, self.axe, self.prefix = page, axe, prefix
        self.too_wide: list[str] = []
        self.visited: list[str] = []

    def __call__(self, name: str, hosted: bool = True) -> None:
        page = self.page
        page.wait_for_load_state("load")
        self.visited.append(name)
        self.axe.check(page, f"{self.prefix}{name}", blocking=hosted)
        size = page.viewport_size
        page.set_viewport_size({"width": 320, "height": 640})
        width = page.evaluate("document.documentElement.scrollWidth")
        page.set_viewport_size(size)
        if width > 320:
            if hosted:
                self.too_wide.append(f"{name}: {width}px ({page.url})")
            else:
                self.axe.minor.setdefault("horizontal scroll at 320px (not hosted)",
                                          set()).add(name)

    def assert_fit(self) -> None:
        assert not self.too_wide, f"horizontal scroll at 320px: {self.too_wide}"


@pytest.fixture
def checks(page, axe):
    """PageChecks for the page of the test."""
    return PageChecks(page, axe)


def _axe_source() -> tuple[str | None, str | None]:
    explicit = os.environ.get("IDP_TEST_AXE_JS")
    if explicit:
        path = Path(explicit)
        if not path.is_file():
            return None, f"IDP_TEST_AXE_JS={explicit} does not exist"
        return path.read_text(encoding="utf-8"), None
    package = AXE_DIR / "node_modules" / "axe-core"
    path = package / "axe.min.js"
    if not path.is_file() or _installed_version(package) != AXE_VERSION:
        npm = shutil.which("npm")
        if npm is None:
            return None, "npm is not installed, and IDP_TEST_AXE_JS is not set"
        try:
            result = subprocess.run(
                [npm, "install", "--prefix", str(AXE_DIR), AXE_PACKAGE, "--no-save",
                 "--no-audit", "--no-fund", "--silent"],
                capture_output=True, text=True, timeout=180, check=False,
            )
        except (OSError, subprocess.TimeoutExpired) as exc:
            return None, f"npm install {AXE_PACKAGE} failed: {exc}"
        if result.returncode != 0 or not path.is_file():
            return None, (f"npm install {AXE_PACKAGE} failed ({result.returncode}): "
                          f"{(result.stderr or result.stdout).strip()[-300:]}")
    return path.read_text(encoding="utf-8"), None


def _installed_version(package: Path) -> str | None:
    try:
        return json.loads((package / "package.json").read_text(encoding="utf-8"))["version"]
    except (OSError, ValueError, KeyError):
        return None


_AXE: list[Axe] = []


@pytest.fixture(scope="session")
def axe():
    """The axe-core runner (its source is None, with a reason, when unavailable)."""
    source, reason = _axe_source()
    if source is None:
        warnings.warn(f"axe-core unavailable, accessibility checks skipped: {reason}",
                      stacklevel=1)
    runner = Axe(source, reason)
    _AXE.append(runner)
    return runner


def pytest_terminal_summary(terminalreporter):
    """Say what axe-core checked, or loudly that it could not run."""
    for runner in _AXE:
        write = terminalreporter.write_line
        terminalreporter.section("axe-core")
        if runner.source is None:
            write(f"NOTICE: axe-core did not run ({runner.reason}); "
                  "the accessibility assertions were skipped.", yellow=True, bold=True)
            continue
        write(f"axe-core {runner.version}: {len(runner.checked)} page states checked, "
              f"failing on {'/'.join(BLOCKING)} violations.")
        for rule, pages in sorted(runner.minor.items()):
            write(f"  below the bar: {rule} on {len(pages)} page(s): "
                  f"{', '.join(sorted(pages)[:4])}")
