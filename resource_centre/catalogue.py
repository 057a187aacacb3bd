"""Curating the vocabularies and the Régies: add, rename, merge, retire, delete.

A merge or a rename changes every affected fiche in the same transaction, so the index
journal picks them up; a value still in use cannot be deleted, only merged or retired.
"""

from __future__ import annotations

from typing import Any

from slugify import slugify
from sqlalchemy import func, update
from sqlmodel import Session, col, select

from resource_centre.errors import DomainError, Kind
from resource_centre.models import Regie, Term, User, WriteUp
from resource_centre.taxonomy import REGIE_KINDS, VOCABULARY_BY_NAME
from resource_centre.writeups import record


class CatalogueError(DomainError, ValueError):
    """A French message explaining why the change is refused (the page answers 409)."""

    default_kind = Kind.CONFLICT


def _term(session: Session, vocabulary: str, slug: str) -> Term:
    term = session.execute(
        select(Term).where(Term.vocabulary == vocabulary, Term.slug == slug)
    ).scalar_one_or_none()
    if term is None:
        raise CatalogueError(f"valeur inconnue « {slug} »")
    return term


def usage(session: Session, vocabulary: str) -> dict[str, int]:
    """How many fiches use each value of a vocabulary."""
    vocab = VOCABULARY_BY_NAME[vocabulary]
    counts: dict[str, int] = {}
    if vocab.name == "regions":
        stmt = select(Regie.region, func.count(col(WriteUp.id))).join(
            WriteUp, col(WriteUp.regie_id) == Regie.id
        )
        for region, count in session.execute(stmt.group_by(Regie.region)):
            counts[region] = count
        return counts
    for (value,) in session.execute(select(getattr(WriteUp, vocab.field))):
        for slug in value if isinstance(value, list) else [value]:
            if slug:
                counts[slug] = counts.get(slug, 0) + 1
    return counts


def add_term(session: Session, *, actor: User, vocabulary: str, label: str, slug: str = "") -> Term:
    if vocabulary not in VOCABULARY_BY_NAME:
        raise CatalogueError(f"vocabulaire inconnu « {vocabulary} »")
    label = label.strip()
    if not label:
        raise CatalogueError("le libellé est obligatoire")
    slug = slugify(slug or label, max_length=80)
    if not slug:
        raise CatalogueError("identifiant invalide")
    exists = session.execute(
        select(col(Term.id)).where(Term.vocabulary == vocabulary, Term.slug == slug)
    ).first()
    if exists:
        raise CatalogueError(f"la valeur « {slug} » existe déjà")
    position = session.execute(
        select(func.coalesce(func.max(Term.position), -1)).where(Term.vocabulary == vocabulary)
    ).scalar_one()
    term = Term(vocabulary=vocabulary, slug=slug, label=label[:200], position=position + 1)
    session.add(term)
    record(session, action="term_add", actor_id=actor.id, vocabulary=vocabulary, slug=slug)
    return term


def rename_term(session: Session, *, actor: User, vocabulary: str, slug: str, label: str) -> None:
    """Change a label; fiches using the value are re-indexed (labels are searchable)."""
    label = label.strip()
    if not label:
        raise CatalogueError("le libellé est obligatoire")
    term = _term(session, vocabulary, slug)
    old = term.label
    term.label = label[:200]
    session.add(term)
    record(session, action="term_rename", actor_id=actor.id, vocabulary=vocabulary, slug=slug,
           old=old, new=term.label)  # fmt: skip


def _replace(values: Any, source: str, target: str) -> Any:
    if isinstance(values, list):
        out: list[str] = []
        for value in values:
            value = target if value == source else value
            if value not in out:
                out.append(value)
        return out
    return target if values == source else values


def merge_term(session: Session, *, actor: User, vocabulary: str, source: str, target: str) -> int:
    """Move every use of `source` to `target`, then delete `source`; return the fiche count."""
    if source == target:
        raise CatalogueError("choisissez deux valeurs différentes")
    vocab = VOCABULARY_BY_NAME[vocabulary]
    source_term = _term(session, vocabulary, source)
    _term(session, vocabulary, target)
    changed = 0
    if vocab.name == "regions":
        changed = session.execute(
            select(func.count(col(WriteUp.id))).join(Regie).where(Regie.region == source)
        ).scalar_one()
        for regie in session.execute(select(Regie).where(Regie.region == source)).scalars():
            regie.region = target
            session.add(regie)
    else:
        for writeup in session.execute(select(WriteUp)).scalars():
            current = getattr(writeup, vocab.field)
            new = _replace(current, source, target)
            pending = writeup.pending
            if pending and vocab.field in pending:
                pending_new = _replace(pending[vocab.field], source, target)
                if pending_new != pending[vocab.field]:
                    writeup.pending = {**pending, vocab.field: pending_new}
            if new != current:
                setattr(writeup, vocab.field, new)
                writeup.version += 1
                changed += 1
                session.add(writeup)
    session.delete(source_term)
    record(session, action="term_merge", actor_id=actor.id, vocabulary=vocabulary,
           source=source, target=target, fiches=changed)  # fmt: skip
    return changed


def retire_term(
    session: Session, *, actor: User, vocabulary: str, slug: str, retired: bool = True
) -> None:
    """Hide a value from forms (fiches keep it)."""
    term = _term(session, vocabulary, slug)
    term.retired = retired
    session.add(term)
    record(session, action="term_retire" if retired else "term_restore", actor_id=actor.id,
           vocabulary=vocabulary, slug=slug)  # fmt: skip


def delete_term(session: Session, *, actor: User, vocabulary: str, slug: str) -> None:
    term = _term(session, vocabulary, slug)
    used = usage(session, vocabulary).get(slug, 0)
    if vocabulary == "regions":
        used += session.execute(
            select(func.count(col(Regie.id))).where(Regie.region == slug)
        ).scalar_one()
    if used:
        raise CatalogueError(
            f"« {term.label} » est utilisée ({used}) : fusionnez-la avec une autre valeur ou retirez-la."
        )
    session.delete(term)
    record(session, action="term_delete", actor_id=actor.id, vocabulary=vocabulary, slug=slug)


# --- Régies ------------------------------------------------------------------------------


def _regie(session: Session, slug: str) -> Regie:
    regie = session.execute(select(Regie).where(Regie.slug == slug)).scalar_one_or_none()
    if regie is None:
        raise CatalogueError(f"Régie inconnue « {slug} »")
    return regie


def save_regie(
    session: Session, *, actor: User, slug: str | None, name: str, kind: str, city: str,
    department: str, region: str, contact_email: str = "",
) -> Regie:  # fmt: skip
    """Create a Régie (slug None) or update one; renames re-index its fiches."""
    name = name.strip()
    if not name:
        raise CatalogueError("le nom est obligatoire")
    if kind not in REGIE_KINDS:
        raise CatalogueError(f"choisissez {' ou '.join(REGIE_KINDS.values())}")
    _term(session, "regions", region)
    if slug is None:
        new_slug = slugify(name, max_length=80)
        if session.execute(select(col(Regie.id)).where(Regie.slug == new_slug)).first():
            raise CatalogueError(f"une Régie « {new_slug} » existe déjà")
        regie = Regie(
            slug=new_slug, name=name, kind=kind, city=city, department=department, region=region
        )
        action = "regie_add"
    else:
        regie = _regie(session, slug)
        regie.name, regie.kind, regie.city = name, kind, city.strip()
        regie.department, regie.region = department.strip(), region
        action = "regie_edit"
    regie.contact_email = contact_email.strip() or None
    session.add(regie)
    record(session, action=action, actor_id=actor.id, regie=regie.slug)
    return regie


def merge_regie(session: Session, *, actor: User, source: str, target: str) -> int:
    """Move fiches and accounts of `source` to `target`, then delete `source`."""
    if source == target:
        raise CatalogueError("choisissez deux Régies différentes")
    old, new = _regie(session, source), _regie(session, target)
    writeups = session.execute(select(WriteUp).where(WriteUp.regie_id == old.id)).scalars().all()
    for writeup in writeups:
        writeup.regie_id = new.id
        writeup.version += 1
        session.add(writeup)
    session.execute(update(User).where(col(User.regie_id) == old.id).values(regie_id=new.id))
    session.flush()
    session.delete(old)
    record(session, action="regie_merge", actor_id=actor.id, source=source, target=target,
           fiches=len(writeups))  # fmt: skip
    return len(writeups)


def retire_regie(session: Session, *, actor: User, slug: str, retired: bool = True) -> None:
    regie = _regie(session, slug)
    regie.retired = retired
    session.add(regie)
    record(
        session,
        action="regie_retire" if retired else "regie_restore",
        actor_id=actor.id,
        regie=slug,
    )
