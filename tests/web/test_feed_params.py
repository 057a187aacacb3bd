"""`/flux.atom` with the search parameters of contract §6 (issue 15): the same fiches as
`/fiches`, in the same order; hostile parameters never break it. On the demo corpus (67
fiches), so that a search has more results than a page."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

import pytest
from starlette.testclient import TestClient

from resource_centre.web.app import create_app
from resource_centre.web.feed import FEED_ENTRIES
from tests.conftest import DEMO_KNOWLEDGE
from tests.web.conftest import build_settings

ATOM = "{http://www.w3.org/2005/Atom}"
ORIGIN = "http://testserver"
CARD = re.compile(r'<h3 class="card-title"><a href="/fiches/([a-z0-9-]+)[?"]')


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    tmp: Path = tmp_path_factory.mktemp("feed")
    app = create_app(build_settings(tmp, knowledge=DEMO_KNOWLEDGE))
    with TestClient(app, raise_server_exceptions=False) as client:
        yield client


def feed_slugs(client: TestClient, query: str) -> tuple[ET.Element, list[str]]:
    response = client.get(f"/flux.atom?{query}")
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("application/atom+xml")
    root = ET.fromstring(response.content)
    ids = [e.findtext(f"{ATOM}id") or "" for e in root.findall(f"{ATOM}entry")]
    assert all(i.startswith(f"{ORIGIN}/fiches/") for i in ids), ids
    return root, [i.removeprefix(f"{ORIGIN}/fiches/") for i in ids]


def library_slugs(client: TestClient, query: str) -> list[str]:
    response = client.get(f"/fiches?{query}")
    assert response.status_code == 200
    return CARD.findall(response.text)


SEARCHES = [
    "theme=lien-social&q=habitants",
    "theme=lien-social",  # 32 fiches: more than a page of /fiches
    "q=jardin",
    "q=emploi&sort=recent",
    "sort=title",
    "year_min=2020&year_max=2022",
    "kind=express",
    "section=lessons&q=bailleur",
    "theme=insertion-emploi&theme=alimentation&q=insertion",
]


@pytest.mark.parametrize("query", SEARCHES)
def test_the_feed_of_a_search_lists_what_the_library_shows(demo, query):
    root, slugs = feed_slugs(demo, query)
    everything = library_slugs(demo, f"{query}&page_size={FEED_ENTRIES}")
    assert slugs == everything
    assert slugs[:20] == library_slugs(demo, query)  # the first page, in the same order
    assert slugs, f"the demo corpus should answer {query}"
    # The feed says which search it is, and links to it.
    self_link = root.find(f"{ATOM}link[@rel='self']")
    assert self_link is not None and self_link.get("href", "").startswith(f"{ORIGIN}/flux.atom?")
    alternate = root.find(f"{ATOM}link[@rel='alternate']")
    assert alternate is not None and alternate.get("href", "").startswith(f"{ORIGIN}/fiches?")
    title = root.findtext(f"{ATOM}title") or ""
    assert title.startswith("Centre de ressources du Mouvement des Régies : ")
    assert title != "Centre de ressources du Mouvement des Régies : nouvelles fiches"


def test_theme_and_text_are_named_in_the_title(demo):
    root, _ = feed_slugs(demo, "theme=lien-social&q=habitants")
    assert root.findtext(f"{ATOM}title") == (
        "Centre de ressources du Mouvement des Régies : « habitants » · "
        "Thèmes : Lien social et participation des habitants"
    )
    assert root.findtext(f"{ATOM}id") == (
        f"{ORIGIN}/flux.atom?q=habitants&theme=lien-social"  # canonical order
    )


def test_without_search_parameters_the_feed_is_the_newest_fiches(demo):
    root, newest = feed_slugs(demo, "")
    assert root.findtext(f"{ATOM}title") == (
        "Centre de ressources du Mouvement des Régies : nouvelles fiches"
    )
    published = [e.findtext(f"{ATOM}published") or "" for e in root.findall(f"{ATOM}entry")]
    assert published == sorted(published, reverse=True)
    assert len(newest) == FEED_ENTRIES
    # Parameters that are not a search (page, unknown ones) leave it as it is.
    assert feed_slugs(demo, "page=3&utm_source=lettre&page_size=7")[1] == newest


def test_unknown_values_are_ignored_as_on_the_library(demo):
    assert (
        feed_slugs(demo, "theme=lien-social&theme=inconnu")[1]
        == (feed_slugs(demo, "theme=lien-social")[1])
    )
    assert (
        feed_slugs(demo, "q=jardin&year_min=abc&sort=nimporte")[1]
        == (feed_slugs(demo, "q=jardin")[1])
    )


HOSTILE = [
    "q=" + quote('"unbalanced'),
    "q=" + quote("jardin OR OR -"),
    "q=" + quote("*?~^" * 50),
    "q=" + "a" * 5000,
    "q=%00%01%1f",
    "q=%ff%fe",
    "theme=" + quote("<script>alert(1)</script>"),
    "theme=" + "x" * 500,
    "&".join(f"theme=t{i}" for i in range(120)),
    "year_min=99999999999999999999&year_max=-5",
    "sort=" + quote("'; DROP TABLE writeup;--"),
    "section=" + quote("../../etc/passwd"),
    "q=%E2%80%AE%F0%9F%92%A9",
    "page=0&page_size=-1",
    "q=" + quote("\u202e\ufeffjardin\r\n"),
]


@pytest.mark.parametrize("query", HOSTILE)
def test_hostile_parameters_never_break_the_feed(demo, query):
    response = demo.get(f"/flux.atom?{query}")
    assert response.status_code in (200, 400), response.text[:300]
    if response.status_code == 200:
        ET.fromstring(response.content)  # well-formed
        assert b"<script>" not in response.content
