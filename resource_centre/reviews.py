"""The network team's reviews of fiches: the review queue, what a review page shows (diffs
of a proposed revision, comments, history), and the curator's actions on a fiche (comment,
the network's note, the workflow transitions of `writeups.transition`).

Functions take the session of the caller's transaction and the acting user; they check the
permission themselves and raise `DomainError`s (`writeups.PermissionDenied`, ...).
"""

from __future__ import annotations

import difflib
import html
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, or_
from sqlmodel import Session, col, select

from resource_centre.errors import DomainError, Kind
from resource_centre.models import (
    AuditEvent,
    Comment,
    Regie,
    Term,
    User,
    WriteUp,
    WriteUpRevision,
    utcnow,
)
from resource_centre.rendering import (
    RenderTooSlow,
    SectionTooLarge,
    render_markdown,
    render_sections,
)
from resource_centre.taxonomy import SECTIONS
from resource_centre.writeups import (
    CURATOR_ACTIONS,
    PermissionDenied,
    TransitionError,
    fiche_data_from_json,
    get_by_slug,
    is_curator,
    record,
    transition,
)

STALE_AFTER = timedelta(days=730)  # a published fiche not reviewed since is listed again
COMMENT_ACTIONS = ("request_changes", "comment")  # actions that need a comment
SUBMIT_ACTIONS = ("submit", "submit_revision")


class FicheNotFound(DomainError):
    """No fiche has this slug."""

    default_kind = Kind.NOT_FOUND


class CommentRequired(DomainError):
    """The action needs a comment and none was written (the form again, field "comment")."""

    default_kind = Kind.INVALID


# --- the queue -------------------------------------------------------------------------------


@dataclass
class CurationQueue:
    """What the queue page lists."""

    waiting: list[tuple[datetime, WriteUp]]  # submitted fiches and revisions, oldest first
    changes: list[WriteUp]  # changes requested, oldest update first
    stale: list[WriteUp]  # published and not reviewed for STALE_AFTER
    regies: dict[int, str]  # Régie id → name


def curation_queue(session: Session) -> CurationQueue:
    """The fiches waiting for the network team, with the time each has waited since."""
    to_review = list(
        session.execute(
            select(WriteUp).where(
                or_(col(WriteUp.status) == "submitted", col(WriteUp.pending_status) == "submitted")
            )
        ).scalars()
    )
    submitted_at: dict[int, Any] = {}
    if to_review:
        submitted_at = dict(
            session.execute(
                select(col(AuditEvent.writeup_id), func.max(AuditEvent.at))
                .where(
                    col(AuditEvent.writeup_id).in_([w.id for w in to_review]),
                    col(AuditEvent.action).in_(SUBMIT_ACTIONS),
                )
                .group_by(col(AuditEvent.writeup_id))
            ).all()
        )
    waiting = [(submitted_at.get(w.id) or w.updated_at, w) for w in to_review]
    waiting.sort(key=lambda item: item[0])
    changes = list(
        session.execute(
            select(WriteUp)
            .where(
                or_(
                    col(WriteUp.status) == "changes_requested",
                    col(WriteUp.pending_status) == "changes_requested",
                )
            )
            .order_by(col(WriteUp.updated_at))
        ).scalars()
    )
    limit = (utcnow() - STALE_AFTER).date()
    stale = [
        w
        for w in session.execute(
            select(WriteUp).where(WriteUp.status == "published").order_by(col(WriteUp.published_at))
        ).scalars()
        if ((w.reviewed_at.date() if w.reviewed_at else w.published_at) or limit) < limit
    ]
    regies = {r.id: r.name for r in session.execute(select(Regie)).scalars()}
    return CurationQueue(waiting=waiting, changes=changes, stale=stale, regies=regies)


# --- the review page -------------------------------------------------------------------------


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


def _revision(writeup: WriteUp) -> dict[str, Any] | None:
    """The proposed revision of a published fiche: its content, diffs and rendering."""
    if not writeup.pending:
        return None
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
    return {"data": data, "diffs": diffs, "html": html_sections, "status": writeup.pending_status}


def review_details(session: Session, writeup: WriteUp) -> dict[str, Any]:
    """What the review page shows of `writeup`: its Régie, proposed revision, comments and
    history (rows of (item, author name, author e-mail)), published versions, term labels."""
    regie = session.get(Regie, writeup.regie_id) if writeup.regie_id else None
    comments = session.execute(
        select(Comment, User.name, User.email)
        .outerjoin(User, col(User.id) == Comment.author_id)
        .where(Comment.writeup_id == writeup.id)
        .order_by(col(Comment.at))
    ).all()
    history = session.execute(
        select(AuditEvent, User.name, User.email)
        .outerjoin(User, col(User.id) == AuditEvent.actor_id)
        .where(AuditEvent.writeup_id == writeup.id)
        .order_by(col(AuditEvent.at).desc())
    ).all()
    revisions = list(
        session.execute(
            select(WriteUpRevision)
            .where(WriteUpRevision.writeup_id == writeup.id)
            .order_by(col(WriteUpRevision.created_at).desc())
        ).scalars()
    )
    labels = {(t.vocabulary, t.slug): t.label for t in session.execute(select(Term)).scalars()}
    return {
        "writeup": writeup,
        "regie": regie,
        "revision": _revision(writeup),
        "comments": comments,
        "history": history,
        "revisions": revisions,
        "term_labels": labels,
    }


def review_page(session: Session, slug: str) -> dict[str, Any]:
    """`review_details` of the fiche `slug`; raises FicheNotFound."""
    writeup = get_by_slug(session, slug)
    if writeup is None:
        raise FicheNotFound
    return review_details(session, writeup)


# --- actions ---------------------------------------------------------------------------------


def comment_required_message(action: str) -> str:
    return (
        "Écrivez le commentaire : dites à la Régie ce qu'il faut modifier."
        if action == "request_changes"
        else "Le commentaire est vide."
    )


def add_comment(session: Session, *, user: User, writeup: WriteUp, body: str) -> str:
    """A curator's comment on a fiche (shown to its Régie); return a French confirmation."""
    if not is_curator(user):
        raise PermissionDenied
    body = body.strip()
    if not body:
        raise CommentRequired(comment_required_message("comment"), field="comment")
    assert writeup.id is not None, "a fiche under review is stored"
    session.add(Comment(writeup_id=writeup.id, author_id=user.id, body=body))
    record(session, action="comment", writeup=writeup, actor_id=user.id, comment=body)
    return "Commentaire ajouté."


def set_note(session: Session, *, user: User, writeup: WriteUp, note: str) -> str:
    """Set (or, when empty, remove) the network's note on a fiche (« regard du réseau »).

    Renders the Markdown: may raise SectionTooLarge or RenderTooSlow.
    """
    if not is_curator(user):
        raise PermissionDenied
    note = note.strip()
    writeup.network_note = note or None
    writeup.network_note_html = render_markdown(note) if note else None
    writeup.version += 1
    session.add(writeup)
    record(session, action="note", writeup=writeup, actor_id=user.id)
    return "Le regard du réseau est enregistré." if note else "Le regard du réseau est retiré."


def act(
    session: Session, *, user: User, slug: str, action: str, comment: str = "", note: str = ""
) -> str:
    """Apply a curator's action of the review page to the fiche `slug` (locked for update):
    "note", "comment" or one of `CURATOR_ACTIONS`. Return a French confirmation.

    Raises FicheNotFound, CommentRequired (nothing written), PermissionDenied,
    TransitionError (also for an unknown action), SectionTooLarge or RenderTooSlow.
    """
    writeup = get_by_slug(session, slug, for_update=True)
    if writeup is None:
        raise FicheNotFound
    if action in COMMENT_ACTIONS and not comment.strip():
        raise CommentRequired(comment_required_message(action), field="comment")
    actor = session.get(User, user.id)
    if actor is None:
        raise PermissionDenied
    if action == "note":
        return set_note(session, user=actor, writeup=writeup, note=note)
    if action == "comment":
        return add_comment(session, user=actor, writeup=writeup, body=comment)
    if action in CURATOR_ACTIONS:
        return transition(session, user=actor, writeup=writeup, action=action, comment=comment)
    raise TransitionError(f"Action inconnue « {action[:40]} ».")
