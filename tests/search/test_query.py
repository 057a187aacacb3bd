"""Search over a real Whoosh index of a small library: text, facets, years, sorts, pages."""

from __future__ import annotations

import re
import time
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from resource_centre.models import WriteUp
from resource_centre.search import bitsets, caches, fastread
from resource_centre.search.highlight import highlight
from resource_centre.search.query import index_journal_id, more_like_this, run
from resource_centre.search.request import MAX_PAGE, SearchRequest, request_from_params
from resource_centre.search.results import FacetValue, SearchResults
from resource_centre.search.schema import document_from
from resource_centre.search.textquery import MAX_QUERY_CHARS, normalize_query
from resource_centre.taxonomy import fold

FAILURE = "La recherche n’a pas pu aboutir"


def slugs(results: SearchResults) -> set[str]:
    return {h.slug for h in results.hits}


def all_slugs(search: Any, **kwargs: Any) -> list[str]:
    """Every result of a search, in order, through pages of 100."""
    found: list[str] = []
    page = 1
    while True:
        results = search(page=page, page_size=100, **kwargs)
        found.extend(h.slug for h in results.hits)
        if len(found) >= results.total or not results.hits:
            return found
        page += 1


def values_of(corpus: Any, w: WriteUp, facet: str) -> list[str]:
    regie = corpus.REGIE_BY_ID[w.regie_id]
    return {
        "theme": w.themes,
        "region": [regie.region],
        "regie": [regie.slug],
        "activity": [w.activity] if w.activity else [],
        "audience": w.audiences,
        "scheme": w.schemes,
    }[facet]


def published_with(corpus: Any, **wanted: list[str]) -> set[str]:
    """Slugs of the published fiches matching facet filters (OR within, AND across)."""
    return {
        w.slug
        for w in corpus.PUBLISHED
        if all(set(values_of(corpus, w, f)) & set(v) for f, v in wanted.items())
    }


def counts(results: SearchResults, facet: str) -> dict[str, int]:
    return {fv.value: fv.count for fv in results.facets[facet]}


# --- Text matching ------------------------------------------------------------------------------


def test_no_query_lists_every_published_fiche(corpus: Any, search: Any) -> None:
    results = search()
    assert results.total == len(corpus.PUBLISHED)
    assert set(all_slugs(search)) == {w.slug for w in corpus.PUBLISHED}
    assert results.suggestion is None and results.notices == []


@pytest.mark.parametrize(
    ("typed", "expected"),
    [
        ("precarite energetique", "precarite-energetique-duchere"),
        ("PRÉCARITÉ Énergétique", "precarite-energetique-duchere"),
        ("médiateurs", "mediation-roubaix"),
        ("mediateurs", "mediation-roubaix"),
        ("IMPAYÉS", "laverie-solidaire-saint-denis"),
    ],
)
def test_accents_and_case_are_ignored(search: Any, typed: str, expected: str) -> None:
    assert expected in slugs(search(q=typed))


def test_regie_finds_regie(search: Any) -> None:
    assert all_slugs(search, q="regie") == all_slugs(search, q="Régie")
    assert "potager-insertion-lure" in all_slugs(search, q="regie")


@pytest.mark.parametrize("typed", ["l'habitant", "l’habitant", "L’HABITANT"])
def test_elision_with_both_apostrophes(search: Any, typed: str) -> None:
    results = search(q=typed)
    assert "proprete-mobiliser-habitants" in slugs(results)
    assert slugs(results) == slugs(search(q="habitants"))


def test_elision_inside_words(search: Any) -> None:
    assert "potager-insertion-lure" in slugs(search(q="d’insertion potager"))
    assert "potager-insertion-lure" in slugs(search(q="d'insertion potager"))


def test_stemming(search: Any) -> None:
    assert {"potager-insertion-lure", "jardins-partages-duchere"} <= slugs(search(q="jardins"))
    assert slugs(search(q="jardin")) == slugs(search(q="jardins"))
    assert "laverie-solidaire-saint-denis" in slugs(search(q="laveries"))
    assert "laveries-conciergerie" in slugs(search(q="laverie"))


def test_words_are_anded(search: Any) -> None:
    results = search(q="laverie machine")
    assert slugs(results) == {"laverie-solidaire-saint-denis"}
    assert results.notices == []


def test_or_fallback_when_no_fiche_has_every_word(search: Any) -> None:
    results = search(q="laverie vélo")
    assert slugs(results) == {
        "laverie-solidaire-saint-denis",
        "laveries-conciergerie",
        "atelier-velo-roubaix",
    }
    assert any("au moins un" in n for n in results.notices)


def test_no_or_fallback_for_explicit_syntax(search: Any) -> None:
    assert search(q="laverie AND vélo").total == 0
    assert search(q='"laverie vélo"').total == 0


@pytest.mark.parametrize("operator", ["OR", "OU"])
def test_or_operator(search: Any, operator: str) -> None:
    results = search(q=f"laverie {operator} vélo")
    assert slugs(results) == {
        "laverie-solidaire-saint-denis",
        "laveries-conciergerie",
        "atelier-velo-roubaix",
    }
    assert results.notices == []


def test_lowercase_or_is_a_stop_word(search: Any) -> None:
    assert search(q="laverie or").total == search(q="laverie").total


def test_minus_excludes(corpus: Any, search: Any) -> None:
    assert slugs(search(q="laverie -conciergerie")) == {"laverie-solidaire-saint-denis"}
    assert slugs(search(q="laverie NOT conciergerie")) == {"laverie-solidaire-saint-denis"}
    only_minus = search(q="-laverie")
    assert only_minus.total == len(corpus.PUBLISHED) - 2
    assert "laverie-solidaire-saint-denis" not in all_slugs(search, q="-laverie")


def test_minus_inside_groups_and_before_phrases(search: Any) -> None:
    assert search(q="(jardin -potager)").total == search(q="jardin -potager").total
    assert slugs(search(q='jardins -"pied d’immeuble"')) == {"potager-insertion-lure"}
    assert "laverie-solidaire-saint-denis" in slugs(search(q="laverie"))
    assert "laverie-solidaire-saint-denis" not in slugs(search(q='laverie -"pieds d’immeubles"'))


def test_hyphenated_words_are_not_exclusions(search: Any) -> None:
    results = search(q="saint-denis")
    assert results.total == 3
    assert {h.regie_slug for h in results.hits} == {"regie-saint-denis"}


def test_phrase_on_stems(search: Any) -> None:
    # "au pied des immeubles" (laverie) and "en pied d’immeuble" (jardins): a phrase's
    # words match the words of the same stem, stop words only keep their place.
    both = {"jardins-partages-duchere", "laverie-solidaire-saint-denis"}
    assert slugs(search(q='"pied d’immeuble"')) == both
    assert slugs(search(q='"pied d\'immeuble"')) == both
    assert slugs(search(q='"PIEDS DES IMMEUBLES"')) == both
    assert search(q='"immeuble pied"').total == 0  # the words stay in order
    assert search(q='"pied immeuble"').total == 0  # and adjacent (a stop word between)
    assert slugs(search(q='"marches exploratoires"')) == {"proprete-mobiliser-habitants"}
    # Singular finds plural and the other way round.
    assert slugs(search(q='"marche exploratoire"')) == {"proprete-mobiliser-habitants"}


def test_phrase_combined_with_words(search: Any) -> None:
    assert slugs(search(q='"pied d’immeuble" parcelles')) == {"jardins-partages-duchere"}
    assert slugs(search(q='"pied d’immeuble" laverie')) == {"laverie-solidaire-saint-denis"}
    assert search(q='"pied d’immeuble" vélo').total == 0


def test_groups(search: Any) -> None:
    results = search(q="(laverie OR vélo) insertion")
    assert slugs(results) == {"laverie-solidaire-saint-denis", "atelier-velo-roubaix"}


def test_fields_wildcards_and_boosts_are_plain_text(search: Any) -> None:
    assert search(q="status:draft").total == 0
    assert search(q="zanzibar*").total == 0
    assert slugs(search(q="laverie:solidaire")) == slugs(search(q="laverie solidaire"))
    assert search(q="title:laverie").total == 0  # no field syntax: "title" is a word
    assert search(q="laverie^").total == search(q="laverie~").total == 2
    assert search(q="laverie^10").total == 0  # "10" is a word, not a boost


def test_stop_words_only(search: Any) -> None:
    results = search(q="le la les")
    assert results.total == 0
    assert results.notices


def test_unpublished_fiches_are_never_found(corpus: Any, search: Any) -> None:
    hidden = {w.slug for w in corpus.NOT_PUBLISHED}
    assert search(q="zanzibar").total == 0
    for q in ("laverie", "jardin", "brouillon", "relecture", "archivée", "", "-laverie"):
        assert not hidden & set(all_slugs(search, q=q))
    total_by_theme = counts(search(), "theme")
    assert total_by_theme["lien-social"] == len(published_with(corpus, theme=["lien-social"]))
    assert search(filters={"activity": ["laverie-solidaire"]}).total == 2


# --- Facets ---------------------------------------------------------------------------------------


FACET_CASES = [
    ("theme", ["lien-social"]),
    ("theme", ["mobilite", "economie-circulaire"]),
    ("region", ["ile-de-france"]),
    ("region", ["hauts-de-france", "bourgogne-franche-comte"]),
    ("regie", ["regie-lyon-duchere"]),
    ("activity", ["nettoyage"]),
    ("activity", ["laverie-solidaire", "ressourcerie"]),
    ("audience", ["seniors"]),
    ("audience", ["jeunes", "femmes"]),
    ("scheme", ["aci"]),
    ("scheme", ["tfpb", "quartiers-fertiles"]),
]


@pytest.mark.parametrize(("facet", "values"), FACET_CASES)
def test_facet_filter_is_or_within_a_facet(
    corpus: Any, search: Any, facet: str, values: list[str]
) -> None:
    results = search(filters={facet: values}, page_size=100)
    assert slugs(results) == published_with(corpus, **{facet: values})
    assert results.total == len(published_with(corpus, **{facet: values}))


@pytest.mark.parametrize(("facet", "values"), FACET_CASES)
def test_facet_counts_ignore_their_own_filter(
    corpus: Any, search: Any, facet: str, values: list[str]
) -> None:
    results = search(filters={facet: values})
    everything = search()
    assert counts(results, facet) == counts(everything, facet)
    for other in ("theme", "region", "regie", "activity", "audience", "scheme"):
        if other == facet:
            continue
        expected: dict[str, int] = {}
        for slug in published_with(corpus, **{facet: values}):
            writeup = next(w for w in corpus.WRITEUPS if w.slug == slug)
            for value in values_of(corpus, writeup, other):
                expected[value] = expected.get(value, 0) + 1
        assert counts(results, other) == expected, other


def test_facets_are_anded_across_and_counted_with_the_other_filters(
    corpus: Any, search: Any
) -> None:
    filters = {"theme": ["lien-social"], "region": ["hauts-de-france"]}
    results = search(filters=filters)
    assert slugs(results) == published_with(corpus, **filters)
    assert slugs(results) == {"mediation-roubaix", "gouvernance-triptyque"}
    # theme counted over the region filter only, region over the theme filter only
    theme_expected: dict[str, int] = {}
    for w in corpus.PUBLISHED:
        if "hauts-de-france" in values_of(corpus, w, "region"):
            for t in w.themes:
                theme_expected[t] = theme_expected.get(t, 0) + 1
    assert counts(results, "theme") == theme_expected
    region_expected: dict[str, int] = {}
    for w in corpus.PUBLISHED:
        if "lien-social" in w.themes:
            r = values_of(corpus, w, "region")[0]
            region_expected[r] = region_expected.get(r, 0) + 1
    assert counts(results, "region") == region_expected
    assert counts(results, "audience") == {"habitants": 2, "jeunes": 1}


def test_facet_counts_follow_the_text_query(search: Any) -> None:
    results = search(q="laverie")
    assert counts(results, "regie") == {"regie-saint-denis": 2}
    assert counts(results, "activity") == {"laverie-solidaire": 2}


def test_facet_values_are_labelled_and_sorted(corpus: Any, search: Any) -> None:
    results = search()
    for facet in ("theme", "region", "regie", "activity", "audience", "scheme"):
        values = results.facets[facet]
        assert values, facet
        for fv in values:
            assert isinstance(fv, FacetValue)
            assert fv.label == corpus.LABELS[facet][fv.value]
        keys = [(-fv.count, fv.label.casefold()) for fv in values]
        assert keys == sorted(keys)
    assert set(results.facets) == {
        "theme",
        "region",
        "regie",
        "activity",
        "audience",
        "scheme",
        "kind",
        "year",
    }


def test_selected_values_with_no_result_are_kept(search: Any) -> None:
    results = search(filters={"theme": ["numerique"], "region": ["bretagne"]})
    assert results.total == 0 and results.hits == []
    theme = {fv.value: fv for fv in results.facets["theme"]}
    assert theme["numerique"] == FacetValue("numerique", "Numérique et accès aux droits", 0)
    assert {fv.value: fv.count for fv in results.facets["region"]}["bretagne"] == 0


def test_regie_label_falls_back_to_the_indexed_name(searcher: Any) -> None:
    results = run(searcher, SearchRequest(), labels={})
    names = {fv.value: fv.label for fv in results.facets["regie"]}
    assert names["regie-roubaix"] == "Régie de quartier de Roubaix"
    assert {fv.value: fv.label for fv in results.facets["theme"]}["mobilite"] == "mobilite"


# --- Years ---------------------------------------------------------------------------------------


def overlapping(corpus: Any, low: int | None, high: int | None) -> set[str]:
    found = set()
    for w in corpus.PUBLISHED:
        if w.year_start is None:
            continue
        end = w.year_end if w.year_end is not None else 10**9
        if w.year_start <= (high if high is not None else 10**9) and end >= (
            low if low is not None else -(10**9)
        ):
            found.add(w.slug)
    return found


@pytest.mark.parametrize(
    ("low", "high"),
    [
        (2021, 2021),
        (2010, 2015),
        (2024, 2026),
        (None, 2016),
        (2022, None),
        (2000, 2030),
        (2030, 2040),
    ],
)
def test_year_range_overlap(corpus: Any, search: Any, low: int | None, high: int | None) -> None:
    results = search(year_min=low, year_max=high, page_size=100)
    assert slugs(results) == overlapping(corpus, low, high)


def test_running_fiche_matches_later_years(search: Any) -> None:
    assert "jardins-partages-duchere" in slugs(search(year_min=2030, year_max=2031))
    assert "gouvernance-triptyque" not in slugs(search(year_min=2000, year_max=2030, page_size=100))


def test_year_facet_counts_by_start_year(corpus: Any, search: Any) -> None:
    results = search()
    expected: dict[str, int] = {}
    for w in corpus.PUBLISHED:
        if w.year_start is not None:
            expected[str(w.year_start)] = expected.get(str(w.year_start), 0) + 1
    assert counts(results, "year") == expected
    assert [fv.value for fv in results.facets["year"]] == sorted(expected, reverse=True)
    # the year facet ignores the year range but follows the other filters
    ranged = search(year_min=2021, year_max=2021, filters={"theme": ["lien-social"]})
    assert counts(ranged, "year") == counts(search(filters={"theme": ["lien-social"]}), "year")
    assert counts(ranged, "theme")["lien-social"] == len(
        overlapping(corpus, 2021, 2021) & published_with(corpus, theme=["lien-social"])
    )


# --- Sorting and pages ---------------------------------------------------------------------------


def test_sort_recent(corpus: Any, search: Any) -> None:
    found = all_slugs(search, sort="recent")
    expected = [
        w.slug for w in sorted(corpus.PUBLISHED, key=lambda w: w.published_at, reverse=True)
    ]
    assert found == expected
    assert all_slugs(search) == expected  # default without a query


def test_sort_title(corpus: Any, search: Any) -> None:
    found = all_slugs(search, sort="title")
    assert found == [w.slug for w in sorted(corpus.PUBLISHED, key=lambda w: fold(w.title))]


def test_sort_relevance_is_the_default_with_a_query(search: Any) -> None:
    results = search(q="habitants")
    scores = [h.score for h in results.hits]
    assert all(s is not None for s in scores)
    assert scores == sorted(scores, reverse=True)
    assert results.hits[0].slug in {"proprete-mobiliser-habitants", "gouvernance-triptyque"}
    assert [h.slug for h in results.hits] == [
        h.slug for h in search(q="habitants", sort="relevance").hits
    ]
    by_date = search(q="habitants", sort="recent")
    assert {h.slug for h in by_date.hits} == slugs(results)
    dates = [h.published_at for h in by_date.hits]
    assert dates == sorted(dates, reverse=True)
    assert all(h.score is None for h in by_date.hits)


def test_title_match_ranks_first(search: Any) -> None:
    assert search(q="laverie").hits[0].slug == "laverie-solidaire-saint-denis"
    assert search(q="potager").hits[0].slug == "potager-insertion-lure"


def test_pagination(corpus: Any, search: Any) -> None:
    total = len(corpus.PUBLISHED)
    pages = [search(page=p, page_size=5) for p in (1, 2, 3)]
    assert [len(p.hits) for p in pages] == [5, 5, total - 10]
    assert all(p.total == total for p in pages)
    joined = [h.slug for p in pages for h in p.hits]
    assert joined == all_slugs(search) and len(set(joined)) == total
    beyond = search(page=4, page_size=5)
    assert beyond.hits == [] and beyond.total == total and beyond.page == 4
    far = search(q="laverie", page=500)
    assert far.hits == [] and far.total == 2
    single = search(page_size=1, page=total)
    assert len(single.hits) == 1 and single.hits[0].slug == all_slugs(search)[-1]


def test_relevance_pages_do_not_overlap(search: Any) -> None:
    full = [h.slug for h in search(q="habitants", page_size=100).hits]
    paged = [h.slug for p in (1, 2, 3, 4) for h in search(q="habitants", page=p, page_size=3).hits]
    assert paged == full


def test_hand_built_request_is_bounded(corpus: Any, search: Any) -> None:
    results = search(
        page=-3,
        page_size=10_000,
        sort="nonsense",
        filters={"theme": ["<script>", "lien-social"], "bogus": ["x"]},
    )
    assert results.page == 1 and results.page_size == 100
    assert slugs(results) == published_with(corpus, theme=["lien-social"])


# --- Result cards and highlights ------------------------------------------------------------


def test_hit_holds_the_card(search: Any) -> None:
    hit = next(h for h in search(q="laverie").hits if h.slug == "laverie-solidaire-saint-denis")
    assert hit.title == "Une laverie solidaire au pied des immeubles"
    assert hit.summary.startswith("La laverie emploie")
    assert hit.regie_slug == "regie-saint-denis"
    assert hit.regie_name == "Régie de quartier de Saint-Denis"
    assert hit.region == "ile-de-france"
    assert hit.themes == ["insertion-emploi", "lien-social"]
    assert hit.activity == "laverie-solidaire"
    assert hit.audiences == ["habitants", "femmes"]
    assert hit.schemes == ["aci", "contrat-de-ville"]
    assert (hit.year_start, hit.year_end) == (2018, 2021)
    assert hit.published_at == date(2022, 3, 1)
    assert hit.featured is True


def test_highlights_title_and_summary(search: Any) -> None:
    hit = search(q="laveries").hits[0]
    assert hit.highlights["title"] == "Une <mark>laverie</mark> solidaire au pied des immeubles"
    assert "<mark>laverie</mark>" in hit.highlights["summary"]
    assert "body" not in hit.highlights


def test_body_highlights_need_body_text(corpus: Any, searcher: Any, body_text: Any) -> None:
    request = SearchRequest(q="impayés")
    without = run(searcher, request, labels=corpus.LABELS)
    assert "body" not in without.hits[0].highlights
    with_body = run(searcher, request, labels=corpus.LABELS, body_text=body_text)
    body = with_body.hits[0].highlights["body"]
    assert "<mark>impayés</mark>" in body
    assert "&#x27;" in body or "'" not in body  # the apostrophe of n'avaient is escaped
    assert "<" not in re.sub(r"</?mark>", "", body)


def test_excluded_words_are_not_highlighted(search: Any) -> None:
    hit = search(q="laverie -conciergerie").hits[0]
    assert "<mark>" in hit.highlights["title"]
    hit = search(q="habitants -laverie").hits[0]
    assert "laverie</mark>" not in " ".join(hit.highlights.values())


def test_highlight_escapes_html() -> None:
    text = "<b>Laverie</b> & <script>alert('x')</script>"
    marked = highlight(text, {"laver"}, whole=True)
    assert marked == (
        "&lt;b&gt;<mark>Laverie</mark>&lt;/b&gt; &amp; &lt;script&gt;"
        "alert(&#x27;x&#x27;)&lt;/script&gt;"
    )
    assert highlight(text, {"absent"}, whole=True) == ""


def test_highlight_fragments_of_a_long_text() -> None:
    text = ("mot " * 300) + "La laverie ouvre. " + ("autre " * 300) + "Une laverie ferme."
    marked = highlight(text, {"laver"}, whole=False)
    assert marked.count("<mark>laverie</mark>") == 2
    assert marked.startswith("…") and len(marked) < 600


# --- "Did you mean" ------------------------------------------------------------------------------


def test_a_typo_is_corrected_with_a_notice_and_the_typed_query_one_click_away(
    search: Any,
) -> None:
    results = search(q="jardn")
    assert results.total > 0
    assert "jardins-partages-duchere" in slugs(results)
    assert "Résultats pour « jardin »." in results.notices
    assert results.exact_query == '"jardn"'
    assert results.suggestion is None  # corrected already: no "did you mean"
    exact = search(q=results.exact_query)  # quoted words are never corrected
    assert exact.total == 0
    assert exact.exact_query is None


def test_a_correction_keeps_the_other_words(search: Any) -> None:
    results = search(q="laverie solidarie")
    assert "Résultats pour « laverie solidaire »." in results.notices
    assert results.exact_query == 'laverie "solidarie"'


def test_no_suggestion_when_results_are_fine(search: Any) -> None:
    assert search(q="laverie").suggestion is None
    assert search(q="zanzibar").suggestion is None
    assert search().suggestion is None


# --- Request parameters ------------------------------------------------------------------------


def test_request_from_clean_params(corpus: Any) -> None:
    request = request_from_params(
        {
            "q": ["jardin"],
            "theme": ["lien-social", "mobilite", "lien-social"],
            "region": ["ile-de-france"],
            "year_min": ["2018"],
            "year_max": ["2022"],
            "sort": ["title"],
            "page": ["2"],
            "page_size": ["50"],
            "utm_source": ["x"],
        },
        corpus.KNOWN,
    )
    assert request == SearchRequest(
        q="jardin",
        filters={"theme": ["lien-social", "mobilite"], "region": ["ile-de-france"]},
        year_min=2018,
        year_max=2022,
        sort="title",
        page=2,
        page_size=50,
        notices=[],
    )


@pytest.mark.parametrize(
    ("params", "field", "value", "needle"),
    [
        ({"theme": ["inconnu"]}, "filters", {}, "inconnue"),
        (
            {"theme": ["<script>"], "activity": ["nettoyage"]},
            "filters",
            {"activity": ["nettoyage"]},
            "inconnue",
        ),
        ({"year_min": ["deux mille"]}, "year_min", None, "pas un nombre"),
        ({"year_max": ["1e9"]}, "year_max", None, "pas un nombre"),
        ({"year_min": ["1200"]}, "year_min", None, "hors de la période"),
        ({"year_min": ["2022"], "year_max": ["2018"]}, "year_min", 2018, "inversées"),
        ({"sort": ["popular"]}, "sort", None, "n’existe pas"),
        ({"page": ["0"]}, "page", 1, "commencent à 1"),
        ({"page": ["-4"]}, "page", 1, "commencent à 1"),
        ({"page": ["deux"]}, "page", 1, "pas un nombre"),
        ({"page": ["99999999"]}, "page", MAX_PAGE, "trop loin"),
        ({"page_size": ["0"]}, "page_size", 1, "va de 1 à 100"),
        ({"page_size": ["500"]}, "page_size", 100, "va de 1 à 100"),
        ({"page_size": ["x"]}, "page_size", 20, "pas un nombre"),
    ],
)
def test_request_from_bad_params(
    corpus: Any, params: dict[str, list[str]], field: str, value: Any, needle: str
) -> None:
    request = request_from_params(params, corpus.KNOWN)
    assert getattr(request, field) == value
    assert len(request.notices) == 1 and needle in request.notices[0]


def test_request_notice_shows_a_short_printable_value(corpus: Any) -> None:
    request = request_from_params({"theme": ["\x00" + "x" * 500]}, corpus.KNOWN)
    assert len(request.notices[0]) < 150 and "\x00" not in request.notices[0]


def test_request_without_known_slugs_checks_their_shape() -> None:
    request = request_from_params({"regie": ["regie-x", "Bad Slug!"]}, {})
    assert request.filters == {"regie": ["regie-x"]} and len(request.notices) == 1


def test_notices_are_passed_on(corpus: Any, searcher: Any) -> None:
    request = request_from_params({"theme": ["inconnu"], "q": ["laverie"]}, corpus.KNOWN)
    results = run(searcher, request, labels=corpus.LABELS)
    assert results.total == 2 and any("inconnue" in n for n in results.notices)


def test_long_query_is_cut_with_a_notice(search: Any) -> None:
    results = search(q="laverie " * 100)
    assert results.total == 2
    assert any("200 caractères" in n for n in results.notices)


# --- Robustness -----------------------------------------------------------------------------------


def _check_safe(results: SearchResults) -> None:
    assert isinstance(results, SearchResults)
    assert not any(n.startswith(FAILURE) for n in results.notices)
    for hit in results.hits:
        for marked in hit.highlights.values():
            assert "<" not in re.sub(r"</?mark>", "", marked)


def test_attack_queries(corpus: Any, searcher: Any, body_text: Any, search_attack: str) -> None:
    started = time.perf_counter()
    results = run(
        searcher, SearchRequest(q=search_attack), labels=corpus.LABELS, body_text=body_text
    )
    assert time.perf_counter() - started < 1
    _check_safe(results)


def test_long_attack_queries(corpus: Any, searcher: Any, long_search_attack: str) -> None:
    text = long_search_attack
    started = time.perf_counter()
    results = run(searcher, SearchRequest(q=text), labels=corpus.LABELS)
    assert time.perf_counter() - started < 1
    _check_safe(results)
    assert len(normalize_query(text)) <= MAX_QUERY_CHARS


def test_attack_strings_as_parameters(corpus: Any, searcher: Any, search_attack: str) -> None:
    params = {
        name: [search_attack]
        for name in (
            "q",
            "theme",
            "region",
            "regie",
            "activity",
            "audience",
            "scheme",
            "year_min",
            "year_max",
            "sort",
            "page",
            "page_size",
        )
    }
    request = request_from_params(params, corpus.KNOWN)
    _check_safe(run(searcher, request, labels=corpus.LABELS))


def test_normalize_query_caps_nesting_and_pairs_quotes() -> None:
    assert normalize_query("(" * 10 + "a" + ")" * 10) == "((((a))))"
    assert normalize_query("((a OR b") == "((a OR b))"
    assert normalize_query("a) OR (b") == "a OR (b)"
    assert normalize_query('"a b') == "a b"
    assert normalize_query('"(a" b') == '"(a" b'
    assert normalize_query("a\u200bb\u202e\x00c") == "ab c"
    assert normalize_query("ﬁche\n\tlaverie") == "fiche laverie"
    long = normalize_query("(" * 300 + "mot " * 300)
    assert len(long) <= MAX_QUERY_CHARS and long.endswith("))))")


@settings(
    max_examples=300,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(text=st.text())
def test_run_never_raises_on_any_text(corpus: Any, searcher: Any, text: str) -> None:
    _check_safe(run(searcher, SearchRequest(q=text), labels=corpus.LABELS))


@settings(
    max_examples=100,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(
    text=st.lists(
        st.sampled_from(
            [
                "laverie",
                "jardin",
                " ",
                "(",
                ")",
                '"',
                "-",
                "+",
                "*",
                ":",
                "~",
                "^",
                "OR",
                "AND",
                "NOT",
                "ET",
                "OU",
                "l'",
                "d’",
                "title:",
                "[a TO z]",
            ]
        )
    ).map("".join),
    page=st.integers(-5, 50),
    size=st.integers(-5, 500),
)
def test_run_never_raises_on_query_syntax(
    corpus: Any, searcher: Any, text: str, page: int, size: int
) -> None:
    results = run(searcher, SearchRequest(q=text, page=page, page_size=size), labels=corpus.LABELS)
    _check_safe(results)
    assert results.total <= len(corpus.PUBLISHED)


def test_run_never_raises_on_a_broken_searcher(corpus: Any) -> None:
    results = run(object(), SearchRequest(q="laverie", notices=["avant"]), labels=corpus.LABELS)
    assert results.hits == [] and results.total == 0
    assert results.notices[0] == "avant" and results.notices[-1].startswith(FAILURE)
    assert set(results.facets) == {
        "theme",
        "region",
        "regie",
        "activity",
        "audience",
        "scheme",
        "kind",
        "year",
    }


# --- Related fiches, bookkeeping, caches --------------------------------------------------------


def test_more_like_this(corpus: Any, searcher: Any) -> None:
    related = more_like_this(searcher, "laverie-solidaire-saint-denis")
    found = [h.slug for h in related]
    assert 1 <= len(found) <= 3
    assert "laverie-solidaire-saint-denis" not in found
    assert found[0] == "laveries-conciergerie"
    published = {w.slug for w in corpus.PUBLISHED}
    assert set(found) <= published
    assert more_like_this(searcher, "inconnue") == []
    assert more_like_this(searcher, "__meta__") == []
    assert len(more_like_this(searcher, "brouillon-laverie", limit=5)) <= 5
    assert "brouillon-laverie" not in {
        h.slug for h in more_like_this(searcher, "laveries-conciergerie")
    }


def test_index_journal_id(searcher: Any) -> None:
    assert index_journal_id(searcher) == 42
    assert index_journal_id(object()) is None


def test_fast_and_public_posting_reads_agree(
    corpus: Any, searcher: Any, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    caches.clear_caches()
    fast = search_all(corpus, searcher)
    assert fast and not [r for r in caplog.records if r.levelname == "WARNING"]
    caches.clear_caches()
    monkeypatch.setattr(fastread, "FAST_POSTINGS", False)
    try:
        assert search_all(corpus, searcher) == fast
    finally:
        caches.clear_caches()


def search_all(corpus: Any, searcher: Any) -> list[tuple[str, float | None]]:
    found = []
    for q in ("habitants", "laverie OR jardin", "insertion -aci", "regie"):
        results = run(searcher, SearchRequest(q=q, page_size=100), labels=corpus.LABELS)
        found.extend((h.slug, h.score) for h in results.hits)
    return found


def test_results_are_cached_per_generation(corpus: Any, tmp_path: Path) -> None:
    ix = corpus.build_index(tmp_path, corpus.WRITEUPS[:5])
    searcher = ix.searcher()
    try:
        other = ix.searcher()  # another thread's searcher on the same generation
        try:
            assert caches.generation(other) is caches.generation(searcher)
        finally:
            other.close()
        first = run(searcher, SearchRequest(q="laverie"), labels=corpus.LABELS)
        again = run(searcher, SearchRequest(q="laverie"), labels=corpus.LABELS)
        assert again == first and again is not first
        writer = ix.writer()
        extra = WriteUp(
            slug="nouvelle-laverie",
            title="Nouvelle laverie",
            summary="",
            regie_id=1,
            themes=["lien-social"],
            status="published",
            published_at=date(2025, 1, 1),
            sections={},
        )
        writer.update_document(**document_from(extra, corpus.REGIE_BY_ID[1], corpus.LABELS))
        writer.commit(merge=False)
        old_generation = caches.generation(searcher)
        searcher = searcher.refresh()
        assert caches.generation(searcher) is not old_generation
        after = run(searcher, SearchRequest(q="laverie"), labels=corpus.LABELS)
        assert after.total == first.total + 1
        assert "nouvelle-laverie" in slugs(after)
        assert (
            counts(after, "theme")["lien-social"]
            == counts(first, "theme").get("lien-social", 0) + 1
        )
    finally:
        searcher.close()


@pytest.mark.parametrize(
    "words",
    [
        ("jardins", "partages"),
        ("marches", "exploratoires"),
        ("laverie", "solidaire"),
        ("atelier", "velo", "solidaire"),
        ("regie", "de", "quartier"),
        ("quartier", "regie"),
        ("zanzibar", "laverie"),
    ],
)
@pytest.mark.parametrize("fast", [True, False])
def test_phrase_verification_matches_whoosh(
    searcher: Any, monkeypatch: pytest.MonkeyPatch, words: tuple[str, ...], fast: bool
) -> None:
    from whoosh import query as wq

    monkeypatch.setattr(fastread, "FAST_POSTINGS", fast)
    caches.clear_caches()
    try:
        gen = caches.generation(searcher)
        found = set(bitsets.from_bits(gen.phrase(searcher.reader(), words, gen.visible)))
        exact = set(searcher.docs_for_query(wq.Phrase("spell", list(words)))) & gen.visible_docs
        if any(w in caches.STOP_WORDS for w in words):
            assert exact <= found  # a stop word only keeps its place
        else:
            assert found == exact
    finally:
        caches.clear_caches()


def test_stop_words_in_a_phrase_keep_their_place(search: Any) -> None:
    # "au pied des immeubles" (laverie), "en pied d’immeuble" (jardins)
    both = {"laverie-solidaire-saint-denis", "jardins-partages-duchere"}
    assert slugs(search(q='"pied des immeubles"')) == both
    assert slugs(search(q='"pied aux immeubles"')) == both
    assert search(q='"pied immeubles"').total == 0


def test_empty_index_and_meta_only_index(tmp_path: Path) -> None:
    from whoosh import index

    from resource_centre.search.schema import build_schema, meta_document

    ix = index.create_in(str(tmp_path), build_schema())
    for step in ("empty", "meta"):
        if step == "meta":
            writer = ix.writer()
            writer.update_document(**meta_document(7))
            writer.commit()
        searcher = ix.searcher()
        try:
            for request in (
                SearchRequest(),
                SearchRequest(q="laverie", filters={"theme": ["x"]}),
                SearchRequest(q='"a b" -c', year_min=2000, sort="title"),
            ):
                results = run(searcher, request, labels={})
                _check_safe(results)
                assert results.total == 0 and results.hits == []
            assert more_like_this(searcher, "x") == []
            assert index_journal_id(searcher) == (7 if step == "meta" else None)
        finally:
            searcher.close()


def test_request_from_starlette_query_params(corpus: Any) -> None:
    datastructures = pytest.importorskip("starlette.datastructures")
    params = datastructures.QueryParams("theme=mobilite&theme=lien-social&q=v%C3%A9lo&page=2")
    request = request_from_params(params, corpus.KNOWN)
    assert request.filters == {"theme": ["mobilite", "lien-social"]}
    assert (request.q, request.page) == ("vélo", 2)


def test_fast_field_lengths_match_whoosh(searcher: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    def unused(*args: Any) -> None:
        raise AssertionError("the fast path fell back to doc_field_length")

    for leaf, _ in searcher.reader().leaf_readers():
        count = leaf.doc_count_all()
        for name in ("title", "summary", "body"):
            expected = [leaf.doc_field_length(d, name, 0) or 0 for d in range(count)]
            with monkeypatch.context() as patch:
                patch.setattr(leaf, "doc_field_length", unused)
                assert fastread.lengths(leaf, name, count) == expected
            assert any(expected)
