"""Search benchmark: our engine against a naive Whoosh setup and SQLite FTS5, same corpus.

    python bench/search.py WORKDIR [--sizes 1000,10000,100000] [--skip-naive-above N]

For each size, WORKDIR/nN keeps the generated corpus (bench/generate.py), the database and
the indexes between runs; the first run generates and imports (long at 100,000). Printed:

- import time (generate excluded) and full index build time, index size;
- p50/p95 of 30 realistic 1–3 word queries through `search.query.run` (query, all seven
  facet counts, highlights, exact total, page 1): cold (first time each query is asked,
  per-generation caches warm as in a running server), warm (the same again), and page 20;
- publish-to-visible latency: a fiche published by another writer becomes searchable
  through a separate reader whose index follows the journal by polling;
- the same queries on a naive Whoosh index (default MultifieldParser over every text field,
  `groupedby` facets) and on SQLite FTS5 (unicode61 remove_diacritics 2, GROUP BY facets),
  with the ratios to them.
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import sqlite3
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from sqlalchemy import select  # noqa: E402

from resource_centre.corpus import import_corpus  # noqa: E402
from resource_centre.db import make_engine, migrate, read_session, write_session  # noqa: E402
from resource_centre.models import Regie, WriteUp  # noqa: E402
from resource_centre.search import query as search_query  # noqa: E402
from resource_centre.search.analysis import french_analyzer  # noqa: E402
from resource_centre.search.indexer import SearchIndex  # noqa: E402
from resource_centre.search.labels import load_labels  # noqa: E402
from resource_centre.search.schema import markdown_to_text  # noqa: E402
from resource_centre.search.sync import IndexSync  # noqa: E402
from resource_centre.taxonomy import SECTION_KEYS  # noqa: E402
from resource_centre.writeups import count_fiches  # noqa: E402

QUERIES = [
    "laverie", "jardin partagé", "impayés", "bailleur", "habitants", "insertion",
    "encombrants", "médiation", "vélo", "ressourcerie", "mobilité", "numérique",
    "jardin partagé bailleur", "impayés laverie", "chantier d'insertion", "compostage",
    "mobiliser les habitants", "gestion urbaine", "épicerie solidaire", "repair café",
    "NPNRU relogement", "éducation environnement", "concertation", "propreté",
    "tranquillité", "formation encadrants", "modèle économique", "jeunes", "femmes emploi",
    "auto-école sociale",
]  # fmt: skip
FACET_FIELDS = ("theme", "region", "regie", "activity", "audience", "scheme")


def pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


def fmt(values: list[float]) -> str:
    return f"{pct(values, 50):7.1f} / {pct(values, 95):7.1f} ms"


def dir_size(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def prepare(work: Path, count: int) -> tuple[Any, float | None]:
    """Generate and import the corpus once; return the engine and the import time."""
    work.mkdir(parents=True, exist_ok=True)
    corpus = work / "corpus"
    if not (corpus / "taxonomy.yaml").exists():
        subprocess.run(
            [
                sys.executable,
                str(ROOT / "bench" / "generate.py"),
                str(corpus),
                "--count",
                str(count),
            ],
            check=True,
        )
    url = f"sqlite:///{work / 'db.sqlite'}"
    engine = make_engine(url)
    migrate(engine)
    with read_session(engine) as session:
        present = count_fiches(session)
    took = None
    if present < count:
        start = time.perf_counter()
        report = import_corpus(engine, corpus)
        took = time.perf_counter() - start
        assert report.ok, report.problems[:5]
    return engine, took


def body_loader(engine: Any):
    """Plain text of the hits' sections (stored in the database when a fiche is saved)."""

    def load(slugs: list[str]) -> dict[str, str]:
        with read_session(engine) as session:
            rows = session.execute(
                select(WriteUp.slug, WriteUp.plain_text).where(WriteUp.slug.in_(slugs))
            ).all()
        return dict(rows)

    return load


def time_queries(call, requests: list[Any]) -> list[float]:
    times = []
    for request in requests:
        start = time.perf_counter()
        call(request)
        times.append((time.perf_counter() - start) * 1000)
    return times


def bench_ours(engine: Any, work: Path) -> dict[str, Any]:
    index_dir = work / "index"
    shutil.rmtree(index_dir, ignore_errors=True)
    index = SearchIndex(index_dir, engine)
    start = time.perf_counter()
    index.rebuild(procs=min(2, os.cpu_count() or 1))  # as `resource-centre reindex` does
    build = time.perf_counter() - start
    size = dir_size(index.current_dir())
    with read_session(engine) as session:
        labels = load_labels(session)
    searcher = index.searcher()
    search_query.clear_caches()
    search_query.warm_up(searcher)
    load = body_loader(engine)

    def call(request: Any) -> Any:
        return search_query.run(index.searcher(), request, labels=labels, body_text=load)

    cold = time_queries(call, [search_query.SearchRequest(q=q) for q in QUERIES])
    warm = time_queries(call, [search_query.SearchRequest(q=q) for q in QUERIES])
    page20 = time_queries(
        call,
        [search_query.SearchRequest(q=q, page=20) for q in QUERIES[:15]]
        + [
            search_query.SearchRequest(page=20, filters={"theme": [t]})
            for t in list(labels["theme"])[:15]
        ],
    )
    answers = [call(search_query.SearchRequest(q=q)) for q in QUERIES]
    totals = [a.total for a in answers]
    return {"build": build, "size": size, "cold": cold, "warm": warm, "page20": page20,
            "totals": totals, "index": index, "labels": labels,
            "digest": results_digest(answers)}  # fmt: skip


def results_digest(answers: list[Any]) -> str:
    """A short fingerprint of what the queries answered (totals, hits in order, highlights,
    facet counts, suggestion): equal digests mean the same results, before and after a change."""
    import hashlib
    import json

    def plain(a: Any) -> Any:
        return {
            "total": a.total,
            "hits": [(h.slug, h.highlights) for h in a.hits],
            "facets": {k: [(v.value, v.count) for v in vs] for k, vs in sorted(a.facets.items())},
            "suggestion": a.suggestion,
        }

    text = json.dumps([plain(a) for a in answers], sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def bench_publish(
    engine: Any, work: Path, index: SearchIndex, labels: Any, rounds: int = 20
) -> list[float]:
    """A writer commits; a reader following the journal by polling finds the fiche."""
    sync = IndexSync(index, poll_seconds=0.1)
    sync.start()
    reader = SearchIndex(index.root, engine)
    with read_session(engine) as session:
        candidates = list(
            session.execute(
                # Unpublished fiches first (publications); on a later run, edits of published ones.
                select(WriteUp.slug)
                .order_by(WriteUp.status == "published", WriteUp.id)
                .limit(rounds)
            ).scalars()
        )
    latencies = []
    try:
        run_id = int(time.time())
        for n, slug in enumerate(candidates):
            token = f"zqpub{run_id}n{n}x"
            with write_session(engine) as session:
                writeup = session.execute(select(WriteUp).where(WriteUp.slug == slug)).scalar_one()
                writeup.title = f"{writeup.title} {token}"
                writeup.status = "published"
                if writeup.published_at is None:
                    from datetime import date

                    writeup.published_at = date(2026, 11, 1)
            committed = time.perf_counter()
            while True:
                results = search_query.run(
                    reader.searcher(), search_query.SearchRequest(q=token), labels=labels
                )
                if results.total:
                    break
                if time.perf_counter() - committed > 10:
                    raise RuntimeError("not visible after 10 s")
                time.sleep(0.01)
            latencies.append((time.perf_counter() - committed) * 1000)
    finally:
        sync.stop()
    return latencies


def bench_naive(engine: Any, work: Path) -> dict[str, Any]:
    from whoosh import index as whoosh_index
    from whoosh.fields import ID, KEYWORD, NUMERIC, TEXT, Schema
    from whoosh.qparser import MultifieldParser
    from whoosh.sorting import FieldFacet

    path = work / "naive"
    shutil.rmtree(path, ignore_errors=True)
    path.mkdir()
    analyzer = french_analyzer()
    text_fields = ["title", "summary", *SECTION_KEYS]
    schema = Schema(
        slug=ID(stored=True, unique=True),
        **{f: TEXT(analyzer=analyzer, stored=f in ("title", "summary")) for f in text_fields},
        theme=KEYWORD(stored=True, commas=True), audience=KEYWORD(stored=True, commas=True),
        scheme=KEYWORD(stored=True, commas=True), region=ID(stored=True), regie=ID(stored=True),
        activity=ID(stored=True), year_start=NUMERIC(stored=True),
    )  # fmt: skip
    ix = whoosh_index.create_in(str(path), schema)
    start = time.perf_counter()
    writer = ix.writer(limitmb=256)
    with read_session(engine) as session:
        regies = {r.id: r for r in session.execute(select(Regie)).scalars()}
        for w in session.execute(select(WriteUp).where(WriteUp.status == "published")).scalars():
            regie = regies.get(w.regie_id)
            doc = {"slug": w.slug, "title": w.title, "summary": w.summary,
                   "theme": ",".join(w.themes), "audience": ",".join(w.audiences),
                   "scheme": ",".join(w.schemes), "region": regie.region if regie else "",
                   "regie": regie.slug if regie else "", "activity": w.activity or "",
                   "year_start": w.year_start or 0}  # fmt: skip
            for key in SECTION_KEYS:
                doc[key] = markdown_to_text(w.sections.get(key, ""))
            writer.add_document(**doc)
    writer.commit()
    build = time.perf_counter() - start
    parser = MultifieldParser(text_fields, schema)
    facets = {
        name: FieldFacet(name, allow_overlap=name in ("theme", "audience", "scheme"))
        for name in FACET_FIELDS
    }
    facets["year"] = FieldFacet("year_start")
    searcher = ix.searcher()

    def call(q: str) -> int:
        results = searcher.search(parser.parse(q), limit=20, groupedby=facets)
        for name in facets:
            results.groups(name)
        for hit in results[:20]:
            hit.highlights("summary")
        return len(results)

    cold = time_queries(call, QUERIES)
    searcher.close()
    return {"build": build, "size": dir_size(path), "cold": cold}


def bench_fts5(engine: Any, work: Path) -> dict[str, Any]:
    path = work / "fts.sqlite"
    path.unlink(missing_ok=True)
    db = sqlite3.connect(path)
    db.execute(
        "CREATE VIRTUAL TABLE fts USING fts5(title, summary, body, tokenize='unicode61 remove_diacritics 2')"
    )
    db.execute("CREATE TABLE facet (doc INTEGER, name TEXT, value TEXT)")
    start = time.perf_counter()
    with read_session(engine) as session:
        regies = {r.id: r for r in session.execute(select(Regie)).scalars()}
        for w in session.execute(select(WriteUp).where(WriteUp.status == "published")).scalars():
            body = "\n".join(markdown_to_text(w.sections.get(k, "")) for k in SECTION_KEYS)
            db.execute(
                "INSERT INTO fts(rowid, title, summary, body) VALUES (?, ?, ?, ?)",
                (w.id, w.title, w.summary, body),
            )
            regie = regies.get(w.regie_id)
            rows = [("theme", t) for t in w.themes] + [("audience", a) for a in w.audiences]
            rows += [("scheme", s) for s in w.schemes] + [("activity", w.activity or "")]
            if regie:
                rows += [("region", regie.region), ("regie", regie.slug)]
            rows.append(("year", str(w.year_start)))
            db.executemany("INSERT INTO facet VALUES (?, ?, ?)", [(w.id, n, v) for n, v in rows])
    db.execute("CREATE INDEX facet_doc ON facet (doc, name, value)")
    db.commit()
    build = time.perf_counter() - start

    def match(q: str) -> str:
        words = [
            w for w in q.replace("'", " ").replace("’", " ").replace("-", " ").split() if len(w) > 1
        ]
        return " AND ".join(f'"{w}"' for w in words)

    def call(q: str) -> int:
        expr = match(q)
        total = db.execute("SELECT count(*) FROM fts WHERE fts MATCH ?", (expr,)).fetchone()[0]
        db.execute(
            "SELECT rowid, snippet(fts, 2, '<mark>', '</mark>', '…', 12) FROM fts WHERE fts MATCH ? "
            "ORDER BY bm25(fts, 3.0, 1.6, 1.0) LIMIT 20", (expr,),
        ).fetchall()  # fmt: skip
        db.execute(
            "SELECT name, value, count(*) FROM facet WHERE doc IN "
            "(SELECT rowid FROM fts WHERE fts MATCH ?) GROUP BY name, value", (expr,),
        ).fetchall()  # fmt: skip
        return total

    cold = time_queries(call, QUERIES)
    db.close()
    return {"build": build, "size": path.stat().st_size, "cold": cold}


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("workdir", type=Path)
    parser.add_argument("--sizes", default="1000,10000,100000")
    parser.add_argument("--skip-naive-above", type=int, default=10**9)
    args = parser.parse_args()
    print(
        f"Machine: {platform.platform()}, {os.cpu_count()} cores, Python {platform.python_version()}"
    )
    for count in (int(s) for s in args.sizes.split(",")):
        work = args.workdir / f"n{count}"
        print(f"\n=== {count:,} fiches ===".replace(",", " "), flush=True)
        engine, imported = prepare(work, count)
        with read_session(engine) as session:
            published = count_fiches(session, status="published")
        if imported is not None:
            print(f"import: {imported:.1f} s ({count / imported:.0f} fiches/s)")
        ours = bench_ours(engine, work)
        print(f"ours:  build {ours['build']:.1f} s for {published} published fiches "
              f"({published / ours['build']:.0f}/s), index {ours['size'] / 1e6:.0f} MB")  # fmt: skip
        print(
            f"ours:  cold p50/p95 {fmt(ours['cold'])} | warm {fmt(ours['warm'])} | page 20 {fmt(ours['page20'])}",
            flush=True,
        )
        latencies = bench_publish(engine, work, ours["index"], ours["labels"])
        print(f"ours:  publish → visible p50/p95 {fmt(latencies)}", flush=True)
        fts = bench_fts5(engine, work)
        print(
            f"fts5:  build {fts['build']:.1f} s, {fts['size'] / 1e6:.0f} MB | p50/p95 {fmt(fts['cold'])}",
            flush=True,
        )
        ratio = pct(ours["cold"], 95) / max(pct(fts["cold"], 95), 1e-9)
        print(f"ratio: ours cold p95 / FTS5 p95 = {ratio:.2f}", flush=True)
        if count <= args.skip_naive_above:
            naive = bench_naive(engine, work)
            print(
                f"naive: build {naive['build']:.1f} s, {naive['size'] / 1e6:.0f} MB | p50/p95 {fmt(naive['cold'])}"
            )
            print(f"ratio: naive cold p95 / ours cold p95 = {pct(naive['cold'], 95) / pct(ours['cold'], 95):.1f}x; "
                  f"build naive / ours = {naive['build'] / ours['build']:.1f}x", flush=True)  # fmt: skip
        print(f"median hits per query: {statistics.median(ours['totals']):.0f}")
        print(f"results digest (30 queries, page 1): {ours['digest']}")
        engine.dispose()


if __name__ == "__main__":
    main()
