"""Accounts: password hashing (argon2id), users, server-side sessions, sign-in limits, CSRF."""

from __future__ import annotations

import hashlib
import hmac
import logging
import secrets
import threading
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from pwdlib import PasswordHash
from sqlalchemy import Engine, delete, func, select, update
from sqlmodel import Session

from resource_centre.db import write_session
from resource_centre.models import LoginAttempt, Regie, User, UserSession, utcnow
from resource_centre.taxonomy import ROLES

log = logging.getLogger(__name__)
_HASHER = PasswordHash.recommended()
MIN_PASSWORD_CHARS = 10


class AccountError(ValueError):
    """A French message explaining why an account cannot be created or changed."""


def hash_password(password: str) -> str:
    return _HASHER.hash(password)


def verify_password(password: str, password_hash: str) -> bool:
    try:
        return _HASHER.verify(password, password_hash)
    except Exception:
        return False


def normalise_email(email: str) -> str:
    return email.strip().lower()


def create_user(
    session: Session,
    *,
    email: str,
    password: str,
    role: str,
    regie_slug: str | None = None,
    name: str = "",
) -> User:
    """Add a user to the session (the caller commits); raise AccountError if invalid."""
    email = normalise_email(email)
    if "@" not in email or len(email) > 254 or any(c.isspace() for c in email):
        raise AccountError(f"adresse e-mail invalide : « {email} »")
    if role not in ROLES:
        raise AccountError(f"rôle inconnu « {role} » ({', '.join(ROLES)})")
    if len(password) < MIN_PASSWORD_CHARS:
        raise AccountError(f"mot de passe trop court ({MIN_PASSWORD_CHARS} caractères au moins)")
    if session.execute(select(User.id).where(User.email == email)).first():
        raise AccountError(f"un compte existe déjà pour « {email} »")
    regie_id = None
    if regie_slug:
        regie_id = session.execute(select(Regie.id).where(Regie.slug == regie_slug)).scalar()
        if regie_id is None:
            raise AccountError(f"Régie inconnue « {regie_slug} »")
    elif role == "contributor":
        raise AccountError("un contributeur doit être rattaché à une Régie (--regie)")
    user = User(
        email=email, name=name.strip(), role=role, regie_id=regie_id,
        password_hash=hash_password(password),
    )  # fmt: skip
    session.add(user)
    return user


# ---------------------------------------------------------------------------------------
# Sessions: the cookie holds a random token; the database holds its SHA-256 and the
# session's CSRF secret. Signing out deletes the row, so a copied cookie is worthless.

SESSION_COOKIE = "rc_session"
ANON_COOKIE = "rc_anon"
LOGIN_WINDOW = timedelta(minutes=5)
MAX_FAILURES = 10  # per account and per address within LOGIN_WINDOW
_VERIFY_SLOTS = threading.BoundedSemaphore(4)  # an argon2 verify costs ~64 MiB of memory
_DUMMY_HASH = _HASHER.hash("pas un vrai mot de passe")
SEEN_GRACE = timedelta(minutes=1)  # last_seen_at is written at most once a minute


def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


@dataclass(frozen=True)
class SessionInfo:
    """The session of a request: who is signed in and the CSRF secret."""

    user: User
    session_id: int
    csrf_secret: str


def start_session(session: Session, user: User) -> str:
    """Create a new session for `user` (a fresh id at every sign-in); return the token."""
    token = secrets.token_urlsafe(32)
    session.add(
        UserSession(
            token_hash=_token_hash(token), user_id=user.id, csrf_secret=secrets.token_hex(32)
        )
    )
    return token


def end_session(session: Session, token: str | None) -> None:
    if token:
        session.execute(delete(UserSession).where(UserSession.token_hash == _token_hash(token)))


def load_session(
    engine: Engine, token: str | None, *, idle: timedelta, max_age: timedelta
) -> SessionInfo | None:
    """The live session of `token`, or None; expired sessions are deleted."""
    if not token or len(token) > 100:
        return None
    with Session(engine, expire_on_commit=False) as session:
        row = session.execute(
            select(UserSession, User)
            .join(User, User.id == UserSession.user_id)
            .where(UserSession.token_hash == _token_hash(token))
        ).first()
        if row is None:
            return None
        user_session, user = row
        now = utcnow()
        created, seen = _aware(user_session.created_at), _aware(user_session.last_seen_at)
        if not user.active or now - seen > idle or now - created > max_age:
            with write_session(engine) as writer:
                writer.execute(delete(UserSession).where(UserSession.id == user_session.id))
            return None
        if now - seen > SEEN_GRACE:
            with write_session(engine) as writer:
                writer.execute(
                    update(UserSession)
                    .where(UserSession.id == user_session.id)
                    .values(last_seen_at=now)
                )
        return SessionInfo(user, user_session.id, user_session.csrf_secret)


def _aware(value: datetime) -> datetime:
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def too_many_failures(session: Session, *, email: str, address: str) -> bool:
    since = utcnow() - LOGIN_WINDOW
    for column, value in ((LoginAttempt.email, email), (LoginAttempt.address, address)):
        failures = session.execute(
            select(func.count())
            .select_from(LoginAttempt)
            .where(column == value, LoginAttempt.success.is_(False), LoginAttempt.at >= since)  # type: ignore[attr-defined]
        ).scalar_one()
        if failures >= MAX_FAILURES:
            return True
    return False


def authenticate(engine: Engine, *, email: str, password: str, address: str) -> User | str:
    """Check a sign-in; return the user, or a French message (never saying which was wrong)."""
    email = normalise_email(email)[:254]
    address = address[:64]
    with Session(engine) as session:
        if too_many_failures(session, email=email, address=address):
            return (
                "Trop de tentatives de connexion. Pour votre sécurité, réessayez dans "
                "quelques minutes."
            )
        user = session.execute(select(User).where(User.email == email)).scalar_one_or_none()
    with _VERIFY_SLOTS:
        # Verify against a dummy hash for unknown accounts: same time, no enumeration.
        ok = verify_password(password, user.password_hash if user else _DUMMY_HASH)
    ok = ok and user is not None and user.active
    with write_session(engine) as session:
        session.add(LoginAttempt(email=email, address=address, success=ok))
        cutoff = utcnow() - timedelta(days=30)
        session.execute(delete(LoginAttempt).where(LoginAttempt.at < cutoff))
    if not ok or user is None:
        log.warning("sign-in failed (address %s)", address)
        return "Adresse e-mail ou mot de passe incorrect."
    return user


def change_password(session: Session, user: User, *, current: str, new: str) -> str | None:
    """Change a password; return a French error or None. Other sessions are signed out."""
    if not verify_password(current, user.password_hash):
        return "Le mot de passe actuel est incorrect."
    if len(new) < MIN_PASSWORD_CHARS:
        return f"Le nouveau mot de passe doit compter au moins {MIN_PASSWORD_CHARS} caractères."
    user.password_hash = hash_password(new)
    session.add(user)
    return None


# ---------------------------------------------------------------------------------------
# CSRF: a token bound to the session (or, before sign-in, to an anonymous cookie).


def csrf_token(secret_key: str, binding: str) -> str:
    return hmac.new(secret_key.encode(), f"csrf:{binding}".encode(), hashlib.sha256).hexdigest()


def csrf_valid(secret_key: str, binding: str | None, token: str | None) -> bool:
    if not binding or not token:
        return False
    return hmac.compare_digest(csrf_token(secret_key, binding), token)
