"""Body highlights find what a scan of every word finds, without folding the body (issue 11)."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import pytest

from resource_centre.search import highlight as highlighting
from resource_centre.search.highlight import highlight
from resource_centre.search.textquery import WORD_RE, stem

KNOWLEDGE = Path(__file__).resolve().parents[2] / "knowledge" / "fiches"
TEXTS = [p.read_text(encoding="utf-8") for p in sorted(KNOWLEDGE.glob("*.md"))]
WORDS = [
    ["habitants"], ["Régie", "quartier"], ["ÉCOLE"], ["bailleurs"], ["insertion"],
    ["économique", "œuvre"], ["jardins", "partagés"], ["élus"], ["médiatrice"], ["vélo"],
]  # fmt: skip


def every_word(text: str, terms: frozenset[str], *, whole: bool) -> Iterable[tuple[int, int]]:
    return (m.span() for m in WORD_RE.finditer(text))


@pytest.mark.parametrize("words", WORDS, ids=lambda w: "+".join(w))
def test_long_texts_are_marked_as_a_scan_of_every_word_marks_them(
    words: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    terms = frozenset(stem(w) for w in words)
    ours = [highlight(text, terms, whole=False) for text in TEXTS]
    monkeypatch.setattr(highlighting, "_candidate_words", every_word)
    assert ours == [highlight(text, terms, whole=False) for text in TEXTS]
    assert any(ours)


def test_case_and_accents_of_the_text_do_not_matter() -> None:
    text = "x " * 800 + "Les HABITANTS, l’Élu et les ÉLUS ; Écoles et ecole. " + "y " * 800
    terms = frozenset({stem("habitant"), stem("élu"), stem("élus"), stem("école")})
    marked = highlight(text, terms, whole=False)
    for word in ("HABITANTS", "Élu", "ÉLUS", "Écoles", "ecole"):
        assert f"<mark>{word}</mark>" in marked
