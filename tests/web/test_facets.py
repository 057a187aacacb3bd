"""The pure URL helpers of the library: facet toggles, chips, sort and pagination."""

from __future__ import annotations

from urllib.parse import parse_qsl, urlsplit

import pytest

from resource_centre.search.request import SearchRequest
from resource_centre.search.results import FacetValue
from resource_centre.taxonomy import year_filter_label, year_range_label
from resource_centre.web import facets as f

BASE = "/fiches"
LABELS = {
    "theme": {"insertion-emploi": "Insertion et emploi", "lien-social": "Lien social"},
    "region": {"la-reunion": "La Réunion"},
}


def items(url: str) -> list[tuple[str, str]]:
    parts = urlsplit(url)
    assert parts.path == BASE
    return parse_qsl(parts.query, keep_blank_values=True)


def state() -> SearchRequest:
    return SearchRequest(
        q="jardin",
        filters={"theme": ["insertion-emploi", "lien-social"], "region": ["la-reunion"]},
        year_min=2018,
        sort="title",
        page=3,
        page_size=10,
        notices=["ignored"],
    )


def test_state_items_are_canonical_and_leave_defaults_out():
    assert f.state_items(SearchRequest()) == []
    assert f.url_of(BASE, SearchRequest()) == BASE
    assert f.state_items(state()) == [
        ("q", "jardin"),
        ("theme", "insertion-emploi"),
        ("theme", "lien-social"),
        ("region", "la-reunion"),
        ("year_min", "2018"),
        ("sort", "title"),
        ("page", "3"),
        ("page_size", "10"),
    ]


def test_url_encodes_user_text():
    url = f.url_of(BASE, SearchRequest(q='a&b=c "d" <e>#'))
    assert items(url) == [("q", 'a&b=c "d" <e>#')]
    assert "<" not in url and "#" not in url.partition("?")[2]


@pytest.mark.parametrize(
    ("facet", "value"),
    [
        ("theme", "insertion-emploi"),
        ("theme", "lien-social"),
        ("theme", "agriculture-urbaine"),
        ("region", "la-reunion"),
        ("region", "ile-de-france"),
        ("scheme", "aci"),
    ],
)
def test_toggle_changes_exactly_one_value_and_goes_back_to_page_one(facet, value):
    before = state()
    after = items(f.toggle_url(BASE, before, facet, value))
    expected = [(k, v) for k, v in f.state_items(before) if k != "page"]
    if (facet, value) in expected:
        expected.remove((facet, value))
    else:
        expected.append((facet, value))
    assert sorted(after) == sorted(expected)
    assert before.filters["theme"] == ["insertion-emploi", "lien-social"]  # not mutated


def test_decorate_marks_selected_values_and_each_toggle_url_toggles_its_value():
    wanted = SearchRequest(filters={"theme": ["lien-social"]})
    values = [FacetValue(f"t{i}", f"Thème {i}", 20 - i) for i in range(12)]
    values.append(FacetValue("lien-social", "Lien social", 0))
    decorated = {facet.name: facet for facet in f.decorate(BASE, wanted, {"theme": values})}
    assert list(decorated) == list(f.SLUG_FACETS)
    theme = decorated["theme"]
    assert theme.label == "Thèmes" and theme.selected_count == 1
    # The selected value comes first even with no fiche; the rest go under "Voir plus".
    assert theme.visible[0].value == "lien-social" and theme.visible[0].selected
    assert len(theme.visible) == f.FACET_VISIBLE_VALUES
    assert len(theme.visible) + len(theme.more) == 13
    for option in theme.options:
        got = set(items(option.toggle_url))
        if option.selected:
            assert got == set()
        else:
            assert got == {("theme", "lien-social"), ("theme", option.value)}
    assert decorated["region"].options == []


def test_short_tail_is_not_hidden():
    values = [FacetValue(f"t{i}", f"T{i}", 1) for i in range(f.FACET_VISIBLE_VALUES + 2)]
    theme = f.decorate(BASE, SearchRequest(), {"theme": values})[0]
    assert theme.more == [] and len(theme.visible) == len(values)


def test_chips_remove_one_filter_each():
    wanted = SearchRequest(
        q="laverie", filters={"theme": ["insertion-emploi"]}, year_min=2019, year_max=2022, page=2
    )
    chips = f.chips(BASE, wanted, LABELS)
    assert [c.label for c in chips] == [
        "Recherche : « laverie »",
        "Thèmes : Insertion et emploi",
        "Années : de 2019 à 2022",
    ]
    assert items(chips[0].remove_url) == [
        ("theme", "insertion-emploi"),
        ("year_min", "2019"),
        ("year_max", "2022"),
    ]
    assert items(chips[1].remove_url) == [
        ("q", "laverie"),
        ("year_min", "2019"),
        ("year_max", "2022"),
    ]
    assert items(chips[2].remove_url) == [("q", "laverie"), ("theme", "insertion-emploi")]
    assert chips[1].without.filters == {} and chips[1].without.page == 1
    assert f.clear_url(BASE) == BASE


def test_unknown_label_falls_back_to_slug_and_year_wording():
    chips = f.chips(BASE, SearchRequest(filters={"scheme": ["aci"]}, year_max=2020), LABELS)
    assert [c.label for c in chips] == [
        "Dispositifs et financements : aci",
        "Années : jusqu’en 2020",
    ]
    assert year_filter_label(2019, 2019) == "2019"
    assert year_filter_label(2019, None) == "à partir de 2019"
    assert year_filter_label(2019, 2022) == "de 2019 à 2022"


def test_years_of_a_fiche_are_worded_once():
    assert year_range_label(2019, 2019) == "2019"
    assert year_range_label(2019, 2022) == "2019–2022"
    assert year_range_label(2019, None) == "depuis 2019"
    assert year_range_label(None, 2022) == "jusqu’en 2022"
    assert year_range_label(None, None) == ""


def test_did_you_mean_keeps_filters_and_drops_sort():
    wanted = SearchRequest(q="insertoin", filters={"region": ["la-reunion"]}, sort="title", page=2)
    assert items(f.with_query(BASE, wanted, "insertion")) == [
        ("q", "insertion"),
        ("region", "la-reunion"),
    ]


def test_sort_options():
    assert f.effective_sort(SearchRequest()) == "recent"
    assert f.effective_sort(SearchRequest(q="x")) == "relevance"
    assert f.effective_sort(SearchRequest(q="x", sort="title")) == "title"
    no_text = f.sort_options(SearchRequest())
    assert [o.value for o in no_text] == ["recent", "title"]
    assert [o.value for o in no_text if o.selected] == ["recent"]
    assert [o.value for o in f.sort_options(SearchRequest(q="x"))] == [
        "relevance",
        "recent",
        "title",
    ]


def test_pagination_links_with_ellipses():
    wanted = SearchRequest(q="x", page=10, page_size=10)
    pages = f.pagination(BASE, wanted, total=200)
    assert pages.last == 20
    numbers = [link.number if link else None for link in pages.links]
    assert numbers == [1, None, 8, 9, 10, 11, 12, None, 20]
    assert [link.number for link in pages.links if link and link.current] == [10]
    assert ("page", "9") in items(pages.previous_url)
    assert ("page", "11") in items(pages.next_url)
    assert ("page_size", "10") in items(pages.next_url)
    first = f.pagination(BASE, SearchRequest(page=1), total=45)
    assert first.previous_url is None and first.last == 3
    assert items(first.links[0].url) == []  # page 1 is the URL without `page`
    # Two pages apart: the page between is shown rather than an ellipsis.
    near = f.pagination(BASE, SearchRequest(page=4), total=20 * 6)
    assert [link.number if link else None for link in near.links] == [1, 2, 3, 4, 5, 6]


def test_pagination_beyond_the_last_page_points_back_to_it():
    pages = f.pagination(BASE, SearchRequest(page=50), total=30)
    assert pages.last == 2 and pages.next_url is None
    assert ("page", "2") in items(pages.previous_url)
    assert f.pagination(BASE, SearchRequest(), total=0).last == 1


@pytest.mark.parametrize(
    ("n", "words"),
    [(0, "Aucune fiche"), (1, "1 fiche"), (12, "12 fiches"), (10000, "10\u202f000 fiches")],
)
def test_count_words(n, words):
    assert f.count_words(n) == words
