"""Build the demo fiches' attachments (ODT and PDF) from the text sources of
`tools/demo_attachments/`, deterministically: the same sources give the same bytes.

Standard library only. A source starts with headers (`fiche: <slug>`, `output: <names>`,
`title: …`) up to the first blank line; the body is Markdown-like: paragraphs, `## heading`,
`- bullet`, `- [ ] box to tick`, and tables (`| a | b |`, a `| --- | ---: |` row marks
right-aligned columns). Each name in `output` (its extension chooses the format) is written
to `knowledge/fiches/<slug>/<name>`.

    python tools/demo_attachments.py           # (re)build every attachment
    python tools/demo_attachments.py --check   # exit 1 if a committed file differs
"""

from __future__ import annotations

import argparse
import io
import re
import sys
import unicodedata
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from xml.sax.saxutils import escape

ROOT = Path(__file__).resolve().parent.parent
SOURCES = ROOT / "tools" / "demo_attachments"
FICHES = ROOT / "knowledge" / "fiches"
NOTICE = "Document de démonstration : structures, personnes et chiffres fictifs."
NAME_RE = re.compile(r"^[a-z0-9][a-z0-9.-]*\.(odt|pdf)$")
SLUG_RE = re.compile(r"^[a-z0-9]+(-[a-z0-9]+)*$")


# ---------------------------------------------------------------------------------------
# Source documents


@dataclass
class Block:
    kind: str  # "heading", "paragraph", "bullets", "checks", "table"
    lines: list[str] = field(default_factory=list)  # text, items or table rows (cells joined by \t)
    right: list[bool] = field(default_factory=list)  # tables: right-aligned columns


@dataclass
class Document:
    source: Path
    fiche: str
    outputs: list[str]
    title: str
    blocks: list[Block]


def parse_source(path: Path) -> Document:
    """Read one source file; raise ValueError with the file's name on a mistake."""
    text = path.read_text(encoding="utf-8")
    head, _, body = text.partition("\n\n")
    headers: dict[str, str] = {}
    for line in head.splitlines():
        key, sep, value = line.partition(":")
        if not sep:
            raise ValueError(f"{path.name}: en-tête attendu « clé: valeur », lu « {line} »")
        headers[key.strip()] = value.strip()
    missing = [k for k in ("fiche", "output", "title") if not headers.get(k)]
    if missing:
        raise ValueError(f"{path.name}: en-tête manquant : {', '.join(missing)}")
    outputs = headers["output"].split()
    bad = [name for name in outputs if not NAME_RE.match(name)]
    if bad or not SLUG_RE.match(headers["fiche"]):
        raise ValueError(
            f"{path.name}: nom de fichier ou de fiche invalide : {bad or headers['fiche']}"
        )
    return Document(path, headers["fiche"], outputs, headers["title"], parse_blocks(body))


def parse_blocks(body: str) -> list[Block]:
    """Split the body into headings, paragraphs, bullet lists, check lists and tables."""
    blocks: list[Block] = []

    def group(kind: str) -> Block:
        """The block being filled when it is of this kind, else a new one."""
        if not blocks or blocks[-1].kind != kind:
            blocks.append(Block(kind))
        return blocks[-1]

    for line in body.splitlines():
        stripped = line.strip()
        last = blocks[-1] if blocks else None
        if not stripped:
            blocks.append(Block("blank"))
        elif stripped.startswith("## "):
            blocks.append(Block("heading", [stripped[3:].strip()]))
        elif stripped.startswith("- [ ] "):
            group("checks").lines.append(stripped[6:].strip())
        elif stripped.startswith("- "):
            group("bullets").lines.append(stripped[2:].strip())
        elif stripped.startswith("|"):
            cells = [c.strip() for c in stripped.strip("|").split("|")]
            table = group("table")
            if all(re.fullmatch(r":?-{3,}:?", c) for c in cells):
                table.right = [c.endswith(":") for c in cells]
            else:
                table.lines.append("\t".join(cells))
        elif last is not None and last.kind in ("bullets", "checks") and line.startswith("  "):
            last.lines[-1] += " " + stripped  # continuation of a list item
        elif last is not None and last.kind == "paragraph":
            last.lines[0] += " " + stripped
        else:
            blocks.append(Block("paragraph", [stripped]))
    result = [b for b in blocks if b.kind != "blank"]
    for block in result:
        if block.kind == "table":
            width = len(block.lines[0].split("\t"))
            if any(len(row.split("\t")) != width for row in block.lines):
                raise ValueError(f"tableau irrégulier : {block.lines[0]}")
            block.right = (block.right + [False] * width)[:width]
    return result


# ---------------------------------------------------------------------------------------
# ODT (OpenDocument text): a zip whose first entry is the stored `mimetype`


ODT_MIME = "application/vnd.oasis.opendocument.text"
NS = (
    'xmlns:office="urn:oasis:names:tc:opendocument:xmlns:office:1.0" '
    'xmlns:style="urn:oasis:names:tc:opendocument:xmlns:style:1.0" '
    'xmlns:text="urn:oasis:names:tc:opendocument:xmlns:text:1.0" '
    'xmlns:table="urn:oasis:names:tc:opendocument:xmlns:table:1.0" '
    'xmlns:fo="urn:oasis:names:tc:opendocument:xmlns:xsl-fo-compatible:1.0" '
    'xmlns:svg="urn:oasis:names:tc:opendocument:xmlns:svg-compatible:1.0" '
    'xmlns:dc="http://purl.org/dc/elements/1.1/" '
    'xmlns:meta="urn:oasis:names:tc:opendocument:xmlns:meta:1.0"'
)
XML_HEAD = '<?xml version="1.0" encoding="UTF-8"?>\n'


def _list_style(name: str, char: str) -> str:
    return (
        f'<text:list-style style:name="{name}"><text:list-level-style-bullet text:level="1" '
        f'text:bullet-char="{char}"><style:list-level-properties '
        'text:list-level-position-and-space-mode="label-alignment">'
        '<style:list-level-label-alignment text:label-followed-by="listtab" '
        'text:list-tab-stop-position="0.7cm" fo:text-indent="-0.5cm" fo:margin-left="0.7cm"/>'
        "</style:list-level-properties></text:list-level-style-bullet></text:list-style>"
    )


# Paragraph styles: name, display name, parent, paragraph properties, text properties.
PARAGRAPH_STYLES = (
    ("Text_20_body", "Text body", "Standard", 'fo:margin-bottom="0.2cm"', ""),
    (
        "Title",
        "Title",
        "Standard",
        'fo:margin-bottom="0.3cm"',
        'fo:font-size="17pt" fo:font-weight="bold"',
    ),
    (
        "Heading_20_2",
        "Heading 2",
        "Standard",
        'fo:margin-top="0.4cm" fo:margin-bottom="0.15cm" fo:keep-with-next="always"',
        'fo:font-size="13pt" fo:font-weight="bold"',
    ),
    (
        "Table_20_Contents",
        "Table Contents",
        "Standard",
        'fo:margin-bottom="0cm"',
        'fo:font-size="9.5pt"',
    ),
    ("Table_20_Heading", "Table Heading", "Table_20_Contents", "", 'fo:font-weight="bold"'),
    (
        "Notice",
        "Notice",
        "Standard",
        'fo:margin-bottom="0.3cm"',
        'fo:font-size="8.5pt" fo:font-style="italic"',
    ),
)
STYLES_XML = (
    XML_HEAD + f'<office:document-styles {NS} office:version="1.3">'
    '<office:font-face-decls><style:font-face style:name="Liberation Sans" '
    'svg:font-family="\'Liberation Sans\'" style:font-family-generic="swiss" '
    'style:font-pitch="variable"/></office:font-face-decls><office:styles>'
    '<style:default-style style:family="paragraph"><style:text-properties '
    'style:font-name="Liberation Sans" fo:font-size="10.5pt" fo:language="fr" fo:country="FR"/>'
    '</style:default-style><style:style style:name="Standard" style:family="paragraph" '
    'style:class="text"/>'
    + "".join(
        f'<style:style style:name="{name}" style:display-name="{display}" '
        f'style:family="paragraph" style:parent-style-name="{parent}">'
        f"<style:paragraph-properties {paragraph}/><style:text-properties {text}/></style:style>"
        for name, display, parent, paragraph, text in PARAGRAPH_STYLES
    )
    + _list_style("Bullets", "•")
    + _list_style("Checkboxes", "☐")
    + '</office:styles><office:automatic-styles><style:page-layout style:name="pm1">'
    '<style:page-layout-properties fo:page-width="21cm" fo:page-height="29.7cm" '
    'fo:margin-top="2cm" fo:margin-bottom="2cm" fo:margin-left="2cm" fo:margin-right="2cm"/>'
    "</style:page-layout></office:automatic-styles><office:master-styles>"
    '<style:master-page style:name="Standard" style:page-layout-name="pm1"/>'
    "</office:master-styles></office:document-styles>\n"
)

MANIFEST_XML = (
    XML_HEAD + '<manifest:manifest xmlns:manifest="urn:oasis:names:tc:opendocument:xmlns:'
    'manifest:1.0" manifest:version="1.3">'
    f'<manifest:file-entry manifest:full-path="/" manifest:version="1.3" manifest:media-type="{ODT_MIME}"/>'
    + "".join(
        f'<manifest:file-entry manifest:full-path="{name}" manifest:media-type="text/xml"/>'
        for name in ("content.xml", "styles.xml", "meta.xml")
    )
    + "</manifest:manifest>\n"
)


def _p(style: str, text: str) -> str:
    return f'<text:p text:style-name="{style}">{escape(text)}</text:p>'


ODT_AUTOMATIC_STYLES = (
    '<style:style style:name="Tbl" style:family="table">'
    '<style:table-properties style:width="17cm" table:align="margins"/></style:style>'
    '<style:style style:name="Cell" style:family="table-cell"><style:table-cell-properties '
    'fo:border="0.5pt solid #666666" fo:padding="0.1cm"/></style:style>'
    '<style:style style:name="HeadCell" style:family="table-cell"><style:table-cell-properties '
    'fo:background-color="#e6e6e6" fo:border="0.5pt solid #666666" fo:padding="0.1cm"/>'
    "</style:style>"
    '<style:style style:name="Right" style:family="paragraph" '
    'style:parent-style-name="Table_20_Contents"><style:paragraph-properties fo:text-align="end"/>'
    "</style:style>"
)


def _odt_row(row: list[str], right: list[bool], head: bool) -> str:
    cells = []
    for text, align_right in zip(row, right, strict=True):
        style = "Table_20_Heading" if head else ("Right" if align_right else "Table_20_Contents")
        cells.append(
            f'<table:table-cell table:style-name="{"HeadCell" if head else "Cell"}" '
            f'office:value-type="string">{_p(style, text)}</table:table-cell>'
        )
    return "<table:table-row>" + "".join(cells) + "</table:table-row>"


def odt_content(doc: Document) -> str:
    """The content.xml of a document."""
    parts = [_p("Title", doc.title), _p("Notice", NOTICE)]
    tables = 0
    for block in doc.blocks:
        if block.kind == "heading":
            parts.append(
                f'<text:h text:style-name="Heading_20_2" text:outline-level="2">'
                f"{escape(block.lines[0])}</text:h>"
            )
        elif block.kind == "paragraph":
            parts.append(_p("Text_20_body", block.lines[0]))
        elif block.kind in ("bullets", "checks"):
            style = "Bullets" if block.kind == "bullets" else "Checkboxes"
            items = "".join(
                f"<text:list-item>{_p('Text_20_body', item)}</text:list-item>"
                for item in block.lines
            )
            parts.append(f'<text:list text:style-name="{style}">{items}</text:list>')
        elif block.kind == "table":
            tables += 1
            rows = [row.split("\t") for row in block.lines]
            parts.append(
                f'<table:table table:name="Tableau{tables}" table:style-name="Tbl">'
                f'<table:table-column table:number-columns-repeated="{len(rows[0])}"/>'
                "<table:table-header-rows>"
                f"{_odt_row(rows[0], block.right, True)}</table:table-header-rows>"
                + "".join(_odt_row(row, block.right, False) for row in rows[1:])
                + "</table:table>"
            )
    return (
        XML_HEAD + f'<office:document-content {NS} office:version="1.3">'
        f"<office:automatic-styles>{ODT_AUTOMATIC_STYLES}</office:automatic-styles>"
        f"<office:body><office:text>{''.join(parts)}</office:text></office:body>"
        "</office:document-content>\n"
    )


def odt_meta(doc: Document) -> str:
    return (
        XML_HEAD + f'<office:document-meta {NS} office:version="1.3"><office:meta>'
        f"<dc:title>{escape(doc.title)}</dc:title><dc:language>fr-FR</dc:language>"
        "<meta:generator>tools/demo_attachments.py</meta:generator>"
        "</office:meta></office:document-meta>\n"
    )


def build_odt(doc: Document) -> bytes:
    """An ODT file: fixed order, fixed timestamps, every entry stored (no compression)."""
    entries = [
        ("mimetype", ODT_MIME),
        ("META-INF/manifest.xml", MANIFEST_XML),
        ("content.xml", odt_content(doc)),
        ("styles.xml", STYLES_XML),
        ("meta.xml", odt_meta(doc)),
    ]
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, text in entries:
            info = zipfile.ZipInfo(name, date_time=(1980, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_STORED
            info.create_system = 3
            info.external_attr = 0o100644 << 16
            archive.writestr(info, text.encode("utf-8"))
    return buffer.getvalue()


# ---------------------------------------------------------------------------------------
# PDF: hand-written, Helvetica in WinAnsiEncoding (cp1252), uncompressed content streams

# Advance widths (thousandths of the font size) of the standard Helvetica fonts, for line
# breaking; letters with accents take their base letter's width.
_REGULAR = dict(zip(" !\"#$%&'()*+,-./0123456789:;<=>?@ABCDEFGHIJKLMNOPQRSTUVWXYZ[\\]^_`"
    "abcdefghijklmnopqrstuvwxyz{|}~", [
    278, 278, 355, 556, 556, 889, 667, 191, 333, 333, 389, 584, 278, 333, 278, 278, *[556] * 10,
    278, 278, 584, 584, 584, 556, 1015, 667, 667, 722, 722, 667, 611, 778, 722, 278, 500, 667,
    556, 833, 722, 778, 667, 778, 722, 667, 611, 722, 667, 944, 667, 667, 611, 278, 278, 278, 469,
    556, 333, 556, 556, 500, 556, 556, 278, 556, 556, 222, 222, 500, 222, 833, 556, 556, 556, 556,
    333, 500, 278, 556, 500, 722, 500, 500, 500, 334, 260, 334, 584,
], strict=True))  # fmt: skip
_BOLD = dict(_REGULAR)
_BOLD.update(zip("!'():;?JLbdfghijklmnopqrtuvwx", [
    333, 238, 333, 333, 333, 333, 611, 556, 611, 611, 611, 333, 611, 611, 278,
    278, 556, 278, 889, 611, 611, 611, 611, 389, 333, 611, 556, 778, 556,
], strict=True))  # fmt: skip
_BOLD.update({c: 722 for c in "ABCDKNRUH"} | {c: 556 for c in "csy"})
_SPECIAL = {"—": 1000, "…": 1000, "«": 556, "»": 556, "€": 556, "–": 556, "’": 222, "•": 350}
_SPECIAL.update({"œ": 944, "Œ": 1000, "æ": 889, "Æ": 1000, "°": 400, "\u00a0": 278, "·": 278})

PAGE_W, PAGE_H, MARGIN = 595, 842, 57
TEXT_W = PAGE_W - 2 * MARGIN
BODY, LEADING, SMALL = 10.5, 14.0, 9.5


def char_width(ch: str, bold: bool) -> float:
    table = _BOLD if bold else _REGULAR
    if ch in table:
        return table[ch]
    if ch in _SPECIAL:
        return _SPECIAL[ch]
    base = unicodedata.normalize("NFD", ch)[:1]
    return table.get(base, 611 if bold else 556)


def text_width(text: str, size: float, bold: bool = False) -> float:
    return sum(char_width(c, bold) for c in text) * size / 1000


def wrap(text: str, width: float, size: float, bold: bool = False) -> list[str]:
    """Greedy line breaking on spaces; a word wider than the line is cut."""
    lines: list[str] = []
    current = ""
    for word in text.split():
        candidate = f"{current} {word}" if current else word
        if text_width(candidate, size, bold) <= width:
            current = candidate
            continue
        if current:
            lines.append(current)
        current = word
        while text_width(current, size, bold) > width and len(current) > 1:
            cut = len(current) - 1
            while cut > 1 and text_width(current[:cut], size, bold) > width:
                cut -= 1
            lines.append(current[:cut])
            current = current[cut:]
    if current:
        lines.append(current)
    return lines or [""]


def pdf_string(text: str) -> bytes:
    """A PDF literal string in WinAnsiEncoding (characters outside it become '?')."""
    text = text.replace("\u202f", " ").replace("☐", "")
    raw = text.encode("cp1252", errors="replace")
    return b"(" + raw.replace(b"\\", b"\\\\").replace(b"(", b"\\(").replace(b")", b"\\)") + b")"


def num(value: float) -> str:
    return f"{value:.2f}".rstrip("0").rstrip(".")


class PdfLayout:
    """Places the blocks on A4 pages; each page is a list of content-stream operations."""

    def __init__(self) -> None:
        self.pages: list[list[bytes]] = []
        self.y = 0.0
        self.new_page()

    def new_page(self) -> None:
        self.pages.append([])
        self.y = PAGE_H - MARGIN

    def room(self, height: float) -> None:
        if self.y - height < MARGIN + 20:
            self.new_page()

    def text(self, x: float, y: float, text: str, size: float, bold: bool = False) -> None:
        op = f"BT /F{2 if bold else 1} {num(size)} Tf {num(x)} {num(y)} Td ".encode()
        self.pages[-1].append(op + pdf_string(text) + b" Tj ET")

    def draw(self, operation: str) -> None:
        self.pages[-1].append(operation.encode())

    def lines(
        self, lines: list[str], x: float, size: float, leading: float, bold: bool = False
    ) -> None:
        for line in lines:
            self.room(leading)
            self.y -= leading
            self.text(x, self.y + (leading - size) / 2 + 1, line, size, bold)

    def table(self, rows: list[list[str]], right: list[bool]) -> None:
        pad, leading = 4.0, 12.0
        columns = [[row[c] for row in rows] for c in range(len(rows[0]))]
        # A column's width: its longest cell on one line, or, when the table is too wide, its
        # longest word plus a share of the space left, in proportion to what it would need.
        longest = [max(text_width(t, SMALL, r == 0) for r, t in enumerate(col)) for col in columns]
        words = [
            max(text_width(w, SMALL, r == 0) for r, t in enumerate(col) for w in t.split() or [""])
            for col in columns
        ]
        widths = [w + 2 * pad for w in longest]
        if sum(widths) < TEXT_W:  # stretch to the text width
            widths = [w * TEXT_W / sum(widths) for w in widths]
        elif sum(widths) > TEXT_W:
            spare = max(TEXT_W - sum(words) - 2 * pad * len(columns), 0)
            need = [full - word for full, word in zip(longest, words, strict=True)]
            widths = [
                word + 2 * pad + spare * n / (sum(need) or 1)
                for word, n in zip(words, need, strict=True)
            ]

        def row_height(row: list[str], head: bool) -> tuple[float, list[list[str]]]:
            wrapped = [wrap(t, w - 2 * pad, SMALL, head) for t, w in zip(row, widths, strict=True)]
            return max(len(w) for w in wrapped) * leading + 2 * pad, wrapped

        def draw_row(row: list[str], head: bool) -> None:
            height, wrapped = row_height(row, head)
            top, x = self.y, float(MARGIN)
            if head:
                self.draw(
                    f"0.9 g {num(MARGIN)} {num(top - height)} {num(sum(widths))} {num(height)} re f 0 g"
                )
            for cell_lines, width, align_right in zip(wrapped, widths, right, strict=True):
                self.draw(f"0.5 w {num(x)} {num(top - height)} {num(width)} {num(height)} re S")
                y = top - pad
                for line in cell_lines:
                    y -= leading
                    end = x + width - pad - text_width(line, SMALL, head)
                    self.text(
                        end if align_right and not head else x + pad, y + 3, line, SMALL, head
                    )
                x += width
            self.y -= height

        self.y -= 4
        for index, row in enumerate(rows):
            height, _ = row_height(row, index == 0)
            if self.y - height < MARGIN + 20 and index > 0:
                self.new_page()
                draw_row(rows[0], True)  # repeat the header on the new page
            draw_row(row, index == 0)
        self.y -= 8


def pdf_pages(doc: Document) -> list[list[bytes]]:
    layout = PdfLayout()
    layout.lines(wrap(doc.title, TEXT_W, 17, True), MARGIN, 17, 22, bold=True)
    layout.lines([NOTICE], MARGIN, 8.5, 14)
    layout.y -= 6
    for block in doc.blocks:
        if block.kind == "heading":
            layout.room(40)
            layout.y -= 8
            layout.lines(wrap(block.lines[0], TEXT_W, 13, True), MARGIN, 13, 17, bold=True)
            layout.y -= 2
        elif block.kind == "paragraph":
            layout.lines(wrap(block.lines[0], TEXT_W, BODY), MARGIN, BODY, LEADING)
            layout.y -= 5
        elif block.kind in ("bullets", "checks"):
            for item in block.lines:
                lines = wrap(item, TEXT_W - 18, BODY)
                layout.room(LEADING)
                baseline = layout.y - LEADING + (LEADING - BODY) / 2 + 1
                if block.kind == "bullets":
                    layout.text(MARGIN + 5, baseline, "•", BODY)
                else:
                    layout.draw(f"0.6 w {num(MARGIN + 4)} {num(baseline - 0.5)} 8 8 re S")
                layout.lines(lines, MARGIN + 18, BODY, LEADING)
                layout.y -= 2
            layout.y -= 4
        elif block.kind == "table":
            layout.table([row.split("\t") for row in block.lines], block.right)
    return layout.pages


def _utf16(text: str) -> bytes:
    return b"<" + ("feff" + text.encode("utf-16-be").hex()).encode() + b">"


def build_pdf(doc: Document) -> bytes:
    """A PDF 1.4 file with Helvetica and Helvetica-Bold, one content stream per page."""
    pages = pdf_pages(doc)
    total = len(pages)
    objects: list[bytes] = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"",  # the page tree, filled below
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding >>",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica-Bold /Encoding /WinAnsiEncoding >>",
        b"<< /Title " + _utf16(doc.title) + b" /Producer (tools/demo_attachments.py) >>",
    ]
    kids = []
    for number, operations in enumerate(pages, start=1):
        footer = f"{NOTICE}  Page {number} / {total}"
        stream = b"\n".join(
            [
                *operations,
                b"0.4 g BT /F1 7.5 Tf "
                + f"{MARGIN} 30 Td ".encode()
                + pdf_string(footer)
                + b" Tj ET",
            ]
        )
        objects.append(
            b"<< /Length " + str(len(stream)).encode() + b" >>\nstream\n" + stream + b"\nendstream"
        )
        content = len(objects)
        objects.append(
            f"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 {PAGE_W} {PAGE_H}] "
            f"/Resources << /Font << /F1 3 0 R /F2 4 0 R >> >> /Contents {content} 0 R >>".encode()
        )
        kids.append(f"{len(objects)} 0 R")
    objects[1] = f"<< /Type /Pages /Kids [{' '.join(kids)}] /Count {total} >>".encode()
    out = bytearray(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n")
    offsets = []
    for index, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += f"{index} 0 obj\n".encode() + body + b"\nendobj\n"
    xref = len(out)
    out += f"xref\n0 {len(objects) + 1}\n0000000000 65535 f \n".encode()
    out += b"".join(f"{offset:010d} 00000 n \n".encode() for offset in offsets)
    out += f"trailer\n<< /Size {len(objects) + 1} /Root 1 0 R /Info 5 0 R >>\n".encode()
    out += f"startxref\n{xref}\n%%EOF\n".encode()
    return bytes(out)


# ---------------------------------------------------------------------------------------
# Command line


def build_all(sources: Path = SOURCES) -> dict[Path, bytes]:
    """Every attachment the sources describe: path under knowledge/fiches → bytes."""
    built: dict[Path, bytes] = {}
    for source in sorted(sources.glob("*.md")):
        doc = parse_source(source)
        for name in doc.outputs:
            data = build_pdf(doc) if name.endswith(".pdf") else build_odt(doc)
            path = FICHES / doc.fiche / name
            if path in built:
                raise ValueError(f"{source.name}: {doc.fiche}/{name} est produit deux fois")
            built[path] = data
    return built


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Pièces jointes des fiches de démonstration.")
    parser.add_argument(
        "--check", action="store_true", help="vérifier sans écrire (code 1 si écart)"
    )
    args = parser.parse_args(argv)
    built = build_all()
    if args.check:
        stale = [p for p, data in built.items() if not p.is_file() or p.read_bytes() != data]
        for path in stale:
            print(f"à régénérer : {path.relative_to(ROOT)}", file=sys.stderr)
        if stale:
            print("Lancez : python tools/demo_attachments.py", file=sys.stderr)
        return 1 if stale else 0
    for path, data in built.items():
        path.parent.mkdir(parents=True, exist_ok=True)
        if not path.is_file() or path.read_bytes() != data:
            path.write_bytes(data)
            print(f"écrit : {path.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
