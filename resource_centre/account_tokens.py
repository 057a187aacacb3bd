"""Single-use links sent by e-mail: password reset and invitation.

The link carries a random token (`secrets.token_urlsafe(32)`); the database keeps only its
SHA-256, so a copy of the table opens nothing. A token is valid while it exists with the
right purpose, is unused and unexpired, and its account exists; using it marks it used with
one conditional UPDATE, so two requests at once cannot both win.

Above the tokens: asking for a reset (`request_reset`), setting a password from a reset link
(`reset_password`), inviting an address (`invite`) and accepting an invitation
(`accept_invitation`).
"""

from __future__ import annotations

import hashlib
import logging
import re
from datetime import datetime, timedelta
from secrets import token_urlsafe

from sqlalchemy import Engine, delete, update
from sqlmodel import Session, col, select

from resource_centre import outbox
from resource_centre.auth import (
    MIN_PASSWORD_CHARS,
    AccountError,
    end_session,
    hash_password,
    normalise_email,
    single_address,
    start_session,
)
from resource_centre.db import write_session
from resource_centre.errors import DomainError, Kind
from resource_centre.models import AccountToken, LoginAttempt, Regie, User, UserSession, utcnow
from resource_centre.taxonomy import ROLE_LABELS, ROLES
from resource_centre.writeups import PermissionDenied, record

log = logging.getLogger(__name__)

PURPOSES = ("reset", "invite")
RESET_LIFETIME = timedelta(hours=1)
INVITE_LIFETIME = timedelta(days=7)
RESET_VALIDITY = "une heure"  # said in the message, with RESET_LIFETIME
INVITE_VALIDITY = "7 jours"
# Who invites, in the message, when the administrator has no display name (never their
# address: the invited person may not know it, and it is not theirs to hand out).
TEAM = "L'équipe du réseau"
# The password hash of an invited account that has not chosen its password yet: not a hash
# any hasher knows, so `auth.verify_password` refuses every password against it.
INVITED_HASH = "!invite"
# The same for an invitation an administrator cancelled (or an invited account they
# deactivated): its links are retired and `accept_invitation` refuses it; only a new
# invitation makes it usable again.
CANCELLED_HASH = "!invite-cancelled"
RESET_SUBJECT = "Réinitialiser votre mot de passe"
INVITE_SUBJECT = "Invitation au Centre de ressources du Mouvement des Régies"
# token_urlsafe(32): 32 random bytes in unpadded URL-safe base64, always 43 characters.
_TOKEN_SHAPE = re.compile(r"[A-Za-z0-9_-]{43}")


class LinkInvalid(DomainError):
    """The link's token is unknown, used, expired, of another purpose, or malformed."""

    default_kind = Kind.NOT_FOUND


LINK_INVALID = "Ce lien n'est plus valable."
INVALID_ADDRESS = "Cette adresse e-mail n'est pas valide."

# --- tokens ------------------------------------------------------------------------------


def well_formed(token: object) -> bool:
    """Could `token` have been issued here? (Checked before any query: NUL bytes, 10 kB
    strings or other characters never reach the database.)"""
    return isinstance(token, str) and _TOKEN_SHAPE.fullmatch(token) is not None


def token_hash(token: str) -> str:
    """The stored form of a token: its SHA-256, in hex."""
    return hashlib.sha256(token.encode()).hexdigest()


def issue(
    session: Session, user_id: int, purpose: str, lifetime: timedelta, now: datetime | None = None
) -> str:
    """Add a token for `user_id` to the session's transaction; return the raw token (to be
    mailed, never stored)."""
    if purpose not in PURPOSES:
        raise ValueError(f"unknown token purpose {purpose!r}")
    now = now or utcnow()
    token = token_urlsafe(32)
    session.add(
        AccountToken(
            token_hash=token_hash(token), user_id=user_id, purpose=purpose,
            created_at=now, expires_at=now + lifetime,
        )
    )  # fmt: skip
    return token


def peek(session: Session, token: str, purpose: str, now: datetime | None = None) -> User | None:
    """The account of a valid token (without using it), or None."""
    if not well_formed(token):
        return None
    now = now or utcnow()
    row = session.execute(
        select(User)
        .join(AccountToken, col(AccountToken.user_id) == User.id)
        .where(
            col(AccountToken.token_hash) == token_hash(token),
            col(AccountToken.purpose) == purpose,
            col(AccountToken.used_at).is_(None),
            col(AccountToken.expires_at) > now,
        )
    ).scalar_one_or_none()
    return row


def consume(session: Session, token: str, purpose: str, now: datetime | None = None) -> User | None:
    """Mark a valid token used and return its account, or None. One conditional UPDATE:
    of two transactions using the same token, only one changes the row (PostgreSQL makes
    the second wait for the first and re-check; SQLite's BEGIN IMMEDIATE serialises them)."""
    if not well_formed(token):
        return None
    now = now or utcnow()
    hashed = token_hash(token)
    result = session.execute(
        update(AccountToken)
        .where(
            col(AccountToken.token_hash) == hashed,
            col(AccountToken.purpose) == purpose,
            col(AccountToken.used_at).is_(None),
            col(AccountToken.expires_at) > now,
        )
        .values(used_at=now)
        .execution_options(synchronize_session=False)
    )
    if result.rowcount != 1:  # type: ignore[attr-defined]  # a CursorResult for an UPDATE
        return None
    user_id = session.execute(
        select(AccountToken.user_id).where(col(AccountToken.token_hash) == hashed)
    ).scalar_one()
    return session.get(User, user_id)


def retire(
    session: Session, user_id: int, *, purpose: str | None = None, now: datetime | None = None
) -> int:
    """Mark every unused token of `user_id` (of `purpose`, or all) used; return how many."""
    stmt = update(AccountToken).where(
        col(AccountToken.user_id) == user_id, col(AccountToken.used_at).is_(None)
    )
    if purpose is not None:
        stmt = stmt.where(col(AccountToken.purpose) == purpose)
    result = session.execute(
        stmt.values(used_at=now or utcnow()).execution_options(synchronize_session=False)
    )
    return int(result.rowcount)  # type: ignore[attr-defined]  # a CursorResult


# --- passwords from a link -----------------------------------------------------------------


def check_new_password(password: str, confirm: str) -> None:
    """Raise AccountError (field "password" or "password_confirm") if the new password is
    too short or not repeated exactly."""
    if len(password) < MIN_PASSWORD_CHARS:
        raise AccountError(
            f"Le mot de passe doit compter au moins {MIN_PASSWORD_CHARS} caractères.",
            field="password",
        )
    if password != confirm:
        raise AccountError("Les deux mots de passe diffèrent.", field="password_confirm")


def _set_password(session: Session, user: User, password_hash: str, now: datetime) -> None:
    """Store the new hash; end every session and every other link of the account; forget
    its failed sign-ins (the person has just proved they read its mailbox)."""
    assert user.id is not None, "a stored account"
    session.execute(
        update(User)
        .where(col(User.id) == user.id)
        .values(password_hash=password_hash)
        .execution_options(synchronize_session=False)
    )
    retire(session, user.id, now=now)
    session.execute(delete(UserSession).where(col(UserSession.user_id) == user.id))
    session.execute(
        delete(LoginAttempt).where(
            col(LoginAttempt.email) == user.email, col(LoginAttempt.success).is_(False)
        )
    )


def request_reset(engine: Engine, email: str, now: datetime | None = None) -> bool:
    """If `email` is an active account's, queue a reset link (valid RESET_LIFETIME) in the
    outbox; return whether one was queued (the caller must not tell the visitor).
    Blocking (database): call it from a worker thread."""
    email = normalise_email(email)[:254]
    now = now or utcnow()
    with write_session(engine) as session:
        user = session.execute(select(User).where(User.email == email)).scalar_one_or_none()
        if user is None or not user.active or invitation_state(user) is not None:
            return False
        assert user.id is not None
        token = issue(session, user.id, "reset", RESET_LIFETIME, now)
        outbox.enqueue(
            session, recipient=user.email, subject=RESET_SUBJECT, template="password_reset",
            user_id=user.id, security=True,
            context={"name": user.name, "email": user.email, "link": f"/mot-de-passe/{token}",
                     "validity": RESET_VALIDITY},
        )  # fmt: skip
    log.info("password reset link queued for account %s", user.id)
    return True


def reset_password(
    engine: Engine, token: str, password: str, confirm: str, now: datetime | None = None
) -> User:
    """Set a new password from a reset link; return the account.

    Raises AccountError (with the field at fault) for a bad password, LinkInvalid when the
    link cannot be used (the token is then untouched, or already used by someone else).
    On success the token and every other link of the account are used up, every session of
    the account is deleted and its failed sign-ins forgotten. Blocking (argon2, database).
    """
    check_new_password(password, confirm)
    if not well_formed(token):
        raise LinkInvalid(LINK_INVALID)
    new_hash = hash_password(password)
    now = now or utcnow()
    with write_session(engine) as session:
        user = consume(session, token, "reset", now)
        if user is None or not user.active:
            raise LinkInvalid(LINK_INVALID)  # rolled back: nothing changed
        _set_password(session, user, new_hash, now)
    log.info("password reset for account %s", user.id)
    return user


# --- invitations ---------------------------------------------------------------------------


def invite(
    session: Session,
    *,
    user: User,
    email: str,
    name: str = "",
    role: str,
    regie: str = "",
    now: datetime | None = None,
) -> tuple[User, bool]:
    """Invite `email` (administrators only): create the account, inactive and without a
    usable password, or renew the invitation of an account that never accepted one, even a
    cancelled one (its role, Régie and name become the ones given; its earlier links stop
    working). Queue the
    invitation message in the session's transaction. Return the account and whether it is
    new. Raises PermissionDenied, AccountError (field "email", "role" or "regie")."""
    if user is None or user.role != "admin":
        raise PermissionDenied
    now = now or utcnow()
    email = normalise_email(email)
    name = " ".join(name.split())[:200]
    if not email:
        raise AccountError("Indiquez l'adresse e-mail de la personne invitée.", field="email")
    if not single_address(email):
        raise AccountError(INVALID_ADDRESS, field="email")
    if role not in ROLES:
        raise AccountError("Choisissez un rôle dans la liste.", field="role")
    regie_row = None
    if regie:
        regie_row = session.execute(select(Regie).where(Regie.slug == regie[:100])).scalar()
        if regie_row is None:
            raise AccountError("Choisissez une Régie dans la liste.", field="regie")
    elif role == "contributor":
        raise AccountError("Un contributeur doit être rattaché à une Régie.", field="regie")
    account = session.execute(select(User).where(User.email == email)).scalar_one_or_none()
    created = account is None
    if account is None:
        account = User(email=email, name=name, role=role, password_hash=INVITED_HASH)
        account.active = False
    elif invitation_state(account) is None:
        state = "actif" if account.active else "désactivé"
        raise AccountError(
            f"Un compte ({state}) existe déjà pour cette adresse : pas besoin d'invitation.",
            field="email",
        )
    account.password_hash = INVITED_HASH  # a cancelled invitation is renewed
    account.active = False
    account.role = role
    account.regie_id = regie_row.id if regie_row else None
    if name:
        account.name = name
    session.add(account)
    session.flush()
    assert account.id is not None
    retire(session, account.id, purpose="invite", now=now)  # only the newest link works
    token = issue(session, account.id, "invite", INVITE_LIFETIME, now)
    outbox.enqueue(
        session, recipient=email, subject=INVITE_SUBJECT, template="invitation",
        user_id=account.id, security=True,
        context={"name": account.name, "email": email,
                 "inviter": " ".join(user.name.split()) or TEAM, "role": ROLE_LABELS[role],
                 "regie": regie_row.name if regie_row else "",
                 "link": f"/invitation/{token}", "validity": INVITE_VALIDITY},
    )  # fmt: skip
    record(session, action="user_invite", actor_id=user.id, user=email, role=role)
    return account, created


def invitation_state(user: User) -> str | None:
    """The state of an account's invitation: "pending" while it awaits an answer,
    "cancelled" once an administrator cancelled it (or deactivated the invited account),
    None for an account that has a password of its own."""
    if user.password_hash == INVITED_HASH:
        return "pending"
    if user.password_hash == CANCELLED_HASH:
        return "cancelled"
    return None


class NotInvited(DomainError):
    """The account has no pending invitation to cancel (409)."""

    default_kind = Kind.CONFLICT


def cancel_invitation(
    session: Session, *, user: User, account_id: int, now: datetime | None = None
) -> User:
    """Cancel a pending invitation (administrators only): its links stop working and the
    account, never activated, stays inactive with CANCELLED_HASH until invited again.
    Return the account. Raises PermissionDenied, NotInvited."""
    if user is None or user.role != "admin":
        raise PermissionDenied
    account = session.get(User, account_id)
    if account is None or invitation_state(account) != "pending":
        raise NotInvited("Ce compte n'attend pas de réponse à une invitation.")
    assert account.id is not None
    retire(session, account.id, now=now)
    account.password_hash = CANCELLED_HASH
    account.active = False
    session.add(account)
    record(session, action="user_invite_cancel", actor_id=user.id, user=account.email)
    return account


def accept_invitation(
    engine: Engine,
    token: str,
    password: str,
    confirm: str,
    name: str = "",
    *,
    previous_token: str | None = None,
    now: datetime | None = None,
) -> tuple[User, str]:
    """Accept an invitation: set the password (and the name, if given), activate the
    account, use the link up and start a session, ending the browser's previous one
    (`previous_token`). Return the account and the new session's token.
    Raises AccountError (field at fault) or LinkInvalid. Blocking (argon2, database).
    """
    check_new_password(password, confirm)
    if not well_formed(token):
        raise LinkInvalid(LINK_INVALID)
    new_hash = hash_password(password)
    now = now or utcnow()
    name = " ".join(name.split())[:200]
    with write_session(engine) as session:
        user = consume(session, token, "invite", now)
        if user is None or user.password_hash != INVITED_HASH:
            raise LinkInvalid(LINK_INVALID)
        _set_password(session, user, new_hash, now)
        values: dict[str, object] = {"active": True}
        if name:
            values["name"] = name
        session.execute(update(User).where(col(User.id) == user.id).values(**values))
        user = session.get(User, user.id, populate_existing=True)  # as just written
        assert user is not None, "the account was read in this transaction"
        end_session(session, previous_token)
        session_token = start_session(session, user)
    log.info("invitation accepted by account %s", user.id)
    return user, session_token
