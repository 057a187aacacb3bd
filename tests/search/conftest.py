"""A real Whoosh index of a small in-memory library (no database)."""

from __future__ import annotations

import json
import sys
import types
from collections.abc import Callable, Iterator, Mapping
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from whoosh import index

from resource_centre.models import Regie, WriteUp
from resource_centre.search.query import run
from resource_centre.search.request import SearchRequest
from resource_centre.search.results import SearchResults
from resource_centre.search.schema import build_schema, document_from, meta_document, sections_text

ATTACK_CASES = Path(__file__).resolve().parents[1] / "data" / "attack-cases"

LABELS: dict[str, dict[str, str]] = {
    "theme": {
        "insertion-emploi": "Insertion et emploi",
        "agriculture-urbaine": "Agriculture urbaine et alimentation",
        "lien-social": "Lien social et participation des habitants",
        "economie-circulaire": "Économie circulaire",
        "cadre-de-vie": "Cadre de vie et propreté",
        "mobilite": "Mobilité",
        "numerique": "Numérique et accès aux droits",
    },
    "region": {
        "ile-de-france": "Île-de-France",
        "auvergne-rhone-alpes": "Auvergne-Rhône-Alpes",
        "bourgogne-franche-comte": "Bourgogne-Franche-Comté",
        "hauts-de-france": "Hauts-de-France",
        "bretagne": "Bretagne",
    },
    "regie": {
        "regie-saint-denis": "Régie de quartier de Saint-Denis",
        "regie-lyon-duchere": "Régie de quartier Lyon Duchère",
        "regie-pays-de-lure": "Régie de territoire du Pays de Lure",
        "regie-roubaix": "Régie de quartier de Roubaix",
    },
    "activity": {
        "laverie-solidaire": "Laverie solidaire",
        "jardins-partages": "Jardins partagés",
        "nettoyage": "Nettoyage et espaces verts",
        "ressourcerie": "Ressourcerie, recyclerie",
        "atelier-velo": "Atelier vélo",
        "mediation": "Médiation sociale",
    },
    "audience": {
        "habitants": "Habitants",
        "jeunes": "Jeunes",
        "femmes": "Femmes",
        "seniors": "Seniors",
        "salaries-insertion": "Salariés en insertion",
    },
    "scheme": {
        "contrat-de-ville": "Contrat de ville",
        "aci": "Atelier et chantier d’insertion (ACI)",
        "tfpb": "Abattement de TFPB",
        "fse": "FSE+",
        "quartiers-fertiles": "Quartiers fertiles",
    },
}
KNOWN: dict[str, set[str]] = {facet: set(values) for facet, values in LABELS.items()}

REGIES = {
    "regie-saint-denis": Regie(
        id=1,
        slug="regie-saint-denis",
        name="Régie de quartier de Saint-Denis",
        kind="quartier",
        city="Saint-Denis",
        department="Seine-Saint-Denis",
        region="ile-de-france",
    ),
    "regie-lyon-duchere": Regie(
        id=2,
        slug="regie-lyon-duchere",
        name="Régie de quartier Lyon Duchère",
        kind="quartier",
        city="Lyon",
        department="Rhône",
        region="auvergne-rhone-alpes",
    ),
    "regie-pays-de-lure": Regie(
        id=3,
        slug="regie-pays-de-lure",
        name="Régie de territoire du Pays de Lure",
        kind="territoire",
        city="Lure",
        department="Haute-Saône",
        region="bourgogne-franche-comte",
    ),
    "regie-roubaix": Regie(
        id=4,
        slug="regie-roubaix",
        name="Régie de quartier de Roubaix",
        kind="quartier",
        city="Roubaix",
        department="Nord",
        region="hauts-de-france",
    ),
}
REGIE_BY_ID = {r.id: r for r in REGIES.values()}


def _fiche(
    slug: str,
    title: str,
    summary: str,
    regie: str,
    *,
    themes: list[str],
    activity: str | None,
    audiences: list[str],
    schemes: list[str],
    years: tuple[int | None, int | None],
    published: date | None,
    status: str = "published",
    featured: bool = False,
    sections: dict[str, str] | None = None,
    partners: list[str] | None = None,
) -> WriteUp:
    return WriteUp(
        slug=slug,
        title=title,
        summary=summary,
        regie_id=REGIES[regie].id,
        themes=themes,
        activity=activity,
        audiences=audiences,
        schemes=schemes,
        partners=partners or [],
        year_start=years[0],
        year_end=years[1],
        status=status,
        featured=featured,
        published_at=published,
        sections=sections or {},
    )


WRITEUPS: list[WriteUp] = [
    _fiche(
        "laverie-solidaire-saint-denis",
        "Une laverie solidaire au pied des immeubles",
        "La laverie emploie des salariés en insertion et crée du lien entre les habitants.",
        "regie-saint-denis",
        themes=["insertion-emploi", "lien-social"],
        activity="laverie-solidaire",
        audiences=["habitants", "femmes"],
        schemes=["aci", "contrat-de-ville"],
        years=(2018, 2021),
        published=date(2022, 3, 1),
        featured=True,
        partners=["Plaine Commune Habitat"],
        sections={
            "context": "## Le quartier\nLes habitants n'avaient **pas** de machine à laver.",
            "method": "1. Étude de besoins\n2. Ouverture avec le [bailleur](https://example.org)",
            "lessons": "Les impayés des premiers mois ont failli tout arrêter : prévoir une "
            "trésorerie.",
        },
    ),
    _fiche(
        "jardins-partages-duchere",
        "Jardins partagés en pied d’immeuble",
        "Des parcelles cultivées par les habitants et les seniors du quartier.",
        "regie-lyon-duchere",
        themes=["agriculture-urbaine", "lien-social"],
        activity="jardins-partages",
        audiences=["habitants", "seniors"],
        schemes=["quartiers-fertiles"],
        years=(2019, None),
        published=date(2023, 5, 10),
        sections={
            "context": "Une friche au cœur de la Duchère, transformée en potager.",
            "lessons": "Associer les enfants des écoles a fait venir les familles.",
        },
    ),
    _fiche(
        "proprete-mobiliser-habitants",
        "Mobiliser les habitants pour la propreté",
        "Des marches exploratoires et des chantiers jeunes pour un cadre de vie agréable.",
        "regie-saint-denis",
        themes=["cadre-de-vie", "lien-social"],
        activity="nettoyage",
        audiences=["habitants", "jeunes"],
        schemes=["tfpb"],
        years=(2020, 2020),
        published=date(2021, 1, 15),
        sections={"method": "Des marches exploratoires chaque mois avec le bailleur."},
    ),
    _fiche(
        "ressourcerie-lure",
        "Une ressourcerie pour l’économie circulaire",
        "Collecter, réparer et revendre : le réemploi crée des emplois d’insertion.",
        "regie-pays-de-lure",
        themes=["economie-circulaire", "insertion-emploi"],
        activity="ressourcerie",
        audiences=["salaries-insertion"],
        schemes=["aci", "fse"],
        years=(2015, 2019),
        published=date(2020, 6, 1),
        sections={"results": "Quarante tonnes détournées de la déchetterie chaque année."},
    ),
    _fiche(
        "atelier-velo-roubaix",
        "Atelier vélo solidaire",
        "Réparer son vélo soi-même avec l’aide d’un mécanicien en insertion.",
        "regie-roubaix",
        themes=["mobilite", "insertion-emploi"],
        activity="atelier-velo",
        audiences=["jeunes"],
        schemes=["contrat-de-ville"],
        years=(2021, None),
        published=date(2024, 2, 1),
        featured=True,
        sections={"context": "Peu de jeunes du quartier avaient un moyen de transport."},
    ),
    _fiche(
        "mediation-roubaix",
        "Médiation sociale et tranquillité",
        "Des médiateurs présents le soir dans les halls et les espaces publics.",
        "regie-roubaix",
        themes=["lien-social"],
        activity="mediation",
        audiences=["habitants", "jeunes"],
        schemes=["contrat-de-ville", "tfpb"],
        years=(2017, 2022),
        published=date(2022, 11, 20),
        sections={"lessons": "La confiance des habitants se gagne en années, pas en mois."},
    ),
    _fiche(
        "precarite-energetique-duchere",
        "Précarité énergétique : accompagner les familles",
        "Des visites à domicile pour réduire les factures d’énergie.",
        "regie-lyon-duchere",
        themes=["cadre-de-vie"],
        activity=None,
        audiences=["habitants"],
        schemes=[],
        years=(2022, None),
        published=date(2023, 9, 1),
        sections={
            "context": "La précarité énergétique touche un ménage sur cinq ici.",
            "method": "Des éco-gestes expliqués par des habitants formés.",
        },
    ),
    _fiche(
        "potager-insertion-lure",
        "Le jardin de la Régie, un potager d’insertion",
        "Un maraîchage biologique qui forme des salariés en parcours.",
        "regie-pays-de-lure",
        themes=["agriculture-urbaine", "insertion-emploi"],
        activity="jardins-partages",
        audiences=["salaries-insertion"],
        schemes=["aci"],
        years=(2016, 2018),
        published=date(2019, 4, 1),
        sections={"method": "Les légumes sont vendus en paniers aux habitants de Lure."},
    ),
    _fiche(
        "laveries-conciergerie",
        "Laveries et conciergerie de quartier",
        "Un service de proximité pour les personnes âgées.",
        "regie-saint-denis",
        themes=["lien-social"],
        activity="laverie-solidaire",
        audiences=["seniors"],
        schemes=[],
        years=(2023, None),
        published=date(2024, 6, 1),
    ),
    _fiche(
        "chantier-espaces-verts",
        "Chantier d'insertion espaces verts",
        "Entretenir les pelouses des résidences avec une équipe en insertion.",
        "regie-lyon-duchere",
        themes=["insertion-emploi", "cadre-de-vie"],
        activity="nettoyage",
        audiences=["salaries-insertion"],
        schemes=["aci", "fse"],
        years=(2014, 2016),
        published=date(2017, 1, 1),
    ),
    _fiche(
        "gouvernance-triptyque",
        "Gouvernance : le triptyque habitants, bailleurs, collectivités",
        "Comment le conseil d’administration fait vivre la participation.",
        "regie-roubaix",
        themes=["lien-social"],
        activity=None,
        audiences=["habitants"],
        schemes=[],
        years=(None, None),
        published=date(2018, 5, 5),
    ),
    _fiche(
        "repair-cafe-lure",
        "Repair café et réemploi",
        "Un samedi par mois, des bénévoles réparent petit électroménager et vêtements.",
        "regie-pays-de-lure",
        themes=["economie-circulaire"],
        activity="ressourcerie",
        audiences=["habitants"],
        schemes=[],
        years=(2020, 2021),
        published=date(2021, 10, 10),
    ),
    # Not published: must never be found.
    _fiche(
        "brouillon-laverie",
        "Brouillon secret laverie zanzibar",
        "Une laverie en projet.",
        "regie-saint-denis",
        themes=["lien-social"],
        activity="laverie-solidaire",
        audiences=["habitants"],
        schemes=[],
        years=(2024, None),
        published=None,
        status="draft",
    ),
    _fiche(
        "relecture-jardin",
        "Fiche en relecture jardin zanzibar",
        "Un jardin en relecture.",
        "regie-lyon-duchere",
        themes=["agriculture-urbaine"],
        activity="jardins-partages",
        audiences=["habitants"],
        schemes=[],
        years=(2024, None),
        published=None,
        status="submitted",
    ),
    _fiche(
        "laverie-archivee",
        "Ancienne laverie archivée zanzibar",
        "Une laverie fermée.",
        "regie-roubaix",
        themes=["lien-social"],
        activity="laverie-solidaire",
        audiences=["habitants"],
        schemes=[],
        years=(2010, 2012),
        published=date(2013, 1, 1),
        status="archived",
    ),
]
PUBLISHED = [w for w in WRITEUPS if w.status == "published"]
NOT_PUBLISHED = [w for w in WRITEUPS if w.status != "published"]


def build_index(path: Path, writeups: list[WriteUp]) -> Any:
    """Index the writeups in three commits (several segments, one deletion), with a meta doc."""
    ix = index.create_in(str(path), build_schema())
    docs = [document_from(w, REGIE_BY_ID.get(w.regie_id), LABELS) for w in writeups]
    half = len(docs) // 2
    writer = ix.writer()
    for doc in docs[:half]:
        writer.add_document(**doc)
    writer.commit()
    writer = ix.writer()
    for doc in docs[half:]:
        writer.update_document(**doc)
    writer.update_document(**meta_document(41))
    writer.commit(merge=False)
    writer = ix.writer()  # re-index one fiche: a deleted copy stays in the first segment
    writer.update_document(**docs[0])
    writer.update_document(**meta_document(42))
    writer.commit(merge=False)
    return ix


@pytest.fixture(scope="session")
def search_index(tmp_path_factory: pytest.TempPathFactory) -> Any:
    return build_index(tmp_path_factory.mktemp("index"), WRITEUPS)


@pytest.fixture(scope="session")
def searcher(search_index: Any) -> Iterator[Any]:
    s = search_index.searcher()
    yield s
    s.close()


@pytest.fixture(scope="session")
def body_text() -> Callable[[list[str]], Mapping[str, str]]:
    texts = {w.slug: sections_text(w) for w in WRITEUPS}

    def fetch(slugs: list[str]) -> dict[str, str]:
        return {s: texts[s] for s in slugs if s in texts}

    return fetch


@pytest.fixture(scope="session")
def search(searcher: Any) -> Callable[..., SearchResults]:
    """Run a search from keyword arguments of `SearchRequest`."""

    def do(**kwargs: Any) -> SearchResults:
        request = SearchRequest(**kwargs)
        return run(searcher, request, labels=LABELS)

    return do


@pytest.fixture(scope="session")
def corpus() -> types.ModuleType:
    """This module: the in-memory library (WRITEUPS, LABELS, KNOWN…) and its helpers."""
    return _THIS


# Captured at import: every conftest.py is imported under the name "conftest", so looking
# the name up later may find another directory's.
_THIS = sys.modules[__name__]


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """Parametrize `search_attack` and `long_search_attack` with the attack cases of tests/data."""
    if "search_attack" in metafunc.fixturenames:
        cases = attack_lines("search-queries.jsonl")
        metafunc.parametrize("search_attack", cases, ids=[f"q{i}" for i in range(len(cases))])
    if "long_search_attack" in metafunc.fixturenames:
        cases = [expand_recipe(c) for c in attack_lines("search-queries-long.jsonl")]
        metafunc.parametrize(
            "long_search_attack", cases, ids=[f"long{i}" for i in range(len(cases))]
        )


def attack_lines(name: str) -> list[Any]:
    """Return the decoded lines of one attack-case file (strings or recipe objects)."""
    path = ATTACK_CASES / name
    if not path.exists():
        pytest.fail(f"attack cases missing: {path}")
    return [json.loads(line) for line in path.read_text("utf-8").splitlines() if line.strip()]


def expand_recipe(case: Any) -> str:
    """Turn a recipe object of the `*-long` files into its input string."""
    if isinstance(case, str):
        return case
    if "prefix_unit" in case:
        return (
            case["prefix_unit"] * case["times"]
            + case.get("middle", "")
            + case.get("suffix_unit", "") * case["times"]
        )
    return case["unit"] * case["times"] + case.get("then", "")
