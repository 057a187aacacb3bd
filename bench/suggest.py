"""Search-as-you-type over HTTP: `/api/suggest` against a real `resource-centre serve`.

    python bench/suggest.py WORKDIR [--count 10000] [--workers 1] [--reuse] [--reindex]

Makes (or with `--reuse`, takes over) the library of `bench/outside.py` in WORKDIR/lib-N
(corpus from bench/generate.py, CLI `init` and `import`), starts `serve --workers W` on
127.0.0.1, waits until every worker's index has applied the journal, then asks, over one
keep-alive connection, the texts a user sends while typing: each word start of 2 letters or
more of the 30 queries of bench/search.py, whole words included ("la", "lav", "lave",
"laver", …; "jardin p", "jardin pa", … for the following words), plus 20 starts of fiche
titles of the library. Each text is asked once (cold: the first time this server sees it),
then the whole series again (warm). Prints p50 / p95 / max of each, the first request (sent
as soon as the server answers: it may wait for the caches the sync thread builds at start),
the answers' sizes and the target (p95 ≤ 30 ms at 10,000 fiches).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import urllib.parse
from pathlib import Path

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH))  # bench/ is not a package

from outside import (  # noqa: E402
    Client,
    Serve,
    cli,
    connect_to,
    ensure_corpus,
    import_until_searchable,
    library,
    machine,
    wait_caught_up,
)
from search import QUERIES, pct  # noqa: E402

TARGET_P95_MS = 30.0


def typed_texts(queries: list[str]) -> list[str]:
    """What a user's box holds while typing each query: every start of 2 letters or more."""
    texts: list[str] = []
    for query in queries:
        for end in range(2, len(query) + 1):
            text = query[:end]
            if text[-1] != " " and text not in texts:
                texts.append(text)
    return texts


def title_starts(client: Client, count: int) -> list[str]:
    """Starts of real titles (their second word's first 4 letters: "une lave")."""
    status, body, _ = client.get("/api/writeups?sort=title&page_size=100")
    if status != 200:
        raise SystemExit(f"/api/writeups : HTTP {status}")
    starts: list[str] = []
    for hit in json.loads(body)["data"]:
        words = hit["title"].split()
        text = " ".join(words[:1] + [w[:4] for w in words[1:2]])
        if len(text) >= 2 and text not in starts:
            starts.append(text)
    return starts[:count]


def series(client: Client, texts: list[str]) -> tuple[list[float], list[int], list[int]]:
    """Time each text once; also the answers' sizes and suggestion counts."""
    times, sizes, counts = [], [], []
    for text in texts:
        status, body, ms = client.get("/api/suggest?" + urllib.parse.urlencode({"q": text}))
        if status != 200:
            raise SystemExit(f"/api/suggest?q={text!r} : HTTP {status}")
        times.append(ms)
        sizes.append(len(body))
        counts.append(len(json.loads(body)["data"]))
    return times, sizes, counts


def show(values: list[float]) -> str:
    return f"p50 {pct(values, 50):.1f} / p95 {pct(values, 95):.1f} / max {max(values):.1f} ms"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("workdir", type=Path)
    parser.add_argument("--count", type=int, default=10_000, help="nombre de fiches")
    parser.add_argument("--workers", type=int, default=1, help="processus de serve")
    parser.add_argument("--reuse", action="store_true", help="reprendre la bibliothèque")
    parser.add_argument("--reindex", action="store_true",
                        help="reconstruire l'index d'abord (bibliothèque reprise d'une autre "
                        "version du schéma : serve le reconstruirait au démarrage)")  # fmt: skip
    args = parser.parse_args(argv)
    workdir = args.workdir.resolve()
    workdir.mkdir(parents=True, exist_ok=True)
    print(f"Machine : {machine()}", flush=True)
    corpus = ensure_corpus(workdir, args.count)
    lib, env = library(workdir, args.count, fresh=not args.reuse)
    if not args.reuse or not (lib / "db.sqlite").exists():
        lib, env = library(workdir, args.count, fresh=True)
        print(f"Bibliothèque neuve dans {lib} : init, import…", flush=True)
        setup = import_until_searchable(env, lib, corpus)
        print(f"  {int(setup['published'])} fiches publiées", flush=True)
    if args.reindex:
        print(f"  reindex {cli(env, 'reindex'):.1f} s", flush=True)
    server = Serve(env, args.workers, lib / "server-suggest.log")
    started = time.perf_counter()
    try:
        server.start()
        pids = wait_caught_up(server)
        print(f"serve --workers {args.workers} prêt en {time.perf_counter() - started:.1f} s "
              f"(processus {pids})", flush=True)  # fmt: skip
        client = connect_to(server.port, pids[0])
        texts = typed_texts(QUERIES) + title_starts(client, 20)
        first = series(client, texts[:1])[0][0]
        cold, sizes, counts = series(client, texts[1:])
        warm, _, _ = series(client, texts[1:])
        client.close()
    finally:
        server.stop()
    empty = sum(1 for n in counts if n == 0)
    print(f"{len(texts) - 1} textes ; le premier, {texts[0]!r}, dès le serveur prêt : {first:.1f} ms "
          "(il attend les caches de l'index que le fil de synchronisation prépare au démarrage)")  # fmt: skip
    print(f"  réponses : {pct(counts, 50)} suggestions en médiane, {empty} vides, "
          f"{pct(sizes, 50)} octets en médiane, {max(sizes)} au plus")  # fmt: skip
    print(f"  froid {show(cold)}")
    print(f"  chaud {show(warm)}")
    met = pct(cold, 95) <= TARGET_P95_MS and pct(warm, 95) <= TARGET_P95_MS
    print(f"Objectif p95 ≤ {TARGET_P95_MS:.0f} ms : {'atteint' if met else 'MANQUÉ'}")
    return 0 if met else 1


if __name__ == "__main__":
    sys.exit(main())
