"""Search in one section (issue 13, part 6): the `section` parameter, the index's `sections`
field, matching limited to sections, and where each hit was found (`matched_sections`),
on a real Whoosh index of a small in-memory library."""

from __future__ import annotations

import sys
from collections.abc import Mapping
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from resource_centre.models import WriteUp
from resource_centre.search import caches
from resource_centre.search.analysis import folded_words, index_terms
from resource_centre.search.highlight import hits
from resource_centre.search.query import run
from resource_centre.search.request import (
    SEARCHABLE_SECTIONS,
    SearchRequest,
    request_from_params,
)
from resource_centre.search.results import Hit
from resource_centre.search.schema import (
    SCHEMA_VERSION,
    document_from,
    markdown_to_text,
    section_terms,
    section_words,
    words_may_change,
)
from resource_centre.search.textquery import stem
from resource_centre.taxonomy import SECTION_KEYS

ROOT = Path(__file__).resolve().parents[2]
KNOWLEDGE = ROOT / "knowledge" / "fiches"


# --- the parameter ---------------------------------------------------------------------------


def parse(*pairs: tuple[str, str]) -> SearchRequest:
    params: dict[str, list[str]] = {}
    for name, value in pairs:
        params.setdefault(name, []).append(value)
    return request_from_params(params, {})


def test_searchable_sections_are_the_fiche_sections_and_residents() -> None:
    assert SEARCHABLE_SECTIONS[: len(SECTION_KEYS)] == SECTION_KEYS
    assert "residents" in SEARCHABLE_SECTIONS and "lessons" in SEARCHABLE_SECTIONS
    assert len(set(SEARCHABLE_SECTIONS)) == len(SEARCHABLE_SECTIONS) == 8


def test_section_parameter_is_repeatable_ordered_and_deduplicated() -> None:
    request = parse(
        ("q", "impayés"), ("section", "lessons"), ("section", " Context "),
        ("section", "lessons"), ("section", "residents"),
    )  # fmt: skip
    assert request.sections == ("context", "residents", "lessons")  # the fiche's order
    assert request.notices == []
    assert parse(("q", "x")).sections == ()


@pytest.mark.parametrize(
    "value",
    ["enseignements", "lessons\x00", "\x00", "123456789012345678901234567890", "lesson", "*"],
)
def test_unknown_section_is_ignored_with_a_french_notice(value: str) -> None:
    request = parse(("q", "impayés"), ("section", value), ("section", "lessons"))
    assert request.sections == ("lessons",)
    assert len(request.notices) == 1
    notice = request.notices[0]
    assert "n’existe pas" in notice and "lessons" in notice
    assert "\x00" not in notice


def test_blank_section_values_are_ignored_silently() -> None:
    request = parse(("section", ""), ("section", "   "))
    assert request.sections == () and request.notices == []


def test_many_unknown_sections_give_a_few_notices() -> None:
    request = parse(*[("section", f"inconnue{i}") for i in range(5000)], ("section", "method"))
    assert request.sections == ("method",)
    assert len(request.notices) == 4
    assert request.notices[-1] == "4997 autres sections inconnues sont ignorées."


@pytest.mark.parametrize(
    "given, kept",
    [
        (("lessons", "context", "lessons"), ("context", "lessons")),
        (["transfer", "nope", 3, None], ("transfer",)),
        ("lessons", ("lessons",)),
        (None, ()),
        (42, ()),
        ({"results": 1}, ("results",)),
    ],
)
def test_hand_built_request_keeps_known_sections_only(given: Any, kept: tuple[str, ...]) -> None:
    assert SearchRequest(q="x", sections=given).sections == kept


# --- the index field -------------------------------------------------------------------------


def tokens(writeup: WriteUp) -> set[str]:
    return set(document_from(writeup, None, {}).get("sections", []))


def test_sections_field_holds_the_stems_of_each_section() -> None:
    writeup = WriteUp(
        slug="f",
        title="Titre sans rapport",
        sections={
            "context": "## Le quartier\nLes habitants n'avaient **pas** de machine à laver.",
            "method": "1. Étude\n2. Ouverture avec le [bailleur](https://example.org/x_y)",
            "lessons": "Les impayés ont failli tout arrêter : prévoir une trésorerie.",
        },
    )
    found = tokens(writeup)
    assert {"context:habit", "context:machin", "context:quarti"} <= found
    assert {f"lessons:{stem('impayés')}", f"lessons:{stem('trésorerie')}"} <= found
    assert f"method:{stem('bailleur')}" in found
    # Markdown syntax is not text: no link target, list number or emphasis.
    assert not {t for t in found if t.split(":")[1] in ("https", "example", "org", "1", "2")}
    # Stop words are not index terms; the title is in no section.
    assert "lessons:les" not in found and not {t for t in found if t.endswith(":titr")}
    assert {t.split(":")[0] for t in found} == {"context", "method", "lessons"}
    assert SCHEMA_VERSION >= 3  # the field came with version 3


def test_sections_field_of_a_fiche_without_sections_is_absent() -> None:
    assert "sections" not in document_from(WriteUp(slug="vide", title="Vide"), None, {})


def test_residents_section_is_indexed_when_a_fiche_has_it() -> None:
    writeup = WriteUp(slug="r", title="R", sections={"residents": "Un comité d'habitants."})
    assert f"residents:{stem('comité')}" in tokens(writeup)


def plain_terms(markdown: str) -> set[str]:
    return set(index_terms(folded_words(markdown_to_text(markdown))))


def demo_sections() -> list[str]:
    texts = []
    for path in sorted(KNOWLEDGE.glob("*.md")):
        texts += path.read_text(encoding="utf-8").split("\n## ")[1:]
    return texts


def test_section_words_are_those_of_the_plain_text_on_the_demo_corpus() -> None:
    texts = demo_sections()
    assert len(texts) > 200
    assert any(words_may_change(t) for t in texts) and not all(words_may_change(t) for t in texts)
    for text in texts:
        assert set(index_terms(section_words(text))) == plain_terms(text), text[:80]


def test_section_words_are_those_of_the_plain_text_on_generated_fiches() -> None:
    sys.path.insert(0, str(ROOT / "bench"))
    try:
        from generate import build_fiche, fiche_rng  # type: ignore[import-not-found]
    finally:
        sys.path.remove(str(ROOT / "bench"))
    for i in range(60):
        for text in build_fiche(i, fiche_rng(7, i)).sections.values():
            assert set(index_terms(section_words(text))) == plain_terms(text)


CHARS = list("ab éÉ12.)\t #>-*+=|\\:'’[]()<>&_`~!\"/;")
# Line starts that Markdown → text treats specially (headings, quotes, lists, rules…).
LINE_STARTS = [
    "",
    "  ",
    "# ",
    "## 1. ",
    "> ",
    "> 2) ",
    ">> ",
    "- ",
    "* ",
    "1. ",
    " 12) ",
    "---",
    "===",
]
MARKDOWNISH = st.lists(
    st.tuples(
        st.sampled_from(LINE_STARTS),
        st.text(alphabet=st.sampled_from(CHARS), max_size=30),
        st.sampled_from(["\n", "\r\n", "\r", "\n\n"]),
    ),
    max_size=6,
).map(lambda lines: "".join(start + text + end for start, text, end in lines))


@settings(max_examples=500, deadline=None, suppress_health_check=list(HealthCheck))
@given(text=MARKDOWNISH)
def test_section_words_match_the_plain_text_on_any_markdown(text: str) -> None:
    assert set(index_terms(section_words(text))) == plain_terms(text)


# --- matching and matched sections ------------------------------------------------------------


def _fiche(slug: str, title: str, sections: dict[str, str], day: int) -> WriteUp:
    return WriteUp(
        slug=slug,
        title=title,
        summary=f"Résumé de {title}.",
        regie_id=1,
        themes=["lien-social"],
        audiences=["habitants"],
        schemes=[],
        partners=[],
        status="published",
        published_at=date(2024, 1, day),
        sections=sections,
    )


FICHES = [
    _fiche(
        "compost-partout",
        "Composteurs collectifs",
        {
            "context": "Les poubelles débordaient ; le zorglub était inconnu ici.",
            "method": "Trois composteurs posés avec le bailleur, un maître composteur formé.",
            "lessons": "Sans référent, le compost pourrit : le zorglub aide à tenir.",
        },
        1,
    ),
    _fiche(
        "zorglub-contexte",
        "Une fiche sur le contexte",
        {"context": "Le zorglub est né dans ce quartier.", "lessons": "Patience et écoute."},
        2,
    ),
    _fiche(
        "lecons-seulement",
        "Leçons",
        {"method": "Réunions mensuelles.", "lessons": "La trésorerie quotidienne compte."},
        3,
    ),
]
TEXTS = {f.slug: {k: markdown_to_text(v) for k, v in f.sections.items()} for f in FICHES}


class SectionBodies:
    """The plain text of the fiches above, whole or by section (like DatabaseBodies)."""

    def __init__(self) -> None:
        self.asked: list[Mapping[str, str]] = []

    def __call__(self, slugs: list[str]) -> dict[str, str]:
        return {s: "\n\n".join(TEXTS[s].values()) for s in slugs if s in TEXTS}

    def sections(self, wanted: Mapping[str, str]) -> dict[str, str]:
        self.asked.append(dict(wanted))
        return {s: TEXTS[s][k] for s, k in wanted.items() if k in TEXTS.get(s, {})}


@pytest.fixture(scope="module")
def small(tmp_path_factory: pytest.TempPathFactory, corpus: Any) -> Any:
    ix = corpus.build_index(tmp_path_factory.mktemp("sections"), FICHES)
    searcher = ix.searcher()
    yield searcher
    searcher.close()


def search(searcher: Any, corpus: Any, q: str, *sections: str, bodies: Any = None) -> list[Hit]:
    request = SearchRequest(q=q, sections=sections)
    results = run(searcher, request, labels=corpus.LABELS, body_text=bodies)
    assert not [n for n in results.notices if "n’a pas pu aboutir" in n]
    return results.hits


def test_a_word_only_in_the_lessons_is_found_in_the_lessons(small: Any, corpus: Any) -> None:
    assert [h.slug for h in search(small, corpus, "trésorerie", "lessons")] == ["lecons-seulement"]
    assert search(small, corpus, "trésorerie", "context") == []


def test_a_word_only_in_the_context_is_not_found_in_the_lessons(small: Any, corpus: Any) -> None:
    assert search(small, corpus, "poubelles", "lessons") == []
    assert [h.slug for h in search(small, corpus, "poubelles", "context")] == ["compost-partout"]
    assert [h.slug for h in search(small, corpus, "poubelles")] == ["compost-partout"]


def test_several_sections_are_ored(small: Any, corpus: Any) -> None:
    found = {h.slug for h in search(small, corpus, "zorglub", "lessons")}
    assert found == {"compost-partout"}
    found = {h.slug for h in search(small, corpus, "zorglub", "lessons", "context")}
    assert found == {"compost-partout", "zorglub-contexte"}


def test_titles_are_not_a_section(small: Any, corpus: Any) -> None:
    assert [h.slug for h in search(small, corpus, "leçons")] == ["lecons-seulement"]
    assert search(small, corpus, "leçons", "lessons") == []


def test_hits_say_where_the_words_were_found(small: Any, corpus: Any) -> None:
    by_slug = {h.slug: h for h in search(small, corpus, "zorglub composteur")}
    assert by_slug["compost-partout"].matched_sections == ["context", "method", "lessons"]
    by_slug = {h.slug: h for h in search(small, corpus, "zorglub")}
    assert by_slug["compost-partout"].matched_sections == ["context", "lessons"]
    assert by_slug["zorglub-contexte"].matched_sections == ["context"]
    assert all(h.kind == "fiche" for h in by_slug.values())
    # No text, nothing matched.
    assert all(h.matched_sections == [] for h in search(small, corpus, ""))


def test_matched_sections_are_limited_to_the_searched_ones(small: Any, corpus: Any) -> None:
    (hit,) = search(small, corpus, "zorglub", "lessons")
    assert hit.matched_sections == ["lessons"]


def test_the_body_extract_comes_from_the_first_matched_section(small: Any, corpus: Any) -> None:
    bodies = SectionBodies()
    by_slug = {h.slug: h for h in search(small, corpus, "zorglub", bodies=bodies)}
    assert by_slug["compost-partout"].highlights["body"] == (
        "Les poubelles débordaient ; le <mark>zorglub</mark> était inconnu ici."
    )
    assert bodies.asked == [{"compost-partout": "context", "zorglub-contexte": "context"}]
    (hit,) = search(small, corpus, "zorglub", "lessons", bodies=SectionBodies())
    assert hit.highlights["body"] == (
        "Sans référent, le compost pourrit : le <mark>zorglub</mark> aide à tenir."
    )


def test_hits_built_directly_with_a_section_filter(small: Any) -> None:
    """`highlight.hits` on its own: matched sections and extracts, without `query.run`."""
    gen = caches.generation(small)
    ranked = [(d, 1.0) for d in range(small.doc_count_all()) if gen.visible >> d & 1]
    ranked = [(d, s) for d, s in ranked if small.stored_fields(d).get("kind") == "fiche"]
    stems = [stem("zorglub"), stem("composteurs")]
    cards = {h.slug: h for h in hits(small, gen, ranked, stems, SectionBodies())}
    assert cards["compost-partout"].matched_sections == ["context", "method", "lessons"]
    assert cards["zorglub-contexte"].matched_sections == ["context"]
    assert cards["lecons-seulement"].matched_sections == []
    assert "body" not in cards["lecons-seulement"].highlights
    limited = {
        h.slug: h for h in hits(small, gen, ranked, stems, SectionBodies(), sections=("method",))
    }
    assert limited["compost-partout"].matched_sections == ["method"]
    assert "<mark>composteurs</mark>" in limited["compost-partout"].highlights["body"]
    assert limited["zorglub-contexte"].matched_sections == []


def test_plain_fiche_bodies_still_give_whole_text_extracts(small: Any, corpus: Any) -> None:
    """A `FicheBodies` without `sections` (a plain function) highlights the whole text."""

    def whole(slugs: list[str]) -> dict[str, str]:
        return SectionBodies()(slugs)

    (hit,) = search(small, corpus, "trésorerie", bodies=whole)
    assert "<mark>trésorerie</mark>" in hit.highlights["body"]


def test_unknown_sections_in_the_index_match_nothing(small: Any, corpus: Any) -> None:
    assert search(small, corpus, "zorglub", "residents") == []


def test_section_terms_are_keywords_of_the_searchable_sections_only() -> None:
    field = section_terms(
        {"lessons": "Patience, écoute, patience.", "bogus": "ignoré", "method": ""}
    )
    assert sorted(field) == sorted(f"lessons:{stem(w)}" for w in ("patience", "écoute"))


def test_a_build_in_two_processes_indexes_the_sections(tmp_path: Path, corpus: Any) -> None:
    """`reindex` builds with Whoosh's multi-process writer, which pickles the documents."""
    from whoosh import index

    from resource_centre.search.schema import build_schema, meta_document

    ix = index.create_in(str(tmp_path), build_schema())
    writer = ix.writer(procs=2, multisegment=True)
    for writeup in FICHES:
        writer.add_document(**document_from(writeup, corpus.REGIE_BY_ID.get(1), corpus.LABELS))
    writer.add_document(**meta_document(1))
    writer.commit()
    with ix.searcher() as searcher:
        assert [h.slug for h in search(searcher, corpus, "trésorerie", "lessons")] == [
            "lecons-seulement"
        ]
        assert search(searcher, corpus, "trésorerie", "method") == []


@pytest.mark.parametrize("words", [["zorglub"], ["composteurs", "trésorerie"], ["inconnu"], []])
def test_page_only_reads_agree_with_the_cached_section_documents(
    small: Any, searcher: Any, words: list[str]
) -> None:
    """Without a section filter, matched sections come from the page's documents only; they
    must be what the generation's section bitsets say (several segments, a deletion)."""
    from resource_centre.search.highlight import matched_sections

    for reader_of in (small, searcher):
        gen = caches.generation(reader_of)
        reader = reader_of.reader()
        docs = [d for d in range(reader_of.doc_count_all()) if gen.visible >> d & 1]
        stems = [*(stem(w) for w in words), stem("habitants"), stem("zorglub")]
        lazy = matched_sections(reader, gen, stems, docs)
        cached = matched_sections(reader, gen, stems, docs, SEARCHABLE_SECTIONS)
        assert lazy == cached
        assert any(lazy.values())  # "habitants" or "zorglub" is in some sections
