"""Accounts: sign in, sign out, change one's password."""

from __future__ import annotations

from typing import Annotated
from urllib.parse import urlsplit

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from resource_centre.auth import (
    SESSION_COOKIE,
    authenticate,
    change_password,
    end_session,
    start_session,
)
from resource_centre.db import write_session
from resource_centre.models import User
from resource_centre.web.deps import UserDep, current_user, render
from resource_centre.web.sessions import cookie_header, set_flash

router = APIRouter()


def safe_next(target: str | None) -> str:
    """A local path to go back to after sign-in; anything else gives /mes-fiches."""
    if not target or not target.startswith("/") or target.startswith(("//", "/\\")):
        return "/mes-fiches"
    parts = urlsplit(target)
    if parts.scheme or parts.netloc:
        return "/mes-fiches"
    return target


def _client_address(request: Request) -> str:
    return request.client.host if request.client else "inconnue"


@router.get("/connexion", response_class=HTMLResponse)
def login_form(request: Request, next: str | None = None) -> Response:
    if current_user(request) is not None:
        return RedirectResponse(safe_next(next), status_code=303)
    return render(
        request, "accounts/login.html", {"email": "", "next": safe_next(next), "error": None}
    )


@router.post("/connexion", response_class=HTMLResponse)
def login(
    request: Request,
    email: Annotated[str, Form(max_length=254)] = "",
    password: Annotated[str, Form(max_length=1000)] = "",
    next: Annotated[str, Form(max_length=2000)] = "",
) -> Response:
    engine = request.app.state.engine
    errors = {}
    if not email.strip():
        errors["email"] = "Indiquez votre adresse e-mail."
    if not password:
        errors["password"] = "Indiquez votre mot de passe."
    if errors:
        return render(
            request, "accounts/login.html",
            {"email": email, "next": safe_next(next), "error": None, "errors": errors},
            status_code=422,
        )  # fmt: skip
    result = authenticate(engine, email=email, password=password, address=_client_address(request))
    if not isinstance(result, User):
        status = 429 if result.startswith("Trop de tentatives") else 422
        return render(
            request, "accounts/login.html",
            {"email": email, "next": safe_next(next), "error": result, "errors": {}},
            status_code=status,
        )  # fmt: skip
    with write_session(engine) as session:
        end_session(session, getattr(request.state, "session_token", None))  # a new id each time
        token = start_session(session, result)
    response = RedirectResponse(safe_next(next), status_code=303)
    response.headers.append(
        "set-cookie", cookie_header(SESSION_COOKIE, token, secure=request.url.scheme == "https")
    )
    set_flash(response, request, f"Bienvenue, {result.name or result.email}.")
    return response


@router.post("/deconnexion")
def logout(request: Request) -> Response:
    with write_session(request.app.state.engine) as session:
        end_session(session, getattr(request.state, "session_token", None))
    response = RedirectResponse("/", status_code=303)
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
    errors: dict[str, str] = {}
    if new_password != confirm_password:
        errors["confirm_password"] = "Les deux nouveaux mots de passe diffèrent."
    status = 422
    if not errors:
        info = getattr(request.state, "session_info", None)
        problem = change_password(
            request.app.state.engine, user.id, current=current_password, new=new_password,
            address=_client_address(request), keep_session_id=info.session_id if info else None,
        )  # fmt: skip
        if problem:
            field, message = problem
            if field == "limit":  # too many wrong current passwords: shown on that field
                field, status = "current_password", 429
            errors[field] = message
    if errors:
        return render(request, "accounts/account.html", {"errors": errors, "error": None}, status)
    response = RedirectResponse("/mon-compte", status_code=303)
    set_flash(response, request, "Votre mot de passe a été changé.")
    return response
