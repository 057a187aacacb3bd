"""The Markdown renderer against the shared XSS and slow-input cases."""

from __future__ import annotations

import json
import time
from html.parser import HTMLParser
from urllib.parse import urlsplit

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from resource_centre import rendering
from resource_centre.rendering import SectionTooLarge, is_safe_url, render_markdown
from tests.conftest import attack_cases

FORBIDDEN_TAGS = {
    "script", "iframe", "object", "embed", "svg", "math", "form", "style", "meta", "base",
    "link", "input", "button", "textarea", "frame", "frameset", "applet",
}  # fmt: skip
ALLOWED_URL_SCHEMES = {"", "http", "https", "mailto"}


class _Collector(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, list[tuple[str, str | None]]]] = []

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, attrs))


def assert_inert(html: str) -> None:
    """No dangerous element, no event or style attribute, only allowed URL schemes."""
    collector = _Collector()
    collector.feed(html)
    collector.close()
    for tag, attrs in collector.tags:
        assert tag not in FORBIDDEN_TAGS, html
        for name, value in attrs:
            assert not name.startswith("on") and name not in ("style", "srcdoc"), html
            if name in ("href", "src") and value is not None:
                # What a browser does: strip C0 controls and spaces, then read the scheme.
                cleaned = "".join(c for c in value if ord(c) > 32)
                scheme = urlsplit(cleaned).scheme.lower()
                assert scheme in ALLOWED_URL_SCHEMES, value
                assert not cleaned.startswith(("//", "\\\\", "/\\", "\\/")), value


def xss_cases() -> list[str]:
    lines = attack_cases("markdown-xss.jsonl").read_text("utf-8").splitlines()
    return [json.loads(line) for line in lines if line.strip()]


@pytest.mark.parametrize("case", xss_cases())
def test_xss_payload_renders_inert(case):
    assert_inert(render_markdown(case))


def test_safe_markdown_keeps_its_structure():
    html = render_markdown(
        "### Étapes\n\n| a | b |\n|---|---|\n| 1 | 2 |\n\n[site](https://exemple.org) "
        "[mail](mailto:contact@exemple.org) [fiche](/fiches/laverie) **gras**"
    )
    assert "<h3>Étapes</h3>" in html and "<table>" in html and "<strong>gras</strong>" in html
    assert 'href="https://exemple.org"' in html and 'href="/fiches/laverie"' in html
    assert 'href="mailto:contact@exemple.org"' in html


@pytest.mark.parametrize(
    "url", ["javascript:alert(1)", "JaVaScRiPt:x", "data:text/html,x", "vbscript:x",
            "search-ms:query=x", "intent://x", "//evil.example/x", "\\\\evil.example"]
)  # fmt: skip
def test_unsafe_link_schemes_are_not_links(url):
    assert not is_safe_url(url)
    assert_inert(render_markdown(f"[clic]({url})"))
    assert_inert(render_markdown(f"<{url}>"))


def expand(recipe: dict, scale: float = 1.0) -> str:
    """Build the text a recipe of markdown-dos.jsonl describes (optionally scaled down)."""
    if "prefix" in recipe:
        n = int(recipe["unit_repeat"] * scale)
        return recipe["prefix"] * n + recipe["then"] * n
    return recipe["unit"] * int(recipe["times"] * scale)


def dos_cases() -> list[dict]:
    lines = attack_cases("markdown-dos.jsonl").read_text("utf-8").splitlines()
    return [json.loads(line) for line in lines if line.strip()]


# Timing bounds: pytest-cov's tracing would make this CPU-bound test several times slower.
@pytest.mark.no_cover
@pytest.mark.parametrize("recipe", dos_cases(), ids=lambda r: r["note"][:24])
def test_slow_inputs_are_refused_over_the_cap_or_render_fast(recipe):
    text = expand(recipe)
    if len(text.encode()) > 100_000:
        with pytest.raises(SectionTooLarge):
            render_markdown(text)
        text = expand(recipe, scale=0.1)
    # What is accepted renders in bounded time (once, at save time) and stays inert.
    start = time.perf_counter()
    assert_inert(render_markdown(text))
    assert time.perf_counter() - start < 10


@settings(max_examples=150, deadline=None)
@given(
    st.text(
        alphabet=st.sampled_from(list("<>\"'=:/()[]!`*#-_ \najvscrtiponlkfe&;%0x")), max_size=200
    )
)
def test_arbitrary_markdown_renders_inert(text):
    assert_inert(render_markdown(text))


@pytest.mark.no_cover  # timing bounds (and picking the slowest case by timing): no tracing
def test_rendering_within_a_time_limit_stops_the_slowest_case_and_carries_on():
    slowest = max(dos_cases(), key=_cost)
    text = expand(slowest)[: rendering.MAX_SECTION_BYTES]  # ASCII: characters are bytes
    with rendering.time_limit(0.3):
        assert render_markdown("Du **gras**.") == "<p>Du <strong>gras</strong>.</p>\n"
        start = time.perf_counter()
        with pytest.raises(rendering.RenderTooSlow) as caught:
            rendering.render_sections({"context": "Court.", "approach": text})
        assert time.perf_counter() - start < 2  # stopped, not waited for
        assert caught.value.key == "approach"  # the section being rendered when time ran out
        assert "dépasse 0.3 s" in str(caught.value)
        # The worker that overran was killed; a new one renders the next text.
        assert rendering.render_sections({"context": "- a"}) == {
            "context": "<ul>\n<li>a</li>\n</ul>\n"
        }
    # Outside a time limit (the CLI import) rendering stays in this process.
    assert render_markdown("Du **gras**.") == "<p>Du <strong>gras</strong>.</p>\n"


def _cost(recipe: dict) -> float:
    """Seconds per byte to render a small sample of a slow-input recipe."""
    sample = expand(recipe, 0.05)
    start = time.perf_counter()
    render_markdown(sample)
    return (time.perf_counter() - start) / max(1, len(sample.encode()))
