"""The fiche form: posted fields ⇄ FicheData, with French errors per field."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from starlette.datastructures import FormData, UploadFile

from resource_centre.taxonomy import FACET_LABELS, SECTIONS, VOCABULARIES
from resource_centre.text import strip_controls
from resource_centre.web.deps import parse_id
from resource_centre.writeups import FicheData, Known, validate

# The fiche's fields chosen from a vocabulary (the region comes from the Régie, not the form).
VOCABULARY_FIELDS = tuple(v for v in VOCABULARIES if v.field != "region")
FIELD_LABELS: dict[str, str] = {
    "title": "Titre",
    "summary": "Résumé",
    "regie": FACET_LABELS["regie"],
    **{v.field: v.label for v in VOCABULARY_FIELDS},
    "partners": "Partenaires",
    "year_start": "Année de début",
    "year_end": "Année de fin",
    "attachments": "Pièces jointes",
    **{s.key: s.heading for s in SECTIONS},
}
MULTI_FIELDS: tuple[str, ...] = tuple(v.field for v in VOCABULARY_FIELDS if v.multiple)
MAX_FIELD_CHARS = 110_000  # a section's own limit (100 KB) is checked with a clear message


@dataclass
class FicheForm:
    """What the user typed (kept as typed) and the errors to show next to each field."""

    values: dict[str, Any]
    errors: dict[str, str] = field(default_factory=dict)
    files: list[UploadFile] = field(default_factory=list)

    def data(self, slug: str) -> FicheData:
        v = self.values
        return FicheData(
            slug=slug,
            title=v["title"],
            summary=v["summary"],
            regie=v["regie"] or None,
            themes=list(v["themes"]),
            activity=v["activity"] or None,
            audiences=list(v["audiences"]),
            schemes=list(v["schemes"]),
            partners=[p.strip() for p in v["partners"].splitlines() if p.strip()],
            year_start=_year(v["year_start"]),
            year_end=_year(v["year_end"]),
            status="draft",
            sections={s.key: v[s.key] for s in SECTIONS if v[s.key].strip()},
        )


def _text(form: FormData, name: str) -> str:
    value = form.get(name)
    if not isinstance(value, str):
        return ""
    # Multipart posts with files reach here uncleaned (web.inputs): no NUL into the database.
    return strip_controls(value.replace("\r\n", "\n")[:MAX_FIELD_CHARS])


def _year(text: str) -> int | None:
    """A year of at most four ASCII digits ("²".isdigit() is True, int("²") fails)."""
    return parse_id(text, highest=9999)


def values_from_data(data: FicheData) -> dict[str, Any]:
    """The form's values for an existing fiche."""
    values: dict[str, Any] = {
        "title": data.title,
        "summary": data.summary,
        "regie": data.regie or "",
        "themes": list(data.themes),
        "activity": data.activity or "",
        "audiences": list(data.audiences),
        "schemes": list(data.schemes),
        "partners": "\n".join(data.partners),
        "year_start": "" if data.year_start is None else str(data.year_start),
        "year_end": "" if data.year_end is None else str(data.year_end),
    }
    for section in SECTIONS:
        values[section.key] = data.sections.get(section.key, "")
    return values


def empty_values(regie: str = "") -> dict[str, Any]:
    return values_from_data(FicheData(slug="", regie=regie or None))


def parse(form: FormData) -> FicheForm:
    """Read the posted fields; numbers that are not years become errors, text is kept."""
    values: dict[str, Any] = {
        name: _text(form, name)
        for name in ("title", "summary", "regie", "activity", "partners", "year_start", "year_end")
    }
    for name in MULTI_FIELDS:
        chosen = [v for v in form.getlist(name) if isinstance(v, str) and v][:50]
        values[name] = [strip_controls(v) for v in chosen]
    for section in SECTIONS:
        values[section.key] = _text(form, section.key)
    errors: dict[str, str] = {}
    for name in ("year_start", "year_end"):
        text = values[name].strip()
        if text and _year(text) is None:
            errors[name] = "indiquez une année en chiffres, par exemple 2021"
    files = [
        f
        for f in form.getlist("attachments")
        if isinstance(f, UploadFile) and (f.filename or f.size)
    ]
    return FicheForm(values=values, errors=errors, files=files)


def check(form: FicheForm, known: Known, *, slug: str, complete: bool) -> dict[str, str]:
    """All errors of the form: typing errors first, then the fiche rules."""
    data = form.data(slug)
    data.status = "submitted" if complete else "draft"
    errors = dict(form.errors)
    for name, message in validate(data, known).items():
        if name == "slug":
            continue
        errors.setdefault(name, message)
    return errors
