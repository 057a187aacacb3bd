"""The back-office page of the outbox (admins): what was sent, what waits and why.

Without RESOURCE_CENTRE_SMTP_URL the messages are .eml files in data/outbox/: each can be
downloaded here, so that the demo shows its mail without a mail server. Security messages
(password reset, invitation) are the exception: their link opens someone's account, so
their content is never shown nor downloaded here (the file on disk is the delivery, for an
operator to hand over).
"""

from __future__ import annotations

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import HTMLResponse, Response

from resource_centre.config import InvalidSmtpUrl, smtp_url_parts
from resource_centre.db import read_session
from resource_centre.mail_sender import GIVE_UP_AFTER, KEEP_DAYS, outbox_counts, recent_messages
from resource_centre.mailer import eml_path
from resource_centre.models import OutboxMessage
from resource_centre.web.deps import AdminDep, DbId, render

router = APIRouter(prefix="/curation")
LISTED = 200
SECURITY_REFUSED = (
    "Ce courriel donne accès à un compte (mot de passe oublié ou invitation) : "
    "son contenu n'est pas affiché dans le back-office."
)


def _smtp_server(request: Request) -> str | None:
    """host:port of the SMTP server, never its user or password; None: the file transport."""
    smtp_url = request.app.state.settings.smtp_url
    if smtp_url is None:
        return None
    try:
        parts = smtp_url_parts(smtp_url.get_secret_value())  # checked at start already
    except InvalidSmtpUrl:
        return "?"
    host = f"[{parts.host}]" if ":" in parts.host else parts.host
    return f"{host}:{parts.port}"


@router.get("/courriels", response_class=HTMLResponse, name="mail_outbox")
def outbox_page(request: Request, user: AdminDep) -> Response:
    settings = request.app.state.settings
    engine = request.app.state.engine
    messages = recent_messages(engine, LISTED)
    smtp_server = _smtp_server(request)
    files = (
        set()
        if smtp_server is not None
        else {
            m.id
            for m in messages
            if m.id and not m.security and eml_path(settings.outbox_dir, m.id).is_file()
        }
    )
    sender = getattr(request.app.state, "mail_sender", None)
    return render(request, "curate/mail.html", {
        "messages": messages, "counts": outbox_counts(engine), "listed": LISTED,
        "smtp_server": smtp_server, "outbox_dir": settings.outbox_dir, "files": files,
        "sender_error": sender.last_error if sender is not None else None,
        "keep_days": KEEP_DAYS, "give_up_days": GIVE_UP_AFTER.days,
    })  # fmt: skip


@router.get("/courriels/{row_id}.eml", name="mail_eml")
def eml_file(request: Request, user: AdminDep, row_id: DbId) -> Response:
    """The message as the file transport wrote it (404 when there is no such file; 403 for a
    security message)."""
    with read_session(request.app.state.engine) as session:
        message = session.get(OutboxMessage, row_id)
    if message is None:
        raise HTTPException(404)
    if message.security:
        raise HTTPException(403, SECURITY_REFUSED)
    path = eml_path(request.app.state.settings.outbox_dir, row_id)
    try:
        content = path.read_bytes()
    except (FileNotFoundError, IsADirectoryError):
        raise HTTPException(404) from None
    return Response(
        content,
        media_type="message/rfc822",
        headers={"Content-Disposition": f'attachment; filename="courriel-{row_id}.eml"'},
    )
