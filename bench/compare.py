"""Compare two checkouts on the same index: same results for the 30 bench queries, cold times.

    python bench/compare.py OLD_TREE NEW_TREE WORKDIR/n10000 [--rounds 5]

`WORKDIR/n10000` is a folder made by `bench/search.py` (its `db.sqlite` and `index/`). Each
round runs each tree in its own process (the tree's own `resource_centre` package first on
the path): empty caches, the generation warmed as a server does, then the 30 queries of
`bench/search.py` once each (cold). Printed: p50/p95 per round and tree, the median p95 of
each tree, and whether every answer (totals, hits in order with scores and highlights, facet
counts, suggestion, notices) is identical. Rebuilding an index numbers documents in another
order, which reorders tied results: that is why both trees read one index here, and why the
digest printed by `bench/search.py` differs from one build to the next.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
from pathlib import Path

ONE_RUN = r"""
import hashlib, importlib.util, json, os, statistics, sys, time
root, work = sys.argv[1], sys.argv[2]
sys.path.insert(0, root)
spec = importlib.util.spec_from_file_location("bench_search", os.path.join(root, "bench", "search.py"))
bench = importlib.util.module_from_spec(spec)
spec.loader.exec_module(bench)
from resource_centre.db import make_engine, read_session
from resource_centre.search.indexer import SearchIndex
from resource_centre.search.labels import load_labels
engine = make_engine("sqlite:///" + os.path.join(work, "db.sqlite"))
index = SearchIndex(os.path.join(work, "index"), engine)
with read_session(engine) as session:
    labels = load_labels(session)
bodies = bench.body_loader(engine)
sq = bench.search_query
sq.clear_caches()
sq.warm_up(index.searcher())
times, answers = [], []
for q in bench.QUERIES:
    start = time.perf_counter()
    answers.append(sq.run(index.searcher(), sq.SearchRequest(q=q), labels=labels, body_text=bodies))
    times.append((time.perf_counter() - start) * 1000)
plain = [{"total": a.total, "notices": a.notices, "suggestion": a.suggestion,
          "hits": [(h.slug, h.highlights, round(h.score or 0, 9)) for h in a.hits],
          "facets": {k: [(v.value, v.count) for v in vs] for k, vs in sorted(a.facets.items())}}
         for a in answers]
text = json.dumps(plain, sort_keys=True, default=str)
print(json.dumps({"p50": statistics.median(times), "p95": statistics.quantiles(times, n=20)[18],
                  "digest": hashlib.sha256(text.encode()).hexdigest()[:16]}))
"""


def run_once(tree: Path, work: Path) -> dict[str, float | str]:
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    out = subprocess.run(
        [sys.executable, "-c", ONE_RUN, str(tree), str(work)],
        cwd=tree, env=env, check=True, capture_output=True, text=True,
    )  # fmt: skip
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("old", type=Path)
    parser.add_argument("new", type=Path)
    parser.add_argument("work", type=Path)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    p95: dict[str, list[float]] = {"old": [], "new": []}
    digests: set[str] = set()
    for n in range(1, args.rounds + 1):
        for name, tree in (("old", args.old), ("new", args.new)):
            figures = run_once(tree.resolve(), args.work.resolve())
            p95[name].append(float(figures["p95"]))
            digests.add(str(figures["digest"]))
            print(f"round {n} {name}: cold p50 {figures['p50']:.1f} ms, "
                  f"p95 {figures['p95']:.1f} ms, answers {figures['digest']}")  # fmt: skip
    old, new = statistics.median(p95["old"]), statistics.median(p95["new"])
    print(f"median cold p95: old {old:.1f} ms, new {new:.1f} ms ({(new / old - 1) * 100:+.1f} %)")
    print("same answers" if len(digests) == 1 else f"ANSWERS DIFFER: {sorted(digests)}")
    if len(digests) != 1:
        sys.exit(1)


if __name__ == "__main__":
    main()
