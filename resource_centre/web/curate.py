"""The network team's back-office: review queue, reviews, history, taxonomy, users, radar."""

from __future__ import annotations

import difflib
import html
import json
import secrets
from datetime import date, datetime, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Form, HTTPException, Request
from fastapi.responses import HTMLResponse, Response
from sqlalchemy import String, and_, case, cast, func, or_, select
from sqlmodel import Session

from resource_centre import catalogue
from resource_centre.auth import AccountError, create_user
from resource_centre.db import read_session, write_session
from resource_centre.models import (
    AuditEvent,
    CapitalisationRequest,
    Comment,
    Regie,
    SearchClick,
    SearchLog,
    Term,
    User,
    UserSession,
    WriteUp,
    WriteUpRevision,
    utcnow,
)
from resource_centre.rendering import (
    RenderTooSlow,
    SectionTooLarge,
    render_markdown,
    render_sections,
    time_limit,
)
from resource_centre.taxonomy import (
    REGIE_KINDS,
    ROLE_LABELS,
    ROLES,
    SECTIONS,
    STATUS_LABELS,
    VOCABULARIES,
    VOCABULARY_BY_NAME,
)
from resource_centre.web.deps import AdminDep, CuratorDep, FormId, QueryId, done, render
from resource_centre.writeups import (
    CURATOR_ACTIONS,
    PermissionDenied,
    TransitionError,
    fiche_data_from_json,
    get_by_slug,
    record,
    transition,
)

router = APIRouter(prefix="/curation")
STALE_AFTER = timedelta(days=730)
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
    "request_answered": "demande traitée",
}


def _waiting(since: Any) -> str:
    if since is None:
        return ""
    days = (utcnow() - (since if since.tzinfo else since.replace(tzinfo=utcnow().tzinfo))).days
    return "aujourd'hui" if days <= 0 else ("1 jour" if days == 1 else f"{days} jours")


def _last_event(session: Session, writeup_id: int, actions: tuple[str, ...]) -> Any:
    return session.execute(
        select(func.max(AuditEvent.at)).where(
            AuditEvent.writeup_id == writeup_id,
            AuditEvent.action.in_(actions),  # type: ignore[attr-defined]
        )
    ).scalar()


# --- queue ---------------------------------------------------------------------------------


@router.get("", response_class=HTMLResponse)
def queue(request: Request, user: CuratorDep) -> Response:
    with read_session(request.app.state.engine) as session:
        to_review = (
            session.execute(
                select(WriteUp).where(
                    or_(WriteUp.status == "submitted", WriteUp.pending_status == "submitted")
                )
            )
            .scalars()
            .all()
        )
        waiting = []
        for w in to_review:
            since = _last_event(session, w.id, ("submit", "submit_revision")) or w.updated_at
            waiting.append((since, w))
        waiting.sort(key=lambda item: item[0])
        changes = (
            session.execute(
                select(WriteUp)
                .where(
                    or_(
                        WriteUp.status == "changes_requested",
                        WriteUp.pending_status == "changes_requested",
                    )
                )
                .order_by(WriteUp.updated_at)
            )
            .scalars()
            .all()
        )
        limit = (utcnow() - STALE_AFTER).date()
        stale = [
            w
            for w in session.execute(
                select(WriteUp).where(WriteUp.status == "published").order_by(WriteUp.published_at)
            ).scalars()
            if ((w.reviewed_at.date() if w.reviewed_at else w.published_at) or limit) < limit
        ]
        regies = {r.id: r.name for r in session.execute(select(Regie)).scalars()}
        return render(request, "curate/queue.html", {
            "waiting": [(w, _waiting(since)) for since, w in waiting],
            "changes": changes, "stale": stale, "regies": regies, "status_labels": STATUS_LABELS,
        })  # fmt: skip


# --- review page ---------------------------------------------------------------------------


def section_diff(old: str, new: str) -> str:
    """An HTML-escaped line diff: removed lines in <del>, added ones in <ins>."""
    out = []
    for line in difflib.ndiff(old.splitlines(), new.splitlines()):
        tag, text = line[:2], html.escape(line[2:])
        if tag == "- ":
            out.append(f"<del>{text}</del>")
        elif tag == "+ ":
            out.append(f"<ins>{text}</ins>")
        elif tag == "  ":
            out.append(f"<span>{text}</span>")
    return "\n".join(out)


def _review_context(session: Session, writeup: WriteUp) -> dict[str, Any]:
    regie = session.get(Regie, writeup.regie_id) if writeup.regie_id else None
    revision = None
    if writeup.pending:
        data = fiche_data_from_json(writeup.pending, slug=writeup.slug)
        diffs = []
        for section in SECTIONS:
            old, new = writeup.sections.get(section.key, ""), data.sections.get(section.key, "")
            if old != new:
                diffs.append((section.heading, section_diff(old, new)))
        for name, label in (("title", "Titre"), ("summary", "Résumé")):
            if getattr(writeup, name) != getattr(data, name):
                diffs.insert(0, (label, section_diff(getattr(writeup, name), getattr(data, name))))
        try:
            html_sections = render_sections(data.sections)
        except (SectionTooLarge, RenderTooSlow):
            html_sections = {}
        revision = {
            "data": data,
            "diffs": diffs,
            "html": html_sections,
            "status": writeup.pending_status,
        }
    comments = session.execute(
        select(Comment, User.name, User.email)
        .outerjoin(User, User.id == Comment.author_id)
        .where(Comment.writeup_id == writeup.id)
        .order_by(Comment.at)
    ).all()
    history = session.execute(
        select(AuditEvent, User.name, User.email)
        .outerjoin(User, User.id == AuditEvent.actor_id)
        .where(AuditEvent.writeup_id == writeup.id)
        .order_by(AuditEvent.at.desc())  # type: ignore[attr-defined]
    ).all()
    revisions = (
        session.execute(
            select(WriteUpRevision)
            .where(WriteUpRevision.writeup_id == writeup.id)
            .order_by(WriteUpRevision.created_at.desc())  # type: ignore[attr-defined]
        )
        .scalars()
        .all()
    )
    labels = {(t.vocabulary, t.slug): t.label for t in session.execute(select(Term)).scalars()}
    return {
        "writeup": writeup, "regie": regie, "revision": revision, "comments": comments,
        "history": history, "revisions": revisions, "sections": SECTIONS,
        "status_labels": STATUS_LABELS, "action_labels": ACTION_LABELS, "term_labels": labels,
    }  # fmt: skip


@router.get("/fiches/{slug}", response_class=HTMLResponse)
def review(request: Request, slug: str, user: CuratorDep) -> Response:
    limit = request.app.state.settings.render_seconds
    with read_session(request.app.state.engine) as session, time_limit(limit):
        writeup = get_by_slug(session, slug)
        if writeup is None:
            raise HTTPException(404)
        return render(
            request,
            "curate/review.html",
            {**_review_context(session, writeup), "error": None, "comment": ""},
        )


@router.post("/fiches/{slug}", response_class=HTMLResponse)
def act(
    request: Request,
    slug: str,
    user: CuratorDep,
    action: Annotated[str, Form(max_length=40)] = "",
    comment: Annotated[str, Form(max_length=10_000)] = "",
    note: Annotated[str, Form(max_length=20_000)] = "",
) -> Response:
    engine = request.app.state.engine
    limit = request.app.state.settings.render_seconds  # rendering bounded in time
    if action in ("request_changes", "comment") and not comment.strip():
        # A form left incomplete: the page again (422), the message next to the field.
        with read_session(engine) as session, time_limit(limit):
            writeup = get_by_slug(session, slug)
            if writeup is None:
                raise HTTPException(404)
            context = _review_context(session, writeup)
        message = (
            "Écrivez le commentaire : dites à la Régie ce qu'il faut modifier."
            if action == "request_changes"
            else "Le commentaire est vide."
        )
        return render(
            request,
            "curate/review.html",
            {**context, "error": message, "comment": comment, "comment_error": message},
            status_code=422,
        )
    try:
        with write_session(engine) as session, time_limit(limit):
            writeup = get_by_slug(session, slug, for_update=True)
            if writeup is None:
                raise HTTPException(404)
            actor = session.get(User, user.id)
            if action == "note":
                message = _set_note(session, writeup, actor, note)
            elif action == "comment":
                session.add(
                    Comment(writeup_id=writeup.id, author_id=actor.id, body=comment.strip())
                )
                record(
                    session,
                    action="comment",
                    writeup=writeup,
                    actor_id=actor.id,
                    comment=comment.strip(),
                )
                message = "Commentaire ajouté."
            elif action in CURATOR_ACTIONS:
                message = transition(
                    session, user=actor, writeup=writeup, action=action, comment=comment
                )
            else:
                raise TransitionError(f"Action inconnue « {action[:40]} ».")
    except (TransitionError, SectionTooLarge, RenderTooSlow) as exc:
        with read_session(engine) as session, time_limit(limit):
            writeup = get_by_slug(session, slug)
            context = _review_context(session, writeup)
        return render(
            request,
            "curate/review.html",
            {**context, "error": str(exc), "comment": comment},
            status_code=409,
        )
    except PermissionDenied as exc:
        raise HTTPException(403) from exc
    return done(request, f"/curation/fiches/{slug}", message)


def _set_note(session: Session, writeup: WriteUp, actor: User, note: str) -> str:
    note = note.strip()
    writeup.network_note = note or None
    writeup.network_note_html = render_markdown(note) if note else None
    writeup.version += 1
    session.add(writeup)
    record(session, action="note", writeup=writeup, actor_id=actor.id)
    return "Le regard du réseau est enregistré." if note else "Le regard du réseau est retiré."


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
        stmt = select(AuditEvent, User.name, User.email).outerjoin(
            User, User.id == AuditEvent.actor_id
        )
        if personne:
            stmt = stmt.where(AuditEvent.actor_id == personne)
        if action:
            stmt = stmt.where(AuditEvent.action == action[:40])
        events = session.execute(
            stmt.order_by(AuditEvent.at.desc()).offset((page - 1) * 50).limit(51)  # type: ignore[attr-defined]
        ).all()
        people = session.execute(select(User.id, User.name, User.email).order_by(User.email)).all()
        return render(request, "curate/journal.html", {
            "events": events[:50], "more": len(events) > 50, "page": page, "people": people,
            "personne": personne, "action": action, "action_labels": ACTION_LABELS,
        })  # fmt: skip


# --- taxonomy and Régies -------------------------------------------------------------------


def _catalogue_page(
    request: Request, session: Session, error: str | None = None, status: int = 200
) -> Response:
    vocabularies = []
    for vocab in VOCABULARIES:
        counts = catalogue.usage(session, vocab.name)
        terms = (
            session.execute(
                select(Term)
                .where(Term.vocabulary == vocab.name)
                .order_by(Term.position, Term.label)
            )
            .scalars()
            .all()
        )
        vocabularies.append((vocab, [(t, counts.get(t.slug, 0)) for t in terms]))
    regie_counts = dict(
        session.execute(select(WriteUp.regie_id, func.count()).group_by(WriteUp.regie_id)).all()
    )
    regies = [
        (r, regie_counts.get(r.id, 0))
        for r in session.execute(select(Regie).order_by(Regie.name)).scalars()
    ]
    regions = (
        session.execute(select(Term).where(Term.vocabulary == "regions").order_by(Term.label))
        .scalars()
        .all()
    )
    return render(request, "curate/taxonomy.html", {
        "vocabularies": vocabularies, "regies": regies, "regions": regions,
        "kinds": REGIE_KINDS, "error": error,
    }, status_code=status)  # fmt: skip


def _catalogue_refused(request: Request, exc: catalogue.CatalogueError) -> Response:
    """The vocabularies page again (409) with the reason, as a sentence."""
    reason = str(exc)
    with read_session(request.app.state.engine) as session:
        return _catalogue_page(
            request, session, error=reason[:1].upper() + reason[1:] + ".", status=409
        )


@router.get("/taxonomie", response_class=HTMLResponse)
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
    engine = request.app.state.engine
    try:
        if vocabulary not in VOCABULARY_BY_NAME:
            raise catalogue.CatalogueError(f"vocabulaire inconnu « {vocabulary[:32]} »")
        with write_session(engine) as session:
            actor = session.get(User, user.id)
            kwargs = {"actor": actor, "vocabulary": vocabulary}
            if operation == "add":
                catalogue.add_term(session, label=label, slug=slug, **kwargs)
                message = f"« {label.strip()} » est ajoutée."
            elif operation == "rename":
                catalogue.rename_term(session, slug=slug, label=label, **kwargs)
                message = "Le libellé est modifié ; les fiches concernées sont réindexées."
            elif operation == "merge":
                count = catalogue.merge_term(session, source=slug, target=target, **kwargs)
                message = f"Fusion faite : {count} fiche(s) mise(s) à jour."
            elif operation in ("retire", "restore"):
                catalogue.retire_term(session, slug=slug, retired=operation == "retire", **kwargs)
                message = (
                    "La valeur est retirée des formulaires."
                    if operation == "retire"
                    else "La valeur est rétablie."
                )
            elif operation == "delete":
                catalogue.delete_term(session, slug=slug, **kwargs)
                message = "La valeur est supprimée."
            else:
                raise catalogue.CatalogueError("opération inconnue")
    except catalogue.CatalogueError as exc:
        return _catalogue_refused(request, exc)
    return done(request, "/curation/taxonomie", message)


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
    engine = request.app.state.engine
    try:
        with write_session(engine) as session:
            actor = session.get(User, user.id)
            if operation in ("add", "edit"):
                catalogue.save_regie(session, actor=actor, slug=slug if operation == "edit" else None,
                                     name=name, kind=kind, city=city, department=department,
                                     region=region, contact_email=contact_email)  # fmt: skip
                message = "La Régie est enregistrée."
            elif operation == "merge":
                count = catalogue.merge_regie(session, actor=actor, source=slug, target=target)
                message = f"Fusion faite : {count} fiche(s) rattachée(s)."
            elif operation in ("retire", "restore"):
                catalogue.retire_regie(
                    session, actor=actor, slug=slug, retired=operation == "retire"
                )
                message = (
                    "La Régie est retirée des formulaires."
                    if operation == "retire"
                    else "La Régie est rétablie."
                )
            else:
                raise catalogue.CatalogueError("opération inconnue")
    except catalogue.CatalogueError as exc:
        return _catalogue_refused(request, exc)
    return done(request, "/curation/taxonomie#regies", message)


# --- users (admin) -------------------------------------------------------------------------


def _users_page(request: Request, session: Session, *, errors: dict[str, str] | None = None,
                values: dict[str, str] | None = None, created: tuple[str, str] | None = None,
                status: int = 200) -> Response:  # fmt: skip
    users = session.execute(select(User).order_by(User.active.desc(), User.email)).scalars().all()  # type: ignore[attr-defined]
    regies = session.execute(select(Regie).order_by(Regie.name)).scalars().all()
    return render(request, "curate/users.html", {
        "users": users, "regies": regies, "regie_names": {r.id: r.name for r in regies},
        "roles": ROLES, "role_labels": ROLE_LABELS, "errors": errors or {},
        "values": values or {"email": "", "name": "", "role": "contributor", "regie": ""},
        "created": created,
    }, status_code=status)  # fmt: skip


@router.get("/utilisateurs", response_class=HTMLResponse)
def users(request: Request, user: AdminDep) -> Response:
    with read_session(request.app.state.engine) as session:
        return _users_page(request, session)


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
        password = secrets.token_urlsafe(12)
        try:
            with write_session(engine) as session:
                created = create_user(session, email=email, password=password, role=role,
                                      regie_slug=regie or None, name=name)  # fmt: skip
                session.flush()
                record(
                    session, action="user_create", actor_id=user.id, user=created.email, role=role
                )
        except AccountError as exc:
            with read_session(engine) as session:
                return _users_page(
                    request, session, errors={"email": str(exc)}, values=values, status=422
                )
        with read_session(engine) as session:
            # The password is shown once, on this page; it is never stored in clear.
            return _users_page(request, session, created=(created.email, password))
    if operation in ("deactivate", "activate"):
        if user_id == user.id:
            raise HTTPException(409, "Vous ne pouvez pas désactiver votre propre compte.")
        with write_session(engine) as session:
            target = session.get(User, user_id)
            if target is None:
                raise HTTPException(404)
            target.active = operation == "activate"
            session.add(target)
            if not target.active:  # signed out everywhere at once
                session.execute(
                    UserSession.__table__.delete().where(UserSession.user_id == target.id)
                )
            record(session, action=f"user_{operation}", actor_id=user.id, user=target.email)
        message = (
            "Le compte est désactivé." if operation == "deactivate" else "Le compte est réactivé."
        )
        return done(request, "/curation/utilisateurs", message)
    raise HTTPException(409, "Opération inconnue.")


# --- knowledge-gap radar -------------------------------------------------------------------


def _day(column: Any, dialect: str) -> Any:
    """The UTC calendar day of a timestamp column, in SQL."""
    if dialect == "postgresql":  # timestamptz: take the day in UTC, not in the session's zone
        return func.date(func.timezone("UTC", column))
    return func.date(column)  # SQLite stores UTC text


def _as_date(value: Any) -> date:
    return value if isinstance(value, date) else date.fromisoformat(str(value)[:10])


def radar_figures(session: Session, since: datetime) -> dict[str, Any]:
    """The radar's figures since `since`, aggregated by the database (GROUP BY).

    Rows are grouped by day and by exact query text in SQL; only those groups come back
    (never the log rows), and Python merges them by the shown form of the query (trimmed,
    lower case: SQLite's `lower` knows ASCII only) and by ISO week.
    """
    day = _day(SearchLog.at, session.get_bind().dialect.name).label("day")
    searched = (SearchLog.at >= since, SearchLog.source != "hint")
    clicked = (
        select(SearchClick.id)
        .where(SearchClick.token == SearchLog.token, SearchClick.at >= since)
        .exists()
    )
    unclicked = and_(SearchLog.total != 0, SearchLog.query != "", ~clicked)
    by_week: dict[str, dict[str, int]] = {}
    for row in session.execute(
        select(
            day,
            func.count(),
            func.sum(case((SearchLog.total == 0, 1), else_=0)),
            func.sum(case((unclicked, 1), else_=0)),
        )
        .where(*searched)
        .group_by(day)
    ):
        week = _as_date(row[0]).strftime("%G-S%V")
        stats = by_week.setdefault(week, {"searches": 0, "zero": 0, "no_click": 0})
        for key, value in zip(("searches", "zero", "no_click"), row[1:], strict=True):
            stats[key] += int(value or 0)

    top: dict[str, int] = {}
    for query, count in session.execute(
        select(SearchLog.query, func.count())
        .where(*searched, SearchLog.query != "")
        .group_by(SearchLog.query)
    ):
        if shown := query.strip().lower():
            top[shown] = top.get(shown, 0) + count

    no_click: dict[str, int] = {}
    for query, count in session.execute(
        select(SearchLog.query, func.count()).where(*searched, unclicked).group_by(SearchLog.query)
    ):
        if shown := query.strip().lower():
            no_click[shown] = no_click.get(shown, 0) + count

    zero: dict[tuple[str, str], dict[str, Any]] = {}
    filters_text = cast(SearchLog.filters, String).label("filters_text")
    for query, raw_filters, row_day, count in session.execute(
        select(SearchLog.query, filters_text, day, func.count())
        .where(*searched, SearchLog.total == 0)
        .group_by(SearchLog.query, filters_text, day)
    ):
        shown = query.strip().lower()
        parsed = json.loads(raw_filters) if raw_filters else {}
        filters = ", ".join(f"{k} : {v}" for k, v in sorted(parsed.items()))
        item = zero.setdefault(
            (shown, filters), {"query": shown, "filters": filters, "count": 0, "weeks": set()}
        )
        item["count"] += count
        item["weeks"].add(_as_date(row_day).strftime("%G-S%V"))
    return {
        "top": sorted(top.items(), key=lambda kv: (-kv[1], kv[0]))[:20],
        "zero": sorted(zero.values(), key=lambda v: (-v["count"], v["query"], v["filters"]))[:30],
        "no_click": sorted(no_click.items(), key=lambda kv: (-kv[1], kv[0]))[:20],
        "by_week": sorted(by_week.items(), reverse=True),
    }


@router.get("/radar", response_class=HTMLResponse)
def radar(request: Request, user: CuratorDep, semaines: int = 8) -> Response:
    weeks = max(1, min(semaines, 52))
    since = utcnow() - timedelta(weeks=weeks)
    with read_session(request.app.state.engine) as session:
        figures = radar_figures(session, since)
        requests_ = (
            session.execute(
                select(CapitalisationRequest).order_by(
                    CapitalisationRequest.status.desc(), CapitalisationRequest.at.desc()
                )  # type: ignore[attr-defined]
            )
            .scalars()
            .all()
        )
    return render(request, "curate/radar.html", {"weeks": weeks, **figures, "requests": requests_})


@router.post("/radar", response_class=HTMLResponse)
def answer_request(
    request: Request,
    user: CuratorDep,
    request_id: FormId = 0,
    slug: Annotated[str, Form(max_length=120)] = "",
) -> Response:
    with write_session(request.app.state.engine) as session:
        need = session.get(CapitalisationRequest, request_id)
        if need is None:
            raise HTTPException(404)
        writeup = get_by_slug(session, slug.strip()) if slug.strip() else None
        if writeup is None or writeup.status != "published":
            raise HTTPException(
                409, "Indiquez l'identifiant d'une fiche publiée (la fin de son adresse)."
            )
        need.status, need.answered_slug = "answered", writeup.slug
        need.answered_by, need.answered_at = user.id, utcnow()
        session.add(need)
        record(session, action="request_answered", writeup=writeup, actor_id=user.id)
    return done(request, "/curation/radar", "La demande est marquée comme traitée par cette fiche.")
