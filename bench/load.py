"""Load run against a real `resource-centre serve --workers 2` on the loopback interface.

    python bench/load.py WORKDIR [--count 1000] [--seconds 60] [--clients 20] [--workers 2]

WORKDIR keeps the generated corpus (bench/generate.py), the SQLite database and the index
between runs; the first run generates `--count` fiches and loads them with the CLI (`init`,
`import`). Then two runs of `--seconds` each, each against a freshly started server:

1. quiet: `--clients` threads search without pause, half `/api/writeups?q=…` (JSON), half
   `/fiches?q=…` (HTML), with keep-alive connections;
2. disturbed: the same, while at 1/6 of the run a curator publishes a fiche (writeups
   workflow, in this process), at 2/6 the CLI imports a new fiche and a changed one, and at
   3/6 one worker is killed with SIGKILL (uvicorn starts another).

Each JSON answer is checked: no slug twice, and `total` equal to the number of distinct slugs
when everything fits in the page (the words of the changed fiches are searched too, so their
answers are complete). An error is a non-200 answer, a timeout (10 s), or a request that
fails twice; a request cut on a kept-alive connection to the killed worker is retried once on
a new connection (as browsers and HTTP clients do for idempotent requests) and counted as
"retried". Prints requests/s, p50/p95/p99, errors, retries and duplicates per run, then the
verdict: 0 errors, 0 duplicates, disturbed p95 within 2x the quiet p95 (exit code 1 if not).
Only 127.0.0.1; the server runs in its own process group and is stopped at the end.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import random
import re
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.parse
from dataclasses import dataclass, field, replace
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from sqlalchemy import select  # noqa: E402

from resource_centre.auth import create_user  # noqa: E402
from resource_centre.db import make_engine, read_session, write_session  # noqa: E402
from resource_centre.models import Regie, User, WriteUp  # noqa: E402
from resource_centre.writeups import (  # noqa: E402
    create,
    data_from_writeup,
    get_by_slug,
    transition,
    unique_slug,
)

CLI = [sys.executable, "-m", "resource_centre"]
WORDS = [
    "laverie", "jardin", "impayés", "bailleur", "habitants", "insertion", "encombrants",
    "médiation", "vélo", "recyclerie", "mobilité", "numérique", "compostage", "chantier",
    "formation", "concertation", "épicerie", "alimentation", "jeunes", "familles",
]  # fmt: skip
# Made-up words of the fiches the disturbed run changes: searched in both runs.
NEW_WORDS = ["kwbrdzlq", "kwtrgvzp", "kwmnqzdh"]
CURATOR = "load-curation@example.org"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def children(parent: int) -> list[int]:
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            raw = Path(f"/proc/{entry}/stat").read_text()
            cmdline = Path(f"/proc/{entry}/cmdline").read_bytes()
        except OSError:
            continue
        if int(raw[raw.rindex(")") + 2 :].split()[1]) == parent and b"spawn_main" in cmdline:
            found.append(int(entry))
    return found


class Server:
    def __init__(self, env: dict[str, str], workers: int, log: Path) -> None:
        self.env, self.workers, self.log = env, workers, log
        self.port = free_port()
        self.proc: subprocess.Popen | None = None

    def start(self) -> None:
        with self.log.open("ab") as log:
            self.proc = subprocess.Popen(
                [*CLI, "serve", "--port", str(self.port), "--workers", str(self.workers)],
                env=self.env, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT,
                start_new_session=True,
            )  # fmt: skip
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if len(self.worker_pids()) == self.workers:
                try:
                    conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=2)
                    conn.request("GET", "/api/health")
                    if conn.getresponse().status == 200:
                        return
                except OSError:
                    pass
            time.sleep(0.2)
        raise SystemExit(f"le serveur n'a pas démarré (voir {self.log})")

    def worker_pids(self) -> list[int]:
        return children(self.proc.pid) if self.proc else []

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(10)


@dataclass
class Stats:
    latencies: list[float] = field(default_factory=list)
    timeline: list[tuple[float, float]] = field(default_factory=list)  # (started, latency)
    errors: list[str] = field(default_factory=list)
    retried: int = 0
    duplicates: list[str] = field(default_factory=list)
    events: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


def client_loop(port: int, seed: int, until: float, measure_from: float, stats: Stats) -> None:
    rng = random.Random(seed)
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    while time.monotonic() < until:
        word = rng.choice(WORDS + NEW_WORDS)
        api = rng.random() < 0.5
        query = urllib.parse.urlencode({"q": word, "page_size": "100"} if api else {"q": word})
        path = f"/api/writeups?{query}" if api else f"/fiches?{query}"
        started = time.monotonic()
        status, body, problem = None, b"", ""
        for attempt in range(2):
            try:
                conn.request("GET", path)
                response = conn.getresponse()
                status, body = response.status, response.read()
                break
            except TimeoutError:
                problem = "délai dépassé"
                conn.close()
                break  # a timeout is an error, never retried
            except (ConnectionError, http.client.HTTPException, OSError) as exc:
                problem = repr(exc)
                conn.close()
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
                if attempt == 0:
                    with stats.lock:
                        stats.retried += 1
        elapsed = time.monotonic() - started
        if started < measure_from:
            continue  # warm-up
        with stats.lock:
            if status != 200:
                stats.errors.append(f"{path}: {status or problem}")
                continue
            stats.latencies.append(elapsed)
            stats.timeline.append((started - measure_from, elapsed))
            if api:
                answer = json.loads(body)
                slugs = [h["slug"] for h in answer["data"]]
                complete = answer["total"] <= answer["page_size"]
                if len(set(slugs)) != len(slugs) or (complete and answer["total"] != len(slugs)):
                    stats.duplicates.append(f"q={word}: total {answer['total']}, {slugs}")
    conn.close()


def prepare(workdir: Path, count: int) -> dict[str, str]:
    knowledge = workdir / "knowledge"
    if not (knowledge / "fiches").is_dir():
        print(f"Génération de {count} fiches…", flush=True)
        subprocess.run(
            [sys.executable, str(ROOT / "bench" / "generate.py"), str(knowledge),
             "--count", str(count), "--jobs", "1"],
            check=True,
        )  # fmt: skip
    env = dict(os.environ)
    env.update(
        RESOURCE_CENTRE_DATABASE_URL=f"sqlite:///{workdir / 'load.db'}",
        RESOURCE_CENTRE_INDEX_DIR=str(workdir / "index"),
        RESOURCE_CENTRE_DATA_DIR=str(workdir / "data"),
        RESOURCE_CENTRE_KNOWLEDGE_DIR=str(knowledge),
    )
    if not (workdir / "load.db").exists():
        print("Chargement par la CLI (init, import)…", flush=True)
        started = time.monotonic()
        subprocess.run([*CLI, "init"], env=env, cwd=ROOT, check=True, capture_output=True)
        subprocess.run([*CLI, "import", str(knowledge)], env=env, cwd=ROOT, check=True,
                       capture_output=True)  # fmt: skip
        engine = make_engine(env["RESOURCE_CENTRE_DATABASE_URL"])
        with write_session(engine) as session:
            create_user(session, email=CURATOR, password="load-Passw0rd-long", role="curator")
        engine.dispose()
        print(f"  {time.monotonic() - started:.0f} s", flush=True)
    return env


def publish(env: dict[str, str], word: str) -> str:
    """A curator creates, submits and publishes a fiche (the app's workflow)."""
    engine = make_engine(env["RESOURCE_CENTRE_DATABASE_URL"])
    try:
        with write_session(engine) as session:
            curator = session.execute(select(User).where(User.email == CURATOR)).scalar_one()
            # One row (without the limit: 100,000 fiches read, 20 s with the write lock held).
            first = select(WriteUp).where(WriteUp.status == "published").order_by(WriteUp.id)
            base = session.execute(first.limit(1)).scalars().one()
            regie = session.get(Regie, base.regie_id) if base.regie_id else None
            title = f"Fiche de charge {word} {time.time_ns()}"
            data = replace(
                data_from_writeup(base, regie.slug if regie else None),
                slug=unique_slug(session, title), title=title, summary=f"Publiée ({word}).",
            )  # fmt: skip
            slug = create(session, user=curator, data=data, submit=True).slug
        with write_session(engine) as session:
            curator = session.execute(select(User).where(User.email == CURATOR)).scalar_one()
            writeup = get_by_slug(session, slug, for_update=True)
            transition(session, user=curator, writeup=writeup, action="publish")
        return slug
    finally:
        engine.dispose()


def cli_import(env: dict[str, str], workdir: Path, words: list[str]) -> None:
    """Import a new fiche and a changed one (copies of the first fiches of the corpus)."""
    folder = workdir / f"import-{time.time_ns()}"
    (folder / "fiches").mkdir(parents=True)
    sources = sorted((workdir / "knowledge" / "fiches").glob("*.md"))
    engine = make_engine(env["RESOURCE_CENTRE_DATABASE_URL"])
    with read_session(engine) as session:
        published = set(
            session.execute(select(WriteUp.slug).where(WriteUp.status == "published")).scalars()
        )
    engine.dispose()
    changed = next(p for p in sources if p.stem in published)
    for target, word in ((f"charge-{time.time_ns()}", words[0]), (changed.stem, words[1])):
        text = changed.read_text("utf-8")
        text = re.sub(r"(?m)^title: .*$", f"title: Fiche importée {word}", text, count=1)
        (folder / "fiches" / f"{target}.md").write_text(text, "utf-8")
    subprocess.run([*CLI, "import", str(folder)], env=env, cwd=ROOT, check=True,
                   capture_output=True, timeout=120)  # fmt: skip


def run(env, workdir, args, disturbed: bool) -> Stats:
    server = Server(env, args.workers, workdir / "server.log")
    server.start()
    stats = Stats()
    warm_up = 5.0
    start = time.monotonic()
    measure_from, until = start + warm_up, start + warm_up + args.seconds
    threads = [
        threading.Thread(target=client_loop, args=(server.port, i, until, measure_from, stats))
        for i in range(args.clients)
    ]
    try:
        for t in threads:
            t.start()
        if disturbed:
            plan = [
                (1 / 6, "publication", lambda: publish(env, NEW_WORDS[0])),
                (2 / 6, "import CLI", lambda: cli_import(env, workdir, NEW_WORDS[1:])),
                (3 / 6, "kill -9", lambda: os.kill(min(server.worker_pids()), signal.SIGKILL)),
            ]
            for at, name, action in plan:
                time.sleep(max(0.0, measure_from + at * args.seconds - time.monotonic()))
                t0 = time.monotonic()
                action()
                stats.events.append(
                    f"{name} à {t0 - measure_from:.0f} s ({time.monotonic() - t0:.1f} s)"
                )
        for t in threads:
            t.join()
    finally:
        server.stop()
    return stats


def report(name: str, stats: Stats, seconds: float) -> dict[str, float]:
    lat = stats.latencies or [float("nan")]
    figures = {
        "rps": len(stats.latencies) / seconds,
        "p50": percentile(lat, 50) * 1000,
        "p95": percentile(lat, 95) * 1000,
        "p99": percentile(lat, 99) * 1000,
        "errors": len(stats.errors),
        "retried": stats.retried,
        "duplicates": len(stats.duplicates),
    }
    print(
        f"{name:<10} {figures['rps']:7.1f} req/s  p50 {figures['p50']:6.1f} ms  "
        f"p95 {figures['p95']:6.1f} ms  p99 {figures['p99']:6.1f} ms  "
        f"{figures['errors']} erreur(s), {figures['retried']} relancée(s), "
        f"{figures['duplicates']} doublon(s)",
        flush=True,
    )
    windows = []
    for lo in range(0, int(seconds), 10):
        part = [lat for t, lat in stats.timeline if lo <= t < lo + 10]
        if part:
            windows.append(f"{lo}-{lo + 10} s: {percentile(part, 95) * 1000:.0f}")
    print(f"           p95 (ms) par tranche : {', '.join(windows)}")
    for line in stats.events:
        print(f"           {line}")
    for line in (stats.errors + stats.duplicates)[:10]:
        print(f"           ! {line[:200]}")
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("workdir", type=Path)
    parser.add_argument("--count", type=int, default=1000)
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--clients", type=int, default=20)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    args.workdir.mkdir(parents=True, exist_ok=True)
    env = prepare(args.workdir, args.count)
    print(f"{args.clients} clients, {args.seconds:.0f} s par passe, serve --workers {args.workers}")
    quiet = report("calme", run(env, args.workdir, args, disturbed=False), args.seconds)
    busy = report("perturbé", run(env, args.workdir, args, disturbed=True), args.seconds)
    checks = {
        "0 erreur": quiet["errors"] == 0 and busy["errors"] == 0,
        "0 doublon": quiet["duplicates"] == 0 and busy["duplicates"] == 0,
        "p95 perturbé ≤ 2 × p95 calme": busy["p95"] <= 2 * quiet["p95"],
    }
    for label, ok in checks.items():
        print(f"{'OK   ' if ok else 'ÉCHEC'} {label}")
    sys.exit(0 if all(checks.values()) else 1)


if __name__ == "__main__":
    main()
