"""Fiches' attachments in the `knowledge/` folder: the files `fiches/<slug>/<file>` that the
front matter lists ⇄ the attachment store and its rows (`Attachment`), for `corpus.py`.

Import: the fiche file is the truth, for its attachments as for the rest of the fiche (an
upsert by slug). Each listed file is checked (its type by its content, as an upload is), then
compared with the stored attachment of the same export name: same bytes, it is kept; other
bytes, it is replaced; a stored attachment the front matter does not list is removed, so a
fiche file without `attachments` removes the fiche's attachments. New files are put in the
store before the fiche's transaction (`plan_attachments`), the rows change in it
(`apply_plan`); after a commit the files no row names any more are deleted, after a failure
the new files are (the store has no sweep of unused files).

Export: each attachment is written to `fiches/<slug>/<name>`, `name` a safe name made from its
original name (`export_names`), and listed with its title in the front matter, in upload order.

The files of a proposed revision of a published fiche (`Attachment.pending`, not yet
reviewed) are neither exported nor touched by an import: the export is the library as
published plus the drafts' own files, and a revision under review (its text, kept in
`WriteUp.pending`, as its files) survives an import of its fiche, to be published or not by
the curators.

Symbolic links: an import reads no file through one (neither `fiches/<slug>` nor the file may
be a link: a link could import any file the server can read), each file once, and checks and
stores those same bytes (`read_attachment`). An export writes nothing through one: a new file
replaces the old (`write_bytes`), and a linked `fiches` or `fiches/<slug>` folder stops the
export before it writes anything (`ExportError`, `refuse_linked_folders`).
"""

from __future__ import annotations

import contextlib
import errno
import logging
import os
import re
import secrets
import stat
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import NamedTuple

import yaml
from sqlmodel import Session, col, select

from resource_centre.attachments import (
    KINDS,
    MAX_BYTES,
    AttachmentError,
    check,
    discard,
    new_stored_name,
)
from resource_centre.corpus_format import ATTACHMENT_NAME_RE, Problem
from resource_centre.models import Attachment, WriteUp
from resource_centre.storage import AttachmentStore, MissingAttachment, StorageUnavailable
from resource_centre.writeups import AttachmentRef, FicheData

log = logging.getLogger(__name__)
MAX_NAME_CHARS = 120  # corpus_format's limit for a file name in `fiches/<slug>/`
MAX_STEM_CHARS = 100  # room left for "-NN" and the extension
MAX_TITLE_CHARS = 200
FALLBACK_STEM = "piece-jointe"
HEAD_BYTES = 4096  # what the upload check reads of a file


class StoredRow(NamedTuple):
    """What an import compares of a stored attachment (read before the transaction)."""

    id: int
    stored_name: str
    original_name: str
    title: str | None
    content_type: str
    size: int


# ---------------------------------------------------------------------------------------
# Names and titles, shared by export and import (so that an export re-imports unchanged)


def _safe_name(original_name: str, stored_name: str) -> str:
    """A file name for `fiches/<slug>/`: the original name if already safe, else made safe
    (ASCII, lower case, [a-z0-9_-] then the stored file's extension)."""
    extension = Path(stored_name).suffix.lower()
    original = Path(original_name)
    if (
        ATTACHMENT_NAME_RE.match(original_name)
        and len(original_name) <= MAX_NAME_CHARS
        and original.suffix == extension
    ):
        return original_name
    stem = original.stem if original.suffix.lower() == extension else original_name
    ascii_stem = unicodedata.normalize("NFKD", stem).encode("ascii", "ignore").decode().lower()
    safe = re.sub(r"[^a-z0-9_-]+", "-", ascii_stem).strip("-_")[:MAX_STEM_CHARS].rstrip("-_")
    return (safe or FALLBACK_STEM) + extension


def export_names(rows: Sequence[tuple[str, str]]) -> list[str]:
    """The file names of a fiche's attachments, given as (original name, stored name) in
    upload order: safe, and unique within the fiche ("budget-2.pdf" after "budget.pdf")."""
    used: set[str] = set()
    names = []
    for original_name, stored_name in rows:
        name = _safe_name(original_name, stored_name)
        if name in used:
            stem, extension = os.path.splitext(name)
            n = 2
            while f"{stem[:MAX_STEM_CHARS]}-{n}{extension}" in used:
                n += 1
            name = f"{stem[:MAX_STEM_CHARS]}-{n}{extension}"
        used.add(name)
        names.append(name)
    return names


def export_title(title: str | None, original_name: str) -> str:
    """The title the front matter gives: the attachment's, else its name without extension."""
    text = (title or "").strip() or Path(original_name).stem.strip() or original_name.strip()
    return text[:MAX_TITLE_CHARS].strip() or FALLBACK_STEM


# ---------------------------------------------------------------------------------------
# Import: checks, then a plan per fiche (files put in the store), applied in the transaction


def attachment_line(text: str, file: str) -> int:
    """The line of the front matter's `attachments` item naming `file` (else of the key)."""
    lines = text.split("\n")
    end = next((i for i in range(1, len(lines)) if lines[i].rstrip() == "---"), None)
    if end is None:
        return 1
    try:
        root = yaml.compose("\n".join(lines[1:end]), Loader=yaml.SafeLoader)
    except yaml.YAMLError:
        return 1
    if not isinstance(root, yaml.MappingNode):
        return 1
    for key, value in root.value:
        if getattr(key, "value", None) != "attachments":
            continue
        if isinstance(value, yaml.SequenceNode):
            for item in value.value:
                if isinstance(item, yaml.MappingNode) and any(
                    getattr(k, "value", None) == "file" and getattr(v, "value", None) == file
                    for k, v in item.value
                ):
                    return item.start_mark.line + 2
        return key.start_mark.line + 2
    return 1


def check_files(path: Path, text: str, data: FicheData) -> list[Problem]:
    """Check each listed file as `read_attachment` does (an import without a store: with one,
    `plan_attachments` checks the very bytes it stores)."""
    problems = []
    for ref in data.attachments:
        try:
            read_attachment(path.parent, data.slug, ref.file)
        except PlanError as exc:
            problems.append(Problem(path, attachment_line(text, ref.file), exc.reason))
    return problems


def read_attachment(fiches_dir: Path, slug: str, file: str) -> bytes:
    """The bytes of `fiches/<slug>/<file>`, read once (10 MB and a byte at most) and checked
    as an upload is (its type by its content). Neither the folder nor the file may be a
    symbolic link, and the file must be a regular one. Raises PlanError (a French reason)."""
    where = f"fiches/{slug}/{file}"
    nofollow = os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC
    try:
        try:
            folder = os.open(fiches_dir / slug, nofollow | os.O_DIRECTORY)
        except OSError as exc:
            _refuse_link(exc, fiches_dir / slug, where, file)
            raise
        try:
            # O_NONBLOCK: a named pipe does not block the import (it is refused below).
            fd = os.open(file, nofollow | os.O_NONBLOCK, dir_fd=folder)
        except OSError as exc:
            _refuse_link(exc, fiches_dir / slug / file, where, file)
            raise
        finally:
            os.close(folder)
        with os.fdopen(fd, "rb") as fh:
            if not stat.S_ISREG(os.fstat(fh.fileno()).st_mode):
                raise PlanError(f"pièce jointe {where} : ce n'est pas un fichier ordinaire", file)
            content = fh.read(MAX_BYTES + 1)
    except FileNotFoundError as exc:
        raise PlanError(f"pièce jointe introuvable : {where}", file) from exc
    except OSError as exc:
        raise PlanError(f"pièce jointe illisible : {where} ({exc.strerror or exc})", file) from exc
    if len(content) > MAX_BYTES:
        raise PlanError(f"pièce jointe trop lourde : {where} (10 Mo au plus)", file)
    try:
        check(file, content[:HEAD_BYTES], len(content))
    except AttachmentError as exc:
        detail = str(exc).partition(" : ")[2].rstrip(".") or str(exc)
        raise PlanError(f"pièce jointe {where} : {detail}", file) from exc
    return content


def _refuse_link(exc: OSError, path: Path, where: str, file: str) -> None:
    """Raise PlanError if opening `path` without following links failed on a link."""
    if exc.errno == errno.ELOOP or os.path.islink(path):
        raise PlanError(f"pièce jointe {where} : lien symbolique refusé", file) from exc


@dataclass
class Target:
    """One attachment as it will be stored: its row's values, and the row kept (if any)."""

    file: str  # its name in `fiches/<slug>/`
    stored_name: str
    original_name: str
    title: str | None
    content_type: str
    size: int
    row_id: int | None  # the stored row updated in place; None: a new row


@dataclass
class Plan:
    """What one fiche's import does to its attachments (see `plan_attachments`)."""

    snapshot: list[tuple[int, str]]  # (id, stored name) of its rows when planned
    targets: list[Target] = field(default_factory=list)
    written: list[str] = field(default_factory=list)  # files put in the store for it
    obsolete: list[str] = field(default_factory=list)  # files unused once it is applied

    @property
    def empty(self) -> bool:
        return not self.snapshot and not self.targets


class PlanError(Exception):
    """A listed file could not be read, or the store did not take it (a French reason)."""

    def __init__(self, reason: str, file: str | None = None) -> None:
        super().__init__(reason)
        self.reason, self.file = reason, file


def plan_attachments(
    store: AttachmentStore, fiches_dir: Path, data: FicheData, rows: Sequence[StoredRow]
) -> Plan:
    """Compare the files `data` lists with the fiche's stored `rows` (upload order) and put
    the new or changed files in `store`. Rows keep their ids while the file order allows it
    (the export lists attachments by id), so a re-ordered list makes new rows for the files
    that moved. Raises PlanError (after deleting the files it put)."""
    names = export_names([(r.original_name, r.stored_name) for r in rows])
    by_name = dict(zip(names, rows, strict=True))
    plan = Plan(snapshot=[(r.id, r.stored_name) for r in rows])
    last_id, fresh = 0, False
    try:
        for ref in data.attachments:
            content = read_attachment(fiches_dir, data.slug, ref.file)
            row = by_name.get(ref.file)
            if row is not None and row.size == len(content) and _stored(store, row) == content:
                stored, content_type = row.stored_name, row.content_type
            else:
                extension = Path(ref.file).suffix.lower()
                stored, content_type = new_stored_name(extension), KINDS[extension].content_type
                try:
                    store.put(stored, content)
                except StorageUnavailable as exc:
                    raise PlanError(f"pièce jointe non enregistrée : {exc.detail}") from exc
                plan.written.append(stored)
            keep = row is not None and not fresh and row.id > last_id
            if row is not None and keep:
                last_id = row.id
            else:
                fresh = True  # later files get later ids: new rows from here on
            same_title = row is not None and export_title(row.title, row.original_name) == ref.title
            plan.targets.append(
                Target(
                    file=ref.file, stored_name=stored,
                    original_name=row.original_name if row is not None else ref.file,
                    title=row.title if row is not None and same_title else ref.title,
                    content_type=content_type, size=len(content),
                    row_id=row.id if row is not None and keep else None,
                )
            )  # fmt: skip
    except BaseException:
        discard(store, plan.written)
        raise
    # If the rows' names would export otherwise (a removed row freed a name), every row
    # takes its file's name: those are safe and unique, so they export as they are.
    final = export_names([(t.original_name, t.stored_name) for t in plan.targets])
    if final != [t.file for t in plan.targets]:
        for target in plan.targets:
            target.original_name = target.file
    kept = {t.stored_name for t in plan.targets}
    plan.obsolete = [r.stored_name for r in rows if r.stored_name not in kept]
    return plan


def _stored(store: AttachmentStore, row: StoredRow) -> bytes | None:
    """The stored bytes of `row` (None if its file is missing: it is then replaced)."""
    try:
        return store.get(row.stored_name)
    except MissingAttachment:
        return None
    except StorageUnavailable as exc:
        raise PlanError(f"pièces jointes illisibles dans le stockage : {exc.detail}") from exc


def stored_rows(session: Session, slugs: Sequence[str]) -> dict[str, list[StoredRow]]:
    """The attachments of the fiches `slugs`, in upload order, by fiche slug."""
    found: dict[str, list[StoredRow]] = {}
    query = (
        select(Attachment, WriteUp.slug)
        .join(WriteUp, col(WriteUp.id) == col(Attachment.writeup_id))
        .where(col(WriteUp.slug).in_(slugs), col(Attachment.pending).is_(False))
        .order_by(col(Attachment.id))
    )
    for row, slug in session.execute(query).all():
        assert row.id is not None
        found.setdefault(slug, []).append(
            StoredRow(row.id, row.stored_name, row.original_name, row.title,
                      row.content_type, row.size)
        )  # fmt: skip
    return found


class StalePlan(Exception):
    """The fiche's attachments changed between the plan and the transaction."""


def apply_plan(session: Session, writeup: WriteUp, plan: Plan) -> bool:
    """Make the fiche's attachment rows those of `plan`, in the current transaction (the
    fiche's row is locked, or new and flushed); True if any row changed. Raises StalePlan
    if the rows are no longer those planned against."""
    assert writeup.id is not None, "attachments belong to a flushed fiche"
    rows = list(
        session.execute(
            select(Attachment)
            .where(Attachment.writeup_id == writeup.id, col(Attachment.pending).is_(False))
            .order_by(col(Attachment.id))
        ).scalars()
    )
    if [(r.id, r.stored_name) for r in rows] != plan.snapshot:
        raise StalePlan(writeup.slug)
    kept = {t.row_id: t for t in plan.targets if t.row_id is not None}
    changed = False
    for row in rows:
        if row.id not in kept:
            session.delete(row)
            changed = True
    if changed:
        session.flush()  # a moved file's stored name is free for its new row
    for row in rows:
        target = kept.get(row.id)
        if target is None:
            continue
        values = {
            "stored_name": target.stored_name, "original_name": target.original_name,
            "title": target.title, "content_type": target.content_type, "size": target.size,
        }  # fmt: skip
        for name, value in values.items():
            if getattr(row, name) != value:
                setattr(row, name, value)
                changed = True
        session.add(row)
    for target in plan.targets:
        if target.row_id is None:
            session.add(
                Attachment(
                    writeup_id=writeup.id, stored_name=target.stored_name,
                    original_name=target.original_name, title=target.title,
                    content_type=target.content_type, size=target.size,
                )
            )  # fmt: skip
            session.flush()  # ids in the file's order
            changed = True
    return changed


# ---------------------------------------------------------------------------------------
# Export


class ExportError(Exception):
    """The export would write through a symbolic link (a French message for the CLI)."""


def refuse_linked_folders(folder: Path, session: Session | None) -> None:
    """Raise ExportError if `folder/fiches` is a symbolic link or, with a `session` (the
    attachments are exported), if the folder `fiches/<slug>` of a fiche with attachments is
    one: the export would write through it. Called before the export writes anything."""
    fiches = folder / "fiches"
    if fiches.is_symlink():
        raise _linked(fiches)
    if session is None or not fiches.is_dir():
        return
    with os.scandir(fiches) as entries:
        links = [entry.name for entry in entries if entry.is_symlink()]
    for start in range(0, len(links), 500):
        slug = session.execute(
            select(WriteUp.slug)
            .join(Attachment, col(Attachment.writeup_id) == col(WriteUp.id))
            .where(col(WriteUp.slug).in_(links[start : start + 500]))
            .limit(1)
        ).scalar()
        if slug is not None:
            raise _linked(fiches / slug)


def _linked(path: Path) -> ExportError:
    return ExportError(
        f"{path} est un lien symbolique : l'export n'écrit jamais à travers un lien. "
        "Supprimez ce lien ou exportez dans un autre dossier."
    )


def export_attachments(
    store: AttachmentStore, folder: Path, slug: str, rows: Sequence[Attachment]
) -> list[AttachmentRef]:
    """Write the files of a fiche's attachments (upload order) into `folder/fiches/<slug>`,
    bytes only where they differ; return them as the front matter lists them. A file missing
    from the store is left out (and logged)."""
    refs = []
    names = export_names([(r.original_name, r.stored_name) for r in rows])
    for row, name in zip(rows, names, strict=True):
        try:
            content = store.get(row.stored_name)
        except MissingAttachment:
            log.warning("export: attachment file %s missing from the store", row.stored_name)
            continue
        write_bytes(folder / "fiches" / slug / name, content, below=folder)
        refs.append(AttachmentRef(file=name, title=export_title(row.title, row.original_name)))
    return refs


def write_bytes(path: Path, data: bytes, *, below: Path | None = None) -> None:
    """Write `data` to `path` unless it holds those bytes already (its timestamps are kept).

    Never through a symbolic link: the bytes go to a new file of the same folder, which then
    replaces `path` (a link there is replaced, not followed; nor is a hard link's other name
    changed), and a link at `path` is never read. With `below` (the export folder), the
    folders from `below` to `path` are made if missing and none may be a link (ExportError).
    """
    folder = _open_folder(path.parent, below)
    try:
        if _holds(folder, path.name, data):
            return
        temporary = f".{path.name}.{secrets.token_hex(6)}.tmp"
        flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
        fd = os.open(temporary, flags, 0o666, dir_fd=folder)
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(data)
            os.replace(temporary, path.name, src_dir_fd=folder, dst_dir_fd=folder)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(temporary, dir_fd=folder)
            raise
    finally:
        os.close(folder)


def _open_folder(path: Path, below: Path | None) -> int:
    """A descriptor of the folder `path`; with `below`, opened one level at a time from
    `below` without following links (and made where missing)."""
    flags = os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC
    if below is None:
        return os.open(path, flags)
    fd = os.open(below, flags)
    reached = below
    try:
        for part in path.relative_to(below).parts:
            reached = reached / part
            with contextlib.suppress(FileExistsError):
                os.mkdir(part, dir_fd=fd)
            try:
                inner = os.open(part, flags | os.O_NOFOLLOW, dir_fd=fd)
            except OSError as exc:
                if exc.errno == errno.ELOOP or os.path.islink(reached):
                    raise _linked(reached) from exc
                raise
            os.close(fd)
            fd = inner
    except BaseException:
        os.close(fd)
        raise
    return fd


def _holds(folder: int, name: str, data: bytes) -> bool:
    """Whether `folder/name` is a regular file (not a link) holding exactly `data`."""
    try:
        info = os.stat(name, dir_fd=folder, follow_symlinks=False)
        if not stat.S_ISREG(info.st_mode) or info.st_size != len(data):
            return False
        flags = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC
        with os.fdopen(os.open(name, flags, dir_fd=folder), "rb") as fh:
            return fh.read(len(data) + 1) == data
    except OSError:  # missing, or replaced meanwhile: written anew
        return False
