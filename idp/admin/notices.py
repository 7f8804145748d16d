"""Printable notices: one per page, for the school to hand to each pupil and parent.

Two renderings of the same notices: a standalone HTML file (`idp accounts distribute
--out`) that carries its own stylesheet, since it is opened from disk and printed; and
the console's page, served under the strict Content-Security-Policy, which links the
same stylesheet under /static instead.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo
from zoneinfo import ZoneInfoNotFoundError

from flask import render_template

from idp.admin.distribution import Distribution
from idp.admin.distribution import Notice

STYLESHEET = Path(__file__).resolve().parent.parent / "static" / "css" / "notices.css"
ASSISTANCE_PHONE = "0 809 54 06 06"
ASSISTANCE_HOURS = (
    "du lundi au vendredi de 8h à 20h et le samedi de 8h à 12h (horaires de métropole)"
)

try:
    # Dates are printed as French families read them, whatever the server's zone.
    PARIS = ZoneInfo("Europe/Paris")
except ZoneInfoNotFoundError:  # pragma: no cover - systems without a zone database
    PARIS = None


def french_date(moment: datetime) -> str:
    """JJ/MM/AAAA in metropolitan French time."""
    if PARIS is not None:
        moment = moment.astimezone(PARIS)
    return moment.strftime("%d/%m/%Y")


def _context(notices: list[Notice], service_url: str, distribution: Distribution | None,
             title: str) -> dict:
    return {
        "notices": notices,
        "distribution": distribution,
        "service_url": service_url,
        "title": title,
        "french_date": french_date,
        "phone": ASSISTANCE_PHONE,
        "hours": ASSISTANCE_HOURS,
    }


def title_of(distribution: Distribution) -> str:
    """The document title: school, class and who the notices are for."""
    who = {"eleve": "élèves", "responsable": "représentants légaux"}.get(
        distribution.role, "élèves et représentants légaux"
    )
    where = f", classe {distribution.division}" if distribution.division else ""
    return f"Notifications EduConnect - {distribution.school_name}{where} ({who})"


def standalone_document(distribution: Distribution, service_url: str) -> str:
    """A self-contained HTML file to print: its stylesheet is inside (needs an app context)."""
    return render_template(
        "admin/notices.html",
        css=STYLESHEET.read_text(encoding="utf-8"),
        **_context(distribution.notices, service_url, distribution, title_of(distribution)),
    )


def console_page(notices: list[Notice], service_url: str, *, title: str,
                 distribution: Distribution | None = None, back_url: str) -> str:
    """The console's page of notices, which links the print stylesheet (no inline style)."""
    return render_template(
        "admin/notices.html", back_url=back_url,
        **_context(notices, service_url, distribution, title),
    )
