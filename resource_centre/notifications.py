"""Who hears of what: e-mail notifications of the workflow's events (issue 15)."""

from __future__ import annotations

from sqlmodel import Session

from resource_centre.models import AuditEvent


def on_event(session: Session, event: AuditEvent) -> None:
    """Write the notifications caused by `event` into the current transaction."""
    return None
