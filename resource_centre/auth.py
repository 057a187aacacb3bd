"""Accounts: password hashing (argon2id through pwdlib) and user creation."""

from __future__ import annotations

from pwdlib import PasswordHash
from sqlalchemy import select
from sqlmodel import Session

from resource_centre.models import Regie, User
from resource_centre.taxonomy import ROLES

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
