"""Hostile inputs over real HTTP, on SQLite and PostgreSQL: never a 500, always French.

Every input of issue 9 (point 4) is listed one by one below, then the attack files of
`tests/data/attack-cases/`. Each answers 4xx with a French message (or succeeds once the
harmful characters are stripped), never 5xx. One app per database serves the whole module:
building and indexing the test library once per case would take minutes.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from fastapi import FastAPI
from sqlalchemy import func, select
from starlette.testclient import TestClient

from resource_centre.auth import create_user
from resource_centre.corpus import import_corpus
from resource_centre.db import make_engine, migrate, read_session, write_session
from resource_centre.models import LoginAttempt, SearchLog, User
from resource_centre.radar import SearchLogWriter
from resource_centre.search.request import SearchRequest
from resource_centre.web.app import create_app
from tests.conftest import TEST_KNOWLEDGE, attack_cases, make_settings
from tests.web.conftest import PASSWORD, csrf_of, login

PUBLISHED = "laverie-solidaire-du-canal"  # a published fiche of the test library
REGIE = "regie-du-canal"
INT8_OVER = "9223372036854775808"  # 2**63: no 64-bit integer column holds it
INT4_OVER = "2147483648"  # 2**31: PostgreSQL's INTEGER (int4) overflows
NUL = "\x00"

ENGLISH = ("Not Found", "Internal Server Error", "Unprocessable", "Field required",
           "Input should", "Bad Request", "Method Not Allowed", "value_error")  # fmt: skip
FRENCH = re.compile(r"[éèêàçùô’]|\b(la|le|les|des|une|est|pas|introuvable|fiche|page)\b", re.I)


# --- one app per database -------------------------------------------------------------------


@pytest.fixture(
    scope="module", params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]
)
def hostile_app(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory, postgres_server
) -> Iterator[FastAPI]:
    """The app on a migrated database holding the test library (module scope)."""
    tmp = tmp_path_factory.mktemp(f"hostile-{request.param}")
    if request.param == "sqlite":
        url = f"sqlite:///{tmp / 'hostile.db'}"
        engine = make_engine(url)
        migrate(engine)
    else:
        if postgres_server is None:
            pytest.skip("PostgreSQL tests need RESOURCE_CENTRE_TEST_POSTGRES_URL (set by CI)")
        url = postgres_server.new_database()
        engine = make_engine(url)
    report = import_corpus(engine, TEST_KNOWLEDGE)
    assert report.ok, report.problems
    with write_session(engine) as session:
        for role in ("contributor", "curator", "admin"):
            create_user(
                session, email=f"{role}@hostile.example", password=PASSWORD, role=role,
                regie_slug=REGIE if role == "contributor" else None,
            )  # fmt: skip
    engine.dispose()
    app = create_app(make_settings(tmp, url, index_poll_seconds=0.05))
    with TestClient(app):  # lifespan once: index built and caught up
        yield app


@pytest.fixture
def client(hostile_app: FastAPI) -> Iterator[TestClient]:
    """A fresh browser (no cookies) on the module's app; lifespan already ran.

    Not entered as a context manager: that would run the lifespan again for every test,
    and its shutdown disposes of the engine while the module's sync thread uses it.
    """
    test_client = TestClient(hostile_app, raise_server_exceptions=False)
    try:
        yield test_client
    finally:
        test_client.close()


def sign_in(client: TestClient, app: FastAPI, role: str) -> None:
    with read_session(app.state.engine) as session:
        user = session.execute(
            select(User).where(User.email == f"{role}@hostile.example")
        ).scalar_one()
    response = login(client, user)
    assert response.status_code == 303, response.text


def token(client: TestClient, page: str = "/connexion") -> str:
    response = client.get(page)
    assert response.status_code == 200, (page, response.status_code)
    return csrf_of(response.text)


def assert_french_refusal(response: Any, what: str) -> None:
    """4xx, and the message the user reads is French (HTML page or JSON `detail`)."""
    assert 400 <= response.status_code < 500, (what, response.status_code, response.text[:300])
    text = response.text
    if response.headers.get("content-type", "").startswith("application/json"):
        detail = response.json()["detail"]
        assert isinstance(detail, str), (what, detail)
        text = detail
    assert FRENCH.search(text), (what, text[:300])
    assert not any(phrase in text for phrase in ENGLISH), (what, text[:300])


def assert_not_crashed(response: Any, what: str) -> None:
    """Either accepted (the harmful characters stripped) or refused in French; never 5xx."""
    assert response.status_code < 500, (what, response.status_code, response.text[:300])
    if response.status_code >= 400:
        assert_french_refusal(response, what)


# --- the inputs of issue 9, point 4, one by one ---------------------------------------------


@dataclass
class Case:
    """One hostile request: who sends it, where, what; `refused` means 4xx is required."""

    role: str | None
    method: str
    url: str
    data: dict[str, Any] = field(default_factory=dict)
    refused: bool = True
    csrf_page: str = "/connexion"
    multipart: bool = False
    file_field: bool = False  # multipart with an empty file input, as browsers send it


CASES: dict[str, Case] = {
    # SQLite and PostgreSQL: integers out of every column's range
    "attachment-id-2**63": Case(None, "GET", f"/fiches/{PUBLISHED}/pieces-jointes/{INT8_OVER}"),
    "attachment-id-2**31": Case(None, "GET", f"/fiches/{PUBLISHED}/pieces-jointes/{INT4_OVER}"),
    "attachment-id-superscript": Case(None, "GET", f"/fiches/{PUBLISHED}/pieces-jointes/²"),
    "year_start-superscript": Case(
        "contributor",
        "POST",
        "/contribuer",
        {"title": "Une fiche", "year_start": "²", "action": "save"},
        csrf_page="/contribuer",
    ),
    "year_end-superscript": Case(
        "contributor",
        "POST",
        "/contribuer",
        {"title": "Une fiche", "year_end": "²", "action": "save"},
        csrf_page="/contribuer",
    ),
    "version-superscript": Case(
        "contributor",
        "POST",
        f"/fiches/{PUBLISHED}/modifier",
        {"title": "Une fiche", "version": "²", "action": "save"},
        csrf_page="/contribuer",
    ),
    "journal-person-2**63": Case("curator", "GET", f"/curation/journal?personne={INT8_OVER}"),
    "journal-person-2**31": Case("curator", "GET", f"/curation/journal?personne={INT4_OVER}"),
    "journal-page-2**63": Case(
        "curator", "GET", f"/curation/journal?page={INT8_OVER}", refused=False
    ),
    "radar-weeks-2**63": Case(
        "curator", "GET", f"/curation/radar?semaines={INT8_OVER}", refused=False
    ),
    "users-user_id-2**63": Case(
        "admin",
        "POST",
        "/curation/utilisateurs",
        {"operation": "deactivate", "user_id": INT8_OVER},
        csrf_page="/curation/utilisateurs",
    ),
    "users-user_id-2**31": Case(
        "admin",
        "POST",
        "/curation/utilisateurs",
        {"operation": "deactivate", "user_id": INT4_OVER},
        csrf_page="/curation/utilisateurs",
    ),
    "radar-request_id-2**63": Case(
        "curator",
        "POST",
        "/curation/radar",
        {"request_id": INT8_OVER, "slug": PUBLISHED},
        csrf_page="/curation/radar",
    ),
    "radar-request_id-2**31": Case(
        "curator",
        "POST",
        "/curation/radar",
        {"request_id": INT4_OVER, "slug": PUBLISHED},
        csrf_page="/curation/radar",
    ),
    # PostgreSQL: a NUL byte anywhere text reaches the database
    "slug-nul-fiche": Case(None, "GET", "/fiches/laverie%00"),
    "slug-nul-regie": Case(None, "GET", "/regies/regie%00"),
    "slug-nul-api": Case(None, "GET", "/api/writeups/laverie%00"),
    "slug-nul-edit": Case("contributor", "GET", "/fiches/laverie%00/modifier"),
    "slug-nul-review": Case("curator", "GET", "/curation/fiches/laverie%00"),
    "slug-nul-attachment": Case(None, "GET", "/fiches/laverie%00/pieces-jointes/1"),
    "email-nul-signin": Case(
        None, "POST", "/connexion", {"email": f"a{NUL}@b.fr", "password": "x"}
    ),
    "email-nul-signin-multipart": Case(
        None, "POST", "/connexion", {"email": f"a{NUL}@b.fr", "password": "x"}, multipart=True
    ),
    "email-nul-create-user": Case(
        "admin",
        "POST",
        "/curation/utilisateurs",
        {"operation": "create", "email": f"nul{NUL}@hostile.example", "role": "contributor"},
        csrf_page="/curation/utilisateurs",
    ),
    "title-nul": Case(
        "contributor",
        "POST",
        "/contribuer",
        {"title": f"Titre{NUL}nul", "action": "save"},
        csrf_page="/contribuer",
    ),
    "title-nul-multipart": Case(
        "contributor",
        "POST",
        "/contribuer",
        {"title": f"Titre{NUL}nul", "action": "save"},
        csrf_page="/contribuer",
        multipart=True,
    ),
    "comment-nul": Case(
        "curator",
        "POST",
        f"/curation/fiches/{PUBLISHED}",
        {"action": "comment", "comment": f"Un{NUL}commentaire"},
        csrf_page=f"/curation/fiches/{PUBLISHED}",
    ),
    "comment-nul-multipart": Case(
        "curator",
        "POST",
        f"/curation/fiches/{PUBLISHED}",
        {"action": "comment", "comment": f"Un{NUL}commentaire"},
        csrf_page=f"/curation/fiches/{PUBLISHED}",
        multipart=True,
    ),
    "taxonomy-label-nul": Case(
        "curator",
        "POST",
        "/curation/taxonomie",
        {"operation": "add", "vocabulary": "themes", "slug": "theme-nul", "label": f"T{NUL}"},
        csrf_page="/curation/taxonomie",
    ),
    "search-nul-page": Case(None, "GET", "/fiches?q=laverie%00canal", refused=False),
    "search-nul-api": Case(None, "GET", "/api/writeups?q=laverie%00canal", refused=False),
    "search-nul-filter": Case(None, "GET", "/fiches?theme=%00&year_min=%00", refused=False),
    "need-nul": Case(None, "POST", "/besoins", {"q": f"laverie{NUL}", "message": f"M{NUL}"}),
    # The fiche form as a browser sends it: with its (empty) file field, so the whole body
    # reaches the form, which refuses the NUL itself (422, everything typed kept).
    "title-nul-with-file-field": Case(
        "contributor",
        "POST",
        "/contribuer",
        {"title": f"Titre{NUL}nul", "action": "save"},
        csrf_page="/contribuer",
        multipart=True,
        file_field=True,
    ),
    "next-nul": Case(
        None, "POST", "/connexion", {"email": "x@y.fr", "password": "x", "next": f"/{NUL}"}
    ),
    "click-token-nul": Case(None, "GET", f"/fiches/{PUBLISHED}?s=%00", refused=False),
    # PostgreSQL: a 100-character form token into VARCHAR(64)
    "form-token-100": Case(
        "contributor",
        "POST",
        "/contribuer",
        {"title": "Une fiche", "form_token": "a" * 100, "action": "save"},
        csrf_page="/contribuer",
    ),
    "form-token-nul": Case(
        "contributor",
        "POST",
        "/contribuer",
        {"title": "Une fiche", "form_token": f"{'a' * 24}{NUL}.{'b' * 31}", "action": "save"},
        csrf_page="/contribuer",
    ),
}


def send(client: TestClient, app: FastAPI, case: Case) -> Any:
    if case.role:
        sign_in(client, app, case.role)
    if case.method == "GET":
        return client.get(case.url, follow_redirects=False)
    data = {**case.data, "csrf_token": token(client, case.csrf_page)}
    if case.file_field:  # written by hand: HTTP clients drop an empty `filename=""`
        boundary = "----formulaire-hostile"
        parts = [
            f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'
            for name, value in data.items()
        ]
        parts.append(
            f'--{boundary}\r\nContent-Disposition: form-data; name="attachments"; filename=""'
            "\r\nContent-Type: application/octet-stream\r\n\r\n\r\n"
        )
        body = ("".join(parts) + f"--{boundary}--\r\n").encode()
        headers = {"content-type": f"multipart/form-data; boundary={boundary}"}
        return client.post(case.url, content=body, headers=headers, follow_redirects=False)
    if case.multipart:
        files = {name: (None, value) for name, value in data.items()}
        return client.post(case.url, files=files, follow_redirects=False)
    return client.post(case.url, data=data, follow_redirects=False)


@pytest.mark.parametrize("name", list(CASES))
def test_issue_input_never_500(client: TestClient, hostile_app: FastAPI, name: str) -> None:
    case = CASES[name]
    response = send(client, hostile_app, case)
    if case.refused:
        assert_french_refusal(response, name)
    else:
        assert_not_crashed(response, name)


def test_other_control_characters_are_stripped_and_the_text_kept(
    client: TestClient, hostile_app: FastAPI
) -> None:
    """A vertical tab or an escape in a comment is removed at the edge; the rest is kept."""
    case = CASES["comment-nul"]
    stripped = Case(**{**case.__dict__, "data": {**case.data, "comment": "Un\x0bcomment\x1baire"}})
    response = send(client, hostile_app, stripped)
    assert response.status_code == 303, response.text[:300]
    page = client.get(f"/curation/fiches/{PUBLISHED}")
    assert "Uncommentaire" in page.text


@pytest.mark.parametrize("multipart", [False, True])
def test_a_nul_in_a_form_is_refused_and_nothing_is_stored(
    client: TestClient, hostile_app: FastAPI, multipart: bool
) -> None:
    """No person types U+0000: the form is refused in French, nothing of it written."""
    case = CASES["comment-nul-multipart" if multipart else "comment-nul"]
    word = f"Refus{'multipart' if multipart else 'formulaire'}"
    case = Case(**{**case.__dict__, "data": {**case.data, "comment": f"{word}{NUL}nul"}})
    response = send(client, hostile_app, case)
    assert response.status_code == 400, response.text[:300]
    assert "caractère nul" in response.text
    page = client.get(f"/curation/fiches/{PUBLISHED}")
    assert f"{word}nul" not in page.text and page.status_code == 200


@pytest.mark.parametrize("case", ["title-nul", "title-nul-multipart", "title-nul-with-file-field"])
def test_the_fiche_form_refuses_a_nul_and_keeps_the_text(
    client: TestClient, hostile_app: FastAPI, case: str
) -> None:
    """However it is sent, the fiche form is shown again (422) with the field marked."""
    response = send(client, hostile_app, CASES[case])
    assert response.status_code == 422, response.text[:300]
    assert "caractère nul" in response.text
    assert 'value="Titrenul"' in response.text  # what was typed, without the NUL
    mine = client.get("/mes-fiches")
    assert "Titrenul" not in mine.text


# --- forms the edge cannot read whole: the CSRF check, which parses every form, refuses them --


def _multipart(fields: dict[str, str], boundary: str, file_part: bool = False) -> bytes:
    parts = [
        f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'
        for name, value in fields.items()
    ]
    if file_part:
        parts.append(
            f'--{boundary}\r\nContent-Disposition: form-data; name="pj"; filename="a.txt"\r\n'
            "Content-Type: text/plain\r\n\r\nx\r\n"
        )
    return ("".join(parts) + f"--{boundary}--\r\n").encode()


def _chunks(body: bytes) -> Iterator[bytes]:
    """A body sent without Content-Length (chunked)."""
    for start in range(0, len(body), 4096):
        yield body[start : start + 4096]


def _sign_in_nul(client: TestClient, way: str) -> Any:
    """A sign-in whose e-mail holds a NUL, sent `way` (each once got past the edge)."""
    csrf = token(client)
    fields = {"email": f"u{NUL}@b.fr", "password": "x", "csrf_token": csrf}
    boundary = "----limite"
    multipart = {"content-type": f"multipart/form-data; boundary={boundary}"}
    if way == "utf-7":  # « +AAA- » is a NUL in UTF-7, without the byte
        body = _multipart({**fields, "email": "u+AAA-@b.fr"}, boundary)
        headers = {"content-type": f"multipart/form-data; boundary={boundary}; charset=utf-7"}
        return client.post("/connexion", content=body, headers=headers)
    if way == "file-part":
        body = _multipart(fields, boundary, file_part=True)
        return client.post("/connexion", content=body, headers=multipart)
    if way == "chunked":
        body = _multipart(fields, boundary)
        return client.post("/connexion", content=_chunks(body), headers=multipart)
    assert way == "capitals"  # the token in its header, the media type in capitals
    headers = {"content-type": "Application/X-WWW-Form-Urlencoded", "x-csrf-token": csrf}
    return client.post("/connexion", content="email=u%00@b.fr&password=x", headers=headers)


@pytest.mark.parametrize("way", ["utf-7", "file-part", "chunked", "capitals"])
def test_a_nul_the_edge_cannot_see_is_refused_and_never_stored(
    client: TestClient, hostile_app: FastAPI, way: str
) -> None:
    response = _sign_in_nul(client, way)
    assert response.status_code == 400, (way, response.status_code, response.text[:300])
    assert "caractère nul" in response.text
    with read_session(hostile_app.state.engine) as session:
        emails = session.execute(select(LoginAttempt.email)).scalars().all()
    assert not [email for email in emails if "\x00" in email]


@pytest.mark.parametrize(
    ("page", "media"),
    [("/connexion", "urlencoded"), ("/connexion", "multipart"), ("/besoins", "multipart")],
)
def test_a_chunked_form_over_the_body_limit_is_a_french_413(
    client: TestClient, page: str, media: str
) -> None:
    """Read by the edge (urlencoded), by FastAPI for a route's `Form()` fields, or by the CSRF
    check (`/besoins`): the body limit is a 413 each time, never a 400 or a 500."""
    if media == "urlencoded":
        body = b"email=" + b"a" * (1024 * 1024 + 20)
        headers = {"content-type": "application/x-www-form-urlencoded"}
    else:
        body = _multipart({"q": "a" * (1024 * 1024 + 20)}, "----limite")
        headers = {"content-type": "multipart/form-data; boundary=----limite"}
    response = client.post(page, content=_chunks(body), headers=headers)
    assert response.status_code == 413, (page, media, response.status_code, response.text[:300])
    assert_french_refusal(response, "chunked 413")


def test_oversized_path_id_is_a_french_404(client: TestClient) -> None:
    response = client.get(f"/fiches/{PUBLISHED}/pieces-jointes/{INT8_OVER}")
    assert response.status_code == 404
    assert "Page introuvable" in response.text


# --- the attack files -----------------------------------------------------------------------


def attack_lines(name: str) -> list[Any]:
    path: Path = attack_cases(name)
    return [json.loads(line) for line in path.read_text("utf-8").splitlines() if line.strip()]


def test_attack_queries_as_every_parameter(client: TestClient) -> None:
    """Each attack query as the text, as a filter, a year and a page: 200, never 5xx."""
    for q in attack_lines("search-queries.jsonl"):
        for params in ({"q": q}, {"theme": q, "year_min": q}, {"page": q, "page_size": q}):
            for url in ("/fiches", "/api/writeups"):
                response = client.get(url, params=params)
                assert response.status_code == 200, (url, params, response.status_code)


def test_attack_strings_as_slugs_and_ids(client: TestClient) -> None:
    """Attack queries and file names in the path: a French 404, never 5xx."""
    cases = attack_lines("search-queries.jsonl")[:60] + attack_lines("upload-filenames.jsonl")
    for text in cases:
        if not text.strip(".") or text.lower() == "nouvelle":
            continue  # "." and ".." are normalised away by the client
        segment = quote(text, safe="")
        for url in (f"/fiches/{segment}", f"/api/writeups/{segment}", f"/regies/{segment}",
                    f"/fiches/{PUBLISHED}/pieces-jointes/{segment}"):  # fmt: skip
            response = client.get(url)
            assert response.status_code in (404, 422), (url, response.status_code)
            assert_french_refusal(response, url)


def test_attack_strings_in_forms(client: TestClient, hostile_app: FastAPI) -> None:
    """Attack strings in the sign-in and needs forms: never 5xx.

    Sign-in is tried with the strings holding control or non-ASCII characters only (each
    attempt costs a password hash)."""
    strings = attack_lines("search-queries.jsonl") + attack_lines("upload-filenames.jsonl")
    odd = [t for t in strings if any(ord(c) < 32 or ord(c) > 126 for c in t)][:12]
    csrf = token(client)
    for text in odd:
        response = client.post(
            "/connexion",
            data={"email": text[:254], "password": text, "csrf_token": csrf},
            follow_redirects=False,
        )
        assert_not_crashed(response, f"sign-in {text!r}")
        if response.status_code == 429:
            break  # the sign-in limit holds: enough
    for text in strings[:20]:
        response = client.post(
            "/besoins", data={"q": text, "message": text, "csrf_token": csrf},
            follow_redirects=False,
        )  # fmt: skip
        assert_not_crashed(response, f"need {text!r}")


# --- the search log keeps every valid row ---------------------------------------------------


def test_search_log_keeps_valid_rows_when_one_is_bad(hostile_app: FastAPI) -> None:
    """A NUL in a query and an oversized token go in one batch with good rows: all kept."""
    engine = hostile_app.state.engine
    writer = SearchLogWriter(engine)
    with read_session(engine) as session:
        before = session.execute(select(func.count()).select_from(SearchLog)).scalar_one()
    writer.add(SearchRequest(q="jardin"), 1, 1.0, "web", "a" * 16)
    writer.add(SearchRequest(q=f"lave{NUL}rie"), 0, 1.0, "web", "b" * 16)
    writer.add(SearchRequest(q="compost"), 2, 1.0, "api", "c" * 40)  # token over VARCHAR(32)
    writer.add(SearchRequest(q="épicerie"), 3, 1.0, "web", "d" * 16)
    writer.flush()
    with read_session(engine) as session:
        rows = (
            session.execute(
                select(SearchLog.query).order_by(SearchLog.id.desc()).limit(4)  # type: ignore[union-attr]
            )
            .scalars()
            .all()
        )
        after = session.execute(select(func.count()).select_from(SearchLog)).scalar_one()
    assert after - before == 4
    assert sorted(rows) == sorted(["jardin", "laverie", "compost", "épicerie"])


# --- the 500 page ---------------------------------------------------------------------------


def test_server_error_page_carries_security_headers(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'boom.db'}"
    engine = make_engine(url)
    migrate(engine)
    engine.dispose()
    app = create_app(make_settings(tmp_path, url))

    @app.get("/api/boom-for-test")
    def boom() -> None:
        raise RuntimeError("boom")

    @app.get("/boom-for-test")
    def boom_page() -> None:
        raise RuntimeError("boom")

    with TestClient(app, raise_server_exceptions=False) as client:
        for path in ("/api/boom-for-test", "/boom-for-test"):
            response = client.get(path)
            assert response.status_code == 500
            assert "boom" not in response.text  # never a trace
            headers = response.headers
            assert "default-src 'self'" in headers.get("content-security-policy", ""), path
            assert headers.get("x-content-type-options") == "nosniff"
            assert headers.get("x-frame-options") == "DENY"
            assert headers.get("referrer-policy") == "same-origin"
            assert headers.get("x-request-id")
        assert "Erreur du serveur" in client.get("/boom-for-test").text
