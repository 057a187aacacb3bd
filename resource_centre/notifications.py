"""Who hears of what: e-mail notifications of the workflow's events (issue 15).

`writeups.record` calls `on_event` in the transaction of each audit event; the messages are
written there too (the outbox, or the weekly digest's pending rows), so a notification
exists if and only if its event was committed. Recipients:

- a fiche or a revision submitted: every active curator and admin but the actor, with the
  link of the review page;
- changes requested (with the comment), publication, archiving, a curator's comment: the
  fiche's contributors (its author and the contributors who edited, revised or submitted
  it), active, but the actor, and only those who may still read what the message is about
  (`may_read`: a contributor whose Régie no longer holds the fiche hears of its publication
  only);
- a need answered by a fiche: whoever reported it (their account, or the address an
  anonymous reporter left, erased once the message is written: an address of an account
  follows that account's choice, another is written to at once; either way, as anyone
  may have typed it, the message has the fiche's title and link, never the text typed
  with it).

Each account's `mail_frequency` decides: "immediate" (the outbox), "weekly" (a
`PendingNotification` for the digest) or "never". Contexts hold no other person's address;
links are site paths, made absolute by the mailer.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sqlalchemy import and_, or_
from sqlmodel import Session, col, select

from resource_centre import outbox
from resource_centre.models import (
    AuditEvent,
    CapitalisationRequest,
    PendingNotification,
    Regie,
    User,
    WriteUp,
)

FREQUENCIES = ("immediate", "weekly", "never")
CURATOR_ROLES = ("curator", "admin")
# Audit actions by which an account took part in writing a fiche.
CONTRIBUTING_ACTIONS = ("create", "edit", "revise", "submit", "submit_revision")
SUBJECT_MAX = outbox.SUBJECT_MAX
TITLE_MAX = 120  # a title is cut in subjects (the body has it whole)


def notify(
    session: Session,
    user: User,
    subject: str,
    template: str,
    context: dict[str, Any],
) -> None:
    """Tell `user` as they chose: the outbox now, the weekly digest, or nothing."""
    if not user.active or user.id is None:
        return
    subject = " ".join(subject.split())[:SUBJECT_MAX]  # one header line, whatever the title
    context = {"name": user.name.strip(), **context}
    frequency = user.mail_frequency if user.mail_frequency in FREQUENCIES else "immediate"
    if frequency == "immediate":
        outbox.enqueue(
            session,
            recipient=user.email,
            subject=subject,
            template=template,
            context=context,
            user_id=user.id,
        )
    elif frequency == "weekly":
        session.add(
            PendingNotification(
                user_id=user.id, subject=subject, template=template, context=context
            )
        )


def _short(title: str) -> str:
    title = " ".join(title.split())
    return title if len(title) <= TITLE_MAX else title[: TITLE_MAX - 1].rstrip() + "…"


def _actor_name(session: Session, actor_id: int | None, regie: str) -> str:
    """How a message names the person who acted: their name and where they work from,
    never their address ("Awa Diallo (Régie du Canal)", "L'équipe du réseau")."""
    actor = session.get(User, actor_id) if actor_id is not None else None
    name = " ".join(actor.name.split()) if actor is not None else ""
    if actor is not None and actor.role in CURATOR_ROLES:
        return f"{name} (équipe du réseau)" if name else "L'équipe du réseau"
    if name:
        return f"{name} ({regie})" if regie else name
    if regie:
        return (
            f"Un membre de la {regie}"
            if regie.lower().startswith("régie")
            else f"Un membre de {regie}"
        )
    return "Un contributeur du Centre de ressources"


def _fiche_context(session: Session, event: AuditEvent, writeup: WriteUp) -> dict[str, Any]:
    regie = session.get(Regie, writeup.regie_id) if writeup.regie_id else None
    regie_name = " ".join(regie.name.split()) if regie else ""
    return {
        "title": writeup.title,
        "slug": writeup.slug,
        "regie": regie_name,
        "actor": _actor_name(session, event.actor_id, regie_name),
    }


def curators(session: Session, *, except_id: int | None) -> list[User]:
    """Active curators and admins, but `except_id`."""
    stmt = select(User).where(col(User.active).is_(True), col(User.role).in_(CURATOR_ROLES))
    if except_id is not None:
        stmt = stmt.where(col(User.id) != except_id)
    return list(session.execute(stmt.order_by(col(User.id))).scalars())


def contributors(session: Session, writeup: WriteUp, *, except_id: int | None) -> list[User]:
    """The fiche's author and the contributors who edited, revised or submitted it: active,
    but `except_id`."""
    editors = (
        select(col(AuditEvent.actor_id))
        .where(
            col(AuditEvent.writeup_id) == writeup.id,
            col(AuditEvent.action).in_(CONTRIBUTING_ACTIONS),
            col(AuditEvent.actor_id).is_not(None),
        )
        .distinct()
    )
    took_part = and_(col(User.id).in_(editors), col(User.role).not_in(CURATOR_ROLES))
    who = or_(col(User.id) == writeup.author_id, took_part) if writeup.author_id else took_part
    stmt = select(User).where(col(User.active).is_(True), who)
    if except_id is not None:
        stmt = stmt.where(col(User.id) != except_id)
    return list(session.execute(stmt.order_by(col(User.id))).scalars())


def may_read(user: User, writeup: WriteUp, *, public: bool) -> bool:
    """May `user` read what a message about `writeup` shows? Anyone for a public fiche
    (`public`), else curators and the contributors of the fiche's Régie: the rule of
    `writeups.can_read`, restated here because writeups imports this module."""
    if public:
        return True
    if user.role in CURATOR_ROLES:
        return True
    return user.regie_id is not None and user.regie_id == writeup.regie_id


def _was_revision(session: Session, writeup: WriteUp) -> bool:
    """Was the fiche's last submission (before this event) that of a revision?"""
    last = session.execute(
        select(col(AuditEvent.action))
        .where(
            col(AuditEvent.writeup_id) == writeup.id,
            col(AuditEvent.action).in_(("submit", "submit_revision")),
        )
        .order_by(col(AuditEvent.at).desc(), col(AuditEvent.id).desc())
        .limit(1)
    ).scalar()
    return last == "submit_revision"


# --- one function per action --------------------------------------------------------------


def _after_changes_requested(session: Session, event: AuditEvent, writeup: WriteUp) -> bool:
    """Is this submission an answer to a request for changes? The last review decision on
    the fiche before it (changes requested, publication or archiving) asked for changes."""
    stmt = select(col(AuditEvent.action)).where(
        col(AuditEvent.writeup_id) == writeup.id,
        col(AuditEvent.action).in_(("request_changes", "publish", "archive")),
    )
    if event.id is not None:
        stmt = stmt.where(col(AuditEvent.id) != event.id)
    last = session.execute(
        stmt.order_by(col(AuditEvent.at).desc(), col(AuditEvent.id).desc()).limit(1)
    ).scalar()
    return last == "request_changes"


def _submitted(session: Session, event: AuditEvent, writeup: WriteUp) -> None:
    revision = event.action == "submit_revision"
    again = _after_changes_requested(session, event, writeup)
    context = _fiche_context(session, event, writeup)
    context.update(link=f"/curation/fiches/{writeup.slug}", again=again)
    title = _short(writeup.title)
    if revision:
        subject = (
            f"Révision soumise à nouveau : {title}" if again else f"Révision à relire : {title}"
        )
    else:
        subject = (
            f"Fiche soumise à nouveau : {title}" if again else f"Nouvelle fiche à relire : {title}"
        )
    template = "revision_submitted" if revision else "submitted"
    for user in curators(session, except_id=event.actor_id):
        notify(session, user, subject, template, context)


def _to_contributors(session: Session, event: AuditEvent, writeup: WriteUp) -> None:
    context = _fiche_context(session, event, writeup)
    title = _short(writeup.title)
    action = event.action
    if action == "request_changes":
        subject, template = f"Modifications demandées : {title}", "changes_requested"
        context.update(comment=event.comment or "", link=f"/fiches/{writeup.slug}/modifier")
        context["revision"] = writeup.status == "published"
    elif action == "publish":
        revision = _was_revision(session, writeup)
        subject = f"Votre {'révision' if revision else 'fiche'} est publiée : {title}"
        template = "published"
        context.update(link=f"/fiches/{writeup.slug}", revision=revision)
    elif action == "archive":
        subject, template = f"Fiche archivée : {title}", "archived"
        context.update(comment=event.comment or "", link="/mes-fiches")
    else:  # comment
        subject, template = f"Nouveau commentaire sur {title}", "commented"
        context.update(comment=event.comment or "", link="/mes-fiches")
    # Only a publication shows nothing private: changes requested, comments and archiving
    # are about a draft, a proposed revision or a fiche withdrawn from the library.
    public = action == "publish" and writeup.status == "published"
    for user in contributors(session, writeup, except_id=event.actor_id):
        if may_read(user, writeup, public=public):
            notify(session, user, subject, template, context)


def _need_answered(session: Session, event: AuditEvent, writeup: WriteUp) -> None:
    need_id = event.detail.get("need_id") if isinstance(event.detail, dict) else None
    need = session.get(CapitalisationRequest, need_id) if isinstance(need_id, int) else None
    if need is None:
        return
    context = {
        "title": writeup.title,
        "slug": writeup.slug,
        "summary": writeup.summary,
        "query": need.query,
        "message": need.message,
        "link": f"/fiches/{writeup.slug}",
    }
    subject = f"Une fiche répond à votre besoin : {_short(writeup.title)}"
    if need.reporter_id is not None:
        reporter = session.get(User, need.reporter_id)
        if reporter is not None:
            notify(session, reporter, subject, "need_answered", context)
    elif need.reporter_email:
        address = need.reporter_email.strip().lower()
        # Anyone may have typed this address: the message carries what the site publishes
        # (the fiche's title and link), never the query or message typed with it.
        public = {"title": writeup.title, "slug": writeup.slug, "link": f"/fiches/{writeup.slug}"}
        account = session.execute(select(User).where(col(User.email) == address)).scalar()
        if account is not None:  # its choice: at once, in the digest, or never
            notify(session, account, subject, "need_answered", public)
        else:  # left for this need only
            outbox.enqueue(
                session,
                recipient=address,
                subject=subject,
                template="need_answered",
                context={"name": "", "anonymous": True, **public},
            )
        need.reporter_email = None  # used once, then erased
        session.add(need)


HANDLERS: dict[str, Callable[[Session, AuditEvent, WriteUp], None]] = {
    "submit": _submitted,
    "submit_revision": _submitted,
    "request_changes": _to_contributors,
    "publish": _to_contributors,
    "archive": _to_contributors,
    "comment": _to_contributors,
    "request_answered": _need_answered,
}


def on_event(session: Session, event: AuditEvent) -> None:
    """Write the notifications caused by `event` into the current transaction.

    Queries run without autoflush: the caller's pending changes (the event itself, maybe
    the fiche) are flushed when the caller decides, not here.
    """
    handler = HANDLERS.get(event.action)
    if handler is None or event.writeup_id is None:
        return
    with session.no_autoflush:
        writeup = session.get(WriteUp, event.writeup_id)
        if writeup is not None:
            handler(session, event, writeup)
