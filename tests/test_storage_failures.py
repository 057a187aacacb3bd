"""How the attachment storage fails: uploads outside the write transaction (their files
deleted when it refuses, kept when a commit reported as failed did write), the form kept
when the storage is down, no credentials in a repr, French start-up errors, HEAD without a
download, a download closed when the reader leaves, a backup cut midway.

The S3 server here is a small real HTTP server (`FakeS3`) that answers the few S3 requests
the app makes and lets a test act at a chosen moment (during an upload, in the middle of a
body); SeaweedFS (tests/seaweed.py, tests/test_storage.py) covers the real protocol.
"""

from __future__ import annotations

import os
import socket
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from email.utils import formatdate
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit
from xml.sax.saxutils import escape

import pytest
import uvicorn
from sqlalchemy import event, select
from sqlalchemy.orm import Session as OrmSession
from starlette.testclient import TestClient
from typer.testing import CliRunner

from resource_centre.auth import create_user
from resource_centre.cli import app as cli
from resource_centre.config import Settings
from resource_centre.db import read_session, write_session
from resource_centre.models import Attachment, WriteUp
from resource_centre.storage import S3Location, StorageConfigError, open_store
from resource_centre.web.app import create_app
from resource_centre.writeups import get_by_slug
from tests.conftest import TEST_KNOWLEDGE
from tests.seaweed import free_port
from tests.web.conftest import PASSWORD, build_settings, login
from tests.web.test_contribute import PDF, post_form

PUBLISHED = "laverie-solidaire-du-canal"  # a published fiche of the test corpus


# --- a small S3 server -------------------------------------------------------------------


class FakeS3(ThreadingHTTPServer):
    """Objects of one bucket in memory, over real HTTP on loopback (signatures unchecked).

    `on_put(key)` runs before an upload is answered; `refuse_puts` answers 403; a key in
    `cut` sends that many bytes of its body, then closes the connection."""

    daemon_threads = True

    def __init__(self, bucket: str = "pieces") -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.bucket = bucket
        self.objects: dict[str, bytes] = {}
        self.requests: list[tuple[str, str]] = []  # (method, key) of object requests
        self.on_put: Callable[[str], None] | None = None
        self.refuse_puts = False
        self.cut: dict[str, int] = {}

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # a connection cut on purpose is no error worth printing

    @property
    def url(self) -> str:
        return f"s3://cle:secret@127.0.0.1:{self.server_address[1]}/{self.bucket}"


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: FakeS3

    def log_message(self, format: str, *args: Any) -> None:  # quiet
        pass

    def _target(self) -> tuple[str, str, dict[str, list[str]]]:
        parts = urlsplit(self.path)
        bucket, _, key = parts.path.lstrip("/").partition("/")
        return bucket, key, parse_qs(parts.query)

    def _answer(self, status: int, body: bytes = b"", **headers: str) -> None:
        self.send_response(status)
        self.send_header("Content-Length", headers.pop("length", str(len(body))))
        for name, value in headers.items():
            self.send_header(name.replace("_", "-"), value)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _error(self, status: int, code: str) -> None:
        body = f"<?xml version='1.0'?><Error><Code>{code}</Code><Message>{code}</Message></Error>"
        self._answer(status, body.encode(), Content_Type="application/xml")

    def _object_headers(self, data: bytes) -> dict[str, str]:
        return {
            "length": str(len(data)), "Content_Type": "application/octet-stream",
            "ETag": '"0"', "Last_Modified": formatdate(usegmt=True),
        }  # fmt: skip

    def do_HEAD(self) -> None:
        _bucket, key, _ = self._target()
        if not key:
            self._answer(200)
            return
        self.server.requests.append(("HEAD", key))
        data = self.server.objects.get(key)
        if data is None:
            self._answer(404)
        else:
            self._answer(200, **self._object_headers(data))

    def do_PUT(self) -> None:
        _bucket, key, _ = self._target()
        data = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        if not key:
            self._answer(200)
            return
        self.server.requests.append(("PUT", key))
        if self.server.refuse_puts:
            self._error(403, "AccessDenied")
            return
        if self.server.on_put is not None:
            self.server.on_put(key)
        self.server.objects[key] = data
        self._answer(200, ETag='"0"')

    def do_DELETE(self) -> None:
        _bucket, key, _ = self._target()
        self.server.requests.append(("DELETE", key))
        self.server.objects.pop(key, None)
        self._answer(204)

    def do_GET(self) -> None:
        bucket, key, _query = self._target()
        if not key:  # ListObjectsV2
            contents = "".join(
                f"<Contents><Key>{escape(name)}</Key><Size>{len(data)}</Size>"
                '<LastModified>2026-01-01T00:00:00.000Z</LastModified><ETag>"0"</ETag>'
                "<StorageClass>STANDARD</StorageClass></Contents>"
                for name, data in sorted(self.server.objects.items())
            )
            body = (
                "<?xml version='1.0' encoding='UTF-8'?>"
                "<ListBucketResult xmlns='http://s3.amazonaws.com/doc/2006-03-01/'>"
                f"<Name>{bucket}</Name><Prefix></Prefix><KeyCount>{len(self.server.objects)}"
                "</KeyCount><MaxKeys>1000</MaxKeys><IsTruncated>false</IsTruncated>"
                f"{contents}</ListBucketResult>"
            )
            self._answer(200, body.encode(), Content_Type="application/xml")
            return
        self.server.requests.append(("GET", key))
        data = self.server.objects.get(key)
        if data is None:
            self._error(404, "NoSuchKey")
            return
        self.send_response(200)
        for name, value in self._object_headers(data).items():
            self.send_header("Content-Length" if name == "length" else name.replace("_", "-"),
                             value)  # fmt: skip
        self.end_headers()
        sent = self.server.cut.get(key)
        if sent is None:
            self.wfile.write(data)
            return
        self.wfile.write(data[:sent])  # then the connection is lost
        self.wfile.flush()
        self.close_connection = True
        self.connection.shutdown(socket.SHUT_RDWR)


@pytest.fixture
def fake_s3() -> Iterator[FakeS3]:
    server = FakeS3()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


@contextmanager
def signed_in(settings: Settings) -> Iterator[tuple[TestClient, int]]:
    """A test client of an app on `settings`, signed in as a contributor of a Régie, and
    the account's id."""
    app = create_app(settings)
    with TestClient(app, raise_server_exceptions=False) as client:
        with write_session(app.state.engine) as session:
            user = create_user(session, email="a@exemple.org", password=PASSWORD,
                               role="contributor", regie_slug="regie-du-canal")  # fmt: skip
        assert login(client, user).status_code == 303 and user.id is not None
        yield client, user.id


def sqlite_path(settings: Settings) -> str:
    return settings.database_url.removeprefix("sqlite:///")


# --- 1. uploads before the write transaction ---------------------------------------------


def test_uploads_do_not_hold_the_database_write_lock(fake_s3: FakeS3, tmp_path: Path):
    settings = build_settings(tmp_path, s3_url=fake_s3.url)
    seen: list[str] = []

    def try_to_write(_key: str) -> None:  # another writer, while the upload is under way
        db = sqlite3.connect(sqlite_path(settings), timeout=0)
        try:
            db.execute("BEGIN IMMEDIATE")
            db.execute("ROLLBACK")
            seen.append("free")
        except sqlite3.OperationalError as exc:
            seen.append(str(exc))
        finally:
            db.close()

    fake_s3.on_put = try_to_write
    with signed_in(settings) as (client, _user_id):
        response = post_form(client, "/contribuer", {"title": "Deux pièces sans verrou"},
                             files=[("attachments", ("a.pdf", PDF, "application/pdf")),
                                    ("attachments", ("b.pdf", PDF, "application/pdf"))])  # fmt: skip
        assert response.status_code == 303, response.text
        with read_session(client.app.state.engine) as session:
            names = set(session.execute(select(Attachment.stored_name)).scalars())
    assert seen == ["free", "free"]
    assert names == set(fake_s3.objects) and len(names) == 2


def test_a_quota_refused_in_the_transaction_deletes_the_files_already_put(
    fake_s3: FakeS3, tmp_path: Path
):
    settings = build_settings(tmp_path, s3_url=fake_s3.url, upload_quota_mb=1)
    big = PDF + b"0" * (600 * 1024)  # 600 KiB: alone within the 1 MiB quota
    with signed_in(settings) as (client, user_id):
        engine = client.app.state.engine

        def another_upload_lands(_key: str) -> None:
            # Meanwhile another request of the same account stored 600 KiB: the check made
            # before the upload passed, the one in the transaction (row locked) refuses.
            fake_s3.on_put = None
            with write_session(engine) as session:
                fiche = get_by_slug(session, PUBLISHED)
                session.add(Attachment(writeup_id=fiche.id, stored_name="autre.pdf",
                                       original_name="autre.pdf", content_type="application/pdf",
                                       size=len(big), uploaded_by=user_id))  # fmt: skip

        fake_s3.on_put = another_upload_lands
        response = post_form(client, "/contribuer", {"title": "Au-delà du quota"},
                             files=[("attachments", ("gros.pdf", big, "application/pdf"))])  # fmt: skip
        assert response.status_code == 429, response.text
        assert "Au-delà du quota" in response.text  # the form again, what was typed kept
        with read_session(engine) as session:
            titles = set(session.execute(select(WriteUp.title)).scalars())
            stored = list(session.execute(select(Attachment.stored_name)).scalars())
    assert "Au-delà du quota" not in titles and stored == ["autre.pdf"]
    put = [key for method, key in fake_s3.requests if method == "PUT"]
    assert len(put) == 1 and ("DELETE", put[0]) in fake_s3.requests
    assert fake_s3.objects == {}  # the file put for the refused transaction is gone


# --- 2. a commit reported as failed that did write ------------------------------------------


@pytest.fixture
def commit_reported_failed() -> Iterator[None]:
    """The next commit that writes attachment rows succeeds, then reports a failure (as a
    connection lost while the database commits would)."""
    armed = [True]

    def note_rows(session: OrmSession, _context: Any) -> None:
        if any(isinstance(obj, Attachment) for obj in session.new):
            session.info["attachment_rows"] = True

    def fail_after(session: OrmSession) -> None:
        if armed[0] and session.info.pop("attachment_rows", False):
            armed[0] = False
            raise ConnectionError("the server closed the connection during the commit")

    event.listen(OrmSession, "after_flush", note_rows)
    event.listen(OrmSession, "after_commit", fail_after)
    try:
        yield
    finally:
        event.remove(OrmSession, "after_commit", fail_after)
        event.remove(OrmSession, "after_flush", note_rows)
    assert not armed[0], "the commit was not reached"


def test_files_of_rows_a_failed_looking_commit_wrote_are_kept(
    tmp_path: Path, commit_reported_failed: None
):
    settings = build_settings(tmp_path)  # attachments in the data directory
    with signed_in(settings) as (client, _user_id):
        response = post_form(client, "/contribuer", {"title": "Validée malgré l'erreur"},
                             files=[("attachments", ("a.pdf", PDF, "application/pdf"))])  # fmt: skip
        assert response.status_code == 500
        store = client.app.state.attachments
        with read_session(client.app.state.engine) as session:
            attachment = session.execute(select(Attachment)).scalar_one()
        assert store.get(attachment.stored_name) == PDF  # the row names an existing file


def test_files_of_a_failed_transaction_are_deleted(tmp_path: Path):
    settings = build_settings(tmp_path)

    def refuse(session: OrmSession) -> None:
        if any(isinstance(obj, Attachment) for obj in session.new):
            raise ConnectionError("the database went away before the commit")

    event.listen(OrmSession, "before_commit", refuse)
    try:
        with signed_in(settings) as (client, _user_id):
            response = post_form(client, "/contribuer", {"title": "Jamais validée"},
                                 files=[("attachments", ("a.pdf", PDF, "application/pdf"))])  # fmt: skip
            assert response.status_code == 500
            with read_session(client.app.state.engine) as session:
                assert session.execute(select(Attachment)).first() is None
            assert list(client.app.state.attachments.files()) == []
    finally:
        event.remove(OrmSession, "before_commit", refuse)


# --- 3. the storage down during an upload --------------------------------------------------


def test_storage_down_during_an_upload_keeps_the_form(fake_s3: FakeS3, tmp_path: Path):
    settings = build_settings(tmp_path, s3_url=fake_s3.url)
    fake_s3.refuse_puts = True
    with signed_in(settings) as (client, _user_id):
        response = post_form(
            client, "/contribuer",
            {"title": "Un titre tapé avec soin", "summary": "Un résumé à ne pas perdre."},
            files=[("attachments", ("a.pdf", PDF, "application/pdf")),
                   ("attachments", ("b.pdf", PDF, "application/pdf"))],
        )  # fmt: skip
        assert response.status_code == 503
        page = response.text
        assert (
            "n&#39;ont pas pu être enregistrées" in page or "n'ont pas pu être enregistrées" in page
        )
        assert 'value="Un titre tapé avec soin"' in page
        assert "Un résumé à ne pas perdre." in page
        assert 'name="form_token"' in page
        with read_session(client.app.state.engine) as session:
            assert "Un titre tapé avec soin" not in set(
                session.execute(select(WriteUp.title)).scalars()
            )
    assert fake_s3.objects == {}
    assert [m for m, _k in fake_s3.requests] == ["PUT"]  # the first refusal stops the rest


# --- 4. settings --------------------------------------------------------------------------


def test_the_s3_location_never_shows_its_credentials():
    where = S3Location.parse("s3://CLEACCES:SECRETTRES@stock.example:9000/pieces")
    assert where.access_key == "CLEACCES" and where.secret_key == "SECRETTRES"
    shown = repr(where) + str(where)
    assert "CLEACCES" not in shown and "SECRETTRES" not in shown
    assert "stock.example" in shown


@pytest.mark.parametrize(
    "url",
    ["s3://K:S@serveur_mal_nomme:9000/pieces", "s3://K:S@stock.example/pieces?region=eu%20west"],
)
def test_a_host_or_region_boto_refuses_is_a_french_configuration_error(url: str, tmp_path: Path):
    with pytest.raises(StorageConfigError, match="RESOURCE_CENTRE_S3_URL invalide") as caught:
        open_store(Settings(data_dir=tmp_path, s3_url=url))
    assert "S@" not in str(caught.value)
    result = CliRunner().invoke(
        cli, ["serve", "--port", str(free_port())],
        env={"RESOURCE_CENTRE_DATA_DIR": str(tmp_path), "RESOURCE_CENTRE_S3_URL": url},
    )  # fmt: skip
    assert result.exit_code == 1 and "RESOURCE_CENTRE_S3_URL invalide" in result.output
    assert "Traceback" not in result.output


# --- 5. the download route -----------------------------------------------------------------


def test_head_reads_no_object(fake_s3: FakeS3, tmp_path: Path):
    settings = build_settings(tmp_path, s3_url=fake_s3.url)
    with signed_in(settings) as (client, _user_id):
        response = post_form(client, "/contribuer", {"title": "Une pièce à interroger"},
                             files=[("attachments", ("a.pdf", PDF, "application/pdf"))])  # fmt: skip
        assert response.status_code == 303
        slug = response.headers["location"].split("/")[2]
        with read_session(client.app.state.engine) as session:
            attachment = session.execute(select(Attachment)).scalar_one()
        url = f"/fiches/{slug}/pieces-jointes/{attachment.id}"
        fake_s3.requests.clear()
        head = client.head(url)  # the route is GET only: no object is read for a HEAD
        assert head.status_code == 405 and fake_s3.requests == []
        assert client.get(url).content == PDF
        assert fake_s3.requests == [("GET", attachment.stored_name)]


def open_fds_on(path: Path) -> int:
    count = 0
    for fd in os.listdir("/proc/self/fd"):
        try:
            if os.readlink(f"/proc/self/fd/{fd}") == str(path):
                count += 1
        except OSError:
            continue
    return count


@pytest.mark.skipif(not Path("/proc/self/fd").is_dir(), reason="needs /proc")
def test_a_download_is_closed_when_the_reader_leaves(tmp_path: Path):
    settings = build_settings(tmp_path)
    app = create_app(settings)
    uploads = settings.uploads_dir
    uploads.mkdir(mode=0o700, parents=True, exist_ok=True)
    big = uploads / "0123456789abcdef0123456789abcdef.pdf"
    big.write_bytes(PDF + os.urandom(24 * 1024 * 1024))  # more than the sockets buffer
    with write_session(app.state.engine) as session:
        fiche = get_by_slug(session, PUBLISHED)
        attachment = Attachment(writeup_id=fiche.id, stored_name=big.name, original_name="gros.pdf",
                                content_type="application/pdf", size=big.stat().st_size)  # fmt: skip
        session.add(attachment)
        session.flush()
        path = f"/fiches/{PUBLISHED}/pieces-jointes/{attachment.id}"
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="error"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + 30
        while not server.started:
            assert time.monotonic() < deadline, "the server did not start"
            time.sleep(0.05)
        with socket.create_connection(("127.0.0.1", port), timeout=10) as conn:
            conn.sendall(f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n".encode())
            head = conn.recv(65536)
            assert head.startswith(b"HTTP/1.1 200"), head[:200]
            assert open_fds_on(big) == 1  # the file is being sent
        # The reader left after a few kilobytes: the file is closed, not left to the collector.
        deadline = time.monotonic() + 5
        while open_fds_on(big) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert open_fds_on(big) == 0
    finally:
        server.should_exit = True
        thread.join(15)


# --- 6. a backup cut midway -------------------------------------------------------------------


def test_a_backup_cut_midway_leaves_no_part_and_says_so_in_french(fake_s3: FakeS3, tmp_path: Path):
    env = {
        "RESOURCE_CENTRE_DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite'}",
        "RESOURCE_CENTRE_INDEX_DIR": str(tmp_path / "index"),
        "RESOURCE_CENTRE_DATA_DIR": str(tmp_path / "data"),
        "RESOURCE_CENTRE_KNOWLEDGE_DIR": str(TEST_KNOWLEDGE),
        "RESOURCE_CENTRE_S3_URL": fake_s3.url,
    }
    assert CliRunner().invoke(cli, ["init"], env=env).exit_code == 0
    fake_s3.objects["a.pdf"] = PDF
    fake_s3.objects["b.pdf"] = PDF + os.urandom(3 * 1024 * 1024)
    fake_s3.cut["b.pdf"] = 1024 * 1024
    result = CliRunner().invoke(cli, ["backup", str(tmp_path / "b")], env=env)
    assert result.exit_code == 1
    assert "copie des pièces jointes interrompue" in result.output
    assert "Traceback" not in result.output and "secret" not in result.output
    uploads = tmp_path / "b" / "uploads"
    assert sorted(p.name for p in uploads.iterdir()) == ["a.pdf"]  # no b.pdf, no .part
