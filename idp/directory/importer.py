"""The directory import service: SIECLE and ONDE files into the directory.

Each file is imported in one transaction: a file that turns out to be bad half-way,
or a crash, leaves the directory as it was. Within a good file, bad rows are reported
(file, line, element, reason) and the others imported. Importing the same files twice
changes nothing; a new year's file updates schools and classes, marks the pupils it no
longer lists as having left (they and their accounts are kept) and adds new pupils,
each with a provisional account. A pupil is keyed by INE, so one who moves to another
school or académie keeps their account.

A rejected row is not a departure: when its identity can still be read (ELEVE_ID,
PERSONNE_ID, the ONDE row's names), what the directory holds under it is left as it was,
links included; only records really absent from the file are marked left or removed. A
pupils file that would mark more than half of a school's current pupils as having left
is refused unless the caller allows it (`allow_mass_departure`). A file the database
refuses (a value too long for its column, a broken constraint) is rolled back and
reported like any refused file; the next files are still imported.

Writes go through SQLAlchemy Core in batches (executemany, multi-row inserts), looking
rows up by key batch by batch, so that an académie's files import in seconds and
memory does not grow with the size of the database.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable
from collections.abc import Collection
from collections.abc import Iterable
from dataclasses import dataclass
from dataclasses import field

from sqlalchemy import bindparam
from sqlalchemy import delete
from sqlalchemy import exists
from sqlalchemy import func
from sqlalchemy import insert
from sqlalchemy import select
from sqlalchemy import update
from sqlalchemy.exc import DataError
from sqlalchemy.exc import IntegrityError

from idp.directory import academies as academy_codes
from idp.directory import codes
from idp.directory import family
from idp.directory import identifiers
from idp.directory import onde
from idp.directory import siecle
from idp.directory.models import Academie
from idp.directory.models import Mef
from idp.directory.models import ParentIdentity
from idp.directory.models import Pupil
from idp.directory.models import Representative
from idp.directory.models import RepresentativeLink
from idp.directory.models import School
from idp.directory.normalise import clean_name
from idp.directory.normalise import name_key
from idp.directory.normalise import pupil_key
from idp.directory.records import DivisionRecord
from idp.directory.records import FileRejected
from idp.directory.records import Header
from idp.directory.records import LinkRecord
from idp.directory.records import MefRecord
from idp.directory.records import PersonRecord
from idp.directory.records import Problem
from idp.directory.records import PupilRecord
from idp.directory.sql import chunks
from idp.directory.sql import insert_ids
from idp.directory.sql import insert_ignore
from idp.extensions import db
from idp.models import Account
from idp.models.base import utcnow
from idp.services import audit

FORMATS = ("siecle", "onde")
DEGREE = {"siecle": "2d", "onde": "1d"}
# Nomenclature first (levels), then pupils, then the representatives who link to them.
ORDER = {"nomenclature": 0, "eleves": 1, "responsables": 2}
BATCH = 2000
# Problems beyond this many are counted but not listed one by one.
MAX_LISTED_PROBLEMS = 1000
# A file with at least this many bad rows, and more bad rows than good, is refused.
MIN_REJECTED_TO_REFUSE = 10
# A pupils file may mark at most this share of the school's current pupils as having left.
MAX_DEPARTURE_SHARE = 0.5

academies_t = Academie.__table__
schools_t = School.__table__
mefs_t = Mef.__table__
pupils_t = Pupil.__table__
reps_t = Representative.__table__
links_t = RepresentativeLink.__table__
identities_t = ParentIdentity.__table__
accounts_t = Account.__table__

Progress = Callable[[int], None]


@dataclass
class FileReport:
    """What importing one file did."""

    file: str
    format: str
    kind: str | None = None
    uai: str | None = None
    year: int | None = None
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    left: int = 0
    removed: int = 0
    rejected: int = 0
    warnings: int = 0
    problems: list[Problem] = field(default_factory=list)
    details: dict = field(default_factory=dict)
    error: str | None = None

    def problem(self, problem: Problem) -> None:
        """Count a problem row and keep it for the report (up to a limit)."""
        if problem.rejected:
            self.rejected += 1
        else:
            self.warnings += 1
        if len(self.problems) < MAX_LISTED_PROBLEMS:
            self.problems.append(problem)

    def where(self, problem: Problem) -> str:
        """Where a problem is: file, line and element."""
        return f"{self.file}:{problem.line} ({problem.ref})"

    def as_dict(self) -> dict:
        """A JSON-ready summary."""
        return {
            "file": self.file, "format": self.format, "kind": self.kind, "uai": self.uai,
            "year": self.year, "created": self.created, "updated": self.updated,
            "unchanged": self.unchanged, "left": self.left, "removed": self.removed,
            "rejected": self.rejected, "warnings": self.warnings, "details": self.details,
            "error": self.error,
            "problems": [
                {"where": self.where(p), "reason": p.reason, "rejected": p.rejected}
                for p in self.problems
            ],
        }


def open_file(path, fmt: str):
    """Open a file of the given format and read its kind; FileRejected if it is not one."""
    if fmt == "siecle":
        return siecle.SiecleFile(path)
    if fmt == "onde":
        return onde.OndeFile(path)
    raise ValueError(f"format: one of {', '.join(FORMATS)}")


class Rejections:
    """The keys of the pupil rows rejected by the pupils files of one command, by school.

    A representatives file imported after them can then say that a link names a pupil
    whose row was rejected, rather than a pupil the school does not have.
    """

    def __init__(self):
        self.pupils: dict[tuple[str, str], set[str]] = {}

    def add(self, fmt: str, uai: str | None, keys: set[str]) -> None:
        """Remember the keys of the pupil rows a school's imported file rejected."""
        if uai and keys:
            self.pupils.setdefault((fmt, uai), set()).update(keys)

    def of(self, fmt: str, uai: str | None) -> set[str]:
        """The rejected pupil keys of a school (ELEVE_IDs, or ONDE name keys)."""
        return self.pupils.get((fmt, uai), set())


def import_files(paths: Iterable, fmt: str, *, uai: str | None = None,
                 school_name: str | None = None, progress: Progress | None = None,
                 allow_mass_departure: Collection[str] = ()) -> list[FileReport]:
    """Import files of one format, each in its own transaction, in dependency order.

    `uai` names the school of ONDE files (which do not say it) and checks SIECLE ones;
    `school_name` needs it, so that it can only name that school. `allow_mass_departure`
    names the schools (UAIs) whose pupils file may mark more than half of their pupils as
    having left; no other school loses that protection.
    """
    if school_name and not uai:
        raise ValueError("a school name needs the school's UAI (--uai)")
    reports, opened = [], []
    for path in paths:
        try:
            opened.append(open_file(path, fmt))
        except (FileRejected, OSError) as exc:
            name = str(path)
            reports.append(FileReport(file=name, format=fmt, error=str(exc)))
    opened.sort(key=lambda f: ORDER[f.kind])
    rejections = Rejections()
    for source in opened:
        reports.append(import_file(source, fmt, uai=uai, school_name=school_name,
                                   progress=progress, allow_mass_departure=allow_mass_departure,
                                   rejections=rejections))
    return reports


def import_file(source, fmt: str, *, uai: str | None = None, school_name: str | None = None,
                progress: Progress | None = None, allow_mass_departure: Collection[str] = (),
                rejections: Rejections | None = None) -> FileReport:
    """Import one opened file in one transaction and return its report.

    A FileRejected, or an error of the database about this file's data (a value too long
    for its column, a broken constraint), rolls the file back and is reported in `error`,
    so that the caller goes on with its next files; any other exception rolls it back and
    propagates.
    """
    rejections = rejections if rejections is not None else Rejections()
    report = FileReport(file=source.name, format=fmt, kind=source.kind)
    job_class = {"nomenclature": _NomenclatureJob, "eleves": _PupilsJob,
                 "responsables": _PeopleJob}[source.kind]
    job = job_class(db.session.connection(), source, fmt, report, uai=uai,
                    school_name=school_name, progress=progress,
                    allow_mass_departure=allow_mass_departure, rejections=rejections)
    try:
        job.run()
        audit.record("directory.imported", file=report.file, kind=report.kind, uai=report.uai,
                     created=report.created, updated=report.updated, left=report.left,
                     removed=report.removed, rejected=report.rejected, **report.details)
        db.session.commit()
    except FileRejected as exc:
        db.session.rollback()
        return _refused(source, fmt, report, str(exc))
    except (DataError, IntegrityError) as exc:
        # What this file's data did (a value too long, a broken constraint); a lost
        # connection or a timeout is no fault of the file and stops the command.
        db.session.rollback()
        return _refused(source, fmt, report, _database_refusal(report.file, exc))
    except BaseException:
        db.session.rollback()
        raise
    if isinstance(job, _PupilsJob):
        rejections.add(fmt, report.uai, job.rejected_keys)
    return report


def _refused(source, fmt: str, report: FileReport, error: str) -> FileReport:
    """The report of a file rolled back: its error, and the row problems found before."""
    refused = FileReport(file=source.name, format=fmt, kind=source.kind, uai=report.uai,
                         year=report.year, error=error)
    for problem in report.problems:
        refused.problem(problem)
    return refused


_WRITTEN_TABLE = re.compile(r"^\s*(?:INSERT\s+INTO|UPDATE|DELETE\s+FROM)\s+\"?(\w+)", re.I)


def _database_refusal(file: str, exc: DataError | IntegrityError) -> str:
    """An operator's message for a database error: what was refused, where; no traceback."""
    cause = exc.orig if exc.orig is not None else exc
    # The driver's first line says what (and PostgreSQL's DETAIL lines may quote data).
    reason = (str(cause).strip().splitlines() or [""])[0]
    table = _WRITTEN_TABLE.match(exc.statement or "")
    where = f" while writing {table.group(1)}" if table else ""
    return (f"{file}: the database refused the file{where} ({type(cause).__name__}: "
            f"{reason}); nothing from it was imported")


class _Job:
    """Shared machinery: the school, batches, progress."""

    def __init__(self, conn, source, fmt, report, *, uai, school_name, progress,
                 allow_mass_departure=(), rejections=None):
        self.conn = conn
        self.source = source
        self.fmt = fmt
        self.report = report
        self.uai = uai
        self.school_name = school_name
        self.progress = progress
        self.now = utcnow()
        self.school_id: int | None = None
        self._reported_position = 0
        self.allow_mass_departure = allow_mass_departure
        self.rejections = rejections if rejections is not None else Rejections()
        # Rows rejected only because a row they name was rejected: listed, but that
        # fault is already counted once toward the refusal of the file.
        self.follow_ups = 0

    def follow_up(self, problem: Problem) -> None:
        """Report a row rejected because of a row rejected above, counting the fault once."""
        self.report.problem(problem)
        self.follow_ups += 1

    def tick(self) -> None:
        """Report the bytes read since the last call to the progress callback."""
        if self.progress is not None:
            position = self.source.position
            if position > self._reported_position:
                self.progress(position - self._reported_position)
                self._reported_position = position

    def refuse_if_mostly_bad(self, accepted: int) -> None:
        """Refuse a file with more bad rows than good ones, before it deletes anything.

        A format change (a renamed element, another date format) would otherwise make a
        school's whole list look gone: every pupil marked as having left.
        """
        rejected = self.report.rejected - self.follow_ups
        if rejected >= MIN_REJECTED_TO_REFUSE and rejected > accepted:
            raise FileRejected(
                f"{self.report.file}: {rejected} rows rejected for {accepted} accepted: "
                "the file is refused as a whole (see the problems listed)"
            )

    def school_for(self, header: Header | None) -> int:
        """Find or create the file's school, check the year, update name and year."""
        file_uai = header.uai if header else None
        try:
            uai = codes.check_uai(file_uai or self.uai)
        except ValueError as exc:
            if not (file_uai or self.uai):
                raise FileRejected(
                    f"{self.report.file}: the school's UAI is not in the file: give it "
                    "with --uai"
                ) from exc
            raise FileRejected(f"{self.report.file}: {exc}") from exc
        if file_uai and self.uai and codes.normalise_code(self.uai) != uai:
            raise FileRejected(f"{self.report.file}: the file is about {uai}, not {self.uai}")
        year = header.year if header else None
        self.report.uai, self.report.year = uai, year
        academie_id = ensure_academie(self.conn, academy_codes.academie_of(uai))
        row = self.conn.execute(
            select(schools_t.c.id, schools_t.c.name, schools_t.c.school_year,
                   schools_t.c.degree, schools_t.c.academie_id)
            .where(schools_t.c.uai == uai)
        ).first()
        degree = DEGREE[self.fmt]
        if row is None:
            insert_ignore(self.conn, schools_t, [{
                "uai": uai, "name": self.school_name or "", "academie_id": academie_id,
                "degree": degree, "school_year": year, "created_at": self.now,
                "updated_at": self.now,
            }], ["uai"])
            return self.conn.execute(
                select(schools_t.c.id).where(schools_t.c.uai == uai)
            ).scalar_one()
        if year is None and header is not None and row.school_year is not None:
            # An unknown year is not taken as "this year": an old export whose
            # ANNEE_SCOLAIRE is blank could otherwise undo newer data.
            raise FileRejected(
                f"{self.report.file}: ANNEE_SCOLAIRE is missing or unreadable: the file "
                f"cannot be checked against the {row.school_year} data already imported "
                f"for {uai}"
            )
        if year is not None and row.school_year is not None and year < row.school_year:
            raise FileRejected(
                f"{self.report.file}: school year {year} is older than the {row.school_year} "
                f"data already imported for {uai}"
            )
        changes = {}
        if self.school_name and self.school_name != row.name:
            changes["name"] = self.school_name
        if year is not None and year != row.school_year:
            changes["school_year"] = year
        if degree != row.degree:
            changes["degree"] = degree
        if academie_id != row.academie_id:
            changes["academie_id"] = academie_id
        if changes:
            self.conn.execute(
                update(schools_t).where(schools_t.c.id == row.id)
                .values(updated_at=self.now, **changes)
            )
        return row.id


def ensure_academie(conn, code: str | None) -> int | None:
    """Return the id of an académie by code, creating it from the known list."""
    if code is None:
        return None
    insert_ignore(conn, academies_t, [{"code": code, "name": academy_codes.name_of(code)}],
                  ["code"])
    return conn.execute(select(academies_t.c.id).where(academies_t.c.code == code)).scalar_one()


class _NomenclatureJob(_Job):
    """Nomenclature.xml: MEF codes with their MEFSTAT level and label."""

    def run(self) -> None:
        """Upsert the MEFs, then correct the level of pupils whose MEF changed."""
        batch: list[MefRecord] = []
        changed: list[str] = []
        for record in self.source.records():
            if isinstance(record, Problem):
                self.report.problem(record)
            elif isinstance(record, MefRecord):
                batch.append(record)
                if len(batch) >= BATCH:
                    changed += self._flush(batch)
                    batch = []
        changed += self._flush(batch)
        # Pupils imported before this nomenclature (or under an older one) get their level.
        mef = mefs_t.alias("m")
        for chunk in chunks(changed):
            self.conn.execute(
                update(pupils_t).where(pupils_t.c.mef.in_(chunk)).values(
                    mefstat4=select(mef.c.mefstat4).where(mef.c.code == pupils_t.c.mef)
                    .scalar_subquery(),
                    level_label=select(mef.c.label).where(mef.c.code == pupils_t.c.mef)
                    .scalar_subquery(),
                )
            )
        self.tick()

    def _flush(self, batch: list[MefRecord]) -> list[str]:
        if not batch:
            return []
        records = {r.code: r for r in batch}
        existing = {
            row.code: row for row in self.conn.execute(
                select(mefs_t).where(mefs_t.c.code.in_(list(records)))
            )
        }
        inserts, updates = [], []
        for code, r in records.items():
            values = {"mefstat11": r.mefstat11, "mefstat4": codes.mefstat4(r.mefstat11),
                      "label": r.label}
            row = existing.get(code)
            if row is None:
                inserts.append({"code": code, **values})
            elif (row.mefstat11, row.mefstat4, row.label) != tuple(values.values()):
                updates.append({"b_code": code, **{f"b_{k}": v for k, v in values.items()}})
        if inserts:
            insert_ignore(self.conn, mefs_t, inserts, ["code"])
        if updates:
            self.conn.execute(
                update(mefs_t).where(mefs_t.c.code == bindparam("b_code")).values(
                    mefstat11=bindparam("b_mefstat11"), mefstat4=bindparam("b_mefstat4"),
                    label=bindparam("b_label"),
                ),
                updates,
            )
        self.report.created += len(inserts)
        self.report.updated += len(updates)
        self.report.unchanged += len(records) - len(inserts) - len(updates)
        self.tick()
        return [r["code"] for r in inserts] + [u["b_code"] for u in updates]


# Columns a pupil record sets; `division` only for ONDE, where it is on the same row.
_PUPIL_FIELDS = (
    "school_id", "source_id", "family_name", "usage_name", "given_name", "name_key",
    "birthdate", "sex", "mef", "mefstat4", "level_label", "degree", "entry_date",
    "exit_date", "school_year",
)


class _PupilsJob(_Job):
    """ElevesSansAdresses.xml or ONDE CSVExtraction.csv: the pupils of one school."""

    def run(self) -> None:
        """Import pupils batch by batch, then classes, then mark those who left."""
        self.fields = _PUPIL_FIELDS + (("division",) if self.fmt == "onde" else ())
        self.mefs = {}
        if self.fmt == "siecle":
            self.mefs = {
                code: (m4, label) for code, m4, label in self.conn.execute(
                    select(mefs_t.c.code, mefs_t.c.mefstat4, mefs_t.c.label)
                )
            }
        self.seen: set[int] = set()
        self.created: set[int] = set()
        self.updated: set[int] = set()
        self.left: set[int] = set()
        self.ines: set[str] = set()
        self.previous_schools: dict[str, str] = {}
        self.divisions_given: set[int] = set()
        self.pending_divisions: list[DivisionRecord] = []
        self.accounts_created = 0
        self.rejected_keys: set[str] = set()
        self.kept: set[int] = set()
        pupils: list[PupilRecord] = []
        divisions: list[DivisionRecord] = []
        header = None
        for record in self.source.records():
            if isinstance(record, PupilRecord):
                if self.school_id is None:
                    self.school_id = self.school_for(header)
                pupils.append(record)
                if len(pupils) >= BATCH:
                    self._flush_pupils(pupils)
                    pupils = []
            elif isinstance(record, DivisionRecord):
                divisions.append(record)
                if len(divisions) >= BATCH:
                    self._flush_pupils(pupils)
                    pupils = []
                    self._flush_divisions(divisions)
                    divisions = []
            elif isinstance(record, Problem):
                self.report.problem(record)
                self._note_rejected(record)
            elif isinstance(record, Header):
                header = record
                self.school_id = self.school_for(header)
        if self.school_id is None:
            self.school_id = self.school_for(header)
        self._flush_pupils(pupils)
        self._flush_divisions(divisions + self.pending_divisions, final=True)
        self.refuse_if_mostly_bad(len(self.seen))
        self._mark_left()
        self._learn_school_names()
        r = self.report
        r.created = len(self.created)
        r.left = len(self.left)
        r.updated = len(self.updated - self.created - self.left)
        r.unchanged = len(self.seen - self.created - self.updated - self.left)
        r.details = {"accounts_created": self.accounts_created,
                     "rejected_kept_unchanged": len(self.kept)}
        self.tick()

    def school_for(self, header: Header | None) -> int:
        """The school, as for any file, and how many current pupils it has before this one."""
        school_id = super().school_for(header)
        self.current_pupils = self.conn.execute(
            select(func.count()).select_from(pupils_t)
            .where(pupils_t.c.school_id == school_id, pupils_t.c.left_at.is_(None))
        ).scalar_one()
        return school_id

    def _note_rejected(self, problem: Problem) -> None:
        """Keep the identity of a row the reader rejected, when it can still be read.

        The key is the ELEVE_ID of a SIECLE pupil row, the name key of an ONDE one; the
        reader gives none for rows naming no pupil (STRUCTURES_ELEVE only sets a class).
        """
        if problem.rejected and problem.key:
            [key] = problem.key
            self.rejected_keys.add(key)

    def _is_kept(self, source_id: str | None, key: str) -> bool:
        """Whether a pupil not in the file is the one a rejected row names."""
        if not self.rejected_keys:
            return False
        if self.fmt == "siecle":
            return source_id in self.rejected_keys
        return key in self.rejected_keys

    def _values(self, r: PupilRecord) -> dict:
        m4, label = self.mefs.get(r.mef, (None, None)) if r.mef else (None, None)
        values = {
            "school_id": self.school_id, "source_id": r.source_id,
            "family_name": r.family_name, "usage_name": r.usage_name,
            "given_name": r.given_name,
            "name_key": pupil_key(r.family_name, r.given_name),
            "birthdate": r.birthdate, "sex": r.sex, "mef": r.mef,
            "mefstat4": m4, "level_label": label or r.level_label,
            "degree": DEGREE[self.fmt], "entry_date": r.entry_date, "exit_date": r.exit_date,
            "school_year": self.report.year,
        }
        if self.fmt == "onde":
            values["division"] = r.division
        return values

    def _has_left(self, r: PupilRecord) -> bool:
        return r.exit_date is not None and r.exit_date <= self.now.date()

    def _flush_pupils(self, batch: list[PupilRecord]) -> None:
        if not batch:
            return
        unique = []
        for r in batch:
            if r.ine in self.ines:
                self.report.problem(Problem(r.line, r.ref, f"INE {r.ine} listed twice"))
                continue
            self.ines.add(r.ine)
            unique.append(r)
            if r.previous_school:
                self.previous_schools.setdefault(*r.previous_school)
        columns = [pupils_t.c.id, pupils_t.c.ine, pupils_t.c.account_id, pupils_t.c.left_at,
                   *(pupils_t.c[f] for f in self.fields)]
        existing = {
            row.ine: row for row in self.conn.execute(
                select(*columns).where(pupils_t.c.ine.in_([r.ine for r in unique]))
            )
        }
        creates, updates, account_updates, need_accounts = [], [], [], []
        for r in unique:
            values = self._values(r)
            row = existing.get(r.ine)
            if row is None:
                creates.append((r, values))
                continue
            if row.school_id != self.school_id and row.left_at is None and (
                r.exit_date or (row.entry_date and r.entry_date and r.entry_date < row.entry_date)
            ):
                # Enrolled in another school since (already imported): theirs now.
                continue
            self.seen.add(row.id)
            left_at = (row.left_at or self.now) if self._has_left(r) else None
            changed = any(getattr(row, f) != values[f] for f in self.fields)
            if left_at is not None and row.left_at is None:
                self.left.add(row.id)
            if changed or (left_at is None) != (row.left_at is None):
                self.updated.add(row.id)
                updates.append({"b_id": row.id, "b_left_at": left_at,
                                **{f"b_{f}": values[f] for f in self.fields}})
                if row.account_id is not None and (
                    (row.given_name, row.family_name, row.usage_name, row.birthdate)
                    != (r.given_name, r.family_name, r.usage_name, r.birthdate)
                ):
                    account_updates.append({
                        "b_id": row.account_id, "b_given": r.given_name,
                        "b_family": r.usage_name or r.family_name, "b_birthdate": r.birthdate,
                    })
            if row.account_id is None:
                need_accounts.append((row.id, r))
        if creates:
            self._create(creates)
        if need_accounts:
            ids = self._create_accounts([r for _, r in need_accounts])
            self.conn.execute(
                update(pupils_t).where(pupils_t.c.id == bindparam("b_id"))
                .values(account_id=bindparam("b_account")),
                [{"b_id": pid, "b_account": aid}
                 for (pid, _), aid in zip(need_accounts, ids, strict=True)],
            )
        if updates:
            self.conn.execute(
                update(pupils_t).where(pupils_t.c.id == bindparam("b_id")).values(
                    left_at=bindparam("b_left_at"), updated_at=func.now(),
                    **{f: bindparam(f"b_{f}") for f in self.fields},
                ),
                updates,
            )
        if account_updates:
            self.conn.execute(
                update(accounts_t)
                .where(accounts_t.c.id == bindparam("b_id"), accounts_t.c.role == "eleve")
                .values(given_name=bindparam("b_given"), family_name=bindparam("b_family"),
                        birthdate=bindparam("b_birthdate"), updated_at=func.now()),
                account_updates,
            )
        self.tick()

    def _create_accounts(self, records: list[PupilRecord]) -> list[int]:
        names = [(r.given_name, r.usage_name or r.family_name) for r in records]
        issued = identifiers.allocate(self.conn, names)
        rows = [{
            "public_id": str(uuid.uuid4()), "identifier": identifier, "role": "eleve",
            "status": "provisional", "password_hash": None, "given_name": given,
            "family_name": family, "birthdate": r.birthdate, "email": None,
            "email_verified": False, "phone_number": None, "phone_number_verified": False,
            "failed_logins": 0, "security_stamp": 0,
        } for identifier, (given, family), r in zip(issued, names, records, strict=True)]
        by_identifier = insert_ids(self.conn, accounts_t, rows, "identifier",
                                   created_at=func.now(), updated_at=func.now())
        ids = [by_identifier[identifier] for identifier in issued]
        identifiers.record_issued_accounts(self.conn, ids)
        self.accounts_created += len(ids)
        return ids

    def _create(self, creates: list[tuple[PupilRecord, dict]]) -> None:
        account_ids = self._create_accounts([r for r, _ in creates])
        rows = []
        for (r, values), account_id in zip(creates, account_ids, strict=True):
            left_at = self.now if self._has_left(r) else None
            rows.append({"ine": r.ine, "account_id": account_id, "left_at": left_at, **values})
        ids = insert_ids(self.conn, pupils_t, rows, "ine", created_at=func.now(),
                         updated_at=func.now()).values()
        self.seen.update(ids)
        self.created.update(ids)

    def _flush_divisions(self, batch: list[DivisionRecord], final: bool = False) -> None:
        if batch:
            by_source = {d.source_id: d for d in batch}
            rows = self.conn.execute(
                select(pupils_t.c.id, pupils_t.c.source_id, pupils_t.c.division).where(
                    pupils_t.c.school_id == self.school_id,
                    pupils_t.c.source_id.in_(list(by_source)),
                )
            ).all()
            found = set()
            updates = []
            for pid, source_id, division in rows:
                if pid not in self.seen:
                    continue
                found.add(source_id)
                self.divisions_given.add(pid)
                wanted = by_source[source_id].division
                if division != wanted:
                    updates.append({"b_id": pid, "b_division": wanted})
                    self.updated.add(pid)
            if not final:
                # STRUCTURES normally follow ELEVES; keep any that came first for the end.
                self.pending_divisions += [d for s, d in by_source.items() if s not in found]
            self._set_divisions(updates)
        if final and self.fmt == "siecle":
            stale = [
                {"b_id": pid, "b_division": None} for pid, division in self.conn.execute(
                    select(pupils_t.c.id, pupils_t.c.division).where(
                        pupils_t.c.school_id == self.school_id,
                        pupils_t.c.division.is_not(None),
                    )
                ) if pid in self.seen and pid not in self.divisions_given
            ]
            self.updated.update(u["b_id"] for u in stale)
            self._set_divisions(stale)

    def _set_divisions(self, updates: list[dict]) -> None:
        if updates:
            self.conn.execute(
                update(pupils_t).where(pupils_t.c.id == bindparam("b_id"))
                .values(division=bindparam("b_division"), updated_at=func.now()),
                updates,
            )

    def _mark_left(self) -> None:
        """Mark as having left the pupils the file no longer lists, within reason.

        A pupil whose row was rejected is still listed, only unreadable this time: kept
        as they were. Then, if more than half of the school's pupils would go, the file
        is more likely another school's, a partial export or a truncated one than a
        real departure of most of the school: refused, unless the operator says so.
        """
        gone = []
        for pid, source_id, key in self.conn.execute(
            select(pupils_t.c.id, pupils_t.c.source_id, pupils_t.c.name_key).where(
                pupils_t.c.school_id == self.school_id, pupils_t.c.left_at.is_(None)
            )
        ):
            if pid in self.seen:
                continue
            if self._is_kept(source_id, key):
                self.kept.add(pid)
            else:
                gone.append(pid)
        current = self.current_pupils
        allowed = self.report.uai in self.allow_mass_departure
        if gone and not allowed and len(gone) > current * MAX_DEPARTURE_SHARE:
            raise FileRejected(
                f"{self.report.file}: {len(gone)} of the {current} current pupils of "
                f"{self.report.uai} are not in the file and would be marked as having "
                "left: the file is refused (if they really left, import it again with "
                f"--allow-mass-departure {self.report.uai})"
            )
        for chunk in chunks(gone):
            self.conn.execute(
                update(pupils_t).where(pupils_t.c.id.in_(chunk))
                .values(left_at=self.now, updated_at=self.now)
            )
        self.left.update(gone)

    def _learn_school_names(self) -> None:
        """Name the schools pupils came from, when the directory has no name for them."""
        learned = {uai: name for uai, name in self.previous_schools.items()
                   if uai != self.report.uai}
        for chunk in chunks(list(learned)):
            known = dict(self.conn.execute(
                select(schools_t.c.uai, schools_t.c.name).where(schools_t.c.uai.in_(chunk))
            ).all())
            new = [u for u in chunk if u not in known]
            rows = [{
                "uai": u, "name": learned[u],
                "academie_id": ensure_academie(self.conn, academy_codes.academie_of(u)),
                "created_at": self.now, "updated_at": self.now,
            } for u in new]
            insert_ignore(self.conn, schools_t, rows, ["uai"])
            unnamed = [{"b_uai": u, "b_name": learned[u]} for u in chunk if known.get(u) == ""]
            if unnamed:
                self.conn.execute(
                    update(schools_t).where(schools_t.c.uai == bindparam("b_uai"))
                    .values(name=bindparam("b_name"), updated_at=self.now),
                    unnamed,
                )


_PERSON_FIELDS = ("school_id", "civility", "birth_name", "usage_name", "given_name", "mobile",
                  "email", "sms_consent", "identity_id")


class _PeopleJob(_Job):
    """ResponsablesSansAdresses.xml or the ONDE representatives extraction."""

    def run(self) -> None:
        """Upsert representatives and group them, then replace the school's legal links."""
        self.person_ids: dict[str, int] = {}
        self.seen_reps: set[int] = set()
        self.created_reps: set[int] = set()
        self.updated_reps: set[int] = set()
        self.touched_identities: set[int] = set()
        self.identities_created = 0
        self.links: dict[tuple[int, int], int] = {}
        self.onde_levels: dict[int, int] = {}
        self.pupil_map = None
        # Rows the reader rejected whose identity is readable: what they name is kept.
        self.rejected_people: set[str] = set()
        self.rejected_links: set[tuple[str, str]] = set()
        self.kept_reps: set[int] = set()
        self.kept_links: set[tuple[int, int]] = set()
        people: list[PersonRecord] = []
        links: list[LinkRecord] = []
        header = None
        for record in self.source.records():
            if isinstance(record, PersonRecord):
                if self.school_id is None:
                    self.school_id = self.school_for(header)
                    self.prefix = f"{self.fmt}:{self.report.uai}:"
                people.append(record)
                if len(people) >= BATCH:
                    self._flush_people(people)
                    people = []
            elif isinstance(record, LinkRecord):
                links.append(record)
                if len(links) >= BATCH:
                    self._flush_people(people)
                    people = []
                    self._flush_links(links)
                    links = []
            elif isinstance(record, Problem):
                self.report.problem(record)
                self._note_rejected(record)
            elif isinstance(record, Header):
                header = record
                self.school_id = self.school_for(header)
                self.prefix = f"{self.fmt}:{self.report.uai}:"
        if self.school_id is None:
            self.school_id = self.school_for(header)
            self.prefix = f"{self.fmt}:{self.report.uai}:"
        self._flush_people(people)
        self._flush_links(links)
        self.refuse_if_mostly_bad(len(self.links))
        self._find_kept()
        link_counts = self._replace_links()
        removed = self._remove_unlinked()
        self._drop_orphan_identities()
        r = self.report
        r.created = len(self.created_reps - removed)
        r.updated = len(self.updated_reps - removed)
        r.removed = len(removed - self.created_reps)
        r.unchanged = len(self.seen_reps - self.created_reps - self.updated_reps - removed)
        r.details = {**link_counts, "identities_created": self.identities_created,
                     "not_legal_or_unlinked": len(removed & self.created_reps),
                     "rejected_kept_unchanged": len(self.kept_reps)}
        self.tick()

    def _note_rejected(self, problem: Problem) -> None:
        """Keep the identity of a row the reader rejected, when it can still be read."""
        if not problem.rejected or not problem.key:
            return
        # A person row's key is its PERSONNE_ID, or for ONDE its name key (the reader
        # rejects a representative's row as a whole, children included); a SIECLE link
        # row's key is its (PERSONNE_ID, ELEVE_ID).
        if len(problem.key) == 1:
            self.rejected_people.add(problem.key[0])
        else:
            person, pupil = problem.key
            self.rejected_links.add((person, pupil))

    def _find_kept(self) -> None:
        """The records and links that rejected rows name: left as they are.

        A representative whose row was rejected keeps their record and all their links
        (the file's links to them cannot be told from a row now unreadable); a rejected
        link row keeps the link it names.
        """
        if self.fmt == "siecle":
            keys = [self.prefix + sid for sid in self.rejected_people
                    if sid not in self.person_ids]
            for chunk in chunks(keys):
                self.kept_reps.update(self.conn.execute(
                    select(reps_t.c.id).where(reps_t.c.source_key.in_(chunk))
                ).scalars())
        elif self.rejected_people:
            for rep_id, birth, given in self.conn.execute(
                select(reps_t.c.id, reps_t.c.birth_name, reps_t.c.given_name)
                .where(reps_t.c.school_id == self.school_id)
            ):
                if rep_id not in self.seen_reps and \
                        pupil_key(birth, given) in self.rejected_people:
                    self.kept_reps.add(rep_id)
        if self.rejected_links:
            if self.pupil_map is None:
                self._load_pupils()
            for person, pupil in self.rejected_links:
                rep_id = self.person_ids.get(person)
                pupil_id = self.pupil_map.get(pupil)
                if rep_id is not None and pupil_id is not None:
                    self.kept_links.add((rep_id, pupil_id))

    def _identity_ids(self, keys: set[str]) -> dict[str, int]:
        found: dict[str, int] = {}
        for chunk in chunks(sorted(keys)):
            found.update(self.conn.execute(
                select(identities_t.c.key, identities_t.c.id)
                .where(identities_t.c.key.in_(chunk))
            ).all())
            missing = [k for k in chunk if k not in found]
            if missing:
                # Ignoring collisions: another import may create the same parent meanwhile.
                found.update(insert_ids(self.conn, identities_t, [{"key": k} for k in missing],
                                        "key", ignore=True, created_at=func.now()))
                self.identities_created += len(missing)
        return found

    def _flush_people(self, batch: list[PersonRecord]) -> None:
        if not batch:
            return
        unique: dict[str, PersonRecord] = {}
        for r in batch:
            if r.source_id in self.person_ids or r.source_id in unique:
                if self.fmt == "siecle":
                    self.report.problem(Problem(r.line, r.ref, "PERSONNE_ID listed twice"))
                continue  # ONDE lists a person once per row: the same person, again
            unique[r.source_id] = r
        keys = {sid: self.prefix + sid for sid in unique}
        identity_keys = {
            sid: family.identity_key(r.birth_name, r.given_name, r.mobile)
            or family.solo_key(keys[sid])
            for sid, r in unique.items()
        }
        identity_ids = self._identity_ids(set(identity_keys.values()))
        existing = {
            row.source_key: row for row in self.conn.execute(
                select(reps_t.c.id, reps_t.c.source_key, *(reps_t.c[f] for f in _PERSON_FIELDS))
                .where(reps_t.c.source_key.in_(list(keys.values())))
            )
        }
        inserts, updates = [], []
        for sid, r in unique.items():
            values = {
                "school_id": self.school_id, "civility": r.civility,
                "birth_name": r.birth_name, "usage_name": r.usage_name,
                "given_name": r.given_name, "mobile": r.mobile, "email": r.email,
                "sms_consent": r.sms_consent, "identity_id": identity_ids[identity_keys[sid]],
            }
            row = existing.get(keys[sid])
            if row is None:
                inserts.append((sid, {"source_key": keys[sid], **values}))
                continue
            self.person_ids[sid] = row.id
            self.seen_reps.add(row.id)
            if any(getattr(row, f) != values[f] for f in _PERSON_FIELDS):
                self.updated_reps.add(row.id)
                if row.identity_id != values["identity_id"] and row.identity_id is not None:
                    self.touched_identities.add(row.identity_id)
                updates.append({"b_id": row.id, **{f"b_{f}": values[f] for f in _PERSON_FIELDS}})
        if inserts:
            ids = insert_ids(self.conn, reps_t, [values for _, values in inserts], "source_key",
                             created_at=func.now(), updated_at=func.now())
            for sid, values in inserts:
                rep_id = ids[values["source_key"]]
                self.person_ids[sid] = rep_id
                self.seen_reps.add(rep_id)
                self.created_reps.add(rep_id)
        if updates:
            self.conn.execute(
                update(reps_t).where(reps_t.c.id == bindparam("b_id")).values(
                    updated_at=func.now(), **{f: bindparam(f"b_{f}") for f in _PERSON_FIELDS}
                ),
                updates,
            )
        self.tick()

    def _load_pupils(self) -> None:
        rows = self.conn.execute(
            select(pupils_t.c.id, pupils_t.c.source_id, pupils_t.c.name_key,
                   pupils_t.c.usage_name, pupils_t.c.given_name)
            .where(pupils_t.c.school_id == self.school_id)
        ).all()
        if self.fmt == "siecle":
            self.pupil_map = {source_id: pid for pid, source_id, *_ in rows if source_id}
            return
        # ONDE names children; a name shared by two pupils of the school matches neither.
        by_name: dict[str, int | None] = {}
        for pid, _, key, usage, given in rows:
            names = {key}
            if usage:
                names.add(pupil_key(usage, given))
            for k in names:
                by_name[k] = None if k in by_name and by_name[k] != pid else pid
        self.pupil_map = by_name

    def _pupil_for(self, link: LinkRecord) -> tuple[int | None, str, bool]:
        """The pupil a link names, else why not and whether a rejected pupil row is why."""
        rejected = self.rejections.of(self.fmt, self.report.uai)
        if link.pupil_source_id is not None:
            pid = self.pupil_map.get(link.pupil_source_id)
            if pid is None and link.pupil_source_id in rejected:
                return None, f"pupil ELEVE_ID {link.pupil_source_id} was rejected above: " \
                             "link not imported", True
            return pid, f"no pupil with ELEVE_ID {link.pupil_source_id} at this school " \
                        "(import the pupils file first)", False
        family_name, usage, given = link.pupil_names
        keys = [pupil_key(name, given) for name in (family_name, usage) if name_key(name)]
        for key in keys:
            if key in self.pupil_map:
                pid = self.pupil_map[key]
                if pid is None:
                    return None, "two pupils of the school have this name", False
                return pid, "", False
        if any(key in rejected for key in keys):
            name = clean_name(f"{family_name or usage} {given}")
            return None, f"pupil {name} was rejected above: link not imported", True
        return None, "no pupil of this name at the school (import the pupils file first)", \
            False

    def _flush_links(self, batch: list[LinkRecord]) -> None:
        if not batch:
            return
        if self.pupil_map is None:
            self._load_pupils()
        for link in batch:
            rep_id = self.person_ids.get(link.person_source_id)
            if rep_id is None:
                if link.person_source_id in self.rejected_people:
                    self.follow_up(Problem(
                        link.line, link.ref, f"person PERSONNE_ID {link.person_source_id} "
                        "was rejected above: link not imported"
                    ))
                else:
                    self.report.problem(Problem(link.line, link.ref,
                                                "PERSONNE_ID not in PERSONNES"))
                continue
            pupil_id, reason, follows = self._pupil_for(link)
            if pupil_id is None:
                if follows:
                    self.follow_up(Problem(link.line, link.ref, reason))
                else:
                    self.report.problem(Problem(link.line, link.ref, reason))
                continue
            if (rep_id, pupil_id) in self.links:
                continue
            level = link.legal_level
            if level is None:
                # ONDE does not say which parent is first: the order of the file does.
                level = min(2, self.onde_levels.get(pupil_id, 0) + 1)
                self.onde_levels[pupil_id] = level
            self.links[(rep_id, pupil_id)] = level

    def _replace_links(self) -> dict:
        """Make the school's legal links those of the file, within reason.

        Links to pupils who have left go without a word. If the file would remove more
        than half of the links to the school's current pupils, it is more likely a
        partial or truncated export than a real change of most families: refused, as a
        pupils file marking most of a school as left is, unless the operator says so.
        """
        existing = {}
        current_links = 0
        for link_id, rep_id, pupil_id, level, left_at in self.conn.execute(
            select(links_t.c.id, links_t.c.representative_id, links_t.c.pupil_id,
                   links_t.c.legal_level, pupils_t.c.left_at)
            .join(reps_t, reps_t.c.id == links_t.c.representative_id)
            .join(pupils_t, pupils_t.c.id == links_t.c.pupil_id)
            .where(reps_t.c.school_id == self.school_id)
        ):
            existing[(rep_id, pupil_id)] = (link_id, level, left_at is None)
            current_links += left_at is None
        inserts = [{"representative_id": rep, "pupil_id": pupil, "legal_level": level}
                   for (rep, pupil), level in self.links.items() if (rep, pupil) not in existing]
        changes = [{"b_id": existing[pair][0], "b_level": level}
                   for pair, level in self.links.items()
                   if pair in existing and existing[pair][1] != level]
        gone_pairs = [pair for pair in existing
                      if pair not in self.links and pair[0] not in self.kept_reps
                      and pair not in self.kept_links]
        gone = [existing[pair][0] for pair in gone_pairs]
        gone_current = sum(existing[pair][2] for pair in gone_pairs)
        allowed = self.report.uai in self.allow_mass_departure
        if not allowed and gone_current > current_links * MAX_DEPARTURE_SHARE:
            raise FileRejected(
                f"{self.report.file}: {gone_current} of the {current_links} legal links "
                f"to current pupils of {self.report.uai} are not in the file and would be "
                "removed: the file is refused (if these families really changed, import "
                f"it again with --allow-mass-departure {self.report.uai})"
            )
        for chunk in chunks(inserts, BATCH):
            self.conn.execute(insert(links_t).values(created_at=func.now()), chunk)
        if changes:
            self.conn.execute(
                update(links_t).where(links_t.c.id == bindparam("b_id"))
                .values(legal_level=bindparam("b_level")),
                changes,
            )
        for chunk in chunks(gone):
            self.conn.execute(delete(links_t).where(links_t.c.id.in_(chunk)))
        return {"links_created": len(inserts), "links_changed": len(changes),
                "links_removed": len(gone)}

    def _remove_unlinked(self) -> set[int]:
        """Drop the school's records that no longer stand for a legal representative."""
        has_link = exists().where(links_t.c.representative_id == reps_t.c.id)
        rows = [row for row in self.conn.execute(
            select(reps_t.c.id, reps_t.c.identity_id)
            .where(reps_t.c.school_id == self.school_id, ~has_link)
        ) if row.id not in self.kept_reps]
        gone = {rep_id for rep_id, _ in rows}
        # Records of this school the file no longer lists, whose links went just above.
        self.touched_identities.update(identity for _, identity in rows if identity)
        for chunk in chunks(sorted(gone)):
            self.conn.execute(delete(reps_t).where(reps_t.c.id.in_(chunk)))
        return gone

    def _drop_orphan_identities(self) -> None:
        """Forget groupings left without records, unless a parent's account holds them."""
        has_record = exists().where(reps_t.c.identity_id == identities_t.c.id)
        for chunk in chunks(sorted(self.touched_identities)):
            self.conn.execute(
                delete(identities_t).where(
                    identities_t.c.id.in_(chunk), identities_t.c.account_id.is_(None),
                    ~has_record,
                )
            )
