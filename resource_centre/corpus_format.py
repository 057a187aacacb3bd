"""The files of the `knowledge/` folder, read and written: fiches (Markdown with a YAML front
matter), `taxonomy.yaml` and `regies.yaml`.

Reading gives every problem of a file at once, each as `file:line: reason` in French
(`Problem`), the line being the one of the offending key, list item or heading. Writing gives
the canonical text of a fiche (`render_fiche`): stable key order and formatting. The database
side (import, export, manifest) is `corpus.py`.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import re
import stat
import textwrap
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from resource_centre.attachments import KINDS as ATTACHMENT_KINDS
from resource_centre.attachments import MAX_BYTES as ATTACHMENT_MAX_BYTES
from resource_centre.attachments import MAX_PER_FICHE
from resource_centre.figures import check_figures
from resource_centre.taxonomy import (
    REGIE_KINDS,
    SECTION_BY_FOLDED_HEADING,
    SECTION_BY_KEY,
    SECTION_KEYS,
    SECTIONS,
    VOCABULARIES,
    VOCABULARY_NAMES,
    fold,
)
from resource_centre.writeups import (
    SLUG_RE,
    AttachmentRef,
    FicheData,
    Known,
    normalized,
    validate,
)

FRONT_MATTER_KEYS: tuple[str, ...] = (
    "title",
    "kind",
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
    "figures",
    "attachments",
    "interview_requested",
    "summary",
    "network_note",
)
# Keys written only when they hold something other than their default.
OPTIONAL_KEYS = frozenset({"kind", "figures", "attachments", "interview_requested", "network_note"})
# An attachment's file name in `fiches/<slug>/`: lower case, digits, dots and dashes.
ATTACHMENT_NAME_RE = re.compile(r"^[a-z0-9][a-z0-9_-]*(?:\.[a-z0-9]+)+$")
# Front matter keys that hold lists: the multi-valued vocabularies, and the partners.
LIST_KEYS = frozenset({*(v.field for v in VOCABULARIES if v.multiple), "partners"})
REGIE_KEYS: tuple[str, ...] = ("slug", "name", "kind", "city", "department", "region")


@dataclass(frozen=True)
class Problem:
    path: Path
    line: int
    reason: str

    def __str__(self) -> str:
        return f"{self.path}:{self.line}: {self.reason}"


# libyaml's safe loader when PyYAML was built with it (several times faster), else Python's.
_BaseLoader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


# mypy cannot subclass a class chosen at run time (CSafeLoader or SafeLoader).
class _Loader(_BaseLoader):  # type: ignore[misc,valid-type]
    """The safe loader, subclassed so that composing and constructing share one class."""


def _compose(text: str) -> yaml.Node | None:
    return yaml.compose(text, Loader=_Loader)


def _construct(node: yaml.Node) -> Any:
    return _Loader("").construct_object(node, deep=True)


def _yaml_problem(path: Path, exc: yaml.YAMLError, offset: int) -> Problem:
    mark = getattr(exc, "problem_mark", None)
    line = (mark.line + 1 + offset) if mark is not None else 1 + offset
    reason = getattr(exc, "problem", None) or str(exc)
    return Problem(path, line, f"YAML invalide : {reason}")


# ---------------------------------------------------------------------------------------
# Fiches


def parse_fiche(path: Path, text: str, known: Known) -> tuple[FicheData | None, list[Problem]]:
    """Parse and validate one fiche file; return its data, or None with every problem."""
    problems: list[Problem] = []

    def problem(line: int, reason: str) -> None:
        problems.append(Problem(path, line, reason))

    slug = path.stem
    if not SLUG_RE.match(slug):
        problem(1, "nom de fichier invalide : lettres minuscules sans accents, chiffres et tirets")
    lines = text.split("\n")
    if not lines or lines[0].rstrip() != "---":
        problem(1, "le fichier doit commencer par un front matter YAML (ligne ---)")
        return None, problems
    end = next((i for i in range(1, len(lines)) if lines[i].rstrip() == "---"), None)
    if end is None:
        problem(1, "front matter non terminé : ligne --- de fermeture introuvable")
        return None, problems
    offset = 1  # the front matter's first line is line 2 of the file
    try:
        root = _compose("\n".join(lines[1:end]))
    except yaml.YAMLError as exc:
        problems.append(_yaml_problem(path, exc, offset))
        return None, problems
    if not isinstance(root, yaml.MappingNode):
        problem(2, "le front matter doit être une liste de champs « clé: valeur »")
        return None, problems

    values: dict[str, Any] = {}
    key_lines: dict[str, int] = {}
    value_nodes: dict[str, yaml.Node] = {}
    for key_node, value_node in root.value:
        line = key_node.start_mark.line + 1 + offset
        key = key_node.value if isinstance(key_node, yaml.ScalarNode) else str(key_node)
        if key not in FRONT_MATTER_KEYS:
            problem(
                line, f"champ inconnu « {key} » (champs possibles : {', '.join(FRONT_MATTER_KEYS)})"
            )
            continue
        if key in values:
            problem(line, f"champ « {key} » en double")
            continue
        try:
            values[key] = _construct(value_node)
        except yaml.YAMLError as exc:
            problems.append(_yaml_problem(path, exc, offset))
            continue
        except (ValueError, OverflowError):  # a number over 4,300 digits, a 30 February
            key_lines[key], reason = _unbuildable(value_node, offset)  # no form check after
            problem(key_lines[key], reason)
            continue
        key_lines[key] = line
        value_nodes[key] = value_node

    def line_of(key: str) -> int:
        return key_lines[key]

    data = FicheData(slug=slug)
    text_fields = ("title", "summary", "network_note")
    for key in text_fields:
        value = values.get(key)
        if value is None:
            continue
        if not isinstance(value, str):
            problem(line_of(key), f"« {key} » doit être un texte")
        else:
            setattr(data, key, value)
    for key in ("regie", "activity"):
        value = values.get(key)
        if value is None:
            continue
        if not isinstance(value, str) or not value:
            problem(line_of(key), f"« {key} » doit être un identifiant (slug)")
        else:
            setattr(data, key, value)
    for key in LIST_KEYS:
        value = values.get(key)
        if value is None:
            continue
        if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
            problem(line_of(key), f"« {key} » doit être une liste de textes, par exemple [a, b]")
            continue
        if len(set(value)) != len(value):
            problem(line_of(key), f"« {key} » contient une valeur en double")
            continue
        setattr(data, key, list(value))
    for key in ("year_start", "year_end"):
        value = values.get(key)
        if value is None:
            continue
        if isinstance(value, bool) or not isinstance(value, int):
            problem(line_of(key), f"« {key} » doit être une année (nombre entier) ou null")
        else:
            setattr(data, key, value)
    if "status" in values:
        status = values["status"]
        data.status = status if isinstance(status, str) else repr(status)
    else:
        data.status = "draft"
        problem(1, "champ obligatoire manquant : status")
    if "featured" in values and values["featured"] is not None:
        if not isinstance(values["featured"], bool):
            problem(line_of("featured"), "« featured » doit valoir true ou false")
        else:
            data.featured = values["featured"]
    if "kind" in values and values["kind"] is not None:
        data.kind = values["kind"] if isinstance(values["kind"], str) else repr(values["kind"])
    if values.get("interview_requested") is not None:
        if not isinstance(values["interview_requested"], bool):
            problem(
                line_of("interview_requested"), "« interview_requested » doit valoir true ou false"
            )
        else:
            data.interview_requested = values["interview_requested"]
    if values.get("figures") is not None:
        schemes = known.terms.get("schemes", frozenset())
        for where, reason in check_figures(values["figures"], schemes):
            problem(_line_in_mapping(value_nodes["figures"], where, offset), reason)
        if isinstance(values["figures"], dict):
            data.figures = values["figures"]
    if values.get("attachments") is not None:
        data.attachments = _attachments(
            path, slug, values["attachments"], value_nodes["attachments"], offset, problem
        )
    published = values.get("published_at")
    if published is not None:
        if isinstance(published, dt.datetime) or not isinstance(published, dt.date):
            problem(line_of("published_at"), "« published_at » doit être une date AAAA-MM-JJ")
        else:
            data.published_at = published

    section_lines, body_problems = _parse_body(lines, end + 1, data)
    for line, reason in body_problems:
        problem(line, reason)

    # Field rules shared with the contributor form, each message placed on its line.
    reported = {
        key
        for key in FRONT_MATTER_KEYS
        if key in key_lines and key_lines[key] in {p.line for p in problems}
    }
    for name, message in validate(data, known).items():
        if name == "slug" or name in reported or (name == "figures" and "figures" in values):
            continue  # already reported (file name, or the value's type)
        if name in SECTION_BY_KEY:
            line = section_lines.get(name, end + 2)
        elif name in key_lines:
            line = _line_of_value(value_nodes[name], message, offset) or key_lines[name]
        else:
            line = 1
            if "obligatoire" in message:
                message = f"champ obligatoire manquant : {name} ({message})"
        problem(line, message)
    if problems:
        return None, sorted(problems, key=lambda p: p.line)
    return data, []


def _line_in_mapping(node: yaml.Node, where: tuple[str, ...], offset: int) -> int:
    """The line of the value at `where` (keys of nested mappings) inside `node`."""
    line = node.start_mark.line + 1 + offset
    for key in where:
        if not isinstance(node, yaml.MappingNode):
            break
        found = next((v for k, v in node.value if getattr(k, "value", None) == key), None)
        if found is None:
            break
        node = found
        line = node.start_mark.line + 1 + offset
    return line


def _attachments(
    path: Path, slug: str, value: Any, node: yaml.Node, offset: int, problem: Any
) -> list[AttachmentRef]:
    """The `attachments` list: each {file, title}, the file lying in `fiches/<slug>/`."""
    line = node.start_mark.line + 1 + offset
    if not isinstance(value, list) or not isinstance(node, yaml.SequenceNode):
        problem(line, "« attachments » doit être une liste de {file: NOM, title: TEXTE}")
        return []
    if len(value) > MAX_PER_FICHE:
        problem(line, f"trop de pièces jointes ({len(value)}, {MAX_PER_FICHE} au plus)")
    refs: list[AttachmentRef] = []
    seen: set[str] = set()
    for item, item_node in zip(value, node.value, strict=True):
        at = item_node.start_mark.line + 1 + offset
        if (
            not isinstance(item, dict)
            or set(item) - {"file", "title"}
            or not isinstance(item.get("file"), str)
            or not isinstance(item.get("title", ""), str)
        ):
            problem(at, "pièce jointe invalide : attendu {file: NOM, title: TEXTE}")
            continue
        name, title = item["file"], (item.get("title") or "").strip()
        extension = Path(name).suffix.lower()
        folder = f"fiches/{slug}/"
        if not ATTACHMENT_NAME_RE.match(name) or len(name) > 120:
            problem(
                at,
                f"nom de pièce jointe invalide « {name} » : minuscules sans accents, chiffres, "
                "tirets et points",
            )
        elif extension not in ATTACHMENT_KINDS:
            problem(at, f"type de pièce jointe non accepté « {extension} » ({name})")
        elif name in seen:
            problem(at, f"pièce jointe « {name} » en double")
        elif not title:
            problem(at, f"pièce jointe « {name} » : le titre (title) est obligatoire")
        elif len(title) > 200:
            problem(at, f"pièce jointe « {name} » : titre trop long (200 caractères au plus)")
        else:
            # No symbolic link, folder or file (corpus_files reads it likewise: O_NOFOLLOW).
            found = []
            for where in (path.parent / slug, path.parent / slug / name):
                with contextlib.suppress(OSError):
                    found.append(os.lstat(where))
            if any(stat.S_ISLNK(s.st_mode) for s in found):
                problem(at, f"pièce jointe {folder}{name} : lien symbolique refusé")
            elif len(found) < 2 or not stat.S_ISREG(found[1].st_mode):
                problem(at, f"pièce jointe introuvable : {folder}{name}")
            elif found[1].st_size > ATTACHMENT_MAX_BYTES:
                problem(at, f"pièce jointe trop lourde : {folder}{name} (10 Mo au plus)")
            else:
                refs.append(AttachmentRef(file=name, title=title))
        seen.add(name)
    return refs


def _unbuildable(node: yaml.Node, offset: int) -> tuple[int, str]:
    """The line and reason of the first value in `node` that Python cannot build."""
    pending = [node]
    while pending:
        item = pending.pop()
        if isinstance(item, yaml.ScalarNode):
            try:
                _construct(item)
            except (ValueError, OverflowError, yaml.YAMLError):
                long = item.tag.endswith(":int") and len(item.value) > 40
                kind = "date" if item.tag.endswith(":timestamp") else "valeur"
                reason = "nombre trop long" if long else f"{kind} impossible « {item.value[:40]} »"
                return item.start_mark.line + 1 + offset, reason
        elif isinstance(item, yaml.CollectionNode):  # a mapping's items are (key, value)
            flat = [n for v in item.value for n in (v if isinstance(v, tuple) else [v])]
            pending.extend(reversed(flat))
    return node.start_mark.line + 1 + offset, "valeur impossible"


def _line_of_value(node: yaml.Node, message: str, offset: int) -> int | None:
    """The line of the list item named in `message` (« slug »), for precise reports."""
    if "«" not in message:
        return None
    wanted = message.split("«", 1)[1].split("»", 1)[0].strip()
    items = node.value if isinstance(node, yaml.SequenceNode) else [node]
    for item in items:
        if isinstance(item, yaml.ScalarNode) and item.value == wanted:
            return item.start_mark.line + 1 + offset
    return None


def _parse_body(
    lines: list[str], start: int, data: FicheData
) -> tuple[dict[str, int], list[tuple[int, str]]]:
    """Split the Markdown body into the sections (`##` headings)."""
    problems: list[tuple[int, str]] = []
    section_lines: dict[str, int] = {}
    current: str | None = None
    buffer: dict[str, list[str]] = {}
    fence: str | None = None
    stray_reported = False
    for index in range(start, len(lines)):
        line = lines[index]
        number = index + 1
        stripped = line.lstrip(" ")
        if fence is None and stripped[:3] in ("```", "~~~"):
            fence = stripped[:3]
        elif fence is not None and stripped.startswith(fence):
            fence = None
        elif fence is None and (stripped.startswith("# ") or stripped.rstrip() == "#"):
            problems.append((number, "titre de niveau 1 interdit : les sections sont des ##"))
            continue
        elif fence is None and (stripped.startswith("## ") or stripped.rstrip() == "##"):
            heading = stripped[2:].strip().rstrip("#").strip()
            section = SECTION_BY_FOLDED_HEADING.get(fold(heading))
            if section is None:
                names = ", ".join(s.heading for s in SECTIONS)
                problems.append((number, f"section inconnue « {heading} » (sections : {names})"))
                current = None
                continue
            if section.key in section_lines:
                problems.append((number, f"section « {section.heading} » en double"))
                current = None
                continue
            current = section.key
            section_lines[current] = number
            buffer[current] = []
            continue
        if current is None:
            # Text after an unknown or repeated heading was reported with that heading.
            if line.strip() and not section_lines and not stray_reported:
                problems.append(
                    (number, "texte hors section : le corps doit commencer par un titre ##")
                )
                stray_reported = True
            continue
        buffer[current].append(line)
    data.sections = {k: "\n".join(v).strip("\n") for k, v in buffer.items() if "\n".join(v).strip()}
    return section_lines, problems


def render_fiche(data: FicheData) -> str:
    """The canonical text of a fiche file: stable key order and formatting."""
    data = normalized(data)
    lines: list[str] = []
    for key in FRONT_MATTER_KEYS:  # FicheData's names
        value = getattr(data, key)
        if key in OPTIONAL_KEYS and value in (None, False, [], {}, "fiche"):
            continue
        if key == "attachments":
            items = [{"file": ref.file, "title": ref.title} for ref in value]
            lines.append("attachments:\n" + "\n".join(f"- {_inline(i)}" for i in items))
        elif key in ("summary", "network_note"):
            lines.append(f"{key}: {_folded(value)}")
        else:
            lines.append(f"{key}: {_inline(value)}")
    parts = ["---\n", "\n".join(lines), "\n---\n"]
    for key in SECTION_KEYS:
        text = data.sections.get(key)
        if text:
            parts.append(f"\n## {SECTION_BY_KEY[key].heading}\n\n{text}\n")
    return "".join(parts)


def _inline(value: Any) -> str:
    """One YAML value on one line (lists in flow style), quoted only where YAML needs it."""
    text = yaml.safe_dump(
        value, default_flow_style=True, allow_unicode=True, width=float("inf"), sort_keys=False
    )
    return text.removesuffix("\n...\n").removesuffix("\n")


def _folded(text: str, width: int = 86, indent: str = "  ") -> str:
    """A paragraph as a folded block (`>-`) wrapped at `width`, several paragraphs as a
    literal block (`|-`), if that loads back exactly; else a quoted string."""
    if text and "\n" in text and "\t" not in text and text == text.strip():
        block = "|-\n" + "\n".join(f"{indent}{line}" if line else "" for line in text.split("\n"))
        try:
            if yaml.safe_load(f"s: {block}\n") == {"s": text}:
                return block
        except yaml.YAMLError:
            pass
    if text and "\n" not in text and "  " not in text and "\t" not in text and text == text.strip():
        lines = textwrap.wrap(text, width, break_long_words=False, break_on_hyphens=False)
        block = ">-\n" + "\n".join(f"{indent}{line}" for line in lines)
        try:
            if yaml.safe_load(f"s: {block}\n") == {"s": text}:
                return block
        except yaml.YAMLError:
            pass
    return _inline(text)


def dump_yaml(value: Any) -> str:
    """A YAML document in block style, keys in their given order (taxonomy, Régies)."""
    return yaml.safe_dump(
        value, sort_keys=False, allow_unicode=True, default_flow_style=False, width=100
    )


# ---------------------------------------------------------------------------------------
# Taxonomy and Régies


def parse_taxonomy(path: Path, text: str) -> tuple[dict[str, list[dict[str, Any]]], list[Problem]]:
    """Parse taxonomy.yaml: vocabulary → list of {slug, label[, retired]}."""
    try:
        root = _compose(text)
    except yaml.YAMLError as exc:
        return {}, [_yaml_problem(path, exc, 0)]
    if root is None:
        return {}, []
    if not isinstance(root, yaml.MappingNode):
        return {}, [Problem(path, 1, "taxonomy.yaml doit associer chaque vocabulaire à une liste")]
    result: dict[str, list[dict[str, Any]]] = {}
    problems: list[Problem] = []
    for key_node, value_node in root.value:
        line = key_node.start_mark.line + 1
        name = key_node.value
        if name not in VOCABULARY_NAMES:
            problems.append(
                Problem(
                    path, line, f"vocabulaire inconnu « {name} » ({', '.join(VOCABULARY_NAMES)})"
                )
            )
            continue
        entries, entry_problems = _parse_entries(
            path, value_node, required=("slug", "label"), optional=("retired",)
        )
        problems.extend(entry_problems)
        result[name] = entries
    return result, problems


def parse_regies(
    path: Path, text: str, regions: Iterable[str]
) -> tuple[list[dict[str, Any]], list[Problem]]:
    """Parse regies.yaml: a list of {slug, name, kind, city, department, region}."""
    try:
        root = _compose(text)
    except yaml.YAMLError as exc:
        return [], [_yaml_problem(path, exc, 0)]
    if root is None:
        return [], []
    entries, problems = _parse_entries(
        path,
        root,
        required=("slug", "name", "kind", "region"),
        optional=("city", "department", "contact_email", "retired"),
    )
    known_regions = set(regions)
    for entry in entries:
        line = entry.pop("_line")
        if entry["kind"] not in REGIE_KINDS:
            problems.append(
                Problem(
                    path,
                    line,
                    f"type de Régie inconnu « {entry['kind']} » ({' ou '.join(REGIE_KINDS)})",
                )
            )
        if entry["region"] not in known_regions:
            problems.append(Problem(path, line, f"région inconnue « {entry['region']} »"))
        entry["_line"] = line
    return entries, problems


def _parse_entries(
    path: Path, node: yaml.Node, *, required: tuple[str, ...], optional: tuple[str, ...]
) -> tuple[list[dict[str, Any]], list[Problem]]:
    problems: list[Problem] = []
    entries: list[dict[str, Any]] = []
    if not isinstance(node, yaml.SequenceNode):
        return [], [
            Problem(
                path, node.start_mark.line + 1, "une liste d'entrées « - slug: … » est attendue"
            )
        ]
    seen: set[str] = set()
    for item in node.value:
        line = item.start_mark.line + 1
        try:
            value = _construct(item)
        except yaml.YAMLError as exc:
            problems.append(_yaml_problem(path, exc, 0))
            continue
        except (ValueError, OverflowError):  # a number over 4,300 digits
            problems.append(Problem(path, *_unbuildable(item, 0)))
            continue
        if not isinstance(value, dict):
            problems.append(Problem(path, line, "chaque entrée doit être un dictionnaire"))
            continue
        bad = [k for k in value if k not in required + optional]
        if bad:
            problems.append(Problem(path, line, f"champ inconnu « {bad[0]} »"))
        missing = [k for k in required if not isinstance(value.get(k), str) or not value[k].strip()]
        if missing:
            problems.append(Problem(path, line, f"champ obligatoire manquant : {missing[0]}"))
            continue
        slug = value["slug"]
        if not SLUG_RE.match(slug):
            problems.append(
                Problem(path, line, f"slug invalide « {slug} » (minuscules, chiffres, tirets)")
            )
        elif slug in seen:
            problems.append(Problem(path, line, f"slug « {slug} » en double"))
        seen.add(slug)
        for key in optional:
            if key == "retired":
                value[key] = bool(value.get(key, False))
            else:
                value[key] = str(value.get(key) or "")
        value["_line"] = line
        entries.append(value)
    return entries, problems
