"""SMTP with TLS: smtp+starttls:// and smtps:// with a password, certificates verified.

The certificates are made here with the openssl command (a local CA and a certificate for
127.0.0.1); the client trusts that CA through SSL_CERT_FILE, read by the default context.
"""

from __future__ import annotations

import shutil
import ssl
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.smtp import AuthResult, LoginPassword

from resource_centre.mailer import SmtpTransport, TransportDown, compose
from resource_centre.models import OutboxMessage
from tests.conftest import make_settings
from tests.mail.conftest import SmtpServer

USER, PASSWORD = "robot@centre.example", "p@ss:wörd/42"
ENCODED = "robot%40centre.example:p%40ss%3Aw%C3%B6rd%2F42"


@pytest.fixture(scope="module")
def certificates(tmp_path_factory: pytest.TempPathFactory) -> Path:
    if shutil.which("openssl") is None:
        pytest.skip("the openssl command makes the test certificates")
    folder = tmp_path_factory.mktemp("tls")

    def openssl(*args: str) -> None:
        subprocess.run(["openssl", *args], cwd=folder, check=True, capture_output=True)

    openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
            "-keyout", "ca.key", "-out", "ca.pem", "-subj", "/CN=Test CA",
            "-addext", "basicConstraints=critical,CA:TRUE",
            "-addext", "keyUsage=critical,keyCertSign,cRLSign")  # fmt: skip
    openssl("req", "-newkey", "rsa:2048", "-nodes", "-keyout", "server.key",
            "-out", "server.csr", "-subj", "/CN=127.0.0.1")  # fmt: skip
    (folder / "ext.cnf").write_text(
        "subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\n"
        "keyUsage=digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth\n"
    )
    openssl("x509", "-req", "-in", "server.csr", "-CA", "ca.pem", "-CAkey", "ca.key",
            "-CAcreateserial", "-days", "2", "-out", "server.pem", "-extfile", "ext.cnf")  # fmt: skip
    return folder


def server_context(folder: Path) -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(folder / "server.pem", folder / "server.key")
    return context


def check_password(_server: Any, _session: Any, _envelope: Any, _mechanism: str, data: Any):
    ok = isinstance(data, LoginPassword) and (data.login, data.password) == (
        USER.encode(),
        PASSWORD.encode(),
    )
    return AuthResult(success=ok, handled=False)  # handled=False: aiosmtpd answers 535


@pytest.fixture
def trusted(certificates: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("SSL_CERT_FILE", str(certificates / "ca.pem"))
    return certificates


@pytest.fixture
def message(tmp_path: Path, sqlite_url: str):
    settings = make_settings(tmp_path, sqlite_url)
    row = OutboxMessage(
        id=1, recipient="lea@exemple.org", subject="Essai TLS", template="notice",
        context={"paragraphs": ["Bonjour"]},
    )  # fmt: skip
    return compose(row, settings)


def serve(**options: Any) -> Iterator[SmtpServer]:
    server = SmtpServer(**options)
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def starttls_server(trusted: Path) -> Iterator[SmtpServer]:
    yield from serve(
        tls_context=server_context(trusted),
        require_starttls=True,
        authenticator=check_password,
        auth_required=True,
    )


@pytest.fixture
def smtps_server(trusted: Path) -> Iterator[SmtpServer]:
    yield from serve(
        server_hostname="127.0.0.1",
        ssl_context=server_context(trusted),
        authenticator=check_password,
        auth_required=True,
        auth_require_tls=False,  # aiosmtpd does not count implicit TLS as TLS
    )


def test_starttls_with_a_url_encoded_password(starttls_server, message):
    transport = SmtpTransport(f"smtp+starttls://{ENCODED}@127.0.0.1:{starttls_server.port}")
    try:
        transport.send(1, message)
    finally:
        transport.close()
    [received] = starttls_server.wait_for(1)
    assert received["Subject"] == "Essai TLS"


def test_a_wrong_password_is_reported_without_it(starttls_server, message):
    wrong = "p%40ss-faux-secret"
    transport = SmtpTransport(
        f"smtp+starttls://robot%40centre.example:{wrong}@127.0.0.1:{starttls_server.port}"
    )
    with pytest.raises(TransportDown) as failure:
        transport.send(1, message)
    assert "535" in str(failure.value) and "p@ss-faux-secret" not in str(failure.value)
    assert starttls_server.messages == []


def test_plain_smtp_is_refused_where_starttls_is_required(starttls_server, message):
    transport = SmtpTransport(f"smtp://{ENCODED}@127.0.0.1:{starttls_server.port}")
    with pytest.raises(TransportDown):
        transport.send(1, message)
    assert starttls_server.messages == []


# Implicit TLS is TLS, whatever aiosmtpd's warning about auth_require_tls=False says.
@pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS:UserWarning")
def test_smtps(smtps_server, message):
    transport = SmtpTransport(f"smtps://{ENCODED}@127.0.0.1:{smtps_server.port}")
    try:
        transport.send(1, message)
    finally:
        transport.close()
    assert smtps_server.wait_for(1)[0]["To"] == "lea@exemple.org"


def test_an_untrusted_certificate_is_refused(certificates, message):
    # No SSL_CERT_FILE: the test CA is unknown, so the certificate is not accepted.
    for server in serve(tls_context=server_context(certificates), require_starttls=True):
        transport = SmtpTransport(f"smtp+starttls://127.0.0.1:{server.port}")
        with pytest.raises(TransportDown, match="CERTIFICATE_VERIFY_FAILED"):
            transport.send(1, message)
        assert server.messages == []
