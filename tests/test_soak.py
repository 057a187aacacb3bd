"""Soak test: three real workers under a random mix of changes while clients search.

For RESOURCE_CENTRE_SOAK_SECONDS (default 120 in CI, 30 elsewhere) a seeded random mix of
publications (the writeups workflow, in this process: another process than the server, like
the CLI), CLI imports of new and changed fiches, curator edits, archives, `reindex` and one
`kill -9` of a worker runs against `serve --workers 3`, while client threads search
`/api/writeups` all the time. It asserts:

- every answer has `total` equal to its number of distinct slugs, and no slug twice;
- each change is visible on every worker within 2 s (measured from the commit, or from the
  end of the CLI command for imports and reindex);
- at the end every published fiche is listed exactly once by every worker;
- then, idle, the server uses under 5 % of a core over 10 s and the index generation
  (`index/current` and the Whoosh TOC generation inside it) does not change.

Client requests cut by the `kill -9` (connections held by the killed worker) are the only
errors tolerated, within 5 s of the kill.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path

import httpx2 as httpx
import pytest
from sqlalchemy import select

from resource_centre.auth import create_user
from resource_centre.db import make_engine, read_session, write_session
from resource_centre.models import Regie, User, WriteUp
from resource_centre.search.sync import IDLE_BEFORE_MERGE
from resource_centre.writeups import (
    create,
    data_from_writeup,
    get_by_slug,
    save,
    transition,
    unique_slug,
)
from tests.conftest import ROOT, TEST_KNOWLEDGE
from tests.soak_support import CLI, Server, fiche_markdown, index_generation, made_up_word

pytestmark = pytest.mark.slow

SECONDS = float(
    os.environ.get("RESOURCE_CENTRE_SOAK_SECONDS") or (120 if os.environ.get("CI") else 30)
)
VISIBLE_WITHIN = 2.0  # seconds, on every worker
GIVE_UP_AFTER = 15.0  # a change not visible by then counts as never visible
IDLE_CPU_LIMIT = 0.05  # of one core
IDLE_SECONDS = 10.0
SETTLE_MAX = 20.0  # seconds to wait, after the run, for the server to go quiet
KILL_GRACE = 5.0  # client errors tolerated this long after the kill -9
READY_WITHIN = 20.0  # the replacement of a killed worker serves within this
WORKERS = 3
SEARCH_THREADS = 3
CURATOR = "soak-curation@example.org"
TEMPLATE_SLUG = "jardin-partage-des-tilleuls"
BASE_WORDS = ["jardin", "laverie", "vélo", "atelier", "habitants", "insertion", "épicerie"]


@dataclass
class Record:
    """Everything observed; asserted on at the end so one failure shows every number."""

    answers: int = 0
    inconsistent: list[str] = field(default_factory=list)
    statuses: list[str] = field(default_factory=list)
    transport: list[tuple[float, str]] = field(default_factory=list)
    delays: list[tuple[str, float]] = field(default_factory=list)
    flaps: list[str] = field(default_factory=list)
    ops: dict[str, int] = field(default_factory=dict)
    kill_at: float | None = None
    restarted_after: float | None = None
    ready_after: float | None = None
    max_latency: float = 0.0


_LOCK = threading.Lock()


def check_answer(body: dict, what: str, record: Record) -> list[str]:
    """The slugs of one answer; records it if `total` or uniqueness is wrong."""
    slugs = [h["slug"] for h in body["data"]]
    distinct = len(set(slugs))
    complete = body["total"] <= body["page_size"]
    if distinct != len(slugs) or (complete and body["total"] != distinct):
        with _LOCK:
            record.inconsistent.append(
                f"{what}: total {body['total']}, {len(slugs)} hits, {distinct} distinct"
            )
    return slugs


def search(client: httpx.Client, url: str, word: str, record: Record) -> list[str]:
    response = client.get(f"{url}/api/writeups", params={"q": word, "page_size": "100"})
    if response.status_code != 200:
        with _LOCK:
            record.statuses.append(f"q={word}: {response.status_code}")
        return []
    return check_answer(response.json(), f"q={word}", record)


class Library:
    """The test's model of what must be searchable, and the changes it makes."""

    def __init__(self, env: dict[str, str], folder: Path, rng: random.Random) -> None:
        self.env = env
        self.engine = make_engine(env["RESOURCE_CENTRE_DATABASE_URL"])
        self.folder = folder
        (folder / "fiches").mkdir(parents=True)
        self.template = (TEST_KNOWLEDGE / "fiches" / f"{TEMPLATE_SLUG}.md").read_text("utf-8")
        self.rng = rng
        self.imported: dict[str, str] = {}  # slug -> its current word (changed by import only)
        self.published: dict[str, str] = {}  # slug -> word (changed in this process only)
        self.gone: list[str] = []  # words that must find nothing any more
        self.words: list[str] = []  # every word used, for the searching threads
        with write_session(self.engine) as session:
            create_user(session, email=CURATOR, password="soak-Passw0rd-long", role="curator")

    def _word(self) -> str:
        word = made_up_word(self.rng)
        while word in self.words:
            word = made_up_word(self.rng)
        self.words.append(word)
        return word

    def _curator(self, session) -> User:
        return session.execute(select(User).where(User.email == CURATOR)).scalar_one()

    def _cli(self, *args: str) -> None:
        result = subprocess.run(
            [*CLI, *args], env=self.env, cwd=ROOT, capture_output=True, text=True, timeout=120
        )
        assert result.returncode == 0, f"{args}: {result.stdout}\n{result.stderr}"

    # Each change returns the checks that must then hold on every worker: (word, slug or None).

    def import_new(self) -> list[tuple[str, str | None]]:
        word = self._word()
        slug = f"essai-{word}"
        title, summary = f"Essai d'endurance {word}", f"Une fiche importée ({word})."
        path = self.folder / "fiches" / f"{slug}.md"
        path.write_text(fiche_markdown(self.template, title, summary), "utf-8")
        self._cli("import", str(self.folder))
        self.imported[slug] = word
        return [(word, slug)]

    def import_changed(self) -> list[tuple[str, str | None]]:
        if not self.imported:
            return self.import_new()
        slug = self.rng.choice(sorted(self.imported))
        old, word = self.imported[slug], self._word()
        title, summary = f"Essai d'endurance {word}", f"Une fiche réimportée ({word})."
        path = self.folder / "fiches" / f"{slug}.md"
        path.write_text(fiche_markdown(self.template, title, summary), "utf-8")
        self._cli("import", str(self.folder))
        self.imported[slug] = word
        self.gone.append(old)
        return [(word, slug), (old, None)]

    def publish(self) -> list[tuple[str, str | None]]:
        word = self._word()
        with write_session(self.engine) as session:
            curator = self._curator(session)
            base = get_by_slug(session, TEMPLATE_SLUG)
            regie = session.get(Regie, base.regie_id)
            title = f"Publication d'endurance {word}"
            data = replace(
                data_from_writeup(base, regie.slug),
                slug=unique_slug(session, title),
                title=title,
                summary=f"Une fiche publiée ({word}).",
            )
            slug = create(session, user=curator, data=data, submit=True).slug
        with write_session(self.engine) as session:
            writeup = get_by_slug(session, slug, for_update=True)
            transition(session, user=self._curator(session), writeup=writeup, action="publish")
        self.published[slug] = word
        return [(word, slug)]

    def edit(self) -> list[tuple[str, str | None]]:
        if not self.published:
            return self.publish()
        slug = self.rng.choice(sorted(self.published))
        old, word = self.published[slug], self._word()
        with write_session(self.engine) as session:
            writeup = get_by_slug(session, slug, for_update=True)
            regie = session.get(Regie, writeup.regie_id)
            data = replace(
                data_from_writeup(writeup, regie.slug),
                title=f"Publication modifiée {word}",
                summary=f"Une fiche modifiée ({word}).",
            )
            save(session, user=self._curator(session), writeup=writeup, data=data, version=None)
        self.published[slug] = word
        self.gone.append(old)
        return [(word, slug), (old, None)]

    def archive(self) -> list[tuple[str, str | None]]:
        if not self.published:
            return self.publish()
        slug = self.rng.choice(sorted(self.published))
        with write_session(self.engine) as session:
            writeup = get_by_slug(session, slug, for_update=True)
            transition(session, user=self._curator(session), writeup=writeup, action="archive")
        word = self.published.pop(slug)
        self.gone.append(word)
        return [(word, None)]

    def reindex(self) -> list[tuple[str, str | None]]:
        self._cli("reindex")
        return self.sample()

    def sample(self) -> list[tuple[str, str | None]]:
        live = [(w, s) for s, w in {**self.imported, **self.published}.items()]
        checks: list[tuple[str, str | None]] = self.rng.sample(live, min(3, len(live)))
        if self.gone:
            checks.append((self.rng.choice(self.gone), None))
        return checks

    def published_slugs(self) -> set[str]:
        with read_session(self.engine) as session:
            return set(
                session.execute(select(WriteUp.slug).where(WriteUp.status == "published"))
                .scalars()
                .all()
            )


class Workers:
    """One kept-alive connection per worker (a connection stays with the worker that
    accepted it), so each worker can be asked directly although they share one port.

    A keeper thread pings every connection each second so uvicorn (5 s keep-alive) does not
    close them between changes.
    """

    def __init__(self, server: Server) -> None:
        self.server = server
        self.clients: dict[int, httpx.Client] = {}
        self.lock = threading.Lock()
        self.stop = threading.Event()
        self.keeper = threading.Thread(target=self._keep, daemon=True)
        self.keeper.start()

    def _pid(self, client: httpx.Client) -> int:
        return client.get(f"{self.server.url}/api/health").json()["worker"]

    def _keep(self) -> None:
        while not self.stop.wait(1.0):
            with self.lock:
                for pid, client in list(self.clients.items()):
                    try:
                        if self._pid(client) != pid:
                            raise httpx.TransportError("reconnected to another worker")
                    except httpx.HTTPError:
                        client.close()
                        del self.clients[pid]

    def discover(self, tries: int = 4) -> None:
        """Open new connections until every live worker has one (or `tries` are spent)."""
        with self.lock:
            for _ in range(tries):
                live = self.server.worker_pids()
                for pid in set(self.clients) - live:
                    self.clients.pop(pid).close()
                if live <= self.clients.keys():
                    return
                client = httpx.Client(timeout=10)
                try:
                    pid = self._pid(client)
                except httpx.HTTPError:
                    client.close()
                    continue
                if pid in self.clients:
                    client.close()
                else:
                    self.clients[pid] = client

    def observe(
        self, pid: int, checks: list[tuple[str, str | None]], record: Record
    ) -> bool | None:
        """Run the checks on worker `pid`; None if its connection was lost or moved."""
        with self.lock:
            client = self.clients.get(pid)
            if client is None:
                return None
            try:
                ok = True
                for word, slug in checks:
                    slugs = search(client, self.server.url, word, record)
                    ok = ok and slugs == ([slug] if slug else [])
                if self._pid(client) == pid:
                    return ok
            except httpx.HTTPError:
                pass
            self.clients.pop(pid).close()
            return None

    def close(self) -> None:
        self.stop.set()
        self.keeper.join(5)
        with self.lock:
            for client in self.clients.values():
                client.close()


def wait_visible(
    workers: Workers, checks: list[tuple[str, str | None]], since: float, what: str, record: Record
) -> None:
    """Poll every worker until each shows the checks; record the delay (inf if never)."""
    expected = workers.server.worker_pids()
    satisfied: dict[int, float] = {}
    observations: list[tuple[float, int, bool | None]] = []  # shown for late changes
    while True:
        workers.discover()
        for pid in expected - satisfied.keys():
            ok = workers.observe(pid, checks, record)
            now = time.monotonic()
            observations.append((round(now - since, 2), pid, ok))
            if ok:
                satisfied[pid] = now - since
        for pid in list(satisfied):  # once visible, it must stay so
            if workers.observe(pid, checks, record) is False:
                record.flaps.append(f"{what}: worker {pid} showed it, then no longer: {checks}")
                del satisfied[pid]
        now = time.monotonic()
        expected &= workers.server.worker_pids()  # a killed worker no longer counts
        if expected and expected <= satisfied.keys():
            delay = max(satisfied[p] for p in expected)
            if delay > VISIBLE_WITHIN:
                what = f"{what} {observations}"
            record.delays.append((what, delay))
            return
        if now - since > GIVE_UP_AFTER:
            missing = sorted(expected - satisfied.keys())
            record.delays.append((f"{what} (never on workers {missing}: {checks})", float("inf")))
            return
        time.sleep(0.02)


def searching(url: str, library: Library, stop: threading.Event, seed: int, record: Record):
    rng = random.Random(seed)
    client = httpx.Client(timeout=15)
    count = 0
    try:
        while not stop.is_set():
            count += 1
            if count % 10 == 0:  # new connections spread the load over the workers
                client.close()
                client = httpx.Client(timeout=15)
            word = rng.choice(BASE_WORDS + library.words[-20:])
            started = time.monotonic()
            try:
                search(client, url, word, record)
            except httpx.HTTPError as exc:
                with _LOCK:
                    record.transport.append((time.monotonic(), f"search: {exc!r}"))
                client.close()
                client = httpx.Client(timeout=15)
                continue
            elapsed = time.monotonic() - started
            with _LOCK:
                record.answers += 1
                record.max_latency = max(record.max_latency, elapsed)
    finally:
        client.close()


def kill_a_worker(server: Server, workers: Workers, record: Record) -> None:
    """`kill -9` a worker; return once its replacement answers a request (30 s at most).

    uvicorn's supervisor starts a new process at once, but it accepts connections only once
    it has imported the app and opened the index: on a loaded two-core machine that alone
    can take several seconds. What the kill sample then checks is that the new worker, once
    it serves, serves the library as it is; `ready_after` is reported and bounded apart.
    """
    victim = min(server.worker_pids())
    record.kill_at = time.monotonic()
    os.kill(victim, signal.SIGKILL)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        pids = server.worker_pids()
        if len(pids) == WORKERS and victim not in pids:
            if record.restarted_after is None:
                record.restarted_after = time.monotonic() - record.kill_at
            workers.discover(tries=8)
            if pids <= workers.clients.keys():
                record.ready_after = time.monotonic() - record.kill_at
                return
        time.sleep(0.1)


def wait_until_quiet(server: Server) -> float:
    """Seconds until one whole second uses under IDLE_CPU_LIMIT (SETTLE_MAX at most)."""
    start = time.monotonic()
    while time.monotonic() - start < SETTLE_MAX:
        cpu, t0 = server.cpu_seconds(), time.monotonic()
        time.sleep(1.0)
        if (server.cpu_seconds() - cpu) / (time.monotonic() - t0) < IDLE_CPU_LIMIT:
            break
    return time.monotonic() - start


def list_all(client: httpx.Client, url: str, record: Record) -> tuple[int, list[str]]:
    """All published fiches as one worker lists them (pages of 100 on one connection)."""
    slugs: list[str] = []
    page = 1
    while True:
        response = client.get(f"{url}/api/writeups", params={"page_size": "100", "page": str(page)})
        body = response.json()
        slugs += check_answer(body, f"list page {page}", record)
        if page * 100 >= body["total"]:
            break
        page += 1
    health = client.get(f"{url}/api/health").json()
    if health["status"] != "ok":
        slugs.append(f"(health: {health})")  # shows up as an extra
    return health["worker"], slugs


@pytest.fixture
def soak_env(tmp_path: Path, database_url: str) -> Iterator[dict[str, str]]:
    env = dict(os.environ)
    env.update(
        RESOURCE_CENTRE_DATABASE_URL=database_url,
        RESOURCE_CENTRE_INDEX_DIR=str(tmp_path / "index"),
        RESOURCE_CENTRE_DATA_DIR=str(tmp_path / "data"),
        RESOURCE_CENTRE_KNOWLEDGE_DIR=str(TEST_KNOWLEDGE),
    )
    for args in (["init"], ["import", str(TEST_KNOWLEDGE)]):
        subprocess.run([*CLI, *args], env=env, cwd=ROOT, check=True, capture_output=True)
    yield env


def test_soak_three_workers_changes_while_searching(soak_env, tmp_path):
    rng = random.Random(9)
    record = Record()
    library = Library(soak_env, tmp_path / "soak-knowledge", rng)
    server = Server(soak_env, ROOT, WORKERS, tmp_path / "server.log")
    server.start()
    workers = Workers(server)
    stop = threading.Event()
    threads = [
        threading.Thread(target=searching, args=(server.url, library, stop, i, record))
        for i in range(SEARCH_THREADS)
    ]
    changes = {
        "import_new": (library.import_new, 3),
        "import_changed": (library.import_changed, 2),
        "publish": (library.publish, 3),
        "edit": (library.edit, 3),
        "archive": (library.archive, 1),
        "reindex": (library.reindex, 1),
    }
    names = list(changes)
    weights = [changes[n][1] for n in names]
    try:
        for t in threads:
            t.start()
        started = time.monotonic()
        killed = False
        while time.monotonic() - started < SECONDS:
            if not killed and time.monotonic() - started > 0.4 * SECONDS:
                killed = True
                kill_a_worker(server, workers, record)
                name, checks = "kill -9", library.sample()
                since = time.monotonic()
            else:
                name = rng.choices(names, weights)[0]
                if name == "reindex" and record.ops.get("reindex", 0) >= 3:
                    continue  # each costs a full rebuild: a few are enough
                checks = changes[name][0]()
                since = time.monotonic()
            record.ops[name] = record.ops.get(name, 0) + 1
            wait_visible(workers, checks, since, name, record)
        stop.set()
        for t in threads:
            t.join(30)

        # Every published fiche exactly once, on every worker.
        published = library.published_slugs()
        seen: dict[int, list[str]] = {}
        for _ in range(20):
            workers.discover()
            with workers.lock:
                for pid, client in workers.clients.items():
                    answered, slugs = list_all(client, server.url, record)
                    if answered == pid:
                        seen[pid] = slugs
            if server.worker_pids() <= seen.keys():
                break
        listing_problems = {
            pid: {
                "duplicates": sorted({s for s in slugs if slugs.count(s) > 1}),
                "missing": sorted(published - set(slugs)),
                "extra": sorted(set(slugs) - published),
            }
            for pid, slugs in seen.items()
            if pid in server.worker_pids()
            and (len(slugs) != len(set(slugs)) or set(slugs) != published)
        }
        unseen = server.worker_pids() - seen.keys()
        workers.close()  # no more requests: the server is idle from here

        # Idle: no CPU to speak of, no new index generation.
        # Past twice the sync's 2 s idle delay: a last merge may legitimately run, then each
        # worker's one full cycle collection once the index is quiet (serve's gc freeze).
        time.sleep(2 * IDLE_BEFORE_MERGE + 2)
        # After that merge, each worker builds the new generation's caches once; on a slow
        # machine this can reach into the window. Wait (at most SETTLE_MAX) for one quiet
        # second before the measured window: the window itself is unchanged.
        settled_after = wait_until_quiet(server)
        generation_before = index_generation(tmp_path / "index")
        cpu_before, t0 = server.cpu_seconds(), time.monotonic()
        time.sleep(IDLE_SECONDS)
        idle_cpu = (server.cpu_seconds() - cpu_before) / (time.monotonic() - t0)
        generation_after = index_generation(tmp_path / "index")
    finally:
        stop.set()
        workers.close()
        server.stop()
        library.engine.dispose()

    # A change must reach every worker within VISIBLE_WITHIN. The "kill -9" sample is no
    # change: it checks that the worker started in place of the killed one, from its first
    # answer, serves the library as it is; its first searches open the index and build the
    # caches, so it gets KILL_GRACE. How long the new process took to serve at all is
    # bounded by READY_WITHIN.
    late = [
        d
        for d in record.delays
        if d[1] > (KILL_GRACE if d[0].startswith("kill -9") else VISIBLE_WITHIN)
    ]
    stray = [
        (round(at - (record.kill_at or 0), 2), what)
        for at, what in record.transport
        if record.kill_at is None or not 0 <= at - record.kill_at <= KILL_GRACE
    ]
    summary = (
        f"{SECONDS:.0f} s, ops {record.ops}, {record.answers} search answers "
        f"(max latency {record.max_latency:.2f} s), worker restarted after "
        f"{record.restarted_after} s, serving after {record.ready_after} s, max visibility delay "
        f"{max(d for _, d in record.delays):.2f} s over {len(record.delays)} changes, "
        f"{len(record.transport)} transport errors ({len(stray)} outside the kill window), "
        f"idle CPU {idle_cpu:.1%} of a core (settled after {settled_after:.1f} s), "
        f"generation {generation_before} -> {generation_after}"
    )
    print(summary)
    assert record.inconsistent == [], f"{summary}\n{record.inconsistent[:20]}"
    assert record.statuses == [], f"{summary}\n{record.statuses[:20]}"
    assert stray == [], f"{summary}\n{stray[:20]}"
    assert late == [], f"{summary}\nlate changes: {late[:20]}"
    assert record.ready_after is not None and record.ready_after < READY_WITHIN, summary
    assert record.flaps == [], f"{summary}\n{record.flaps[:20]}"
    assert listing_problems == {} and not unseen, f"{summary}\n{listing_problems} {unseen}"
    assert idle_cpu < IDLE_CPU_LIMIT, summary
    assert generation_after == generation_before, summary
