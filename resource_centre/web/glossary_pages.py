"""The field's glossary: the public page `/glossaire` and the curators' page
`/curation/glossaire` (list, add, edit, delete).

Routing and rendering only: the rules of an entry are `glossary.check_entry`, the changes
and their audit events `glossary_edit`. A refused form is shown again (422) with what was
typed and a French message next to each field.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, Response
from slugify import slugify

from resource_centre.db import read_session, write_session
from resource_centre.glossary import KIND_LABELS, KINDS, MAX_EXPANSIONS, letter_of, load_entries
from resource_centre.glossary_edit import (
    EntryNotFound,
    GlossaryError,
    add_entry,
    delete_entry,
    update_entry,
)
from resource_centre.models import GlossaryEntry
from resource_centre.web.deps import CuratorDep, DbId, done, render
from resource_centre.web.errors import form_status
from resource_centre.web.urls import path_for

router = APIRouter()
FIELD_LABELS = {
    "term": "Terme",
    "kind": "Type d'entrée",
    "expansions": "Formes développées ou mots de même sens",
    "definition": "Définition",
}
# Ids of the layout that an entry's anchor must not take.
_RESERVED_IDS = frozenset(
    {"contenu", "annonce", "erreurs", "recherche", "q", "q-aide", "q-suggestions", "q-etat"}
)
# Bounds of the posted fields, far above the rules (which give French messages): beyond
# them the request is refused whole.
_TEXT = Annotated[str, Form(max_length=10_000)]


@dataclass(frozen=True)
class Shown:
    """An entry as the public page shows it, with the id of its anchor."""

    entry: GlossaryEntry
    anchor: str
    others: list[str]  # long forms of an acronym, other words of a synonyms group


def anchors(entries: list[GlossaryEntry]) -> list[Shown]:
    """Each entry with a stable, unique anchor: its term as a slug (`/glossaire#iae`)."""
    shown: list[Shown] = []
    taken: set[str] = set()
    for entry in entries:
        base = slugify(entry.term, max_length=60) or "terme"
        if base in _RESERVED_IDS or base.startswith(("lettre-", "titre-")):
            base = f"terme-{base}"
        anchor, n = base, 2
        while anchor in taken:
            anchor, n = f"{base}-{n}", n + 1
        taken.add(anchor)
        others = [e for e in entry.expansions if e.casefold() != entry.term.casefold()]
        shown.append(Shown(entry, anchor, others))
    return shown


# --- the public page -----------------------------------------------------------------------


@router.get("/glossaire", response_class=HTMLResponse, name="glossary")
def glossary_page(request: Request) -> Response:
    with read_session(request.app.state.engine) as session:
        entries = load_entries(session)
    letters: dict[str, list[Shown]] = {}
    for item in anchors(entries):
        letters.setdefault(letter_of(item.entry.term), []).append(item)
    return render(request, "library/glossary.html", {
        "letters": letters, "count": len(entries), "kind_labels": KIND_LABELS,
    })  # fmt: skip


# --- the curators' page --------------------------------------------------------------------


def _values(entry: GlossaryEntry | None = None) -> dict[str, str]:
    if entry is None:
        return {"term": "", "kind": "acronym", "expansions": "", "definition": ""}
    return {
        "term": entry.term,
        "kind": entry.kind,
        "expansions": "\n".join(entry.expansions),
        "definition": entry.definition,
    }


def _lines(text: str) -> list[str]:
    return [line for line in text.replace("\r\n", "\n").split("\n") if line.strip()]


def _list_page(
    request: Request,
    *,
    values: dict[str, str] | None = None,
    errors: dict[str, str] | None = None,
    status: int = 200,
) -> Response:
    with read_session(request.app.state.engine) as session:
        entries = load_entries(session)
    return render(request, "curate/glossary.html", {
        "entries": entries, "values": values or _values(), "errors": errors or {},
        "kinds": KINDS, "kind_labels": KIND_LABELS, "field_labels": FIELD_LABELS,
        "max_expansions": MAX_EXPANSIONS,
    }, status_code=status)  # fmt: skip


def _edit_page(
    request: Request,
    entry: GlossaryEntry,
    *,
    values: dict[str, str] | None = None,
    errors: dict[str, str] | None = None,
    status: int = 200,
) -> Response:
    return render(request, "curate/glossary_entry.html", {
        "entry": entry, "values": values or _values(entry), "errors": errors or {},
        "kinds": KINDS, "kind_labels": KIND_LABELS, "field_labels": FIELD_LABELS,
        "max_expansions": MAX_EXPANSIONS,
    }, status_code=status)  # fmt: skip


def _entry(request: Request, entry_id: int) -> GlossaryEntry:
    with read_session(request.app.state.engine) as session:
        entry = session.get(GlossaryEntry, entry_id)
    if entry is None:
        raise EntryNotFound  # 404 (web/errors.py)
    return entry


@router.get("/curation/glossaire", response_class=HTMLResponse, name="curation_glossary")
def curation_list(request: Request, user: CuratorDep) -> Response:
    return _list_page(request)


@router.post("/curation/glossaire", response_class=HTMLResponse, name="glossary_add")
def curation_add(
    request: Request,
    user: CuratorDep,
    term: _TEXT = "",
    kind: _TEXT = "",
    expansions: _TEXT = "",
    definition: _TEXT = "",
) -> Response:
    values = {"term": term, "kind": kind, "expansions": expansions, "definition": definition}
    try:
        with write_session(request.app.state.engine) as session:
            entry = add_entry(session, user=user, term=term, kind=kind,
                              expansions=_lines(expansions), definition=definition)  # fmt: skip
            added = entry.term
    except GlossaryError as exc:
        return _list_page(request, values=values, errors=exc.errors, status=form_status(exc.kind))
    url = path_for(request, "curation_glossary")
    return done(
        request,
        url,
        f"« {added} » est ajouté au glossaire ; la recherche en tient compte d'ici quelques secondes.",
    )


@router.get("/curation/glossaire/{entry_id}", response_class=HTMLResponse, name="glossary_entry")
def curation_entry(request: Request, entry_id: DbId, user: CuratorDep) -> Response:
    return _edit_page(request, _entry(request, entry_id))


@router.post("/curation/glossaire/{entry_id}", response_class=HTMLResponse, name="glossary_save")
def curation_save(
    request: Request,
    entry_id: DbId,
    user: CuratorDep,
    term: _TEXT = "",
    kind: _TEXT = "",
    expansions: _TEXT = "",
    definition: _TEXT = "",
) -> Response:
    values = {"term": term, "kind": kind, "expansions": expansions, "definition": definition}
    try:
        with write_session(request.app.state.engine) as session:
            entry = update_entry(session, user=user, entry_id=entry_id, term=term, kind=kind,
                                 expansions=_lines(expansions),
                                 definition=definition)  # fmt: skip
            saved = entry.term
    except GlossaryError as exc:
        entry = _entry(request, entry_id)
        return _edit_page(
            request, entry, values=values, errors=exc.errors, status=form_status(exc.kind)
        )
    url = path_for(request, "curation_glossary")
    return done(
        request,
        url,
        f"« {saved} » est enregistré ; la recherche en tient compte d'ici quelques secondes.",
    )


@router.post(
    "/curation/glossaire/{entry_id}/supprimer",
    response_class=HTMLResponse,
    name="glossary_delete",
)
def curation_delete(request: Request, entry_id: DbId, user: CuratorDep) -> Response:
    with write_session(request.app.state.engine) as session:  # EntryNotFound: 404
        term = delete_entry(session, user=user, entry_id=entry_id)
    url = path_for(request, "curation_glossary")
    return done(request, url, f"« {term} » est retiré du glossaire.")
