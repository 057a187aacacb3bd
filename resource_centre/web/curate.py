"""The network team's back-office: review queue, reviews, history, taxonomy, users, radar.

Routing and rendering only: reads and changes go through `reviews`, `backoffice` and
`radar`, which check permissions and raise domain errors.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Form, HTTPException, Request
from fastapi.responses import HTMLResponse, Response
from sqlmodel import Session

from resource_centre import backoffice, catalogue, checklist, reviews
from resource_centre.account_tokens import invitation_state
from resource_centre.auth import AccountError
from resource_centre.db import read_session, write_session
from resource_centre.models import WriteUp, utcnow
from resource_centre.radar import (
    answer_need,
    radar_figures,
    reported_needs,
)
from resource_centre.rendering import RenderTooSlow, SectionTooLarge, time_limit
from resource_centre.reviews import CommentRequired
from resource_centre.taxonomy import (
    KIND_LABELS,
    REGIE_KINDS,
    ROLE_LABELS,
    ROLES,
    SECTIONS,
    STATUS_LABELS,
)
from resource_centre.web.deps import AdminDep, CuratorDep, FormId, QueryId, done, render
from resource_centre.web.errors import form_status
from resource_centre.web.urls import path_for
from resource_centre.writeups import TransitionError

router = APIRouter(prefix="/curation")
ACTION_LABELS = {
    "create": "création",
    "edit": "modification",
    "submit": "soumission",
    "revise": "révision proposée",
    "submit_revision": "révision soumise",
    "publish": "publication",
    "request_changes": "modifications demandées",
    "archive": "archivage",
    "feature": "mise en avant",
    "unfeature": "fin de mise en avant",
    "note": "regard du réseau",
    "comment": "commentaire",
    "term_add": "valeur ajoutée",
    "term_rename": "valeur renommée",
    "term_merge": "valeurs fusionnées",
    "term_retire": "valeur retirée",
    "term_restore": "valeur rétablie",
    "term_delete": "valeur supprimée",
    "regie_add": "Régie ajoutée",
    "regie_edit": "Régie modifiée",
    "regie_merge": "Régies fusionnées",
    "regie_retire": "Régie retirée",
    "regie_restore": "Régie rétablie",
    "user_create": "compte créé",
    "user_deactivate": "compte désactivé",
    "user_activate": "compte réactivé",
    "user_invite": "invitation envoyée",
    "user_invite_cancel": "invitation annulée",
    "request_answered": "demande traitée",
    "glossary_add": "entrée du glossaire ajoutée",
    "glossary_edit": "entrée du glossaire modifiée",
    "glossary_delete": "entrée du glossaire supprimée",
}


def _waiting(since: Any) -> str:
    if since is None:
        return ""
    days = (utcnow() - (since if since.tzinfo else since.replace(tzinfo=utcnow().tzinfo))).days
    return "aujourd'hui" if days <= 0 else ("1 jour" if days == 1 else f"{days} jours")


def _flags(writeup: WriteUp) -> list[str]:
    """What a curator should see at once of a fiche under review (of its proposed revision,
    if any): a fiche express, an interview asked for."""
    revision = writeup.pending if writeup.pending and writeup.status == "published" else {}
    flags = []
    if revision.get("kind", writeup.kind) == "express":
        flags.append(KIND_LABELS["express"])
    if writeup.interview_requested or revision.get("interview_requested"):
        flags.append("Entretien souhaité")
    return flags


# --- queue ---------------------------------------------------------------------------------


@router.get("", response_class=HTMLResponse)
def queue(request: Request, user: CuratorDep) -> Response:
    with read_session(request.app.state.engine) as session:
        found = reviews.curation_queue(session)
        listed = [w for _, w in found.waiting] + found.changes
        # Evaluated in Python on the loaded rows; one query counts their attachments.
        checklists = checklist.for_writeups(session, listed)
        return render(request, "curate/queue.html", {
            "waiting": [(w, _waiting(since)) for since, w in found.waiting],
            "changes": found.changes, "stale": found.stale, "regies": found.regies,
            "status_labels": STATUS_LABELS, "checklists": checklists,
            "flags": {w.id: _flags(w) for w in listed},
        })  # fmt: skip


# --- review page ---------------------------------------------------------------------------


def _review_page(
    request: Request, slug: str, *, status: int = 200, error: str | None = None, **extra: Any
) -> Response:
    """The review page of fiche `slug` (404 if there is none), rendering bounded in time."""
    limit = request.app.state.settings.render_seconds
    with read_session(request.app.state.engine) as session, time_limit(limit):
        details = reviews.review_page(session, slug)  # FicheNotFound: 404 (web/errors.py)
        writeup = details["writeup"]
        return render(request, "curate/review.html", {
            **details, "checklist": checklist.for_writeup(session, writeup),
            "flags": _flags(writeup), "sections": SECTIONS, "status_labels": STATUS_LABELS,
            "action_labels": ACTION_LABELS, "error": error, "comment": "", **extra,
        }, status_code=status)  # fmt: skip


@router.get("/fiches/{slug}", response_class=HTMLResponse)
def review(request: Request, slug: str, user: CuratorDep) -> Response:
    return _review_page(request, slug)


@router.post("/fiches/{slug}", response_class=HTMLResponse)
def act(
    request: Request,
    slug: str,
    user: CuratorDep,
    action: Annotated[str, Form(max_length=40)] = "",
    comment: Annotated[str, Form(max_length=10_000)] = "",
    note: Annotated[str, Form(max_length=20_000)] = "",
) -> Response:
    limit = request.app.state.settings.render_seconds  # rendering bounded in time
    try:
        with write_session(request.app.state.engine) as session, time_limit(limit):
            message = reviews.act(
                session, user=user, slug=slug, action=action, comment=comment, note=note
            )
    except CommentRequired as exc:
        # A form left incomplete: the page again (422), the message next to the field.
        return _review_page(request, slug, status=422, error=exc.message, comment=comment,
                            comment_error=exc.message)  # fmt: skip
    except (TransitionError, SectionTooLarge, RenderTooSlow) as exc:
        return _review_page(request, slug, status=409, error=str(exc), comment=comment)
    return done(request, path_for(request, "review", slug=slug), message)


# --- site history --------------------------------------------------------------------------


@router.get("/journal", response_class=HTMLResponse)
def journal(
    request: Request,
    user: CuratorDep,
    personne: QueryId = None,
    action: str | None = None,
    page: int = 1,
) -> Response:
    page = max(1, min(page, 10_000))
    with read_session(request.app.state.engine) as session:
        history = backoffice.site_history(session, actor_id=personne, action=action, page=page)
        return render(request, "curate/journal.html", {
            "events": history.events, "more": history.more, "page": page,
            "people": history.people, "personne": personne, "action": action,
            "action_labels": ACTION_LABELS,
        })  # fmt: skip


# --- taxonomy and Régies -------------------------------------------------------------------


def _catalogue_page(
    request: Request, session: Session, error: str | None = None, status: int = 200
) -> Response:
    overview = backoffice.catalogue_overview(session)
    return render(request, "curate/taxonomy.html", {
        "vocabularies": overview.vocabularies, "regies": overview.regies,
        "regions": overview.regions, "kinds": REGIE_KINDS, "error": error,
    }, status_code=status)  # fmt: skip


def _catalogue_refused(request: Request, exc: catalogue.CatalogueError) -> Response:
    """The vocabularies page again (409) with the reason, as a sentence."""
    reason = str(exc)
    with read_session(request.app.state.engine) as session:
        return _catalogue_page(
            request, session, error=reason[:1].upper() + reason[1:] + ".", status=409
        )


# Named: the API has a route `taxonomy` too.
@router.get("/taxonomie", response_class=HTMLResponse, name="curation_taxonomy")
def taxonomy(request: Request, user: CuratorDep) -> Response:
    with read_session(request.app.state.engine) as session:
        return _catalogue_page(request, session)


@router.post("/taxonomie", response_class=HTMLResponse)
def taxonomy_change(
    request: Request,
    user: CuratorDep,
    operation: Annotated[str, Form(max_length=20)] = "",
    vocabulary: Annotated[str, Form(max_length=32)] = "",
    slug: Annotated[str, Form(max_length=120)] = "",
    target: Annotated[str, Form(max_length=120)] = "",
    label: Annotated[str, Form(max_length=200)] = "",
) -> Response:
    try:
        with write_session(request.app.state.engine) as session:
            message = backoffice.change_term(session, user=user, operation=operation,
                                             vocabulary=vocabulary, slug=slug, target=target,
                                             label=label)  # fmt: skip
    except catalogue.CatalogueError as exc:
        return _catalogue_refused(request, exc)
    return done(request, path_for(request, "curation_taxonomy"), message)


@router.post("/regies", response_class=HTMLResponse)
def regie_change(
    request: Request,
    user: CuratorDep,
    operation: Annotated[str, Form(max_length=20)] = "",
    slug: Annotated[str, Form(max_length=120)] = "",
    target: Annotated[str, Form(max_length=120)] = "",
    name: Annotated[str, Form(max_length=200)] = "",
    kind: Annotated[str, Form(max_length=16)] = "quartier",
    city: Annotated[str, Form(max_length=120)] = "",
    department: Annotated[str, Form(max_length=120)] = "",
    region: Annotated[str, Form(max_length=100)] = "",
    contact_email: Annotated[str, Form(max_length=200)] = "",
) -> Response:
    try:
        with write_session(request.app.state.engine) as session:
            message = backoffice.change_regie(
                session, user=user, operation=operation, slug=slug, target=target, name=name,
                kind=kind, city=city, department=department, region=region,
                contact_email=contact_email,
            )  # fmt: skip
    except catalogue.CatalogueError as exc:
        return _catalogue_refused(request, exc)
    return done(request, path_for(request, "curation_taxonomy") + "#regies", message)


# --- users (admin) -------------------------------------------------------------------------


EMPTY_ACCOUNT = {"email": "", "name": "", "role": "contributor", "regie": ""}


def users_page(
    request: Request, session: Session, *, errors: dict[str, str] | None = None,
    values: dict[str, str] | None = None, created: tuple[str, str] | None = None,
    invite_errors: dict[str, str] | None = None, invite_values: dict[str, str] | None = None,
    status: int = 200,
) -> Response:  # fmt: skip
    """The accounts page: the invitation form (its errors and values from web/password_pages),
    the account form, every account with its state."""
    users, regies = backoffice.accounts(session)
    return render(request, "curate/users.html", {
        "users": users, "regies": regies, "regie_names": {r.id: r.name for r in regies},
        "invitations": {u.id: invitation_state(u) for u in users},
        "roles": ROLES, "role_labels": ROLE_LABELS, "errors": errors or {},
        "values": values or EMPTY_ACCOUNT, "created": created,
        "invite_errors": invite_errors or {}, "invite_values": invite_values or EMPTY_ACCOUNT,
    }, status_code=status)  # fmt: skip


@router.get("/utilisateurs", response_class=HTMLResponse)
def users(request: Request, user: AdminDep) -> Response:
    with read_session(request.app.state.engine) as session:
        return users_page(request, session)


@router.post("/utilisateurs", response_class=HTMLResponse)
def users_change(
    request: Request,
    user: AdminDep,
    operation: Annotated[str, Form(max_length=20)] = "",
    email: Annotated[str, Form(max_length=254)] = "",
    name: Annotated[str, Form(max_length=200)] = "",
    role: Annotated[str, Form(max_length=16)] = "contributor",
    regie: Annotated[str, Form(max_length=120)] = "",
    user_id: FormId = 0,
) -> Response:
    engine = request.app.state.engine
    values = {"email": email, "name": name, "role": role, "regie": regie}
    if operation == "create":
        try:
            with write_session(engine) as session:
                created, password = backoffice.create_account(
                    session, user=user, email=email, name=name, role=role, regie=regie
                )
                created_email = created.email
        except AccountError as exc:
            with read_session(engine) as session:
                return users_page(
                    request,
                    session,
                    errors={"email": exc.message},
                    values=values,
                    status=form_status(exc.kind),  # the form shows errors next to the e-mail
                )
        with read_session(engine) as session:
            # The password is shown once, on this page; it is never stored in clear.
            return users_page(request, session, created=(created_email, password))
    if operation in ("deactivate", "activate"):
        with write_session(engine) as session:
            message = backoffice.set_account_active(
                session, user=user, account_id=user_id, active=operation == "activate"
            )
        return done(request, path_for(request, "users"), message)
    raise HTTPException(409, "Opération inconnue.")  # domain errors: web/errors.py


# --- knowledge-gap radar -------------------------------------------------------------------


@router.get("/radar", response_class=HTMLResponse)
def radar(request: Request, user: CuratorDep, semaines: int = 8) -> Response:
    weeks = max(1, min(semaines, 52))
    since = utcnow() - timedelta(weeks=weeks)
    with read_session(request.app.state.engine) as session:
        figures = radar_figures(session, since)
        needs = reported_needs(session)
    return render(request, "curate/radar.html", {"weeks": weeks, **figures, "requests": needs})


@router.post("/radar", response_class=HTMLResponse)
def answer_request(
    request: Request,
    user: CuratorDep,
    request_id: FormId = 0,
    slug: Annotated[str, Form(max_length=120)] = "",
) -> Response:
    with write_session(request.app.state.engine) as session:  # errors: web/errors.py
        answer_need(session, user=user, need_id=request_id, slug=slug)
    message = "La demande est marquée comme traitée par cette fiche."
    return done(request, path_for(request, "radar"), message)
