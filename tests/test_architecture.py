"""Keep the dependency direction of docs/architecture.md: only web/ imports FastAPI, and
search/ never imports writeups or web; no module over 600 lines; no import cycle between
the project's modules (function-level imports included)."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "resource_centre"
MAX_LINES = 600
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
    # E-mail (issue 15): below the web layer and the command line.
    "outbox": ("resource_centre.web", "resource_centre.cli", "resource_centre.writeups"),
    "dates": ("resource_centre.",),
    "notifications": ("resource_centre.web", "resource_centre.cli", "resource_centre.writeups"),
    "mailer": ("resource_centre.web", "resource_centre.cli"),
    "mail_sender": ("resource_centre.web", "resource_centre.cli"),
    "following": ("resource_centre.web", "resource_centre.cli"),
    "digests": ("resource_centre.web", "resource_centre.cli"),
    "account_tokens": ("resource_centre.web", "resource_centre.cli"),
    "unsubscribe": ("resource_centre.",),
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


def test_no_module_over_600_lines():
    too_long = {
        "/".join(parts) + ".py": count
        for parts, path in modules()
        if (count := len(path.read_text("utf-8").splitlines())) > MAX_LINES
    }
    assert too_long == {}, f"split these modules (over {MAX_LINES} lines): {too_long}"


def module_name(parts: tuple[str, ...]) -> str:
    """resource_centre.web.app for ("web", "app"); a package's __init__ is the package."""
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(("resource_centre", *parts))


def project_imports(name: str, path: Path, known: set[str]) -> set[str]:
    """The project modules `name` imports anywhere in its file (top level, functions,
    TYPE_CHECKING blocks alike): `from x import y` counts as x.y when y is a module."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text("utf-8"))):
        targets: list[str] = []
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - (node.level - 1)]
                module = ".".join(base + ([node.module] if node.module else []))
            else:
                module = node.module or ""
            targets = [
                f"{module}.{alias.name}" if f"{module}.{alias.name}" in known else module
                for alias in node.names
            ]
        for target in targets:
            # Importing a.b.c runs a/__init__ and a/b/__init__ first: those are edges too.
            pieces = target.split(".")
            for end in range(1, len(pieces) + 1):
                candidate = ".".join(pieces[:end])
                if candidate in known and candidate != name:
                    found.add(candidate)
    return found


def import_graph() -> dict[str, set[str]]:
    paths = {module_name(parts): path for parts, path in modules()}
    known = set(paths)
    return {name: project_imports(name, path, known) for name, path in paths.items()}


def strongly_connected(graph: dict[str, set[str]]) -> list[set[str]]:
    """The groups of modules that import each other (directly or not), Tarjan's algorithm."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    components: list[set[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in sorted(graph[node]):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = set()
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.add(member)
                if member == node:
                    break
            if len(component) > 1:
                components.append(component)

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return components


def shortest_cycle(graph: dict[str, set[str]], start: str, within: set[str]) -> list[str]:
    """The shortest a → … → a through `start` inside a group (breadth first)."""
    previous: dict[str, str] = {}
    queue = [start]
    while queue:
        node = queue.pop(0)
        for nxt in sorted(graph[node] & within):
            if nxt == start:
                path = [node]
                while path[-1] != start:
                    path.append(previous[path[-1]])
                return [*reversed(path), start]
            if nxt not in previous:
                previous[nxt] = node
                queue.append(nxt)
    return []


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The shortest cycle through each module that is in one, each cycle once (starting
    from its smallest name)."""
    found: list[list[str]] = []
    for component in strongly_connected(graph):
        for member in sorted(component):
            cycle = shortest_cycle(graph, member, component)[:-1]
            first = cycle.index(min(cycle))
            cycle = [*cycle[first:], *cycle[:first], min(cycle)]
            if cycle not in found:
                found.append(cycle)
    return sorted(found)


def test_no_import_cycle():
    found = [" → ".join(cycle) for cycle in cycles(import_graph())]
    assert found == [], "import cycles (move the shared code down a layer):\n" + "\n".join(found)


def test_the_cycle_finder_finds_cycles():
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a", "d"}, "d": set(), "e": {"d"}}
    assert cycles(graph) == [["a", "b", "c", "a"]]
    # Two cycles through one module are both reported (web.app ↔ inputs, app ↔ security).
    graph = {"app": {"inputs", "security"}, "inputs": {"app"}, "security": {"app"}}
    assert cycles(graph) == [["app", "inputs", "app"], ["app", "security", "app"]]
    assert cycles({"a": {"b"}, "b": set()}) == []
