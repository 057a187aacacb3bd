"""Queries widened as people type: glossary, word starts, typos, capitals (issue 13)."""

from __future__ import annotations

from typing import Any

import pytest

from resource_centre.glossary import Glossary, GlossaryItem
from resource_centre.search.query import run
from resource_centre.search.request import SearchRequest
from resource_centre.search.results import SearchResults
from tests.search.conftest import LABELS

GLOSSARY = Glossary.of(
    [
        GlossaryItem("ACI", "acronym", ("atelier et chantier d'insertion", "chantier d'insertion")),
        GlossaryItem("AI", "acronym", ("association intermédiaire",)),
        GlossaryItem("PDI", "acronym", ("pied d'immeuble",)),
        GlossaryItem("EV", "acronym", ("espaces verts",)),
        GlossaryItem("aînés", "synonyms", ("aînés", "seniors", "personnes âgées")),
        GlossaryItem("vélo", "synonyms", ("vélo", "deux-roues", "bicyclette")),
    ]
)


@pytest.fixture(scope="module")
def find(searcher: Any) -> Any:
    def do(q: str, glossary: Glossary | None = GLOSSARY, **kwargs: Any) -> SearchResults:
        return run(searcher, SearchRequest(q=q, **kwargs), labels=LABELS, glossary=glossary)

    return do


def slugs(results: SearchResults) -> list[str]:
    return [h.slug for h in results.hits]


# -- glossary --------------------------------------------------------------------------------


def test_an_acronym_finds_its_long_form_with_a_notice(find: Any) -> None:
    assert find("PDI", glossary=None).total == 0
    widened = find("PDI")  # a phrase on stems: "pied des immeubles" too
    assert set(slugs(widened)) == {"jardins-partages-duchere", "laverie-solidaire-saint-denis"}
    assert "Recherche élargie : PDI = pied d'immeuble." in widened.notices
    assert widened.exact_query == '"PDI"'
    assert find(widened.exact_query).total == 0  # in quotes: never widened
    widened = find("ACI")
    assert any(
        n.startswith("Recherche élargie : ACI = atelier et chantier d'insertion")
        for n in widened.notices
    )
    assert widened.exact_query == '"ACI"'


def test_lower_case_acronyms_widen_unless_short(find: Any) -> None:
    assert "chantier-espaces-verts" in slugs(find("aci"))
    assert find("ev", glossary=GLOSSARY).total == find("ev", glossary=None).total
    assert "chantier-espaces-verts" in slugs(find("EV"))


def test_a_synonym_finds_the_other_words_of_its_group(find: Any) -> None:
    results = find("aînés")
    assert {"laveries-conciergerie", "jardins-partages-duchere"} <= set(slugs(results))
    assert "Recherche élargie : aînés = seniors, personnes âgées." in results.notices
    hyphenated = find("deux-roues")
    assert slugs(hyphenated)[:1] == ["atelier-velo-roubaix"]
    assert find("deux-roues", glossary=None).total == 0


def test_a_stop_word_typed_in_capitals_is_kept(find: Any) -> None:
    results = find("AI")
    assert results.notices == ["Recherche élargie : AI = association intermédiaire."]
    assert results.total == 0  # no fiche says it, but the word was searched
    lower = find("ai")
    assert lower.exact_query is None
    assert any("mots trop courants" in n for n in lower.notices)


def test_the_glossary_version_is_part_of_the_cached_result(find: Any) -> None:
    before = find("bicyclette")
    changed = Glossary.of([GlossaryItem("bicyclette", "synonyms", ("bicyclette", "vélo"))])
    after = find("bicyclette", glossary=changed)
    assert before.total == 0 or "atelier-velo-roubaix" in slugs(before)
    assert "atelier-velo-roubaix" in slugs(after)
    assert find("bicyclette", glossary=Glossary()).total == 0


# -- typos -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("typed", "expected", "shown"),
    [
        ("lavrie", "laverie-solidaire-saint-denis", "laverie"),  # a letter missing
        ("lavreie", "laverie-solidaire-saint-denis", "laverie"),  # transposition: one edit
        ("ressourcrie", "ressourcerie-lure", "ressourcerie"),
        ("ressuorcreie", "ressourcerie-lure", "ressourcerie"),  # 2 edits from 9 letters
        ("LAVRIE", "laverie-solidaire-saint-denis", "laverie"),  # capitals, but no acronym
    ],
)
def test_a_typo_within_the_allowed_edits_is_corrected(
    find: Any, typed: str, expected: str, shown: str
) -> None:
    results = find(typed)
    assert expected in slugs(results)[:3]
    assert f"Résultats pour « {shown} »." in results.notices
    assert results.exact_query == f'"{typed}"'


@pytest.mark.parametrize(
    "typed",
    [
        "lavxrix",  # 2 edits in a word of 7 letters
        "maverie",  # the first letter is kept
        "lavri",  # 2 edits below 9 letters (and not a word start of anything)
        "LVRIE",  # five capitals or fewer: an acronym, never corrected
        '"lavrie"',  # in quotes
    ],
)
def test_what_is_never_corrected(find: Any, typed: str) -> None:
    results = find(typed)
    assert results.total == 0
    assert not any(n.startswith("Résultats pour") for n in results.notices)


def test_documents_matching_as_typed_rank_first(searcher: Any) -> None:
    from resource_centre.search.caches import generation
    from resource_centre.search.ranking import by_relevance

    gen = generation(searcher)
    reader = searcher.reader()
    bits = gen.stem(reader, "laver").bits
    ranked = [d for d, _ in by_relevance(gen, reader, ["laver"], bits, 10)]
    assert len(ranked) >= 2
    last = ranked[-1]
    tiered = [d for d, _ in by_relevance(gen, reader, ["laver"], bits, 10, first=1 << last)]
    assert tiered[0] == last
    assert tiered[1:] == ranked[:-1]


# -- word starts -----------------------------------------------------------------------------


def test_the_last_word_matches_as_a_word_start(find: Any) -> None:
    results = find("ressourc")
    assert slugs(results)[:1] == ["ressourcerie-lure"]
    assert any(n.startswith("Mots commençant par « ressourc »") for n in results.notices)
    assert results.exact_query == '"ressourc"'
    # Only the last word is a word start.
    assert not any(n.startswith("Mots commençant") for n in find("ressourc lure").notices)
    assert find("lure ressourc").total >= 1


def test_a_complete_word_is_not_a_word_start(find: Any) -> None:
    results = find("laverie")
    assert not any(n.startswith("Mots commençant") for n in results.notices)
    assert results.exact_query is None


def test_word_starts_need_three_letters(find: Any) -> None:
    assert not any(n.startswith("Mots commençant") for n in find("la").notices)


# -- long queries ----------------------------------------------------------------------------


def test_a_long_query_lists_fiches_with_some_words_after_those_with_all(find: Any) -> None:
    every = find("laverie machine habitants", glossary=None)
    some = [h.slug for h in every.hits]
    assert some[0] == "laverie-solidaire-saint-denis"  # the only fiche with all three words
    assert every.total > 1
    assert any(n.startswith("Peu de fiches contiennent tous vos mots") for n in every.notices)
    two = find("laverie machine", glossary=None)  # two words: all of them, nothing else
    assert [h.slug for h in two.hits] == ["laverie-solidaire-saint-denis"]
    assert two.notices == []


def test_an_elided_word_is_corrected(find: Any) -> None:
    results = find("d'insertoin")
    assert results.total > 0
    assert "Résultats pour « d'insertion »." in results.notices
    assert results.exact_query == '"d\'insertoin"'


def test_the_exact_query_quotes_every_occurrence_outside_quotes(find: Any) -> None:
    results = find('"laverie solidaire" lavrie lavrie')
    assert results.exact_query == '"laverie solidaire" "lavrie" "lavrie"'
    assert 'Résultats pour « "laverie solidaire" laverie laverie ».' in results.notices
    again = find(results.exact_query)
    assert again.exact_query is None


def test_capitals_stop_words_keep_operators_working(find: Any) -> None:
    plain = find("laverie", glossary=None)
    assert find("laverie -AI").total == plain.total  # "-AI": dropped, as any stop word
    assert find("laverie OU AI").total == plain.total
    assert find("(AI OU LA) laverie").total == plain.total


def test_word_starts_are_not_taken_from_a_query_cut_at_its_limit(find: Any) -> None:
    results = find("laverie " * 40)
    assert not any(n.startswith("Mots commençant") for n in results.notices)


def test_notices_write_the_corrected_word_as_the_fiches_do(find: Any) -> None:
    results = find("ressourcrie")  # the index holds "ressourcerie", folded
    assert "Résultats pour « ressourcerie »." in results.notices
    results = find("economei circulaire")  # "économie" in the fiche: accents come back
    assert "Résultats pour « économie circulaire »." in results.notices


def test_no_word_of_a_correction_that_finds_nothing(find: Any) -> None:
    # "lavrie" → laverie, but no laverie fiche is in the "cadre-de-vie" theme.
    results = find("lavrie", filters={"theme": ["cadre-de-vie"]})
    assert results.total == 0
    assert not any(n.startswith("Résultats pour") for n in results.notices)
    assert results.exact_query is None
    assert find("lavrie").total > 0
