"""Outside-in benchmark: the product as its users meet it, over HTTP, against a real `serve`.

    python bench/outside.py WORKDIR --count 10000 [--workers 1,2] [--load-seconds 60]
        [--clients 20] [--idle-seconds 60] [--skip-load] [--skip-fts]

WORKDIR/corpus-N keeps the generated corpus (bench/generate.py) between runs; WORKDIR/lib-N
is a fresh library each run, made with the CLI (`python -m resource_centre`):

1. `init`, then `import CORPUS` timed until everything is searchable: a `serve --workers 1`
   started after the import answers `/api/writeups` with `total` equal to the number of
   published fiches in the database; then `reindex`, timed on its own.
2. For each worker count, a fresh `serve --workers W` (health 200, index caught up on every
   worker), then over keep-alive HTTP connections on 127.0.0.1:
   cold (the 30 queries of bench/search.py, first time asked), warm (the same again),
   idle-warm (the same after `--idle-seconds` without requests), filtered page 2 (15 theme
   filters, 15 queries + a theme), `/fiches` HTML pages, `/api/suggest` if the route exists,
   publish → visible on every worker (10 rounds: a curator publishes a fiche with the
   writeups workflow in this process; one connection per worker polls until it is found;
   a connection stays with the worker that accepted it, `/api/health` names that worker).
   For the largest worker count, a load run: `--clients` threads for `--load-seconds` over
   the 30 queries (some filtered, some page 2 or 3) and `/fiches` pages, with one
   publication at mid-run whose visibility on every worker is timed.
3. SQLite FTS5 on the same fiches and the same 30 queries (bench/search.py's `bench_fts5`).

Ends with a Markdown summary: machine, figures, targets (set for 10,000 fiches), met/missed.
Only 127.0.0.1; each server runs in its own process group and is stopped before the next.
The worker counts share the library: the publications of one leave small segments that
the next server merges once idle (a new index generation, so its caches start over).
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import platform
import random
import shutil
import sqlite3
import string
import subprocess
import sys
import threading
import time
import urllib.parse
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH))  # bench/ is not a package: load.py and search.py as modules

from load import CLI, CURATOR, ROOT, Server, publish  # noqa: E402 (load.py puts ROOT on sys.path)
from search import QUERIES, bench_fts5, pct  # noqa: E402

from resource_centre.db import make_engine, read_session  # noqa: E402
from resource_centre.writeups import count_fiches  # noqa: E402

# Queries of the HTML pages that the API part does not ask: first-time searches.
HTML_WORDS = ["recyclerie", "formation", "chantier", "alimentation", "familles", "épicerie"]
PUBLISH_ROUNDS = 10


# --------------------------------------------------------------------------- HTTP clients


class Serve(Server):
    """load.py's server; with --workers 1 uvicorn serves from its own process, no child."""

    def worker_pids(self) -> list[int]:
        if self.workers == 1 and self.proc:
            return [self.proc.pid]
        return super().worker_pids()


class Client:
    """One keep-alive HTTP/1.1 connection to the server (so: to one worker)."""

    def __init__(self, port: int, timeout: float = 10) -> None:
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)

    def get(self, path: str) -> tuple[int, bytes, float]:
        """Status, body and time in ms of one GET."""
        started = time.perf_counter()
        self.conn.request("GET", path)
        response = self.conn.getresponse()
        body = response.read()
        return response.status, body, (time.perf_counter() - started) * 1000

    def health(self) -> dict[str, Any]:
        status, body, _ = self.get("/api/health")
        if status != 200:
            raise RuntimeError(f"/api/health: HTTP {status}")
        return json.loads(body)

    def close(self) -> None:
        self.conn.close()


def connect_to(port: int, pid: int, tries: int = 400) -> Client:
    """A new connection that the worker `pid` accepted (new connections until one is)."""
    for _ in range(tries):
        client = Client(port)
        try:
            if client.health()["worker"] == pid:
                return client
        except (OSError, http.client.HTTPException, RuntimeError):
            pass
        client.close()
    raise SystemExit(f"aucune connexion acceptée par le processus {pid} en {tries} essais")


def connect_all(port: int, pids: list[int]) -> dict[int, Client]:
    return {pid: connect_to(port, pid) for pid in pids}


def api(q: str | None = None, **params: Any) -> str:
    query = {"q": q, **params} if q is not None else params
    return "/api/writeups?" + urllib.parse.urlencode(query, doseq=True)


def run_paths(client: Client, paths: list[str]) -> tuple[list[float], list[bytes]]:
    """Ask each path once on `client`; every answer must be 200."""
    times, bodies = [], []
    for path in paths:
        status, body, ms = client.get(path)
        if status != 200:
            raise SystemExit(f"{path} : HTTP {status}")
        times.append(ms)
        bodies.append(body)
    return times, bodies


def wait_caught_up(server: Serve, timeout: float = 180) -> list[int]:
    """Every worker's index has applied the journal (/api/health status "ok")."""
    pids = sorted(server.worker_pids())
    deadline = time.monotonic() + timeout
    for pid in pids:
        client = connect_to(server.port, pid)
        while client.health()["status"] != "ok":
            if time.monotonic() > deadline:
                raise SystemExit(f"index du processus {pid} pas à jour après {timeout:.0f} s")
            time.sleep(0.1)
        client.close()
    return pids


def publish_visible(env: dict[str, str], port: int, pids: list[int]) -> float:
    """Publish a fiche with a fresh made-up word; ms until every worker finds it."""
    word = "zqv" + "".join(random.choices(string.ascii_lowercase, k=8))
    clients = connect_all(port, pids)
    try:
        publish(env, word)
        committed = time.perf_counter()
        pending = set(pids)
        while pending:
            for pid in sorted(pending):
                try:
                    status, body, _ = clients[pid].get(api(word, page_size=1))
                except (OSError, http.client.HTTPException):
                    # Closed by the server after its keep-alive time-out (5 s) while the
                    # publication was made: a new connection to the same worker.
                    clients[pid].close()
                    clients[pid] = connect_to(port, pid)
                    continue
                if status == 200 and json.loads(body)["total"] > 0:
                    pending.discard(pid)
            if pending and time.perf_counter() - committed > 30:
                print(f"  ! « {word} » invisible après 30 s sur {sorted(pending)}", flush=True)
                return float("inf")
            time.sleep(0.005)
        return (time.perf_counter() - committed) * 1000
    finally:
        for client in clients.values():
            client.close()


# --------------------------------------------------------------------------- library


def cli(env: dict[str, str], *args: str, timeout: float = 3600) -> float:
    """Run one CLI command; seconds it took (exit on failure, with its output)."""
    started = time.perf_counter()
    done = subprocess.run(
        [*CLI, *args], env=env, cwd=ROOT, capture_output=True, text=True, timeout=timeout
    )
    if done.returncode != 0:
        raise SystemExit(
            f"resource-centre {args[0]} : code {done.returncode}\n{done.stderr[-2000:]}"
        )
    return time.perf_counter() - started


def ensure_corpus(workdir: Path, count: int) -> Path:
    corpus = workdir / f"corpus-{count}"
    if not (corpus / "taxonomy.yaml").exists():
        print(f"Génération de {count} fiches dans {corpus}…", flush=True)
        subprocess.run(
            [sys.executable, str(BENCH / "generate.py"), str(corpus), "--count", str(count)],
            check=True,
        )
    return corpus


def library(workdir: Path, count: int, fresh: bool) -> tuple[Path, dict[str, str]]:
    """The library's folder (emptied when `fresh`) and the environment that points at it."""
    lib = workdir / f"lib-{count}"
    if fresh:
        shutil.rmtree(lib, ignore_errors=True)
    lib.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ)
    env.update(
        RESOURCE_CENTRE_DATABASE_URL=f"sqlite:///{lib / 'db.sqlite'}",
        RESOURCE_CENTRE_INDEX_DIR=str(lib / "index"),
        RESOURCE_CENTRE_DATA_DIR=str(lib / "data"),
    )
    return lib, env


def published_count(env: dict[str, str]) -> int:
    engine = make_engine(env["RESOURCE_CENTRE_DATABASE_URL"])
    try:
        with read_session(engine) as session:
            return count_fiches(session, status="published")
    finally:
        engine.dispose()


def import_until_searchable(env: dict[str, str], lib: Path, corpus: Path) -> dict[str, float]:
    """init, import (timed), then a serve --workers 1 until every published fiche is found."""
    cli(env, "init")
    started = time.perf_counter()
    imported = cli(env, "import", str(corpus))
    expected = published_count(env)
    server = Serve(env, 1, lib / "server.log")
    try:
        serve_started = time.perf_counter()
        server.start()
        serve_up = time.perf_counter() - serve_started
        client, total = Client(server.port), -1
        while total != expected:
            if time.perf_counter() - started > 1800:
                raise SystemExit(f"{total} fiches trouvables sur {expected} après 30 min")
            status, body, _ = client.get(api(page_size=1))
            total = json.loads(body)["total"] if status == 200 else -1
            if total != expected:
                time.sleep(0.1)
        searchable = time.perf_counter() - started
        client.close()
    finally:
        server.stop()
    return {"import": imported, "serve": serve_up, "searchable": searchable,
            "published": expected}  # fmt: skip


# --------------------------------------------------------------------------- one server


@dataclass
class Figures:
    """The figures of one worker count (lists of ms)."""

    workers: int
    series: dict[str, list[float]] = field(default_factory=dict)
    suggest: bool = False
    load: dict[str, Any] | None = None


def facet_values(bodies: list[bytes], name: str) -> list[str]:
    """Values of facet `name` in the answers, most frequent first."""
    counts: dict[str, int] = {}
    for body in bodies:
        for f in json.loads(body)["facets"].get(name, []):
            counts[f["value"]] = counts.get(f["value"], 0) + f["count"]
    return sorted(counts, key=lambda v: -counts[v])


def top_theme(body: bytes, fallback: str) -> str:
    themes = json.loads(body)["facets"].get("theme", [])
    return themes[0]["value"] if themes else fallback


def measure_server(env: dict[str, str], lib: Path, workers: int, args: Any) -> Figures:
    figures = Figures(workers)
    series = figures.series
    server = Serve(env, workers, lib / "server.log")
    server.start()
    try:
        pids = wait_caught_up(server)
        print(f"serve --workers {workers} : processus {pids}", flush=True)
        first = pids[0]
        client = connect_to(server.port, first)
        series["cold"], cold_bodies = run_paths(client, [api(q) for q in QUERIES])
        series["warm"], _ = run_paths(client, [api(q) for q in QUERIES])
        client.close()
        print(f"  froid {show(series['cold'])} | chaud {show(series['warm'])}", flush=True)
        time.sleep(args.idle_seconds)
        client = connect_to(server.port, first)
        series["idle"], _ = run_paths(client, [api(q) for q in QUERIES])
        print(f"  chaud après {args.idle_seconds:.0f} s d'inactivité {show(series['idle'])}")
        themes = facet_values(cold_bodies, "theme")[:15]
        regions = facet_values(cold_bodies, "region")
        filtered = [api(theme=t, page=2) for t in themes] + [
            api(q, theme=top_theme(body, themes[i % len(themes)]), page=2)
            for i, (q, body) in enumerate(zip(QUERIES[:15], cold_bodies[:15], strict=True))
        ]
        series["page2"], _ = run_paths(client, filtered)
        print(f"  filtres, page 2 {show(series['page2'])}", flush=True)
        html = [
            "/fiches",
            "/fiches?page=2",
            *[f"/fiches?q={urllib.parse.quote(w)}" for w in HTML_WORDS],
        ]
        html += [
            "/fiches?"
            + urllib.parse.urlencode(
                {"q": w, "theme": themes[i % len(themes)], "region": regions[i % len(regions)]}
            )
            for i, w in enumerate(["habitants", "jardin", "insertion", "vélo"])
        ]
        series["html"], _ = run_paths(client, html)
        print(f"  pages /fiches {show(series['html'])}", flush=True)
        status, _, _ = client.get("/api/suggest?q=lav")
        figures.suggest = status != 404
        if figures.suggest:
            prefixes = [q.split()[0][:4] for q in QUERIES]
            series["suggest"], _ = run_paths(
                client, [f"/api/suggest?q={urllib.parse.quote(p)}" for p in prefixes]
            )
            print(f"  /api/suggest {show(series['suggest'])}", flush=True)
        else:
            print("  /api/suggest : absent", flush=True)
        client.close()
        series["publish"] = [publish_visible(env, server.port, pids) for _ in range(PUBLISH_ROUNDS)]
        print(f"  publication → visible sur {len(pids)} processus {show(series['publish'])}")
        if workers == max(args.worker_counts) and not args.skip_load:
            figures.load = load_run(env, server.port, pids, themes, args)
    finally:
        server.stop()
    return figures


# --------------------------------------------------------------------------- load


@dataclass
class LoadStats:
    latencies: list[float] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)


def load_client(port: int, seed: int, until: float, themes: list[str], stats: LoadStats) -> None:
    """Keep-alive client: the 30 queries, some filtered or on page 2-3, 1 in 5 as HTML."""
    rng = random.Random(seed)
    client = Client(port)
    while time.monotonic() < until:
        q = rng.choice(QUERIES)
        if rng.random() < 0.2:
            path = "/fiches?" + urllib.parse.urlencode({"q": q})
        else:
            params: dict[str, Any] = {}
            if rng.random() < 0.3:
                params["theme"] = rng.choice(themes)
            if rng.random() < 0.3:
                params["page"] = rng.randint(2, 3)
            path = api(q, **params)
        try:
            status, _, ms = client.get(path)
        except TimeoutError:
            status, ms = "délai dépassé", 0.0
        except (OSError, http.client.HTTPException) as exc:
            status, ms = repr(exc), 0.0
        if status != 200:
            client.close()
            client = Client(port)
        with stats.lock:
            if status == 200:
                stats.latencies.append(ms)
            else:
                stats.errors.append(f"{path} : {status}")
    client.close()


def load_run(
    env: dict[str, str], port: int, pids: list[int], themes: list[str], args: Any
) -> dict[str, Any]:
    """`--clients` threads for `--load-seconds`; one publication at mid-run."""
    stats = LoadStats()
    start = time.monotonic()
    until = start + args.load_seconds
    threads = [
        threading.Thread(target=load_client, args=(port, i, until, themes, stats))
        for i in range(args.clients)
    ]
    for t in threads:
        t.start()
    time.sleep(max(0.0, start + args.load_seconds / 2 - time.monotonic()))
    visible = publish_visible(env, port, pids)
    for t in threads:
        t.join()
    elapsed = time.monotonic() - start
    lat = stats.latencies or [float("nan")]
    result = {
        "rps": len(stats.latencies) / elapsed, "p50": pct(lat, 50), "p95": pct(lat, 95),
        "errors": len(stats.errors), "visible": visible, "requests": len(stats.latencies),
    }  # fmt: skip
    print(
        f"  charge {args.clients} clients, {elapsed:.0f} s : {result['rps']:.0f} req/s, "
        f"p50 {result['p50']:.1f} ms, p95 {result['p95']:.1f} ms, {result['errors']} erreur(s), "
        f"publication visible en {visible:.0f} ms",
        flush=True,
    )
    for line in stats.errors[:5]:
        print(f"  ! {line[:200]}")
    return result


# --------------------------------------------------------------------------- summary


def show(values: list[float]) -> str:
    return f"p50 {pct(values, 50):.1f} / p95 {pct(values, 95):.1f} ms"


def machine() -> str:
    def first(path: str, key: str) -> str:
        try:
            lines = Path(path).read_text().splitlines()
        except OSError:
            return "?"
        return next((line.split(":", 1)[1].strip() for line in lines if line.startswith(key)), "?")

    commit = subprocess.run(
        ["git", "-C", str(ROOT), "describe", "--always", "--dirty"], capture_output=True, text=True
    ).stdout.strip()
    return (
        f"{first('/proc/cpuinfo', 'model name')}, {os.cpu_count()} cœurs, "
        f"mémoire {first('/proc/meminfo', 'MemTotal')}, {platform.platform()}, "
        f"Python {platform.python_version()}, SQLite {sqlite3.sqlite_version}, "
        f"charge moyenne {os.getloadavg()[0]:.2f}, commit {commit or '?'}"
    )


Row = tuple[str, str, str, bool | None]


def rows_for(figures: Figures, fts_p95: float | None) -> list[Row]:
    s, w = figures.series, f"{figures.workers} proc."
    cold95, warm95, idle95 = pct(s["cold"], 95), pct(s["warm"], 95), pct(s["idle"], 95)
    rows: list[Row] = [
        (f"froid p50 / p95 ({w})", show(s["cold"]), "p95 ≤ 60 ms", cold95 <= 60),
        (f"chaud p50 / p95 ({w})", show(s["warm"]), "p95 ≤ 5 ms", warm95 <= 5),
        (f"chaud après inactivité ({w})", show(s["idle"]), "p95 ≤ 1,5 × chaud + 1 ms",
         idle95 <= 1.5 * warm95 + 1),
        (f"filtres, page 2 ({w})", show(s["page2"]), "p95 ≤ 60 ms", pct(s["page2"], 95) <= 60),
        (f"pages /fiches ({w})", show(s["html"]), "—", None),
        (f"/api/suggest ({w})", show(s["suggest"]) if figures.suggest else "absent", "—", None),
        (f"publication → visible, {PUBLISH_ROUNDS} fois ({w})", show(s["publish"]), "—", None),
    ]  # fmt: skip
    if fts_p95 is not None:
        ratio = cold95 / max(fts_p95, 1e-9)
        rows.append((f"froid p95 / FTS5 p95 ({w})", f"{ratio:.2f}", "≤ 0,5", ratio <= 0.5))
    if figures.load:
        ld = figures.load
        rows += [
            (f"charge : débit ({w})", f"{ld['rps']:.0f} req/s", "≥ 150 req/s", ld["rps"] >= 150),
            (f"charge : p50 / p95 ({w})", f"p50 {ld['p50']:.1f} / p95 {ld['p95']:.1f} ms",
             "p95 ≤ 300 ms", ld["p95"] <= 300),
            (f"charge : erreurs ({w})", str(ld["errors"]), "0", ld["errors"] == 0),
            (f"charge : publication visible partout ({w})", f"{ld['visible']:.0f} ms", "≤ 1 s",
             ld["visible"] <= 1000),
        ]  # fmt: skip
    return rows


def summary(
    args: Any,
    about: str,
    setup: dict[str, float],
    all_figures: list[Figures],
    fts: list[float] | None,
) -> str:
    """The Markdown table: one row per figure, its target and whether it is met."""
    fts_p95 = pct(fts, 95) if fts else None
    rows: list[Row] = [
        ("import (commande)", f"{setup['import']:.1f} s", "—", None),
        ("import → tout trouvable", f"{setup['searchable']:.1f} s (dont serve {setup['serve']:.1f} s)",
         "≤ 150 s", setup["searchable"] <= 150),
        ("reindex", f"{setup['reindex']:.1f} s", "≤ 60 s", setup["reindex"] <= 60),
    ]  # fmt: skip
    if fts:
        rows.append(("SQLite FTS5, 30 requêtes", show(fts), "—", None))
    for figures in all_figures:
        rows += rows_for(figures, fts_p95)
    verdict = {True: "met", False: "missed", None: ""}
    lines = [
        f"## Banc de l'extérieur : {args.count} fiches ({int(setup['published'])} publiées)",
        "",
        f"Machine (au début) : {about}",
        "",
        *(["Cibles fixées pour 10 000 fiches.", ""] if args.count != 10_000 else []),
        "| Mesure | Valeur | Cible | Verdict |",
        "|---|---|---|---|",
        *(f"| {name} | {value} | {target} | {verdict[ok]} |" for name, value, target, ok in rows),
    ]
    return "\n".join(lines)


# --------------------------------------------------------------------------- main


def worker_counts(text: str) -> list[int]:
    counts = sorted({int(part) for part in text.split(",") if part.strip()})
    if not counts or counts[0] < 1:
        raise argparse.ArgumentTypeError("des nombres de processus ≥ 1, séparés par des virgules")
    return counts


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("workdir", type=Path)
    parser.add_argument("--count", type=int, default=10_000, help="nombre de fiches")
    parser.add_argument("--workers", dest="worker_counts", type=worker_counts, default=[1, 2],
                        help="nombres de processus de serve (défaut : 1,2)")  # fmt: skip
    parser.add_argument("--load-seconds", type=float, default=60)
    parser.add_argument("--clients", type=int, default=20)
    parser.add_argument("--idle-seconds", type=float, default=60)
    parser.add_argument("--skip-load", action="store_true", help="sans la passe de charge")
    parser.add_argument("--skip-fts", action="store_true", help="sans la comparaison FTS5")
    parser.add_argument("--reuse", action="store_true",
                        help="reprendre la bibliothèque d'une passe précédente (sans import "
                        "ni reindex ; leurs chiffres sont ceux de cette passe)")  # fmt: skip
    args = parser.parse_args(argv)
    args.workdir.mkdir(parents=True, exist_ok=True)
    workdir = args.workdir.resolve()
    about = machine()
    print(f"Machine : {about}", flush=True)
    corpus = ensure_corpus(workdir, args.count)
    lib, env = library(workdir, args.count, fresh=not args.reuse)
    saved = lib / "setup.json"
    if args.reuse and saved.exists():
        setup = json.loads(saved.read_text())
        print(f"Bibliothèque reprise dans {lib} (chiffres d'import de la passe d'origine)")
    else:
        lib, env = library(workdir, args.count, fresh=True)
        print(f"Bibliothèque neuve dans {lib} : init, import…", flush=True)
        setup = import_until_searchable(env, lib, corpus)
        print(
            f"  import {setup['import']:.1f} s, tout trouvable à {setup['searchable']:.1f} s "
            f"({int(setup['published'])} fiches publiées)",
            flush=True,
        )
        setup["reindex"] = cli(env, "reindex")
        print(f"  reindex {setup['reindex']:.1f} s", flush=True)
        cli(env, "create-user", "--email", CURATOR, "--role", "curator", "--generate")
        saved.write_text(json.dumps(setup))
    all_figures = [measure_server(env, lib, w, args) for w in args.worker_counts]
    fts: list[float] | None = None
    if not args.skip_fts:
        engine = make_engine(env["RESOURCE_CENTRE_DATABASE_URL"])
        try:
            fts = bench_fts5(engine, lib)["cold"]
        finally:
            engine.dispose()
        print(f"SQLite FTS5 : {show(fts)}", flush=True)
    print()
    print(summary(args, about, setup, all_figures, fts))
    return 0


if __name__ == "__main__":
    sys.exit(main())
