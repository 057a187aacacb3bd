"""Relevance is tested like code (issue #13): the judged queries of tests/data/relevance.yaml
on the demo corpus, through a real library (SQLite file, Whoosh index, the search service the
API uses), against thresholds per kind of query and against SQLite FTS5 on the same fiches.

The figures come from bench/relevance.py (imported here): `.venv/bin/python
bench/relevance.py --failures` prints them with the queries that miss.
"""

from __future__ import annotations

import importlib.util
import sys
from collections import Counter
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]

# Success@3 per kind (share of queries with a judged fiche in the top 3), overall, and the
# overall MRR. Before issue 13's work: 74.6 % overall, MRR 0.724 (typos and word starts at
# 50–62 %). After tuning (2026-11-29): 100 % in every kind, MRR 0.956 (docs/performance.md).
# The thresholds leave one miss per kind for a corpus that changes; the overall ones are
# the issue's goal.
THRESHOLDS: dict[str, float] = {
    "topic": 0.93,
    "inflection": 0.92,
    "typo": 0.93,
    "acronym": 0.93,
    "synonym": 0.92,
    "phrase": 0.92,
    "question": 0.93,
    "prefix": 0.93,
}
OVERALL_THRESHOLD = 0.95
MRR_THRESHOLD = 0.90
# Kinds where FTS5 does better than we do (xfail strict, to see them flip): none since the
# issue's work ("question" was before).
BELOW_FTS5_TODAY: set[str] = set()

MIN_QUERIES = 96
MIN_PER_KIND = 12


def _load_bench():
    name = "bench_relevance"
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, ROOT / "bench" / "relevance.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses look their module up while the class is built
    spec.loader.exec_module(module)
    return module


bench = _load_bench()


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory):
    library = bench.Library(tmp_path_factory.mktemp("relevance"), bench.KNOWLEDGE)
    try:
        yield bench.evaluate(library, bench.load_judged())
    finally:
        library.close()


def _misses(report, kind: str | None = None) -> str:
    lines = [
        f"{o.judged.q!r} ({o.judged.kind}): top 3 {o.top[:3]}"
        for o in report.outcomes["ours"]
        if not o.success and (kind is None or o.judged.kind == kind)
    ]
    return "misses:\n  " + "\n  ".join(lines)


# -- the judged set itself ----------------------------------------------------------------


def _published_slugs() -> set[str]:
    slugs = set()
    for path in (bench.KNOWLEDGE / "fiches").glob("*.md"):
        front = yaml.safe_load(path.read_text(encoding="utf-8").split("\n---\n", 1)[0][4:])
        if front.get("status") == "published":
            slugs.add(path.stem)
    return slugs


def test_judged_set_covers_every_kind() -> None:
    judged = bench.load_judged()
    counts = Counter(j.kind for j in judged)
    assert len(judged) >= MIN_QUERIES
    assert set(counts) == set(bench.KINDS)
    assert min(counts.values()) >= MIN_PER_KIND, counts
    pairs = [(j.q, j.kind) for j in judged]
    assert len(pairs) == len(set(pairs)), "a query is judged twice"


def test_judged_fiches_exist_and_are_published() -> None:
    published = _published_slugs()
    wrong = {j.q: sorted(set(j.relevant) - published) for j in bench.load_judged()}
    assert not {q: s for q, s in wrong.items() if s}


def test_issue_table_rows_are_in_the_judged_set() -> None:
    table = {j.q for j in bench.load_judged() if j.table}
    # Every row of the issue's table ("AI" since a demo fiche names an association
    # intermédiaire).
    assert table == {
        "lavrie", "epiceire", '"jardin partagé"', "jardn partagé", "compo", "encomb", "jard",
        "QPV", "HLM", "EPCI", "AI", "aînés", "deux-roues", "médiatrice", "loge", "commune",
    }  # fmt: skip


# -- relevance ----------------------------------------------------------------------------


def test_the_judged_fiches_are_found_at_all(report) -> None:
    """Both engines ran every query (a broken library would score 0 everywhere)."""
    assert report.published == len(_published_slugs())
    assert sum(o.rank is not None for o in report.outcomes["ours"]) > len(report.judged) // 2


@pytest.mark.parametrize("kind", bench.KINDS)
def test_success_at_3_per_kind(report, kind: str) -> None:
    score = report.scores["ours"][kind]
    assert score.success_at_3 >= THRESHOLDS[kind], _misses(report, kind)


def test_success_at_3_overall(report) -> None:
    score = report.scores["ours"]["overall"]
    assert score.success_at_3 >= OVERALL_THRESHOLD, _misses(report)


def test_mrr_overall(report) -> None:
    assert report.scores["ours"]["overall"].mrr >= MRR_THRESHOLD, _misses(report)


@pytest.mark.parametrize(
    "kind",
    [
        pytest.param(
            kind,
            marks=pytest.mark.xfail(strict=True, reason="below FTS5 before tuning"),
        )
        if kind in BELOW_FTS5_TODAY
        else kind
        for kind in bench.KINDS
    ],
)
def test_no_kind_below_fts5(report, kind: str) -> None:
    ours, fts5 = report.scores["ours"][kind], report.scores["fts5"][kind]
    assert ours.success_at_3 >= fts5.success_at_3, (
        f"{kind}: ours {ours.success_at_3:.3f} < FTS5 {fts5.success_at_3:.3f}; "
        + _misses(report, kind)
    )
