"""Accounts: password hashing (argon2id), users, server-side sessions, sign-in limits, CSRF."""

from __future__ import annotations

import hashlib
import hmac
import logging
import re
import secrets
import threading
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.errors import HeaderParseError
from email.headerregistry import Address
from typing import Any

from pwdlib import PasswordHash
from sqlalchemy import Engine, delete, func, text, update
from sqlmodel import Session, col, select

from resource_centre.db import write_session
from resource_centre.errors import DomainError, Kind
from resource_centre.models import AccountToken, LoginAttempt, Regie, User, UserSession, utcnow
from resource_centre.taxonomy import ROLES

log = logging.getLogger(__name__)
_HASHER = PasswordHash.recommended()
MIN_PASSWORD_CHARS = 10


class AccountError(DomainError, ValueError):
    """A French message explaining why an account cannot be created, used or changed.

    `field` names the form field the message belongs to (None: the form as a whole);
    refusals for too many attempts have the kind `Kind.TOO_MANY`.
    """


def hash_password(password: str) -> str:
    return _HASHER.hash(password)


def verify_password(password: str, password_hash: str) -> bool:
    try:
        return _HASHER.verify(password, password_hash)
    except Exception:
        return False


def normalise_email(email: str) -> str:
    return email.strip().lower()


_ADDRESS_SHAPE = re.compile(
    r"[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+@[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?"
    r"(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)+"
)


def single_address(email: str) -> bool:
    """Is `email` exactly one mailbox (no list, no display name, no control character), so
    that a To header made of it names that one recipient?"""
    if len(email) > 254 or _ADDRESS_SHAPE.fullmatch(email) is None:
        return False
    try:
        parsed = Address(addr_spec=email)
    except (ValueError, IndexError, HeaderParseError):
        return False
    return parsed.addr_spec == email and not parsed.display_name


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
    if not single_address(email):
        raise AccountError(f"adresse e-mail invalide : « {email} »", field="email")
    if role not in ROLES:
        raise AccountError(f"rôle inconnu « {role} » ({', '.join(ROLES)})", field="role")
    if len(password) < MIN_PASSWORD_CHARS:
        raise AccountError(
            f"mot de passe trop court ({MIN_PASSWORD_CHARS} caractères au moins)", field="password"
        )
    if session.execute(select(User.id).where(User.email == email)).first():
        raise AccountError(f"un compte existe déjà pour « {email} »", field="email")
    regie_id = None
    if regie_slug:
        regie_id = session.execute(select(Regie.id).where(Regie.slug == regie_slug)).scalar()
        if regie_id is None:
            raise AccountError(f"Régie inconnue « {regie_slug} »", field="regie")
    elif role == "contributor":
        raise AccountError(
            "un contributeur doit être rattaché à une Régie (--regie)", field="regie"
        )
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
MAX_FAILURES = 10  # per account and address within LOGIN_WINDOW
ADDRESS_MAX_FAILURES = 10  # per address, all accounts together (password spraying)
ACCOUNT_MAX_FAILURES = 30  # per account within LOGIN_WINDOW, beyond which only known addresses
KNOWN_ADDRESS_AGE = timedelta(days=30)  # a successful sign-in makes an address known this long
LOGIN_LOCK_CLASS = 0x5243  # PostgreSQL advisory lock class of the sign-in attempts ("RC")
TOO_MANY_ATTEMPTS = (
    "Trop de tentatives de connexion. Pour votre sécurité, réessayez dans quelques minutes."
)
_VERIFY_SLOTS = threading.BoundedSemaphore(2)  # an argon2 verify costs ~0.3 s and 64 MiB
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
    assert user.id is not None, "sessions belong to stored accounts"
    token = secrets.token_urlsafe(32)
    session.add(
        UserSession(
            token_hash=_token_hash(token), user_id=user.id, csrf_secret=secrets.token_hex(32)
        )
    )
    return token


def end_session(session: Session, token: str | None) -> None:
    if token:
        session.execute(
            delete(UserSession).where(col(UserSession.token_hash) == _token_hash(token))
        )


def load_session(
    engine: Engine, token: str | None, *, idle: timedelta, max_age: timedelta
) -> SessionInfo | None:
    """The live session of `token`, or None; expired sessions are deleted."""
    if not token or len(token) > 100:
        return None
    with Session(engine, expire_on_commit=False) as session:
        row = session.execute(
            select(UserSession, User)
            .join(User, col(User.id) == UserSession.user_id)
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


def _lock_account_key(session: Session, email: str) -> None:
    """On PostgreSQL, serialise the attempts on one account (SQLite: BEGIN IMMEDIATE does)."""
    if session.get_bind().dialect.name == "postgresql":
        key = int.from_bytes(hashlib.sha256(email.encode()).digest()[:4], "big", signed=True)
        session.execute(
            text("SELECT pg_advisory_xact_lock(:c, :k)"), {"c": LOGIN_LOCK_CLASS, "k": key}
        )


def _failures(session: Session, *conditions: Any) -> int:
    since = utcnow() - LOGIN_WINDOW
    return session.execute(
        select(func.count())
        .select_from(LoginAttempt)
        .where(*conditions, col(LoginAttempt.success).is_(False), LoginAttempt.at >= since)
    ).scalar_one()


def _known_address(session: Session, email: str, address: str) -> bool:
    """Has this account signed in successfully from this address lately?"""
    since = utcnow() - KNOWN_ADDRESS_AGE
    return (
        session.execute(
            select(LoginAttempt.id)
            .where(
                LoginAttempt.email == email,
                LoginAttempt.address == address,
                col(LoginAttempt.success).is_(True),
                LoginAttempt.at >= since,
            )
            .limit(1)
        ).first()
        is not None
    )


def reserve_attempt(engine: Engine, *, email: str, address: str) -> int | None:
    """Check the limits and record an attempt, atomically; return its id, or None if refused.

    The attempt is stored as a failure *before* the password is verified (and marked a
    success afterwards by `settle_attempt`), inside a write transaction that serialises the
    attempts on the account: however many requests arrive at once, at most `MAX_FAILURES`
    passwords per account and address are verified in a window, at most
    `ACCOUNT_MAX_FAILURES` per account from addresses it has never signed in from, and at
    most `ADDRESS_MAX_FAILURES` from one address across all accounts (password spraying;
    serialised per account only, so a burst over many accounts may pass it by a few).
    """
    with write_session(engine) as session:
        _lock_account_key(session, email)
        if _failures(session, LoginAttempt.email == email, LoginAttempt.address == address) >= (
            MAX_FAILURES
        ):
            return None
        if _failures(
            session, LoginAttempt.email == email
        ) >= ACCOUNT_MAX_FAILURES and not _known_address(session, email, address):
            return None
        if _failures(session, LoginAttempt.address == address) >= ADDRESS_MAX_FAILURES:
            return None  # one address guessing across many accounts
        attempt = LoginAttempt(email=email, address=address, success=False)
        session.add(attempt)
        session.flush()
        cutoff = utcnow() - KNOWN_ADDRESS_AGE
        session.execute(delete(LoginAttempt).where(col(LoginAttempt.at) < cutoff))
        return attempt.id


def settle_attempt(engine: Engine, attempt_id: int, *, success: bool) -> None:
    """Mark a reserved attempt as a success (a failure is what was recorded already)."""
    if success:
        with write_session(engine) as session:
            session.execute(
                update(LoginAttempt).where(col(LoginAttempt.id) == attempt_id).values(success=True)
            )


def _verify(password: str, password_hash: str) -> bool:
    with _VERIFY_SLOTS:
        return verify_password(password, password_hash)


WRONG_CREDENTIALS = "Adresse e-mail ou mot de passe incorrect."
WRONG_CURRENT_PASSWORD = "Le mot de passe actuel est incorrect."


def authenticate(engine: Engine, *, email: str, password: str, address: str) -> User:
    """Check a sign-in; return the user or raise AccountError with a French message.

    The message never says which of e-mail and password was wrong; a refusal for too many
    attempts has the kind `Kind.TOO_MANY`. Blocking (argon2 and database): call it from a
    worker thread, never on the event loop.
    """
    email = normalise_email(email)[:254]
    address = address[:64]
    attempt_id = reserve_attempt(engine, email=email, address=address)
    if attempt_id is None:
        log.warning("sign-in refused: too many failures (address %s)", address)
        raise AccountError(TOO_MANY_ATTEMPTS, kind=Kind.TOO_MANY)
    with Session(engine) as session:
        user = session.execute(select(User).where(User.email == email)).scalar_one_or_none()
    # Verify against a dummy hash for unknown accounts: same time, no enumeration.
    ok = _verify(password, user.password_hash if user else _DUMMY_HASH)
    ok = ok and user is not None and user.active
    settle_attempt(engine, attempt_id, success=ok)
    if not ok or user is None:
        log.warning("sign-in failed (address %s)", address)
        raise AccountError(WRONG_CREDENTIALS)
    return user


def sign_in(
    engine: Engine, *, email: str, password: str, address: str, previous_token: str | None
) -> tuple[User, str]:
    """`authenticate`, then replace the caller's session by a new one (a fresh id at every
    sign-in); return the user and the new session's token. Raises AccountError."""
    user = authenticate(engine, email=email, password=password, address=address)
    with write_session(engine) as session:
        end_session(session, previous_token)
        token = start_session(session, user)
    return user, token


def sign_out(engine: Engine, token: str | None) -> None:
    """End the session of `token` (its row is deleted: a copied cookie is then worthless)."""
    with write_session(engine) as session:
        end_session(session, token)


def change_password(
    engine: Engine,
    user_id: int,
    *,
    current: str,
    new: str,
    confirm: str,
    address: str,
    keep_session_id: int | None,
) -> None:
    """Change a password, or raise AccountError whose `field` is the form field at fault.

    `confirm` must repeat `new`. The current password is checked within the same attempt
    limits as signing in (a refusal has the kind `Kind.TOO_MANY`, on the field
    "current_password"). On success every other session of the user is signed out (their
    rows are deleted); the session `keep_session_id` stays signed in; every password reset
    link still unused stops working.
    Blocking (argon2 and database): call it from a worker thread.
    """
    if new != confirm:
        raise AccountError("Les deux nouveaux mots de passe diffèrent.", field="confirm_password")
    if len(new) < MIN_PASSWORD_CHARS:
        raise AccountError(
            f"Le nouveau mot de passe doit compter au moins {MIN_PASSWORD_CHARS} caractères.",
            field="new_password",
        )
    with Session(engine) as session:
        user = session.get(User, user_id)
        if user is None or not user.active:
            raise AccountError(WRONG_CURRENT_PASSWORD, field="current_password")
        email, password_hash = user.email, user.password_hash
    attempt_id = reserve_attempt(engine, email=email, address=address[:64])
    if attempt_id is None:
        log.warning("password change refused: too many failures (address %s)", address)
        raise AccountError(TOO_MANY_ATTEMPTS, kind=Kind.TOO_MANY, field="current_password")
    ok = _verify(current, password_hash)
    settle_attempt(engine, attempt_id, success=ok)
    if not ok:
        log.warning("password change: wrong current password (address %s)", address)
        raise AccountError(WRONG_CURRENT_PASSWORD, field="current_password")
    with _VERIFY_SLOTS:
        new_hash = hash_password(new)
    with write_session(engine) as session:
        session.execute(update(User).where(col(User.id) == user_id).values(password_hash=new_hash))
        others = delete(UserSession).where(col(UserSession.user_id) == user_id)
        if keep_session_id is not None:
            others = others.where(col(UserSession.id) != keep_session_id)
        session.execute(others)
        # As account_tokens.retire (which imports this module): the links mailed before.
        session.execute(
            update(AccountToken)
            .where(col(AccountToken.user_id) == user_id, col(AccountToken.used_at).is_(None))
            .values(used_at=utcnow())
        )


# ---------------------------------------------------------------------------------------
# CSRF: a token bound to the session (or, before sign-in, to an anonymous cookie), masked
# afresh for every response so that no secret repeats in compressed pages (BREACH).

CSRF_BYTES = 32


def _csrf_mac(secret_key: str, binding: str) -> bytes:
    return hmac.new(secret_key.encode(), f"csrf:{binding}".encode(), hashlib.sha256).digest()


def _xor(a: bytes, b: bytes) -> bytes:
    return bytes(x ^ y for x, y in zip(a, b, strict=True))


def csrf_token(secret_key: str, binding: str) -> str:
    """A new masked token (random mask, then mask XOR HMAC, in hex): different every call."""
    mask = secrets.token_bytes(CSRF_BYTES)
    return (mask + _xor(mask, _csrf_mac(secret_key, binding))).hex()


def csrf_valid(secret_key: str, binding: str | None, token: str | None) -> bool:
    if not binding or not token or len(token) != 4 * CSRF_BYTES:
        return False
    try:
        raw = bytes.fromhex(token)
    except ValueError:
        return False
    if len(raw) != 2 * CSRF_BYTES:
        return False
    unmasked = _xor(raw[:CSRF_BYTES], raw[CSRF_BYTES:])
    return hmac.compare_digest(_csrf_mac(secret_key, binding), unmasked)


# ---------------------------------------------------------------------------------------
# One-time form tokens (a double submit creates one fiche): random, and signed for the user
# they were given to, so a token issued to one account is refused for another.


def _form_mac(secret_key: str, user_id: int, nonce: str) -> str:
    message = f"form:{user_id}:{nonce}".encode()
    return hmac.new(secret_key.encode(), message, hashlib.sha256).hexdigest()[:32]


def issue_form_token(secret_key: str, user_id: int) -> str:
    nonce = secrets.token_urlsafe(18)
    return f"{nonce}.{_form_mac(secret_key, user_id, nonce)}"


def form_token_valid(secret_key: str, user_id: int, token: str) -> bool:
    nonce, _, mac = token.partition(".")
    if not token.isascii() or len(nonce) != 24 or len(mac) != 32:
        return False
    return hmac.compare_digest(_form_mac(secret_key, user_id, nonce), mac)
