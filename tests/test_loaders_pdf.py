"""PDF loading: outline and layout headings, running headers/footers, hyphenation, spacing, errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from ingest.loaders import DEFAULT_PDF_EXTRACTOR, OcrOptions, load_file, open_file
from ingest.loaders import pdf as pdf_module
from ingest.types import LoadError, TextBlock
from tests.fixtures_docs import (
    GLUED_WORDS,
    HANDBOOK_HEADER,
    build_glued_pdf,
    build_handbook_pdf,
    build_scanned_pdf,
    build_simple_pdf,
)

TITLE = "Garden Club Handbook"
PLANTING = (TITLE, "1 Planting")
SOIL = (TITLE, "1 Planting", "1.1 Soil")
WATERING = (TITLE, "2 Watering")
DRIP = (TITLE, "2 Watering", "2.1 Drip lines")

# What the handbook must come out as: no running header, no "Page N of 3", "well-drained" kept (the
# document uses it elsewhere), "emit-ters" joined, page 2's first paragraph still under "1.1 Soil".
HANDBOOK_COMMON = [
    TextBlock("Plant the seedlings after the last frost. Each bed gets a\nlabel with the variety and the date.", PLANTING, 1),
    TextBlock("Mix compost into the top layer before planting. A well-drained\nbed keeps the roots healthy.", SOIL, 1),
    TextBlock("Test the acidity every spring; most vegetables like a pH\nbetween six and seven.", SOIL, 1),
    TextBlock("Loosen compacted soil with a fork rather than a spade, so the\nworms are not cut in half.", SOIL, 2),
    TextBlock("Raised beds stay well-drained in wet years.", SOIL, 2),
    TextBlock("Water early in the morning, at the base of the plants, and\nnever in the midday sun.", WATERING, 2),
]  # fmt: skip
DRIP_TEXT = "Drip lines save water. Check the emitters\nfor clogging once a month."
NOTES_TEXT = "Record rainfall in the club notebook."


@pytest.fixture(scope="module")
def docs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("pdfs")
    build_handbook_pdf(root / "handbook.pdf")
    build_handbook_pdf(root / "no-outline.pdf", outline=False)
    build_glued_pdf(root / "glued.pdf")
    build_simple_pdf(root / "secret.pdf", ["The shed key is under the pot."], user_password="s3cret")
    build_scanned_pdf(root / "scan.pdf")
    return root


def test_default_extractor_is_auto() -> None:
    # benchmarks/pdf_extraction.py: PDFium's text scores best and is ~18x faster than pypdf; auto adds the
    # fallback for pages whose words come out glued.
    assert DEFAULT_PDF_EXTRACTOR == "auto"


def test_outline_headings_split_pages_and_clean_text(docs: Path) -> None:
    loaded = load_file(docs / "handbook.pdf", docs)
    assert loaded.source == "handbook.pdf"
    assert loaded.file_type == "pdf"
    assert loaded.pages == 3
    assert loaded.title == TITLE
    assert loaded.warnings == []
    # "Notes" is a bookmark whose title is not printed: it starts at its destination, below the drip text
    assert loaded.blocks == [
        *HANDBOOK_COMMON,
        TextBlock(DRIP_TEXT, DRIP, 3),
        TextBlock(NOTES_TEXT, (TITLE, "Notes"), 3),
    ]
    assert HANDBOOK_HEADER not in loaded.text
    assert "Page" not in loaded.text


def test_outline_with_pypdf_layout_has_no_positions_so_unlocated_entry_starts_at_page_top(docs: Path) -> None:
    loaded = load_file(docs / "handbook.pdf", docs, pdf_extractor="pypdf-layout")
    assert loaded.blocks == [
        *HANDBOOK_COMMON,
        TextBlock(DRIP_TEXT, (TITLE, "Notes"), 3),
        TextBlock(NOTES_TEXT, (TITLE, "Notes"), 3),
    ]


def test_layout_headings_without_outline(docs: Path) -> None:
    loaded = load_file(docs / "no-outline.pdf", docs)
    assert loaded.title == TITLE  # the tallest line
    assert loaded.blocks == [
        *HANDBOOK_COMMON,
        TextBlock(DRIP_TEXT, DRIP, 3),
        TextBlock(NOTES_TEXT, DRIP, 3),
    ]


def test_pypdf_plain_has_no_paragraphs_or_layout_headings(docs: Path) -> None:
    loaded = load_file(docs / "no-outline.pdf", docs, pdf_extractor="pypdf")
    assert [b.heading for b in loaded.blocks] == [(), (), ()]
    assert [b.page for b in loaded.blocks] == [1, 2, 3]
    assert loaded.blocks[2].text == f"2.1 Drip lines\n{DRIP_TEXT}\n{NOTES_TEXT}"


def test_default_extractor_keeps_spaces_that_pypdf_loses(docs: Path) -> None:
    line = " ".join(GLUED_WORDS)
    loaded = load_file(docs / "glued.pdf", docs)
    assert loaded.blocks == [TextBlock(f"{line}\n{line}\n{line}", (), 1)]
    assert loaded.warnings == []

    plain = load_file(docs / "glued.pdf", docs, pdf_extractor="pypdf")
    assert plain.blocks[0].text.split("\n")[0] == "".join(GLUED_WORDS)
    assert plain.warnings == ["page 1: words look run together; try pdf_extractor='auto'"]


def test_auto_falls_back_to_pypdf_when_pdfium_text_is_glued(
    docs: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Feed auto a PDFium result with glued words (as PDFium gives for some fonts): it must pick pypdf layout.
    def glued_pdfium_lines(page: object) -> list[pdf_module._Line]:
        return [pdf_module._Line("".join(GLUED_WORDS), new_paragraph=True)]

    monkeypatch.setattr(pdf_module, "_pdfium_lines", glued_pdfium_lines)
    result = pdf_module.extract_pdf(docs / "glued.pdf", "glued.pdf")
    assert result.extractor_per_page == ["pypdf-layout"]
    assert result.blocks[0].text.split("\n")[0] == " ".join(GLUED_WORDS)
    assert result.warnings == ["page 1: extraction fell back to pypdf (PDFium's text was run together or unreadable); "
                               "check those pages read well"]


def test_encrypted_pdf(docs: Path) -> None:
    with pytest.raises(LoadError) as e:
        load_file(docs / "secret.pdf", docs)
    assert e.value.source == "secret.pdf"
    assert e.value.reason == "encrypted PDF: pass its password with --pdf-password"
    with pytest.raises(LoadError) as e:
        load_file(docs / "secret.pdf", docs, pdf_password="guess")
    assert e.value.reason == "wrong password for this encrypted PDF (check --pdf-password)"
    loaded = load_file(docs / "secret.pdf", docs, pdf_password="s3cret")
    assert loaded.blocks == [TextBlock("The shed key is under the pot.", (), 1)]
    for extractor in ("pypdf", "pypdf-layout"):  # pypdf decrypts too (RC4 needs no extra package)
        assert load_file(docs / "secret.pdf", docs, pdf_password="s3cret", pdf_extractor=extractor).text == (
            "The shed key is under the pot."
        )


def test_scanned_pdf_has_no_extractable_text(docs: Path) -> None:
    # With OCR (tests/test_ocr.py) Tesseract finds no words in these bars either.
    with pytest.raises(LoadError) as e:
        load_file(docs / "scan.pdf", docs, ocr=OcrOptions(mode="off"))
    assert e.value.reason == (
        'no extractable text (pages 1-2: no text layer, scanned?) and OCR is off: set ingest.ocr = "auto" '
        "with Tesseract installed, or OCR it first (e.g. with ocrmypdf)"
    )


@pytest.mark.parametrize("keep", [0.3, 0.9])
def test_truncated_pdf_is_a_load_error(docs: Path, tmp_path: Path, keep: float) -> None:
    data = (docs / "handbook.pdf").read_bytes()
    broken = tmp_path / "broken.pdf"
    broken.write_bytes(data[: int(len(data) * keep)])
    with pytest.raises(LoadError) as e:
        load_file(broken, tmp_path)
    assert (
        e.value.reason
        == "damaged PDF that cannot be parsed: if it is still being copied or synced, ingest again once that is "
        "done; else re-export it or repair it (e.g. qpdf in.pdf out.pdf)"
    )


def test_garbage_after_pdf_header(tmp_path: Path) -> None:
    (tmp_path / "junk.pdf").write_bytes(b"%PDF-1.7\n" + bytes(range(256)) * 40)
    with pytest.raises(LoadError, match="damaged PDF"):
        load_file(tmp_path / "junk.pdf", tmp_path)


def test_pdf_named_file_without_pdf_content(tmp_path: Path) -> None:
    (tmp_path / "notes.pdf").write_text("just some text\n")
    with pytest.raises(LoadError) as e:
        load_file(tmp_path / "notes.pdf", tmp_path)
    assert e.value.reason == "not a PDF (no %PDF- header); the file is damaged or misnamed"


def test_pdf_detected_by_content_whatever_the_name(docs: Path, tmp_path: Path) -> None:
    (tmp_path / "report.txt").write_bytes((docs / "glued.pdf").read_bytes())
    loaded = load_file(tmp_path / "report.txt", tmp_path)
    assert loaded.file_type == "pdf"
    assert loaded.blocks[0].page == 1


def test_unknown_extractor_is_rejected(docs: Path) -> None:
    with pytest.raises(ValueError, match="pdf_extractor must be one of auto, pypdfium2, pypdf, pypdf-layout"):
        load_file(docs / "handbook.pdf", docs, pdf_extractor="ocr")  # type: ignore[arg-type]


def test_open_file_gives_metadata_and_blocks(docs: Path) -> None:
    opened = open_file(docs / "handbook.pdf", docs)
    assert (opened.source, opened.file_type, opened.pages, opened.title) == ("handbook.pdf", "pdf", 3, TITLE)
    assert list(opened.blocks)[:6] == HANDBOOK_COMMON
