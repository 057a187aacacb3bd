"""Relevance bench: success@3 and MRR per kind of query, ours next to SQLite FTS5.

    .venv/bin/python bench/relevance.py [--json] [--failures] [--judged FILE] [--knowledge DIR]

Builds a real library in a temporary directory from the demo corpus (`knowledge/`, with its
`glossary.yaml` when the corpus has one: `import_corpus` reads it): a SQLite database, a
Whoosh index, and the search service the API uses. Each judged query of
`tests/data/relevance.yaml` is run through that service (published fiches, as
`/api/writeups?q=…`) and on an SQLite FTS5 table of the same published fiches (title,
summary, body = plain text of the sections; `unicode61 remove_diacritics 2`; the words
ANDed, ORed when that finds nothing and the query is a plain list of words, as the app
does; quoted phrases as FTS5 phrases; bm25 with the title and summary weighted as our
index weights them).

Printed per kind and overall: n, success@3 (a judged fiche in the top 3) and MRR (mean of
1/rank of the first judged fiche in the first 10 results, 0 if none), ours then FTS5.
`tests/search/test_relevance.py` imports this file for the same figures.
"""

from __future__ import annotations

import argparse
import json
import re
import sqlite3
import sys
import tempfile
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import yaml  # noqa: E402
from sqlmodel import col, select  # noqa: E402

from resource_centre.corpus import import_corpus  # noqa: E402
from resource_centre.db import make_engine, migrate, read_session  # noqa: E402
from resource_centre.models import WriteUp  # noqa: E402
from resource_centre.search.indexer import SearchIndex  # noqa: E402
from resource_centre.search.request import SearchRequest  # noqa: E402
from resource_centre.search.schema import sections_text  # noqa: E402
from resource_centre.search.service import SearchService  # noqa: E402

KNOWLEDGE = ROOT / "knowledge"
JUDGED = ROOT / "tests" / "data" / "relevance.yaml"
KINDS: tuple[str, ...] = (
    "topic",
    "inflection",
    "typo",
    "acronym",
    "synonym",
    "phrase",
    "question",
    "prefix",
)
TOP = 3  # success@3
DEPTH = 10  # MRR looks at the first 10 results
# FTS5's bm25 column weights (title, summary, body): our schema's field boosts at the time
# the baseline was set (TITLE_BOOST, SUMMARY_BOOST), fixed here so the baseline stays put.
FTS5_WEIGHTS = (3.0, 1.6, 1.0)
ENGINES = ("ours", "fts5")


# ---------------------------------------------------------------------------------------
# The judged set


@dataclass(frozen=True)
class Judged:
    """One judged query: what was typed, its kind, the fiches judged relevant."""

    q: str
    kind: str
    relevant: tuple[str, ...]
    table: bool = False
    note: str = ""


def load_judged(path: Path = JUDGED) -> list[Judged]:
    """Read the judged set; a malformed entry raises ValueError (it is test data)."""
    entries = yaml.safe_load(path.read_text(encoding="utf-8"))
    if not isinstance(entries, list):
        raise ValueError(f"{path}: a list of queries is expected")
    judged = []
    for n, entry in enumerate(entries, 1):
        if not isinstance(entry, dict) or set(entry) - {"q", "kind", "relevant", "table", "note"}:
            raise ValueError(f"{path}: entry {n}: unexpected shape {entry!r}")
        q, kind, relevant = entry.get("q"), entry.get("kind"), entry.get("relevant")
        if not isinstance(q, str) or not q.strip():
            raise ValueError(f"{path}: entry {n}: `q` must be a non-empty string")
        if kind not in KINDS:
            raise ValueError(f"{path}: entry {n} ({q!r}): unknown kind {kind!r}")
        if (
            not isinstance(relevant, list)
            or not relevant
            or not all(isinstance(s, str) for s in relevant)
        ):
            raise ValueError(f"{path}: entry {n} ({q!r}): `relevant` must list slugs")
        judged.append(
            Judged(
                q=q,
                kind=kind,
                relevant=tuple(relevant),
                table=bool(entry.get("table", False)),
                note=str(entry.get("note") or ""),
            )
        )
    return judged


# ---------------------------------------------------------------------------------------
# The library: ours and FTS5 on the same published fiches


class _NoLog:
    """The search log of the bench: searches are not recorded."""

    def add(
        self, request: SearchRequest, total: int, elapsed_ms: float, source: str, token: str = ""
    ) -> None:
        return None


class Library:
    """A real library built in `work` from a `knowledge/` folder: SQLite database, Whoosh
    index and search service (ours), and an SQLite FTS5 table of the published fiches."""

    def __init__(self, work: Path, knowledge: Path = KNOWLEDGE) -> None:
        work.mkdir(parents=True, exist_ok=True)
        self.engine = make_engine(f"sqlite:///{work / 'library.db'}")
        migrate(self.engine)
        report = import_corpus(self.engine, knowledge)
        if not report.ok:
            raise RuntimeError(f"import of {knowledge} failed: {report.problems[:5]}")
        self.glossary = (knowledge / "glossary.yaml").exists()
        self.index = SearchIndex(work / "index", self.engine)
        self.index.rebuild()  # as `resource-centre reindex` does
        self.service = SearchService(self.engine, self.index, log=_NoLog())
        with read_session(self.engine) as session:
            fiches = list(
                session.execute(select(WriteUp).where(col(WriteUp.status) == "published")).scalars()
            )
            rows = [(w.slug, w.title or "", w.summary or "", sections_text(w)) for w in fiches]
        self.published = frozenset(slug for slug, *_ in rows)
        self.fts = sqlite3.connect(":memory:")
        self.fts.execute(
            "CREATE VIRTUAL TABLE fiches USING fts5("
            "slug UNINDEXED, title, summary, body, tokenize = 'unicode61 remove_diacritics 2')"
        )
        self.fts.executemany("INSERT INTO fiches VALUES (?, ?, ?, ?)", rows)
        self.fts.commit()

    def ours(self, q: str) -> list[str]:
        """The slugs of the first results of our search, as `/api/writeups?q=` gives them."""
        request = self.service.parse({"q": [q], "page_size": [str(DEPTH)]})
        results = self.service.search(request, source="bench")
        return [hit.slug for hit in results.hits]

    def fts5(self, q: str) -> list[str]:
        """The slugs of the first results of FTS5 for the same text."""
        terms, plain = fts5_terms(q)
        if not terms:
            return []
        slugs = self._fts5_match(" AND ".join(terms))
        if not slugs and plain and len(terms) > 1:
            slugs = self._fts5_match(" OR ".join(terms))
        return slugs

    def _fts5_match(self, expression: str) -> list[str]:
        weights = ", ".join(str(w) for w in FTS5_WEIGHTS)
        rows = self.fts.execute(
            f"SELECT slug FROM fiches WHERE fiches MATCH ? ORDER BY bm25(fiches, 0, {weights}) "
            "LIMIT ?",
            (expression, DEPTH),
        ).fetchall()
        return [row[0] for row in rows]

    def close(self) -> None:
        self.fts.close()
        self.engine.dispose()


_QUOTED = re.compile(r'"([^"]*)"')
_WORD = re.compile(r"[^\W_]+")  # what unicode61 keeps as a token (letters and digits)


def fts5_terms(q: str) -> tuple[list[str], bool]:
    """The FTS5 terms of a query text (each word quoted, each quoted phrase a phrase), and
    whether the text was a plain list of words (then an empty AND falls back to OR)."""
    terms: list[str] = []
    plain = True

    def words(text: str) -> list[str]:
        return _WORD.findall(text)

    position = 0
    for match in _QUOTED.finditer(q):
        terms.extend(f'"{w}"' for w in words(q[position : match.start()]))
        phrase = words(match.group(1))
        if phrase:
            terms.append('"' + " ".join(phrase) + '"')
            plain = False
        position = match.end()
    terms.extend(f'"{w}"' for w in words(q[position:].replace('"', " ")))
    return terms, plain


# ---------------------------------------------------------------------------------------
# Scores


@dataclass
class Outcome:
    """What one engine gave for one judged query."""

    judged: Judged
    top: list[str]  # the first DEPTH slugs
    rank: int | None  # 1-based rank of the first judged fiche, None if not in the first DEPTH
    ms: float

    @property
    def success(self) -> bool:
        return self.rank is not None and self.rank <= TOP

    @property
    def reciprocal(self) -> float:
        return 1.0 / self.rank if self.rank else 0.0


@dataclass
class Score:
    n: int = 0
    successes: int = 0
    reciprocal_sum: float = 0.0
    failures: list[Outcome] = field(default_factory=list)

    @property
    def success_at_3(self) -> float:
        return self.successes / self.n if self.n else 0.0

    @property
    def mrr(self) -> float:
        return self.reciprocal_sum / self.n if self.n else 0.0

    def add(self, outcome: Outcome) -> None:
        self.n += 1
        self.successes += outcome.success
        self.reciprocal_sum += outcome.reciprocal
        if not outcome.success:
            self.failures.append(outcome)


def first_rank(slugs: Sequence[str], relevant: Iterable[str]) -> int | None:
    wanted = set(relevant)
    for n, slug in enumerate(slugs[:DEPTH], 1):
        if slug in wanted:
            return n
    return None


def run_engine(search: Callable[[str], list[str]], judged: list[Judged]) -> list[Outcome]:
    outcomes = []
    for item in judged:
        start = time.perf_counter()
        top = search(item.q)[:DEPTH]
        ms = (time.perf_counter() - start) * 1000
        outcomes.append(Outcome(item, top, first_rank(top, item.relevant), ms))
    return outcomes


def scores_by_kind(outcomes: list[Outcome]) -> dict[str, Score]:
    """Per kind (in KINDS order) and `overall`."""
    scores = {kind: Score() for kind in KINDS}
    overall = Score()
    for outcome in outcomes:
        scores[outcome.judged.kind].add(outcome)
        overall.add(outcome)
    return {**{k: s for k, s in scores.items() if s.n}, "overall": overall}


@dataclass
class Report:
    judged: list[Judged]
    outcomes: dict[str, list[Outcome]]  # engine → one outcome per judged query
    scores: dict[str, dict[str, Score]]  # engine → kind (and "overall") → score
    published: int
    glossary: bool


def evaluate(library: Library, judged: list[Judged]) -> Report:
    outcomes = {"ours": run_engine(library.ours, judged), "fts5": run_engine(library.fts5, judged)}
    return Report(
        judged=judged,
        outcomes=outcomes,
        scores={engine: scores_by_kind(o) for engine, o in outcomes.items()},
        published=len(library.published),
        glossary=library.glossary,
    )


# ---------------------------------------------------------------------------------------
# Output


def table(report: Report) -> str:
    lines = [
        f"Relevance on the demo corpus: {len(report.judged)} judged queries, "
        f"{report.published} published fiches, glossary.yaml "
        f"{'imported' if report.glossary else 'absent'}.",
        f"success@{TOP}: a judged fiche in the top {TOP}; MRR over the first {DEPTH} results.",
        "",
        f"{'kind':<12}{'n':>4}   {'ours s@3':>9}{'ours MRR':>10}   {'FTS5 s@3':>9}{'FTS5 MRR':>10}",
    ]
    ours, fts5 = report.scores["ours"], report.scores["fts5"]
    for kind in [*KINDS, "overall"]:
        if kind not in ours:
            continue
        if kind == "overall":
            lines.append("-" * 57)
        a, b = ours[kind], fts5[kind]
        lines.append(
            f"{kind:<12}{a.n:>4}   {a.success_at_3 * 100:>7.1f} %{a.mrr:>10.3f}"
            f"   {b.success_at_3 * 100:>7.1f} %{b.mrr:>10.3f}"
        )
    times = sorted(o.ms for o in report.outcomes["ours"])
    lines.append("")
    lines.append(
        f"ours: {sum(times) / len(times):.1f} ms per query on average (max {times[-1]:.1f} ms)."
    )
    return "\n".join(lines)


def failures(report: Report) -> str:
    lines = [f"Queries without a judged fiche in our top {TOP} (FTS5's rank in brackets):"]
    by_query = {id(o.judged): o for o in report.outcomes["fts5"]}
    for outcome in report.outcomes["ours"]:
        if outcome.success:
            continue
        other = by_query[id(outcome.judged)]
        rank = outcome.rank or "-"
        lines.append(
            f"  [{outcome.judged.kind}] {outcome.judged.q!r}: rank {rank} "
            f"(FTS5 {other.rank or '-'}); top {TOP}: {', '.join(outcome.top[:TOP]) or 'none'}"
        )
    return "\n".join(lines)


def as_json(report: Report) -> dict[str, Any]:
    def figures(score: Score) -> dict[str, Any]:
        return {
            "n": score.n,
            "success_at_3": round(score.success_at_3, 4),
            "mrr": round(score.mrr, 4),
        }

    by_query = {id(o.judged): o for o in report.outcomes["fts5"]}
    return {
        "judged": len(report.judged),
        "published": report.published,
        "glossary": report.glossary,
        "top": TOP,
        "mrr_depth": DEPTH,
        "kinds": {
            kind: {engine: figures(report.scores[engine][kind]) for engine in ENGINES}
            for kind in [*KINDS, "overall"]
            if kind in report.scores["ours"]
        },
        "queries": [
            {
                "q": o.judged.q,
                "kind": o.judged.kind,
                "table": o.judged.table,
                "ours_rank": o.rank,
                "fts5_rank": by_query[id(o.judged)].rank,
                "ours_top": o.top[:TOP],
                "fts5_top": by_query[id(o.judged)].top[:TOP],
            }
            for o in report.outcomes["ours"]
        ],
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--json", action="store_true", help="machine output")
    parser.add_argument("--failures", action="store_true", help="list the failed queries")
    parser.add_argument("--judged", type=Path, default=JUDGED)
    parser.add_argument("--knowledge", type=Path, default=KNOWLEDGE)
    args = parser.parse_args(argv)
    judged = load_judged(args.judged)
    with tempfile.TemporaryDirectory(prefix="relevance-") as work:
        library = Library(Path(work), args.knowledge)
        try:
            report = evaluate(library, judged)
        finally:
            library.close()
    if args.json:
        print(json.dumps(as_json(report), ensure_ascii=False, indent=2))
    else:
        print(table(report))
        if args.failures:
            print()
            print(failures(report))
    return 0


if __name__ == "__main__":
    sys.exit(main())
