"""Directory claims, added to the table-driven claims mapper (`idp.oauth.claims`).

- `profile` gains `affiliation` (eleve / responsable) and `degree`: "1d" or "2d" for a
  pupil, the list of their confirmed children's degrees for a parent.
- `school` (pupils): `school_uai`, `school_name`, `academie`, `class`, `level`
  (MEFSTAT4), `level_label`, and `ine` for clients explicitly allowed it.
- `children` (parents): one entry per confirmed child, whose `sub` is the child's own
  subject for the client (pairwise), with names, birth date, school and level.
- The `educonnect` compatibility profile adds the FrEduCt* keys that services written
  for EduConnect read from UserInfo.

Which scopes a client may use, and whether it may receive `ine`, is its registration's
allow-list (`idp directory allow`); a scope it may not use is dropped, never refused.
"""

from __future__ import annotations

import hashlib

from flask import current_app

from idp.directory import lookup
from idp.oauth import claims as mapper
from idp.oauth.subject import subject_for
from idp.services.clients import sector_of

PROFILE_CLAIMS = ["affiliation", "degree"]
SCHOOL_CLAIMS = ["school_uai", "school_name", "academie", "class", "level", "level_label", "ine"]
CHILDREN_CLAIMS = ["children"]
RESTRICTED = ["ine"]
EDUCONNECT = "educonnect"


def _schooling(ctx: mapper.ClaimsContext) -> lookup.Schooling | None:
    if "directory.schooling" not in ctx.cache:
        account = ctx.account
        ctx.cache["directory.schooling"] = (
            lookup.schooling_of(account.id) if account.role == "eleve" else None
        )
    return ctx.cache["directory.schooling"]


def _children(ctx: mapper.ClaimsContext) -> list[lookup.Child]:
    if "directory.children" not in ctx.cache:
        account = ctx.account
        ctx.cache["directory.children"] = (
            lookup.children_of(account.id) if account.role == "responsable" else []
        )
    return ctx.cache["directory.children"]


def may_receive(client, claim: str) -> bool:
    """Tell whether a client's registration allows it a restricted claim."""
    return claim in ((getattr(client, "extra", None) or {}).get("claims") or ())


def affiliation(ctx: mapper.ClaimsContext) -> str | None:
    """eleve or responsable; nothing for operators' accounts."""
    role = ctx.account.role
    return role if role in ("eleve", "responsable") else None


def degree(ctx: mapper.ClaimsContext):
    """A pupil's degree ("1d"/"2d"); a parent's confirmed children's degrees (a list)."""
    if ctx.account.role == "eleve":
        schooling = _schooling(ctx)
        return schooling.degree if schooling else None
    return sorted({child.degree for child in _children(ctx)}) or None


def _school_field(name: str):
    def resolve(ctx: mapper.ClaimsContext):
        schooling = _schooling(ctx)
        return getattr(schooling, name) if schooling else None

    resolve.__doc__ = f"The pupil's {name}, while they are at a school."
    return resolve


def ine(ctx: mapper.ClaimsContext) -> str | None:
    """The pupil's INE in clear (restricted: only for clients allowed `ine`)."""
    schooling = _schooling(ctx)
    return schooling.ine if schooling else None


def children(ctx: mapper.ClaimsContext) -> list[dict]:
    """One entry per confirmed child; `sub` is the child's subject for this client."""
    salt = current_app.config["PAIRWISE_SALT"]
    with_ine = may_receive(ctx.client, "ine")
    entries = []
    for child in _children(ctx):
        entry = {
            "sub": subject_for(child, ctx.client, salt),
            "given_name": child.given_name,
            "family_name": child.family_name,
            "birthdate": child.birthdate.isoformat() if child.birthdate else None,
            "school_uai": child.school_uai,
            "school_name": child.school_name,
            "level": child.mefstat4,
            "level_label": child.level_label,
        }
        if with_ine:
            entry["ine"] = child.ine
        entries.append({k: v for k, v in entry.items() if v is not None})
    return entries


def educonnect_id(ctx: mapper.ClaimsContext) -> str:
    """FrEduCtId: 96 hexadecimal characters, pairwise like `sub` (a SHA-384)."""
    salt = current_app.config["PAIRWISE_SALT"]
    material = f"{sector_of(ctx.client)}|{ctx.account.public_id}|{salt}|FrEduCtId"
    return hashlib.sha384(material.encode()).hexdigest()


EDUCONNECT_KEYS = ("FrEduCtDateNaissance", "FrEduCtEleveINE", "FrEduCtEleveNiveau",
                   "FrEduCtEleveUAI", "FrEduCtId", "FrEduCtPersonAffiliation")


def educonnect_profile(ctx: mapper.ClaimsContext, scopes: list[str], result: dict) -> dict:
    """The UserInfo keys EduConnect released, for clients registered with this profile.

    Released with the `profile` scope, as EduConnect did; FrEduCtEleveINE only when the
    client is allowed `ine`. For a parent the pupil keys come back empty, as there.
    """
    if "profile" not in scopes:
        return {}
    role = ctx.account.role
    with_ine = may_receive(ctx.client, "ine")
    keys: dict = {}
    if role == "eleve":
        schooling = _schooling(ctx)
        if schooling is not None:
            keys["FrEduCtPersonAffiliation"] = [f"eleve{schooling.degree}"]
        keys["FrEduCtEleveUAI"] = (schooling.school_uai if schooling else None) or ""
        keys["FrEduCtEleveNiveau"] = (schooling.mefstat4 if schooling else None) or ""
        if with_ine:
            keys["FrEduCtEleveINE"] = schooling.ine if schooling else ""
        if ctx.account.birthdate:
            keys["FrEduCtDateNaissance"] = ctx.account.birthdate.isoformat()
    elif role == "responsable":
        degrees = sorted({child.degree for child in _children(ctx)})
        if degrees:
            keys["FrEduCtPersonAffiliation"] = [f"resp{d}" for d in degrees]
        keys["FrEduCtEleveUAI"] = ""
        keys["FrEduCtEleveNiveau"] = ""
        if with_ine:
            keys["FrEduCtEleveINE"] = ""
    else:
        return {}
    keys["FrEduCtId"] = educonnect_id(ctx)
    return keys


def register() -> None:
    """Add the directory's scopes, claims and profile to the mapper (safe to call again)."""
    mapper.register_scope("profile", PROFILE_CLAIMS)
    mapper.register_scope("school", SCHOOL_CLAIMS)
    mapper.register_scope("children", CHILDREN_CLAIMS)
    mapper.register_claim("affiliation", affiliation)
    mapper.register_claim("degree", degree)
    mapper.register_claim("school_uai", _school_field("school_uai"))
    mapper.register_claim("school_name", _school_field("school_name"))
    mapper.register_claim("academie", _school_field("academie"))
    mapper.register_claim("class", _school_field("division"))
    mapper.register_claim("level", _school_field("mefstat4"))
    mapper.register_claim("level_label", _school_field("level_label"))
    mapper.register_claim("ine", ine, restricted=True)
    mapper.register_claim("children", children)
    mapper.register_profile(EDUCONNECT, educonnect_profile, EDUCONNECT_KEYS)
