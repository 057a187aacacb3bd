"""Contributors' pages: the fiche form, attachments, "Mes fiches"."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response, StreamingResponse
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session
from starlette.concurrency import iterate_in_threadpool, run_in_threadpool
from starlette.types import Receive, Scope, Send

from resource_centre import attachments, contributions
from resource_centre.attachments import (
    KINDS,
    MAX_PER_FICHE,
    AttachmentError,
    QuotaExceeded,
    Quotas,
    check,
    display_name,
)
from resource_centre.auth import form_token_valid
from resource_centre.contributions import AlreadySent
from resource_centre.db import read_session, write_session
from resource_centre.models import Attachment, User
from resource_centre.ratelimit import shared_limiter
from resource_centre.rendering import RenderBusy, RenderTooSlow, render_sections, time_limit
from resource_centre.storage import Download, MissingAttachment, StorageUnavailable
from resource_centre.taxonomy import KIND_LABELS, SECTIONS, STATUS_LABELS
from resource_centre.web import contribute_form, forms
from resource_centre.web.contribute_form import SUMMARY_ACTIONS, similar, user_regie
from resource_centre.web.deps import DbId, UserDep, current_user, done, parse_id, render
from resource_centre.web.sessions import reports_nul_itself
from resource_centre.web.urls import path_for
from resource_centre.writeups import (
    Known,
    PermissionDenied,
    StaleVersion,
    TransitionError,
    can_edit,
    can_read,
    check_fiche_size,
    check_section_text,
    editable_data,
    get_by_slug,
    is_curator,
    same_regie,
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
STORAGE_ERROR = (
    "les pièces jointes n'ont pas pu être enregistrées : leur stockage est momentanément "
    "indisponible. Rien n'a été enregistré ; votre texte est conservé ci-dessous. Réessayez "
    "dans un moment en choisissant de nouveau vos fichiers."
)
FORM_TOKEN_ERROR = (
    "ce formulaire a été ouvert par un autre compte ou a expiré : votre texte est conservé "
    "ci-dessous, enregistrez de nouveau."
)


DRAFTED_NOTE = (
    " Le résumé, laissé vide, a été écrit à partir de vos réponses : relisez-le quand vous voulez."
)
PREVIEW_LIMIT = 20  # previews per user and minute, in each server process
PREVIEW_LIMIT_ERROR = (
    f"Vous avez demandé plus de {PREVIEW_LIMIT} aperçus en une minute : attendez un instant "
    "avant le suivant. Votre texte est conservé ci-dessous et vous pouvez l'enregistrer."
)


def _preview_allowed(request: Request, user: User) -> bool:
    """At most PREVIEW_LIMIT previews a minute per user, in each server process (each
    rendering is bounded in time, which is what matters here)."""
    return shared_limiter(request.app.state, "preview", PREVIEW_LIMIT).allow(user.id)


# --- helpers ------------------------------------------------------------------------------


def _form_page(request: Request, session: Session, **kwargs: Any) -> Response:
    return contribute_form.form_page(request, session, **kwargs)


async def _read_form(request: Request) -> Any:
    """The form as `csrf_protect` parsed it, within its limits (15 files, 400 fields), before
    this route ran: Starlette keeps the parsed form for the request."""
    return await request.form()


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


def _quotas(request: Request) -> Quotas:
    settings = request.app.state.settings
    return Quotas(settings.drafts_per_day, settings.upload_quota_mb)


# --- the form ----------------------------------------------------------------------------


@router.get("/contribuer", response_class=HTMLResponse)
def new_form(request: Request, user: UserDep, kind: str | None = None) -> Response:
    """The guided fiche form, or with `?kind=express` the fiche express."""
    kind = "express" if kind == "express" else "fiche"
    with read_session(request.app.state.engine) as session:
        form = forms.FicheForm(values=forms.empty_values(user_regie(session, user), kind=kind))
        return _form_page(request, session, form=form, writeup=None)


@router.post("/contribuer", response_class=HTMLResponse)
@reports_nul_itself  # forms.nul_errors: 422, the text kept
async def create_fiche(request: Request, user: UserDep) -> Response:
    posted = await _read_form(request)
    return await run_in_threadpool(_handle_in_thread, request, user, posted, None)


@router.get("/fiches/{slug}/modifier", response_class=HTMLResponse)
def edit_form(request: Request, slug: str, user: UserDep, kind: str | None = None) -> Response:
    """A fiche's form; `?kind=fiche` on a fiche express grows it into the full guided form,
    pre-filled with its answers (saved, it becomes a full fiche at the same address)."""
    with read_session(request.app.state.engine) as session:
        writeup = get_by_slug(session, slug)
        if writeup is None or not can_read(user, writeup):
            raise HTTPException(404)
        if not can_edit(user, writeup):
            raise HTTPException(403, "Cette fiche ne peut pas être modifiée dans son état actuel.")
        data = editable_data(session, writeup, user)
        # The figures as numbers too: the checklist beside the form reads them.
        form = forms.FicheForm(values=forms.values_from_data(data), figures=forms.figures_of(data))
        if kind == "fiche":  # growing an express; a full fiche is never made an express
            form.values["kind"] = "fiche"
        return _form_page(request, session, form=form, writeup=writeup)


@router.post("/fiches/{slug}/modifier", response_class=HTMLResponse)
@reports_nul_itself
async def update_fiche(request: Request, slug: str, user: UserDep) -> Response:
    posted = await _read_form(request)
    return await run_in_threadpool(_handle_in_thread, request, user, posted, slug)


def _handle_in_thread(request: Request, user: User, posted: Any, slug: str | None) -> Response:
    """The form's work (database, search, rendering) off the event loop, rendering bounded."""
    with time_limit(request.app.state.settings.render_seconds):
        return _handle(request, user, posted, slug=slug)


def _handle(request: Request, user: User, posted: Any, *, slug: str | None) -> Response:
    engine = request.app.state.engine
    assert user.id is not None, "a signed-in account is stored"
    action = posted.get("action") if isinstance(posted.get("action"), str) else "save"
    if action not in ("save", "preview", "submit", *SUMMARY_ACTIONS):
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
            form.values["regie"] = user_regie(session, user)  # contributors write for their Régie
        forms.keep_unposted(
            form, editable_data(session, writeup, user) if writeup is not None else None
        )
        known = Known.load(session)
        existing = len(attachments.of_writeup(session, writeup))

        def page(status: int, **extra: Any) -> Response:
            return _form_page(
                request, session, form=form, writeup=writeup, status_code=status,
                form_token=form_token, version=version, **extra,
            )  # fmt: skip

        close = similar(
            request, form.values["title"], form.values["summary"], writeup.slug if writeup else None
        )
        if foreign_token:
            form.errors["form_token"] = FORM_TOKEN_ERROR
            return page(403, similar=close)
        if action in SUMMARY_ACTIONS:  # nothing is saved: the summary proposed, the rest kept
            extra = contribute_form.summary_draft(form, action)
            return page(
                extra.pop("status_code", 422 if form.errors else 200), similar=close, **extra
            )
        if action == "preview":
            if not _preview_allowed(request, user):
                return page(429, similar=close, notice=PREVIEW_LIMIT_ERROR)
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
                return page(422, similar=close)
            try:
                previews = render_sections(texts)
            except RenderTooSlow as exc:
                form.errors[exc.key] = str(exc)
                return page(503 if isinstance(exc, RenderBusy) else 422, similar=close)
            return page(422 if form.errors else 200, previews=previews, similar=close)
        target_slug = writeup.slug if writeup else "nouvelle-fiche"
        drafted = forms.draft_express_summary(form)  # an express needs one: from its answers
        form.errors = forms.check(form, known, slug=target_slug, complete=action == "submit")
        files, file_error = _read_files(form, existing)
        if file_error:
            form.errors["attachments"] = file_error
        adding = sum(len(data) for _name, _extension, data in files)
        for key, problem in attachments.quota_errors(
            session, user.id, _quotas(request), new_fiche=writeup is None, adding=adding
        ).items():
            form.errors.setdefault(key, problem)
        if form.errors:
            return page(422, similar=close)
        if writeup is not None and version is not None and version != writeup.version:
            current = forms.values_from_data(editable_data(session, writeup, user))
            return page(409, conflict=current, similar=close)

    def form_again(status_code: int, key: str, message: str) -> Response:
        """Nothing was written: the form again with its error, everything typed kept."""
        form.errors[key] = message
        with read_session(engine) as session:
            current = get_by_slug(session, writeup.slug) if writeup is not None else None
            return _form_page(request, session, form=form, writeup=current, form_token=form_token,
                              status_code=status_code, version=version)  # fmt: skip

    # The files go to the store first, outside the write transaction: uploads (up to ten
    # files of 10 MiB to S3) never hold the database's write lock or the fiche's row lock.
    store = request.app.state.attachments
    try:
        staged = attachments.put_files(store, files)
    except StorageUnavailable:
        return form_again(503, "attachments", STORAGE_ERROR)
    written = [item.stored_name for item in staged]
    # Write: one transaction for the fiche, its files' rows, its audit events, its journal
    # entry. If it fails, the files it would have named are deleted, except those whose rows
    # a commit reported as failed did write after all (`discard_unused` reads again).
    quotas = _quotas(request)
    try:
        try:
            with write_session(engine) as session:
                if writeup is None:
                    target = contributions.create_fiche(
                        session, user=user, title=form.values["title"], data_for=form.data,
                        submit=action == "submit", form_token=form_token, files=staged,
                        quotas=quotas,
                    )  # fmt: skip
                else:
                    target = contributions.save_fiche(
                        session, user=user, slug=writeup.slug, data_for=form.data,
                        version=version, submit=action == "submit", files=staged,
                        quotas=quotas,
                    )  # fmt: skip
                target_slug = target.slug
                submitted = action == "submit"
        except BaseException:
            attachments.discard_unused(engine, store, written)
            raise
    except AlreadySent as exc:  # the same form sent twice: no second fiche
        return RedirectResponse(path_for(request, "edit_form", slug=exc.slug), status_code=303)
    except QuotaExceeded as exc:  # another request of the account took the room meanwhile
        return form_again(429, exc.field or "attachments", str(exc))
    except IntegrityError:
        with read_session(engine) as session:
            used = contributions.form_token_slug(session, form_token)
        if used is not None:
            return RedirectResponse(path_for(request, "edit_form", slug=used), status_code=303)
        raise
    except RenderTooSlow as exc:  # nothing was committed
        return form_again(503 if isinstance(exc, RenderBusy) else 422, exc.key, str(exc))
    except StaleVersion:
        with read_session(engine) as session:
            # Only an edit has a version to be stale, and fiches are never deleted.
            writeup = get_by_slug(session, writeup.slug) if writeup is not None else None
            if writeup is None:
                raise HTTPException(404) from None
            current = forms.values_from_data(editable_data(session, writeup, user))
            return _form_page(request, session, form=form, writeup=writeup, status_code=409,
                              conflict=current, version=version)  # fmt: skip
    except (PermissionDenied, TransitionError) as exc:
        raise HTTPException(
            409 if isinstance(exc, TransitionError) else 403, str(exc) or None
        ) from exc
    kept = DRAFTED_NOTE if drafted else ""
    if submitted:
        message = "Merci ! Votre fiche est envoyée à l'équipe du réseau pour relecture."
        return done(request, path_for(request, "mine"), message + kept)
    return done(
        request, path_for(request, "edit_form", slug=target_slug), "Brouillon enregistré." + kept
    )


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
            # A file of a proposed revision: only its reviewers and its Régie, before publishing.
            or (attachment.pending and not (is_curator(user) or same_regie(user, writeup)))
        ):
            raise HTTPException(404)
    extension = Path(attachment.stored_name).suffix
    kind = KINDS.get(extension)
    disposition = "inline" if kind is not None and kind.inline else "attachment"
    headers = {
        "Content-Disposition": f"{disposition}; filename*=UTF-8''{quote(attachment.original_name)}",
        "Content-Security-Policy": "sandbox",
        "X-Content-Type-Options": "nosniff",
        "Cache-Control": "private, no-store",
    }
    # GET only (HEAD answers 405 before this runs): no request opens a file it does not send.
    try:  # opened before the answer starts: a missing file is still a 404
        opened = request.app.state.attachments.open(attachment.stored_name)
    except MissingAttachment:
        raise HTTPException(404) from None
    headers["Content-Length"] = str(opened.size)
    # Streamed in chunks from the folder or the bucket: never a whole file in memory.
    return DownloadResponse(opened, media_type=attachment.content_type, headers=headers)


class DownloadResponse(StreamingResponse):
    """An attachment streamed from the store, its file or connection closed however the
    answer ends (sent, the client gone, cancelled), not whenever the collector gets to it."""

    def __init__(self, opened: Download, **kwargs: Any) -> None:
        self.opened = opened
        super().__init__(self._chunks(), **kwargs)

    async def _chunks(self) -> AsyncIterator[bytes]:
        try:
            async for chunk in iterate_in_threadpool(self.opened):
                yield chunk
        finally:
            self.opened.close()  # quick: a file or a socket closed, no network round trip

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await super().__call__(scope, receive, send)
        finally:
            # No chunk is being read by now: a cancelled read in a worker thread is waited for.
            self.opened.close()


# --- "Mes fiches" ----------------------------------------------------------------------


@router.get("/mes-fiches", response_class=HTMLResponse)
def mine(request: Request, user: UserDep) -> Response:
    with read_session(request.app.state.engine) as session:
        return render(
            request,
            "contribute/mine.html",
            {
                **contributions.my_fiches(session, user),
                "status_labels": STATUS_LABELS,
                "kind_labels": KIND_LABELS,
                "can_edit": lambda w: can_edit(user, w),
            },
        )
