"""Accounts: sign in, sign out, change one's password.

The routes parse the form, call `auth` and render; the status and the field of an error
come from the `AccountError`'s kind and field (`web.errors.form_status`).
"""

from __future__ import annotations

from typing import Annotated
from urllib.parse import urlsplit

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from resource_centre.auth import SESSION_COOKIE, AccountError, change_password, sign_in, sign_out
from resource_centre.web.deps import UserDep, current_user, render
from resource_centre.web.errors import form_status
from resource_centre.web.sessions import cookie_header, set_flash
from resource_centre.web.urls import path_for

router = APIRouter()


def safe_next(request: Request, target: str | None) -> str:
    """A local path to go back to after sign-in; anything else gives "Mes fiches"."""
    if not target or not target.startswith("/") or target.startswith(("//", "/\\")):
        return path_for(request, "mine")
    parts = urlsplit(target)
    if parts.scheme or parts.netloc:
        return path_for(request, "mine")
    return target


def _client_address(request: Request) -> str:
    return request.client.host if request.client else "inconnue"


@router.get("/connexion", response_class=HTMLResponse)
def login_form(request: Request, next: str | None = None) -> Response:
    if current_user(request) is not None:
        return RedirectResponse(safe_next(request, next), status_code=303)
    context = {"email": "", "next": safe_next(request, next), "error": None}
    return render(request, "accounts/login.html", context)


@router.post("/connexion", response_class=HTMLResponse)
def login(
    request: Request,
    email: Annotated[str, Form(max_length=254)] = "",
    password: Annotated[str, Form(max_length=1000)] = "",
    next: Annotated[str, Form(max_length=2000)] = "",
) -> Response:
    errors = {}
    if not email.strip():
        errors["email"] = "Indiquez votre adresse e-mail."
    if not password:
        errors["password"] = "Indiquez votre mot de passe."
    if errors:
        return render(
            request, "accounts/login.html",
            {"email": email, "next": safe_next(request, next), "error": None, "errors": errors},
            status_code=422,
        )  # fmt: skip
    try:
        user, token = sign_in(
            request.app.state.engine, email=email, password=password,
            address=_client_address(request),
            previous_token=getattr(request.state, "session_token", None),
        )  # fmt: skip
    except AccountError as exc:  # never says which of e-mail and password was wrong
        errors = {exc.field: exc.message} if exc.field else {}
        return render(
            request, "accounts/login.html",
            {"email": email, "next": safe_next(request, next),
             "error": None if exc.field else exc.message, "errors": errors},
            status_code=form_status(exc.kind),
        )  # fmt: skip
    response = RedirectResponse(safe_next(request, next), status_code=303)
    response.headers.append(
        "set-cookie", cookie_header(SESSION_COOKIE, token, secure=request.url.scheme == "https")
    )
    set_flash(response, request, f"Bienvenue, {user.name or user.email}.")
    return response


@router.post("/deconnexion")
def logout(request: Request) -> Response:
    sign_out(request.app.state.engine, getattr(request.state, "session_token", None))
    response = RedirectResponse(path_for(request, "home"), status_code=303)
    response.headers.append(
        "set-cookie",
        cookie_header(SESSION_COOKIE, "", secure=request.url.scheme == "https", max_age=0),
    )
    set_flash(response, request, "Vous êtes déconnecté.")
    return response


@router.get("/mon-compte", response_class=HTMLResponse)
def account(request: Request, user: UserDep) -> Response:
    return render(request, "accounts/account.html", {"errors": {}, "error": None})


@router.post("/mon-compte", response_class=HTMLResponse)
def update_password(
    request: Request,
    user: UserDep,
    current_password: Annotated[str, Form(max_length=1000)] = "",
    new_password: Annotated[str, Form(max_length=1000)] = "",
    confirm_password: Annotated[str, Form(max_length=1000)] = "",
) -> Response:
    info = getattr(request.state, "session_info", None)
    assert user.id is not None, "a signed-in account is stored"
    try:
        change_password(
            request.app.state.engine, user.id, current=current_password, new=new_password,
            confirm=confirm_password, address=_client_address(request),
            keep_session_id=info.session_id if info else None,
        )  # fmt: skip
    except AccountError as exc:
        field = exc.field or "current_password"
        context = {"errors": {field: exc.message}, "error": None}
        return render(request, "accounts/account.html", context, form_status(exc.kind))
    response = RedirectResponse(path_for(request, "account"), status_code=303)
    set_flash(response, request, "Votre mot de passe a été changé.")
    return response
