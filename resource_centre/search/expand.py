"""Widening a parsed query the way people type: the field's glossary, word starts, typos.

`widen()` takes a parsed query (`textquery.Parsed`) and returns it with, for each typed word
(never inside quotes):

- **glossary**: a word or a run of words that is a glossary form (an acronym, one of its
  long forms, a word of a synonyms group) also matches the entry's other forms, each a
  phrase on stems. Short or stop-word acronyms (AI, EI) only when typed in capitals.
- **word start**: the last word of the query (≥ 3 letters) that is not an indexed word
  also matches the indexed words it starts ("compo" → compost, compostage…).
- **typo**: a word (≥ 5 letters, not in capitals) that matches almost nothing also matches
  the indexed words within one edit (two from 9 letters), first letter kept, a
  transposition counting as one edit ("epiceire" → epicerie).

Words added for a word start or a typo are marked (`typed` starting with "~"); `strict()`
takes the typo corrections out again: the documents matching as typed rank first. Each
widening adds a French notice, and `exact` is the query that searches what was typed
(the widened words in quotes, which are never widened).
"""

from __future__ import annotations

import html
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

from rapidfuzz.distance import OSA

from resource_centre.glossary import Glossary, GlossaryItem
from resource_centre.search import lexicon
from resource_centre.search.analysis import folded_words, french_stop_words
from resource_centre.search.caches import Generation
from resource_centre.search.textquery import MAX_QUERY_CHARS, NONE, WORD_RE, Node, Parsed, stem
from resource_centre.taxonomy import fold

STOP_WORDS = french_stop_words()
PREFIX_MIN = 3  # letters of a word start
PREFIX_WORDS = 30  # most frequent completions of a word start kept
TYPO_MIN = 5  # letters of a word corrected with one edit
TYPO_TWO_EDITS = 9  # letters from which two edits are allowed
TYPO_FEW = 2  # a word found in this many fiches or fewer "matches almost nothing"
TYPO_WORDS = 3  # corrections kept (the closest, then the most frequent)
TYPO_MORE = 10  # a word found in a fiche or two: corrected towards words in 10× more
TYPO_TRIES = 6  # words looked up for a correction at most in one query (each scans words)
ACRONYM_LETTERS = 5  # a word in capitals this long or shorter is an acronym: never corrected
MAX_FORM_WORDS = 8
GLOSSARY_NOTICE = "Recherche élargie : "
PREFIX_MARK = "~prefix"
TYPO_MARK = "~typo"


# -- the glossary, as the query sees it -----------------------------------------------------


@dataclass(frozen=True)
class Form:
    """One way to say an entry: its display text, folded words and stems (no stop words)."""

    text: str
    words: tuple[str, ...]
    stems: tuple[str, ...]


@dataclass(frozen=True)
class Entry:
    item: GlossaryItem
    forms: tuple[Form, ...]
    capitals_only: bool  # a short or stop-word acronym: only when typed in capitals


@dataclass(frozen=True)
class GlossaryIndex:
    entries: tuple[Entry, ...]
    by_stems: dict[tuple[str, ...], tuple[tuple[int, int], ...]]  # stems → (entry, form)
    longest: int


def _form(text: str) -> Form | None:
    words = tuple(folded_words(text))[:MAX_FORM_WORDS]
    stems = tuple(s for s in (stem(w) for w in words) if s)
    if not words:
        return None
    return Form(text.strip(), words, stems)


@lru_cache(maxsize=8)
def glossary_index(glossary: Glossary) -> GlossaryIndex:
    """The glossary's forms by their stems (computed once per glossary version)."""
    entries: list[Entry] = []
    by_stems: dict[tuple[str, ...], list[tuple[int, int]]] = {}
    for item in glossary.items:
        texts = [item.term, *item.expansions]
        forms: list[Form] = []
        seen: set[tuple[str, ...]] = set()
        for text in texts:
            form = _form(text)
            if form is None or form.words in seen:
                continue
            seen.add(form.words)
            forms.append(form)
        if len(forms) < 2:
            continue
        acronym_words = forms[0].words if item.kind == "acronym" else ()
        capitals_only = item.kind == "acronym" and (
            len(item.term.strip()) <= 2 or not forms[0].stems
        )
        number = len(entries)
        entries.append(Entry(item, tuple(forms), capitals_only))
        for i, form in enumerate(forms):
            key = form.stems or (acronym_words if i == 0 else ())
            if key:
                by_stems.setdefault(key, []).append((number, i))
    longest = max((len(k) for k in by_stems), default=0)
    return GlossaryIndex(tuple(entries), {k: tuple(v) for k, v in by_stems.items()}, longest)


# -- widening ---------------------------------------------------------------------------------


@dataclass
class Widened:
    """A parsed query widened: the node to match, the node without word starts and typos
    (whose documents rank first), French notices, and the query that searches exactly
    what was typed (None when nothing was widened)."""

    node: Node | None
    strict: Node | None
    notices: list[str] = field(default_factory=list)
    exact: str | None = None
    corrected: bool = False
    prefixed: bool = False
    added: frozenset[str] = frozenset()  # the index's (folded) words named in the notices


@dataclass
class _Context:
    gen: Generation
    reader: Any
    glossary: GlossaryIndex | None
    last_word: str
    force_prefix: bool = False  # the last word is a word start even if it is a word
    expanded: list[str] = field(default_factory=list)  # "IAE = insertion par …"
    prefixes: list[str] = field(default_factory=list)  # "« compo » : compost, …"
    corrections: dict[str, str] = field(default_factory=dict)  # typed → corrected
    quoted: list[str] = field(default_factory=list)  # typed words to quote in `exact`
    added: set[str] = field(default_factory=set)  # folded words named in the notices
    typo_tries: int = 0


def widen(
    parsed: Parsed,
    gen: Generation,
    reader: Any,
    glossary: Glossary | None,
    *,
    force_prefix: bool = False,
) -> Widened:
    """Widen a parsed query with the glossary, word starts and typo corrections.

    With `force_prefix`, the last word is a word start even when it is an indexed word
    (for a query that finds nothing otherwise: "micro-fer", where "fer" is a word)."""
    node = parsed.node
    if node is None or node == NONE:
        return Widened(node, node)
    index = glossary_index(glossary) if glossary is not None and glossary.items else None
    # A query cut at its length limit may end inside a word: no word start then.
    last = _last_word(parsed.source) if len(parsed.text) < MAX_QUERY_CHARS else ""
    ctx = _Context(gen, reader, index, last, force_prefix)
    widened = _walk(node, ctx)
    if widened == node:
        return Widened(node, node)
    notices: list[str] = []
    if ctx.corrections:
        notices.append(f"Résultats pour « {_corrected_text(parsed.text, ctx.corrections)} ».")
    if ctx.expanded:
        notices.append(GLOSSARY_NOTICE + " ; ".join(ctx.expanded) + ".")
    if ctx.prefixes:
        notices.append("Mots commençant par " + " ; ".join(ctx.prefixes) + ".")
    return Widened(
        widened,
        strict(widened),
        notices,
        _exact_text(parsed.text, ctx.quoted),
        bool(ctx.corrections),
        bool(ctx.prefixes),
        frozenset(ctx.added),
    )


def strict(node: Node) -> Node:
    """The node without the words added for typos."""
    kind = node[0]
    if kind == "or":
        kept = tuple(strict(c) for c in node[1] if not _marked(c))
        if not kept:
            return NONE
        return kept[0] if len(kept) == 1 else ("or", kept)
    if kind == "and":
        return ("and", tuple(strict(c) for c in node[1]), node[2])
    return node


def _marked(node: Node) -> bool:
    """A word added for a typo. (Words added for a word start are kept: the word start
    itself is no word, the fiches it finds by its stem are no better than the others.)"""
    return node[0] == "stem" and len(node) > 2 and node[2] == TYPO_MARK


def _last_word(source: str) -> str:
    """The query's last word when the query ends with it (not in quotes or brackets)."""
    words = list(WORD_RE.finditer(source))
    if not words or source.rstrip() != source[: words[-1].end()]:
        return ""
    return words[-1].group()


def _walk(node: Node, ctx: _Context) -> Node:
    kind = node[0]
    if kind == "and":
        return ("and", tuple(_sequence(_flatten(node[1]), ctx)), node[2])
    if kind == "or":
        return ("or", tuple(_walk(c, ctx) for c in node[1]))
    if kind in ("stem", "caps"):
        found = _sequence([node], ctx)
        return found[0] if len(found) == 1 else ("and", tuple(found), ())
    return node  # phrases (quoted), exclusions, all, none: as typed


def _flatten(children: Sequence[Node]) -> list[Node]:
    """Splice the words of a hyphenated word ("deux-roues": an AND without exclusions)."""
    out: list[Node] = []
    for child in children:
        if child[0] == "and" and not child[2]:
            out.extend(_flatten(child[1]))
        else:
            out.append(child)
    return out


def _is_word(node: Node) -> bool:
    return node[0] in ("stem", "caps") and len(node) > 2


def _sequence(children: list[Node], ctx: _Context) -> list[Node]:
    out: list[Node] = []
    i = 0
    while i < len(children):
        child = children[i]
        if not _is_word(child):
            out.append(_walk(child, ctx))
            i += 1
            continue
        matched = _glossary_match(children, i, ctx)
        if matched is not None:
            node, size = matched
            out.append(node)
            i += size
            continue
        out.append(_one_word(child, ctx))
        i += 1
    return out


def _glossary_match(children: list[Node], start: int, ctx: _Context) -> tuple[Node, int] | None:
    index = ctx.glossary
    if index is None:
        return None
    run: list[Node] = []
    for child in children[start : start + index.longest]:
        if not _is_word(child):
            break
        run.append(child)
    for size in range(len(run), 0, -1):
        words = run[:size]
        key = tuple(str(w[1]) for w in words)
        for number, form_number in index.by_stems.get(key, ()):
            entry = index.entries[number]
            typed = " ".join(_unique_typed(words)) or entry.forms[form_number].text
            if entry.capitals_only and form_number == 0 and not (typed.isupper() and typed):
                continue
            others = [f for j, f in enumerate(entry.forms) if j != form_number]
            if entry.capitals_only:  # "AI" is a stop word: never added to a long form
                others = [f for f in others if f is not entry.forms[0]]
            alternatives = [_form_node(f) for f in others]
            if not alternatives:
                continue
            group: Node = words[0] if size == 1 else ("and", tuple(words), ())
            ctx.expanded.append(f"{typed} = " + ", ".join(f.text for f in others))
            ctx.quoted.extend(_unique_typed(words) or [typed])
            return ("or", (group, *alternatives)), size
    return None


def _unique_typed(words: Sequence[Node]) -> list[str]:
    return list(dict.fromkeys(str(w[2]) for w in words if w[2]))


def _form_node(form: Form) -> Node:
    if len(form.words) == 1 and form.stems:
        return ("stem", form.stems[0], "")
    return ("phrase", form.words)


def _one_word(node: Node, ctx: _Context) -> Node:
    if node[0] != "stem":
        return node
    term, typed = str(node[1]), str(node[2])
    word = typed
    parts = WORD_RE.findall(typed)
    elided = False
    if len(parts) > 1 and stem(parts[-1]) == term:
        word = parts[-1]  # the last word of a hyphenated one ("micro-fer"): a word start
        elided = all(not stem(p) for p in parts[:-1])  # "l'accompagnemnet": a typo too
    folded = fold(word)
    if not term or not folded.isalpha() or (word.isupper() and 1 < len(word) <= ACRONYM_LETTERS):
        return node  # unknown, or an acronym in capitals: never corrected
    lexicons = ctx.gen.lexicons(ctx.reader)
    if (
        word == ctx.last_word
        and len(folded) >= PREFIX_MIN
        and (ctx.force_prefix or not lexicon.frequency(lexicons, folded))
    ):
        widened = _word_start(node, folded, lexicons, ctx, word)
        if widened is not None:
            return widened
    if word != typed and not elided:
        return node  # a word inside a hyphenated one is not corrected
    if len(folded) >= TYPO_MIN and ctx.typo_tries < TYPO_TRIES:
        found = ctx.gen.stem(ctx.reader, term).bits.bit_count()
        if found <= TYPO_FEW:
            ctx.typo_tries += 1
            widened = _typo(node, folded, found, lexicons, ctx, word)
            if widened is not None:
                return widened
    return node


def _word_start(
    node: Node, folded: str, lexicons: list[lexicon.SegmentWords], ctx: _Context, word: str
) -> Node | None:
    completions = lexicon.starting_with(lexicons, folded)
    ranked = sorted(
        (w for w in completions if w not in STOP_WORDS),
        key=lambda w: (-completions[w], w),
    )
    terms: dict[str, str] = {}  # stem → the most frequent word giving it
    for completion in ranked[:PREFIX_WORDS]:
        term = stem(completion)
        if term and term != node[1] and term not in terms and ctx.gen.stem(ctx.reader, term).bits:
            terms[term] = completion
    if not terms:
        return None
    shown = ", ".join(list(terms.values())[:4])
    ctx.added.update(list(terms.values())[:4])
    ctx.prefixes.append(f"« {word} » : {shown}")
    ctx.quoted.append(str(node[2]))
    return ("or", (node, *(("stem", t, PREFIX_MARK) for t in terms)))


def _typo(
    node: Node,
    folded: str,
    found: int,
    lexicons: list[lexicon.SegmentWords],
    ctx: _Context,
    word: str,
) -> Node | None:
    distance = 2 if len(folded) >= TYPO_TWO_EDITS else 1
    candidates = lexicon.within(lexicons, folded, distance)
    own = candidates.pop(folded, 0)
    scored = []
    for candidate, frequency in candidates.items():
        if candidate in STOP_WORDS or not candidate.isalpha() or frequency <= own:
            continue
        term = stem(candidate)
        if not term or term == node[1]:
            continue
        bits = ctx.gen.stem(ctx.reader, term).bits
        if bits.bit_count() <= found * TYPO_MORE:
            continue  # a rare word that exists: corrected only towards a far more common one
        scored.append((_edits(folded, candidate), -frequency, candidate, term))
    if not scored:
        return None
    scored.sort()
    closest = scored[0][0]
    terms: dict[str, str] = {}
    for edits, _, candidate, term in scored:
        if edits == closest and term not in terms and len(terms) < TYPO_WORDS:
            terms[term] = candidate
    ctx.corrections[word] = scored[0][2]
    ctx.added.add(scored[0][2])
    ctx.quoted.append(str(node[2]))
    return ("or", (node, *(("stem", t, TYPO_MARK) for t in terms)))


def _edits(a: str, b: str) -> int:
    return int(OSA.distance(a, b))


def _outside_quotes(text: str, word: str, by: str) -> str:
    """Every whole-word occurrence of `word` outside quotes replaced by `by`."""
    pattern = re.compile(r"(?<!\w)" + re.escape(word) + r"(?!\w)")
    pieces = text.split('"')
    for i in range(0, len(pieces), 2):  # even pieces lie outside quotes
        pieces[i] = pattern.sub(lambda _: by, pieces[i])
    return '"'.join(pieces)


def _corrected_text(text: str, corrections: dict[str, str]) -> str:
    for typed, corrected in corrections.items():
        text = _outside_quotes(text, typed, corrected)
    return text


def _exact_text(text: str, quoted: list[str]) -> str | None:
    """The query with the widened words in quotes (quoted words are never widened)."""
    if not quoted:
        return None
    out = text
    for word in sorted(dict.fromkeys(quoted), key=len, reverse=True):
        out = _outside_quotes(out, word, f'"{word}"')
    return out


_MARKED = re.compile(r"<mark>([^<]{1,100})</mark>")


def with_accents(notices: list[str], added: frozenset[str], marked: list[str]) -> list[str]:
    """The notices with the index's folded words ("epicerie") written as the fiches write
    them ("épicerie"), taken from the highlighted words of the results when they hold one."""
    if not added:
        return notices
    shown: dict[str, str] = {}
    for text in marked:
        for surface in _MARKED.findall(html.unescape(text)):
            key = fold(surface)
            if key in added and key not in shown:
                shown[key] = surface.lower() if surface[1:].islower() else surface
    if not shown:
        return notices
    out = []
    for notice in notices:
        out.append(WORD_RE.sub(lambda m: shown.get(m.group(), m.group()), notice))
    return out
