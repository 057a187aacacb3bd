"""Fiches: their validated content, queries, saving and workflow transitions.

Functions here take keyword arguments and commit at most once per call.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import fields, replace
from datetime import date
from typing import Any

from slugify import slugify
from sqlalchemy import func
from sqlmodel import Session, col, select

from resource_centre import notifications
from resource_centre.errors import DomainError, Kind
from resource_centre.fiche_data import (
    CORPUS_ONLY_FIELDS,
    SLUG_RE,
    AttachmentRef,
    FicheData,
    Known,
    check_fiche_size,
    check_section_text,
    join_partner,
    normalized,
    split_partner,
    validate,
)
from resource_centre.models import (
    AuditEvent,
    Comment,
    Regie,
    WriteUp,
    WriteUpRevision,
    utcnow,
)
from resource_centre.rendering import render_markdown, render_sections, sections_plain_text

# Re-exported: the content of a fiche and its rules live in fiche_data.py.
__all__ = [
    "SLUG_RE",
    "AttachmentRef",
    "FicheData",
    "Known",
    "check_fiche_size",
    "check_section_text",
    "join_partner",
    "normalized",
    "split_partner",
    "validate",
]
MAX_SLUG_CHARS = 120


def data_from_writeup(writeup: WriteUp, regie_slug: str | None) -> FicheData:
    return FicheData(
        slug=writeup.slug,
        title=writeup.title,
        summary=writeup.summary,
        regie=regie_slug,
        themes=list(writeup.themes),
        activity=writeup.activity,
        audiences=list(writeup.audiences),
        schemes=list(writeup.schemes),
        partners=list(writeup.partners),
        year_start=writeup.year_start,
        year_end=writeup.year_end,
        status=writeup.status,
        featured=writeup.featured,
        published_at=writeup.published_at,
        sections={k: v for k, v in writeup.sections.items() if v},
        kind=writeup.kind,
        figures=dict(writeup.figures or {}),
        interview_requested=writeup.interview_requested,
        network_note=writeup.network_note,
    )


def _content(data: FicheData) -> dict[str, Any]:
    """What a form or a revision carries (not the corpus-only note and attachments)."""
    return {
        f.name: getattr(data, f.name) for f in fields(FicheData) if f.name not in CORPUS_ONLY_FIELDS
    }


Rendered = tuple[dict[str, str], str]  # sections' HTML, plain text of the sections


def render_data(data: FicheData) -> Rendered:
    """Render a fiche's sections as `apply_data` stores them (HTML and plain text)."""
    sections = normalized(data).sections
    return render_sections(sections), sections_plain_text(sections)


def apply_data(
    session: Session,
    writeup: WriteUp,
    data: FicheData,
    *,
    regie_ids: Mapping[str, int],
    rendered: Rendered | None = None,
    corpus: bool = False,
) -> bool:
    """Copy validated content onto `writeup`, rendering its sections; False if unchanged.

    `rendered`, when given, is `render_data(data)` computed ahead (an import renders new
    fiches in worker processes). Raises SectionTooLarge if a section is over the limit
    (validate() reports it first), RenderTooSlow if rendering overruns the current
    `rendering.time_limit`.
    """
    data = normalized(data)
    note_changed = corpus and (writeup.network_note or None) != data.network_note
    if writeup.id is not None and not note_changed:
        current_regie = next((s for s, i in regie_ids.items() if i == writeup.regie_id), None)
        if _content(data_from_writeup(writeup, current_regie)) == _content(data):
            return False
    if note_changed:
        writeup.network_note = data.network_note
        writeup.network_note_html = (
            render_markdown(data.network_note) if data.network_note else None
        )
    html, plain = rendered if rendered is not None else render_data(data)
    writeup.slug = data.slug
    writeup.title = data.title
    writeup.summary = data.summary
    writeup.regie_id = regie_ids[data.regie] if data.regie else None
    writeup.themes = list(data.themes)
    writeup.activity = data.activity
    writeup.audiences = list(data.audiences)
    writeup.schemes = list(data.schemes)
    writeup.partners = list(data.partners)
    writeup.year_start = data.year_start
    writeup.year_end = data.year_end
    writeup.status = data.status
    writeup.featured = data.featured
    writeup.published_at = data.published_at
    writeup.sections = data.sections
    writeup.kind = data.kind
    writeup.figures = dict(data.figures)
    writeup.interview_requested = data.interview_requested
    writeup.sections_html = html
    writeup.plain_text = plain
    if writeup.id is not None:
        writeup.version += 1
        writeup.updated_at = utcnow()
    session.add(writeup)
    return True


def regie_ids(session: Session) -> dict[str, int]:
    return {slug: id_ for slug, id_ in session.execute(select(Regie.slug, col(Regie.id)))}


def unique_slug(session: Session, title: str) -> str:
    """A URL-safe slug derived from `title`, made unique with a number if needed."""
    base = slugify(title, max_length=80, word_boundary=True) or "fiche"
    slug, n = base, 2
    while session.execute(select(col(WriteUp.id)).where(WriteUp.slug == slug)).first():
        slug, n = f"{base}-{n}", n + 1
    return slug


def get_by_slug(session: Session, slug: str, *, for_update: bool = False) -> WriteUp | None:
    stmt = select(WriteUp).where(WriteUp.slug == slug)
    if for_update:
        stmt = stmt.with_for_update()
    return session.execute(stmt).scalars().first()


def record(
    session: Session,
    *,
    action: str,
    writeup: WriteUp | None = None,
    actor_id: int | None = None,
    comment: str | None = None,
    **detail: Any,
) -> None:
    """Add an audit event to the current transaction, and the notifications it causes."""
    event = AuditEvent(
        action=action,
        actor_id=actor_id,
        writeup_id=writeup.id if writeup else None,
        slug=writeup.slug if writeup else None,
        comment=comment,
        detail=detail,
    )
    session.add(event)
    notifications.on_event(session, event)


def snapshot(session: Session, writeup: WriteUp, *, actor_id: int | None = None) -> None:
    """Keep a copy of the fiche as it is now (its revision history)."""
    regie = session.get(Regie, writeup.regie_id) if writeup.regie_id else None
    data = _content(data_from_writeup(writeup, regie.slug if regie else None))
    data["published_at"] = data["published_at"].isoformat() if data["published_at"] else None
    assert writeup.id is not None, "snapshot of a fiche not flushed yet"
    session.add(WriteUpRevision(writeup_id=writeup.id, author_id=actor_id, snapshot=data))


def count_fiches(session: Session, *, status: str | None = None) -> int:
    stmt = select(func.count()).select_from(WriteUp)
    if status:
        stmt = stmt.where(WriteUp.status == status)
    return int(session.execute(stmt).scalar_one())


# ---------------------------------------------------------------------------------------
# Permissions and workflow (contract section 8). Routes check too; these are the rule.


class PermissionDenied(DomainError):
    """The user may not do this (403, or 404 when the fiche must stay invisible)."""

    default_kind = Kind.FORBIDDEN


class TransitionError(DomainError):
    """The action is not possible in the fiche's current state (409, French message)."""

    default_kind = Kind.CONFLICT


class StaleVersion(DomainError):
    """Someone saved the fiche since the form was opened (409)."""

    default_kind = Kind.CONFLICT


CONTRIBUTOR_EDITABLE = frozenset({"draft", "changes_requested"})


def is_curator(user: Any) -> bool:
    return user is not None and user.role in ("curator", "admin")


def same_regie(user: Any, writeup: WriteUp) -> bool:
    return user is not None and user.regie_id is not None and user.regie_id == writeup.regie_id


def can_read(user: Any, writeup: WriteUp) -> bool:
    """Published fiches for everyone; others for curators and the Régie's contributors."""
    if writeup.status == "published":
        return True
    return is_curator(user) or same_regie(user, writeup)


def can_edit(user: Any, writeup: WriteUp) -> bool:
    if is_curator(user):
        return True
    if not same_regie(user, writeup):
        return False
    if writeup.status == "published":  # through a proposed revision
        return writeup.pending_status in (None, "draft", "changes_requested")
    return writeup.status in CONTRIBUTOR_EDITABLE


def is_revision(user: Any, writeup: WriteUp) -> bool:
    """True when an edit by `user` goes to a proposed revision rather than the fiche."""
    return writeup.status == "published" and not is_curator(user)


def editable_data(session: Session, writeup: WriteUp, user: Any) -> FicheData:
    """What the edit form shows: the proposed revision if there is one, else the fiche."""
    regie = session.get(Regie, writeup.regie_id) if writeup.regie_id else None
    current = data_from_writeup(writeup, regie.slug if regie else None)
    if writeup.pending and is_revision(user, writeup):
        return fiche_data_from_json(writeup.pending, slug=writeup.slug)
    return current


def fiche_data_to_json(data: FicheData) -> dict[str, Any]:
    values = _content(normalized(data))
    values["published_at"] = values["published_at"].isoformat() if values["published_at"] else None
    return values


def fiche_data_from_json(values: Mapping[str, Any], *, slug: str) -> FicheData:
    known_fields = {f.name for f in fields(FicheData)}
    data = FicheData(
        slug=slug, **{k: v for k, v in values.items() if k in known_fields and k != "slug"}
    )
    if isinstance(data.published_at, str):
        data.published_at = date.fromisoformat(data.published_at)
    return data


def create(session: Session, *, user: Any, data: FicheData, submit: bool = False) -> WriteUp:
    """Create a fiche as a draft (or submitted); the caller validated `data`."""
    data = replace(
        data, status="submitted" if submit else "draft", featured=False, published_at=None
    )
    writeup = WriteUp(slug=data.slug, title=data.title, author_id=getattr(user, "id", None))
    apply_data(session, writeup, data, regie_ids=regie_ids(session))
    session.flush()
    record(session, action="create", writeup=writeup, actor_id=getattr(user, "id", None))
    if submit:
        record(session, action="submit", writeup=writeup, actor_id=getattr(user, "id", None))
    return writeup


def save(
    session: Session,
    *,
    user: Any,
    writeup: WriteUp,
    data: FicheData,
    version: int | None,
    submit: bool = False,
) -> WriteUp:
    """Save an edit (and optionally submit it); refuses a stale version or a forbidden edit."""
    if not can_edit(user, writeup):
        raise PermissionDenied
    if version is not None and version != writeup.version:
        raise StaleVersion
    actor = getattr(user, "id", None)
    if is_revision(user, writeup):
        writeup.pending = fiche_data_to_json(replace(data, slug=writeup.slug))
        writeup.pending_status = "submitted" if submit else "draft"
        writeup.version += 1
        writeup.updated_at = utcnow()
        session.add(writeup)
        record(session, action="revise", writeup=writeup, actor_id=actor)
        if submit:
            record(session, action="submit_revision", writeup=writeup, actor_id=actor)
        return writeup
    status = writeup.status
    if submit:
        if status not in CONTRIBUTOR_EDITABLE:
            raise TransitionError(
                f"Cette fiche ne peut pas être soumise : elle est {STATUS_WORDS[status]}."
            )
        status = "submitted"
    kept = replace(
        data,
        slug=writeup.slug,
        status=status,
        featured=writeup.featured,
        published_at=writeup.published_at,
    )
    changed = apply_data(session, writeup, kept, regie_ids=regie_ids(session))
    if changed:
        record(session, action="edit", writeup=writeup, actor_id=actor)
    if submit:
        record(session, action="submit", writeup=writeup, actor_id=actor)
    return writeup


STATUS_WORDS = {
    "draft": "en brouillon",
    "submitted": "en relecture",
    "changes_requested": "en attente de modifications",
    "published": "publiée",
    "archived": "archivée",
}
CURATOR_ACTIONS = ("publish", "request_changes", "archive", "feature", "unfeature")


def transition(
    session: Session, *, user: Any, writeup: WriteUp, action: str, comment: str = ""
) -> str:
    """Apply a curator's action; return a French confirmation. Raises on a refused one."""
    if not is_curator(user):
        raise PermissionDenied
    actor = user.id
    comment = comment.strip()
    revision = writeup.status == "published" and writeup.pending_status == "submitted"
    if action == "publish":
        if revision:
            data = fiche_data_from_json(writeup.pending or {}, slug=writeup.slug)
            kept = replace(
                data,
                status="published",
                featured=writeup.featured,
                published_at=writeup.published_at,
            )
            apply_data(session, writeup, kept, regie_ids=regie_ids(session))
            writeup.pending, writeup.pending_status = None, None
            message = "La révision est publiée."
        elif writeup.status == "submitted":
            writeup.status = "published"
            writeup.published_at = writeup.published_at or utcnow().date()
            writeup.version += 1
            message = "La fiche est publiée."
        else:
            raise TransitionError(
                f"Impossible de publier : la fiche est {STATUS_WORDS[writeup.status]} et n'a pas été soumise."
            )
        writeup.reviewed_at = utcnow()
        snapshot(session, writeup, actor_id=actor)
    elif action == "request_changes":
        if not comment:
            raise TransitionError("Expliquez les modifications demandées dans le commentaire.")
        if revision:
            writeup.pending_status = "changes_requested"
        elif writeup.status == "submitted":
            writeup.status = "changes_requested"
        else:
            raise TransitionError(
                f"Impossible de demander des modifications : la fiche est {STATUS_WORDS[writeup.status]}."
            )
        writeup.version += 1
        assert writeup.id is not None, "a fiche under review is stored"
        session.add(
            Comment(writeup_id=writeup.id, author_id=actor, kind="request_changes", body=comment)
        )
        message = "Les modifications sont demandées ; la Régie en est informée sur sa page « Mes fiches »."
    elif action == "archive":
        if writeup.status != "published":
            raise TransitionError(
                f"Seule une fiche publiée peut être archivée ; celle-ci est {STATUS_WORDS[writeup.status]}."
            )
        writeup.status, writeup.featured = "archived", False
        writeup.version += 1
        message = "La fiche est archivée : elle n'apparaît plus dans la bibliothèque."
    elif action in ("feature", "unfeature"):
        if writeup.status != "published":
            raise TransitionError("Seule une fiche publiée peut être mise en avant.")
        wanted = action == "feature"
        if writeup.featured == wanted:
            raise TransitionError(
                "La fiche est déjà mise en avant."
                if wanted
                else "La fiche n'est pas mise en avant."
            )
        writeup.featured = wanted
        writeup.version += 1
        message = (
            "La fiche est mise en avant sur l'accueil."
            if wanted
            else "La fiche n'est plus mise en avant."
        )
    else:
        raise TransitionError(f"Action inconnue « {action[:40]} ».")
    writeup.updated_at = utcnow()
    session.add(writeup)
    record(session, action=action, writeup=writeup, actor_id=actor, comment=comment or None)
    return message
