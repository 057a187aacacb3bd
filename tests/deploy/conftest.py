"""A real nginx terminating TLS in front of a real `resource-centre serve`, on loopback.

nginx is Debian's (`apt-get install nginx`); it runs as a foreground process of the test with
its own prefix, pid, logs and temporary folders in the test's directory, never as the
system service. Without nginx the tests marked `deploy` skip with the reason, unless
RESOURCE_CENTRE_REQUIRE_NGINX=1 or CI is set, where they fail.

The nginx site and the serve command line are the ones of `deploy/` (shown in
docs/operations.md), with only the name, ports and certificate paths replaced.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import signal
import ssl
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import NoReturn

import httpx2 as httpx
import pytest

from resource_centre.auth import create_user
from resource_centre.corpus import import_corpus
from resource_centre.db import make_engine, migrate, write_session
from tests.conftest import ROOT, TEST_KNOWLEDGE
from tests.soak_support import children, free_port

DEPLOY = ROOT / "deploy"
NGINX_SITE = DEPLOY / "nginx-resource-centre.conf"
SYSTEMD_UNIT = DEPLOY / "resource-centre.service"
REQUIRE_ENV = "RESOURCE_CENTRE_REQUIRE_NGINX"
START_TIMEOUT = 60.0
PASSWORD = "mot de passe du proxy"
CONTRIBUTOR = "contributrice@exemple.org"
CURATOR = "curatrice@exemple.org"
REGIE = "regie-du-canal"


def nginx_path() -> str | None:
    return shutil.which("nginx") or next(
        (p for p in ("/usr/sbin/nginx", "/usr/local/sbin/nginx") if Path(p).exists()), None
    )


def required() -> bool:
    return os.environ.get(REQUIRE_ENV) == "1" or bool(os.environ.get("CI"))


def skip_or_fail(reason: str) -> NoReturn:
    """Skip with the reason, or fail when the nginx tests are required (CI)."""
    if required():
        pytest.fail(f"{REQUIRE_ENV}=1 or CI set, but the nginx tests cannot run: {reason}")
    pytest.skip(f"nginx tests skipped: {reason}")


def unit_serve_arguments(port: int) -> list[str]:
    """The arguments of `resource-centre` in the systemd unit's ExecStart, on `port`."""
    line = next(
        line for line in SYSTEMD_UNIT.read_text("utf-8").splitlines()
        if line.startswith("ExecStart=")
    )  # fmt: skip
    words = shlex.split(line.removeprefix("ExecStart="))
    assert words[0].endswith("/resource-centre") and words[1] == "serve", words
    arguments = words[1:]
    at = arguments.index("--port")
    arguments[at + 1] = str(port)
    return arguments


def render_site(*, https_port: int, http_port: int, app_port: int, cert: Path, key: Path) -> str:
    """deploy/'s nginx site with the test's ports, name and certificate; every replaced
    line must be found, so a change of the example cannot leave the test behind."""
    text = NGINX_SITE.read_text("utf-8")
    replacements = [
        ("    server 127.0.0.1:8000;", f"    server 127.0.0.1:{app_port};", 1),
        ("    listen 80;\n", f"    listen 127.0.0.1:{http_port};\n", 1),
        ("    listen [::]:80;\n", "", 1),  # IPv6 may be missing on the test machine
        ("    listen 443 ssl http2;\n", f"    listen 127.0.0.1:{https_port} ssl http2;\n", 1),
        ("    listen [::]:443 ssl http2;\n", "", 1),
        ("listen 80 default_server;", f"listen 127.0.0.1:{http_port} default_server;", 1),
        ("    listen [::]:80 default_server;\n", "", 1),
        (
            "listen 443 ssl http2 default_server;",
            f"listen 127.0.0.1:{https_port} ssl http2 default_server;",
            1,
        ),
        ("    listen [::]:443 ssl http2 default_server;\n", "", 1),
        ("server_name centre.example;", "server_name localhost;", 2),
        ("/etc/letsencrypt/live/centre.example/fullchain.pem", str(cert), 1),
        ("/etc/letsencrypt/live/centre.example/privkey.pem", str(key), 1),
    ]
    for old, new, count in replacements:
        assert text.count(old) == count, f"{old!r} not {count} time(s) in {NGINX_SITE}"
        text = text.replace(old, new)
    return text


def make_certificate(folder: Path) -> tuple[Path, Path]:
    """A self-signed certificate for localhost and 127.0.0.1 (openssl)."""
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
         "-subj", "/CN=localhost", "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1",
         "-keyout", str(key), "-out", str(cert)],
        check=True, capture_output=True, timeout=60,
    )  # fmt: skip
    return cert, key


@dataclass
class Stack:
    """nginx on https://localhost:https_port in front of serve on 127.0.0.1:app_port."""

    work: Path
    cert: Path
    https_port: int
    http_port: int
    app_port: int
    database_url: str
    serve: subprocess.Popen
    nginx: subprocess.Popen

    @property
    def public(self) -> str:
        return f"https://localhost:{self.https_port}"

    @property
    def direct(self) -> str:
        return f"http://127.0.0.1:{self.app_port}"

    def client(self, source: str, **options: object) -> httpx.Client:
        """A client whose connections come from the loopback address `source`."""
        context = ssl.create_default_context(cafile=str(self.cert))
        transport = httpx.HTTPTransport(verify=context, local_address=source)
        return httpx.Client(transport=transport, timeout=60, **options)

    def worker_pids(self) -> set[int]:
        return {
            pid
            for pid in children(self.serve.pid)
            if b"spawn_main" in Path(f"/proc/{pid}/cmdline").read_bytes()
        }

    def logs(self) -> str:
        return "\n".join(
            f"--- {name}\n{(self.work / name).read_text(errors='replace')[-4000:]}"
            for name in ("serve.log", "nginx-error.log")
            if (self.work / name).exists()
        )


def _prepare_database(url: str) -> None:
    engine = make_engine(url)
    migrate(engine)
    report = import_corpus(engine, TEST_KNOWLEDGE)
    assert report.ok, report.problems
    with write_session(engine) as session:
        create_user(
            session, email=CONTRIBUTOR, password=PASSWORD, role="contributor", regie_slug=REGIE
        )
        create_user(session, email=CURATOR, password=PASSWORD, role="curator")
    engine.dispose()


def _nginx_conf(work: Path, site: Path) -> str:
    # As root, nginx's workers would drop to `nobody`, who cannot write the test's folders.
    user = "user root;\n" if os.geteuid() == 0 else ""
    temp = "\n".join(
        f"    {kind}_temp_path {work / 'nginx-temp' / kind};"
        for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
    )
    return (
        f"{user}worker_processes 1;\npid {work / 'nginx.pid'};\n"
        f"error_log {work / 'nginx-error.log'} info;\n"
        "events { worker_connections 128; }\n"
        f"http {{\n    access_log {work / 'nginx-access.log'};\n{temp}\n"
        f"    include {site};\n}}\n"
    )


def _wait_until(ready, process: subprocess.Popen, what: str, stack_logs) -> None:
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"{what} exited ({process.returncode}):\n{stack_logs()}")
        try:
            if ready():
                return
        except (httpx.HTTPError, OSError):
            pass
        time.sleep(0.2)
    pytest.fail(f"{what} not ready after {START_TIMEOUT} s:\n{stack_logs()}")


def _stop(process: subprocess.Popen) -> None:
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(20)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(10)


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    nginx = nginx_path()
    if nginx is None:
        skip_or_fail("nginx is not installed (apt-get install -y nginx)")
    if shutil.which("openssl") is None:
        skip_or_fail("openssl is not installed (apt-get install -y openssl)")
    work = tmp_path_factory.mktemp("nginx-proxy")
    for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"):
        (work / "nginx-temp" / kind).mkdir(parents=True)
    cert, key = make_certificate(work)
    https_port, http_port, app_port = free_port(), free_port(), free_port()
    database_url = f"sqlite:///{work / 'data' / 'resource_centre.db'}"
    (work / "data").mkdir()
    _prepare_database(database_url)

    env = {k: v for k, v in os.environ.items() if not k.startswith("RESOURCE_CENTRE_")}
    env.update(
        RESOURCE_CENTRE_DATABASE_URL=database_url,
        RESOURCE_CENTRE_DATA_DIR=str(work / "data"),
        RESOURCE_CENTRE_INDEX_DIR=str(work / "index"),
        RESOURCE_CENTRE_KNOWLEDGE_DIR=str(TEST_KNOWLEDGE),
        # As in production: the public address; ALLOWED_HOSTS and FORWARDED_ALLOW_IPS are
        # left to their defaults (BASE_URL's host and loopback; 127.0.0.1).
        RESOURCE_CENTRE_BASE_URL=f"https://localhost:{https_port}",
    )
    serve_log = (work / "serve.log").open("wb")
    serve = subprocess.Popen(
        [sys.executable, "-m", "resource_centre", *unit_serve_arguments(app_port)],
        cwd=work, env=env, stdout=serve_log, stderr=subprocess.STDOUT, start_new_session=True,
    )  # fmt: skip
    serve_log.close()

    site = work / "site.conf"
    site.write_text(
        render_site(
            https_port=https_port, http_port=http_port, app_port=app_port, cert=cert, key=key
        ),
        "utf-8",
    )
    conf = work / "nginx.conf"
    conf.write_text(_nginx_conf(work, site), "utf-8")
    command = [nginx, "-p", str(work), "-e", str(work / "nginx-error.log"), "-c", str(conf)]
    checked = subprocess.run([*command, "-t"], capture_output=True, text=True, timeout=60)
    if checked.returncode != 0:
        _stop(serve)
        pytest.fail(f"nginx -t refused the configuration:\n{checked.stderr}")
    nginx_process = subprocess.Popen(
        [*command, "-g", "daemon off;"],
        cwd=work, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
    )  # fmt: skip
    running = Stack(
        work=work, cert=cert, https_port=https_port, http_port=http_port, app_port=app_port,
        database_url=database_url, serve=serve, nginx=nginx_process,
    )  # fmt: skip
    try:
        _wait_until(
            lambda: len(running.worker_pids()) == 2
            and httpx.get(f"{running.direct}/api/health", timeout=2).status_code == 200,
            serve, "resource-centre serve", running.logs,
        )  # fmt: skip
        with running.client("127.0.0.1") as probe:
            _wait_until(
                lambda: probe.get(f"{running.public}/api/health").status_code == 200,
                nginx_process, "nginx", running.logs,
            )  # fmt: skip
        yield running
    finally:
        _stop(nginx_process)
        _stop(serve)


def set_cookies(response: httpx.Response) -> dict[str, str]:
    """The response's Set-Cookie headers by cookie name."""
    found = {}
    for header in response.headers.get_list("set-cookie"):
        match = re.match(r"([^=;\s]+)=", header)
        if match:
            found[match.group(1)] = header
    return found
