"""guidance.py: the summary draft, word counts, the guides' data; web.forms.parse_number."""

from __future__ import annotations

import pytest

from resource_centre.guidance import (
    EXPRESS_QUESTIONS,
    GUIDES,
    draft_summary,
    trim_words,
    word_count,
    words_label,
)
from resource_centre.taxonomy import SECTION_KEYS
from resource_centre.web.forms import number_text, parse_number


def test_every_section_has_two_to_four_questions_a_target_and_an_example():
    assert tuple(GUIDES) == SECTION_KEYS
    for guide in GUIDES.values():
        assert 2 <= len(guide.questions) <= 4, guide.key
        low, high = guide.words
        assert 0 < low < high, guide.key
        assert guide.example and guide.example_from and guide.example_title
    assert [q.label for q in EXPRESS_QUESTIONS][:2] == ["Qu'avez-vous fait ?", "Où et avec qui ?"]


def test_the_draft_takes_the_first_sentences_in_order_from_plain_text():
    context = (
        "## ignored\n\nLe **quartier** compte [1 800 logements](https://x.fr). Autre phrase ici."
    )
    method = "### Les étapes\n\n- un diagnostic avec les habitants ;\n- un local prêté."
    draft = draft_summary([context, method])
    assert draft.startswith("Le quartier compte 1 800 logements. Autre phrase ici.")
    assert "un diagnostic avec les habitants. un local prêté." in draft
    assert "**" not in draft and "#" not in draft and "https" not in draft
    assert draft_summary(["", "  "]) == ""


def test_the_draft_is_cut_on_a_word_boundary_within_the_limit():
    long = " ".join(["renouvellement"] * 80) + "."
    draft = draft_summary([long])
    assert len(draft) <= 600 and draft.endswith("…")
    assert draft[:-1].split()[-1] == "renouvellement"
    assert trim_words("court", 600) == "court"
    assert len(trim_words("x" * 700, 600)) <= 600


def test_words_are_counted_as_a_reader_counts_them():
    assert word_count("### Les étapes\n\n- un diagnostic ; - x") == 5
    assert word_count("") == 0
    assert words_label(0, (80, 200)) == "0 mot — objectif 80 à 200"
    assert words_label(132, (80, 200)) == "132 mots — objectif 80 à 200"


@pytest.mark.parametrize(
    ("typed", "number"),
    [
        ("12000", 12000),
        ("12 000", 12000),
        ("12\u00a0000 €", 12000),
        ("1\u202f300", 1300),
        ("12,5", 12.5),
        ("12.5", 12.5),
        ("12.000", 12000),
        ("30 %", 30),
        ("8 000 euros", 8000),
        ("douze", None),
        ("-5", None),
        ("1e5", None),
        ("١٢", None),
        ("", None),
    ],
)
def test_numbers_are_read_the_french_way(typed, number):
    assert parse_number(typed) == number


def test_a_stored_figure_is_shown_as_it_can_be_typed_again():
    for value in (85000, 12.5, 6.0):
        assert parse_number(number_text(value)) == value


@pytest.mark.parametrize("text", ["[" * 100_000, "[a](" * 25_000, "![x](y" * 20_000])
def test_the_draft_stays_linear_on_unclosed_links(text):
    """An unclosed « [ » run took 13.5 s at 50 KB before the link pattern excluded brackets."""
    import time

    started = time.perf_counter()
    draft_summary([text])
    assert time.perf_counter() - started < 3.0


def test_links_are_still_reduced_to_their_text():
    assert draft_summary(["Voir [le guide](https://exemple.fr/g.pdf) du réseau."]) == (
        "Voir le guide du réseau."
    )
