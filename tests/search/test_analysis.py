"""French analysis: case, accents, elision, stop words, stemming; Markdown to text; documents."""

from __future__ import annotations

import pickle
import time
from datetime import date
from typing import Any

import pytest

from resource_centre.models import Regie, WriteUp
from resource_centre.search.analysis import folding_analyzer, french_analyzer
from resource_centre.search.schema import (
    FACET_FIELDS,
    KIND_FICHE,
    META_SLUG,
    SCHEMA_VERSION,
    build_schema,
    document_from,
    markdown_to_text,
    meta_document,
    meta_schema_version,
    sections_text,
)


def terms(text: str) -> list[str]:
    return [t.text for t in french_analyzer()(text)]


def folded(text: str) -> list[str]:
    return [t.text for t in folding_analyzer()(text)]


def test_case_and_accents_are_ignored() -> None:
    assert terms("Régie") == terms("regie") == terms("RÉGIE") == terms("REGIE")
    assert terms("précarité énergétique") == terms("precarite energetique")


def test_both_apostrophes_split_elisions() -> None:
    assert terms("l'habitant") == terms("habitant")
    assert terms("d’insertion") == terms("insertion")
    assert terms("l’atelier d'insertion") == terms("atelier insertion")


def test_stemming_plural_and_singular() -> None:
    assert terms("jardins") == terms("jardin")
    assert terms("laveries") == terms("laverie")
    assert terms("Laveries solidaires") == terms("laverie solidaire")


def test_stop_words_accented_and_folded() -> None:
    assert terms("le la les de des du et à a été") == []
    assert terms("a ete etait") == []
    assert terms("la laverie") == terms("laverie")


def test_folding_analyzer_keeps_every_word_unstemmed() -> None:
    assert folded("Les Jardins d’Été") == ["les", "jardins", "d", "ete"]


def test_analyzers_pickle() -> None:
    schema = build_schema()
    again = pickle.loads(pickle.dumps(schema))
    assert [t.text for t in again["body"].analyzer("Jardins partagés")] == terms("jardin partagé")


def test_markdown_to_text_drops_syntax() -> None:
    md = (
        "## Le quartier\n\nDes **habitants** et des _jeunes_.\n\n"
        '- un [lien](https://example.org "titre")\n- ![photo](x.png)\n\n'
        "> citation\n\n```python\ncode()\n```\n\n| a | b |\n|---|---|\n| 1 | 2 |\n"
        "<script>alert(1)</script> &amp; fin"
    )
    text = markdown_to_text(md)
    assert "Le quartier" in text
    assert "habitants" in text and "**" not in text and "_jeunes_" not in text
    assert "lien" in text and "https://example.org" not in text
    assert "photo" in text and "x.png" not in text
    assert "<script>" not in text and "citation" in text and "& fin" in text
    assert "##" not in text and ">" not in text and "|" not in text


@pytest.mark.parametrize("markdown", [None, "", "   "])
def test_markdown_to_text_empty(markdown: str | None) -> None:
    assert markdown_to_text(markdown) == ""


def test_markdown_to_text_is_linear_on_crafted_input(corpus: Any) -> None:
    cases = [c for c in corpus.attack_lines("markdown-dos.jsonl") if isinstance(c, dict)]
    assert cases
    for case in cases:
        if "prefix" in case:
            text = case["prefix"] * case["unit_repeat"] + case["then"] * case["unit_repeat"]
        else:
            text = case["unit"] * case["times"]
        started = time.perf_counter()
        markdown_to_text(text)
        assert time.perf_counter() - started < 1, case
    started = time.perf_counter()
    markdown_to_text("[![" * 30_000 + "](" * 30_000 + "<a " * 30_000)
    assert time.perf_counter() - started < 1


def test_document_from_holds_what_a_card_and_a_search_need() -> None:
    regie = Regie(
        id=7,
        slug="regie-x",
        name="Régie X",
        kind="quartier",
        city="Lure",
        department="Haute-Saône",
        region="Bourgogne-Franche-Comte",
    )
    writeup = WriteUp(
        slug="fiche-x",
        title="Une laverie",
        summary="Résumé",
        regie_id=7,
        themes=["lien-social", "insertion-emploi"],
        activity="laverie-solidaire",
        audiences=["habitants"],
        schemes=[],
        partners=["Bailleur Y"],
        year_start=2020,
        year_end=None,
        status="published",
        featured=True,
        published_at=date(2024, 5, 1),
        sections={"context": "## Contexte\nDes **machines**.", "lessons": "Les impayés."},
        network_note="Un regard du réseau.",
    )
    labels = {
        "theme": {"lien-social": "Lien social"},
        "activity": {"laverie-solidaire": "Laverie solidaire"},
    }
    doc = document_from(writeup, regie, labels)
    assert doc["slug"] == "fiche-x" and doc["kind"] == KIND_FICHE
    assert doc["status"] == "published"
    assert doc["theme"] == "lien-social insertion-emploi"
    assert doc["region"] == "bourgogne-franche-comte" and doc["regie"] == "regie-x"
    assert doc["regie_name"] == "Régie X" and doc["featured"] is True
    assert "scheme" not in doc and "year_end" not in doc
    assert doc["published_at"].year == 2024
    for needle in (
        "machines",
        "impayés",
        "Régie X",
        "Lure",
        "Bailleur Y",
        "Lien social",
        "Laverie solidaire",
        "Un regard du réseau",
    ):
        assert needle in doc["body"]
    assert "**" not in doc["body"]
    assert "laverie" in doc["spell"].lower()
    assert set(doc) <= set(build_schema().names())
    assert set(FACET_FIELDS) - {"scheme"} <= set(doc)


def test_document_from_without_regie_and_with_bad_years() -> None:
    writeup = WriteUp(
        slug="s",
        title="T",
        summary="",
        themes=[],
        audiences=[],
        schemes=[],
        partners=[],
        year_start=99999,
        status="draft",
        sections={},
    )
    doc = document_from(writeup, None, {})
    assert "regie" not in doc and "region" not in doc and "year_start" not in doc


def test_sections_text_in_taxonomy_order() -> None:
    writeup = WriteUp(slug="s", title="T", sections={"lessons": "Deux", "context": "Un"})
    assert sections_text(writeup) == "Un\n\nDeux"


def test_meta_document() -> None:
    assert meta_document(12) == {
        "slug": META_SLUG,
        "kind": "meta",
        "journal_id": 12,
        "version": SCHEMA_VERSION,  # the schema version the index is built with
    }
    assert meta_schema_version(meta_document(12)) == SCHEMA_VERSION
    assert meta_schema_version({"slug": META_SLUG, "journal_id": 3}) == 1  # before the field
