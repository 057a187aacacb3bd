"""Keep the dependency direction of docs/architecture.md: only web/ imports FastAPI, and
search/ never imports writeups or web."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "resource_centre"
# module → modules of the project it must not import
FORBIDDEN = {
    "search": (
        "resource_centre.writeups",
        "resource_centre.web",
        "resource_centre.cli",
        "resource_centre.corpus",
    ),
    "models": (
        "resource_centre.writeups",
        "resource_centre.web",
        "resource_centre.search",
        "resource_centre.corpus",
    ),
    "db": (
        "resource_centre.writeups",
        "resource_centre.web",
        "resource_centre.search",
        "resource_centre.corpus",
    ),
    "taxonomy": ("resource_centre.",),
    "config": ("resource_centre.",),
    "rendering": ("resource_centre.writeups", "resource_centre.web", "resource_centre.search"),
    "writeups": ("resource_centre.web", "resource_centre.cli", "resource_centre.search"),
    "corpus": ("resource_centre.web", "resource_centre.cli"),
}


def imports(path: Path) -> set[str]:
    found = set()
    for node in ast.walk(ast.parse(path.read_text("utf-8"))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
    return found


def modules():
    for path in PACKAGE.rglob("*.py"):
        if "migrations" in path.parts:
            continue
        yield path.relative_to(PACKAGE).with_suffix("").parts, path


def test_only_web_imports_fastapi_or_starlette():
    offenders = [
        "/".join(parts)
        for parts, path in modules()
        if parts[0] != "web"
        and any(m.split(".")[0] in ("fastapi", "starlette") for m in imports(path))
    ]
    assert offenders == []


def test_dependency_direction():
    offenders = []
    for parts, path in modules():
        rules = FORBIDDEN.get(parts[0], ())
        for module in imports(path):
            if any(module.startswith(rule) for rule in rules):
                offenders.append(f"{'/'.join(parts)} imports {module}")
    assert offenders == []
