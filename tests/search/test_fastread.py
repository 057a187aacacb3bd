"""The fast index readers check themselves against Whoosh's public API and step aside.

`fastread.self_check` runs when a generation's caches are built; a fast reader that gives
other answers (or fails) switches the process to the public API, and searches stay right.
"""

from __future__ import annotations

import logging
from typing import Any

import pytest

from resource_centre.search import caches, fastread
from resource_centre.search.query import run
from resource_centre.search.request import SearchRequest

QUERIES = ("habitants", "laverie OR jardin", "insertion -aci", '"regie de quartier"', "regie")


def search_all(corpus: Any, searcher: Any) -> list[tuple[str, float | None, dict[str, str]]]:
    found = []
    for q in QUERIES:
        results = run(searcher, SearchRequest(q=q, page_size=100), labels=corpus.LABELS)
        found.extend((h.slug, h.score, h.highlights) for h in results.hits)
    return found


@pytest.fixture
def fresh(monkeypatch: pytest.MonkeyPatch) -> Any:
    """The fast path on, no cached generation; both restored afterwards."""
    monkeypatch.setattr(fastread, "FAST_POSTINGS", True)
    caches.clear_caches()
    yield
    caches.clear_caches()


def test_the_fast_readers_pass_their_check_on_a_real_index(
    fresh: None, searcher: Any, caplog: pytest.LogCaptureFixture
) -> None:
    assert fastread.self_check(searcher.reader()) is True
    caches.warm_up(searcher)  # what the sync thread does after each commit
    assert fastread.fast_path_enabled() is True
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]


def test_the_check_compares_real_terms(searcher: Any) -> None:
    """The sampled terms are in the index (the comparison is not an empty one)."""
    reader = searcher.reader()
    leaf = max((leaf for leaf, _ in reader.leaf_readers()), key=fastread._doc_count)
    texts = fastread._sample_texts(reader)
    stems = fastread._words(fastread.french_analyzer(), texts)
    words = fastread._words(fastread.folding_analyzer(), texts)
    assert fastread._sample_terms(leaf, "body", stems, 400)
    assert fastread._sample_terms(leaf, "spell", words, 200)


def _shifted(raw: Any) -> tuple[list[int], list[float]]:
    ids, weights = _REAL_POSTINGS(raw)
    return [d + 1 for d in ids], weights  # wrong documents


def _no_positions(*args: Any) -> Any:
    return iter(())


def _failing_lengths(*args: Any) -> list[int]:
    raise KeyError("_body_len")


_REAL_POSTINGS = fastread._fast_leaf_postings


@pytest.mark.parametrize(
    ("name", "broken"),
    [
        ("_fast_leaf_postings", _shifted),
        ("_fast_positions", _no_positions),
        ("_fast_lengths", _failing_lengths),
    ],
)
def test_a_broken_fast_reader_switches_the_process_to_the_public_api(
    fresh: None,
    corpus: Any,
    searcher: Any,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    name: str,
    broken: Any,
) -> None:
    expected = search_all(corpus, searcher)  # with the working fast readers
    assert fastread.fast_path_enabled()
    caches.clear_caches()
    monkeypatch.setattr(fastread, name, broken)
    assert search_all(corpus, searcher) == expected  # the check ran first: still right
    assert fastread.fast_path_enabled() is False
    errors = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert len(errors) == 1 and "public API" in errors[0].getMessage()
    # Off for good in this process: the next generation is not checked again.
    caches.clear_caches()
    assert search_all(corpus, searcher) == expected
    assert len([r for r in caplog.records if r.levelno == logging.ERROR]) == 1


def test_the_public_api_path_gives_the_same_results(
    fresh: None, corpus: Any, searcher: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    expected = search_all(corpus, searcher)
    caches.clear_caches()
    monkeypatch.setattr(fastread, "FAST_POSTINGS", False)
    assert search_all(corpus, searcher) == expected
