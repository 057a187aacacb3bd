"""Attachment stores (resource_centre/storage.py) on a real folder and a real S3-compatible
server (SeaweedFS, started here), the download route on each, backups from the bucket, and
the rule that a PostgreSQL installation is given its secret key."""

from __future__ import annotations

import os
import stat
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import select
from starlette.testclient import TestClient
from typer.testing import CliRunner

from resource_centre.auth import create_user
from resource_centre.cli import app as cli
from resource_centre.config import MissingSecretKey, Settings
from resource_centre.db import read_session, write_session
from resource_centre.models import Attachment
from resource_centre.storage import (
    CHUNK_BYTES,
    AttachmentStore,
    DirectoryStore,
    MissingAttachment,
    S3Location,
    S3Store,
    StorageConfigError,
    StorageUnavailable,
    open_store,
)
from resource_centre.web.app import create_app
from resource_centre.writeups import get_by_slug
from tests.conftest import TEST_KNOWLEDGE
from tests.seaweed import Seaweed, free_port, start_seaweed
from tests.web.conftest import PASSWORD, build_settings, login
from tests.web.test_contribute import PDF, post_form


@pytest.fixture(scope="module")
def seaweed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Seaweed]:
    yield from start_seaweed(tmp_path_factory.mktemp("seaweed"))


def new_bucket() -> str:
    return f"pj-{uuid.uuid4().hex[:12]}"


@pytest.fixture(params=["directory", "s3"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> AttachmentStore:
    if request.param == "directory":
        made: AttachmentStore = DirectoryStore(tmp_path / "uploads")
    else:
        seaweed = request.getfixturevalue("seaweed")
        made = S3Store(S3Location.parse(seaweed.url(new_bucket())))
    assert made.ensure() is True
    return made


# --- both stores --------------------------------------------------------------------------


def test_put_get_exists_delete(store: AttachmentStore):
    name = f"{uuid.uuid4().hex}.pdf"
    assert not store.exists(name)
    store.put(name, PDF)
    assert store.exists(name) and store.get(name) == PDF
    assert [(f.name, f.size) for f in store.files()] == [(name, len(PDF))]
    store.delete(name)
    assert not store.exists(name)
    store.delete(name)  # deleting a missing file is not an error
    assert list(store.files()) == []


def test_a_missing_file_is_missing_attachment(store: AttachmentStore):
    with pytest.raises(MissingAttachment):
        store.open(f"{uuid.uuid4().hex}.pdf")


@pytest.mark.parametrize("name", ["../secret_key", ".hidden", "a/b.pdf", "x" * 300, ""])
def test_names_the_server_never_makes_are_not_found(store: AttachmentStore, name: str):
    with pytest.raises(MissingAttachment):
        store.open(name)
    with pytest.raises(MissingAttachment):
        store.delete(name)
    with pytest.raises(ValueError):
        store.put(name, b"%PDF-")
    assert not store.exists(name)


def test_large_files_are_read_in_chunks(store: AttachmentStore):
    data = os.urandom(3 * 1024 * 1024 + 17)
    store.put("gros.pdf", data)
    opened = store.open("gros.pdf")
    assert opened.size == len(data)
    chunks = list(opened)
    assert len(chunks) > 1 and max(len(c) for c in chunks) <= CHUNK_BYTES
    assert b"".join(chunks) == data


def test_ensure_creates_once(store: AttachmentStore):
    assert store.ensure() is False  # the fixture made it already


def test_directory_files_are_owner_only(tmp_path: Path):
    store = DirectoryStore(tmp_path / "uploads")
    store.put("a.pdf", PDF)
    assert stat.S_IMODE((tmp_path / "uploads").stat().st_mode) == 0o700
    assert stat.S_IMODE((tmp_path / "uploads" / "a.pdf").stat().st_mode) == 0o600
    with pytest.raises(FileExistsError):
        store.put("a.pdf", b"%PDF- another")  # never overwritten


# --- S3 specifics ---------------------------------------------------------------------------


def test_s3_creates_the_bucket_when_missing(seaweed: Seaweed):
    bucket = new_bucket()
    store = S3Store(S3Location.parse(seaweed.url(bucket)))
    assert store.ensure() is True and store.ensure() is False
    assert bucket in {b["Name"] for b in seaweed.client().list_buckets()["Buckets"]}


def test_s3_wrong_secret_or_no_server_is_unavailable_in_french(seaweed: Seaweed):
    bucket = new_bucket()
    S3Store(S3Location.parse(seaweed.url(bucket))).ensure()
    wrong = S3Store(S3Location.parse(f"s3://centre-test:faux@127.0.0.1:{seaweed.s3_port}/{bucket}"))
    with pytest.raises(StorageUnavailable, match="momentanément indisponibles") as caught:
        wrong.put("a.pdf", PDF)
    assert "SignatureDoesNotMatch" in caught.value.detail  # for the operator, not the reader
    assert "faux" not in caught.value.detail  # never the secret
    nobody = S3Store(S3Location.parse(f"s3://k:s@127.0.0.1:{free_port()}/{bucket}"))
    with pytest.raises(StorageUnavailable):
        nobody.open("a.pdf")


@pytest.mark.parametrize(
    ("url", "endpoint", "bucket", "key", "secret", "region"),
    [
        ("s3://K:S@stock.example:9000/pieces", "http://stock.example:9000", "pieces", "K", "S",
         "us-east-1"),
        ("s3+https://K:a%2Fb%2Bc@stock.example/pieces-jointes?region=eu-west-3",
         "https://stock.example", "pieces-jointes", "K", "a/b+c", "eu-west-3"),
        ("s3://K:S@[::1]:8333/abc/", "http://[::1]:8333", "abc", "K", "S", "us-east-1"),
    ],
)  # fmt: skip
def test_s3_url_forms(url, endpoint, bucket, key, secret, region):
    assert S3Location.parse(url) == S3Location(endpoint, bucket, key, secret, region)


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("http://K:S@stock.example/pieces", "doit commencer par s3://"),
        ("s3://stock.example/pieces", "clé d'accès et le secret"),
        ("s3://K:S@stock.example/", "nom du compartiment"),
        ("s3://K:S@stock.example/a/b", "nom du compartiment"),
        ("s3://K:S@stock.example/Majuscules", "nom du compartiment"),
        ("s3://K:S@stock.example:port/pieces", "port"),
    ],
)
def test_s3_url_errors_are_french(url, reason):
    with pytest.raises(StorageConfigError, match=reason):
        S3Location.parse(url)


def test_settings_choose_the_store(tmp_path: Path):
    assert isinstance(open_store(Settings(data_dir=tmp_path)), DirectoryStore)
    chosen = open_store(Settings(data_dir=tmp_path, s3_url="s3://K:S@127.0.0.1:9/pieces"))
    assert isinstance(chosen, S3Store) and chosen.location == "http://127.0.0.1:9/pieces"
    assert "S@" not in repr(Settings(s3_url="s3://K:S@127.0.0.1:9/pieces"))  # never printed


# --- the app on S3 ----------------------------------------------------------------------------


@pytest.fixture
def s3_client(seaweed: Seaweed, tmp_path: Path) -> Iterator[tuple[TestClient, str]]:
    bucket = new_bucket()
    settings = build_settings(tmp_path, s3_url=seaweed.url(bucket))
    with TestClient(create_app(settings), raise_server_exceptions=False) as client:
        yield client, bucket


def test_uploads_go_to_the_bucket_and_download_from_it(s3_client, seaweed: Seaweed, tmp_path):
    client, bucket = s3_client
    app = client.app
    with write_session(app.state.engine) as session:
        user = create_user(session, email="a@exemple.org", password=PASSWORD,
                           role="contributor", regie_slug="regie-du-canal")  # fmt: skip
    assert login(client, user).status_code == 303
    response = post_form(client, "/contribuer", {"title": "Pièce dans le compartiment"},
                         files=[("attachments", ("compte rendu.pdf", PDF, "application/pdf"))])  # fmt: skip
    assert response.status_code == 303, response.text
    slug = response.headers["location"].split("/")[2]
    with read_session(app.state.engine) as session:
        attachment = session.execute(select(Attachment)).scalar_one()
    # In the bucket (the lifespan created it), not in the data directory.
    s3 = seaweed.client()
    assert s3.get_object(Bucket=bucket, Key=attachment.stored_name)["Body"].read() == PDF
    assert not (tmp_path / "data" / "uploads" / attachment.stored_name).exists()
    url = f"/fiches/{slug}/pieces-jointes/{attachment.id}"
    got = client.get(url)
    assert got.status_code == 200 and got.content == PDF
    assert got.headers["content-type"] == "application/pdf"
    assert got.headers["content-disposition"] == "attachment; filename*=UTF-8''compte%20rendu.pdf"
    assert got.headers["content-security-policy"] == "sandbox"
    assert got.headers["x-content-type-options"] == "nosniff"
    assert "no-store" in got.headers["cache-control"]
    # The object gone from the bucket: the app's French 404 page, not a 500.
    s3.delete_object(Bucket=bucket, Key=attachment.stored_name)
    missing = client.get(url)
    assert missing.status_code == 404 and "introuvable" in missing.text.lower()


def test_backup_copies_the_bucket(seaweed: Seaweed, tmp_path: Path):
    bucket = new_bucket()
    store = S3Store(S3Location.parse(seaweed.url(bucket)))
    env = {
        "RESOURCE_CENTRE_DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite'}",
        "RESOURCE_CENTRE_INDEX_DIR": str(tmp_path / "index"),
        "RESOURCE_CENTRE_DATA_DIR": str(tmp_path / "data"),
        "RESOURCE_CENTRE_KNOWLEDGE_DIR": str(TEST_KNOWLEDGE),
        "RESOURCE_CENTRE_S3_URL": seaweed.url(bucket),
    }
    init = CliRunner().invoke(cli, ["init"], env=env)
    assert init.exit_code == 0 and "Compartiment des pièces jointes créé" in init.output
    big = os.urandom(2 * 1024 * 1024)
    store.put("a.pdf", PDF)
    store.put("b.pdf", big)
    result = CliRunner().invoke(cli, ["backup", str(tmp_path / "b")], env=env)
    assert result.exit_code == 0, result.output
    assert "2 pièce(s) jointe(s)" in result.output
    uploads = tmp_path / "b" / "uploads"
    assert (uploads / "a.pdf").read_bytes() == PDF and (uploads / "b.pdf").read_bytes() == big
    assert stat.S_IMODE((uploads / "b.pdf").stat().st_mode) == 0o600
    assert sorted(p.name for p in uploads.iterdir()) == ["a.pdf", "b.pdf"]  # no part left


# --- the secret key with PostgreSQL ---------------------------------------------------------

PG_URL = "postgresql+psycopg://centre@127.0.0.1:9/centre"  # never connected to here


def test_postgres_without_a_secret_key_refuses_to_start(tmp_path, monkeypatch):
    monkeypatch.delenv("RESOURCE_CENTRE_SECRET_KEY", raising=False)
    settings = Settings(database_url=PG_URL, data_dir=tmp_path / "data")
    with pytest.raises(MissingSecretKey, match="RESOURCE_CENTRE_SECRET_KEY"):
        settings.secret_key
    with pytest.raises(MissingSecretKey):
        create_app(settings)
    assert not (tmp_path / "data" / "secret_key").exists()  # none generated
    result = CliRunner().invoke(
        cli, ["serve", "--port", str(free_port())],
        env={"RESOURCE_CENTRE_DATABASE_URL": PG_URL, "RESOURCE_CENTRE_DATA_DIR": str(tmp_path)},
    )  # fmt: skip
    assert result.exit_code == 1
    assert "RESOURCE_CENTRE_SECRET_KEY n'est pas définie" in result.output
    assert "la même sur chaque machine" in result.output


def test_postgres_with_a_secret_key_uses_it(tmp_path, monkeypatch):
    monkeypatch.delenv("RESOURCE_CENTRE_SECRET_KEY", raising=False)
    given = Settings(database_url=PG_URL, RESOURCE_CENTRE_SECRET_KEY="donnée")
    assert given.secret_key == "donnée"
    monkeypatch.setenv("RESOURCE_CENTRE_SECRET_KEY", "de l'environnement")
    assert Settings(database_url=PG_URL).secret_key == "de l'environnement"


def test_a_malformed_s3_url_stops_serve_with_a_french_message(tmp_path):
    result = CliRunner().invoke(
        cli, ["serve", "--port", str(free_port())],
        env={"RESOURCE_CENTRE_DATA_DIR": str(tmp_path), "RESOURCE_CENTRE_S3_URL": "s3://x/y"},
    )  # fmt: skip
    assert result.exit_code == 1 and "RESOURCE_CENTRE_S3_URL invalide" in result.output


def test_storage_down_is_a_french_503_without_its_address(tmp_path: Path):
    port = free_port()  # nothing listens there
    settings = build_settings(tmp_path, s3_url=f"s3://k:s@127.0.0.1:{port}/pieces")
    app = create_app(settings)  # starts: the library still serves without its storage
    with write_session(app.state.engine) as session:
        writeup = get_by_slug(session, "laverie-solidaire-du-canal")
        attachment = Attachment(
            writeup_id=writeup.id, stored_name="a.pdf", original_name="a.pdf",
            content_type="application/pdf", size=5,
        )  # fmt: skip
        session.add(attachment)
        session.flush()
        url = f"/fiches/{writeup.slug}/pieces-jointes/{attachment.id}"
    with TestClient(app, raise_server_exceptions=False) as client:
        assert client.get(f"/fiches/{writeup.slug}").status_code == 200
        answer = client.get(url)
    assert answer.status_code == 503
    assert "momentanément indisponibles" in answer.text and str(port) not in answer.text
