"""Attachments: allowed types checked by content, size and count limits, per-account quotas
(upload volume, new fiches a day), safe storage (in the store of `storage.py`)."""

from __future__ import annotations

import logging
import secrets
import unicodedata
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path, PurePosixPath, PureWindowsPath
from typing import NamedTuple

from sqlalchemy import Engine, func
from sqlmodel import Session, col, select

from resource_centre.db import read_session
from resource_centre.errors import DomainError
from resource_centre.errors import Kind as ErrorKind
from resource_centre.models import Attachment, User, WriteUp, utcnow
from resource_centre.storage import AttachmentStore

log = logging.getLogger(__name__)
MAX_BYTES = 10 * 1024 * 1024
MAX_PER_FICHE = 10
ZIP = b"PK\x03\x04"
OLE = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"


@dataclass(frozen=True)
class Kind:
    content_type: str
    magic: tuple[bytes, ...]
    inline: bool = False  # images may be shown in the page; everything else is downloaded


KINDS: dict[str, Kind] = {
    ".pdf": Kind("application/pdf", (b"%PDF-",)),
    ".png": Kind("image/png", (b"\x89PNG\r\n\x1a\n",), inline=True),
    ".jpg": Kind("image/jpeg", (b"\xff\xd8\xff",), inline=True),
    ".jpeg": Kind("image/jpeg", (b"\xff\xd8\xff",), inline=True),
    ".gif": Kind("image/gif", (b"GIF87a", b"GIF89a"), inline=True),
    ".webp": Kind("image/webp", (b"RIFF",), inline=True),
    ".docx": Kind(
        "application/vnd.openxmlformats-officedocument.wordprocessingml.document", (ZIP,)
    ),
    ".xlsx": Kind("application/vnd.openxmlformats-officedocument.spreadsheetml.sheet", (ZIP,)),
    ".pptx": Kind(
        "application/vnd.openxmlformats-officedocument.presentationml.presentation", (ZIP,)
    ),
    ".odt": Kind("application/vnd.oasis.opendocument.text", (ZIP,)),
    ".ods": Kind("application/vnd.oasis.opendocument.spreadsheet", (ZIP,)),
    ".odp": Kind("application/vnd.oasis.opendocument.presentation", (ZIP,)),
    ".doc": Kind("application/msword", (OLE,)),
    ".xls": Kind("application/vnd.ms-excel", (OLE,)),
    ".ppt": Kind("application/vnd.ms-powerpoint", (OLE,)),
    ".csv": Kind("text/csv", ()),
}
ALLOWED_LABEL = "PDF, images (PNG, JPEG, GIF, WebP), documents bureautiques (Word, Excel, PowerPoint, OpenDocument) et CSV"


class AttachmentError(DomainError, ValueError):
    """A French reason why a file is refused (kind TOO_LARGE for a file over the limit)."""


class QuotaExceeded(DomainError):
    """An account's quota (upload volume, new fiches a day) would be passed."""

    default_kind = ErrorKind.TOO_MANY


def display_name(raw: str | None) -> str:
    """The name shown to readers: no path, no control or bidi characters, not empty."""
    name = (raw or "").replace("\x00", "")
    name = PureWindowsPath(PurePosixPath(name).name).name
    name = "".join(c for c in name if unicodedata.category(c)[0] != "C")
    name = name.strip().strip(".") or "document"
    return name[:200]


def check(raw_name: str | None, head: bytes, size: int) -> tuple[str, Kind]:
    """Return (extension, kind) for an acceptable file, or raise AttachmentError."""
    name = display_name(raw_name)
    extension = Path(name).suffix.lower()
    kind = KINDS.get(extension)
    if kind is None:
        raise AttachmentError(
            f"« {name} » : type de fichier non accepté (acceptés : {ALLOWED_LABEL})."
        )
    if size == 0:
        raise AttachmentError(f"« {name} » : le fichier est vide.")
    if size > MAX_BYTES:
        raise AttachmentError(
            f"« {name} » : fichier trop lourd ({size / 1_048_576:.1f} Mo, 10 Mo au plus).",
            kind=ErrorKind.TOO_LARGE,
        )
    if kind.magic and not head.startswith(kind.magic):
        raise AttachmentError(
            f"« {name} » : le contenu ne correspond pas à un fichier {extension[1:].upper()}."
        )
    if extension == ".webp" and head[8:12] != b"WEBP":
        raise AttachmentError(f"« {name} » : le contenu ne correspond pas à une image WebP.")
    if extension == ".csv":
        if b"\x00" in head:
            raise AttachmentError(f"« {name} » : ce fichier CSV contient des données binaires.")
        try:
            head.decode("utf-8")
        except UnicodeDecodeError as exc:
            if exc.start < len(head) - 4:  # a character cut at the end of the sample is fine
                try:
                    head.decode("cp1252")
                except UnicodeDecodeError:
                    raise AttachmentError(
                        f"« {name} » : ce fichier CSV n'est pas du texte."
                    ) from None
    return extension, kind


def new_stored_name(extension: str) -> str:
    """A random name, chosen by the server (never derived from the uploaded name)."""
    return secrets.token_hex(16) + extension


def _megabytes(size: int) -> str:
    return f"{size / 1_048_576:.1f}".replace(".", ",") + " Mo"


def upload_quota_error(session: Session, user_id: int, adding: int, quota_mb: int) -> str | None:
    """A French error when `adding` bytes would take the account past its quota (0: none)."""
    if quota_mb <= 0 or adding <= 0:
        return None
    quota = quota_mb * 1024 * 1024
    used = session.execute(
        select(func.coalesce(func.sum(Attachment.size), 0)).where(Attachment.uploaded_by == user_id)
    ).scalar_one()
    if used + adding <= quota:
        return None
    left = max(0, quota - used)
    return (
        f"vos pièces jointes occupent déjà {_megabytes(used)} sur les {quota_mb} Mo permis par "
        f"compte ; ces fichiers ({_megabytes(adding)}) dépassent ce qui reste "
        f"({_megabytes(left)}). Retirez des fichiers ou demandez de la place à l'équipe du réseau."
    )


def drafts_quota_error(session: Session, user_id: int, per_day: int) -> str | None:
    """A French error when the account created `per_day` fiches in the last 24 hours."""
    if per_day <= 0:
        return None
    since = utcnow() - timedelta(days=1)
    created = session.execute(
        select(func.count())
        .select_from(WriteUp)
        .where(WriteUp.author_id == user_id, WriteUp.created_at >= since)
    ).scalar_one()
    if created < per_day:
        return None
    return (
        f"vous avez déjà créé {created} fiches en 24 heures ({per_day} au plus) : "
        "votre texte est conservé ci-dessous ; enregistrez-le demain ou complétez une fiche "
        "existante."
    )


class Quotas(NamedTuple):
    """An account's limits (0: none), from the settings of the same names."""

    drafts_per_day: int
    upload_quota_mb: int


def quota_errors(
    session: Session, user_id: int, quotas: Quotas, *, new_fiche: bool, adding: int
) -> dict[str, str]:
    """French errors by form field ("quota", "attachments") when the account's quotas
    would be passed by a new fiche and `adding` bytes of files."""
    errors = {}
    if new_fiche and (problem := drafts_quota_error(session, user_id, quotas.drafts_per_day)):
        errors["quota"] = problem
    if problem := upload_quota_error(session, user_id, adding, quotas.upload_quota_mb):
        errors["attachments"] = problem
    return errors


def recheck_quotas(
    session: Session, user_id: int, quotas: Quotas, *, new_fiche: bool, adding: int
) -> None:
    """Within the write transaction, with the account's row locked: two requests sent at
    once cannot both pass the last free place (on SQLite, BEGIN IMMEDIATE serialises).
    Raises QuotaExceeded with the first error."""
    session.execute(select(col(User.id)).where(User.id == user_id).with_for_update())
    errors = quota_errors(session, user_id, quotas, new_fiche=new_fiche, adding=adding)
    if errors:
        field, problem = next(iter(errors.items()))
        raise QuotaExceeded(problem.capitalize(), field=field)


def of_writeup(session: Session, writeup: WriteUp | None) -> list[Attachment]:
    """The attachments of a fiche, in upload order (none for a fiche not yet saved)."""
    if writeup is None or writeup.id is None:
        return []
    return list(
        session.execute(
            select(Attachment)
            .where(Attachment.writeup_id == writeup.id)
            .order_by(col(Attachment.id))
        ).scalars()
    )


class StagedFile(NamedTuple):
    """A file put in the store before its row is written."""

    stored_name: str
    original_name: str
    content_type: str
    size: int


def put_files(store: AttachmentStore, files: list[tuple[str, str, bytes]]) -> list[StagedFile]:
    """Put checked files (display name, extension, bytes) in `store` under random names,
    before the write transaction opens (an upload never holds the database's write lock);
    their rows are added in the transaction by `add_rows`, so a row never names a missing
    file. If one put fails, the files already put are deleted and the error is raised
    (StorageUnavailable for the store)."""
    staged: list[StagedFile] = []
    try:
        for name, extension, data in files:
            stored = new_stored_name(extension)
            store.put(stored, data)  # in a folder: 0600, only the server's account reads them
            staged.append(StagedFile(stored, name, KINDS[extension].content_type, len(data)))
    except BaseException:
        discard(store, [f.stored_name for f in staged])
        raise
    return staged


def add_rows(session: Session, *, writeup: WriteUp, staged: list[StagedFile], user_id: int) -> None:
    """Add the rows of files already put in the store to the fiche `writeup` (flushed)."""
    assert writeup.id is not None, "files are attached to a flushed fiche"
    for item in staged:
        session.add(
            Attachment(
                writeup_id=writeup.id, stored_name=item.stored_name,
                original_name=item.original_name, content_type=item.content_type,
                size=item.size, uploaded_by=user_id,
            )
        )  # fmt: skip


def discard(store: AttachmentStore, names: list[str]) -> None:
    """Delete files written for a transaction that failed (best effort: a file left behind
    is only unused space, never a row without its file)."""
    for stored in names:
        try:
            store.delete(stored)
        except Exception:
            log.warning("could not delete the unused attachment file %s", stored)


def discard_unused(engine: Engine, store: AttachmentStore, names: list[str]) -> None:
    """After a write transaction failed, delete those of its files that no row names.

    A commit can report a failure (a lost connection, an error after the commit) yet have
    succeeded: a fresh read tells which rows exist, and their files are kept. If the
    database cannot tell, every file is kept (unused space, never a row without its file).
    """
    if not names:
        return
    try:
        with read_session(engine) as session:
            kept = set(
                session.execute(
                    select(col(Attachment.stored_name)).where(
                        col(Attachment.stored_name).in_(names)
                    )
                ).scalars()
            )
    except Exception:
        log.warning("attachment files kept: the database cannot tell which are used (%s)",
                    ", ".join(names))  # fmt: skip
        return
    discard(store, [name for name in names if name not in kept])
