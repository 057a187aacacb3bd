"""An import in several processes stores what an import in one does (issue 11)."""

from __future__ import annotations

import shutil

import pytest
from sqlalchemy import select

from resource_centre import corpus
from resource_centre.corpus import import_corpus
from resource_centre.db import make_engine, migrate, read_session
from resource_centre.models import WriteUp
from tests.conftest import DEMO_KNOWLEDGE

COLUMNS = ("slug", "title", "summary", "status", "sections", "sections_html", "plain_text")


def stored(engine) -> dict[str, tuple]:
    with read_session(engine) as session:
        rows = session.execute(select(*(getattr(WriteUp, c) for c in COLUMNS))).all()
    return {row[0]: tuple(row) for row in rows}


@pytest.fixture
def two_libraries(tmp_path):
    engines = []
    for name in ("one", "two"):
        engine = make_engine(f"sqlite:///{tmp_path / name}.db")
        migrate(engine)
        engines.append(engine)
    yield engines
    for engine in engines:
        engine.dispose()


def test_two_processes_store_the_same_fiches_and_report_the_same_problems(
    two_libraries, tmp_path, monkeypatch
):
    monkeypatch.setattr(corpus, "PARALLEL_MIN_FILES", 2)
    monkeypatch.setattr(corpus, "WINDOW_FILES", 7)  # several windows, in both ways
    folder = tmp_path / "knowledge"
    shutil.copytree(DEMO_KNOWLEDGE, folder)
    (folder / "fiches" / "bad-encoding.md").write_bytes(b"---\ntitle: caf\xe9\n---\n")
    (folder / "fiches" / "no-front-matter.md").write_text("Pas de front matter.\n")
    single, parallel = two_libraries
    one = import_corpus(single, folder)
    two = import_corpus(parallel, folder, procs=2)
    assert (two.created, two.updated, two.unchanged) == (one.created, one.updated, 0)
    assert two.created > 40
    assert [str(p) for p in two.problems] == [str(p) for p in one.problems]
    assert two.rejected_files == one.rejected_files and len(two.rejected_files) == 2
    assert stored(parallel) == stored(single)

    # Again, with one fiche changed: only new fiches are rendered ahead; a changed one is
    # compared with the stored one first, then rendered.
    target = next((folder / "fiches").glob("*.md"))
    target.write_text(target.read_text().replace("## Contexte\n", "## Contexte\n\n**Ajout.**\n"))
    again_one = import_corpus(single, folder)
    again_two = import_corpus(parallel, folder, procs=2)
    assert (again_two.updated, again_two.created) == (again_one.updated, 0) == (1, 0)
    assert again_two.unchanged == again_one.unchanged > 40
    assert stored(parallel) == stored(single)
    assert "<strong>Ajout.</strong>" in stored(parallel)[target.stem][5]["context"]
