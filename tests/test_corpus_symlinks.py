"""The `knowledge/` folder and symbolic links (a security review): an import reads no file
through a link (it would publish any file the server can read), an export writes nothing
through one (it would overwrite any file the server can write); and a value YAML reads but
Python cannot build (a number of thousands of digits) rejects its fiche, not the import."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from resource_centre import corpus_files
from resource_centre.corpus import ExportError, export_corpus, import_corpus
from resource_centre.corpus_files import PlanError, read_attachment, write_bytes
from resource_centre.corpus_format import parse_regies, parse_taxonomy
from tests import test_corpus_lossless as lossless
from tests.test_corpus_lossless import (
    FULL,
    FULL_TEXT,
    ODT,
    PDF,
    assert_nothing_of_the_fiche,
    attachment_rows,
    line_of,
    tree,
)

# The fixtures of the lossless corpus's tests: its test corpus, two fiches using every
# addition of issue 14 (one with two attachments), and a directory store.
canonical_base = lossless.canonical_base
source = lossless.source
store = lossless.store

SECRET = b"%PDF-1.4\n% le fichier d'un autre, hors du dossier importe\n%%EOF\n"


@pytest.fixture
def outside(tmp_path: Path) -> Path:
    """A folder beside the corpus, as /etc would be: its files must never be imported."""
    folder = tmp_path / "ailleurs"
    folder.mkdir()
    (folder / "secret.pdf").write_bytes(SECRET)
    (folder / "budget-previsionnel.pdf").write_bytes(SECRET)
    (folder / "fiche-de-poste.odt").write_bytes(ODT)
    return folder


def fiche(source: Path) -> Path:
    return source / "fiches" / f"{FULL}.md"


# --- import ----------------------------------------------------------------------------


@pytest.mark.parametrize("with_store", [True, False])
def test_an_attachment_that_is_a_link_is_refused(engine, store, source, outside, with_store):
    pdf = source / "fiches" / FULL / "budget-previsionnel.pdf"
    pdf.unlink()
    pdf.symlink_to(outside / "secret.pdf")
    report = import_corpus(engine, source, store=store if with_store else None)
    line = line_of(FULL_TEXT, "- {file: budget")
    assert [str(p) for p in report.problems] == [
        f"{fiche(source)}:{line}: pièce jointe fiches/{FULL}/budget-previsionnel.pdf : "
        "lien symbolique refusé"
    ]
    assert report.rejected_files == [fiche(source)]
    assert report.created == 7  # the other fiches are imported
    assert_nothing_of_the_fiche(engine, store)


def test_a_fiche_folder_that_is_a_link_is_refused(sqlite_engine, store, source, outside):
    folder = source / "fiches" / FULL
    for item in folder.iterdir():
        item.unlink()
    folder.rmdir()
    folder.symlink_to(outside, target_is_directory=True)
    report = import_corpus(sqlite_engine, source, store=store)
    assert [str(p) for p in report.problems] == [
        f"{fiche(source)}:{line_of(FULL_TEXT, f'- {{file: {name}')}: "
        f"pièce jointe fiches/{FULL}/{name} : lien symbolique refusé"
        for name in ("fiche-de-poste.odt", "budget-previsionnel.pdf")
    ]
    assert report.created == 7
    assert_nothing_of_the_fiche(sqlite_engine, store)


def test_reading_refuses_a_link_made_after_the_fiche_was_parsed(source, outside):
    """The file is opened without following links: a link that replaced the file after
    `parse_fiche` looked at it (a race) is refused all the same, the folder's as the file's."""
    folder = source / "fiches"
    assert read_attachment(folder, FULL, "budget-previsionnel.pdf") == PDF
    pdf = folder / FULL / "budget-previsionnel.pdf"
    pdf.unlink()
    pdf.symlink_to(outside / "secret.pdf")
    with pytest.raises(PlanError, match="lien symbolique refusé") as caught:
        read_attachment(folder, FULL, "budget-previsionnel.pdf")
    assert caught.value.file == "budget-previsionnel.pdf"
    (folder / "autre").symlink_to(outside, target_is_directory=True)
    with pytest.raises(PlanError, match="lien symbolique refusé"):
        read_attachment(folder, "autre", "budget-previsionnel.pdf")


def test_reading_refuses_what_is_not_a_regular_file_and_stops_at_the_cap(source, monkeypatch):
    folder = source / "fiches"
    os.mkfifo(folder / FULL / "tuyau.csv")  # would block a plain open()
    with pytest.raises(PlanError, match="ce n'est pas un fichier ordinaire"):
        read_attachment(folder, FULL, "tuyau.csv")
    monkeypatch.setattr(corpus_files, "MAX_BYTES", len(PDF) - 1)
    with pytest.raises(PlanError, match="pièce jointe trop lourde"):
        read_attachment(folder, FULL, "budget-previsionnel.pdf")


def test_each_file_is_read_once_and_the_bytes_read_are_stored(
    sqlite_engine, store, source, monkeypatch
):
    """No second read between the check and the store: what is stored is what was checked."""
    reads: list[str] = []
    real = corpus_files.read_attachment

    def counting(fiches_dir: Path, slug: str, file: str) -> bytes:
        reads.append(file)
        return real(fiches_dir, slug, file)

    monkeypatch.setattr(corpus_files, "read_attachment", counting)
    assert import_corpus(sqlite_engine, source, store=store).ok
    assert sorted(reads) == ["budget-previsionnel.pdf", "fiche-de-poste.odt"]
    assert [store.get(r.stored_name) for r in attachment_rows(sqlite_engine)] == [ODT, PDF]


# --- export ----------------------------------------------------------------------------


def test_export_replaces_a_link_instead_of_writing_through_it(engine, store, source, tmp_path):
    assert import_corpus(engine, source, store=store).ok
    out = tmp_path / "export"
    export_corpus(engine, out, store=store)
    victims = {}
    for name in (f"fiches/{FULL}/budget-previsionnel.pdf", f"fiches/{FULL}.md", "regies.yaml"):
        victim = tmp_path / f"victime-{len(victims)}"
        victim.write_bytes(b"ne pas ecraser")
        (out / name).unlink()
        (out / name).symlink_to(victim)
        victims[victim] = out / name
    # A link to a file holding the very bytes to export is replaced too (never read).
    same = tmp_path / "meme-contenu.odt"
    same.write_bytes(ODT)
    (out / "fiches" / FULL / "fiche-de-poste.odt").unlink()
    (out / "fiches" / FULL / "fiche-de-poste.odt").symlink_to(same)
    export_corpus(engine, out, store=store)
    for victim, path in victims.items():
        assert victim.read_bytes() == b"ne pas ecraser"
        assert not path.is_symlink()
    assert not (out / "fiches" / FULL / "fiche-de-poste.odt").is_symlink()
    assert same.read_bytes() == ODT
    assert tree(out) == tree(source)
    assert not [p for p in out.rglob(".*.tmp")]  # no temporary file left


@pytest.mark.parametrize("linked", ["fiche", "fiches"])
def test_export_refuses_a_linked_folder_and_writes_nothing(
    sqlite_engine, store, source, tmp_path, linked
):
    assert import_corpus(sqlite_engine, source, store=store).ok
    out = tmp_path / "export"
    target = tmp_path / "cible"
    target.mkdir()
    link = out / "fiches" / FULL if linked == "fiche" else out / "fiches"
    link.parent.mkdir(parents=True)
    link.symlink_to(target, target_is_directory=True)
    with pytest.raises(ExportError) as caught:
        export_corpus(sqlite_engine, out, store=store)
    assert str(caught.value) == (
        f"{link} est un lien symbolique : l'export n'écrit jamais à travers un lien. "
        "Supprimez ce lien ou exportez dans un autre dossier."
    )
    assert list(target.iterdir()) == []
    assert sorted(p.name for p in out.rglob("*")) == sorted({"fiches", link.name})


def test_a_linked_folder_of_a_fiche_without_attachments_does_not_stop_the_export(
    sqlite_engine, store, source, tmp_path
):
    assert import_corpus(sqlite_engine, source, store=store).ok
    out = tmp_path / "export"
    (out / "fiches").mkdir(parents=True)
    (tmp_path / "cible").mkdir()
    (out / "fiches" / "lien").symlink_to(tmp_path / "cible", target_is_directory=True)
    assert export_corpus(sqlite_engine, out, store=store) == 8
    assert list((tmp_path / "cible").iterdir()) == []


def test_a_link_met_while_writing_raises_export_error(tmp_path):
    """The folders are opened one by one without following links, so a link made after the
    export's first check is refused too."""
    out = tmp_path / "export"
    (out / "fiches").mkdir(parents=True)
    (tmp_path / "cible").mkdir()
    (out / "fiches" / "une-fiche").symlink_to(tmp_path / "cible", target_is_directory=True)
    with pytest.raises(ExportError, match="est un lien symbolique"):
        write_bytes(out / "fiches" / "une-fiche" / "a.pdf", b"%PDF", below=out)
    assert list((tmp_path / "cible").iterdir()) == []
    write_bytes(out / "fiches" / "autre" / "a.pdf", b"%PDF", below=out)  # made if missing
    assert (out / "fiches" / "autre" / "a.pdf").read_bytes() == b"%PDF"


# --- values YAML reads but Python cannot build -------------------------------------------

HUGE = "9" * 5000  # over Python's 4,300 digits for an integer read from text


@pytest.mark.parametrize(
    ("old", "new", "reason"),
    [
        ("figures: {cost_eur: 85000", f"figures: {{cost_eur: {HUGE}", "nombre trop long"),
        ("year_start: 2021", f"year_start: {HUGE}", "nombre trop long"),
        ("published_at: 2024-03-02", "published_at: 2024-02-30",
         "date impossible « 2024-02-30 »"),
    ],
)  # fmt: skip
def test_a_value_python_cannot_build_rejects_only_its_fiche(
    engine, store, source, old, new, reason
):
    text = FULL_TEXT.replace(old, new)
    fiche(source).write_text(text, "utf-8")
    report = import_corpus(engine, source, store=store)
    line = line_of(FULL_TEXT, old.split(":")[0] + ":")  # flow style: the key's line
    assert [str(p) for p in report.problems] == [f"{fiche(source)}:{line}: {reason}"]
    assert report.created == 7
    assert_nothing_of_the_fiche(engine, store)


def test_a_huge_number_in_a_block_mapping_is_reported_at_its_own_line(sqlite_engine, store, source):
    lines = FULL_TEXT.split("\n")
    at = line_of(FULL_TEXT, "figures:") - 1
    lines[at] = f"figures:\n  insertion_jobs: 3\n  cost_eur: {HUGE}"
    text = "\n".join(lines)
    fiche(source).write_text(text, "utf-8")
    report = import_corpus(sqlite_engine, source, store=store)
    line = line_of(text, "  cost_eur:")
    assert [str(p) for p in report.problems] == [f"{fiche(source)}:{line}: nombre trop long"]
    assert report.created == 7


def test_a_huge_number_in_taxonomy_or_regies_is_a_problem_not_a_crash(tmp_path):
    taxonomy = "themes:\n- {slug: a, label: A}\n- slug: b\n  label: " + HUGE + "\n"
    _, problems = parse_taxonomy(tmp_path / "taxonomy.yaml", taxonomy)
    assert [(p.line, p.reason) for p in problems] == [(4, "nombre trop long")]
    regies = f"- slug: r\n  name: R\n  kind: regie\n  region: {HUGE}\n"
    _, problems = parse_regies(tmp_path / "regies.yaml", regies, ["idf"])
    assert [(p.line, p.reason) for p in problems] == [(4, "nombre trop long")]
