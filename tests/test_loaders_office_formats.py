"""PPTX, XLSX, CSV, EPUB and e-mail loading, on files generated here; zip bombs, a sheet of a million empty
cells, broken EPUBs; an e-mail's attachments ingested as sources of their own."""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys
import zipfile
from email.message import EmailMessage
from pathlib import Path

import pytest
from transformers import AutoTokenizer

from ingest.indexing import open_store
from ingest.loaders import detect_type, load_file, zipsafe
from ingest.loaders.eml import attachment_name, parse_eml
from ingest.pipeline import Ingestor
from ingest.types import Attachment, LoadError, TextBlock
from retrievers.langchain.hybrid import HybridRetriever
from tests.fixtures_docs import build_docx, build_simple_pdf
from tests.indexing_support import HashEmbeddings

REPO = Path(__file__).resolve().parents[1]


# ------------------------------------------------------------------------------------------------ PPTX
def build_pptx(path: Path, *, deck_title: str = "") -> Path:
    """Four slides: a title slide, bullets with speaker notes and a footer, a table, an untitled slide whose
    text box is inside a group."""
    from pptx import Presentation
    from pptx.util import Inches

    deck = Presentation()
    deck.core_properties.title = deck_title
    layouts = deck.slide_layouts
    first = deck.slides.add_slide(layouts[0])
    first.shapes.title.text = "Allotment plan"
    first.placeholders[1].text = "Spring meeting of the garden club"

    bullets = deck.slides.add_slide(layouts[1])
    bullets.shapes.title.text = "Watering"
    body = bullets.placeholders[1].text_frame
    body.text = "Water early in the morning"
    for text, level in (("Use the rain barrel first", 1), ("Mulch keeps the soil moist", 0)):
        paragraph = body.add_paragraph()
        paragraph.text, paragraph.level = text, level
    footer = next(p for p in layouts[1].placeholders if p.placeholder_format.idx == 11)
    bullets.shapes.clone_placeholder(footer)
    bullets.placeholders[11].text = "Garden club, internal"
    bullets.notes_slide.notes_text_frame.text = "Mention the hose ban in July."

    beds = deck.slides.add_slide(layouts[5])
    beds.shapes.title.text = "Beds"
    table = beds.shapes.add_table(3, 3, Inches(1), Inches(2), Inches(6), Inches(2)).table
    for r, row in enumerate([("Bed", "Crop", "Sown"), ("North", "Beans", "April"), ("South", "Kale", "")]):
        for c, text in enumerate(row):
            table.cell(r, c).text = text

    untitled = deck.slides.add_slide(layouts[6])
    group = untitled.shapes.add_group_shape()
    group.shapes.add_textbox(Inches(1), Inches(1), Inches(5), Inches(1)).text_frame.text = (
        "Questions are welcome after the tour"
    )
    deck.save(str(path))
    return path


def test_pptx_slides_titles_tables_notes(tmp_path: Path) -> None:
    loaded = load_file(build_pptx(tmp_path / "plan.pptx"), tmp_path)
    assert (loaded.source, loaded.file_type, loaded.title) == ("plan.pptx", "pptx", "Allotment plan")
    assert loaded.blocks == [
        TextBlock("Spring meeting of the garden club", ("Allotment plan",)),
        TextBlock("Water early in the morning\n  Use the rain barrel first\nMulch keeps the soil moist", ("Watering",)),
        TextBlock("Mention the hose ban in July.", ("Watering", "Notes")),
        TextBlock("Bed: North; Crop: Beans; Sown: April\nBed: South; Crop: Kale", ("Beds",)),
        TextBlock("Questions are welcome after the tour", ("Slide 4",)),
    ]
    assert [b.kind for b in loaded.blocks] == ["text", "list", "text", "table", "text"]
    assert "internal" not in loaded.text  # the footer placeholder is furniture
    titled = load_file(build_pptx(tmp_path / "titled.pptx", deck_title="Club decks 2025"), tmp_path)
    assert titled.title == "Club decks 2025"


# ------------------------------------------------------------------------------------------------ XLSX
def build_xlsx(path: Path) -> Path:
    import openpyxl

    workbook = openpyxl.Workbook()
    stock = workbook.active
    stock.title = "Stock"
    stock.append(["Workshop stock, March"])
    stock.append([])
    stock.append(["Item", "Qty", "Price", "Added", None, "Checked"])
    stock.append(["bolts", 7, 0.25, dt.date(2025, 3, 1), None, True])
    stock.append(["wing\nnuts", None, 1.5, dt.datetime(2025, 3, 2, 14, 30)])
    stock.append([None, None, None, None, "spare"])  # a value under no header
    stock.append(["washers", 3, 2 / 3, "=B4*2"])  # a formula never computed: no saved value
    for row in range(20, 30):
        stock.cell(row, 3).number_format = "0.00"  # styled, empty
    loans = workbook.create_sheet("Loans")
    loans.append(["Tool", "Borrower"])
    loans.append(["ladder", "Ines"])
    workbook.create_sheet("Blank")
    workbook.properties.title = "Workshop"
    workbook.save(str(path))
    return path


def test_xlsx_rows_with_header_per_sheet(tmp_path: Path) -> None:
    loaded = load_file(build_xlsx(tmp_path / "stock.xlsx"), tmp_path)
    assert (loaded.file_type, loaded.title) == ("xlsx", "Workshop")
    assert loaded.blocks == [
        TextBlock("Workshop stock, March", ("Stock",)),
        TextBlock(
            "Item: bolts; Qty: 7; Price: 0.25; Added: 2025-03-01; Checked: TRUE\n"
            "Item: wing nuts; Price: 1.5; Added: 2025-03-02 14:30\n"
            "E: spare\n"
            "Item: washers; Qty: 3; Price: 0.666666666666667",
            ("Stock",),
        ),
        TextBlock("Tool: ladder; Borrower: Ines", ("Loans",)),
    ]
    assert [b.kind for b in loaded.blocks] == ["text", "table", "table"]
    assert loaded.warnings == [
        "1 formula cell(s) without a saved value (never recalculated); open and save the file in Excel or "
        "LibreOffice to index them"
    ]


_SHEET = '<worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main">{}</worksheet>'


def _with_sheet(base: Path, path: Path, sheet_xml: str) -> Path:
    """``base`` (an openpyxl workbook of one sheet) with its sheet's XML replaced."""
    with zipfile.ZipFile(base) as source, zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as out:
        for info in source.infolist():
            data = sheet_xml.encode() if info.filename == "xl/worksheets/sheet1.xml" else source.read(info)
            out.writestr(info.filename, data)
    return path


def _one_sheet_workbook(path: Path) -> Path:
    import openpyxl
    from openpyxl.styles import Font

    workbook = openpyxl.Workbook()
    workbook.active.title = "Log"
    workbook.active["A1"].font = Font(bold=True)  # so the styles part has a style 1
    workbook.save(str(path))
    return path


def _cell(ref: str, text: str) -> str:
    return f'<c r="{ref}" t="inlineStr"><is><t>{text}</t></is></c>'


def test_xlsx_declared_dimension_of_a_whole_sheet_is_not_walked(tmp_path: Path) -> None:
    base = _one_sheet_workbook(tmp_path / "base.xlsx")
    rows = (f'<row r="1">{_cell("A1", "Date")}{_cell("B1", "Note")}</row>'
            f'<row r="1048576">{_cell("A1048576", "May 2")}{_cell("XFD1048576", "pruned roses")}</row>')  # fmt: skip
    sheet = _SHEET.format(f'<dimension ref="A1:XFD1048576"/><sheetData>{rows}</sheetData>')
    loaded = load_file(_with_sheet(base, tmp_path / "wide.xlsx", sheet), tmp_path)
    assert loaded.blocks == [TextBlock("Date: May 2; XFD: pruned roses", ("Log",))]


_MEASURE = """
import json, resource, sys, time
from pathlib import Path
from ingest.loaders import open_file
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
start = time.perf_counter()
opened = open_file(Path(sys.argv[1]))
blocks = list(opened.blocks)
print(json.dumps({"seconds": time.perf_counter() - start, "blocks": [b.text for b in blocks],
                  "rss_growth_mib": (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) / 1024}))
"""


def test_xlsx_with_a_million_empty_cells_is_fast_and_bounded(tmp_path: Path) -> None:
    # 40,000 rows of 26 styled empty cells (1.04 million cells), then 600,000 styled empty rows, in a sheet
    # that declares the whole grid as its dimension. openpyxl's own read-only rows took 6.6 s and 524 MiB on
    # a million such rows; here the rows are walked and dropped as they are read.
    base = _one_sheet_workbook(tmp_path / "base.xlsx")
    letters = [chr(ord("A") + i) for i in range(26)]
    parts = ['<dimension ref="A1:XFD1048576"/><sheetData>', f'<row r="1">{_cell("A1", "Item")}{_cell("B1", "Qty")}</row>']
    parts += [f'<row r="{r}">' + "".join(f'<c r="{c}{r}" s="1"/>' for c in letters) + "</row>" for r in range(2, 40_002)]
    parts += [f'<row r="{r}" s="1" customFormat="1" ht="20" customHeight="1"/>' for r in range(40_002, 640_002)]
    parts += [f'<row r="640002">{_cell("A640002", "hinges")}<c r="B640002"><v>12</v></c></row></sheetData>']
    path = _with_sheet(base, tmp_path / "empty.xlsx", _SHEET.format("".join(parts)))
    del parts
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    out = subprocess.run([sys.executable, "-c", _MEASURE, str(path)], capture_output=True, text=True, env=env,
                         timeout=120, check=True)  # fmt: skip
    measured = json.loads(out.stdout)
    assert measured["blocks"] == ["Item: hinges; Qty: 12"]
    assert measured["seconds"] < 20, measured  # about 2 s here
    assert measured["rss_growth_mib"] < 150, measured  # about 0 here: one row at a time


# ------------------------------------------------------------------------------------------------- CSV
def test_csv_rows_with_header_sniffed_dialect_and_encoding(tmp_path: Path) -> None:
    path = tmp_path / "tool_loans.csv"
    path.write_bytes('Tool;Borrower;Note\nladder;Inès;"two days;\nback by Friday"\n\nshears;Olaf;\n'.encode("cp1252"))
    loaded = load_file(path, tmp_path)
    assert (loaded.file_type, loaded.title) == ("csv", "tool_loans")
    assert loaded.blocks == [
        TextBlock("Tool: ladder; Borrower: Inès; Note: two days; back by Friday\nTool: shears; Borrower: Olaf")
    ]
    assert loaded.blocks[0].kind == "table"
    assert loaded.warnings == ["encoding detected as cp1252"]

    tsv = tmp_path / "seeds.tsv"
    tsv.write_text("Seed\tSown\nbean\tApril\npea\t\nchard\tMay\textra\n", encoding="utf-8")
    assert load_file(tsv, tmp_path).blocks == [
        TextBlock("Seed: bean; Sown: April\nSeed: pea\nSeed: chard; Sown: May; column 3: extra")
    ]
    header_only = tmp_path / "empty_log.csv"
    header_only.write_text("Date,Task\n", encoding="utf-8")
    assert load_file(header_only, tmp_path).blocks == [TextBlock("Date; Task")]
    blank = tmp_path / "blank.csv"
    blank.write_text(",,\n,,\n", encoding="utf-8")
    with pytest.raises(LoadError) as e:
        load_file(blank, tmp_path)
    assert e.value.reason == "no values in this CSV file"


# ------------------------------------------------------------------------------------------------ EPUB
_XHTML = ('<?xml version="1.0" encoding="utf-8"?>\n<html xmlns="http://www.w3.org/1999/xhtml" '
          'xmlns:epub="http://www.idpf.org/2007/ops"><head><title>{title}</title></head><body>{body}</body></html>')  # fmt: skip
CHAPTERS = [  # (file, title in the table of contents, body); stored in the zip in another order than read
    ("text/ch3.xhtml", "3. Harvest", "<h1>Picking</h1><p>Pick the pods while they are still flat.</p>"),
    ("text/ch1.xhtml", "1. Sowing", "<h1>1. Sowing</h1><p>Sow beans two fingers deep once the soil is warm.</p>"
     "<h2>Spacing</h2><p>Leave a hand's width between the seeds.</p>"),
    ("text/ch2.xhtml", "2. Watering", "<p>Water the rows at dawn.</p><ul><li>Use rain water</li><li>Spare the leaves</li></ul>"),
]  # fmt: skip
SPINE = ["text/ch1.xhtml", "text/ch2.xhtml", "text/ch3.xhtml"]
BOOK = [
    TextBlock("Sow beans two fingers deep once the soil is warm.", ("1. Sowing",)),
    TextBlock("Leave a hand's width between the seeds.", ("1. Sowing", "Spacing")),
    TextBlock("Water the rows at dawn.", ("2. Watering",)),
    TextBlock("- Use rain water\n- Spare the leaves", ("2. Watering",)),
    TextBlock("Pick the pods while they are still flat.", ("3. Harvest", "Picking")),
]


def build_epub(
    path: Path,
    *,
    toc: str = "nav",
    drop: tuple[str, ...] = (),
    extra: dict[str, str] | None = None,
    opf: str | None = None,
) -> Path:
    """An EPUB 3 (``toc="nav"``) or EPUB 2 (``toc="ncx"``) book of :data:`CHAPTERS`, without the members in
    ``drop``, with ``extra`` members, or with ``opf`` as its package file."""
    items = "".join(f'<item id="c{i}" href="{name}" media-type="application/xhtml+xml"/>' for i, name in enumerate(SPINE))
    titles = {name: title for name, title, _ in CHAPTERS}
    if toc == "nav":
        items += '<item id="nav" href="nav.xhtml" media-type="application/xhtml+xml" properties="nav"/>'
        links = "".join(f'<li><a href="{n}">{titles[n]}</a></li>' for n in SPINE)
        toc_member = ("OEBPS/nav.xhtml", _XHTML.format(title="Contents", body=f'<nav epub:type="toc"><h1>Contents</h1><ol>{links}</ol></nav>'))
        spine_attr = ""
    else:
        items += '<item id="ncx" href="toc.ncx" media-type="application/x-dtbncx+xml"/>'
        points = "".join(f'<navPoint id="p{i}"><navLabel><text>{titles[n]}</text></navLabel><content src="{n}#top"/></navPoint>'
                         for i, n in enumerate(SPINE))  # fmt: skip
        toc_member = ("OEBPS/toc.ncx", f'<ncx xmlns="http://www.daisy.org/z3986/2005/ncx/"><navMap>{points}</navMap></ncx>')
        spine_attr = ' toc="ncx"'
    refs = "".join(f'<itemref idref="c{i}"/>' for i in range(len(SPINE)))
    package = opf if opf is not None else (
        '<?xml version="1.0"?><package xmlns="http://www.idpf.org/2007/opf" version="3.0"><metadata '
        'xmlns:dc="http://purl.org/dc/elements/1.1/"><dc:title>The bean grower\'s notebook</dc:title></metadata>'
        f"<manifest>{items}</manifest><spine{spine_attr}>{refs}</spine></package>"
    )
    members = {
        "mimetype": "application/epub+zip",
        "META-INF/container.xml": '<?xml version="1.0"?><container version="1.0" xmlns="urn:oasis:names:tc:'
        'opendocument:xmlns:container"><rootfiles><rootfile full-path="OEBPS/content.opf" '
        'media-type="application/oebps-package+xml"/></rootfiles></container>',
        "OEBPS/content.opf": package,
        toc_member[0]: toc_member[1],
        **{f"OEBPS/{name}": _XHTML.format(title="Beans", body=body) for name, _, body in CHAPTERS},
        **(extra or {}),
    }
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z:
        for name, text in members.items():
            if name not in drop:
                z.writestr(name, text, zipfile.ZIP_STORED if name == "mimetype" else zipfile.ZIP_DEFLATED)
    return path


@pytest.mark.parametrize("toc", ["nav", "ncx"])
def test_epub_chapters_in_spine_order_under_their_titles(tmp_path: Path, toc: str) -> None:
    loaded = load_file(build_epub(tmp_path / "beans.epub", toc=toc), tmp_path)
    assert (loaded.file_type, loaded.title, loaded.warnings) == ("epub", "The bean grower's notebook", [])
    assert loaded.blocks == BOOK
    assert loaded.blocks[3].kind == "list"
    assert "Contents" not in loaded.text  # the navigation document is not a chapter


def test_epub_spine_item_missing_reads_the_rest_and_warns(tmp_path: Path) -> None:
    stray = _XHTML.format(title="x", body="<h1>Seed saving</h1><p>Dry the best pods on the plant.</p>")
    path = build_epub(tmp_path / "broken.epub", drop=("OEBPS/text/ch2.xhtml",), extra={"OEBPS/text/ch2b.xhtml": stray})
    loaded = load_file(path, tmp_path)
    assert loaded.blocks == [
        *BOOK[:2],
        BOOK[4],
        TextBlock("Dry the best pods on the plant.", ("Seed saving",)),
    ]
    assert loaded.warnings == [
        "broken EPUB spine: OEBPS/text/ch2.xhtml missing from the archive; read the 1 XHTML file(s) the spine "
        "does not list after the rest"
    ]


def test_epub_bad_package_file_falls_back_to_stored_order(tmp_path: Path) -> None:
    loaded = load_file(build_epub(tmp_path / "bad.epub", opf="<package><manifest"), tmp_path)
    # No spine and no table of contents: the chapters in the order they are stored, under their own headings.
    assert loaded.blocks == [
        TextBlock("Pick the pods while they are still flat.", ("Picking",)),
        TextBlock("Sow beans two fingers deep once the soil is warm.", ("1. Sowing",)),
        TextBlock("Leave a hand's width between the seeds.", ("1. Sowing", "Spacing")),
        TextBlock("Water the rows at dawn."),
        TextBlock("- Use rain water\n- Spare the leaves"),
    ]
    assert len(loaded.warnings) == 1
    assert loaded.warnings[0].startswith("broken EPUB package (")
    assert loaded.warnings[0].endswith("); read the 4 XHTML file(s) in stored order")


def test_epub_with_nothing_readable_or_encrypted_is_a_load_error(tmp_path: Path) -> None:
    chapters = tuple(f"OEBPS/{name}" for name, _, _ in CHAPTERS)
    path = build_epub(tmp_path / "hollow.epub", drop=("OEBPS/content.opf", "OEBPS/nav.xhtml", *chapters))
    with pytest.raises(LoadError) as e:
        load_file(path, tmp_path)
    assert e.value.reason == (
        "EPUB without readable chapters (package file OEBPS/content.opf missing; no XHTML files in the archive); "
        "re-export it"
    )
    encryption = ('<encryption xmlns="urn:oasis:names:tc:opendocument:xmlns:container" xmlns:enc="http://www.w3.org/2001/'
                  '04/xmlenc#"><enc:EncryptedData><enc:CipherData><enc:CipherReference URI="OEBPS/text/ch1.xhtml"/>'
                  "</enc:CipherData></enc:EncryptedData></encryption>")  # fmt: skip
    with pytest.raises(LoadError) as e:
        load_file(build_epub(tmp_path / "drm.epub", extra={"META-INF/encryption.xml": encryption}), tmp_path)
    assert e.value.reason == "encrypted (DRM-protected) EPUB: its chapters cannot be read; use a copy without DRM"


# ---------------------------------------------------------------------------------------------- e-mail
def build_quote_pdf(folder: Path) -> bytes:
    """A PDF to attach (its bytes carry the time it was made: build it once per test)."""
    path = build_simple_pdf(folder / "quote-source.pdf", ["Quote 17: six panes of toughened glass, fitted, 540 euros."])
    data = path.read_bytes()
    path.unlink()
    return data


def build_eml(path: Path, quote: bytes, *, with_csv: bool = True, html_only: bool = False) -> Path:
    message = EmailMessage()
    message["Subject"] = "Quote for the greenhouse glass"
    message["From"] = "Ana Pérez <ana@example.org>"
    message["To"] = "club@example.org, treasurer@example.org"
    message["Date"] = "Tue, 04 Mar 2025 09:30:00 +0100"
    html = "<html><body><p>Hello all,</p><p>The glazier can replace six panes on <b>Friday</b>.</p></body></html>"
    if html_only:
        message.set_content(html, subtype="html")
    else:
        message.set_content("Hello all,\n\nThe glazier can replace six panes on Friday.\n\nRegards,\nAna\n")
        message.add_alternative(html, subtype="html")
    message.add_attachment(quote, maintype="application", subtype="pdf", filename="quote.pdf")
    if with_csv:
        message.add_attachment(b"Pane,Size\nroof,60 x 120\n", maintype="text", subtype="csv", filename="../panes.csv")
    message.add_attachment(b"\x89PNG\r\n\x1a\n" + bytes(300), maintype="image", subtype="png", filename="logo.png")
    path.write_bytes(message.as_bytes())
    return path


def test_eml_subject_headers_body_and_attachments(tmp_path: Path) -> None:
    quote = build_quote_pdf(tmp_path)
    loaded = load_file(build_eml(tmp_path / "glass.eml", quote), tmp_path)
    assert (loaded.file_type, loaded.title) == ("eml", "Quote for the greenhouse glass")
    assert loaded.blocks == [
        TextBlock("From: Ana Pérez <ana@example.org>\nTo: club@example.org, treasurer@example.org\n"
                  "Date: Tue, 04 Mar 2025 09:30:00 +0100\nSubject: Quote for the greenhouse glass"),
        TextBlock("Hello all,"),
        TextBlock("The glazier can replace six panes on Friday."),
        TextBlock("Regards,\nAna"),
    ]  # fmt: skip
    assert [a.filename for a in loaded.attachments] == ["quote.pdf", "panes.csv", "logo.png"]
    assert loaded.attachments[0].data.startswith(b"%PDF-")
    assert loaded.attachments[1] == Attachment("panes.csv", b"Pane,Size\nroof,60 x 120\n")

    html = load_file(build_eml(tmp_path / "html.eml", quote, html_only=True), tmp_path)
    assert html.blocks[1:] == [TextBlock("Hello all,"), TextBlock("The glazier can replace six panes on Friday.")]


def test_eml_detected_by_headers_and_attachment_names_made_safe(tmp_path: Path) -> None:
    path = build_eml(tmp_path / "glass.eml", build_quote_pdf(tmp_path))
    nameless = tmp_path / "message-0001"
    nameless.write_bytes(path.read_bytes())
    assert detect_type(nameless) == "eml"
    notes = tmp_path / "notes"
    notes.write_text("Title: Beans\nDate: 2025-03-01\n\nSow them deep.\n", encoding="utf-8")  # no From
    assert detect_type(notes) == "text"
    taken: set[str] = set()
    names = [attachment_name(n, i, "text/plain", taken) for i, n in
             enumerate(["../../etc/passwd", "C:\\Users\\ana\\list.txt", ".env", "list.txt", None], start=1)]  # fmt: skip
    assert names == ["passwd", "list.txt", "env", "list-2.txt", "attachment-5.txt"]
    forwarded = EmailMessage()
    forwarded["Subject"] = "Fwd: quote"
    forwarded.set_content("See below.")
    inner = EmailMessage()
    inner["Subject"] = "Quote"
    inner.set_content("Six panes, 540 euros.")
    forwarded.add_attachment(inner)
    assert [a.filename for a in parse_eml(forwarded.as_bytes()).attachments] == ["message-1.eml"]


def _sources(store) -> set[str]:  # noqa: ANN001
    return {source for source, _count in store.sources()}


def test_eml_attachments_are_ingested_as_their_own_sources(tmp_path: Path, tiny_encoder_dir: Path) -> None:
    docs = tmp_path / "docs"
    docs.mkdir()
    quote = build_quote_pdf(tmp_path)
    mail = build_eml(docs / "glass.eml", quote)
    (docs / "notes.md").write_text("# Notes\n\nThe shed key is under the blue pot.\n", encoding="utf-8")
    store = open_store(tmp_path / "db", "docs", HashEmbeddings())
    ingestor = Ingestor(store, AutoTokenizer.from_pretrained(tiny_encoder_dir), chunk_size=40, chunk_overlap=8, max_tokens=64)
    report = ingestor.ingest([docs])
    assert report.files_failed == []
    assert _sources(store) == {"glass.eml", "glass.eml/quote.pdf", "glass.eml/panes.csv", "notes.md"}
    lines = {f.source: f for f in report.files}
    assert lines["glass.eml/quote.pdf"].status == lines["glass.eml/panes.csv"].status == "ingested"
    assert lines["glass.eml"].warnings == [
        "attachment logo.png not indexed: binary content, not text (NUL bytes); is this the right file?"
    ]
    got = store.vector_store.get(include=["metadatas", "documents"])
    meta = {m["source"]: m for m in got["metadatas"]}
    assert meta["glass.eml"]["title"] == "Quote for the greenhouse glass" and meta["glass.eml"]["file_type"] == "eml"
    assert (meta["glass.eml/quote.pdf"]["file_type"], meta["glass.eml/quote.pdf"]["page"]) == ("pdf", 1)
    assert (meta["glass.eml/panes.csv"]["file_type"], meta["glass.eml/panes.csv"]["title"]) == ("csv", "panes")
    # A question about the attachment's words finds the attachment.
    from langchain_core.documents import Document

    chunks = [Document(t, metadata=m) for t, m in zip(got["documents"], got["metadatas"], strict=True)]
    retriever = HybridRetriever(vectorstore=store.vector_store, documents=chunks, k=2)
    assert retriever.bm25_search("how much is the toughened glass?", 1)[0].metadata["source"] == "glass.eml/quote.pdf"

    again = ingestor.ingest([docs], prune=True)  # the message is unchanged: its attachments stay
    assert (again.files_unchanged, again.files_removed, again.chunks_deleted) == (2, 0, 0)
    assert _sources(store) == {"glass.eml", "glass.eml/quote.pdf", "glass.eml/panes.csv", "notes.md"}

    build_eml(mail, quote, with_csv=False)  # a new version without the CSV
    changed = ingestor.ingest([docs])
    statuses = {f.source: f.status for f in changed.files}
    assert statuses["glass.eml/panes.csv"] == "pruned" and statuses["glass.eml/quote.pdf"] == "unchanged"
    assert _sources(store) == {"glass.eml", "glass.eml/quote.pdf", "notes.md"}

    mail.unlink()
    ingestor.ingest([docs], prune=True)
    assert _sources(store) == {"notes.md"}


# -------------------------------------------------------------------------------------- bad zip files
def _bomb(path: Path, members: dict[str, bytes], bomb: str) -> Path:
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z:
        for name, data in members.items():
            z.writestr(name, data, zipfile.ZIP_STORED if name == "mimetype" else zipfile.ZIP_DEFLATED)
        z.writestr(bomb, b"<x>" + b" " * (8 << 20) + b"</x>")  # 8 MiB of spaces: about 1000 times smaller
    return path


@pytest.mark.parametrize(
    ("name", "what", "members", "bomb"),
    [
        ("report.docx", "DOCX", {}, "word/document.xml"),
        ("deck.pptx", "PPTX", {}, "ppt/presentation.xml"),
        ("sheet.xlsx", "XLSX", {}, "xl/workbook.xml"),
        ("book.epub", "EPUB", {"mimetype": b"application/epub+zip", "META-INF/container.xml": b"<container/>"},
         "OEBPS/ch1.xhtml"),
    ],
)  # fmt: skip
def test_zip_bomb_disguised_as_a_document_is_refused(tmp_path: Path, name: str, what: str, members: dict, bomb: str) -> None:
    path = _bomb(tmp_path / name, members, bomb)
    with pytest.raises(LoadError) as e:
        load_file(path, tmp_path)
    assert e.value.source == name
    assert e.value.reason.startswith(f"{what} refused: {bomb} would expand ")
    assert e.value.reason.endswith(" times to 8 MiB, more than 100 times (a zip bomb?); re-save it from its application if it is genuine")


def test_zip_total_size_bound_and_the_docx_loader_checks_it_too(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = build_docx(tmp_path / "rules.docx")
    assert load_file(path, tmp_path).blocks  # a genuine document passes
    monkeypatch.setattr(zipsafe, "MAX_UNCOMPRESSED_BYTES", 1024)
    with pytest.raises(LoadError) as e:
        load_file(path, tmp_path)
    assert e.value.reason.startswith("DOCX refused: ")
    assert e.value.reason.endswith(" uncompressed, more than 0 MiB (a zip bomb?); split the document or export it "
                                   "to a smaller format if it is genuine")  # fmt: skip


def test_zip_formats_detected_by_content_not_name(tmp_path: Path) -> None:
    for builder, kind in ((build_pptx, "pptx"), (build_xlsx, "xlsx"), (build_epub, "epub")):
        built = builder(tmp_path / f"file.{kind}")
        renamed = built.rename(tmp_path / f"renamed-{kind}.bin")
        assert detect_type(renamed) == kind
    with zipfile.ZipFile(tmp_path / "photos.zip", "w") as z:
        z.writestr("a.txt", "hello")
    with pytest.raises(LoadError) as e:
        detect_type(tmp_path / "photos.zip")
    assert e.value.reason == "unsupported file type: a zip archive that is not a .docx, .pptx, .xlsx or .epub; unpack it first"
    (tmp_path / "fake.xlsx").write_text("Item,Qty\n", encoding="utf-8")
    with pytest.raises(LoadError) as e:
        detect_type(tmp_path / "fake.xlsx")
    assert e.value.reason == "not an XLSX (not a zip archive); the file is damaged or misnamed"


def test_new_formats_carry_title_type_and_heading_into_chunk_metadata(tmp_path: Path, tiny_encoder_dir: Path) -> None:
    from ingest.chunking import Chunker

    chunker = Chunker(AutoTokenizer.from_pretrained(tiny_encoder_dir), chunk_size=40, chunk_overlap=8, max_tokens=64)
    expected = {
        build_pptx(tmp_path / "plan.pptx"): ("pptx", "Allotment plan", "Watering > Notes"),
        build_xlsx(tmp_path / "stock.xlsx"): ("xlsx", "Workshop", "Loans"),
        build_epub(tmp_path / "beans.epub"): ("epub", "The bean grower's notebook", "3. Harvest > Picking"),
    }
    for path, (file_type, title, heading) in expected.items():
        chunks = chunker.chunk(load_file(path, tmp_path))
        assert {(c.metadata["source"], c.metadata["file_type"], c.metadata["title"]) for c in chunks} == {
            (path.name, file_type, title)
        }
        assert heading in {c.metadata.get("heading") for c in chunks}
