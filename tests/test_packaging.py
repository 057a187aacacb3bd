"""Packaging and supply chain: the built wheel works on its own; the pins and the licence hold.

The slow test builds the wheel from a copy of the sources, installs it (not editable) into a
fresh virtual environment with the pinned dependencies, then runs the installed command from
another directory: `--version`, `init`, `import`, `serve`, and reads pages over HTTP.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import tomllib
import zipfile
from importlib import metadata
from pathlib import Path

import httpx2 as httpx
import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from tests.conftest import ROOT, TEST_KNOWLEDGE

# What the build reads; anything else in the repository must not be needed to build the wheel.
BUILD_INPUTS = (
    "pyproject.toml",
    "setup.py",
    "README.md",
    "LICENSE",
    "resource_centre",
    "templates",
)
# SHA-256 of the GNU AGPL v3 as published by the FSF (agpl-3.0.txt, 34,523 bytes).
AGPL_3_SHA256 = "0d96a4ff68ad6d4b6f1f30f713b18d5184912ba8dd389f86aa7710db079abcb0"
INSTALL_TIMEOUT = 600


def pyproject() -> dict:
    return tomllib.loads((ROOT / "pyproject.toml").read_text("utf-8"))


def pinned() -> dict[str, str]:
    """Name → version of every pin in constraints.txt."""
    pins = {}
    for line in (ROOT / "constraints.txt").read_text("utf-8").splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            name, version = line.split("==")
            pins[canonicalize_name(name)] = version.strip()
    return pins


def installed_closure() -> set[str]:
    """The distributions the project and its `test` extra need here, read from what is installed.

    Markers are evaluated for this machine, so a dependency needed only on another platform
    would count as unneeded: there is none today.
    """
    project = pyproject()["project"]
    roots = [
        *project["dependencies"],
        *(r for rs in project["optional-dependencies"].values() for r in rs),
    ]
    seen: dict[str, set[str]] = {}
    todo = [Requirement(r) for r in roots]
    while todo:
        req = todo.pop()
        name = canonicalize_name(req.name)
        if name in seen and set(req.extras) <= seen[name]:
            continue
        extras = seen.setdefault(name, set())
        extras.update(req.extras)
        try:
            dist = metadata.distribution(req.name)
        except metadata.PackageNotFoundError:
            pytest.fail(f"{req.name} is required but not installed: run `make install-test`")
        for text in dist.requires or []:
            sub = Requirement(text)
            envs = [{"extra": extra} for extra in extras or {""}]
            if sub.marker is None or any(sub.marker.evaluate(env) for env in envs):
                todo.append(sub)
    return set(seen)


def test_every_pin_is_needed_and_every_dependency_is_pinned():
    # pip is the installer that reads constraints.txt (pip-audit's pip-api requires it): the
    # environment's own pip, not a pin.
    pins, needed = set(pinned()), installed_closure() - {"pip"}
    assert sorted(pins - needed) == [], "pins nothing requires: remove them from constraints.txt"
    assert sorted(needed - pins) == [], "dependencies without a pin in constraints.txt"


def test_direct_pins_agree_with_constraints():
    pins = pinned()
    project = pyproject()["project"]
    for text in [*project["dependencies"], *project["optional-dependencies"]["test"]]:
        req = Requirement(text)
        assert str(req.specifier).startswith("=="), f"{text} is not pinned exactly"
        assert pins[canonicalize_name(req.name)] == str(req.specifier)[2:], text


def test_licence_file_is_the_agpl_named_in_pyproject():
    project = pyproject()["project"]
    assert project["license"] == "AGPL-3.0-or-later"
    assert "LICENSE" in project["license-files"]
    assert hashlib.sha256((ROOT / "LICENSE").read_bytes()).hexdigest() == AGPL_3_SHA256


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def run(args: list[str], *, cwd: Path, env: dict[str, str] | None = None) -> str:
    done = subprocess.run(
        args, cwd=cwd, env=env, capture_output=True, text=True, timeout=INSTALL_TIMEOUT
    )
    assert done.returncode == 0, f"{args} failed:\n{done.stdout}\n{done.stderr}"
    return done.stdout


def build_wheel(tmp_path: Path) -> Path:
    """Build the wheel from a copy of the build inputs (the work tree stays clean)."""
    src = tmp_path / "src"
    src.mkdir()
    for name in BUILD_INPUTS:
        path = ROOT / name
        if path.is_dir():
            shutil.copytree(path, src / name, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy2(path, src / name)
    dist = tmp_path / "dist"
    run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-w", str(dist), str(src)], cwd=tmp_path
    )
    (wheel,) = dist.glob("resource_centre-*.whl")
    return wheel


def clean_env(**settings: str) -> dict[str, str]:
    """The environment without anything that could lead Python back to the source tree."""
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in {"PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV"}
        and not key.startswith("RESOURCE_CENTRE_")
    }
    env.update(settings)
    return env


@pytest.mark.slow
def test_built_wheel_installs_and_serves_pages_from_another_directory(tmp_path):
    started = time.monotonic()
    wheel = build_wheel(tmp_path)
    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
    templates = {
        f"resource_centre/templates/{p.relative_to(ROOT / 'templates').as_posix()}"
        for p in (ROOT / "templates").rglob("*")
        if p.is_file()
    }
    assert templates and templates <= names, sorted(templates - names)
    for name in (
        "resource_centre/static/site.css",
        "resource_centre/static/LICENSE.md",
        "resource_centre/migrations/env.py",
        "resource_centre/migrations/script.py.mako",
        "resource_centre/migrations/versions/0001_initial_schema.py",
        "resource_centre-0.1.0.dist-info/licenses/LICENSE",
    ):
        assert name in names, name
    built = time.monotonic()

    venv = tmp_path / "venv"
    run([sys.executable, "-m", "venv", str(venv)], cwd=tmp_path)
    python, command = venv / "bin" / "python", str(venv / "bin" / "resource-centre")
    constraints = str(ROOT / "constraints.txt")
    run([str(python), "-m", "pip", "install", "-q", "-c", constraints, str(wheel)], cwd=tmp_path)
    installed = time.monotonic()

    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    env = clean_env(
        RESOURCE_CENTRE_DATABASE_URL=f"sqlite:///{tmp_path / 'db.sqlite'}",
        RESOURCE_CENTRE_INDEX_DIR=str(tmp_path / "index"),
        RESOURCE_CENTRE_DATA_DIR=str(tmp_path / "data"),
    )
    where = run(
        [str(python), "-c", "import sysconfig\nfrom resource_centre.web import app\n"
         "print(sysconfig.get_paths()['purelib']); print(app.TEMPLATES_DIR); print(app.__file__)"],
        cwd=elsewhere, env=env,
    ).splitlines()  # fmt: skip
    purelib = Path(where[0])
    assert Path(where[1]) == purelib / "resource_centre" / "templates"
    assert Path(where[2]).is_relative_to(purelib)
    version = pyproject()["project"]["version"]
    assert version in run([command, "--version"], cwd=elsewhere, env=env)
    run([command, "init"], cwd=elsewhere, env=env)
    run([command, "import", str(TEST_KNOWLEDGE)], cwd=elsewhere, env=env)

    port = free_port()
    url = f"http://127.0.0.1:{port}"
    log = tmp_path / "serve.log"
    with log.open("wb") as out:
        server = subprocess.Popen(
            [command, "serve", "--port", str(port)], cwd=elsewhere, env=env, stdout=out,
            stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                if httpx.get(f"{url}/api/health", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert server.poll() is None and time.monotonic() < deadline, log.read_text()
            time.sleep(0.1)
        home = httpx.get(f"{url}/", timeout=10)
        assert home.status_code == 200, log.read_text()
        assert "Centre de ressources" in home.text
        listing = httpx.get(f"{url}/fiches", timeout=10)
        assert listing.status_code == 200, log.read_text()
        assert "Atelier vélo itinérant" in listing.text
        assert "Une laverie solidaire contre les impayés" in listing.text
        css = httpx.get(f"{url}/static/site.css", timeout=10)
        assert (
            css.status_code == 200
            and css.content == (ROOT / "resource_centre/static/site.css").read_bytes()
        )
    finally:
        if server.poll() is None:
            os.killpg(server.pid, signal.SIGTERM)
            try:
                server.wait(15)
            except subprocess.TimeoutExpired:
                os.killpg(server.pid, signal.SIGKILL)
                server.wait(10)
    print(
        f"wheel built in {built - started:.1f} s, installed in {installed - built:.1f} s, "
        f"whole test {time.monotonic() - started:.1f} s"
    )
