"""Notification preferences (/mon-compte) and unsubscription links (/desabonnement/…).

`POST /mon-compte/notifications` sets the signed-in account's `mail_frequency`. The link of
each message's footer and of its `List-Unsubscribe` header is `/desabonnement/{token}`
(`resource_centre.unsubscribe`): GET shows a page with a button; POST, without cookie or
form token (web/sessions.py exempts these paths), stops every notification of the token's
address: the account's (mail frequency "never") and those of the needs it reported
anonymously (their address erased). A mail client's one-click request of RFC 8058 (body
`List-Unsubscribe=One-Click`) is answered 200; the page's own button, as every form of the
site, 303 to `GET /desabonnement/{token}?fait=1`, the confirmation.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Path, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy import Engine, delete, update
from sqlmodel import col, select

from resource_centre.db import write_session
from resource_centre.models import CapitalisationRequest, PendingNotification, User
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
ONE_CLICK = (
    "One-Click"  # RFC 8058: the body of a mail client's request is List-Unsubscribe=One-Click
)


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
def unsubscribe_form(
    request: Request, token: Token, fait: Annotated[str, Query()] = ""
) -> Response:
    """The page of an unsubscription link: what it does and its button (a POST form); with
    `?fait=1`, where the button leads once done, the confirmation."""
    address = read_token(request.app.state.settings.secret_key, token)
    if address is None:
        return error_response(request, 404, INVALID_LINK)
    context = {"done": fait == "1", "address": masked(address), "token": token}
    return render(request, "accounts/unsubscribe.html", context)


@router.post("/desabonnement/{token}", response_class=HTMLResponse)
def unsubscribe(
    request: Request,
    token: Token,
    one_click: Annotated[str, Form(alias="List-Unsubscribe")] = "",
) -> Response:
    """Stop the notifications of the token's address, whether it has an account or not:
    200 to a mail client's one-click request (RFC 8058), 303 to the confirmation for the
    page's button."""
    address = read_token(request.app.state.settings.secret_key, token)
    if address is None:
        return error_response(request, 404, INVALID_LINK)
    stop_notifications(request.app.state.engine, address)
    if one_click == ONE_CLICK:
        context = {"done": True, "address": masked(address), "token": token}
        return render(request, "accounts/unsubscribe.html", context)
    done = path_for(request, "unsubscribe_form", token=token, query={"fait": "1"})
    return RedirectResponse(done, status_code=303)


def stop_notifications(engine: Engine, address: str) -> None:
    """No more notifications to `address`: its accounts choose "never" (their waiting
    digest notifications dropped), and the needs reported anonymously with it forget it."""
    address = address.strip().lower()
    with write_session(engine) as session:
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
        session.execute(
            update(CapitalisationRequest)
            .where(col(CapitalisationRequest.reporter_email) == address)
            .values(reporter_email=None)
        )
