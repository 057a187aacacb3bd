"""The `resource-centre` command line (contract section 3)."""

from __future__ import annotations

import getpass
import os
import secrets
import shutil
import sqlite3
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeElapsedColumn
from sqlalchemy import Engine, func, select
from sqlalchemy.engine import make_url

from resource_centre.auth import AccountError, create_user
from resource_centre.config import Settings
from resource_centre.corpus import export_corpus, import_corpus
from resource_centre.db import create_private, make_engine, migrate, read_session, write_session
from resource_centre.models import User
from resource_centre.search.indexer import SearchIndex
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


@contextmanager
def _context() -> Iterator[tuple[Settings, Engine, SearchIndex]]:
    """Settings, engine and index of one command; the engine's connections closed after."""
    settings = Settings()
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
    with _context() as (_, engine, index):
        migrate(engine)
        # Many new fiches are indexed in bulk, on both cores, as `reindex` does.
        procs = min(2, os.cpu_count() or 1)
        report, _ = index.bulk(lambda: import_corpus(engine, path, procs=procs), procs=procs)
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
    with _context() as (_, engine, _):
        count = export_corpus(engine, path)
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
    settings = Settings()
    path.mkdir(mode=0o700, parents=True, exist_ok=True)  # copies for the owner only
    uploads = settings.uploads_dir
    if uploads.is_dir():
        shutil.copytree(uploads, path / "uploads", dirs_exist_ok=True)
        _restrict(path / "uploads")  # copytree copies the source's modes
    url = make_url(settings.database_url)
    if url.get_backend_name() != "sqlite":
        raise _fail(
            "la base est PostgreSQL : sauvegardez-la avec pg_dump -Fc "
            f"(pièces jointes copiées dans {path / 'uploads'})."
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
    out.print(f"Sauvegarde écrite dans {target} ({count} fiche(s)).")


def _restrict(folder: Path) -> None:
    """Owner-only modes for a copied tree: 0700 folders, 0600 files."""
    folder.chmod(0o700)
    for item in folder.rglob("*"):
        if not item.is_symlink():
            item.chmod(0o700 if item.is_dir() else 0o600)


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="Adresse d'écoute.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port.")] = 8000,
    workers: Annotated[int, typer.Option(help="Nombre de processus.")] = 1,
) -> None:
    """Sert l'application web ; avec --workers N, les processus partagent base et index."""
    import uvicorn

    out.print(f"Centre de ressources sur http://{host}:{port} ({workers} processus)")
    uvicorn.run(
        "resource_centre.web.app:create_app", factory=True, host=host, port=port,
        workers=workers, proxy_headers=False, log_level="info",
    )  # fmt: skip


@app.command()
def bootstrap() -> None:
    """Prépare une installation : base, index, corpus de démonstration et compte de curation."""
    with _context() as (settings, engine, index):
        migrate(engine)
        with read_session(engine) as session:
            new_database = session.execute(select(func.count()).select_from(User)).scalar_one() == 0
            empty = count_fiches(session) == 0
        if empty and settings.knowledge_dir.is_dir():
            out.print(f"Import du corpus de démonstration depuis {settings.knowledge_dir}…")
            report = import_corpus(engine, settings.knowledge_dir)
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
                create_user(session, email=DEMO_CURATOR_EMAIL, password=password, role="curator",
                            name="Équipe de curation (démo)")  # fmt: skip
            out.print("Compte de curation de démonstration (affiché une seule fois) :")
            out.print(f"  e-mail : {DEMO_CURATOR_EMAIL}", highlight=False)
            out.print(f"  mot de passe : {password}", highlight=False)


def main() -> None:
    app()
