"""The field's glossary: acronyms with their long forms, and groups of words of equal meaning.

Used by the search to widen a query (`search/expand.py`).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal

KINDS: tuple[str, ...] = ("acronym", "synonyms")


@dataclass(frozen=True)
class GlossaryItem:
    """One entry: `term` (the acronym, or one of the synonyms), `expansions` (the long forms
    of an acronym, or every word of a synonyms group), and a definition in plain French."""

    term: str
    kind: Literal["acronym", "synonyms"]
    expansions: tuple[str, ...]
    definition: str = ""


@dataclass(frozen=True)
class Glossary:
    """The glossary as the search uses it; `version` changes whenever an entry does."""

    items: tuple[GlossaryItem, ...] = ()
    version: str = ""

    @classmethod
    def of(cls, items: Iterable[GlossaryItem]) -> Glossary:
        """A glossary of these items, its version a digest of their content."""
        kept = tuple(items)
        digest = hashlib.sha256(
            json.dumps(
                [[i.term, i.kind, list(i.expansions), i.definition] for i in kept],
                ensure_ascii=False,
            ).encode()
        ).hexdigest()[:16]
        return cls(kept, digest)
