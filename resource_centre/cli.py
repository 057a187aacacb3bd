"""The `resource-centre` command line (contract section 3)."""

from __future__ import annotations

import getpass
import os
import secrets
import sqlite3
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Annotated, Any

import typer
from pydantic import ValidationError
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeElapsedColumn
from sqlalchemy import Engine, func, select
from sqlalchemy.engine import make_url

from resource_centre.auth import AccountError, create_user
from resource_centre.config import InvalidSmtpUrl, MissingSecretKey, Settings
from resource_centre.corpus import ExportError, export_corpus, import_corpus
from resource_centre.db import create_private, make_engine, migrate, read_session, write_session
from resource_centre.logs import LogLevel, configure_cli_logging, logging_config
from resource_centre.mail_sender import GIVE_UP_AFTER, KEEP_DAYS, make_holder, prune, send_pending
from resource_centre.models import User
from resource_centre.search.indexer import SearchIndex
from resource_centre.storage import (
    AttachmentStore,
    MissingAttachment,
    S3Store,
    StorageConfigError,
    StorageUnavailable,
    open_store,
)
from resource_centre.taxonomy import ROLES
from resource_centre.writeups import count_fiches

app = typer.Typer(
    help="Centre de ressources du Mouvement des Régies : gestion de la bibliothèque de fiches.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
out = Console(soft_wrap=True)
err = Console(stderr=True, soft_wrap=True)
DEMO_CURATOR_EMAIL = "curation@demo.centre-ressources.example"
LOG_LEVEL_HELP = "Niveau des journaux : debug, info, warning, error ou critical."


def _show_version(wanted: bool) -> None:
    if wanted:
        try:
            number = version("resource-centre")
        except PackageNotFoundError:  # run from a source tree that was never installed
            number = "inconnue"
        out.print(f"resource-centre {number}", highlight=False)
        raise typer.Exit()


@app.callback()
def _options(
    ctx: typer.Context,
    log_level: Annotated[
        LogLevel, typer.Option("--log-level", case_sensitive=False, help=LOG_LEVEL_HELP)
    ] = LogLevel.info,
    _version: Annotated[
        bool,
        typer.Option("--version", callback=_show_version, is_eager=True,
                     help="Affiche la version et quitte."),
    ] = False,
) -> None:  # fmt: skip
    """Options common to every command: the logging set-up, --version."""
    ctx.obj = log_level
    configure_cli_logging(log_level)


# Pydantic's own messages for the settings' bounds and types, in French.
_SETTING_PROBLEMS = {
    "greater_than": "doit être supérieur à {gt}",
    "greater_than_equal": "doit valoir au moins {ge}",
    "less_than_equal": "doit valoir au plus {le}",
    "int_parsing": "doit être un nombre entier",
    "int_from_float": "doit être un nombre entier",
    "float_parsing": "doit être un nombre",
    "bool_parsing": "doit valoir true ou false",
}


def _setting_problem(error: Any) -> str:
    """One error of a ValidationError of the settings, in French, without the value given
    (it may be a password): the variable's name and what is wrong."""
    field = str(error["loc"][0]).upper() if error.get("loc") else ""
    name = field if field.startswith("RESOURCE_CENTRE_") else f"RESOURCE_CENTRE_{field}"
    template = _SETTING_PROBLEMS.get(error["type"])
    problem = (
        template.format(**error.get("ctx", {}))
        if template
        else str(error["msg"]).removeprefix("Value error, ")
    )
    return problem if name in problem else f"{name} : {problem}"


def _settings(*, secret: bool = False) -> Settings:
    """The settings of one command, or one French line on stderr and exit 1 for a malformed
    setting (the SMTP URL and any value given never repeated). `secret`: the secret key is
    needed (with PostgreSQL it must be given, not generated)."""
    try:
        settings = Settings()
        if secret:
            settings.secret_key  # noqa: B018 - MissingSecretKey with PostgreSQL and no key
    except (MissingSecretKey, InvalidSmtpUrl) as exc:
        raise _fail(str(exc)) from None
    except ValidationError as exc:
        problems = [_setting_problem(e) for e in exc.errors(include_url=False)]
        raise _fail(" ; ".join(problems)) from None
    return settings


@contextmanager
def _context(*, secret: bool = False) -> Iterator[tuple[Settings, Engine, SearchIndex]]:
    """Settings, engine and index of one command; the engine's connections closed after."""
    settings = _settings(secret=secret)
    engine = make_engine(settings.database_url)
    try:
        yield settings, engine, SearchIndex(settings.index_dir, engine)
    finally:
        engine.dispose()


def _fail(message: str, code: int = 1) -> typer.Exit:
    err.print(f"[red]Erreur :[/red] {message}", highlight=False)
    return typer.Exit(code)


@app.command()
def init() -> None:
    """Crée ou met à jour la base de données, puis crée ou rattrape l'index."""
    with _context() as (settings, engine, index):
        migrate(engine)
        out.print("Base de données à jour.")
        store = _attachment_store(settings)
        try:
            if store.ensure() and isinstance(store, S3Store):
                out.print(f"Compartiment des pièces jointes créé : {store.location}.")
        except StorageUnavailable as exc:
            raise _fail(exc.detail) from None
        if index.ensure():
            out.print(f"Index créé dans {settings.index_dir}.")
        applied = index.catch_up(timeout=10)
        if applied:
            out.print(f"Index rattrapé : {applied} modification(s) appliquée(s).")


@app.command("import")
def import_(
    path: Annotated[Path, typer.Argument(help="Dossier au format knowledge/.")],
) -> None:
    """Importe un dossier knowledge/ (mise à jour par slug) ; code 1 si un fichier est rejeté."""
    with _context() as (settings, engine, index):
        migrate(engine)
        store = _ready_store(settings)
        # Many new fiches are indexed in bulk, on both cores, as `reindex` does.
        procs = min(2, os.cpu_count() or 1)
        report, _ = index.bulk(
            lambda: import_corpus(engine, path, procs=procs, store=store), procs=procs
        )
        for problem in report.problems:
            err.print(str(problem), highlight=False, markup=False)
        out.print(
            f"{report.created} fiche(s) créée(s), {report.updated} mise(s) à jour, "
            f"{report.unchanged} inchangée(s), {len(report.rejected_files)} fichier(s) rejeté(s)."
        )
        if not report.ok:
            raise typer.Exit(1)


@app.command()
def export(
    path: Annotated[Path, typer.Argument(help="Dossier de destination.")],
) -> None:
    """Écrit toute la bibliothèque au format knowledge/."""
    with _context() as (settings, engine, _):
        try:
            count = export_corpus(engine, path, store=_attachment_store(settings))
        except StorageUnavailable as exc:
            raise _fail(exc.detail) from None
        except ExportError as exc:
            raise _fail(str(exc)) from None
        out.print(f"{count} fiche(s) exportée(s) dans {path}.")


@app.command()
def reindex() -> None:
    """Reconstruit l'index depuis la base ; la recherche continue pendant la reconstruction."""
    with _context() as (_, _, index):
        with Progress(
            "[progress.description]{task.description}", BarColumn(), MofNCompleteColumn(),
            TimeElapsedColumn(), console=out,
        ) as progress:  # fmt: skip
            task = progress.add_task("Indexation", total=None)
            count = index.rebuild(
                progress=lambda done, total: progress.update(task, completed=done, total=total),
                procs=min(2, os.cpu_count() or 1),  # measured: 1.85x faster on two cores
            )
        out.print(f"Index reconstruit : {count} fiche(s) publiée(s).")


@app.command()
def check() -> None:
    """Compare l'index et la base ; code 1 s'ils diffèrent."""
    with _context() as (_, _, index):
        report = index.check()
        for label, slugs in (
            ("absente de l'index", report.missing),
            ("dans l'index mais non publiée", report.extra),
            ("périmée dans l'index", report.stale),
            ("visible plusieurs fois par un lecteur ouvert de l'index", report.duplicates),
            ("dans une version périmée pour un lecteur ouvert de l'index", report.live_stale),
        ):
            for slug in slugs:
                out.print(f"{slug} : {label}", highlight=False)
        if report.pending:
            out.print(f"{report.pending} modification(s) du journal pas encore appliquée(s)")
        if not report.ok:
            out.print("L'index diffère de la base (corrigez avec : resource-centre reindex).")
            raise typer.Exit(1)
        out.print("Index et base concordent.")


@app.command("create-user")
def create_user_command(
    email: Annotated[str, typer.Option("--email", help="Adresse e-mail (identifiant).")],
    role: Annotated[str, typer.Option("--role", help="contributor, curator ou admin.")],
    regie: Annotated[str | None, typer.Option("--regie", help="Slug de la Régie.")] = None,
    name: Annotated[str, typer.Option("--name", help="Nom affiché.")] = "",
    generate: Annotated[
        bool, typer.Option("--generate", help="Génère et affiche le mot de passe.")
    ] = False,
) -> None:
    """Crée un compte ; mot de passe lu sur l'entrée standard, demandé deux fois, ou généré."""
    if role not in ROLES:
        raise _fail(f"rôle inconnu « {role} » ({', '.join(ROLES)})")
    if generate:
        password = secrets.token_urlsafe(12)
    elif not sys.stdin.isatty():
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        password = getpass.getpass("Mot de passe : ")
        if password != getpass.getpass("Mot de passe (confirmation) : "):
            raise _fail("les deux mots de passe diffèrent")
    with _context() as (_, engine, _):
        migrate(engine)
        try:
            with write_session(engine) as session:
                create_user(
                    session, email=email, password=password, role=role, regie_slug=regie, name=name
                )
        except AccountError as exc:
            raise _fail(str(exc)) from None
        out.print(f"Compte créé : {email.strip().lower()} ({role}).", highlight=False)
        if generate:
            out.print(f"Mot de passe : {password}", highlight=False)


@app.command()
def backup(
    path: Annotated[Path, typer.Argument(help="Dossier de sauvegarde (créé s'il manque).")],
) -> None:
    """Copie cohérente de la base et des pièces jointes, pendant que l'application tourne."""
    settings = _settings()
    store = _attachment_store(settings)
    path.mkdir(mode=0o700, parents=True, exist_ok=True)  # copies for the owner only
    url = make_url(settings.database_url)
    if url.get_backend_name() != "sqlite":
        copied = _copy_attachments(store, path / "uploads")
        raise _fail(
            "la base est PostgreSQL : sauvegardez-la avec pg_dump -Fc "
            f"({copied} pièce(s) jointe(s) copiée(s) dans {path / 'uploads'})."
        )
    if not url.database:  # "sqlite://" is an in-memory database: no file to copy
        raise _fail("la base SQLite est en mémoire : il n'y a rien à sauvegarder.")
    target = path / "resource_centre.db"
    create_private(target)
    source = sqlite3.connect(url.database, timeout=30)
    dest = sqlite3.connect(target)
    try:
        with dest:
            source.backup(dest, pages=-1)  # one step: consistent even while others write
        count = dest.execute("SELECT count(*) FROM writeup").fetchone()[0]
    finally:
        dest.close()
        source.close()
    # After the database: a file is stored before its row is committed and never changes,
    # so every attachment the copied database names is in the store by now.
    copied = _copy_attachments(store, path / "uploads")
    out.print(
        f"Sauvegarde écrite dans {target} ({count} fiche(s), {copied} pièce(s) jointe(s) "
        f"copiée(s) depuis {store.location})."
    )


def _ready_store(settings: Settings) -> AttachmentStore:
    """The attachment store, created if needed (an S3 bucket), or a clear failure."""
    store = _attachment_store(settings)
    try:
        store.ensure()
    except StorageUnavailable as exc:
        raise _fail(exc.detail) from None
    return store


def _attachment_store(settings: Settings) -> AttachmentStore:
    """The attachment store of the settings; a clear error for a malformed S3 URL."""
    try:
        return open_store(settings)
    except StorageConfigError as exc:
        raise _fail(str(exc)) from None


def _copy_attachments(store: AttachmentStore, folder: Path) -> int:
    """Copy every attachment of `store` (folder or bucket) into `folder`, owner-only; a file
    already there with the same size is kept (stored files never change). Returns the count."""
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    count = 0
    try:
        for item in store.files():
            target = folder / item.name
            if not (target.is_file() and target.stat().st_size == item.size):
                try:
                    opened = store.open(item.name)
                except MissingAttachment:  # a failed upload's file, deleted since the listing
                    continue
                part = folder / f".{item.name}.part"
                try:
                    fd = os.open(part, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
                    with os.fdopen(fd, "wb") as fh:
                        for chunk in opened:  # an S3 error midway is StorageUnavailable
                            fh.write(chunk)
                    os.replace(part, target)
                except BaseException:  # no half-copied file left behind
                    opened.close()
                    part.unlink(missing_ok=True)
                    raise
            count += 1
    except StorageUnavailable as exc:
        raise _fail(f"copie des pièces jointes interrompue : {exc.detail}") from None
    except OSError as exc:  # a disk full, a folder not writable
        raise _fail(
            f"copie des pièces jointes interrompue : {exc.strerror or type(exc).__name__} "
            f"({exc.filename or folder})."
        ) from None
    _restrict(folder)  # files of an earlier backup in the same folder too
    return count


def _restrict(folder: Path) -> None:
    """Owner-only modes for a copied tree: 0700 folders, 0600 files."""
    folder.chmod(0o700)
    for item in folder.rglob("*"):
        if not item.is_symlink():
            item.chmod(0o700 if item.is_dir() else 0o600)


@app.command()
def serve(
    ctx: typer.Context,
    host: Annotated[str, typer.Option(help="Adresse d'écoute.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port.")] = 8000,
    workers: Annotated[int, typer.Option(help="Nombre de processus.")] = 1,
    log_level: Annotated[
        LogLevel | None, typer.Option("--log-level", case_sensitive=False, help=LOG_LEVEL_HELP)
    ] = None,
) -> None:
    """Sert l'application web ; avec --workers N, les processus partagent base et index."""
    import uvicorn

    level = log_level or ctx.obj or LogLevel.info  # serve's option, else the global one
    settings = _settings(secret=True)  # PostgreSQL: the key must be given, not generated
    _attachment_store(settings)  # a malformed RESOURCE_CENTRE_S3_URL stops here
    public = f", adresse publique {settings.base_url}" if settings.base_url else ""
    out.print(f"Centre de ressources sur http://{host}:{port} ({workers} processus{public})")
    # The workers' search caches stay out of the cycle collector's full passes (IndexSync).
    os.environ.setdefault("RESOURCE_CENTRE_GC_FREEZE", "true")
    # proxy_headers=False: the app applies uvicorn's ProxyHeadersMiddleware itself, trusting
    # RESOURCE_CENTRE_FORWARDED_ALLOW_IPS only (web.app), whatever server runs it.
    uvicorn.run(
        "resource_centre.web.app:create_app", factory=True, host=host, port=port,
        workers=workers, proxy_headers=False, log_config=logging_config(level),
        log_level=level.value, access_log=False,
    )  # fmt: skip


@app.command()
def bootstrap() -> None:
    """Prépare une installation : base, index, corpus de démonstration et compte d'administration."""
    with _context() as (settings, engine, index):
        migrate(engine)
        with read_session(engine) as session:
            new_database = session.execute(select(func.count()).select_from(User)).scalar_one() == 0
            empty = count_fiches(session) == 0
        if empty and settings.knowledge_dir.is_dir():
            out.print(f"Import du corpus de démonstration depuis {settings.knowledge_dir}…")
            report = import_corpus(engine, settings.knowledge_dir, store=_ready_store(settings))
            for problem in report.problems:
                err.print(str(problem), highlight=False, markup=False)
        if index.ensure():
            out.print(f"Index créé dans {settings.index_dir}.")
        index.catch_up(timeout=10)
        with read_session(engine) as session:
            total, published = count_fiches(session), count_fiches(session, status="published")
        out.print(f"{total} fiche(s) dans la base, dont {published} publiée(s).")
        if new_database:
            password = secrets.token_urlsafe(12)
            with write_session(engine) as session:
                # An admin: the demo shows the whole back-office, the outbox of the messages
                # written without a mail server and the invitations included.
                create_user(session, email=DEMO_CURATOR_EMAIL, password=password, role="admin",
                            name="Équipe du réseau (démo)")  # fmt: skip
            out.print("Compte de démonstration de l'équipe du réseau, administrateur "
                      "(affiché une seule fois) :")  # fmt: skip
            out.print(f"  e-mail : {DEMO_CURATOR_EMAIL}", highlight=False)
            out.print(f"  mot de passe : {password}", highlight=False)


SEND_MAIL_LEASE_WAIT = 30.0  # seconds to wait while another process sends


@app.command("send-mail")
def send_mail() -> None:
    """Envoie les courriels en attente dont l'heure est venue et efface ceux envoyés il y a
    plus de 30 jours ; code 1 si ce passage n'a pas pu envoyer un courriel."""
    # A malformed SMTP_URL or MAIL_FROM stops here, the URL never repeated; the key signs
    # the unsubscribe links.
    with _context(secret=True) as (settings, engine, _):
        holder, sent, failed, abandoned = make_holder(), 0, 0, 0
        while True:  # batches of 100 until nothing due is left or a batch fails
            report = send_pending(engine, settings, holder=holder, lease_wait=SEND_MAIL_LEASE_WAIT)
            sent, failed = sent + report.sent, failed + report.failed
            abandoned += report.abandoned
            if report.busy or report.failed or not report.sent:
                break
        erased = prune(engine, settings)
        where = "envoyé(s)" if settings.smtp_url else f"écrit(s) dans {settings.outbox_dir}"
        out.print(f"{sent} courriel(s) {where}.", highlight=False)
        if report.busy:
            raise _fail(
                "un autre processus envoie les courriels depuis plus de "
                f"{SEND_MAIL_LEASE_WAIT:.0f} s ; réessayez plus tard."
            )
        if failed:
            out.print(
                f"{failed} courriel(s) n'ont pas pu être envoyés : nouvel essai plus tard "
                "(détail sur la page Curation › Courriels).",
                highlight=False,
            )
        if abandoned:
            out.print(
                f"{abandoned} courriel(s) abandonné(s) après {GIVE_UP_AFTER.days} jours d'échecs "
                "(état « Échec » sur la page Curation › Courriels).",
                highlight=False,
            )
        if report.waiting:
            out.print(f"{report.waiting} courriel(s) en attente.", highlight=False)
        if erased:
            out.print(
                f"{erased} ancien(s) courriel(s) effacé(s) (envoyés ou abandonnés il y a plus "
                f"de {KEEP_DAYS} jours).",
                highlight=False,
            )
        if failed or abandoned:
            raise typer.Exit(1)


def main() -> None:
    app()
