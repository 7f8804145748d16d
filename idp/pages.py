"""Information pages linked from every page footer: help, legal notice, accessibility."""

from flask import Blueprint
from flask import render_template

bp = Blueprint("pages", __name__)


@bp.get("/aide", endpoint="help")
def help_page():
    """Show the "Besoin d'aide ?" FAQ for parents and pupils."""
    return render_template("pages/help.html")


@bp.get("/mentions-legales", endpoint="legal")
def legal():
    """Show the legal notice and the personal data statement."""
    return render_template("pages/legal.html")


@bp.get("/accessibilite", endpoint="accessibility")
def accessibility():
    """Show the RGAA accessibility statement."""
    return render_template("pages/accessibility.html")
