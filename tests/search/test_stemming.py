"""The C analysis (PyStemmer, one tokenisation per text) gives exactly the terms, positions and
field lengths of Whoosh's pure-Python analyzers it replaced."""

from __future__ import annotations

import ast
import pickle
import random
from functools import cache
from pathlib import Path
from typing import Any

import pytest
import Stemmer  # type: ignore[import-not-found]
import yaml
from whoosh import index
from whoosh.analysis import (
    CharsetFilter,
    LowercaseFilter,
    RegexTokenizer,
    StemFilter,
    StopFilter,
)
from whoosh.fields import ID, TEXT, Schema
from whoosh.filedb.filestore import RamStorage
from whoosh.lang import stemmer_for_language
from whoosh.support.charset import accent_map

from resource_centre.search import analysis
from resource_centre.search.analysis import (
    WORD_PATTERN,
    FrenchAnalyzer,
    folded_words,
    folding_analyzer,
    french_analyzer,
    french_stop_words,
    stem_folded,
)
from resource_centre.search.schema import build_schema

ROOT = Path(__file__).resolve().parents[2]
_WHOOSH_STEM = stemmer_for_language("fr")


def WHOOSH_STEM(word: str) -> str:  # reads as the constant it replaced
    """Whoosh's French stem, except for the field's stem collisions (`STEM_EXCEPTIONS`)."""
    return analysis.STEM_EXCEPTIONS.get(word) or _WHOOSH_STEM(word)


# Texts where tokenising, lower-casing or folding is not plain ASCII work.
AWKWARD = [
    "",
    "   ",
    "l'habitant d’insertion, auto-école; jardins PARTAGÉS",
    "ΣΟΦΟΣ σοφός ΌΣΟΣ Σ ΑΣ",  # final sigma
    "İstanbul ǅemal ŉ ﬁche Straße ĲSSEL Œuvre cœur æ",
    "covid_19 2024 3,5 ½ ² ١٢٣ x²",
    "e\u0301te\u0301 ca\u0327a",  # combining accents: not \w
    "ʼapostrophe modificatrice ˈstress",
    "日本語のテキスト 中文 한국어",
    "bijoux françaises palais mauvais nier indicatrice yeux voyage évidemment",
    "a le la les de été ete était ni ou où",
    "\x00\x01 tab\tnew\nline\r\n",
]
# French suffixes the stemmers' rules are about.
ENDINGS = (
    "ance iques isme able iste eux atrice ateur ation logie usion ution ence ement ements "
    "ite ites if ive ifs eaux aux oux euse issement amment emment ment ments it ie ir irai "
    "iraient issait issant isse issions ions ee ees erent er erai eraient erions ez iez "
    "ames at ai aient ais ait ant antes asse assions aise aises eais ion ier iere s enn "
    "onn ett ell eill y yer qu"
)


def reference_analyzer(stemmed: bool) -> Any:
    """The Whoosh analyzers of schema version 1."""
    chain = RegexTokenizer(WORD_PATTERN) | LowercaseFilter() | CharsetFilter(accent_map)
    if stemmed:
        chain = (
            chain
            | StopFilter(stoplist=french_stop_words(), minsize=1)
            | StemFilter(stemfn=WHOOSH_STEM, cachesize=100_000)
        )
    return chain


@cache
def demo_texts() -> list[str]:
    """Every text file of the demo library (knowledge/; attachments are binary)."""
    return [
        p.read_text()
        for p in sorted((ROOT / "knowledge").rglob("*"))
        if p.is_file() and p.suffix in {".md", ".yaml"}
    ]


@cache
def generator_strings() -> list[str]:
    """Every string literal of the corpus generator: its vocabulary."""
    tree = ast.parse((ROOT / "bench" / "generate.py").read_text())
    return [
        n.value for n in ast.walk(tree) if isinstance(n, ast.Constant) and isinstance(n.value, str)
    ]


def words_of(texts: list[str]) -> list[str]:
    """The distinct folded words of texts, as the index sees them."""
    fold = reference_analyzer(stemmed=False)
    return sorted({t.text for text in texts for t in fold(text)})


# -- stems ---------------------------------------------------------------------------------


@pytest.mark.parametrize("source", ["knowledge", "bench/generate.py"])
def test_stems_equal_whoosh_on_every_word_of_the_sources(source: str) -> None:
    texts = demo_texts() if source == "knowledge" else generator_strings()
    words = words_of(texts)
    assert len(words) > 1000
    differ = [
        (w, stem_folded(w), WHOOSH_STEM(w)) for w in words if stem_folded(w) != WHOOSH_STEM(w)
    ]
    assert differ == []
    # Where Snowball 3 itself disagrees, the word is one that is stemmed by Whoosh's stemmer.
    snowball = Stemmer.Stemmer("french")
    raw = [w for w in words if snowball.stemWord(w) != _WHOOSH_STEM(w)]
    assert all(analysis._needs_reference(w) for w in raw), raw
    # …and those are few: the C stemmer does the work.
    assert sum(map(analysis._needs_reference, words)) < len(words) / 10


@pytest.mark.parametrize(
    ("word", "whoosh"),
    [
        ("bijoux", "bijoux"),  # Snowball 3: -oux → -ou
        ("francaise", "francais"),  # Snowball 3: -aise removed
        ("palais", "pal"),  # Snowball 3: "al" + -ais kept
        ("mauvais", "mauv"),
        ("nier", "ni"),  # Snowball 3: ni- verbs
        ("indicatrice", "ind"),  # Whoosh: "ic" found inside -atrice
        ("yoiment", "yoiment"),  # Whoosh: a leading y before a vowel stays a vowel
        ("naeseaiemment", "naeseaient"),  # Whoosh: stale region after -emment
    ],
)
def test_known_disagreements_keep_whoosh_stems(word: str, whoosh: str) -> None:
    assert Stemmer.Stemmer("french").stemWord(word) != whoosh
    assert _WHOOSH_STEM(word) == whoosh
    assert stem_folded(word) == whoosh


def test_stems_equal_whoosh_on_made_up_words() -> None:
    """Stems and random endings glued together, where the two algorithms' rules meet."""
    rng = random.Random(11)
    stems = words_of(demo_texts())
    endings = ENDINGS.split()
    for _ in range(20_000):
        word = rng.choice(stems)[: rng.randint(1, 9)] + rng.choice(endings)
        if rng.random() < 0.3:
            word += rng.choice(endings)
        assert stem_folded(word) == WHOOSH_STEM(word), word


# -- analyzers -----------------------------------------------------------------------------

CALLS: list[dict[str, Any]] = [
    {},
    {"mode": "index"},
    {"mode": "index", "positions": True, "boosts": True},
    {"mode": "query"},
    {"positions": True, "start_pos": 7},
    {"chars": True, "positions": True, "start_char": 3},
    {"removestops": False, "positions": True},
    {"tokenize": False},
    {"no_morph": True},
    {"keeporiginal": True},
]


def tokens(analyzer: Any, text: str, kwargs: dict[str, Any]) -> list[tuple[Any, ...]]:
    out = []
    for t in analyzer(text, **kwargs):
        out.append(
            (
                t.text,
                t.boost,
                t.stopped,
                getattr(t, "pos", None) if kwargs.get("positions") else None,
                (t.startchar, t.endchar) if kwargs.get("chars") else None,
                getattr(t, "original", None) if kwargs.get("keeporiginal") else None,
            )
        )
    return out


@pytest.mark.parametrize("stemmed", [True, False])
@pytest.mark.parametrize("kwargs", CALLS, ids=lambda k: ",".join(sorted(k)) or "plain")
def test_analyzers_equal_whoosh_chains(stemmed: bool, kwargs: dict[str, Any]) -> None:
    ours = french_analyzer() if stemmed else folding_analyzer()
    reference = reference_analyzer(stemmed)
    texts = AWKWARD + demo_texts()
    if kwargs.get("tokenize") is False:
        texts = AWKWARD + words_of(demo_texts())[:500]
    for text in texts:
        assert tokens(ours, text, kwargs) == tokens(reference, text, kwargs), text[:80]


def test_a_text_ending_with_a_remembered_one_is_folded_alike() -> None:
    rng = random.Random(5)
    pieces = [*AWKWARD, "abc", "déf", "_x", "1", "-", "\n", " é", "É "]
    for _ in range(3000):
        tail = "".join(rng.choice(pieces) for _ in range(rng.randint(0, 4)))
        head = "".join(rng.choice(pieces) for _ in range(rng.randint(0, 4)))
        folded_words(tail, remember=True)
        assert folded_words(head + tail) == analysis._fold_words(head + tail), (head, tail)
        assert folded_words(tail) == analysis._fold_words(tail)


def test_analyzers_pickle_by_name() -> None:
    data = pickle.dumps(build_schema())
    assert b"resource_centre.search.analysis" in data and b"FrenchAnalyzer" in data
    again = pickle.loads(data)
    assert again["body"].analyzer == french_analyzer() != folding_analyzer()
    assert again["spell"].analyzer == FrenchAnalyzer(stemmed=False)
    assert again["body"].analyzer.has_morph() and not again["spell"].analyzer.has_morph()


# -- the index -----------------------------------------------------------------------------


def demo_documents() -> list[dict[str, str]]:
    docs = []
    for path in sorted((ROOT / "knowledge" / "fiches").glob("*.md")):
        _, front, body = path.read_text().split("---\n", 2)
        meta = yaml.safe_load(front)
        title, summary = meta["title"], meta.get("summary") or ""
        docs.append(
            {
                "slug": path.stem,
                "title": title,
                "summary": summary,
                "body": body,
                "spell": f"{title}\n{summary}\n{body}",
            }
        )
    return docs


def index_content(stemmed: Any, folding: Any) -> dict[str, Any]:
    schema = Schema(
        slug=ID(stored=True, unique=True),
        title=TEXT(analyzer=stemmed, phrase=False),
        summary=TEXT(analyzer=stemmed, phrase=False),
        body=TEXT(analyzer=stemmed, phrase=False),
        spell=TEXT(analyzer=folding, phrase=True),
    )
    ix = RamStorage().create_index(schema)
    with ix.writer() as writer:
        for doc in demo_documents():
            writer.add_document(**doc)
    content: dict[str, Any] = {}
    with ix.reader() as reader:
        slugs = {n: f["slug"] for n, f in reader.iter_docs()}
        for field in ("title", "summary", "body", "spell"):
            kind = "positions" if field == "spell" else "frequency"
            for term in reader.lexicon(field):
                items = reader.postings(field, term).items_as(kind)
                content[field, term] = sorted((slugs[n], v) for n, v in items)
            content[field] = sorted(
                (s, reader.doc_field_length(n, field)) for n, s in slugs.items()
            )
    return content


def test_the_index_is_the_same_as_with_whoosh_analyzers() -> None:
    ours = index_content(french_analyzer(), folding_analyzer())
    reference = index_content(reference_analyzer(True), reference_analyzer(False))
    assert len(ours) > 5000
    assert ours.keys() == reference.keys()
    assert ours == reference


def test_multiprocess_writer_builds_the_same_index(tmp_path: Path) -> None:
    ix = index.create_in(str(tmp_path), build_schema())
    writer = ix.writer(procs=2, multisegment=True)
    for doc in demo_documents()[:12]:
        writer.add_document(slug=doc["slug"], kind="fiche", title=doc["title"], body=doc["body"])
    writer.commit()
    with ix.searcher() as searcher:
        assert searcher.doc_count() == 12
        terms = {t.decode() for t in searcher.reader().lexicon("body")}
    expected = {t.text for doc in demo_documents()[:12] for t in french_analyzer()(doc["body"])}
    assert terms == expected


@pytest.mark.parametrize(
    ("word", "other"),
    [
        ("commune", "communication"),
        ("communes", "commun"),
        ("loge", "logement"),
        ("loges", "logements"),
        ("habits", "habitants"),
        ("cours", "cour"),
        ("placement", "place"),
    ],
)
def test_stem_collisions_of_the_field_are_kept_apart(word: str, other: str) -> None:
    assert _WHOOSH_STEM(word) == _WHOOSH_STEM(other)  # what the stemmer alone gives
    assert stem_folded(word) != stem_folded(other)


def test_stem_exceptions_keep_plurals_together() -> None:
    assert stem_folded("commune") == stem_folded("communes")
    assert stem_folded("loge") == stem_folded("loges")
    assert stem_folded("communication") == stem_folded("communiquer")
