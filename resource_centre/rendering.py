"""The project's one Markdown renderer: no raw HTML, safe links only, sanitised output.

Sections are rendered once, when a fiche is saved or imported, and the HTML is stored next
to its source; pages only ever output that stored HTML.
"""

from __future__ import annotations

import re
from urllib.parse import urlsplit

import nh3
from markdown_it import MarkdownIt

from resource_centre.taxonomy import MAX_SECTION_BYTES, SECTION_KEYS

ALLOWED_SCHEMES = frozenset({"http", "https", "mailto"})
ALLOWED_TAGS = frozenset(
    {
        "p", "br", "hr", "h3", "h4", "h5", "h6", "ul", "ol", "li", "strong", "em", "code",
        "pre", "blockquote", "a", "img", "table", "thead", "tbody", "tr", "th", "td",
    }
)  # fmt: skip
ALLOWED_ATTRIBUTES = {"a": {"href", "title"}, "img": {"src", "alt", "title"}, "ol": {"start"}}


class SectionTooLarge(ValueError):
    """A Markdown text over the size limit (rendering crafted input is slow)."""


def is_safe_url(url: str) -> bool:
    """True for relative URLs and http, https and mailto ones; False for anything else."""
    candidate = url.strip()
    if any(ord(c) < 32 for c in candidate):
        return False
    try:
        parts = urlsplit(candidate)
    except ValueError:
        return False
    if parts.scheme:
        return parts.scheme.lower() in ALLOWED_SCHEMES
    # "//host/path" is a link to another site with the page's scheme: not relative.
    return not candidate.startswith(("//", "\\\\", "/\\", "\\/"))


def _make_renderer() -> MarkdownIt:
    md = MarkdownIt("commonmark", {"html": False, "linkify": False, "typographer": False})
    md.enable("table")
    md.validateLink = is_safe_url  # type: ignore[method-assign]
    return md


_MD = _make_renderer()


def render_markdown(text: str) -> str:
    """Render Markdown to sanitised HTML; raise SectionTooLarge over the size limit."""
    if len(text.encode("utf-8")) > MAX_SECTION_BYTES:
        raise SectionTooLarge(f"texte trop long (plus de {MAX_SECTION_BYTES // 1000} Ko)")
    if not text.strip():
        return ""
    html = _MD.render(text)
    return nh3.clean(
        html,
        tags=set(ALLOWED_TAGS),
        attributes={k: set(v) for k, v in ALLOWED_ATTRIBUTES.items()},
        url_schemes=set(ALLOWED_SCHEMES),
        link_rel="noopener noreferrer nofollow",
        strip_comments=True,
    )


# --- Markdown → plain text (cheap, linear-time regular expressions, no HTML) --------------

_FENCE = re.compile(r"^[ \t]{0,3}(?:`{3,}|~{3,})[^\n]*$", re.M)
_HEADING = re.compile(r"^[ \t]{0,3}#{1,6}[ \t]*|[ \t]+#+[ \t]*$", re.M)
_SETEXT = re.compile(r"^[ \t]{0,3}(?:=+|-+)[ \t]*$", re.M)
_QUOTE = re.compile(r"^[ \t]*(?:>[ \t]?)+", re.M)
_LIST = re.compile(r"^[ \t]*(?:[-*+]|\d{1,9}[.)])[ \t]+(?:\[[ xX]\][ \t]+)?", re.M)
_RULE = re.compile(r"^[ \t]{0,3}(?:[-*_][ \t]*){3,}$", re.M)
_IMAGE = re.compile(r"!\[([^\[\]\n]{0,300})\]\([^()\s]{0,500}(?:\s+\"[^\"\n]{0,300}\")?\)")
_LINK = re.compile(
    r"\[([^\[\]\n]{0,300})\](?:\([^()\s]{0,500}(?:\s+\"[^\"\n]{0,300}\")?\)|\[[^\[\]\n]{0,100}\])"
)
_REF_DEF = re.compile(r"^[ \t]{0,3}\[[^\[\]\n]{1,100}\]:[^\n]*$", re.M)
_AUTOLINK = re.compile(r"<((?:https?|mailto):[^<>\s]{1,500})>")
_TAG = re.compile(r"</?[A-Za-z][^<>\n]{0,200}>|<!--[^<>]{0,500}-->")
_TABLE_RULE = re.compile(r"^[ \t]*\|?(?:[ \t]*:?-{2,}:?[ \t]*\|)+[ \t]*:?-*:?[ \t]*$", re.M)
_EMPHASIS = re.compile(r"[*_~`|\\]+")
_SPACES = re.compile(r"[ \t\r\f\v]+")
_BLANK_LINES = re.compile(r"\n{3,}")
_ENTITIES = {"&nbsp;": " ", "&amp;": "&", "&lt;": "<", "&gt;": ">", "&quot;": '"'}


def plain_text(markdown: str | None) -> str:
    """Turn Markdown into plain text by dropping its syntax (not a renderer: no HTML out)."""
    if not markdown:
        return ""
    text = markdown.replace("\r\n", "\n").replace("\r", "\n")
    for pattern in (_FENCE, _SETEXT, _RULE, _TABLE_RULE, _REF_DEF):
        text = pattern.sub("", text)
    text = _HEADING.sub("", text)
    text = _QUOTE.sub("", text)
    text = _LIST.sub("", text)
    text = _IMAGE.sub(r"\1", text)
    text = _LINK.sub(r"\1", text)
    text = _AUTOLINK.sub(r"\1", text)
    text = _TAG.sub(" ", text)
    for entity, char in _ENTITIES.items():
        text = text.replace(entity, char)
    text = _EMPHASIS.sub(" ", text)
    text = _SPACES.sub(" ", text)
    text = "\n".join(line.strip() for line in text.split("\n"))
    return _BLANK_LINES.sub("\n\n", text).strip()


def sections_plain_text(sections: dict[str, str]) -> str:
    """The plain text of a fiche's sections, in the order of the fiche."""
    parts = [plain_text(sections.get(key)) for key in SECTION_KEYS]
    return "\n\n".join(p for p in parts if p)
