"""Invitations, end to end: an administrator invites an address with a role and a Régie, the
message reaches a real SMTP server, the person sets their password from the link and is
signed in with that role and Régie (SQLite and PostgreSQL).

Decision tested here: inviting again an address that has not answered sends a NEW link and
the previous one stops working (only the newest message is valid)."""

from __future__ import annotations

import email
import email.policy
import re
from collections.abc import Iterator
from email.message import EmailMessage
from types import SimpleNamespace
from typing import Any

import pytest
from markupsafe import escape
from sqlalchemy import func, select
from starlette.testclient import TestClient

from resource_centre import account_tokens
from resource_centre.account_tokens import INVITED_HASH
from resource_centre.auth import AccountError, verify_password
from resource_centre.config import Settings
from resource_centre.db import read_session, write_session
from resource_centre.mail_sender import send_pending
from resource_centre.models import AuditEvent, OutboxMessage, Regie, User
from tests.mail.test_password_reset import (
    INVALID,
    add_user,
    deliver,
    form_post,
    link_in,
    outbox_count,
    signed_in,
    start_site,
    text_of,
)
from tests.web.conftest import csrf_of, login

CHOSEN = "ma phrase de passe choisie"
SUBJECT = "Invitation au Centre de ressources du Mouvement des Régies"


@pytest.fixture
def site(mail_settings: Settings) -> Iterator[TestClient]:
    yield from start_site(mail_settings)


@pytest.fixture
def admin(site: TestClient) -> User:
    user = add_user(site, "admin", email="admin@exemple.org", name="Dominique Admin")
    assert login(site, user).status_code == 303
    return user


def invite(client: TestClient, **fields: str) -> Any:
    data = {"email": "", "name": "", "role": "contributor", "regie": "", **fields}
    return form_post(client, "/curation/utilisateurs", "/curation/utilisateurs/inviter", data)


def account(client: TestClient, email: str) -> User | None:
    with read_session(client.app.state.engine) as session:
        return session.execute(select(User).where(User.email == email)).scalar_one_or_none()


def regie_name(client: TestClient, regie_id: int | None) -> str | None:
    with read_session(client.app.state.engine) as session:
        regie = session.get(Regie, regie_id) if regie_id else None
        return regie.name if regie else None


def test_an_invited_person_sets_a_password_and_is_signed_in_with_role_and_regie(
    site, admin, smtp_server
):
    sent = invite(site, email="Nouvelle@Exemple.org", role="contributor", regie="regie-du-canal")
    assert sent.status_code == 303 and sent.headers["location"] == "/curation/utilisateurs"
    users_page = site.get("/curation/utilisateurs").text
    assert "Invitation envoyée à nouvelle@exemple.org." in users_page
    assert "Invitation en attente</td>" in users_page and "Renvoyer l'invitation" in users_page
    invited = account(site, "nouvelle@exemple.org")
    assert invited is not None and not invited.active
    assert invited.password_hash == INVITED_HASH and not verify_password("", INVITED_HASH)
    regie = regie_name(site, invited.regie_id)
    assert regie

    [message] = deliver(site, smtp_server, 1)
    assert message["To"] == "nouvelle@exemple.org" and message["Subject"] == SUBJECT
    assert message["List-Unsubscribe"] is None  # a security message
    text = text_of(message)
    assert "Dominique Admin" in text and "Contributeur" in text and regie in text
    assert "7 jours" in text
    link = link_in(message, "/invitation/")

    person = TestClient(site.app, raise_server_exceptions=False)  # the invited person's browser
    # Not usable before the invitation is accepted, whatever the password.
    assert (
        login(person, SimpleNamespace(email="nouvelle@exemple.org"), "!invite").status_code == 422
    )
    form = person.get(link)
    assert form.status_code == 200 and "nouvelle@exemple.org" in form.text and regie in form.text
    assert form.headers["cache-control"] == "no-store"
    token = csrf_of(form.text)
    short = person.post(link, data={"name": "Sam Nouvelle", "password": "court",
                                    "password_confirm": "court", "csrf_token": token})  # fmt: skip
    assert short.status_code == 422 and "au moins 10 caractères" in short.text
    assert 'value="Sam Nouvelle"' in short.text  # what was typed is kept, passwords apart
    done = person.post(
        link,
        data={"name": "Sam Nouvelle", "password": CHOSEN, "password_confirm": CHOSEN,
              "csrf_token": token},
        follow_redirects=False,
    )  # fmt: skip
    assert done.status_code == 303 and done.headers["location"] == "/mes-fiches"
    welcome = person.get("/mes-fiches", follow_redirects=False)
    assert welcome.status_code == 200  # signed in at once
    assert "Bienvenue, Sam Nouvelle : votre compte est activé." in welcome.text
    assert person.get(link).status_code == 404 and INVALID in person.get(link).text

    person.post("/deconnexion", data={"csrf_token": csrf_of(person.get("/mon-compte").text)})
    assert not signed_in(person)
    assert login(person, SimpleNamespace(email="nouvelle@exemple.org"), CHOSEN).status_code == 303
    accepted = account(site, "nouvelle@exemple.org")
    assert accepted is not None and accepted.active and accepted.name == "Sam Nouvelle"
    assert accepted.role == "contributor" and accepted.regie_id == invited.regie_id
    assert "Invitation en attente</td>" not in site.get("/curation/utilisateurs").text


def test_inviting_again_sends_a_new_link_and_the_old_one_stops(site, admin, smtp_server):
    assert invite(site, email="curieuse@exemple.org", role="curator").status_code == 303
    again = invite(site, email="curieuse@exemple.org", role="admin", name="Alex Curieuse")
    assert again.status_code == 303
    assert "le lien précédent ne fonctionne plus" in site.get("/curation/utilisateurs").text
    first, second = (link_in(m, "/invitation/") for m in deliver(site, smtp_server, 2))
    assert first != second
    visitor = TestClient(site.app, raise_server_exceptions=False)
    old = visitor.get(first)
    assert old.status_code == 404 and INVALID in old.text
    new = visitor.get(second)
    assert new.status_code == 200 and 'value="Alex Curieuse"' in new.text
    assert "Administrateur" in new.text  # the newest role
    with read_session(site.app.state.engine) as session:
        assert session.execute(select(func.count()).select_from(User).where(
            User.email == "curieuse@exemple.org")).scalar_one() == 1  # fmt: skip


def test_an_existing_account_or_a_bad_form_is_refused_in_french(site, admin):
    add_user(site, email="deja@exemple.org")
    taken = invite(site, email="deja@exemple.org", role="contributor", regie="regie-du-canal")
    assert taken.status_code == 422 and "existe déjà pour cette adresse" in taken.text
    assert 'value="deja@exemple.org"' in taken.text and 'aria-invalid="true"' in taken.text
    no_regie = invite(site, email="sans@exemple.org", name="Sans Régie", role="contributor")
    assert no_regie.status_code == 422 and "rattaché à une Régie" in no_regie.text
    assert 'value="Sans Régie"' in no_regie.text
    bad_role = invite(site, email="role@exemple.org", role="superuser")
    assert bad_role.status_code == 422 and "Choisissez un rôle" in bad_role.text
    assert invite(site, email="pas une adresse", role="curator").status_code == 422
    assert account(site, "sans@exemple.org") is None and outbox_count(site) == 0


def test_only_administrators_invite_and_the_form_needs_its_csrf_token(site):
    curator = add_user(site, "curator", email="curatrice@exemple.org")
    anonymous = TestClient(site.app, raise_server_exceptions=False)
    token = csrf_of(anonymous.get("/connexion").text)
    fields = {"email": "x@exemple.org", "role": "admin", "regie": ""}
    refused = anonymous.post("/curation/utilisateurs/inviter", data={**fields, "csrf_token": token},
                             follow_redirects=False)  # fmt: skip
    assert refused.status_code == 303 and refused.headers["location"].startswith("/connexion")
    assert login(site, curator).status_code == 303
    token = csrf_of(site.get("/mon-compte").text)
    forbidden = site.post("/curation/utilisateurs/inviter", data={**fields, "csrf_token": token})
    assert forbidden.status_code == 403
    site.cookies.clear()
    admin = add_user(site, "admin", email="admin@exemple.org")
    assert login(site, admin).status_code == 303
    no_token = site.post("/curation/utilisateurs/inviter", data=fields)
    assert no_token.status_code == 403 and "formulaire a expiré" in no_token.text
    assert account(site, "x@exemple.org") is None and outbox_count(site) == 0
    # With its token, the same form works (so the refusals above were about permission/CSRF).
    assert invite(site, **fields).status_code == 303 and account(site, "x@exemple.org")


def test_a_pending_invitation_cannot_ask_for_a_password_reset(site, admin, smtp_server):
    assert invite(site, email="attente@exemple.org", role="curator").status_code == 303
    visitor = TestClient(site.app, raise_server_exceptions=False)
    page = form_post(visitor, "/mot-de-passe-oublie", "/mot-de-passe-oublie",
                     {"email": "attente@exemple.org"})  # fmt: skip
    assert page.status_code == 200
    assert outbox_count(site) == 1  # the invitation only


# --- review findings ---------------------------------------------------------------------


def users_form(client: TestClient, operation: str, user_id: int | None) -> Any:
    data = {"operation": operation, "user_id": str(user_id)}
    return form_post(client, "/curation/utilisateurs", "/curation/utilisateurs", data)


def accept(client: TestClient, link: str) -> Any:
    token = csrf_of(client.get("/connexion").text)
    data = {"name": "", "password": CHOSEN, "password_confirm": CHOSEN, "csrf_token": token}
    return client.post(link, data=data, follow_redirects=False)


def test_deactivating_an_invited_account_cancels_its_invitation(site, admin, smtp_server):
    """Review finding: the link of a deactivated invited account still worked, and
    accepting it re-activated the account."""
    assert invite(site, email="partira@exemple.org", role="curator").status_code == 303
    [message] = deliver(site, smtp_server, 1)
    link = link_in(message, "/invitation/")
    invited = account(site, "partira@exemple.org")
    assert invited is not None
    assert users_form(site, "deactivate", invited.id).status_code == 303
    person = TestClient(site.app, raise_server_exceptions=False)
    page = person.get(link)
    assert page.status_code == 404 and INVALID in page.text
    refused = accept(person, link)
    assert refused.status_code == 404 and INVALID in refused.text
    after = account(site, "partira@exemple.org")
    assert after is not None and not after.active
    assert not signed_in(person)
    # Reactivating a never-activated account is refused: a new invitation is the way.
    again = users_form(site, "activate", invited.id)
    assert again.status_code == 409 and "envoyez une nouvelle invitation" in again.text
    still = account(site, "partira@exemple.org")
    assert still is not None and not still.active
    assert accept(person, link).status_code == 404


def test_an_admin_cancels_a_pending_invitation(site, admin, smtp_server):
    assert invite(site, email="annulee@exemple.org", role="contributor",
                  regie="regie-du-canal").status_code == 303  # fmt: skip
    [message] = deliver(site, smtp_server, 1)
    link = link_in(message, "/invitation/")
    invited = account(site, "annulee@exemple.org")
    assert invited is not None
    page = site.get("/curation/utilisateurs").text
    form = re.search(
        r'<form method="post" action="/curation/utilisateurs/annuler-invitation"[^>]*>(.*?)</form>',
        page,
    )
    assert form and f'name="user_id" value="{invited.id}"' in form.group(1)
    assert "Annuler l'invitation" in form.group(1) and 'name="csrf_token"' in form.group(1)
    # Without its CSRF token, or by a curator: refused.
    no_token = site.post("/curation/utilisateurs/annuler-invitation",
                         data={"user_id": str(invited.id)})  # fmt: skip
    assert no_token.status_code == 403
    curator = TestClient(site.app, raise_server_exceptions=False)
    assert login(curator, add_user(site, "curator", email="cur@exemple.org")).status_code == 303
    forbidden = form_post(curator, "/mon-compte", "/curation/utilisateurs/annuler-invitation",
                          {"user_id": str(invited.id)})  # fmt: skip
    assert forbidden.status_code == 403
    assert TestClient(site.app).get(link).status_code == 200  # still valid so far

    done = form_post(site, "/curation/utilisateurs", "/curation/utilisateurs/annuler-invitation",
                     {"user_id": str(invited.id)})  # fmt: skip
    assert done.status_code == 303 and done.headers["location"] == "/curation/utilisateurs"
    page = site.get("/curation/utilisateurs").text
    assert "Invitation de annulee@exemple.org annulée : son lien ne fonctionne plus." in page
    assert "Invitation annulée</td>" in page and "Inviter de nouveau" in page
    person = TestClient(site.app, raise_server_exceptions=False)
    assert person.get(link).status_code == 404 and accept(person, link).status_code == 404
    cancelled = account(site, "annulee@exemple.org")
    assert cancelled is not None and not cancelled.active
    with read_session(site.app.state.engine) as session:
        events = session.execute(
            select(AuditEvent.detail).where(AuditEvent.action == "user_invite_cancel")
        ).scalars().all()  # fmt: skip
    assert events == [{"user": "annulee@exemple.org"}]
    # Cancelling twice: a French conflict, nothing else.
    twice = form_post(site, "/curation/utilisateurs", "/curation/utilisateurs/annuler-invitation",
                      {"user_id": str(invited.id)})  # fmt: skip
    assert twice.status_code == 409 and "n&#39;attend pas de réponse" in twice.text
    # Invited again: a new link works, the old one never again.
    assert invite(site, email="annulee@exemple.org", role="contributor",
                  regie="regie-du-canal").status_code == 303  # fmt: skip
    [renewed] = deliver(site, smtp_server, 2)[1:]
    fresh = link_in(renewed, "/invitation/")
    assert person.get(link).status_code == 404
    assert accept(person, fresh).status_code == 303
    accepted = account(site, "annulee@exemple.org")
    assert accepted is not None and accepted.active


@pytest.mark.parametrize(
    "address",
    ["a@exemple.org,pirate@attaquant.example", "Nom <a@exemple.org>",
     "a@exemple.org;b@exemple.org", "a@exemple.org\r\nBcc: b@exemple.org",
     '"a@exemple.org"@attaquant.example', "a@exemple.org pirate@attaquant.example"],
)  # fmt: skip
def test_an_invitation_goes_to_exactly_one_address(site, admin, address):
    """Review finding: a list of addresses (or a NUL byte) was accepted, and the To header
    then named two recipients."""
    refused = invite(site, email=address, role="curator")
    assert refused.status_code == 422, address
    assert "Cette adresse e-mail n&#39;est pas valide." in refused.text
    assert 'aria-invalid="true"' in refused.text
    assert f'name="email" type="email" value="{escape(address)}"' in refused.text  # kept
    assert outbox_count(site) == 0
    with read_session(site.app.state.engine) as session:
        assert session.execute(select(func.count()).select_from(User)).scalar_one() == 1


def test_invite_itself_refuses_anything_but_one_address(site, admin):
    """The HTTP edge strips control characters; `invite` must not rely on it."""
    for address in (
        "a@exemple.org\x00",
        "a\x00b@exemple.org",
        "a@exemple.org,b@exemple.org",
        "a@exemple.org\nBcc: b@exemple.org",
        "a@exemple",
    ):
        with pytest.raises(AccountError) as refused, write_session(site.app.state.engine) as s:
            account_tokens.invite(s, user=admin, email=address, role="curator")
        assert refused.value.field == "email", address
    assert outbox_count(site) == 0


def test_an_admin_without_a_name_is_not_named_by_address(site, smtp_server):
    """Review finding: the invitation named the inviter by their e-mail address."""
    nameless = add_user(site, "admin", email="admin.sans.nom@exemple.org", name="")
    assert login(site, nameless).status_code == 303
    assert invite(site, email="nouveau@exemple.org", role="curator").status_code == 303
    [message] = deliver(site, smtp_server, 1)
    assert "L'équipe du réseau vous invite" in text_of(message)
    assert "admin.sans.nom" not in message.as_string()


def test_without_a_mail_server_the_admin_is_told_the_invitation_is_a_file(mail_settings):
    """Review finding: the flash said « Invitation envoyée » while the message was only a
    .eml file in the outbox folder, which the outbox page does not show."""
    settings = mail_settings.model_copy(update={"smtp_url": None})
    for client in start_site(settings):
        admin = add_user(client, "admin", email="admin@exemple.org", name="Dominique Admin")
        assert login(client, admin).status_code == 303
        assert invite(client, email="fichier@exemple.org", role="curator").status_code == 303
        page = client.get("/curation/utilisateurs").text
        assert (
            f"Invitation pour fichier@exemple.org écrite dans {settings.outbox_dir}/ (aucun "
            "serveur de courriel configuré) : transmettez ce fichier à la personne." in page
        )
        assert "Invitation envoyée" not in page and "Invitation en attente</td>" in page
        # What the flash says is true: the message, its link included, is that folder's file.
        report = send_pending(client.app.state.engine, settings, holder="tests-files",
                              lease_wait=10)  # fmt: skip
        assert report.failed == 0
        with read_session(client.app.state.engine) as session:
            row_id = session.execute(select(func.max(OutboxMessage.id))).scalar_one()
        written = email.message_from_bytes(
            (settings.outbox_dir / f"{row_id}.eml").read_bytes(), policy=email.policy.default
        )
        assert isinstance(written, EmailMessage) and written["To"] == "fichier@exemple.org"
        first = link_in(written, "/invitation/")
        again = invite(client, email="fichier@exemple.org", role="curator")
        assert again.status_code == 303
        assert (
            "Nouvelle invitation pour fichier@exemple.org écrite dans "
            f"{settings.outbox_dir}/ (aucun serveur de courriel configuré ; le lien précédent "
            "ne fonctionne plus) : transmettez ce fichier à la personne."
            in client.get("/curation/utilisateurs").text
        )
        assert TestClient(client.app).get(first).status_code == 404
