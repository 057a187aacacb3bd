"""The completeness checklist: one definition, ten criteria, each met or not for a reason the
contributor can be told."""

from __future__ import annotations

from dataclasses import replace

import pytest

from resource_centre.checklist import CRITERIA, CRITERION_KEYS, evaluate
from resource_centre.fiche_data import FicheData
from resource_centre.taxonomy import SECTION_KEYS

LESSONS = (
    "Le principal frein a été le prix de l'eau : nous avons renégocié le contrat avec le "
    "bailleur au bout d'un an. Le paiement d'avance a tout changé pour la trésorerie. Une "
    "laverie tient si elle est ouverte aux heures où les familles rentrent du travail, le soir "
    "et le samedi matin, et si l'équipe connaît les habitants."
)
LESSONS_WITHOUT_DIFFICULTY = (
    "Le paiement d'avance a tout changé pour la trésorerie, et l'ouverture le soir a fait "
    "venir les familles qui travaillent. Une laverie tient si elle est ouverte aux heures où "
    "les familles rentrent du travail, le soir et le samedi matin, et si l'équipe connaît "
    "bien les habitants du quartier."
)


def complete_fiche() -> FicheData:
    """A fiche meeting the ten criteria, each for one reason only."""
    return FicheData(
        slug="laverie-exemple",
        title="Une laverie solidaire",
        summary="Une laverie à prix modéré tenue par des salariés en insertion.",
        regie="regie-du-canal",
        themes=["insertion-emploi"],
        partners=["Habitat du Canal — loue le local", "Ville de Port-Sablon"],
        year_start=2019,
        status="submitted",
        figures={"setup_months": 6},
        sections={
            "context": "Le quartier compte 1 200 logements et aucune laverie.",
            "method": "Un local en rez-de-chaussée, six machines, deux postes en insertion.",
            "resources": "Budget de 45 000 € par an.",
            "results": "3 200 lavages par an, comptés par le logiciel de caisse.",
            "residents": "Le comité d'usagers fixe les horaires.",
            "lessons": LESSONS,
            "transfer": "Pour en savoir plus, contactez la coordinatrice de la Régie.",
        },
    )


def with_sections(data: FicheData, **sections: str) -> FicheData:
    return replace(data, sections={**data.sections, **sections})


def states(data: FicheData, attachments: int = 0) -> dict[str, bool]:
    return {item.key: item.met for item in evaluate(data, attachments=attachments).items}


# One change to the complete fiche → the one criterion it unmeets.
FLIPS = {
    "context_figures": lambda d: with_sections(
        d, context="Depuis 2015, les familles lavaient leur linge à la main."
    ),
    "difficulty": lambda d: with_sections(d, lessons=LESSONS_WITHOUT_DIFFICULTY),
    "results_measured": lambda d: with_sections(
        d, results="Le comptage de 2023 montre une fréquentation stable."
    ),
    "results_source": lambda d: with_sections(d, results="3 200 lavages par an."),
    "costs": lambda d: with_sections(d, resources="Deux salariés en insertion, six machines."),
    "partner_roles": lambda d: replace(d, partners=["Habitat du Canal", "Ville de Port-Sablon"]),
    "residents": lambda d: with_sections(d, residents="  "),
    "transferable_lesson": lambda d: replace(
        with_sections(d, lessons="Le problème des impayés est réglé.", transfer=""),
        summary="Une laverie à prix modéré. Contact : laverie@regie-exemple.org",
    ),
    "contact": lambda d: with_sections(
        d, transfer="Prévoir un local en rez-de-chaussée et un accord écrit avec le bailleur."
    ),
    "structured_data": lambda d: replace(d, year_start=None),
}


def test_the_list_is_ten_criteria_in_french():
    assert len(CRITERIA) == 10 and len(set(CRITERION_KEYS)) == 10
    assert set(FLIPS) == set(CRITERION_KEYS)
    for criterion in CRITERIA:
        assert criterion.label and len(criterion.label) <= 40
        assert criterion.hint.endswith((".", "…", "»)")) and criterion.hint.count(". ") == 0


def test_a_complete_fiche_meets_ten_of_ten():
    result = evaluate(complete_fiche())
    assert (result.met, result.total, result.score) == (10, 10, "10/10")
    assert [item.key for item in result.items] == list(CRITERION_KEYS)
    assert result.unmet == ()


def test_a_fiche_meeting_three_of_ten():
    data = FicheData(
        slug="epicerie-exemple",
        title="Épicerie solidaire",
        partners=["Ville de Port-Sablon — prête le local"],
        year_start=2022,
        sections={
            "context": "Le quartier compte 900 logements, sans commerce alimentaire.",
            "method": "Un local associatif ouvert deux jours par semaine.",
            "lessons": "Le bénévolat seul ne suffit pas à tenir les horaires.",
        },
    )
    result = evaluate(data)
    assert result.score == "3/10"
    assert [item.key for item in result.items if item.met] == [
        "context_figures",
        "difficulty",
        "partner_roles",
    ]
    assert all(item.hint for item in result.unmet)


@pytest.mark.parametrize("key", list(FLIPS))
def test_each_criterion_flips_on_its_own(key):
    after = states(FLIPS[key](complete_fiche()))
    assert [k for k, met in after.items() if not met] == [key]
    assert evaluate(FLIPS[key](complete_fiche())).score == "9/10"


def test_an_express_fiche_is_held_to_the_same_list():
    express = FicheData(
        slug="portage-express",
        title="Portage de courses",
        kind="express",
        interview_requested=True,
        sections={
            "method": "Deux salariés livrent les courses des personnes âgées le mardi.",
            "results": "40 personnes livrées chaque semaine.",
            "lessons": "Le retard des livraisons l'hiver a failli tout arrêter.",
            "transfer": "Écrivez à portage@regie-exemple.org",
        },
    )
    result = evaluate(express)
    assert [item.key for item in result.items] == list(CRITERION_KEYS)
    assert result.score == "4/10"
    assert {item.key for item in result.items if item.met} == {
        "difficulty",
        "results_measured",
        "transferable_lesson",
        "contact",
    }


@pytest.mark.parametrize(
    ("lessons", "met"),
    [
        ("DIFFICULTÉS de recrutement.", True),
        ("Ce qui n’a pas marché : la tournée du soir.", True),  # curly apostrophe
        ("Les tensions avec le gardien se sont apaisées.", True),
        ("Des obstacles administratifs.", True),
        ("Un piège : le local trop petit.", True),
        ("Tout a bien marché, les habitants sont ravis.", False),
        ("Il faut décupler les efforts.", False),  # « décu… » is not « déçu »
    ],
)
def test_difficulty_words_are_folded_word_starts(lessons, met):
    data = FicheData(slug="x", sections={"lessons": lessons})
    assert states(data)["difficulty"] is met


@pytest.mark.parametrize(
    ("results", "met"),
    [
        ("Chiffres tirés du questionnaire de fin d'année.", True),
        ("D'après le bilan annuel.", True),
        ("Des entretiens avec les salariés.", True),
        ("Le RELEVÉ des passages.", True),
        ("L'entretien des espaces verts est assuré.", False),  # upkeep, not an interview
        ("Tout le monde est content.", False),
    ],
)
def test_how_results_are_known(results, met):
    data = FicheData(slug="x", sections={"results": results})
    assert states(data)["results_source"] is met


@pytest.mark.parametrize(
    ("resources", "met"),
    [
        ("Un budget de 12 k€.", True),
        ("3 000 euros de matériel.", True),
        ("Subvention : € 8 000.", True),
        ("Coût : 1,2 M€ sur trois ans.", True),
        ("Deux salariés et un camion.", False),
        ("Depuis 2018, 3 salariés.", False),
    ],
)
def test_costs_are_an_amount_in_euros(resources, met):
    data = FicheData(slug="x", sections={"resources": resources})
    assert states(data)["costs"] is met


def test_structured_figures_count_where_the_text_is_silent():
    data = FicheData(slug="x", year_start=2020, figures={"cost_eur": 85000, "people_reached": 300})
    met = states(data)
    assert met["costs"] and met["results_measured"] and met["structured_data"]
    assert not states(replace(data, figures={"insertion_jobs": 4}))["costs"]


def test_a_year_alone_is_not_a_figure():
    data = FicheData(slug="x", sections={"context": "En 2015, le quartier a changé."})
    assert not states(data)["context_figures"]
    data = with_sections(data, context="En 2015, 40 % des ménages étaient sans voiture.")
    assert states(data)["context_figures"]


def test_contact_by_phone_or_address_anywhere_and_attachments_as_reusable_documents():
    data = FicheData(slug="x", sections={"method": "Appelez le 03 80 12 34 56."})
    assert states(data)["contact"]
    short = FicheData(slug="x", sections={"lessons": "Trop court."})
    assert not states(short)["transferable_lesson"]
    assert states(short, attachments=1)["transferable_lesson"]


def test_an_empty_fiche_meets_nothing():
    result = evaluate(FicheData(slug="x"))
    assert (result.met, result.score) == (0, "0/10")
    assert len(result.unmet) == 10


# --- no pattern backtracks on long sections (a contributor could stall the queue) -----------

HOSTILE = ["1" * 100_000, "a" * 100_000, "1 " * 50_000, "a@" * 50_000, "1€" * 50_000]


@pytest.mark.parametrize("text", HOSTILE, ids=["digits", "letters", "spaced", "at", "euros"])
def test_evaluate_stays_linear_on_a_100_kb_section(text: str) -> None:
    """Before the patterns were made linear, 20 KB of digits in Moyens took 31 s (the euro
    pattern) and 50 KB of letters 17 s (the e-mail one); the bound leaves a wide margin."""
    import time

    data = FicheData(slug="x", sections={key: text for key in SECTION_KEYS})
    started = time.perf_counter()
    evaluate(data)
    assert time.perf_counter() - started < 3.0


@pytest.mark.parametrize("amount", ["12 400 €", "35 k€", "2 millions d'euros", "€ 300", "1200 EUR"])
def test_amounts_in_euros_count_as_costs(amount: str) -> None:
    data = FicheData(slug="x", sections={"resources": f"Le budget : {amount} par an."})
    assert next(i for i in evaluate(data).items if i.key == "costs").met


def test_euros_without_an_amount_do_not_count() -> None:
    data = FicheData(slug="x", sections={"resources": "Des euros, en 2020 ; € à trouver."})
    assert not next(i for i in evaluate(data).items if i.key == "costs").met
