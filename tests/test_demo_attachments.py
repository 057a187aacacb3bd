"""The demo fiches' attachments: built deterministically by tools/demo_attachments.py from
the sources of tools/demo_attachments/, committed as built, and listed in the fiches."""

from __future__ import annotations

import importlib.util
import io
import shutil
import sys
import zipfile
from pathlib import Path
from xml.etree import ElementTree

import pytest
import yaml

from tests.conftest import DEMO_KNOWLEDGE, ROOT

FICHES = DEMO_KNOWLEDGE / "fiches"
ODT_MIME = b"application/vnd.oasis.opendocument.text"


def load_generator():
    spec = importlib.util.spec_from_file_location(
        "demo_attachments", ROOT / "tools" / "demo_attachments.py"
    )
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault("demo_attachments", module)
    spec.loader.exec_module(module)
    return module


generator = load_generator()


def attachment_files() -> list[Path]:
    return sorted(p for p in FICHES.glob("*/*") if p.is_file())


def front_matter(path: Path) -> dict:
    return yaml.safe_load(path.read_text(encoding="utf-8").split("---\n", 2)[1])


def test_committed_files_are_what_the_generator_builds():
    built = generator.build_all()
    assert len(built) >= 5
    for path, data in built.items():
        assert path.is_file(), f"manquant : {path.relative_to(ROOT)}"
        assert path.read_bytes() == data, f"à régénérer : {path.relative_to(ROOT)}"
    assert generator.main(["--check"]) == 0


def test_building_twice_gives_the_same_bytes():
    assert generator.build_all() == generator.build_all()


def test_check_mode_fails_when_a_committed_file_differs(tmp_path, monkeypatch, capsys):
    fiches = tmp_path / "fiches"
    shutil.copytree(FICHES, fiches)
    monkeypatch.setattr(generator, "FICHES", fiches)
    monkeypatch.setattr(generator, "ROOT", tmp_path)
    assert generator.main(["--check"]) == 0
    some = sorted(generator.build_all())[0]
    some.write_bytes(some.read_bytes() + b" ")
    assert generator.main(["--check"]) == 1
    assert some.name in capsys.readouterr().err
    some.unlink()
    assert generator.main(["--check"]) == 1
    assert generator.main([]) == 0  # rebuilds what is missing or stale
    assert generator.main(["--check"]) == 0


def test_each_odt_is_an_opendocument_text():
    odts = [p for p in attachment_files() if p.suffix == ".odt"]
    assert odts
    for path in odts:
        with zipfile.ZipFile(path) as archive:
            first = archive.infolist()[0]
            assert first.filename == "mimetype", path.name
            assert first.compress_type == zipfile.ZIP_STORED and not first.extra, path.name
            assert archive.read("mimetype") == ODT_MIME, path.name
            assert archive.testzip() is None
            names = archive.namelist()
            assert {"META-INF/manifest.xml", "content.xml", "styles.xml"} <= set(names)
            content = ElementTree.fromstring(archive.read("content.xml"))
            assert content.tag.endswith("document-content")
            for name in names:
                if name.endswith(".xml"):
                    ElementTree.fromstring(archive.read(name))
        raw = path.read_bytes()
        assert raw[30:38] == b"mimetype" and raw[38 : 38 + len(ODT_MIME)] == ODT_MIME


def test_each_pdf_has_a_header_and_an_end_of_file_marker():
    pdfs = [p for p in attachment_files() if p.suffix == ".pdf"]
    assert pdfs
    for path in pdfs:
        raw = path.read_bytes()
        assert raw.startswith(b"%PDF-"), path.name
        assert raw.rstrip().endswith(b"%%EOF"), path.name
        assert b"/WinAnsiEncoding" in raw and b"/Helvetica" in raw
        # the cross-reference table points at the objects
        start = int(raw.rstrip().split(b"\n")[-2])
        assert raw[start:].startswith(b"xref")
        first = int(raw[start:].split(b"\n")[3].split()[0])
        assert raw[first:].startswith(b"1 0 obj")


def test_accents_are_written_in_winansi():
    doc = generator.Document(Path("x.md"), "x", ["x.pdf"], "Été à Noël", [])
    assert "Été à Noël".encode("cp1252") in generator.build_pdf(doc)


def test_every_listed_attachment_exists_and_every_file_is_listed():
    listed: set[Path] = set()
    for fiche in sorted(FICHES.glob("*.md")):
        for item in front_matter(fiche).get("attachments") or []:
            path = FICHES / fiche.stem / item["file"]
            assert path.is_file(), f"{fiche.name} : pièce jointe absente {item['file']}"
            assert item.get("title"), f"{fiche.name} : pièce jointe sans titre"
            listed.add(path)
    unlisted = [str(p.relative_to(FICHES)) for p in attachment_files() if p not in listed]
    assert unlisted == []
    folders = {p.parent.name for p in attachment_files()}
    assert all((FICHES / f"{name}.md").is_file() for name in folders)
    assert len({p.parent for p in listed}) >= 5


@pytest.mark.parametrize("bad", ["output: x.docx", "output: Budget.pdf", "fiche: Pas un slug"])
def test_a_bad_source_header_is_refused(tmp_path, bad):
    key = bad.split(":")[0]
    headers = {"fiche": "fiche: une-fiche", "output": "output: a.pdf", "title": "title: T"}
    headers[key] = bad
    source = tmp_path / "doc.md"
    source.write_text("\n".join(headers.values()) + "\n\nTexte.\n", encoding="utf-8")
    with pytest.raises(ValueError, match=r"doc\.md"):
        generator.parse_source(source)


def test_blocks_of_a_source():
    blocks = generator.parse_blocks(
        "Un paragraphe\nsur deux lignes.\n\n## Titre\n- puce\n  suite\n- [ ] case\n"
        "| A | B |\n| --- | ---: |\n| 1 | 2 |\n"
    )
    assert [(b.kind, b.lines) for b in blocks] == [
        ("paragraph", ["Un paragraphe sur deux lignes."]),
        ("heading", ["Titre"]),
        ("bullets", ["puce suite"]),
        ("checks", ["case"]),
        ("table", ["A\tB", "1\t2"]),
    ]
    assert blocks[-1].right == [False, True]
    odt = generator.build_odt(generator.Document(Path("d.md"), "f", ["d.odt"], "T", blocks))
    with zipfile.ZipFile(io.BytesIO(odt)) as archive:
        text = archive.read("content.xml").decode()
    assert "Un paragraphe sur deux lignes." in text and "table:table-header-rows" in text
