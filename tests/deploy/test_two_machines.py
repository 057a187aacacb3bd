"""Two machines for real (issue 12, contract section 10): two `resource-centre serve`
processes, each with its own index and data directories, on one PostgreSQL and one
S3-compatible server (SeaweedFS, started here on loopback), sharing one secret key.

An attachment uploaded on A downloads byte-identical from B; a form shown by one machine is
accepted by the other; a fiche published on A is found by a search on B within 2 s.

Required under CI (CI=true): without PostgreSQL or SeaweedFS these tests fail there, and only
skip elsewhere.
"""

from __future__ import annotations

import os
import random
import re
import secrets
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx2 as httpx
import pytest
from sqlalchemy import select

from resource_centre.db import make_engine, read_session
from resource_centre.models import Attachment, WriteUp
from tests.conftest import TEST_KNOWLEDGE
from tests.seaweed import Seaweed, free_port, start_seaweed, unavailable
from tests.soak_support import made_up_word

pytestmark = [pytest.mark.slow, pytest.mark.postgres]
CLI = [sys.executable, "-m", "resource_centre"]
PASSWORD = "mot de passe des deux machines"
CONTRIBUTOR = "contributrice@deux-machines.example"
CURATOR = "curatrice@deux-machines.example"
VISIBLE_WITHIN = 2.0  # seconds, publication on A to search results on B


@dataclass
class Machine:
    """One `resource-centre serve` on a free loopback port, its own index and data dirs."""

    name: str
    env: dict[str, str]
    folder: Path
    port: int = 0
    proc: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def cli(self, *args: str, input: str | None = None) -> str:
        done = subprocess.run(
            [*CLI, *args], env=self.env, cwd=self.folder, input=input, text=True,
            capture_output=True, timeout=300,
        )  # fmt: skip
        assert done.returncode == 0, f"{self.name}: {args}\n{done.stdout}\n{done.stderr}"
        return done.stdout

    def start(self, timeout: float = 60) -> None:
        self.port = free_port()
        with (self.folder / "serve.log").open("ab") as log:
            self.proc = subprocess.Popen(
                [*CLI, "serve", "--port", str(self.port), "--workers", "1"],
                env=self.env, cwd=self.folder, stdout=log, stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL, start_new_session=True,
            )  # fmt: skip
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                pytest.fail(f"machine {self.name} exited:\n{self.log()}")
            try:
                if httpx.get(f"{self.url}/api/health", timeout=2).json()["status"] == "ok":
                    return
            except (httpx.HTTPError, ValueError, KeyError):
                pass
            time.sleep(0.2)
        pytest.fail(f"machine {self.name} not ready after {timeout:.0f} s:\n{self.log()}")

    def log(self) -> str:
        path = self.folder / "serve.log"
        return path.read_text(errors="replace")[-4000:] if path.exists() else ""

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(10)


@pytest.fixture(scope="module")
def seaweed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Seaweed]:
    yield from start_seaweed(tmp_path_factory.mktemp("seaweed"))


@dataclass
class Pair:
    a: Machine
    b: Machine
    database_url: str
    bucket: str


@pytest.fixture
def machines(tmp_path: Path, postgres_server, seaweed: Seaweed) -> Iterator[Pair]:
    """Machines A and B on one new PostgreSQL database and one new bucket."""
    if postgres_server is None:
        unavailable("PostgreSQL tests need RESOURCE_CENTRE_TEST_POSTGRES_URL (set by CI)")
    database_url = postgres_server.new_database()  # migrated
    bucket = f"deux-machines-{secrets.token_hex(4)}"
    shared = {k: v for k, v in os.environ.items() if not k.startswith("RESOURCE_CENTRE_")}
    shared.update(
        RESOURCE_CENTRE_DATABASE_URL=database_url,
        RESOURCE_CENTRE_SECRET_KEY=secrets.token_urlsafe(48),  # the same on both machines
        RESOURCE_CENTRE_S3_URL=seaweed.url(bucket),
        RESOURCE_CENTRE_KNOWLEDGE_DIR=str(TEST_KNOWLEDGE),
    )
    found: dict[str, Machine] = {}
    for name in ("A", "B"):
        folder = tmp_path / f"machine-{name}"
        folder.mkdir()
        env = {
            **shared,
            "RESOURCE_CENTRE_INDEX_DIR": str(folder / "index"),
            "RESOURCE_CENTRE_DATA_DIR": str(folder / "data"),
        }
        found[name] = Machine(name, env, folder)
    a, b = found["A"], found["B"]
    assert "Compartiment des pièces jointes créé" in a.cli("init")  # A creates the bucket
    assert "Compartiment" not in b.cli("init")  # B finds it
    a.cli("import", str(TEST_KNOWLEDGE))
    a.cli("create-user", "--email", CONTRIBUTOR, "--role", "contributor",
          "--regie", "regie-du-canal", input=PASSWORD + "\n")  # fmt: skip
    b.cli("create-user", "--email", CURATOR, "--role", "curator", input=PASSWORD + "\n")
    try:
        a.start()
        b.start()
        yield Pair(a, b, database_url, bucket)
    finally:
        a.stop()
        b.stop()


def token(html: str, name: str = "csrf_token") -> str:
    match = re.search(rf'name="{name}" value="([^"]+)"', html)
    assert match, f"no {name} in the page"
    return match.group(1)


def sign_in(client: httpx.Client, base: str, email: str) -> None:
    page = client.get(f"{base}/connexion")
    response = client.post(
        f"{base}/connexion",
        data={"email": email, "password": PASSWORD, "csrf_token": token(page.text)},
    )
    assert response.status_code == 303, response.text


def search_slugs(client: httpx.Client, base: str, word: str) -> list[str]:
    body = client.get(f"{base}/api/writeups", params={"q": word}).json()
    return [hit["slug"] for hit in body["data"]]


def test_upload_on_a_download_on_b_publish_on_a_search_on_b(machines: Pair, seaweed: Seaweed):
    a, b = machines.a, machines.b
    word = made_up_word(random.Random())  # in no other fiche
    title = f"Atelier {word} entre deux machines"
    content = b"%PDF-1.4\n" + os.urandom(2 * 1024 * 1024) + b"\n%%EOF\n"

    # The contributor's browser goes through a load balancer: the form comes from B, the
    # upload goes to A (one cookie jar: the session is in the shared database, and the form's
    # tokens are signed with the shared key).
    with httpx.Client(timeout=30) as contributor:
        sign_in(contributor, b.url, CONTRIBUTOR)
        form = contributor.get(f"{b.url}/contribuer").text
        fields = {
            "csrf_token": token(form), "form_token": token(form, "form_token"),
            "action": "submit", "title": title,
            "summary": f"Une fiche écrite sur A et cherchée sur B ({word}).",
            "themes": "economie-circulaire", "activity": "ressourcerie",
            "audiences": "habitants", "year_start": "2024", "year_end": "",
            "partners": "Seine Habitat", "context": "Deux machines derrière un répartiteur.",
            "method": "Une pièce jointe envoyée à A, lue sur B.",
            "lessons": "Le stockage partagé évite les pièces jointes introuvables.",
        }  # fmt: skip
        sent = contributor.post(
            f"{a.url}/contribuer", data=fields,
            files=[("attachments", ("compte-rendu de réunion.pdf", content, "application/pdf"))],
        )  # fmt: skip
        assert sent.status_code == 303, sent.text
        assert sent.headers["location"] == "/mes-fiches"

    engine = make_engine(machines.database_url)
    try:
        with read_session(engine) as session:
            writeup = session.execute(select(WriteUp).where(WriteUp.title == title)).scalar_one()
            attachment = session.execute(
                select(Attachment).where(Attachment.writeup_id == writeup.id)
            ).scalar_one()
    finally:
        engine.dispose()
    slug = writeup.slug
    assert writeup.status == "submitted"
    # Stored in the shared bucket, in neither machine's data directory.
    s3 = seaweed.client()
    stored = s3.get_object(Bucket=machines.bucket, Key=attachment.stored_name)["Body"].read()
    assert stored == content
    for machine in (a, b):
        assert not list((machine.folder / "data").rglob(attachment.stored_name))

    # Published on A by the curator (created on B: the accounts are shared too).
    with httpx.Client(timeout=30) as curator:
        sign_in(curator, a.url, CURATOR)
        review = curator.get(f"{a.url}/curation/fiches/{slug}").text
        published = curator.post(
            f"{a.url}/curation/fiches/{slug}",
            data={"csrf_token": token(review), "action": "publish", "comment": ""},
        )
        assert published.status_code == 303, published.text
    committed = time.monotonic()  # the answer comes after the commit

    # Found by a search on B within 2 s (B's own index follows the shared journal).
    with httpx.Client(timeout=10) as reader:
        elapsed = None
        while time.monotonic() - committed < VISIBLE_WITHIN + 3:
            if slug in search_slugs(reader, b.url, word):
                elapsed = time.monotonic() - committed
                break
            time.sleep(0.05)
        print(f"publication on A visible in a search on B after {elapsed} s")
        assert elapsed is not None and elapsed < VISIBLE_WITHIN, (
            f"not found on B within {VISIBLE_WITHIN} s (after {elapsed} s)\n{b.log()}"
        )
        assert slug in search_slugs(reader, a.url, word)  # and on A

        # Downloaded from B, anonymously now that it is public: byte-identical, streamed with
        # the same headers as from the data directory.
        url = f"/fiches/{slug}/pieces-jointes/{attachment.id}"
        for machine in (b, a):
            got = reader.get(f"{machine.url}{url}")
            assert got.status_code == 200, got.text
            assert got.content == content, machine.name
            assert got.headers["content-type"] == "application/pdf"
            assert got.headers["content-disposition"] == (
                "attachment; filename*=UTF-8''compte-rendu%20de%20r%C3%A9union.pdf"
            )
            assert got.headers["content-security-policy"] == "sandbox"
            assert got.headers["x-content-type-options"] == "nosniff"
        # An attachment id of another fiche, or none at all: 404 on both.
        assert reader.get(f"{b.url}/fiches/{slug}/pieces-jointes/999999").status_code == 404


def test_both_machines_refuse_to_start_without_the_shared_key(tmp_path, postgres_server):
    """With PostgreSQL and no RESOURCE_CENTRE_SECRET_KEY, `serve` stops with a French message
    instead of generating a key of its own (which the other machine would not share)."""
    if postgres_server is None:
        unavailable("PostgreSQL tests need RESOURCE_CENTRE_TEST_POSTGRES_URL (set by CI)")
    env = {k: v for k, v in os.environ.items() if not k.startswith("RESOURCE_CENTRE_")}
    env.update(
        RESOURCE_CENTRE_DATABASE_URL=postgres_server.new_database(),
        RESOURCE_CENTRE_DATA_DIR=str(tmp_path / "data"),
        RESOURCE_CENTRE_INDEX_DIR=str(tmp_path / "index"),
    )
    done = subprocess.run(
        [*CLI, "serve", "--port", str(free_port())], env=env, cwd=tmp_path, text=True,
        capture_output=True, timeout=60,
    )  # fmt: skip
    assert done.returncode == 1
    message = " ".join((done.stdout + done.stderr).split())
    assert "RESOURCE_CENTRE_SECRET_KEY n'est pas définie" in message
    assert not (tmp_path / "data" / "secret_key").exists()
