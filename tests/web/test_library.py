"""The public library pages: content, facet URLs, inert user content, headers, errors."""

from __future__ import annotations

import gzip
import json
import re
import xml.etree.ElementTree as ET
from datetime import UTC, datetime
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import parse_qsl, urlsplit
from zoneinfo import ZoneInfo

import pytest
from babel.dates import format_date
from fastapi import FastAPI, HTTPException
from sqlalchemy import select
from starlette.testclient import TestClient

from resource_centre.auth import create_user
from resource_centre.db import write_session
from resource_centre.models import Regie, WriteUp
from resource_centre.web.app import STATIC_DIR, create_app
from resource_centre.web.facets import SLUG_FACETS
from resource_centre.writeups import FicheData, apply_data, regie_ids
from tests.conftest import attack_cases
from tests.web.conftest import PASSWORD, build_settings, login
from tests.web.test_api import attack_queries

PUBLISHED = {
    "jardin-partage-des-tilleuls",
    "laverie-solidaire-du-canal",
    "atelier-velo-des-hauts-plateaux",
}
HIDDEN = ["ressourcerie-brouillon", "epicerie-soumise", "chantier-archive"]
ATOM = "{http://www.w3.org/2005/Atom}"


# --- A small HTML reader -------------------------------------------------------------------


class Page(HTMLParser):
    """Parse a page into its tags (with attributes), script contents and visible text."""

    def __init__(self, html: str) -> None:
        super().__init__(convert_charrefs=True)
        self.html = html
        self.tags: list[tuple[str, dict[str, str]]] = []
        self.script_text: list[str] = []
        self._text: list[str] = []
        self._in: list[str] = []
        self.feed(html)
        self.close()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, {k: v or "" for k, v in attrs}))
        if tag in ("script", "style"):
            self._in.append(tag)

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, {k: v or "" for k, v in attrs}))

    def handle_endtag(self, tag: str) -> None:
        if self._in and self._in[-1] == tag:
            self._in.pop()

    def handle_data(self, data: str) -> None:
        if self._in:
            self.script_text.append(data)
        else:
            self._text.append(data)

    @property
    def text(self) -> str:
        return " ".join(" ".join(self._text).split())

    def find(self, tag: str, **attrs: str) -> list[dict[str, str]]:
        wanted = {k.rstrip("_").replace("_", "-"): v for k, v in attrs.items()}
        return [
            a for t, a in self.tags if t == tag and all(a.get(k) == v for k, v in wanted.items())
        ]

    def hrefs(self) -> list[str]:
        return [a["href"] for t, a in self.tags if t == "a" and "href" in a]


def get_page(client: TestClient, url: str, status: int = 200) -> Page:
    response = client.get(url)
    assert response.status_code == status, (url, response.status_code)
    assert response.headers["content-type"].startswith("text/html")
    return Page(response.text)


def query_items(url: str) -> list[tuple[str, str]]:
    parts = urlsplit(url)
    assert parts.path == "/fiches", url
    return parse_qsl(parts.query, keep_blank_values=True)


def section_headings(page: Page) -> list[str]:
    html = page.html
    return re.findall(r'<h2 id="titre-(?:context|objectives|method|resources|results|lessons|'
                      r'transfer)">([^<]*)</h2>', html)  # fmt: skip


# --- Inert user content --------------------------------------------------------------------

OUR_SCRIPT = "/static/site.js"
OUR_SCRIPTS = {OUR_SCRIPT, "/static/combobox.js"}  # the suggestions and long facets
ALLOWED_FORMS = {"/fiches", "/deconnexion", "/besoins"}
ALLOWED_LINK_RELS = {"stylesheet", "icon", "alternate", "canonical"}
ALLOWED_META = {"viewport", "description", "robots"}
SAFE_SCHEMES = {"", "http", "https", "mailto"}
URL_ATTRIBUTES = ("href", "src", "action", "formaction", "poster", "data", "xlink:href")


def assert_inert(page: Page) -> None:
    """No executable markup other than our own: the check for every page showing user text."""
    for tag, attrs in page.tags:
        where = f"<{tag} {attrs}>"
        assert tag not in {"iframe", "object", "embed", "svg", "math", "style", "base", "frame"}, (
            where
        )
        if tag == "script":
            assert attrs.get("src") in OUR_SCRIPTS, where
        if tag == "form":
            assert attrs.get("action") in ALLOWED_FORMS, where
        if tag == "link":
            assert attrs.get("rel") in ALLOWED_LINK_RELS, where
        if tag == "meta":
            assert set(attrs) <= {"charset", "name", "content"}, where
            assert "charset" in attrs or attrs.get("name") in ALLOWED_META, where
        for name, value in attrs.items():
            assert not name.startswith("on"), where
            assert name not in {"style", "srcdoc", "http-equiv"}, where
            if name in URL_ATTRIBUTES:
                # Browsers drop ASCII whitespace and control characters inside a scheme.
                squeezed = re.sub(r"[\x00-\x20\x7f]", "", value).lower()
                match = re.match(r"([a-z][a-z0-9+.-]*):", squeezed)  # else a relative URL
                scheme = match.group(1) if match else ""
                assert scheme in SAFE_SCHEMES, where
                assert not squeezed.startswith(("//", "\\\\", "/\\")), where
    assert "".join(page.script_text).strip() == "", "inline script or style"


def load_xss_payloads() -> list[str]:
    lines = attack_cases("markdown-xss.jsonl").read_text("utf-8").splitlines()
    return [json.loads(line) for line in lines if line.strip()]


NASTY_TITLE = '<script>alert(1)</script>Jardin "piégé" <img src=x onerror=alert(1)>'
NASTY_SUMMARY = (
    '"><svg onload=alert(1)> Un résumé avec <a href="javascript:alert(1)">un lien</a>, '
    "jAvAsCrIpT:alert(1) et <style>body{display:none}</style>."
)
NASTY_PARTNERS = [
    "<b onmouseover=alert(1)>Bailleur</b>",
    "javascript:alert(1)",
    '" onfocus="alert(1)" autofocus="',
]
NASTY_REGIE = "Régie <img src=x onerror=alert(2)> du Canal"
NASTY_SLUG = "fiche-piegee"


@pytest.fixture
def nasty(app: FastAPI, client: TestClient) -> str:
    """Publish a fiche whose every field carries XSS payloads, and give its Régie one too."""
    payloads = load_xss_payloads()
    sections = {
        "context": "\n\n".join(payloads[: len(payloads) // 2]),
        "method": "\n\n".join(payloads[len(payloads) // 2 :]),
        "lessons": "[lien](javascript:alert(1)) [lien2](JaVaScRiPt&#58;alert(1)) "
        '<a href="java\nscript:alert(1)">x</a>',
    }
    data = FicheData(
        slug=NASTY_SLUG,
        title=NASTY_TITLE,
        summary=NASTY_SUMMARY,
        regie="regie-du-canal",
        themes=["insertion-emploi"],
        partners=NASTY_PARTNERS,
        year_start=2020,
        status="published",
        featured=True,
        published_at=datetime(2025, 1, 1, tzinfo=UTC).date(),
        sections=sections,
    )
    engine = app.state.engine
    with write_session(engine) as session:
        apply_data(session, WriteUp(slug=NASTY_SLUG, title=""), data, regie_ids=regie_ids(session))
        regie = the_regie(session, "regie-du-canal")
        regie.name = NASTY_REGIE
        regie.contact_email = '"><script>alert(3)</script>@example.org'
    app.state.index.catch_up(timeout=10)
    return NASTY_SLUG


def the_regie(session, slug: str) -> Regie:
    return session.execute(select(Regie).where(Regie.slug == slug)).scalar_one()


# --- Layout --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "url", ["/", "/fiches", "/fiches/jardin-partage-des-tilleuls", "/regies", "/nope"]
)
def test_layout_of_every_page(client, url):
    response = client.get(url)
    page = Page(response.text)
    assert response.text.lstrip().lower().startswith("<!doctype html>")
    assert page.find("html")[0]["lang"] == "fr"
    skip = page.tags[[t for t, _ in page.tags].index("a")]
    assert skip[1]["href"] == "#contenu" and "Aller au contenu" in page.text
    assert page.find("main", id="contenu")
    assert page.find("header") and page.find("footer")
    nav = page.find("nav", aria_label="Navigation principale")
    assert nav
    for label in ("Fiches", "Régies", "Contribuer", "Connexion"):
        assert label in page.text
    assert {"/fiches", "/regies", "/contribuer", "/connexion"} <= set(page.hrefs())
    # A search box with its label on every page (the home page has the large one).
    form = page.find("form", role="search")
    assert len(form) == 1 and form[0]["action"] == "/fiches" and form[0]["method"] == "get"
    assert page.find("label", for_="q") and page.find("input", id="q", name="q")
    assert "Rechercher une fiche" in page.text
    assert page.find("link", rel="alternate", type="application/atom+xml", href="/flux.atom")
    assert page.find("link", rel="stylesheet", href="/static/site.css")
    script = page.find("script", src=OUR_SCRIPT)
    assert script and "defer" in script[0]  # never render-blocking
    assert_inert(page)


def test_current_page_is_marked_in_navigation(client):
    page = get_page(client, "/fiches")
    assert [a["href"] for a in page.find("a", aria_current="page")] == ["/fiches"]
    page = get_page(client, "/regies")
    assert [a["href"] for a in page.find("a", aria_current="page")] == ["/regies"]


@pytest.mark.parametrize(
    "url",
    [
        "/",
        "/fiches",
        "/fiches?q=jardin",
        "/fiches/jardin-partage-des-tilleuls",
        "/regies",
        "/regies/regie-du-canal",
        "/flux.atom",
        "/nope",
    ],
)
def test_security_headers(client, url):
    headers = client.get(url).headers
    assert "default-src 'self'" in headers["content-security-policy"]
    assert headers["x-content-type-options"] == "nosniff"
    assert headers["x-frame-options"] == "DENY"
    assert headers["referrer-policy"] == "same-origin"
    assert "cache-control" not in headers or "no-store" not in headers["cache-control"]


def test_static_assets_are_served_and_small(client):
    total = 0
    for name, kind in (("site.css", "text/css"), ("site.js", "javascript"), ("favicon.svg", "svg")):
        response = client.get(f"/static/{name}")
        assert response.status_code == 200 and kind in response.headers["content-type"]
        total += len(gzip.compress(response.content))
    assert total <= 30_000
    assert (STATIC_DIR / "LICENSE.md").exists()
    css = (STATIC_DIR / "site.css").read_text("utf-8")
    assert "@media print" in css and "http" not in css.replace('href^="http"', "")


# --- Home ----------------------------------------------------------------------------------


def test_home(client):
    page = get_page(client, "/")
    text = page.text
    assert page.find("h1") and "Centre de ressources" in text
    assert "pour que" in text or "afin que" in text  # the one-line explanation
    assert "3 fiches publiées, par 3 Régies" in text
    assert "À la une" in text and "Dernières fiches publiées" in text
    links = page.hrefs()
    # The featured fiche is shown once (under "À la une"), the others as latest fiches.
    assert links.count("/fiches/jardin-partage-des-tilleuls") == 1
    assert "/fiches/laverie-solidaire-du-canal" in links
    assert "/fiches/atelier-velo-des-hauts-plateaux" in links
    for slug in HIDDEN:
        assert f"/fiches/{slug}" not in links
    assert re.search(r"Insertion et emploi\s*2\s*fiches", text)
    assert "/fiches?theme=insertion-emploi" in links
    assert page.find("input", id="q", **{"aria-describedby": "q-aide"})


# --- Library -------------------------------------------------------------------------------


def cards(page: Page) -> list[str]:
    """Return the slugs of the fiches a page links to, in order."""
    # Result links carry the search's log token (?s=…) for the radar; the slug is the path.
    return [
        h.removeprefix("/fiches/").split("?", 1)[0]
        for h in page.hrefs()
        if h.startswith("/fiches/")
    ]


def test_library_lists_published_fiches_with_facets(client):
    page = get_page(client, "/fiches")
    text = page.text
    assert "3 fiches" in text
    assert set(cards(page)) == PUBLISHED
    assert "Régie de quartier du Canal" in text and "Île-de-France" in text
    assert "Depuis 2019" in text and "Laverie" in text
    form = page.find("form", id="filtres")[0]
    assert form["action"] == "/fiches" and form["method"] == "get"
    boxes = page.find("input", type="checkbox")
    assert {b["name"] for b in boxes} == set(SLUG_FACETS)
    assert not any("checked" in b for b in boxes)
    ids = [b["id"] for b in boxes]
    assert len(ids) == len(set(ids))
    for box in boxes:  # every checkbox has its label
        assert page.find("label", for_=box["id"])
    assert re.search(r"Insertion et emploi\s*2\s*fiches", text)
    assert page.find("select", name="sort", form="filtres")
    assert page.find("input", name="year_min") and page.find("input", name="year_max")
    assert "Tout effacer" not in text


def test_ticked_facets_chips_and_toggles(client):
    url = "/fiches?q=&theme=insertion-emploi&region=la-reunion&region=ile-de-france"
    page = get_page(client, url)
    assert "2 fiches" in page.text
    assert set(cards(page)) == {"laverie-solidaire-du-canal", "atelier-velo-des-hauts-plateaux"}
    current = {
        ("theme", "insertion-emploi"),
        ("region", "la-reunion"),
        ("region", "ile-de-france"),
    }
    checked = {
        (b["name"], b["value"]) for b in page.find("input", type="checkbox") if "checked" in b
    }
    assert checked == current
    # Each chip removes exactly its own value; "Tout effacer" removes everything.
    chips = [a["href"] for a in page.find("a", class_="chip")]
    assert len(chips) == 3
    for href in chips:
        remaining = set(query_items(href))
        assert len(current - remaining) == 1 and remaining < current
    assert page.find("a", class_="chip-clear", href="/fiches")
    # Facet counts widen within a facet: both regions stay offered with their counts.
    assert re.search(r"La Réunion\s*1\s*fiche", page.text)


def test_every_generated_link_toggles_exactly_its_value(client):
    page = get_page(client, "/fiches?theme=insertion-emploi&audience=jeunes&year_min=2020")
    state = set(query_items("/fiches?theme=insertion-emploi&audience=jeunes&year_min=2020"))
    chips = [a["href"] for a in page.find("a", class_="chip")]
    removed = []
    for href in chips:
        remaining = set(query_items(href))
        assert remaining < state
        removed.append(state - remaining)
    assert removed == [
        {("theme", "insertion-emploi")},
        {("audience", "jeunes")},
        {("year_min", "2020")},
    ]
    # Checkboxes send name=value: ticking or unticking one changes exactly that pair.
    for box in page.find("input", type="checkbox"):
        pair = (box["name"], box["value"])
        assert ("checked" in box) == (pair in state)


def test_search_text_highlights_and_sort(client):
    page = get_page(client, "/fiches?q=laveries")
    assert "1 fiche pour « laveries »" in page.text
    assert "<mark>" in page.html
    page = get_page(client, "/fiches?q=insertion")
    options = {o["value"]: o for o in page.find("option")}
    assert list(options) == ["relevance", "recent", "title"]
    assert "selected" in options["relevance"]
    page = get_page(client, "/fiches?sort=title")
    assert cards(page) == [  # "Un jardin…" comes before "Une laverie…"
        "atelier-velo-des-hauts-plateaux",
        "jardin-partage-des-tilleuls",
        "laverie-solidaire-du-canal",
    ]
    assert "selected" in page.find("option", value="title")[0]
    assert [o["value"] for o in page.find("option")] == ["recent", "title"]


def test_pagination(client):
    page = get_page(client, "/fiches?page_size=1")
    assert "3 fiches" in page.text and "page 1 sur 3" in page.text
    nav = page.find("nav", aria_label="Pagination")
    assert nav
    current = page.find("a", aria_current="page")
    assert [a["href"] for a in current if a["href"].startswith("/fiches?")] == [
        "/fiches?page_size=1"
    ]
    nxt = page.find("a", rel="next")[0]["href"]
    assert set(query_items(nxt)) == {("page", "2"), ("page_size", "1")}
    page2 = get_page(client, nxt)
    assert "page 2 sur 3" in page2.text and len(cards(page2)) == 1
    assert page2.find("a", rel="prev")[0]["href"] == "/fiches?page_size=1"
    beyond = get_page(client, "/fiches?page=9")
    assert "La page 9 n’existe pas" in beyond.text
    assert "Aller à la dernière page" in beyond.text


def test_a_typo_is_corrected_and_the_typed_query_is_one_click_away(client):
    page = get_page(client, "/fiches?q=insertoin&region=la-reunion")
    assert "Résultats pour « insertion »." in page.text
    assert "Vouliez-vous dire" not in page.text
    link = next(h for h in page.hrefs() if "insertoin" in h)
    assert set(query_items(link)) == {("q", '"insertoin"'), ("region", "la-reunion")}
    exact = get_page(client, link)  # in quotes: searched as typed, never corrected
    assert "Résultats pour" not in exact.text


def test_did_you_mean(client):
    # Words in quotes are never corrected: "did you mean" offers the correction.
    page = get_page(client, '/fiches?q="insertoin"&region=la-reunion')
    assert "Vouliez-vous dire" in page.text
    link = next(h for h in page.hrefs() if h.startswith("/fiches?q=%22insertion"))
    assert set(query_items(link)) == {("q", '"insertion"'), ("region", "la-reunion")}


def test_zero_results_page_helps(client):
    page = get_page(client, "/fiches?q=laverie&region=la-reunion")
    text = page.text
    assert "Aucune fiche" in text and "Aucune fiche ne correspond" in text
    assert "Retirer « Région : La Réunion » (1 fiche)" in text
    assert "Sans les filtres, votre recherche donne 1 fiche" in text
    assert "/fiches?q=laverie" in page.hrefs()
    assert "Des thèmes proches" in text
    page = get_page(client, "/fiches?q=zzqxwv")
    assert "Des thèmes proches" in page.text
    assert any(h.startswith("/fiches?theme=") for h in page.hrefs())
    assert "Vérifiez l’orthographe" in page.text


def test_closest_themes_prefer_similar_labels():
    from resource_centre.web.library import closest_themes

    themes = {"insertion-emploi": "Insertion et emploi", "mobilite": "Mobilité"}
    counts = {"insertion-emploi": 5, "mobilite": 2}
    assert [t.value for t in closest_themes("mobilites", themes, counts)] == ["mobilite"]
    assert [t.value for t in closest_themes("zzz", themes, counts)] == [
        "insertion-emploi",
        "mobilite",
    ]


def test_ignored_parameters_give_notices(client):
    url = "/fiches?theme=inconnu&page=abc&year_min=x&sort=hasard&page_size=1000"
    page = get_page(client, url)
    notices = page.find("section", class_="notices")
    assert notices
    text = page.text
    assert "inconnue, elle est ignorée" in text and "n’est pas un nombre" in text
    assert "Le tri « hasard » n’existe pas" in text
    assert "3 fiches" in text
    # Links are built from the validated state: ignored values never come back.
    assert not any("inconnu" in h or "hasard" in h for h in page.hrefs())


def test_year_range_filter(client):
    page = get_page(client, "/fiches?year_min=2021")
    assert "Années : à partir de 2021" in page.text
    assert page.find("input", name="year_min", value="2021")


def test_attack_queries_render_pages(client):
    for q in attack_queries():
        q = q.encode("utf-8", "surrogatepass").decode("utf-8", "replace")
        response = client.get("/fiches", params={"q": q})
        assert response.status_code == 200, q
        assert_inert(Page(response.text))


def test_reflected_parameters_are_escaped(client):
    payload = '"><script>alert(1)</script><img src=x onerror=alert(1)>'
    response = client.get("/fiches", params={"q": payload, "theme": payload, "year_min": payload})
    assert response.status_code == 200
    page = Page(response.text)
    assert_inert(page)
    assert payload in page.text  # shown as text (title, chips, notices)
    assert page.find("input", id="q", value=payload)


# --- Fiche ---------------------------------------------------------------------------------


def test_fiche_page(client):
    response = client.get("/fiches/jardin-partage-des-tilleuls")
    page = Page(response.text)
    text = page.text
    assert page.find("h1")[0] is not None and "Un jardin partagé au pied des immeubles" in text
    assert section_headings(page) == [
        "Contexte",
        "Objectifs",
        "Démarche",
        "Résultats",
        "Enseignements",
        "Pour essaimer",
    ]  # "Moyens" is missing from this fiche: left out
    assert "<table>" in response.text and "<h3>Calendrier</h3>" in response.text
    assert page.find(
        "link", rel="canonical", href="http://testserver/fiches/jardin-partage-des-tilleuls"
    )
    expected_meta = {
        ("regie", "regie-des-trois-quartiers"),
        ("region", "bourgogne-franche-comte"),
        ("theme", "agriculture-urbaine"),
        ("theme", "lien-social"),
        ("activity", "jardin"),
        ("audience", "habitants"),
        ("audience", "familles"),
        ("scheme", "contrat-de-ville"),
    }
    single = {
        query_items(h)[0]
        for h in page.hrefs()
        if h.startswith("/fiches?") and len(query_items(h)) == 1
    }
    assert expected_meta <= single
    assert ("year_min", "2019") in {i for h in page.hrefs() if h.startswith("/fiches?")
                                    for i in query_items(h)}  # fmt: skip
    assert ("q", '"Bailleur Habitat 21"') in single
    for label in ("Régie", "Région", "Années", "Thèmes", "Publics", "Partenaires"):
        assert label in text
    assert "Publiée le 10 janvier 2023" in text
    today = format_date(datetime.now(ZoneInfo("Europe/Paris")).date(), "long", locale="fr_FR")
    assert f"Dernière mise à jour : {today}" in text
    # Visitors do not see contact details.
    assert "mailto:" not in response.text
    assert "visibles par les membres du réseau" in text


def test_related_fiches(client):
    page = get_page(client, "/fiches/laverie-solidaire-du-canal")
    assert "Fiches proches" in page.text
    assert "/fiches/atelier-velo-des-hauts-plateaux" in page.hrefs()


@pytest.mark.parametrize("slug", [*HIDDEN, "nope", "x" * 500, "..%2F..%2Fetc"])
def test_unpublished_or_unknown_fiche_is_404(client, slug):
    page = get_page(client, f"/fiches/{slug}", status=404)
    assert "Page introuvable" in page.text or "n'existe pas" in page.text
    assert page.find("form", role="search")


def test_contact_details_only_for_signed_in_users(app, client, login_as):
    with write_session(app.state.engine) as session:
        the_regie(session, "regie-du-canal").contact_email = "contact@regie-canal.example"
    assert "mailto:" not in client.get("/fiches/laverie-solidaire-du-canal").text
    assert "mailto:" not in client.get("/regies/regie-du-canal").text
    login_as("contributor")
    response = client.get("/fiches/laverie-solidaire-du-canal")
    assert "mailto:contact@regie-canal.example" in response.text
    assert "no-store" in response.headers["cache-control"]
    page = Page(response.text)
    assert "Se déconnecter" in page.text and page.find("form", action="/deconnexion")
    assert re.search(r'name="csrf_token" value="[0-9a-f]{128}"', response.text)
    other = client.get("/fiches/jardin-partage-des-tilleuls").text
    assert "par l’intermédiaire du réseau" in other and "mailto:" not in other
    assert "mailto:contact@regie-canal.example" in client.get("/regies/regie-du-canal").text


# --- Régies --------------------------------------------------------------------------------


def test_regies_grouped_by_region(client):
    page = get_page(client, "/regies")
    headings = re.findall(r'<h2 id="titre-region-[^"]+">([^<]*)</h2>', page.html)
    assert headings == ["Bourgogne-Franche-Comté", "Île-de-France", "La Réunion"]
    text = page.text
    assert "Régie des Trois Quartiers" in text and "1 fiche" in text
    assert "/regies/regie-du-canal" in page.hrefs()


def test_regie_page(client):
    page = get_page(client, "/regies/regie-des-trois-quartiers")
    text = page.text
    assert "Régie des Trois Quartiers" in text and "Régie de quartier" in text
    assert "Dijon" in text and "Bourgogne-Franche-Comté" in text
    assert cards(page) == ["jardin-partage-des-tilleuls"]  # drafts and archives hidden
    assert "/fiches?region=bourgogne-franche-comte" in page.hrefs()
    get_page(client, "/regies/inconnue", status=404)


# --- Atom ----------------------------------------------------------------------------------


def test_atom_feed(client):
    response = client.get("/flux.atom")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/atom+xml")
    root = ET.fromstring(response.content)
    assert root.tag == f"{ATOM}feed"
    for name in ("id", "title", "updated", "author"):
        assert root.find(f"{ATOM}{name}") is not None, name
    assert root.find(f"{ATOM}link[@rel='self']").get("href") == "http://testserver/flux.atom"
    entries = root.findall(f"{ATOM}entry")
    ids = [e.find(f"{ATOM}id").text for e in entries]
    assert ids == [
        "http://testserver/fiches/atelier-velo-des-hauts-plateaux",  # 2024-09-15
        "http://testserver/fiches/jardin-partage-des-tilleuls",  # 2023-01-10
        "http://testserver/fiches/laverie-solidaire-du-canal",  # 2022-05-03
    ]  # published only, newest first
    published = [e.find(f"{ATOM}published").text for e in entries]
    assert published == sorted(published, reverse=True)
    for entry in entries:
        for name in ("title", "updated", "summary", "link"):
            assert entry.find(f"{ATOM}{name}") is not None
        updated = entry.find(f"{ATOM}updated").text
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", updated)


# --- Inert everywhere ----------------------------------------------------------------------


def test_xss_payloads_render_inert_on_every_page(client, nasty, login_as):
    urls = [
        "/",
        "/fiches",
        "/fiches?q=jardin",
        "/fiches?q=bailleur",
        f"/fiches/{nasty}",
        "/regies",
        "/regies/regie-du-canal",
        "/fiches/laverie-solidaire-du-canal",
    ]
    for url in urls:
        response = client.get(url)
        assert response.status_code == 200, url
        page = Page(response.text)
        assert_inert(page)
        if url != "/regies":
            assert "<script>alert(1)</script>" not in response.text
    fiche = Page(client.get(f"/fiches/{nasty}").text)
    # The user's text is shown as text.
    assert NASTY_TITLE in fiche.text
    assert "<b onmouseover=alert(1)>Bailleur</b>" in fiche.text
    assert NASTY_REGIE in fiche.text
    home = Page(client.get("/").text)
    assert NASTY_TITLE in home.text  # featured: from the database
    library = Page(client.get("/fiches?q=jardin").text)
    assert "<mark>" in library.html and "Jardin" in library.text
    login_as("contributor")
    for url in (f"/fiches/{nasty}", "/regies/regie-du-canal"):
        page = Page(client.get(url).text)
        assert_inert(page)
        assert '"><script>alert(3)</script>@example.org' in page.text


def test_feed_stays_well_formed_with_nasty_fiches(client, nasty):
    response = client.get("/flux.atom")
    root = ET.fromstring(response.content)
    entry = root.find(f"{ATOM}entry")
    assert entry.find(f"{ATOM}title").text == NASTY_TITLE
    assert entry.find(f"{ATOM}summary").text == NASTY_SUMMARY
    assert entry.find(f"{ATOM}author/{ATOM}name").text == NASTY_REGIE
    assert b"<script>" not in response.content


# --- Errors and access ---------------------------------------------------------------------


@pytest.fixture
def error_client(app: FastAPI):
    def forbidden() -> None:
        raise HTTPException(403)

    def broken() -> None:
        raise RuntimeError("boom")

    app.add_api_route("/_test/403", forbidden)
    app.add_api_route("/_test/500", broken)
    with TestClient(app, raise_server_exceptions=False) as test_client:
        yield test_client


@pytest.mark.parametrize(
    ("url", "status", "title"),
    [
        ("/page-inconnue", 404, "Page introuvable"),
        ("/_test/403", 403, "Accès refusé"),
        ("/_test/500", 500, "Erreur du serveur"),
    ],
)
def test_error_pages_are_french_and_keep_the_search_box(error_client, url, status, title):
    response = error_client.get(url)
    assert response.status_code == status
    page = Page(response.text)
    assert page.find("html")[0]["lang"] == "fr"
    assert title in page.text and f"Erreur {status}" in page.text
    assert page.find("form", role="search") and page.find("input", name="q")
    assert "Référence de la requête" in page.text
    assert "Traceback" not in response.text and "boom" not in response.text
    assert_inert(page)


def make_private_user(app: FastAPI):
    with write_session(app.state.engine) as session:
        return create_user(
            session, email="membre@exemple.org", password=PASSWORD, role="contributor",
            regie_slug="regie-du-canal",
        )  # fmt: skip


def test_private_library_sends_visitors_to_sign_in(tmp_path: Path):
    app = create_app(build_settings(tmp_path, public_read=False))
    with TestClient(app) as visitor:
        for url in ("/", "/fiches?q=jardin", "/fiches/jardin-partage-des-tilleuls", "/regies",
                    "/flux.atom"):  # fmt: skip
            response = visitor.get(url, follow_redirects=False)
            assert response.status_code == 303, url
            location = response.headers["location"]
            assert location.startswith("/connexion?next=")
            assert dict(parse_qsl(urlsplit(location).query))["next"] == url
        user = make_private_user(app)
        assert login(visitor, user).status_code == 303
        assert visitor.get("/fiches").status_code == 200
        assert visitor.get("/flux.atom").status_code == 200


def test_page_weight(client):
    response = client.get("/fiches")
    assert len(gzip.compress(response.content)) <= 60_000
