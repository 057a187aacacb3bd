"""Contributors: the fiche form, drafts, submission, attachments, conflicts, audit."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import select

from resource_centre.db import read_session
from resource_centre.models import Attachment, AuditEvent, IndexJournal, WriteUp
from tests.web.conftest import csrf_of

COMPLETE = {
    "title": "Un repair café dans la salle commune",
    "summary": "Chaque mois, des bénévoles réparent avec les habitants.",
    "themes": ["economie-circulaire"],
    "activity": "ressourcerie",
    "audiences": ["habitants"],
    "year_start": "2023",
    "year_end": "",
    "partners": "Seine Habitat\nVille de Saint-Denis",
    "context": "Les objets cassés finissaient aux encombrants.",
    "method": "Un samedi par mois, salle commune du bailleur.",
    "lessons": "Si c'était à refaire, nous aurions commencé par les petits appareils.",
}


def fiche(app, slug):
    with read_session(app.state.engine) as session:
        return session.execute(select(WriteUp).where(WriteUp.slug == slug)).scalar_one_or_none()


def post_form(client, url, data, files=None, action="save", **extra):
    page = client.get(url if url != "/contribuer" else "/contribuer")
    token = csrf_of(page.text)
    fields = {"csrf_token": token, "action": action, **extra}
    version = re.search(r'name="version" value="(\d+)"', page.text)
    if version and "version" not in extra:
        fields["version"] = version.group(1)
    form_token = re.search(r'name="form_token" value="([^"]+)"', page.text)
    if form_token and "form_token" not in extra:
        fields["form_token"] = form_token.group(1)
    body: dict[str, list[str]] = {k: [v] for k, v in fields.items()}
    for key, value in data.items():
        body.setdefault(key, []).extend(value if isinstance(value, list) else [value])
    return client.post(url, data=body, files=files, follow_redirects=False)


def test_form_shows_prompts_and_the_contributors_regie(client, login_as):
    login_as("contributor", regie="regie-du-canal")
    page = client.get("/contribuer")
    assert page.status_code == 200
    assert "Si c&#39;était à refaire, que changeriez-vous ?" in page.text
    assert 'name="regie" value="regie-du-canal"' in page.text
    for name in ("title", "summary", "themes", "activity", "audiences", "schemes", "year_start",
                 "year_end", "context", "objectives", "method", "resources", "results", "lessons",
                 "transfer", "residents", "partner_name", "partner_role", "attachments",
                 "cost_eur", "funding_scheme", "funding_amount"):  # fmt: skip
        assert f'name="{name}"' in page.text, name
    for action in ("save", "preview", "submit"):
        assert f'name="action" value="{action}"' in page.text


def test_save_a_partial_draft_then_submit_it(client, app, login_as):
    user = login_as("contributor", regie="regie-du-canal")
    response = post_form(client, "/contribuer", {"title": "Idée de repair café"})
    assert response.status_code == 303
    slug = response.headers["location"].split("/")[2]
    draft = fiche(app, slug)
    assert draft.status == "draft" and draft.author_id == user.id and draft.regie_id is not None
    response = post_form(client, f"/fiches/{slug}/modifier", COMPLETE, action="submit")
    assert response.status_code == 303 and response.headers["location"] == "/mes-fiches"
    submitted = fiche(app, slug)
    assert submitted.status == "submitted" and submitted.partners == [
        "Seine Habitat",
        "Ville de Saint-Denis",
    ]
    mine = client.get("/mes-fiches").text
    assert "En relecture" in mine and "Un repair café dans la salle commune" in mine
    # Not public until published.
    assert client.get(f"/api/writeups/{slug}").status_code == 404
    with read_session(app.state.engine) as session:
        actions = (
            session.execute(select(AuditEvent.action).where(AuditEvent.slug == slug))
            .scalars()
            .all()
        )
        journal = (
            session.execute(select(IndexJournal).where(IndexJournal.slug == slug)).scalars().all()
        )
    assert {"create", "edit", "submit"} <= set(actions) and journal


def test_submit_incomplete_gives_french_errors_and_keeps_everything(client, login_as):
    login_as("contributor")
    typed = {
        "title": "Titre gardé",
        "summary": "",
        "context": "Texte <b>gardé</b>",
        "year_start": "deux mille",
    }
    response = post_form(client, "/contribuer", typed, action="submit")
    assert response.status_code == 422
    text = response.text
    assert "Le formulaire contient" in text
    for message in ("le résumé est obligatoire", "au moins un thème est obligatoire",
                    "la section « Démarche » est obligatoire", "la section « Enseignements » est obligatoire",
                    "indiquez une année en chiffres"):  # fmt: skip
        assert message in text, message
    assert 'value="Titre gardé"' in text and "Texte &lt;b&gt;gardé&lt;/b&gt;" in text
    assert 'value="deux mille"' in text
    assert 'href="#champ-summary"' in text and re.search(
        r'aria-describedby="[^"]*summary-erreur', text
    )


def test_preview_renders_with_the_public_renderer(client, login_as):
    login_as("contributor")
    response = post_form(
        client,
        "/contribuer",
        {
            "title": "Aperçu",
            "context": "**gras** <script>alert(1)</script> [x](javascript:alert(1))",
        },
        action="preview",
    )
    assert response.status_code == 200
    assert "<strong>gras</strong>" in response.text
    assert "<script>alert(1)" not in response.text and 'href="javascript' not in response.text


def test_double_submit_creates_one_fiche(client, app, login_as):
    login_as("contributor")
    page = client.get("/contribuer").text
    token = csrf_of(page)
    body = {
        "csrf_token": token,
        "action": "save",
        "form_token": re.search(r'name="form_token" value="([^"]+)"', page).group(1),
        "title": "Doublon",
    }
    first = client.post("/contribuer", data=body, follow_redirects=False)
    second = client.post("/contribuer", data=body, follow_redirects=False)
    assert first.status_code == second.status_code == 303
    assert first.headers["location"] == second.headers["location"]
    with read_session(app.state.engine) as session:
        assert (
            len(session.execute(select(WriteUp).where(WriteUp.title == "Doublon")).scalars().all())
            == 1
        )


def test_second_save_of_a_stale_form_is_refused_and_keeps_both_texts(client, app, login_as):
    login_as("contributor", regie="regie-du-canal")
    slug = (
        post_form(client, "/contribuer", {"title": "Fiche partagée"})
        .headers["location"]
        .split("/")[2]
    )
    page = client.get(f"/fiches/{slug}/modifier").text
    version = re.search(r'name="version" value="(\d+)"', page).group(1)
    first = post_form(
        client,
        f"/fiches/{slug}/modifier",
        {"title": "Fiche partagée", "context": "Texte de la première personne"},
        version=version,
    )
    assert first.status_code == 303
    second = post_form(
        client,
        f"/fiches/{slug}/modifier",
        {"title": "Fiche partagée", "context": "Texte de la seconde personne"},
        version=version,
    )
    assert second.status_code == 409
    assert (
        "Texte de la seconde personne" in second.text
        and "Texte de la première personne" in second.text
    )
    assert fiche(app, slug).sections["context"] == "Texte de la première personne"


PDF = b"%PDF-1.4\n1 0 obj\n<<>>\nendobj\ntrailer\n<<>>\n%%EOF\n"
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64


def test_attachments_are_checked_stored_and_served_safely(client, app, login_as):
    login_as("contributor", regie="regie-du-canal")
    response = post_form(
        client,
        "/contribuer",
        {"title": "Avec pièces"},
        files=[
            ("attachments", ("../../compte-rendu.pdf", PDF, "application/pdf")),
            ("attachments", ("photo.png", PNG, "image/png")),
        ],
    )
    assert response.status_code == 303, response.text
    slug = response.headers["location"].split("/")[2]
    with read_session(app.state.engine) as session:
        stored = session.execute(select(Attachment).order_by(Attachment.id)).scalars().all()
    assert [a.original_name for a in stored] == ["compte-rendu.pdf", "photo.png"]
    assert all(re.fullmatch(r"[0-9a-f]{32}\.(pdf|png)", a.stored_name) for a in stored)
    assert (app.state.settings.uploads_dir / stored[0].stored_name).read_bytes() == PDF
    pdf = client.get(f"/fiches/{slug}/pieces-jointes/{stored[0].id}")
    assert pdf.status_code == 200 and pdf.content == PDF
    assert pdf.headers["content-disposition"].startswith("attachment;")
    assert (
        pdf.headers["x-content-type-options"] == "nosniff"
        and pdf.headers["content-security-policy"] == "sandbox"
    )
    assert (
        client.get(f"/fiches/{slug}/pieces-jointes/{stored[1].id}")
        .headers["content-disposition"]
        .startswith("inline;")
    )
    # A draft's attachments are not served to visitors.
    client.cookies.clear()
    assert client.get(f"/fiches/{slug}/pieces-jointes/{stored[0].id}").status_code == 404


@pytest.mark.parametrize(
    ("files", "message"),
    [
        (
            [
                (
                    "attachments",
                    ("gros.pdf", b"%PDF-" + b"0" * (10 * 1024 * 1024), "application/pdf"),
                )
            ],
            "fichier trop lourd",
        ),
        (
            [("attachments", ("virus.exe", b"MZ\x90\x00", "application/octet-stream"))],
            "type de fichier non accepté",
        ),
        (
            [("attachments", ("faux.pdf", b"<html><script>", "application/pdf"))],
            "ne correspond pas à un fichier PDF",
        ),
        (
            [("attachments", ("page.svg", b"<svg onload=alert(1)>", "image/svg+xml"))],
            "type de fichier non accepté",
        ),
        (
            [("attachments", (f"doc{i}.pdf", PDF, "application/pdf")) for i in range(11)],
            "10 pièces jointes au plus",
        ),
    ],
    ids=["too-big", "exe", "fake-pdf", "svg", "too-many"],
)
def test_refused_attachments_keep_the_rest_of_the_form(client, app, login_as, files, message):
    login_as("contributor")
    response = post_form(
        client, "/contribuer", {"title": "Formulaire conservé", "context": "Mon texte"}, files=files
    )
    assert response.status_code == 422
    assert message in response.text
    assert 'value="Formulaire conservé"' in response.text and "Mon texte" in response.text
    with read_session(app.state.engine) as session:
        assert (
            session.execute(select(WriteUp).where(WriteUp.title == "Formulaire conservé")).first()
            is None
        )
        assert session.execute(select(Attachment)).first() is None


def test_revision_of_a_published_fiche_keeps_the_published_text(client, app, login_as):
    login_as("contributor", regie="regie-du-canal")
    data = dict(
        COMPLETE, title="Une laverie solidaire contre les impayés", summary="Nouveau résumé proposé"
    )
    response = post_form(
        client, "/fiches/laverie-solidaire-du-canal/modifier", data, action="submit"
    )
    assert response.status_code == 303
    public = client.get("/api/writeups/laverie-solidaire-du-canal").json()
    assert public["summary"].startswith("Laverie à prix modéré")
    stored = fiche(app, "laverie-solidaire-du-canal")
    assert stored.status == "published" and stored.pending_status == "submitted"
    assert stored.pending["summary"] == "Nouveau résumé proposé"
