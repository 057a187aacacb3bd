"""Database layer: migrations, the index journal's transaction, concurrent writers, backup."""

from __future__ import annotations

import multiprocessing

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import inspect, select, text
from sqlalchemy.exc import DBAPIError
from sqlmodel import SQLModel

from resource_centre.corpus import import_corpus
from resource_centre.db import alembic_config, make_engine, migrate, read_session, write_session
from resource_centre.models import IndexJournal, Regie, Term
from resource_centre.writeups import get_by_slug
from tests.conftest import TEST_KNOWLEDGE
from tests.workers import append_partners


def journal(engine) -> list[str]:
    with read_session(engine) as session:
        return list(session.execute(select(IndexJournal.slug).order_by(IndexJournal.id)).scalars())


def test_migrations_from_empty_reach_head_and_match_models(tmp_path):
    engine = make_engine(f"sqlite:///{tmp_path / 'new.db'}")
    migrate(engine)
    migrate(engine)  # idempotent
    tables = set(inspect(engine).get_table_names())
    assert {"writeup", "regie", "term", "app_user", "audit_event", "index_journal"} <= tables
    head = ScriptDirectory.from_config(alembic_config(engine)).get_current_head()
    with engine.connect() as conn:
        context = MigrationContext.configure(conn)
        assert context.get_current_revision() == head
        assert compare_metadata(context, SQLModel.metadata) == []


def test_sqlite_pragmas(sqlite_engine):
    with sqlite_engine.connect() as conn:
        assert conn.execute(text("PRAGMA journal_mode")).scalar() == "wal"
        assert conn.execute(text("PRAGMA foreign_keys")).scalar() == 1
        assert conn.execute(text("PRAGMA synchronous")).scalar() == 2  # FULL
        assert conn.execute(text("PRAGMA busy_timeout")).scalar() == 30000


def test_journal_entry_commits_with_the_change(engine):
    import_corpus(engine, TEST_KNOWLEDGE)
    before = len(journal(engine))
    with write_session(engine) as session:
        fiche = get_by_slug(session, "laverie-solidaire-du-canal")
        fiche.title = "Laverie solidaire"
        session.flush()
        # Inside the transaction the entry exists; another connection does not see it yet.
        assert (
            session.execute(select(IndexJournal).order_by(IndexJournal.id.desc()))
            .scalars()
            .first()
            .slug
            == fiche.slug
        )
        assert len(journal(engine)) == before
    assert journal(engine)[before:] == ["laverie-solidaire-du-canal"]


def test_rolled_back_change_leaves_no_journal_entry(engine):
    import_corpus(engine, TEST_KNOWLEDGE)
    before = journal(engine)
    with pytest.raises(RuntimeError), write_session(engine) as session:
        get_by_slug(session, "laverie-solidaire-du-canal").status = "archived"
        session.flush()
        raise RuntimeError("boom")
    assert journal(engine) == before
    with read_session(engine) as session:
        assert get_by_slug(session, "laverie-solidaire-du-canal").status == "published"


def test_regie_rename_and_term_relabel_journal_their_fiches(engine):
    import_corpus(engine, TEST_KNOWLEDGE)
    before = len(journal(engine))
    with write_session(engine) as session:
        regie = session.execute(select(Regie).where(Regie.slug == "regie-du-canal")).scalar_one()
        regie.name = "Régie du Grand Canal"
    assert sorted(journal(engine)[before:]) == [
        "laverie-solidaire-du-canal",
        "ressourcerie-brouillon",
    ]
    before = len(journal(engine))
    with write_session(engine) as session:
        term = session.execute(
            select(Term).where(Term.vocabulary == "activities", Term.slug == "laverie")
        ).scalar_one()
        term.label = "Laverie"
    assert journal(engine)[before:] == ["laverie-solidaire-du-canal"]


def test_database_errors_never_show_the_values_bound(engine):
    # A logged database error must not copy e-mails or fiche text into the log.
    secret = "adresse.privee@exemple.org"
    with pytest.raises(DBAPIError) as error, engine.connect() as conn:
        conn.execute(text("SELECT no_such_column FROM app_user WHERE email = :e"), {"e": secret})
    assert "no_such_column" in str(error.value) and secret not in str(error.value)


def test_unchanged_save_writes_no_journal_entry(engine):
    import_corpus(engine, TEST_KNOWLEDGE)
    before = len(journal(engine))
    assert import_corpus(engine, TEST_KNOWLEDGE).unchanged == 6
    assert len(journal(engine)) == before


@pytest.mark.slow
def test_four_processes_lose_no_update(database_url):
    engine = make_engine(database_url)
    import_corpus(engine, TEST_KNOWLEDGE)
    with read_session(engine) as session:
        start_version = get_by_slug(session, "atelier-velo-des-hauts-plateaux").version
    ctx = multiprocessing.get_context("spawn")
    procs = [
        ctx.Process(
            target=append_partners, args=(database_url, "atelier-velo-des-hauts-plateaux", w, 40)
        )
        for w in range(4)
    ]
    for p in procs:
        p.start()
    for p in procs:
        p.join(120)
        assert p.exitcode == 0
    with read_session(engine) as session:
        fiche = get_by_slug(session, "atelier-velo-des-hauts-plateaux")
    assert len(fiche.partners) == 160 and len(set(fiche.partners)) == 160
    assert fiche.version == start_version + 160
    engine.dispose()
