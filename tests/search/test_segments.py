"""Search caches kept across index generations: each segment is read once (issue 11)."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import select

from resource_centre.corpus import import_corpus
from resource_centre.db import write_session
from resource_centre.models import Regie
from resource_centre.search import caches, segments
from resource_centre.search.indexer import SearchIndex
from resource_centre.search.query import run
from resource_centre.search.request import SearchRequest
from resource_centre.search.schema import KIND_FICHE, TEXT_FIELDS
from resource_centre.writeups import get_by_slug
from tests.conftest import TEST_KNOWLEDGE

ATTRIBUTES = (
    "size", "doc_count", "visible", "visible_docs", "visible_count", "facet_bits", "norms",
    "year_start", "year_end", "year_bits", "order", "rank", "regie_names",
)  # fmt: skip


def snapshot(generation: caches.Generation) -> dict[str, Any]:
    found = {name: getattr(generation, name) for name in ATTRIBUTES}
    # Norms and ranks are computed on first use: compare what they give.
    found["norms"] = {name: generation.norms[name] for name in TEXT_FIELDS}
    found["rank"] = {name: generation.rank[name] for name in generation.order}
    return found


def fresh(index: SearchIndex) -> dict[str, Any]:
    """The caches of the live generation, every segment read anew."""
    segments.forget()
    with index.searching() as searcher:
        return snapshot(caches.Generation(searcher))


def kept(index: SearchIndex) -> dict[str, Any]:
    with index.searching() as searcher:
        return snapshot(caches.Generation(searcher))


def warm(index: SearchIndex) -> None:
    """What the sync thread does after a commit: the generation's caches, checked."""
    with index.searching() as searcher:
        caches.warm_up(searcher)


def published_by_public_api(index: SearchIndex) -> set[int]:
    with index.searching() as searcher:
        return {
            docnum
            for docnum, fields in searcher.iter_docs()
            if fields.get("kind") == KIND_FICHE and fields.get("status") == "published"
        }


@pytest.fixture
def index(tmp_path, sqlite_engine) -> SearchIndex:
    engine = sqlite_engine
    import_corpus(engine, TEST_KNOWLEDGE)
    index = SearchIndex(tmp_path / "index", engine)
    index.ensure()
    index.catch_up()
    kept(index)  # the first generation's segments are now remembered
    return index


def test_a_journal_commit_reads_only_its_new_segment(index, sqlite_engine, monkeypatch):
    engine = sqlite_engine
    read: list[int] = []
    real = segments.read_facts
    monkeypatch.setattr(segments, "read_facts", lambda leaf: read.append(1) or real(leaf))
    with index.searching() as searcher:
        before = len(searcher.reader().leaf_readers())
    with write_session(engine) as session:
        get_by_slug(session, "jardin-partage-des-tilleuls").title = "Potager collectif"
    index.catch_up()
    with index.searching() as searcher:
        caches.Generation(searcher)
        after = len(searcher.reader().leaf_readers())
    assert after == before + 1 and read == [1]  # one new segment, read once


def test_kept_facts_give_the_caches_of_a_fresh_reading(index, sqlite_engine):
    engine = sqlite_engine
    changes = [
        ("jardin-partage-des-tilleuls", "title", "Potager collectif des Tilleuls"),
        ("epicerie-soumise", "status", "published"),
        ("laverie-solidaire-du-canal", "status", "archived"),
        ("atelier-velo-des-hauts-plateaux", "year_start", 2011),
        ("laverie-solidaire-du-canal", "status", "published"),
    ]
    for slug, attribute, value in changes:
        with write_session(engine) as session:
            setattr(get_by_slug(session, slug), attribute, value)
        index.catch_up()  # one commit, one small segment, deletions in older ones
        incremental = kept(index)
        assert incremental == fresh(index)
        assert set(incremental["visible_docs"]) == published_by_public_api(index)
    with write_session(engine) as session:  # a renamed Régie: its fiches are indexed again
        regie = session.execute(select(Regie).where(Regie.slug == "regie-du-canal")).scalar_one()
        regie.name = "Régie Belvédère"
    index.catch_up()
    incremental = kept(index)
    assert incremental["regie_names"]["regie-du-canal"] == "Régie Belvédère"
    assert incremental == fresh(index)


def test_after_a_merge_the_caches_are_still_those_of_a_fresh_reading(index, sqlite_engine):
    engine = sqlite_engine
    for n in range(6):
        with write_session(engine) as session:
            get_by_slug(session, "jardin-partage-des-tilleuls").title = f"Potager {n}"
        index.catch_up()
        kept(index)
    assert index.merge_small(max_segments=2)
    assert kept(index) == fresh(index)
    searcher = index.searcher()
    results = run(searcher, SearchRequest(q="potager"), labels={})
    assert [h.slug for h in results.hits] == ["jardin-partage-des-tilleuls"]


def test_the_fast_readers_are_checked_again_only_when_the_largest_segments_change(
    index, sqlite_engine, monkeypatch
):
    from resource_centre.search import fastread

    compared: list[int] = []
    real = fastread._compare
    monkeypatch.setattr(fastread, "_compare", lambda reader: compared.append(1) or real(reader))
    caches.clear_caches()
    warm(index)
    assert compared == [1]
    with write_session(sqlite_engine) as session:
        get_by_slug(session, "jardin-partage-des-tilleuls").title = "Potager collectif"
    index.catch_up()  # adds a one-fiche segment; the largest ones stay
    warm(index)
    assert compared == [1]
    index.rebuild()  # new segments throughout: checked again
    warm(index)
    assert compared == [1, 1]


def test_results_survive_a_merge_but_not_a_change_of_content(index, sqlite_engine):
    for n in range(6):
        with write_session(sqlite_engine) as session:
            get_by_slug(session, "jardin-partage-des-tilleuls").title = f"Potager {n}"
        index.catch_up()
    request = SearchRequest(q="potager")
    with index.searching() as searcher:
        before = caches.generation(searcher)
        first = run(searcher, request, labels={})
    assert before.results  # computed once, cached
    assert index.merge_small(max_segments=2)  # what an idle server does: same content
    with index.searching() as searcher:
        merged = caches.generation(searcher)
        assert merged is not before and merged.results == before.results
        assert run(searcher, request, labels={}) == first
    with write_session(sqlite_engine) as session:  # a publication: new content
        get_by_slug(session, "jardin-partage-des-tilleuls").title = "Verger partagé"
    index.catch_up()
    with index.searching() as searcher:
        changed = caches.generation(searcher)
        assert changed.content != merged.content and not changed.results
        assert run(searcher, request, labels={}).total == 0


def following(index: SearchIndex, previous: caches.Generation) -> caches.Generation:
    """The live generation's caches, derived from the generation before it."""
    with index.searching() as searcher:
        return caches.Generation(searcher, previous)


@pytest.mark.parametrize("one_by_one", [True, False], ids=["inserted", "sorted-again"])
def test_a_generation_derived_from_the_one_before_is_the_fresh_one(
    index, sqlite_engine, monkeypatch, one_by_one
):
    if not one_by_one:  # new documents put in the sort orders by a full sort
        monkeypatch.setattr(caches, "_INSERT_AT_MOST", 0)
    engine = sqlite_engine
    with index.searching() as searcher:
        previous = caches.Generation(searcher)
    changes = [
        ("jardin-partage-des-tilleuls", "title", "Aaa potager collectif"),  # first by title
        ("epicerie-soumise", "status", "published"),  # a new visible fiche
        ("laverie-solidaire-du-canal", "status", "archived"),  # a fiche leaves
        ("atelier-velo-des-hauts-plateaux", "year_start", 1999),  # a new year
        ("laverie-solidaire-du-canal", "status", "published"),
        ("jardin-partage-des-tilleuls", "title", "Zzz potager collectif"),  # last by title
    ]
    derived = 0
    for slug, attribute, value in changes:
        with write_session(engine) as session:
            setattr(get_by_slug(session, slug), attribute, value)
        index.catch_up()
        current = following(index, previous)
        derived += current.layout[: len(previous.layout)] == previous.layout
        assert snapshot(current) == fresh(index), (slug, attribute, value)
        previous = current
    assert derived == len(changes)  # every step took the incremental path
    with write_session(engine) as session:  # a renamed Régie: its fiches are indexed again
        regie = session.execute(select(Regie).where(Regie.slug == "regie-du-canal")).scalar_one()
        regie.name = "Régie Belvédère"
    index.catch_up()
    current = following(index, previous)
    assert current.regie_names["regie-du-canal"] == "Régie Belvédère"
    assert snapshot(current) == fresh(index)
    assert index.merge_small(max_segments=2)  # segments replaced: built from scratch
    merged = following(index, current)
    assert merged.layout[: len(current.layout)] != current.layout
    assert snapshot(merged) == fresh(index)
    with index.searching() as searcher:  # and searches through `generation()` agree
        caches.clear_caches()
        results = run(searcher, SearchRequest(q="potager", sort="title"), labels={})
    assert [h.slug for h in results.hits] == ["jardin-partage-des-tilleuls"]
