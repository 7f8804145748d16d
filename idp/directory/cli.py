"""`idp directory`: import SIECLE and ONDE files, manage clients' allow-lists, counts.

Commands receive the `Context` of `idp.cli` through click's `obj` (what `pass_ctx`
passes), without importing `idp.cli`, so that it can import this module.
"""

from __future__ import annotations

import os
import sys

import click

from idp.directory import access
from idp.directory import claims as directory_claims
from idp.directory import codes
from idp.directory import importer
from idp.directory import stats as directory_stats
from idp.directory.models import School
from idp.directory.records import FileRejected
from idp.directory.records import Header
from idp.directory.siecle import SiecleFile
from idp.extensions import db
from idp.services import clients

COUNTS = ("created", "updated", "unchanged", "left", "removed", "rejected")


def _summary(report: importer.FileReport) -> str:
    where = ", ".join(str(x) for x in (report.kind, report.uai, report.year) if x)
    if report.error:
        head = f"REFUSED: {report.error}"  # the message names the file
    else:
        counts = ", ".join(f"{getattr(report, c)} {c}" for c in COUNTS)
        if report.warnings:
            counts += f", {report.warnings} warnings"
        head = f"{report.file} ({where}): {counts}"
    lines = [head]
    lines += [f"  {report.where(p)}: {p.reason}" for p in report.problems]
    listed = len(report.problems)
    if report.rejected + report.warnings > listed:
        lines.append(f"  ... and {report.rejected + report.warnings - listed} more")
    return "\n".join(lines)


def totals(reports: list[importer.FileReport]) -> dict:
    """Sum the counts of file reports."""
    result = {c: sum(getattr(r, c) for r in reports) for c in COUNTS}
    result["warnings"] = sum(r.warnings for r in reports)
    result["files_refused"] = sum(1 for r in reports if r.error)
    return result


@click.group("directory")
def directory():
    """School directory: SIECLE / ONDE imports, clients' allow-lists."""


@directory.command("import")
@click.option("--format", "fmt", type=click.Choice(importer.FORMATS), required=True,
              help="siecle (XML exports) or onde (CSV extractions).")
@click.option("--uai", default=None,
              help="The school's UAI: required for ONDE, whose files do not carry it.")
@click.option("--school-name", default=None,
              help="The name of the school given by --uai, as shown to services.")
@click.option("--allow-mass-departure", "allow_mass_departure", multiple=True,
              metavar="UAI",
              help="Let the files of this school (UAI, repeatable) mark more than "
                   "half of its pupils as having left, or remove more than half of the "
                   "legal links to its current pupils (a school closing or merging); "
                   "refused otherwise.")
@click.argument("files", nargs=-1, required=True,
                type=click.Path(exists=True, dir_okay=False))
@click.pass_obj
def import_command(ctx, fmt, uai, school_name, allow_mass_departure, files):
    """Import files, each in its own transaction; print a summary."""
    if school_name and not uai:
        raise click.UsageError("--school-name names the school given by --uai")
    departures = _uais(allow_mass_departure)
    with ctx.app.app_context():
        _check_mass_departures(departures, files, fmt, uai)
        if not ctx.as_json and sys.stderr.isatty():
            total = sum(os.path.getsize(f) for f in files)
            with click.progressbar(length=total, label="Import", file=sys.stderr) as bar:
                reports = importer.import_files(files, fmt, uai=uai, school_name=school_name,
                                                progress=bar.update,
                                                allow_mass_departure=departures)
        else:
            reports = importer.import_files(files, fmt, uai=uai, school_name=school_name,
                                            allow_mass_departure=departures)
        summed = totals(reports)
        text = "\n".join(_summary(r) for r in reports)
        text += "\nTotal: " + ", ".join(f"{summed[c]} {c}" for c in COUNTS)
        ctx.out({"files": [r.as_dict() for r in reports], "totals": summed}, text)
    if summed["files_refused"]:
        sys.exit(1)


@directory.command("allow")
@click.argument("client_id")
@click.option("--scope", "scopes", multiple=True, help="A scope the client may use (repeat).")
@click.option("--claim", "claims", multiple=True,
              help="A restricted claim the client may receive, e.g. ine (repeat).")
@click.option("--profile", default=None,
              help="Compatibility profile (educonnect), or 'none' to remove it.")
@click.option("--remove", is_flag=True, help="Take the scopes and claims away instead.")
@click.pass_obj
def allow_command(ctx, client_id, scopes, claims, profile, remove):
    """Show or change what a client may receive (data minimisation)."""
    directory_claims.register()
    scope_list = [s for item in scopes for s in item.split()]
    with ctx.app.app_context():
        client = clients.get(client_id)
        if client is None:
            raise click.ClickException(f"no client {client_id}")
        try:
            result = access.allow(
                client, scopes=scope_list, claims=list(claims),
                profile="" if profile == "none" else profile, remove=remove,
            )
        except access.AccessError as exc:
            raise click.ClickException(str(exc)) from exc
        db.session.commit()
        ctx.out(result, (
            f"{result['client_id']}\n  scopes: {' '.join(result['scopes'])}\n"
            f"  restricted claims: {' '.join(result['claims']) or '(none)'}\n"
            f"  profile: {result['profile'] or '(none)'}"
        ))


@directory.command("stats")
@click.pass_obj
def stats_command(ctx):
    """Counts of académies, schools, pupils, representatives and families."""
    with ctx.app.app_context():
        data = directory_stats.collect()

    def lines(mapping, indent=""):
        """Indented `key: value` lines of nested counts."""
        for key, value in mapping.items():
            if isinstance(value, dict):
                yield f"{indent}{key}:"
                yield from lines(value, indent + "  ")
            else:
                yield f"{indent}{key}: {value}"

    ctx.out(data, "\n".join(lines(data)))


def standalone() -> None:
    """Run `idp` with this group added (before it is registered in idp.cli)."""
    from idp.cli import main

    main.add_command(directory)
    main()


def _uais(values) -> frozenset[str]:
    """The UAIs --allow-mass-departure names, checked and written as the files write
    them (upper case); a value that is not a UAI is a usage error."""
    try:
        return frozenset(codes.check_uai(value) for value in values)
    except ValueError as exc:
        raise click.UsageError(f"--allow-mass-departure: {exc}") from None


def _check_mass_departures(departures: frozenset[str], files, fmt: str,
                           uai: str | None) -> None:
    """Refuse a --allow-mass-departure UAI that names no school of the directory nor
    of the files imported: it would allow nothing (a misspelt UAI)."""
    unknown = departures - set(db.session.execute(
        db.select(School.uai).where(School.uai.in_(sorted(departures)))).scalars())
    if unknown and uai:
        unknown -= {codes.normalise_code(uai)}
    if unknown and fmt == "siecle":
        unknown -= _siecle_schools(files)
    if unknown:
        raise click.UsageError(
            f"--allow-mass-departure {', '.join(sorted(unknown))}: no school with this UAI "
            "in the directory nor in the files imported")


def _siecle_schools(files) -> set[str]:
    """The UAIs the headers of SIECLE files name (files that cannot be read are left to
    the import, which reports them)."""
    found = set()
    for path in files:
        try:
            source = SiecleFile(path)
            if source.kind == "nomenclature":
                continue
            records = source.records()
            try:
                header = next(records, None)
            finally:
                records.close()
        except (FileRejected, OSError, ValueError):
            continue
        if isinstance(header, Header) and header.uai:
            found.add(codes.normalise_code(header.uai))
    return found


if __name__ == "__main__":  # pragma: no cover
    standalone()
