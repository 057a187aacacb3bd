"""Keeping the index in step with the database: journal, catch-up, rebuild, check."""

from __future__ import annotations

import shutil
import threading

import pytest
from sqlalchemy import select

from resource_centre.corpus import import_corpus
from resource_centre.db import write_session
from resource_centre.models import Regie
from resource_centre.search.indexer import IndexUnavailable, SearchIndex
from resource_centre.search.query import run
from resource_centre.search.request import SearchRequest
from resource_centre.writeups import get_by_slug
from tests.conftest import TEST_KNOWLEDGE


@pytest.fixture
def index(tmp_path, engine):
    import_corpus(engine, TEST_KNOWLEDGE)
    index = SearchIndex(tmp_path / "index", engine)
    index.ensure()
    index.catch_up()
    return index


def slugs(index, q="", **filters) -> list[str]:
    results = run(index.searcher(), SearchRequest(q=q, filters=filters), labels={})
    return sorted(h.slug for h in results.hits)


PUBLISHED = [
    "atelier-velo-des-hauts-plateaux",
    "jardin-partage-des-tilleuls",
    "laverie-solidaire-du-canal",
]


def test_catch_up_indexes_published_fiches_only(index):
    assert slugs(index) == PUBLISHED
    assert index.check().ok
    assert index.applied_id() == index.latest_journal_id() > 0


def test_publish_unpublish_and_edit_follow_the_journal(index, engine):
    with write_session(engine) as session:
        get_by_slug(session, "epicerie-soumise").status = "published"
        get_by_slug(session, "laverie-solidaire-du-canal").status = "archived"
        get_by_slug(session, "jardin-partage-des-tilleuls").title = "Potager collectif"
    assert not index.check().ok  # pending entries
    assert index.catch_up() == 3
    assert "epicerie-soumise" in slugs(index) and "laverie-solidaire-du-canal" not in slugs(index)
    assert slugs(index, "potager") == ["jardin-partage-des-tilleuls"]
    assert index.check().ok


def test_regie_rename_reaches_the_index(index, engine):
    with write_session(engine) as session:
        regie = session.execute(select(Regie).where(Regie.slug == "regie-du-canal")).scalar_one()
        regie.name = "Régie Belvédère"
    index.catch_up()
    assert slugs(index, "belvedere") == ["laverie-solidaire-du-canal"]


def test_check_reports_differences(index, engine, tmp_path):
    # An index rebuilt from another state of the database differs from it.
    with write_session(engine) as session:
        get_by_slug(session, "laverie-solidaire-du-canal").title = "Autre titre"
    report = index.check()
    assert report.pending == 1 and not report.ok
    index.catch_up()
    assert index.check().ok


def test_rebuild_swaps_atomically_and_keeps_changes_made_meanwhile(index, engine):
    old = index.current_dir()

    def progress(done, total):
        # A commit during the build must still be in the new index.
        if done == total:
            with write_session(engine) as session:
                get_by_slug(session, "epicerie-soumise").status = "published"

    assert index.rebuild(progress=progress) == 3
    assert index.current_dir() != old and old.exists()  # kept one round for readers
    index.rebuild()
    assert not old.exists()
    assert "epicerie-soumise" in slugs(index)
    assert index.check().ok


def test_searches_go_on_during_rebuild(index):
    errors: list[Exception] = []
    stop = threading.Event()

    def search_loop():
        while not stop.is_set():
            try:
                assert slugs(index) == PUBLISHED
            except Exception as exc:  # pragma: no cover - reported below
                errors.append(exc)

    thread = threading.Thread(target=search_loop)
    thread.start()
    for _ in range(3):
        index.rebuild()
    stop.set()
    thread.join()
    assert errors == []


def test_missing_index_is_reported_then_rebuilt(index, tmp_path):
    shutil.rmtree(index.current_dir())
    fresh = SearchIndex(index.root, index.engine)
    with pytest.raises(IndexUnavailable):
        fresh.searcher()
    fresh.catch_up()  # no live generation: rebuilds from the database
    assert slugs(fresh) == PUBLISHED


def test_an_index_of_another_schema_version_is_rebuilt(index):
    """The meta document records `SCHEMA_VERSION`; an index made with another is rebuilt."""
    from whoosh import index as whoosh_index

    from resource_centre.search.schema import META_SLUG, SCHEMA_VERSION, meta_document

    old_generation = index.current_dir()
    assert index.catch_up() == 0 and index.current_dir() == old_generation  # same version
    writer = whoosh_index.open_dir(str(old_generation)).writer()
    writer.update_document(**{**meta_document(index.applied_id()), "version": SCHEMA_VERSION + 1})
    writer.commit()
    index.catch_up()
    assert index.current_dir() != old_generation
    with index.searching() as searcher:
        assert searcher.document(slug=META_SLUG)["version"] == SCHEMA_VERSION
    assert slugs(index) == PUBLISHED and index.check().ok


# Whoosh leaves the garbage TOC file open when it fails to read it (its bug, not ours).
@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")
def test_broken_index_files_give_index_unavailable(index):
    for path in index.current_dir().iterdir():
        path.write_bytes(b"garbage")
    fresh = SearchIndex(index.root, index.engine)
    with pytest.raises(IndexUnavailable):
        fresh.searcher()
    fresh.catch_up()  # an unreadable generation is rebuilt from the database
    assert slugs(fresh) == PUBLISHED


def test_small_segments_left_by_journal_commits_are_merged(index, engine):
    from whoosh import index as whoosh_index

    for n in range(6):
        with write_session(engine) as session:
            get_by_slug(session, "laverie-solidaire-du-canal").title = f"Laverie version {n}"
        index.catch_up()
    segments = len(whoosh_index.open_dir(str(index.current_dir()))._segments())
    assert segments > 4
    assert index.merge_small() is True
    assert len(whoosh_index.open_dir(str(index.current_dir()))._segments()) < segments
    assert slugs(index, "version") == ["laverie-solidaire-du-canal"] and index.check().ok
    assert index.merge_small() is False  # nothing left to merge


def test_rebuild_with_two_processes_gives_the_same_index(index):
    index.rebuild(procs=2)
    assert slugs(index) == PUBLISHED
    assert slugs(index, "laveries impayes") == ["laverie-solidaire-du-canal"]
    assert index.check().ok


def test_two_machines_with_their_own_index_follow_the_same_journal(index, engine, tmp_path):
    other = SearchIndex(tmp_path / "machine-2" / "index", engine)  # another machine's directory
    other.ensure()
    other.catch_up()
    with write_session(engine) as session:
        get_by_slug(session, "epicerie-soumise").status = "published"
    assert index.catch_up() == 1 and other.catch_up() == 1
    for machine in (index, other):
        assert "epicerie-soumise" in slugs(machine) and machine.check().ok


def test_edits_through_a_long_lived_searcher_show_each_fiche_once(index, engine):
    """The searcher kept by a server thread sees every edit once (no stale refresh)."""
    assert slugs(index, "laverie") == ["laverie-solidaire-du-canal"]
    for i in range(4):
        with write_session(engine) as session:
            writeup = get_by_slug(session, "laverie-solidaire-du-canal")
            writeup.title = f"Laverie solidaire, édition {i}"
        index.catch_up()
        results = run(index.searcher(), SearchRequest(q="laverie"), labels={})
        assert [h.slug for h in results.hits] == ["laverie-solidaire-du-canal"]
        assert results.total == 1
    assert index.applied_id() == index.latest_journal_id()
    assert index.check().ok


def test_check_reports_duplicates_a_live_searcher_sees(index):
    from whoosh import index as whoosh_index

    index.searcher()  # a long-lived searcher, as in a server thread
    ix = whoosh_index.open_dir(str(index.current_dir()))
    with ix.searcher() as s:
        fields = next(f for f in s.all_stored_fields() if f["slug"] == PUBLISHED[0])
    writer = ix.writer()
    writer.add_document(slug=fields["slug"], kind="fiche", status="published", version=1)
    writer.commit(merge=False)
    report = index.check()
    assert report.duplicates == [PUBLISHED[0]]
    assert not report.ok


def test_sync_flags_a_journal_range_applied_twice(index):
    from resource_centre.search.sync import IndexSync

    sync = IndexSync(index)
    assert not sync.repeating
    index.last_applied_range = (3, 7)
    sync._note_range()
    assert not sync.repeating
    index.last_applied_range = (3, 7)
    sync._note_range()
    assert sync.repeating and sync.repeated_ranges == 1


def _generation_of(index: SearchIndex) -> tuple[str, int]:
    """The live generation directory and the Whoosh TOC generation inside it."""
    from whoosh import index as whoosh_index

    path = index.current_dir()
    return path.name, whoosh_index.open_dir(str(path)).latest_generation()


def _segments_of(index: SearchIndex) -> int:
    from whoosh import index as whoosh_index

    return len(whoosh_index.open_dir(str(index.current_dir()))._segments())


def test_an_idle_sync_merges_once_then_commits_nothing(index, engine):
    """Idle, the sync thread merges the small segments once, then leaves the index alone.

    (Before: `merge_small` committed every two seconds even when it merged nothing, so an
    idle server wrote a new index generation every two seconds and threw its caches away.)
    """
    import time

    from whoosh import index as whoosh_index

    from resource_centre.search.sync import IndexSync

    with write_session(engine) as session:  # one journal commit: one more segment
        get_by_slug(session, "laverie-solidaire-du-canal").title = "Laverie version 1"
    index.catch_up()
    # Segments too large for Whoosh's own MERGE_SMALL policy (as after imports), which
    # the old `merge_small` committed with, merging nothing, every two seconds.
    for batch in range(5):
        writer = whoosh_index.open_dir(str(index.current_dir())).writer()
        for i in range(40):
            writer.add_document(
                slug=f"lot-{batch}-{i}", kind="fiche", status="published", title="Lot", version=1
            )
        writer.commit(merge=False)
    assert _segments_of(index) > 4
    applied = index.applied_id()
    sync = IndexSync(index, poll_seconds=0.05)
    sync.start()
    try:
        deadline = time.monotonic() + 15
        while _segments_of(index) > 4 and time.monotonic() < deadline:
            time.sleep(0.1)
        assert _segments_of(index) <= 4  # merged once the index was idle
        time.sleep(0.5)
        before = _generation_of(index)
        time.sleep(5)  # idle: no journal entry, nothing left to merge
        assert _generation_of(index) == before
        assert index.applied_id() == applied == index.latest_journal_id()
        assert sync.last_error is None and not sync.repeating
    finally:
        sync.stop()
    assert slugs(index, "version") == ["laverie-solidaire-du-canal"]
    report = index.check()  # merged without loss: the lots are there once each
    assert len(report.extra) == 200 and not report.duplicates and not report.missing


def test_health_is_degraded_after_a_journal_range_is_applied_twice(tmp_path):
    """An index that went back (here: the link moved to a copy taken before the last
    apply) makes the sync apply the same range again: `/api/health` says degraded."""
    import time

    from starlette.testclient import TestClient

    from resource_centre.web.app import create_app
    from tests.web.conftest import build_settings

    app = create_app(build_settings(tmp_path))
    with TestClient(app, raise_server_exceptions=False) as client:
        index, engine, sync = app.state.index, app.state.engine, app.state.sync

        def wait_applied() -> None:
            deadline = time.monotonic() + 10
            while index.applied_id() < index.latest_journal_id() or not sync.warmed:
                assert time.monotonic() < deadline, "the sync did not apply the journal"
                time.sleep(0.05)

        wait_applied()
        assert client.get("/api/health").json()["status"] == "ok"
        before = index.current_dir()
        copy = before.with_name(before.name + "0")  # sorts after it: kept by the swap
        shutil.copytree(before, copy)
        with write_session(engine) as session:
            get_by_slug(session, "laverie-solidaire-du-canal").title = "Laverie du canal"
        sync.notify()
        wait_applied()
        time.sleep(0.3)  # let the sync note the range it applied
        assert client.get("/api/health").json()["status"] == "ok"
        link = index.root / "current-back"
        link.symlink_to(copy.name)
        link.replace(index.root / "current")  # the index goes back one apply
        sync.notify()
        deadline = time.monotonic() + 10
        while not sync.repeating:
            assert time.monotonic() < deadline, "the repeated range was not noticed"
            time.sleep(0.05)
        health = client.get("/api/health").json()
        assert health["status"] == "degraded"
        assert health["index_journal_id"] == health["database_journal_id"]


def test_cli_check_names_duplicates_in_french_and_exits_1(tmp_path, database_url):
    """`resource-centre check` reports a fiche a searcher sees twice, in French."""
    from typer.testing import CliRunner
    from whoosh import index as whoosh_index

    from resource_centre.cli import app

    env = {
        "RESOURCE_CENTRE_DATABASE_URL": database_url,
        "RESOURCE_CENTRE_INDEX_DIR": str(tmp_path / "index"),
        "RESOURCE_CENTRE_DATA_DIR": str(tmp_path / "data"),
        "RESOURCE_CENTRE_KNOWLEDGE_DIR": str(TEST_KNOWLEDGE),
    }
    runner = CliRunner()
    assert runner.invoke(app, ["import", str(TEST_KNOWLEDGE)], env=env).exit_code == 0
    assert runner.invoke(app, ["check"], env=env).exit_code == 0
    ix = whoosh_index.open_dir(str(tmp_path / "index" / "current"))
    writer = ix.writer()  # a second copy of a published fiche, as a stale searcher shows it
    writer.add_document(slug=PUBLISHED[1], kind="fiche", status="published", version=1)
    writer.commit(merge=False)
    result = runner.invoke(app, ["check"], env=env)
    assert result.exit_code == 1, result.output
    assert f"{PUBLISHED[1]} : visible plusieurs fois par un lecteur ouvert de l'index" in (
        result.output
    )
    assert "L'index diffère de la base" in result.output
