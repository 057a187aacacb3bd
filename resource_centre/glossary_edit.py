"""Changing the glossary: a curator's add, edit and delete (each with an audit event), and
the import of `glossary.yaml`, which replaces the whole glossary.

Functions take the session of the caller's transaction; they check the permission
themselves and raise `DomainError`s. The rules of an entry are `glossary.check_entry`.
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, func, select

from resource_centre.errors import DomainError, Kind
from resource_centre.glossary import MAX_ENTRIES, GlossaryItem, check_entry, term_key
from resource_centre.models import GlossaryEntry, User, utcnow
from resource_centre.writeups import PermissionDenied, is_curator, record


class GlossaryError(DomainError):
    """An entry that breaks a rule: `errors` gives a French message for each field
    (`term`, `kind`, `expansions`, `definition`); the form is shown again with them."""

    default_kind = Kind.INVALID

    def __init__(self, errors: dict[str, str]) -> None:
        first = next(iter(errors.items()), ("term", "entrée invalide"))
        super().__init__(first[1], field=first[0])
        self.errors = dict(errors)


class EntryNotFound(DomainError):
    default_kind = Kind.NOT_FOUND

    def __init__(self) -> None:
        super().__init__("Cette entrée du glossaire n'existe pas (ou plus).")


TERM_TAKEN = "« {term} » est déjà dans le glossaire : modifiez cette entrée-là"


def _require_curator(session: Session, user: User) -> User:
    actor = session.get(User, user.id) if user is not None and user.id else None
    if actor is None or not is_curator(actor):
        raise PermissionDenied
    return actor


def _checked(term: str, kind: str, expansions: Sequence[str], definition: str) -> GlossaryItem:
    checked = check_entry(term, kind, expansions, definition)
    if checked.item is None:
        raise GlossaryError(checked.errors)
    return checked.item


def _term_taken(session: Session, key: str, but: int | None = None) -> bool:
    stmt = select(col(GlossaryEntry.id)).where(GlossaryEntry.term_key == key)
    if but is not None:
        stmt = stmt.where(col(GlossaryEntry.id) != but)
    return session.execute(stmt).first() is not None


def _flush_unique(session: Session, term: str) -> None:
    """Flush in a savepoint: a term stored meanwhile by another transaction (PostgreSQL
    runs them side by side) is the form's error, not a 500."""
    try:
        with session.begin_nested():
            session.flush()
    except IntegrityError:
        raise GlossaryError({"term": TERM_TAKEN.format(term=term)}) from None


def _apply(entry: GlossaryEntry, item: GlossaryItem) -> bool:
    """Give `entry` the content of `item`; True if something changed."""
    new = (item.term, term_key(item.term), item.kind, list(item.expansions), item.definition)
    old = (entry.term, entry.term_key, entry.kind, list(entry.expansions), entry.definition)
    if new == old:
        return False
    entry.term, entry.term_key, entry.kind, entry.expansions, entry.definition = new
    entry.updated_at = utcnow()
    return True


def add_entry(
    session: Session,
    *,
    user: User,
    term: str,
    kind: str,
    expansions: Sequence[str],
    definition: str,
) -> GlossaryEntry:
    """Add an entry; GlossaryError when it breaks a rule or its term is taken."""
    actor = _require_curator(session, user)
    item = _checked(term, kind, expansions, definition)
    count = session.execute(select(func.count()).select_from(GlossaryEntry)).scalar_one()
    if count >= MAX_ENTRIES:
        raise GlossaryError({"term": f"le glossaire compte déjà {MAX_ENTRIES} entrées, le maximum"})
    if _term_taken(session, term_key(item.term)):
        raise GlossaryError({"term": TERM_TAKEN.format(term=item.term)})
    entry = GlossaryEntry(term="", term_key="", kind=item.kind)
    _apply(entry, item)
    session.add(entry)
    _flush_unique(session, item.term)
    record(session, action="glossary_add", actor_id=actor.id, comment=item.term, term=item.term)
    return entry


def update_entry(
    session: Session,
    *,
    user: User,
    entry_id: int,
    term: str,
    kind: str,
    expansions: Sequence[str],
    definition: str,
) -> GlossaryEntry:
    """Change an entry; EntryNotFound, or GlossaryError as for `add_entry`."""
    actor = _require_curator(session, user)
    entry = session.execute(
        select(GlossaryEntry).where(GlossaryEntry.id == entry_id).with_for_update()
    ).scalar_one_or_none()
    if entry is None:
        raise EntryNotFound
    item = _checked(term, kind, expansions, definition)
    if _term_taken(session, term_key(item.term), but=entry.id):
        raise GlossaryError({"term": TERM_TAKEN.format(term=item.term)})
    before = entry.term
    if _apply(entry, item):
        session.add(entry)
        _flush_unique(session, item.term)
        detail = {"term": item.term} | ({"before": before} if before != item.term else {})
        record(session, action="glossary_edit", actor_id=actor.id, comment=item.term, **detail)
    return entry


def delete_entry(session: Session, *, user: User, entry_id: int) -> str:
    """Delete an entry; return its term. EntryNotFound if there is none."""
    actor = _require_curator(session, user)
    entry = session.execute(
        select(GlossaryEntry).where(GlossaryEntry.id == entry_id).with_for_update()
    ).scalar_one_or_none()
    if entry is None:
        raise EntryNotFound
    term = entry.term
    session.delete(entry)
    record(session, action="glossary_delete", actor_id=actor.id, comment=term, term=term)
    return term


def replace_glossary(session: Session, items: Sequence[GlossaryItem]) -> tuple[int, int, int]:
    """Make the stored glossary exactly `items` (already checked, terms distinct): entries
    are matched by term, so an unchanged one keeps its id and date. Returns the numbers of
    entries created, changed and deleted."""
    existing = {e.term_key: e for e in session.execute(select(GlossaryEntry)).scalars()}
    wanted = {term_key(item.term): item for item in items}
    deleted = 0
    for key, entry in existing.items():
        if key not in wanted:
            session.delete(entry)
            deleted += 1
    session.flush()
    created = changed = 0
    for key, item in wanted.items():
        entry = existing.get(key)
        if entry is None:
            entry = GlossaryEntry(term="", term_key="", kind=item.kind)
            _apply(entry, item)
            session.add(entry)
            created += 1
        elif _apply(entry, item):
            session.add(entry)
            changed += 1
    return created, changed, deleted
