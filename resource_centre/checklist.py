"""The completeness checklist of a fiche: ten criteria of what makes it reusable by another
Régie, one definition shown to the contributor while writing (never blocking) and to the
curators as the review grid ("7/10").

Every criterion is a plain reading of the text, meant to be explained in one sentence to the
person writing; words are matched accent- and case-insensitively (`taxonomy.fold`), at the
start of a word (« frein » finds « freins », « freiné »):

1. context with figures: a number in digits in Contexte (a lone year such as 2015 does not
   count);
2. a difficulty named: a word of `DIFFICULTY_WORDS` (difficulté, frein, obstacle, piège,
   échec, problème, « n'a pas marché », retard, tension, …) in Démarche, Résultats or
   Enseignements;
3. results measured: a number (not a lone year) in Résultats, or the figure
   `people_reached` or `insertion_jobs`;
4. how results are known: a word of `MEASURE_WORDS` (comptage, enquête, questionnaire,
   bilan, suivi, entretiens, registre, relevé, évaluation, …) in Résultats;
5. costs given: the figure `cost_eur`, or an amount in euros (« 45 000 € », « 12 k€ »,
   « 3 000 euros ») in Moyens;
6. partners with roles: at least one partner written with its role (`split_partner`);
7. residents' part: the section « Place des habitants » is written;
8. a lesson another Régie can apply: Enseignements of `LESSON_MIN_WORDS` words or more, or
   « Pour essaimer » written, or a document attached to reuse (`attachments`);
9. a contact: « Pour essaimer » says whom to reach (contact, joindre, écrire, téléphone,
   appeler…), or an e-mail address or a phone number appears in the fiche;
10. dates and figures as data: the starting year and at least one structured figure.

A fiche express is held to the same list (one definition): written in a few minutes, it
naturally meets fewer criteria (often 3 or 4 of 10), which tells the network team what to ask
in the interview that grows it into a full fiche.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Iterable
from dataclasses import dataclass

from sqlalchemy import func
from sqlmodel import Session, col, select

from resource_centre.fiche_data import FicheData, split_partner
from resource_centre.figures import normalized_figures
from resource_centre.models import Attachment, Regie, WriteUp
from resource_centre.taxonomy import fold
from resource_centre.writeups import data_from_writeup, fiche_data_from_json

LESSON_MIN_WORDS = 40

# Word starts on folded text (no accents, lower case, straight apostrophes), as regular
# expressions (`\b` at the end asks for the whole word).
DIFFICULTY_WORDS = (
    "diffic",  # difficulté, difficile
    "frein",
    "obstacle",
    "piege",
    "echec",
    "echou",  # échoué, échouer
    "probleme",
    "n'(?:a|ont|avons) (?:pas|jamais) (?:marche|fonctionne|suffi|pris|tenu)",
    "sans succes",
    "ne suffi(?:t|sait|ra) pas",
    "insuffisan",
    "retard",
    "tension",
    "blocage",
    "bloque",
    "conflit",
    "erreur",
    "(?:a|ont|avons) failli",
    "resistance",
    "abandon",
    "faute de",
    "manque",
    "ecueil",
    "points? faibles?",
    "(?:ses|leurs|ces|des|nos) limites",
    "(?:nous sommes|s'est|se sont|me suis) trompe",
    "dec(?:ue?s?\\b|eption|evant)",  # déçu, déception, décevant (not « décupler »)
    "crain",  # craint, crainte, craindre
    "craign",  # craignait
    "plaint",  # plainte, se sont plaints
    "du mal a",  # « avoir du mal à »
    "regrett",
)
MEASURE_WORDS = (
    "comptage",
    "compte(?:e|es|s)\\b",  # comptés, comptées (not « compte tenu »)
    "comptabilis",
    "decompt",
    "recens",
    "enquete",
    "questionnaire",
    "sondage",
    "bilan",
    "suivi",
    "entretiens\\b",  # interviews (« l'entretien des espaces verts » is upkeep)
    "entretien (?:individuel|de sortie|de suivi|avec)",
    "registre",
    "releve",
    "evalu",  # évaluation, évalué
    "tableaux? de bord",
    "statistique",
    "emargement",
    "feuilles? de presence",
    "pesee",
    "pesage",
    "observ",  # observation, observatoire
)
CONTACT_WORDS = (
    "contact",
    "joindre",
    "joignable",
    "ecri(?:re|vez)",
    "telephon",
    "appel(?:er|ez)",
    "courriel",
    "e-?mail",
    "adresse electronique",
)


def _word_starts(words: Iterable[str]) -> re.Pattern[str]:
    return re.compile(r"(?<!\w)(?:" + "|".join(words) + ")")


_DIFFICULTY_RE = _word_starts(DIFFICULTY_WORDS)
_MEASURE_RE = _word_starts(MEASURE_WORDS)
_CONTACT_RE = _word_starts(CONTACT_WORDS)
_NUMBER_RE = re.compile(r"\d+(?:[ \u00a0\u202f.,]\d+)*")
_YEAR_RE = re.compile(r"(?:19|20)\d\d|2100")
# The units of an amount in euros; `_has_euros` then looks for a digit next to one. (A single
# pattern "digits then unit" backtracked in quadratic time on long runs of digits.)
_EURO_UNIT_RE = re.compile(
    r"[km]?€|(?<!\w)(?:keur|eur|euros?|millions? d'euros)(?!\w)", re.IGNORECASE
)
# Possessive quantifiers and the look-behind keep this linear on long runs of word characters.
_EMAIL_RE = re.compile(r"(?<![\w.+-])[\w.+-]++@[\w-]++(?:\.[\w-]++)+")
_PHONE_RE = re.compile(r"(?<!\d)0[1-9](?:[ .\u00a0-]?\d\d){4}(?!\d)")


def _has_euros(text: str) -> bool:
    """True if `text` gives an amount in euros: « 12 400 € », « 35 k€ », « 2 millions d'euros »,
    « € 300 »."""
    for unit in _EURO_UNIT_RE.finditer(text):
        before = text[max(0, unit.start() - 8) : unit.start()].rstrip(" \u00a0\u202f")
        if before[-1:].isdigit():
            return True
        after = text[unit.end() : unit.end() + 8].lstrip(" \u00a0\u202f")
        if unit.group().endswith("€") and after[:1].isdigit():
            return True
    return False


@dataclass(frozen=True)
class Criterion:
    """One criterion of the checklist, as declared: key, short French label, French hint."""

    key: str
    label: str
    hint: str  # how to meet it, one sentence


@dataclass(frozen=True)
class CriterionResult:
    """A criterion and whether a given fiche meets it."""

    key: str
    label: str
    met: bool
    hint: str


@dataclass(frozen=True)
class Checklist:
    """A fiche's checklist: every criterion in order, how many are met, the score "7/10"."""

    items: tuple[CriterionResult, ...]
    met: int
    total: int

    @property
    def score(self) -> str:
        return f"{self.met}/{self.total}"

    @property
    def unmet(self) -> tuple[CriterionResult, ...]:
        return tuple(item for item in self.items if not item.met)


CRITERIA: tuple[Criterion, ...] = (
    Criterion(
        "context_figures",
        "Contexte chiffré",
        "Ajoutez au moins un chiffre au contexte : habitants ou logements du quartier, taux "
        "de chômage, distance au premier service…",
    ),
    Criterion(
        "difficulty",
        "Une difficulté nommée",
        "Racontez au moins une difficulté rencontrée (un frein, un échec, un retard) et ce "
        "que vous en avez fait : c'est ce qui aide le plus les autres Régies.",
    ),
    Criterion(
        "results_measured",
        "Résultats chiffrés",
        "Donnez au moins un chiffre dans les résultats (personnes touchées, emplois, tonnes, "
        "m²…) ou remplissez les chiffres clés « emplois en insertion » ou « personnes "
        "touchées ».",
    ),
    Criterion(
        "results_source",
        "Mesure des résultats expliquée",
        "Dites dans les résultats comment vous les connaissez : comptage, questionnaire, "
        "bilan annuel, suivi des salariés, entretiens…",
    ),
    Criterion(
        "costs",
        "Coûts indiqués",
        "Indiquez un montant en euros dans les moyens, ou le coût dans les chiffres clés.",
    ),
    Criterion(
        "partner_roles",
        "Partenaires et leur rôle",
        "Pour au moins un partenaire, précisez son rôle (par exemple « Ville — finance le "
        "poste »).",
    ),
    Criterion(
        "residents",
        "Place des habitants",
        "Remplissez la section « Place des habitants » : comment les habitants ont pris part "
        "au projet.",
    ),
    Criterion(
        "transferable_lesson",
        "Un enseignement transposable",
        f"Développez les enseignements ({LESSON_MIN_WORDS} mots au moins) ou remplissez « Pour "
        "essaimer » avec les conditions pour refaire l'action ailleurs.",
    ),
    Criterion(
        "contact",
        "Un contact",
        "Dites dans « Pour essaimer » qui contacter et comment : fonction, adresse "
        "électronique ou téléphone.",
    ),
    Criterion(
        "structured_data",
        "Dates et chiffres clés",
        "Indiquez l'année de début et au moins un chiffre clé (coût, emplois, personnes "
        "touchées…).",
    ),
)
CRITERION_KEYS: tuple[str, ...] = tuple(c.key for c in CRITERIA)


def _folded(text: str) -> str:
    return fold(text.replace("\u2019", "'").replace("\u02bc", "'"))


def _has_word(text: str, pattern: re.Pattern[str]) -> bool:
    """Does `pattern` (word starts, `_word_starts`) match in `text`, folded?"""
    return bool(pattern.search(_folded(text)))


def _has_number(text: str) -> bool:
    """A number other than a lone year (« 1 200 logements » counts, « en 2015 » not)."""
    return any(not _YEAR_RE.fullmatch(n) for n in _NUMBER_RE.findall(text))


def _words(text: str) -> int:
    return len(re.findall(r"\w+", text))


def _checks(data: FicheData, attachments: int) -> dict[str, bool]:
    """Whether `data` meets each criterion, by key."""
    section = {key: (text or "").strip() for key, text in data.sections.items()}
    context, method = section.get("context", ""), section.get("method", "")
    resources, results = section.get("resources", ""), section.get("results", "")
    lessons, transfer = section.get("lessons", ""), section.get("transfer", "")
    figures = normalized_figures(data.figures) if isinstance(data.figures, dict) else {}
    every_text = "\n".join([data.summary, *section.values()])
    return {
        "context_figures": _has_number(context),
        "difficulty": _has_word("\n".join((method, results, lessons)), _DIFFICULTY_RE),
        "results_measured": _has_number(results)
        or any(figures.get(k) is not None for k in ("people_reached", "insertion_jobs")),
        "results_source": _has_word(results, _MEASURE_RE),
        "costs": figures.get("cost_eur") is not None or _has_euros(resources),
        "partner_roles": any(split_partner(p)[0] and split_partner(p)[1] for p in data.partners),
        "residents": bool(section.get("residents")),
        "transferable_lesson": _words(lessons) >= LESSON_MIN_WORDS
        or bool(transfer)
        or attachments > 0,
        "contact": _has_word(transfer, _CONTACT_RE)
        or bool(_EMAIL_RE.search(every_text) or _PHONE_RE.search(every_text)),
        "structured_data": data.year_start is not None and bool(figures),
    }


def evaluate(data: FicheData, *, attachments: int = 0) -> Checklist:
    """The checklist of a fiche's content; `attachments` is how many documents it has."""
    checks = _checks(data, attachments)
    items = tuple(CriterionResult(c.key, c.label, checks[c.key], c.hint) for c in CRITERIA)
    return Checklist(items=items, met=sum(item.met for item in items), total=len(items))


# --- for the curators' pages ---------------------------------------------------------------


def reviewed_data(writeup: WriteUp, regie_slug: str | None = None) -> FicheData:
    """What a curator reviews: the proposed revision of a published fiche, else the fiche."""
    if writeup.pending and writeup.status == "published":
        return fiche_data_from_json(writeup.pending, slug=writeup.slug)
    return data_from_writeup(writeup, regie_slug)


def attachment_counts(session: Session, writeup_ids: Collection[int]) -> dict[int, int]:
    """How many attachments each of these fiches has (one query; absent when none)."""
    if not writeup_ids:
        return {}
    rows = session.execute(
        select(col(Attachment.writeup_id), func.count())
        .where(col(Attachment.writeup_id).in_(list(writeup_ids)))
        .group_by(col(Attachment.writeup_id))
    ).all()
    return {writeup_id: count for writeup_id, count in rows}


def for_writeups(session: Session, writeups: Iterable[WriteUp]) -> dict[int, Checklist]:
    """The checklist of each loaded fiche (its proposed revision if any), by id: one query
    for the attachments, the rest in Python."""
    writeups = [w for w in writeups if w.id is not None]
    counts = attachment_counts(session, {w.id for w in writeups if w.id is not None})
    return {
        w.id: evaluate(reviewed_data(w), attachments=counts.get(w.id, 0))
        for w in writeups
        if w.id is not None
    }


def for_writeup(session: Session, writeup: WriteUp) -> Checklist:
    """The checklist of one fiche (its proposed revision if any)."""
    regie = session.get(Regie, writeup.regie_id) if writeup.regie_id else None
    counts = attachment_counts(session, [writeup.id] if writeup.id is not None else [])
    return evaluate(
        reviewed_data(writeup, regie.slug if regie else None),
        attachments=counts.get(writeup.id or 0, 0),
    )
