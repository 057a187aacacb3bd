"""A proposed revision of a published fiche under review: its files wait for the curators
(hidden from readers, the API, the downloads and the export until it is published), the
curators see everything it changes (partners, figures, format, interview), and figures
round-trip through the form."""

from __future__ import annotations

import html
import re
from html.parser import HTMLParser
from pathlib import Path

import pytest
from sqlalchemy import select
from starlette.datastructures import FormData

from resource_centre.corpus import export_corpus, import_corpus
from resource_centre.db import read_session, write_session
from resource_centre.models import Attachment
from resource_centre.web.forms import number_text, parse, parse_number
from resource_centre.writeups import get_by_slug
from tests.web.conftest import login

SLUG = "laverie-solidaire-du-canal"  # published, of the Régie du Canal
EDIT = f"/fiches/{SLUG}/modifier"
PDF = b"%PDF-1.4\n1 0 obj\n<<>>\nendobj\ntrailer\n<<>>\n%%EOF\n"


class BrowserForm(HTMLParser):
    """The (name, value) pairs a browser sends for the fiche form untouched: inputs, ticked
    boxes, textareas and the selected option of each list (files and buttons left out)."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.pairs: list[tuple[str, str]] = []
        self._textarea: str | None = None
        self._select: str | None = None
        self._options: list[tuple[str, bool]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        if tag == "input" and a.get("name"):
            kind = a.get("type", "text")
            if kind in ("file", "submit", "button") or (
                kind in ("checkbox", "radio") and "checked" not in a
            ):
                return
            self.pairs.append((a["name"], a.get("value", "on" if kind == "checkbox" else "")))
        elif tag == "textarea" and a.get("name"):
            self._textarea = a["name"]
            self.pairs.append((a["name"], ""))
        elif tag == "select" and a.get("name"):
            self._select, self._options = a["name"], []
        elif tag == "option" and self._select is not None:
            self._options.append((a.get("value", ""), "selected" in a))

    def handle_data(self, data: str) -> None:
        if self._textarea is not None:
            name, text = self.pairs[-1]
            self.pairs[-1] = (name, text + data)

    def handle_endtag(self, tag: str) -> None:
        if tag == "textarea" and self._textarea is not None:
            name, text = self.pairs[-1]
            self.pairs[-1] = (name, text.removeprefix("\n"))
            self._textarea = None
        elif tag == "select" and self._select is not None:
            chosen = [v for v, selected in self._options if selected] or [
                v for v, _ in self._options[:1]
            ]
            self.pairs.extend((self._select, v) for v in chosen)
            self._select = None


def send(client, url: str, changes: dict, *, files=None, action: str = "save"):
    """Post the fiche form of the page `url` as a browser would: everything as the page
    shows it, but the fields of `changes` (a list for a repeated field)."""
    page = client.get(url)
    assert page.status_code == 200, page.text
    form = re.search(r'<form class="guide-form".*?</form>', page.text, re.S)
    assert form, "no fiche form on the page"
    parser = BrowserForm()
    parser.feed(form.group(0))
    body: dict[str, list[str]] = {}
    for name, value in parser.pairs:
        if name not in changes and name != "action":
            body.setdefault(name, []).append(value)
    for name, value in changes.items():
        body[name] = value if isinstance(value, list) else [value]
    body["action"] = [action]
    target = html.unescape(re.search(r'action="([^"]*)"', form.group(0)).group(1))
    return client.post(target, data=body, files=files, follow_redirects=False)


def attachments_of(app, slug: str = SLUG) -> list[Attachment]:
    with read_session(app.state.engine) as session:
        fiche = get_by_slug(session, slug)
        return list(
            session.execute(
                select(Attachment).where(Attachment.writeup_id == fiche.id).order_by(Attachment.id)
            ).scalars()
        )


def act(client, action: str) -> None:
    page = client.get(f"/curation/fiches/{SLUG}").text
    token = re.search(r'name="csrf_token" value="([0-9a-f]{128})"', page).group(1)
    response = client.post(
        f"/curation/fiches/{SLUG}", data={"csrf_token": token, "action": action},
        follow_redirects=False,
    )  # fmt: skip
    assert response.status_code == 303, response.text


def api_files(client) -> list[str]:
    return [a["name"] for a in client.get(f"/api/writeups/{SLUG}").json()["attachments"]]


# --- (A) the files of a revision wait for its review -------------------------------------------


def test_a_revisions_files_are_hidden_until_it_is_published(client, app, make_user):
    contributor = make_user("contributor", regie="regie-du-canal")
    stranger = make_user("contributor", regie="regie-des-trois-quartiers")
    curator = make_user("curator")
    login(client, contributor)
    files = [("attachments", ("bilan-revise.pdf", PDF, "application/pdf"))]
    response = send(client, EDIT, {}, files=files)  # a draft of a revision
    assert response.status_code == 303, response.text
    [row] = attachments_of(app)
    assert row.pending is True and row.original_name == "bilan-revise.pdf"
    download = f"/fiches/{SLUG}/pieces-jointes/{row.id}"

    # The Régie sees it in its form, marked, and may open it.
    form = client.get(EDIT).text
    assert "bilan-revise.pdf" in form and "en attente de relecture" in form
    assert client.get(download).status_code == 200
    assert send(client, EDIT, {}, action="submit").status_code == 303
    # Readers do not: not on the page, not in the API, not by its address.
    for who in (None, stranger):
        client.cookies.clear()
        if who is not None:
            login(client, who)
        assert "bilan-revise.pdf" not in client.get(f"/fiches/{SLUG}").text
        assert api_files(client) == []
        assert client.get(download).status_code == 404

    # The curator sees it on the review page, marked, and may open it.
    login(client, curator)
    review = client.get(f"/curation/fiches/{SLUG}").text
    assert "bilan-revise.pdf" in review and "en attente de relecture" in review
    assert "Pièces jointes ajoutées" in review
    assert client.get(download).status_code == 200
    # Publishing the revision publishes its files.
    act(client, "publish")
    assert [a.pending for a in attachments_of(app)] == [False]
    client.cookies.clear()
    assert "bilan-revise.pdf" in client.get(f"/fiches/{SLUG}").text
    assert api_files(client) == ["bilan-revise.pdf"]
    assert client.get(download).content == PDF


def test_a_request_for_changes_keeps_the_files_waiting(client, app, make_user):
    login(client, make_user("contributor", regie="regie-du-canal"))
    files = [("attachments", ("affiche.pdf", PDF, "application/pdf"))]
    assert send(client, EDIT, {}, action="submit", files=files).status_code == 303
    login(client, make_user("curator"))
    page = client.get(f"/curation/fiches/{SLUG}").text
    token = re.search(r'name="csrf_token" value="([0-9a-f]{128})"', page).group(1)
    client.post(f"/curation/fiches/{SLUG}", data={"csrf_token": token, "action": "request_changes",
                "comment": "Ajoutez un titre."}, follow_redirects=False)  # fmt: skip
    assert [a.pending for a in attachments_of(app)] == [True]


def test_files_of_a_curators_own_edit_or_a_draft_are_not_pending(client, app, make_user):
    login(client, make_user("curator"))
    files = [("attachments", ("convention.pdf", PDF, "application/pdf"))]
    assert send(client, EDIT, {}, files=files).status_code == 303  # the fiche itself
    assert [a.pending for a in attachments_of(app)] == [False]
    client.cookies.clear()
    assert api_files(client) == ["convention.pdf"]


def test_the_export_leaves_a_revisions_files_out_and_an_import_keeps_them(
    client, app, make_user, tmp_path: Path
):
    login(client, make_user("curator"))
    published = [("attachments", ("convention.pdf", PDF, "application/pdf"))]
    assert send(client, EDIT, {}, files=published).status_code == 303
    login(client, make_user("contributor", regie="regie-du-canal"))
    waiting = [("attachments", ("brouillon-budget.pdf", PDF, "application/pdf"))]
    assert send(client, EDIT, {}, action="submit", files=waiting).status_code == 303
    engine, store = app.state.engine, app.state.attachments

    folder = tmp_path / "export"
    export_corpus(engine, folder, store=store)
    assert sorted(p.name for p in (folder / "fiches" / SLUG).iterdir()) == ["convention.pdf"]
    assert "brouillon-budget" not in (folder / "fiches" / f"{SLUG}.md").read_text("utf-8")
    # Importing the export back leaves the revision, and its file, waiting for review.
    report = import_corpus(engine, folder, store=store)
    assert report.ok, report.problems
    rows = attachments_of(app)
    assert [(a.original_name, a.pending) for a in rows] == [
        ("convention.pdf", False),
        ("brouillon-budget.pdf", True),
    ]
    assert store.get(rows[1].stored_name) == PDF
    with read_session(engine) as session:
        assert get_by_slug(session, SLUG).pending_status == "submitted"


# --- (B) the curators see what a revision changes besides its text ----------------------------


def test_a_revision_of_only_a_figure_shows_it_on_the_review_page(client, app, make_user):
    login(client, make_user("contributor", regie="regie-du-canal"))
    assert send(client, EDIT, {"cost_eur": "85 000"}, action="submit").status_code == 303
    login(client, make_user("curator"))
    review = client.get(f"/curation/fiches/{SLUG}").text
    assert "La révision ne change pas le texte" not in review
    assert "<h3>Chiffres clés</h3>" in review
    assert "<ins>Coût : 85\u202f000\u00a0€</ins>" in review
    # The preview of what would be published shows the figures too.
    preview = review[review.index('id="apercu-titre"') :]
    assert "Chiffres clés" in preview and "85\u202f000\u00a0€" in preview


def test_partners_roles_format_and_interview_are_shown_to_the_curator(client, app, make_user):
    with write_session(app.state.engine) as session:
        fiche = get_by_slug(session, SLUG)
        fiche.kind = "express"
        fiche.figures = {"cost_eur": 45000}
    login(client, make_user("contributor", regie="regie-du-canal"))
    changes = {
        "kind": "fiche",
        "partner_name": ["Seine Habitat", "Ville de Saint-Denis"],
        "partner_role": ["prête le local", "finance le poste"],
        "interview_requested": "1",
        "cost_eur": "45 000",
        "insertion_jobs": "2",
    }
    response = send(client, EDIT + "?kind=fiche", changes, action="submit")
    assert response.status_code == 303, response.text
    login(client, make_user("curator"))
    review = client.get(f"/curation/fiches/{SLUG}").text
    diff = review[review.index('id="diff-titre"') : review.index('id="apercu-titre"')]
    assert "<h3>Format</h3>" in diff
    assert "<del>Fiche express</del>" in diff and "<ins>Fiche complète</ins>" in diff
    assert "<h3>Partenaires (et leur rôle)</h3>" in diff
    assert "<ins>Seine Habitat — prête le local</ins>" in diff
    assert "<ins>Ville de Saint-Denis — finance le poste</ins>" in diff
    assert "<del>Seine Habitat</del>" in diff
    assert "<h3>Entretien demandé à l&#39;équipe du réseau</h3>" in diff
    assert "<del>non</del>" in diff and "<ins>oui</ins>" in diff
    assert "<span>Coût : 45\u202f000\u00a0€</span>" in diff  # unchanged, for context
    assert "<ins>Emplois en insertion : 2</ins>" in diff
    preview = review[review.index('id="apercu-titre"') :]
    assert "Format : <strong>Fiche complète</strong>" in preview
    assert "<li>Ville de Saint-Denis — finance le poste</li>" in preview
    assert "Emplois en insertion" in preview


def test_a_revision_that_changes_nothing_says_so(client, app, make_user):
    login(client, make_user("contributor", regie="regie-du-canal"))
    assert send(client, EDIT, {}, action="submit").status_code == 303
    login(client, make_user("curator"))
    review = client.get(f"/curation/fiches/{SLUG}").text
    assert "La révision ne change pas le texte." in review


# --- (C) figures round-trip through the form ----------------------------------------------------


@pytest.mark.parametrize(
    ("stored", "shown"),
    [
        (33.3333333, "33,333333"),
        (1e-05, "0,00001"),
        (12.125, "12,1250"),
        (0.5, "0,5"),
        (12.5, "12,5"),
        (6.0, "6"),
        (85000, "85000"),
        (999_999_999.99, "999999999,99"),
        (1e9, "1000000000"),
        (2.5e-7, "0"),
    ],
)
def test_a_stored_figure_is_written_so_that_the_form_reads_it_back(stored, shown):
    text = number_text(stored)
    assert text == shown and "e" not in text
    assert parse_number(text) == pytest.approx(stored, abs=1e-6)


@pytest.mark.parametrize("typed", ["12,000", "1,500 €", "999,999"])
def test_three_digits_after_a_comma_are_refused_as_ambiguous(typed):
    assert parse_number(typed) is None
    read = parse(form_data({"cost_eur": typed, "funding_scheme": "aci", "funding_amount": typed}))
    assert read.values["cost_eur"] == typed  # kept as typed
    for key in ("cost_eur", "funding_eur"):
        message = read.errors[key]
        assert f"« {typed.strip()} »" in message, message
        assert "« 12000 »" in message and "« 12,5 »" in message


@pytest.mark.parametrize(("typed", "number"), [("0,125", 0.125), ("12,5", 12.5), ("12000", 12000),
                                                ("12.000", 12000), ("1234,567", 1234.567)])  # fmt: skip
def test_unambiguous_decimals_are_still_read(typed, number):
    assert parse_number(typed) == pytest.approx(number)


def form_data(values: dict[str, str]) -> FormData:
    """A posted form of one value per field, as starlette parses it."""
    return FormData(list(values.items()))


def test_a_stored_odd_figure_no_longer_blocks_saving_an_express(client, app, make_user):
    login(client, make_user("contributor", regie="regie-du-canal"))
    response = send(client, "/contribuer?kind=express", {"title": "Express aux chiffres"})
    assert response.status_code == 303, response.text
    slug = response.headers["location"].split("/")[2]
    with write_session(app.state.engine) as session:  # as an import or a curator set them
        fiche = get_by_slug(session, slug)
        fiche.figures = {"own_revenue_pct": 33.3333333, "setup_months": 1e-05,
                         "funding_eur": {"aci": 12.125}}  # fmt: skip
    page = client.get(f"/fiches/{slug}/modifier").text
    assert 'name="own_revenue_pct" value="33,333333"' in page  # hidden: not to be fixed by hand
    response = send(client, f"/fiches/{slug}/modifier", {"title": "Express aux chiffres, revue"})
    assert response.status_code == 303, html.unescape(response.text)[:2000]
    with read_session(app.state.engine) as session:
        figures = get_by_slug(session, slug).figures
    assert figures["own_revenue_pct"] == pytest.approx(33.333333)
    assert figures["funding_eur"] == {"aci": 12.125}


def test_an_ambiguous_figure_is_refused_in_french_and_kept_as_typed(client, make_user):
    login(client, make_user("contributor", regie="regie-du-canal"))
    response = send(client, "/contribuer", {"title": "Chiffre ambigu", "cost_eur": "12,000"})
    assert response.status_code == 422
    page = html.unescape(response.text)
    assert "« 12,000 » peut se lire de deux façons" in page
    assert 'name="cost_eur" type="text" value="12,000"' in page
