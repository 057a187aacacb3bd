"""Files holding private data are written 0600 (database, its -wal/-shm, backups, uploads);
exports, meant to be shared in git, keep the usual modes."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import text
from typer.testing import CliRunner

from resource_centre.cli import app
from resource_centre.corpus import export_corpus, import_corpus
from resource_centre.db import make_engine, migrate
from tests.conftest import TEST_KNOWLEDGE


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.fixture(autouse=True)
def usual_umask() -> Iterator[None]:
    """The usual umask (022), which makes files world-readable unless the code says not."""
    previous = os.umask(0o022)
    yield
    os.umask(previous)


def test_new_sqlite_database_and_its_wal_and_shm_are_owner_only(tmp_path):
    path = tmp_path / "data" / "resource_centre.db"
    engine = make_engine(f"sqlite:///{path}")
    migrate(engine)
    with engine.connect() as conn:  # an open connection keeps -wal and -shm in place
        conn.execute(text("SELECT count(*) FROM writeup"))
        files = [path, Path(f"{path}-wal"), Path(f"{path}-shm")]
        assert all(f.exists() for f in files)
        assert {f.name: mode(f) for f in files} == {f.name: 0o600 for f in files}
    engine.dispose()
    assert mode(path.parent) == 0o700


def test_an_existing_world_readable_database_is_restricted(tmp_path):
    path = tmp_path / "old.db"
    engine = make_engine(f"sqlite:///{path}")
    migrate(engine)
    engine.dispose()
    path.chmod(0o644)
    make_engine(f"sqlite:///{path}").dispose()
    assert mode(path) == 0o600


def test_backup_files_are_owner_only(tmp_path, sqlite_url):
    env = {
        "RESOURCE_CENTRE_DATABASE_URL": sqlite_url,
        "RESOURCE_CENTRE_INDEX_DIR": str(tmp_path / "index"),
        "RESOURCE_CENTRE_DATA_DIR": str(tmp_path / "data"),
    }
    uploads = tmp_path / "data" / "uploads"
    uploads.mkdir(parents=True)
    (uploads / "piece.pdf").write_bytes(b"%PDF-1.4")  # an upload of an older version: 0644
    result = CliRunner().invoke(app, ["backup", str(tmp_path / "b")], env=env)
    assert result.exit_code == 0, result.output
    backup = tmp_path / "b"
    assert mode(backup) == 0o700
    assert mode(backup / "resource_centre.db") == 0o600
    assert mode(backup / "uploads") == 0o700
    assert mode(backup / "uploads" / "piece.pdf") == 0o600


def test_exports_keep_the_usual_modes(tmp_path, sqlite_url):
    engine = make_engine(sqlite_url)
    import_corpus(engine, TEST_KNOWLEDGE)
    out = tmp_path / "export"
    export_corpus(engine, out)
    engine.dispose()
    files = [out / "taxonomy.yaml", out / ".manifest", *(out / "fiches").glob("*.md")]
    assert {mode(f) for f in files} == {0o644}
