"""Text queries: normalising what users type, parsing it, reducing it to `Node`s.

Words are ANDed (or ORed, see `query.run`); `-word` excludes, `OR`/`OU` and `AND`/`ET` are
operators, parentheses group (at most four levels), quoted phrases are exact (accents and
case ignored, no stemming) and matched on the `spell` field, the only one with positions.
A parse that fails falls back to the plain words of the text, with a notice.
"""

from __future__ import annotations

import logging
import re
import unicodedata
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from whoosh import qparser, query
from whoosh.qparser import syntax

from resource_centre.search.analysis import french_analyzer
from resource_centre.search.schema import PHRASE_FIELD, TEXT_FIELDS
from resource_centre.taxonomy import fold

logger = logging.getLogger(__name__)

MAX_QUERY_CHARS = 200
MAX_GROUP_DEPTH = 4
WORD_RE = re.compile(r"\w+")
OPERATOR_WORDS = frozenset({"AND", "OR", "NOT", "ET", "OU"})

ANALYZER = french_analyzer()


@lru_cache(maxsize=200_000)
def stem(word: str) -> str:
    """Return the index term of one word ("" for a stop word)."""
    tokens = [t.text for t in ANALYZER(word)]
    return tokens[0] if tokens else ""


def normalize_query(text: str) -> str:
    """NFKC, drop control/format characters, cap length and parentheses depth, pair quotes."""
    if not isinstance(text, str):
        return ""
    cleaned = []
    for char in text[: MAX_QUERY_CHARS * 8]:
        category = unicodedata.category(char)
        if category in ("Cc", "Zl", "Zp") or char.isspace():
            cleaned.append(" ")
        elif category[0] != "C":  # drops Cf (format), Cs (lone surrogates), Co, Cn
            cleaned.append(char)
    text = unicodedata.normalize("NFKC", "".join(cleaned))
    text = " ".join(text.split())[:MAX_QUERY_CHARS]
    if text.count('"') % 2:
        cut = text.rfind('"')
        text = text[:cut] + " " + text[cut + 1 :]
    # Parentheses outside phrases: keep at most MAX_GROUP_DEPTH levels, drop unmatched ones.
    out: list[str] = []
    depth = 0
    open_kept: list[bool] = []
    in_phrase = False
    for char in text:
        if char == '"':
            in_phrase = not in_phrase
        elif not in_phrase and char == "(":
            keep = depth < MAX_GROUP_DEPTH
            open_kept.append(keep)
            depth += keep
            out.append("(" if keep else " ")
            continue
        elif not in_phrase and char == ")":
            if not open_kept:
                out.append(" ")
                continue
            kept = open_kept.pop()
            depth -= kept
            out.append(")" if kept else " ")
            continue
        out.append(char)
    closers = ")" * sum(open_kept)
    text = " ".join("".join(out).split())
    text = _PAREN_SPACES.sub(lambda m: m.group().replace(" ", ""), text)
    if len(text) + len(closers) > MAX_QUERY_CHARS:
        text = text[: MAX_QUERY_CHARS - len(closers)].rstrip()
    return text + closers


_PAREN_SPACES = re.compile(r"\( | \)")


def rewrite_signs(text: str) -> str:
    """Turn `-word` into `NOT word` and drop a leading `+`, outside phrases only."""
    out: list[str] = []
    in_phrase = False
    previous = " "
    i = 0
    while i < len(text):
        char = text[i]
        if char == '"':
            in_phrase = not in_phrase
        elif not in_phrase and char in "-+" and (previous.isspace() or previous == "("):
            j = i
            while j < len(text) and text[j] == char:
                j += 1
            following = text[j : j + 1]
            if following and (following in '"(' or WORD_RE.match(following)):
                if char == "-":
                    out.append("NOT ")
                previous = " "
                i = j
                continue
        out.append(char)
        previous = char
        i += 1
    return "".join(out)


def is_plain_words(text: str) -> bool:
    """Return whether a query is only words (no operator, phrase, group or exclusion)."""
    if any(c in text for c in '"()'):
        return False
    words = text.split()
    if len(words) < 2:
        return False
    return not any(w in OPERATOR_WORDS or w.startswith(("-", "+")) for w in words)


class _ExactPhrasePlugin(qparser.PhrasePlugin):
    """Quoted phrases, matched on the unstemmed `spell` field (the only one with positions)."""

    class _Tagger(qparser.PhrasePlugin.PhraseTagger):
        def create(self, parser: Any, match: Any) -> Any:
            node = super().create(parser, match)
            node.set_fieldname(PHRASE_FIELD)
            return node

    def taggers(self, parser: Any) -> list[Any]:
        return [(self._Tagger(self.expr), 0)]


def make_parser(schema: Any, group: type[syntax.GroupNode]) -> qparser.QueryParser:
    operators = qparser.OperatorsPlugin(
        And=r"(?<=\s)(?:AND|ET)(?=\s)",
        Or=r"(?<=\s)(?:OR|OU)(?=\s)",
        Not=r"(^|(?<=(\s|[()])))NOT(?=\s)",
        AndNot=None,
        AndMaybe=None,
        Require=None,
    )
    plugins = [
        _ExactPhrasePlugin(),
        qparser.GroupPlugin(),
        operators,
        qparser.MultifieldPlugin(list(TEXT_FIELDS)),
    ]
    return qparser.QueryParser(None, schema, plugins=plugins, group=group)


# A parsed query, reduced to what we evaluate:
#   ("stem", text, typed)  ("phrase", words)  ("and", positives, negatives)  ("or", children)
#   ("not", child)  ("caps", word, typed)  ("all",)  ("none",)
# `typed` is the word as the user typed it ("" when unknown); `expand.py` adds the words a
# typed word stands for (glossary, word start, typo: `typed` starting with "~" marks these).
# A "caps" word is a stop word typed in capitals ("AI"): kept, matched as a word.
Node = tuple[Any, ...]
ALL: Node = ("all",)
NONE: Node = ("none",)


def _unique(nodes: Iterable[Node]) -> tuple[Node, ...]:
    return tuple(dict.fromkeys(nodes))


def _typed(q: query.Query, source: str) -> str:
    """The text a parsed term came from, as typed ("" if the parser did not say)."""
    start, end = getattr(q, "startchar", None), getattr(q, "endchar", None)
    if isinstance(start, int) and isinstance(end, int) and 0 <= start < end <= len(source):
        return source[start:end]
    return ""


def _typed_token(stems: tuple[str, ...], source: str) -> str:
    """The typed token whose words have these stems ("deux-roues" for deux, rou): Whoosh
    does not say where a word of several parts came from."""
    for token in source.split():
        parts = WORD_RE.findall(token)
        if len(parts) > 1 and tuple(t for t in map(stem, parts) if t) == stems:
            match = WORD_RE.search(token)
            start = match.start() if match else 0
            end = max(m.end() for m in WORD_RE.finditer(token))
            return token[start:end]
    return ""


def convert(q: query.Query, depth: int = 0, source: str = "") -> Node:
    """Reduce a Whoosh query over the text fields to a `Node` (raise on anything else).

    `source` is the text that was parsed: leaves keep the word as typed."""
    if depth > 60:
        raise ValueError("query too deep")
    if q is query.NullQuery or isinstance(q, type(query.NullQuery)):
        return NONE
    if isinstance(q, query.Every):
        return ALL
    if isinstance(q, query.Term):
        text = q.text if isinstance(q.text, str) else q.text.decode("utf-8")
        if q.fieldname == PHRASE_FIELD:
            return ("phrase", (text,))
        if q.fieldname in TEXT_FIELDS:
            return ("stem", text, _typed(q, source))
        raise ValueError(f"unexpected field {q.fieldname!r}")
    if isinstance(q, query.Phrase):
        words = tuple(w if isinstance(w, str) else w.decode("utf-8") for w in q.words)
        if not words:
            return NONE
        if q.fieldname == PHRASE_FIELD:
            return ("phrase", words)
        if q.fieldname in TEXT_FIELDS:
            typed = _typed(q, source) or _typed_token(words, source)
            return ("and", _unique(("stem", w, typed) for w in words), ())
        raise ValueError(f"unexpected field {q.fieldname!r}")
    if isinstance(q, query.Not):
        return ("not", convert(q.query, depth + 1, source))
    if isinstance(q, query.AndNot):
        return ("and", (convert(q.a, depth + 1, source),), (convert(q.b, depth + 1, source),))
    if isinstance(q, query.And) and type(q) is query.And:
        positives = []
        negatives = []
        for sub in q.subqueries:
            if isinstance(sub, query.Not):
                negatives.append(convert(sub.query, depth + 1, source))
            else:
                positives.append(convert(sub, depth + 1, source))
        positives_t, negatives_t = _unique(positives), _unique(negatives)
        if len(positives_t) > 1 and all(p[0] == "stem" and not p[2] for p in positives_t):
            # The parts of one typed word ("deux-roues"): the parser did not say where from.
            typed = _typed_token(tuple(p[1] for p in positives_t), source)
            positives_t = tuple(("stem", p[1], typed) for p in positives_t)
        if len(positives_t) == 1 and not negatives_t:
            return positives_t[0]
        return ("and", positives_t, negatives_t)
    if isinstance(q, query.Or) and type(q) in (query.Or, query.DefaultOr):
        children = _unique(convert(sub, depth + 1, source) for sub in q.subqueries)
        if not children:
            return NONE
        return children[0] if len(children) == 1 else ("or", children)
    raise ValueError(f"unsupported query {type(q).__name__}")


def plain_words(text: str) -> Node:
    """AND of the stemmed words of a text (the safe fallback of any parse)."""
    stems: list[Node] = []
    for word in WORD_RE.findall(text)[:40]:
        found = stem(word[:100])
        if found:
            stems.append(("stem", found, word[:100]))
    stems_t = _unique(stems)
    if not stems_t:
        return NONE
    return stems_t[0] if len(stems_t) == 1 else ("and", stems_t, ())


def positive_stems(node: Node) -> list[str]:
    """Return the stems a matching document is searched for (not the excluded ones)."""
    kind = node[0]
    if kind == "stem":
        return [node[1]] if node[1] else []
    if kind == "phrase":
        return [s for s in (stem(w) for w in node[1]) if s]
    if kind == "and":
        return [s for child in node[1] for s in positive_stems(child)]
    if kind == "or":
        return [s for child in node[1] for s in positive_stems(child)]
    return []


@dataclass
class Parsed:
    """A user's text, normalised and parsed (`node` is None when there is no text).

    `source` is the text given to Whoosh's parser (signs rewritten, capitals stop words
    taken out: they are in `node` as "caps" leaves)."""

    node: Node | None
    text: str
    notices: list[str]
    source: str = ""


def _only_words(text: str) -> bool:
    """Whether a query is one word or more, without operator, phrase, group or exclusion."""
    return is_plain_words(text) or (
        len(text.split()) == 1 and not any(c in text for c in '"()') and text[0] not in "-+"
    )


def _capital_stop_words(text: str) -> tuple[str, list[tuple[str, str]]]:
    """Take the stop words typed in capitals ("AI") out of a text, outside quotes.

    Whoosh's parser would drop them as stop words; the caller keeps them as words."""
    found: list[tuple[str, str]] = []
    out: list[str] = []
    position = 0
    in_phrase = False
    for match in _WORD_OR_QUOTE.finditer(text):
        piece = match.group()
        if piece == '"':
            in_phrase = not in_phrase
            continue
        excluded = match.start() > 0 and text[match.start() - 1] == "-"
        if (
            in_phrase
            or excluded
            or len(piece) < 2
            or not piece.isupper()
            or piece in OPERATOR_WORDS
            or stem(piece) != ""
        ):
            continue
        folded = fold(piece)
        if not folded.isalpha() or len(found) >= 4:
            continue
        found.append((folded, piece))
        out.append(text[position : match.start()])
        out.append(" ")
        position = match.end()
    if not found:
        return text, []
    out.append(text[position:])
    return " ".join("".join(out).split()), found


_WORD_OR_QUOTE = re.compile(r'\w+|"')


def _with_capitals(node: Node | None, capitals: list[tuple[str, str]]) -> Node | None:
    """AND the capitals stop words, as "caps" leaves, into a parsed node."""
    if not capitals:
        return node
    leaves = tuple(("caps", folded, typed) for folded, typed in capitals)
    if node is None or node == NONE:
        return leaves[0] if len(leaves) == 1 else ("and", _unique(leaves), ())
    if node[0] == "and":
        return ("and", _unique((*node[1], *leaves)), node[2])
    return ("and", _unique((node, *leaves)), ())


def parse(parsers: Mapping[str, qparser.QueryParser], raw: str, group: str = "and") -> Parsed:
    """Parse a user's text into a `Node`, falling back to its plain words."""
    notices: list[str] = []
    text = normalize_query(raw)
    if len(" ".join(str(raw)[: MAX_QUERY_CHARS * 8].split())) > MAX_QUERY_CHARS:
        notices.append(f"Votre recherche a été raccourcie à {MAX_QUERY_CHARS} caractères.")
    if not text:
        return Parsed(None, "", notices)
    source = rewrite_signs(text)
    capitals: list[tuple[str, str]] = []
    if _only_words(text):  # with operators, phrases or groups: dropped, as any stop word
        source, capitals = _capital_stop_words(source)
    node: Node | None
    if not source.strip():
        node = None
    else:
        try:
            node = convert(parsers[group].parse(source), source=source)
        except Exception:  # Whoosh's parser fails in many ways on odd input: use plain words
            logger.info("query parse fallback for %r", text, exc_info=True)
            notices.append(
                "Une partie de la syntaxe de votre recherche n’a pas été comprise : "
                "elle a été traitée comme une liste de mots."
            )
            node = plain_words(text)
    node = _with_capitals(node, capitals)
    return Parsed(node if node is not None else NONE, text, notices, source)
