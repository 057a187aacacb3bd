"""The command line of contract section 3, run in-process with real files."""

from __future__ import annotations

import os
import shutil
import stat
from importlib.metadata import version
from pathlib import Path

import pytest
from sqlalchemy import select
from typer.testing import CliRunner

from resource_centre.auth import verify_password
from resource_centre.cli import app
from resource_centre.config import Settings
from resource_centre.db import make_engine, read_session
from resource_centre.models import User
from resource_centre.writeups import count_fiches
from tests.conftest import TEST_KNOWLEDGE


@pytest.fixture
def env(tmp_path: Path, database_url: str) -> dict[str, str]:
    return {
        "RESOURCE_CENTRE_DATABASE_URL": database_url,
        "RESOURCE_CENTRE_INDEX_DIR": str(tmp_path / "index"),
        "RESOURCE_CENTRE_DATA_DIR": str(tmp_path / "data"),
        "RESOURCE_CENTRE_KNOWLEDGE_DIR": str(TEST_KNOWLEDGE),
    }


def run(env: dict[str, str], *args: str, input: str | None = None):
    return CliRunner().invoke(app, list(args), env=env, input=input)


def test_help_lists_every_command():
    result = CliRunner().invoke(app, ["--help"])
    assert result.exit_code == 0
    for command in (
        "serve",
        "init",
        "import",
        "export",
        "reindex",
        "check",
        "create-user",
        "backup",
    ):
        assert command in result.output


def test_init_is_idempotent_and_creates_the_index(env, tmp_path):
    assert run(env, "init").exit_code == 0
    second = run(env, "init")
    assert second.exit_code == 0, second.output
    assert (tmp_path / "index" / "current").is_symlink()


def test_import_reports_file_line_reason_and_exits_1(env, tmp_path):
    folder = tmp_path / "k"
    shutil.copytree(TEST_KNOWLEDGE, folder)
    bad = folder / "fiches" / "atelier-velo-des-hauts-plateaux.md"
    bad.write_text(bad.read_text("utf-8").replace("year_start: 2021", "year_start: vingt"), "utf-8")
    result = run(env, "import", str(folder))
    assert result.exit_code == 1
    assert f"{bad}:9: « year_start » doit être une année" in result.output
    assert "5 fiche(s) créée(s)" in result.output
    ok = run(env, "import", str(TEST_KNOWLEDGE))
    assert ok.exit_code == 0 and "1 fiche(s) créée(s)" in ok.output


def test_export_then_check(env, tmp_path):
    assert run(env, "import", str(TEST_KNOWLEDGE)).exit_code == 0
    result = run(env, "export", str(tmp_path / "out"))
    assert result.exit_code == 0 and "6 fiche(s) exportée(s)" in result.output
    assert len(list((tmp_path / "out" / "fiches").glob("*.md"))) == 6
    checked = run(env, "check")
    assert checked.exit_code == 0, checked.output


def test_create_user_reads_password_from_stdin_and_hashes_it(env):
    run(env, "import", str(TEST_KNOWLEDGE))
    result = run(
        env, "create-user", "--email", "Camille@Exemple.org", "--role", "contributor",
        "--regie", "regie-du-canal", "--name", "Camille", input="un mot de passe solide\n",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    engine = make_engine(env["RESOURCE_CENTRE_DATABASE_URL"])
    with read_session(engine) as session:
        user = session.execute(select(User).where(User.email == "camille@exemple.org")).scalar_one()
    engine.dispose()
    assert user.role == "contributor" and user.password_hash.startswith("$argon2id$")
    assert "un mot de passe solide" not in user.password_hash
    assert verify_password("un mot de passe solide", user.password_hash)
    again = run(
        env,
        "create-user",
        "--email",
        "camille@exemple.org",
        "--role",
        "curator",
        input="x" * 12 + "\n",
    )
    assert again.exit_code == 1 and "existe déjà" in again.output


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--role", "chef"], "rôle inconnu"),
        (["--role", "contributor"], "doit être rattaché à une Régie"),
        (["--role", "contributor", "--regie", "nulle-part"], "Régie inconnue"),
    ],
)
def test_create_user_refuses_bad_input(env, args, message):
    result = run(env, "create-user", "--email", "a@exemple.org", *args, input="assez long mot\n")
    assert result.exit_code == 1 and message in result.output


def test_create_user_generate_prints_a_password(env):
    result = run(env, "create-user", "--email", "b@exemple.org", "--role", "curator", "--generate")
    assert result.exit_code == 0 and "Mot de passe : " in result.output


def test_backup_copies_a_database_holding_every_fiche(env, tmp_path, database_url):
    if not database_url.startswith("sqlite"):
        result = run(env, "backup", str(tmp_path / "b"))
        assert result.exit_code == 1 and "pg_dump" in result.output
        return
    run(env, "import", str(TEST_KNOWLEDGE))
    uploads = tmp_path / "data" / "uploads"
    uploads.mkdir(parents=True, exist_ok=True)  # the import created it (its store)
    (uploads / "piece.pdf").write_bytes(b"%PDF-1.4")
    result = run(env, "backup", str(tmp_path / "b"))
    assert result.exit_code == 0, result.output
    copy = make_engine(f"sqlite:///{tmp_path / 'b' / 'resource_centre.db'}")
    with read_session(copy) as session:
        assert count_fiches(session) == 6
    copy.dispose()
    assert (tmp_path / "b" / "uploads" / "piece.pdf").read_bytes() == b"%PDF-1.4"


def test_secret_key_is_generated_once_with_owner_only_permissions(tmp_path):
    first = Settings(data_dir=tmp_path / "d").secret_key
    second = Settings(data_dir=tmp_path / "d").secret_key
    assert first == second and len(first) >= 40
    mode = stat.S_IMODE(os.stat(tmp_path / "d" / "secret_key").st_mode)
    assert mode == 0o600
    assert Settings(data_dir=tmp_path / "d", RESOURCE_CENTRE_SECRET_KEY="fixe").secret_key == "fixe"


def test_check_exits_1_and_names_the_differences(env):
    assert run(env, "import", str(TEST_KNOWLEDGE)).exit_code == 0
    engine = make_engine(env["RESOURCE_CENTRE_DATABASE_URL"])
    from resource_centre.db import write_session
    from resource_centre.writeups import get_by_slug

    with write_session(engine) as session:  # committed, not yet applied to the index
        get_by_slug(session, "epicerie-soumise").status = "published"
    engine.dispose()
    result = run(env, "check")
    assert result.exit_code == 1
    assert "epicerie-soumise : absente de l'index" in result.output
    assert "1 modification(s) du journal pas encore appliquée(s)" in result.output
    assert run(env, "reindex").exit_code == 0
    assert run(env, "check").exit_code == 0


def test_version_prints_the_installed_version_and_exits_0():
    result = CliRunner().invoke(app, ["--version"])
    assert result.exit_code == 0, result.output
    assert result.output.strip() == f"resource-centre {version('resource-centre')}"


def test_import_then_export_carries_the_demo_attachments(env, tmp_path):
    """The commands pass the attachment store: the demo corpus's files come back byte for
    byte, listed in the manifest (without a store, the export would drop them)."""
    from tests.conftest import DEMO_KNOWLEDGE

    assert run(env, "import", str(DEMO_KNOWLEDGE)).exit_code == 0
    out = tmp_path / "out"
    result = run(env, "export", str(out))
    assert result.exit_code == 0, result.output
    shipped = sorted(p for p in (DEMO_KNOWLEDGE / "fiches").glob("*/*") if p.is_file())
    assert len(shipped) >= 5
    manifest = (out / ".manifest").read_text("utf-8")
    for path in shipped:
        name = f"fiches/{path.parent.name}/{path.name}"
        assert (out / name).read_bytes() == path.read_bytes(), name
        assert name in manifest


def test_export_through_a_symbolic_link_is_refused_in_french(env, tmp_path):
    """A linked `fiches/` folder in the target: a French message and exit 1, nothing written
    through the link (corpus_files refuses; the command must not end in a traceback)."""
    assert run(env, "import", str(TEST_KNOWLEDGE)).exit_code == 0
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    out = tmp_path / "out"
    out.mkdir()
    (out / "fiches").symlink_to(elsewhere)
    result = run(env, "export", str(out))
    assert result.exit_code == 1
    assert "lien symbolique" in result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)
    assert list(elsewhere.iterdir()) == []


LEAKY_SMTP_URL = "smtp+starttls://alice:Tr0ub4dor/3@mail.example:587"  # "/" not encoded


@pytest.mark.parametrize("command", [["bootstrap"], ["init"], ["import", str(TEST_KNOWLEDGE)]])
@pytest.mark.parametrize(
    ("variable", "value", "message"),
    [
        ("RESOURCE_CENTRE_MAIL_FROM", "Régie <a@regies.example>, b@exemple.org",
         "RESOURCE_CENTRE_MAIL_FROM doit être une seule adresse"),
        ("RESOURCE_CENTRE_SMTP_URL", LEAKY_SMTP_URL,
         "RESOURCE_CENTRE_SMTP_URL n'est pas une adresse SMTP valide"),
        ("RESOURCE_CENTRE_REQUEST_THREADS", "0",
         "RESOURCE_CENTRE_REQUEST_THREADS : doit valoir au moins 1"),
    ],
)  # fmt: skip
def test_a_malformed_setting_is_one_french_line_without_the_value(
    env, tmp_path, command, variable, value, message
):
    """Review finding: `bootstrap` (the first step of `make run`), `init`, `import`… ended in
    a pydantic traceback that repeated the value given, an SMTP password included."""
    result = run({**env, variable: value}, *command)
    assert result.exit_code == 1
    assert isinstance(result.exception, SystemExit)  # not an exception escaping the command
    output = result.output.strip()
    assert output.startswith("Erreur :") and message in output and "\n" not in output
    for secret in ("Tr0ub4dor", "alice", "mail.example", "b@exemple.org", "Value error"):
        assert secret not in output
    assert not (tmp_path / "index").exists()  # stopped before doing anything


def test_send_mail_with_postgresql_and_no_secret_key_is_one_french_line(tmp_path):
    """The unsubscribe links are signed: with a shared database the key must be given."""
    env = {
        "RESOURCE_CENTRE_DATABASE_URL": "postgresql+psycopg://nobody@127.0.0.1:1/nothing",
        "RESOURCE_CENTRE_SECRET_KEY": "",
        "RESOURCE_CENTRE_DATA_DIR": str(tmp_path / "data"),
    }
    result = run(env, "send-mail")
    assert result.exit_code == 1 and isinstance(result.exception, SystemExit)
    assert "RESOURCE_CENTRE_SECRET_KEY n'est pas définie" in result.output
