"""French text analysis for the index and the queries.

The schema (with these analyzers) is pickled into the index: the names of this module and
of its functions must stay stable, and only Whoosh's own classes are used inside the
analyzers so that an index stays readable whatever this module becomes.
"""

from __future__ import annotations

from whoosh.analysis import (
    Analyzer,
    CharsetFilter,
    LowercaseFilter,
    RegexTokenizer,
    StemFilter,
    StopFilter,
)
from whoosh.lang.stopwords import stoplists
from whoosh.support.charset import accent_map

from resource_centre.taxonomy import fold

# `\w+` splits on both apostrophes (l'habitant, d’insertion) and on hyphens.
WORD_PATTERN = r"\w+"

# Whoosh's French list plus a few frequent words it lacks; elided forms (l, d, qu…) included.
_EXTRA_WORDS = "les aux cet cette ces ils elles leurs leur dont où ou quand comme lorsque puis donc car ni si afin ainsi"
_EXTRA_STOP_WORDS = frozenset(_EXTRA_WORDS.split())


def french_stop_words() -> frozenset[str]:
    """Return the French stop words, accented and accent-folded."""
    words = set(stoplists["fr"]) | _EXTRA_STOP_WORDS
    return frozenset(words | {fold(w) for w in words})


def french_analyzer() -> Analyzer:
    """Analyzer of the searchable text: words, lower case, accents folded, stop words, stems."""
    return (
        RegexTokenizer(WORD_PATTERN)
        | LowercaseFilter()
        | CharsetFilter(accent_map)
        | StopFilter(stoplist=french_stop_words(), minsize=1)
        | StemFilter(lang="fr", cachesize=100_000)
    )


def folding_analyzer() -> Analyzer:
    """Analyzer of the "did you mean" field: words, lower case, accents folded, not stemmed."""
    return RegexTokenizer(WORD_PATTERN) | LowercaseFilter() | CharsetFilter(accent_map)
