"""Synthetic corpus generator for the benchmarks (import speed, search speed).

Writes a complete `knowledge/` folder in the format of the contract (section 4):

    python bench/generate.py OUT_DIR --count N [--seed S] [--jobs J]

Everything is deterministic for a given seed: each fiche `i` draws from its own random
generator (`fiche_rng(seed, i)`), so fiches can be produced in any order, in several
processes (`--jobs`, default: the number of cores; the output does not depend on it), or in
memory by a benchmark (with `bench/` on sys.path, or loaded with importlib):

    from generate import build_fiche, fiche_rng, generate, generate_fiche, iter_fiches

    generate(Path("/tmp/corpus"), 10_000, seed=0)              # a whole knowledge folder
    slug, text = generate_fiche(42, fiche_rng(0, 42))          # one file's text
    fiche = build_fiche(42, fiche_rng(0, 42))                  # .slug, .meta, .sections
    for slug, text in iter_fiches(1000, seed=0): ...           # in memory, in order
    taxonomy(), regies()                                       # the vocabularies as data

The vocabularies (15 themes, 18 regions, 127 Régies…) do not depend on the seed. Fiches are
about 1,000 words of French in the seven sections, built from sentence templates and word
pools of the field (laverie solidaire, jardin partagé, bailleur, insertion, encombrants,
impayés, GUP, NPNRU…), with accents and elisions written with both ' and ’, figures in the
results, and a long tail of rare proper names so that term frequencies look like real text.

Only the standard library and PyYAML.
"""

from __future__ import annotations

import argparse
import datetime as dt
import functools
import os
import random
import re
import sys
import time
import unicodedata
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import yaml

try:  # the C emitter is much faster; its output is the same as yaml.safe_dump's
    from yaml import CSafeDumper as _SafeDumper
except ImportError:  # pragma: no cover - PyYAML without libyaml
    from yaml import SafeDumper as _SafeDumper

__all__ = [
    "FRONT_MATTER_KEYS",
    "SECTION_HEADINGS",
    "Fiche",
    "build_fiche",
    "count_words",
    "fiche_rng",
    "generate",
    "generate_fiche",
    "iter_fiches",
    "regies",
    "render_fiche",
    "slugify",
    "taxonomy",
    "write_fiches",
    "write_regies",
    "write_taxonomy",
]

FRONT_MATTER_KEYS: tuple[str, ...] = (
    "title",
    "regie",
    "themes",
    "activity",
    "audiences",
    "schemes",
    "partners",
    "year_start",
    "year_end",
    "status",
    "featured",
    "published_at",
    "summary",
)
# (key in code and JSON, heading in the file), in file order.
SECTION_HEADINGS: tuple[tuple[str, str], ...] = (
    ("context", "Contexte"),
    ("objectives", "Objectifs"),
    ("method", "Démarche"),
    ("resources", "Moyens"),
    ("results", "Résultats"),
    ("lessons", "Enseignements"),
    ("transfer", "Pour essaimer"),
)
MAX_SUMMARY_CHARS = 600
MAX_SLUG_CHARS = 100
YEAR_MIN, YEAR_MAX = 2005, 2026
LAST_PUBLICATION = dt.date(2026, 10, 31)  # fixed, so that output never depends on today

# --------------------------------------------------------------------------------------
# Vocabularies (independent of the seed)
# --------------------------------------------------------------------------------------

THEMES: tuple[tuple[str, str], ...] = (
    ("insertion-emploi", "Insertion et emploi"),
    ("gestion-urbaine-de-proximite", "Gestion urbaine de proximité"),
    ("cadre-de-vie-proprete", "Cadre de vie et propreté"),
    ("transition-ecologique", "Transition écologique"),
    ("agriculture-urbaine", "Agriculture urbaine et alimentation"),
    ("lien-social", "Lien social et participation des habitants"),
    ("gouvernance-associative", "Gouvernance associative"),
    ("modele-economique", "Modèle socio-économique et financement"),
    ("mediation-tranquillite", "Médiation et tranquillité"),
    ("mobilite", "Mobilité"),
    ("economie-circulaire", "Économie circulaire et réemploi"),
    ("numerique-acces-aux-droits", "Numérique et accès aux droits"),
    ("education-populaire-culture", "Éducation populaire et culture"),
    ("partenariats", "Partenariats avec les bailleurs et les collectivités"),
    ("ressources-humaines-formation", "Ressources humaines et formation"),
)

# How each theme is named inside a sentence ("un levier pour …").
THEME_HOOKS: dict[str, str] = {
    "insertion-emploi": "l'insertion professionnelle",
    "gestion-urbaine-de-proximite": "la gestion urbaine de proximité",
    "cadre-de-vie-proprete": "un cadre de vie plus agréable",
    "transition-ecologique": "la transition écologique",
    "agriculture-urbaine": "une alimentation de qualité pour tous",
    "lien-social": "le lien social",
    "gouvernance-associative": "une gouvernance partagée",
    "modele-economique": "un modèle économique solide",
    "mediation-tranquillite": "la tranquillité du quartier",
    "mobilite": "la mobilité des habitants",
    "economie-circulaire": "l'économie circulaire",
    "numerique-acces-aux-droits": "l'accès aux droits",
    "education-populaire-culture": "l'éducation populaire",
    "partenariats": "le partenariat avec le bailleur",
    "ressources-humaines-formation": "la montée en compétences des salariés",
}

THEME_SENTENCES: dict[str, tuple[str, ...]] = {
    "insertion-emploi": (
        "Pour la Régie, chaque heure travaillée sur le projet est aussi une étape dans le "
        "parcours d'insertion d'un habitant.",
        "Les contrats à durée déterminée d'insertion (CDDI) permettent d'allier travail, "
        "formation et accompagnement social.",
        "L'insertion par l'activité économique reste le cœur du projet : on apprend un métier "
        "en travaillant pour son propre quartier.",
    ),
    "gestion-urbaine-de-proximite": (
        "La gestion urbaine de proximité (GUP) donne un cadre commun au bailleur, à la ville et "
        "à la Régie pour traiter les problèmes du quotidien.",
        "Les diagnostics en marchant sont devenus un rendez-vous attendu par les habitants.",
    ),
    "cadre-de-vie-proprete": (
        "La propreté des halls et des abords est le premier sujet dont parlent les locataires.",
        "Un cadre de vie soigné change le regard que les habitants portent sur leur quartier.",
    ),
    "transition-ecologique": (
        "La transition écologique n'est pas un luxe : elle permet aussi de réduire les factures "
        "des ménages.",
        "Réduire les déchets, économiser l'eau et l'énergie : les gestes du quotidien comptent.",
    ),
    "agriculture-urbaine": (
        "Cultiver en ville, c'est aussi parler d'alimentation, de santé et de prix.",
        "Le programme Si T'es Jardin accompagne les Régies qui se lancent dans l'agriculture "
        "urbaine.",
    ),
    "lien-social": (
        "Le projet a d'abord été un prétexte pour se rencontrer entre voisins.",
        "La participation des habitants ne se décrète pas : elle se construit dans la durée, "
        "autour d'actions concrètes.",
        "Beaucoup d'habitants disent qu'ils se sentent moins seuls depuis le début du projet.",
    ),
    "gouvernance-associative": (
        "Le conseil d'administration de la Régie réunit les trois partenaires du triptyque : "
        "collectivités, bailleurs et habitants.",
        "La place des habitants dans la gouvernance de la Régie est une exigence du label.",
    ),
    "modele-economique": (
        "Les activités supports financent les emplois et permettent de porter le projet social.",
        "Le modèle économique combine recettes d'activité, aides au poste et subventions.",
    ),
    "mediation-tranquillite": (
        "La tranquillité résidentielle passe par une présence humaine régulière.",
        "La médiation permet de désamorcer les conflits avant qu'ils ne s'enveniment.",
    ),
    "mobilite": (
        "Sans solution de mobilité, beaucoup d'offres d'emploi restent hors de portée.",
        "Les horaires décalés et l'absence de transports en commun pénalisent d'abord les femmes.",
    ),
    "economie-circulaire": (
        "Le réemploi donne une seconde vie aux objets et crée des emplois non délocalisables.",
        "Chaque objet réparé ou revendu est un déchet de moins pour la collectivité.",
    ),
    "numerique-acces-aux-droits": (
        "La dématérialisation des démarches a creusé l'écart entre les habitants et leurs droits.",
        "Accompagner une démarche en ligne, c'est souvent éviter une rupture de droits.",
    ),
    "education-populaire-culture": (
        "L'éducation populaire est au cœur du projet : chacun apprend des autres.",
        "Les temps culturels ont permis de toucher des habitants qui ne venaient jamais.",
    ),
    "partenariats": (
        "Le partenariat avec le bailleur et la ville a été formalisé par une convention "
        "pluriannuelle.",
        "Sans l'appui des collectivités et des bailleurs, le projet n'aurait pas vu le jour.",
    ),
    "ressources-humaines-formation": (
        "La formation des salariés en insertion a été pensée dès le départ, avec des "
        "certifications reconnues.",
        "Le rôle de l'encadrant technique est central : il est à la fois chef d'équipe et "
        "formateur.",
    ),
}

# slug, label, phrase (plural, with article)
AUDIENCES: tuple[tuple[str, str, str], ...] = (
    ("habitants", "Habitants", "les habitants"),
    ("jeunes", "Jeunes", "les jeunes"),
    ("femmes", "Femmes", "les femmes"),
    ("seniors", "Seniors", "les seniors"),
    ("familles", "Familles", "les familles"),
    ("salaries-en-insertion", "Salariés en insertion", "les salariés en insertion"),
    ("enfants-ecoles", "Enfants et écoles", "les enfants et les écoles"),
    ("partenaires", "Partenaires (bailleurs, collectivités)", "les partenaires"),
    ("regies", "Autres Régies", "les autres Régies du réseau"),
)
AUDIENCE_PHRASES = {slug: phrase for slug, _, phrase in AUDIENCES}

SCHEMES: tuple[tuple[str, str], ...] = (
    ("contrat-de-ville", "Contrat de ville (politique de la ville)"),
    ("aci", "Atelier et chantier d'insertion (ACI)"),
    ("ei", "Entreprise d'insertion (EI)"),
    ("abattement-tfpb", "Abattement de TFPB"),
    ("convention-gup", "Convention de gestion urbaine de proximité (GUP)"),
    ("anru-npnru", "Renouvellement urbain (ANRU / NPNRU)"),
    ("quartiers-fertiles", "Quartiers fertiles (ANRU)"),
    ("fse-plus", "Fonds social européen (FSE+)"),
    ("plie", "Plan local pour l'insertion et l'emploi (PLIE)"),
    ("fonds-developpement-inclusion", "Fonds de développement de l'inclusion (FDI)"),
    ("fondations", "Fondations et mécénat"),
    ("si-tes-jardin", "Si T'es Jardin"),
)

# region slug, label, number of Régies, departments: (name, code, cities, rural towns)
REGIONS: tuple[
    tuple[str, str, int, tuple[tuple[str, str, tuple[str, ...], tuple[str, ...]], ...]], ...
] = (
    (
        "auvergne-rhone-alpes",
        "Auvergne-Rhône-Alpes",
        12,
        (
            ("Rhône", "69", ("Lyon", "Villeurbanne", "Vénissieux", "Vaulx-en-Velin"), ("Tarare",)),
            ("Isère", "38", ("Grenoble", "Échirolles"), ("La Mure", "Saint-Marcellin")),
            ("Loire", "42", ("Saint-Étienne", "Roanne"), ("Feurs",)),
            ("Puy-de-Dôme", "63", ("Clermont-Ferrand",), ("Thiers", "Ambert")),
            ("Drôme", "26", ("Valence", "Romans-sur-Isère"), ("Die", "Nyons")),
        ),
    ),
    (
        "bourgogne-franche-comte",
        "Bourgogne-Franche-Comté",
        5,
        (
            ("Côte-d'Or", "21", ("Dijon",), ("Montbard",)),
            ("Doubs", "25", ("Besançon", "Montbéliard"), ("Pontarlier",)),
            ("Saône-et-Loire", "71", ("Chalon-sur-Saône", "Mâcon"), ("Autun", "Charolles")),
            ("Yonne", "89", ("Auxerre", "Sens"), ("Avallon",)),
        ),
    ),
    (
        "bretagne",
        "Bretagne",
        5,
        (
            ("Ille-et-Vilaine", "35", ("Rennes",), ("Redon", "Fougères")),
            ("Finistère", "29", ("Brest", "Quimper"), ("Carhaix-Plouguer",)),
            ("Morbihan", "56", ("Lorient", "Vannes"), ("Pontivy",)),
            ("Côtes-d'Armor", "22", ("Saint-Brieuc",), ("Guingamp", "Loudéac")),
        ),
    ),
    (
        "centre-val-de-loire",
        "Centre-Val de Loire",
        5,
        (
            ("Loiret", "45", ("Orléans", "Montargis"), ("Gien",)),
            ("Indre-et-Loire", "37", ("Tours", "Joué-lès-Tours"), ("Loches",)),
            ("Cher", "18", ("Bourges", "Vierzon"), ("Saint-Amand-Montrond",)),
            ("Eure-et-Loir", "28", ("Chartres", "Dreux"), ("Nogent-le-Rotrou",)),
        ),
    ),
    (
        "corse",
        "Corse",
        2,
        (
            ("Corse-du-Sud", "2A", ("Ajaccio",), ("Sartène",)),
            ("Haute-Corse", "2B", ("Bastia",), ("Corte",)),
        ),
    ),
    (
        "grand-est",
        "Grand Est",
        8,
        (
            ("Bas-Rhin", "67", ("Strasbourg", "Schiltigheim"), ("Saverne",)),
            ("Moselle", "57", ("Metz", "Forbach"), ("Sarrebourg",)),
            ("Marne", "51", ("Reims", "Châlons-en-Champagne"), ("Vitry-le-François",)),
            ("Meurthe-et-Moselle", "54", ("Nancy", "Vandœuvre-lès-Nancy"), ("Lunéville",)),
            ("Haut-Rhin", "68", ("Mulhouse", "Colmar"), ("Thann",)),
            ("Ardennes", "08", ("Charleville-Mézières",), ("Rethel", "Givet")),
        ),
    ),
    (
        "hauts-de-france",
        "Hauts-de-France",
        14,
        (
            ("Nord", "59", ("Lille", "Roubaix", "Tourcoing", "Dunkerque", "Denain"), ("Fourmies",)),
            ("Pas-de-Calais", "62", ("Lens", "Calais", "Boulogne-sur-Mer"), ("Hesdin", "Bruay")),
            ("Somme", "80", ("Amiens", "Abbeville"), ("Doullens",)),
            ("Aisne", "02", ("Saint-Quentin", "Soissons"), ("Hirson", "Guise")),
            ("Oise", "60", ("Creil", "Beauvais"), ("Clermont",)),
        ),
    ),
    (
        "ile-de-france",
        "Île-de-France",
        30,
        (
            (
                "Seine-Saint-Denis",
                "93",
                (
                    "Saint-Denis",
                    "Aubervilliers",
                    "Montreuil",
                    "Bobigny",
                    "Sevran",
                    "Clichy-sous-Bois",
                    "Bondy",
                ),
                (),
            ),
            ("Paris", "75", ("Paris",), ()),
            ("Val-de-Marne", "94", ("Vitry-sur-Seine", "Créteil", "Champigny-sur-Marne"), ()),
            ("Hauts-de-Seine", "92", ("Nanterre", "Gennevilliers", "Bagneux"), ()),
            ("Essonne", "91", ("Évry-Courcouronnes", "Grigny", "Les Ulis"), ("Étampes",)),
            ("Yvelines", "78", ("Mantes-la-Jolie", "Les Mureaux", "Trappes"), ("Rambouillet",)),
            ("Val-d'Oise", "95", ("Sarcelles", "Cergy", "Garges-lès-Gonesse"), ()),
            ("Seine-et-Marne", "77", ("Meaux", "Melun"), ("Nemours", "Provins")),
        ),
    ),
    (
        "normandie",
        "Normandie",
        6,
        (
            ("Seine-Maritime", "76", ("Rouen", "Le Havre"), ("Dieppe",)),
            ("Calvados", "14", ("Caen", "Hérouville-Saint-Clair"), ("Vire",)),
            ("Eure", "27", ("Évreux", "Louviers"), ("Bernay",)),
            ("Manche", "50", ("Cherbourg-en-Cotentin",), ("Coutances",)),
        ),
    ),
    (
        "nouvelle-aquitaine",
        "Nouvelle-Aquitaine",
        8,
        (
            ("Gironde", "33", ("Bordeaux", "Lormont", "Cenon"), ("Lesparre-Médoc",)),
            ("Vienne", "86", ("Poitiers", "Châtellerault"), ("Loudun",)),
            ("Haute-Vienne", "87", ("Limoges",), ("Saint-Junien",)),
            ("Pyrénées-Atlantiques", "64", ("Pau", "Bayonne"), ("Mauléon-Licharre",)),
            ("Charente-Maritime", "17", ("La Rochelle", "Rochefort"), ("Saint-Jean-d'Angély",)),
        ),
    ),
    (
        "occitanie",
        "Occitanie",
        8,
        (
            ("Haute-Garonne", "31", ("Toulouse", "Colomiers"), ("Saint-Gaudens",)),
            ("Hérault", "34", ("Montpellier", "Béziers"), ("Lodève",)),
            ("Gard", "30", ("Nîmes", "Alès"), ("Le Vigan",)),
            ("Pyrénées-Orientales", "66", ("Perpignan",), ("Prades",)),
            ("Tarn", "81", ("Albi", "Castres"), ("Carmaux",)),
        ),
    ),
    (
        "pays-de-la-loire",
        "Pays de la Loire",
        6,
        (
            ("Loire-Atlantique", "44", ("Nantes", "Saint-Nazaire", "Rezé"), ("Châteaubriant",)),
            ("Maine-et-Loire", "49", ("Angers", "Cholet"), ("Segré",)),
            ("Sarthe", "72", ("Le Mans",), ("La Flèche",)),
            ("Vendée", "85", ("La Roche-sur-Yon",), ("Fontenay-le-Comte",)),
        ),
    ),
    (
        "provence-alpes-cote-d-azur",
        "Provence-Alpes-Côte d'Azur",
        8,
        (
            (
                "Bouches-du-Rhône",
                "13",
                ("Marseille", "Aix-en-Provence", "Martigues"),
                ("Tarascon",),
            ),
            ("Alpes-Maritimes", "06", ("Nice", "Cannes"), ("Puget-Théniers",)),
            ("Var", "83", ("Toulon", "La Seyne-sur-Mer"), ("Brignoles",)),
            ("Vaucluse", "84", ("Avignon", "Cavaillon"), ("Apt",)),
        ),
    ),
    (
        "guadeloupe",
        "Guadeloupe",
        2,
        (("Guadeloupe", "971", ("Pointe-à-Pitre", "Les Abymes"), ("Capesterre-Belle-Eau",)),),
    ),
    (
        "martinique",
        "Martinique",
        2,
        (("Martinique", "972", ("Fort-de-France", "Le Lamentin"), ("Le Marin",)),),
    ),
    (
        "guyane",
        "Guyane",
        2,
        (("Guyane", "973", ("Cayenne", "Saint-Laurent-du-Maroni"), ("Mana",)),),
    ),
    (
        "la-reunion",
        "La Réunion",
        3,
        (("La Réunion", "974", ("Saint-Denis", "Saint-Pierre", "Le Port"), ("Saint-Benoît",)),),
    ),
    ("mayotte", "Mayotte", 1, (("Mayotte", "976", ("Mamoudzou", "Koungou"), ()),)),
)

# Neighbourhood names, written to follow "quartier" ("quartier des Lilas").
NEIGHBOURHOODS: tuple[str, ...] = (
    "des Lilas",
    "du Mail",
    "des Tilleuls",
    "de la Source",
    "des Peupliers",
    "du Plateau",
    "des Coteaux",
    "du Moulin",
    "de la Roseraie",
    "des Sablons",
    "des Acacias",
    "du Parc",
    "de la Fontaine",
    "des Trois Rivières",
    "des Érables",
    "de l'Étang",
    "des Aubiers",
    "de la Vigne Blanche",
    "des Marronniers",
    "des Quatre Chemins",
    "du Bois Fleuri",
    "des Hauts de Plaine",
    "de la Butte",
    "du Val Fleuri",
    "des Bosquets",
    "de Bellevue",
    "des Provinces",
    "du Petit Pré",
    "de la Croix Rouge",
    "des Cerisiers",
    "du Vieux Pont",
    "des Terrasses",
    "de la Pépinière",
    "des Glycines",
    "du Champ de Foire",
    "des Hirondelles",
    "de l'Orme Seul",
    "des Longs Champs",
    "de la Gare",
    "des Grands Pêchers",
    "du Clos Vert",
    "des Mésanges",
    "de la Chapelle",
    "des Jonquilles",
    "du Belvédère",
    "des Saules",
    "de la Prairie",
    "des Alouettes",
    "du Haut Vernet",
    "des Pins",
    "de la Madeleine",
    "des Tisserands",
    "du Soleil Levant",
    "des Cygnes",
    "de la Garenne",
    "des Violettes",
)
REGIE_FANCY_NAMES: tuple[str, ...] = (
    "Trait d'Union",
    "Horizons",
    "Cœur de Ville",
    "Passerelles",
    "Les Trois Cités",
    "Entre Voisins",
    "Ensemble",
    "Les Quatre Vents",
    "Le Lien",
    "Arc-en-Ciel",
    "Nord-Est",
    "Rive Gauche",
    "Rive Droite",
    "Cap Quartiers",
    "Solidarités Urbaines",
)
RIVERS: tuple[str, ...] = (
    "de la Vallée du Lot",
    "des Monts du Forez",
    "du Pays de Bray",
    "des Deux Vallées",
    "du Bocage",
    "des Collines",
    "du Val de Saône",
    "des Causses",
    "du Haut Pays",
    "de la Plaine",
    "des Coteaux du Layon",
    "du Pays Vert",
    "des Marais",
    "des Hautes Terres",
)

# --------------------------------------------------------------------------------------
# Activities: each brings its own vocabulary and sentences
# --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Activity:
    slug: str
    label: str
    np: str  # definite noun phrase: "la laverie solidaire"
    un: str  # indefinite: "une laverie solidaire"
    themes: tuple[str, ...]
    audiences: tuple[str, ...]
    schemes: tuple[str, ...]
    names: tuple[str, ...]  # project names
    titles: tuple[str, ...]
    ctx: tuple[str, ...]
    obj: tuple[str, ...]
    met: tuple[str, ...]
    res: tuple[str, ...]
    figures: tuple[str, ...]
    les: tuple[str, ...]


ACTIVITIES: tuple[Activity, ...] = (
    Activity(
        "nettoyage-parties-communes",
        "Nettoyage des parties communes",
        "le nettoyage des parties communes",
        "un service de nettoyage des parties communes",
        ("cadre-de-vie-proprete", "insertion-emploi", "partenariats"),
        ("habitants", "salaries-en-insertion", "partenaires"),
        ("aci", "abattement-tfpb", "contrat-de-ville"),
        ("Halls Propres", "Escaliers Nets", "Clair Logis", "Hall'titude"),
        ("Des halls propres grâce aux habitants", "Reprendre le nettoyage des tours en régie"),
        (
            "Les halls et les cages d'escalier des {n_small} tours étaient régulièrement "
            "dégradés, et l'entreprise de nettoyage précédente ne donnait pas satisfaction.",
            "Les locataires se plaignaient des odeurs, des vide-ordures bouchés et des tags dans "
            "les ascenseurs.",
            "Le bailleur {bailleur} cherchait un prestataire capable d'intervenir tôt le matin et "
            "de connaître les habitants.",
        ),
        (
            "assurer un nettoyage quotidien des halls, des paliers et des ascenseurs",
            "faire reculer les incivilités par une présence régulière",
            "créer des postes d'agent d'entretien accessibles aux habitants",
        ),
        (
            "Les équipes interviennent tôt le matin, en binôme, selon un planning affiché dans "
            "chaque hall.",
            "Un état des lieux contradictoire avec le gardien est réalisé chaque mois, cage par "
            "cage.",
            "Les produits d'entretien ont été remplacés par des produits écolabellisés, après une "
            "formation des salariés.",
        ),
        (
            "Les {n_logements} logements concernés sont nettoyés cinq jours sur sept.",
            "Le taux de conformité mesuré lors des contrôles qualité est passé de {pct_low} % à "
            "{pct_high} %.",
        ),
        ("{n_small} cages d'escalier entretenues", "{n_logements} logements desservis"),
        (
            "Un nettoyage bien fait se remarque peu ; il faut rendre le travail visible, par "
            "exemple avec une affichette de passage.",
            "Les locataires respectent davantage un hall nettoyé par des voisins qu'ils "
            "connaissent.",
        ),
    ),
    Activity(
        "espaces-verts",
        "Entretien des espaces verts",
        "l'entretien des espaces verts",
        "un chantier d'entretien des espaces verts",
        ("cadre-de-vie-proprete", "transition-ecologique", "insertion-emploi"),
        ("habitants", "salaries-en-insertion", "partenaires"),
        ("aci", "contrat-de-ville", "abattement-tfpb"),
        ("Quartier Vert", "Les Jardiniers du Mail", "Verts Horizons", "Main Verte"),
        ("Zéro pesticide dans les résidences", "Des espaces verts entretenus par les habitants"),
        (
            "Les pelouses, les haies et les massifs des résidences étaient entretenus de façon "
            "irrégulière, avec un usage important de produits phytosanitaires.",
            "Les habitants regrettaient le manque d'ombre et de bancs, et les espaces verts "
            "servaient surtout de dépôts sauvages.",
        ),
        (
            "passer à une gestion différenciée, sans pesticides",
            "former les salariés aux métiers du paysage",
            "rendre les espaces verts aux habitants",
        ),
        (
            "L'équipe a adopté la gestion différenciée : fauche tardive, paillage et prairies "
            "fleuries.",
            "Les tailles et les tontes sont planifiées avec le bailleur selon un calendrier "
            "saisonnier.",
            "Des habitants ont participé à la plantation de {n_mid} arbustes et de haies "
            "fruitières.",
        ),
        (
            "{m2} m² d'espaces verts sont entretenus sans aucun pesticide.",
            "{n_small} salariés ont obtenu un titre professionnel d'ouvrier du paysage.",
        ),
        ("{m2} m² entretenus en gestion différenciée", "{n_mid} arbres et arbustes plantés"),
        (
            "La gestion différenciée doit être expliquée : une herbe haute est souvent perçue "
            "comme un manque d'entretien.",
            "Le matériel thermique est bruyant et coûteux ; le passage à l'électrique a demandé un "
            "investissement mais amélioré les conditions de travail.",
        ),
    ),
    Activity(
        "petits-travaux-peinture",
        "Petits travaux et peinture",
        "l'atelier de petits travaux",
        "un atelier de petits travaux et de peinture",
        ("insertion-emploi", "cadre-de-vie-proprete", "ressources-humaines-formation"),
        ("salaries-en-insertion", "seniors", "partenaires"),
        ("aci", "ei", "fse-plus"),
        ("Coup de Pinceau", "Bricol'Régie", "Peinture et Compagnie", "Clés en Main"),
        ("Remettre en état les logements vacants", "L'autoréhabilitation accompagnée"),
        (
            "Les logements vacants restaient longtemps inoccupés faute d'entreprise disponible "
            "pour les petits travaux de remise en état.",
            "Beaucoup de locataires âgés ne pouvaient plus réaliser eux-mêmes les petites "
            "réparations : joints, peintures, poignées de porte.",
        ),
        (
            "remettre en état rapidement les logements vacants",
            "proposer des petits travaux à prix solidaire aux locataires âgés ou handicapés",
        ),
        (
            "Le bailleur transmet chaque semaine la liste des logements à remettre en état après "
            "l'état des lieux de sortie.",
            "Les chantiers de peinture des parties communes servent de support de formation aux "
            "salariés en insertion.",
            "Des ateliers d'autoréhabilitation accompagnée permettent aux habitants de rénover "
            "eux-mêmes leur logement, avec l'aide d'un encadrant.",
        ),
        (
            "{n_mid} logements ont été remis en état, et le délai moyen de relocation a baissé de "
            "{n_small} jours.",
            "{n_small} salariés en insertion ont validé un certificat de compétences en peinture.",
        ),
        ("{n_mid} logements remis en état", "{m2} m² de parties communes repeints"),
        (
            "La qualité des finitions est essentielle pour garder la confiance du bailleur.",
            "Les délais imposés par le bailleur sont parfois incompatibles avec le rythme de "
            "formation des salariés.",
        ),
    ),
    Activity(
        "gestion-encombrants",
        "Gestion des encombrants et du tri",
        "la gestion des encombrants",
        "un service de collecte des encombrants",
        ("cadre-de-vie-proprete", "economie-circulaire", "gestion-urbaine-de-proximite"),
        ("habitants", "familles", "partenaires"),
        ("abattement-tfpb", "convention-gup", "aci"),
        ("Objectif Zéro Dépôt", "Tri'Quartier", "Encombr'Action", "Place Nette"),
        ("En finir avec les dépôts sauvages", "Encombrants : du dépôt sauvage au réemploi"),
        (
            "Les dépôts d'encombrants au pied des immeubles étaient la première source de "
            "plaintes : matelas, meubles et électroménager s'accumulaient entre deux collectes.",
            "Le ramassage municipal, une fois par mois, ne suffisait plus, et le bailleur payait "
            "des enlèvements en urgence.",
        ),
        (
            "supprimer les dépôts sauvages d'encombrants",
            "orienter les objets réutilisables vers le réemploi",
        ),
        (
            "Une tournée de collecte est organisée deux fois par semaine, sur rendez-vous ou lors "
            "de passages réguliers.",
            "Les salariés trient les objets : ce qui peut resservir part vers la ressourcerie, le "
            "reste vers la déchèterie.",
            "Des ambassadeurs du tri vont à la rencontre des locataires pour expliquer les "
            "nouvelles règles.",
        ),
        (
            "{n_tonnes} tonnes d'encombrants ont été collectées en un an, dont {pct} % réemployées "
            "ou recyclées.",
            "Les dépôts sauvages ont diminué de {pct_low} % selon les relevés du bailleur.",
        ),
        ("{n_tonnes} tonnes collectées par an", "{pct} % de réemploi ou de recyclage"),
        (
            "La collecte seule ne suffit pas : sans sensibilisation, les dépôts reviennent.",
            "Il faut un espace de stockage abrité, sinon les objets réutilisables s'abîment.",
        ),
    ),
    Activity(
        "mediation-sociale",
        "Médiation sociale et tranquillité",
        "la médiation sociale",
        "un service de médiation sociale",
        ("mediation-tranquillite", "lien-social", "gestion-urbaine-de-proximite"),
        ("habitants", "jeunes", "familles"),
        ("contrat-de-ville", "abattement-tfpb", "fondations"),
        ("Bien Vivre Ensemble", "Médiaquartier", "Les Veilleurs", "Tous Voisins"),
        ("Des médiateurs habitants pour apaiser les conflits", "La médiation de soirée"),
        (
            "Des tensions entre voisins, des regroupements dans les halls et des conflits d'usage "
            "dans les espaces publics pesaient sur la vie du quartier.",
            "Les locataires ne savaient plus à qui s'adresser, et beaucoup avaient cessé de "
            "signaler les problèmes.",
        ),
        (
            "apaiser les conflits de voisinage par le dialogue",
            "assurer une présence humaine en soirée",
        ),
        (
            "Des médiateurs sociaux, recrutés parmi les habitants, circulent en binôme en fin de "
            "journée.",
            "Chaque situation est notée dans une main courante partagée avec le bailleur et la "
            "ville.",
            "Les médiateurs ont suivi une formation à la gestion des conflits et à l'écoute "
            "active.",
        ),
        (
            "{n_mid} situations de conflit ont été traitées, dont {pct_high} % résolues sans "
            "intervention extérieure.",
            "Le sentiment de sécurité mesuré par enquête a progressé de {pct_low} points.",
        ),
        ("{n_mid} interventions de médiation", "{n_small} médiateurs formés"),
        (
            "La médiation suppose de la neutralité : les médiateurs ne doivent pas être perçus "
            "comme les agents du bailleur.",
            "Les horaires de soirée sont difficiles à tenir ; il faut veiller à l'épuisement des "
            "équipes.",
        ),
    ),
    Activity(
        "gardiennage",
        "Gardiennage et veille technique",
        "la veille technique",
        "un service de veille technique et de gardiennage",
        ("gestion-urbaine-de-proximite", "partenariats", "cadre-de-vie-proprete"),
        ("habitants", "partenaires", "seniors"),
        ("convention-gup", "abattement-tfpb", "ei"),
        ("Veille Active", "Les Yeux du Quartier", "Sentinelle"),
        ("Signaler vite, réparer vite", "Une veille technique de proximité"),
        (
            "Depuis le départ de plusieurs gardiens, les pannes d'ascenseur, les fuites et les "
            "éclairages défaillants n'étaient plus signalés à temps.",
            "Les locataires âgés restaient parfois plusieurs jours bloqués chez eux à cause d'un "
            "ascenseur en panne.",
        ),
        (
            "repérer et signaler rapidement les dysfonctionnements techniques",
            "rétablir une présence de proximité dans les résidences",
        ),
        (
            "Une tournée quotidienne de veille technique suit une grille de contrôle élaborée avec "
            "le bailleur.",
            "Les signalements sont transmis par une application partagée, avec photo et "
            "localisation.",
        ),
        (
            "{n_big} signalements ont été transmis au bailleur en un an, avec un délai de "
            "traitement divisé par deux.",
            "Les pannes d'ascenseur de longue durée ont nettement reculé.",
        ),
        ("{n_big} signalements techniques", "{n_small} résidences couvertes"),
        (
            "Un signalement n'a de sens que s'il est suivi d'effet : le retour du bailleur aux "
            "habitants est indispensable.",
            "La frontière entre veille technique et gardiennage doit être claire pour éviter les "
            "tensions avec les gardiens en poste.",
        ),
    ),
    Activity(
        "laverie-solidaire",
        "Laverie solidaire",
        "la laverie solidaire",
        "une laverie solidaire",
        ("lien-social", "modele-economique", "insertion-emploi"),
        ("habitants", "familles", "seniors"),
        ("contrat-de-ville", "abattement-tfpb", "fondations"),
        ("Lav'Quartier", "La Bulle", "Le Lavoir du Mail", "Lavomatique Solidaire", "Linge Net"),
        ("Laver son linge sans se ruiner", "Une laverie qui crée du lien"),
        (
            "Beaucoup de logements du quartier sont trop petits pour accueillir une machine à "
            "laver, et la laverie commerciale la plus proche est à plus de {n_km} kilomètres.",
            "Les familles nombreuses lavaient leur linge à la main ou dans la baignoire, faute de "
            "solution abordable.",
            "Le bailleur disposait d'un local commercial vacant en pied d'immeuble, idéal pour une "
            "laverie.",
        ),
        (
            "proposer le lavage et le séchage du linge à prix solidaire",
            "faire de la laverie un lieu de rencontre entre voisins",
        ),
        (
            "La laverie a été aménagée avec {n_small} machines professionnelles et deux "
            "sèche-linge.",
            "Un salarié en insertion accueille les usagers, conseille sur les programmes et "
            "propose un service de repassage.",
            "Les tarifs, entre 2 et 4 euros la machine, ont été fixés après une enquête auprès "
            "des familles.",
        ),
        (
            "La laverie accueille en moyenne {n_mid} usagers par semaine.",
            "{n_big} machines ont été lancées la deuxième année, et les recettes couvrent {pct} % "
            "des charges.",
        ),
        ("{n_big} lavages par an", "{n_mid} familles usagères régulières"),
        (
            "Les machines professionnelles coûtent cher en entretien ; un contrat de maintenance "
            "est indispensable.",
            "La laverie n'est pas qu'un service : les conversations autour des machines ont fait "
            "naître plusieurs projets d'habitants.",
        ),
    ),
    Activity(
        "jardin",
        "Jardin partagé",
        "le jardin partagé",
        "un jardin partagé",
        ("agriculture-urbaine", "lien-social", "transition-ecologique"),
        ("habitants", "familles", "enfants-ecoles"),
        ("si-tes-jardin", "quartiers-fertiles", "contrat-de-ville"),
        ("Les Jardins de la Butte", "Le Potager du Mail", "Graines de Quartier", "Les Racines"),
        ("Cultiver au pied des tours", "Un potager pour se retrouver entre voisins"),
        (
            "Une pelouse de {m2} m² au pied des tours, peu utilisée, attirait les dépôts sauvages.",
            "Plusieurs habitantes, originaires de régions rurales, regrettaient de ne plus pouvoir "
            "cultiver.",
            "La ville cherchait à développer l'agriculture urbaine dans les quartiers "
            "prioritaires.",
        ),
        (
            "créer un jardin partagé cultivé par les habitants",
            "sensibiliser les enfants à l'alimentation et à la biodiversité",
        ),
        (
            "Les parcelles ont été dessinées lors d'ateliers participatifs, avec des bacs "
            "surélevés pour les personnes à mobilité réduite.",
            "Un animateur jardin, accompagné par le programme Si T'es Jardin, anime des ateliers "
            "deux fois par semaine.",
            "Les jardiniers ont rédigé ensemble un règlement : arrosage, récoltes, entretien des "
            "allées et du compost.",
        ),
        (
            "{n_small} parcelles individuelles et {n_tiny} parcelles collectives sont cultivées.",
            "Près de {n_kg} kg de légumes ont été récoltés la dernière saison.",
        ),
        ("{m2} m² cultivés", "{n_mid} jardiniers inscrits", "{n_kg} kg de légumes récoltés"),
        (
            "L'eau est le premier sujet de conflit : il faut prévoir les points d'eau et les "
            "règles d'arrosage dès le départ.",
            "Un jardin vit l'été ; il faut prévoir qui arrose pendant les vacances.",
        ),
    ),
    Activity(
        "atelier-velo",
        "Atelier vélo",
        "l'atelier vélo",
        "un atelier vélo solidaire",
        ("mobilite", "economie-circulaire", "lien-social"),
        ("jeunes", "habitants", "femmes"),
        ("fondations", "contrat-de-ville", "aci"),
        ("Cycl'Ouest", "La Rustine", "Roue Libre", "Vélo'Cité", "Le Dérailleur"),
        ("Remettre les habitants en selle", "Réparer son vélo soi-même"),
        (
            "Les vélos abandonnés s'entassaient dans les caves et les locaux communs.",
            "Pour beaucoup d'habitants, le vélo est la seule solution pour rejoindre un emploi en "
            "horaires décalés.",
        ),
        (
            "permettre aux habitants de réparer eux-mêmes leur vélo",
            "remettre en circulation les vélos abandonnés",
        ),
        (
            "L'atelier ouvre trois demi-journées par semaine ; les habitants réparent eux-mêmes, "
            "avec les conseils d'un mécanicien.",
            "Les vélos récupérés sont remis en état puis vendus à petit prix ou prêtés aux "
            "personnes en recherche d'emploi.",
            "Des séances de vélo-école sont proposées aux femmes qui n'ont jamais appris à rouler.",
        ),
        (
            "{n_mid} vélos ont été réparés et {n_mid} remis en circulation.",
            "{n_small} femmes ont appris à faire du vélo grâce à la vélo-école.",
        ),
        ("{n_mid} vélos remis en circulation", "{n_mid} adhérents à l'atelier"),
        (
            "Les pièces détachées représentent un coût sous-estimé ; un partenariat avec un "
            "magasin local a aidé.",
            "L'atelier attire surtout des hommes ; la vélo-école a été décisive pour toucher les "
            "femmes.",
        ),
    ),
    Activity(
        "repair-cafe",
        "Repair café",
        "le repair café",
        "un repair café",
        ("economie-circulaire", "lien-social", "transition-ecologique"),
        ("habitants", "seniors", "familles"),
        ("fondations", "contrat-de-ville"),
        ("Répar'Café", "Le Fil à Retordre", "Tournevis et Café"),
        ("Réparer ensemble plutôt que jeter", "Un repair café dans le hall"),
        (
            "Des habitants jetaient des appareils pour une simple panne, faute de savoir ou de "
            "pouvoir les faire réparer.",
            "Plusieurs retraités du quartier, anciens électriciens ou couturières, cherchaient à "
            "transmettre leur savoir-faire.",
        ),
        ("réparer ensemble plutôt que jeter", "valoriser les savoir-faire des bricoleurs"),
        (
            "Une fois par mois, des bénévoles réparateurs accueillent les habitants et leurs "
            "objets en panne.",
            "Chaque réparation est notée dans un registre : type d'objet, panne, résultat.",
        ),
        (
            "{n_mid} objets ont été apportés, avec un taux de réparation de {pct} %.",
            "Chaque séance réunit en moyenne {n_small} réparateurs et {n_mid} visiteurs.",
        ),
        ("{n_mid} objets réparés", "{n_small} bénévoles réparateurs"),
        (
            "Les bénévoles réparateurs sont rares ; il faut les fidéliser et les remercier.",
            "Assurance et responsabilité doivent être clarifiées avant la première séance.",
        ),
    ),
    Activity(
        "ressourcerie",
        "Ressourcerie et recyclerie",
        "la ressourcerie",
        "une ressourcerie",
        ("economie-circulaire", "insertion-emploi", "transition-ecologique"),
        ("habitants", "salaries-en-insertion", "familles"),
        ("aci", "fse-plus", "fondations"),
        ("La Recyclerie du Quartier", "Seconde Main", "Le Grenier Solidaire", "Ré-Emploi"),
        ("Donner une seconde vie aux objets", "Une ressourcerie de territoire"),
        (
            "Le territoire ne disposait d'aucune structure de réemploi, et les déchèteries "
            "débordaient de meubles en bon état.",
            "La Régie collectait déjà des encombrants et voyait passer beaucoup d'objets "
            "réutilisables.",
        ),
        (
            "collecter, valoriser et revendre des objets à prix solidaires",
            "créer des postes d'insertion dans les métiers du réemploi",
        ),
        (
            "Les objets sont collectés en apport volontaire, lors de débarras et auprès des "
            "déchèteries partenaires.",
            "Un atelier de valorisation remet en état meubles, électroménager et vêtements avant "
            "leur mise en vente.",
            "La boutique est ouverte trois jours par semaine, avec des prix accessibles à tous.",
        ),
        (
            "{n_tonnes} tonnes d'objets ont été détournées de l'enfouissement en un an.",
            "La boutique accueille {n_mid} clients par semaine, dont une majorité d'habitants du "
            "quartier.",
        ),
        ("{n_tonnes} tonnes détournées des déchets", "{euros_mid} de ventes annuelles"),
        (
            "Les flux d'objets sont irréguliers ; il faut de la place pour stocker et un tri "
            "rigoureux.",
            "Le modèle économique repose sur l'équilibre entre les ventes et les aides au poste.",
        ),
    ),
    Activity(
        "epicerie-solidaire",
        "Épicerie solidaire",
        "l'épicerie solidaire",
        "une épicerie solidaire",
        ("agriculture-urbaine", "lien-social", "modele-economique"),
        ("familles", "habitants", "femmes"),
        ("contrat-de-ville", "fondations", "fonds-developpement-inclusion"),
        ("Le Panier du Quartier", "L'Épi Solidaire", "Le Comptoir", "Au Bon Panier"),
        ("Bien manger à petit prix", "Une épicerie solidaire ouverte à tous"),
        (
            "La hausse des prix alimentaires a frappé durement les familles, et l'aide "
            "alimentaire existante ne suffisait plus.",
            "Les habitants devaient prendre le bus pour trouver des fruits et légumes frais.",
        ),
        (
            "donner accès à des produits frais et de qualité à prix réduit",
            "accompagner les familles vers une alimentation équilibrée",
        ),
        (
            "Les familles orientées par les travailleurs sociaux paient leurs achats entre 10 et "
            "30 % du prix habituel.",
            "Des ateliers cuisine permettent de cuisiner ensemble les légumes de saison.",
        ),
        (
            "{n_mid} familles ont bénéficié de l'épicerie, pour une durée moyenne de {n_small} "
            "mois.",
            "Les ateliers cuisine ont réuni {n_mid} participants, en majorité des femmes.",
        ),
        ("{n_mid} familles accueillies", "{n_tonnes} tonnes de denrées distribuées"),
        (
            "L'approvisionnement en produits frais reste le point faible ; un partenariat avec "
            "des producteurs locaux a changé la donne.",
            "Il faut éviter la stigmatisation : l'épicerie doit ressembler à un commerce comme les "
            "autres.",
        ),
    ),
    Activity(
        "conciergerie",
        "Conciergerie de quartier",
        "la conciergerie de quartier",
        "une conciergerie de quartier",
        ("lien-social", "modele-economique", "insertion-emploi"),
        ("habitants", "seniors", "familles"),
        ("ei", "contrat-de-ville", "fonds-developpement-inclusion"),
        ("Allô Voisins", "La Conciergerie du Mail", "Service Plus", "Coup de Main"),
        ("Des petits services pour les habitants", "Une conciergerie solidaire"),
        (
            "Les habitants âgés avaient besoin de petits services : courses, démarches, menus "
            "travaux.",
            "Aucun commerce de proximité ne proposait de dépôt de colis ou de retouches.",
        ),
        (
            "proposer des petits services du quotidien aux habitants",
            "créer des emplois de proximité",
        ),
        (
            "La conciergerie prend les demandes au comptoir, par téléphone ou par messagerie, et "
            "les répartit entre les salariés.",
            "Une grille tarifaire à trois niveaux permet d'adapter les prix aux revenus.",
        ),
        (
            "{n_big} demandes ont été traitées en un an, principalement des courses et de l'aide "
            "aux démarches.",
            "La conciergerie compte {n_mid} foyers clients réguliers.",
        ),
        ("{n_big} services rendus", "{n_mid} foyers clients"),
        (
            "La diversité des demandes complique l'organisation ; il vaut mieux limiter l'offre à "
            "quelques services bien maîtrisés.",
            "La conciergerie est devenue un point d'information apprécié, au-delà des services "
            "payants.",
        ),
    ),
    Activity(
        "auto-ecole-sociale",
        "Auto-école sociale",
        "l'auto-école sociale",
        "une auto-école sociale",
        ("mobilite", "insertion-emploi"),
        ("jeunes", "femmes", "salaries-en-insertion"),
        ("plie", "fse-plus", "fondations"),
        ("Permis de Réussir", "En Route", "Feu Vert"),
        ("Le permis de conduire, clé de l'emploi", "Passer le permis malgré tout"),
        (
            "Le permis de conduire est souvent exigé par les employeurs, mais son coût reste hors "
            "de portée de nombreux habitants.",
            "Les échecs répétés au code décourageaient les candidats qui maîtrisent mal le "
            "français.",
        ),
        (
            "faciliter l'obtention du permis B pour les personnes en insertion",
            "lever un frein majeur à l'emploi",
        ),
        (
            "Les candidats suivent une préparation au code adaptée, avec des supports simplifiés "
            "et un travail sur le vocabulaire.",
            "Les heures de conduite sont réparties sur plusieurs mois, avec un moniteur formé à la "
            "pédagogie des publics en difficulté.",
        ),
        (
            "{pct_high} % des candidats ont obtenu le code et {pct} % le permis en moins de "
            "{n_small} mois.",
            "{n_mid} candidats ont été accompagnés depuis l'ouverture.",
        ),
        ("{n_mid} candidats accompagnés", "{pct} % de réussite au permis"),
        (
            "Le temps de préparation au code est plus long que prévu ; il faut l'assumer dans le "
            "budget.",
            "Le lien avec les conseillers emploi est décisif pour orienter les bons candidats.",
        ),
    ),
    Activity(
        "aide-mobilite",
        "Aide à la mobilité",
        "l'aide à la mobilité",
        "une plateforme d'aide à la mobilité",
        ("mobilite", "insertion-emploi", "numerique-acces-aux-droits"),
        ("jeunes", "habitants", "salaries-en-insertion"),
        ("plie", "fse-plus", "fonds-developpement-inclusion"),
        ("Bouge Ton Quartier", "Mobil'Emploi", "Roulez Solidaire"),
        ("Se déplacer pour travailler", "La location solidaire de véhicules"),
        (
            "Sans voiture, il est presque impossible de se rendre à un entretien d'embauche ou à "
            "une formation en horaires décalés.",
            "Les zones d'activité qui recrutent sont mal desservies par les transports en commun.",
        ),
        (
            "lever les freins de mobilité des demandeurs d'emploi",
            "rendre les personnes autonomes dans leurs déplacements",
        ),
        (
            "La Régie met à disposition des scooters et des voitures en location solidaire, pour "
            "quelques euros par jour.",
            "Un conseiller mobilité réalise un diagnostic individuel avec chaque personne "
            "orientée.",
        ),
        (
            "{n_mid} personnes ont bénéficié d'une solution de mobilité ; {pct} % ont accédé à un "
            "emploi ou à une formation.",
            "Les véhicules ont été loués {n_big} jours au total.",
        ),
        ("{n_mid} personnes accompagnées", "{n_big} jours de location solidaire"),
        (
            "La location solidaire suppose un suivi rigoureux des véhicules et des assurances.",
            "Les personnes accompagnées ont souvent besoin d'une solution rapide : les délais "
            "administratifs doivent être courts.",
        ),
    ),
    Activity(
        "gestion-urbaine-de-proximite",
        "Gestion urbaine de proximité",
        "la gestion urbaine de proximité",
        "une démarche de gestion urbaine de proximité",
        ("gestion-urbaine-de-proximite", "partenariats", "cadre-de-vie-proprete"),
        ("habitants", "partenaires"),
        ("convention-gup", "abattement-tfpb", "anru-npnru"),
        ("Quartier en Veille", "GUP en Marche", "Ensemble pour le Quartier"),
        ("Le diagnostic en marchant, mode d'emploi", "Coordonner bailleur, ville et habitants"),
        (
            "Les interventions du bailleur, de la ville et de la métropole se croisaient sans "
            "coordination, au détriment des habitants.",
            "Les mêmes dysfonctionnements étaient signalés d'année en année sans être traités.",
        ),
        (
            "coordonner les acteurs de la gestion du quotidien",
            "associer les habitants aux diagnostics",
        ),
        (
            "Des diagnostics en marchant réunissent chaque trimestre habitants, bailleur, ville et "
            "Régie.",
            "Les dysfonctionnements relevés sont suivis dans un tableau partagé, avec un "
            "responsable et un délai pour chacun.",
            "Les actions financées par l'abattement de TFPB sont choisies avec l'amicale des "
            "locataires.",
        ),
        (
            "{n_mid} dysfonctionnements ont été relevés, dont {pct_high} % traités dans l'année.",
            "{n_small} diagnostics en marchant ont réuni au total {n_mid} participants.",
        ),
        ("{n_small} diagnostics en marchant", "{n_mid} dysfonctionnements traités"),
        (
            "Le diagnostic en marchant ne sert à rien sans suivi : il faut rendre compte des "
            "suites aux habitants.",
            "L'abattement de TFPB est un levier important, mais son usage doit être transparent.",
        ),
    ),
    Activity(
        "accompagnement-renouvellement-urbain",
        "Accompagnement de chantier de renouvellement urbain",
        "l'accompagnement du renouvellement urbain",
        "un accompagnement du chantier de renouvellement urbain",
        ("partenariats", "lien-social", "gestion-urbaine-de-proximite"),
        ("habitants", "familles", "partenaires"),
        ("anru-npnru", "contrat-de-ville", "abattement-tfpb"),
        ("Chantier Ouvert", "Mémoire et Avenir", "Le Quartier Change"),
        ("Vivre le chantier du NPNRU", "Garder la mémoire du quartier"),
        (
            "Le programme de renouvellement urbain (NPNRU) prévoyait la démolition de {n_small} "
            "bâtiments et le relogement de {n_mid} ménages.",
            "Les habitants vivaient mal le chantier : bruit, poussière, cheminements modifiés du "
            "jour au lendemain.",
        ),
        ("accompagner les habitants pendant les travaux", "garder la mémoire du quartier"),
        (
            "Une maison du projet accueille les habitants pour expliquer les étapes du chantier.",
            "Les salariés de la Régie assurent le nettoyage des abords du chantier et la "
            "sécurisation des cheminements.",
            "Les clauses d'insertion des marchés de l'ANRU ont permis d'embaucher des habitants "
            "sur les chantiers.",
        ),
        (
            "{n_big} heures d'insertion ont été réalisées grâce aux clauses sociales du chantier.",
            "{n_mid} ménages ont été accompagnés avant et après leur relogement.",
        ),
        ("{n_big} heures d'insertion", "{n_mid} ménages accompagnés"),
        (
            "Les habitants veulent être informés avant les changements, pas après.",
            "Le travail de mémoire a apaisé la colère liée aux démolitions.",
        ),
    ),
    Activity(
        "animation-environnement",
        "Éducation et animation à l'environnement",
        "l'éducation à l'environnement",
        "un programme d'éducation à l'environnement",
        ("transition-ecologique", "education-populaire-culture", "agriculture-urbaine"),
        ("enfants-ecoles", "familles", "jeunes"),
        ("si-tes-jardin", "contrat-de-ville", "fondations"),
        ("Nature en Ville", "Les Explorateurs", "Petits Pas Verts"),
        ("Faire découvrir la nature aux enfants du quartier", "La nature en bas de chez soi"),
        (
            "Les enfants du quartier connaissent peu la nature, alors qu'un parc et une rivière "
            "sont à quelques minutes.",
            "Les écoles cherchaient des partenaires pour leurs projets sur le développement "
            "durable.",
        ),
        (
            "faire découvrir la nature en ville aux enfants et aux familles",
            "sensibiliser au tri, à l'eau et à la biodiversité",
        ),
        (
            "Des animations sont proposées dans les écoles, au centre de loisirs et au pied des "
            "immeubles.",
            "Les enfants ont installé des nichoirs, un hôtel à insectes et une mare pédagogique.",
        ),
        (
            "{n_big} enfants ont participé aux animations au cours de l'année scolaire.",
            "{n_small} classes ont suivi un cycle complet d'ateliers.",
        ),
        ("{n_mid} animations réalisées", "{n_big} enfants sensibilisés"),
        (
            "Le lien avec les enseignants doit être construit en amont de l'année scolaire.",
            "Les animations au pied des immeubles touchent des familles que l'école ne voit pas.",
        ),
    ),
    Activity(
        "compostage",
        "Compostage de proximité",
        "le compostage collectif",
        "un site de compostage collectif",
        ("transition-ecologique", "economie-circulaire", "cadre-de-vie-proprete"),
        ("habitants", "familles", "enfants-ecoles"),
        ("si-tes-jardin", "abattement-tfpb", "contrat-de-ville"),
        ("Compost'Âge", "Le Bac à Compost", "Épluchures en Fête"),
        ("Composter en pied d'immeuble", "Moins de déchets, plus de compost"),
        (
            "Les déchets alimentaires représentaient près d'un tiers des poubelles des ménages.",
            "La collectivité devait mettre en place le tri à la source des biodéchets.",
        ),
        (
            "réduire le volume des ordures ménagères",
            "produire un compost utile au jardin partagé",
        ),
        (
            "Des composteurs ont été installés au pied des immeubles, avec un référent habitant "
            "pour chacun.",
            "Les salariés retournent le compost chaque semaine et surveillent l'équilibre entre "
            "matières sèches et humides.",
        ),
        (
            "{n_tonnes} tonnes de biodéchets ont été détournées de la collecte en un an.",
            "{n_mid} foyers déposent régulièrement leurs épluchures.",
        ),
        ("{n_mid} foyers participants", "{n_small} composteurs installés"),
        (
            "Les nuisances (odeurs, rats) inquiètent ; un suivi régulier et rassurant est "
            "indispensable.",
            "Le compost doit trouver un usage visible, sinon la motivation retombe.",
        ),
    ),
    Activity(
        "projet-alimentaire",
        "Projet alimentaire (cuisine, traiteur, circuits courts)",
        "la cuisine solidaire",
        "une cuisine solidaire",
        ("agriculture-urbaine", "lien-social", "insertion-emploi"),
        ("femmes", "habitants", "salaries-en-insertion"),
        ("quartiers-fertiles", "fse-plus", "fondations"),
        ("La Marmite", "Saveurs du Quartier", "La Table du Mail", "Les Toques"),
        ("Des repas solidaires cuisinés par les habitantes", "De la cuisine au métier"),
        (
            "Plusieurs habitantes cuisinaient pour les fêtes de quartier et rêvaient d'en faire "
            "un métier.",
            "Il n'existait aucun lieu de restauration abordable dans le quartier.",
        ),
        (
            "créer une activité de restauration solidaire",
            "former aux métiers de la cuisine et de l'hygiène alimentaire",
        ),
        (
            "La cuisine prépare des repas à partir de produits locaux, vendus à prix solidaires "
            "le midi.",
            "Un service traiteur pour les partenaires du quartier assure une part importante des "
            "recettes.",
        ),
        (
            "{n_big} repas ont été servis la première année.",
            "{n_small} cuisinières en insertion ont obtenu un certificat d'hygiène alimentaire.",
        ),
        ("{n_big} repas servis", "{n_small} cuisinières en insertion"),
        (
            "Les normes d'hygiène demandent une formation sérieuse et une cuisine aux normes, ce "
            "qui coûte cher.",
            "Le service traiteur a sauvé l'équilibre économique la deuxième année.",
        ),
    ),
    Activity(
        "accompagnement-numerique",
        "Accompagnement numérique et accès aux droits",
        "la médiation numérique",
        "un espace de médiation numérique",
        ("numerique-acces-aux-droits", "insertion-emploi", "education-populaire-culture"),
        ("seniors", "habitants", "jeunes"),
        ("fonds-developpement-inclusion", "contrat-de-ville", "fondations"),
        ("Clic Solidaire", "Connect'Quartier", "Le Point Numérique"),
        ("Accompagner les démarches en ligne", "Personne ne reste sans ses droits"),
        (
            "La dématérialisation des démarches (CAF, impôts, France Travail) a laissé de "
            "nombreux habitants sans solution.",
            "Beaucoup de familles n'ont qu'un smartphone, partagé entre plusieurs personnes.",
        ),
        (
            "accompagner les habitants dans leurs démarches en ligne",
            "rendre les habitants autonomes avec les outils numériques",
        ),
        (
            "Des permanences sans rendez-vous permettent d'être aidé pour une démarche précise.",
            "Des ateliers collectifs apprennent à utiliser un smartphone, une messagerie et les "
            "sites administratifs.",
            "Des ordinateurs reconditionnés par la Régie sont vendus à petit prix.",
        ),
        (
            "{n_big} démarches ont été accompagnées, notamment des dossiers CAF et des "
            "déclarations d'impôts.",
            "{n_mid} ordinateurs reconditionnés ont été vendus à des familles.",
        ),
        ("{n_big} accompagnements", "{n_mid} ordinateurs reconditionnés"),
        (
            "La frontière entre aider et faire à la place est délicate : l'objectif reste "
            "l'autonomie.",
            "La confidentialité des données personnelles doit être garantie lors des permanences.",
        ),
    ),
)
ACTIVITY_BY_SLUG = {a.slug: a for a in ACTIVITIES}

# --------------------------------------------------------------------------------------
# Generic sentence pools, by section. {slots} are filled per fiche (see _Ctx).
# --------------------------------------------------------------------------------------

CONTEXT_QUARTIER: tuple[str, ...] = (
    "Le {quartier} compte environ {n_hab} habitants, dont une large part de locataires du "
    "bailleur {bailleur}.",
    "Situé {a_ville}, le {quartier} est classé quartier prioritaire de la politique de la ville "
    "(QPV) depuis {annee_qpv}.",
    "Le taux de chômage y dépasse {pct_low} %, et près d'un jeune sur trois n'a ni emploi ni "
    "formation.",
    "Les habitants se plaignaient depuis longtemps de l'état des parties communes, des "
    "encombrants au pied des immeubles et du manque de lieux pour se retrouver.",
    "Lors d'un diagnostic en marchant organisé avec la ville et le bailleur, les locataires ont "
    "pointé {probleme}.",
    "Le quartier fait l'objet d'un programme de renouvellement urbain (NPNRU) : démolitions, "
    "réhabilitations et relogements ont bouleversé le quotidien des familles.",
    "Le bailleur {bailleur} constatait une hausse des impayés et des dégradations dans "
    "plusieurs résidences.",
    "Les commerces de proximité ont fermé les uns après les autres, et le centre commercial est "
    "aujourd'hui à moitié vide.",
    "Le {quartier} regroupe {n_logements} logements sociaux répartis en {n_small} résidences, "
    "dont la {residence}.",
    "Près de {pct} % des habitants du {quartier} ont moins de 25 ans.",
    "{rue} et ses abords concentraient l'essentiel des dépôts sauvages signalés à la mairie.",
    "Le quartier est coupé du centre-ville par une voie rapide, et beaucoup d'habitants disent "
    "s'y sentir « à part ».",
    "Madame {Nom}, locataire depuis trente ans, résume : « Avant, on se connaissait tous ; "
    "aujourd'hui, chacun reste chez soi. »",
    "Le revenu médian des ménages y est deux fois inférieur à celui de l'agglomération.",
    "Les relations entre locataires et gardiens s'étaient dégradées, et les réclamations "
    "restaient souvent sans réponse.",
)
CONTEXT_TERRITOIRE: tuple[str, ...] = (
    "Dans ce territoire rural, l'absence de transports en commun freine l'accès à l'emploi et "
    "aux services publics.",
    "La communauté de communes regroupe {n_small} villages et un peu plus de {n_hab} habitants.",
    "Le {quartier} a perdu sa dernière épicerie en {annee}, et la population vieillit.",
    "Les distances sont longues : il faut parfois {n_km} kilomètres pour rejoindre la première "
    "agence France Travail.",
    "Les logements sociaux sont dispersés dans plusieurs communes, ce qui complique l'entretien "
    "et le lien avec les locataires.",
    "Ici, pas de grands ensembles mais des lotissements, des hameaux et quelques petites "
    "résidences du bailleur {bailleur}.",
    "Les jeunes quittent le territoire pour étudier ou travailler, et peu reviennent.",
)
CONTEXT_GENERIC: tuple[str, ...] = (
    "Avant le projet, aucune structure ne proposait ce service à moins de {n_km} kilomètres.",
    "La Régie intervient sur le {quartier} depuis {annee_regie} pour le nettoyage et "
    "l'entretien des espaces extérieurs.",
    "Le conseil citoyen avait relevé un fort sentiment d'isolement chez les personnes âgées et "
    "les familles monoparentales.",
    "Beaucoup de ménages cumulent des difficultés : impayés de loyer, factures d'énergie en "
    "hausse, difficultés d'accès aux droits.",
    "La demande est venue à la fois des habitants, du bailleur et de la ville, ce qui a facilité "
    "le démarrage.",
    "Au départ, la Régie ne disposait ni de local adapté ni de savoir-faire sur ce type "
    "d'activité.",
    "Une enquête menée auprès de {n_mid} ménages a confirmé le besoin : {pct} % des personnes "
    "interrogées se disaient intéressées.",
    "Les salariés en insertion de la Régie, souvent habitants du quartier, connaissaient bien "
    "ces difficultés.",
    "La fermeture du centre social en {annee} avait laissé un vide dans l'animation de la vie "
    "locale.",
    "La ville {de_ville} a inscrit ce projet dans son contrat de ville, au titre du pilier "
    "« cadre de vie et renouvellement urbain ».",
    "D'autres Régies du réseau avaient déjà expérimenté des actions proches, ce qui a donné "
    "envie de se lancer.",
    "Le projet s'inscrit dans la convention d'abattement de TFPB signée entre le bailleur, la "
    "ville et l'État.",
    "En {annee}, une première réunion publique à la maison de quartier a réuni {n_mid} "
    "personnes autour de cette question.",
    "{Regie_nom} emploie {n_etp} salariés, dont une majorité en parcours d'insertion.",
    "L'idée est née lors d'une assemblée générale de la Régie, à l'initiative de plusieurs "
    "habitantes.",
    "Les partenaires partageaient le constat, mais personne ne savait par où commencer.",
    "{Prenom}, salariée de la Régie depuis {n_tiny} ans, a été la première à porter l'idée.",
)
OBJECTIVE_INTROS: tuple[str, ...] = (
    "Le projet poursuit plusieurs objectifs, définis avec les habitants et les partenaires :",
    "Les objectifs ont été travaillés en comité de pilotage, puis validés par le conseil "
    "d'administration de la Régie :",
    "Pour la Régie, il s'agissait avant tout de répondre à un besoin concret tout en créant de "
    "l'emploi local :",
    "Dès le départ, les partenaires se sont accordés sur quelques objectifs simples :",
    "Les habitants ont formulé eux-mêmes ce qu'ils attendaient du projet :",
)
OBJECTIVE_ITEMS: tuple[str, ...] = (
    "créer des emplois d'insertion pour les habitants du quartier",
    "améliorer durablement le cadre de vie et la propreté des espaces communs",
    "renforcer le lien social entre voisins et entre générations",
    "associer les habitants à chaque étape, de la conception à l'évaluation",
    "proposer un service accessible, à des tarifs adaptés aux revenus des ménages",
    "réduire les impayés et les charges locatives",
    "développer une activité économique pérenne qui finance une partie du projet social",
    "offrir aux salariés en insertion un parcours qualifiant et des compétences reconnues",
    "mieux coordonner les interventions du bailleur, de la ville et de la Régie",
    "sensibiliser les familles au tri et à la réduction des déchets",
    "lutter contre l'isolement des personnes âgées",
    "faire du quartier un lieu où l'on a envie de rester",
    "tester un modèle reproductible par d'autres Régies du réseau",
    "favoriser l'accès aux droits et aux services publics",
    "valoriser les savoir-faire des habitants",
    "changer l'image du quartier auprès des habitants de l'agglomération",
)
OBJECTIVE_SENTENCES: tuple[str, ...] = (
    "Le public visé est d'abord {public}, mais le projet reste ouvert à tous.",
    "Un objectif chiffré a été fixé : toucher au moins {n_mid} personnes la première année.",
    "Au-delà de l'activité elle-même, la Régie voulait montrer que les habitants peuvent être "
    "acteurs de leur quartier.",
    "Les indicateurs de suivi ont été choisis avec les partenaires dès le lancement.",
    "L'enjeu était aussi de consolider le modèle économique de la Régie, trop dépendant d'un "
    "seul marché.",
    "Ces objectifs rejoignent ceux du contrat de ville et du projet associatif de la Régie.",
    "Il s'agissait enfin de faire {act_de} un levier pour {theme_hook}.",
    "Les objectifs ont été revus à la baisse la deuxième année, pour rester réalistes.",
)
METHOD_SENTENCES: tuple[str, ...] = (
    "Le projet a démarré en {year_start} par un diagnostic partagé avec les habitants, le "
    "bailleur {bailleur} et les services de la ville.",
    "Un groupe de travail d'une dizaine d'habitants s'est réuni chaque mois pendant {duree} "
    "pour définir le fonctionnement du service.",
    "La Régie a visité {act_un_autre} déjà en place dans une autre Régie du réseau, ce qui a "
    "permis d'éviter plusieurs erreurs.",
    "Un comité de pilotage réunit deux fois par an la Régie, {partenaire}, le bailleur et des "
    "représentants des habitants.",
    "Les salariés en insertion ont été associés dès le départ : ils ont participé aux réunions "
    "et proposé des améliorations.",
    "Une phase de test, pendant {duree}, a permis d'ajuster les horaires, les tarifs et "
    "l'organisation.",
    "L'encadrant technique a formé l'équipe aux gestes professionnels et aux règles de sécurité.",
    "La communication s'est faite surtout de bouche à oreille, par du porte-à-porte et des "
    "affiches dans les halls.",
    "Des permanences ont été tenues au pied des immeubles, le mercredi après-midi et le samedi "
    "matin.",
    "Le conseil d'administration, où siègent des habitants, des élus et le bailleur, a validé "
    "chaque étape.",
    "La convention avec {partenaire} a été signée en {annee}, après plusieurs mois de discussion.",
    "Une chargée de développement de la Régie a monté les dossiers de financement et assuré le "
    "lien avec les partenaires.",
    "Les habitants ont choisi eux-mêmes le nom du projet, « {projet} », lors d'un vote organisé "
    "à la fête de quartier.",
    "Le pôle Développement et Appui du Mouvement des Régies a accompagné la Régie sur le modèle "
    "économique et la gouvernance.",
    "Un atelier participatif a permis de dessiner l'aménagement du local avec les futurs usagers.",
    "Des réunions de coordination mensuelles avec le gardien et le chargé de gestion locative "
    "permettent de traiter les problèmes au fil de l'eau.",
    "Le calendrier a dû être revu plusieurs fois, notamment à cause des travaux de réhabilitation.",
    "L'équipe a mis en place un cahier de suivi pour noter les demandes, les incidents et les "
    "idées des habitants.",
    "La Régie a choisi d'avancer pas à pas : d'abord un seul immeuble, puis l'ensemble du "
    "{quartier}.",
    "Des temps conviviaux (goûters, repas partagés, fête de fin de saison) ont rythmé l'année.",
    "Les habitants volontaires ont signé une charte qui précise les droits et les devoirs de "
    "chacun.",
    "La médiation avec les locataires réticents a demandé du temps et beaucoup de dialogue.",
    "Un bilan intermédiaire a été présenté aux partenaires après {duree}.",
    "Les écoles du quartier ont été associées à travers des ateliers pédagogiques.",
    "La Régie s'est appuyée sur le centre social {Nom} pour toucher les familles les plus "
    "éloignées.",
    "Un référent habitant a été désigné pour chaque cage d'escalier.",
    "En {annee}, le projet a été étendu à {n_small} autres résidences du bailleur.",
    "Les retours des usagers sont recueillis par un questionnaire simple, traduit en plusieurs "
    "langues.",
    "La gestion urbaine de proximité (GUP) a servi de cadre pour coordonner les interventions.",
    "Le projet a été présenté au conseil citoyen, qui l'a soutenu et relayé auprès des habitants.",
    "{Prenom}, habitante de la {residence}, anime désormais le groupe des bénévoles.",
    "Les horaires d'ouverture ({horaires}) ont été fixés avec les usagers.",
)
METHOD_STEPS: tuple[str, ...] = (
    "Le diagnostic",
    "La concertation avec les habitants",
    "La recherche de financements",
    "La phase de test",
    "Le lancement",
    "La montée en charge",
    "L'évaluation",
    "L'extension à d'autres résidences",
    "La formation de l'équipe",
    "Le montage partenarial",
)
RESOURCE_SENTENCES: tuple[str, ...] = (
    "L'équipe compte {n_etp} salariés en insertion en CDDI, encadrés par un encadrant technique "
    "à temps plein.",
    "Le budget annuel s'élève à {euros_big}, dont {pct} % financés par les recettes de l'activité.",
    "Le bailleur met à disposition un local de {m2_local} m² en rez-de-chaussée, pour un loyer "
    "symbolique.",
    "L'investissement de départ ({euros_mid}) a couvert le matériel, les travaux d'aménagement et "
    "la signalétique.",
    "Le poste de coordination est financé par le contrat de ville et l'abattement de TFPB.",
    "Les salariés bénéficient de {n_heures} heures de formation par an, notamment en hygiène et "
    "sécurité.",
    "Une conseillère en insertion professionnelle accompagne chaque salarié dans son projet.",
    "Des bénévoles, souvent habitants du quartier, renforcent l'équipe lors des temps forts.",
    "Le Fonds social européen (FSE+) a cofinancé l'accompagnement socioprofessionnel pendant "
    "trois ans.",
    "Un véhicule utilitaire a été acheté grâce au soutien d'une fondation d'entreprise.",
    "Le temps de travail de la direction et de l'équipe administrative n'est pas entièrement "
    "couvert, ce qui reste une fragilité.",
    "La Régie a obtenu un prêt d'honneur de {euros_mid} auprès d'un réseau d'accompagnement de "
    "l'économie sociale et solidaire.",
    "Le matériel a été en partie récupéré auprès d'autres Régies et de partenaires.",
    "Les aides au poste de l'État représentent la première ressource du projet.",
    "{Partenaire} prend en charge une partie des frais de fonctionnement.",
)
BUDGET_COSTS: tuple[str, ...] = (
    "Masse salariale des salariés en insertion",
    "Encadrement technique",
    "Coordination",
    "Matériel et fournitures",
    "Loyer et fluides",
    "Formation",
    "Communication",
    "Frais de structure",
    "Véhicule et carburant",
    "Assurances",
)
BUDGET_INCOMES: tuple[str, ...] = (
    "Aides au poste IAE (État)",
    "Contrat de ville",
    "Abattement de TFPB",
    "Recettes de l'activité",
    "FSE+",
    "Conseil départemental",
    "Fondation",
    "Conseil régional",
    "Marché avec le bailleur",
)
RESULT_SENTENCES: tuple[str, ...] = (
    "En {n_annees} ans, {n_mid} habitants ont fréquenté le service au moins une fois.",
    "{n_small} salariés en insertion ont travaillé sur le projet ; {pct} % sont sortis vers un "
    "emploi durable ou une formation qualifiante.",
    "Le taux de satisfaction des usagers atteint {pct_high} % selon la dernière enquête.",
    "Les réclamations des locataires ont baissé de {pct_low} % sur les résidences concernées.",
    "Le bailleur constate une baisse nette des dégradations et des impayés de charges.",
    "Plus de {n_mid} familles ont participé à au moins une animation.",
    "Le chiffre d'affaires de l'activité a atteint {euros_mid} la troisième année.",
    "Des liens nouveaux se sont créés entre voisins qui ne se parlaient pas.",
    "Plusieurs habitants se sont engagés ensuite au conseil d'administration de la Régie.",
    "Le projet a été repris dans le nouveau contrat de ville comme action de référence.",
    "Les résultats sont plus modestes qu'espéré sur la participation des jeunes.",
    "{n_tiny} emplois permanents ont été créés, dont un occupé par un ancien salarié en insertion.",
    "Une habitante témoigne : « Je ne sortais plus de chez moi ; maintenant je connais tout le "
    "monde. »",
    "Les partenaires ont renouvelé leur soutien pour {n_tiny} ans.",
    "L'activité couvre désormais {pct} % de ses charges par ses propres recettes.",
)
RESULT_FIGURES: tuple[str, ...] = (
    "{n_mid} habitants touchés",
    "{n_small} salariés en insertion",
    "{pct} % de sorties dynamiques",
    "{pct_high} % d'usagers satisfaits",
    "{n_big} heures de travail en insertion",
    "{n_tiny} emplois permanents créés",
    "{n_mid} participants aux temps collectifs",
)
LESSON_SENTENCES: tuple[str, ...] = (
    "Ce qui a le mieux marché, c'est la présence régulière de l'équipe sur le terrain : les "
    "habitants savent à qui s'adresser.",
    "Le principal écueil a été de sous-estimer le temps nécessaire à la mobilisation des "
    "habitants.",
    "Il faut prévoir un temps de coordination rémunéré : sans lui, le projet repose sur la bonne "
    "volonté de quelques-uns.",
    "Le partenariat avec le bailleur est décisif ; il doit être formalisé par une convention "
    "claire, avec des objectifs partagés.",
    "Des tarifs trop bas ont mis en difficulté l'équilibre économique la première année.",
    "Impliquer les salariés en insertion dans les décisions a renforcé leur motivation et leur "
    "fierté.",
    "La rotation des interlocuteurs chez les partenaires a ralenti plusieurs étapes.",
    "Commencer petit, sur un seul immeuble, a permis de convaincre avant de s'étendre.",
    "Si c'était à refaire, la Régie associerait les jeunes plus tôt, en leur confiant de vraies "
    "responsabilités.",
    "Les habitants ne viennent pas aux réunions formelles ; il vaut mieux aller vers eux, au "
    "pied des immeubles.",
    "Le financement reste fragile : chaque année, une partie du budget dépend d'appels à projets.",
    "La mesure des résultats a été trop tardive ; il aurait fallu définir les indicateurs dès le "
    "départ.",
    "Le soutien des élus a été précieux, mais il ne remplace pas l'adhésion des habitants.",
    "Un facteur clé de réussite : la confiance construite au fil des années entre la Régie et "
    "les locataires.",
    "Les vols et les dégradations du début ont découragé une partie de l'équipe ; il a fallu en "
    "parler ouvertement.",
    "La traduction des supports dans plusieurs langues a nettement augmenté la fréquentation.",
    "Le lien avec les autres Régies du réseau a permis de ne pas repartir de zéro.",
    "Attention à ne pas faire à la place des habitants : le rôle de la Régie est de faciliter, "
    "pas de décider seule.",
    "Les impayés de quelques usagers ont pesé sur la trésorerie ; une règle claire a été adoptée.",
    "Le projet a montré qu'une activité support peut aussi devenir un lieu de vie.",
)
LESSON_LEADS: tuple[str, ...] = (
    "**Ce qui a marché.**",
    "**Les difficultés.**",
    "**Les facteurs de réussite.**",
    "**Les pièges à éviter.**",
    "**Si c'était à refaire.**",
)
TRANSFER_SENTENCES: tuple[str, ...] = (
    "Le projet peut être repris par toute Régie disposant d'un local en pied d'immeuble et d'un "
    "partenariat solide avec le bailleur.",
    "Il faut compter au moins {duree} de préparation avant l'ouverture.",
    "Conseil : impliquer le bailleur dès le diagnostic, et pas seulement au moment de chercher "
    "des financements.",
    "La Régie accueille volontiers les équipes d'autres Régies pour une visite ou une journée "
    "d'échange.",
    "Le modèle économique doit être adapté à chaque territoire : les recettes dépendent beaucoup "
    "du nombre de logements.",
    "Un accompagnement du pôle Développement et Appui du Mouvement est conseillé pour la phase "
    "de montage.",
    "En territoire rural, il faut prévoir un budget de déplacement plus important pour l'équipe.",
    "Avant de se lancer, mieux vaut vérifier que le besoin est partagé par les habitants, et pas "
    "seulement par les partenaires.",
    "Le plus important n'est pas le matériel mais l'équipe : un bon encadrant fait la moitié du "
    "projet.",
)
TRANSFER_DOCS: tuple[str, ...] = (
    "la convention type avec le bailleur",
    "le règlement intérieur",
    "le budget prévisionnel détaillé",
    "la fiche de poste de l'encadrant technique",
    "le questionnaire de satisfaction",
    "la charte des bénévoles",
    "le support de formation des salariés",
    "le bilan d'activité annuel",
    "les affiches et les flyers traduits",
    "le tableau de suivi des indicateurs",
)
TRANSFER_CONTACTS: tuple[str, ...] = (
    "Contact : l'équipe de {regie_nom}, par l'intermédiaire du centre de ressources du "
    "Mouvement des Régies.",
    "Pour en savoir plus, contacter la direction de {regie_nom} {a_ville}.",
    "{Prenom}, coordinatrice du projet, répond volontiers aux questions des autres Régies.",
)
PROBLEMS: tuple[str, ...] = (
    "des halls sales et mal éclairés",
    "des encombrants qui s'accumulent",
    "l'absence de lieu pour se retrouver",
    "des ascenseurs souvent en panne",
    "des caves squattées",
    "des espaces verts laissés à l'abandon",
    "le manque d'activités pour les jeunes",
    "des charges locatives trop élevées",
    "le bruit et les rodéos motorisés",
    "des impayés qui s'accumulent",
)
DURATIONS: tuple[str, ...] = (
    "six mois",
    "un an",
    "trois mois",
    "dix-huit mois",
    "deux ans",
    "quatre mois",
    "neuf mois",
)
HOURS: tuple[str, ...] = (
    "du lundi au vendredi, de 9 h à 17 h",
    "le mardi, le jeudi et le samedi matin",
    "tous les jours sauf le dimanche",
    "trois après-midi par semaine",
    "le mercredi et le samedi",
)
FIRST_NAMES: tuple[str, ...] = (
    "Fatima",
    "Nadia",
    "Sylvie",
    "Aminata",
    "Martine",
    "Samira",
    "Isabelle",
    "Khadija",
    "Sandrine",
    "Mariam",
    "Nathalie",
    "Leïla",
    "Josiane",
    "Awa",
    "Christine",
    "Yasmina",
    "Hélène",
    "Fatoumata",
    "Brigitte",
    "Naïma",
    "Chantal",
    "Malika",
    "Céline",
    "Soraya",
    "Rokia",
    "Marie-Claude",
    "Djamila",
    "Agnès",
    "Zineb",
    "Odile",
    "Aïcha",
    "Monique",
)
# (with the article, after "de"), ordered from common to rare
STREET_TYPES: tuple[tuple[str, str], ...] = (
    ("la rue", "de la rue"),
    ("l'avenue", "de l'avenue"),
    ("l'allée", "de l'allée"),
    ("la place", "de la place"),
    ("l'impasse", "de l'impasse"),
    ("le boulevard", "du boulevard"),
)
STREET_NAMES: tuple[str, ...] = (
    "Jean-Jaurès",
    "Victor-Hugo",
    "des Lilas",
    "Pablo-Picasso",
    "Louise-Michel",
    "de la Paix",
    "Jean-Moulin",
    "Nelson-Mandela",
    "Aimé-Césaire",
    "Gabriel-Péri",
    "des Écoles",
    "Marie-Curie",
    "de la République",
    "Lucie-Aubrac",
    "Frédéric-Chopin",
    "du Stade",
)

# Subjects (text, is_plural), verb groups (past participle, infinitive + object) and
# complements for the combinatorial sentences; each pool is ordered from common to rare
# and drawn with a Zipf-like law.
SUBJECTS: tuple[tuple[str, bool], ...] = (
    ("les habitants", True),
    ("l'équipe de la Régie", False),
    ("les salariés en insertion", True),
    ("le bailleur", False),
    ("les partenaires", True),
    ("la coordinatrice du projet", False),
    ("les locataires", True),
    ("l'encadrant technique", False),
    ("les bénévoles", True),
    ("le comité de pilotage", False),
    ("la ville", False),
    ("les jeunes du quartier", True),
    ("le conseil d'administration", False),
    ("les familles", True),
    ("le gardien", False),
    ("la chargée d'insertion", False),
    ("les élus", True),
    ("le conseil citoyen", False),
    ("l'amicale des locataires", False),
    ("les usagers", True),
    ("le centre social", False),
    ("les enfants de l'école voisine", True),
    ("la directrice de la Régie", False),
    ("les agents de la ville", True),
    ("un groupe d'habitantes", False),
    ("les seniors de la résidence", True),
    ("la maison de quartier", False),
)
VERBS: tuple[tuple[str, str], ...] = (
    ("mobilisé", "mobiliser les voisins des immeubles d'à côté"),
    ("proposé", "proposer de nouveaux créneaux d'ouverture"),
    ("organisé", "organiser une journée de nettoyage collectif"),
    ("repéré", "repérer les points noirs de propreté"),
    ("accompagné", "accompagner les salariés vers la formation"),
    ("amélioré", "améliorer l'accueil des nouveaux locataires"),
    ("signalé", "signaler les dépôts d'encombrants dans les caves"),
    ("animé", "animer des ateliers de sensibilisation au tri"),
    ("soutenu", "soutenir la démarche auprès des financeurs"),
    ("construit", "construire un calendrier commun d'interventions"),
    ("réparé", "réparer des vélos et des petits appareils"),
    ("financé", "financer l'achat de matériel"),
    ("partagé", "partager leurs savoir-faire"),
    ("évalué", "évaluer l'impact du projet sur le quotidien"),
    ("rencontré", "rencontrer les familles une par une"),
    ("aménagé", "aménager le local du rez-de-chaussée"),
    ("planté", "planter des arbres fruitiers"),
    ("entretenu", "entretenir les espaces verts des résidences"),
    ("nettoyé", "nettoyer les halls et les cages d'escalier"),
    ("négocié", "négocier un nouveau marché avec le bailleur"),
    ("formé", "former de nouveaux bénévoles"),
    ("relayé", "relayer l'information dans les halls"),
    ("valorisé", "valoriser le travail des salariés en insertion"),
    ("collecté", "collecter des meubles et des objets réutilisables"),
    ("apaisé", "apaiser les tensions entre voisins"),
    ("créé", "créer un collectif d'habitants"),
    ("rédigé", "rédiger une charte d'usage des lieux"),
    ("accueilli", "accueillir les nouveaux arrivants"),
    ("composté", "composter les déchets de cuisine"),
    ("recensé", "recenser les besoins des ménages"),
    ("décoré", "décorer les halls avec des fresques"),
    ("cartographié", "cartographier les usages des espaces extérieurs"),
    ("réhabilité", "réhabiliter un ancien local à vélos"),
    ("expérimenté", "expérimenter un système de prêt d'outils"),
    ("photographié", "photographier le quartier avant les démolitions"),
    ("interviewé", "interviewer les anciens du quartier"),
    ("sollicité", "solliciter une aide de la fondation"),
    ("désherbé", "désherber à la main les pieds d'arbres"),
    ("repeint", "repeindre les boîtes aux lettres"),
    ("traduit", "traduire les affiches en plusieurs langues"),
)
AUXILIARIES: tuple[tuple[str, str, bool], ...] = (
    # singular, plural, followed by a participle (True) or an infinitive (False)
    ("a", "ont", True),
    ("a", "ont", True),
    ("a pu", "ont pu", False),
    ("peut", "peuvent", False),
    ("doit", "doivent", False),
    ("a choisi de", "ont choisi de", False),
    ("continue à", "continuent à", False),
    ("souhaite", "souhaitent", False),
    ("a décidé de", "ont décidé de", False),
    ("a accepté de", "ont accepté de", False),
)
COMPLEMENTS: tuple[str, ...] = (
    "",
    "",
    "dans le {quartier}",
    "chaque semaine",
    "avec l'appui du bailleur",
    "au fil des mois",
    "dès le premier trimestre",
    "malgré les difficultés du début",
    "en lien avec le centre social",
    "pendant les vacances scolaires",
    "à la demande des locataires",
    "avec l'aide de la Régie",
    "en {mois} {annee}",
    "sans attendre les financements",
    "le long {rue_de}",
    "avec {partenaire}",
    "autour de la {residence}",
    "avec {Prenom}",
    "pendant l'hiver",
    "lors de la fête de quartier",
    "à plusieurs reprises",
)
MONTHS: tuple[str, ...] = (
    "janvier",
    "février",
    "mars",
    "avril",
    "mai",
    "juin",
    "juillet",
    "août",
    "septembre",
    "octobre",
    "novembre",
    "décembre",
)

TITLE_TEMPLATES: tuple[str, ...] = (
    "{Act_un} au pied des immeubles",
    "{Act_un} {a_ville}",
    "{projet} : {act_un} pour {public}",
    "Ouvrir {act_un} dans un quartier prioritaire",
    "Créer {act_un} avec les habitants du {quartier}",
    "Quand les habitants font vivre {act}",
    "De l'idée à l'ouverture : {act_un} {a_ville}",
    "Des emplois d'insertion grâce à {act_un}",
    "{projet}, {act_un} qui change le quotidien",
    "Comment monter {act_un} avec un bailleur",
    "{Act}, un levier pour {theme_hook}",
    "Mobiliser les habitants autour {act_de}",
    "Ce que {act} a changé dans le {quartier}",
    "Relancer {act_un} après des débuts difficiles",
    "{projet} : {n_annees_title} ans {act_de} {a_ville}",
    "{activity_title}",
    "{activity_title} {a_ville}",
    "{activity_title} : l'expérience du {quartier}",
)
SUMMARY_OPENINGS: tuple[str, ...] = (
    "{Regie_nom} a créé {act_un} dans le {quartier}, {a_ville}, en {year_start}.",
    "{A_ville}, {regie_nom} a lancé {act_un} avec le bailleur {bailleur} et les habitants du "
    "{quartier}.",
    "Depuis {year_start}, {regie_nom} porte le projet {projet} : {act_un} pensé avec les "
    "habitants du {quartier}.",
    "Dans le {quartier}, {a_ville}, le projet {projet} est né d'une demande des habitants "
    "relayée par {regie_nom}.",
)
SUMMARY_CLOSINGS: tuple[str, ...] = (
    "La fiche détaille les étapes, le budget et les conditions pour le refaire ailleurs.",
    "Les enseignements portent surtout sur la mobilisation des habitants et le partenariat.",
    "La Régie revient honnêtement sur les difficultés rencontrées.",
    "",
)

# Syllables of the rare proper names (the long tail of the vocabulary).
_SYLLABLES: tuple[str, ...] = (
    "ber",
    "car",
    "dal",
    "fon",
    "gar",
    "lan",
    "mar",
    "nor",
    "pel",
    "ros",
    "san",
    "tav",
    "vel",
    "bri",
    "cla",
    "dru",
    "gre",
    "plo",
    "tri",
    "vau",
    "mon",
    "ker",
    "lor",
    "bel",
    "cha",
    "gui",
    "rou",
    "sau",
    "vi",
    "la",
    "ma",
    "ne",
    "ri",
    "lo",
    "pa",
    "to",
    "mé",
    "vè",
    "zi",
    "bo",
)
_ENDINGS: tuple[str, ...] = ("", "ac", "ières", "ay", "eux", "ot", "in", "elle", "ard", "ès")
_LONG_TAIL = 2_000_000

# --------------------------------------------------------------------------------------
# Small helpers
# --------------------------------------------------------------------------------------

_VOWELS = frozenset("aeiouyhàâäéèêëîïôöùûüœAEIOUYHÀÂÄÉÈÊËÎÏÔÖÙÛÜŒ")


def slugify(text: str, max_length: int = MAX_SLUG_CHARS) -> str:
    """Lowercase ASCII words joined by hyphens, cut at a word boundary: `Été 2024` → `ete-2024`."""
    text = text.replace("œ", "oe").replace("Œ", "Oe").replace("æ", "ae").replace("Æ", "Ae")
    decomposed = unicodedata.normalize("NFKD", text)
    bare = "".join(c for c in decomposed if not unicodedata.combining(c)).lower()
    slug = re.sub(r"[^a-z0-9]+", "-", bare).strip("-")  # l’œuvre, l'œuvre → l-oeuvre
    if len(slug) > max_length:
        slug = slug[:max_length]
        slug = slug.rsplit("-", 1)[0] if "-" in slug else slug
    return slug.strip("-")


def _cap(text: str) -> str:
    return text[:1].upper() + text[1:]


def _de(name: str) -> str:
    """`de` before a proper name: de Lille, d'Amiens, du Havre, des Mureaux."""
    if name.startswith("Le "):
        return "du " + name[3:]
    if name.startswith("Les "):
        return "des " + name[4:]
    if name[0] in _VOWELS:
        return "d'" + name
    return "de " + name


def _a(name: str) -> str:
    """`à` before a place name: à Lille, au Havre, aux Mureaux."""
    if name.startswith("Le "):
        return "au " + name[3:]
    if name.startswith("Les "):
        return "aux " + name[4:]
    return "à " + name


def _de_np(np: str) -> str:
    """`de` before a definite noun phrase: du jardin, de la laverie, de l'atelier."""
    if np.startswith("le "):
        return "du " + np[3:]
    if np.startswith("les "):
        return "des " + np[4:]
    return "de " + np


def _zipf(rng: random.Random, seq: tuple | list):
    """An element of `seq`, the first ones much more often (P(rank r) ~ 1/r)."""
    return seq[int((len(seq) + 1) ** rng.random()) - 1]


def _fmt(n: int) -> str:
    """French thousands separator: 12 500."""
    return f"{n:,}".replace(",", " ")


def _rare_name(rank: int) -> str:
    """A pronounceable proper name, one per rank: the long tail of the vocabulary."""
    parts = []
    n = rank
    base = len(_SYLLABLES)
    while True:
        n, r = divmod(n, base)
        parts.append(_SYLLABLES[r])
        if n == 0:
            break
    ending = _ENDINGS[rank % len(_ENDINGS)]
    if len(parts) == 1:
        parts.append(_SYLLABLES[(rank * 7 + 3) % base])
    return _cap("".join(parts) + ending)


def _rare(rng: random.Random) -> str:
    return _rare_name(int(_LONG_TAIL ** rng.random()))


def count_words(text: str) -> int:
    """Words of a Markdown text: whitespace-separated tokens holding a letter or a digit."""
    return len(re.findall(r"\S*\w\S*", text))


# --------------------------------------------------------------------------------------
# Régies and taxonomy (fixed)
# --------------------------------------------------------------------------------------


@functools.cache
def _regie_table() -> tuple[dict, ...]:
    """127 fictional Régies with the internal details the fiches reuse (bailleur, quartier)."""
    rng = random.Random(1988)  # fixed: the network does not depend on the seed
    out: list[dict] = []
    names: set[str] = set()
    for region, _label, count, departments in REGIONS:
        for k in range(count):
            dept, code, cities, towns = departments[k % len(departments)]
            territoire = rng.random() < 0.2 and any(d[3] for d in departments)
            if territoire:
                while not towns:
                    dept, code, cities, towns = rng.choice(departments)
                city = rng.choice(towns)
            else:
                city = rng.choice(cities)
            for _attempt in range(50):
                if territoire:
                    name = rng.choice(
                        (
                            f"Régie de territoire {_de(city)} et environs",
                            f"Régie de territoire {rng.choice(RIVERS)}",
                            f"Régie de territoire du Pays {_de(_rare(rng))}",
                        )
                    )
                    hood = f"secteur {_de(city)}"
                else:
                    nh = rng.choice(NEIGHBOURHOODS)
                    name = rng.choice(
                        (
                            f"Régie de quartier {nh}",
                            f"Régie de quartier {nh}",
                            f"Régie de quartier {_de(city)}",
                            f"Régie de quartier {rng.choice(REGIE_FANCY_NAMES)}",
                            f"Régie inter-quartiers {_de(city)}",
                        )
                    )
                    hood = f"quartier {nh}"
                if name not in names:
                    break
            else:  # pragma: no cover - the pools are large enough
                name = f"Régie de quartier {_de(city)} {k}"
            names.add(name)
            bailleur = rng.choice(
                (
                    f"{dept} Habitat",
                    f"Habitat {code}",
                    f"{_rare(rng)} Habitat",
                    f"Logis {_rare(rng)}",
                    f"OPH {_de(city)}",
                    f"{city} Métropole Habitat",
                )
            )
            out.append(
                {
                    "slug": slugify(name),
                    "name": name,
                    "kind": "territoire" if territoire else "quartier",
                    "city": city,
                    "department": f"{dept} ({code})",
                    "region": region,
                    "_code": code,
                    "_bailleur": bailleur,
                    "_quartier": hood,
                }
            )
    slugs = [r["slug"] for r in out]
    assert len(out) == 127 and len(set(slugs)) == 127, "Régie slugs must be unique"
    return tuple(out)


@functools.cache
def _regie_cum_weights() -> tuple[float, ...]:
    """Some Régies write many more fiches than others (weights ~ 1/rank^0.8)."""
    rng = random.Random(2021)
    ranks = list(range(1, len(_regie_table()) + 1))
    rng.shuffle(ranks)
    total = 0.0
    cum = []
    for r in ranks:
        total += 1 / r**0.8
        cum.append(total)
    return tuple(cum)


def regies() -> list[dict]:
    """The 127 Régies as written to regies.yaml: {slug, name, kind, city, department, region}."""
    keys = ("slug", "name", "kind", "city", "department", "region")
    return [{k: r[k] for k in keys} for r in _regie_table()]


def taxonomy() -> dict[str, list[dict]]:
    """The vocabularies as written to taxonomy.yaml."""
    return {
        "themes": [{"slug": s, "label": label} for s, label in THEMES],
        "activities": [{"slug": a.slug, "label": a.label} for a in ACTIVITIES],
        "audiences": [{"slug": s, "label": label} for s, label, _ in AUDIENCES],
        "schemes": [{"slug": s, "label": label} for s, label in SCHEMES],
        "regions": [{"slug": s, "label": label} for s, label, _, _ in REGIONS],
    }


def _dump(data) -> str:
    return yaml.dump(
        data, Dumper=_SafeDumper, sort_keys=False, allow_unicode=True, default_flow_style=None
    )


def _dump_block(data) -> str:
    return yaml.dump(
        data, Dumper=_SafeDumper, sort_keys=False, allow_unicode=True, default_flow_style=False
    )


def write_taxonomy(out_dir: Path) -> Path:
    path = Path(out_dir) / "taxonomy.yaml"
    text = "# Vocabulaires du corpus synthétique (bench/generate.py).\n" + _dump_block(taxonomy())
    path.write_text(text, encoding="utf-8", newline="\n")
    return path


def write_regies(out_dir: Path) -> Path:
    path = Path(out_dir) / "regies.yaml"
    text = "# Régies fictives du corpus synthétique (bench/generate.py).\n" + _dump_block(regies())
    path.write_text(text, encoding="utf-8", newline="\n")
    return path


# --------------------------------------------------------------------------------------
# Template filling
# --------------------------------------------------------------------------------------


class _Ctx(dict):
    """Static slots of one fiche; missing keys are dynamic slots drawn anew at each use."""

    __slots__ = ("rng",)

    def __missing__(self, key: str) -> str:
        return _DYNAMIC[key](self.rng, self)


def _int(rng: random.Random, lo: int, hi: int) -> int:
    """Like rng.randint(lo, hi), three times faster (the generator draws ~50 per fiche)."""
    return lo + int(rng.random() * (hi - lo + 1))


def _rand(lo: int, hi: int) -> Callable[[random.Random, _Ctx], str]:
    return lambda rng, ctx: _fmt(_int(rng, lo, hi))


def _round_rand(lo: int, hi: int, step: int) -> Callable[[random.Random, _Ctx], str]:
    return lambda rng, ctx: _fmt(_int(rng, lo // step, hi // step) * step)


_DYNAMIC: dict[str, Callable[[random.Random, _Ctx], str]] = {
    "n_tiny": lambda rng, ctx: str(_int(rng, 2, 5)),
    "n_small": _rand(3, 30),
    "n_mid": _rand(20, 400),
    "n_big": _round_rand(300, 9000, 10),
    "n_km": _rand(3, 40),
    "n_hab": _round_rand(1500, 15000, 100),
    "n_logements": _round_rand(200, 3000, 10),
    "n_tonnes": _rand(2, 400),
    "n_kg": _round_rand(150, 3000, 10),
    "n_heures": _rand(20, 150),
    "n_etp": _rand(4, 60),
    "n_annees": lambda rng, ctx: str(_int(rng, 2, 6)),
    "pct": _rand(20, 90),
    "pct_low": _rand(10, 45),
    "pct_high": _rand(70, 98),
    "m2": _round_rand(200, 25000, 50),
    "m2_local": _rand(40, 300),
    "euros_mid": lambda rng, ctx: _fmt(_int(rng, 16, 300) * 500) + " €",
    "euros_big": lambda rng, ctx: _fmt(_int(rng, 80, 900) * 1000) + " €",
    "annee": lambda rng, ctx: str(_int(rng, int(ctx["year_start"]), int(ctx["year_last"]))),
    "annee_qpv": lambda rng, ctx: rng.choice(("2015", "2015", "2024")),
    "annee_regie": lambda rng, ctx: str(_int(rng, 1990, 2015)),
    "mois": lambda rng, ctx: rng.choice(MONTHS),
    "duree": lambda rng, ctx: _zipf(rng, DURATIONS),
    "horaires": lambda rng, ctx: rng.choice(HOURS),
    "probleme": lambda rng, ctx: _zipf(rng, PROBLEMS),
    "Nom": lambda rng, ctx: _rare(rng),
    "Prenom": lambda rng, ctx: _zipf(rng, FIRST_NAMES),
    "rue": lambda rng, ctx: f"{_zipf(rng, STREET_TYPES)[0]} {_street(rng)}",
    "rue_de": lambda rng, ctx: f"{_zipf(rng, STREET_TYPES)[1]} {_street(rng)}",
    "residence": lambda rng, ctx: f"résidence {_rare(rng)}",
    "partenaire": lambda rng, ctx: rng.choice(ctx.partner_phrases),
    "Partenaire": lambda rng, ctx: _cap(rng.choice(ctx.partner_phrases)),
    "act_un_autre": lambda rng, ctx: ctx["act_un"],
}


def _street(rng: random.Random) -> str:
    return _zipf(rng, STREET_NAMES) if rng.random() < 0.6 else _rare(rng)


class _FicheCtx(_Ctx):
    __slots__ = ("partner_phrases",)


def _fill(template: str, ctx: _Ctx) -> str:
    text = template.format_map(ctx)
    return text if text[0].isupper() or not text[0].isalpha() else text[0].upper() + text[1:]


def _combinatorial(rng: random.Random, ctx: _Ctx) -> str:
    subject, plural = SUBJECTS[int(len(SUBJECTS) * rng.random() ** 1.5)]
    sg, pl, participle = _zipf(rng, AUXILIARIES)
    done, todo = VERBS[int(len(VERBS) * rng.random() ** 1.5)]
    if participle:
        rest = todo.split(" ", 1)[1]
        verb = f"{pl if plural else sg} {done} {rest}"
    else:
        aux = pl if plural else sg
        if aux.endswith(" de") and todo[0] in _VOWELS:
            verb = f"{aux[:-1]}'{todo}"  # élision : « décidé d'évaluer »
        else:
            verb = f"{aux} {todo}"
    comp = _zipf(rng, COMPLEMENTS)
    comp = " " + comp.format_map(ctx) if comp else ""
    return _cap(f"{subject} {verb}{comp}.")


# --------------------------------------------------------------------------------------
# Fiches
# --------------------------------------------------------------------------------------


@dataclass
class Fiche:
    """One generated fiche: its slug, front matter (in file order) and sections by key."""

    slug: str
    meta: dict
    sections: dict[str, str]


def fiche_rng(seed: int, i: int) -> random.Random:
    """The random generator of fiche `i`: fiches are independent of each other."""
    return random.Random(seed * 10_000_019 + i)


_ORDERS: dict[tuple, tuple[tuple, ...]] = {}


def _sample(rng: random.Random, pool: tuple, k: int) -> tuple:
    """`k` distinct elements of `pool` in random order (one of 64 fixed shuffles: fast)."""
    orders = _ORDERS.get(pool)
    if orders is None:
        shuffler = random.Random(len(pool))
        orders = tuple(tuple(shuffler.sample(pool, len(pool))) for _ in range(64))
        _ORDERS[pool] = orders
    return orders[int(rng.random() * 64)][:k]


def _partners(rng: random.Random, regie: dict, city: str) -> list[tuple[str, str]]:
    """1–4 (name, phrase in a sentence) pairs; the bailleur comes first most of the time."""
    social, assoc, fondation, collectif, entreprise, amicale = (_rare(rng) for _ in range(6))
    candidates = [
        (regie["_bailleur"], regie["_bailleur"]),
        (f"Ville {_de(city)}", f"la Ville {_de(city)}"),
        (f"Centre social {social}", f"le centre social {social}"),
        (f"Mission locale {_de(city)}", f"la Mission locale {_de(city)}"),
        (f"CCAS {_de(city)}", f"le CCAS {_de(city)}"),
        (f"Association {assoc} Solidarité", f"l'association {assoc} Solidarité"),
        (f"Fondation {fondation}", f"la Fondation {fondation}"),
        (f"Collectif {collectif}", f"le collectif {collectif}"),
        (f"{entreprise} Environnement", f"l'entreprise {entreprise} Environnement"),
        (f"Amicale des locataires {amicale}", f"l'amicale des locataires {amicale}"),
        (f"Communauté d'agglomération {_de(city)}", "la communauté d'agglomération"),
    ]
    n = rng.choice((1, 2, 2, 3, 3, 3, 4, 4))
    first = candidates[0] if rng.random() < 0.85 else candidates[1]
    others = [c for c in rng.sample(candidates[1:], n) if c[0] != first[0]]
    return [first, *others][:n]


def _pick_themes(rng: random.Random, act: Activity) -> list[str]:
    n = rng.choice((1, 2, 2, 2, 3, 3))
    themes = [act.themes[0] if rng.random() < 0.8 else rng.choice(act.themes)]
    pool = [*act.themes, *act.themes, *(s for s, _ in THEMES)]
    while len(themes) < n:
        t = rng.choice(pool)
        if t not in themes:
            themes.append(t)
    return themes


def _pick_audiences(rng: random.Random, act: Activity) -> list[str]:
    n = rng.choice((1, 2, 2, 3))
    out = [act.audiences[0] if rng.random() < 0.7 else rng.choice(act.audiences)]
    pool = [*act.audiences, *act.audiences, *(s for s, _, _ in AUDIENCES)]
    while len(out) < n:
        a = rng.choice(pool)
        if a not in out:
            out.append(a)
    return out


def _pick_schemes(rng: random.Random, act: Activity) -> list[str]:
    n = rng.choice((0, 1, 1, 2, 2, 3))
    out: list[str] = []
    pool = [*act.schemes, *act.schemes, *(s for s, _ in SCHEMES)]
    while len(out) < n:
        s = rng.choice(pool)
        if s not in out:
            out.append(s)
    return out


def _years_and_status(rng: random.Random) -> tuple[int, int | None, str, bool, dt.date | None]:
    # More recent projects are more numerous.
    year_start = YEAR_MAX - int(rng.triangular(0, YEAR_MAX - YEAR_MIN + 1, 0))
    year_start = max(YEAR_MIN, min(YEAR_MAX, year_start))
    year_end = None
    if rng.random() < 0.45:
        year_end = min(YEAR_MAX, year_start + rng.randint(0, 6))
    r = rng.random()
    if r < 0.95:
        status = "published"
    elif r < 0.97:
        status = "draft"
    elif r < 0.985:
        status = "submitted"
    else:
        status = "archived"
    published_at = None
    featured = False
    if status == "published":
        earliest = dt.date(year_start, 1, 1)
        published_at = earliest + dt.timedelta(days=rng.randint(120, 1500))
        if published_at > LAST_PUBLICATION:
            span = (LAST_PUBLICATION - earliest).days
            published_at = earliest + dt.timedelta(days=rng.randint(0, max(span, 0)))
        featured = rng.random() < 0.0105
    return year_start, year_end, status, featured, published_at


def _paragraphs(rng: random.Random, sentences: list[str]) -> list[str]:
    """Groups sentences into paragraphs of 2 to 4."""
    out = []
    k = 0
    while k < len(sentences):
        n = rng.randint(2, 4)
        out.append(" ".join(sentences[k : k + n]))
        k += n
    return out


def _prose(
    rng: random.Random,
    ctx: _Ctx,
    target: int,
    first: list[str],
    pools: tuple[tuple[str, ...], ...],
) -> tuple[list[str], int]:
    """Sentences until `target` words: `first` ones, then the pools, then free combinations."""
    sentences: list[str] = []
    words = 0
    queue = list(first)
    for pool in pools:
        queue.extend(_sample(rng, pool, 9))
    qi = 0
    while words < target:
        if qi < len(queue) and (qi < len(first) or rng.random() < 0.85):
            s = _fill(queue[qi], ctx)
            qi += 1
        else:
            s = _combinatorial(rng, ctx)
        sentences.append(s)
        words += s.count(" ") + 1
    return sentences, words


def _bullets(items: list[str]) -> str:
    return "\n".join(f"- {item}" for item in items)


def build_fiche(i: int, rng: random.Random) -> Fiche:
    """Draws fiche number `i` (its slug ends with `-i`, so slugs are unique)."""
    table = _regie_table()
    regie = rng.choices(table, cum_weights=_regie_cum_weights())[0]
    act = _zipf(rng, ACTIVITIES) if rng.random() < 0.5 else rng.choice(ACTIVITIES)
    city = regie["city"]
    quartier = (
        regie["_quartier"]
        if rng.random() < 0.6 or regie["kind"] == "territoire"
        else (f"quartier {rng.choice(NEIGHBOURHOODS)}")
    )
    themes = _pick_themes(rng, act)
    audiences = _pick_audiences(rng, act)
    schemes = _pick_schemes(rng, act)
    partners = _partners(rng, regie, city)
    year_start, year_end, status, featured, published_at = _years_and_status(rng)
    projet = rng.choice(act.names) if rng.random() < 0.75 else f"{act.names[0]} {_rare(rng)}"

    ctx = _FicheCtx()
    ctx.rng = rng
    ctx.partner_phrases = [phrase for _, phrase in partners]
    regie_nom = "la " + regie["name"]
    ctx.update(
        {
            "quartier": quartier,
            "ville": city,
            "a_ville": _a(city),
            "A_ville": _cap(_a(city)),
            "de_ville": _de(city),
            "bailleur": regie["_bailleur"],
            "projet": projet,
            "act": act.np,
            "Act": _cap(act.np),
            "act_de": _de_np(act.np),
            "act_un": act.un,
            "Act_un": _cap(act.un),
            "public": AUDIENCE_PHRASES[audiences[0]],
            "theme_hook": THEME_HOOKS[themes[0]],
            "regie_nom": regie_nom,
            "Regie_nom": _cap(regie_nom),
            "year_start": str(year_start),
            "year_last": str(max(year_start, year_end or min(YEAR_MAX, year_start + 4))),
            "n_annees_title": str(max(2, (year_end or YEAR_MAX) - year_start + 1)),
            "activity_title": rng.choice(act.titles),
        }
    )

    # Title and slug.
    title = _fill(rng.choice(TITLE_TEMPLATES), ctx)
    base = slugify(title, MAX_SLUG_CHARS - len(str(i)) - 1) or "fiche"
    slug = f"{base}-{i}"

    scale = rng.uniform(0.82, 1.08)
    sections: dict[str, str] = {}

    # Contexte
    local = CONTEXT_TERRITOIRE if regie["kind"] == "territoire" else CONTEXT_QUARTIER
    first = _sample(rng, act.ctx, 2)
    sents, _ = _prose(rng, ctx, int(165 * scale), first, (local, CONTEXT_GENERIC))
    sections["context"] = "\n\n".join(_paragraphs(rng, sents))

    # Objectifs: an introduction, a list, a few sentences.
    items = [*_sample(rng, act.obj, 2), *_sample(rng, OBJECTIVE_ITEMS, rng.randint(2, 4))]
    rng.shuffle(items)
    items = [
        _cap(_fill(x, ctx)) + ("." if k == len(items) - 1 else " ;") for k, x in enumerate(items)
    ]
    used = sum(x.count(" ") + 1 for x in items)
    intro = _fill(rng.choice(OBJECTIVE_INTROS), ctx)
    sents, _ = _prose(rng, ctx, int(95 * scale) - used, [], (OBJECTIVE_SENTENCES,))
    sections["objectives"] = "\n\n".join([intro, _bullets(items), *_paragraphs(rng, sents)])

    # Démarche: sometimes in steps with ### headings.
    first = _sample(rng, act.met, 3)
    pools = (METHOD_SENTENCES, THEME_SENTENCES[themes[0]])
    if rng.random() < 0.4:
        steps = rng.sample(METHOD_STEPS, rng.randint(2, 4))
        parts = []
        per_step = int(215 * scale) // len(steps)
        for k, step in enumerate(steps, 1):
            sents, _ = _prose(rng, ctx, per_step, first[k - 1 : k], pools)
            parts.append(f"### Étape {k} : {step[0].lower() + step[1:]}")
            parts.extend(_paragraphs(rng, sents))
        sections["method"] = "\n\n".join(parts)
    else:
        sents, _ = _prose(rng, ctx, int(215 * scale), first, pools)
        sections["method"] = "\n\n".join(_paragraphs(rng, sents))

    # Moyens: prose and, often, a budget.
    parts = []
    target = int(125 * scale)
    if rng.random() < 0.6:
        costs = rng.sample(BUDGET_COSTS, rng.randint(3, 5))
        incomes = rng.sample(BUDGET_INCOMES, rng.randint(2, 4))
        amounts = [rng.randint(2, 120) * 500 for _ in costs]
        weights = [rng.random() + 0.2 for _ in incomes]
        shares = [int(sum(amounts) * w / sum(weights)) // 500 * 500 for w in weights]
        shares[0] += sum(amounts) - sum(shares)  # the budget balances
        lines = [f"{c} : {_fmt(a)} €" for c, a in zip(costs, amounts, strict=True)]
        lines += [f"{c} : {_fmt(a)} €" for c, a in zip(incomes, shares, strict=True)]
        parts.append(f"Budget de l'année {ctx['annee']} (en euros) :")
        parts.append(_bullets(lines[: len(costs)]))
        parts.append("Financements :")
        parts.append(_bullets(lines[len(costs) :]))
        target -= sum(x.count(" ") + 1 for x in lines) + 10
    sents, _ = _prose(rng, ctx, max(target, 40), [], (RESOURCE_SENTENCES,))
    sections["resources"] = "\n\n".join([*_paragraphs(rng, sents), *parts])

    # Résultats: figures first, then prose.
    figures = [*_sample(rng, act.figures, 2), *_sample(rng, RESULT_FIGURES, rng.randint(1, 3))]
    figure_lines = [_fill(f, ctx) for f in figures]
    used = sum(x.count(" ") + 1 for x in figure_lines)
    first = _sample(rng, act.res, 2)
    sents, _ = _prose(rng, ctx, int(145 * scale) - used, first, (RESULT_SENTENCES,))
    paragraphs = _paragraphs(rng, sents)
    lead = rng.choice(("En chiffres :", "Quelques chiffres clés :", "Le bilan en chiffres :"))
    sections["results"] = "\n\n".join([lead, _bullets(figure_lines), *paragraphs])

    # Enseignements: sometimes with bold leads.
    first = _sample(rng, act.les, 2)
    sents, _ = _prose(
        rng, ctx, int(150 * scale), first, (LESSON_SENTENCES, THEME_SENTENCES[themes[-1]])
    )
    paragraphs = _paragraphs(rng, sents)
    if rng.random() < 0.5:
        leads = LESSON_LEADS[: len(paragraphs)]
        paragraphs = [f"{lead} {p}" for lead, p in zip(leads, paragraphs, strict=False)] + (
            paragraphs[len(leads) :]
        )
    sections["lessons"] = "\n\n".join(paragraphs)

    # Pour essaimer: advice, documents, contact.
    sents, _ = _prose(rng, ctx, int(70 * scale), [], (TRANSFER_SENTENCES,))
    docs = _sample(rng, TRANSFER_DOCS, rng.randint(2, 4))
    contact = _fill(rng.choice(TRANSFER_CONTACTS), ctx)
    sections["transfer"] = "\n\n".join(
        [
            *_paragraphs(rng, sents),
            "Documents disponibles sur demande :",
            _bullets([_cap(d) for d in docs]),
            contact,
        ]
    )

    # Summary: one paragraph, at most 600 characters.
    summary_parts = [
        _fill(rng.choice(SUMMARY_OPENINGS), ctx),
        "Objectif : " + rng.choice(act.obj).format_map(ctx) + ".",
        _fill(rng.choice(act.res), ctx),
        rng.choice(SUMMARY_CLOSINGS),
    ]
    summary = ""
    for part in summary_parts:
        if part and len(summary) + len(part) + 1 <= MAX_SUMMARY_CHARS:
            summary = f"{summary} {part}".strip()

    # Apostrophes: straight, typographic, or mixed (one paragraph in two).
    style = rng.random()
    if style < 0.45:
        pass
    elif style < 0.85:
        title = title.replace("'", "’")
        summary = summary.replace("'", "’")
        sections = {k: v.replace("'", "’") for k, v in sections.items()}
    else:
        summary = summary.replace("'", "’")
        sections = {
            k: "\n\n".join(
                p.replace("'", "’") if n % 2 else p for n, p in enumerate(v.split("\n\n"))
            )
            for k, v in sections.items()
        }

    meta = {
        "title": title,
        "regie": regie["slug"],
        "themes": themes,
        "activity": act.slug,
        "audiences": audiences,
        "schemes": schemes,
        "partners": [name for name, _ in partners],
        "year_start": year_start,
        "year_end": year_end,
        "status": status,
        "featured": featured,
        "published_at": published_at,
        "summary": summary,
    }
    return Fiche(slug=slug, meta=meta, sections=sections)


def render_fiche(fiche: Fiche) -> str:
    """The file text of a fiche: YAML front matter, then the seven sections."""
    body = "\n\n".join(
        f"## {heading}\n\n{fiche.sections[key]}" for key, heading in SECTION_HEADINGS
    )
    return f"---\n{_dump(fiche.meta)}---\n{body}\n"


def generate_fiche(i: int, rng: random.Random) -> tuple[str, str]:
    """(slug, file text) of fiche `i`."""
    fiche = build_fiche(i, rng)
    return fiche.slug, render_fiche(fiche)


def iter_fiches(count: int, seed: int = 0, start: int = 0) -> Iterator[tuple[str, str]]:
    """(slug, file text) of fiches start … start+count-1, in memory."""
    for i in range(start, start + count):
        yield generate_fiche(i, fiche_rng(seed, i))


def write_fiches(fiches_dir: Path, start: int, stop: int, seed: int = 0) -> int:
    """Writes fiches start … stop-1 into `fiches_dir`; returns how many were written."""
    fiches_dir = Path(fiches_dir)
    for i in range(start, stop):
        slug, text = generate_fiche(i, fiche_rng(seed, i))
        with open(fiches_dir / f"{slug}.md", "w", encoding="utf-8", newline="\n") as f:
            f.write(text)
    return max(stop - start, 0)


def _write_chunk(args: tuple[str, int, int, int]) -> int:
    directory, start, stop, seed = args
    return write_fiches(Path(directory), start, stop, seed)


def generate(out_dir: Path, count: int, seed: int = 0, jobs: int = 1) -> None:
    """Writes a complete knowledge folder: taxonomy.yaml, regies.yaml, fiches/<slug>.md.

    The output depends only on `count` and `seed` (not on `jobs`).
    """
    out_dir = Path(out_dir)
    fiches_dir = out_dir / "fiches"
    fiches_dir.mkdir(parents=True, exist_ok=True)
    write_taxonomy(out_dir)
    write_regies(out_dir)
    if jobs <= 1 or count < 2000:
        write_fiches(fiches_dir, 0, count, seed)
        return
    chunk = 2000
    tasks = [(str(fiches_dir), a, min(a + chunk, count), seed) for a in range(0, count, chunk)]
    with ProcessPoolExecutor(max_workers=jobs) as pool:
        for _ in pool.map(_write_chunk, tasks):
            pass


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description="Génère un corpus synthétique au format knowledge/ (benchmarks)."
    )
    parser.add_argument("out_dir", type=Path, help="dossier de sortie (créé si besoin)")
    parser.add_argument("--count", type=int, required=True, help="nombre de fiches")
    parser.add_argument("--seed", type=int, default=0, help="graine (défaut : 0)")
    parser.add_argument(
        "--jobs",
        type=int,
        default=os.cpu_count() or 1,
        help="processus en parallèle ; la sortie n'en dépend pas (défaut : nombre de cœurs)",
    )
    args = parser.parse_args(argv)
    if args.count < 0:
        parser.error("--count doit être positif")
    started = time.perf_counter()
    generate(args.out_dir, args.count, args.seed, args.jobs)
    elapsed = time.perf_counter() - started
    print(
        f"{args.count} fiches écrites dans {args.out_dir} en {elapsed:.1f} s "
        f"(graine {args.seed}, {args.jobs} processus)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
