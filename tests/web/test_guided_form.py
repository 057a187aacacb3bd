"""The guided fiche form and the fiche express (issue 14): the order of the sections, the
summary drafted on demand, partners with their role, figures typed the French way, the
express's few fields, and growing an express into a full fiche at the same address."""

from __future__ import annotations

import html
import re
from html.parser import HTMLParser

from sqlalchemy import select

from resource_centre.db import read_session, write_session
from resource_centre.models import WriteUp
from resource_centre.writeups import get_by_slug
from tests.web.conftest import login

CONTEXT = (
    "Le quartier du Canal compte 1 800 logements sociaux et aucune laverie. Les familles "
    "lavaient à la main. Une troisième phrase qui ne sert pas au résumé."
)
METHOD = "Un questionnaire porté par les salariés a confirmé le besoin. Puis le bailleur a prêté un local."


class FormFields(HTMLParser):
    """The fields of a page's forms, as a browser would send them untouched: hidden inputs
    with their values, and the names of the fields a person fills."""

    def __init__(self) -> None:
        super().__init__()
        self.hidden: list[tuple[str, str]] = []
        self.visible: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        name = a.get("name")
        if not name or tag not in ("input", "textarea", "select"):
            return
        kind = a.get("type", "text") if tag == "input" else tag
        if kind == "hidden":
            self.hidden.append((name, a.get("value", "")))
        elif kind not in ("submit", "button"):
            self.visible.append(name)


def fields_of(page: str) -> FormFields:
    """The fields of the fiche form of `page` (the sign-out form's token left out)."""
    form = re.search(r'<form class="guide-form".*?</form>', page, re.S)
    assert form, "no fiche form on the page"
    parser = FormFields()
    parser.feed(form.group(0))
    return parser


def send(client, url: str, data: dict, *, page_url: str | None = None, action: str = "save"):
    """Post the fiche form of `page_url` (default `url`) as a browser would: its hidden
    fields as they are, then what the person typed."""
    page = client.get(page_url or url)
    assert page.status_code == 200, page.text
    body: dict[str, list[str]] = {}
    for name, value in fields_of(page.text).hidden:
        if name not in data:
            body.setdefault(name, []).append(value)
    body["action"] = [action]
    for key, value in data.items():
        body[key] = value if isinstance(value, list) else [value]
    return client.post(url, data=body, follow_redirects=False)


def fiche(app, slug: str) -> WriteUp:
    with read_session(app.state.engine) as session:
        found = get_by_slug(session, slug)
        assert found is not None
        return found


def slug_of(response, app=None, title: str = "") -> str:
    """The slug of the fiche a post saved (a submitted one goes to « Mes fiches »: by title)."""
    assert response.status_code == 303, response.text
    if response.headers["location"] == "/mes-fiches":
        with read_session(app.state.engine) as session:
            return session.execute(select(WriteUp.slug).where(WriteUp.title == title)).scalar_one()
    return response.headers["location"].split("/")[2]


def textarea(page: str, name: str) -> str:
    match = re.search(
        rf'<textarea id="champ-{name}" name="{name}"[^>]*>(.*?)</textarea>', page, re.S
    )
    assert match, name
    return html.unescape(match.group(1))


def publish(client, slug: str) -> None:
    page = client.get(f"/curation/fiches/{slug}").text
    token = re.search(r'name="csrf_token" value="([0-9a-f]{128})"', page).group(1)
    response = client.post(
        f"/curation/fiches/{slug}",
        data={"csrf_token": token, "action": "publish"},
        follow_redirects=False,
    )
    assert response.status_code == 303, response.text


# --- the guided form -----------------------------------------------------------------------


def test_sections_come_in_the_order_people_remember_and_the_summary_last(client, login_as):
    login_as("contributor", regie="regie-du-canal")
    page = client.get("/contribuer").text
    order = ["context", "objectives", "method", "resources", "results", "residents", "lessons",
             "transfer", "summary"]  # fmt: skip
    positions = [page.index(f'name="{name}"') for name in order]
    assert positions == sorted(positions)
    assert 'Démarche <span class="guide-subtitle">— ce que nous avons fait</span>' in page
    assert "pour le refaire ailleurs" in page and "Place des habitants" in page
    assert page.count("<summary>Voir un exemple") == 8
    assert "0 mot — objectif 80 à 200" in page  # Contexte's target length
    assert 'value="draft_summary"' in page and "Proposer un résumé" in page
    # Both formats are offered, and the checklist stands beside the form.
    assert 'href="/contribuer?kind=express"' in page and "Fiche express (20 minutes)" in page
    assert "Ce qui rend une fiche utile aux autres Régies" in page
    # guide.js is a file of ours (the CSP allows no inline script).
    assert '<script src="/static/guide.js" defer></script>' in page
    assert "<script>" not in page
    assert client.get("/static/guide.js").status_code == 200


def test_themes_proposed_from_the_activity_come_from_published_fiches(client, login_as):
    login_as("contributor")
    page = client.get("/contribuer").text
    mapping = re.search(r"data-activity-themes='([^']*)'", page).group(1)
    assert '"laverie":' in html.unescape(mapping)


def test_a_summary_is_drafted_on_demand_and_everything_else_is_kept(client, app, login_as):
    login_as("contributor", regie="regie-du-canal")
    typed = {
        "title": "Une laverie au Canal",
        "context": CONTEXT,
        "method": METHOD,
        "themes": ["lien-social"],
        "year_start": "2021",
        "partner_name": ["Ville de Saint-Denis", ""],
        "partner_role": ["finance le poste", ""],
        "cost_eur": "12 000",
    }
    response = send(client, "/contribuer", typed, action="draft_summary")
    assert response.status_code == 200, response.text
    page = response.text
    summary = textarea(page, "summary")
    assert summary.startswith(
        "Le quartier du Canal compte 1 800 logements sociaux et aucune laverie."
    )
    assert "Un questionnaire porté par les salariés a confirmé le besoin." in summary
    assert "troisième phrase" not in summary and len(summary) <= 600
    assert "Une proposition de résumé a été écrite" in page
    # Everything else stays as typed, and nothing was saved.
    assert textarea(page, "context") == CONTEXT and textarea(page, "method") == METHOD
    assert 'value="Une laverie au Canal"' in page and 'value="2021"' in page
    assert 'value="Ville de Saint-Denis"' in page and 'value="finance le poste"' in page
    assert 'value="12 000"' in page
    assert re.search(r'value="lien-social" checked', page)
    with read_session(app.state.engine) as session:
        assert (
            session.execute(select(WriteUp).where(WriteUp.title == typed["title"])).first() is None
        )

    # A summary already written is not replaced: a proposal is shown beside it ...
    mine = {**typed, "summary": "Mon propre résumé."}
    page = send(client, "/contribuer", mine, action="draft_summary").text
    assert textarea(page, "summary") == "Mon propre résumé."
    assert "Proposition de résumé" in page and 'value="replace_summary"' in page
    # ... until the person asks for it.
    page = send(client, "/contribuer", mine, action="replace_summary").text
    assert textarea(page, "summary").startswith("Le quartier du Canal compte")


def test_nothing_to_draft_from_is_said_in_french(client, login_as):
    login_as("contributor")
    response = send(client, "/contribuer", {"title": "Vide"}, action="draft_summary")
    assert response.status_code == 422
    assert "écrivez d&#39;abord le contexte et la démarche" in response.text


def test_partners_with_their_role_round_trip(client, app, login_as):
    login_as("contributor", regie="regie-du-canal")
    response = send(
        client,
        "/contribuer",
        {
            "title": "Partenaires et rôles",
            "partner_name": ["Ville de Saint-Denis", "", "Bailleur du Canal", ""],
            "partner_role": ["finance le poste d'animatrice", "", "", ""],
        },
    )
    slug = slug_of(response)
    assert fiche(app, slug).partners == [
        "Ville de Saint-Denis — finance le poste d'animatrice",
        "Bailleur du Canal",
    ]
    page = client.get(f"/fiches/{slug}/modifier").text
    assert 'name="partner_name" value="Ville de Saint-Denis"' in page
    assert 'name="partner_role" value="finance le poste d&#39;animatrice"' in page
    assert 'name="partner_name" value="Bailleur du Canal"' in page
    # Saved again unchanged from its own page: the same partners.
    again = send(client, f"/fiches/{slug}/modifier", {
        "title": "Partenaires et rôles",
        "partner_name": ["Ville de Saint-Denis", "Bailleur du Canal"],
        "partner_role": ["finance le poste d'animatrice", ""],
    })  # fmt: skip
    assert again.status_code == 303
    assert fiche(app, slug).partners[0] == "Ville de Saint-Denis — finance le poste d'animatrice"


def test_a_role_without_a_partner_is_a_french_error(client, login_as):
    login_as("contributor")
    response = send(
        client,
        "/contribuer",
        {"title": "Rôle seul", "partner_name": [""], "partner_role": ["prête le local"]},
    )
    assert response.status_code == 422
    assert "indiquez le nom du partenaire de ce rôle" in response.text
    assert 'value="prête le local"' in response.text


def test_figures_are_read_the_french_way(client, app, login_as):
    login_as("contributor", regie="regie-du-canal")
    response = send(
        client,
        "/contribuer",
        {
            "title": "Des chiffres",
            "cost_eur": "12 000",
            "insertion_jobs": "4",
            "people_reached": "1\u202f300",
            "setup_months": "6,5",
            "own_revenue_pct": "12,5 %",
            "funding_scheme": ["contrat-de-ville", "aci", ""],
            "funding_amount": ["8 000 €", "4000", ""],
        },
    )
    slug = slug_of(response)
    assert fiche(app, slug).figures == {
        "cost_eur": 12000,
        "funding_eur": {"contrat-de-ville": 8000, "aci": 4000},
        "insertion_jobs": 4,
        "people_reached": 1300,
        "setup_months": 6.5,
        "own_revenue_pct": 12.5,
    }
    page = client.get(f"/fiches/{slug}/modifier").text
    assert 'name="cost_eur" type="text" value="12000"' in page
    assert 'name="setup_months" type="text" value="6,5"' in page
    assert 'name="funding_amount" value="8000"' in page


def test_bad_figures_are_french_errors_that_keep_what_was_typed(client, app, login_as):
    login_as("contributor", regie="regie-du-canal")
    response = send(
        client,
        "/contribuer",
        {
            "title": "Chiffres mal tapés",
            "context": "Mon texte",
            "cost_eur": "douze mille",
            "insertion_jobs": "2,5",
            "own_revenue_pct": "130",
            "funding_scheme": ["contrat-de-ville"],
            "funding_amount": ["beaucoup"],
        },
    )
    assert response.status_code == 422
    page = response.text
    assert "indiquez un nombre, par exemple 12000" in page
    assert "indiquez un nombre entier" in page and "indiquez un nombre de 0 à 100" in page
    assert "ligne 1 : indiquez un nombre" in page
    for typed in ("douze mille", "2,5", "130", "beaucoup", "Chiffres mal tapés"):
        assert f'value="{typed}"' in page, typed
    assert 'href="#champ-cost_eur"' in page and 'href="#champ-funding_eur"' in page
    with read_session(app.state.engine) as session:
        assert (
            session.execute(select(WriteUp).where(WriteUp.title == "Chiffres mal tapés")).first()
            is None
        )


def test_figures_are_kept_when_a_script_posts_none(client, app, login_as):
    login_as("contributor", regie="regie-du-canal")
    slug = slug_of(send(client, "/contribuer", {"title": "Chiffres gardés", "cost_eur": "5000"}))
    from tests.web.test_contribute import post_form

    assert (
        post_form(client, f"/fiches/{slug}/modifier", {"title": "Chiffres gardés"}).status_code
        == 303
    )
    assert fiche(app, slug).figures == {"cost_eur": 5000}


# --- the fiche express ---------------------------------------------------------------------

EXPRESS = {
    "title": "Un repair café en bas des tours",
    "themes": ["economie-circulaire"],
    "method": "Un samedi par mois, des bénévoles réparent avec les habitants. Le café est offert.",
    "context": "Au Canal, les encombrants débordaient d'appareils réparables.",
    "results": "300 objets réparés la première année.",
    "lessons": "Garder une date fixe : les habitants s'en souviennent.",
    "transfer": "La coordinatrice vie de quartier, à l'accueil de la Régie.",
}


def test_the_express_form_has_fewer_than_15_fields(client, login_as):
    login_as("contributor", regie="regie-du-canal")
    page = client.get("/contribuer?kind=express")
    assert page.status_code == 200
    fields = fields_of(page.text)
    names = sorted(set(fields.visible) - {"csrf_token"})
    assert len(names) < 15, names
    assert set(names) == {
        "title", "method", "context", "partner_name", "partner_role", "results", "lessons",
        "transfer", "interview_requested", "themes", "summary",
    }  # fmt: skip
    assert ("kind", "express") in fields.hidden
    text = page.text
    for question in ("Qu&#39;avez-vous fait ?", "Où et avec qui ?", "Qu&#39;est-ce que ça a donné ?",
                     "La leçon à retenir", "Un contact", "Nous acceptons d'en dire plus"):  # fmt: skip
        assert question in text, question
    assert "<h1>Fiche express</h1>" in text and 'href="/contribuer"' in text


def test_an_express_with_only_its_questions_is_submitted_and_stays_an_express(
    client, app, login_as
):
    login_as("contributor", regie="regie-du-canal")
    answers = {**EXPRESS, "interview_requested": "1"}
    response = send(
        client, "/contribuer", answers, page_url="/contribuer?kind=express", action="submit"
    )
    assert response.headers["location"] == "/mes-fiches"
    slug = slug_of(response, app, EXPRESS["title"])
    stored = fiche(app, slug)
    assert stored.kind == "express" and stored.status == "submitted"
    assert stored.interview_requested is True
    # The summary, left empty, was drafted from the answers.
    assert stored.summary.startswith(
        "Un samedi par mois, des bénévoles réparent avec les habitants."
    )
    assert stored.sections["lessons"] == EXPRESS["lessons"]
    assert "context" in stored.sections and "objectives" not in stored.sections


def test_an_express_stays_an_express_when_edited(client, app, login_as):
    login_as("contributor", regie="regie-du-canal")
    slug = slug_of(send(client, "/contribuer", {"title": "Express à reprendre", "method": "Fait."},
                        page_url="/contribuer?kind=express"))  # fmt: skip
    # What a curator (or an import) gave it beyond the questions is carried by the page.
    with write_session(app.state.engine) as session:
        stored = get_by_slug(session, slug)
        stored.year_start, stored.activity = 2020, "laverie"
        stored.figures = {"cost_eur": 5000, "funding_eur": {"aci": 2000}}
        stored.sections = {**stored.sections, "objectives": "Laver moins cher."}
        session.add(stored)
    mine = client.get("/mes-fiches").text
    assert "Fiche express" in mine and f'href="/fiches/{slug}/modifier?kind=fiche"' in mine
    page = client.get(f"/fiches/{slug}/modifier").text
    assert "<h1>Modifier la fiche express</h1>" in page
    assert f'href="/fiches/{slug}/modifier?kind=fiche"' in page  # « Développer en fiche complète »
    response = send(client, f"/fiches/{slug}/modifier", {"title": "Express à reprendre",
                                                          "method": "Fait, puis refait."})  # fmt: skip
    assert response.status_code == 303, response.text
    stored = fiche(app, slug)
    assert stored.kind == "express" and stored.sections["method"] == "Fait, puis refait."
    assert stored.year_start == 2020 and stored.activity == "laverie"
    assert stored.figures == {"cost_eur": 5000, "funding_eur": {"aci": 2000}}
    assert stored.sections["objectives"] == "Laver moins cher."
    # A script that does not say the kind keeps it too.
    from tests.web.test_contribute import post_form

    assert (
        post_form(client, f"/fiches/{slug}/modifier", {"title": "Sans format"}).status_code == 303
    )
    assert fiche(app, slug).kind == "express"


def test_an_express_grows_into_a_full_fiche_at_the_same_address(client, app, login_as):
    login_as("contributor", regie="regie-du-canal")
    slug = slug_of(send(client, "/contribuer", EXPRESS, page_url="/contribuer?kind=express"))
    page = client.get(f"/fiches/{slug}/modifier?kind=fiche")
    assert page.status_code == 200
    assert "Développer la fiche express en fiche complète" in page.text
    assert ("kind", "fiche") in fields_of(page.text).hidden
    assert textarea(page.text, "method") == EXPRESS["method"]  # the answers pre-filled
    assert textarea(page.text, "lessons") == EXPRESS["lessons"]
    grown = {
        "title": EXPRESS["title"],
        "themes": EXPRESS["themes"],
        "summary": "Un repair café mensuel.",
        **{k: EXPRESS[k] for k in ("context", "method", "results", "lessons", "transfer")},
        "residents": "Les habitants tiennent l'accueil.",
    }
    response = send(client, f"/fiches/{slug}/modifier", grown,
                    page_url=f"/fiches/{slug}/modifier?kind=fiche", action="submit")  # fmt: skip
    assert response.status_code == 303, response.text
    stored = fiche(app, slug)
    assert stored.slug == slug and stored.kind == "fiche" and stored.status == "submitted"
    assert stored.sections["residents"] == "Les habitants tiennent l'accueil."
    # A full fiche is never turned back into an express by a post.
    assert stored.kind == "fiche"


def test_a_published_express_grows_through_a_revision(client, app, login_as, make_user):
    contributor = login_as("contributor", regie="regie-du-canal")
    slug = slug_of(send(client, "/contribuer", EXPRESS, page_url="/contribuer?kind=express",
                        action="submit"), app, EXPRESS["title"])  # fmt: skip
    curator = make_user("curator")
    login(client, curator)
    publish(client, slug)
    assert fiche(app, slug).status == "published"

    login(client, contributor)
    grown = {**EXPRESS, "summary": "Un repair café mensuel, développé."}
    response = send(client, f"/fiches/{slug}/modifier", grown,
                    page_url=f"/fiches/{slug}/modifier?kind=fiche", action="submit")  # fmt: skip
    assert response.status_code == 303, response.text
    stored = fiche(app, slug)
    # The express stays online while the revision waits; the revision is a full fiche.
    assert stored.kind == "express" and stored.status == "published"
    assert stored.pending_status == "submitted" and stored.pending["kind"] == "fiche"
    assert client.get(f"/api/writeups/{slug}").json()["summary"] == stored.summary

    login(client, curator)
    publish(client, slug)
    stored = fiche(app, slug)
    assert stored.slug == slug and stored.kind == "fiche" and stored.pending is None
    assert stored.summary == "Un repair café mensuel, développé."


def test_a_curator_grows_an_express_after_the_interview(client, app, login_as, make_user):
    contributor = make_user("contributor", regie="regie-du-canal")
    login(client, contributor)
    slug = slug_of(send(client, "/contribuer", EXPRESS, page_url="/contribuer?kind=express",
                        action="submit"), app, EXPRESS["title"])  # fmt: skip
    login_as("curator")
    publish(client, slug)
    grown = {**EXPRESS, "summary": "Résumé écrit après l'entretien.", "regie": "regie-du-canal"}
    response = send(client, f"/fiches/{slug}/modifier", grown,
                    page_url=f"/fiches/{slug}/modifier?kind=fiche")  # fmt: skip
    assert response.status_code == 303, response.text
    stored = fiche(app, slug)
    assert stored.kind == "fiche" and stored.status == "published" and stored.pending is None


def test_a_full_fiche_is_never_made_an_express(client, app, login_as):
    login_as("contributor", regie="regie-du-canal")
    slug = slug_of(send(client, "/contribuer", {"title": "Fiche complète"}))
    response = send(
        client, f"/fiches/{slug}/modifier", {"title": "Fiche complète", "kind": "express"}
    )
    assert response.status_code == 303
    assert fiche(app, slug).kind == "fiche"
    page = client.get(f"/fiches/{slug}/modifier?kind=express").text
    assert ("kind", "fiche") in fields_of(page).hidden
