"""The line diff of a proposed revision on the curator's review page (reviews.section_diff).

The expected outputs of the small revisions are those of the former implementation
(`difflib.ndiff`, keeping its "-", "+" and "  " lines), computed before it was replaced.
It took 0.9 s for 40 changed lines and 56 s for 200: the timings below are the acceptance.
"""

from __future__ import annotations

import html
import random
import re
import time

import pytest

from resource_centre.reviews import section_diff
from resource_centre.taxonomy import MAX_SECTION_BYTES

SMALL_REVISIONS = {
    "one-word-changed": (
        "Une laverie.\n\nElle lave 3 200 lavages par an.\n\nFin.",
        "Une laverie.\n\nElle lave 5 000 lavages par an.\n\nFin.",
        "<span>Une laverie.</span>\n<span></span>\n<del>Elle lave 3 200 lavages par an.</del>\n"
        "<ins>Elle lave 5 000 lavages par an.</ins>\n<span></span>\n<span>Fin.</span>",
    ),
    "paragraph-added-escaped": (
        "A\n\nB",
        "A\n\nB\n\nC <b>gras</b> & co",
        "<span>A</span>\n<span></span>\n<span>B</span>\n<ins></ins>\n"
        "<ins>C &lt;b&gt;gras&lt;/b&gt; &amp; co</ins>",
    ),
    "paragraph-removed": (
        "A\n\nB\n\nC",
        "A\n\nC",
        "<span>A</span>\n<span></span>\n<del>B</del>\n<del></del>\n<span>C</span>",
    ),
    "line-split": (
        "Un long paragraphe qui parle de la laverie et du quartier.",
        "Un long paragraphe qui parle de la laverie.\nEt du quartier.",
        "<del>Un long paragraphe qui parle de la laverie et du quartier.</del>\n"
        "<ins>Un long paragraphe qui parle de la laverie.</ins>\n<ins>Et du quartier.</ins>",
    ),
    "lines-merged": (  # ndiff showed the shorter side first
        "Un paragraphe.\nSa suite.",
        "Un paragraphe et sa suite.",
        "<ins>Un paragraphe et sa suite.</ins>\n<del>Un paragraphe.</del>\n<del>Sa suite.</del>",
    ),
    "adjacent-lines-edited": (  # each line beside its edit
        "- 2 ETP\n- budget 40 k€\n- fin",
        "- 3 ETP\n- budget 45 k€\n- fin",
        "<del>- 2 ETP</del>\n<ins>- 3 ETP</ins>\n<del>- budget 40 k€</del>\n"
        "<ins>- budget 45 k€</ins>\n<span>- fin</span>",
    ),
    "lines-rewritten": (
        "Ancien texte sur le jardin.\nQui parlait d'autre chose.",
        "Tout autre propos.\nSur la mobilité.",
        "<del>Ancien texte sur le jardin.</del>\n<del>Qui parlait d&#x27;autre chose.</del>\n"
        "<ins>Tout autre propos.</ins>\n<ins>Sur la mobilité.</ins>",
    ),
    "section-written": ("", "Nouveau", "<ins>Nouveau</ins>"),
    "title": (
        "Laverie solidaire",
        "Laverie solidaire du canal",
        "<del>Laverie solidaire</del>\n<ins>Laverie solidaire du canal</ins>",
    ),
    "two-edits-apart": (
        "Intro.\n\nLa laverie ouvre en 2019.\n\nMilieu.\n\nBilan : 12 salariés.",
        "Intro.\n\nLa laverie ouvre en 2020.\n\nMilieu.\n\nBilan : 14 salariés en insertion.",
        "<span>Intro.</span>\n<span></span>\n<del>La laverie ouvre en 2019.</del>\n"
        "<ins>La laverie ouvre en 2020.</ins>\n<span></span>\n<span>Milieu.</span>\n"
        "<span></span>\n<del>Bilan : 12 salariés.</del>\n"
        "<ins>Bilan : 14 salariés en insertion.</ins>",
    ),
}


@pytest.mark.parametrize("old,new,expected", SMALL_REVISIONS.values(), ids=SMALL_REVISIONS)
def test_small_revisions_diff_as_before(old: str, new: str, expected: str) -> None:
    assert section_diff(old, new) == expected


def sides(diff: str) -> tuple[list[str], list[str]]:
    """The old and new lines read back from a diff (it must lose nothing)."""
    old: list[str] = []
    new: list[str] = []
    for line in diff.split("\n") if diff else []:
        match = re.fullmatch(r"<(span|del|ins)>(.*)</\1>", line)
        assert match, line
        text = html.unescape(match.group(2))
        if match.group(1) != "ins":
            old.append(text)
        if match.group(1) != "del":
            new.append(text)
    return old, new


def changed_lines(diff: str) -> int:
    return sum(1 for line in diff.split("\n") if line.startswith(("<del>", "<ins>")))


SYLLABLES = (
    "la",
    "ré",
    "gie",
    "quar",
    "tier",
    "ha",
    "bi",
    "tant",
    "em",
    "ploi",
    "jar",
    "din",
    "ve",
    "rie",
    "so",
    "li",
    "dai",
    "re",
    "mo",
    "té",
)


def paragraph(rng: random.Random, words: int) -> str:
    vocabulary = ["".join(rng.choices(SYLLABLES, k=rng.randint(1, 4))) for _ in range(words)]
    return " ".join(vocabulary).capitalize() + "."


def markdown_section(rng: random.Random, lines: int, words: int) -> list[str]:
    """Paragraphs and list items separated by blank lines, as the fiche form produces."""
    out = []
    for n in range(lines):
        if n % 2:
            out.append("")
        else:
            out.append(("- " if n % 7 == 0 else "") + paragraph(rng, words))
    return out


def edited(line: str) -> str:
    return line.replace("a", "à", 1) + " (modifié)"


def best_of_3(old: str, new: str) -> tuple[float, str]:
    timings = []
    for _ in range(3):
        start = time.perf_counter()
        diff = section_diff(old, new)
        timings.append(time.perf_counter() - start)
    return min(timings), diff


def revisions() -> dict[str, tuple[list[str], list[str], int]]:
    """(old lines, new lines, lines changed at least) of large revisions."""
    rng = random.Random(12)
    cases: dict[str, tuple[list[str], list[str], int]] = {}
    old = [paragraph(rng, 12) for _ in range(300)]
    new = [edited(line) if 50 <= n < 250 else line for n, line in enumerate(old)]
    cases["200-adjacent-lines-edited"] = (old, new, 200)
    new = [paragraph(rng, 12) if 50 <= n < 250 else line for n, line in enumerate(old)]
    cases["200-adjacent-lines-rewritten"] = (old, new, 200)
    old = [paragraph(rng, 12) for _ in range(400)]
    new = [edited(line) if n % 2 else line for n, line in enumerate(old)]
    cases["200-lines-edited-every-other-line"] = (old, new, 200)
    old = markdown_section(rng, 600, 12)
    new = [edited(line) if line and n % 3 == 0 else line for n, line in enumerate(old)]
    cases["200-paragraphs-edited-among-blank-lines"] = (old, new, 100)
    big = markdown_section(rng, 2000, 10)
    new = list(big)
    for n in range(0, 2000, 20):
        new[n] = edited(new[n])
    for n in range(1000, 1200, 2):
        new[n] = paragraph(rng, 12)
    new[500:500] = [paragraph(rng, 12), ""] * 20
    cases["2000-line-section-200-changes"] = (big, new, 200)
    new = [edited(line) if line else line for line in big]
    cases["2000-line-section-every-paragraph-edited"] = (big, new, 1000)
    return cases


REVISIONS = revisions()


@pytest.mark.parametrize("old,new,changed", REVISIONS.values(), ids=REVISIONS)
def test_large_revisions_diff_well_under_100_ms(old: list[str], new: list[str], changed: int):
    old_text, new_text = "\n".join(old), "\n".join(new)
    assert len(new_text.encode()) <= MAX_SECTION_BYTES  # sections are at most this long
    seconds, diff = best_of_3(old_text, new_text)
    assert seconds < 0.1, f"{seconds * 1000:.0f} ms"
    assert sides(diff) == (old_text.splitlines(), new_text.splitlines())
    # A useful diff: the unchanged lines are matched, not shown as removed and added.
    assert changed * 2 <= changed_lines(diff) <= changed * 2 + 60


def test_crafted_sections_of_repeated_lines_stay_bounded():
    """Lines repeated a few hundred times each (no prose looks like that): a second at most,
    where the matching alone would take minutes."""
    old = [f"l{n % 150}" for n in range(20_000)]
    new = [f"l{(n * 7) % 150}" for n in range(20_000)]
    assert len("\n".join(new).encode()) <= MAX_SECTION_BYTES
    seconds, diff = best_of_3("\n".join(old), "\n".join(new))
    assert seconds < 1.0, f"{seconds:.2f} s"
    assert sides(diff) == (old, new)
