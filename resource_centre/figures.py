"""A fiche's figures as data (contract §10): cost, funding by scheme, insertion jobs, people
reached, months to set up, share of own revenue. One place declares them, checks them and
words them in French.

Figures are optional and every one of them is a number; `funding_eur` maps a funding scheme's
slug (vocabulary `schemes`) to euros.
"""

from __future__ import annotations

import math
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Figure:
    key: str
    label: str  # French, as shown in "En bref"
    unit: str  # "€", "%", "" …, shown after the number
    highest: float
    integer: bool = False  # a count: no fractions


FIGURES: tuple[Figure, ...] = (
    Figure("cost_eur", "Coût", "€", 1e9),
    Figure("insertion_jobs", "Emplois en insertion", "", 100_000, integer=True),
    Figure("people_reached", "Personnes touchées par an", "", 10_000_000, integer=True),
    Figure("setup_months", "Mois de mise en place", "", 600),
    Figure("own_revenue_pct", "Part de recettes propres", "%", 100),
)
FIGURE_BY_KEY = {f.key: f for f in FIGURES}
FUNDING_KEY = "funding_eur"
FUNDING_LABEL = "Financements"
MAX_FUNDING_EUR = 1e9
# The front matter's order of the keys (the export writes them so).
FIGURE_KEYS: tuple[str, ...] = ("cost_eur", FUNDING_KEY, *(f.key for f in FIGURES[1:]))


def _number(value: Any) -> bool:
    """A YAML or JSON number (True and False are not numbers here)."""
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def check_figures(value: Any, schemes: Collection[str]) -> list[tuple[tuple[str, ...], str]]:
    """Problems of a `figures` value, each as (path of keys, French message); [] when valid.

    The path locates the offending value (`("funding_eur", "aci")`) so that an import can
    report its line.
    """
    if value is None:
        return []
    if not isinstance(value, Mapping):
        return [
            (
                (),
                "« figures » doit associer des chiffres à leurs noms, par exemple {cost_eur: 85000}",
            )
        ]
    problems: list[tuple[tuple[str, ...], str]] = []
    for key, number in value.items():
        if key == FUNDING_KEY:
            problems.extend(_check_funding(number, schemes))
            continue
        figure = FIGURE_BY_KEY.get(key) if isinstance(key, str) else None
        if figure is None:
            problems.append(
                (
                    (str(key),),
                    f"chiffre inconnu « {key} » (chiffres possibles : {', '.join(FIGURE_KEYS)})",
                )
            )
        elif not _number(number):
            problems.append(
                ((key,), f"« {key} » doit être un nombre sans unité, par exemple 12000")
            )
        elif number < 0 or number > figure.highest:
            problems.append(
                (
                    (key,),
                    f"« {key} » hors limites ({number} ; de 0 à {format_number(figure.highest)})",
                )
            )
        elif figure.integer and number != int(number):
            problems.append(((key,), f"« {key} » doit être un nombre entier"))
    return problems


def _check_funding(value: Any, schemes: Collection[str]) -> list[tuple[tuple[str, ...], str]]:
    if not isinstance(value, Mapping) or not value:
        return [
            (
                (FUNDING_KEY,),
                "« funding_eur » doit associer un dispositif à un montant, "
                "par exemple {contrat-de-ville: 30000}",
            )
        ]
    problems: list[tuple[tuple[str, ...], str]] = []
    for scheme, euros in value.items():
        path = (FUNDING_KEY, str(scheme))
        if not isinstance(scheme, str) or scheme not in schemes:
            problems.append((path, f"dispositif inconnu « {scheme} » dans funding_eur"))
        elif not _number(euros) or not 0 <= euros <= MAX_FUNDING_EUR:
            problems.append(
                (path, f"le montant de « {scheme} » doit être un nombre d'euros positif")
            )
    return problems


def normalized_figures(value: Mapping[str, Any] | None) -> dict[str, Any]:
    """Figures in their canonical key order, whole numbers as integers (85000.0 → 85000)."""
    if not value:
        return {}
    if not isinstance(value, Mapping) or not isinstance(value.get(FUNDING_KEY, {}), Mapping):
        return value  # type: ignore[return-value]  # invalid: left for check_figures to report
    result: dict[str, Any] = {key: value[key] for key in value if key not in FIGURE_KEYS}
    for key in FIGURE_KEYS:
        if key not in value or value[key] is None:
            continue
        if key == FUNDING_KEY:
            funding = {s: _whole(v) for s, v in value[key].items()}
            if funding:
                result[key] = funding
        else:
            result[key] = _whole(value[key])
    return result


def _whole(number: Any) -> Any:
    if isinstance(number, float) and number.is_integer():
        return int(number)
    return number


def format_number(number: float) -> str:
    """A number written the French way: `85 000`, `12,5` (narrow no-break spaces)."""
    if isinstance(number, float) and not number.is_integer():
        text = f"{number:,.1f}".replace(",", "\u202f").replace(".", ",")
    else:
        text = f"{int(number):,}".replace(",", "\u202f")
    return text


def format_euros(number: float) -> str:
    """`85 000 €`, or `1,2 M€` from a million."""
    if number >= 1_000_000:
        return f"{format_number(round(number / 1_000_000, 1))}\u00a0M€"
    return f"{format_number(number)}\u00a0€"


def figure_lines(
    figures: Mapping[str, Any], scheme_labels: Mapping[str, str]
) -> list[tuple[str, str]]:
    """The figures as (French label, worded value) pairs, in display order."""
    lines: list[tuple[str, str]] = []
    figures = normalized_figures(figures)
    for key in FIGURE_KEYS:
        if key not in figures:
            continue
        value = figures[key]
        if key == FUNDING_KEY:
            parts = [
                f"{scheme_labels.get(scheme, scheme)} : {format_euros(euros)}"
                for scheme, euros in value.items()
            ]
            lines.append((FUNDING_LABEL, " ; ".join(parts)))
            continue
        figure = FIGURE_BY_KEY[key]
        if figure.unit == "€":
            lines.append((figure.label, format_euros(value)))
        elif figure.unit:
            lines.append((figure.label, f"{format_number(value)}\u00a0{figure.unit}"))
        else:
            lines.append((figure.label, format_number(value)))
    return lines
