"""A lossless corpus (issue 14): attachments, network notes, figures, fiches express and the
residents' section go through `import` then `export` byte for byte, attachments included."""

from __future__ import annotations

import hashlib
import io
import shutil
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import select

from resource_centre import corpus, corpus_files
from resource_centre.corpus import MANIFEST, export_corpus, import_corpus, read_manifest
from resource_centre.db import make_engine, migrate, read_session, write_session
from resource_centre.glossary_file import GLOSSARY_HEADER
from resource_centre.models import Attachment, WriteUp
from resource_centre.storage import AttachmentStore, DirectoryStore, StorageUnavailable
from resource_centre.writeups import get_by_slug
from tests.conftest import DEMO_KNOWLEDGE, TEST_KNOWLEDGE

FULL = "conciergerie-du-canal"
EXPRESS = "cafe-reparation-des-hauts-plateaux"

FULL_TEXT = """\
---
title: Une conciergerie de quartier au pied du canal
regie: regie-du-canal
themes: [lien-social, insertion-emploi]
activity: laverie
audiences: [habitants, salaries-en-insertion]
schemes: [contrat-de-ville, aci]
partners: [Ville de Saint-Denis — finance le poste, Bailleur Canal Logis — prête le local]
year_start: 2021
year_end: null
status: published
featured: true
published_at: 2024-03-02
figures: {cost_eur: 85000, funding_eur: {contrat-de-ville: 30000, aci: 40000}, insertion_jobs: 3, people_reached: 400, setup_months: 9, own_revenue_pct: 15}
attachments:
- {file: fiche-de-poste.odt, title: Fiche de poste du concierge}
- {file: budget-previsionnel.pdf, title: Budget prévisionnel de la première année}
summary: >-
  Une conciergerie tenue par trois salariés en insertion : dépôt de colis, petits
  services, prêt d'outils. Elle a trouvé sa place en un an.
network_note: >-
  Une expérience sobre et bien documentée : le budget joint aide une Régie à se lancer.
---

## Contexte

Au pied du canal, deux cents logements sans commerce ni point relais.

## Démarche

Un local prêté par le bailleur, trois postes en insertion, une permanence six jours sur
sept.

## Résultats

Quatre cents foyers servis la première année.

## Place des habitants

Un comité d'usagers choisit les services ; deux locataires tiennent la permanence du
samedi avec l'encadrant.

## Enseignements

Commencer petit : le dépôt de colis a fait venir les habitants, le reste a suivi.
"""

EXPRESS_TEXT = """\
---
title: Un café réparation dans les hauts
kind: express
regie: regie-des-hauts-plateaux
themes: [economie-circulaire]
activity: null
audiences: []
schemes: []
partners: []
year_start: 2023
year_end: null
status: published
featured: false
published_at: 2024-11-20
interview_requested: true
summary: >-
  Un samedi par mois, les habitants réparent leurs objets avec des bénévoles.
---

## Démarche

Une salle, quatre bénévoles, des outils prêtés par la ressourcerie.

## Enseignements

Annoncer la date longtemps à l'avance.
"""

GLOSSARY_TEXT = (
    GLOSSARY_HEADER
    + """\
- term: ACI
  kind: acronym
  expansions:
  - atelier et chantier d'insertion
  definition: >-
    Structure de l'insertion par l'activité économique qui embauche des personnes éloignées
    de l'emploi.
"""
)


def odt_bytes(text: str) -> bytes:
    """A small OpenDocument-like file: a zip whose first entry is the mimetype."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("mimetype", "application/vnd.oasis.opendocument.text")
        archive.writestr("content.xml", f"<document><p>{text}</p></document>")
    return buffer.getvalue()


def pdf_bytes(text: str) -> bytes:
    return (
        b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\n% " + text.encode() + b"\ntrailer\n%%EOF\n"
    )


ODT = odt_bytes("Fiche de poste : accueil, colis, petits services.")
PDF = pdf_bytes("Budget : 85 000 euros")


@pytest.fixture(scope="module")
def canonical_base(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The test corpus (tests/data/knowledge) as an export writes it: written by hand, its
    files are not all in the canonical form (Régies' order, spacing)."""
    scratch = tmp_path_factory.mktemp("base")
    engine = make_engine(f"sqlite:///{scratch / 'base.db'}")
    migrate(engine)
    assert import_corpus(engine, TEST_KNOWLEDGE).ok
    export_corpus(engine, scratch / "knowledge")
    engine.dispose()
    (scratch / "knowledge" / MANIFEST).unlink()
    return scratch / "knowledge"


def build_corpus(root: Path, base: Path) -> Path:
    """The test corpus and two fiches using every addition of issue 14."""
    folder = root / "knowledge"
    shutil.copytree(base, folder)
    (folder / "glossary.yaml").write_text(GLOSSARY_TEXT, "utf-8")
    (folder / "fiches" / f"{FULL}.md").write_text(FULL_TEXT, "utf-8")
    (folder / "fiches" / f"{EXPRESS}.md").write_text(EXPRESS_TEXT, "utf-8")
    (folder / "fiches" / FULL).mkdir()
    (folder / "fiches" / FULL / "fiche-de-poste.odt").write_bytes(ODT)
    (folder / "fiches" / FULL / "budget-previsionnel.pdf").write_bytes(PDF)
    return folder


def tree(folder: Path) -> dict[str, str]:
    """Every file of `folder` but the manifest, by relative path: its SHA-256."""
    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file() and p.name != MANIFEST
    }


def line_of(text: str, start: str) -> int:
    return next(i for i, line in enumerate(text.split("\n"), 1) if line.startswith(start))


def attachment_rows(engine, slug: str = FULL) -> list[Attachment]:
    with read_session(engine) as session:
        return list(
            session.execute(
                select(Attachment)
                .join(WriteUp, WriteUp.id == Attachment.writeup_id)
                .where(WriteUp.slug == slug)
                .order_by(Attachment.id)
            ).scalars()
        )


def stored_files(store: DirectoryStore) -> set[str]:
    return {f.name for f in store.files()}


@pytest.fixture
def store(tmp_path: Path) -> DirectoryStore:
    return DirectoryStore(tmp_path / "uploads")


@pytest.fixture
def source(tmp_path: Path, canonical_base: Path) -> Path:
    return build_corpus(tmp_path / "source", canonical_base)


def test_import_then_export_is_byte_identical(engine, store, source, tmp_path):
    report = import_corpus(engine, source, store=store)
    assert report.ok, [str(p) for p in report.problems]
    assert report.created == 8
    rows = attachment_rows(engine)
    assert [(r.original_name, r.title, r.content_type, r.size) for r in rows] == [
        ("fiche-de-poste.odt", "Fiche de poste du concierge",
         "application/vnd.oasis.opendocument.text", len(ODT)),
        ("budget-previsionnel.pdf", "Budget prévisionnel de la première année",
         "application/pdf", len(PDF)),
    ]  # fmt: skip
    assert [store.get(r.stored_name) for r in rows] == [ODT, PDF]
    with read_session(engine) as session:
        full = get_by_slug(session, FULL)
        express = get_by_slug(session, EXPRESS)
    assert full.network_note.startswith("Une expérience sobre")
    assert "<p>Une expérience sobre" in full.network_note_html
    assert full.figures["funding_eur"] == {"contrat-de-ville": 30000, "aci": 40000}
    assert "Un comité d'usagers" in full.sections["residents"]
    assert express.kind == "express" and express.interview_requested

    out = tmp_path / "export"
    assert export_corpus(engine, out, store=store) == 8
    assert tree(out) == tree(source)
    listed = read_manifest(out)
    assert f"fiches/{FULL}/fiche-de-poste.odt" in listed
    assert f"fiches/{FULL}/budget-previsionnel.pdf" in listed
    assert listed == set(tree(out))

    # The export re-imports into an empty library and exports the same bytes again.
    other = make_engine(f"sqlite:///{tmp_path / 'other.db'}")
    migrate(other)
    other_store = DirectoryStore(tmp_path / "other-uploads")
    assert import_corpus(other, out, store=other_store).ok
    again = tmp_path / "again"
    export_corpus(other, again, store=other_store)
    other.dispose()
    assert tree(again) == tree(source)


def test_reimport_changes_nothing(engine, store, source):
    assert import_corpus(engine, source, store=store).ok
    before = [(r.id, r.stored_name) for r in attachment_rows(engine)]
    files = stored_files(store)
    with read_session(engine) as session:
        version = get_by_slug(session, FULL).version
    report = import_corpus(engine, source, store=store)
    assert (report.created, report.updated, report.unchanged) == (0, 0, 8)
    assert [(r.id, r.stored_name) for r in attachment_rows(engine)] == before
    assert stored_files(store) == files and len(files) == 2
    with read_session(engine) as session:
        assert get_by_slug(session, FULL).version == version


def assert_nothing_of_the_fiche(engine, store) -> None:
    with read_session(engine) as session:
        assert get_by_slug(session, FULL) is None
        assert session.execute(select(Attachment)).scalars().all() == []
    assert stored_files(store) == set()


def test_a_bad_figures_value_rejects_the_fiche_at_its_line(engine, store, source):
    path = source / "fiches" / f"{FULL}.md"
    text = FULL_TEXT.replace("insertion_jobs: 3", "insertion_jobs: trois")
    path.write_text(text, "utf-8")
    report = import_corpus(engine, source, store=store)
    assert report.rejected_files == [path]
    assert len(report.problems) == 1
    problem = report.problems[0]
    assert problem.line == line_of(text, "figures:")
    assert str(problem).startswith(f"{path}:{problem.line}: ")
    assert_nothing_of_the_fiche(engine, store)
    assert report.created == 7


def test_a_missing_attachment_file_rejects_the_fiche_at_its_line(engine, store, source):
    path = source / "fiches" / f"{FULL}.md"
    (source / "fiches" / FULL / "budget-previsionnel.pdf").unlink()
    report = import_corpus(engine, source, store=store)
    assert [str(p) for p in report.problems] == [
        f"{path}:{line_of(FULL_TEXT, '- {file: budget')}: "
        f"pièce jointe introuvable : fiches/{FULL}/budget-previsionnel.pdf"
    ]
    assert_nothing_of_the_fiche(engine, store)


@pytest.mark.parametrize(
    ("name", "content", "reason"),
    [
        ("budget-previsionnel.pdf", b"<html>pas un PDF</html>",
         "le contenu ne correspond pas à un fichier PDF"),
        ("fiche-de-poste.odt", PDF, "le contenu ne correspond pas à un fichier ODT"),
        ("fiche-de-poste.odt", b"", "le fichier est vide"),
    ],
)  # fmt: skip
def test_a_file_whose_content_does_not_match_its_extension_is_refused(
    engine, store, source, name, content, reason
):
    path = source / "fiches" / f"{FULL}.md"
    (source / "fiches" / FULL / name).write_bytes(content)
    report = import_corpus(engine, source, store=store)
    line = line_of(FULL_TEXT, f"- {{file: {name}")
    assert [str(p) for p in report.problems] == [
        f"{path}:{line}: pièce jointe fiches/{FULL}/{name} : {reason}"
    ]
    assert_nothing_of_the_fiche(engine, store)


def test_a_refused_file_leaves_the_stored_fiche_as_it_was(engine, store, source):
    assert import_corpus(engine, source, store=store).ok
    before = [(r.id, r.stored_name) for r in attachment_rows(engine)]
    (source / "fiches" / FULL / "budget-previsionnel.pdf").write_bytes(b"GIF89a")
    path = source / "fiches" / f"{FULL}.md"
    path.write_text(FULL_TEXT.replace("Commencer petit", "Commencer tout petit"), "utf-8")
    report = import_corpus(engine, source, store=store)
    assert report.rejected_files == [path] and report.updated == 0
    assert [(r.id, r.stored_name) for r in attachment_rows(engine)] == before
    with read_session(engine) as session:
        assert "Commencer petit" in get_by_slug(session, FULL).sections["lessons"]


def test_removing_an_attachment_from_the_front_matter_removes_it(engine, store, source, tmp_path):
    assert import_corpus(engine, source, store=store).ok
    out = tmp_path / "export"
    export_corpus(engine, out, store=store)
    odt, _pdf = attachment_rows(engine)
    path = source / "fiches" / f"{FULL}.md"
    path.write_text(FULL_TEXT.replace("- {file: budget-previsionnel.pdf, title: Budget "
                                      "prévisionnel de la première année}\n", ""), "utf-8")  # fmt: skip
    report = import_corpus(engine, source, store=store)
    assert (report.updated, report.unchanged) == (1, 7), [str(p) for p in report.problems]
    assert [(r.id, r.stored_name) for r in attachment_rows(engine)] == [(odt.id, odt.stored_name)]
    assert stored_files(store) == {odt.stored_name}  # the removed file left the store
    with read_session(engine) as session:
        assert get_by_slug(session, FULL).version == 2  # only its attachments changed
    export_corpus(engine, out, store=store)
    assert not (out / "fiches" / FULL / "budget-previsionnel.pdf").exists()
    assert f"fiches/{FULL}/budget-previsionnel.pdf" not in read_manifest(out)
    unlisted = f"fiches/{FULL}/budget-previsionnel.pdf"  # still lying there, not listed
    assert tree(out) == {k: v for k, v in tree(source).items() if k != unlisted}

    # A fiche file without `attachments` removes them all; the emptied folder goes too.
    text = path.read_text("utf-8")
    start = text.index("attachments:\n")
    end = text.index("summary:")
    path.write_text(text[:start] + text[end:], "utf-8")
    assert import_corpus(engine, source, store=store).updated == 1
    assert attachment_rows(engine) == [] and stored_files(store) == set()
    export_corpus(engine, out, store=store)
    assert not (out / "fiches" / FULL).exists()
    assert (out / "fiches" / f"{FULL}.md").read_text("utf-8") == path.read_text("utf-8")


def test_changed_bytes_replace_the_stored_file(engine, store, source, tmp_path):
    assert import_corpus(engine, source, store=store).ok
    odt, pdf = attachment_rows(engine)
    new_pdf = pdf_bytes("Budget révisé : 90 000 euros")
    (source / "fiches" / FULL / "budget-previsionnel.pdf").write_bytes(new_pdf)
    report = import_corpus(engine, source, store=store)
    assert (report.updated, report.unchanged) == (1, 7)
    odt2, pdf2 = attachment_rows(engine)
    assert (odt2.id, odt2.stored_name) == (odt.id, odt.stored_name)
    assert pdf2.id == pdf.id and pdf2.stored_name != pdf.stored_name
    assert store.get(pdf2.stored_name) == new_pdf and pdf2.size == len(new_pdf)
    assert stored_files(store) == {odt.stored_name, pdf2.stored_name}
    out = tmp_path / "export"
    export_corpus(engine, out, store=store)
    assert tree(out) == tree(source)


def test_a_new_order_or_title_of_attachments_exports_as_written(engine, store, source, tmp_path):
    assert import_corpus(engine, source, store=store).ok
    path = source / "fiches" / f"{FULL}.md"
    first = "- {file: fiche-de-poste.odt, title: Fiche de poste du concierge}\n"
    second = "- {file: budget-previsionnel.pdf, title: Budget prévisionnel de la première année}\n"
    text = FULL_TEXT.replace(first + second, second.replace("Budget", "Budget détaillé") + first)
    path.write_text(text, "utf-8")
    (source / "fiches" / FULL / "bareme.csv").write_text("service;prix\ncolis;0\n", "utf-8")
    text = text.replace(first, first + "- {file: bareme.csv, title: Barème des services}\n")
    path.write_text(text, "utf-8")
    report = import_corpus(engine, source, store=store)
    assert report.updated == 1, [str(p) for p in report.problems]
    assert len(stored_files(store)) == 3  # the moved PDF kept its stored file
    out = tmp_path / "export"
    export_corpus(engine, out, store=store)
    assert tree(out) == tree(source)
    report = import_corpus(engine, source, store=store)
    assert (report.updated, report.unchanged) == (0, 8)


def test_attachments_uploaded_in_the_web_export_with_safe_names_and_reimport_unchanged(
    engine, store, source, tmp_path
):
    assert import_corpus(engine, source, store=store).ok
    uploads = [
        ("Budget prévisionnel 2024.PDF", None, PDF),
        ("budget-previsionnel.pdf", "Le même nom, une autre version", pdf_bytes("v2")),
        ("Convention (modèle).odt", "Convention de partenariat", ODT),
    ]
    with write_session(engine) as session:
        writeup = get_by_slug(session, "jardin-partage-des-tilleuls")
        for n, (name, title, content) in enumerate(uploads):
            stored = f"{n:032x}{Path(name).suffix.lower()}"
            store.put(stored, content)
            session.add(
                Attachment(writeup_id=writeup.id, stored_name=stored, original_name=name,
                           title=title, content_type="application/pdf", size=len(content))
            )  # fmt: skip
    out = tmp_path / "export"
    export_corpus(engine, out, store=store)
    folder = out / "fiches" / "jardin-partage-des-tilleuls"
    assert sorted(p.name for p in folder.iterdir()) == [
        "budget-previsionnel-2024.pdf", "budget-previsionnel.pdf", "convention-modele.odt"
    ]  # fmt: skip
    text = (out / "fiches" / "jardin-partage-des-tilleuls.md").read_text("utf-8")
    assert (
        "attachments:\n"
        "- {file: budget-previsionnel-2024.pdf, title: Budget prévisionnel 2024}\n"
        "- {file: budget-previsionnel.pdf, title: 'Le même nom, une autre version'}\n"
        "- {file: convention-modele.odt, title: Convention de partenariat}\n"
    ) in text
    before = [(r.id, r.stored_name, r.original_name, r.title) for r in
              attachment_rows(engine, "jardin-partage-des-tilleuls")]  # fmt: skip
    report = import_corpus(engine, out, store=store)
    assert (report.updated, report.unchanged) == (0, 8), [str(p) for p in report.problems]
    after = attachment_rows(engine, "jardin-partage-des-tilleuls")
    assert [(r.id, r.stored_name, r.original_name, r.title) for r in after] == before


def test_two_uploads_of_the_same_safe_name_get_numbered():
    names = corpus_files.export_names(
        [("Budget.pdf", "a.pdf"), ("budget.pdf", "b.pdf"), ("BUDGET.PDF", "c.pdf"),
         ("été.png", "d.png"), ("...", "e.csv"), ("rapport.final.pdf", "f.pdf")]
    )  # fmt: skip
    assert names == [
        "budget.pdf", "budget-2.pdf", "budget-3.pdf", "ete.png", "piece-jointe.csv",
        "rapport.final.pdf",
    ]  # fmt: skip


def test_export_keeps_unrelated_files_and_removes_only_its_own(engine, store, source, tmp_path):
    assert import_corpus(engine, source, store=store).ok
    out = tmp_path / "export"
    folder = out / "fiches" / FULL
    folder.mkdir(parents=True)
    mine = {folder / "notes.txt": b"mes notes", folder / "autre.pdf": b"%PDF-1.4 perso",
            out / "README.md": b"# Mon dossier"}  # fmt: skip
    for path, content in mine.items():
        path.write_bytes(content)
    export_corpus(engine, out, store=store)
    with write_session(engine) as session:
        for row in session.execute(select(Attachment)).scalars():
            session.delete(row)
    export_corpus(engine, out, store=store)
    for path, content in mine.items():
        assert path.read_bytes() == content, path
    assert sorted(p.name for p in folder.iterdir()) == ["autre.pdf", "notes.txt"]
    # A forged manifest line cannot reach through a folder the export did not make.
    outside = tmp_path / "ailleurs"
    outside.mkdir()
    (outside / "precieux.pdf").write_bytes(b"%PDF-1.4")
    (out / "fiches" / "lien").symlink_to(outside)
    manifest = out / MANIFEST
    manifest.write_text(manifest.read_text("utf-8") + "fiches/lien/precieux.pdf\n", "utf-8")
    export_corpus(engine, out, store=store)
    assert (outside / "precieux.pdf").exists()


def test_export_rewrites_no_unchanged_attachment(engine, store, source, tmp_path):
    assert import_corpus(engine, source, store=store).ok
    out = tmp_path / "export"
    export_corpus(engine, out, store=store)
    pdf = out / "fiches" / FULL / "budget-previsionnel.pdf"
    stamp = pdf.stat().st_mtime_ns
    pdf.touch()
    touched = pdf.stat().st_mtime_ns
    export_corpus(engine, out, store=store)
    assert pdf.stat().st_mtime_ns == touched and touched >= stamp


def test_a_failed_transaction_leaves_no_new_file_in_the_store(engine, store, source, monkeypatch):
    def fail(*args, **kwargs):
        raise RuntimeError("la base tombe")

    monkeypatch.setattr(corpus, "apply_attachment_plan", fail)
    report = import_corpus(engine, source, store=store)
    path = source / "fiches" / f"{FULL}.md"
    assert [str(p) for p in report.problems] == [
        f"{path}:1: enregistrement impossible dans la base"
    ]
    assert report.created == 7
    assert_nothing_of_the_fiche(engine, store)


class FailingStore(DirectoryStore):
    def put(self, name: str, data: bytes) -> None:
        raise StorageUnavailable("le stockage S3 http://s3.test/pj ne répond pas (503)")


def test_a_store_that_fails_rejects_the_fiche(engine, source, tmp_path):
    store = FailingStore(tmp_path / "uploads")
    report = import_corpus(engine, source, store=store)
    path = source / "fiches" / f"{FULL}.md"
    assert [str(p) for p in report.problems] == [
        f"{path}:1: pièce jointe non enregistrée : le stockage S3 http://s3.test/pj ne répond "
        "pas (503)"
    ]
    assert report.created == 7
    assert_nothing_of_the_fiche(engine, store)


def test_without_a_store_attachments_are_checked_but_left_as_they_are(engine, store, source):
    assert import_corpus(engine, source, store=store).ok
    before = [(r.id, r.stored_name) for r in attachment_rows(engine)]
    (source / "fiches" / FULL / "budget-previsionnel.pdf").write_bytes(pdf_bytes("autre"))
    assert import_corpus(engine, source).ok  # no store: nothing to compare or store
    assert [(r.id, r.stored_name) for r in attachment_rows(engine)] == before
    (source / "fiches" / FULL / "budget-previsionnel.pdf").write_bytes(b"pas un PDF")
    assert not import_corpus(engine, source).ok  # still checked


def test_a_parallel_import_stores_the_same_attachments(store, source, tmp_path, monkeypatch):
    monkeypatch.setattr(corpus, "PARALLEL_MIN_FILES", 2)
    monkeypatch.setattr(corpus, "WINDOW_FILES", 3)
    (source / "fiches" / FULL / "budget-previsionnel.pdf").write_bytes(b"faux")
    engine = make_engine(f"sqlite:///{tmp_path / 'parallel.db'}")
    migrate(engine)
    report = import_corpus(engine, source, procs=2, store=store)
    assert [p.reason for p in report.problems] == [
        f"pièce jointe fiches/{FULL}/budget-previsionnel.pdf : le contenu ne correspond pas à "
        "un fichier PDF"
    ]
    (source / "fiches" / FULL / "budget-previsionnel.pdf").write_bytes(PDF)
    report = import_corpus(engine, source, procs=2, store=store)
    assert report.ok and report.created == 1
    assert [store.get(r.stored_name) for r in attachment_rows(engine)] == [ODT, PDF]
    out = tmp_path / "export"
    export_corpus(engine, out, store=store)
    engine.dispose()
    assert tree(out) == tree(source)


# --- the S3 store (SeaweedFS), when installed -------------------------------------------


@pytest.fixture(scope="module")
def seaweed(tmp_path_factory: pytest.TempPathFactory) -> Iterator:
    from tests.seaweed import start_seaweed

    yield from start_seaweed(tmp_path_factory.mktemp("seaweed"))


def test_round_trip_with_the_s3_store(sqlite_engine, source, tmp_path, seaweed):
    from resource_centre.storage import S3Location, S3Store

    s3: AttachmentStore = S3Store(S3Location.parse(seaweed.url("corpus-sans-perte")))
    s3.ensure()
    assert import_corpus(sqlite_engine, source, store=s3).ok
    out = tmp_path / "export"
    export_corpus(sqlite_engine, out, store=s3)
    assert tree(out) == tree(source)
    report = import_corpus(sqlite_engine, source, store=s3)
    assert (report.updated, report.unchanged) == (0, 8)


# --- the demo corpus -------------------------------------------------------------------


def test_the_demo_corpus_round_trips_byte_for_byte(engine, store, tmp_path):
    """Every file of knowledge/ that an export writes (fiches, their attachments, taxonomy,
    Régies, glossary) comes out of import then export with the same bytes."""
    report = import_corpus(engine, DEMO_KNOWLEDGE, store=store)
    assert report.ok, [str(p) for p in report.problems]
    out = tmp_path / "export"
    export_corpus(engine, out, store=store)
    exported = tree(out)
    demo = {
        name: digest
        for name, digest in tree(DEMO_KNOWLEDGE).items()
        if name.startswith("fiches/") or name in ("taxonomy.yaml", "regies.yaml", "glossary.yaml")
    }
    differ = sorted(name for name in demo.keys() & exported.keys() if demo[name] != exported[name])
    assert differ == []
    assert sorted(demo.keys() - exported.keys()) == []  # nothing of the demo is lost
    assert sorted(exported.keys() - demo.keys()) == []
