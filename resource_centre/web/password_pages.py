"""Password reset by e-mail and invitations (issue 15).

`/mot-de-passe-oublie` answers the same page, with the same status, whatever the address
(known, deactivated, invited or unknown); its limits count requests per client address and
per e-mail alike, so a refusal says nothing about an account either. The links
`/mot-de-passe/{token}` and `/invitation/{token}` are single use (`account_tokens`); an
unusable link gets a French page (404) and never reaches the database when malformed.
Routes are plain `def`: argon2 and the database run in the thread pool.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from resource_centre import account_tokens
from resource_centre.account_tokens import LinkInvalid
from resource_centre.auth import SESSION_COOKIE, AccountError, normalise_email, single_address
from resource_centre.db import read_session, write_session
from resource_centre.models import Regie
from resource_centre.ratelimit import allow_shared
from resource_centre.taxonomy import ROLE_LABELS
from resource_centre.web.curate import users_page
from resource_centre.web.deps import AdminDep, FormId, render
from resource_centre.web.errors import form_status
from resource_centre.web.sessions import cookie_header, set_flash
from resource_centre.web.urls import path_for

router = APIRouter()

RESET_WINDOW = 3600.0  # seconds
RESETS_PER_ADDRESS = 10  # requests from one client address per window, any e-mail
RESETS_PER_EMAIL = 3  # requests for one e-mail per window, from anywhere
TOO_MANY_RESETS = (
    "Trop de demandes de nouveau mot de passe. Réessayez dans une heure ; si aucun message "
    "n'arrive, écrivez à l'équipe du réseau."
)
PASSWORD_LABELS = {"password": "Nouveau mot de passe", "password_confirm": "Confirmation"}
# The token pages: never cached, and their address (which holds the token) never sent as
# a Referer, not even to this site's own style sheet.
LINK_HEADERS = {"Cache-Control": "no-store", "Referrer-Policy": "no-referrer"}


def _client_address(request: Request) -> str:
    return request.client.host if request.client else "inconnue"


def _with_link_headers(response: Response) -> Response:
    for name, value in LINK_HEADERS.items():
        response.headers[name] = value
    return response


# --- asking for a link ---------------------------------------------------------------------


def _forgot_page(
    request: Request, *, sent: bool = False, email: str = "",
    errors: dict[str, str] | None = None, status: int = 200,
) -> Response:  # fmt: skip
    context = {"sent": sent, "email": email, "errors": errors or {}}
    return render(request, "accounts/forgot.html", context, status_code=status)


@router.get("/mot-de-passe-oublie", response_class=HTMLResponse, name="forgot_password")
def forgot_form(request: Request) -> Response:
    return _forgot_page(request)


def _reset_allowed(request: Request, email: str) -> bool:
    """Within both limits (counted in the database, across workers)? Every address and
    every e-mail is counted the same way, whether an account has it or not."""
    settings = request.app.state.settings
    engine = request.app.state.engine
    common = {"window": RESET_WINDOW, "secret": settings.secret_key}
    return allow_shared(
        engine, name="reset-address", key=_client_address(request),
        limit=RESETS_PER_ADDRESS, **common,
    ) and allow_shared(
        engine, name="reset-email", key=email, limit=RESETS_PER_EMAIL, **common
    )  # fmt: skip


@router.post("/mot-de-passe-oublie", response_class=HTMLResponse, name="forgot_password_send")
def forgot_send(request: Request, email: Annotated[str, Form(max_length=254)] = "") -> Response:
    wanted = normalise_email(email)
    if not wanted:
        return _forgot_page(request, errors={"email": "Indiquez votre adresse e-mail."},
                            status=422)  # fmt: skip
    if not single_address(wanted):
        return _forgot_page(
            request, email=email, errors={"email": account_tokens.INVALID_ADDRESS}, status=422
        )
    if not _reset_allowed(request, wanted):
        return _forgot_page(request, email=email, errors={"email": TOO_MANY_RESETS}, status=429)
    account_tokens.request_reset(request.app.state.engine, wanted)
    # The same page whatever happened: the address typed is not even repeated.
    return _forgot_page(request, sent=True)


# --- choosing a new password from a link ---------------------------------------------------


def _reset_page(
    request: Request, token: str, *, errors: dict[str, str] | None = None, status: int = 200
) -> Response:
    context = {"invalid": False, "token": token, "errors": errors or {}, "labels": PASSWORD_LABELS}
    return _with_link_headers(render(request, "accounts/reset.html", context, status))


def _invalid_reset_page(request: Request) -> Response:
    context = {"invalid": True, "errors": {}}
    return _with_link_headers(render(request, "accounts/reset.html", context, 404))


@router.get("/mot-de-passe/{token}", response_class=HTMLResponse, name="reset_form")
def reset_form(request: Request, token: str) -> Response:
    with read_session(request.app.state.engine) as session:
        valid = account_tokens.peek(session, token, "reset") is not None
    return _reset_page(request, token) if valid else _invalid_reset_page(request)


@router.post("/mot-de-passe/{token}", response_class=HTMLResponse, name="reset_submit")
def reset_submit(
    request: Request,
    token: str,
    password: Annotated[str, Form(max_length=1000)] = "",
    password_confirm: Annotated[str, Form(max_length=1000)] = "",
) -> Response:
    engine = request.app.state.engine
    with read_session(engine) as session:
        if account_tokens.peek(session, token, "reset") is None:
            return _invalid_reset_page(request)
    try:
        account_tokens.reset_password(engine, token, password, password_confirm)
    except LinkInvalid:  # used by another request meanwhile
        return _invalid_reset_page(request)
    except AccountError as exc:
        errors = {exc.field or "password": exc.message}
        return _reset_page(request, token, errors=errors, status=form_status(exc.kind))
    response = RedirectResponse(path_for(request, "login_form"), status_code=303)
    # Every session of the account is gone, this browser's included if it had one.
    if getattr(request.state, "session_token", None):
        response.headers.append(
            "set-cookie",
            cookie_header(SESSION_COOKIE, "", secure=request.url.scheme == "https", max_age=0),
        )
    set_flash(response, request, "Votre mot de passe est changé : connectez-vous.")
    return response


# --- invitations -----------------------------------------------------------------------------


@router.post("/curation/utilisateurs/inviter", response_class=HTMLResponse, name="invite_user")
def invite_user(
    request: Request,
    user: AdminDep,
    email: Annotated[str, Form(max_length=254)] = "",
    name: Annotated[str, Form(max_length=200)] = "",
    role: Annotated[str, Form(max_length=16)] = "contributor",
    regie: Annotated[str, Form(max_length=120)] = "",
) -> Response:
    values = {"email": email, "name": name, "role": role, "regie": regie}
    try:
        with write_session(request.app.state.engine) as session:
            account, created = account_tokens.invite(
                session, user=user, email=email, name=name, role=role, regie=regie
            )
            address = account.email
    except AccountError as exc:
        with read_session(request.app.state.engine) as session:  # the page as curate renders it
            return users_page(
                request, session, invite_errors={exc.field or "email": exc.message},
                invite_values=values, status=form_status(exc.kind),
            )  # fmt: skip
    settings = request.app.state.settings
    label = "Invitation" if created else "Nouvelle invitation"
    renewed = "" if created else " ; le lien précédent ne fonctionne plus"
    if settings.smtp_url:
        message = f"{label} envoyée à {address}{renewed}."
    else:  # only a file, which the outbox page does not show (it holds the link)
        message = (
            f"{label} pour {address} écrite dans "
            f"{settings.outbox_dir}/ (aucun serveur de courriel configuré{renewed}) : "
            "transmettez ce fichier à la personne."
        )
    response = RedirectResponse(path_for(request, "users"), status_code=303)
    set_flash(response, request, message)
    return response


@router.post(
    "/curation/utilisateurs/annuler-invitation", response_class=HTMLResponse,
    name="cancel_invitation",
)  # fmt: skip
def cancel_invitation(request: Request, user: AdminDep, user_id: FormId = 0) -> Response:
    """Cancel a pending invitation: its link stops working, the account stays inactive."""
    with write_session(request.app.state.engine) as session:
        account = account_tokens.cancel_invitation(session, user=user, account_id=user_id)
        address = account.email
    response = RedirectResponse(path_for(request, "users"), status_code=303)
    set_flash(response, request, f"Invitation de {address} annulée : son lien ne fonctionne plus.")
    return response


def _invitation_page(
    request: Request, token: str, *, name: str | None = None,
    errors: dict[str, str] | None = None, status: int = 200,
) -> Response:  # fmt: skip
    """The invitation's form, or the "no longer valid" page (404)."""
    with read_session(request.app.state.engine) as session:
        invited = account_tokens.peek(session, token, "invite")
        regie = session.get(Regie, invited.regie_id) if invited and invited.regie_id else None
    context: dict[str, Any]
    if invited is None:
        context = {"invalid": True, "errors": {}}
        status = 404
    else:
        context = {
            "invalid": False, "token": token, "errors": errors or {}, "labels": PASSWORD_LABELS,
            "name": invited.name if name is None else name, "email": invited.email,
            "role": ROLE_LABELS.get(invited.role, invited.role),
            "regie": regie.name if regie else "",
        }  # fmt: skip
    return _with_link_headers(render(request, "accounts/invitation.html", context, status))


@router.get("/invitation/{token}", response_class=HTMLResponse, name="invitation_form")
def invitation_form(request: Request, token: str) -> Response:
    return _invitation_page(request, token)


@router.post("/invitation/{token}", response_class=HTMLResponse, name="invitation_submit")
def invitation_submit(
    request: Request,
    token: str,
    name: Annotated[str, Form(max_length=200)] = "",
    password: Annotated[str, Form(max_length=1000)] = "",
    password_confirm: Annotated[str, Form(max_length=1000)] = "",
) -> Response:
    engine = request.app.state.engine
    with read_session(engine) as session:
        if account_tokens.peek(session, token, "invite") is None:
            return _invitation_page(request, token)
    try:
        account, session_token = account_tokens.accept_invitation(
            engine, token, password, password_confirm, name,
            previous_token=getattr(request.state, "session_token", None),
        )  # fmt: skip
    except LinkInvalid:
        return _invitation_page(request, token)
    except AccountError as exc:
        errors = {exc.field or "password": exc.message}
        return _invitation_page(request, token, name=name, errors=errors,
                                status=form_status(exc.kind))  # fmt: skip
    # Signed in at once, with a fresh session (as at sign-in).
    response = RedirectResponse(path_for(request, "mine"), status_code=303)
    response.headers.append(
        "set-cookie",
        cookie_header(SESSION_COOKIE, session_token, secure=request.url.scheme == "https"),
    )
    welcome = account.name or account.email
    set_flash(response, request, f"Bienvenue, {welcome} : votre compte est activé.")
    return response
