"""Benchmark of the library's HTML pages: server time and compressed weight.

    python bench/pages.py WORKDIR [--count 10000] [--rounds 30]

WORKDIR keeps the generated corpus, the database and the index between runs (the first
run generates `--count` fiches with bench/generate.py and imports them: a few minutes for
10,000). Then each page of a mix of library URLs is requested `--rounds` times in-process
(Starlette's TestClient: no network, so the time is the server's) and the script prints
p50/p95 per page, the gzip size of each page, and of the CSS and JavaScript.

Targets (issue "public library"): `/fiches` with facets at 10,000 fiches p95 <= 80 ms;
page weight <= 60 KB compressed without images; CSS + JS <= 30 KB compressed.
"""

from __future__ import annotations

import argparse
import gzip
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from starlette.testclient import TestClient  # noqa: E402

from resource_centre.config import Settings  # noqa: E402
from resource_centre.corpus import import_corpus  # noqa: E402
from resource_centre.db import make_engine, migrate  # noqa: E402
from resource_centre.web.app import create_app  # noqa: E402
from resource_centre.writeups import count_fiches  # noqa: E402

PAGES = {
    "library": "/fiches",
    "library, page 3": "/fiches?page=3",
    "text": "/fiches?q=laverie+solidaire",
    "text + 2 facets": "/fiches?q=habitants&theme=insertion-emploi&theme=lien-social",
    "facets + years": "/fiches?region=ile-de-france&audience=jeunes&year_min=2018",
    "text, by title": "/fiches?q=jardin&sort=title",
    "no result": "/fiches?q=zzqxwv&theme=mobilite",
    "home": "/",
}
# Each asked once: the search layer caches results per index generation, so repeating one
# URL mostly measures the cache; these measure first-time searches.
WORDS = [
    "laverie",
    "jardin",
    "impayés",
    "bailleur",
    "habitants",
    "insertion",
    "encombrants",
    "médiation",
    "vélo",
    "recyclerie",
    "mobilité",
    "numérique",
    "école",
    "compostage",
    "tranquillité",
    "gardiennage",
    "peinture",
    "chantier",
    "formation",
    "gouvernance",
    "concertation",
    "épicerie",
    "alimentation",
    "énergie",
    "transport",
    "jeunes",
    "femmes",
    "seniors",
    "familles",
    "salariés",
]


def prepare(workdir: Path, count: int) -> Settings:
    knowledge = workdir / "knowledge"
    if not (knowledge / "fiches").is_dir():
        print(f"Génération de {count} fiches…", flush=True)
        subprocess.run(
            [sys.executable, str(ROOT / "bench" / "generate.py"), str(knowledge),
             "--count", str(count)],
            check=True,
        )  # fmt: skip
    settings = Settings(
        database_url=f"sqlite:///{workdir / 'bench.db'}",
        index_dir=workdir / "index",
        data_dir=workdir / "data",
        knowledge_dir=knowledge,
    )
    engine = make_engine(settings.database_url)
    migrate(engine)
    from resource_centre.db import read_session

    with read_session(engine) as session:
        empty = count_fiches(session) == 0
    if empty:
        print("Import (et construction de l'index)…", flush=True)
        started = time.perf_counter()
        report = import_corpus(engine, knowledge)
        print(f"  {len(report.problems)} problème(s), {time.perf_counter() - started:.0f} s")
    engine.dispose()
    return settings


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("workdir", type=Path)
    parser.add_argument("--count", type=int, default=10_000)
    parser.add_argument("--rounds", type=int, default=30)
    args = parser.parse_args()
    args.workdir.mkdir(parents=True, exist_ok=True)
    settings = prepare(args.workdir, args.count)
    app = create_app(settings)
    with TestClient(app) as client:
        started = time.perf_counter()
        while app.state.index.catch_up(timeout=60):  # the first start builds the index
            pass
        print(f"Index prêt ({time.perf_counter() - started:.0f} s)")
        total = client.get("/api/writeups?page_size=1").json()["total"]
        print(f"{total} fiches publiées\n")
        print("| page | p50 ms | p95 ms | HTML gzip Ko |")
        print("| --- | ---: | ---: | ---: |")
        for name, url in PAGES.items():
            client.get(url)  # warm: searcher caches, templates
            times = []
            for _ in range(args.rounds):
                begin = time.perf_counter()
                response = client.get(url)
                times.append((time.perf_counter() - begin) * 1000)
                assert response.status_code == 200, (url, response.status_code)
            weight = len(gzip.compress(response.content)) / 1000
            print(
                f"| {name} (`{url}`) | {statistics.median(times):.1f} | "
                f"{percentile(times, 95):.1f} | {weight:.1f} |"
            )
        times = []
        for i, word in enumerate(WORDS):
            url = f"/fiches?q={word}&theme=insertion-emploi&region=ile-de-france&page={1 + i % 2}"
            begin = time.perf_counter()
            response = client.get(url)
            times.append((time.perf_counter() - begin) * 1000)
            assert response.status_code == 200, url
        print(
            f"| text + 2 facets, first time ({len(WORDS)} words) | "
            f"{statistics.median(times):.1f} | {percentile(times, 95):.1f} | |"
        )
        assets = sum(
            len(gzip.compress(client.get(f"/static/{name}").content))
            for name in ("site.css", "site.js")
        )
        print(f"\nCSS + JS : {assets / 1000:.1f} Ko compressés")


if __name__ == "__main__":
    main()
