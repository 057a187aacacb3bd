"""French text analysis for the index and the queries.

Two analyzers, one class (`FrenchAnalyzer`): the `\\w+` words of a text, lower-cased and
accent-folded, then (`stemmed=True`) without stop words and stemmed. They give exactly what
`RegexTokenizer(r"\\w+") | LowercaseFilter() | CharsetFilter(accent_map)` (then `| StopFilter
| StemFilter(lang="fr")`) gave, five times faster: a text is split on white space and its
pieces looked up (each new piece is tokenised and folded once), once for both analyzers (the
`spell` field's text ends with the body, analysed just before it); stems come from Snowball's
C French stemmer (PyStemmer), except for the few word shapes where it departs from Whoosh's
stemmer (`_needs_reference`), which go on being stemmed by Whoosh's.

The schema (with these analyzers) is pickled into the index: the names of this module, of
`FrenchAnalyzer` and of its `stemmed` attribute must stay stable; after a change of what the
analyzers produce, bump `SCHEMA_VERSION` (schema.py) so that indexes are rebuilt.
"""

from __future__ import annotations

import operator
import re
import threading
from collections.abc import Callable, Iterator
from functools import lru_cache, partial
from itertools import chain, repeat
from typing import Any, cast

import Stemmer  # type: ignore[import-not-found]  # PyStemmer ships no type information
from whoosh.analysis import (
    Analyzer,
    CharsetFilter,
    LowercaseFilter,
    RegexTokenizer,
    StemFilter,
    StopFilter,
    Token,
)
from whoosh.lang import stemmer_for_language
from whoosh.lang.stopwords import stoplists
from whoosh.support.charset import accent_map

from resource_centre.taxonomy import fold

# `\w+` splits on both apostrophes (l'habitant, d’insertion) and on hyphens.
WORD_PATTERN = r"\w+"
_WORDS = re.compile(WORD_PATTERN).findall
_WORD_CHAR = re.compile(r"\w").match
_ONE_WORD = re.compile(WORD_PATTERN).fullmatch

# Whoosh's French list plus a few frequent words it lacks; elided forms (l, d, qu…) included.
_EXTRA_WORDS = "les aux cet cette ces ils elles leurs leur dont où ou quand comme lorsque puis donc car ni si afin ainsi"
_EXTRA_STOP_WORDS = frozenset(_EXTRA_WORDS.split())


def french_stop_words() -> frozenset[str]:
    """Return the French stop words, accented and accent-folded."""
    words = set(stoplists["fr"]) | _EXTRA_STOP_WORDS
    return frozenset(words | {fold(w) for w in words})


# -- stems ---------------------------------------------------------------------------------

# Snowball 3 (PyStemmer) and Whoosh's older French stemmer disagree on a few word shapes
# (of accent-folded words; checked on 20,000 French words and 1,000,000 made-up ones):
# Snowball 3 turns -oux into -ou (bijoux), removes -aise(s) (française), keeps -ais after
# "al" and "auv" (palais, mauvais) and ni- verbs whole (nier); Whoosh's port handles a "y"
# next to a vowel only inside a word, re-reads a stale region after -amment/-emment, and
# finds "ic" inside -atrice (indicatrice). These words, and any text that is not one `\w+`
# word (Snowball 3 removes elisions: l'…), are stemmed by Whoosh's stemmer.
_REFERENCE_ENDINGS = ("oux", "ais", "aise", "aises", "amment", "emment", "icatrice", "icatrices")
_SNOWBALL = Stemmer.Stemmer("french")
_SNOWBALL.maxCacheSize = 0  # `stem_folded` caches
_REFERENCE: Callable[[str], str] = stemmer_for_language("fr")
_STEM_LOCK = threading.Lock()  # a PyStemmer object is not to be shared by threads at once


def _needs_reference(word: str) -> bool:
    return (
        "y" in word
        or word.startswith("ni")
        or word.endswith(_REFERENCE_ENDINGS)
        or not _ONE_WORD(word)
    )


# French stem collisions that mix up the field's words: a "commune" is not "communication"
# (nor "commun"), a gardien's "loge" is not "logement", "habits" (clothes) are not
# "habitants", "au cours de" is not a "cour" d'immeuble, a "placement" is not a "place".
# These words get a stem of their own (ending in "_", which no stemmer produces).
STEM_EXCEPTIONS: dict[str, str] = {
    "commune": "commune_",
    "communes": "commune_",
    "communication": "communiqu",
    "communications": "communiqu",
    "loge": "loge_",
    "loges": "loge_",
    "habit": "habits_",
    "habits": "habits_",
    "cours": "cours_",
    "placement": "placement_",
    "placements": "placement_",
    # « habitation » (HLM's long form) is not « habitant »: the stemmer makes both "habit".
    "habitation": "habitation_",
    "habitations": "habitation_",
    # « café » is not the CAF (caisse d'allocations familiales): the stemmer makes both "caf".
    "cafe": "cafe_",
    "cafes": "cafe_",
}


@lru_cache(maxsize=200_000)
def stem_folded(word: str) -> str:
    """The stem of a lower-cased, accent-folded word: what Whoosh's French stemmer gives,
    except for the few words of `STEM_EXCEPTIONS`."""
    exception = STEM_EXCEPTIONS.get(word)
    if exception is not None:
        return exception
    if _needs_reference(word):
        return _REFERENCE(word)
    with _STEM_LOCK:
        return str(_SNOWBALL.stemWord(word))


_STOP_WORDS = french_stop_words()
_MISSING = "\x00"  # never a word: `\w` excludes it
# Folded word → index term (None: a stop word, or a word folded to nothing).
_TERMS: dict[str, str | None] = {}
_TERMS_MAX = 500_000
_not_none = partial(operator.is_not, None)


def _reset_terms() -> None:
    _TERMS.clear()
    _TERMS.update(dict.fromkeys(_STOP_WORDS))
    _TERMS[""] = None  # StopFilter(minsize=1)


_reset_terms()


def index_terms(words: list[str]) -> list[str]:
    """The index terms of folded words: stop words dropped, the others stemmed."""
    terms = list(map(_TERMS.get, words, repeat(_MISSING)))
    if _MISSING in terms:
        if len(_TERMS) > _TERMS_MAX:
            _reset_terms()
        for i, term in enumerate(terms):
            if term == _MISSING:
                word = words[i]
                term = None if word in _STOP_WORDS or not word else stem_folded(word)
                _TERMS[word] = terms[i] = term
    if None in terms:
        terms = list(filter(_not_none, terms))
    return cast("list[str]", terms)  # no None left


# -- words ---------------------------------------------------------------------------------


# A piece of text between white space → its words, lower-cased and accent-folded.
_PIECES: dict[str, tuple[str, ...]] = {}
_PIECES_MAX = 100_000


def _fold_words(text: str) -> list[str]:
    # White space is never part of a `\w` run: the words of a text are those of its pieces
    # between white space, and the same pieces ("l’habitant,", "Régie") come back again
    # and again. Each new one is tokenised, lower-cased and folded once.
    pieces = text.split()
    found = list(map(_PIECES.get, pieces))
    if None in found:
        if len(_PIECES) > _PIECES_MAX:
            _PIECES.clear()
        for i, words in enumerate(found):
            if words is None:
                piece = pieces[i]
                words = tuple(w.lower().translate(accent_map) for w in _WORDS(piece))
                _PIECES[piece] = found[i] = words
    return list(chain.from_iterable(found))  # type: ignore[arg-type]  # no None left


# The last texts analysed for the index (a document's fields are analysed in name order:
# body, then spell, which ends with the body) and their folded words.
_RECENT: dict[str, list[str]] = {}
_RECENT_SIZE = 4
_RECENT_LOCK = threading.Lock()


def folded_words(text: str, *, remember: bool = False) -> list[str]:
    """The `\\w+` words of a text, lower-cased and accent-folded (do not modify the list).

    A text that ends with one of the last texts remembered, after a non-word character,
    only has its beginning tokenised."""
    words = _RECENT.get(text)
    if words is not None:
        return words
    with _RECENT_LOCK:
        recent = list(_RECENT.items())
    for seen, seen_words in recent:
        cut = len(text) - len(seen)
        if (
            cut > 0
            and seen
            and text.endswith(seen)
            and not (_WORD_CHAR(text, cut - 1) and _WORD_CHAR(text, cut))
        ):
            words = _fold_words(text[:cut]) + seen_words
            break
    else:
        words = _fold_words(text)
    if remember:
        with _RECENT_LOCK:
            _RECENT[text] = words
            while len(_RECENT) > _RECENT_SIZE:
                del _RECENT[next(iter(_RECENT))]
    return words


# -- analyzers -----------------------------------------------------------------------------


@lru_cache(maxsize=2)
def _reference_analyzer(stemmed: bool) -> Analyzer:
    """The Whoosh chain `FrenchAnalyzer` stands for (with the same stems): used for the calls
    its fast path does not cover (character offsets, kept stop words, untokenised…)."""
    analyzer = RegexTokenizer(WORD_PATTERN) | LowercaseFilter() | CharsetFilter(accent_map)
    if stemmed:
        analyzer = (
            analyzer
            | StopFilter(stoplist=_STOP_WORDS, minsize=1)
            | StemFilter(stemfn=stem_folded, cachesize=None)
        )
    return analyzer


def _emit(token: Token, words: list[str], start_pos: int | None) -> Iterator[Token]:
    # One Token yielded over and over, as Whoosh's tokenizers do; its boost and `stopped`
    # are set once, by the caller (no filter follows this analyzer to change them).
    if start_pos is None:
        for word in words:
            token.text = word
            yield token
    else:
        for pos, word in enumerate(words, start_pos):
            token.text = word
            token.pos = pos
            yield token


class FrenchAnalyzer(Analyzer):
    """Words (`\\w+`), lower case, accents folded; with `stemmed`, minus the French stop words
    and stemmed. Pickled into the index: keep the name and the attribute."""

    def __init__(self, stemmed: bool = True) -> None:
        self.stemmed = stemmed

    def __repr__(self) -> str:
        return f"{self.__class__.__name__}(stemmed={self.stemmed!r})"

    def has_morph(self) -> bool:
        return self.stemmed

    def __call__(
        self,
        value: str,
        positions: bool = False,
        chars: bool = False,
        keeporiginal: bool = False,
        removestops: bool = True,
        start_pos: int = 0,
        start_char: int = 0,
        tokenize: bool = True,
        mode: str = "",
        no_morph: bool = False,
        **kwargs: Any,
    ) -> Iterator[Token]:
        if (
            chars
            or keeporiginal
            or not tokenize
            or not removestops
            or (self.stemmed and (positions or no_morph))
        ):
            return _reference_analyzer(self.stemmed)(
                value,
                positions=positions,
                chars=chars,
                keeporiginal=keeporiginal,
                removestops=removestops,
                start_pos=start_pos,
                start_char=start_char,
                tokenize=tokenize,
                mode=mode,
                no_morph=no_morph,
                **kwargs,
            )
        assert isinstance(value, str), f"{value!r} is not unicode"
        words = folded_words(value, remember=mode == "index")
        if self.stemmed:
            words = index_terms(words)
        token = Token(positions, chars, removestops=removestops, mode=mode, **kwargs)
        token.boost = 1.0
        token.stopped = False
        return _emit(token, words, start_pos if positions else None)


def french_analyzer() -> Analyzer:
    """Analyzer of the searchable text: words, lower case, accents folded, stop words, stems."""
    return FrenchAnalyzer(stemmed=True)


def folding_analyzer() -> Analyzer:
    """Analyzer of the "did you mean" field: words, lower case, accents folded, not stemmed."""
    return FrenchAnalyzer(stemmed=False)
