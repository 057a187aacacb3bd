"""The back-office pages beyond reviews: the site history, the vocabularies and Régies with
their usage (changes go through `catalogue`), and the accounts an administrator manages.

Functions take the session of the caller's transaction and the acting user; they check the
permission themselves and raise `DomainError`s.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func
from sqlmodel import Session, col, select

from resource_centre import catalogue
from resource_centre.account_tokens import CANCELLED_HASH, invitation_state, retire
from resource_centre.auth import create_user
from resource_centre.errors import DomainError, Kind
from resource_centre.models import AuditEvent, Regie, Term, User, UserSession, WriteUp
from resource_centre.taxonomy import VOCABULARIES, VOCABULARY_BY_NAME, Vocabulary
from resource_centre.writeups import PermissionDenied, is_curator, record

HISTORY_PAGE = 50  # events per page of the site history


class AccountNotFound(DomainError):
    default_kind = Kind.NOT_FOUND


class OwnAccount(DomainError):
    """An administrator cannot deactivate (or reactivate) their own account."""

    default_kind = Kind.CONFLICT


class NeverActivated(DomainError):
    """An invited account is activated by accepting an invitation, not by an admin."""

    default_kind = Kind.CONFLICT


# --- site history ----------------------------------------------------------------------------


@dataclass
class History:
    events: list[Any]  # rows of (AuditEvent, actor name, actor e-mail), newest first
    more: bool  # a next page exists
    people: list[Any]  # rows of (id, name, e-mail) of every account, for the filter


def site_history(
    session: Session, *, actor_id: int | None = None, action: str | None = None, page: int = 1
) -> History:
    """One page of the audit events, optionally of one person and one action."""
    stmt = select(AuditEvent, User.name, User.email).outerjoin(
        User, col(User.id) == AuditEvent.actor_id
    )
    if actor_id:
        stmt = stmt.where(AuditEvent.actor_id == actor_id)
    if action:
        stmt = stmt.where(AuditEvent.action == action[:40])
    events = session.execute(
        stmt.order_by(col(AuditEvent.at).desc())
        .offset((page - 1) * HISTORY_PAGE)
        .limit(HISTORY_PAGE + 1)
    ).all()
    people = session.execute(select(col(User.id), User.name, User.email).order_by(User.email)).all()
    return History(
        events=list(events[:HISTORY_PAGE]), more=len(events) > HISTORY_PAGE, people=list(people)
    )


# --- vocabularies and Régies -----------------------------------------------------------------


@dataclass
class CatalogueOverview:
    vocabularies: list[tuple[Vocabulary, list[tuple[Term, int]]]]  # terms with their usage
    regies: list[tuple[Regie, int]]  # Régies by name, with their number of fiches
    regions: list[Term]  # the regions, by label (for the Régie form)


def catalogue_overview(session: Session) -> CatalogueOverview:
    """Every vocabulary's values and every Régie, with how many fiches use each."""
    vocabularies = []
    for vocab in VOCABULARIES:
        counts = catalogue.usage(session, vocab.name)
        terms = session.execute(
            select(Term)
            .where(Term.vocabulary == vocab.name)
            .order_by(col(Term.position), Term.label)
        ).scalars()
        vocabularies.append((vocab, [(t, counts.get(t.slug, 0)) for t in terms]))
    regie_counts = dict(
        session.execute(
            select(col(WriteUp.regie_id), func.count()).group_by(col(WriteUp.regie_id))
        ).all()
    )
    regies = [
        (r, regie_counts.get(r.id, 0))
        for r in session.execute(select(Regie).order_by(Regie.name)).scalars()
    ]
    regions = list(
        session.execute(
            select(Term).where(Term.vocabulary == "regions").order_by(Term.label)
        ).scalars()
    )
    return CatalogueOverview(vocabularies=vocabularies, regies=regies, regions=regions)


def _curator(session: Session, user: User) -> User:
    """The acting curator, as a row of this session; PermissionDenied for anyone else."""
    actor = session.get(User, user.id)
    if actor is None or not is_curator(actor):
        raise PermissionDenied
    return actor


def change_term(
    session: Session,
    *,
    user: User,
    operation: str,
    vocabulary: str,
    slug: str = "",
    target: str = "",
    label: str = "",
) -> str:
    """Apply one operation of the vocabularies page; return a French confirmation.

    Raises catalogue.CatalogueError (unknown vocabulary or operation included).
    """
    if vocabulary not in VOCABULARY_BY_NAME:
        raise catalogue.CatalogueError(f"vocabulaire inconnu « {vocabulary[:32]} »")
    kwargs: dict[str, Any] = {"actor": _curator(session, user), "vocabulary": vocabulary}
    if operation == "add":
        catalogue.add_term(session, label=label, slug=slug, **kwargs)
        return f"« {label.strip()} » est ajoutée."
    if operation == "rename":
        catalogue.rename_term(session, slug=slug, label=label, **kwargs)
        return "Le libellé est modifié ; les fiches concernées sont réindexées."
    if operation == "merge":
        count = catalogue.merge_term(session, source=slug, target=target, **kwargs)
        return f"Fusion faite : {count} fiche(s) mise(s) à jour."
    if operation in ("retire", "restore"):
        catalogue.retire_term(session, slug=slug, retired=operation == "retire", **kwargs)
        return (
            "La valeur est retirée des formulaires."
            if operation == "retire"
            else "La valeur est rétablie."
        )
    if operation == "delete":
        catalogue.delete_term(session, slug=slug, **kwargs)
        return "La valeur est supprimée."
    raise catalogue.CatalogueError("opération inconnue")


def change_regie(
    session: Session, *, user: User, operation: str, slug: str = "", target: str = "", **fields: str
) -> str:
    """Apply one operation on the Régies (`fields`: name, kind, city, department, region,
    contact_email for "add" and "edit"); return a French confirmation.

    Raises catalogue.CatalogueError (unknown operation included).
    """
    actor = _curator(session, user)
    if operation in ("add", "edit"):
        catalogue.save_regie(
            session, actor=actor, slug=slug if operation == "edit" else None, **fields
        )
        return "La Régie est enregistrée."
    if operation == "merge":
        count = catalogue.merge_regie(session, actor=actor, source=slug, target=target)
        return f"Fusion faite : {count} fiche(s) rattachée(s)."
    if operation in ("retire", "restore"):
        catalogue.retire_regie(session, actor=actor, slug=slug, retired=operation == "retire")
        return (
            "La Régie est retirée des formulaires."
            if operation == "retire"
            else "La Régie est rétablie."
        )
    raise catalogue.CatalogueError("opération inconnue")


# --- accounts (administrators) ---------------------------------------------------------------


def accounts(session: Session) -> tuple[list[User], list[Regie]]:
    """Every account (active ones first, by e-mail) and every Régie (by name)."""
    users = list(
        session.execute(select(User).order_by(col(User.active).desc(), User.email)).scalars()
    )
    regies = list(session.execute(select(Regie).order_by(Regie.name)).scalars())
    return users, regies


def _require_admin(user: User) -> None:
    if user is None or user.role != "admin":
        raise PermissionDenied


def create_account(
    session: Session, *, user: User, email: str, name: str, role: str, regie: str
) -> tuple[User, str]:
    """Create an account with a random password; return it and the password (shown once,
    never stored in clear). Raises auth.AccountError."""
    _require_admin(user)
    password = secrets.token_urlsafe(12)
    created = create_user(
        session, email=email, password=password, role=role, regie_slug=regie or None, name=name
    )
    session.flush()
    record(session, action="user_create", actor_id=user.id, user=created.email, role=role)
    return created, password


def set_account_active(session: Session, *, user: User, account_id: int, active: bool) -> str:
    """(Re)activate or deactivate an account; a deactivated one is signed out everywhere at
    once. Either way its outstanding links (password reset, invitation) stop working, and
    deactivating an invited account cancels its invitation. Return a French confirmation.
    Raises OwnAccount, AccountNotFound, NeverActivated."""
    _require_admin(user)
    if account_id == user.id:
        raise OwnAccount("Vous ne pouvez pas désactiver votre propre compte.")
    target = session.get(User, account_id)
    if target is None or target.id is None:
        raise AccountNotFound
    invited = invitation_state(target) is not None
    if active and invited:
        raise NeverActivated(
            "Ce compte n'a jamais été activé : envoyez une nouvelle invitation à la personne."
        )
    retire(session, target.id)
    target.active = active
    if invited:
        target.password_hash = CANCELLED_HASH  # accept_invitation refuses it from now on
    session.add(target)
    if not active:
        # A Core delete on the table: no autoflush first, no ORM bookkeeping of the sessions.
        sessions_table = UserSession.__table__  # type: ignore[attr-defined]  # set by SQLAlchemy's mapping; SQLModel does not declare it
        session.execute(sessions_table.delete().where(col(UserSession.user_id) == target.id))
    operation = "activate" if active else "deactivate"
    record(session, action=f"user_{operation}", actor_id=user.id, user=target.email)
    return "Le compte est réactivé." if active else "Le compte est désactivé."
