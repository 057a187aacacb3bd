"""`resource-centre check`: how the index differs from the database."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from resource_centre.search.schema import META_SLUG


@dataclass
class CheckReport:
    missing: list[str]  # published in the database, absent from the index
    extra: list[str]  # in the index, not published in the database
    stale: list[str]  # in both, but the index holds an older version
    pending: int  # journal entries not applied yet
    duplicates: list[str] = field(default_factory=list)  # more than once in a live searcher
    live_stale: list[str] = field(default_factory=list)  # older version in a live searcher

    @property
    def ok(self) -> bool:
        return not (
            self.missing
            or self.extra
            or self.stale
            or self.pending
            or self.duplicates
            or self.live_stale
        )


def indexed_versions(searcher: Any) -> tuple[dict[str, int], int]:
    """The version of each fiche a (fresh) searcher holds, and the applied journal id."""
    indexed: dict[str, int] = {}
    applied = 0
    for fields in searcher.all_stored_fields():
        if fields.get("slug") == META_SLUG:
            applied = int(fields.get("journal_id", 0))
        else:
            indexed[fields["slug"]] = int(fields.get("version", 0))
    return indexed, applied


def live_view(searcher: Any, published: dict[str, int]) -> tuple[list[str], list[str]]:
    """Duplicates and stale versions as a long-lived searcher sees them.

    A fresh reader can agree with the database while a searcher kept open by a server
    still shows replaced documents: both are checked.
    """
    counts: dict[str, int] = {}
    versions: dict[str, int] = {}
    for fields in searcher.all_stored_fields():
        slug = fields.get("slug")
        if not slug or slug == META_SLUG:
            continue
        counts[slug] = counts.get(slug, 0) + 1
        versions[slug] = min(versions.get(slug, 1 << 62), int(fields.get("version", 0)))
    duplicates = sorted(slug for slug, n in counts.items() if n > 1)
    stale = sorted(
        slug for slug, v in versions.items() if slug in published and v != published[slug]
    )
    return duplicates, stale


def compare(
    published: dict[str, int],
    indexed: dict[str, int],
    *,
    applied: int,
    latest: int,
    live: tuple[list[str], list[str]] = ([], []),
) -> CheckReport:
    """The report of an index holding `indexed` against the database's `published`."""
    return CheckReport(
        duplicates=live[0],
        live_stale=live[1],
        missing=sorted(set(published) - set(indexed)),
        extra=sorted(set(indexed) - set(published)),
        stale=sorted(s for s in published.keys() & indexed.keys() if published[s] != indexed[s]),
        pending=max(0, latest - applied),
    )
