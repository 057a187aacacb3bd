"""The glossary in the `knowledge/` folder: the shipped starter glossary, import (whole or
not at all, errors with file, line and reason in French), export byte for byte, on SQLite and
PostgreSQL."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import yaml
from sqlmodel import select

from resource_centre.corpus import MANIFEST, export_corpus, import_corpus
from resource_centre.db import read_session, write_session
from resource_centre.glossary import (
    MAX_DEFINITION,
    MAX_EXPANSION,
    MAX_EXPANSIONS,
    MAX_TERM,
    GlossaryItem,
    check_entry,
    load_glossary,
    sort_key,
    term_key,
)
from resource_centre.glossary_file import GLOSSARY_HEADER, parse_glossary, render_glossary
from resource_centre.models import GlossaryEntry
from tests.conftest import DEMO_KNOWLEDGE, TEST_KNOWLEDGE

SHIPPED = DEMO_KNOWLEDGE / "glossary.yaml"


def glossary_of(engine) -> dict[str, GlossaryItem]:
    with read_session(engine) as session:
        return {item.term: item for item in load_glossary(session).items}


def folder_with_glossary(tmp_path: Path, text: str) -> Path:
    """The test library with this glossary.yaml."""
    folder = tmp_path / "k"
    shutil.copytree(TEST_KNOWLEDGE, folder)
    (folder / "glossary.yaml").write_text(text, "utf-8")
    return folder


# --- the shipped starter glossary -----------------------------------------------------------


def test_shipped_glossary_round_trips_byte_for_byte(engine, tmp_path):
    report = import_corpus(engine, DEMO_KNOWLEDGE)
    assert report.ok, [str(p) for p in report.problems]
    assert report.glossary_entries == len(yaml.safe_load(SHIPPED.read_text("utf-8")))
    out = tmp_path / "export"
    export_corpus(engine, out)
    assert (out / "glossary.yaml").read_bytes() == SHIPPED.read_bytes()
    assert "glossary.yaml" in (out / MANIFEST).read_text("utf-8").splitlines()


def test_shipped_glossary_is_real_and_in_order():
    items, problems = parse_glossary(SHIPPED, SHIPPED.read_text("utf-8"))
    assert problems == []
    assert len(items) >= 45
    assert [term_key(i.term) for i in items] == sorted(term_key(i.term) for i in items)
    by_term = {i.term: i for i in items}
    # Long forms checked one by one (contract §10: an acronym's term is the acronym).
    expected = {
        "IAE": "insertion par l'activité économique",
        "ACI": "atelier et chantier d'insertion",
        "AI": "association intermédiaire",
        "EI": "entreprise d'insertion",
        "ETTI": "entreprise de travail temporaire d'insertion",
        "SIAE": "structure d'insertion par l'activité économique",
        "GUP": "gestion urbaine de proximité",
        "GUSP": "gestion urbaine et sociale de proximité",
        "TFPB": "taxe foncière sur les propriétés bâties",
        "NPNRU": "nouveau programme national de renouvellement urbain",
        "ANRU": "Agence nationale pour la rénovation urbaine",
        "DLA": "dispositif local d'accompagnement",
        "PLIE": "plan local pour l'insertion et l'emploi",
        "QPV": "quartier prioritaire de la politique de la ville",
        "HLM": "habitation à loyer modéré",
        "EPCI": "établissement public de coopération intercommunale",
        "CCAS": "centre communal d'action sociale",
        "CAF": "caisse d'allocations familiales",
        "CDDI": "contrat à durée déterminée d'insertion",
        "PMSMP": "période de mise en situation en milieu professionnel",
        "ESS": "économie sociale et solidaire",
        "SCIC": "société coopérative d'intérêt collectif",
        "RQ": "Régie de quartier",
    }
    for term, long_form in expected.items():
        assert by_term[term].kind == "acronym", term
        assert by_term[term].expansions[0] == long_form, term
        assert by_term[term].definition, term
    assert "quartier prioritaire" in by_term["QPV"].expansions
    assert {"intercommunalité", "communauté de communes"} <= set(by_term["EPCI"].expansions)
    assert {"bailleur social", "logement social"} <= set(by_term["HLM"].expansions)
    groups = {frozenset(i.expansions) for i in items if i.kind == "synonyms"}
    for words in (
        {"vélo", "deux-roues"},
        {"seniors", "aînés", "personnes âgées"},
        {"médiateur", "médiatrice"},
        {"recyclerie", "ressourcerie"},
        {"épicerie solidaire", "épicerie sociale"},
        {"jardin partagé", "jardin collectif"},
    ):
        assert any(words <= group for group in groups), words
    for item in items:
        if item.kind == "synonyms":
            assert item.term in item.expansions, item.term
        assert 0 < len(item.definition) <= 400, item.term  # one or two sentences


# --- import: the whole glossary replaced, or nothing --------------------------------------


def test_import_replaces_the_glossary_and_keeps_unchanged_entries(engine, tmp_path):
    assert import_corpus(engine, DEMO_KNOWLEDGE).ok
    with read_session(engine) as session:
        before = {
            e.term: (e.id, e.updated_at) for e in session.execute(select(GlossaryEntry)).scalars()
        }
    shipped = glossary_of(engine)
    text = render_glossary(
        [
            GlossaryItem("QPV", "acronym", ("quartier prioritaire",), "Changée."),
            shipped["IAE"],
            GlossaryItem("nouveau", "synonyms", ("neuf",), ""),
        ]
    )
    report = import_corpus(engine, folder_with_glossary(tmp_path, text))
    assert report.ok, [str(p) for p in report.problems]
    assert report.glossary_entries == 3
    after = glossary_of(engine)
    assert set(after) == {"QPV", "IAE", "nouveau"}
    assert after["QPV"].expansions == ("quartier prioritaire",)
    assert after["nouveau"].expansions == ("nouveau", "neuf")  # the term joins its group
    with read_session(engine) as session:
        rows = {
            e.term: (e.id, e.updated_at) for e in session.execute(select(GlossaryEntry)).scalars()
        }
    assert rows["IAE"] == before["IAE"]  # unchanged: same row, same date
    assert rows["QPV"][0] == before["QPV"][0] and rows["QPV"][1] != before["QPV"][1]


def test_without_glossary_file_the_glossary_stays(engine):
    assert import_corpus(engine, DEMO_KNOWLEDGE).ok
    count = len(glossary_of(engine))
    assert import_corpus(engine, TEST_KNOWLEDGE).ok  # no glossary.yaml there
    assert len(glossary_of(engine)) == count


def test_empty_glossary_exports_and_imports_back_empty(engine, tmp_path):
    assert import_corpus(engine, DEMO_KNOWLEDGE).ok
    with write_session(engine) as session:
        for entry in session.execute(select(GlossaryEntry)).scalars():
            session.delete(entry)
    out = tmp_path / "export"
    export_corpus(engine, out)
    assert (out / "glossary.yaml").read_text("utf-8") == GLOSSARY_HEADER + "[]\n"
    assert import_corpus(engine, DEMO_KNOWLEDGE).ok
    assert glossary_of(engine)
    assert import_corpus(engine, out).ok
    assert glossary_of(engine) == {}


LONG = "x" * (MAX_EXPANSION + 1)
ENTRY = "- term: QPV\n  kind: acronym\n  expansions: [quartier prioritaire]\n  definition: Un.\n"
# (glossary.yaml, line, reason): each refused with the file, the line and a French reason.
INVALID = [
    ("- term: QPV\n  kind: [acronym\n", 3, "YAML invalide"),
    ("term: QPV\n", 1, "doit être une liste d'entrées"),
    (ENTRY + "- QPV\n", 5, "entrée n° 2 : chaque entrée doit être un dictionnaire"),
    (ENTRY + "- term: IAE\n  kind: acronym\n  expansion: [x]\n", 7, "champ inconnu « expansion »"),
    (ENTRY + "- term: IAE\n  kind: acronym\n", 5, "champ obligatoire manquant : expansions"),
    (ENTRY + "- term: IAE\n  kind: sigle\n  expansions: [x]\n", 6, "le type (kind) : choisissez"),
    (ENTRY + "- term: ON\n  kind: acronym\n  expansions: [x]\n", 5, "« term » doit être un texte"),
    (ENTRY + "- term: IAE\n  kind: acronym\n  expansions: insertion\n", 7, "doit être une liste"),
    (ENTRY + "- term: IAE\n  kind: acronym\n  expansions: []\n", 7, "au moins une forme"),
    (ENTRY + f"- term: {'T' * (MAX_TERM + 1)}\n  kind: acronym\n  expansions: [x]\n", 5,
     f"le terme (term) : le terme dépasse {MAX_TERM} caractères"),
    (ENTRY + f"- term: IAE\n  kind: acronym\n  expansions: [{LONG}]\n", 7,
     f"dépasse {MAX_EXPANSION} caractères"),
    (ENTRY + "- term: IAE\n  kind: acronym\n  expansions: ["
     + ", ".join(f"f{i}" for i in range(MAX_EXPANSIONS + 1)) + "]\n", 7,
     f"{MAX_EXPANSIONS} au plus"),
    (ENTRY + "- term: IAE\n  kind: acronym\n  expansions: [x, X]\n", 7, "« X » est écrit deux fois"),
    (ENTRY + f"- term: IAE\n  kind: acronym\n  expansions: [x]\n  definition: {'d' * 1001}\n",
     8, f"la définition dépasse {MAX_DEFINITION} caractères"),
    (ENTRY + '- term: "IA\\0E"\n  kind: acronym\n  expansions: [x]\n', 5,
     "caractère de contrôle interdit"),
    (ENTRY + '- term: IAE\n  kind: acronym\n  expansions: ["x\\ud800"]\n', 7,
     ("caractère de contrôle interdit", "YAML invalide")),
    (ENTRY + "- term: qpv\n  kind: acronym\n  expansions: [x]\n", 5,
     "« qpv » est déjà une entrée (ligne 1)"),
    (ENTRY + "- term: Qpv\n  kind: synonyms\n  expansions: [QPV, x]\n", 5,
     "« Qpv » est déjà une entrée (ligne 1)"),
]  # fmt: skip


@pytest.mark.parametrize(("text", "line", "reason"), INVALID)
def test_invalid_glossary_names_file_line_and_reason_and_changes_nothing(
    engine, tmp_path, text, line, reason
):
    assert import_corpus(engine, DEMO_KNOWLEDGE).ok
    before = glossary_of(engine)
    folder = folder_with_glossary(tmp_path, text)
    report = import_corpus(engine, folder)
    path = folder / "glossary.yaml"
    assert not report.ok
    assert report.rejected_files == [path]
    messages = [str(p) for p in report.problems]
    reasons = reason if isinstance(reason, tuple) else (reason,)  # a lone surrogate: libyaml
    assert any(  # refuses it, Python's loader reads it and check_entry does
        m.startswith(f"{path}:{line}: ") and any(r in m for r in reasons) for m in messages
    ), messages
    assert glossary_of(engine) == before  # nothing half-imported (QPV stays as it was)
    assert report.created == 6  # the fiches of the folder are still imported


def test_unreadable_glossary_is_reported_and_changes_nothing(engine, tmp_path):
    assert import_corpus(engine, DEMO_KNOWLEDGE).ok
    before = glossary_of(engine)
    folder = folder_with_glossary(tmp_path, "")
    (folder / "glossary.yaml").write_bytes(ENTRY.encode() + b"- term: \xe9\n")
    report = import_corpus(engine, folder)
    assert [str(p) for p in report.problems] == [
        f"{folder / 'glossary.yaml'}:5: encodage invalide : le fichier doit être en UTF-8"
    ]
    assert glossary_of(engine) == before


def test_every_problem_of_the_file_at_once():
    text = (
        "- term: A1\n  kind: nope\n  expansions: [x]\n"
        "- term: A2\n  kind: acronym\n  expansions: []\n"
        "- term: A1\n  kind: acronym\n  expansions: [yak]\n"
    )
    items, problems = parse_glossary(Path("glossary.yaml"), text)
    assert [(p.line, p.reason.split(" : ")[0]) for p in problems] == [
        (2, "entrée n° 1"),
        (6, "entrée n° 2"),
    ]
    assert [i.term for i in items] == ["A1"]  # the first A1 is refused: the third is no repeat


# --- the rules of an entry -------------------------------------------------------------------


def test_check_entry_cleans_and_refuses():
    checked = check_entry(
        "  QPV ", "acronym", ["quartier   prioritaire", "", " "], " Un\n quartier. "
    )
    assert checked.item == GlossaryItem("QPV", "acronym", ("quartier prioritaire",), "Un quartier.")
    assert check_entry("IAE", "acronym", ["iae"], "").errors == {
        "expansions": "une forme développée ne peut pas être le sigle lui-même"
    }
    assert check_entry("vélo", "synonyms", ["vélo"], "").errors == {
        "expansions": "un groupe réunit au moins deux mots de même sens"
    }
    assert check_entry("", "acronym", ["x"], "").errors == {"term": "le terme est obligatoire"}
    nul = check_entry("IAE", "acronym", ["x"], "a\x00b")
    assert nul.item is None and nul.errors == {"definition": "caractère de contrôle interdit"}
    lone = check_entry("IAE", "acronym", ["x\ud800"], "")
    assert lone.errors == {"expansions": "caractère de contrôle interdit"}


def test_a_term_stored_meanwhile_is_a_form_error_not_a_crash(engine, monkeypatch):
    """The check before the insert can miss a term another transaction stores at the same
    moment (PostgreSQL runs them side by side): the unique key then gives the form's error."""
    from resource_centre import glossary_edit
    from resource_centre.auth import create_user

    assert import_corpus(engine, DEMO_KNOWLEDGE).ok
    with write_session(engine) as session:
        curator = create_user(
            session, email="c@glossaire.example", password="mot de passe de test", role="curator"
        )
    monkeypatch.setattr(glossary_edit, "_term_taken", lambda *args, **kwargs: False)
    with pytest.raises(glossary_edit.GlossaryError) as refused, write_session(engine) as session:
        glossary_edit.add_entry(
            session, user=curator, term="qpv", kind="acronym", expansions=["x"], definition=""
        )
    assert refused.value.errors == {
        "term": "« qpv » est déjà dans le glossaire : modifiez cette entrée-là"
    }
    assert (
        glossary_of(engine)["QPV"].expansions[0]
        == "quartier prioritaire de la politique de la ville"
    )


TRICKY = [
    GlossaryItem("ON", "acronym", ("yes", "null", "~", "2024"), "true"),
    GlossaryItem("#1", "acronym", ("- tiret", ": deux-points", "a: b", "cas #d"), "Texte : avec # et « guillemets »."),
    GlossaryItem("l'an", "synonyms", ("l'an", '"entre guillemets"', "'apostrophes'"), ""),
    GlossaryItem("x" * 60, "synonyms", ("x" * 60, "y" * 120), "mot" * 300),
    GlossaryItem("é", "acronym", ("{accolade}", "[crochet]", "&ancre", "*étoile", "!tag", "%pc", "@arobase", "`b`"), "> chevron | barre"),
]  # fmt: skip


def test_any_checked_entry_is_written_so_that_it_reads_back_the_same():
    for item in TRICKY:
        assert check_entry(item.term, item.kind, item.expansions, item.definition).item == item
    text = render_glossary(TRICKY)
    items, problems = parse_glossary(Path("glossary.yaml"), text)
    assert problems == []
    assert sorted(items, key=sort_key) == sorted(TRICKY, key=sort_key)
    assert render_glossary(items) == text


def test_a_form_of_stop_words_only_is_refused() -> None:
    from resource_centre.glossary import check_entry

    checked = check_entry("vélo", "synonyms", ["vélo", "de la"], "")
    assert "ne contient que des mots trop courants" in checked.errors["expansions"]
    # An acronym that is itself a stop word is fine: it is the term, not a form.
    assert check_entry("AI", "acronym", ["association intermédiaire"], "").errors == {}


def test_a_term_that_folding_lengthens_beyond_its_column_is_refused() -> None:
    from resource_centre.glossary import MAX_TERM_KEY, check_entry, term_key

    term = "\ufdfa" * 60  # one character, folded (NFKD) into eighteen
    assert len(term_key(term)) > MAX_TERM_KEY
    assert "term" in check_entry(term, "acronym", ["forme longue"], "").errors


def test_a_5000_digit_number_is_a_problem_not_a_crash(tmp_path):
    """Python refuses to read integers of over 4,300 digits (ValueError, not a YAML error)."""
    from resource_centre.glossary_file import parse_glossary

    text = "- term: QPV\n  kind: acronym\n  expansions: [" + "9" * 5000 + "]\n  definition: x\n"
    _, problems = parse_glossary(tmp_path / "glossary.yaml", text)
    assert any(p.line == 3 and "nombre trop long" in p.reason for p in problems)
