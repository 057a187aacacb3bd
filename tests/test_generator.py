"""The synthetic corpus generator of the benchmarks (bench/generate.py)."""

from __future__ import annotations

import importlib.util
import re
import sys
from pathlib import Path

import pytest
import yaml

from resource_centre.corpus import FRONT_MATTER_KEYS
from resource_centre.corpus_format import OPTIONAL_KEYS

ROOT = Path(__file__).resolve().parent.parent
COUNT = 30
HEADINGS = [
    "Contexte",
    "Objectifs",
    "Démarche",
    "Moyens",
    "Résultats",
    "Enseignements",
    "Pour essaimer",
]
# The project's own key order: generated fiches must be in the contract's format.
KEYS = [key for key in FRONT_MATTER_KEYS if key not in OPTIONAL_KEYS]  # the generator's
SLUG = re.compile(r"^[a-z0-9]+(?:-[a-z0-9]+)*$")


def _load_generator():
    name = "bench_generate"
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, ROOT / "bench" / "generate.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses look their module up while the class is built
    spec.loader.exec_module(module)
    return module


gen = _load_generator()


def _split(text: str) -> tuple[dict, str, str]:
    """(front matter, its YAML source, body) of a fiche file."""
    assert text.startswith("---\n")
    source, body = text[4:].split("\n---\n", 1)
    return yaml.safe_load(source), source, body


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("corpus")
    gen.generate(out, COUNT, seed=7)
    return out


@pytest.fixture(scope="module")
def fiches(corpus: Path) -> dict[str, str]:
    return {
        p.stem: p.read_bytes().decode("utf-8") for p in sorted((corpus / "fiches").glob("*.md"))
    }


def test_files_exist(corpus: Path, fiches: dict[str, str]) -> None:
    assert (corpus / "taxonomy.yaml").is_file()
    assert (corpus / "regies.yaml").is_file()
    assert len(fiches) == COUNT
    assert sorted(p.name for p in corpus.iterdir()) == ["fiches", "regies.yaml", "taxonomy.yaml"]


def test_vocabularies(corpus: Path) -> None:
    taxonomy = yaml.safe_load((corpus / "taxonomy.yaml").read_text(encoding="utf-8"))
    assert list(taxonomy) == ["themes", "activities", "audiences", "schemes", "regions"]
    for terms in taxonomy.values():
        assert all(list(t) == ["slug", "label"] for t in terms)
        slugs = [t["slug"] for t in terms]
        assert len(set(slugs)) == len(slugs)
        assert all(SLUG.match(s) for s in slugs)
    assert len(taxonomy["themes"]) == 15
    assert len(taxonomy["regions"]) == 18
    assert 18 <= len(taxonomy["activities"]) <= 22
    assert 8 <= len(taxonomy["audiences"]) <= 10
    assert 10 <= len(taxonomy["schemes"]) <= 14
    labels = {t["slug"]: t["label"] for t in taxonomy["regions"]}
    for overseas in ("Guadeloupe", "Martinique", "Guyane", "La Réunion", "Mayotte"):
        assert overseas in labels.values()

    regies = yaml.safe_load((corpus / "regies.yaml").read_text(encoding="utf-8"))
    assert len(regies) == 127
    assert len({r["slug"] for r in regies}) == 127
    assert len({r["name"] for r in regies}) == 127
    for regie in regies:
        assert list(regie) == ["slug", "name", "kind", "city", "department", "region"]
        assert SLUG.match(regie["slug"]) and len(regie["slug"]) <= 100
        assert regie["kind"] in ("quartier", "territoire")
        assert regie["region"] in labels
        assert regie["city"] and regie["department"]
    assert {r["kind"] for r in regies} == {"quartier", "territoire"}
    assert {r["region"] for r in regies} == set(labels)  # every region has a Régie


def test_front_matter(corpus: Path, fiches: dict[str, str]) -> None:
    taxonomy = yaml.safe_load((corpus / "taxonomy.yaml").read_text(encoding="utf-8"))
    vocab = {name: {t["slug"] for t in terms} for name, terms in taxonomy.items()}
    regies = {r["slug"] for r in yaml.safe_load((corpus / "regies.yaml").read_text("utf-8"))}
    for slug, text in fiches.items():
        meta, _, _ = _split(text)
        assert list(meta) == KEYS, slug
        assert SLUG.match(slug) and len(slug) <= 100, slug
        assert isinstance(meta["title"], str) and 10 <= len(meta["title"]) <= 200
        assert meta["regie"] in regies
        assert 1 <= len(meta["themes"]) <= 3 and set(meta["themes"]) <= vocab["themes"]
        assert len(set(meta["themes"])) == len(meta["themes"])
        assert meta["activity"] in vocab["activities"]
        assert 1 <= len(meta["audiences"]) <= 3 and set(meta["audiences"]) <= vocab["audiences"]
        assert 0 <= len(meta["schemes"]) <= 3 and set(meta["schemes"]) <= vocab["schemes"]
        assert 1 <= len(meta["partners"]) <= 4
        assert all(isinstance(p, str) and p for p in meta["partners"])
        assert 2005 <= meta["year_start"] <= 2026
        assert meta["year_end"] is None or meta["year_start"] <= meta["year_end"] <= 2026
        assert meta["status"] in ("published", "draft", "submitted", "archived")
        assert isinstance(meta["featured"], bool)
        if meta["status"] == "published":
            assert meta["published_at"] is not None
            assert meta["published_at"].year >= meta["year_start"]
        else:
            assert meta["published_at"] is None
            assert meta["featured"] is False
        summary = meta["summary"]
        assert isinstance(summary, str) and 0 < len(summary) <= 600
        assert "\n" not in summary


def test_front_matter_is_safe_dump(fiches: dict[str, str]) -> None:
    # The generator uses libyaml's emitter for speed: its output must be yaml.safe_dump's.
    for slug, text in fiches.items():
        meta, source, _ = _split(text)
        expected = yaml.safe_dump(
            meta, sort_keys=False, allow_unicode=True, default_flow_style=None
        )
        assert source + "\n" == expected, slug


def test_slugs_unique_and_titles_varied(fiches: dict[str, str]) -> None:
    titles = [_split(text)[0]["title"] for text in fiches.values()]
    assert len(set(titles)) >= COUNT * 2 // 3
    assert all(slug.endswith(f"-{i}") for i, slug in enumerate(sorted(fiches, key=_index)))


def _index(slug: str) -> int:
    return int(slug.rsplit("-", 1)[1])


def test_sections(fiches: dict[str, str]) -> None:
    for slug, text in fiches.items():
        _, _, body = _split(text)
        headings = re.findall(r"^## (.+)$", body, flags=re.MULTILINE)
        assert headings == HEADINGS, slug
        assert body.startswith("## Contexte\n")
        sections = re.split(r"^## .+$", body, flags=re.MULTILINE)[1:]
        assert all(s.strip() for s in sections), slug  # no empty section


def test_word_count(fiches: dict[str, str]) -> None:
    counts = []
    for slug, text in fiches.items():
        _, _, body = _split(text)
        words = len(re.findall(r"\S*\w\S*", body))
        assert 700 <= words <= 1400, (slug, words)
        counts.append(words)
    assert 850 <= sum(counts) / len(counts) <= 1150


def test_text_encoding(corpus: Path, fiches: dict[str, str]) -> None:
    for path in [corpus / "taxonomy.yaml", corpus / "regies.yaml", *corpus.glob("fiches/*")]:
        raw = path.read_bytes()
        raw.decode("utf-8")
        assert b"\r" not in raw
        assert raw.endswith(b"\n") and not raw.endswith(b"\n\n")
    everything = "".join(fiches.values())
    # French accents and both apostrophes, so that folding and elision handling matter.
    for needle in ("é", "è", "à", "ê", "'", "’", "d'insertion", "l'", "l’"):
        assert needle in everything, needle
    assert re.search(r"\d+ %", everything)  # figures in the results


def test_deterministic(tmp_path: Path, corpus: Path) -> None:
    again = tmp_path / "again"
    gen.generate(again, COUNT, seed=7)
    for name in ("taxonomy.yaml", "regies.yaml"):
        assert (again / name).read_bytes() == (corpus / name).read_bytes()
    first = {p.name: p.read_bytes() for p in (corpus / "fiches").iterdir()}
    second = {p.name: p.read_bytes() for p in (again / "fiches").iterdir()}
    assert first == second

    other = tmp_path / "other"
    gen.generate(other, COUNT, seed=8)
    third = {p.name: p.read_bytes() for p in (other / "fiches").iterdir()}
    assert third != first


def test_in_memory_api(corpus: Path) -> None:
    # A fiche does not depend on the others: one can be produced alone, in memory.
    slug, text = gen.generate_fiche(17, gen.fiche_rng(7, 17))
    assert (corpus / "fiches" / f"{slug}.md").read_bytes() == text.encode("utf-8")
    listed = list(gen.iter_fiches(3, seed=7, start=16))
    assert listed[1] == (slug, text)
    fiche = gen.build_fiche(17, gen.fiche_rng(7, 17))
    assert fiche.slug == slug
    assert list(fiche.sections) == [
        "context",
        "objectives",
        "method",
        "resources",
        "results",
        "lessons",
        "transfer",
    ]
    assert gen.render_fiche(fiche) == text


def test_slugify() -> None:
    assert gen.slugify("Été 2024 : l’œuvre d'un Régie !") == "ete-2024-l-oeuvre-d-un-regie"
    long = gen.slugify("mot " * 60, max_length=30)
    assert len(long) <= 30 and not long.endswith("-")
