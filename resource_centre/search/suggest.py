"""\"Did you mean\": the query with its misspelt words replaced by better-known ones."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from typing import Any

from whoosh.reading import TermNotFound
from whoosh.support.levenshtein import distance

from resource_centre.search.analysis import folding_analyzer
from resource_centre.search.caches import STOP_WORDS
from resource_centre.search.schema import PHRASE_FIELD
from resource_centre.search.textquery import OPERATOR_WORDS, WORD_RE

logger = logging.getLogger(__name__)

_FOLDER = folding_analyzer()


def _fold_word(word: str) -> str:
    """Lower-case and strip accents, as the `spell` field does."""
    return "".join(t.text for t in _FOLDER(word))


def _spell_candidates(reader: Any, word: str, maxdist: int) -> Iterable[str]:
    for leaf, _ in reader.leaf_readers():
        try:
            yield from leaf.terms_within(PHRASE_FIELD, word, maxdist, prefix=1)
        except Exception:  # a suggestion is optional: a segment that fails gives no candidate
            logger.debug("terms_within failed", exc_info=True)


def _correct_word(reader: Any, word: str) -> str | None:
    """Return a better-known spelling of a folded word, or None."""
    if len(word) < 4 or not word.isalpha() or word in STOP_WORDS:
        return None
    try:
        frequency = reader.doc_frequency(PHRASE_FIELD, word)
    except (TermNotFound, KeyError):
        frequency = 0
    if frequency > 2:
        return None
    maxdist = 1 if len(word) <= 5 else 2
    best: tuple[int, int, str] | None = None
    for candidate in set(_spell_candidates(reader, word, maxdist)):
        if candidate == word or not candidate.isalpha() or candidate in STOP_WORDS:
            continue
        candidate_frequency = reader.doc_frequency(PHRASE_FIELD, candidate)
        if candidate_frequency < max(2, frequency * 10):
            continue
        key = (distance(word, candidate), -candidate_frequency, candidate)
        if best is None or key < best:
            best = key
    return best[2] if best else None


def suggest(reader: Any, text: str, found: int, count: Callable[[str], int]) -> str | None:
    """Return the query with its misspelt words corrected, if that finds more fiches.

    `count(text)` is how many fiches a query text finds, with the request's filters.
    """
    pieces: list[str] = []
    position = 0
    changed = False
    for index, match in enumerate(WORD_RE.finditer(text)):
        word = match.group()
        pieces.append(text[position : match.start()])
        position = match.end()
        excluded = match.start() > 0 and text[match.start() - 1] == "-"
        if index >= 8 or word in OPERATOR_WORDS or len(word) > 25 or excluded:
            pieces.append(word)
            continue
        correction = _correct_word(reader, _fold_word(word))
        if correction:
            pieces.append(correction)
            changed = True
        else:
            pieces.append(word)
    if not changed:
        return None
    pieces.append(text[position:])
    suggestion = "".join(pieces)
    return suggestion if count(suggestion) > found else None
