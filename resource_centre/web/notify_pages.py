"""Notification preferences (/mon-compte) and unsubscription links (/desabonnement/…).

`POST /mon-compte/notifications` sets the signed-in account's `mail_frequency`. The link of
each message's footer and of its `List-Unsubscribe` header is `/desabonnement/{token}`
(`resource_centre.unsubscribe`): GET shows a page with a button, POST (the button, or a mail
client's one-click request of RFC 8058, without cookie or form token: web/sessions.py
exempts these paths) stops every notification of the token's address.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Path, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy import delete, update
from sqlmodel import col, select

from resource_centre.db import write_session
from resource_centre.models import PendingNotification, User
from resource_centre.notifications import FREQUENCIES
from resource_centre.unsubscribe import MAX_TOKEN_CHARS, read_token
from resource_centre.web.deps import UserDep, render
from resource_centre.web.errors import error_response
from resource_centre.web.sessions import set_flash
from resource_centre.web.urls import path_for

router = APIRouter()
FREQUENCY_ERROR = "Choisissez l'une des trois possibilités : à chaque événement, un résumé par semaine, ou jamais."
SAVED = {
    "immediate": "C'est noté : vous recevrez un courriel à chaque événement.",
    "weekly": "C'est noté : vous recevrez un résumé par semaine.",
    "never": "C'est noté : vous ne recevrez plus de notifications (seulement les messages de sécurité).",
}
INVALID_LINK = (
    "Ce lien de désabonnement n'est pas valide : il a peut-être été mal recopié. Vous pouvez "
    "aussi choisir vos notifications sur la page « Mon compte »."
)
Token = Annotated[str, Path(max_length=MAX_TOKEN_CHARS)]


@router.post("/mon-compte/notifications", response_class=HTMLResponse)
def update_notifications(
    request: Request,
    user: UserDep,
    mail_frequency: Annotated[str, Form(max_length=40)] = "",
) -> Response:
    """Set how often the signed-in account hears of its fiches (303 back to /mon-compte)."""
    choice = mail_frequency.strip()
    if choice not in FREQUENCIES:
        context = {
            "errors": {},
            "error": None,
            "notify_errors": {"mail_frequency": FREQUENCY_ERROR},
            "notify_choice": current_frequency(user),
        }
        return render(request, "accounts/account.html", context, status_code=422)
    with write_session(request.app.state.engine) as session:
        session.execute(update(User).where(col(User.id) == user.id).values(mail_frequency=choice))
        if choice == "never":  # nothing more for the digest either
            session.execute(
                delete(PendingNotification).where(col(PendingNotification.user_id) == user.id)
            )
    response = RedirectResponse(path_for(request, "account"), status_code=303)
    set_flash(response, request, SAVED[choice])
    return response


def current_frequency(user: User) -> str:
    return user.mail_frequency if user.mail_frequency in FREQUENCIES else "immediate"


def masked(address: str) -> str:
    """An address shown half hidden ("c…@exemple.org"): the page's link may be forwarded."""
    local, _, domain = address.rpartition("@")
    return f"{local[:1]}…@{domain}"


@router.get("/desabonnement/{token}", response_class=HTMLResponse)
def unsubscribe_form(request: Request, token: Token) -> Response:
    """The page of an unsubscription link: what it does, and its button (a POST form)."""
    address = read_token(request.app.state.settings.secret_key, token)
    if address is None:
        return error_response(request, 404, INVALID_LINK)
    context = {"done": False, "address": masked(address), "token": token}
    return render(request, "accounts/unsubscribe.html", context)


@router.post("/desabonnement/{token}", response_class=HTMLResponse)
def unsubscribe(request: Request, token: Token) -> Response:
    """Stop the notifications of the token's address; 200 whether it has an account or not."""
    address = read_token(request.app.state.settings.secret_key, token)
    if address is None:
        return error_response(request, 404, INVALID_LINK)
    with write_session(request.app.state.engine) as session:
        ids = list(
            session.execute(select(col(User.id)).where(col(User.email) == address)).scalars()
        )
        if ids:
            session.execute(
                update(User).where(col(User.id).in_(ids)).values(mail_frequency="never")
            )
            session.execute(
                delete(PendingNotification).where(col(PendingNotification.user_id).in_(ids))
            )
    context = {"done": True, "address": masked(address), "token": token}
    return render(request, "accounts/unsubscribe.html", context)
