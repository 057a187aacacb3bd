"""Examples for the OpenAPI document of the JSON API (`web.api`), shown by `/api/docs`.

They follow one demo fiche (the laverie of the Plateau des Tilleuls), so that the example
parameters of `/api/writeups`, tried together, find the fiche of the example answers.
`tests/web/test_api_docs.py` checks every example against the route's response model.
"""

from __future__ import annotations

from typing import Any

from resource_centre.search.service import INDEX_UNAVAILABLE as INDEX_UNAVAILABLE_MESSAGE

BASE = "https://centre.example"
SLUG = "laverie-solidaire-quartier-des-tilleuls"
TITLE = "Une laverie solidaire au cœur du Plateau des Tilleuls"
SUMMARY = (
    "Dans un quartier sans aucune laverie à moins de deux kilomètres, la Régie a ouvert en "
    "2017 une laverie solidaire dans un ancien local commercial du bailleur."
)
REGIE = {
    "slug": "regie-du-plateau-des-tilleuls",
    "name": "Régie de quartier du Plateau des Tilleuls",
}

# One value per query parameter of `/api/writeups` (the facets are lists).
SEARCH_PARAMETERS: dict[str, Any] = {
    "q": "laverie",
    "section": ["lessons"],
    "theme": ["lien-social"],
    "region": ["auvergne-rhone-alpes"],
    "regie": [REGIE["slug"]],
    "activity": ["laverie-solidaire"],
    "kind": ["fiche"],
    "audience": ["habitants"],
    "scheme": ["aci"],
    "year_min": 2015,
    "year_max": 2020,
    "sort": "relevance",
    "page": 1,
    "page_size": 20,
}

_FICHE_FIELDS: dict[str, Any] = {
    "slug": SLUG,
    "title": TITLE,
    "summary": SUMMARY,
    "url": f"{BASE}/fiches/{SLUG}",
    "regie": REGIE,
    "region": "auvergne-rhone-alpes",
    "themes": ["lien-social", "insertion-emploi", "modele-economique"],
    "activity": "laverie-solidaire",
    "audiences": ["habitants", "familles", "seniors", "salaries-en-insertion"],
    "schemes": ["contrat-de-ville", "aci", "abattement-tfpb"],
    "year_start": 2017,
    "year_end": None,
    "published_at": "2019-03-14",
    "featured": True,
}

WRITEUP_LIST: dict[str, Any] = {
    "data": [
        {
            **_FICHE_FIELDS,
            "score": 20.13,
            "highlights": {
                "title": "Une <mark>laverie</mark> solidaire au cœur du Plateau des Tilleuls",
                "body": (
                    "…Le coin salon a fait de la <mark>laverie</mark> un vrai lieu de vie, bien "
                    "plus que prévu…"
                ),
            },
            "kind": "fiche",
            "matched_sections": ["lessons"],
        }
    ],
    "total": 1,
    "page": 1,
    "page_size": 20,
    "suggestion": None,
    "exact_query": None,
    "facets": {
        "theme": [
            {"value": "insertion-emploi", "label": "Insertion et emploi", "count": 1},
            {
                "value": "lien-social",
                "label": "Lien social et participation des habitants",
                "count": 1,
            },
        ],
        "region": [{"value": "auvergne-rhone-alpes", "label": "Auvergne-Rhône-Alpes", "count": 1}],
        "regie": [{"value": REGIE["slug"], "label": REGIE["name"], "count": 1}],
        "activity": [{"value": "laverie-solidaire", "label": "Laverie solidaire", "count": 1}],
        "kind": [{"value": "fiche", "label": "Fiche complète", "count": 1}],
        "audience": [{"value": "habitants", "label": "Habitants", "count": 1}],
        "scheme": [{"value": "aci", "label": "Atelier et chantier d'insertion (ACI)", "count": 1}],
        "year": [{"value": "2017", "label": "2017", "count": 1}],
    },
    "notices": [],
}

NETWORK_NOTE = (
    "À reprendre : l'enquête de porte à porte avant tout investissement, et des travaux "
    "portés par le bailleur dans son programme d'abattement de TFPB."
)

WRITEUP_DETAIL: dict[str, Any] = {
    **_FICHE_FIELDS,
    "kind": "fiche",
    "partners": [
        "Habitat Forez Solidaire — loue le local à loyer réduit et a pris en charge les travaux",
        "Ville de Saint-Étienne — finance l'équipement par le contrat de ville",
    ],
    "status": "published",
    "updated_at": "2026-11-29T05:22:54Z",
    "figures": {
        "cost_eur": 86000,
        "funding_eur": {"contrat-de-ville": 10000, "aci": 15800},
        "insertion_jobs": 2,
        "setup_months": 9,
        "own_revenue_pct": 70,
    },
    "network_note": NETWORK_NOTE,
    "network_note_html": f"<p>{NETWORK_NOTE}</p>",
    "attachments": [
        {
            "title": "Budget d'ouverture de la laverie",
            "name": "budget-ouverture-laverie.ods",
            "url": f"{BASE}/fiches/{SLUG}/pieces-jointes/12",
            "size": 14336,
            "content_type": "application/vnd.oasis.opendocument.spreadsheet",
        }
    ],
    "sections": {
        "context": "Le Plateau des Tilleuls compte environ 2 400 logements sociaux…",
        "residents": "Les habitants ont été là avant même l'ouverture…",
        "lessons": "Ce qui a marché : partir d'un besoin exprimé par les habitants…",
    },
    "html": {
        "context": "<p>Le Plateau des Tilleuls compte environ 2 400 logements sociaux…</p>",
        "residents": "<p>Les habitants ont été là avant même l'ouverture…</p>",
        "lessons": "<p>Ce qui a marché : partir d'un besoin exprimé par les habitants…</p>",
    },
}

TAXONOMY: dict[str, Any] = {
    "themes": [
        {"slug": "insertion-emploi", "label": "Insertion et emploi"},
        {"slug": "lien-social", "label": "Lien social et participation des habitants"},
    ],
    "activities": [{"slug": "laverie-solidaire", "label": "Laverie solidaire"}],
    "audiences": [{"slug": "habitants", "label": "Habitants"}],
    "schemes": [{"slug": "aci", "label": "Atelier et chantier d'insertion (ACI)"}],
    "regions": [{"slug": "auvergne-rhone-alpes", "label": "Auvergne-Rhône-Alpes"}],
}

REGIES: dict[str, Any] = {
    "data": [
        {
            **REGIE,
            "kind": "quartier",
            "city": "Saint-Étienne",
            "department": "Loire (42)",
            "region": "auvergne-rhone-alpes",
        }
    ]
}

HEALTH: dict[str, Any] = {
    "status": "ok",
    "worker": 4242,
    "index_journal_id": 46,
    "database_journal_id": 46,
    "search_fast_path": True,
}

NOT_FOUND = {"detail": "Fiche introuvable."}
INDEX_UNAVAILABLE = {"detail": INDEX_UNAVAILABLE_MESSAGE}


def json_example(value: Any) -> dict[str, Any]:
    """The `content` of an OpenAPI response whose JSON example is `value`."""
    return {"content": {"application/json": {"example": value}}}
