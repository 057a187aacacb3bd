"""Whoosh conformance: every engine behaviour the project relies on, pinned.

Run against the pinned distribution (`whoosh3`) by `make test`, and against
`whoosh-reloaded` by `make test-whoosh-reloaded` (also part of `make test`), so that a
Whoosh upgrade or a switch of distribution fails here rather than in production.

The tests need no database: `SearchIndex.searcher()`, `merge_small()` and the fast
readers of `search.fastread` work on the index directory alone.
"""

from __future__ import annotations

import multiprocessing
import os
import pickle
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from whoosh import index as whoosh_index
from whoosh.index import LockError
from whoosh.query import Term

from resource_centre.search import caches, fastread
from resource_centre.search.indexer import CURRENT, SearchIndex, _MergeSmallest
from resource_centre.search.schema import META_SLUG, build_schema, meta_document

WORDS = "jardin partagé laverie solidaire chantier insertion habitants quartier régie"


def _doc(slug: str, version: int, extra: str = "") -> dict[str, Any]:
    text = f"{WORDS} {extra} fiche {slug} version{version}"
    return {
        "slug": slug,
        "kind": "fiche",
        "status": "published",
        "title": f"Fiche {slug} {extra}",
        "summary": text,
        "body": text * 3,
        "spell": text,
        "theme": "jardins",
        "version": version,
    }


@pytest.fixture
def live(tmp_path: Path) -> Iterator[SearchIndex]:
    """An index directory laid out as the project does (generation + `current` link)."""
    root = tmp_path / "index"
    generation = root / "gen-1"
    generation.mkdir(parents=True)
    ix = whoosh_index.create_in(str(generation), build_schema())
    writer = ix.writer()
    for i in range(5):
        writer.add_document(**_doc(f"fiche-{i}", 1))
    writer.add_document(**meta_document(0))
    writer.commit()
    os.symlink(generation.name, root / CURRENT)
    index = SearchIndex(root, engine=None)  # type: ignore[arg-type]  # no database needed
    yield index
    searcher = getattr(index._local, "searcher", None)
    if searcher is not None:
        searcher.close()


def _ix(index: SearchIndex) -> Any:
    path = index.current_dir()
    assert path is not None
    return whoosh_index.open_dir(str(path))


def _visible(searcher: Any, slug: str) -> list[int]:
    """The versions of `slug` a searcher returns (one per visible document)."""
    results = searcher.search(Term("slug", slug), limit=None)
    return sorted(int(hit["version"]) for hit in results)


def _all_slugs(searcher: Any) -> list[str]:
    return sorted(f["slug"] for f in searcher.all_stored_fields() if f["slug"] != META_SLUG)


def test_updates_through_a_long_lived_searcher_show_each_document_once(live):
    """update_document + commit (no merge), then the project's searcher: one version."""
    searcher = live.searcher()
    assert _visible(searcher, "fiche-1") == [1]
    for version in range(2, 7):
        writer = _ix(live).writer()
        writer.update_document(**_doc("fiche-1", version))
        writer.update_document(**meta_document(version))
        writer.commit(merge=False)
        searcher = live.searcher()
        assert _visible(searcher, "fiche-1") == [version]
        assert _all_slugs(searcher) == [f"fiche-{i}" for i in range(5)]
        assert live.applied_id() == version
        assert searcher.doc_count() == 6  # five fiches and the meta document


def test_deleted_documents_disappear_from_a_long_lived_searcher(live):
    live.searcher()
    writer = _ix(live).writer()
    writer.delete_by_term("slug", "fiche-3")
    writer.commit(merge=False)
    searcher = live.searcher()
    assert _visible(searcher, "fiche-3") == []
    assert "fiche-3" not in _all_slugs(searcher)


def test_a_new_searcher_sees_updates_and_deletions(live):
    """The engine's own contract that our reopen relies on: open_dir().searcher() is exact."""
    for version in (2, 3):
        writer = _ix(live).writer()
        writer.update_document(**_doc("fiche-0", version))
        writer.delete_by_term("slug", f"fiche-{version}")
        writer.commit(merge=False)
    with _ix(live).searcher() as searcher:
        assert _visible(searcher, "fiche-0") == [3]
        assert _all_slugs(searcher) == ["fiche-0", "fiche-1", "fiche-4"]
        assert searcher.up_to_date()


def test_up_to_date_turns_false_after_another_writer_commits(live):
    searcher = _ix(live).searcher()
    assert searcher.up_to_date()
    writer = _ix(live).writer()
    writer.update_document(**_doc("fiche-2", 2))
    writer.commit(merge=False)
    assert not searcher.up_to_date()
    searcher.close()


def _hold_writer(path: str, ready: Any, release: Any) -> None:
    ix = whoosh_index.open_dir(path)
    writer = ix.writer()
    writer.update_document(**_doc("fiche-4", 9))
    ready.set()
    release.wait(20)
    writer.commit(merge=False)


def test_one_writer_across_processes(live):
    """A second process's writer waits (timeout) and gets the lock once the first commits."""
    path = str(live.current_dir())
    context = multiprocessing.get_context("spawn")
    ready, release = context.Event(), context.Event()
    holder = context.Process(target=_hold_writer, args=(path, ready, release))
    holder.start()
    try:
        assert ready.wait(30)
        started = time.monotonic()
        with pytest.raises(LockError):
            whoosh_index.open_dir(path).writer(timeout=0.3)
        assert time.monotonic() - started >= 0.25
        release.set()
        holder.join(30)
        assert holder.exitcode == 0
        writer = whoosh_index.open_dir(path).writer(timeout=5)
        writer.cancel()
    finally:
        release.set()
        holder.join(5)
    assert _visible(live.searcher(), "fiche-4") == [9]


def _segment_count(index: SearchIndex) -> int:
    return len(_ix(index)._segments())


def test_commits_without_merge_add_segments_and_merges_keep_every_document(live):
    for i in range(6):
        writer = _ix(live).writer()
        writer.update_document(**_doc(f"fiche-{i % 5}", 10 + i))
        writer.commit(merge=False)
    assert _segment_count(live) >= 5
    segments = _ix(live)._segments()
    assert all(hasattr(s, n) for s in segments for n in ("doc_count_all", "segment_id"))
    policy = _MergeSmallest(4)
    assert policy.would_merge(segments)
    writer = _ix(live).writer()
    writer.commit(mergetype=policy)
    assert _segment_count(live) <= 3
    searcher = live.searcher()
    assert _all_slugs(searcher) == [f"fiche-{i}" for i in range(5)]
    assert _visible(searcher, "fiche-0") == [15]
    # Whoosh's own merge on commit also keeps every document exactly once.
    writer = _ix(live).writer()
    writer.update_document(**_doc("fiche-1", 20))
    writer.commit(merge=True)
    assert _visible(live.searcher(), "fiche-1") == [20]
    assert _all_slugs(live.searcher()) == [f"fiche-{i}" for i in range(5)]


def test_idle_merge_commits_nothing_when_there_is_nothing_to_merge(live):
    generation = _ix(live).latest_generation()
    for _ in range(3):
        assert live.merge_small() is False
    assert _ix(live).latest_generation() == generation
    for i in range(6):
        writer = _ix(live).writer()
        writer.update_document(**_doc(f"fiche-{i % 5}", 30 + i))
        writer.commit(merge=False)
    assert live.merge_small() is True
    merged = _ix(live).latest_generation()
    assert live.merge_small() is False
    assert _ix(live).latest_generation() == merged


# --- The fast readers of search.fastread read Whoosh internals: they must equal the API ---


@pytest.fixture
def segmented(live: SearchIndex) -> SearchIndex:
    """An index with several segments, replaced and deleted documents, long postings."""
    for round_ in range(3):
        writer = _ix(live).writer()
        for i in range(40):
            writer.add_document(**_doc(f"lot{round_}-{i}", 1, extra="compost " * (i % 7)))
        writer.update_document(**_doc("fiche-2", 2 + round_, extra="compost"))
        writer.delete_by_term("slug", f"lot{round_}-3")
        writer.commit(merge=False)
    return live


def _postings(reader: Any, field: str, word: str, fast: bool, monkeypatch) -> list[Any]:
    monkeypatch.setattr(fastread, "FAST_POSTINGS", fast)
    out = []
    for leaf, _offset in reader.leaf_readers():
        btext = word.encode()
        if (field, btext) in leaf:
            ids, weights = fastread.leaf_postings(leaf, field, btext)
            # The fast path may include deleted documents (callers intersect with the
            # live set); compare what is left.
            kept = [(d, round(w, 6)) for d, w in zip(ids, weights) if not leaf.is_deleted(d)]
            out.append(kept)
    return out


@pytest.mark.parametrize(("field", "word"), [("body", "compost"), ("summary", "jardin")])
def test_fast_posting_reads_equal_the_public_api(segmented, monkeypatch, field, word):
    reader = segmented.searcher().reader()
    fast = _postings(reader, field, word, True, monkeypatch)
    public = _postings(reader, field, word, False, monkeypatch)
    assert fast and fast == public
    # The internals the fast path reads are still there (else it silently falls back).
    leaf = next(lf for lf, _ in reader.leaf_readers() if (field, word.encode()) in lf)
    matcher = leaf.postings(field, word.encode())
    raw = getattr(matcher, "child", matcher)
    for name in ("_read_ids", "_read_weights", "_read_values", "_next_block", "_i", "_maxid"):
        assert hasattr(raw, name), name


def test_fast_position_reads_equal_the_public_api(segmented, monkeypatch):
    reader = segmented.searcher().reader()
    docs = sorted(
        d for d in range(reader.doc_count_all()) if not reader.is_deleted(d) and d % 2 == 0
    )

    def read(fast: bool) -> list[tuple[int, list[int]]]:
        monkeypatch.setattr(fastread, "FAST_POSTINGS", fast)
        return [(d, list(p)) for d, p in fastread.positions(reader, "spell", "compost", docs)]

    fast, public = read(True), read(False)
    assert fast and fast == public


def test_fast_field_lengths_equal_the_public_api(segmented):
    reader = segmented.searcher().reader()
    for leaf, _ in reader.leaf_readers():
        count = leaf.doc_count_all()
        fast = fastread.lengths(leaf, "body", count)
        public = [leaf.doc_field_length(d, "body", 0) or 0 for d in range(count)]
        assert fast == public
        assert hasattr(leaf, "_perdoc") and hasattr(leaf._perdoc, "_cached_reader")


def test_the_fast_readers_pass_their_own_check(segmented, monkeypatch, caplog):
    """`fastread.self_check` (run for each new generation) finds the fast readers right on
    this distribution: were it not, the process would silently run on the slow path."""
    monkeypatch.setattr(fastread, "FAST_POSTINGS", True)
    caplog.set_level("DEBUG", logger=fastread.__name__)
    reader = segmented.searcher().reader()
    assert len(list(reader.leaf_readers())) > 1
    assert fastread.self_check(reader) is True
    assert fastread.fast_path_enabled() is True
    assert not caplog.records


def test_idle_merge_settles_when_whooshs_policy_would_merge_nothing(live):
    """Segments too large for Whoosh's MERGE_SMALL: the idle merge must still settle.

    (Before: `merge_small` committed with the default policy, which merged nothing, so an
    idle server wrote a new index generation every two seconds.)
    """
    for round_ in range(6):
        writer = _ix(live).writer()
        for i in range(25):
            writer.add_document(**_doc(f"big{round_}-{i}", 1))
        writer.commit(merge=False)
    assert _segment_count(live) > 4
    live.merge_small()
    generation = _ix(live).latest_generation()
    for _ in range(3):
        assert live.merge_small() is False
        assert _ix(live).latest_generation() == generation
    assert _segment_count(live) <= 4


def test_the_expected_distribution_is_the_one_under_test():
    """`make test-whoosh-reloaded` sets the expectation, so the fallback run is real."""
    from importlib import metadata

    expected = os.environ.get("RESOURCE_CENTRE_EXPECT_WHOOSH", "whoosh3")
    installed = {
        name for name in ("whoosh3", "whoosh-reloaded", "whoosh") if _installed(metadata, name)
    }
    assert installed == {expected}


def _installed(metadata: Any, name: str) -> bool:
    try:
        metadata.version(name)
    except metadata.PackageNotFoundError:
        return False
    return True


# --- What our code relies on, beyond the engine's results ------------------------------------


def test_pooled_searchers_are_reused_until_a_commit_then_reopened(live):
    """`SearchIndex.searching()` (what requests use) lends one searcher while nothing
    changes, and after a commit a searcher that sees each document once."""
    with live.searching() as first:
        assert _visible(first, "fiche-2") == [1]
    with live.searching() as again:
        assert again is first  # nothing committed: the pooled searcher is lent again
    for version, gone in ((2, "fiche-0"), (3, "fiche-3"), (4, "fiche-4")):
        writer = _ix(live).writer()
        writer.update_document(**_doc("fiche-2", version))
        writer.delete_by_term("slug", gone)
        writer.commit(merge=False)
        with live.searching() as searcher:
            assert searcher is not first
            assert _visible(searcher, "fiche-2") == [version]
            assert gone not in _all_slugs(searcher)
            assert searcher.up_to_date()
    assert _all_slugs(_ix(live).searcher()) == ["fiche-1", "fiche-2"]


def test_our_code_never_refreshes_a_searcher():
    """`Searcher.refresh()` keeps stale deletion sets in whoosh3 3.54.0 and whoosh-reloaded
    2.7.5 alike (replaced documents stay visible): we reopen instead."""
    import ast

    package = Path(fastread.__file__).resolve().parents[1]
    callers = [
        f"{path.relative_to(package)}:{node.lineno}"
        for path in package.rglob("*.py")
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8")))
        if isinstance(node, ast.Call)
        and isinstance(node.func, ast.Attribute)
        and node.func.attr == "refresh"
    ]
    assert callers == []


def test_generation_key_changes_with_each_commit_and_deletion(live):
    """The per-generation caches of search.caches are keyed on TOC generation, segments and
    deletion counts; a commit (even a deletion alone) must give a new key."""
    keys = {caches.generation_key(live.searcher())}
    writer = _ix(live).writer()
    writer.delete_by_term("slug", "fiche-1")
    writer.commit(merge=False)
    keys.add(caches.generation_key(live.searcher()))
    writer = _ix(live).writer()
    writer.update_document(**_doc("fiche-0", 2))
    writer.commit(merge=True)
    keys.add(caches.generation_key(live.searcher()))
    assert len(keys) == 3
    reader = live.searcher().reader()
    assert isinstance(reader.generation(), int)
    assert all(isinstance(s.deleted_count(), int) for s in reader.segments())


def test_fast_paths_read_the_internals_without_falling_back(segmented, caplog):
    """The fast paths fall back to the public API when an internal is missing; here they
    must not, so that a Whoosh upgrade that changes the internals fails this suite."""
    from whoosh.codec.whoosh3 import LENGTHS_COLUMN
    from whoosh.matching.wrappers import FilterMatcher
    from whoosh.util.numeric import byte_to_length

    assert callable(byte_to_length) and isinstance(FilterMatcher, type)
    reader = segmented.searcher().reader()
    caplog.set_level("DEBUG", logger=fastread.__name__)
    for leaf, _ in reader.leaf_readers():
        if ("body", b"compost") not in leaf:
            continue
        raw = leaf.postings("body", b"compost")
        raw = raw.child if isinstance(raw, FilterMatcher) else raw
        raw._read_ids()
        raw._read_weights()
        assert len(raw._ids) == len(raw._weights) > raw._i >= 0
        assert isinstance(raw._maxid, int)
        spell = leaf.postings("spell", b"compost")
        spell = spell.child if isinstance(spell, FilterMatcher) else spell
        spell._read_ids()
        spell._read_values()
        assert len(spell._values) == len(spell._ids)
        # Field lengths: the column read directly, one byte per document.
        column = leaf._perdoc._cached_reader("_body_len", LENGTHS_COLUMN)
        assert column is not None and len(list(column)) == leaf.doc_count_all()
        fastread.leaf_postings(leaf, "body", b"compost")
    # Positions: Whoosh's `Positions` value is a count then pickled deltas.
    decode = reader.schema["spell"].format.decode_positions
    for leaf, _ in reader.leaf_readers():
        if ("spell", b"compost") in leaf:
            matcher = leaf.postings("spell", b"compost")
            value = matcher.value()
            data = value[4:] if value.endswith(b".") else value[4:] + b"."
            deltas = pickle.loads(data)  # our own test index
            assert list(fastread.decode_positions(value, decode)) == list(decode(value))
            assert sum(deltas) == list(decode(value))[-1]
    assert not [r for r in caplog.records if "fast" in r.getMessage()]
