"""Issue 14, reading side: the `kind` facet (fiche | express) through `/api/writeups` and
`/fiches`, the section « Place des habitants » in searches, the fiche's new API fields (kind,
figures, interview request for curators and the Régie only, network note, attachments), the
fiche page (express badge, partners with roles, figures in « En bref », network note, titled
documents) and the activities' figure ranges (« Repères chiffrés »)."""

from __future__ import annotations

import itertools
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi import FastAPI
from sqlalchemy.exc import OperationalError
from sqlmodel import select
from starlette.testclient import TestClient

from resource_centre.auth import create_user
from resource_centre.db import write_session
from resource_centre.figure_ranges import shared_cache
from resource_centre.models import Attachment, User, WriteUp
from resource_centre.search.schema import document_from
from resource_centre.web.app import create_app
from tests.conftest import TEST_KNOWLEDGE
from tests.web.conftest import PASSWORD, build_settings, login
from tests.web.test_library import Page, assert_inert, get_page

TILLEULS = "laverie-des-tilleuls"
EXPRESS = "laverie-express-du-canal"
GARE = "laverie-de-la-gare"
NBSP, NNBSP = "\u00a0", "\u202f"

FICHES = {
    TILLEULS: """---
title: Une deuxième laverie aux Tilleuls
regie: regie-des-trois-quartiers
themes: [lien-social]
activity: laverie
audiences: [habitants]
schemes: [contrat-de-ville, aci]
partners: [Ville de Dijon — finance l'équipement, Bailleur Habitat 21]
year_start: 2020
year_end: null
status: published
featured: false
published_at: 2023-06-01
figures: {cost_eur: 120000, funding_eur: {contrat-de-ville: 30000, aci: 20000}, insertion_jobs: 4, people_reached: 1200, setup_months: 12}
network_note: >-
  À reprendre : le **tarif unique** décidé avec les locataires.
summary: Une laverie ouverte avec les locataires, qui en ont fixé les horaires.
---

## Contexte

Aucune laverie dans le quartier.

## Démarche

Local loué au bailleur, huit machines.

## Place des habitants

Un atelier tricot réunit les habitantes pendant les lavages ; les horaires ont été votés en
assemblée de locataires.

## Enseignements

Le tarif unique simplifie la caisse.
""",
    EXPRESS: """---
title: Laverie express du Canal
regie: regie-du-canal
themes: [modele-economique]
activity: laverie
audiences: []
schemes: []
partners: []
year_start: null
year_end: null
status: published
featured: false
published_at: 2024-02-01
kind: express
interview_requested: true
figures: {cost_eur: 35000, people_reached: 300}
summary: Une petite laverie ouverte en six mois, racontée en six questions.
---

## Démarche

Deux machines dans la loge d'un gardien.

## Enseignements

Commencer petit, puis agrandir.
""",
    GARE: """---
title: La laverie de la gare
regie: regie-des-hauts-plateaux
themes: [insertion-emploi]
activity: laverie
audiences: []
schemes: []
partners: []
year_start: 2021
year_end: null
status: published
featured: false
published_at: 2024-03-01
figures: {cost_eur: 60000, setup_months: 4}
summary: Une laverie près de la gare routière.
---

## Contexte

Les voyageurs cherchaient où laver leur linge.

## Démarche

Un conteneur aménagé.

## Enseignements

Le conteneur coûte moins cher qu'un local.
""",
    # Not published: their figures count for no range.
    "laverie-en-projet": """---
title: Laverie en projet
regie: regie-du-canal
themes: [lien-social]
activity: laverie
audiences: []
schemes: []
partners: []
year_start: 2025
year_end: null
status: draft
featured: false
published_at: null
figures: {cost_eur: 900000, insertion_jobs: 9}
summary: ''
---

## Contexte

Un projet.
""",
    "laverie-fermee": """---
title: Une laverie fermée
regie: regie-du-canal
themes: [lien-social]
activity: laverie
audiences: []
schemes: []
partners: []
year_start: 2010
year_end: 2012
status: archived
featured: false
published_at: 2011-01-01
figures: {cost_eur: 5000, insertion_jobs: 1}
summary: Une laverie qui a fermé.
---

## Contexte

Fermée.

## Démarche

Fermée.

## Enseignements

Fermée.
""",
}


@pytest.fixture(scope="module")
def extras_app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FastAPI]:
    """The app on a copy of the test library with the fiches above (module scope)."""
    work = tmp_path_factory.mktemp("fiche-extras")
    knowledge = work / "knowledge"
    shutil.copytree(TEST_KNOWLEDGE, knowledge)
    for slug, text in FICHES.items():
        (knowledge / "fiches" / f"{slug}.md").write_text(text, encoding="utf-8")
    app = create_app(build_settings(work, knowledge))
    with TestClient(app):  # lifespan once: index built and caught up
        add_attachments(app)
        yield app


def add_attachments(app: FastAPI) -> None:
    """Two documents of the Tilleuls fiche, one with a title (the corpus does not store
    files yet: written here as an upload would)."""
    store = app.state.attachments
    store.ensure()
    with write_session(app.state.engine) as session:
        fiche = session.execute(select(WriteUp).where(WriteUp.slug == TILLEULS)).scalar_one()
        for stored, name, title in (
            ("a" * 32 + ".pdf", "fiche-de-poste.pdf", "Fiche de poste de l'agent de laverie"),
            ("b" * 32 + ".csv", "budget.csv", None),
        ):
            data = b"%PDF-1.4 test" if stored.endswith(".pdf") else b"poste;euros\nmachines;40000\n"
            store.put(stored, data)
            session.add(
                Attachment(
                    writeup_id=fiche.id, stored_name=stored, original_name=name, title=title,
                    content_type="application/pdf" if name.endswith(".pdf") else "text/csv",
                    size=len(data),
                )
            )  # fmt: skip


@pytest.fixture
def client(extras_app: FastAPI) -> Iterator[TestClient]:
    """A fresh browser (no cookies) on the module's app."""
    test_client = TestClient(extras_app, raise_server_exceptions=False)
    try:
        yield test_client
    finally:
        test_client.close()


def api(client: TestClient, *pairs: tuple[str, str]) -> dict:
    response = client.get("/api/writeups", params=list(pairs))
    assert response.status_code == 200, response.text
    return response.json()


# --- the kind facet ------------------------------------------------------------------------


def test_api_counts_and_filters_the_kinds(client: TestClient) -> None:
    body = api(client)
    assert body["total"] == 6
    assert body["facets"]["kind"] == [
        {"value": "fiche", "label": "Fiche complète", "count": 5},
        {"value": "express", "label": "Fiche express", "count": 1},
    ]
    express = api(client, ("kind", "express"))
    assert [h["slug"] for h in express["data"]] == [EXPRESS]
    assert express["data"][0]["kind"] == "express" and express["notices"] == []
    # The facet's own filter is not applied to its counts; the others' are.
    assert {f["value"]: f["count"] for f in express["facets"]["kind"]} == {
        "fiche": 5, "express": 1,
    }  # fmt: skip
    laveries = api(client, ("activity", "laverie"), ("kind", "fiche"))
    assert {h["slug"] for h in laveries["data"]} == {TILLEULS, GARE, "laverie-solidaire-du-canal"}
    assert all(h["kind"] == "fiche" for h in laveries["data"])
    both = api(client, ("kind", "fiche"), ("kind", "express"))
    assert both["total"] == 6
    unknown = api(client, ("kind", "longue"))
    assert unknown["total"] == 6
    assert unknown["notices"] == [
        "Filtre « Format » : la valeur « longue » est inconnue, elle est ignorée."
    ]


def test_the_library_page_has_the_kind_facet_and_chip(client: TestClient) -> None:
    page = get_page(client, "/fiches")
    boxes = {b["value"]: b for b in page.find("input", type="checkbox", name="kind")}
    assert set(boxes) == {"fiche", "express"}
    assert "Format" in page.text and "Fiche express" in page.text
    filtered = get_page(client, "/fiches?kind=express")
    assert_inert(filtered)
    assert "1 fiche" in filtered.text
    assert [a for a in filtered.find("input", type="checkbox", name="kind") if "checked" in a]
    slugs = {h.split("?")[0].removeprefix("/fiches/") for h in filtered.hrefs()}
    assert EXPRESS in slugs and TILLEULS not in slugs
    assert "Format : Fiche express" in filtered.text  # the filter chip
    chip = [a for a in filtered.find("a", class_="chip")]
    assert chip and all("kind=" not in a["href"] for a in chip)
    assert client.get("/fiches/filtres/kind").status_code == 200
    # The express fiche's card says so; the full fiches' cards do not.
    assert len(filtered.find("span", class_="card-kind")) == 1
    full = get_page(client, "/fiches?kind=fiche")
    assert full.find("span", class_="card-kind") == []


# --- the section « Place des habitants » -----------------------------------------------------


def test_residents_section_is_searched_and_matched(client: TestClient) -> None:
    body = api(client, ("q", "tricot"), ("section", "residents"))
    assert [h["slug"] for h in body["data"]] == [TILLEULS] and body["notices"] == []
    hit = body["data"][0]
    assert hit["matched_sections"] == ["residents"]
    assert "atelier <mark>tricot</mark>" in hit["highlights"]["body"]
    assert api(client, ("q", "tricot"), ("section", "lessons"))["total"] == 0
    assert api(client, ("q", "tricot"))["data"][0]["matched_sections"] == ["residents"]
    page = get_page(client, "/fiches?q=tricot&section=residents")
    assert "Recherche limitée à : Place des habitants" in page.text
    assert "Trouvé dans : Place des habitants" in page.text


# --- the fiche through the API ---------------------------------------------------------------


def test_api_fiche_gives_the_new_fields(client: TestClient) -> None:
    body = client.get(f"/api/writeups/{TILLEULS}").json()
    assert body["kind"] == "fiche"
    assert body["figures"] == {
        "cost_eur": 120000,
        "funding_eur": {"contrat-de-ville": 30000, "aci": 20000},
        "insertion_jobs": 4,
        "people_reached": 1200,
        "setup_months": 12,
    }
    assert body["network_note"] == "À reprendre : le **tarif unique** décidé avec les locataires."
    assert "<strong>tarif unique</strong>" in body["network_note_html"]
    assert body["sections"]["residents"].startswith("Un atelier tricot")
    assert "<p>Un atelier tricot" in body["html"]["residents"]
    assert list(body["sections"]) == ["context", "method", "residents", "lessons"]
    assert body["partners"] == ["Ville de Dijon — finance l'équipement", "Bailleur Habitat 21"]
    titled, untitled = body["attachments"]
    assert titled["title"] == "Fiche de poste de l'agent de laverie"
    assert titled["name"] == "fiche-de-poste.pdf" and titled["content_type"] == "application/pdf"
    assert titled["size"] == len(b"%PDF-1.4 test")
    assert titled["url"].startswith(f"http://testserver/fiches/{TILLEULS}/pieces-jointes/")
    assert untitled["title"] == untitled["name"] == "budget.csv"
    download = client.get(titled["url"].removeprefix("http://testserver"))
    assert download.status_code == 200 and download.content == b"%PDF-1.4 test"
    assert "interview_requested" not in body  # review data: not for visitors
    express = client.get(f"/api/writeups/{EXPRESS}").json()
    assert express["kind"] == "express" and express["attachments"] == []
    assert express["network_note"] is None and express["network_note_html"] is None
    assert "interview_requested" not in express


@pytest.mark.parametrize(
    ("role", "regie", "sees"),
    [
        ("curator", None, True),
        ("admin", None, True),
        ("contributor", "regie-du-canal", True),  # the fiche's Régie
        ("contributor", "regie-des-trois-quartiers", False),
    ],
)
def test_interview_request_is_review_data(
    client: TestClient, make_user, role: str, regie: str | None, sees: bool
) -> None:
    user = make_user(role, regie=regie)
    assert login(client, user).status_code == 303
    body = client.get(f"/api/writeups/{EXPRESS}").json()
    if sees:
        assert body["interview_requested"] is True
        tilleuls = client.get(f"/api/writeups/{TILLEULS}").json()
        assert ("interview_requested" in tilleuls) is (role != "contributor")
    else:
        assert "interview_requested" not in body


_ACCOUNTS = itertools.count()  # the module's app keeps its accounts from test to test


@pytest.fixture
def make_user(extras_app: FastAPI):
    def make(role: str, regie: str | None = None) -> User:
        with write_session(extras_app.state.engine) as session:
            return create_user(
                session, email=f"extras-{role}-{next(_ACCOUNTS)}@exemple.org",
                password=PASSWORD, role=role, regie_slug=regie,
            )  # fmt: skip

    return make


# --- the fiche page --------------------------------------------------------------------------


def section_headings(page: Page) -> list[str]:
    return [
        page.html.split(f'id="titre-{key}">')[1].split("</h2>")[0]
        for key in ("context", "method", "residents", "lessons")
        if f'id="titre-{key}">' in page.html
    ]


def test_fiche_page_shows_figures_partners_note_and_documents(client: TestClient) -> None:
    page = get_page(client, f"/fiches/{TILLEULS}")
    assert_inert(page)
    text = page.text
    assert page.find("link", rel="stylesheet", href="/static/fiche-extras.css")
    # The new section in its place, between the method and the lessons.
    assert section_headings(page) == [
        "Contexte",
        "Démarche",
        "Place des habitants",
        "Enseignements",
    ]
    html = page.html
    assert html.index('id="residents"') < html.index('id="lessons"')
    # « En bref »: figures worded in French, funding by scheme label.
    assert "Chiffres clés" in text
    for label, value in (
        ("Coût", f"120{NNBSP}000{NBSP}€"),
        ("Financements", f"Contrat de ville : 30{NNBSP}000{NBSP}€ ; "
                         f"Atelier et chantier d'insertion (ACI) : 20{NNBSP}000{NBSP}€"),
        ("Emplois en insertion", "4"),
        ("Personnes touchées par an", f"1{NNBSP}200"),
        ("Mois de mise en place", "12"),
    ):  # fmt: skip
        assert f"<dt>{label}</dt>\n          <dd>{value}</dd>".replace("'", "&#39;") in html, label
    # Partners as "Nom — rôle", the name a link to the fiches naming it.
    assert "Ville de Dijon</a> — finance l&#39;équipement" in html
    assert "Bailleur Habitat 21</a></li>" in html
    assert "/fiches?q=%22Ville+de+Dijon%22" in page.hrefs()
    # Format: a link to the fiches of the same kind; no express badge on a full fiche.
    assert "/fiches?kind=fiche" in page.hrefs() and "Fiche complète" in text
    assert '<p class="fiche-kind">' not in html and "fiche courte" not in text
    # The network's note, rendered.
    assert "Regard du réseau" in text and "<strong>tarif unique</strong>" in html
    assert '<a href="#regard-du-reseau">' in html
    # The documents: the title when there is one, the file's name otherwise.
    links = [a["href"] for a in page.find("a") if "/pieces-jointes/" in a.get("href", "")]
    assert len(links) == 2
    assert "Fiche de poste de l&#39;agent de laverie</a>" in html
    assert "(PDF, moins de 1 Ko, fiche-de-poste.pdf)" in text
    assert "budget.csv</a> <span" in html and "(CSV, moins de 1 Ko)" in text


def test_express_fiche_page_has_its_badge(client: TestClient) -> None:
    page = get_page(client, f"/fiches/{EXPRESS}")
    assert_inert(page)
    badge = page.html.split('<p class="fiche-kind">')[1].split("</p>")[0]
    assert "Fiche express" in badge and "fiche courte : six questions" in badge
    assert "/fiches?kind=express" in page.hrefs()
    # Sections it has, figures it gives; nothing of what it lacks.
    assert section_headings(page) == ["Démarche", "Enseignements"]
    assert f"35{NNBSP}000{NBSP}€" in page.html and "Financements" not in page.text
    assert "Regard du réseau" not in page.text and "Documents" not in page.text
    assert "Partenaires" not in page.text
    assert "entretien" not in page.text  # the interview request is not shown to visitors


# --- ranges per activity -------------------------------------------------------------------

RANGES = [
    f"Coût : de 35 à 120{NBSP}k€ sur 3 fiches",
    f"Personnes touchées par an : de 300 à 1{NNBSP}200 sur 2 fiches",
    f"Mise en place : de 4 à 12{NBSP}mois sur 2 fiches",
]


def ranges_block(page: Page) -> list[str]:
    block = page.html.split('<section class="figure-ranges"')[1].split("</section>")[0]
    return [item.split("</li>")[0] for item in block.split("<li>")[1:]]


def test_activity_page_shows_its_figure_ranges(client: TestClient, extras_app: FastAPI) -> None:
    page = get_page(client, "/fiches?activity=laverie&kind=fiche")
    assert_inert(page)
    assert "Repères chiffrés : Laverie solidaire" in page.text
    # Over every published fiche of the activity, whatever the other filters: the express
    # fiche's cost counts although only full fiches are listed.
    assert ranges_block(page) == RANGES
    assert page.find("link", rel="stylesheet", href="/static/fiche-extras.css")
    # Not for two activities, nor without one, nor for an activity without ranges.
    for url in ("/fiches?activity=laverie&activity=jardin", "/fiches", "/fiches?activity=jardin"):
        other = get_page(client, url)
        assert "Repères chiffrés" not in other.text and "fiche-extras.css" not in other.html


def test_facet_page_of_activities_shows_ranges(client: TestClient) -> None:
    page = get_page(client, "/fiches/filtres/activity")
    assert_inert(page)
    html = page.html
    laverie = html.split('<label for="v-laverie">')[1].split("</ul>")[0]
    assert 'aria-label="Repères chiffrés : Laverie solidaire"' in laverie
    assert [item.split("</li>")[0] for item in laverie.split("<li>")[1:]] == RANGES
    assert "ses repères chiffrés" in page.text
    jardin = html.split('<label for="v-jardin">')[1].split("</li>")[0]
    assert "range-list" not in jardin
    assert "range-list" not in get_page(client, "/fiches/filtres/theme").html


def test_ranges_are_read_once_not_per_search(client: TestClient, extras_app: FastAPI) -> None:
    cache = shared_cache(extras_app.state, extras_app.state.engine)
    before = cache.reads
    for _ in range(5):
        get_page(client, "/fiches?activity=laverie")
        get_page(client, "/fiches/filtres/activity")
        get_page(client, "/fiches?q=laverie")
    assert cache.reads - before <= 1  # one read at most (the first of this cache)
    assert cache.reads >= 1


def test_no_fixture_file_left_behind() -> None:
    # The module's knowledge folder is a copy: the shared test corpus is unchanged.
    assert not (Path(TEST_KNOWLEDGE) / "fiches" / f"{TILLEULS}.md").exists()


# --- the index document and the OpenAPI document ----------------------------------------------


def test_index_document_holds_the_kind_but_not_its_label() -> None:
    express = document_from(WriteUp(slug="x", title="X", kind="express"), None, LABELS)
    assert express["kind"] == "express" and "Fiche express" not in express["body"]
    assert document_from(WriteUp(slug="y", title="Y"), None, LABELS)["kind"] == "fiche"
    assert document_from(WriteUp(slug="z", title="Z", kind="??"), None, LABELS)["kind"] == "fiche"


LABELS = {"kind": {"fiche": "Fiche complète", "express": "Fiche express"}}


def test_openapi_documents_the_kind_and_the_fiche_fields(client: TestClient) -> None:
    spec = client.get("/openapi.json").json()
    parameters = {p["name"]: p for p in spec["paths"]["/api/writeups"]["get"]["parameters"]}
    kind = parameters["kind"]
    assert kind["schema"]["items"]["enum"] == ["fiche", "express"] and kind["explode"] is True
    assert "`express` (fiche express)" in kind["description"]
    fields = spec["components"]["schemas"]["WriteUpDetail"]["properties"]
    for name in (
        "kind", "figures", "interview_requested", "network_note", "network_note_html",
        "attachments",
    ):  # fmt: skip
        assert name in fields, name
    required = spec["components"]["schemas"]["WriteUpDetail"]["required"]
    assert "interview_requested" not in required
    attachment = spec["components"]["schemas"]["AttachmentOut"]["properties"]
    assert set(attachment) == {"title", "name", "url", "size", "content_type"}
    example = spec["paths"]["/api/writeups/{slug}"]["get"]["responses"]["200"]["content"]
    assert "residents" in example["application/json"]["example"]["sections"]


def test_pages_do_without_ranges_when_the_database_fails(
    client: TestClient, extras_app: FastAPI, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(session: object) -> dict:
        raise OperationalError("SELECT", {}, Exception("base indisponible"))

    monkeypatch.setattr("resource_centre.figure_ranges.load_ranges", broken)
    # A fresh cache, nothing read yet.
    monkeypatch.setattr(extras_app.state, "figure_ranges", None, raising=False)
    page = get_page(client, "/fiches?activity=laverie")
    assert "Repères chiffrés" not in page.text and "4 fiches" in page.text
    assert "range-list" not in get_page(client, "/fiches/filtres/activity").html
