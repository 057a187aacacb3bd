"""The deployment examples of deploy/: shown verbatim in docs/operations.md, in step with the
app's limits, and the systemd unit accepted by systemd (no nginx needed here)."""

from __future__ import annotations

import getpass
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from resource_centre.web.contribute import MAX_UPLOAD_BODY
from tests.conftest import ROOT
from tests.deploy.conftest import NGINX_SITE, SYSTEMD_UNIT, unit_serve_arguments

OPERATIONS = ROOT / "docs" / "operations.md"
NGINX_SIZES = {"k": 1024, "m": 1024 * 1024, "g": 1024 * 1024 * 1024}


@pytest.mark.parametrize(("path", "language"), [(NGINX_SITE, "nginx"), (SYSTEMD_UNIT, "ini")])
def test_the_docs_show_the_tested_files_verbatim(path: Path, language: str):
    docs = OPERATIONS.read_text("utf-8")
    assert f"```{language}\n{path.read_text('utf-8')}```\n" in docs, (
        f"docs/operations.md must show {path.relative_to(ROOT)} as it is"
    )


def test_nginx_body_limit_is_the_apps_upload_limit():
    sizes = re.findall(r"^\s*client_max_body_size (\d+)([kmg]?);", NGINX_SITE.read_text(), re.M)
    assert len(sizes) == 1
    number, unit = sizes[0]
    assert int(number) * NGINX_SIZES.get(unit, 1) == MAX_UPLOAD_BODY


def test_the_nginx_example_sends_the_headers_the_app_believes():
    site = NGINX_SITE.read_text()
    for line in (
        "proxy_set_header Host $http_host;",
        "proxy_set_header X-Forwarded-For $remote_addr;",  # replaced, never appended to
        "proxy_set_header X-Forwarded-Proto $scheme;",
        "proxy_read_timeout",
        "ssl http2;",
    ):
        assert line in site, line
    assert "$proxy_add_x_forwarded_for" not in site


def test_the_nginx_example_keeps_other_names_away_from_the_app():
    """A default server for both ports that answers no other name (tried: test_nginx_proxy)."""
    site = NGINX_SITE.read_text()
    blocks = re.findall(r"^server \{\n(.*?)^\}", site, re.M | re.S)
    default = [block for block in blocks if "default_server" in block]
    assert len(default) == 1, "one server block holds every default_server"
    for line in (
        "listen 80 default_server;",
        "listen [::]:80 default_server;",
        "listen 443 ssl http2 default_server;",
        "listen [::]:443 ssl http2 default_server;",
        "ssl_reject_handshake on;",
        "return 444;",
    ):
        assert line in default[0], line
    assert "proxy_pass" not in default[0]


def test_the_systemd_unit_is_valid_and_starts_serve(tmp_path: Path):
    assert unit_serve_arguments(9999)[:1] == ["serve"]
    assert "--workers" in unit_serve_arguments(9999)
    analyze = shutil.which("systemd-analyze")
    if analyze is None:
        pytest.skip("systemd-analyze is not installed: the unit is not verified here")
    # The unit as installed on this machine: this checkout's command, a real account.
    script = Path(sys.executable).with_name("resource-centre")
    if not script.exists():
        pytest.skip(f"{script} is missing (pip install -e .)")
    text = SYSTEMD_UNIT.read_text("utf-8")
    for old, new in (
        ("/srv/centre/.venv/bin/resource-centre", str(script)),
        ("/srv/centre", str(tmp_path)),
        ("User=centre", f"User={getpass.getuser()}"),
        ("Group=centre", "Group=root" if getpass.getuser() == "root" else "Group=nogroup"),
    ):
        assert old in text, old
        text = text.replace(old, new)
    for folder in ("data", "index"):
        (tmp_path / folder).mkdir()
    unit = tmp_path / "resource-centre.service"
    unit.write_text(text, "utf-8")
    verified = subprocess.run(
        [analyze, "verify", str(unit)], capture_output=True, text=True, timeout=60
    )
    assert verified.returncode == 0, verified.stderr
    assert verified.stderr.strip() == "" and verified.stdout.strip() == "", verified.stderr
