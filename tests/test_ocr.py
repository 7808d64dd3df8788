"""OCR of PDF pages without a text layer: a PDF made here from images of sentences written here is read by
Tesseract, and a question about them retrieves the page; without Tesseract the warning names the pages and
the fix. Tests that need Tesseract fail, saying how to install it, where it is missing (``make test``
installs it where it can, like Chromium)."""

from __future__ import annotations

import io
import shutil
import stat
from pathlib import Path

import matplotlib
import pytest
from fpdf import FPDF
from PIL import Image, ImageDraw, ImageFont

from ingest.loaders import OcrOptions, load_file
from ingest.loaders import ocr as ocr_module
from ingest.loaders.ocr import (
    MAX_PIXELS,
    OcrUnavailable,
    find_tesseract,
    page_ranges,
    parse_hocr,
    render_page,
)
from ingest.loaders.pdf import extract_pdf
from ingest.types import LoadError

FONT = Path(matplotlib.get_data_path()) / "fonts" / "ttf" / "DejaVuSans.ttf"
DPI = 200
INTRO = "Harbour notes. This guide describes the coast path from the village to the cliffs."
SCANNED = {  # page number -> lines drawn as an image, with no text layer
    2: ["The Skerry lighthouse stands on a granite reef.",
        "Its keeper climbs ninety-two steps every evening.",
        "The lamp burns paraffin and turns twice a minute."],
    3: ["Supply boats arrive on the first Tuesday of each month.",
        "They bring flour, lamp oil and letters from the mainland.",
        "In a storm the boat waits in Corran harbour."],
}


PAGE_IN = (8.5, 5.5)  # inches


def text_image(lines: list[str], size_pt: int = 14) -> Image.Image:
    """A half-letter "scan" at 200 dpi of ``lines`` in DejaVu Sans: black on white, no text layer."""
    image = Image.new("L", (round(PAGE_IN[0] * DPI), round(PAGE_IN[1] * DPI)), 255)
    draw = ImageDraw.Draw(image)
    font = ImageFont.truetype(str(FONT), round(size_pt / 72 * DPI))
    y = DPI // 2
    for line in lines:
        draw.text((DPI // 2, y), line, font=font, fill=0)
        y += round(size_pt / 72 * DPI * 1.6)
    return image


def build_mixed_pdf(path: Path) -> Path:
    """Page 1 with a text layer (fpdf2), pages 2-3 images of the :data:`SCANNED` sentences."""
    width, height = (25.4 * side for side in PAGE_IN)  # mm
    pdf = FPDF(format=(width, height))
    pdf.set_auto_page_break(False)
    pdf.add_page()
    pdf.set_font("helvetica", size=12)
    pdf.set_xy(10, 15)
    pdf.multi_cell(130, 7, INTRO)
    for number in sorted(SCANNED):
        pdf.add_page()
        buffer = io.BytesIO()
        text_image(SCANNED[number]).save(buffer, format="PNG")
        pdf.image(buffer, x=0, y=0, w=width, h=height)
    pdf.output(str(path))
    return path


def build_scan_pdf(path: Path) -> Path:
    """Pages 1-2 images only (Pillow's PDF writer: one JPEG per page), like a scanner's output."""
    first, *rest = (text_image(lines) for _, lines in sorted(SCANNED.items()))
    first.save(path, save_all=True, append_images=rest, resolution=DPI)
    return path


@pytest.fixture(scope="module")
def tesseract() -> str:
    path = shutil.which("tesseract")
    if path is None:
        pytest.fail(
            "OCR tests need Tesseract with English data. Install it with `apt-get install -y "
            "--no-install-recommends tesseract-ocr tesseract-ocr-eng` (as root; `make test` does it when it can)."
        )
    return path


@pytest.fixture()
def fake_tesseract(tmp_path: Path) -> Path:
    """A program that answers ``--version`` and ``--list-langs`` as Tesseract 5 does (eng and osd only)."""
    script = tmp_path / "tesseract"
    script.write_text(
        "#!/bin/sh\n"
        'case "$1" in\n'
        '  --version) echo "tesseract 5.3.0"; echo " leptonica-1.82.0" ;;\n'
        '  --list-langs) echo "List of available languages in \\"/usr/share/tesseract-ocr/5/tessdata/\\" (2):";'
        " echo eng; echo osd ;;\n"
        "  *) exit 1 ;;\n"
        "esac\n"
    )
    script.chmod(script.stat().st_mode | stat.S_IEXEC)
    return script


def _words(text: str) -> set[str]:
    return {w.strip(".,").casefold() for w in text.split()}


# ---------------------------------------------------------------------------------------- with Tesseract
def test_scanned_pages_are_read_by_ocr_and_said_to_be(tmp_path: Path, tesseract: str) -> None:
    pdf = extract_pdf(build_mixed_pdf(tmp_path / "harbour.pdf"), "harbour.pdf")
    assert pdf.extractor_per_page == ["pypdfium2", "tesseract", "tesseract"]
    assert pdf.ocr_pages == [2, 3]
    version = find_tesseract(tesseract).version
    assert pdf.warnings == [f"pages 2-3 read by OCR (Tesseract {version}, language eng)"]
    by_page = {page: " ".join(" ".join(b.text for b in pdf.blocks if b.page == page).split()) for page in (1, 2, 3)}
    assert by_page[1] == INTRO
    for page, lines in SCANNED.items():
        want = _words(" ".join(lines))
        missing = want - _words(by_page[page])
        assert len(missing) <= 1, f"page {page}: OCR lost {missing} from {by_page[page]!r}"
    assert "ninety-two steps" in by_page[2]
    # Tesseract's lines are kept as lines of one paragraph, like a text page's.
    [block] = [b for b in pdf.blocks if b.page == 3]
    assert block.text.count("\n") == 2 and block.heading == ()


def test_a_pdf_of_images_only_is_read_whole(tmp_path: Path, tesseract: str) -> None:
    loaded = load_file(build_scan_pdf(tmp_path / "scan.pdf"), tmp_path)
    assert {b.page for b in loaded.blocks} == {1, 2}
    assert {"supply", "tuesday", "paraffin", "granite"} <= _words(loaded.text)
    assert loaded.warnings[-1].startswith("pages 1-2 read by OCR (Tesseract ")


def test_the_language_setting_reaches_tesseract(tmp_path: Path, tesseract: str) -> None:
    missing = "zzz"  # no such language data
    loaded = load_file(build_mixed_pdf(tmp_path / "harbour.pdf"), tmp_path, ocr=OcrOptions(language=missing))
    assert " ".join(loaded.text.split()) == INTRO
    assert "Tesseract has no data for language zzz" in loaded.warnings[0]
    assert "apt-get install tesseract-ocr-zzz" in loaded.warnings[0]


def test_a_page_of_bars_has_no_words(tmp_path: Path, tesseract: str) -> None:
    from tests.fixtures_docs import build_scanned_pdf

    with pytest.raises(LoadError) as e:
        load_file(build_scanned_pdf(tmp_path / "bars.pdf"), tmp_path)
    assert e.value.reason == (
        "no extractable text (pages 1-2: no text layer, and OCR with Tesseract, language eng, found none)"
    )


@pytest.mark.integration
def test_a_question_about_a_scanned_page_retrieves_it(tmp_path: Path, tesseract: str) -> None:
    from rag_app.config import load_settings
    from rag_app.pipeline import build_pipeline

    docs = tmp_path / "docs"
    docs.mkdir()
    build_mixed_pdf(docs / "harbour.pdf")
    settings = load_settings(index={"db": tmp_path / "db", "collection": "harbour"},
                             retrieval={"embedder": "minilm", "reranker": "", "mode": "dense", "top_n": 1})
    with build_pipeline(settings, generator=False) as pipeline:
        report = pipeline.ingest([docs])
        assert report.files_ingested == 1 and not report.files_failed
        [best] = pipeline.retrieve("When do the supply boats come, and what do they bring?")
        assert (best.metadata["source"], best.metadata["page"]) == ("harbour.pdf", 3)
        assert "Tuesday" in best.page_content
        [best] = pipeline.retrieve("How many steps does the lighthouse keeper climb?")
        assert best.metadata["page"] == 2


# ------------------------------------------------------------------------------------- without Tesseract
def test_without_tesseract_the_warning_names_the_pages_and_the_fix(tmp_path: Path) -> None:
    missing = tmp_path / "no-tesseract"
    loaded = load_file(build_mixed_pdf(tmp_path / "harbour.pdf"), tmp_path, ocr=OcrOptions(tesseract_cmd=str(missing)))
    assert " ".join(loaded.text.split()) == INTRO  # the page with text is kept
    assert loaded.warnings == [
        f"pages 2-3: no text layer (scanned?), not read: Tesseract was not found ('{missing}' is not an installed "
        "program); to OCR them, install Tesseract (Debian/Ubuntu: apt-get install tesseract-ocr "
        "tesseract-ocr-eng; macOS: brew install tesseract) or set ingest.tesseract_cmd to its path, then ingest "
        "again"
    ]


def test_a_scan_without_tesseract_fails_saying_how_to_enable_ocr(tmp_path: Path) -> None:
    with pytest.raises(LoadError) as e:
        load_file(build_scan_pdf(tmp_path / "scan.pdf"), tmp_path, ocr=OcrOptions(tesseract_cmd=str(tmp_path / "none")))
    assert e.value.reason.startswith("no extractable text (pages 1-2: no text layer, scanned?): Tesseract was not found")
    assert "apt-get install tesseract-ocr tesseract-ocr-eng" in e.value.reason


def test_ocr_off_names_the_pages_and_on_without_tesseract_fails(tmp_path: Path) -> None:
    path = build_mixed_pdf(tmp_path / "harbour.pdf")
    off = load_file(path, tmp_path, ocr=OcrOptions(mode="off"))
    assert " ".join(off.text.split()) == INTRO
    assert off.warnings == ['pages 2-3: no text layer (scanned?), not read because OCR is off (set ingest.ocr = "auto")']
    with pytest.raises(LoadError, match=r'pages 2-3: no text layer and ingest.ocr = "on", but Tesseract was not found'):
        load_file(path, tmp_path, ocr=OcrOptions(mode="on", tesseract_cmd=str(tmp_path / "none")))


def test_a_page_tesseract_fails_on_is_named_and_the_rest_kept(tmp_path: Path, fake_tesseract: Path) -> None:
    loaded = load_file(build_mixed_pdf(tmp_path / "harbour.pdf"), tmp_path, ocr=OcrOptions(tesseract_cmd=str(fake_tesseract)))
    assert " ".join(loaded.text.split()) == INTRO
    assert loaded.warnings == [f"page {n}: OCR failed (Tesseract exited with status 1 ())" for n in (2, 3)]


def test_find_tesseract_checks_each_language(fake_tesseract: Path) -> None:
    found = find_tesseract(str(fake_tesseract), "eng")
    assert (found.version, found.languages) == ("5.3.0", frozenset({"eng", "osd"}))
    with pytest.raises(OcrUnavailable) as e:
        find_tesseract(str(fake_tesseract), "eng+chi_sim+deu")
    assert e.value.reason == "Tesseract has no data for language chi_sim, deu (installed: eng, osd)"
    assert "apt-get install tesseract-ocr-chi-sim tesseract-ocr-deu" in e.value.fix


def test_ingest_settings_change_when_ocr_becomes_possible(
    tmp_path: Path, fake_tesseract: Path, tiny_encoder_dir: Path
) -> None:
    """Installing Tesseract (or changing the language) reads PDFs again: their scanned pages now count."""
    from transformers import AutoTokenizer

    from ingest.pipeline import Ingestor

    tokenizer = AutoTokenizer.from_pretrained(tiny_encoder_dir)

    def settings(ocr: OcrOptions) -> str:
        return Ingestor(store=None, tokenizer=tokenizer, chunk_size=64, chunk_overlap=8, ocr=ocr).settings  # type: ignore[arg-type]

    without = settings(OcrOptions(tesseract_cmd=str(tmp_path / "none")))
    assert settings(OcrOptions(mode="off")) == without and ";ocr=" not in without
    assert settings(OcrOptions(tesseract_cmd=str(fake_tesseract))) == f"{without};ocr=eng"
    assert settings(OcrOptions(language="eng+deu", tesseract_cmd=str(fake_tesseract))) == without  # no deu data


def test_the_settings_reach_the_ingestor(tmp_path: Path, tiny_bow_encoder_dir: Path) -> None:
    from rag_app.config import ConfigError, load_settings
    from rag_app.pipeline import build_pipeline

    settings = load_settings(index={"db": tmp_path / "db"}, retrieval={"embedder": str(tiny_bow_encoder_dir),
                             "reranker": ""}, ingest={"chunk_size": 100, "chunk_overlap": 10, "ocr": "on", "ocr_language": "deu+eng", "tesseract_cmd": "/opt/t"})
    with build_pipeline(settings, generator=False) as pipeline:
        assert pipeline.ingestor().ocr == OcrOptions("on", "deu+eng", "/opt/t")
    with pytest.raises(ConfigError, match="ingest.ocr"):
        load_settings(ingest={"ocr": "sometimes"})
    with pytest.raises(ConfigError, match="ingest.ocr_language"):
        load_settings(ingest={"ocr_language": "eng; rm -rf ~"})


# ------------------------------------------------------------------------------------------- the parts
def test_options_are_checked() -> None:
    with pytest.raises(ValueError, match="ocr must be one of auto, on, off; got 'yes'"):
        OcrOptions(mode="yes")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="joined by '\\+'"):
        OcrOptions(language="eng deu")
    with pytest.raises(ValueError, match="between 150 and 600"):
        OcrOptions(dpi=1200)


HOCR = """<?xml version="1.0" encoding="UTF-8"?>
<!DOCTYPE html PUBLIC "-//W3C//DTD XHTML 1.0 Transitional//EN"
    "http://www.w3.org/TR/xhtml1/DTD/xhtml1-transitional.dtd">
<html xmlns="http://www.w3.org/1999/xhtml" xml:lang="en" lang="en"><body>
 <div class='ocr_page' id='page_1' title='image "-"; bbox 0 0 1200 800; ppageno 0'>
  <div class='ocr_carea' id='block_1_1' title="bbox 100 100 900 300">
   <p class='ocr_par' id='par_1_1' lang='eng' title="bbox 100 100 900 300">
    <span class='ocr_line' id='line_1_1' title="bbox 100 100 900 150; baseline 0 -9; x_size 44; x_descenders 9; x_ascenders 11">
     <span class='ocrx_word' id='word_1_1' title='bbox 100 100 300 150; x_wconf 96'>Supply</span>
     <span class='ocrx_word' id='word_1_2' title='bbox 320 100 500 150; x_wconf 91'>boats&#39;</span>
    </span>
    <span class='ocr_line' id='line_1_2' title="bbox 100 200 300 230; baseline 0 -3; x_size 20">
     <span class='ocrx_word' id='word_1_3' title='bbox 100 200 300 230; x_wconf 21'>ee</span>
     <span class='ocrx_word' id='word_1_4' title='bbox 310 200 330 230; x_wconf 90'>|</span>
    </span>
   </p>
   <p class='ocr_par' id='par_1_2' lang='eng' title="bbox 100 400 900 450">
    <span class='ocr_line' id='line_1_3' title="bbox 100 400 900 450; baseline 0 -9; x_size 44">
     <span class='ocrx_word' id='word_1_5' title='bbox 100 400 300 450; x_wconf 88'>Tuesday</span>
    </span>
   </p>
  </div>
 </div>
</body></html>
"""


def test_parse_hocr_keeps_lines_paragraphs_and_drops_unsure_marks() -> None:
    lines = parse_hocr(HOCR)
    assert [(line.text, line.paragraph, line.x_size) for line in lines] == [
        ("Supply boats'", "par_1_1", 44.0),
        ("Tuesday", "par_1_2", 44.0),  # "ee |" (unsure, and a mark) is gone
    ]
    assert (lines[0].left, lines[0].top, lines[0].right, lines[0].bottom) == (100, 100, 900, 150)


def test_page_ranges() -> None:
    assert page_ranges([3]) == "page 3"
    assert page_ranges([2, 3, 7, 9, 10, 11]) == "pages 2-3, 7, 9-11"


def test_a_huge_page_renders_within_the_pixel_cap(tmp_path: Path) -> None:
    import pypdfium2 as pdfium

    pdf = FPDF(format=(2000, 2000))  # about 79 x 79 inches: 557 million pixels at 300 dpi
    pdf.add_page()
    pdf.rect(100, 100, 500, 500, style="F")
    pdf.output(str(tmp_path / "poster.pdf"))
    doc = pdfium.PdfDocument(tmp_path / "poster.pdf")
    try:
        page = doc[0]
        png, scale = render_page(page, 300)
        page.close()
    finally:
        doc.close()
    width, height = Image.open(io.BytesIO(png)).size
    assert width * height <= MAX_PIXELS * 1.001 and scale < 300 / 72
    assert ocr_module.DEFAULT_OCR_DPI == 300
