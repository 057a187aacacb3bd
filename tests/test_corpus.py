"""The knowledge/ format: validation with file:line reasons, all-or-nothing, round trip."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from sqlalchemy import select

from resource_centre.corpus import MANIFEST, export_corpus, import_corpus, parse_fiche
from resource_centre.db import read_session, write_session
from resource_centre.models import Regie, Term, WriteUp
from resource_centre.storage import DirectoryStore
from resource_centre.writeups import Known, get_by_slug
from tests.conftest import DEMO_KNOWLEDGE, TEST_KNOWLEDGE

TEST_FICHES = sorted((TEST_KNOWLEDGE / "fiches").glob("*.md"))
VALID = (TEST_KNOWLEDGE / "fiches" / "jardin-partage-des-tilleuls.md").read_text("utf-8")
KNOWN = Known(
    terms={
        "themes": frozenset({"agriculture-urbaine", "lien-social"}),
        "activities": frozenset({"jardin"}),
        "audiences": frozenset({"habitants", "familles"}),
        "schemes": frozenset({"contrat-de-ville"}),
        "regions": frozenset({"bourgogne-franche-comte"}),
    },
    regies=frozenset({"regie-des-trois-quartiers"}),
)


def problems_of(text: str, name: str = "fiche-test") -> list[tuple[int, str]]:
    data, problems = parse_fiche(Path(f"{name}.md"), text, KNOWN)
    assert (data is None) == bool(problems)
    return [(p.line, p.reason) for p in problems]


def test_valid_fiche_parses_every_field():
    data, problems = parse_fiche(Path("jardin.md"), VALID, KNOWN)
    assert problems == []
    assert data.title == "Un jardin partagé au pied des immeubles"
    assert data.themes == ["agriculture-urbaine", "lien-social"]
    assert data.partners == ["Bailleur Habitat 21", "Ville de Dijon"]
    assert data.year_end is None and data.published_at.isoformat() == "2023-01-10"
    assert set(data.sections) == {
        "context", "objectives", "method", "results", "lessons", "transfer"
    }  # fmt: skip
    assert data.sections["method"].endswith("| automne 2019 |")  # ### stays in its section


# Each case: a replacement applied to the valid file, the expected line and message part.
CASES = [
    (
        "title: Un jardin partagé au pied des immeubles\n",
        "",
        1,
        "champ obligatoire manquant : title",
    ),
    (
        "regie: regie-des-trois-quartiers",
        "regie: regie-inconnue",
        3,
        "Régie inconnue « regie-inconnue »",
    ),
    ("regie: regie-des-trois-quartiers\n", "", 1, "champ obligatoire manquant : regie"),
    (
        "themes: [agriculture-urbaine, lien-social]",
        "themes: []",
        4,
        "au moins un thème est obligatoire",
    ),
    (
        "themes: [agriculture-urbaine, lien-social]",
        "themes: [agriculture-urbaine, potager]",
        4,
        "thème inconnu « potager »",
    ),
    ("activity: jardin", "activity: piscine", 5, "activité inconnue « piscine »"),
    ("audiences: [habitants, familles]", "audiences: [martiens]", 6, "public inconnu « martiens »"),
    ("schemes: [contrat-de-ville]", "schemes: [loto]", 7, "dispositif inconnu « loto »"),
    (
        "partners: [Bailleur Habitat 21, Ville de Dijon]",
        "partners: Ville de Dijon",
        8,
        "« partners » doit être une liste",
    ),
    ("year_start: 2019", "year_start: deux-mille", 9, "« year_start » doit être une année"),
    ("year_start: 2019", "year_start: 1789", 9, "année hors limites"),
    (
        "year_end: null",
        "year_end: 2017",
        10,
        "l'année de fin (2017) précède l'année de début (2019)",
    ),
    ("status: published", "status: publie", 11, "état inconnu « publie »"),
    ("featured: true", "featured: peut-être", 12, "« featured » doit valoir true ou false"),
    (
        "published_at: 2023-01-10",
        "published_at: null",
        13,
        "la date de publication est obligatoire",
    ),
    (
        "published_at: 2023-01-10",
        "published_at: 10/01/2023",
        13,
        "« published_at » doit être une date AAAA-MM-JJ",
    ),
    ("summary: Vingt", "summary: " + "x" * 601 + " Vingt", 14, "résumé trop long (6"),
    (
        "summary: Vingt parcelles cultivées par les habitants sur une pelouse délaissée du bailleur.\n",
        "",
        1,
        "champ obligatoire manquant : summary",
    ),
    ("featured: true", "featured: true\ncolour: red", 13, "champ inconnu « colour »"),
    ("featured: true", "featured: true\nfeatured: false", 13, "champ « featured » en double"),
    (
        "themes: [agriculture-urbaine, lien-social]",
        "themes: [agriculture-urbaine, lien-social",
        5,
        "YAML invalide",
    ),
    (
        "## Contexte\n\nUne pelouse de 800 m² au pied de trois tours, que personne n'utilisait.\n",
        "",
        16,
        "la section « Contexte » est obligatoire",
    ),
    ("## Objectifs", "## Histoire", 21, "section inconnue « Histoire »"),
    ("## Objectifs", "## Contexte", 21, "section « Contexte » en double"),
    (
        "## Enseignements\n\nSans",
        "## Enseignements\n\n# Gros titre\n\nSans",
        44,
        "titre de niveau 1 interdit",
    ),
    ("---\n\n## Contexte", "---\n\nIntroduction libre.\n\n## Contexte", 17, "texte hors section"),
]


@pytest.mark.parametrize(("old", "new", "line", "message"), CASES, ids=[c[3][:40] for c in CASES])
def test_each_rule_gives_its_french_message_and_line(old, new, line, message):
    assert old in VALID, old
    found = problems_of(VALID.replace(old, new, 1))
    assert any(ln == line and message in reason for ln, reason in found), found


def test_headings_match_without_case_or_accents():
    text = VALID.replace("## Démarche", "## DEMARCHE").replace("## Contexte", "## contexte")
    assert problems_of(text) == []


def test_missing_front_matter_and_unterminated():
    assert problems_of("## Contexte\n")[0][1].startswith("le fichier doit commencer")
    assert "non terminé" in problems_of("---\ntitle: x\n")[0][1]


def test_invalid_file_name_is_reported():
    found = problems_of(VALID, name="Mon Fichier")
    assert found == [(1, found[0][1])] and "nom de fichier invalide" in found[0][1]


def test_section_over_100_kb_is_refused():
    text = VALID.replace("Sans un animateur", "mot " * 26_000 + "Sans un animateur")
    assert any("trop longue" in r for _, r in problems_of(text))


def test_all_problems_of_a_file_are_reported_at_once():
    text = (
        VALID.replace("activity: jardin", "activity: piscine")
        .replace("year_end: null", "year_end: 2000")
        .replace("## Objectifs", "## Histoire")
    )
    lines = [ln for ln, _ in problems_of(text)]
    assert lines == [5, 10, 21]


def test_draft_may_be_incomplete_but_not_use_unknown_slugs():
    draft = "---\ntitle: Idée\nstatus: draft\n---\n"
    assert problems_of(draft) == []
    assert problems_of(draft.replace("status: draft", "status: draft\nthemes: [zzz]"))


def copy_corpus(tmp_path: Path, source: Path = TEST_KNOWLEDGE) -> Path:
    target = tmp_path / "knowledge"
    shutil.copytree(source, target)
    return target


def test_import_is_all_or_nothing_per_file(engine, tmp_path):
    folder = copy_corpus(tmp_path)
    bad = folder / "fiches" / "laverie-solidaire-du-canal.md"
    bad.write_text(
        bad.read_text("utf-8").replace("themes: [modele-economique", "themes: [zzz"), "utf-8"
    )
    report = import_corpus(engine, folder)
    assert report.rejected_files == [bad]
    assert [str(p) for p in report.problems] == [f"{bad}:4: thème inconnu « zzz »"]
    with read_session(engine) as session:
        slugs = set(session.execute(select(WriteUp.slug)).scalars())
    assert "laverie-solidaire-du-canal" not in slugs
    assert len(slugs) == 5 and report.created == 5


def test_upsert_by_slug(engine, tmp_path):
    folder = copy_corpus(tmp_path)
    assert import_corpus(engine, folder).created == 6
    path = folder / "fiches" / "atelier-velo-des-hauts-plateaux.md"
    path.write_text(
        path.read_text("utf-8").replace("Atelier vélo itinérant", "Atelier vélo mobile"), "utf-8"
    )
    report = import_corpus(engine, folder)
    assert (report.created, report.updated, report.unchanged) == (0, 1, 5)
    with read_session(engine) as session:
        fiche = session.execute(
            select(WriteUp).where(WriteUp.slug == "atelier-velo-des-hauts-plateaux")
        ).scalar_one()
        assert fiche.title == "Atelier vélo mobile" and fiche.version == 2
        assert session.execute(select(WriteUp)).scalars().all().__len__() == 6
        # Taxonomy and Régies were imported first.
        assert session.execute(select(Regie)).scalars().all().__len__() == 3
        assert session.execute(select(Term).where(Term.vocabulary == "themes")).scalars().all()


def test_sections_are_rendered_and_stored(engine, tmp_path):
    import_corpus(engine, copy_corpus(tmp_path))
    with read_session(engine) as session:
        fiche = session.execute(
            select(WriteUp).where(WriteUp.slug == "jardin-partage-des-tilleuls")
        ).scalar_one()
    assert "<table>" in fiche.sections_html["method"]
    assert "<h3>Calendrier</h3>" in fiche.sections_html["method"]
    assert fiche.sections["context"].startswith("Une pelouse")


def test_invalid_taxonomy_names_file_and_line(engine, tmp_path):
    folder = copy_corpus(tmp_path)
    (folder / "taxonomy.yaml").write_text("themes:\n- slug: a\n  label: A\n- label: B\n", "utf-8")
    report = import_corpus(engine, folder)
    assert f"{folder / 'taxonomy.yaml'}:4: champ obligatoire manquant : slug" in map(
        str, report.problems
    )


def test_non_utf8_file_is_rejected_with_its_line(engine, tmp_path):
    folder = copy_corpus(tmp_path)
    path = folder / "fiches" / "atelier-velo-des-hauts-plateaux.md"
    path.write_bytes(
        path.read_bytes().replace("itinérant".encode(), "itin\xe9rant".encode("latin-1"))
    )
    report = import_corpus(engine, folder)
    assert [str(p) for p in report.problems] == [
        f"{path}:2: encodage invalide : le fichier doit être en UTF-8"
    ]


@pytest.mark.parametrize("source", [TEST_KNOWLEDGE, DEMO_KNOWLEDGE], ids=["test", "demo"])
def test_round_trip_is_byte_identical(engine, tmp_path, source):
    from resource_centre.db import make_engine, migrate

    report = import_corpus(engine, source)
    assert report.ok, [str(p) for p in report.problems]
    first = tmp_path / "export1"
    count = export_corpus(engine, first)
    assert count == len(list(source.glob("fiches/*.md")))
    empty = make_engine(f"sqlite:///{tmp_path / 'second.db'}")
    migrate(empty)
    assert import_corpus(empty, first).ok
    second = tmp_path / "export2"
    export_corpus(empty, second)
    files = sorted(p.relative_to(first) for p in first.rglob("*") if p.is_file())
    assert files == sorted(p.relative_to(second) for p in second.rglob("*") if p.is_file())
    for rel in files:
        assert (first / rel).read_bytes() == (second / rel).read_bytes(), rel
        assert (first / rel).read_bytes().endswith(b"\n")


def test_demo_corpus_is_in_canonical_form(engine, tmp_path):
    """The shipped demo files are exactly what an export writes."""
    store = DirectoryStore(tmp_path / "uploads")
    import_corpus(engine, DEMO_KNOWLEDGE, store=store)
    out = tmp_path / "export"
    export_corpus(engine, out, store=store)
    for path in (out / "fiches").glob("*.md"):
        assert path.read_bytes() == (DEMO_KNOWLEDGE / "fiches" / path.name).read_bytes(), path.name


def test_export_removes_files_of_deleted_fiches_it_wrote(engine, tmp_path):
    import_corpus(engine, TEST_KNOWLEDGE)
    out = tmp_path / "export"
    export_corpus(engine, out)
    assert (out / "fiches" / "chantier-archive.md").exists()
    with write_session(engine) as session:
        session.delete(get_by_slug(session, "chantier-archive"))
    assert export_corpus(engine, out) == 5
    assert not (out / "fiches" / "chantier-archive.md").exists()
    assert "fiches/chantier-archive.md" not in (out / MANIFEST).read_text("utf-8")


def test_export_never_deletes_a_file_it_did_not_write(engine, tmp_path):
    """Unrelated files in the target folder survive, even Markdown in fiches/."""
    import_corpus(engine, TEST_KNOWLEDGE)
    out = tmp_path / "export"
    (out / "fiches").mkdir(parents=True)
    mine = {
        out / "fiches" / "notes-de-reunion.md": "mes notes",
        out / "fiches" / "brouillon-perso.md": "---\ntitle: x\n---\n",
        out / "README.md": "# Mon dossier",
        out / "notes.md": "à garder",
    }
    for path, text in mine.items():
        path.write_text(text, "utf-8")
    export_corpus(engine, out)
    export_corpus(engine, out)  # a second export, with a manifest now
    for path, text in mine.items():
        assert path.read_text("utf-8") == text, path
    listed = (out / MANIFEST).read_text("utf-8").splitlines()
    assert listed[0].startswith("#")
    assert listed[1:] == sorted(
        [
            "taxonomy.yaml",
            "regies.yaml",
            "glossary.yaml",
            *(f"fiches/{p.name}" for p in TEST_FICHES),
        ]
    )


def test_a_forged_manifest_cannot_make_export_delete_other_files(engine, tmp_path):
    import_corpus(engine, TEST_KNOWLEDGE)
    out = tmp_path / "export"
    outside = tmp_path / "precieux.md"
    outside.write_text("ne pas supprimer", "utf-8")
    (out / "fiches").mkdir(parents=True)
    (out / "fiches" / "autre.txt").write_text("x", "utf-8")
    (out / MANIFEST).write_text(
        f"../precieux.md\n{outside}\nfiches/../../precieux.md\nfiches/autre.txt\n", "utf-8"
    )
    export_corpus(engine, out)
    assert outside.read_text("utf-8") == "ne pas supprimer"
    assert (out / "fiches" / "autre.txt").exists()


def test_import_ignores_the_manifest(engine, tmp_path):
    out = tmp_path / "export"
    shutil.copytree(TEST_KNOWLEDGE, out)
    (out / MANIFEST).write_text("fiches/inconnue.md\nn'importe quoi: [\n", "utf-8")
    report = import_corpus(engine, out)
    assert report.ok, [str(p) for p in report.problems]
    assert report.created == len(TEST_FICHES)
