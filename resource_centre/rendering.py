"""The project's one Markdown renderer: no raw HTML, safe links only, sanitised output.

Sections are rendered once, when a fiche is saved or imported, and the HTML is stored next
to its source; pages only ever output that stored HTML.
"""

from __future__ import annotations

from urllib.parse import urlsplit

import nh3
from markdown_it import MarkdownIt

from resource_centre.taxonomy import MAX_SECTION_BYTES

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


def render_sections(sections: dict[str, str]) -> dict[str, str]:
    """Render each non-empty section; the keys are kept."""
    return {key: render_markdown(text) for key, text in sections.items() if text.strip()}
