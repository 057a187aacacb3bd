"""The portable `knowledge/` folder ⇄ database: import (upsert) and canonical export.

Errors are reported as `file:line: reason` in French, every problem of a file at once; a
file is imported whole or not at all, with its attachments. Reading and writing the files
themselves (front matter, sections, line numbers) is `corpus_format.py`, whose public names
are importable from here too; the attachments' files are `corpus_files.py`.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import re
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import Engine
from sqlmodel import col, select

from resource_centre.attachments import discard, discard_unused
from resource_centre.corpus_files import (
    ExportError,
    Plan,
    PlanError,
    attachment_line,
    check_files,
    export_attachments,
    plan_attachments,
    refuse_linked_folders,
    stored_rows,
    write_bytes,
)
from resource_centre.corpus_files import apply_plan as apply_attachment_plan
from resource_centre.corpus_format import (
    FRONT_MATTER_KEYS,
    LIST_KEYS,
    REGIE_KEYS,
    Problem,
    dump_yaml,
    parse_fiche,
    parse_regies,
    parse_taxonomy,
    render_fiche,
)
from resource_centre.db import read_session, write_session
from resource_centre.glossary import load_glossary
from resource_centre.glossary_edit import replace_glossary
from resource_centre.glossary_file import parse_glossary, render_glossary
from resource_centre.models import Attachment, Regie, Term, WriteUp, utcnow
from resource_centre.storage import AttachmentStore
from resource_centre.taxonomy import VOCABULARY_NAMES
from resource_centre.writeups import (
    FicheData,
    Known,
    Rendered,
    apply_data,
    data_from_writeup,
    regie_ids,
    render_data,
)

__all__ = [
    "BATCH_SIZE",
    "FRONT_MATTER_KEYS",
    "LIST_KEYS",
    "MANIFEST",
    "REGIE_KEYS",
    "ExportError",
    "ImportReport",
    "Problem",
    "export_corpus",
    "import_corpus",
    "parse_fiche",
    "parse_glossary",
    "parse_regies",
    "parse_taxonomy",
    "read_manifest",
    "render_fiche",
]

BATCH_SIZE = 250
PARALLEL_MIN_FILES = 200  # below this, starting worker processes costs more than it saves
# Files read, parsed and rendered at a time: an import's memory stays that of two windows
# (the whole of 100,000 fiches in memory took 4.7 GB).
WINDOW_FILES = 2_000


@dataclass
class ImportReport:
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    glossary_entries: int | None = None  # entries of glossary.yaml, when it was imported
    rejected_files: list[Path] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


# ---------------------------------------------------------------------------------------
# Import and export


def import_corpus(
    engine: Engine, folder: Path, *, procs: int = 1, store: AttachmentStore | None = None
) -> ImportReport:
    """Import a `knowledge/` folder: taxonomy, Régies and glossary first, then each fiche
    (upsert by slug, its network note included). The glossary in `glossary.yaml` replaces
    the stored one, whole or not at all.

    Attachments (`corpus_files.py`): the files a fiche lists are always checked (a file
    whose content does not match its extension rejects the fiche). With a `store` (the CLI:
    the application's), they become the fiche's attachments, the file being the truth: a
    stored attachment it does not list is removed, even when it lists none. Without a store
    (tests of other parts), the stored attachments are left as they are.

    With `procs` > 1 (the CLI), fiche files are read, parsed and rendered in that many
    processes; only call it so from a process without threads (it forks). Attachments are
    read and stored by this process.
    """
    report = ImportReport()
    taxonomy_path = folder / "taxonomy.yaml"
    regies_path = folder / "regies.yaml"
    if not folder.is_dir():
        report.problems.append(Problem(folder, 0, "dossier introuvable"))
        return report
    if taxonomy_path.exists():
        vocabularies, problems = parse_taxonomy(taxonomy_path, _read(taxonomy_path, report) or "")
        if problems:
            report.problems.extend(problems)
            report.rejected_files.append(taxonomy_path)
        else:
            _upsert_taxonomy(engine, vocabularies)
    if regies_path.exists():
        with read_session(engine) as session:
            regions = set(
                session.execute(
                    select(col(Term.slug)).where(Term.vocabulary == "regions")
                ).scalars()
            )
        entries, problems = parse_regies(regies_path, _read(regies_path, report) or "", regions)
        if problems:
            report.problems.extend(problems)
            report.rejected_files.append(regies_path)
        else:
            _upsert_regies(engine, entries)
    glossary_path = folder / "glossary.yaml"
    if glossary_path.exists():
        items, problems = parse_glossary(glossary_path, _read(glossary_path, report) or "")
        if problems:
            report.problems.extend(problems)
            report.rejected_files.append(glossary_path)
        elif glossary_path not in report.rejected_files:  # not unreadable
            with write_session(engine) as session:
                replace_glossary(session, items)
            report.glossary_entries = len(items)

    with read_session(engine) as session:
        known = Known.load(session)
        stored = set(session.execute(select(WriteUp.slug)).scalars())
    paths = sorted((folder / "fiches").glob("*.md"))
    windows = [paths[i : i + WINDOW_FILES] for i in range(0, len(paths), WINDOW_FILES)]
    if procs > 1 and len(paths) >= PARALLEL_MIN_FILES:
        # Reading, parsing and rendering the new fiches is most of an import's time: it is
        # done in `procs` processes, a window of files ahead of the one being saved; the
        # database is written from this process only.
        context = multiprocessing.get_context("fork")  # the CLI process has no threads
        with ProcessPoolExecutor(
            procs,
            mp_context=context,
            initializer=_start_worker,
            initargs=(known, stored, True, store is None),
        ) as pool:
            ahead = pool.map(_prepare, windows[0], chunksize=32) if windows else iter(())
            for n in range(len(windows)):
                prepared = list(ahead)
                if n + 1 < len(windows):
                    ahead = pool.map(_prepare, windows[n + 1], chunksize=32)
                _save_window(engine, prepared, report, store)
    else:
        _start_worker(known, stored, render=False, check=store is None)
        for window in windows:
            _save_window(engine, [_prepare(path) for path in window], report, store)
    return report


def _save_window(
    engine: Engine,
    prepared: list[tuple[Path, FicheData | None, list[Problem], Rendered | None]],
    report: ImportReport,
    store: AttachmentStore | None,
) -> None:
    """Report the rejected files of a window and save its valid fiches, batch by batch."""
    valid: list[tuple[Path, FicheData]] = []
    rendered: dict[str, Rendered] = {}
    for path, data, problems, html in prepared:
        if data is None:
            report.problems.extend(problems)
            report.rejected_files.append(path)
            continue
        valid.append((path, data))
        if html is not None:
            rendered[data.slug] = html
    for start in range(0, len(valid), BATCH_SIZE):
        _upsert_fiches(engine, valid[start : start + BATCH_SIZE], report, rendered, store)


# What an import worker process knows: the vocabularies and Régies, the fiches already
# stored (only new fiches are rendered ahead: a changed one is compared first), whether
# to render at all, and whether to check the attachments' files (without a store: with one,
# `plan_attachments` reads each file once, then checks and stores those bytes).
_WORKER: dict[str, Any] = {}


def _start_worker(known: Known, stored: set[str], render: bool = True, check: bool = True) -> None:
    _WORKER.update(known=known, stored=stored, render=render, check=check)


def _prepare(path: Path) -> tuple[Path, FicheData | None, list[Problem], Rendered | None]:
    """Read and parse one fiche file; render it too if it is new (in a worker process)."""
    text, problem = _read_text(path)
    if text is None:
        return path, None, [problem] if problem else [], None
    data, problems = parse_fiche(path, text, _WORKER["known"])
    if data is not None and data.attachments and _WORKER["check"]:
        problems = check_files(path, text, data)
        if problems:
            return path, None, problems, None
    html = None
    if data is not None and _WORKER["render"] and data.slug not in _WORKER["stored"]:
        try:
            html = render_data(data)
        except Exception:  # rendered again while saving, where the error is reported
            html = None
    return path, data, problems, html


def _read(path: Path, report: ImportReport) -> str | None:
    text, problem = _read_text(path)
    if problem is not None:
        report.problems.append(problem)
        report.rejected_files.append(path)
    return text


def _read_text(path: Path) -> tuple[str | None, Problem | None]:
    try:
        raw = path.read_bytes()
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        return None, Problem(path, line, "encodage invalide : le fichier doit être en UTF-8")
    except OSError as exc:
        return None, Problem(path, 0, f"lecture impossible : {exc.strerror}")
    return text.removeprefix("\ufeff").replace("\r\n", "\n"), None


def _upsert_taxonomy(engine: Engine, vocabularies: dict[str, list[dict[str, Any]]]) -> None:
    with write_session(engine) as session:
        existing = {(t.vocabulary, t.slug): t for t in session.execute(select(Term)).scalars()}
        for name, entries in vocabularies.items():
            for position, entry in enumerate(entries):
                term = existing.get((name, entry["slug"])) or Term(
                    vocabulary=name, slug=entry["slug"], label=""
                )
                if (term.label, term.position, term.retired) != (
                    entry["label"],
                    position,
                    entry["retired"],
                ):
                    term.label, term.position, term.retired = (
                        entry["label"],
                        position,
                        entry["retired"],
                    )
                    session.add(term)


def _upsert_regies(engine: Engine, entries: list[dict[str, Any]]) -> None:
    with write_session(engine) as session:
        existing = {r.slug: r for r in session.execute(select(Regie)).scalars()}
        for entry in entries:
            entry = {k: v for k, v in entry.items() if k != "_line"}
            regie = existing.get(entry["slug"]) or Regie(**entry)
            changed = False
            for key, value in entry.items():
                if getattr(regie, key) != value:
                    setattr(regie, key, value)
                    changed = True
            if changed or regie.id is None:
                session.add(regie)


def _upsert_fiches(
    engine: Engine,
    batch: list[tuple[Path, FicheData]],
    report: ImportReport,
    rendered: dict[str, Rendered] | None = None,
    store: AttachmentStore | None = None,
) -> None:
    """Upsert a batch in one transaction (each fiche with its attachments' rows, their new
    files put in the store first); if it fails, retry file by file to isolate."""
    plans: dict[str, Plan] | None = None
    if store is not None:
        batch, plans = _plan_batch(engine, store, batch, report)
    written = [name for plan in (plans or {}).values() for name in plan.written]
    try:
        counts = _save_batch(engine, [data for _, data in batch], rendered or {}, plans)
    except Exception:
        if store is not None:
            discard_unused(engine, store, written)
        if len(batch) == 1:
            path = batch[0][0]
            report.problems.append(Problem(path, 1, "enregistrement impossible dans la base"))
            report.rejected_files.append(path)
            return
        for item in batch:
            _upsert_fiches(engine, [item], report, store=store)  # rendered, planned again
        return
    if store is not None:
        discard(store, [name for plan in (plans or {}).values() for name in plan.obsolete])
    report.created += counts[0]
    report.updated += counts[1]
    report.unchanged += counts[2]


def _plan_batch(
    engine: Engine,
    store: AttachmentStore,
    batch: list[tuple[Path, FicheData]],
    report: ImportReport,
) -> tuple[list[tuple[Path, FicheData]], dict[str, Plan]]:
    """Plan each fiche's attachments (its new files put in `store`); a fiche whose files
    cannot be read or stored is rejected. Returns the fiches kept and their plans."""
    with read_session(engine) as session:
        rows = stored_rows(session, [data.slug for _, data in batch])
    kept: list[tuple[Path, FicheData]] = []
    plans: dict[str, Plan] = {}
    for path, data in batch:
        try:
            plans[data.slug] = plan_attachments(store, path.parent, data, rows.get(data.slug, []))
        except PlanError as exc:
            line = 1
            if exc.file is not None:
                with contextlib.suppress(OSError, UnicodeDecodeError):
                    line = attachment_line(path.read_text("utf-8"), exc.file)
            report.problems.append(Problem(path, line, exc.reason))
            report.rejected_files.append(path)
            continue
        kept.append((path, data))
    return kept, plans


def _save_batch(
    engine: Engine,
    batch: list[FicheData],
    rendered: dict[str, Rendered],
    plans: dict[str, Plan] | None = None,
) -> tuple[int, int, int]:
    created = updated = unchanged = 0
    with write_session(engine) as session:
        ids = regie_ids(session)
        slugs = [d.slug for d in batch]
        existing = {
            w.slug: w
            for w in session.execute(
                select(WriteUp).where(col(WriteUp.slug).in_(slugs)).with_for_update()
            ).scalars()
        }
        for data in batch:
            writeup = existing.get(data.slug)
            new = writeup is None
            if writeup is None:
                writeup = WriteUp(slug=data.slug, title=data.title)
                html = rendered.get(data.slug)
                changed = apply_data(session, writeup, data, regie_ids=ids, rendered=html,
                                     corpus=True)  # fmt: skip
            else:
                changed = apply_data(session, writeup, data, regie_ids=ids, corpus=True)
            plan = plans.get(data.slug) if plans is not None else None
            if plan is not None and not plan.empty:
                session.flush()  # a new fiche's id, for its attachments' rows
                if apply_attachment_plan(session, writeup, plan) and not changed:
                    writeup.version += 1  # only its attachments changed
                    writeup.updated_at = utcnow()
                    session.add(writeup)
                    changed = True
            if new:
                created += 1
            elif changed:
                updated += 1
            else:
                unchanged += 1
    return created, updated, unchanged


def export_corpus(engine: Engine, folder: Path, *, store: AttachmentStore | None = None) -> int:
    """Write the whole library to `folder`; return the number of fiches written.

    With a `store` (the CLI: the application's), each fiche's attachments are written to
    `fiches/<slug>/<name>` and listed in its front matter; without one, no attachment is
    written or listed. The files written are listed in `folder/.manifest`. A file listed by
    the previous export that this one does not write (a deleted fiche or attachment) is
    removed, and its emptied `fiches/<slug>/` folder; a file the export did not write is
    never touched, whatever its name. Files are written only when their bytes differ.

    Nothing is written through a symbolic link (`corpus_files.write_bytes`): a linked
    `fiches/` folder, or `fiches/<slug>/` of a fiche whose attachments are exported, raises
    ExportError (a French message) before anything is written.
    """
    fiches_dir = folder / "fiches"
    with read_session(engine) as session:
        refuse_linked_folders(folder, session if store is not None else None)
    fiches_dir.mkdir(parents=True, exist_ok=True)
    previous = read_manifest(folder)
    with read_session(engine) as session:
        terms = (
            session.execute(
                select(Term).order_by(col(Term.vocabulary), col(Term.position), col(Term.slug))
            )
            .scalars()
            .all()
        )
        vocabularies: dict[str, list[dict[str, Any]]] = {name: [] for name in VOCABULARY_NAMES}
        for term in terms:
            entry: dict[str, Any] = {"slug": term.slug, "label": term.label}
            if term.retired:
                entry["retired"] = True
            vocabularies.setdefault(term.vocabulary, []).append(entry)
        _write(folder / "taxonomy.yaml", dump_yaml({k: v for k, v in vocabularies.items() if v}))
        regies = session.execute(select(Regie).order_by(Regie.slug)).scalars().all()
        slug_of = {r.id: r.slug for r in regies}
        regie_entries = []
        for regie in regies:
            item: dict[str, Any] = {k: getattr(regie, k) for k in REGIE_KEYS}
            if regie.contact_email:
                item["contact_email"] = regie.contact_email
            if regie.retired:
                item["retired"] = True
            regie_entries.append(item)
        _write(folder / "regies.yaml", dump_yaml(regie_entries) if regie_entries else "[]\n")
        _write(folder / "glossary.yaml", render_glossary(load_glossary(session).items))
        attached: dict[int, list[Attachment]] = {}
        if store is not None:
            # A proposed revision's files are not exported, as the revision is not: the
            # export is the fiches as they stand (see corpus_files).
            for row in session.execute(
                select(Attachment)
                .where(col(Attachment.pending).is_(False))
                .order_by(col(Attachment.writeup_id), col(Attachment.id))
            ).scalars():
                attached.setdefault(row.writeup_id, []).append(row)
        written: set[str] = set()
        count = 0
        for writeup in session.execute(select(WriteUp).order_by(WriteUp.slug)).scalars():
            data = data_from_writeup(writeup, slug_of.get(writeup.regie_id))
            rows = attached.get(writeup.id or 0, [])
            if store is not None and rows:
                data.attachments = export_attachments(store, folder, writeup.slug, rows)
                written.update(f"{writeup.slug}/{ref.file}" for ref in data.attachments)
            _write(fiches_dir / f"{writeup.slug}.md", render_fiche(data), below=folder)
            written.add(f"{writeup.slug}.md")
            count += 1
    files = {
        "taxonomy.yaml",
        "regies.yaml",
        "glossary.yaml",
        *(f"fiches/{name}" for name in written),
    }
    for stale in sorted(previous - files):
        path = folder / stale
        if path.parent != fiches_dir and path.parent.is_symlink():
            continue  # not a folder the export made: nothing through it is deleted
        if path.is_file() or path.is_symlink():
            path.unlink()
        if path.parent != fiches_dir:
            with contextlib.suppress(OSError):
                path.parent.rmdir()  # the fiche's folder, if now empty
    _write(folder / MANIFEST, MANIFEST_HEADER + "".join(f"{name}\n" for name in sorted(files)))
    return count


MANIFEST = ".manifest"
MANIFEST_HEADER = (
    "# Fichiers écrits par « resource-centre export » : l'export suivant ne supprime que ceux-ci.\n"
)
# What an export writes; a manifest line that is anything else is ignored (never deleted).
_EXPORTED = re.compile(
    r"taxonomy\.yaml|regies\.yaml|glossary\.yaml|fiches/[a-z0-9][a-z0-9-]*\.md"
    r"|fiches/[a-z0-9][a-z0-9-]*/[a-z0-9][a-z0-9_-]*(?:\.[a-z0-9]+)+"  # an attachment
)


def read_manifest(folder: Path) -> set[str]:
    """The files the previous export into `folder` wrote (empty if there is no manifest)."""
    try:
        text = (folder / MANIFEST).read_text("utf-8")
    except (FileNotFoundError, UnicodeDecodeError):
        return set()
    return {line for line in text.splitlines() if _EXPORTED.fullmatch(line)}


def _write(path: Path, text: str, *, below: Path | None = None) -> None:
    """Write only when the content differs, so unchanged files keep their timestamps; never
    through a symbolic link (see `corpus_files.write_bytes`)."""
    write_bytes(path, text.encode("utf-8"), below=below)
