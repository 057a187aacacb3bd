"""The completeness checklist on the curators' pages: the score in the queue, the grid on the
review page, both from `checklist.evaluate` (one definition)."""

from __future__ import annotations

import html
import re
from dataclasses import replace

import pytest

from resource_centre.checklist import evaluate
from resource_centre.db import write_session
from resource_centre.fiche_data import FicheData
from resource_centre.models import Attachment
from resource_centre.writeups import create, get_by_slug
from tests.test_checklist import complete_fiche

THREE_OF_TEN = FicheData(
    slug="epicerie-trois-sur-dix",
    title="Épicerie solidaire du Port",
    summary="Une épicerie solidaire ouverte deux jours par semaine.",
    regie="regie-du-canal",
    themes=["insertion-emploi"],
    partners=["Ville de Port-Sablon — prête le local"],
    year_start=2022,
    sections={
        "context": "Le quartier compte 900 logements, sans commerce alimentaire.",
        "method": "Un local associatif ouvert deux jours par semaine.",
        "lessons": "Le bénévolat seul ne suffit pas à tenir les horaires.",
    },
)
EXPRESS = FicheData(
    slug="portage-express",
    title="Portage de courses express",
    summary="Des salariés livrent les courses des personnes âgées.",
    regie="regie-du-canal",
    themes=["insertion-emploi"],
    kind="express",
    interview_requested=True,
    sections={
        "method": "Deux salariés livrent les courses le mardi.",
        "lessons": "Le retard des livraisons l'hiver a failli tout arrêter.",
    },
)


def submit(app, data: FicheData) -> None:
    with write_session(app.state.engine) as session:
        create(session, user=None, data=data, submit=True)


def queue_row(page: str, title: str) -> str:
    rows = [row for row in re.findall(r"<tr>.*?</tr>", page, re.S) if title in html.unescape(row)]
    assert len(rows) == 1, f"no single queue row for {title!r}"
    return html.unescape(rows[0])


def grid(page: str) -> list[tuple[str, str, str]]:
    """(key, label, state) of each item of the review page's grid."""
    section = re.search(r'<section class="checklist[^"]*" id="grille".*?</section>', page, re.S)
    assert section, "no checklist grid on the page"
    items = re.findall(
        r'data-criterion="([a-z_]+)">.*?class="checklist-label">([^<]*)</span> : '
        r'<span class="checklist-state">([^<]*)</span>',
        section.group(0),
        re.S,
    )
    return [(key, html.unescape(label), html.unescape(state)) for key, label, state in items]


def expected(result) -> list[tuple[str, str, str]]:
    return [(i.key, i.label, "fait" if i.met else "à compléter") for i in result.items]


def test_queue_shows_the_score_of_each_submitted_fiche(client, app, login_as):
    submit(app, THREE_OF_TEN)
    login_as("curator")
    page = client.get("/curation")
    assert page.status_code == 200
    row = queue_row(page.text, "Épicerie solidaire du Port")
    assert "3/10" in row and "3 critères de complétude remplis sur 10" in row
    assert "Fiche express" not in row and "Entretien souhaité" not in row
    # The submitted fiche of the test corpus has its own score, as evaluated.
    other = queue_row(page.text, "Épicerie solidaire en pied d'immeuble")
    assert re.search(r"\b\d{1,2}/10\b", other)


def test_changes_requested_fiches_show_their_score_too(client, app, login_as):
    submit(app, THREE_OF_TEN)
    with write_session(app.state.engine) as session:
        get_by_slug(session, THREE_OF_TEN.slug).status = "changes_requested"
    login_as("curator")
    page = html.unescape(client.get("/curation").text)
    changes = page.split("Modifications demandées", 1)[1].split("<h2>", 1)[0]
    changes = re.sub(r"<[^>]+>", "", changes)
    assert "Épicerie solidaire du Port" in changes and "complétude 3/10" in changes


def test_queue_flags_an_express_fiche_and_an_interview_request(client, app, login_as):
    submit(app, EXPRESS)
    login_as("curator")
    row = queue_row(client.get("/curation").text, "Portage de courses express")
    assert "Fiche express" in row and "Entretien souhaité" in row
    assert f"{evaluate(EXPRESS).score}" in row


def test_review_page_shows_the_grid_of_checklist_evaluate(client, app, login_as):
    submit(app, THREE_OF_TEN)
    login_as("curator")
    page = client.get(f"/curation/fiches/{THREE_OF_TEN.slug}")
    assert page.status_code == 200
    result = evaluate(THREE_OF_TEN)
    assert grid(page.text) == expected(result)
    text = html.unescape(page.text)
    assert "Grille de relecture : 3/10" in re.sub(r"<[^>]+>", "", text)
    for item in result.unmet:  # how to meet each unmet criterion is said
        assert item.hint in text
    assert 'aria-hidden="true">✓</span>' in page.text and 'aria-hidden="true">○</span>' in page.text


def test_a_pending_revision_is_what_the_grid_evaluates(client, app, login_as):
    slug = "laverie-solidaire-du-canal"  # published in the test corpus
    residents = "Le comité d'usagers fixe les horaires avec l'équipe."
    with write_session(app.state.engine) as session:
        fiche = get_by_slug(session, slug)
        fiche.pending = {
            "title": fiche.title,
            "summary": fiche.summary,
            "regie": "regie-du-canal",
            "themes": fiche.themes,
            "partners": ["Seine Habitat — loue le local"],
            "sections": {**fiche.sections, "residents": residents},
        }
        fiche.pending_status = "submitted"
        pending = dict(fiche.pending)
    login_as("curator")
    revised = evaluate(FicheData(slug=slug, **pending))
    states = {key: state for key, _, state in grid(client.get(f"/curation/fiches/{slug}").text)}
    assert states["residents"] == "fait" and states["partner_roles"] == "fait"
    assert states == {key: state for key, _, state in expected(revised)}
    row = queue_row(client.get("/curation").text, "Une laverie solidaire contre les impayés")
    assert revised.score in row and "Révision d'une fiche publiée" in row


def test_attachments_count_as_documents_to_reuse(client, app, login_as):
    short = FicheData(
        slug="fiche-courte",
        title="Fiche courte",
        summary="Une fiche courte.",
        regie="regie-du-canal",
        themes=["insertion-emploi"],
        sections={"context": "Contexte.", "method": "Démarche.", "lessons": "Court."},
    )
    submit(app, short)
    login_as("curator")
    before = dict((k, s) for k, _, s in grid(client.get("/curation/fiches/fiche-courte").text))
    assert before["transferable_lesson"] == "à compléter"
    with write_session(app.state.engine) as session:
        fiche = get_by_slug(session, "fiche-courte")
        session.add(
            Attachment(
                writeup_id=fiche.id,
                stored_name="abc123.pdf",
                original_name="fiche-de-poste.pdf",
                content_type="application/pdf",
                size=1000,
            )
        )
    after = dict((k, s) for k, _, s in grid(client.get("/curation/fiches/fiche-courte").text))
    assert after["transferable_lesson"] == "fait"
    row = queue_row(client.get("/curation").text, "Fiche courte")
    assert evaluate(short, attachments=1).score in row


def checklist_items(page: str, section_id: str) -> tuple[str, list[tuple[str, str, str]]]:
    """The score and the (key, label, state) items of the checklist section `section_id`."""
    section = re.search(
        rf'<section class="checklist[^"]*" id="{section_id}".*?</section>', page, re.S
    )
    assert section, f"no checklist #{section_id} on the page"
    body = section.group(0)
    score = re.search(r'<span class="checklist-score">(\d+/\d+)</span>', body)
    assert score, "no score in the checklist"
    items = re.findall(
        r'data-criterion="([a-z_]+)">.*?class="checklist-label">([^<]*)</span> : '
        r'<span class="checklist-state">([^<]*)</span>',
        body,
        re.S,
    )
    return score.group(1), [(k, html.unescape(label), html.unescape(s)) for k, label, s in items]


@pytest.mark.parametrize(
    ("data", "score"),
    [(THREE_OF_TEN, "3/10"), (replace(complete_fiche(), slug="laverie-dix-sur-dix"), "10/10")],
)
def test_the_contributor_and_the_curator_see_the_same_list(client, app, login_as, data, score):
    """One definition: the contributor's form and the curator's review page show the same
    ten criteria in the same states, at 3/10 and at 10/10."""
    assert evaluate(data).score == score
    with write_session(app.state.engine) as session:  # a draft of the Régie
        create(session, user=None, data=replace(data, status="draft"), submit=False)
    login_as("contributor")  # of regie-du-canal: edits its Régie's drafts
    form = client.get(f"/fiches/{data.slug}/modifier")
    assert form.status_code == 200, form.text[:300]
    contributor_score, contributor_items = checklist_items(form.text, "reperes")
    with write_session(app.state.engine) as session:  # then sent for review
        get_by_slug(session, data.slug).status = "submitted"
    login_as("curator")
    curator_score, curator_items = checklist_items(
        client.get(f"/curation/fiches/{data.slug}").text, "grille"
    )
    assert (curator_score, contributor_score) == (score, score), set(curator_items) ^ set(
        contributor_items
    )
    assert contributor_items == curator_items == expected(evaluate(data))
    assert len(contributor_items) == 10
