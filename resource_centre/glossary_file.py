"""The `glossary.yaml` file of the `knowledge/` folder, read and written.

Reading gives every problem of the file at once, each as `file:line: entrée n° N : reason`
in French (`corpus_format.Problem`), each entry checked by the rules of the curators' form
(`glossary.check_entry`). Writing gives the canonical text (`render_glossary`): entries by
term, definitions as folded paragraphs. The database side is `corpus.py`.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import yaml

from resource_centre.corpus_format import (
    Problem,
    _compose,
    _construct,
    _folded,
    _inline,
    _yaml_problem,
    dump_yaml,
)
from resource_centre.glossary import MAX_ENTRIES, GlossaryItem, check_entry, sort_key, term_key

GLOSSARY_KEYS: tuple[str, ...] = ("term", "kind", "expansions", "definition")
GLOSSARY_HEADER = (
    "# Glossaire du Centre de ressources : les sigles du secteur et les mots de même sens.\n"
    "# Une entrée : term, kind (acronym | synonyms), expansions (liste), definition.\n"
    "# Les entrées sont rangées par ordre alphabétique ; « resource-centre export » réécrit ce"
    " fichier.\n"
)
_GLOSSARY_FIELDS = {
    "term": "le terme",
    "kind": "le type",
    "expansions": "les formes",
    "definition": "la définition",
}


def parse_glossary(path: Path, text: str) -> tuple[list[GlossaryItem], list[Problem]]:
    """Parse glossary.yaml: a list of {term, kind, expansions, definition}, each checked by
    the rules of the curators' form (`glossary.check_entry`); terms distinct."""
    try:
        root = _compose(text)
    except yaml.YAMLError as exc:
        return [], [_yaml_problem(path, exc, 0)]
    if root is None:
        return [], []
    if not isinstance(root, yaml.SequenceNode):
        return [], [
            Problem(
                path,
                root.start_mark.line + 1,
                "glossary.yaml doit être une liste d'entrées « - term: … »",
            )
        ]
    if len(root.value) > MAX_ENTRIES:
        return [], [Problem(path, 1, f"trop d'entrées : {len(root.value)} ({MAX_ENTRIES} au plus)")]
    items: list[GlossaryItem] = []
    problems: list[Problem] = []
    first_line: dict[str, int] = {}
    for number, node in enumerate(root.value, start=1):
        line = node.start_mark.line + 1

        def problem(reason: str, at: int = line, number: int = number) -> None:
            problems.append(Problem(path, at, f"entrée n° {number} : {reason}"))

        if not isinstance(node, yaml.MappingNode):
            problem("chaque entrée doit être un dictionnaire « term: …, kind: … »")
            continue
        values: dict[str, object] = {}
        key_lines: dict[str, int] = {}
        for key_node, value_node in node.value:
            key = key_node.value if isinstance(key_node, yaml.ScalarNode) else str(key_node)
            at = key_node.start_mark.line + 1
            if key not in GLOSSARY_KEYS:
                problem(f"champ inconnu « {key} » (champs : {', '.join(GLOSSARY_KEYS)})", at)
                continue
            try:
                values[key] = _construct(value_node)
            except yaml.YAMLError as exc:
                problems.append(_yaml_problem(path, exc, 0))
                continue
            except (ValueError, OverflowError):  # a 5,000-digit number, an impossible date
                problem(f"valeur illisible pour « {key} » (nombre trop long ?)", at)
                continue
            key_lines[key] = at
        missing = [k for k in ("term", "kind", "expansions") if k not in values]
        if missing:
            problem(f"champ obligatoire manquant : {missing[0]}")
            continue
        texts = {k: values.get(k, "") for k in ("term", "kind", "definition")}
        wrong = next((k for k, v in texts.items() if not isinstance(v, str)), None)
        if wrong is not None:
            problem(
                f"« {wrong} » doit être un texte (entre guillemets si besoin)", key_lines[wrong]
            )
            continue
        expansions = values["expansions"]
        if not isinstance(expansions, list) or not all(isinstance(e, str) for e in expansions):
            problem("« expansions » doit être une liste de textes", key_lines["expansions"])
            continue
        checked = check_entry(
            str(texts["term"]), str(texts["kind"]), expansions, str(texts["definition"])
        )
        if checked.item is None:
            for name, message in checked.errors.items():
                problem(f"{_GLOSSARY_FIELDS[name]} ({name}) : {message}", key_lines.get(name, line))
            continue
        key = term_key(checked.item.term)
        if key in first_line:
            problem(
                f"« {checked.item.term} » est déjà une entrée (ligne {first_line[key]})",
                key_lines["term"],
            )
            continue
        first_line[key] = key_lines["term"]
        items.append(checked.item)
    return items, problems


def render_glossary(items: Iterable[GlossaryItem]) -> str:
    """The canonical text of glossary.yaml: the header, then the entries by term, each
    definition a folded paragraph (`>-`) where that loads back exactly."""
    ordered = sorted(items, key=sort_key)
    if not ordered:
        return GLOSSARY_HEADER + "[]\n"
    entries = []
    for item in ordered:
        lines = [f"- term: {_inline(item.term)}", f"  kind: {item.kind}", "  expansions:"]
        lines += [f"  - {_inline(form)}" for form in item.expansions]
        lines.append(f"  definition: {_paragraph(item.definition)}")
        entries.append("\n".join(lines) + "\n")
    text = GLOSSARY_HEADER + "".join(entries)
    expected = [
        {
            "term": i.term,
            "kind": i.kind,
            "expansions": list(i.expansions),
            "definition": i.definition,
        }
        for i in ordered
    ]
    if yaml.safe_load(text) != expected:  # never seen; a plain dump always loads back
        return GLOSSARY_HEADER + dump_yaml(expected)
    return text


def _paragraph(text: str) -> str:
    """A definition as a folded block under a list item's key, or inline when it must be."""
    return _folded(text, 88, "    ")
