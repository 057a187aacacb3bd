"""The glossary over HTTP: the public page, the curators' page (roles, CSRF, French errors
that keep what was typed, audit), hostile input on SQLite and PostgreSQL, and the search
using an edited entry."""

from __future__ import annotations

import html
import re
import shutil
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi import FastAPI
from sqlalchemy import event, select
from starlette.testclient import TestClient

from resource_centre.auth import create_user
from resource_centre.corpus import import_corpus
from resource_centre.db import make_engine, migrate, read_session, write_session
from resource_centre.glossary import load_entries, load_glossary
from resource_centre.models import AuditEvent, GlossaryEntry, User
from resource_centre.search import service as service_module
from resource_centre.web.app import create_app
from tests.conftest import DEMO_KNOWLEDGE, TEST_KNOWLEDGE, make_settings
from tests.web.conftest import PASSWORD, csrf_of, login

FRENCH = re.compile(r"[éèêàçùô’]|\b(la|le|les|des|une|est|pas|introuvable|page)\b", re.I)


def import_glossary(engine, tmp_path: Path) -> None:
    """The shipped starter glossary, imported alone."""
    folder = tmp_path / "glossaire"
    folder.mkdir()
    shutil.copy(DEMO_KNOWLEDGE / "glossary.yaml", folder / "glossary.yaml")
    report = import_corpus(engine, folder)
    assert report.ok and report.glossary_entries, report.problems


@pytest.fixture
def glossary(app: FastAPI, tmp_path: Path) -> list[GlossaryEntry]:
    import_glossary(app.state.engine, tmp_path)
    with read_session(app.state.engine) as session:
        return load_entries(session)


def entry(app: FastAPI, term: str) -> GlossaryEntry | None:
    with read_session(app.state.engine) as session:
        return session.execute(
            select(GlossaryEntry).where(GlossaryEntry.term == term)
        ).scalar_one_or_none()


def events(app: FastAPI) -> list[tuple[str, str | None]]:
    with read_session(app.state.engine) as session:
        rows = session.execute(
            select(AuditEvent.action, AuditEvent.comment).where(
                AuditEvent.action.startswith("glossary_")  # type: ignore[attr-defined]
            )
        ).all()
    return [tuple(r) for r in rows]


def form(client: TestClient, page: str, **fields: str) -> dict[str, str]:
    """The fields of an entry form with the CSRF token of `page`."""
    values = {"term": "", "kind": "acronym", "expansions": "", "definition": ""}
    return {"csrf_token": csrf_of(client.get(page).text), **values, **fields}


# --- the public page -------------------------------------------------------------------------


def test_public_page_lists_every_entry_by_letter_with_anchors(client, glossary):
    page = client.get("/glossaire")
    assert page.status_code == 200
    text = html.unescape(page.text)
    assert "Les sigles et les mots du secteur, expliqués simplement" in text
    positions = []
    for item in glossary:
        anchor = re.search(rf'<dt id="([a-z0-9-]+)"><dfn>{re.escape(item.term)}</dfn>', text)
        assert anchor, item.term
        positions.append(anchor.start())
        assert item.definition in text, item.term
        for form_ in item.expansions:
            assert form_ in text, (item.term, form_)
    assert positions == sorted(positions)  # alphabetical
    assert '<dt id="iae"><dfn>IAE</dfn> <span class="glossary-long">: insertion par' in text
    assert '<dt id="jardin-partage"><dfn>jardin partagé</dfn>' in text
    letters = re.findall(r'<a href="#lettre-([a-z]+)">', text)
    assert letters[:3] == ["a", "b", "c"] and "q" in letters and "x" not in letters
    for letter in letters:
        assert f'<section class="glossary-letter" id="lettre-{letter}"' in text
    assert 'href="/fiches?q=IAE"' in text


def test_glossary_is_linked_from_the_navigation_and_the_footer(client):
    home = client.get("/").text
    nav, footer = home.split('<main id="contenu"')
    assert 'href="/glossaire"' in nav and 'href="/glossaire"' in footer
    assert '<a href="/glossaire" aria-current="page">' in client.get("/glossaire").text


def test_empty_glossary_page_says_so(client):
    assert "Le glossaire est encore vide." in client.get("/glossaire").text


# --- the curators' page: roles and CSRF ------------------------------------------------------


def test_curation_page_is_for_curators_only(client, app, make_user, glossary):
    response = client.get("/curation/glossaire", follow_redirects=False)
    assert response.status_code == 303 and "/connexion" in response.headers["location"]
    contributor = make_user("contributor")
    assert login(client, contributor).status_code == 303
    token = csrf_of(client.get("/mon-compte").text)
    assert client.get("/curation/glossaire").status_code == 403
    iae = entry(app, "IAE")
    for path in ("/curation/glossaire", f"/curation/glossaire/{iae.id}"):
        data = {"csrf_token": token, "term": "IAE", "kind": "acronym", "expansions": "x"}
        assert client.post(path, data=data).status_code == 403
    deleted = client.post(f"/curation/glossaire/{iae.id}/supprimer", data={"csrf_token": token})
    assert deleted.status_code == 403
    assert entry(app, "IAE").expansions == iae.expansions
    assert events(app) == []


def test_curator_sees_every_entry(client, login_as, glossary):
    login_as("curator")
    page = client.get("/curation/glossaire")
    assert page.status_code == 200
    text = html.unescape(page.text)
    assert f"Les entrées ({len(glossary)})" in text
    for item in glossary:
        assert f'href="/curation/glossaire/{item.id}"' in text


def test_forms_without_the_csrf_token_are_refused(client, app, login_as, glossary):
    login_as("curator")
    iae = entry(app, "IAE")
    data = {"term": "NOUVEAU", "kind": "acronym", "expansions": "un nouveau sigle"}
    for path, fields in (
        ("/curation/glossaire", data),
        (f"/curation/glossaire/{iae.id}", data),
        (f"/curation/glossaire/{iae.id}/supprimer", {}),
    ):
        for token in ({}, {"csrf_token": "0" * 128}):
            response = client.post(path, data={**fields, **token})
            assert response.status_code == 403, path
            assert "Le formulaire a expiré" in html.unescape(response.text)
    assert entry(app, "NOUVEAU") is None and entry(app, "IAE") is not None
    assert events(app) == []


# --- add, edit, delete -----------------------------------------------------------------------


def test_curator_adds_edits_and_deletes_an_entry(client, app, login_as, glossary):
    login_as("curator")
    data = form(client, "/curation/glossaire", term="CESF", kind="acronym",
                expansions="conseillère en économie sociale et familiale\r\n\r\nconseiller ESF",
                definition="Travailleur social qui aide les familles à gérer leur budget.")  # fmt: skip
    added = client.post("/curation/glossaire", data=data, follow_redirects=False)
    assert added.status_code == 303 and added.headers["location"] == "/curation/glossaire"
    created = entry(app, "CESF")
    assert created.expansions == ["conseillère en économie sociale et familiale", "conseiller ESF"]
    listing = html.unescape(client.get("/curation/glossaire").text)
    assert "« CESF » est ajouté au glossaire" in listing
    assert '<dt id="cesf"><dfn>CESF</dfn>' in client.get("/glossaire").text

    page = f"/curation/glossaire/{created.id}"
    assert "conseiller ESF" in html.unescape(client.get(page).text)
    data = form(client, page, term="CESF", kind="acronym",
                expansions="conseiller en économie sociale et familiale",
                definition="Nouvelle définition.")  # fmt: skip
    saved = client.post(page, data=data, follow_redirects=False)
    assert saved.status_code == 303
    changed = entry(app, "CESF")
    assert changed.id == created.id
    assert changed.expansions == ["conseiller en économie sociale et familiale"]
    assert changed.definition == "Nouvelle définition."

    token = csrf_of(client.get(page).text)
    gone = client.post(f"{page}/supprimer", data={"csrf_token": token}, follow_redirects=False)
    assert gone.status_code == 303
    assert entry(app, "CESF") is None
    assert client.get("/glossaire").text.count("CESF") == 1  # the flash message only
    assert events(app) == [
        ("glossary_add", "CESF"),
        ("glossary_edit", "CESF"),
        ("glossary_delete", "CESF"),
    ]
    journal = html.unescape(client.get("/curation/journal").text)
    assert "entrée du glossaire supprimée" in journal


def test_a_synonyms_group_gets_its_term_among_its_words(client, app, login_as, glossary):
    login_as("curator")
    data = form(client, "/curation/glossaire", term="halte-garderie", kind="synonyms",
                expansions="crèche parentale")  # fmt: skip
    assert client.post("/curation/glossaire", data=data, follow_redirects=False).status_code == 303
    assert entry(app, "halte-garderie").expansions == ["halte-garderie", "crèche parentale"]


def test_saving_an_unchanged_entry_records_nothing(client, app, login_as, glossary):
    login_as("curator")
    iae = entry(app, "IAE")
    page = f"/curation/glossaire/{iae.id}"
    data = form(client, page, term=iae.term, kind=iae.kind,
                expansions="\n".join(iae.expansions), definition=iae.definition)  # fmt: skip
    assert client.post(page, data=data, follow_redirects=False).status_code == 303
    assert entry(app, "IAE").updated_at == iae.updated_at
    assert events(app) == []


# (fields typed, field in error, French message) on the add form.
WRONG = [
    ({"term": "", "expansions": "x"}, "term", "le terme est obligatoire"),
    ({"term": "T" * 61, "expansions": "x"}, "term", "le terme dépasse 60 caractères (61)"),
    ({"term": "iae", "expansions": "x"}, "term", "« iae » est déjà dans le glossaire"),
    ({"term": "Iaé", "expansions": "x"}, "term", "« Iaé » est déjà dans le glossaire"),
    ({"term": "NEUF", "kind": "", "expansions": "x"}, "kind", "choisissez « sigle »"),
    ({"term": "NEUF", "kind": "autre", "expansions": "x"}, "kind", "choisissez « sigle »"),
    ({"term": "NEUF", "expansions": " \n "}, "expansions", "au moins une forme développée"),
    ({"term": "NEUF", "expansions": "\n".join(f"forme {i}" for i in range(13))}, "expansions",
     "13 formes : 12 au plus"),
    ({"term": "NEUF", "expansions": "f" * 121}, "expansions", "dépasse 120 caractères (121)"),
    ({"term": "NEUF", "expansions": "même\nMÊME"}, "expansions", "« MÊME » est écrit deux fois"),
    ({"term": "NEUF", "kind": "synonyms", "expansions": "neuf"}, "expansions",
     "au moins deux mots"),
    ({"term": "NEUF", "expansions": "x", "definition": "d" * 1001}, "definition",
     "la définition dépasse 1000 caractères (1001)"),
]  # fmt: skip


@pytest.mark.parametrize(("fields", "name", "message"), WRONG)
def test_a_wrong_form_keeps_what_was_typed_with_french_errors(
    client, app, login_as, glossary, fields, name, message
):
    login_as("curator")
    typed = {"definition": "Ma définition <gardée>", **fields}
    response = client.post("/curation/glossaire", data=form(client, "/curation/glossaire", **typed))
    assert response.status_code == 422
    text = response.text
    assert message in html.unescape(text)
    # The error is next to its field, linked to it, and listed in the summary at the top.
    error_id = f"{name}-erreur"
    assert f'id="{error_id}"' in text
    assert re.search(rf'id="champ-{name}"[^>]*aria-describedby="[^"]*{error_id}', text)
    assert f'<a href="#champ-{name}">' in text
    # What was typed is shown again, escaped.
    for key in ("term", "definition"):
        assert html.escape(typed[key]) in text, key
    if fields.get("expansions", "").strip():
        assert html.escape(fields["expansions"]).replace("&#x27;", "&#39;") in text
    if fields.get("kind") == "synonyms":
        assert 'value="synonyms" checked' in text
    with read_session(app.state.engine) as session:
        assert len(load_entries(session)) == len(glossary)
    assert events(app) == []


def test_a_wrong_edit_keeps_what_was_typed(client, app, login_as, glossary):
    login_as("curator")
    qpv = entry(app, "QPV")
    page = f"/curation/glossaire/{qpv.id}"
    data = form(client, page, term="IAE", kind="acronym", expansions="nouvelle forme",
                definition="Tapé à la main")  # fmt: skip
    response = client.post(page, data=data)
    assert response.status_code == 422
    text = html.unescape(response.text)
    assert "« IAE » est déjà dans le glossaire : modifiez cette entrée-là" in text
    assert "nouvelle forme" in text and "Tapé à la main" in text
    assert entry(app, "QPV").expansions == qpv.expansions


@pytest.mark.parametrize(
    "path",
    ["2147483648", "9223372036854775808", "99999999999999999999999", "0", "-1", "abc", "999999"],
)
def test_unknown_or_huge_entry_ids_are_french_404s(client, login_as, glossary, path):
    login_as("curator")
    token = csrf_of(client.get("/curation/glossaire").text)
    data = {"csrf_token": token, "term": "X", "kind": "acronym", "expansions": "x"}
    for response in (
        client.get(f"/curation/glossaire/{path}"),
        client.post(f"/curation/glossaire/{path}", data=data),
        client.post(f"/curation/glossaire/{path}/supprimer", data={"csrf_token": token}),
    ):
        assert response.status_code == 404, (path, response.status_code)
        assert FRENCH.search(response.text)


# --- hostile input, on SQLite and PostgreSQL -------------------------------------------------


@pytest.fixture(
    scope="module", params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]
)
def db_app(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory, postgres_server
) -> Iterator[FastAPI]:
    tmp = tmp_path_factory.mktemp(f"glossary-{request.param}")
    if request.param == "sqlite":
        url = f"sqlite:///{tmp / 'glossary.db'}"
        engine = make_engine(url)
        migrate(engine)
    else:
        if postgres_server is None:
            pytest.skip("PostgreSQL tests need RESOURCE_CENTRE_TEST_POSTGRES_URL (set by CI)")
        url = postgres_server.new_database()
        engine = make_engine(url)
    assert import_corpus(engine, TEST_KNOWLEDGE).ok
    import_glossary(engine, tmp)
    with write_session(engine) as session:
        create_user(session, email="curation@glossaire.example", password=PASSWORD,
                    role="curator", regie_slug=None)  # fmt: skip
    engine.dispose()
    app = create_app(make_settings(tmp, url, index_poll_seconds=0.05))
    with TestClient(app):  # lifespan once
        yield app


@pytest.fixture
def curator_client(db_app: FastAPI) -> Iterator[TestClient]:
    test_client = TestClient(db_app, raise_server_exceptions=False)
    with read_session(db_app.state.engine) as session:
        user = session.execute(
            select(User).where(User.email == "curation@glossaire.example")
        ).scalar_one()
    assert login(test_client, user).status_code == 303
    try:
        yield test_client
    finally:
        test_client.close()


NUL_INPUTS = [
    {"term": "NUL\x00A", "expansions": "forme\x00nulle"},
    {"term": "NULB", "expansions": "forme", "definition": "avec\x00nul"},
    {"term": "NULC", "kind": "acro\x00nym", "expansions": "forme"},
    {"term": "\x00\x01\x7f", "expansions": "forme"},
]


@pytest.mark.parametrize("fields", NUL_INPUTS)
def test_nul_and_control_characters_never_reach_the_database(db_app, curator_client, fields):
    """Every input holds a NUL: refused (400) however it is encoded, nothing stored."""
    page = "/curation/glossaire"
    for encoding in ("form", "multipart"):
        data = form(curator_client, page, **fields)
        if encoding == "form":
            response = curator_client.post(page, data=data)
        else:
            response = curator_client.post(page, files={k: (None, v) for k, v in data.items()})
        # A NUL is refused at the edge, in French, before the glossary sees the form.
        assert response.status_code == 400, (encoding, response.status_code)
        assert "caractère nul" in response.text and FRENCH.search(response.text)
    with read_session(db_app.state.engine) as session:
        for item in load_glossary(session).items:
            texts = [item.term, item.kind, item.definition, *item.expansions]
            assert not any("\x00" in t or "\x7f" in t for t in texts), item


def test_overlong_values_are_refused_in_french(db_app, curator_client):
    page = "/curation/glossaire"
    with read_session(db_app.state.engine) as session:
        first = load_entries(session)[0]
    for fields, status in (
        ({"term": "LONG", "expansions": "x", "definition": "d" * 5_000}, 422),
        ({"term": "LONG", "expansions": "x\n" * 5_000}, 422),
        ({"term": "LONG", "expansions": "x", "definition": "d" * 20_000}, 422),
        ({"term": "L" * 50_000, "expansions": "x"}, 422),
        ({"term": "LONG", "expansions": "x", "definition": "d" * 2_000_000}, 413),
    ):
        for path in (page, f"/curation/glossaire/{first.id}"):
            response = curator_client.post(path, data=form(curator_client, page, **fields))
            assert response.status_code == status, (path, response.status_code)
            assert FRENCH.search(response.text)
    with read_session(db_app.state.engine) as session:
        assert (
            session.execute(select(GlossaryEntry).where(GlossaryEntry.term == "LONG")).first()
            is None
        )


def test_two_curators_adding_the_same_term_get_one_entry(db_app, curator_client):
    """Both posts answer without a 500; the term exists once (unique whatever the case)."""
    page = "/curation/glossaire"
    forms = [form(curator_client, page, term=t, expansions="même chose") for t in ("DUO", "duo")]
    results: list[int] = []

    def post(data: dict[str, str]) -> None:
        results.append(curator_client.post(page, data=data, follow_redirects=False).status_code)

    threads = [threading.Thread(target=post, args=(f,)) for f in forms]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(results) == [303, 422]
    with read_session(db_app.state.engine) as session:
        terms = [e.term for e in load_entries(session) if e.term_key == "duo"]
    assert len(terms) == 1


# --- the search uses the glossary ------------------------------------------------------------


def notices(client: TestClient, q: str) -> list[str]:
    return client.get("/api/writeups", params={"q": q}).json()["notices"]


def test_an_edited_entry_widens_the_next_searches(client, app, login_as, glossary):
    login_as("curator")
    aci = entry(app, "ACI")
    assert any("ACI = atelier et chantier d'insertion" in n for n in notices(client, "ACI"))
    page = f"/curation/glossaire/{aci.id}"
    data = form(client, page, term="ACI", kind="acronym",
                expansions="atelier et chantier d'insertion\nchantier zanzibar",
                definition=aci.definition)  # fmt: skip
    assert client.post(page, data=data, follow_redirects=False).status_code == 303
    saved = time.monotonic()
    while not any("chantier zanzibar" in n for n in notices(client, "ACI")):
        assert time.monotonic() - saved < 2.0, "the search still uses the old entry after 2 s"
        time.sleep(0.05)


def test_the_service_reads_the_glossary_in_the_background(app, glossary, monkeypatch):
    """After the first call, `glossary()` never waits for the database: a thread checks it
    twice a second and reads it whole only when it changed; a change is seen within 2 s;
    the very same object is kept while nothing changes."""
    search = app.state.search
    engine = app.state.engine
    me = threading.get_ident()
    reads: list[tuple[int, str]] = []  # (thread, "stamp" or "whole") of each glossary query

    def seen(_conn, _cursor, statement, *_args) -> None:
        if "glossary_entry" in statement:
            reads.append((threading.get_ident(), "stamp" if "count(" in statement else "whole"))

    def mine() -> int:
        return sum(1 for thread, _ in reads if thread == me)

    event.listen(engine, "before_cursor_execute", seen)
    try:
        first = search.glossary()
        assert len(first.items) == len(glossary)
        assert reads == [(me, "stamp"), (me, "whole")]  # the first call reads it itself
        started = time.monotonic()
        while time.monotonic() - started < 1.6:
            assert search.glossary() is first  # unchanged: the very same object
            time.sleep(0.01)
        assert mine() == 2
        background = [kind for thread, kind in reads if thread != me]
        assert len(background) >= 2 and set(background) == {"stamp"}  # checks only

        def change() -> None:  # in its own thread: only the service's reads count here
            with write_session(engine) as session:
                row = session.execute(
                    select(GlossaryEntry).where(GlossaryEntry.term == "QPV")
                ).scalar_one()
                row.definition = "Changée à l'instant."
                session.add(row)

        writer = threading.Thread(target=change)
        writer.start()
        writer.join()
        changed = time.monotonic()
        while search.glossary() is first:
            assert time.monotonic() - changed < 2.0, "change not seen within 2 s"
            time.sleep(0.01)
        assert mine() == 2
        new = {i.term: i for i in search.glossary().items}
        assert new["QPV"].definition == "Changée à l'instant."
        # A quiet spell stops the thread; the next call then checks the glossary itself.
        monkeypatch.setattr(service_module, "GLOSSARY_IDLE_SECONDS", 0.0)
        deadline = time.monotonic() + 3
        while search._glossary_refresher:
            assert time.monotonic() < deadline, "the refresher did not stop"
            time.sleep(0.05)
        monkeypatch.setattr(service_module, "GLOSSARY_IDLE_SECONDS", 60.0)
        time.sleep(service_module.GLOSSARY_STALE_SECONDS + 0.1)
        search.glossary()
        assert mine() == 3 and reads[-1] == (me, "stamp")
    finally:
        event.remove(engine, "before_cursor_execute", seen)
        search.close()
