"""The fiche form (guided or express): posted fields ⇄ FicheData, with French errors per field.

Everything typed is kept as typed in `FicheForm.values`, so that a page sent back with errors
shows it again: partners as rows of (name, role), figures as the text typed.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from itertools import zip_longest
from typing import Any

from starlette.datastructures import FormData, UploadFile

from resource_centre.figures import FIGURE_BY_KEY, FIGURES, FUNDING_KEY, MAX_FUNDING_EUR
from resource_centre.figures import format_number as format_figure
from resource_centre.guidance import EXPRESS_KEYS, EXPRESS_SUMMARY_SOURCES, draft_summary
from resource_centre.taxonomy import FACET_LABELS, FICHE_KINDS, SECTIONS, VOCABULARIES
from resource_centre.text import strip_controls
from resource_centre.web.deps import parse_id
from resource_centre.writeups import (
    FicheData,
    Known,
    join_partner,
    split_partner,
    validate,
)

# The fiche's fields chosen from a vocabulary (the region comes from the Régie, not the form).
VOCABULARY_FIELDS = tuple(v for v in VOCABULARIES if v.field != "region")
FIGURE_FIELDS: tuple[str, ...] = tuple(f.key for f in FIGURES)
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
    **{f.key: f.label for f in FIGURES},
    FUNDING_KEY: "Financements",
    "figures": "Chiffres clés",
}
MULTI_FIELDS: tuple[str, ...] = tuple(v.field for v in VOCABULARY_FIELDS if v.multiple)
MAX_FIELD_CHARS = 110_000  # a section's own limit (100 KB) is checked with a clear message
MAX_SHORT_CHARS = 1_000  # a partner, a role, a number
MAX_ROWS = 50  # partners or funding lines read from one post
PARTNER_ROWS = 5  # rows offered by the full form besides those filled
EXPRESS_PARTNER_ROWS = 2
FUNDING_ROWS = 3
NUMBER_ERROR = "indiquez un nombre, par exemple 12000"
AMBIGUOUS_ERROR = (
    "« {typed} » peut se lire de deux façons : écrivez « 12000 » pour douze mille, ou "
    "« 12,5 » pour un nombre à virgule"
)
DECIMALS = 6  # at most, as `parse_number` reads them
TRUE_VALUES = frozenset({"1", "on", "true", "oui"})
_SPACES = re.compile(r"\s+")  # str patterns: no-break and narrow no-break spaces included
_DECIMAL = re.compile(r"^\d{1,12}(?:[.,]\d{1,6})?$")
_THOUSANDS_WITH_DOTS = re.compile(r"^\d{1,3}(?:\.\d{3})+$")  # « 12.000 », French thousands
# « 12,000 »: twelve thousand written the English way, or twelve with three decimals?
_AMBIGUOUS = re.compile(r"^[1-9]\d{0,2},\d{3}$")
_UNIT = re.compile(r"(?:€|%|eur|euros?)$", re.IGNORECASE)


@dataclass
class FicheForm:
    """What the user typed (kept as typed) and the errors to show next to each field."""

    values: dict[str, Any]
    errors: dict[str, str] = field(default_factory=dict)
    files: list[UploadFile] = field(default_factory=list)
    figures: dict[str, Any] = field(default_factory=dict)  # the figures read, as numbers
    figures_posted: bool = True  # False: the post had no figure field (a script), keep them

    @property
    def kind(self) -> str:
        return str(self.values.get("kind") or "fiche")

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
            kind=self.kind,
            figures=dict(self.figures),
            interview_requested=bool(v["interview_requested"]),
        )


NUL_ERROR = (
    "ce champ contenait un caractère nul (U+0000), que nous avons retiré : relisez le texte, "
    "puis enregistrez à nouveau"
)
# Posted names shown under another field's label.
_ERROR_KEY = {
    "partner_name": "partners",
    "partner_role": "partners",
    "funding_scheme": FUNDING_KEY,
    "funding_amount": FUNDING_KEY,
}


def nul_errors(form: FormData) -> dict[str, str]:
    """An error for each field that held a NUL, by the key the page shows it under.

    Other forms holding a NUL are refused whole (`web.sessions.csrf_protect`); the fiche
    form (`reports_nul_itself`) is shown again instead, everything else typed kept."""
    errors: dict[str, str] = {}
    for name, value in form.multi_items():
        if isinstance(value, str) and "\x00" in value:
            key = _ERROR_KEY.get(name, name)
            errors.setdefault(key if key in FIELD_LABELS else "form_token", NUL_ERROR)
    return errors


def _text(form: FormData, name: str, limit: int = MAX_FIELD_CHARS) -> str:
    value = form.get(name)
    return _clean(value, limit)


def _clean(value: object, limit: int = MAX_SHORT_CHARS) -> str:
    if not isinstance(value, str):
        return ""
    # Multipart posts with files reach here uncleaned (web.inputs): no NUL into the database.
    return strip_controls(value.replace("\r\n", "\n")[:limit])


def _texts(form: FormData, name: str) -> list[str]:
    return [_clean(v) for v in form.getlist(name)[:MAX_ROWS]]


def _year(text: str) -> int | None:
    """A year of at most four ASCII digits ("²".isdigit() is True, int("²") fails)."""
    return parse_id(text, highest=9999)


def _cleaned(text: str) -> str:
    return _UNIT.sub("", _SPACES.sub("", text)).strip()


def parse_number(text: str) -> int | float | None:
    """A number typed the French way: « 12 000 », « 12 000 € », « 12,5 », « 30 % »; None if
    it is not one (only ASCII digits count) or if it is ambiguous (« 12,000 »)."""
    cleaned = _cleaned(text)
    if _AMBIGUOUS.match(cleaned):
        return None
    if _THOUSANDS_WITH_DOTS.match(cleaned):
        cleaned = cleaned.replace(".", "")
    if not cleaned.isascii() or not _DECIMAL.match(cleaned):
        return None
    cleaned = cleaned.replace(",", ".")
    return float(cleaned) if "." in cleaned else int(cleaned)


def number_problem(text: str) -> str:
    """The French error for a figure `parse_number` refused."""
    if _AMBIGUOUS.match(_cleaned(text)):
        return AMBIGUOUS_ERROR.format(typed=text.strip())
    return NUMBER_ERROR


def number_text(number: Any) -> str:
    """A stored figure as the form shows it, which `parse_number` reads back: 85000 →
    « 85000 », 12.5 → « 12,5 », 1/3 → « 0,333333 » (at most six decimals, no exponent),
    12.125 → « 12,1250 » (never three decimals, read as thousands)."""
    if isinstance(number, bool) or not isinstance(number, int | float):
        return str(number)
    if isinstance(number, int):
        return str(number)
    text = f"{number:.{DECIMALS}f}".rstrip("0").rstrip(".")
    whole, _, decimals = text.partition(".")
    if len(decimals) == 3:
        decimals += "0"
    return f"{whole},{decimals}" if decimals else whole


def _figure(key: str, text: str) -> tuple[int | float | None, str | None]:
    """One figure read from its field: (number or None, French error or None)."""
    if not text.strip():
        return None, None
    number = parse_number(text)
    if number is None:
        return None, number_problem(text)
    figure = FIGURE_BY_KEY[key]
    if number > figure.highest:
        return None, f"indiquez un nombre de 0 à {format_figure(figure.highest)}"
    if figure.integer and number != int(number):
        return None, "indiquez un nombre entier, par exemple 12"
    return number, None


def _funding(
    rows: list[tuple[str, str]],
) -> tuple[dict[str, int | float], str | None]:
    """The funding lines (scheme, amount typed) as {scheme: euros}, or the first problem."""
    funding: dict[str, int | float] = {}
    for number, (scheme, amount) in enumerate(rows, start=1):
        if not scheme:
            return funding, f"ligne {number} : choisissez le dispositif de ce montant"
        if not amount.strip():
            return funding, f"ligne {number} : indiquez le montant en euros, par exemple 12000"
        euros = parse_number(amount)
        if euros is None:
            return funding, f"ligne {number} : {number_problem(amount)}"
        if euros > MAX_FUNDING_EUR:
            return funding, f"ligne {number} : {NUMBER_ERROR}"
        if scheme in funding:
            return funding, f"ligne {number} : ce dispositif figure déjà sur une ligne plus haut"
        funding[scheme] = euros
    return funding, None


def _partner_rows(form: FormData) -> list[tuple[str, str]]:
    """Partners posted as rows (`partner_name`, `partner_role`) and, as scripts may still send
    them, in the `partners` textarea, one a line (« Nom — rôle » or just the name)."""
    names, roles = _texts(form, "partner_name"), _texts(form, "partner_role")
    rows = [
        (" ".join(name.split()), " ".join(role.split()))
        for name, role in zip_longest(names, roles, fillvalue="")
    ]
    rows = [row for row in rows if row[0] or row[1]][:MAX_ROWS]
    for line in _text(form, "partners").splitlines()[:MAX_ROWS]:
        if line.strip():
            rows.append(split_partner(line))
    return rows


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
        "partner_rows": [split_partner(p) for p in data.partners],
        "year_start": "" if data.year_start is None else str(data.year_start),
        "year_end": "" if data.year_end is None else str(data.year_end),
        "kind": data.kind,
        "interview_requested": data.interview_requested,
    }
    for section in SECTIONS:
        values[section.key] = data.sections.get(section.key, "")
    figures = data.figures if isinstance(data.figures, dict) else {}
    for key in FIGURE_FIELDS:
        values[key] = number_text(figures[key]) if key in figures else ""
    funding = figures.get(FUNDING_KEY)
    values["funding_rows"] = (
        [(s, number_text(e)) for s, e in funding.items()] if isinstance(funding, dict) else []
    )
    return values


def figures_of(data: FicheData) -> dict[str, Any]:
    return dict(data.figures) if isinstance(data.figures, dict) else {}


def empty_values(regie: str = "", kind: str = "fiche") -> dict[str, Any]:
    return values_from_data(FicheData(slug="", regie=regie or None, kind=kind))


def parse(form: FormData) -> FicheForm:
    """Read the posted fields; numbers that are not years or figures become errors, and
    everything typed is kept."""
    values: dict[str, Any] = {
        name: _text(form, name)
        for name in ("title", "summary", "regie", "activity", "year_start", "year_end")
    }
    for name in MULTI_FIELDS:
        chosen = [v for v in form.getlist(name) if isinstance(v, str) and v][:50]
        values[name] = [strip_controls(v) for v in chosen]
    for section in SECTIONS:
        values[section.key] = _text(form, section.key)
    kind = _text(form, "kind", 20).strip()
    values["kind"] = kind if kind in FICHE_KINDS else ""  # "": not said, the fiche's own
    values["interview_requested"] = _text(form, "interview_requested", 10).strip() in TRUE_VALUES
    errors: dict[str, str] = nul_errors(form)
    for name in ("year_start", "year_end"):
        text = values[name].strip()
        if text and _year(text) is None:
            errors[name] = "indiquez une année en chiffres, par exemple 2021"

    rows = _partner_rows(form)
    values["partner_rows"] = rows
    values["partners"] = "\n".join(join_partner(name, role) for name, role in rows if name)
    for line, (name, role) in enumerate(rows, start=1):
        if role and not name:
            errors["partners"] = f"ligne {line} : indiquez le nom du partenaire de ce rôle"
            break

    figures: dict[str, Any] = {}
    posted = set(form.keys())
    figures_posted = bool(posted & {*FIGURE_FIELDS, "funding_scheme", "funding_amount"})
    for key in FIGURE_FIELDS:
        values[key] = _text(form, key, 40)
        number, problem = _figure(key, values[key])
        if problem:
            errors[key] = problem
        elif number is not None:
            figures[key] = number
    funding_rows = [
        (scheme.strip(), amount)
        for scheme, amount in zip_longest(
            _texts(form, "funding_scheme"), _texts(form, "funding_amount"), fillvalue=""
        )
        if scheme.strip() or amount.strip()
    ]
    values["funding_rows"] = funding_rows
    funding, problem = _funding(funding_rows)
    if problem:
        errors[FUNDING_KEY] = problem
    if funding:
        figures[FUNDING_KEY] = funding

    files = [
        f
        for f in form.getlist("attachments")
        if isinstance(f, UploadFile) and (f.filename or f.size)
    ]
    return FicheForm(
        values=values, errors=errors, files=files, figures=figures, figures_posted=figures_posted
    )


def keep_unposted(form: FicheForm, current: FicheData | None) -> None:
    """What the post did not say is the fiche's own: its kind (a new fiche is a full one,
    and a full fiche never shrinks to an express), its figures when no figure field came."""
    if current is None:
        form.values["kind"] = form.values["kind"] or "fiche"
    elif current.kind != "express" or not form.values["kind"]:
        form.values["kind"] = current.kind
    if not form.figures_posted and current is not None:
        form.figures = figures_of(current)
        kept = values_from_data(current)
        for key in (*FIGURE_FIELDS, "funding_rows"):
            form.values[key] = kept[key]


def draft_express_summary(form: FicheForm) -> bool:
    """Fill an express's empty summary from its answers; True if it was filled."""
    if form.kind != "express" or form.values["summary"].strip():
        return False
    draft = draft_summary(form.values[key] for key in EXPRESS_SUMMARY_SOURCES)
    form.values["summary"] = draft
    return bool(draft)


def check(form: FicheForm, known: Known, *, slug: str, complete: bool) -> dict[str, str]:
    """All errors of the form: typing errors first, then the fiche rules."""
    data = form.data(slug)
    data.status = "submitted" if complete else "draft"
    errors = dict(form.errors)
    express = form.kind == "express"
    for name, message in validate(data, known).items():
        if name == "slug":
            continue
        if express and name in EXPRESS_KEYS and message.startswith("la section"):
            message = "cette réponse est obligatoire pour une fiche express"
        errors.setdefault(name, message)
    return errors
