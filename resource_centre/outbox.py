"""The outbox: e-mails written in the transaction of the event that causes them.

A message is a row (`OutboxMessage`): recipient, subject, the name of its templates and
their context. `resource_centre.mailer` renders and sends it later, with retries; a message
therefore exists if and only if its cause was committed, and is never lost by a failed
SMTP server.
"""

from __future__ import annotations

from typing import Any

from sqlmodel import Session

from resource_centre.models import OutboxMessage

SUBJECT_MAX = 250


def enqueue(
    session: Session,
    *,
    recipient: str,
    subject: str,
    template: str,
    context: dict[str, Any],
    user_id: int | None = None,
    security: bool = False,
) -> OutboxMessage:
    """Add a message to the current transaction (sent once it commits).

    `template` names templates/emails/TEMPLATE.txt and .html; `context` must be JSON
    (links as site paths such as "/fiches/slug": the mailer makes them absolute).
    `security` marks password resets and invitations: always sent, no unsubscribe link.
    """
    subject = " ".join(subject.split())  # no header injection through a title
    message = OutboxMessage(
        recipient=recipient.strip().lower(),
        subject=subject[:SUBJECT_MAX],
        template=template,
        context=context,
        user_id=user_id,
        security=security,
    )
    session.add(message)
    return message
