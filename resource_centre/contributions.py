"""What the contributor form writes, in one transaction: a new fiche (once per form token)
or an edit, the rows of their attachments (the files are put in the store before the
transaction opens), within the account's quotas; and « Mes fiches »."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sqlalchemy import func, or_, update
from sqlmodel import Session, col, select

from resource_centre.attachments import Quotas, StagedFile, add_rows, recheck_quotas
from resource_centre.errors import DomainError, Kind
from resource_centre.models import Attachment, Comment, FormToken, User, WriteUp
from resource_centre.writeups import (
    FicheData,
    PermissionDenied,
    create,
    get_by_slug,
    is_revision,
    save,
    unique_slug,
)


class AlreadySent(DomainError):
    """This form (its one-time token) already created a fiche: `slug` names it."""

    default_kind = Kind.CONFLICT

    def __init__(self, slug: str) -> None:
        super().__init__("Ce formulaire a déjà été envoyé.")
        self.slug = slug


def form_token_slug(session: Session, form_token: str | None) -> str | None:
    """The slug of the fiche a form token created, or None if it is unused (or None)."""
    used = session.get(FormToken, form_token) if form_token else None
    return used.used_slug if used is not None else None


def _actor(session: Session, user: User) -> tuple[User, int]:
    """The signed-in account as stored now, and its id; PermissionDenied if it is gone."""
    actor = session.get(User, user.id)
    if actor is None or actor.id is None:
        raise PermissionDenied
    return actor, actor.id


def create_fiche(
    session: Session,
    *,
    user: User,
    title: str,
    data_for: Callable[[str], FicheData],
    submit: bool,
    form_token: str | None,
    files: list[StagedFile],
    quotas: Quotas,
) -> WriteUp:
    """Create a fiche from the form (`data_for(slug)` gives its content under the slug chosen
    from `title`) with the rows of its files (already put in the store); return it.

    Raises AlreadySent if the form token was used, QuotaExceeded, RenderTooSlow.
    """
    actor, actor_id = _actor(session, user)
    if (used := form_token_slug(session, form_token)) is not None:
        raise AlreadySent(used)  # the same form sent twice: no second fiche
    adding = sum(item.size for item in files)
    recheck_quotas(session, actor_id, quotas, new_fiche=True, adding=adding)
    slug = unique_slug(session, title)
    writeup = create(session, user=actor, data=data_for(slug), submit=submit)
    if form_token:
        session.add(FormToken(token=form_token, user_id=actor_id, used_slug=slug))
    add_rows(session, writeup=writeup, staged=files, user_id=actor_id)
    return writeup


def save_fiche(
    session: Session,
    *,
    user: User,
    slug: str,
    data_for: Callable[[str], FicheData],
    version: int | None,
    submit: bool,
    files: list[StagedFile],
    quotas: Quotas,
) -> WriteUp:
    """Save an edit of the fiche `slug` (locked for update) with the rows of new files
    (already put in the store); return it. Files sent with a proposed revision of a
    published fiche are pending: hidden from readers until the revision is published.

    Raises QuotaExceeded, PermissionDenied, StaleVersion, TransitionError, RenderTooSlow.
    """
    actor, actor_id = _actor(session, user)
    adding = sum(item.size for item in files)
    if adding:
        recheck_quotas(session, actor_id, quotas, new_fiche=False, adding=adding)
    writeup = get_by_slug(session, slug, for_update=True)
    if writeup is None:
        raise PermissionDenied
    revision = is_revision(actor, writeup)  # decided before the save, as `save` does
    save(session, user=actor, writeup=writeup, data=data_for(writeup.slug), version=version,
         submit=submit)  # fmt: skip
    add_rows(session, writeup=writeup, staged=files, user_id=actor_id)
    if revision and files:
        session.flush()
        session.execute(
            update(Attachment)
            .where(col(Attachment.stored_name).in_([item.stored_name for item in files]))
            .values(pending=True)
        )
    return writeup


def my_fiches(session: Session, user: User) -> dict[str, Any]:
    """« Mes fiches »: the fiches `user` wrote or of their Régie (latest change first), the
    comments on them (newest first, by fiche id) and their counts by state."""
    conditions = [col(WriteUp.author_id) == user.id]
    if user.regie_id is not None:
        conditions.append(col(WriteUp.regie_id) == user.regie_id)
    writeups = list(
        session.execute(
            select(WriteUp).where(or_(*conditions)).order_by(col(WriteUp.updated_at).desc())
        ).scalars()
    )
    ids = [w.id for w in writeups]
    comments: dict[int, list[Comment]] = {}
    if ids:
        for comment in session.execute(
            select(Comment).where(col(Comment.writeup_id).in_(ids)).order_by(col(Comment.at).desc())
        ).scalars():
            comments.setdefault(comment.writeup_id, []).append(comment)
    counts = dict(
        session.execute(
            select(col(WriteUp.status), func.count())
            .where(or_(*conditions))
            .group_by(col(WriteUp.status))
        ).all()
    )
    return {"writeups": writeups, "comments": comments, "counts": counts}
