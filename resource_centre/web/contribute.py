"""Contributors' pages: the fiche form, attachments, "Mes fiches"."""

from __future__ import annotations

import re
import threading
import time
from collections import deque
from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import quote

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import FileResponse, HTMLResponse, RedirectResponse, Response
from sqlalchemy import func, or_, select
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session
from starlette.concurrency import run_in_threadpool

from resource_centre.attachments import (
    KINDS,
    MAX_PER_FICHE,
    AttachmentError,
    check,
    display_name,
    drafts_quota_error,
    new_stored_name,
    upload_quota_error,
    write_private,
)
from resource_centre.auth import form_token_valid, issue_form_token
from resource_centre.db import read_session, write_session
from resource_centre.models import (
    Attachment,
    CapitalisationRequest,
    Comment,
    FormToken,
    Regie,
    Term,
    User,
    WriteUp,
    utcnow,
)
from resource_centre.rendering import RenderBusy, RenderTooSlow, render_sections, time_limit
from resource_centre.taxonomy import FACETS, SECTIONS, STATUS_LABELS, VOCABULARIES
from resource_centre.web import forms
from resource_centre.web.deps import DbId, UserDep, current_user, done, parse_id, render
from resource_centre.web.sessions import set_flash
from resource_centre.writeups import (
    Known,
    PermissionDenied,
    StaleVersion,
    TransitionError,
    can_edit,
    can_read,
    check_fiche_size,
    check_section_text,
    create,
    editable_data,
    get_by_slug,
    is_curator,
    is_revision,
    save,
    unique_slug,
)

router = APIRouter()
MAX_UPLOAD_BODY = MAX_PER_FICHE * 10 * 1024 * 1024 + 2 * 1024 * 1024
# The routes that receive attachments: the only ones with the larger body limit.
UPLOAD_PATHS = re.compile(r"/contribuer|/fiches/[^/]+/modifier")
READ_CHUNK = 1024 * 1024
VERSION_ERROR = (
    "le numéro de version de ce formulaire est illisible : votre texte est conservé, "
    "vérifiez-le puis enregistrez de nouveau"
)
FORM_TOKEN_ERROR = (
    "ce formulaire a été ouvert par un autre compte ou a expiré : votre texte est conservé "
    "ci-dessous, enregistrez de nouveau."
)


PREVIEW_LIMIT = 20  # previews per user and minute, in each server process
PREVIEW_LIMIT_ERROR = (
    f"Vous avez demandé plus de {PREVIEW_LIMIT} aperçus en une minute : attendez un instant "
    "avant le suivant. Votre texte est conservé ci-dessous et vous pouvez l'enregistrer."
)


class RateLimiter:
    """At most `limit` events per key in a sliding window of `window` seconds (in memory).

    Kept per server process: with N workers a user gets at most N × limit previews a
    minute, each rendering bounded in time, which is what matters here.
    """

    def __init__(self, limit: int, window: float = 60.0) -> None:
        self.limit = limit
        self.window = window
        self._events: dict[Any, deque[float]] = {}
        self._lock = threading.Lock()

    def allow(self, key: Any) -> bool:
        """Record an event for `key` and say if it is within the limit."""
        now = time.monotonic()
        with self._lock:
            if len(self._events) > 10_000:  # forget idle keys now and then
                self._events = {k: q for k, q in self._events.items() if q[-1] > now - self.window}
            events = self._events.setdefault(key, deque())
            while events and events[0] <= now - self.window:
                events.popleft()
            if len(events) >= self.limit:
                return False
            events.append(now)
            return True


_LIMITER_LOCK = threading.Lock()


def _preview_limiter(request: Request) -> RateLimiter:
    """The preview limiter of this application (one per app, created when first needed)."""
    state = request.app.state
    with _LIMITER_LOCK:
        limiter = getattr(state, "preview_limiter", None)
        if limiter is None:
            limiter = state.preview_limiter = RateLimiter(PREVIEW_LIMIT)
    return limiter


# --- helpers ------------------------------------------------------------------------------


def _choices(session: Session) -> dict[str, list[tuple[str, str]]]:
    """Vocabulary values and Régies offered by the form, in their display order."""
    result: dict[str, list[tuple[str, str]]] = {v.name: [] for v in VOCABULARIES}
    terms = session.execute(
        select(Term).where(Term.retired.is_(False)).order_by(Term.position, Term.label)  # type: ignore[attr-defined]
    ).scalars()
    for term in terms:
        result.setdefault(term.vocabulary, []).append((term.slug, term.label))
    result["regies"] = [
        (r.slug, r.name)
        for r in session.execute(
            select(Regie).where(Regie.retired.is_(False)).order_by(Regie.name)  # type: ignore[attr-defined]
        ).scalars()
    ]
    return result


def _user_regie(session: Session, user: User) -> str:
    if user.regie_id is None:
        return ""
    regie = session.get(Regie, user.regie_id)
    return regie.slug if regie else ""


def _similar(request: Request, title: str, summary: str, exclude: str | None) -> list[Any]:
    """Up to three published fiches close to what is being written (information only)."""
    words = f"{title} {summary}".strip()
    if len(words) < 4:
        return []
    search = request.app.state.search
    results = search.search(
        search.parse({"q": [title or summary], "page_size": ["4"]}), source="hint"
    )
    return [hit for hit in results.hits if hit.slug != exclude][:3]


def _attachments(session: Session, writeup: WriteUp | None) -> list[Attachment]:
    if writeup is None or writeup.id is None:
        return []
    return list(
        session.execute(
            select(Attachment).where(Attachment.writeup_id == writeup.id).order_by(Attachment.id)
        ).scalars()
    )


def _form_page(
    request: Request,
    session: Session,
    *,
    form: forms.FicheForm,
    writeup: WriteUp | None,
    status_code: int = 200,
    previews: dict[str, str] | None = None,
    similar: list[Any] | None = None,
    conflict: dict[str, Any] | None = None,
    form_token: str | None = None,
    version: int | None = None,
    notice: str | None = None,
) -> Response:
    user = current_user(request)
    # A notice (the preview limit) is shown where flash messages are.
    shown = {"flash": {"kind": "error", "message": notice}, "messages": [notice]} if notice else {}
    return render(
        request,
        "contribute/form.html",
        {
            **shown,
            "form": form,
            "values": form.values,
            "errors": form.errors,
            "labels": {**forms.FIELD_LABELS, "form_token": "Formulaire", "quota": "Limite"},
            "sections": SECTIONS,
            "choices": _choices(session),
            "writeup": writeup,
            "revision": writeup is not None and is_revision(user, writeup),
            "attachments": _attachments(session, writeup),
            "max_attachments": MAX_PER_FICHE,
            "accepted": ",".join(sorted(KINDS)),
            "previews": previews,
            "similar": similar or [],
            "conflict": conflict,
            "form_token": form_token
            or issue_form_token(request.app.state.settings.secret_key, user.id),
            "version": version if version is not None else (writeup.version if writeup else None),
            "can_choose_regie": is_curator(user),
            "status_labels": STATUS_LABELS,
        },
        status_code=status_code,
    )


async def _read_form(request: Request) -> Any:
    try:
        return await request.form(
            max_files=MAX_PER_FICHE + 5, max_fields=400, max_part_size=200_000
        )
    except HTTPException:
        raise
    except Exception as exc:
        raise HTTPException(400) from exc


def _read_files(
    form: forms.FicheForm, existing: int
) -> tuple[list[tuple[str, str, bytes]], str | None]:
    """Read and check the uploaded files; return them, or a French error for the field."""
    if not form.files:
        return [], None
    if existing + len(form.files) > MAX_PER_FICHE:
        return [], (
            f"{MAX_PER_FICHE} pièces jointes au plus par fiche : celle-ci en a déjà {existing}, "
            f"vous en ajoutez {len(form.files)}."
        )
    accepted = []
    for upload in form.files:
        data = upload.file.read(10 * 1024 * 1024 + 1)  # called in a worker thread
        try:
            extension, _kind = check(upload.filename, data[:4096], len(data))
        except AttachmentError as exc:
            return [], str(exc)
        accepted.append((display_name(upload.filename), extension, data))
    return accepted, None


def _store_files(
    request: Request,
    session: Session,
    writeup: WriteUp,
    files: list[tuple[str, str, bytes]],
    user: User,
) -> list[Path]:
    """Write files under the data dir with random names; return their paths."""
    folder = request.app.state.settings.uploads_dir
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    written = []
    for name, extension, data in files:
        stored = new_stored_name(extension)
        path = folder / stored
        write_private(path, data)  # 0600: only the server's account reads uploads
        written.append(path)
        session.add(
            Attachment(
                writeup_id=writeup.id, stored_name=stored, original_name=name,
                content_type=KINDS[extension].content_type, size=len(data), uploaded_by=user.id,
            )
        )  # fmt: skip
    return written


def _quota_errors(
    request: Request, session: Session, user: User, *, new_fiche: bool, adding: int
) -> dict[str, str]:
    """French errors of the form when the account's quotas would be passed."""
    settings = request.app.state.settings
    errors = {}
    if new_fiche and (problem := drafts_quota_error(session, user.id, settings.drafts_per_day)):
        errors["quota"] = problem
    if problem := upload_quota_error(session, user.id, adding, settings.upload_quota_mb):
        errors["attachments"] = problem
    return errors


def _recheck_quotas(
    request: Request, session: Session, user: User, *, new_fiche: bool, adding: int
) -> None:
    """Within the write transaction, with the account's row locked: two requests sent at
    once cannot both pass the last free place (on SQLite, BEGIN IMMEDIATE serialises)."""
    session.execute(select(User.id).where(User.id == user.id).with_for_update())
    errors = _quota_errors(request, session, user, new_fiche=new_fiche, adding=adding)
    if errors:
        raise HTTPException(429, next(iter(errors.values())).capitalize())


# --- the form ----------------------------------------------------------------------------


@router.get("/contribuer", response_class=HTMLResponse)
def new_form(request: Request, user: UserDep) -> Response:
    with read_session(request.app.state.engine) as session:
        form = forms.FicheForm(values=forms.empty_values(_user_regie(session, user)))
        return _form_page(request, session, form=form, writeup=None)


@router.post("/contribuer", response_class=HTMLResponse)
async def create_fiche(request: Request, user: UserDep) -> Response:
    posted = await _read_form(request)
    return await run_in_threadpool(_handle_in_thread, request, user, posted, None)


@router.get("/fiches/{slug}/modifier", response_class=HTMLResponse)
def edit_form(request: Request, slug: str, user: UserDep) -> Response:
    with read_session(request.app.state.engine) as session:
        writeup = get_by_slug(session, slug)
        if writeup is None or not can_read(user, writeup):
            raise HTTPException(404)
        if not can_edit(user, writeup):
            raise HTTPException(403, "Cette fiche ne peut pas être modifiée dans son état actuel.")
        form = forms.FicheForm(values=forms.values_from_data(editable_data(session, writeup, user)))
        return _form_page(request, session, form=form, writeup=writeup)


@router.post("/fiches/{slug}/modifier", response_class=HTMLResponse)
async def update_fiche(request: Request, slug: str, user: UserDep) -> Response:
    posted = await _read_form(request)
    return await run_in_threadpool(_handle_in_thread, request, user, posted, slug)


def _handle_in_thread(request: Request, user: User, posted: Any, slug: str | None) -> Response:
    """The form's work (database, search, rendering) off the event loop, rendering bounded."""
    with time_limit(request.app.state.settings.render_seconds):
        return _handle(request, user, posted, slug=slug)


def _handle(request: Request, user: User, posted: Any, *, slug: str | None) -> Response:
    engine = request.app.state.engine
    action = posted.get("action") if isinstance(posted.get("action"), str) else "save"
    if action not in ("save", "preview", "submit"):
        action = "save"
    form = forms.parse(posted)
    form_token = posted.get("form_token") if isinstance(posted.get("form_token"), str) else None
    foreign_token = form_token is not None and not form_token_valid(
        request.app.state.settings.secret_key, user.id, form_token
    )  # issued to another account (or forged): refused, the typed text kept
    if foreign_token:
        form_token = None
    version_text = posted.get("version") if isinstance(posted.get("version"), str) else ""
    version = parse_id(version_text)  # ASCII digits, bounded: "²" or 2**63 is no version
    if version_text.strip() and version is None:  # a damaged form: refused, the text kept
        form.errors["form_token"] = VERSION_ERROR
    with read_session(engine) as session:
        writeup = get_by_slug(session, slug) if slug else None
        if slug and (writeup is None or not can_read(user, writeup)):
            raise HTTPException(404)
        if writeup is not None and not can_edit(user, writeup):
            raise HTTPException(403, "Cette fiche ne peut pas être modifiée dans son état actuel.")
        if not is_curator(user):
            form.values["regie"] = _user_regie(session, user)  # contributors write for their Régie
        known = Known.load(session)
        existing = len(_attachments(session, writeup))

        def page(status: int, **extra: Any) -> Response:
            return _form_page(
                request, session, form=form, writeup=writeup, status_code=status,
                form_token=form_token, version=version, **extra,
            )  # fmt: skip

        similar = _similar(
            request, form.values["title"], form.values["summary"], writeup.slug if writeup else None
        )
        if foreign_token:
            form.errors["form_token"] = FORM_TOKEN_ERROR
            return page(403, similar=similar)
        if action == "preview":
            if not _preview_limiter(request).allow(user.id):
                return page(429, similar=similar, notice=PREVIEW_LIMIT_ERROR)
            # Only what prevents a preview is reported; completeness is checked on save.
            texts = {}
            for section in SECTIONS:
                text = form.values[section.key]
                if not text.strip():
                    continue
                problem = check_section_text(section.key, text)
                if problem:
                    form.errors[section.key] = problem
                else:
                    texts[section.key] = text
            too_long = check_fiche_size({s.key: form.values[s.key] for s in SECTIONS})
            if too_long:  # checked before rendering: nothing is rendered
                form.errors.setdefault(*too_long)
                return page(422, similar=similar)
            try:
                previews = render_sections(texts)
            except RenderTooSlow as exc:
                form.errors[exc.key] = str(exc)
                return page(503 if isinstance(exc, RenderBusy) else 422, similar=similar)
            return page(422 if form.errors else 200, previews=previews, similar=similar)
        target_slug = writeup.slug if writeup else "nouvelle-fiche"
        form.errors = forms.check(form, known, slug=target_slug, complete=action == "submit")
        files, file_error = _read_files(form, existing)
        if file_error:
            form.errors["attachments"] = file_error
        adding = sum(len(data) for _name, _extension, data in files)
        for key, problem in _quota_errors(
            request, session, user, new_fiche=writeup is None, adding=adding
        ).items():
            form.errors.setdefault(key, problem)
        if form.errors:
            return page(422, similar=similar)
        if writeup is not None and version is not None and version != writeup.version:
            current = forms.values_from_data(editable_data(session, writeup, user))
            return page(409, conflict=current, similar=similar)

    # Write: one transaction for the fiche, its files, its audit events, its journal entry.
    written: list[Path] = []
    try:
        with write_session(engine) as session:
            actor = session.get(User, user.id)
            if writeup is None:
                if form_token:
                    used = session.get(FormToken, form_token)
                    if used is not None:  # the same form sent twice: no second fiche
                        return RedirectResponse(
                            f"/fiches/{used.used_slug}/modifier", status_code=303
                        )
                _recheck_quotas(request, session, actor, new_fiche=True, adding=adding)
                new_slug = unique_slug(session, form.values["title"])
                target = create(
                    session, user=actor, data=form.data(new_slug), submit=action == "submit"
                )
                if form_token:
                    session.add(FormToken(token=form_token, user_id=actor.id, used_slug=new_slug))
            else:
                if adding:
                    _recheck_quotas(request, session, actor, new_fiche=False, adding=adding)
                target = get_by_slug(session, writeup.slug, for_update=True)
                save(session, user=actor, writeup=target, data=form.data(target.slug),
                     version=version, submit=action == "submit")  # fmt: skip
            written = _store_files(request, session, target, files, actor)
            target_slug = target.slug
            submitted = action == "submit"
    except IntegrityError:
        for path in written:
            path.unlink(missing_ok=True)
        with read_session(engine) as session:
            used = session.get(FormToken, form_token) if form_token else None
        if used is not None:
            return RedirectResponse(f"/fiches/{used.used_slug}/modifier", status_code=303)
        raise
    except RenderTooSlow as exc:  # nothing was committed: the form again, everything kept
        for path in written:
            path.unlink(missing_ok=True)
        form.errors[exc.key] = str(exc)
        with read_session(engine) as session:
            writeup = get_by_slug(session, writeup.slug) if writeup is not None else None
            return _form_page(request, session, form=form, writeup=writeup, form_token=form_token,
                              status_code=503 if isinstance(exc, RenderBusy) else 422,
                              version=version)  # fmt: skip
    except StaleVersion:
        for path in written:
            path.unlink(missing_ok=True)
        with read_session(engine) as session:
            writeup = get_by_slug(session, writeup.slug)
            current = forms.values_from_data(editable_data(session, writeup, user))
            return _form_page(request, session, form=form, writeup=writeup, status_code=409,
                              conflict=current, version=version)  # fmt: skip
    except (PermissionDenied, TransitionError) as exc:
        for path in written:
            path.unlink(missing_ok=True)
        raise HTTPException(
            409 if isinstance(exc, TransitionError) else 403, str(exc) or None
        ) from exc
    if submitted:
        message = "Merci ! Votre fiche est envoyée à l'équipe du réseau pour relecture."
        return done(request, "/mes-fiches", message)
    return done(request, f"/fiches/{target_slug}/modifier", "Brouillon enregistré.")


# --- attachments -----------------------------------------------------------------------


@router.get("/fiches/{slug}/pieces-jointes/{attachment_id}")
def download(request: Request, slug: str, attachment_id: DbId) -> Response:
    user = current_user(request)
    with read_session(request.app.state.engine) as session:
        writeup = get_by_slug(session, slug)
        attachment = session.get(Attachment, attachment_id)
        if (
            writeup is None
            or attachment is None
            or attachment.writeup_id != writeup.id
            or not can_read(user, writeup)
        ):
            raise HTTPException(404)
    path = request.app.state.settings.uploads_dir / attachment.stored_name
    if not path.is_file():
        raise HTTPException(404)
    extension = Path(attachment.stored_name).suffix
    kind = KINDS.get(extension)
    disposition = "inline" if kind is not None and kind.inline else "attachment"
    return FileResponse(
        path,
        media_type=attachment.content_type,
        headers={
            "Content-Disposition": f"{disposition}; filename*=UTF-8''{quote(attachment.original_name)}",
            "Content-Security-Policy": "sandbox",
            "X-Content-Type-Options": "nosniff",
            "Cache-Control": "private, no-store",
        },
    )


# --- "Mes fiches" ----------------------------------------------------------------------


@router.get("/mes-fiches", response_class=HTMLResponse)
def mine(request: Request, user: UserDep) -> Response:
    with read_session(request.app.state.engine) as session:
        stmt = select(WriteUp).order_by(WriteUp.updated_at.desc())  # type: ignore[attr-defined]
        conditions = [WriteUp.author_id == user.id]
        if user.regie_id is not None:
            conditions.append(WriteUp.regie_id == user.regie_id)
        writeups = list(session.execute(stmt.where(or_(*conditions))).scalars())
        ids = [w.id for w in writeups]
        comments: dict[int, list[Comment]] = {}
        if ids:
            for comment in session.execute(
                select(Comment).where(Comment.writeup_id.in_(ids)).order_by(Comment.at.desc())  # type: ignore[attr-defined]
            ).scalars():
                comments.setdefault(comment.writeup_id, []).append(comment)
        counts = dict(
            session.execute(
                select(WriteUp.status, func.count())
                .where(or_(*conditions))
                .group_by(WriteUp.status)
            ).all()
        )
        return render(
            request,
            "contribute/mine.html",
            {
                "writeups": writeups,
                "comments": comments,
                "status_labels": STATUS_LABELS,
                "counts": counts,
                "can_edit": lambda w: can_edit(user, w),
            },
        )


# --- "Signaler ce besoin" (from an empty search) --------------------------------------------

# The search's filters, kept with the need (the year facet is a range in the query string).
NEED_FILTERS = (*(f for f in FACETS if f != "year"), "year_min", "year_max")


def _store_need(engine: Any, need: CapitalisationRequest) -> None:
    """Write a reported need (a database write: never on the event loop)."""
    with write_session(engine) as session:
        session.add(need)


NEED_LIMIT_ERROR = (
    "Trop de besoins signalés depuis votre connexion en peu de temps : réessayez dans "
    "quelques minutes. Merci de votre patience."
)
# Whatever the addresses, at most this many times the per-address limit in one window
# (counted in the database, so it holds across worker processes and machines).
NEEDS_GLOBAL_FACTOR = 10
CLICKS_PER_WINDOW = 30  # opened search results counted per address and window


def client_address(request: Request) -> str:
    return request.client.host if request.client else "inconnue"


def anonymous_limiter(request: Request, name: str, limit: int, window: float) -> RateLimiter:
    """A per-address limiter of this application, in memory (one per server process)."""
    state = request.app.state
    with _LIMITER_LOCK:
        limiters = getattr(state, "anonymous_limiters", None)
        if limiters is None:
            limiters = state.anonymous_limiters = {}
        limiter = limiters.get(name)
        if limiter is None:
            limiter = limiters[name] = RateLimiter(limit, window)
    return limiter


def _needs_below_global_cap(engine: Any, limit: int, window_minutes: int) -> bool:
    since = utcnow() - timedelta(minutes=window_minutes)
    with read_session(engine) as session:
        recent = session.execute(
            select(func.count())
            .select_from(CapitalisationRequest)
            .where(CapitalisationRequest.at >= since)
        ).scalar_one()
    return recent < limit * NEEDS_GLOBAL_FACTOR


@router.post("/besoins")
async def report_need(request: Request) -> Response:
    """Record a need for a fiche that does not exist yet; no personal data is asked for."""
    settings = request.app.state.settings
    limit, minutes = settings.anonymous_reports_per_window, settings.anonymous_window_minutes
    if limit > 0 and not (
        await run_in_threadpool(_needs_below_global_cap, request.app.state.engine, limit, minutes)
        and anonymous_limiter(request, "needs", limit, minutes * 60).allow(client_address(request))
    ):
        raise HTTPException(429, NEED_LIMIT_ERROR)
    form = await request.form()
    query = form.get("q") if isinstance(form.get("q"), str) else ""
    message = form.get("message") if isinstance(form.get("message"), str) else ""
    filters: dict[str, list[str]] = {}
    for name in NEED_FILTERS:
        values = [v[:100] for v in form.getlist(name) if isinstance(v, str) and v][:20]
        if values:
            filters[name] = values
    need = CapitalisationRequest(
        query=query.strip()[:200], filters=filters, message=message.strip()[:2000]
    )
    await run_in_threadpool(_store_need, request.app.state.engine, need)
    back = "/fiches" + (f"?q={quote(query)}" if query else "")
    response = RedirectResponse(back, status_code=303)
    set_flash(
        response,
        request,
        "Merci : votre besoin est transmis à l'équipe du réseau, qui cherchera une Régie pour en faire une fiche.",
    )
    return response
