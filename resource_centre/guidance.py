"""What the guided fiche form and the fiche express say to the person writing: for each
section its questions, a target length and a short example in the spirit of a demo fiche;
the six questions of the fiche express; word counts; and a first draft of the summary built
from what was written (deterministic: first sentences, cut on a word boundary).

Pure data and text functions: no database, no web.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

from resource_centre.taxonomy import MAX_SUMMARY_CHARS, SECTION_KEYS


@dataclass(frozen=True)
class SectionGuide:
    """How the guided form helps with one section of the fiche."""

    key: str  # a section key (taxonomy.SECTIONS)
    subtitle: str  # said the way people remember it, after the section's heading
    questions: tuple[str, ...]  # 2 to 4, concrete
    words: tuple[int, int]  # target length (min, max) in words
    example: str  # a short excerpt, Markdown
    example_from: str  # slug of the demo fiche it is taken from
    example_title: str  # that fiche's title, as a reader knows it


GUIDES: dict[str, SectionGuide] = {
    guide.key: guide
    for guide in (
        SectionGuide(
            "context",
            "le point de départ",
            (
                "Où se passe l'action : le quartier ou le territoire, en quelques chiffres "
                "(logements, habitants) ?",
                "Quel problème vouliez-vous régler, et qui l'a fait remonter (habitants, "
                "bailleur, ville) ?",
                "Qu'est-ce qui existait déjà avant vous ?",
            ),
            (80, 200),
            "Le Plateau des Tilleuls compte environ 2 400 logements sociaux. Beaucoup de "
            "logements sont trop petits pour un lave-linge et la dernière laverie du quartier a "
            "fermé en 2014 : les familles prenaient le bus avec leurs sacs de linge. La demande "
            "est remontée par l'association des locataires, puis lors du diagnostic en marchant "
            "de la Ville.",
            "laverie-solidaire-quartier-des-tilleuls",
            "Une laverie solidaire au cœur du Plateau des Tilleuls",
        ),
        SectionGuide(
            "objectives",
            "ce que vous visiez",
            (
                "Qu'est-ce que vous vouliez changer, et pour qui ?",
                "Comment auriez-vous su que c'était réussi ?",
            ),
            (30, 100),
            "- Réduire les déchets en réparant plutôt qu'en jetant.\n"
            "- Valoriser les savoir-faire des habitants, en particulier des seniors.\n"
            "- Créer un rendez-vous régulier et convivial, ouvert à tous.",
            "repair-cafe-mensuel-cerisiers-blancs",
            "Un repair café mensuel qui fait se rencontrer les voisins",
        ),
        SectionGuide(
            "method",
            "ce que nous avons fait",
            (
                "Quelles ont été les grandes étapes, et combien de temps a duré chacune ?",
                "Qui a fait quoi : salariés, encadrants, habitants, partenaires ?",
                "Comment les décisions étaient-elles prises (comité, réunions, bilan) ?",
                "Qu'avez-vous dû changer en cours de route ?",
            ),
            (150, 400),
            "1. Préparation : une semaine avant, les salariés de la Régie distribuent les "
            "invitations en main propre et affichent dans les halls.\n"
            "2. La balade (1 h 30) : un parcours préparé avec le conseil citoyen, des arrêts "
            "où chacun parle.\n"
            "3. Le relevé : chaque problème est noté avec une photo, un responsable et un "
            "délai.\n"
            "4. Le retour : six semaines après, une affiche dans chaque hall dit ce qui a "
            "été fait et ce qui ne le sera pas, et pourquoi.",
            "diagnostic-en-marchant-falaises-blanches",
            "Mobiliser les habitants par les diagnostics en marchant",
        ),
        SectionGuide(
            "resources",
            "l'équipe, le budget, le matériel",
            (
                "Combien de personnes, et combien de temps de travail (heures, ETP) ?",
                "Quel budget pour démarrer, puis chaque année ?",
                "Qui a financé quoi (dispositif, montant) ?",
                "Quels locaux, quel matériel ?",
            ),
            (50, 200),
            "- Environ 4 500 € par an : outillage, consommables, goûters, communication.\n"
            "- Financement : contrat de ville (2 500 €) et une fondation (2 000 € par an "
            "pendant trois ans).\n"
            "- 12 bénévoles réguliers, une salariée de la Régie pour la coordination (environ "
            "8 heures par mois).",
            "repair-cafe-mensuel-cerisiers-blancs",
            "Un repair café mensuel qui fait se rencontrer les voisins",
        ),
        SectionGuide(
            "results",
            "ce que ça a changé",
            (
                "Qu'est-ce qui a changé, pour qui ? Donnez un chiffre si vous en avez un : "
                "emplois, habitants touchés, tonnes, m².",
                "Comment le savez-vous : comptage, enquête, bilan avec les partenaires ?",
                "Qu'est-ce qui n'a pas marché comme prévu ?",
            ),
            (60, 200),
            "- Environ 1 300 passages par mois, stables depuis la deuxième année.\n"
            "- 11 personnes ont occupé un poste en insertion à la laverie ; 7 sont sorties "
            "vers un emploi ou une formation.\n"
            "- Les recettes couvrent 70 % des charges ; le reste vient du contrat de ville "
            "et de l'aide au poste.",
            "laverie-solidaire-quartier-des-tilleuls",
            "Une laverie solidaire au cœur du Plateau des Tilleuls",
        ),
        SectionGuide(
            "residents",
            "comment les habitants ont pris part",
            (
                "À quel moment les habitants sont-ils intervenus : l'idée, les décisions, le "
                "travail, le bilan ?",
                "Qu'est-ce qui les a fait venir, et qu'est-ce qui les a freinés ?",
                "Qui n'avez-vous pas réussi à toucher ?",
            ),
            (50, 200),
            "Les habitants ont choisi l'emplacement des bacs, des allées et de l'abri, lors de "
            "trois ateliers en pied d'immeuble avec des plans dessinés à la craie sur le sol. "
            "Les parcelles ont été tirées au sort en public. Depuis 2021, une association de "
            "jardiniers gère elle-même les attributions, les clés et le calendrier.",
            "jardins-partages-au-pied-des-immeubles-trois-rivieres",
            "Des jardins partagés au pied des immeubles des Trois Rivières",
        ),
        SectionGuide(
            "lessons",
            "si c'était à refaire",
            (
                "Si c'était à refaire, que changeriez-vous ?",
                "Qu'est-ce qui a le mieux marché, et pourquoi ?",
                "Quelle difficulté une autre Régie doit-elle connaître avant de se lancer ?",
            ),
            (100, 300),
            "Nous avions fixé des prix trop bas la première année ; la hausse de 0,50 € a été "
            "discutée avec les locataires et bien acceptée, mais il aurait fallu poser la "
            "question dès le départ. Les pannes sont un vrai sujet : une machine à l'arrêt, ce "
            "sont des files d'attente et de la tension. Un contrat de maintenance avec "
            "intervention sous 48 heures est indispensable.",
            "laverie-solidaire-quartier-des-tilleuls",
            "Une laverie solidaire au cœur du Plateau des Tilleuls",
        ),
        SectionGuide(
            "transfer",
            "pour le refaire ailleurs",
            (
                "Que faut-il réunir avant de commencer (partenaires, local, financement) ?",
                "Quels documents pouvez-vous partager : fiche de poste, budget, convention, "
                "affiche ?",
                "Qui contacter à la Régie (une fonction suffit) ?",
            ),
            (50, 200),
            "- Inviter en porte-à-porte, pas seulement par affiche.\n"
            "- Prévoir le retour avant la balade, avec des engagements de délai des "
            "partenaires.\n"
            "- Documents : fiche de relevé, modèle d'affiche de retour, trame de parcours.\n\n"
            "Contact : la chargée de développement social de la Régie.",
            "diagnostic-en-marchant-falaises-blanches",
            "Mobiliser les habitants par les diagnostics en marchant",
        ),
    )
}
assert tuple(GUIDES) == SECTION_KEYS, "one guide per section, in the fiche's order"

# What each figure of figures.py means, said to the person typing it (numbers only).
FIGURE_HINTS: dict[str, str] = {
    "cost_eur": "En euros : le coût total, ou le coût par an si l'action continue.",
    "insertion_jobs": "Le nombre de salariés en insertion qui ont travaillé sur l'action.",
    "people_reached": "Habitants, familles ou usagers touchés en une année.",
    "setup_months": "Du premier rendez-vous avec les partenaires au démarrage.",
    "own_revenue_pct": "La part du budget couverte par les ventes et les prestations, de 0 à 100.",
}
SUMMARY_WORDS = (40, 100)
# The sections a summary draft is taken from, in this order.
FICHE_SUMMARY_SOURCES: tuple[str, ...] = ("context", "method")
EXPRESS_SUMMARY_SOURCES: tuple[str, ...] = ("method", "context", "results")


@dataclass(frozen=True)
class ExpressQuestion:
    """One question of the fiche express; `key` is the section its answer goes to."""

    key: str
    label: str
    hint: str
    words: tuple[int, int]
    required: bool = False


EXPRESS_QUESTIONS: tuple[ExpressQuestion, ...] = (
    ExpressQuestion(
        "method",
        "Qu'avez-vous fait ?",
        "En quelques phrases : l'action, les grandes étapes, qui a fait quoi.",
        (50, 200),
        required=True,
    ),
    ExpressQuestion(
        "context",
        "Où et avec qui ?",
        "Le quartier ou le territoire, le problème de départ, les partenaires qui vous ont "
        "accompagnés.",
        (30, 120),
    ),
    ExpressQuestion(
        "results",
        "Qu'est-ce que ça a donné ?",
        "Ce qui a changé, avec un chiffre si vous en avez un (habitants touchés, emplois, "
        "tonnes…).",
        (20, 120),
    ),
    ExpressQuestion(
        "lessons",
        "La leçon à retenir",
        "Ce qu'une autre Régie doit savoir avant de se lancer : ce qui a marché, le piège à "
        "éviter.",
        (20, 120),
        required=True,
    ),
    ExpressQuestion(
        "transfer",
        "Un contact",
        "Qui appeler pour en savoir plus : une fonction (« la coordinatrice du service "
        "habitants ») plutôt qu'un nom, et comment joindre la Régie.",
        (5, 60),
    ),
)
EXPRESS_KEYS: tuple[str, ...] = tuple(q.key for q in EXPRESS_QUESTIONS)


def word_count(text: str) -> int:
    """Words as a reader counts them: whitespace-separated pieces holding a letter or digit
    (Markdown marks such as `-` or `###` alone are not words). static/guide.js counts alike."""
    return sum(1 for piece in text.split() if any(c.isalnum() for c in piece))


def words_label(count: int, words: tuple[int, int]) -> str:
    """« 132 mots — objectif 80 à 200 »."""
    noun = "mot" if count < 2 else "mots"
    return f"{count} {noun} — objectif {words[0]} à {words[1]}"


# --- a first draft of the summary ----------------------------------------------------------

_LIST_MARK = re.compile(r"^\s*(?:[-*+]|\d{1,3}[.)])\s+")
# Brackets and parentheses excluded inside: linear on a run of « [ » or « [a]( ».
_LINK = re.compile(r"!?\[([^\[\]]*)\]\([^()\[\]]*\)")
_EMPHASIS = re.compile(r"(\*\*|__|\*|`)")
_SENTENCE_END = re.compile(r"(?<=[.!?…])\s+(?=[«\"(\[A-ZÀ-ÖØ-Ý0-9])")
_TERMINAL = (".", "!", "?", "…")
SENTENCES_PER_SOURCE = 2
SHORT_ENOUGH = 200  # a source's first sentence shorter than this takes its second one too


def _blocks(markdown: str) -> list[str]:
    """The text blocks (paragraphs and list items) of some Markdown, as plain text; headings,
    tables, quotes' marks and code fences left out."""
    blocks: list[str] = []
    current: list[str] = []
    fence = False

    def close() -> None:
        if current:
            blocks.append(" ".join(current))
            current.clear()

    for raw in markdown.splitlines():
        line = raw.strip()
        if line.startswith(("```", "~~~")):
            fence = not fence
            close()
            continue
        if fence or not line or line.startswith(("#", "|")):
            close()
            continue
        line = line.lstrip("> ").strip()
        if _LIST_MARK.match(line):
            close()
            line = _LIST_MARK.sub("", line)
        line = _EMPHASIS.sub("", _LINK.sub(r"\1", line)).strip()
        if line:
            current.append(line)
    close()
    return [" ".join(b.split()) for b in blocks if b.strip()]


def _sentences(markdown: str) -> list[str]:
    """The sentences of some Markdown, in order, each ending with its punctuation."""
    sentences: list[str] = []
    for block in _blocks(markdown):
        text = block.rstrip(" ;:,")
        if not text.endswith(_TERMINAL):
            text += "."
        sentences.extend(s.strip() for s in _SENTENCE_END.split(text) if s.strip())
    return sentences


def trim_words(text: str, limit: int = MAX_SUMMARY_CHARS) -> str:
    """`text` cut to at most `limit` characters on a word boundary, ending with « … »."""
    text = " ".join(text.split())
    if len(text) <= limit:
        return text
    cut = text[: limit - 1]
    if " " in cut and not text[limit - 1].isspace():
        cut = cut.rsplit(" ", 1)[0]
    return cut.rstrip(" ,;:—–-") + "…"


def draft_summary(texts: Iterable[str], limit: int = MAX_SUMMARY_CHARS) -> str:
    """A first draft of a summary from some sections' Markdown, in order: the first sentence
    of each (and its second when the first is short), at most `limit` characters, cut on a
    word boundary. "" when there is nothing to draw from."""
    chosen: list[str] = []
    for text in texts:
        taken = 0
        for sentence in _sentences(text)[:SENTENCES_PER_SOURCE]:
            if taken and taken >= SHORT_ENOUGH:
                break
            chosen.append(sentence)
            taken += len(sentence)
    return trim_words(" ".join(chosen), limit)
