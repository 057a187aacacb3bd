"""Related fiches: published fiches close to one (shared themes, activity and words)."""

from __future__ import annotations

import heapq
import logging
from typing import Any

from resource_centre.search.bitsets import from_bits
from resource_centre.search.caches import RESULT_CACHE_SIZE, generation
from resource_centre.search.results import Hit, hit_from_stored, split_words
from resource_centre.search.schema import META_SLUG
from resource_centre.search.textquery import ANALYZER

logger = logging.getLogger(__name__)


def more_like_this(searcher: Any, slug: str, limit: int = 3) -> list[Hit]:
    """Return up to `limit` published fiches close to one (shared themes and words)."""
    try:
        limit = max(1, min(20, int(limit)))
        if not isinstance(slug, str) or slug == META_SLUG:
            return []
        gen = generation(searcher)
        cached = gen.related.get((slug, limit))
        if cached is not None:
            return list(cached)
        docnum = searcher.document_number(slug=slug)
        if docnum is None:
            return []
        stored = searcher.stored_fields(docnum)
        reader = searcher.reader()
        text = f"{stored.get('title', '')} {stored.get('summary', '')}"[:5000]
        stems = {t.text for t in ANALYZER(text)}
        ceiling = max(1, gen.visible_count // 2)
        distinctive = []
        for stem in stems:
            frequency = reader.doc_frequency("body", stem)
            if 1 <= frequency <= ceiling:
                distinctive.append((frequency, stem))
        totals: dict[int, float] = {}
        for _, stem in sorted(distinctive)[:12]:
            for d, score in gen.stem(reader, stem).scores.items():
                totals[d] = totals.get(d, 0.0) + score
        # Each shared theme, and the same activity, weigh a quarter of the best text match.
        bonus = 1.0 + max(totals.values(), default=0.0) / 4
        shared = [("theme", t) for t in split_words(stored.get("theme"))]
        if isinstance(stored.get("activity"), str):
            shared.append(("activity", stored["activity"]))
        for facet, value in shared:
            for d in from_bits(gen.facet_bits[facet].get(value, 0)):
                totals[d] = totals.get(d, 0.0) + bonus
        eligible = [d for d in totals if d in gen.visible_docs and d != docnum]
        best = heapq.nlargest(limit, eligible, key=lambda d: (totals[d], -d))
        hits = [hit_from_stored(searcher.stored_fields(d), totals[d], {}) for d in best]
        with gen.lock:
            gen.related[(slug, limit)] = hits
            while len(gen.related) > RESULT_CACHE_SIZE:
                gen.related.popitem(last=False)
        return list(hits)
    except Exception:  # related fiches are optional: a failure must not break the page
        logger.exception("more_like_this failed for %r", slug)
        return []
