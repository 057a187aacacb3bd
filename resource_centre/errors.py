"""Domain errors that carry their kind, so that the web maps kinds to statuses once.

Domain modules raise a subclass of `DomainError` (or `DomainError` itself) with a French
message for the user; `web/errors.py` turns the kind into an HTTP status and, for forms, the
`field` into the place where the message is shown. Nothing here imports the project.
"""

from __future__ import annotations

from enum import StrEnum
from typing import ClassVar


class Kind(StrEnum):
    """What went wrong, as the caller can act on it."""

    INVALID = "invalid"  # the input is wrong: say why, keep what was typed
    NOT_FOUND = "not_found"
    FORBIDDEN = "forbidden"  # signed in, but not allowed
    CONFLICT = "conflict"  # the state changed meanwhile (stale version, wrong status)
    TOO_MANY = "too_many"  # a rate limit or quota
    TOO_LARGE = "too_large"
    TOO_SLOW = "too_slow"  # work cut off by its time limit
    UNAVAILABLE = "unavailable"  # a part of the service is down (the index being rebuilt)


class DomainError(Exception):
    """An error for the user, in French. `kind` defaults to the class's; `field` names the
    form field the message belongs to, when there is one."""

    default_kind: ClassVar[Kind] = Kind.INVALID

    def __init__(self, message: str = "", *, kind: Kind | None = None, field: str | None = None):
        super().__init__(message)
        self.kind = kind or self.default_kind
        self.field = field

    @property
    def message(self) -> str:
        return str(self.args[0]) if self.args else ""
